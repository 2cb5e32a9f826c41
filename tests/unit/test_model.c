/*
 * test_model.c - model specs, deterministic initialisation, forward pass,
 * gradients (against finite differences), prediction, standardisation,
 * metrics, optimisers and the DP-SGD step, and rejection of bad input.
 */
#include "ft_test.h"
#include "ft_crypto.h"
#include "ft_model.h"

#include <math.h>

/* cmocka 1.1.5 has no assert_double_equal. */
#define assert_near(a, b, tol)                                                          \
	do {                                                                            \
		double a_ = (a), b_ = (b);                                              \
		if (!(fabs(a_ - b_) <= (tol)))                                          \
			fail_msg("%s = %.9g, expected %.9g (tolerance %g)", #a, a_, b_, \
			         (double)(tol));                                        \
	} while (0)

/* A small dataset with a deterministic pseudo-random fill (splitmix64);
 * unit 0 has three rows, the others one each. */
static uint64_t sm_state;
static double sm_uniform(void)
{
	uint64_t z = (sm_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return (double)(z >> 11) * 0x1.0p-53;
}

static ft_model_dataset *make_ds(size_t rows, size_t nf, uint32_t n_classes, uint64_t seed)
{
	ft_model_dataset *ds = NULL;

	sm_state = seed;
	assert_int_equal(ft_model_dataset_alloc(rows, nf, &ds), FT_OK);
	for (size_t r = 0; r < rows; r++) {
		double s = 0;

		for (size_t j = 0; j < nf; j++) {
			ds->x[r * nf + j] = (float)(2 * sm_uniform() - 1);
			s += ds->x[r * nf + j] * (j % 2 ? -1.0 : 1.0);
		}
		if (n_classes == 0)
			ds->y[r] = (float)(3 * s + 0.5);
		else if (n_classes == 2)
			ds->y[r] = s > 0 ? 1.0f : 0.0f;
		else
			ds->y[r] = (float)(r % n_classes);
	}
	/* Unit 0 = rows 0..2. */
	ds->n_units = rows - 2;
	ds->unit_offset[0] = 0;
	for (size_t u = 1; u <= ds->n_units; u++)
		ds->unit_offset[u] = u + 2;
	return ds;
}

static ft_model *make_model(uint32_t kind, uint32_t nf, uint32_t nc, uint32_t n_hidden,
                            const uint32_t *hidden, uint32_t act)
{
	ft_model_spec s;
	ft_model *m = NULL;
	uint8_t seed[32] = { 7 };
	ft_errmsg e;

	memset(&s, 0, sizeof(s));
	s.kind = kind;
	s.n_features = nf;
	s.n_classes = nc;
	s.n_hidden = n_hidden;
	for (uint32_t i = 0; i < n_hidden; i++)
		s.hidden[i] = hidden[i];
	s.activation = act;
	assert_int_equal(ft_model_alloc(&s, &m, &e), FT_OK);
	assert_int_equal(ft_model_init(m, seed), FT_OK);
	return m;
}

static void test_spec_check(void **state)
{
	ft_model_spec s;
	size_t n = 0;
	ft_errmsg e;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.kind = 9;
	s.n_features = 3;
	assert_int_equal(ft_model_spec_check(&s, &n, &e), FT_EINVAL);
	assert_non_null(strstr(e.msg, "unknown model kind"));
	s.kind = FT_MODEL_LOGREG;
	s.n_classes = 3;
	assert_int_equal(ft_model_spec_check(&s, &n, &e), FT_EINVAL);
	s.n_classes = 2;
	assert_int_equal(ft_model_spec_check(&s, &n, &e), FT_OK);
	assert_int_equal(n, 4);
	s.activation = FT_MODEL_ACT_RELU;
	assert_int_equal(ft_model_spec_check(&s, &n, &e), FT_EINVAL);
	/* 30 -> 300 -> 300 -> 1: 30*300+300 + 300*300+300 + 300+1. */
	memset(&s, 0, sizeof(s));
	s.kind = FT_MODEL_MLP;
	s.n_features = 30;
	s.n_classes = 2;
	s.n_hidden = 2;
	s.hidden[0] = s.hidden[1] = 300;
	s.activation = FT_MODEL_ACT_TANH;
	assert_int_equal(ft_model_spec_check(&s, &n, &e), FT_OK);
	assert_int_equal(n, 99901);
	s.n_classes = 5; /* softmax head: 300*5+5 */
	assert_int_equal(ft_model_spec_check(&s, &n, &e), FT_OK);
	assert_int_equal(n, 9300 + 90300 + 1505);
	s.hidden[0] = s.hidden[1] = 16384;
	assert_int_equal(ft_model_spec_check(&s, &n, &e), FT_ERANGE);
	s.hidden[0] = s.hidden[1] = 0;
	assert_int_equal(ft_model_spec_check(&s, &n, &e), FT_ERANGE);
	s.n_features = 0;
	assert_int_equal(ft_model_spec_check(&s, &n, &e), FT_ERANGE);
	assert_int_equal(ft_model_spec_check(NULL, &n, &e), FT_EINVAL);
}

/* Pinned against tests/vectors/model_init_vector.py, an independent
 * ChaCha20 implementation. */
static void test_init_known_answer(void **state)
{
	ft_model_spec s = { FT_MODEL_LOGREG, 3, 2, 0, { 0 }, FT_MODEL_ACT_NONE };
	uint8_t seed[32];
	ft_model *m = NULL, *m2 = NULL;
	const float *p;

	(void)state;
	for (int i = 0; i < 32; i++)
		seed[i] = (uint8_t)i;
	assert_int_equal(ft_model_alloc(&s, &m, NULL), FT_OK);
	assert_int_equal(ft_model_init(m, seed), FT_OK);
	p = ft_model_params_const(m);
	assert_true(p[0] == -0.0270608421f);
	assert_true(p[1] == -0.20953986f);
	assert_true(p[2] == -0.0859751552f);
	assert_true(p[3] == 0.0f);
	/* Same seed, same model; another seed, another model. */
	assert_int_equal(ft_model_clone(m, &m2), FT_OK);
	assert_int_equal(ft_model_init(m2, seed), FT_OK);
	assert_memory_equal(p, ft_model_params_const(m2), 4 * sizeof(float));
	seed[0] ^= 1;
	assert_int_equal(ft_model_init(m2, seed), FT_OK);
	assert_true(memcmp(p, ft_model_params_const(m2), 3 * sizeof(float)) != 0);
	ft_model_free(m);
	ft_model_free(m2);
}

static void test_init_glorot_bounds(void **state)
{
	uint32_t h[2] = { 300, 40 };
	ft_model *m = make_model(FT_MODEL_MLP, 30, 2, 2, h, FT_MODEL_ACT_RELU);
	const float *p = ft_model_params_const(m);
	double a0 = sqrt(6.0 / 330), s2 = 0;
	size_t n0 = 30 * 300;

	(void)state;
	assert_int_equal(ft_model_n_params(m), 9300 + 12040 + 41);
	for (size_t i = 0; i < n0; i++) {
		assert_true(fabs(p[i]) <= a0);
		s2 += (double)p[i] * p[i];
	}
	/* Uniform on [-a, a] has variance a^2/3; 9000 draws: within 5%. */
	assert_true(fabs(s2 / (double)n0 - a0 * a0 / 3) < 0.05 * a0 * a0 / 3);
	for (size_t i = n0; i < 9300; i++)
		assert_true(p[i] == 0.0f);
	ft_model_free(m);
}

/* Values from a Python 3 computation of the same formulas. */
static void test_loss_predict_known_answer(void **state)
{
	ft_model *m = make_model(FT_MODEL_LOGREG, 2, 2, 0, NULL, 0);
	ft_model_dataset *ds = NULL;
	float *p = ft_model_params(m), out[3];
	const float x[3][2] = { { 1, 2 }, { -1.5f, 0.5f }, { 0.25f, -2 } };
	const float y[3] = { 1, 0, 1 };
	double loss = 0;

	(void)state;
	p[0] = 0.5f;
	p[1] = -0.25f;
	p[2] = 0.1f;
	assert_int_equal(ft_model_dataset_alloc(3, 2, &ds), FT_OK);
	memcpy(ds->x, x, sizeof(x));
	memcpy(ds->y, y, sizeof(y));
	assert_int_equal(ft_model_loss(m, ds, &loss, NULL), FT_OK);
	assert_near(loss, 0.47275828483144666, 1e-6);
	assert_int_equal(ft_model_predict(m, x[0], out, 2), FT_OK);
	assert_near(out[1], 1 / (1 + exp(-0.1)), 1e-6);
	assert_near(out[0] + out[1], 1.0, 1e-6);
	assert_int_equal(ft_model_predict(m, x[0], out, 1), FT_EINVAL);
	ft_model_free(m);
	ft_model_dataset_free(ds);

	m = make_model(FT_MODEL_SOFTMAX, 2, 3, 0, NULL, 0);
	p = ft_model_params(m);
	{
		const float w[9] = { 0.2f, -0.1f, 0.0f, 0.3f, -0.4f, 0.1f, 0.05f, -0.05f, 0.0f };
		const float xs[2] = { 1, -2 };

		memcpy(p, w, sizeof(w));
		assert_int_equal(ft_model_n_outputs(m), 3);
		assert_int_equal(ft_model_predict(m, xs, out, 3), FT_OK);
		assert_near(out[0], 0.5942445633177641, 1e-6);
		assert_near(out[1], 0.19780683177327618, 1e-6);
		assert_near(out[2], 0.20794860490895978, 1e-6);
	}
	ft_model_free(m);
}

/* Analytic gradient of a unit against central differences of its loss. */
static void check_grad(ft_model *m, ft_model_dataset *ds, size_t unit)
{
	size_t n = ft_model_n_params(m);
	float *g = calloc(n, sizeof(float)), *tmp = calloc(n, sizeof(float));
	float *p = ft_model_params(m);
	double lp, lm, base;
	const float h = 1e-2f;

	assert_non_null(g);
	assert_non_null(tmp);
	assert_int_equal(ft_model_grad_unit(m, ds, unit, g, &base), FT_OK);
	assert_true(isfinite(base) && base >= 0);
	for (size_t i = 0; i < n; i += 1 + n / 50) {
		float keep = p[i];

		p[i] = keep + h;
		assert_int_equal(ft_model_grad_unit(m, ds, unit, tmp, &lp), FT_OK);
		p[i] = keep - h;
		assert_int_equal(ft_model_grad_unit(m, ds, unit, tmp, &lm), FT_OK);
		p[i] = keep;
		assert_near(g[i], (lp - lm) / (2 * h), 2e-3 + 2e-2 * fabs(g[i]));
	}
	free(g);
	free(tmp);
}

static void test_gradients(void **state)
{
	uint32_t h1[1] = { 7 }, h2[2] = { 6, 5 };
	ft_model_dataset *bin = make_ds(10, 4, 2, 1), *reg = make_ds(10, 4, 0, 2);
	ft_model_dataset *multi = make_ds(10, 4, 3, 3);
	ft_model *m;

	(void)state;
	m = make_model(FT_MODEL_LOGREG, 4, 2, 0, NULL, 0);
	check_grad(m, bin, 0);
	check_grad(m, bin, 3);
	ft_model_free(m);
	m = make_model(FT_MODEL_LINREG, 4, 0, 0, NULL, 0);
	check_grad(m, reg, 0);
	ft_model_free(m);
	m = make_model(FT_MODEL_SOFTMAX, 4, 3, 0, NULL, 0);
	check_grad(m, multi, 0);
	ft_model_free(m);
	m = make_model(FT_MODEL_MLP, 4, 2, 1, h1, FT_MODEL_ACT_TANH);
	check_grad(m, bin, 0);
	ft_model_free(m);
	m = make_model(FT_MODEL_MLP, 4, 3, 2, h2, FT_MODEL_ACT_TANH);
	check_grad(m, multi, 0);
	ft_model_free(m);
	m = make_model(FT_MODEL_MLP, 4, 0, 2, h2, FT_MODEL_ACT_TANH);
	check_grad(m, reg, 1);
	ft_model_free(m);
	/* ReLU: kinks are rare at random points. */
	m = make_model(FT_MODEL_MLP, 4, 2, 2, h2, FT_MODEL_ACT_RELU);
	check_grad(m, bin, 0);
	ft_model_free(m);
	ft_model_dataset_free(bin);
	ft_model_dataset_free(reg);
	ft_model_dataset_free(multi);
}

static void test_standardise(void **state)
{
	ft_model_dataset *ds = NULL, *half = NULL;
	double sum[2], sumsq[2], s2[2], q2[2], mean[2], var[2];
	uint64_t c1 = 0, c2 = 0;
	const float x[8] = { 1, 10, 2, 10, 3, 10, 4, 10 };

	(void)state;
	assert_int_equal(ft_model_dataset_alloc(4, 2, &ds), FT_OK);
	memcpy(ds->x, x, sizeof(x));
	assert_int_equal(ft_model_dataset_moments(ds, mean, var), FT_OK);
	assert_near(mean[0], 2.5, 1e-12);
	assert_near(var[0], 1.25, 1e-12);
	assert_near(mean[1], 10, 1e-12);
	assert_near(var[1], 0, 1e-12);
	/* Sums of two sites add up to the pooled sums. */
	assert_int_equal(ft_model_dataset_alloc(2, 2, &half), FT_OK);
	memcpy(half->x, x, 4 * sizeof(float));
	assert_int_equal(ft_model_dataset_sums(half, sum, sumsq, &c1), FT_OK);
	memcpy(half->x, x + 4, 4 * sizeof(float));
	assert_int_equal(ft_model_dataset_sums(half, s2, q2, &c2), FT_OK);
	for (int j = 0; j < 2; j++) {
		sum[j] += s2[j];
		sumsq[j] += q2[j];
	}
	assert_int_equal(ft_model_moments_from_sums(2, sum, sumsq, c1 + c2, s2, q2), FT_OK);
	assert_near(s2[0], mean[0], 1e-12);
	assert_near(q2[0], var[0], 1e-12);
	assert_int_equal(ft_model_moments_from_sums(2, sum, sumsq, 0, s2, q2), FT_EINVAL);
	assert_int_equal(ft_model_dataset_standardise(ds, mean, var), FT_OK);
	assert_near(ds->x[0], -1.5 / sqrt(1.25), 1e-6);
	assert_near(ds->x[6], 1.5 / sqrt(1.25), 1e-6);
	assert_true(ds->x[1] == 0.0f); /* constant feature only centred */
	var[0] = -1;
	assert_int_equal(ft_model_dataset_standardise(ds, mean, var), FT_EINVAL);
	ds->x[3] = NAN;
	assert_int_equal(ft_model_dataset_moments(ds, mean, var), FT_EINVAL);
	ft_model_dataset_free(ds);
	ft_model_dataset_free(half);
}

/* Expected values from a Python 3 script (pairwise counting for the AUC,
 * an independent method from the rank sums the code uses). */
static void test_metrics(void **state)
{
	const float y[10] = { 1, 0, 1, 1, 0, 0, 1, 0, 1, 0 };
	const float s[10] = { 0.9f, 0.1f, 0.4f, 0.4f, 0.4f, 0.2f, 0.8f, 0.8f, 0.3f, 0.05f };
	const float yb[4] = { 1, 0, 1, 0 };
	const float probs[8] = { 0.1f, 0.9f, 0.8f, 0.2f, 0.4f, 0.6f, 0.3f, 0.7f };
	const float t[4] = { 3, -0.5f, 2, 7 }, q[4] = { 2.5f, 0, 2, 8 };
	const float lab[4] = { 1, 1, 1, 0 };
	const float y3[2] = { 2, 5 };
	double v = 0;

	(void)state;
	assert_int_equal(ft_model_metric_auc(y, s, 10, &v), FT_OK);
	assert_near(v, 0.78, 1e-12);
	assert_int_equal(ft_model_metric_auc(y, s, 1, &v), FT_EINVAL); /* one class */
	assert_int_equal(ft_model_metric_accuracy(yb, lab, 4, &v), FT_OK);
	assert_near(v, 0.75, 1e-12);
	assert_int_equal(ft_model_metric_logloss(yb, probs, 4, 2, &v), FT_OK);
	assert_near(v, 0.5108256237659907, 1e-6);
	assert_int_equal(ft_model_metric_logloss(y3, probs, 2, 2, &v), FT_EINVAL);
	assert_int_equal(ft_model_metric_rmse(t, q, 4, &v), FT_OK);
	assert_near(v, 0.6123724356957945, 1e-9);
	assert_int_equal(ft_model_metric_mae(t, q, 4, &v), FT_OK);
	assert_near(v, 0.5, 1e-9);
	assert_int_equal(ft_model_metric_mae(t, q, 0, &v), FT_EINVAL);
}

static void test_bad_input(void **state)
{
	ft_model *m = make_model(FT_MODEL_LOGREG, 4, 2, 0, NULL, 0);
	ft_model_dataset *ds = make_ds(10, 4, 2, 5), *wrong = make_ds(10, 3, 2, 5);
	ft_model_train_config c;
	ft_errmsg e;
	double loss;
	float out[2];

	(void)state;
	ft_model_train_config_default(&c);
	assert_int_equal(ft_model_train(m, wrong, &c, NULL, &e), FT_EINVAL);
	assert_non_null(strstr(e.msg, "features"));
	ds->x[4 * 6 + 2] = NAN;
	assert_int_equal(ft_model_train(m, ds, &c, NULL, &e), FT_EINVAL);
	assert_non_null(strstr(e.msg, "row 6, feature 2"));
	assert_int_equal(ft_model_loss(m, ds, &loss, &e), FT_EINVAL);
	assert_int_equal(ft_model_predict(m, ds->x + 24, out, 2), FT_EINVAL);
	ds->x[4 * 6 + 2] = 0;
	ds->y[3] = 2;
	assert_int_equal(ft_model_train(m, ds, &c, NULL, &e), FT_EINVAL);
	assert_non_null(strstr(e.msg, "row 3"));
	ds->y[3] = 0.5f;
	assert_int_equal(ft_model_train(m, ds, &c, NULL, &e), FT_EINVAL);
	ds->y[3] = 1;
	ds->unit_offset[2] = 1; /* decreasing */
	assert_int_equal(ft_model_train(m, ds, &c, NULL, &e), FT_EINVAL);
	assert_non_null(strstr(e.msg, "unit"));
	ds->unit_offset[2] = 4;
	assert_int_equal(ft_model_train(m, ds, &c, NULL, &e), FT_OK);
	c.lr = NAN;
	assert_int_equal(ft_model_train(m, ds, &c, NULL, &e), FT_EINVAL);
	c.lr = 0.1;
	c.batch_units = 0;
	assert_int_equal(ft_model_train(m, ds, &c, NULL, &e), FT_EINVAL);
	c.batch_units = 4;
	c.optimizer = 7;
	assert_int_equal(ft_model_train(m, ds, &c, NULL, &e), FT_EINVAL);
	assert_non_null(strstr(e.msg, "optimiser"));
	c.optimizer = FT_MODEL_OPT_SGD;
	c.prox_mu = 0.1; /* without global parameters */
	assert_int_equal(ft_model_train(m, ds, &c, NULL, &e), FT_EINVAL);
	c.prox_mu = 0;
	c.dp.enabled = 1;
	c.dp.clip = 0;
	assert_int_equal(ft_model_train(m, ds, &c, NULL, &e), FT_EINVAL);
	c.dp.clip = 1;
	c.dp.sigma = -1;
	assert_int_equal(ft_model_train(m, ds, &c, NULL, &e), FT_EINVAL);
	c.dp.enabled = 0;
	c.steps = FT_MODEL_MAX_STEPS + 1;
	assert_int_equal(ft_model_train(m, ds, &c, NULL, &e), FT_ERANGE);
	ft_model_free(m);
	ft_model_dataset_free(ds);
	ft_model_dataset_free(wrong);
}

/* With q = 1 and sigma = 0 a DP step is deterministic: the mean over units
 * of the gradients clipped to C, computed here from ft_model_grad_unit. Unit
 * 0 has three rows (dense path), the others one (norm-only path). */
static void test_dp_step_matches_reference(void **state)
{
	uint32_t h[1] = { 8 };
	ft_model *m = make_model(FT_MODEL_MLP, 4, 2, 1, h, FT_MODEL_ACT_TANH), *ref = NULL;
	ft_model_dataset *ds = make_ds(12, 4, 2, 9);
	ft_model_train_config c;
	ft_model_train_report rep;
	size_t n = ft_model_n_params(m);
	float *g = calloc(n, sizeof(float)), *sum = calloc(n, sizeof(float));
	double clip = 0, lr = 0.3, norms[10];
	int clipped = 0;

	(void)state;
	assert_int_equal(ft_model_clone(m, &ref), FT_OK);
	/* C between the smallest and largest unit norm, so both cases occur. */
	for (size_t u = 0; u < ds->n_units; u++) {
		double nn = 0;

		assert_int_equal(ft_model_grad_unit(ref, ds, u, g, NULL), FT_OK);
		for (size_t i = 0; i < n; i++)
			nn += (double)g[i] * g[i];
		norms[u] = sqrt(nn);
		clip += norms[u] / (double)ds->n_units;
	}
	assert_true(norms[0] != clip);
	for (size_t u = 0; u < ds->n_units; u++) {
		double norm = 0;

		assert_int_equal(ft_model_grad_unit(ref, ds, u, g, NULL), FT_OK);
		for (size_t i = 0; i < n; i++)
			norm += (double)g[i] * g[i];
		norm = sqrt(norm);
		clipped += norm > clip;
		for (size_t i = 0; i < n; i++)
			sum[i] += (float)(g[i] * fmin(1.0, clip / (norm + 1e-6)));
	}
	assert_true(clipped > 0 && clipped < (int)ds->n_units); /* both cases hit */
	ft_model_train_config_default(&c);
	c.lr = lr;
	c.steps = 1;
	c.batch_units = (uint32_t)ds->n_units;
	c.dp.enabled = 1;
	c.dp.clip = clip;
	c.dp.sigma = 0;
	assert_int_equal(ft_model_train(m, ds, &c, &rep, NULL), FT_OK);
	for (size_t i = 0; i < n; i++) {
		float want = ft_model_params(ref)[i] - (float)(lr * sum[i] / (double)ds->n_units);

		assert_near(ft_model_params(m)[i], want, 1e-5);
	}
	assert_int_equal(rep.dp, 1);
	assert_int_equal(rep.steps, 1);
	assert_near(rep.q, 1.0, 0);
	assert_int_equal(rep.units_sampled, ds->n_units);
	assert_int_equal(rep.n_units, 10);
	assert_int_equal(rep.n_rows, 12);
	assert_true(isnan(rep.final_loss));
	free(g);
	free(sum);
	ft_model_free(m);
	ft_model_free(ref);
	ft_model_dataset_free(ds);
}

/* A patient whose gradient overflows (hostile or diverged parameters) must
 * neither fail the training (a failure would tell the coordinator that such
 * a patient exists) nor poison the update: it contributes nothing. */
static void test_dp_nonfinite_unit_contributes_nothing(void **state)
{
	uint32_t h[1] = { 1 };
	ft_model *m = make_model(FT_MODEL_MLP, 4, 2, 1, h, FT_MODEL_ACT_RELU);
	ft_model_dataset *ds = make_ds(12, 4, 2, 9);
	ft_model_train_config c;
	ft_model_train_report rep;
	size_t n = ft_model_n_params(m);
	float *p = ft_model_params(m);

	(void)state;
	/* Layout W1[1][4], b1, W2[1][1], b2: a huge first weight and a zero
	 * second one keep every output finite, but the hidden unit overflows
	 * to infinity for the one patient whose first feature is 2. */
	assert_int_equal(n, 7);
	memset(p, 0, n * sizeof(float));
	p[0] = 3e38f;
	for (size_t r = 0; r < ds->n_rows; r++)
		ds->x[r * ds->n_features] = 0.5f;
	ds->x[ds->unit_offset[3] * ds->n_features] = 2.0f;
	ft_model_train_config_default(&c);
	c.lr = 1e-40;
	c.steps = 1;
	c.batch_units = (uint32_t)ds->n_units;
	c.dp.enabled = 1;
	c.dp.clip = 1.0;
	c.dp.sigma = 0;
	assert_int_equal(ft_model_train(m, ds, &c, &rep, NULL), FT_OK);
	for (size_t i = 0; i < n; i++)
		assert_true(isfinite(ft_model_params(m)[i]));
	ft_model_free(m);
	ft_model_dataset_free(ds);
}

/* Poisson sampling: over many steps the units used average q * n_units. */
static void test_dp_sampling_rate(void **state)
{
	ft_model *m = make_model(FT_MODEL_LOGREG, 4, 2, 0, NULL, 0);
	ft_model_dataset *ds = make_ds(202, 4, 2, 11); /* 200 units */
	ft_model_train_config c;
	ft_model_train_report rep;
	double mean, sd;

	(void)state;
	ft_model_train_config_default(&c);
	c.steps = 400;
	c.batch_units = 20;
	c.dp.enabled = 1;
	c.dp.clip = 1;
	c.dp.sigma = 0;
	assert_int_equal(ft_model_train(m, ds, &c, &rep, NULL), FT_OK);
	assert_near(rep.q, 0.1, 1e-12);
	/* 80000 Bernoulli(0.1) draws: mean 8000, sd ~85; 8 sd never flakes. */
	mean = 0.1 * 200 * 400;
	sd = sqrt(200.0 * 400 * 0.1 * 0.9);
	assert_true(fabs((double)rep.units_sampled - mean) < 8 * sd);
	ft_model_free(m);
	ft_model_dataset_free(ds);
}

/* At q = 1/512 the sampler's threshold is 2^23: the first random byte of a
 * unit's decision is never below its top byte (0), so every inclusion comes
 * from the rarely taken comparison of the lower three bytes. The rate must
 * still be exactly q: never including on that path would give 0 units,
 * always including it twice the rate (40 sd off). */
static void test_dp_sampling_rate_low_bytes(void **state)
{
	ft_model *m = make_model(FT_MODEL_LOGREG, 4, 2, 0, NULL, 0);
	ft_model_dataset *ds = make_ds(514, 4, 2, 12); /* 512 units */
	ft_model_train_config c;
	ft_model_train_report rep;
	double mean, sd;

	(void)state;
	ft_model_train_config_default(&c);
	c.steps = 2000;
	c.batch_units = 1;
	c.dp.enabled = 1;
	c.dp.clip = 1;
	c.dp.sigma = 0;
	assert_int_equal(ft_model_train(m, ds, &c, &rep, NULL), FT_OK);
	assert_true(rep.q == 1.0 / 512);
	/* 1024000 Bernoulli(1/512) draws: mean 2000, sd ~44.7. */
	mean = 512.0 * 2000 / 512;
	sd = sqrt(512.0 * 2000 * (1.0 / 512) * (511.0 / 512));
	assert_true(fabs((double)rep.units_sampled - mean) < 8 * sd);
	ft_model_free(m);
	ft_model_dataset_free(ds);
}

static void test_training_deterministic_and_optimisers(void **state)
{
	ft_model_dataset *ds = make_ds(200, 4, 2, 13);
	ft_model_train_config c;
	ft_model_train_report rep;
	double before, after;
	uint32_t opts[3] = { FT_MODEL_OPT_SGD, FT_MODEL_OPT_SGD, FT_MODEL_OPT_ADAM };

	(void)state;
	for (int k = 0; k < 3; k++) {
		ft_model *a = make_model(FT_MODEL_LOGREG, 4, 2, 0, NULL, 0), *b = NULL;

		assert_int_equal(ft_model_clone(a, &b), FT_OK);
		ft_model_train_config_default(&c);
		c.optimizer = opts[k];
		c.momentum = k == 1 ? 0.9 : 0;
		c.lr = k == 2 ? 0.05 : 0.2;
		c.epochs = 5;
		c.batch_units = 16;
		c.shuffle_seed[0] = 3;
		c.eval_loss = 1;
		assert_int_equal(ft_model_loss(a, ds, &before, NULL), FT_OK);
		assert_int_equal(ft_model_train(a, ds, &c, &rep, NULL), FT_OK);
		assert_int_equal(ft_model_train(b, ds, &c, NULL, NULL), FT_OK);
		assert_memory_equal(ft_model_params(a), ft_model_params(b), 5 * sizeof(float));
		assert_int_equal(ft_model_loss(a, ds, &after, NULL), FT_OK);
		assert_near(rep.final_loss, after, 1e-12);
		assert_true(after < 0.6 * before);
		/* 198 units, batches of 16: 13 steps per epoch. */
		assert_int_equal(rep.steps, 13 * 5);
		assert_int_equal(rep.units_sampled, 198 * 5);
		assert_int_equal(rep.dp, 0);
		ft_model_free(a);
		ft_model_free(b);
	}
	ft_model_dataset_free(ds);
}

/* The FedProx term keeps the local model nearer the global one. */
static void test_fedprox(void **state)
{
	ft_model_dataset *ds = make_ds(100, 4, 2, 17);
	ft_model *g = make_model(FT_MODEL_LOGREG, 4, 2, 0, NULL, 0), *a = NULL, *b = NULL;
	ft_model_train_config c;
	double da = 0, db = 0;

	(void)state;
	assert_int_equal(ft_model_clone(g, &a), FT_OK);
	assert_int_equal(ft_model_clone(g, &b), FT_OK);
	ft_model_train_config_default(&c);
	c.epochs = 10;
	c.lr = 0.2;
	assert_int_equal(ft_model_train(a, ds, &c, NULL, NULL), FT_OK);
	c.prox_mu = 1.0;
	c.global_params = ft_model_params(g);
	assert_int_equal(ft_model_train(b, ds, &c, NULL, NULL), FT_OK);
	for (size_t i = 0; i < 5; i++) {
		double x = ft_model_params(a)[i] - ft_model_params(g)[i];
		double y = ft_model_params(b)[i] - ft_model_params(g)[i];

		da += x * x;
		db += y * y;
	}
	assert_true(db < 0.7 * da);
	ft_model_free(g);
	ft_model_free(a);
	ft_model_free(b);
	ft_model_dataset_free(ds);
}

/* XOR is not linearly separable: a small tanh MLP must learn it. */
static void test_mlp_xor(void **state)
{
	uint32_t h[1] = { 8 };
	ft_model *m = make_model(FT_MODEL_MLP, 2, 2, 1, h, FT_MODEL_ACT_TANH);
	ft_model_dataset *ds = NULL;
	ft_model_train_config c;
	ft_model_eval ev;

	(void)state;
	assert_int_equal(ft_model_dataset_alloc(200, 2, &ds), FT_OK);
	sm_state = 99;
	for (size_t r = 0; r < 200; r++) {
		float a = (float)(2 * sm_uniform() - 1), b = (float)(2 * sm_uniform() - 1);

		ds->x[2 * r] = a;
		ds->x[2 * r + 1] = b;
		ds->y[r] = (a > 0) != (b > 0) ? 1.0f : 0.0f;
	}
	ft_model_train_config_default(&c);
	c.optimizer = FT_MODEL_OPT_ADAM;
	c.lr = 0.02;
	c.epochs = 200;
	c.batch_units = 16;
	assert_int_equal(ft_model_train(m, ds, &c, NULL, NULL), FT_OK);
	assert_int_equal(ft_model_evaluate(m, ds, &ev, NULL), FT_OK);
	assert_true(ev.accuracy >= 0.9);
	assert_true(ev.auc >= 0.9);
	assert_true(isnan(ev.rmse));
	ft_model_free(m);
	ft_model_dataset_free(ds);
}

/* With q = 1 the only randomness of a DP step is the noise: its
 * empirical standard deviation per coordinate must be sigma * C. */
static void test_dp_noise_scale(void **state)
{
	uint32_t h[1] = { 64 };
	ft_model *m = make_model(FT_MODEL_MLP, 4, 2, 1, h, FT_MODEL_ACT_TANH), *ref = NULL;
	ft_model_dataset *ds = make_ds(12, 4, 2, 21);
	ft_model_train_config c;
	size_t n = ft_model_n_params(m);
	float *g = calloc(n, sizeof(float)), *sum = calloc(n, sizeof(float));
	double s1 = 0, s2 = 0, sd;
	const double clip = 0.5, sigma = 2.0;

	(void)state;
	assert_int_equal(ft_model_clone(m, &ref), FT_OK);
	for (size_t u = 0; u < ds->n_units; u++) {
		double norm = 0;

		assert_int_equal(ft_model_grad_unit(ref, ds, u, g, NULL), FT_OK);
		for (size_t i = 0; i < n; i++)
			norm += (double)g[i] * g[i];
		norm = sqrt(norm);
		for (size_t i = 0; i < n; i++)
			sum[i] += (float)(g[i] * fmin(1.0, clip / (norm + 1e-6)));
	}
	ft_model_train_config_default(&c);
	c.lr = 1.0;
	c.steps = 1;
	c.batch_units = (uint32_t)ds->n_units;
	c.dp.enabled = 1;
	c.dp.clip = clip;
	c.dp.sigma = sigma;
	assert_int_equal(ft_model_train(m, ds, &c, NULL, NULL), FT_OK);
	/* w' = w - (sum + noise) / n_units, so noise = (w - w') n_units - sum. */
	for (size_t i = 0; i < n; i++) {
		double z = ((double)ft_model_params(ref)[i] - ft_model_params(m)[i]) *
		           (double)ds->n_units - sum[i];

		s1 += z;
		s2 += z * z;
	}
	sd = sqrt(s2 / (double)n - (s1 / (double)n) * (s1 / (double)n));
	/* n = 385 coordinates: the sd estimate has ~3.6% relative error, the
	 * bound is 6 of those. */
	assert_true(fabs(sd - sigma * clip) < 0.22 * sigma * clip);
	assert_true(fabs(s1 / (double)n) < 6 * sigma * clip / sqrt((double)n));
	free(g);
	free(sum);
	ft_model_free(m);
	ft_model_free(ref);
	ft_model_dataset_free(ds);
}

/* Softmax regression separates three shifted clusters. */
static void test_softmax_training(void **state)
{
	ft_model *m = make_model(FT_MODEL_SOFTMAX, 2, 3, 0, NULL, 0);
	ft_model_dataset *ds = NULL;
	ft_model_train_config c;
	ft_model_eval ev;
	const float cx[3] = { -2, 0, 2 }, cy[3] = { 0, 2, 0 };

	(void)state;
	assert_int_equal(ft_model_dataset_alloc(300, 2, &ds), FT_OK);
	sm_state = 5;
	for (size_t r = 0; r < 300; r++) {
		size_t k = r % 3;

		ds->x[2 * r] = cx[k] + (float)(sm_uniform() - 0.5);
		ds->x[2 * r + 1] = cy[k] + (float)(sm_uniform() - 0.5);
		ds->y[r] = (float)k;
	}
	ft_model_train_config_default(&c);
	c.epochs = 20;
	c.lr = 0.5;
	assert_int_equal(ft_model_train(m, ds, &c, NULL, NULL), FT_OK);
	assert_int_equal(ft_model_evaluate(m, ds, &ev, NULL), FT_OK);
	assert_true(ev.accuracy >= 0.98);
	assert_true(ev.logloss < 0.2);
	assert_true(isnan(ev.auc)); /* AUC is for binary heads only */
	ft_model_free(m);
	ft_model_dataset_free(ds);
}

/* Every allocation of a training call fails in turn: FT_ENOMEM each time,
 * no leak (ASan build), and then the call succeeds. */
static void test_train_alloc_failure(void **state)
{
	uint32_t h[1] = { 4 };
	ft_model *m = make_model(FT_MODEL_MLP, 4, 2, 1, h, FT_MODEL_ACT_RELU);
	ft_model_dataset *ds = make_ds(20, 4, 2, 23);
	ft_model_train_config c;
	int rv = -1;

	(void)state;
	ft_model_train_config_default(&c);
	c.optimizer = FT_MODEL_OPT_ADAM;
	c.dp.enabled = 1;
	c.dp.clip = 1;
	c.dp.sigma = 1;
	for (long n = 0; n < 100; n++) {
		ft_alloc_fail_after(n);
		rv = ft_model_train(m, ds, &c, NULL, NULL);
		ft_alloc_fail_after(-1);
		if (rv == FT_OK)
			break;
		assert_int_equal(rv, FT_ENOMEM);
	}
	assert_int_equal(rv, FT_OK);
	ft_model_free(m);
	ft_model_dataset_free(ds);
}

/* Hidden-layer widths as the command lines take them. */
static void test_parse_hidden(void **state)
{
	ft_model_spec s;
	static const char *const bad[] = {"", ",", "64,", ",64", "64,,32", "0", "64,-1", "x",
	                                  "16385", "1,2,3,4,5,6,7,8,9", "64 ,32"};

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(ft_model_spec_parse_hidden("64,32", &s, NULL), FT_OK);
	assert_int_equal(s.n_hidden, 2);
	assert_int_equal(s.hidden[0], 64);
	assert_int_equal(s.hidden[1], 32);
	assert_int_equal(ft_model_spec_parse_hidden("16384,1,2,3,4,5,6,7", &s, NULL), FT_OK);
	assert_int_equal(s.n_hidden, 8);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ft_errmsg e = {{0}};

		assert_int_equal(ft_model_spec_parse_hidden(bad[i], &s, &e), FT_EINVAL);
		assert_non_null(strstr(e.msg, "hidden layers"));
		assert_int_equal(s.n_hidden, 8); /* unchanged on error */
	}
}

/* The --feature-ranges format: names, comments, blank lines; every bad
 * line is refused with its number. */
static void test_feature_ranges(void **state)
{
	static const char good[] = "# heart\n\nage 18 90  # years\n\tchol\t0\t400\r\nflag 0 1";
	static const char *const bad[] = {"age 18\n", "age 90 18\n", "age 18 18\n",
	                                  "age 1 2 3\n", "age 1 2\nage 3 4\n", "age x 2\n",
	                                  "age nan 2\n", "age 1 inf\n", "# nothing\n", ""};
	ft_model_ranges *r = NULL;
	ft_errmsg err = {{0}};
	size_t k = 9;

	(void)state;
	assert_int_equal(ft_model_ranges_parse(good, sizeof(good) - 1, &r, &err), FT_OK);
	assert_int_equal(r->n, 3);
	assert_string_equal(r->name[1], "chol");
	assert_true(r->lo[0] == 18 && r->hi[0] == 90 && r->lo[1] == 0 && r->hi[1] == 400);
	assert_int_equal(ft_model_ranges_find(r, "flag", &k), FT_OK);
	assert_int_equal(k, 2);
	assert_int_equal(ft_model_ranges_find(r, "bmi", &k), FT_ENOTFOUND);
	ft_model_ranges_free(r);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = NULL;
		if (ft_model_ranges_parse(bad[i], strlen(bad[i]), &r, &err) != FT_EFORMAT)
			fail_msg("accepted: '%s'", bad[i]);
		assert_null(r);
	}
	assert_int_equal(ft_model_ranges_parse("a 1 2\nb 1\n", 10, &r, &err), FT_EFORMAT);
	assert_non_null(strstr(err.msg, "line 2"));
	ft_model_ranges_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_hidden),
		cmocka_unit_test(test_spec_check),
		cmocka_unit_test(test_init_known_answer),
		cmocka_unit_test(test_init_glorot_bounds),
		cmocka_unit_test(test_loss_predict_known_answer),
		cmocka_unit_test(test_gradients),
		cmocka_unit_test(test_standardise),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_dp_step_matches_reference),
		cmocka_unit_test(test_dp_nonfinite_unit_contributes_nothing),
		cmocka_unit_test(test_dp_sampling_rate),
		cmocka_unit_test(test_dp_sampling_rate_low_bytes),
		cmocka_unit_test(test_training_deterministic_and_optimisers),
		cmocka_unit_test(test_fedprox),
		cmocka_unit_test(test_mlp_xor),
		cmocka_unit_test(test_dp_noise_scale),
		cmocka_unit_test(test_softmax_training),
		cmocka_unit_test(test_train_alloc_failure),
		cmocka_unit_test(test_feature_ranges),
	};

	if (ft_crypto_init() != FT_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
