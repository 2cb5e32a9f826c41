/*
 * model_csv.h - a small CSV reader for the tests and benchmarks of the
 * models module: loads one of the shipped clinical tables (header line, comma
 * separated, no quoting) and turns chosen columns into an ft_model_dataset,
 * one row per privacy unit. Test-only code: it aborts on malformed input.
 */
#ifndef FT_MODEL_CSV_H
#define FT_MODEL_CSV_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ft_model.h"

typedef struct csv_table {
	size_t n_rows, n_cols;
	char **names; /* n_cols */
	char **cells; /* n_rows * n_cols, row-major */
	char *text;   /* the file, cut into cells in place */
} csv_table;

static inline void csv_die(const char *what, const char *path)
{
	fprintf(stderr, "csv: %s: %s\n", path, what);
	abort();
}

static inline void csv_load(const char *path, csv_table *t)
{
	FILE *f = fopen(path, "rb");
	long size;
	size_t cap = 0, n = 0, cols = 0;
	char *p, *line;

	memset(t, 0, sizeof(*t));
	if (f == NULL)
		csv_die("cannot open", path);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	t->text = malloc((size_t)size + 1);
	if (t->text == NULL || fread(t->text, 1, (size_t)size, f) != (size_t)size)
		csv_die("cannot read", path);
	fclose(f);
	t->text[size] = '\0';
	p = t->text;
	for (size_t row = 0; *p != '\0'; row++) {
		size_t c = 0;

		line = p;
		p = strchr(line, '\n');
		if (p != NULL)
			*p++ = '\0';
		else
			p = line + strlen(line);
		if (line[0] == '\0' || line[0] == '\r')
			continue;
		for (char *s = line;; c++) {
			char *comma = strchr(s, ',');
			char *cr = strchr(s, '\r');

			if (cr != NULL)
				*cr = '\0';
			if (n == cap) {
				cap = cap ? 2 * cap : 1024;
				t->cells = realloc(t->cells, cap * sizeof(char *));
				if (t->cells == NULL)
					csv_die("out of memory", path);
			}
			t->cells[n++] = s;
			if (comma == NULL)
				break;
			*comma = '\0';
			s = comma + 1;
		}
		if (row == 0)
			cols = c + 1;
		else if (c + 1 != cols)
			csv_die("ragged row", path);
	}
	if (cols == 0)
		csv_die("empty", path);
	t->n_cols = cols;
	t->names = t->cells;
	t->cells = t->cells + cols;
	t->n_rows = n / cols - 1;
}

static inline void csv_free(csv_table *t)
{
	if (t->names != NULL)
		free(t->names);
	free(t->text);
	memset(t, 0, sizeof(*t));
}

static inline int csv_col(const csv_table *t, const char *name)
{
	for (size_t c = 0; c < t->n_cols; c++)
		if (strcmp(t->names[c], name) == 0)
			return (int)c;
	return -1;
}

static inline float csv_num(const csv_table *t, size_t r, size_t c)
{
	double v;

	if (ft_parse_double(t->cells[r * t->n_cols + c], &v) != FT_OK)
		csv_die("not a number", t->cells[r * t->n_cols + c]);
	return (float)v;
}

static inline int csv_in(const char *name, const char *const *list)
{
	for (size_t i = 0; list != NULL && list[i] != NULL; i++)
		if (strcmp(list[i], name) == 0)
			return 1;
	return 0;
}

/*
 * A dataset of the rows where column filter_col equals filter_val (all rows
 * if filter_col is NULL): features are every column except target and
 * `drop`, in file order; the columns in `onehot` (integer categories
 * 0..max over the whole table) become one indicator column per category.
 */
static inline ft_model_dataset *csv_dataset(const csv_table *t, const char *target,
                                            const char *const *drop,
                                            const char *const *onehot, const char *filter_col,
                                            const char *filter_val)
{
	int tc = csv_col(t, target), fc = filter_col ? csv_col(t, filter_col) : -1;
	size_t width[256], nf = 0, nr = 0, r_out = 0;
	ft_model_dataset *ds = NULL;

	if (tc < 0 || t->n_cols > 256 || (filter_col != NULL && fc < 0))
		csv_die("bad column", target);
	for (size_t c = 0; c < t->n_cols; c++) {
		width[c] = 0;
		if ((int)c == tc || csv_in(t->names[c], drop))
			continue;
		width[c] = 1;
		if (csv_in(t->names[c], onehot)) {
			float mx = 0;

			for (size_t r = 0; r < t->n_rows; r++)
				if (csv_num(t, r, c) > mx)
					mx = csv_num(t, r, c);
			width[c] = (size_t)mx + 1;
		}
		nf += width[c];
	}
	for (size_t r = 0; r < t->n_rows; r++)
		nr += fc < 0 || strcmp(t->cells[r * t->n_cols + (size_t)fc], filter_val) == 0;
	if (ft_model_dataset_alloc(nr, nf, &ds) != FT_OK)
		csv_die("dataset_alloc", target);
	for (size_t r = 0; r < t->n_rows; r++) {
		size_t j = 0;

		if (fc >= 0 && strcmp(t->cells[r * t->n_cols + (size_t)fc], filter_val) != 0)
			continue;
		for (size_t c = 0; c < t->n_cols; c++) {
			if (width[c] == 0)
				continue;
			if (csv_in(t->names[c], onehot))
				ds->x[r_out * nf + j + (size_t)csv_num(t, r, c)] = 1.0f;
			else
				ds->x[r_out * nf + j] = csv_num(t, r, c);
			j += width[c];
		}
		ds->y[r_out] = csv_num(t, r, (size_t)tc);
		r_out++;
	}
	return ds;
}

/* The rows idx[0..n) of ds as a new dataset, one unit per row. */
static inline ft_model_dataset *csv_subset(const ft_model_dataset *ds, const size_t *idx, size_t n)
{
	ft_model_dataset *out = NULL;

	if (ft_model_dataset_alloc(n, ds->n_features, &out) != FT_OK)
		csv_die("dataset_alloc", "subset");
	for (size_t i = 0; i < n; i++) {
		memcpy(out->x + i * ds->n_features, ds->x + idx[i] * ds->n_features,
		       ds->n_features * sizeof(float));
		out->y[i] = ds->y[idx[i]];
	}
	return out;
}

/* Seeded shuffle-split (splitmix64 + Fisher-Yates): the first `frac` of a
 * permutation of the rows is the training set, the rest the test set. */
static inline void csv_split(const ft_model_dataset *ds, double frac, uint64_t seed,
                             ft_model_dataset **train, ft_model_dataset **test)
{
	size_t n = ds->n_rows, n_train = (size_t)(frac * (double)n + 0.5);
	size_t *idx = malloc(n * sizeof(size_t));

	if (idx == NULL)
		csv_die("out of memory", "split");
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	for (size_t i = n; i > 1; i--) {
		uint64_t z = (seed += 0x9e3779b97f4a7c15ull);
		size_t j, tmp;

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		z ^= z >> 31;
		j = (size_t)(z % i);
		tmp = idx[i - 1];
		idx[i - 1] = idx[j];
		idx[j] = tmp;
	}
	*train = csv_subset(ds, idx, n_train);
	*test = csv_subset(ds, idx + n_train, n - n_train);
	free(idx);
}

/* Standardises train and test with the training set's moments. */
static inline void csv_standardise(ft_model_dataset *train, ft_model_dataset *test)
{
	double mean[256], var[256];

	if (train->n_features > 256 || ft_model_dataset_moments(train, mean, var) != FT_OK ||
	    ft_model_dataset_standardise(train, mean, var) != FT_OK ||
	    (test != NULL && ft_model_dataset_standardise(test, mean, var) != FT_OK))
		csv_die("standardise", "dataset");
}

#endif
