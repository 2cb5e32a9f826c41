/*
 * test_privacy_noise.c - the discrete Gaussian sampler and the float noise
 * DP-SGD adds: moments and the exact pmf (with bounds wide enough never to
 * flake: 6 standard errors, chi-square far in the tail), the grid, and the
 * refusal of bad parameters.
 */
#include "ft_test.h"

#include <math.h>

#include "ft_crypto.h"
#include "ft_privacy.h"

/* Exact moments of N_Z(0, s^2): sums over |x| <= 40 s, far past any mass
 * a double can see. For s > 100 the sums are replaced by the continuous
 * moments s^2 and 3 s^4, from which the discrete ones differ by a relative
 * O(exp(-2 pi^2 s^2)) (Poisson summation), i.e. not at all in a double. */
static void dgauss_moments(double s, double *var, double *m4)
{
	double z = 0, v = 0, q = 0;
	long lim = (long)(40 * s) + 1;

	if (s > 100) {
		*var = s * s;
		*m4 = 3 * s * s * s * s;
		return;
	}

	for (long x = -lim; x <= lim; x++) {
		double p = exp(-(double)x * (double)x / (2 * s * s));

		z += p;
		v += p * (double)x * (double)x;
		q += p * (double)x * (double)x * (double)x * (double)x;
	}
	*var = v / z;
	*m4 = q / z;
}

/* Sample mean and variance of n samples against the exact values, each
 * within 6 standard errors. */
static void check_moments(uint64_t sigma, size_t n)
{
	int64_t *x = calloc(n, sizeof(*x));
	double var, m4, mean = 0, sq = 0;

	assert_non_null(x);
	assert_int_equal(ft_privacy_dgauss_fill(sigma, x, n), FT_OK);
	for (size_t i = 0; i < n; i++) {
		mean += (double)x[i];
		sq += (double)x[i] * (double)x[i];
	}
	mean /= (double)n;
	sq /= (double)n;
	dgauss_moments((double)sigma, &var, &m4);
	/* E[x] = 0 with sd sqrt(var / n); E[x^2] = var with sd
	 * sqrt((m4 - var^2) / n). */
	assert_true(fabs(mean) < 6 * sqrt(var / (double)n));
	assert_true(fabs(sq - var) < 6 * sqrt((m4 - var * var) / (double)n));
	free(x);
}

static void test_dgauss_moments(void **state)
{
	(void)state;
	check_moments(1, 200000);
	check_moments(3, 200000);
	check_moments(1000, 200000);
	check_moments(FT_PRIVACY_DGAUSS_SIGMA_MAX, 50000);
}

/* Chi-square statistic of the counts of each value of samples x[0..n) in
 * [-k, k] (plus the two tails) against the exact pmf of N_Z(0, s^2). */
static double chi_square(const int64_t *x, size_t n, double s, long k)
{
	double z = 0, chi = 0;
	long lim = (long)(40 * s) + 1;
	size_t cells = (size_t)(2 * k + 3);
	double *expct = calloc(cells, sizeof(double));
	size_t *count = calloc(cells, sizeof(size_t));

	assert_non_null(expct);
	assert_non_null(count);
	for (long v = -lim; v <= lim; v++)
		z += exp(-(double)v * (double)v / (2 * s * s));
	for (long v = -lim; v <= lim; v++) {
		double p = exp(-(double)v * (double)v / (2 * s * s)) / z;
		size_t c = v < -k ? 0 : v > k ? cells - 1 : (size_t)(v + k + 1);

		expct[c] += p * (double)n;
	}
	for (size_t i = 0; i < n; i++) {
		int64_t v = x[i];
		size_t c = v < -k ? 0 : v > k ? cells - 1 : (size_t)(v + k + 1);

		count[c]++;
	}
	for (size_t c = 0; c < cells; c++) {
		double d = (double)count[c] - expct[c];

		assert_true(expct[c] >= 5); /* the chi-square approximation holds */
		chi += d * d / expct[c];
	}
	free(expct);
	free(count);
	return chi;
}

/* The samples fit the pmf of sigma (chi-square with cells - 1 degrees of
 * freedom below mean + 12 sd: p < 1e-12), and the test has power: the pmf
 * of a sigma 10% off is rejected. */
static void check_pmf(uint64_t sigma, long k, size_t n)
{
	int64_t *x = calloc(n, sizeof(*x));
	double df = (double)(2 * k + 2);
	double limit = df + 12 * sqrt(2 * df);

	assert_non_null(x);
	assert_int_equal(ft_privacy_dgauss_fill(sigma, x, n), FT_OK);
	assert_true(chi_square(x, n, (double)sigma, k) < limit);
	assert_true(chi_square(x, n, 1.1 * (double)sigma, k) > limit);
	free(x);
}

static void test_dgauss_pmf(void **state)
{
	(void)state;
	check_pmf(1, 3, 200000);
	check_pmf(2, 6, 200000);
	check_pmf(5, 15, 200000);
}

/*
 * Large sigma (the 128-bit acceptance path): chi-square of samples binned at
 * -3, -2.5, ..., 3 sigma against the Gaussian probabilities of the bins.
 * Bins are closed integer ranges [a, b], whose discrete-Gaussian mass is the
 * normal mass of [a - 1/2, b + 1/2] up to O(exp(-2 pi^2 sigma^2)) (Poisson
 * summation), i.e. exactly in a double for these sigma.
 */
static double chi_square_binned(const int64_t *x, size_t n, double s)
{
	enum { NB = 14 };
	double edge[NB - 1], chi = 0;
	size_t count[NB] = {0};

	for (int k = 0; k < NB - 1; k++)
		edge[k] = floor((-3.0 + 0.5 * k) * s) + 0.5; /* between integers */
	for (size_t i = 0; i < n; i++) {
		int b = 0;

		while (b < NB - 1 && (double)x[i] > edge[b])
			b++;
		count[b]++;
	}
	for (int b = 0; b < NB; b++) {
		double lo = b == 0 ? -INFINITY : edge[b - 1];
		double hi = b == NB - 1 ? INFINITY : edge[b];
		double p = 0.5 * (erfc(lo / (s * sqrt(2.0))) - erfc(hi / (s * sqrt(2.0))));
		double e = p * (double)n, d = (double)count[b] - e;

		chi += d * d / e;
	}
	return chi;
}

static void test_dgauss_large_sigma_shape(void **state)
{
	/* 3 * 2^19 + 1: a sigma that noise_add uses (units in [2^20, 2^21]) and
	 * for which 2^32 mod (sigma + 1) is far from 0, so the uniform draw of
	 * the Laplace step rejects sometimes. */
	const uint64_t sig[] = {1000, (uint64_t)1 << 20, 3 * ((uint64_t)1 << 19) + 1,
	                        FT_PRIVACY_DGAUSS_SIGMA_MAX};
	size_t n = 100000;
	int64_t *x = calloc(n, sizeof(*x));
	double df = 13, limit = df + 12 * sqrt(2 * df);

	(void)state;
	assert_non_null(x);
	for (size_t k = 0; k < sizeof(sig) / sizeof(sig[0]); k++) {
		assert_int_equal(ft_privacy_dgauss_fill(sig[k], x, n), FT_OK);
		assert_true(chi_square_binned(x, n, (double)sig[k]) < limit);
		assert_true(chi_square_binned(x, n, 1.1 * (double)sig[k]) > limit);
	}
	free(x);
}

/* A sampler that ignores its randomness or repeats a block would show
 * correlation between neighbours; the lag-1 correlation of independent
 * samples has sd 1/sqrt(n). */
static void test_dgauss_independent(void **state)
{
	size_t n = 100000;
	int64_t *x = calloc(n, sizeof(*x));
	double c = 0, v = 0;

	(void)state;
	assert_non_null(x);
	assert_int_equal(ft_privacy_dgauss_fill(7, x, n), FT_OK);
	for (size_t i = 0; i + 1 < n; i++) {
		c += (double)x[i] * (double)x[i + 1];
		v += (double)x[i] * (double)x[i];
	}
	assert_true(fabs(c / v) < 6 / sqrt((double)n));
	free(x);
}

/* Every call keys its own keystream: two calls never return the same
 * samples (a repeated key or nonce would make them equal; by chance, 16
 * samples at sigma 10^6 agree with probability below 10^-90). */
static void test_dgauss_calls_differ(void **state)
{
	int64_t a[16], b[16];

	(void)state;
	for (int i = 0; i < 100; i++) {
		assert_int_equal(ft_privacy_dgauss_fill(1000000, a, 16), FT_OK);
		assert_int_equal(ft_privacy_dgauss_fill(1000000, b, 16), FT_OK);
		assert_memory_not_equal(a, b, sizeof(a));
	}
}

static void test_dgauss_bad_sigma(void **state)
{
	int64_t x = 42;

	(void)state;
	assert_int_equal(ft_privacy_dgauss_sample(0, &x), FT_EINVAL);
	assert_int_equal(ft_privacy_dgauss_sample(FT_PRIVACY_DGAUSS_SIGMA_MAX + 1, &x), FT_EINVAL);
	assert_int_equal(ft_privacy_dgauss_fill(3, NULL, 4), FT_EINVAL);
	assert_int_equal(x, 42);
	assert_int_equal(ft_privacy_dgauss_fill(3, NULL, 0), FT_OK);
	assert_int_equal(ft_privacy_dgauss_sample(FT_PRIVACY_DGAUSS_SIGMA_MAX, &x), FT_OK);
}

static void test_noise_grid(void **state)
{
	double g = 0;
	uint64_t u = 0;

	(void)state;
	assert_int_equal(ft_privacy_noise_grid(1.0, &g, &u), FT_OK);
	assert_true(g == ldexp(1, -20));
	assert_int_equal(u, (uint64_t)1 << 20);
	assert_int_equal(ft_privacy_noise_grid(3.0, &g, &u), FT_OK);
	assert_true(g == ldexp(1, -19));
	assert_true((double)u * g == 3.0);
	/* An inexact sigma: the parameter used is at least sigma and exceeds it
	 * by less than one grid step (relative 2^-20). */
	assert_int_equal(ft_privacy_noise_grid(0.1, &g, &u), FT_OK);
	assert_true((double)u * g >= 0.1);
	assert_true((double)u * g < 0.1 * (1 + ldexp(1, -20)));
	assert_true(u >= ((uint64_t)1 << 20) && u <= ((uint64_t)1 << 21));
	assert_int_equal(ft_privacy_noise_grid(0.0, &g, &u), FT_EINVAL);
	assert_int_equal(ft_privacy_noise_grid(-1.0, &g, &u), FT_EINVAL);
	assert_int_equal(ft_privacy_noise_grid(NAN, &g, &u), FT_EINVAL);
	assert_int_equal(ft_privacy_noise_grid(INFINITY, &g, &u), FT_EINVAL);
	assert_int_equal(ft_privacy_noise_grid(0x1p65, &g, &u), FT_EINVAL);
}

static void test_noise_add_moments(void **state)
{
	size_t n = 200000;
	float *v = calloc(n, sizeof(*v));
	double sigma = 0.37, mean = 0, sq = 0, g = 0;
	uint64_t u = 0;

	(void)state;
	assert_non_null(v);
	for (size_t i = 0; i < n; i++)
		v[i] = 5.0f;
	assert_int_equal(ft_privacy_noise_add(v, n, sigma), FT_OK);
	assert_int_equal(ft_privacy_noise_grid(sigma, &g, &u), FT_OK);
	for (size_t i = 0; i < n; i++) {
		double d = (double)v[i] - 5.0;

		mean += d;
		sq += d * d;
	}
	mean /= (double)n;
	sq /= (double)n;
	/* Continuous-Gaussian moments suffice at this resolution: the discrete
	 * variance differs from s^2 by far less than the tolerance. */
	assert_true(fabs(mean) < 6 * sigma / sqrt((double)n));
	assert_true(fabs(sq - sigma * sigma) < 6 * sqrt(2.0) * sigma * sigma / sqrt((double)n));
	free(v);
}

/* The input is rounded to the grid before noise is added, so the output's
 * offset from the grid does not depend on the input. */
static void test_noise_add_on_grid(void **state)
{
	float v[64];
	double g = 0;
	uint64_t u = 0;

	(void)state;
	for (size_t i = 0; i < 64; i++)
		v[i] = 0.1f + 0.3f * (float)i / 7.0f;
	assert_int_equal(ft_privacy_noise_add(v, 64, 1.0), FT_OK);
	assert_int_equal(ft_privacy_noise_grid(1.0, &g, &u), FT_OK);
	for (size_t i = 0; i < 64; i++) {
		double q = (double)v[i] / g;

		assert_true(q == floor(q));
	}
}

static void test_noise_add_refusals(void **state)
{
	float v[4] = {1, 2, 3, 4};
	float w[4] = {1, 2, 3, 4};

	(void)state;
	assert_int_equal(ft_privacy_noise_add(v, 4, 0.0), FT_EINVAL);
	assert_int_equal(ft_privacy_noise_add(v, 4, -1.0), FT_EINVAL);
	assert_int_equal(ft_privacy_noise_add(v, 4, NAN), FT_EINVAL);
	assert_int_equal(ft_privacy_noise_add(v, 4, INFINITY), FT_EINVAL);
	assert_int_equal(ft_privacy_noise_add(NULL, 4, 1.0), FT_EINVAL);
	assert_memory_equal(v, w, sizeof(v));
	v[3] = NAN;
	assert_int_equal(ft_privacy_noise_add(v, 4, 1.0), FT_ERANGE);
	v[3] = INFINITY;
	assert_int_equal(ft_privacy_noise_add(v, 4, 1.0), FT_ERANGE);
	assert_true(v[0] == 1 && v[1] == 2 && v[2] == 3);
	v[3] = 4;
	/* Noise far below the float resolution of the value is refused. */
	assert_int_equal(ft_privacy_noise_add(v, 4, 1e-12), FT_ERANGE);
	assert_memory_equal(v, w, sizeof(v));
	assert_int_equal(ft_privacy_noise_add(NULL, 0, 1.0), FT_OK);
	assert_int_equal(ft_privacy_noise_add(v, 4, 1.0), FT_OK);
}

/* The multiplier to account for: z / (1 + z sqrt(n) 2^-20), rounded down. */
static void test_noise_multiplier_effective(void **state)
{
	double z = 0;

	(void)state;
	assert_int_equal(ft_privacy_noise_multiplier_effective(1.1, 100000, &z), FT_OK);
	assert_true(z < 1.1 && fabs(z - 1.1 / (1 + 1.1 * sqrt(1e5) / 1048576.0)) < 1e-12);
	assert_true(z > 1.0996 && z < 1.0997);
	assert_int_equal(ft_privacy_noise_multiplier_effective(2.0, 0, &z), FT_OK);
	assert_true(z < 2.0 && z > 2.0 * (1 - 1e-15));
	assert_int_equal(ft_privacy_noise_multiplier_effective(0, 10, &z), FT_EINVAL);
	assert_int_equal(ft_privacy_noise_multiplier_effective(NAN, 10, &z), FT_EINVAL);
	assert_int_equal(ft_privacy_noise_multiplier_effective(INFINITY, 10, &z), FT_EINVAL);
}

/* Adding with the required multiplier accounts for at least the target. */
static void test_noise_multiplier_required(void **state)
{
	const double zs[] = {0.3, 1.0, 1.1, 4.0, 25.0};
	const size_t ns[] = {1, 1000, 100000, 10000000};

	(void)state;
	for (size_t i = 0; i < 5; i++) {
		for (size_t j = 0; j < 4; j++) {
			double add = 0, eff = 0;

			assert_int_equal(ft_privacy_noise_multiplier_required(zs[i], ns[j], &add),
			                 FT_OK);
			assert_int_equal(ft_privacy_noise_multiplier_effective(add, ns[j], &eff),
			                 FT_OK);
			assert_true(add > zs[i]);
			assert_true(eff >= zs[i]);
			assert_true(eff < zs[i] * (1 + 1e-12));
		}
	}
	{
		double add = 0;

		assert_int_equal(ft_privacy_noise_multiplier_required(1.0, (size_t)1 << 40, &add),
		                 FT_ERANGE);
		assert_int_equal(ft_privacy_noise_multiplier_required(-1.0, 10, &add), FT_EINVAL);
		assert_true(add == 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dgauss_moments),
		cmocka_unit_test(test_dgauss_pmf),
		cmocka_unit_test(test_dgauss_large_sigma_shape),
		cmocka_unit_test(test_dgauss_independent),
		cmocka_unit_test(test_dgauss_calls_differ),
		cmocka_unit_test(test_dgauss_bad_sigma),
		cmocka_unit_test(test_noise_grid),
		cmocka_unit_test(test_noise_add_moments),
		cmocka_unit_test(test_noise_add_on_grid),
		cmocka_unit_test(test_noise_add_refusals),
		cmocka_unit_test(test_noise_multiplier_effective),
		cmocka_unit_test(test_noise_multiplier_required),
	};

	if (ft_crypto_init() != FT_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
