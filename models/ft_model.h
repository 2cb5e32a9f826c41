/*
 * ft_model.h - the site's models: a flat float32 parameter vector per model,
 * training data as a dataset grouped by privacy unit (patient), optimisers,
 * metrics and model files.
 *
 * Knows crypto (hashing, CSPRNG) and privacy (the DP noise sampler).
 */
#ifndef FT_MODEL_H
#define FT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "ft_base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Datasets ---------------------------------------------------------- */

/*
 * Training or evaluation data held in memory. Rows are grouped by privacy
 * unit (the patient): the rows of unit u are [unit_offset[u],
 * unit_offset[u+1]). DP sampling, clipping and accounting work on units, never
 * on rows. For classifiers y holds the class index (0, 1, ...) as a float.
 */
typedef struct ft_model_dataset {
	size_t n_rows;
	size_t n_features;
	size_t n_units;
	float *x;              /* n_rows * n_features, row-major */
	float *y;              /* n_rows */
	size_t *unit_offset;   /* n_units + 1 entries; unit_offset[n_units] == n_rows */
	char **feature_names;  /* n_features NUL-terminated names, or NULL */
} ft_model_dataset;

/*
 * Allocates a zeroed dataset of the given shape, with unit_offset set to one
 * row per unit (callers grouping several rows per patient overwrite
 * n_units and unit_offset) and feature_names NULL. Limits are checked before
 * allocating: FT_ERANGE if n_rows * n_features overflows or exceeds
 * FT_MODEL_MAX_CELLS. On FT_OK the caller owns *out.
 */
#define FT_MODEL_MAX_CELLS ((size_t)1 << 31)
int ft_model_dataset_alloc(size_t n_rows, size_t n_features,
                           ft_model_dataset **out) FT_WARN_UNUSED;

/* Frees the dataset and everything it points to; accepts NULL. */
void ft_model_dataset_free(ft_model_dataset *ds);

#ifdef __cplusplus
}
#endif
#endif /* FT_MODEL_H */
