/*
 * ft_model_dataset.c - allocation and release of in-memory datasets grouped
 * by privacy unit.
 */
#include "ft_model.h"

int ft_model_dataset_alloc(size_t n_rows, size_t n_features, ft_model_dataset **out)
{
	ft_model_dataset *ds = NULL;
	int rv = FT_ENOMEM;

	if (n_features != 0 && n_rows > FT_MODEL_MAX_CELLS / n_features)
		return FT_ERANGE;
	ds = ft_calloc(1, sizeof(*ds));
	if (ds == NULL)
		goto out;
	ds->n_rows = n_rows;
	ds->n_features = n_features;
	ds->n_units = n_rows;
	ds->x = ft_calloc(n_rows * n_features, sizeof(float));
	ds->y = ft_calloc(n_rows, sizeof(float));
	ds->unit_offset = ft_mallocarray(n_rows + 1, sizeof(size_t));
	if (ds->x == NULL || ds->y == NULL || ds->unit_offset == NULL)
		goto out;
	for (size_t i = 0; i <= n_rows; i++)
		ds->unit_offset[i] = i;
	*out = ds;
	ds = NULL;
	rv = FT_OK;
out:
	ft_model_dataset_free(ds);
	return rv;
}

void ft_model_dataset_free(ft_model_dataset *ds)
{
	if (ds == NULL)
		return;
	if (ds->feature_names != NULL) {
		for (size_t i = 0; i < ds->n_features; i++)
			ft_free(ds->feature_names[i]);
		ft_free(ds->feature_names);
	}
	ft_free(ds->x);
	ft_free(ds->y);
	ft_free(ds->unit_offset);
	ft_free(ds);
}
