/*
 * ft_node_update.c - what a site computes in one federated round, without
 * I/O: the clipped, optionally weighted and fixed-point encoded model update
 * after local DP-SGD; its noisy contribution to federated standardisation;
 * and its set of categorical levels with one-hot expansion over the agreed
 * union.
 */
#include <math.h>
#include <string.h>

#include "ft_node.h"
#include "ft_privacy.h"

/* ---- Site update ---------------------------------------------------------- */

int ft_node_update_params_check(const ft_model *global, const ft_model_spec *shape, size_t d,
                                unsigned bits, double fxp_clip, uint32_t n_sites,
                                ft_errmsg *err)
{
	const ft_model_spec *m;
	ft_crypto_fxp fxp;
	int rv;

	if (global == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "site update: missing model");
	m = ft_model_get_spec(global);
	if (shape != NULL) {
		int same = shape->n_features == m->n_features && shape->n_classes == m->n_classes &&
		           shape->n_hidden == m->n_hidden && shape->n_hidden <= FT_MODEL_MAX_HIDDEN;

		for (uint32_t i = 0; same && i < m->n_hidden; i++)
			same = shape->hidden[i] == m->hidden[i];
		if (!same)
			return ft_errmsg_set(err, FT_EINVAL, "the announced model shape is not the"
			                     " model's");
	}
	if (d != ft_model_n_params(global))
		return ft_errmsg_set(err, FT_EINVAL, "the announced vector length %zu is not the"
		                     " model's %zu parameters", d, ft_model_n_params(global));
	rv = ft_model_update_fxp_init(&fxp, fxp_clip, 0, bits, n_sites);
	if (rv != FT_OK)
		return ft_errmsg_set(err, rv, "an update clip of %g does not encode at %u bits for"
		                     " %u sites", fxp_clip, bits, n_sites);
	return FT_OK;
}

size_t ft_node_update_len(const ft_model *global, int weighted)
{
	return ft_model_n_params(global) + (weighted ? 1u : 0u);
}

static int update_check(const ft_node_update_request *req, size_t len, ft_errmsg *err)
{
	if (req == NULL || req->global == NULL || req->ds == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "site update: missing argument");
	if (len != ft_node_update_len(req->global, req->weighted))
		return ft_errmsg_set(err, FT_EINVAL, "site update: vector of %zu, expected %zu", len,
		                     ft_node_update_len(req->global, req->weighted));
	if (!isfinite(req->update_clip) || !(req->update_clip > 0))
		return ft_errmsg_set(err, FT_EINVAL, "site update: the update clip must be > 0");
	if (req->weighted && !(req->weight >= 0 && req->weight <= 1))
		return ft_errmsg_set(err, FT_EINVAL, "site update: the weight must be in [0, 1]");
	if (req->ds->n_units == 0)
		return ft_errmsg_set(err, FT_EINVAL, "site update: no training data");
	return FT_OK;
}

int ft_node_update_compute(const ft_node_update_request *req, float *vec, uint32_t *enc,
                           size_t len, ft_model **local_out, ft_node_update_result *res,
                           ft_errmsg *err)
{
	ft_model *local = NULL;
	ft_model_train_config cfg;
	ft_node_update_result r;
	float *tmp = NULL;
	const float *g, *l;
	size_t n;
	double norm2 = 0, scale = 1.0, w;
	int rv;

	rv = update_check(req, len, err);
	if (rv != FT_OK)
		return rv;
	if (vec == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "site update: no output vector");
	memset(&r, 0, sizeof(r));
	n = ft_model_n_params(req->global);
	cfg = req->cfg;
	/* A batch larger than the site cannot be sampled (DP) or filled. */
	if (cfg.batch_units > req->ds->n_units)
		cfg.batch_units = (uint32_t)req->ds->n_units;
	rv = ft_model_clone(req->global, &local);
	if (rv != FT_OK)
		return ft_errmsg_set(err, rv, "site update: cannot copy the global model");
	rv = ft_model_dataset_check(req->ds, ft_model_get_spec(local), err);
	if (rv != FT_OK)
		goto out;
	rv = ft_model_train(local, req->ds, &cfg, &r.train, err);
	if (rv != FT_OK)
		goto out;

	/* Everything below is post-processing of the DP output. */
	tmp = ft_mallocarray(len, sizeof(float));
	if (tmp == NULL) {
		rv = ft_errmsg_set(err, FT_ENOMEM, "site update: out of memory");
		goto out;
	}
	g = ft_model_params_const(req->global);
	l = ft_model_params_const(local);
	for (size_t i = 0; i < n; i++) {
		double d = (double)l[i] - (double)g[i];

		norm2 += d * d;
	}
	r.delta_norm = sqrt(norm2);
	if (!isfinite(r.delta_norm)) {
		rv = ft_errmsg_set(err, FT_ERANGE, "site update: the update is not finite");
		goto out;
	}
	if (r.delta_norm > req->update_clip) {
		scale = req->update_clip / r.delta_norm;
		r.clipped = 1;
	}
	w = req->weighted ? req->weight : 1.0;
	for (size_t i = 0; i < n; i++) {
		double d = ((double)l[i] - (double)g[i]) * scale * w;

		tmp[i] = (float)d;
		/* float rounding must not push a coordinate past the clip */
		if (fabsf(tmp[i]) > (float)req->update_clip)
			tmp[i] = copysignf((float)req->update_clip, tmp[i]);
	}
	if (req->weighted)
		tmp[n] = (float)w;
	if (enc != NULL && req->fxp != NULL) {
		rv = ft_crypto_fxp_encode(req->fxp, tmp, len, enc);
		if (rv != FT_OK) {
			ft_errmsg_set(err, rv, "site update: fixed-point encoding failed");
			goto out;
		}
	}
	memcpy(vec, tmp, len * sizeof(float));
	if (res != NULL)
		*res = r;
	if (local_out != NULL) {
		*local_out = local;
		local = NULL;
	}
out:
	ft_free(tmp);
	ft_model_free(local);
	return rv;
}

/* ---- Federated standardisation ------------------------------------------- */

int ft_node_stats_site(const ft_model_dataset *ds, const double *lo, const double *hi,
                       uint64_t max_units, float *vec, size_t len, ft_errmsg *err)
{
	double *s1 = NULL, *s2 = NULL, *u1 = NULL, *u2 = NULL;
	size_t p;
	int rv = FT_OK;

	if (ds == NULL || vec == NULL || lo == NULL || hi == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "stats: bad argument");
	p = ds->n_features;
	if (len != ft_model_stats_len(p))
		return ft_errmsg_set(err, FT_EINVAL, "stats: vector of %zu, expected %zu", len,
		                     ft_model_stats_len(p));
	for (size_t j = 0; j < p; j++)
		if (!isfinite(lo[j]) || !isfinite(hi[j]) || !(lo[j] < hi[j]))
			return ft_errmsg_set(err, FT_EINVAL, "stats: feature %zu has an empty range", j);
	if ((uint64_t)ds->n_units > max_units)
		return ft_errmsg_set(err, FT_ERANGE, "stats: %zu patients, over the cap of %llu",
		                     ds->n_units, (unsigned long long)max_units);
	s1 = ft_calloc(p + 1, sizeof(double));
	s2 = ft_calloc(p + 1, sizeof(double));
	u1 = ft_calloc(p + 1, sizeof(double));
	u2 = ft_calloc(p + 1, sizeof(double));
	if (s1 == NULL || s2 == NULL || u1 == NULL || u2 == NULL) {
		rv = ft_errmsg_set(err, FT_ENOMEM, "stats: out of memory");
		goto out;
	}
	for (size_t k = 0; k < ds->n_units; k++) {
		size_t from = ds->unit_offset[k], to = ds->unit_offset[k + 1];

		if (to <= from || to > ds->n_rows) {
			rv = ft_errmsg_set(err, FT_EINVAL, "stats: patient %zu has no records", k);
			goto out;
		}
		memset(u1, 0, p * sizeof(double));
		memset(u2, 0, p * sizeof(double));
		for (size_t r = from; r < to; r++) {
			for (size_t j = 0; j < p; j++) {
				double x = ds->x[r * p + j], u;

				if (!isfinite(x)) {
					rv = ft_errmsg_set(err, FT_EINVAL,
					                   "stats: row %zu, feature %zu: not finite", r, j);
					goto out;
				}
				x = fmin(fmax(x, lo[j]), hi[j]);
				u = (2.0 * x - lo[j] - hi[j]) / (hi[j] - lo[j]);
				u = fmin(fmax(u, -1.0), 1.0);
				u1[j] += u;
				u2[j] += u * u;
			}
		}
		/* The patient's own mean: one patient, one contribution of
		 * bounded norm, however many records. */
		for (size_t j = 0; j < p; j++) {
			s1[j] += u1[j] / (double)(to - from);
			s2[j] += u2[j] / (double)(to - from) - 0.5;
		}
	}
	for (size_t j = 0; j < p; j++) {
		vec[j] = (float)s1[j];
		vec[p + j] = (float)s2[j];
	}
	vec[2 * p] = (float)ds->n_units;
out:
	ft_free(s1);
	ft_free(s2);
	ft_free(u1);
	ft_free(u2);
	return rv;
}

int ft_node_stats_calibrate(double epsilon, double delta, size_t n_features,
                            ft_node_stats_dp *out, ft_errmsg *err)
{
	ft_node_stats_dp dp;
	double z_add;
	int rv;

	if (out == NULL || !isfinite(epsilon) || !(epsilon > 0) || !(delta > 0 && delta < 1) ||
	    n_features == 0 || n_features > FT_MODEL_MAX_FEATURES)
		return ft_errmsg_set(err, FT_EINVAL, "stats: bad epsilon, delta or feature count");
	memset(&dp, 0, sizeof(dp));
	dp.epsilon = epsilon;
	dp.delta = delta;
	dp.sensitivity = ft_model_stats_sensitivity(n_features);
	/* One release of a vector of sensitivity S with noise z S is the
	 * subsampled Gaussian mechanism at q = 1 for one step. */
	rv = ft_privacy_calibrate_sigma(epsilon, delta, 1.0, 1, NULL, 0, &dp.z);
	if (rv != FT_OK)
		return ft_errmsg_set(err, rv, "stats: no noise meets epsilon %g at delta %g", epsilon,
		                     delta);
	rv = ft_privacy_noise_multiplier_required(dp.z, ft_model_stats_len(n_features), &z_add);
	if (rv != FT_OK)
		return ft_errmsg_set(err, rv, "stats: the noise grid is too coarse");
	/* The exact vector is rounded to float32 before the noise: each
	 * element (at most the patient cap in magnitude) moves by at most half
	 * an ulp, so two neighbouring vectors may end up one ulp per element
	 * further apart than the sensitivity says. The noise covers that too. */
	dp.rounding = sqrt((double)ft_model_stats_len(n_features)) *
	              ldexp(1.0, ilogb((double)FT_MODEL_STATS_MAX_UNITS) - 23);
	dp.noise_sd = z_add * (dp.sensitivity + dp.rounding);
	*out = dp;
	return FT_OK;
}

int ft_node_stats_noise(const ft_node_stats_dp *dp, float *vec, size_t len, ft_errmsg *err)
{
	int rv;

	if (dp == NULL || vec == NULL || !isfinite(dp->noise_sd) || !(dp->noise_sd > 0))
		return ft_errmsg_set(err, FT_EINVAL, "stats: no noise to add");
	rv = ft_privacy_noise_add(vec, len, dp->noise_sd);
	if (rv != FT_OK)
		return ft_errmsg_set(err, rv, "stats: the noise cannot be added");
	return FT_OK;
}

/* ---- Categorical levels ---------------------------------------------------- */

void ft_node_levels_init(ft_node_levels *lv)
{
	memset(lv, 0, sizeof(*lv));
}

void ft_node_levels_clear(ft_node_levels *lv)
{
	if (lv == NULL)
		return;
	for (size_t i = 0; i < lv->n; i++)
		ft_free(lv->level[i]);
	memset(lv, 0, sizeof(*lv));
}

/* Binary search: index of level, or where it would go (*found 0). */
static size_t levels_find(const ft_node_levels *lv, const char *level, int *found)
{
	size_t lo = 0, hi = lv->n;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(lv->level[mid], level);

		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int ft_node_levels_add(ft_node_levels *lv, const char *level)
{
	size_t at, n_len;
	int found;
	char *copy;

	if (lv == NULL || level == NULL)
		return FT_EINVAL;
	n_len = strlen(level);
	if (n_len == 0 || n_len > FT_NODE_LEVEL_MAX_BYTES)
		return FT_EINVAL;
	at = levels_find(lv, level, &found);
	if (found)
		return FT_OK;
	if (lv->n >= FT_NODE_LEVELS_MAX)
		return FT_ERANGE;
	copy = ft_strdup(level);
	if (copy == NULL)
		return FT_ENOMEM;
	memmove(&lv->level[at + 1], &lv->level[at], (lv->n - at) * sizeof(char *));
	lv->level[at] = copy;
	lv->n++;
	return FT_OK;
}

int ft_node_levels_union(ft_node_levels *dst, const ft_node_levels *src)
{
	if (dst == NULL || src == NULL)
		return FT_EINVAL;
	for (size_t i = 0; i < src->n; i++) {
		int rv = ft_node_levels_add(dst, src->level[i]);

		if (rv != FT_OK)
			return rv;
	}
	return FT_OK;
}

int ft_node_levels_index(const ft_node_levels *lv, const char *level, size_t *idx)
{
	int found;
	size_t at;

	if (lv == NULL || level == NULL || idx == NULL)
		return FT_EINVAL;
	at = levels_find(lv, level, &found);
	if (!found)
		return FT_ENOTFOUND;
	*idx = at;
	return FT_OK;
}

int ft_node_levels_onehot(const ft_node_levels *lv, const char *level, float *out,
                          size_t n_out)
{
	size_t idx;
	int rv;

	if (lv == NULL || out == NULL || n_out != lv->n)
		return FT_EINVAL;
	rv = ft_node_levels_index(lv, level, &idx);
	if (rv != FT_OK)
		return rv;
	for (size_t i = 0; i < n_out; i++)
		out[i] = i == idx ? 1.0f : 0.0f;
	return FT_OK;
}
