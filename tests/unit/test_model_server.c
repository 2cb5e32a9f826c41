/*
 * test_model_server.c - the server optimisers: steps against an independent
 * Python reference (tests/vectors/server_opt_vectors.py), resuming from
 * serialised state, hostile state bytes, the mean of a decoded secure sum,
 * and rejection of bad steps.
 */
#include "ft_test.h"
#include "ft_model.h"

#include <math.h>

#include "../vectors/server_opt_vectors.inc"

static void cfg_of(const struct so_case *c, ft_model_server_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->kind = c->kind;
	cfg->lr = c->lr;
	cfg->beta1 = c->beta1;
	cfg->beta2 = c->beta2;
	cfg->tau = c->tau;
}

static void assert_params(const float *got, const float *want, const char *name, int round)
{
	for (int i = 0; i < SO_N; i++)
		if (!(fabs((double)got[i] - (double)want[i]) <= 1e-6 * (1 + fabs((double)want[i]))))
			fail_msg("%s round %d param %d: %.9g, expected %.9g", name, round, i,
			         (double)got[i], (double)want[i]);
}

static void test_reference_steps(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(so_cases) / sizeof(so_cases[0]); c++) {
		ft_model_server_config cfg;
		ft_model_server *s = NULL;
		float x[SO_N];

		cfg_of(&so_cases[c], &cfg);
		assert_int_equal(ft_model_server_alloc(&cfg, SO_N, &s, NULL), FT_OK);
		memcpy(x, so_x0, sizeof(x));
		for (int r = 0; r < SO_ROUNDS; r++) {
			assert_int_equal(ft_model_server_step(s, x, SO_N, so_delta[r]), FT_OK);
			assert_params(x, so_cases[c].x[r], so_cases[c].name, r);
		}
		assert_int_equal(ft_model_server_rounds(s), SO_ROUNDS);
		ft_model_server_free(s);
	}
}

/* One FedAdam step by hand: m = 0.1 d, v = 0.99 tau^2 + 0.01 d^2. */
static void test_fedadam_first_step_by_hand(void **state)
{
	ft_model_server_config cfg;
	ft_model_server *s = NULL;
	float x[1] = {1.0f};
	const float d[1] = {0.5f};
	double m = 0.1 * 0.5, v = 0.99 * 1e-6 + 0.01 * 0.25;
	double want = 1.0 + 0.1 * m / (sqrt(v) + 1e-3);

	(void)state;
	assert_int_equal(ft_model_server_config_default(&cfg, FT_MODEL_SERVER_FEDADAM), FT_OK);
	assert_int_equal(ft_model_server_alloc(&cfg, 1, &s, NULL), FT_OK);
	assert_int_equal(ft_model_server_step(s, x, 1, d), FT_OK);
	assert_true(fabs((double)x[0] - want) < 1e-6);
	/* Adam's step is about eta * sign(d) / sqrt(10) on the first round. */
	assert_true(x[0] > 1.09f && x[0] < 1.1f);
	ft_model_server_free(s);
}

/* A coordinator that persists the state after each round and restarts
 * ends where an uninterrupted one ends. */
static void test_resume_from_state(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(so_cases) / sizeof(so_cases[0]); c++) {
		ft_model_server_config cfg;
		float x[SO_N];

		cfg_of(&so_cases[c], &cfg);
		memcpy(x, so_x0, sizeof(x));
		for (int r = 0; r < SO_ROUNDS; r++) {
			ft_model_server *s = NULL, *s2 = NULL;
			uint8_t *buf = NULL, *buf2 = NULL;
			size_t len = 0, len2 = 0;

			if (r == 0) {
				assert_int_equal(ft_model_server_alloc(&cfg, SO_N, &s, NULL), FT_OK);
			} else {
				/* rebuilt from the previous round's bytes below */
				assert_int_equal(ft_model_server_alloc(&cfg, SO_N, &s, NULL), FT_OK);
				for (int q = 0; q < r; q++) {
					float tmp[SO_N];

					memcpy(tmp, q == 0 ? so_x0 : so_cases[c].x[q - 1], sizeof(tmp));
					assert_int_equal(ft_model_server_step(s, tmp, SO_N, so_delta[q]),
					                 FT_OK);
				}
			}
			assert_int_equal(ft_model_server_encode(s, &buf, &len), FT_OK);
			assert_int_equal(len, FT_MODEL_SERVER_HDR_BYTES +
			                          (cfg.kind == FT_MODEL_SERVER_FEDAVG ? 0 : 16 * SO_N));
			ft_model_server_free(s);
			assert_int_equal(ft_model_server_decode(buf, len, &s2, NULL), FT_OK);
			assert_int_equal(ft_model_server_rounds(s2), (uint64_t)r);
			assert_int_equal(ft_model_server_get_config(s2)->kind, cfg.kind);
			assert_int_equal(ft_model_server_step(s2, x, SO_N, so_delta[r]), FT_OK);
			assert_params(x, so_cases[c].x[r], so_cases[c].name, r);
			/* Encoding is canonical: decode then encode gives the bytes back. */
			ft_model_server_free(s2);
			s2 = NULL;
			assert_int_equal(ft_model_server_decode(buf, len, &s2, NULL), FT_OK);
			assert_int_equal(ft_model_server_encode(s2, &buf2, &len2), FT_OK);
			assert_int_equal(len2, len);
			assert_memory_equal(buf, buf2, len);
			ft_free(buf);
			ft_free(buf2);
			ft_model_server_free(s2);
		}
	}
}

static void put_f64(uint8_t *p, double x)
{
	uint64_t u;

	memcpy(&u, &x, 8);
	ft_put_le64(p, u);
}

static void test_hostile_state(void **state)
{
	ft_model_server_config cfg;
	ft_model_server *s = NULL, *bad = NULL;
	uint8_t *buf = NULL, *cp;
	size_t len = 0;
	float x[SO_N];
	ft_errmsg err;

	(void)state;
	assert_int_equal(ft_model_server_config_default(&cfg, FT_MODEL_SERVER_FEDYOGI), FT_OK);
	assert_int_equal(ft_model_server_alloc(&cfg, SO_N, &s, NULL), FT_OK);
	memcpy(x, so_x0, sizeof(x));
	assert_int_equal(ft_model_server_step(s, x, SO_N, so_delta[0]), FT_OK);
	assert_int_equal(ft_model_server_encode(s, &buf, &len), FT_OK);
	cp = malloc(len + 8);
	assert_non_null(cp);

	/* Every truncation and one extra byte. */
	for (size_t l = 0; l < len; l++)
		assert_int_equal(ft_model_server_decode(buf, l, &bad, &err), FT_EFORMAT);
	memcpy(cp, buf, len);
	cp[len] = 0;
	assert_int_equal(ft_model_server_decode(cp, len + 1, &bad, &err), FT_EFORMAT);

#define MUTATE(stmt)                                                                  \
	do {                                                                          \
		memcpy(cp, buf, len);                                                 \
		stmt;                                                                 \
		assert_int_equal(ft_model_server_decode(cp, len, &bad, &err), FT_EFORMAT); \
		assert_null(bad);                                                     \
	} while (0)
	MUTATE(cp[0] = 'X');                              /* magic */
	MUTATE(cp[4] = 2);                                /* version */
	MUTATE(cp[5] = 9);                                /* kind */
	MUTATE(cp[5] = FT_MODEL_SERVER_FEDAVG);           /* kind vs length */
	MUTATE(cp[6] = 1);                                /* reserved */
	MUTATE(cp[60] = 1);                               /* reserved */
	MUTATE(ft_put_le64(cp + 8, SO_N + 1));          /* n vs length */
	MUTATE(ft_put_le64(cp + 8, (uint64_t)1 << 40)); /* n over the limit */
	MUTATE(put_f64(cp + 24, -0.1));                   /* lr */
	MUTATE(put_f64(cp + 24, NAN));                    /* lr */
	MUTATE(put_f64(cp + 32, 1.0));                    /* beta1 */
	MUTATE(put_f64(cp + 48, 0.0));                    /* tau */
	MUTATE(put_f64(cp + 64, INFINITY));               /* m[0] */
	MUTATE(put_f64(cp + 64 + 8 * SO_N, -1e-9));       /* v[0] < 0 */
	MUTATE(put_f64(cp + 64 + 8 * SO_N + 8, NAN));     /* v[1] */
#undef MUTATE
	assert_true(strstr(err.msg, "moment") != NULL);

	/* The untouched bytes still decode. */
	assert_int_equal(ft_model_server_decode(buf, len, &bad, NULL), FT_OK);
	ft_model_server_free(bad);
	free(cp);
	ft_free(buf);
	ft_model_server_free(s);
}

static void test_bad_steps_change_nothing(void **state)
{
	ft_model_server_config cfg;
	ft_model_server *s = NULL;
	float x[2] = {1.0f, 2.0f};
	float d[2] = {0.1f, NAN};
	const float huge[2] = {3e38f, 3e38f};
	uint8_t *before = NULL, *after = NULL;
	size_t lb = 0, la = 0;

	(void)state;
	assert_int_equal(ft_model_server_config_default(&cfg, FT_MODEL_SERVER_FEDAVG), FT_OK);
	cfg.lr = 1.0;
	assert_int_equal(ft_model_server_alloc(&cfg, 2, &s, NULL), FT_OK);
	assert_int_equal(ft_model_server_step(s, x, 2, d), FT_EINVAL);
	assert_int_equal(ft_model_server_step(s, x, 1, d), FT_EINVAL);
	assert_int_equal(ft_model_server_encode(s, &before, &lb), FT_OK);
	/* x + 3e38 twice overflows float: refused, parameters untouched. */
	x[0] = 3e38f;
	assert_int_equal(ft_model_server_step(s, x, 2, huge), FT_ERANGE);
	assert_true(x[0] == 3e38f && x[1] == 2.0f);
	assert_int_equal(ft_model_server_encode(s, &after, &la), FT_OK);
	assert_int_equal(la, lb);
	assert_memory_equal(before, after, la);
	assert_int_equal(ft_model_server_rounds(s), 0);
	ft_free(before);
	ft_free(after);
	ft_model_server_free(s);
}

static void test_config_rejected(void **state)
{
	ft_model_server_config cfg;
	ft_model_server *s = NULL;
	ft_errmsg err;
	uint32_t k = 0;

	(void)state;
	assert_int_equal(ft_model_server_config_default(&cfg, 0), FT_EINVAL);
	assert_int_equal(ft_model_server_config_default(&cfg, FT_MODEL_SERVER_FEDADAM), FT_OK);
	cfg.tau = 0;
	assert_int_equal(ft_model_server_alloc(&cfg, 3, &s, &err), FT_EINVAL);
	assert_non_null(strstr(err.msg, "tau"));
	cfg.tau = 1e-3;
	cfg.beta2 = 1.0;
	assert_int_equal(ft_model_server_alloc(&cfg, 3, &s, &err), FT_EINVAL);
	cfg.beta2 = 0.99;
	assert_int_equal(ft_model_server_alloc(&cfg, 0, &s, &err), FT_ERANGE);
	assert_int_equal(ft_model_server_alloc(&cfg, FT_MODEL_MAX_PARAMS + 1, &s, &err), FT_ERANGE);
	assert_null(s);
	assert_int_equal(ft_model_server_kind_parse("fedyogi", &k), FT_OK);
	assert_int_equal(k, FT_MODEL_SERVER_FEDYOGI);
	assert_string_equal(ft_model_server_kind_name(k), "fedyogi");
	assert_int_equal(ft_model_server_kind_parse("FedYogi", &k), FT_EINVAL);
	assert_int_equal(ft_model_server_kind_parse("sgd", &k), FT_EINVAL);
}

static void test_mean_of_secure_sum(void **state)
{
	/* Two sites: w = 0.5 with delta (2, -4), w = 1 with delta (1, 1). */
	const float wsum[3] = {0.5f * 2 + 1, 0.5f * -4 + 1, 1.5f};
	const float usum[2] = {3.0f, -3.0f};
	float mean[2];

	(void)state;
	assert_int_equal(ft_model_server_mean(wsum, 3, 1, 2, mean, 2), FT_OK);
	assert_true(fabsf(mean[0] - 2.0f / 1.5f) < 1e-6f);
	assert_true(fabsf(mean[1] + 1.0f / 1.5f) < 1e-6f);
	assert_int_equal(ft_model_server_mean(usum, 2, 0, 2, mean, 2), FT_OK);
	assert_true(mean[0] == 1.5f && mean[1] == -1.5f);
	assert_int_equal(ft_model_server_mean(usum, 2, 0, 0, mean, 2), FT_EINVAL);
	assert_int_equal(ft_model_server_mean(usum, 2, 1, 2, mean, 2), FT_EINVAL);
	assert_int_equal(ft_model_server_mean(wsum, 3, 1, 2, mean, 3), FT_EINVAL);
	{
		const float zero_w[3] = {1, 1, 0};

		assert_int_equal(ft_model_server_mean(zero_w, 3, 1, 2, mean, 2), FT_EINVAL);
	}
}

static void test_allocation_failures(void **state)
{
	ft_model_server_config cfg;
	uint8_t *buf = NULL;
	size_t len = 0;
	int ok = 0;

	(void)state;
	assert_int_equal(ft_model_server_config_default(&cfg, FT_MODEL_SERVER_FEDADAGRAD), FT_OK);
	for (long n = 0; n < 10 && !ok; n++) {
		ft_model_server *s = NULL, *s2 = NULL;
		int rv;

		ft_alloc_fail_after(n);
		rv = ft_model_server_alloc(&cfg, 8, &s, NULL);
		if (rv == FT_OK) {
			rv = ft_model_server_encode(s, &buf, &len);
			if (rv == FT_OK) {
				rv = ft_model_server_decode(buf, len, &s2, NULL);
				ft_free(buf);
				buf = NULL;
			}
		}
		ft_alloc_fail_after(-1);
		if (rv == FT_OK)
			ok = 1;
		else
			assert_int_equal(rv, FT_ENOMEM);
		ft_model_server_free(s);
		ft_model_server_free(s2);
	}
	assert_true(ok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_steps),
		cmocka_unit_test(test_fedadam_first_step_by_hand),
		cmocka_unit_test(test_resume_from_state),
		cmocka_unit_test(test_hostile_state),
		cmocka_unit_test(test_bad_steps_change_nothing),
		cmocka_unit_test(test_config_rejected),
		cmocka_unit_test(test_mean_of_secure_sum),
		cmocka_unit_test(test_allocation_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
