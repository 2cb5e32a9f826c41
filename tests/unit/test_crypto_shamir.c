/*
 * test_crypto_shamir.c - t-of-n Shamir sharing over Z_L: every t-subset
 * reconstructs, fewer than t shares do not give the secret, and malformed,
 * duplicate or out-of-range shares are rejected; batched reconstruction with
 * precomputed Lagrange weights gives the same secrets and the same errors.
 */
#include "ft_test.h"
#include "ft_crypto.h"

/* The group order L, little-endian. */
static const uint8_t order_l[32] = { 0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
	                             0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
	                             0,    0,    0,    0,    0,    0,    0,    0,
	                             0,    0,    0,    0,    0,    0,    0,    0x10 };

/* Visits every t-subset of n (as an index list) and checks it. */
static void check_all_subsets(const ft_crypto_share *sh, uint32_t n, uint32_t t,
                              const uint8_t secret[32])
{
	uint32_t idx[8];
	ft_crypto_share pick[8];
	uint8_t got[32];
	unsigned checked = 0;

	assert_true(t <= 8);
	for (uint32_t i = 0; i < t; i++)
		idx[i] = i;
	for (;;) {
		for (uint32_t i = 0; i < t; i++)
			pick[i] = sh[idx[i]];
		assert_int_equal(ft_crypto_shamir_combine(pick, t, t, got), FT_OK);
		assert_memory_equal(got, secret, 32);
		checked++;
		/* next combination in lexicographic order */
		int k = (int)t - 1;
		while (k >= 0 && idx[k] == n - t + (uint32_t)k)
			k--;
		if (k < 0)
			break;
		idx[k]++;
		for (uint32_t j = (uint32_t)k + 1; j < t; j++)
			idx[j] = idx[j - 1] + 1;
	}
	assert_true(checked > 0);
}

static void test_all_subsets_small(void **state)
{
	ft_crypto_share sh[7];
	uint8_t secret[32];

	(void)state;
	for (uint32_t n = 1; n <= 7; n++) {
		for (uint32_t t = 1; t <= n; t++) {
			ft_crypto_random(secret, sizeof(secret));
			assert_int_equal(ft_crypto_shamir_split(secret, t, n, sh), FT_OK);
			check_all_subsets(sh, n, t, secret);
		}
	}
}

static void test_fewer_than_t_do_not_reveal(void **state)
{
	ft_crypto_share sh[7];
	uint8_t secret[32], got[32];

	(void)state;
	for (uint32_t t = 2; t <= 7; t++) {
		ft_crypto_random(secret, sizeof(secret));
		assert_int_equal(ft_crypto_shamir_split(secret, t, 7, sh), FT_OK);
		assert_int_equal(ft_crypto_shamir_combine(sh, t - 1, t, got), FT_EINVAL);
		/* Lying about the threshold: t-1 shares interpolate a different
		 * polynomial; the result is rejected as inconsistent. */
		memset(got, 0, sizeof(got));
		int rv = ft_crypto_shamir_combine(sh + 1, t - 1, t - 1, got);
		assert_int_equal(rv, FT_ECRYPTO);
		assert_memory_not_equal(got, secret, 32);
	}
}

static void test_large_n_sampled(void **state)
{
	const uint32_t n = 1000, t = 34;
	ft_crypto_share *sh = calloc(n, sizeof(*sh));
	ft_crypto_share *pick = calloc(n, sizeof(*pick));
	uint8_t secret[32], got[32];

	(void)state;
	assert_non_null(sh);
	assert_non_null(pick);
	ft_crypto_random(secret, sizeof(secret));
	assert_int_equal(ft_crypto_shamir_split(secret, t, n, sh), FT_OK);
	assert_int_equal(sh[n - 1].x, n);
	for (int round = 0; round < 5; round++) {
		/* random t-subset by a partial Fisher-Yates shuffle */
		memcpy(pick, sh, n * sizeof(*sh));
		for (uint32_t i = 0; i < t; i++) {
			uint32_t j = i + ft_crypto_random_uniform(n - i);
			ft_crypto_share tmp = pick[i];

			pick[i] = pick[j];
			pick[j] = tmp;
		}
		assert_int_equal(ft_crypto_shamir_combine(pick, t, t, got), FT_OK);
		assert_memory_equal(got, secret, 32);
		/* extra shares beyond t are accepted */
		assert_int_equal(ft_crypto_shamir_combine(pick, t + 10, t, got), FT_OK);
		assert_memory_equal(got, secret, 32);
	}
	/* the largest threshold */
	assert_int_equal(ft_crypto_shamir_split(secret, 200, 200, sh), FT_OK);
	assert_int_equal(ft_crypto_shamir_combine(sh, 200, 200, got), FT_OK);
	assert_memory_equal(got, secret, 32);
	ft_crypto_wipe(sh, n * sizeof(*sh));
	free(sh);
	free(pick);
}

static void test_combine_rejects(void **state)
{
	ft_crypto_share sh[5], bad[5];
	uint8_t secret[32], got[32];

	(void)state;
	ft_crypto_random(secret, sizeof(secret));
	assert_int_equal(ft_crypto_shamir_split(secret, 3, 5, sh), FT_OK);

	memcpy(bad, sh, sizeof(bad));
	bad[1].x = bad[0].x; /* duplicate x */
	assert_int_equal(ft_crypto_shamir_combine(bad, 3, 3, got), FT_EINVAL);
	memcpy(bad, sh, sizeof(bad));
	bad[2].x = 0;
	assert_int_equal(ft_crypto_shamir_combine(bad, 3, 3, got), FT_ERANGE);
	bad[2].x = FT_CRYPTO_SHAMIR_MAX_N + 1;
	assert_int_equal(ft_crypto_shamir_combine(bad, 3, 3, got), FT_ERANGE);
	memcpy(bad, sh, sizeof(bad));
	memcpy(bad[0].value + 32, order_l, 32); /* L itself is not canonical */
	assert_int_equal(ft_crypto_shamir_combine(bad, 3, 3, got), FT_EFORMAT);
	memcpy(bad, sh, sizeof(bad));
	memset(bad[4].value, 0xff, 32); /* a malformed extra share counts too */
	assert_int_equal(ft_crypto_shamir_combine(bad, 5, 3, got), FT_EFORMAT);
	memcpy(bad, sh, sizeof(bad));
	/* A share replaced by garbage that is still canonical (< 2^252) makes
	 * the halves overflow 2^128 and is caught. (A small deliberate offset
	 * is not: see the header; callers check the secret against a
	 * commitment.) */
	ft_crypto_random(bad[1].value, 64);
	bad[1].value[31] &= 0x0f;
	bad[1].value[63] &= 0x0f;
	assert_int_equal(ft_crypto_shamir_combine(bad, 3, 3, got), FT_ECRYPTO);
	assert_int_equal(ft_crypto_shamir_combine(sh, 2, 3, got), FT_EINVAL);
	assert_int_equal(ft_crypto_shamir_combine(sh, 3, 0, got), FT_EINVAL);

	assert_int_equal(ft_crypto_shamir_split(secret, 0, 5, sh), FT_ERANGE);
	assert_int_equal(ft_crypto_shamir_split(secret, 6, 5, sh), FT_ERANGE);
	assert_int_equal(ft_crypto_shamir_split(secret, 2, FT_CRYPTO_SHAMIR_MAX_N + 1, sh),
	                 FT_ERANGE);
	/* The last successful combine wrote the secret; failures never did. */
	memset(got, 0x5a, sizeof(got));
	assert_int_equal(ft_crypto_shamir_combine(bad, 3, 3, got), FT_ECRYPTO);
	for (size_t i = 0; i < 32; i++)
		assert_int_equal(got[i], 0x5a);
}

static void test_combine_alloc_failure(void **state)
{
	ft_crypto_share sh[4];
	uint8_t secret[32], got[32];

	(void)state;
	ft_crypto_random(secret, sizeof(secret));
	assert_int_equal(ft_crypto_shamir_split(secret, 3, 4, sh), FT_OK);
	memset(got, 0x77, sizeof(got));
	for (long k = 0; k < 2; k++) {
		ft_alloc_fail_after(k);
		assert_int_equal(ft_crypto_shamir_combine(sh, 3, 3, got), FT_ENOMEM);
		ft_alloc_fail_after(-1);
		for (size_t i = 0; i < 32; i++)
			assert_int_equal(got[i], 0x77);
	}
	assert_int_equal(ft_crypto_shamir_combine(sh, 3, 3, got), FT_OK);
	assert_memory_equal(got, secret, 32);
}

/* Parses 2n hex digits into out (test data only). */
static void unhex(uint8_t *out, size_t n, const char *hex)
{
	assert_int_equal(strlen(hex), 2 * n);
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

/*
 * Known answer computed independently with Python 3 (integers mod L):
 * secret = bytes 1..32; halves lo = secret[0:16], hi = secret[16:32] as
 * little-endian integers; f_h(x) = h + sum_{j=1..4} c_{h,j} x^j mod L with
 * c_{lo,j} = int.from_bytes(blake2b(b"kat-lo-%d" % j, digest_size=64), "little") % L
 * (and "kat-hi-%d" for the high half); share value = f_lo(x) || f_hi(x),
 * 32 bytes little-endian each, at x = 999, 3, 250, 11, 7 (t = 5).
 */
static const uint32_t kat_x[5] = { 999, 3, 250, 11, 7 };
static const char *const kat_val[5] = {
	"0ebc8c80ea02765b3b2d121c39849ca25c4a665709b631b3b03328f1e44d0d09"
	"2952ee50d6ae23045c9c3ae6e68da20af9a902bf116fd7db91d3b72002286501",
	"ca54948f2cdad56a1449aa5ee8312a55b0fd968040a145fe48cada5af8293302"
	"44a1b9534905e0a2febfaf8c36a1f17c9ef360c1fabad99d0116f8c477e9cd08",
	"874c08477a1fd5a5abbd0a53edbfef95f730d159f8000d5ae62236b91a39350b"
	"09bdb9c9f06c8c21a6b4e3a55de0e999cf8cac1e071265154eb4a97ac3560400",
	"8ca4181867cf3280cbc97d0971e6cfa9e7c535ca1e8228ed490fe3a26e4bcc0e"
	"8c969d90efd7bf80317dadc93c74777421fbd16055f297972cea3b461b61710b",
	"f13fa989fd13a5df521191082d63283f30dec04131a44fea2ce40bbdd67a0606"
	"19da306e3b3536c0b1437df4e1a65005b73b38c6a1102328f237ce53c0d47e04",
};

static void test_weighted_kat(void **state)
{
	ft_crypto_share sh[5];
	ft_crypto_shamir_weights *w = NULL;
	uint8_t want[32], got[32];

	(void)state;
	for (int i = 0; i < 32; i++)
		want[i] = (uint8_t)(i + 1);
	for (int i = 0; i < 5; i++) {
		sh[i].x = kat_x[i];
		unhex(sh[i].value, 64, kat_val[i]);
	}
	assert_int_equal(ft_crypto_shamir_weights_alloc(kat_x, 5, &w), FT_OK);
	assert_int_equal(ft_crypto_shamir_weights_t(w), 5);
	assert_int_equal(ft_crypto_shamir_combine_weighted(w, sh, 5, got), FT_OK);
	assert_memory_equal(got, want, 32);
	memset(got, 0, sizeof(got));
	assert_int_equal(ft_crypto_shamir_combine(sh, 5, 5, got), FT_OK);
	assert_memory_equal(got, want, 32);
	/* Four of the five points interpolate another polynomial. */
	ft_crypto_shamir_weights_free(w);
	w = NULL;
	assert_int_equal(ft_crypto_shamir_weights_alloc(kat_x, 4, &w), FT_OK);
	assert_int_equal(ft_crypto_shamir_combine_weighted(w, sh, 4, got), FT_ECRYPTO);
	ft_crypto_shamir_weights_free(w);
}

/* Random t, n and holder subsets: the weighted combine agrees with the plain
 * one for many secrets shared among the same holders. */
static void test_weighted_agrees(void **state)
{
	enum { NMAX = 60, SECRETS = 6 };
	ft_crypto_share sh[SECRETS][NMAX], pick[SECRETS][NMAX];
	uint8_t secret[SECRETS][32], a[32], b[32];
	uint32_t xs[NMAX], perm[NMAX];

	(void)state;
	for (int round = 0; round < 12; round++) {
		uint32_t n = 1 + ft_crypto_random_uniform(NMAX);
		uint32_t t = 1 + ft_crypto_random_uniform(n);
		uint32_t count = t + ft_crypto_random_uniform(n - t + 1);
		ft_crypto_shamir_weights *w = NULL;

		/* which holders answer, in which order: a random permutation */
		for (uint32_t i = 0; i < n; i++)
			perm[i] = i;
		for (uint32_t i = 0; i + 1 < n; i++) {
			uint32_t j = i + ft_crypto_random_uniform(n - i), tmp = perm[i];

			perm[i] = perm[j];
			perm[j] = tmp;
		}
		for (uint32_t i = 0; i < t; i++)
			xs[i] = perm[i] + 1;
		for (int k = 0; k < SECRETS; k++) {
			ft_crypto_random(secret[k], 32);
			assert_int_equal(ft_crypto_shamir_split(secret[k], t, n, sh[k]), FT_OK);
			for (uint32_t i = 0; i < count; i++)
				pick[k][i] = sh[k][perm[i]];
		}
		assert_int_equal(ft_crypto_shamir_weights_alloc(xs, t, &w), FT_OK);
		for (int k = 0; k < SECRETS; k++) {
			assert_true(ft_crypto_shamir_weights_match(w, pick[k], count));
			assert_int_equal(ft_crypto_shamir_combine_weighted(w, pick[k], count, a), FT_OK);
			assert_int_equal(ft_crypto_shamir_combine(pick[k], count, t, b), FT_OK);
			assert_memory_equal(a, b, 32);
			assert_memory_equal(a, secret[k], 32);
		}
		ft_crypto_shamir_weights_free(w);
	}
	ft_crypto_wipe(sh, sizeof(sh));
	ft_crypto_wipe(pick, sizeof(pick));
}

static void test_weighted_rejects(void **state)
{
	ft_crypto_share sh[6], bad[6];
	ft_crypto_shamir_weights *w = NULL, *w2 = NULL;
	uint32_t xs[6] = { 1, 2, 3, 4, 5, 6 };
	uint32_t dup[3] = { 4, 9, 4 }, zero[3] = { 1, 0, 2 };
	uint32_t big[3] = { 1, FT_CRYPTO_SHAMIR_MAX_N + 1, 2 }, swapped[3] = { 2, 1, 3 };
	uint8_t secret[32], got[32];

	(void)state;
	ft_crypto_random(secret, sizeof(secret));
	assert_int_equal(ft_crypto_shamir_split(secret, 3, 6, sh), FT_OK);

	/* weights: the same point rules as combine */
	assert_int_equal(ft_crypto_shamir_weights_alloc(dup, 3, &w), FT_EINVAL);
	assert_int_equal(ft_crypto_shamir_weights_alloc(zero, 3, &w), FT_ERANGE);
	assert_int_equal(ft_crypto_shamir_weights_alloc(big, 3, &w), FT_ERANGE);
	assert_int_equal(ft_crypto_shamir_weights_alloc(xs, 0, &w), FT_EINVAL);
	assert_int_equal(ft_crypto_shamir_weights_alloc(xs, FT_CRYPTO_SHAMIR_MAX_N + 1, &w),
	                 FT_ERANGE);
	assert_int_equal(ft_crypto_shamir_weights_alloc(NULL, 3, &w), FT_EINVAL);
	assert_int_equal(ft_crypto_shamir_weights_alloc(xs, 3, NULL), FT_EINVAL);
	assert_null(w);
	ft_crypto_shamir_weights_free(NULL);
	assert_int_equal(ft_crypto_shamir_weights_t(NULL), 0);

	assert_int_equal(ft_crypto_shamir_weights_alloc(xs, 3, &w), FT_OK);
	memset(got, 0x5a, sizeof(got));
	/* fewer than t shares, or shares whose points are not w's (order counts) */
	assert_int_equal(ft_crypto_shamir_combine_weighted(w, sh, 2, got), FT_EINVAL);
	assert_int_equal(ft_crypto_shamir_combine_weighted(w, sh + 1, 3, got), FT_EINVAL);
	memcpy(bad, sh, sizeof(bad));
	bad[0] = sh[1];
	bad[1] = sh[0];
	assert_false(ft_crypto_shamir_weights_match(w, bad, 3));
	assert_int_equal(ft_crypto_shamir_combine_weighted(w, bad, 3, got), FT_EINVAL);
	/* ... but weights for the swapped order fit them */
	assert_int_equal(ft_crypto_shamir_weights_alloc(swapped, 3, &w2), FT_OK);
	assert_int_equal(ft_crypto_shamir_combine_weighted(w2, bad, 3, got), FT_OK);
	assert_memory_equal(got, secret, 32);
	ft_crypto_shamir_weights_free(w2);
	memset(got, 0x5a, sizeof(got));
	/* extra shares are checked like the used ones */
	memcpy(bad, sh, sizeof(bad));
	bad[4].x = 2;
	assert_int_equal(ft_crypto_shamir_combine_weighted(w, bad, 5, got), FT_EINVAL);
	bad[4].x = 0;
	assert_int_equal(ft_crypto_shamir_combine_weighted(w, bad, 5, got), FT_ERANGE);
	memcpy(bad, sh, sizeof(bad));
	memcpy(bad[5].value, order_l, 32);
	assert_int_equal(ft_crypto_shamir_combine_weighted(w, bad, 6, got), FT_EFORMAT);
	assert_int_equal(ft_crypto_shamir_combine(bad, 6, 3, got), FT_EFORMAT);
	/* L - 1 is canonical: not a format error, but it breaks the sum */
	memcpy(bad, sh, sizeof(bad));
	memcpy(bad[1].value + 32, order_l, 32);
	bad[1].value[32] -= 1;
	assert_int_equal(ft_crypto_shamir_combine_weighted(w, bad, 3, got), FT_ECRYPTO);
	assert_int_equal(ft_crypto_shamir_combine(bad, 3, 3, got), FT_ECRYPTO);
	/* a byte above L's top byte, with the rest zero */
	memcpy(bad, sh, sizeof(bad));
	memset(bad[2].value, 0, 32);
	bad[2].value[31] = 0x11;
	assert_int_equal(ft_crypto_shamir_combine_weighted(w, bad, 3, got), FT_EFORMAT);
	assert_int_equal(ft_crypto_shamir_combine_weighted(NULL, sh, 3, got), FT_EINVAL);
	assert_int_equal(ft_crypto_shamir_combine_weighted(w, NULL, 3, got), FT_EINVAL);
	assert_int_equal(ft_crypto_shamir_combine_weighted(w, sh, 3, NULL), FT_EINVAL);
	/* failures never wrote the secret */
	for (size_t i = 0; i < 32; i++)
		assert_int_equal(got[i], 0x5a);
	assert_int_equal(ft_crypto_shamir_combine_weighted(w, sh, 6, got), FT_OK);
	assert_memory_equal(got, secret, 32);
	ft_crypto_shamir_weights_free(w);
}

static void test_weights_alloc_failure(void **state)
{
	ft_crypto_shamir_weights *w = NULL;
	uint32_t xs[3] = { 5, 1, 9 };

	(void)state;
	for (long k = 0; k < 2; k++) {
		ft_alloc_fail_after(k);
		assert_int_equal(ft_crypto_shamir_weights_alloc(xs, 3, &w), FT_ENOMEM);
		ft_alloc_fail_after(-1);
		assert_null(w);
	}
	assert_int_equal(ft_crypto_shamir_weights_alloc(xs, 3, &w), FT_OK);
	ft_crypto_shamir_weights_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_subsets_small),
		cmocka_unit_test(test_fewer_than_t_do_not_reveal),
		cmocka_unit_test(test_large_n_sampled),
		cmocka_unit_test(test_combine_rejects),
		cmocka_unit_test(test_combine_alloc_failure),
		cmocka_unit_test(test_weighted_kat),
		cmocka_unit_test(test_weighted_agrees),
		cmocka_unit_test(test_weighted_rejects),
		cmocka_unit_test(test_weights_alloc_failure),
	};

	if (ft_crypto_init() != FT_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
