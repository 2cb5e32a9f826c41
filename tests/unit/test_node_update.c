/*
 * test_node_update.c - the site's side of a federated round: the clipped,
 * weighted, encoded update after local training; the privacy event it
 * reports; federated standardisation (per-patient sensitivity, noise,
 * decoding) through an encoded sum; categorical
 * levels and one-hot expansion.
 */
#include "ft_test.h"
#include "ft_crypto.h"
#include "ft_model.h"
#include "ft_node.h"
#include "ft_privacy.h"

#include <math.h>

static uint64_t sm_state;
static double sm_uniform(void)
{
	uint64_t z = (sm_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return (double)(z >> 11) * 0x1.0p-53;
}

/* A separable binary problem: y = 1 iff x0 + x1 > 0. */
static ft_model_dataset *make_ds(size_t rows, size_t nf, uint64_t seed)
{
	ft_model_dataset *ds = NULL;

	sm_state = seed;
	assert_int_equal(ft_model_dataset_alloc(rows, nf, &ds), FT_OK);
	for (size_t r = 0; r < rows; r++) {
		double s = 0;

		for (size_t j = 0; j < nf; j++) {
			ds->x[r * nf + j] = (float)(4 * sm_uniform() - 2);
			if (j < 2)
				s += ds->x[r * nf + j];
		}
		ds->y[r] = s > 0 ? 1.0f : 0.0f;
	}
	return ds;
}

static ft_model *make_global(size_t nf)
{
	ft_model_spec spec;
	ft_model *m = NULL;
	uint8_t seed[32] = {7};

	memset(&spec, 0, sizeof(spec));
	spec.kind = FT_MODEL_LOGREG;
	spec.n_features = (uint32_t)nf;
	spec.n_classes = 2;
	assert_int_equal(ft_model_alloc(&spec, &m, NULL), FT_OK);
	assert_int_equal(ft_model_init(m, seed), FT_OK);
	return m;
}

static void base_request(ft_node_update_request *req, const ft_model *g,
                         const ft_model_dataset *ds)
{
	memset(req, 0, sizeof(*req));
	req->global = g;
	req->ds = ds;
	ft_model_train_config_default(&req->cfg);
	req->cfg.lr = 0.5;
	req->cfg.epochs = 2;
	req->cfg.batch_units = 8;
	req->update_clip = 100.0;
}

static double norm(const float *v, size_t n)
{
	double s = 0;

	for (size_t i = 0; i < n; i++)
		s += (double)v[i] * v[i];
	return sqrt(s);
}

/* Without clipping the update is exactly local - global. */
static void test_update_is_local_minus_global(void **state)
{
	ft_model_dataset *ds = make_ds(64, 3, 1);
	ft_model *g = make_global(3), *local = NULL;
	ft_node_update_request req;
	ft_node_update_result res;
	size_t n = ft_model_n_params(g);
	float vec[4];

	(void)state;
	base_request(&req, g, ds);
	assert_int_equal(ft_node_update_len(g, 0), n);
	assert_int_equal(ft_node_update_compute(&req, vec, NULL, n, &local, &res, NULL), FT_OK);
	assert_int_equal(res.clipped, 0);
	assert_int_equal(res.train.dp, 0);
	assert_int_equal(res.train.steps, 2 * 8); /* 2 epochs of ceil(64 / 8) */
	for (size_t i = 0; i < n; i++)
		assert_true(vec[i] == ft_model_params(local)[i] - ft_model_params_const(g)[i]);
	assert_true(fabs(norm(vec, n) - res.delta_norm) < 1e-5);
	/* Training moved the model toward the separating direction. */
	assert_true(vec[0] > 0 && vec[1] > 0);
	ft_model_free(local);
	ft_model_free(g);
	ft_model_dataset_free(ds);
}

/* The update clip scales the whole delta down to norm C_u, keeping its
 * direction; weighting multiplies by w and appends w. */
static void test_update_clip_and_weight(void **state)
{
	ft_model_dataset *ds = make_ds(64, 3, 2);
	ft_model *g = make_global(3);
	ft_node_update_request req;
	ft_node_update_result res, res2;
	size_t n = ft_model_n_params(g);
	float full[4], clipped[4], weighted[5];

	(void)state;
	base_request(&req, g, ds);
	assert_int_equal(ft_node_update_compute(&req, full, NULL, n, NULL, &res, NULL), FT_OK);
	assert_true(res.delta_norm > 0.5);
	req.update_clip = 0.25;
	assert_int_equal(ft_node_update_compute(&req, clipped, NULL, n, NULL, &res2, NULL), FT_OK);
	assert_int_equal(res2.clipped, 1);
	assert_true(fabs(norm(clipped, n) - 0.25) < 1e-6);
	/* Training without DP is deterministic (seeded shuffle): same direction. */
	for (size_t i = 0; i < n; i++)
		assert_true(fabs(clipped[i] - full[i] * 0.25 / res.delta_norm) < 1e-6);

	req.weighted = 1;
	req.weight = 0.5;
	assert_int_equal(ft_node_update_compute(&req, weighted, NULL, n + 1, NULL, NULL, NULL),
	                 FT_OK);
	for (size_t i = 0; i < n; i++)
		assert_true(fabs(weighted[i] - 0.5 * clipped[i]) < 1e-7);
	assert_true(weighted[n] == 0.5f);
	ft_model_free(g);
	ft_model_dataset_free(ds);
}

/* Encoded updates of three sites sum (mod 2^bits) and decode to the sum of
 * their vectors within the fixed-point error, and the weighted mean
 * follows. */
static void test_encoded_sum_decodes(void **state)
{
	ft_model *g = make_global(3);
	size_t n = ft_model_n_params(g), d = n + 1;
	ft_crypto_fxp fxp;
	float vec[3][5], sum[5], dec[5], mean[4];
	uint32_t enc[3][5], acc[5] = {0};
	const double w[3] = {1.0, 0.25, 0.5};

	(void)state;
	assert_int_equal(ft_model_update_fxp_init(&fxp, 0.5, 1, 32, 3), FT_OK);
	assert_true(fxp.clip == 1.0); /* the weight must fit too */
	for (int s = 0; s < 3; s++) {
		ft_model_dataset *ds = make_ds(40, 3, 10 + (uint64_t)s);
		ft_node_update_request req;

		base_request(&req, g, ds);
		req.update_clip = 0.5;
		req.weighted = 1;
		req.weight = w[s];
		req.fxp = &fxp;
		assert_int_equal(ft_node_update_compute(&req, vec[s], enc[s], d, NULL, NULL, NULL),
		                 FT_OK);
		for (size_t i = 0; i < d; i++)
			acc[i] += enc[s][i]; /* 32 bits: the ring is uint32 arithmetic */
		ft_model_dataset_free(ds);
	}
	assert_int_equal(ft_crypto_fxp_decode(&fxp, acc, d, 3, dec), FT_OK);
	for (size_t i = 0; i < d; i++) {
		sum[i] = vec[0][i] + vec[1][i] + vec[2][i];
		assert_true(fabs(dec[i] - sum[i]) <= 3.0 / fxp.scale + 1e-7);
	}
	assert_int_equal(ft_model_server_mean(dec, d, 1, 3, mean, n), FT_OK);
	assert_true(fabs(dec[n] - 1.75) < 1e-6);
	for (size_t i = 0; i < n; i++)
		assert_true(fabs(mean[i] - sum[i] / 1.75) < 1e-6);
	ft_model_free(g);
}

/* DP-SGD runs and the update reports the privacy event to charge. */
static void test_update_reports_privacy_event(void **state)
{
	ft_model_dataset *ds = make_ds(50, 3, 3);
	ft_model *g = make_global(3);
	ft_node_update_request req;
	ft_node_update_result res;
	float vec[4];

	(void)state;
	base_request(&req, g, ds);
	req.cfg.dp.enabled = 1;
	req.cfg.dp.clip = 1.0;
	req.cfg.dp.sigma = 1.3;
	req.cfg.batch_units = 10;
	req.cfg.epochs = 1;
	req.update_clip = 1.0;
	assert_int_equal(ft_node_update_compute(&req, vec, NULL, 4, NULL, &res, NULL), FT_OK);
	assert_int_equal(res.train.dp, 1);
	assert_true(fabs(res.train.q - 0.2) < 1e-12);
	assert_true(res.train.sigma == 1.3);
	assert_int_equal(res.train.steps, 5);
	assert_true(norm(vec, 4) <= 1.0 + 1e-6);
	/* A batch larger than the site is cut to the site (q = 1). */
	req.cfg.batch_units = 500;
	assert_int_equal(ft_node_update_compute(&req, vec, NULL, 4, NULL, &res, NULL), FT_OK);
	assert_true(res.train.q == 1.0);
	ft_model_free(g);
	ft_model_dataset_free(ds);
}

static void test_update_rejects_bad_requests(void **state)
{
	ft_model_dataset *ds = make_ds(20, 3, 4);
	ft_model *g = make_global(3);
	ft_node_update_request req;
	ft_errmsg err;
	float vec[5] = {42, 42, 42, 42, 42};

	(void)state;
	base_request(&req, g, ds);
	assert_int_equal(ft_node_update_compute(&req, vec, NULL, 5, NULL, NULL, &err), FT_EINVAL);
	assert_non_null(strstr(err.msg, "expected 4"));
	req.update_clip = 0;
	assert_int_equal(ft_node_update_compute(&req, vec, NULL, 4, NULL, NULL, &err), FT_EINVAL);
	req.update_clip = 1;
	req.weighted = 1;
	req.weight = 1.5;
	assert_int_equal(ft_node_update_compute(&req, vec, NULL, 5, NULL, NULL, &err), FT_EINVAL);
	req.weighted = 0;
	req.cfg.lr = -1;
	assert_int_equal(ft_node_update_compute(&req, vec, NULL, 4, NULL, NULL, &err), FT_EINVAL);
	for (int i = 0; i < 5; i++)
		assert_true(vec[i] == 42);
	ft_model_free(g);
	ft_model_dataset_free(ds);
}

/* What a node checks of an announcement before it trains (and is charged):
 * the shape and vector length against the model, and that the update clip
 * encodes at the announced bits for the announced number of sites. */
static void test_update_params_check(void **state)
{
	ft_model *g = make_global(4);
	size_t np = ft_model_n_params(g);
	ft_errmsg e;
	(void)state;

	assert_int_equal(ft_node_update_params_check(g, NULL, np, 32, 1.0, 3, &e), FT_OK);
	assert_int_equal(ft_node_update_params_check(g, NULL, np, 16, 1.0, 100, &e), FT_OK);
	/* the announced shape must be the model's */
	{
		ft_model_spec sh = *ft_model_get_spec(g);

		assert_int_equal(ft_node_update_params_check(g, &sh, np, 32, 1.0, 3, &e), FT_OK);
		sh.n_features = 5;
		assert_int_equal(ft_node_update_params_check(g, &sh, np, 32, 1.0, 3, &e), FT_EINVAL);
		assert_non_null(strstr(e.msg, "shape"));
		sh = *ft_model_get_spec(g);
		sh.n_classes = 3;
		assert_int_equal(ft_node_update_params_check(g, &sh, np, 32, 1.0, 3, &e), FT_EINVAL);
		sh = *ft_model_get_spec(g);
		sh.n_hidden = 1;
		sh.hidden[0] = 4;
		assert_int_equal(ft_node_update_params_check(g, &sh, np, 32, 1.0, 3, &e), FT_EINVAL);
	}
	/* a vector of another length */
	assert_int_equal(ft_node_update_params_check(g, NULL, np + 1, 32, 1.0, 3, &e), FT_EINVAL);
	assert_non_null(strstr(e.msg, "vector length"));
	assert_int_equal(ft_node_update_params_check(g, NULL, np - 1, 32, 1.0, 3, &e), FT_EINVAL);
	/* a clip whose sum over the sites does not fit 16 bits */
	assert_int_equal(ft_node_update_params_check(g, NULL, np, 16, 20000.0, 3, &e), FT_ERANGE);
	assert_non_null(strstr(e.msg, "does not encode"));
	/* bits out of range, a clip that is not a positive number */
	assert_int_equal(ft_node_update_params_check(g, NULL, np, 15, 1.0, 3, &e), FT_EINVAL);
	assert_int_equal(ft_node_update_params_check(g, NULL, np, 33, 1.0, 3, &e), FT_EINVAL);
	assert_int_equal(ft_node_update_params_check(g, NULL, np, 32, 0.0, 3, &e), FT_EINVAL);
	assert_int_equal(ft_node_update_params_check(g, NULL, np, 32, NAN, 3, &e), FT_EINVAL);
	assert_int_equal(ft_node_update_params_check(g, NULL, np, 32, 1.0, 0, &e), FT_EINVAL);
	assert_int_equal(ft_node_update_params_check(NULL, NULL, np, 32, 1.0, 3, &e), FT_EINVAL);
	ft_model_free(g);
}

/* Range [0, 4], patients x = 1 (u = -1/2) and x = 3 (u = 1/2): the vector
 * is [0 | 2 (1/4 - 1/2) | 2] and decodes to mean 2, variance 1. */
static void test_stats_by_hand(void **state)
{
	ft_model_dataset *ds = NULL;
	const double lo = 0, hi = 4;
	float vec[3];
	double mean, var;
	uint64_t count;

	(void)state;
	assert_int_equal(ft_model_dataset_alloc(2, 1, &ds), FT_OK);
	ds->x[0] = 1;
	ds->x[1] = 3;
	assert_int_equal(ft_model_stats_len(1), 3);
	assert_int_equal(ft_node_stats_site(ds, &lo, &hi, 100, vec, 3, NULL), FT_OK);
	assert_true(fabs(vec[0]) < 1e-7 && fabs(vec[1] + 0.5) < 1e-7 && vec[2] == 2);
	assert_int_equal(ft_model_stats_finish(vec, 3, 1, &lo, &hi, &mean, &var, &count), FT_OK);
	assert_true(fabs(mean - 2) < 1e-6 && fabs(var - 1) < 1e-6 && count == 2);
	ft_model_dataset_free(ds);
}

/* The exact vector of a site minus the same site without one patient. */
static double patient_diff_norm(const ft_model_dataset *with, const ft_model_dataset *without,
                                const double *lo, const double *hi)
{
	float a[2 * 3 + 1], b[2 * 3 + 1];
	double d2 = 0;

	assert_int_equal(ft_node_stats_site(with, lo, hi, 1000, a, 7, NULL), FT_OK);
	assert_int_equal(ft_node_stats_site(without, lo, hi, 1000, b, 7, NULL), FT_OK);
	for (int i = 0; i < 7; i++)
		d2 += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
	return sqrt(d2);
}

/* The sensitivity the noise is calibrated to holds per patient: a patient
 * with 50 records at the extremes (far outside the ranges) moves the
 * vector by exactly the bound sqrt(5p/4 + 1), no more than one with a
 * single record; random patients stay below it. */
static void test_stats_patient_bound(void **state)
{
	const double lo[3] = {0, -5, 100}, hi[3] = {1, 5, 300};
	const double bound = ft_model_stats_sensitivity(3);
	ft_model_dataset *base = make_ds(10, 3, 7), *with = NULL;
	size_t nr[2] = {1, 50};

	(void)state;
	assert_true(fabs(bound - sqrt(3 * 1.25 + 1)) < 1e-12);
	for (int k = 0; k < 2; k++) {
		/* base's 10 one-record patients, then one with nr[k] records */
		assert_int_equal(ft_model_dataset_alloc(10 + nr[k], 3, &with), FT_OK);
		memcpy(with->x, base->x, 30 * sizeof(float));
		for (size_t r = 10; r < 10 + nr[k]; r++) {
			with->x[r * 3 + 0] = 1e6f;  /* clipped to hi: u = 1 */
			with->x[r * 3 + 1] = -1e6f; /* clipped to lo: u = -1 */
			with->x[r * 3 + 2] = 1e9f;
		}
		with->n_units = 11;
		with->unit_offset[11] = 10 + nr[k];
		if (!(fabs(patient_diff_norm(with, base, lo, hi) - bound) < 1e-4))
			fail_msg("%zu records: moved by %g, the bound is %g", nr[k],
			         patient_diff_norm(with, base, lo, hi), bound);
		/* and random values in range move it by less */
		for (size_t r = 10; r < 10 + nr[k]; r++)
			for (int j = 0; j < 3; j++)
				with->x[r * 3 + j] = (float)(lo[j] + (hi[j] - lo[j]) * sm_uniform());
		assert_true(patient_diff_norm(with, base, lo, hi) <= bound + 1e-5);
		ft_model_dataset_free(with);
		with = NULL;
	}
	ft_model_dataset_free(base);
}

/* One secure sum over NS sites without noise: encode, add mod 2^32,
 * decode, finish; equals the pooled moments of the clipped values (one
 * record per patient). */
enum { NF = 4, NS = 3 };
static void test_stats_federated_equals_pooled(void **state)
{
	size_t rows[NS] = {30, 55, 17}, total = 0, len = ft_model_stats_len(NF), at = 0;
	ft_model_dataset *ds[NS], *pooled = NULL;
	const double lo[NF] = {-2, -1, 100, 0}, hi[NF] = {2, 1, 400, 1};
	double mean[NF], var[NF], pm[NF], pv[NF];
	ft_crypto_fxp fxp;
	float vec[2 * NF + 1], dec[2 * NF + 1];
	uint32_t enc[2 * NF + 1], acc[2 * NF + 1] = {0};
	uint64_t count;

	(void)state;
	assert_int_equal(ft_model_stats_fxp_init(&fxp, 64, 32, NS), FT_OK);
	for (int s = 0; s < NS; s++) {
		ds[s] = make_ds(rows[s], NF, 100 + (uint64_t)s);
		/* features of different magnitudes, like cholesterol and a flag */
		for (size_t r = 0; r < rows[s]; r++) {
			ds[s]->x[r * NF + 2] = ds[s]->x[r * NF + 2] * 50 + 250;
			ds[s]->x[r * NF + 3] = (float)(r % 2);
		}
		total += rows[s];
		assert_int_equal(ft_node_stats_site(ds[s], lo, hi, 64, vec, len, NULL), FT_OK);
		assert_int_equal(ft_crypto_fxp_encode(&fxp, vec, len, enc), FT_OK);
		for (size_t i = 0; i < len; i++)
			acc[i] += enc[i];
	}
	assert_int_equal(ft_crypto_fxp_decode(&fxp, acc, len, NS, dec), FT_OK);
	assert_int_equal(ft_model_stats_finish(dec, len, NF, lo, hi, mean, var, &count), FT_OK);
	assert_int_equal(count, total);
	assert_int_equal(ft_model_dataset_alloc(total, NF, &pooled), FT_OK);
	for (int s = 0; s < NS; s++) {
		memcpy(pooled->x + at * NF, ds[s]->x, rows[s] * NF * sizeof(float));
		at += rows[s];
	}
	for (size_t i = 0; i < total * NF; i++) /* feature 1 leaves its range */
		if (i % NF == 1)
			pooled->x[i] = fminf(fmaxf(pooled->x[i], -1), 1);
	assert_int_equal(ft_model_dataset_moments(pooled, pm, pv), FT_OK);
	for (int j = 0; j < NF; j++) {
		double half = (hi[j] - lo[j]) / 2;

		if (!(fabs(mean[j] - pm[j]) < 1e-4 * half))
			fail_msg("mean %d: %g vs %g", j, mean[j], pm[j]);
		if (!(fabs(var[j] - pv[j]) < 1e-4 * half * half))
			fail_msg("var %d: %g vs %g", j, var[j], pv[j]);
	}
	for (int s = 0; s < NS; s++)
		ft_model_dataset_free(ds[s]);
	ft_model_dataset_free(pooled);
}

/* The released vector is the exact one plus noise of the calibrated
 * spread: over 400 releases of a 9-element vector the differences have
 * mean about 0 and standard deviation noise_sd (within 5%), and the
 * multiplier is the accountant's for one Gaussian step at epsilon 1. */
static void test_stats_noise_is_applied(void **state)
{
	ft_model_dataset *ds = make_ds(40, NF, 3);
	const double lo[NF] = {-2, -2, -2, -2}, hi[NF] = {2, 2, 2, 2};
	size_t len = ft_model_stats_len(NF);
	ft_node_stats_dp dp;
	float exact[2 * NF + 1], vec[2 * NF + 1];
	double z, eps, s1 = 0, s2 = 0, n = 0;
	int differ = 0;

	(void)state;
	assert_int_equal(ft_crypto_init(), FT_OK);
	assert_int_equal(ft_node_stats_calibrate(1.0, 1e-5, NF, &dp, NULL), FT_OK);
	assert_int_equal(ft_privacy_calibrate_sigma(1.0, 1e-5, 1.0, 1, NULL, 0, &z), FT_OK);
	assert_true(dp.z == z);
	assert_int_equal(ft_privacy_epsilon(1.0, dp.z, 1, 1e-5, NULL, 0, &eps, &z), FT_OK);
	assert_true(eps <= 1.0 && eps > 0.99);
	assert_true(dp.sensitivity == ft_model_stats_sensitivity(NF));
	/* float32 rounding of values up to the 100 000-patient cap: 2^-7 per
	 * element, a few per cent of S at most */
	assert_true(dp.rounding == sqrt((double)len) * ldexp(1.0, -7));
	assert_true(dp.rounding < 0.05 * dp.sensitivity);
	assert_true(dp.noise_sd >= dp.z * (dp.sensitivity + dp.rounding) &&
	            dp.noise_sd < dp.z * (dp.sensitivity + dp.rounding) * 1.001);
	assert_int_equal(ft_node_stats_site(ds, lo, hi, 100, exact, len, NULL), FT_OK);
	for (int k = 0; k < 400; k++) {
		memcpy(vec, exact, sizeof(vec));
		assert_int_equal(ft_node_stats_noise(&dp, vec, len, NULL), FT_OK);
		for (size_t i = 0; i < len; i++) {
			double d = (double)vec[i] - exact[i];

			differ += vec[i] != exact[i];
			s1 += d;
			s2 += d * d;
			n++;
		}
	}
	assert_true(differ > 0.9 * n);
	if (!(fabs(s1 / n) < 4 * dp.noise_sd / sqrt(n)))
		fail_msg("noise mean %g (sd %g)", s1 / n, dp.noise_sd);
	if (!(fabs(sqrt(s2 / n) / dp.noise_sd - 1) < 0.05))
		fail_msg("noise sd %g, expected %g", sqrt(s2 / n), dp.noise_sd);
	/* Bad requests: nothing calibrated. */
	assert_int_equal(ft_node_stats_calibrate(0, 1e-5, NF, &dp, NULL), FT_EINVAL);
	assert_int_equal(ft_node_stats_calibrate(1, 1, NF, &dp, NULL), FT_EINVAL);
	assert_int_equal(ft_node_stats_calibrate(1, 1e-5, 0, &dp, NULL), FT_EINVAL);
	ft_model_dataset_free(ds);
}

/* Noise can leave the moments of u outside what [-1, 1] allows; the
 * decoded variance never goes below the floor, nor above the range. */
static void test_stats_finish_bounds(void **state)
{
	const double lo = 10, hi = 20;
	/* mean of u 2 (impossible), second moment below the mean's square */
	const float wild[3] = {200, -60, 100}, flat[3] = {50, -50 + 25, 100};
	const float empty[3] = {0, 0, 0.4f};
	double mean, var;

	(void)state;
	assert_int_equal(ft_model_stats_finish(wild, 3, 1, &lo, &hi, &mean, &var, NULL), FT_OK);
	assert_true(mean == 20);
	assert_true(fabs(var - FT_MODEL_STATS_VAR_FLOOR * 25) < 1e-12);
	/* u = 1/2 for all: variance 0 in truth, the floor here */
	assert_int_equal(ft_model_stats_finish(flat, 3, 1, &lo, &hi, &mean, &var, NULL), FT_OK);
	assert_true(fabs(mean - 17.5) < 1e-9 && fabs(var - FT_MODEL_STATS_VAR_FLOOR * 25) < 1e-12);
	/* A noisy count below 1 is taken as 1: the run goes on (the sites'
	 * retries would re-send the same vectors), moments within the range. */
	{
		uint64_t count = 0;

		assert_int_equal(ft_model_stats_finish(empty, 3, 1, &lo, &hi, &mean, &var, &count),
		                 FT_OK);
		assert_int_equal(count, 1);
		assert_true(mean >= lo && mean <= hi && var > 0 && var <= 25);
	}
	assert_int_equal(ft_model_stats_finish(flat, 3, 1, &hi, &lo, &mean, &var, NULL), FT_EINVAL);
}

static void test_stats_rejects_and_clips(void **state)
{
	ft_model_dataset *ds = make_ds(10, 2, 5);
	const double lo[2] = {-1000, -1000}, hi[2] = {1000, 1000}, bad_hi[2] = {1000, -1000};
	float vec[5];
	ft_errmsg err;

	(void)state;
	/* A value beyond the range counts as the bound. */
	ds->x[0] = 2000;
	assert_int_equal(ft_node_stats_site(ds, lo, hi, 100, vec, 5, &err), FT_OK);
	ds->x[0] = 1000;
	{
		float vec2[5];

		assert_int_equal(ft_node_stats_site(ds, lo, hi, 100, vec2, 5, &err), FT_OK);
		assert_memory_equal(vec, vec2, sizeof(vec));
	}
	assert_int_equal(ft_node_stats_site(ds, lo, hi, 9, vec, 5, &err), FT_ERANGE);
	assert_int_equal(ft_node_stats_site(ds, lo, hi, 100, vec, 4, &err), FT_EINVAL);
	assert_int_equal(ft_node_stats_site(ds, lo, bad_hi, 100, vec, 5, &err), FT_EINVAL);
	assert_int_equal(ft_node_stats_site(ds, NULL, hi, 100, vec, 5, &err), FT_EINVAL);
	ds->x[1] = NAN;
	assert_int_equal(ft_node_stats_site(ds, lo, hi, 100, vec, 5, &err), FT_EINVAL);
	ft_model_dataset_free(ds);
}

static void test_levels(void **state)
{
	ft_node_levels a, b;
	size_t idx;
	float oh[4] = {9, 9, 9, 9};
	char big[FT_NODE_LEVEL_MAX_BYTES + 2];

	(void)state;
	ft_node_levels_init(&a);
	ft_node_levels_init(&b);
	/* Site A has levels 4, 1, 2 (some repeated); site B has 3 and 1. */
	assert_int_equal(ft_node_levels_add(&a, "4"), FT_OK);
	assert_int_equal(ft_node_levels_add(&a, "1"), FT_OK);
	assert_int_equal(ft_node_levels_add(&a, "4"), FT_OK);
	assert_int_equal(ft_node_levels_add(&a, "2"), FT_OK);
	assert_int_equal(a.n, 3);
	assert_int_equal(ft_node_levels_add(&b, "3"), FT_OK);
	assert_int_equal(ft_node_levels_add(&b, "1"), FT_OK);
	/* The union is the same whichever site speaks first. */
	{
		ft_node_levels u1, u2;

		ft_node_levels_init(&u1);
		ft_node_levels_init(&u2);
		assert_int_equal(ft_node_levels_union(&u1, &a), FT_OK);
		assert_int_equal(ft_node_levels_union(&u1, &b), FT_OK);
		assert_int_equal(ft_node_levels_union(&u2, &b), FT_OK);
		assert_int_equal(ft_node_levels_union(&u2, &a), FT_OK);
		assert_int_equal(u1.n, 4);
		for (size_t i = 0; i < 4; i++)
			assert_string_equal(u1.level[i], u2.level[i]);
		assert_string_equal(u1.level[0], "1");
		assert_string_equal(u1.level[3], "4");
		assert_int_equal(ft_node_levels_index(&u1, "3", &idx), FT_OK);
		assert_int_equal(idx, 2);
		assert_int_equal(ft_node_levels_onehot(&u1, "3", oh, 4), FT_OK);
		assert_true(oh[0] == 0 && oh[1] == 0 && oh[2] == 1 && oh[3] == 0);
		oh[0] = 9;
		assert_int_equal(ft_node_levels_onehot(&u1, "7", oh, 4), FT_ENOTFOUND);
		assert_true(oh[0] == 9);
		assert_int_equal(ft_node_levels_onehot(&u1, "1", oh, 3), FT_EINVAL);
		ft_node_levels_clear(&u1);
		ft_node_levels_clear(&u2);
	}
	assert_int_equal(ft_node_levels_add(&a, ""), FT_EINVAL);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	assert_int_equal(ft_node_levels_add(&a, big), FT_EINVAL);
	ft_node_levels_clear(&a);
	for (unsigned i = 0; i < FT_NODE_LEVELS_MAX; i++) {
		char name[16];

		snprintf(name, sizeof(name), "L%u", i);
		assert_int_equal(ft_node_levels_add(&a, name), FT_OK);
	}
	assert_int_equal(ft_node_levels_add(&a, "one-too-many"), FT_ERANGE);
	assert_int_equal(a.n, FT_NODE_LEVELS_MAX);
	ft_node_levels_clear(&a);
	ft_node_levels_clear(&b);
	ft_node_levels_clear(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_update_is_local_minus_global),
		cmocka_unit_test(test_update_clip_and_weight),
		cmocka_unit_test(test_encoded_sum_decodes),
		cmocka_unit_test(test_update_reports_privacy_event),
		cmocka_unit_test(test_update_rejects_bad_requests),
		cmocka_unit_test(test_update_params_check),
		cmocka_unit_test(test_stats_by_hand),
		cmocka_unit_test(test_stats_patient_bound),
		cmocka_unit_test(test_stats_federated_equals_pooled),
		cmocka_unit_test(test_stats_noise_is_applied),
		cmocka_unit_test(test_stats_finish_bounds),
		cmocka_unit_test(test_stats_rejects_and_clips),
		cmocka_unit_test(test_levels),
	};

	if (ft_crypto_init() != FT_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
