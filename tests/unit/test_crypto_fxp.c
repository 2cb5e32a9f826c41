/*
 * test_crypto_fxp.c - fixed-point encoding: the chosen scale respects the
 * bit budget, encode/decode errors stay within one step per summand,
 * rounding is unbiased, sums of encodings decode to sums, and anything that
 * could wrap or is not a number is refused.
 */
#include "ft_test.h"
#include "ft_crypto.h"

#include <math.h>

static void test_init_scale(void **state)
{
	ft_crypto_fxp p;

	(void)state;
	/* clip 1, 32 bits, 100 summands: 100 * 2^k <= 2^31 - 1 -> k = 24 */
	assert_int_equal(ft_crypto_fxp_init(&p, 1.0, 32, 100), FT_OK);
	assert_true(p.scale == ldexp(1.0, 24));
	/* the largest such scale: doubling it breaks the budget */
	assert_true(100.0 * ceil(p.clip * p.scale) < ldexp(1.0, 31));
	assert_true(100.0 * ceil(p.clip * p.scale * 2) >= ldexp(1.0, 31));
	/* non-integer clip: ceil matters (0.3 * 2^k rounded up) */
	assert_int_equal(ft_crypto_fxp_init(&p, 0.3, 16, 10), FT_OK);
	assert_true(10.0 * ceil(0.3 * p.scale) <= 32767.0);
	assert_true(10.0 * ceil(0.3 * p.scale * 2) > 32767.0);
	assert_true(p.bits == 16 && p.max_summands == 10 && p.clip == 0.3);
}

static void test_init_rejects(void **state)
{
	ft_crypto_fxp p;

	(void)state;
	memset(&p, 0x11, sizeof(p));
	/* would wrap even at scale 1 */
	assert_int_equal(ft_crypto_fxp_init(&p, 1000.0, 16, 1000), FT_ERANGE);
	assert_int_equal(ft_crypto_fxp_init(&p, 1.0, 16, 40000), FT_ERANGE);
	assert_int_equal(ft_crypto_fxp_init(&p, 3e9, 32, 1), FT_ERANGE);
	assert_int_equal(ft_crypto_fxp_init(&p, 1.0, 15, 1), FT_EINVAL);
	assert_int_equal(ft_crypto_fxp_init(&p, 1.0, 33, 1), FT_EINVAL);
	assert_int_equal(ft_crypto_fxp_init(&p, 0.0, 32, 1), FT_EINVAL);
	assert_int_equal(ft_crypto_fxp_init(&p, -1.0, 32, 1), FT_EINVAL);
	assert_int_equal(ft_crypto_fxp_init(&p, NAN, 32, 1), FT_EINVAL);
	assert_int_equal(ft_crypto_fxp_init(&p, INFINITY, 32, 1), FT_EINVAL);
	assert_int_equal(ft_crypto_fxp_init(&p, 1.0, 32, 0), FT_EINVAL);
	assert_int_equal(ft_crypto_fxp_init(NULL, 1.0, 32, 1), FT_EINVAL);
	assert_true(p.bits == 0x11111111u); /* untouched */
}

static void test_roundtrip_error_one_step(void **state)
{
	enum { N = 4000 };
	static float in[N], out[N];
	static uint32_t enc[N];
	ft_crypto_fxp p;
	const unsigned bits_list[] = { 16, 20, 32 };

	(void)state;
	for (size_t b = 0; b < 3; b++) {
		assert_int_equal(ft_crypto_fxp_init(&p, 2.0, bits_list[b], 50), FT_OK);
		for (size_t i = 0; i < N; i++)
			in[i] = (float)(((double)ft_crypto_random_uniform(1u << 24) / (1 << 24) - 0.5) *
			                6.0); /* beyond the clip too */
		assert_int_equal(ft_crypto_fxp_encode(&p, in, N, enc), FT_OK);
		assert_int_equal(ft_crypto_fxp_decode(&p, enc, N, 1, out), FT_OK);
		for (size_t i = 0; i < N; i++) {
			double want = fmax(-2.0, fmin(2.0, (double)in[i]));
			double tol = 1.0 / p.scale + 1e-6 * fabs(want);

			assert_true(bits_list[b] == 32 || enc[i] < (1u << bits_list[b]));
			assert_true(fabs((double)out[i] - want) <= tol);
		}
	}
}

static void test_sum_of_encodings(void **state)
{
	enum { SITES = 64, N = 300 };
	static float in[SITES][N], out[N];
	static uint32_t enc[N], acc[N];
	ft_crypto_fxp p;
	const uint32_t m = (1u << 20) - 1;

	(void)state;
	assert_int_equal(ft_crypto_fxp_init(&p, 1.0, 20, SITES), FT_OK);
	memset(acc, 0, sizeof(acc));
	for (int s = 0; s < SITES; s++) {
		for (int i = 0; i < N; i++)
			/* worst case for the budget: everyone at +clip or -clip */
			in[s][i] = (i % 3 == 0) ? 1.0f : (i % 3 == 1) ? -1.0f : (float)s / SITES - 0.5f;
		assert_int_equal(ft_crypto_fxp_encode(&p, in[s], N, enc), FT_OK);
		for (int i = 0; i < N; i++)
			acc[i] = (acc[i] + enc[i]) & m;
	}
	assert_int_equal(ft_crypto_fxp_decode(&p, acc, N, SITES, out), FT_OK);
	for (int i = 0; i < N; i++) {
		double want = 0;

		for (int s = 0; s < SITES; s++)
			want += in[s][i];
		assert_true(fabs((double)out[i] - want) <= SITES / p.scale + 1e-5);
	}
	assert_true(out[0] == (float)SITES && out[1] == -(float)SITES); /* no wrap */
}

static void test_rounding_unbiased(void **state)
{
	enum { N = 20000 };
	static float in[N], out[N];
	static uint32_t enc[N];
	ft_crypto_fxp p;
	double x, mean = 0, sd;

	(void)state;
	assert_int_equal(ft_crypto_fxp_init(&p, 1.0, 16, 1), FT_OK);
	x = (5.0 + 0.25) / p.scale; /* a quarter of the way between two steps */
	for (size_t i = 0; i < N; i++)
		in[i] = (float)x;
	assert_int_equal(ft_crypto_fxp_encode(&p, in, N, enc), FT_OK);
	assert_int_equal(ft_crypto_fxp_decode(&p, enc, N, 1, out), FT_OK);
	for (size_t i = 0; i < N; i++) {
		assert_true(out[i] * p.scale == 5.0f || out[i] * p.scale == 6.0f);
		mean += out[i] * p.scale;
	}
	mean /= N;
	sd = sqrt(0.25 * 0.75 / N); /* Bernoulli(1/4) */
	assert_true(fabs(mean - 5.25) < 6 * sd);
}

static void test_encode_decode_rejects(void **state)
{
	ft_crypto_fxp p, bad;
	float in[3] = { 0.5f, NAN, 0.1f }, out[3] = { 7, 7, 7 };
	uint32_t enc[3] = { 9, 9, 9 };

	(void)state;
	assert_int_equal(ft_crypto_fxp_init(&p, 1.0, 16, 10), FT_OK);
	assert_int_equal(ft_crypto_fxp_encode(&p, in, 3, enc), FT_EINVAL);
	in[1] = INFINITY;
	assert_int_equal(ft_crypto_fxp_encode(&p, in, 3, enc), FT_EINVAL);
	in[1] = -INFINITY;
	assert_int_equal(ft_crypto_fxp_encode(&p, in, 3, enc), FT_EINVAL);
	assert_true(enc[0] == 9 && enc[2] == 9); /* nothing written */
	in[1] = 0.0f;
	/* a hand-made struct whose scale could wrap */
	bad = p;
	bad.scale *= 2;
	assert_int_equal(ft_crypto_fxp_encode(&bad, in, 3, enc), FT_ERANGE);
	bad = p;
	bad.max_summands *= 4;
	assert_int_equal(ft_crypto_fxp_encode(&bad, in, 3, enc), FT_ERANGE);
	bad = p;
	bad.scale = 3.0;
	assert_int_equal(ft_crypto_fxp_encode(&bad, in, 3, enc), FT_EINVAL);

	assert_int_equal(ft_crypto_fxp_encode(&p, in, 3, enc), FT_OK);
	assert_int_equal(ft_crypto_fxp_decode(&p, enc, 3, 11, out), FT_ERANGE);
	assert_int_equal(ft_crypto_fxp_decode(&p, enc, 3, 0, out), FT_EINVAL);
	/* a value outside the ring, and one beyond the budget of one summand */
	enc[1] = 1u << 16;
	assert_int_equal(ft_crypto_fxp_decode(&p, enc, 3, 1, out), FT_ERANGE);
	enc[1] = (uint32_t)(p.scale * 1.0) + 1;
	assert_int_equal(ft_crypto_fxp_decode(&p, enc, 3, 1, out), FT_ERANGE);
	enc[1] = (1u << 16) - (uint32_t)p.scale - 1; /* -(scale + 1) */
	assert_int_equal(ft_crypto_fxp_decode(&p, enc, 3, 1, out), FT_ERANGE);
	assert_true(out[0] == 7 && out[1] == 7 && out[2] == 7);
	/* ...but fine as a sum of two */
	assert_int_equal(ft_crypto_fxp_decode(&p, enc, 3, 2, out), FT_OK);
	assert_true(out[1] * p.scale == -(float)(p.scale + 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_scale),
		cmocka_unit_test(test_init_rejects),
		cmocka_unit_test(test_roundtrip_error_one_step),
		cmocka_unit_test(test_sum_of_encodings),
		cmocka_unit_test(test_rounding_unbiased),
		cmocka_unit_test(test_encode_decode_rejects),
	};

	if (ft_crypto_init() != FT_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
