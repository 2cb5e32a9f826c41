/*
 * ft_node_eval.c - `fedtwin model eval`: the metrics of a model file on a
 * labelled CSV file (for example a global model on a held-out test set).
 * Features are standardised with the moments the model file carries (the
 * federation's, or the site's for a locally trained model), exactly as the
 * model was trained; a model without moments sees raw features.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ft_node.h"
#include "node_int.h"

static void eval_usage(FILE *f)
{
	fprintf(f, "usage: fedtwin model eval --model FILE --csv FILE --target COL\n"
	           "                          [--features A,B,...] [--exclude A,B,...]\n"
	           "  Without --features every column but the target and the excluded ones\n"
	           "  is a feature, in file order. Prints accuracy, auc, logloss (classifiers)\n"
	           "  or rmse, mae (regression) on one line.\n");
}

/* 1 if name is one of the comma-separated names in list (NULL: none). */
static int in_list(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	while (p != NULL && *p != '\0') {
		const char *c = strchr(p, ',');
		size_t len = c != NULL ? (size_t)(c - p) : strlen(p);

		if (len == n && strncmp(p, name, n) == 0)
			return 1;
		p = c != NULL ? c + 1 : NULL;
	}
	return 0;
}

/* The feature columns, in model order; on FT_OK the caller frees *cols. */
static int eval_columns(const ft_store_csv *csv, const char *features, const char *exclude,
                        size_t target, size_t want, size_t **cols, ft_errmsg *err)
{
	size_t nc = ft_store_csv_columns(csv), n = 0, *c;

	if (want > nc)
		return ft_errmsg_set(err, FT_EINVAL, "the model has %zu features; the file has %zu "
		                     "columns", want, nc);
	c = ft_mallocarray(want ? want : 1, sizeof(size_t));
	if (c == NULL)
		return FT_ENOMEM;
	if (features != NULL) {
		const char *p = features;

		while (p != NULL && *p != '\0') {
			const char *e = strchr(p, ',');
			char name[256];
			size_t len = e != NULL ? (size_t)(e - p) : strlen(p), col;

			if (len == 0 || len >= sizeof(name) || n == want) {
				ft_free(c);
				return ft_errmsg_set(err, FT_EINVAL, "--features must name exactly the "
				                     "model's %zu features", want);
			}
			memcpy(name, p, len);
			name[len] = '\0';
			if (ft_store_csv_find(csv, name, &col, err) != FT_OK) {
				ft_free(c);
				return FT_EINVAL;
			}
			c[n++] = col;
			p = e != NULL ? e + 1 : NULL;
		}
	} else {
		for (size_t j = 0; j < nc; j++) {
			if (j == target || in_list(exclude, ft_store_csv_column_name(csv, j)))
				continue;
			if (n == want) {
				n++;
				break;
			}
			c[n++] = j;
		}
	}
	if (n != want) {
		ft_free(c);
		return ft_errmsg_set(err, FT_EINVAL, "the model has %zu features; %s %zu columns "
		                     "(use --features or --exclude)", want,
		                     features != NULL ? "--features names" : "the file offers",
		                     n);
	}
	*cols = c;
	return FT_OK;
}

/* Every row of the CSV file as a dataset of one row per unit. */
static int eval_load(const char *path, const char *target_name, const char *features,
                     const char *exclude, size_t p, ft_model_dataset **out, ft_errmsg *err)
{
	ft_store_csv *csv = NULL;
	ft_model_dataset *ds = NULL;
	float *x = NULL, *y = NULL;
	size_t *cols = NULL, target, n = 0, cap = 0;
	int rv, has_row;

	rv = ft_store_csv_open(path, NULL, &csv, err);
	if (rv != FT_OK)
		goto out;
	rv = ft_store_csv_find(csv, target_name, &target, err);
	if (rv != FT_OK)
		goto out;
	rv = eval_columns(csv, features, exclude, target, p, &cols, err);
	if (rv != FT_OK)
		goto out;
	for (;;) {
		double v;
		int na;

		rv = ft_store_csv_next(csv, &has_row, err);
		if (rv != FT_OK || !has_row)
			break;
		if (n == cap) {
			/* Bounded by the reader's row limit (FT_STORE_CSV_MAX_ROWS). */
			size_t ncap = cap ? 2 * cap : 256;
			float *nx = ft_mallocarray(ncap, (p ? p : 1) * sizeof(float));
			float *ny = ft_mallocarray(ncap, sizeof(float));

			if (nx == NULL || ny == NULL) {
				ft_free(nx);
				ft_free(ny);
				rv = FT_ENOMEM;
				goto out;
			}
			if (n > 0) {
				memcpy(nx, x, n * p * sizeof(float));
				memcpy(ny, y, n * sizeof(float));
			}
			ft_free(x);
			ft_free(y);
			x = nx;
			y = ny;
			cap = ncap;
		}
		for (size_t j = 0; j <= p; j++) {
			size_t col = j < p ? cols[j] : target;

			rv = ft_store_csv_number(csv, col, &v, &na, err);
			if (rv == FT_OK && na)
				rv = ft_errmsg_set(err, FT_EINVAL, "%s: line %zu: missing value in "
				                   "column '%s'", path, ft_store_csv_line(csv),
				                   ft_store_csv_column_name(csv, col));
			if (rv != FT_OK)
				goto out;
			if (j < p)
				x[n * p + j] = (float)v;
			else
				y[n] = (float)v;
		}
		n++;
	}
	if (rv != FT_OK)
		goto out;
	if (n == 0) {
		rv = ft_errmsg_set(err, FT_EINVAL, "%s has no data row", path);
		goto out;
	}
	rv = ft_model_dataset_alloc(n, p, &ds);
	if (rv != FT_OK)
		goto out;
	memcpy(ds->x, x, n * p * sizeof(float));
	memcpy(ds->y, y, n * sizeof(float));
	*out = ds;
	ds = NULL;
out:
	ft_model_dataset_free(ds);
	ft_free(x);
	ft_free(y);
	ft_free(cols);
	ft_store_csv_close(csv);
	return rv;
}

static int eval_main(int argc, char **argv)
{
	const char *model_path = NULL, *csv_path = NULL, *target = NULL, *features = NULL,
	           *exclude = NULL;
	ft_model *m = NULL;
	ft_model_meta *meta = NULL;
	ft_model_dataset *ds = NULL;
	ft_model_eval ev;
	double *mean = NULL, *var = NULL;
	ft_errmsg err = {{0}};
	size_t p;
	int rv = FT_OK, status = 1, have_std = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--help") == 0) {
			eval_usage(stdout);
			return 0;
		}
		if (v == NULL) {
			eval_usage(stderr);
			return 2;
		}
		i++;
		if (strcmp(a, "--model") == 0)
			model_path = v;
		else if (strcmp(a, "--csv") == 0)
			csv_path = v;
		else if (strcmp(a, "--target") == 0)
			target = v;
		else if (strcmp(a, "--features") == 0)
			features = v;
		else if (strcmp(a, "--exclude") == 0)
			exclude = v;
		else {
			fprintf(stderr, "fedtwin model eval: unknown option %s\n", a);
			return 2;
		}
	}
	if (model_path == NULL || csv_path == NULL || target == NULL) {
		eval_usage(stderr);
		return 2;
	}
	rv = ft_model_load(model_path, &m, &meta, &err);
	if (rv != FT_OK)
		goto out;
	p = ft_model_get_spec(m)->n_features;
	rv = eval_load(csv_path, target, features, exclude, p, &ds, &err);
	if (rv != FT_OK)
		goto out;
	mean = ft_calloc(p, sizeof(double));
	var = ft_calloc(p, sizeof(double));
	if (mean == NULL || var == NULL) {
		rv = FT_ENOMEM;
		goto out;
	}
	rv = ft_model_meta_get_vector(meta, "standardise.mean", mean, p);
	if (rv == FT_OK) {
		rv = ft_model_meta_get_vector(meta, "standardise.var", var, p);
		if (rv != FT_OK) {
			rv = ft_errmsg_set(&err, FT_EFORMAT, "the model's standardise.var is missing "
			                   "or malformed");
			goto out;
		}
		rv = ft_model_dataset_standardise(ds, mean, var);
		if (rv != FT_OK)
			goto out;
		have_std = 1;
	} else if (rv != FT_ENOTFOUND) {
		rv = ft_errmsg_set(&err, FT_EFORMAT, "the model's standardise.mean is malformed");
		goto out;
	}
	rv = ft_model_dataset_check(ds, ft_model_get_spec(m), &err);
	if (rv == FT_OK)
		rv = ft_model_evaluate(m, ds, &ev, &err);
	if (rv != FT_OK)
		goto out;
	printf("rows=%zu", ds->n_rows);
	if (!isnan(ev.accuracy))
		printf(" accuracy=%.4f", ev.accuracy);
	if (!isnan(ev.auc))
		printf(" auc=%.4f", ev.auc);
	if (!isnan(ev.logloss))
		printf(" logloss=%.4f", ev.logloss);
	if (!isnan(ev.rmse))
		printf(" rmse=%.4f mae=%.4f", ev.rmse, ev.mae);
	printf(" standardised=%s\n", have_std ? "model-moments" : "no");
	status = 0;
out:
	if (status != 0)
		fprintf(stderr, "fedtwin model eval: %s%s%s\n", ft_strerror(rv),
		        err.msg[0] ? ": " : "", err.msg);
	ft_free(mean);
	ft_free(var);
	ft_model_dataset_free(ds);
	ft_model_meta_free(meta);
	ft_model_free(m);
	return status;
}

int ft_node_model_cli_main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		eval_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "eval") == 0)
		return eval_main(argc - 1, argv + 1);
	eval_usage(stderr);
	return 2;
}
