/*
 * ft_model_dataset.c - allocation, release and validation of in-memory
 * datasets grouped by privacy unit, and feature standardisation from sums
 * that sites can add up across the federation.
 */
#include "ft_model.h"

#include <math.h>
#include <string.h>

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

int ft_model_dataset_check(const ft_model_dataset *ds, const ft_model_spec *spec, ft_errmsg *err)
{
	if (ds == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "no dataset");
	if (ds->n_features != 0 && ds->n_rows > FT_MODEL_MAX_CELLS / ds->n_features)
		return ft_errmsg_set(err, FT_ERANGE, "dataset of %zu x %zu cells is too large",
		                     ds->n_rows, ds->n_features);
	if (ds->unit_offset == NULL || (ds->n_rows > 0 && (ds->x == NULL || ds->y == NULL)))
		return ft_errmsg_set(err, FT_EINVAL, "dataset without rows or unit offsets");
	if (ds->n_units > ds->n_rows)
		return ft_errmsg_set(err, FT_EINVAL, "%zu units but only %zu rows", ds->n_units,
		                     ds->n_rows);
	if (ds->unit_offset[0] != 0 || ds->unit_offset[ds->n_units] != ds->n_rows)
		return ft_errmsg_set(err, FT_EINVAL, "unit offsets do not span rows 0..%zu",
		                     ds->n_rows);
	for (size_t u = 0; u < ds->n_units; u++)
		if (ds->unit_offset[u + 1] < ds->unit_offset[u])
			return ft_errmsg_set(err, FT_EINVAL, "unit %zu: offsets decrease", u);
	if (spec != NULL && ds->n_features != spec->n_features)
		return ft_errmsg_set(err, FT_EINVAL, "dataset has %zu features, model expects %u",
		                     ds->n_features, spec->n_features);
	for (size_t r = 0; r < ds->n_rows; r++) {
		const float *x = ds->x + r * ds->n_features;
		float y = ds->y[r];

		for (size_t j = 0; j < ds->n_features; j++)
			if (!isfinite(x[j]))
				return ft_errmsg_set(err, FT_EINVAL, "row %zu, feature %zu: not a finite number",
				                     r, j);
		if (!isfinite(y))
			return ft_errmsg_set(err, FT_EINVAL, "row %zu: target is not a finite number", r);
		if (spec != NULL && spec->n_classes > 0 &&
		    (y < 0 || y >= (float)spec->n_classes || y != floorf(y)))
			return ft_errmsg_set(err, FT_EINVAL, "row %zu: label %g is not a class in 0..%u",
			                     r, (double)y, spec->n_classes - 1);
	}
	return FT_OK;
}

int ft_model_dataset_sums(const ft_model_dataset *ds, double *sum, double *sumsq, uint64_t *count)
{
	int rv;

	if (sum == NULL || sumsq == NULL || count == NULL)
		return FT_EINVAL;
	rv = ft_model_dataset_check(ds, NULL, NULL);
	if (rv != FT_OK)
		return rv;
	memset(sum, 0, ds->n_features * sizeof(double));
	memset(sumsq, 0, ds->n_features * sizeof(double));
	for (size_t r = 0; r < ds->n_rows; r++) {
		const float *x = ds->x + r * ds->n_features;

		for (size_t j = 0; j < ds->n_features; j++) {
			sum[j] += x[j];
			sumsq[j] += (double)x[j] * x[j];
		}
	}
	*count = ds->n_rows;
	return FT_OK;
}

int ft_model_moments_from_sums(size_t n_features, const double *sum, const double *sumsq,
                               uint64_t count, double *mean, double *var)
{
	if (sum == NULL || sumsq == NULL || mean == NULL || var == NULL || count == 0)
		return FT_EINVAL;
	for (size_t j = 0; j < n_features; j++)
		if (!isfinite(sum[j]) || !isfinite(sumsq[j]))
			return FT_EINVAL;
	for (size_t j = 0; j < n_features; j++) {
		double mu = sum[j] / (double)count;
		double v = sumsq[j] / (double)count - mu * mu;

		mean[j] = mu;
		/* Rounding can push a constant feature's variance just below 0. */
		var[j] = v > 0 ? v : 0;
	}
	return FT_OK;
}

int ft_model_dataset_moments(const ft_model_dataset *ds, double *mean, double *var)
{
	double *sum = NULL, *sumsq = NULL;
	uint64_t count = 0;
	int rv = FT_EINVAL;

	if (ds == NULL || mean == NULL || var == NULL)
		return FT_EINVAL;
	rv = FT_ENOMEM;
	sum = ft_mallocarray(ds->n_features ? ds->n_features : 1, sizeof(double));
	sumsq = ft_mallocarray(ds->n_features ? ds->n_features : 1, sizeof(double));
	if (sum == NULL || sumsq == NULL)
		goto out;
	rv = ft_model_dataset_sums(ds, sum, sumsq, &count);
	if (rv != FT_OK)
		goto out;
	rv = ft_model_moments_from_sums(ds->n_features, sum, sumsq, count, mean, var);
out:
	ft_free(sum);
	ft_free(sumsq);
	return rv;
}

int ft_model_dataset_standardise(ft_model_dataset *ds, const double *mean, const double *var)
{
	if (ds == NULL || mean == NULL || var == NULL)
		return FT_EINVAL;
	for (size_t j = 0; j < ds->n_features; j++)
		if (!isfinite(mean[j]) || !isfinite(var[j]) || var[j] < 0)
			return FT_EINVAL;
	for (size_t r = 0; r < ds->n_rows; r++) {
		float *x = ds->x + r * ds->n_features;

		for (size_t j = 0; j < ds->n_features; j++) {
			double sd = var[j] >= 1e-12 ? sqrt(var[j]) : 1.0;

			x[j] = (float)(((double)x[j] - mean[j]) / sd);
		}
	}
	return FT_OK;
}
