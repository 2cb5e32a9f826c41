/*
 * sim_data.c - the simulated federation's data: the CSV file read into
 * memory, rows assigned to sites (a site column, or an IID or
 * Dirichlet label-skewed split) and to train/test, categorical levels agreed
 * as the union of the sites' level sets, and numeric features (and a
 * regression target) standardised with statistics obtained through one
 * noisy secure sum over public ranges, as real sites would.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ft_store.h"
#include "sim_int.h"

/* ---- Seeded randomness (not for secrets) --------------------------------- */

uint64_t sim_rand(sim_fed *f)
{
	uint64_t z = (f->rng += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

double sim_uniform(sim_fed *f)
{
	return (double)(sim_rand(f) >> 11) * 0x1.0p-53;
}

void sim_shuffle(sim_fed *f, size_t *a, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(sim_rand(f) % i), t = a[i - 1];

		a[i - 1] = a[j];
		a[j] = t;
	}
}

static double sim_normal(sim_fed *f)
{
	double u1 = sim_uniform(f), u2 = sim_uniform(f);

	if (u1 < 1e-300)
		u1 = 1e-300;
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* Gamma(shape a, scale 1): Marsaglia and Tsang 2000; a < 1 through
 * Gamma(a + 1) * U^(1/a). */
static double sim_gamma(sim_fed *f, double a)
{
	double d, c;

	if (a < 1.0) {
		double u = sim_uniform(f);

		return sim_gamma(f, a + 1.0) * pow(u > 0 ? u : 1e-300, 1.0 / a);
	}
	d = a - 1.0 / 3.0;
	c = 1.0 / sqrt(9.0 * d);
	for (;;) {
		double x = sim_normal(f), v = 1.0 + c * x, u;

		if (v <= 0)
			continue;
		v = v * v * v;
		u = sim_uniform(f);
		if (log(u > 0 ? u : 1e-300) < 0.5 * x * x + d - d * v + d * log(v))
			return d * v;
	}
}

/* ---- The table ---------------------------------------------------------------- */

static const char *cell(const sim_fed *f, size_t row, size_t col)
{
	return f->tab.cells[row * f->tab.n_cols + col];
}

static int is_na(const char *s)
{
	return s[0] == '\0' || strcmp(s, "NA") == 0;
}

static int table_load(sim_fed *f, ft_errmsg *err)
{
	ft_store_csv_limits lim = {0, SIM_MAX_COLUMNS, SIM_MAX_ROWS};
	ft_store_csv *csv = NULL;
	size_t cap = 0, nc;
	int has_row = 0, rv;

	rv = ft_store_csv_open(f->o->data, &lim, &csv, err);
	if (rv != FT_OK)
		return rv;
	nc = ft_store_csv_columns(csv);
	f->tab.names = ft_calloc(nc, sizeof(char *));
	if (f->tab.names == NULL)
		goto nomem;
	f->tab.n_cols = nc;
	for (size_t c = 0; c < nc; c++) {
		f->tab.names[c] = ft_strdup(ft_store_csv_column_name(csv, c));
		if (f->tab.names[c] == NULL)
			goto nomem;
	}
	for (;;) {
		rv = ft_store_csv_next(csv, &has_row, err);
		if (rv != FT_OK)
			goto out;
		if (!has_row)
			break;
		if (f->tab.n_rows == cap) {
			size_t ncap = cap ? 2 * cap : 256;
			char **p = ft_reallocarray(f->tab.cells, ncap * nc, sizeof(char *));

			if (p == NULL)
				goto nomem;
			f->tab.cells = p;
			cap = ncap;
		}
		for (size_t c = 0; c < nc; c++) {
			const char *v = ft_store_csv_field(csv, c);

			f->tab.cells[f->tab.n_rows * nc + c] = ft_strdup(v != NULL ? v : "");
			if (f->tab.cells[f->tab.n_rows * nc + c] == NULL) {
				/* keep the table consistent for sim_fed_free */
				for (size_t k = 0; k < c; k++)
					ft_free(f->tab.cells[f->tab.n_rows * nc + k]);
				goto nomem;
			}
		}
		f->tab.n_rows++;
	}
	rv = FT_OK;
	goto out;
nomem:
	rv = ft_errmsg_set(err, FT_ENOMEM, "%s: out of memory", f->o->data);
out:
	ft_store_csv_close(csv);
	return rv;
}

static int column_find(const sim_fed *f, const char *name, const char *what, size_t *col,
                       ft_errmsg *err)
{
	for (size_t c = 0; c < f->tab.n_cols; c++) {
		if (strcmp(f->tab.names[c], name) == 0) {
			*col = c;
			return FT_OK;
		}
	}
	return ft_errmsg_set(err, FT_ENOTFOUND, "%s: no column '%s' (%s)", f->o->data, name, what);
}

/* Applies `role` to every column named in the comma-separated list. */
static int column_list(sim_fed *f, const char *list, int role, const char *what, ft_errmsg *err)
{
	char name[256];
	const char *p = list;

	if (list == NULL)
		return FT_OK;
	while (*p != '\0') {
		size_t n = strcspn(p, ","), col = 0;
		int rv;

		if (n == 0 || n >= sizeof(name))
			return ft_errmsg_set(err, FT_EINVAL, "%s: bad column list '%s'", what, list);
		memcpy(name, p, n);
		name[n] = '\0';
		rv = column_find(f, name, what, &col, err);
		if (rv != FT_OK)
			return rv;
		if (col == f->target_col)
			return ft_errmsg_set(err, FT_EINVAL, "%s: '%s' is the target", what, name);
		if (role == SIM_COL_CATEGORICAL && f->role[col] == SIM_COL_SKIP)
			return ft_errmsg_set(err, FT_EINVAL, "%s: '%s' is excluded or a site/split column",
			                     what, name);
		f->role[col] = role;
		p += n;
		if (*p == ',')
			p++;
	}
	return FT_OK;
}

static int columns_resolve(sim_fed *f, ft_errmsg *err)
{
	size_t col = 0;
	int rv;

	f->role = ft_calloc(f->tab.n_cols, sizeof(int));
	f->levels = ft_calloc(f->tab.n_cols, sizeof(ft_node_levels));
	if (f->role == NULL || f->levels == NULL)
		return ft_errmsg_set(err, FT_ENOMEM, "out of memory");
	rv = column_find(f, f->o->target, "--target", &f->target_col, err);
	if (rv != FT_OK)
		return rv;
	f->role[f->target_col] = SIM_COL_SKIP;
	if (f->o->site_column != NULL) {
		rv = column_find(f, f->o->site_column, "--site-column", &col, err);
		if (rv != FT_OK)
			return rv;
		if (col == f->target_col)
			return ft_errmsg_set(err, FT_EINVAL, "--site-column is the target");
		f->role[col] = SIM_COL_SKIP;
	}
	if (f->o->split_column != NULL) {
		rv = column_find(f, f->o->split_column, "--split-column", &col, err);
		if (rv != FT_OK)
			return rv;
		if (col == f->target_col)
			return ft_errmsg_set(err, FT_EINVAL, "--split-column is the target");
		f->role[col] = SIM_COL_SKIP;
	}
	rv = column_list(f, f->o->exclude, SIM_COL_SKIP, "--exclude", err);
	if (rv == FT_OK)
		rv = column_list(f, f->o->categorical, SIM_COL_CATEGORICAL, "--categorical", err);
	return rv;
}

/* ---- Target and sites ------------------------------------------------------ */

/* Class levels of the target. Each site would reveal its set of labels and
 * the union is what it is over all rows, so it is taken over all rows. */
static int target_prepare(sim_fed *f, ft_errmsg *err)
{
	for (size_t r = 0; r < f->tab.n_rows; r++) {
		const char *v = cell(f, r, f->target_col);
		double y;

		if (is_na(v))
			return ft_errmsg_set(err, FT_EFORMAT, "%s: row %zu: the target '%s' is missing",
			                     f->o->data, r + 2, f->o->target);
		if (f->o->regression) {
			if (ft_parse_double(v, &y) != FT_OK)
				return ft_errmsg_set(err, FT_EFORMAT,
				                     "%s: row %zu: target '%s' is not a number", f->o->data,
				                     r + 2, v);
			continue;
		}
		if (ft_node_levels_add(&f->target_levels, v) != FT_OK)
			return ft_errmsg_set(err, FT_ERANGE, "%s: the target '%s' has more than %u classes "
			                     "(a numeric target needs --model linreg)", f->o->data,
			                     f->o->target, FT_NODE_LEVELS_MAX);
	}
	if (f->o->regression) {
		f->n_classes = 0;
		return FT_OK;
	}
	if (f->target_levels.n < 2)
		return ft_errmsg_set(err, FT_EINVAL, "the target '%s' has only one class", f->o->target);
	if (f->o->model == FT_MODEL_LOGREG && f->target_levels.n != 2)
		return ft_errmsg_set(err, FT_EINVAL, "--model logreg needs a binary target; '%s' has "
		                     "%zu classes (use softmax)", f->o->target, f->target_levels.n);
	f->n_classes = (uint32_t)f->target_levels.n;
	return FT_OK;
}

static size_t class_of(const sim_fed *f, size_t row)
{
	size_t idx = 0;

	if (ft_node_levels_index(&f->target_levels, cell(f, row, f->target_col), &idx) != FT_OK)
		return 0;
	return idx;
}

static int site_add_row(sim_site *s, size_t row)
{
	size_t *p;

	/* Sites grow one row at a time, doubling at powers of two. */
	if ((s->n_rows & (s->n_rows - 1)) == 0) {
		p = ft_reallocarray(s->rows, s->n_rows ? 2 * s->n_rows : 1, sizeof(size_t));
		if (p == NULL)
			return FT_ENOMEM;
		s->rows = p;
	}
	s->rows[s->n_rows++] = row;
	return FT_OK;
}

static int sites_assign(sim_fed *f, ft_errmsg *err)
{
	size_t n_rows = f->tab.n_rows, *idx = NULL;
	int rv = FT_OK;

	if (f->o->site_column != NULL) {
		ft_node_levels lv;
		size_t col = 0, s = 0;

		ft_node_levels_init(&lv);
		(void)column_find(f, f->o->site_column, "--site-column", &col, NULL);
		for (size_t r = 0; r < n_rows && rv == FT_OK; r++)
			rv = ft_node_levels_add(&lv, cell(f, r, col));
		if (rv != FT_OK || lv.n < 2 || lv.n > FT_SIM_MAX_SITES) {
			ft_node_levels_clear(&lv);
			return ft_errmsg_set(err, FT_EINVAL, "--site-column '%s' must have 2 to %u distinct "
			                     "non-empty values", f->o->site_column, FT_SIM_MAX_SITES);
		}
		f->n_sites = (uint32_t)lv.n;
		f->site = ft_calloc(f->n_sites, sizeof(sim_site));
		for (size_t r = 0; r < n_rows && f->site != NULL && rv == FT_OK; r++) {
			rv = ft_node_levels_index(&lv, cell(f, r, col), &s);
			if (rv == FT_OK)
				rv = site_add_row(&f->site[s], r);
		}
		ft_node_levels_clear(&lv);
		if (f->site == NULL || rv != FT_OK)
			return ft_errmsg_set(err, FT_ENOMEM, "out of memory");
		return FT_OK;
	}

	f->n_sites = f->o->n_sites;
	f->site = ft_calloc(f->n_sites, sizeof(sim_site));
	idx = ft_mallocarray(n_rows ? n_rows : 1, sizeof(size_t));
	if (f->site == NULL || idx == NULL) {
		rv = ft_errmsg_set(err, FT_ENOMEM, "out of memory");
		goto out;
	}
	if (f->o->dirichlet > 0) {
		double p[FT_SIM_MAX_SITES];

		if (f->n_classes == 0) {
			rv = ft_errmsg_set(err, FT_EINVAL, "--dirichlet needs a classification target");
			goto out;
		}
		/* Per class: shares of the sites from Dirichlet(alpha), then the
		 * class's shuffled rows cut at the cumulative shares. */
		for (uint32_t c = 0; c < f->n_classes; c++) {
			size_t m = 0, at = 0;
			double tot = 0, cum = 0;

			for (size_t r = 0; r < n_rows; r++)
				if (class_of(f, r) == c)
					idx[m++] = r;
			sim_shuffle(f, idx, m);
			for (uint32_t s = 0; s < f->n_sites; s++) {
				p[s] = sim_gamma(f, f->o->dirichlet);
				tot += p[s];
			}
			for (uint32_t s = 0; s < f->n_sites && rv == FT_OK; s++) {
				size_t end;

				cum += p[s] / tot;
				end = s + 1 == f->n_sites ? m : (size_t)llround(cum * (double)m);
				if (end > m)
					end = m;
				for (; at < end && rv == FT_OK; at++)
					rv = site_add_row(&f->site[s], idx[at]);
			}
		}
	} else {
		for (size_t r = 0; r < n_rows; r++)
			idx[r] = r;
		sim_shuffle(f, idx, n_rows);
		for (size_t r = 0; r < n_rows && rv == FT_OK; r++)
			rv = site_add_row(&f->site[r % f->n_sites], idx[r]);
	}
	if (rv != FT_OK)
		rv = ft_errmsg_set(err, FT_ENOMEM, "out of memory");
out:
	ft_free(idx);
	return rv;
}

/* Orders each site's rows train first, then test, and sets n_train. */
static int sites_split(sim_fed *f, ft_errmsg *err)
{
	size_t split_col = 0;

	if (f->o->split_column != NULL)
		(void)column_find(f, f->o->split_column, "--split-column", &split_col, NULL);
	for (uint32_t s = 0; s < f->n_sites; s++) {
		sim_site *st = &f->site[s];

		if (f->o->split_column != NULL) {
			size_t w = 0;
			size_t *tmp = ft_mallocarray(st->n_rows ? st->n_rows : 1, sizeof(size_t));

			if (tmp == NULL)
				return ft_errmsg_set(err, FT_ENOMEM, "out of memory");
			for (int pass = 0; pass < 2; pass++)
				for (size_t i = 0; i < st->n_rows; i++)
					if ((strcmp(cell(f, st->rows[i], split_col), "test") == 0) == pass)
						tmp[w++] = st->rows[i];
			for (size_t i = 0; i < st->n_rows; i++)
				if (strcmp(cell(f, tmp[i], split_col), "test") != 0)
					st->n_train = i + 1;
			memcpy(st->rows, tmp, st->n_rows * sizeof(size_t));
			ft_free(tmp);
		} else {
			size_t n_test = (size_t)llround(f->o->test_fraction * (double)st->n_rows);

			sim_shuffle(f, st->rows, st->n_rows);
			if (n_test >= st->n_rows)
				n_test = st->n_rows ? st->n_rows - 1 : 0;
			st->n_train = st->n_rows - n_test;
		}
		if (st->n_train == 0)
			return ft_errmsg_set(err, FT_EINVAL, "site %u has no training rows (with --sites, "
			                     "try fewer sites or a larger --dirichlet alpha)", s + 1);
	}
	return FT_OK;
}

/* ---- Features ---------------------------------------------------------------- */

/* Categorical levels: each site's set of levels (no counts), and their
 * union. */
static int levels_agree(sim_fed *f, ft_errmsg *err)
{
	for (size_t c = 0; c < f->tab.n_cols; c++) {
		if (f->role[c] != SIM_COL_CATEGORICAL)
			continue;
		for (uint32_t s = 0; s < f->n_sites; s++) {
			ft_node_levels mine;
			int rv = FT_OK;

			ft_node_levels_init(&mine);
			for (size_t i = 0; i < f->site[s].n_rows && rv == FT_OK; i++)
				rv = ft_node_levels_add(&mine, cell(f, f->site[s].rows[i], c));
			if (rv == FT_OK)
				rv = ft_node_levels_union(&f->levels[c], &mine);
			ft_node_levels_clear(&mine);
			if (rv != FT_OK)
				return ft_errmsg_set(err, rv == FT_ENOMEM ? FT_ENOMEM : FT_EINVAL,
				                     "--categorical '%s': more than %u levels or a bad level",
				                     f->tab.names[c], FT_NODE_LEVELS_MAX);
		}
	}
	return FT_OK;
}

static int features_layout(sim_fed *f, ft_errmsg *err)
{
	size_t n = 0, w = 0;
	char name[FT_NODE_LEVEL_MAX_BYTES + 300];

	for (size_t c = 0; c < f->tab.n_cols; c++)
		n += f->role[c] == SIM_COL_NUMERIC ? 1 : f->role[c] == SIM_COL_CATEGORICAL ? f->levels[c].n
		                                                                          : 0;
	if (n == 0)
		return ft_errmsg_set(err, FT_EINVAL, "no feature column is left");
	if (n > FT_MODEL_MAX_FEATURES)
		return ft_errmsg_set(err, FT_ERANGE, "%zu features, over %u", n, FT_MODEL_MAX_FEATURES);
	f->feature_names = ft_calloc(n, sizeof(char *));
	f->onehot = ft_calloc(n, sizeof(int));
	if (f->feature_names == NULL || f->onehot == NULL)
		return ft_errmsg_set(err, FT_ENOMEM, "out of memory");
	f->n_features = n;
	for (size_t c = 0; c < f->tab.n_cols; c++) {
		if (f->role[c] == SIM_COL_NUMERIC) {
			f->feature_names[w] = ft_strdup(f->tab.names[c]);
			if (f->feature_names[w++] == NULL)
				return ft_errmsg_set(err, FT_ENOMEM, "out of memory");
		} else if (f->role[c] == SIM_COL_CATEGORICAL) {
			for (size_t l = 0; l < f->levels[c].n; l++) {
				snprintf(name, sizeof(name), "%s=%s", f->tab.names[c], f->levels[c].level[l]);
				f->onehot[w] = 1;
				f->feature_names[w] = ft_strdup(name);
				if (f->feature_names[w++] == NULL)
					return ft_errmsg_set(err, FT_ENOMEM, "out of memory");
			}
		}
	}
	return FT_OK;
}

/* Rows [from, to) of site s's row list as a dataset (raw features). */
static int dataset_build(sim_fed *f, const sim_site *st, size_t from, size_t to,
                         ft_model_dataset **out, ft_errmsg *err)
{
	ft_model_dataset *ds = NULL;
	size_t p = f->n_features;
	int rv;

	rv = ft_model_dataset_alloc(to - from, p, &ds);
	if (rv != FT_OK)
		return ft_errmsg_set(err, rv, "cannot allocate a dataset of %zu rows", to - from);
	for (size_t i = from; i < to; i++) {
		size_t row = st->rows[i], w = 0;
		float *x = ds->x + (i - from) * p;

		for (size_t c = 0; c < f->tab.n_cols; c++) {
			const char *v = cell(f, row, c);
			double d;

			if (f->role[c] == SIM_COL_NUMERIC) {
				if (is_na(v)) {
					rv = ft_errmsg_set(err, FT_EFORMAT, "%s: row %zu, column '%s': missing value "
					                   "(--exclude the column or impute it)", f->o->data,
					                   row + 2, f->tab.names[c]);
					goto fail;
				}
				if (ft_parse_double(v, &d) != FT_OK || fabs(d) > 3e38) {
					rv = ft_errmsg_set(err, FT_EFORMAT, "%s: row %zu, column '%s': '%s' is not "
					                   "a number (use --categorical or --exclude)", f->o->data,
					                   row + 2, f->tab.names[c], v);
					goto fail;
				}
				x[w++] = (float)d;
			} else if (f->role[c] == SIM_COL_CATEGORICAL) {
				rv = ft_node_levels_onehot(&f->levels[c], v, x + w, f->levels[c].n);
				if (rv != FT_OK) {
					rv = ft_errmsg_set(err, FT_EFORMAT, "%s: row %zu, column '%s': level '%s' "
					                   "not agreed", f->o->data, row + 2, f->tab.names[c], v);
					goto fail;
				}
				w += f->levels[c].n;
			}
		}
		if (f->n_classes > 0) {
			ds->y[i - from] = (float)class_of(f, row);
		} else {
			double y = 0;

			/* target_prepare has parsed every target already */
			if (ft_parse_double(cell(f, row, f->target_col), &y) != FT_OK) {
				rv = ft_errmsg_set(err, FT_EINTERNAL, "target of row %zu", row + 2);
				goto fail;
			}
			ds->y[i - from] = (float)y;
		}
	}
	*out = ds;
	return FT_OK;
fail:
	ft_model_dataset_free(ds);
	return rv;
}

/* ---- Federated standardisation ---------------------------------------------- */

/*
 * Federated standardisation as the daemons do it (models/ft_model.h,
 * "Federated standardisation"): each site's vector over its training
 * patients, clipped to the public ranges (ft_node_stats_site), noised when
 * DP is on (ft_node_stats_calibrate, ft_node_stats_noise, the same calls
 * as the node), then one secure sum and ft_model_stats_finish.
 */
static int stats_release(sim_fed *f, ft_model_dataset **stats, size_t p, const double *lo,
                         const double *hi, double *mean, double *var, ft_errmsg *err)
{
	size_t len = ft_model_stats_len(p);
	ft_crypto_fxp fxp;
	ft_node_stats_dp dp;
	uint32_t **enc = NULL, *sum = NULL, n_surv = 0;
	float *vec = NULL, *dec = NULL;
	uint64_t cap = 1;
	int rv;

	for (uint32_t s = 0; s < f->n_sites; s++)
		if (stats[s]->n_units > cap)
			cap = stats[s]->n_units;
	rv = ft_model_stats_fxp_init(&fxp, cap, f->o->bits, f->n_sites);
	if (rv != FT_OK)
		return ft_errmsg_set(err, rv, "standardisation: %u bits are too few for %u sites of up "
		                     "to %llu patients", f->o->bits, f->n_sites,
		                     (unsigned long long)cap);
	if (f->o->dp) {
		rv = ft_node_stats_calibrate(sim_stats_epsilon(f->o), f->o->dp_delta, p, &dp, err);
		if (rv != FT_OK)
			return rv;
	}
	enc = ft_calloc(f->n_sites, sizeof(uint32_t *));
	sum = ft_mallocarray(len, sizeof(uint32_t));
	vec = ft_mallocarray(len, sizeof(float));
	dec = ft_mallocarray(len, sizeof(float));
	if (enc == NULL || sum == NULL || vec == NULL || dec == NULL) {
		rv = ft_errmsg_set(err, FT_ENOMEM, "out of memory");
		goto out;
	}
	for (uint32_t s = 0; s < f->n_sites; s++) {
		enc[s] = ft_mallocarray(len, sizeof(uint32_t));
		if (enc[s] == NULL) {
			rv = ft_errmsg_set(err, FT_ENOMEM, "out of memory");
			goto out;
		}
		rv = ft_node_stats_site(stats[s], lo, hi, cap, vec, len, err);
		if (rv == FT_OK && f->o->dp) {
			rv = ft_node_stats_noise(&dp, vec, len, err);
			f->site[s].stats_z = dp.z;
		}
		if (rv == FT_OK)
			rv = ft_crypto_fxp_encode(&fxp, vec, len, enc[s]);
		if (rv != FT_OK)
			goto out;
	}
	rv = sim_secure_sum(f, enc, (uint32_t)len, f->o->bits, NULL, sum, &n_surv, err);
	if (rv != FT_OK)
		goto out;
	rv = ft_crypto_fxp_decode(&fxp, sum, len, n_surv, dec);
	if (rv == FT_OK)
		rv = ft_model_stats_finish(dec, len, p, lo, hi, mean, var, NULL);
	if (rv != FT_OK)
		ft_errmsg_set(err, rv, "standardisation: cannot decode the summed statistics");
out:
	if (enc != NULL)
		for (uint32_t s = 0; s < f->n_sites; s++)
			ft_free(enc[s]);
	ft_free(enc);
	ft_free(sum);
	ft_free(vec);
	ft_free(dec);
	return rv;
}

/* Without public ranges (and without DP): the exact pooled moments, as a
 * reference for what the DP release costs. Nothing of this kind leaves a
 * real site. */
static void exact_moments(sim_fed *f, ft_model_dataset **stats, size_t p, double *mean,
                          double *var)
{
	uint64_t n = 0;

	for (size_t j = 0; j < p; j++)
		mean[j] = var[j] = 0;
	for (uint32_t s = 0; s < f->n_sites; s++) {
		for (size_t r = 0; r < stats[s]->n_rows; r++)
			for (size_t j = 0; j < p; j++)
				mean[j] += stats[s]->x[r * p + j];
		n += stats[s]->n_rows;
	}
	for (size_t j = 0; j < p; j++)
		mean[j] /= n > 0 ? (double)n : 1.0;
	for (uint32_t s = 0; s < f->n_sites; s++)
		for (size_t r = 0; r < stats[s]->n_rows; r++)
			for (size_t j = 0; j < p; j++) {
				double d = stats[s]->x[r * p + j] - mean[j];

				var[j] += d * d;
			}
	for (size_t j = 0; j < p; j++)
		var[j] /= n > 0 ? (double)n : 1.0;
}

/* The public range of each standardised column (features, then a
 * regression target) from the ranges file, by column name; one-hot
 * columns are [0, 1] by construction. */
static int ranges_resolve(sim_fed *f, size_t p, double *lo, double *hi, ft_errmsg *err)
{
	ft_model_ranges *r = NULL;
	int rv;

	rv = ft_model_ranges_load(f->o->feature_ranges, &r, err);
	if (rv != FT_OK)
		return rv;
	for (size_t j = 0; j < p; j++) {
		const char *name = j < f->n_features ? f->feature_names[j] : f->o->target;
		size_t k;

		if (j < f->n_features && f->onehot[j]) {
			lo[j] = 0;
			hi[j] = 1;
			continue;
		}
		if (ft_model_ranges_find(r, name, &k) != FT_OK) {
			rv = ft_errmsg_set(err, FT_ENOTFOUND, "%s: no range for column '%s'",
			                   f->o->feature_ranges, name);
			break;
		}
		lo[j] = r->lo[k];
		hi[j] = r->hi[k];
	}
	ft_model_ranges_free(r);
	return rv;
}

static int standardise(sim_fed *f, ft_errmsg *err)
{
	size_t p = f->n_features + (f->n_classes == 0 ? 1 : 0);
	ft_model_dataset **stats = NULL;
	double *lo = NULL, *hi = NULL, *mean = NULL, *var = NULL;
	int rv = FT_OK;

	stats = ft_calloc(f->n_sites, sizeof(*stats));
	lo = ft_calloc(p, sizeof(double));
	hi = ft_calloc(p, sizeof(double));
	mean = ft_calloc(p, sizeof(double));
	var = ft_calloc(p, sizeof(double));
	if (stats == NULL || lo == NULL || hi == NULL || mean == NULL || var == NULL) {
		rv = ft_errmsg_set(err, FT_ENOMEM, "out of memory");
		goto out;
	}
	for (uint32_t s = 0; s < f->n_sites && rv == FT_OK; s++) {
		const ft_model_dataset *tr = f->site[s].train;

		rv = ft_model_dataset_alloc(tr->n_rows, p, &stats[s]);
		if (rv != FT_OK) {
			ft_errmsg_set(err, rv, "out of memory");
			goto out;
		}
		for (size_t r = 0; r < tr->n_rows; r++) {
			memcpy(stats[s]->x + r * p, tr->x + r * tr->n_features,
			       tr->n_features * sizeof(float));
			if (p > tr->n_features)
				stats[s]->x[r * p + p - 1] = tr->y[r];
		}
		stats[s]->n_units = tr->n_units;
		memcpy(stats[s]->unit_offset, tr->unit_offset, (tr->n_units + 1) * sizeof(size_t));
	}
	if (f->o->feature_ranges != NULL) {
		rv = ranges_resolve(f, p, lo, hi, err);
		if (rv == FT_OK)
			rv = stats_release(f, stats, p, lo, hi, mean, var, err);
		if (rv != FT_OK)
			goto out;
	} else {
		exact_moments(f, stats, p, mean, var);
	}
	/* One-hot columns stay 0/1. */
	for (size_t j = 0; j < f->n_features; j++) {
		if (f->onehot[j]) {
			mean[j] = 0;
			var[j] = 1;
		}
	}
	if (f->n_classes == 0) {
		f->y_mean = mean[p - 1];
		f->y_sd = var[p - 1] > 1e-12 ? sqrt(var[p - 1]) : 1.0;
	}
	for (uint32_t s = 0; s < f->n_sites && rv == FT_OK; s++) {
		ft_model_dataset *ds[2] = {f->site[s].train, f->site[s].test};

		for (int k = 0; k < 2 && rv == FT_OK; k++) {
			rv = ft_model_dataset_standardise(ds[k], mean, var);
			if (f->n_classes == 0)
				for (size_t r = 0; r < ds[k]->n_rows; r++)
					ds[k]->y[r] = (float)(((double)ds[k]->y[r] - f->y_mean) / f->y_sd);
		}
	}
	if (rv != FT_OK)
		ft_errmsg_set(err, rv, "standardisation failed");
out:
	if (stats != NULL)
		for (uint32_t s = 0; s < f->n_sites; s++)
			ft_model_dataset_free(stats[s]);
	ft_free(stats);
	ft_free(lo);
	ft_free(hi);
	ft_free(mean);
	ft_free(var);
	return rv;
}

/* The sites' test rows in one dataset: the reported metrics are over all
 * held-out rows (pooled), not an average of per-site metrics. */
static int test_pool(sim_fed *f, ft_errmsg *err)
{
	size_t n = 0, at = 0, p = f->n_features;
	int rv;

	for (uint32_t s = 0; s < f->n_sites; s++)
		n += f->site[s].test->n_rows;
	if (n == 0)
		return ft_errmsg_set(err, FT_EINVAL, "no test rows (check --split-column or "
		                     "--test-fraction)");
	rv = ft_model_dataset_alloc(n, p, &f->test_all);
	if (rv != FT_OK)
		return ft_errmsg_set(err, rv, "out of memory");
	for (uint32_t s = 0; s < f->n_sites; s++) {
		const ft_model_dataset *t = f->site[s].test;

		if (t->n_rows == 0)
			continue;
		memcpy(f->test_all->x + at * p, t->x, t->n_rows * p * sizeof(float));
		memcpy(f->test_all->y + at, t->y, t->n_rows * sizeof(float));
		at += t->n_rows;
	}
	return FT_OK;
}

int sim_data_prepare(sim_fed *f, ft_errmsg *err)
{
	int rv;

	ft_node_levels_init(&f->target_levels);
	f->rng = f->o->seed;
	rv = table_load(f, err);
	if (rv == FT_OK)
		rv = columns_resolve(f, err);
	if (rv == FT_OK)
		rv = target_prepare(f, err);
	if (rv == FT_OK)
		rv = sites_assign(f, err);
	if (rv == FT_OK)
		rv = sites_split(f, err);
	if (rv == FT_OK)
		rv = levels_agree(f, err);
	if (rv == FT_OK)
		rv = features_layout(f, err);
	for (uint32_t s = 0; rv == FT_OK && s < f->n_sites; s++) {
		sim_site *st = &f->site[s];

		rv = dataset_build(f, st, 0, st->n_train, &st->train, err);
		if (rv == FT_OK)
			rv = dataset_build(f, st, st->n_train, st->n_rows, &st->test, err);
	}
	if (rv == FT_OK)
		rv = sim_secagg_setup(f, err);
	if (rv == FT_OK)
		rv = standardise(f, err);
	if (rv == FT_OK)
		rv = test_pool(f, err);
	return rv;
}

void sim_fed_free(sim_fed *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; f->tab.cells != NULL && i < f->tab.n_rows * f->tab.n_cols; i++)
		ft_free(f->tab.cells[i]);
	ft_free(f->tab.cells);
	for (size_t c = 0; f->tab.names != NULL && c < f->tab.n_cols; c++) {
		ft_free(f->tab.names[c]);
		if (f->levels != NULL)
			ft_node_levels_clear(&f->levels[c]);
	}
	ft_free(f->tab.names);
	ft_free(f->levels);
	ft_free(f->role);
	ft_node_levels_clear(&f->target_levels);
	for (size_t j = 0; f->feature_names != NULL && j < f->n_features; j++)
		ft_free(f->feature_names[j]);
	ft_free(f->feature_names);
	ft_free(f->onehot);
	for (uint32_t s = 0; f->site != NULL && s < f->n_sites; s++) {
		ft_free(f->site[s].rows);
		ft_model_dataset_free(f->site[s].train);
		ft_model_dataset_free(f->site[s].test);
		ft_crypto_identity_free(f->site[s].id);
		ft_privacy_accountant_free(f->site[s].acc);
	}
	ft_free(f->site);
	ft_model_dataset_free(f->test_all);
	memset(f, 0, sizeof(*f));
}
