/*
 * test_crypto_kat.c - known answers for every composition in the crypto
 * core. The expected values in tests/vectors/crypto_vectors.h come from
 * tests/vectors/gen_crypto_vectors.py, which recomputes them from the RFCs
 * in plain Python (no libsodium), so a match here means the C code and an
 * independent implementation of docs/PROTOCOL.md agree byte for byte.
 */
#include "ft_test.h"
#include "crypto_int.h"
#include "vectors/crypto_vectors.h"

static ft_crypto_ctx kat_ctx(void)
{
	ft_crypto_ctx c;

	memcpy(c.consortium, kat_consortium, sizeof(c.consortium));
	c.run = KAT_RUN;
	c.round = KAT_ROUND;
	c.attempt = KAT_ATTEMPT;
	return c;
}

static void test_kx_derive_kat(void **state)
{
	ft_crypto_kx *a = NULL, *b = NULL;
	uint8_t ms_a[32], ek_a[32], ms_b[32], ek_b[32];
	ft_crypto_ctx c = kat_ctx();

	(void)state;
	assert_int_equal(ft_crypto_kx_from_seed(kat_seed_a, &a), FT_OK);
	assert_int_equal(ft_crypto_kx_from_seed(kat_seed_b, &b), FT_OK);
	assert_memory_equal(ft_crypto_kx_pk(a), kat_pk_a, 32);
	assert_memory_equal(ft_crypto_kx_pk(b), kat_pk_b, 32);
	assert_int_equal(ft_crypto_kx_derive(a, KAT_ID_A, kat_pk_b, KAT_ID_B, &c, ms_a, ek_a), FT_OK);
	assert_int_equal(ft_crypto_kx_derive(b, KAT_ID_B, kat_pk_a, KAT_ID_A, &c, ms_b, ek_b), FT_OK);
	assert_memory_equal(ms_a, kat_mask_seed, 32);
	assert_memory_equal(ek_a, kat_enc_key, 32);
	assert_memory_equal(ms_b, kat_mask_seed, 32);
	assert_memory_equal(ek_b, kat_enc_key, 32);
	ft_crypto_kx_free(a);
	ft_crypto_kx_free(b);
}

static void test_seal_kat(void **state)
{
	ft_crypto_ctx c = kat_ctx();
	uint8_t out[sizeof(KAT_PT) - 1 + FT_CRYPTO_AEAD_OVERHEAD];
	char pt[sizeof(KAT_PT)] = { 0 };

	(void)state;
	assert_int_equal(sizeof(out), sizeof(kat_sealed));
	assert_int_equal(ft_crypto_seal_with_nonce(kat_enc_key, &c, KAT_ID_A, KAT_ID_B, KAT_PT,
	                                           sizeof(KAT_PT) - 1, kat_nonce, out),
	                 FT_OK);
	assert_memory_equal(out, kat_sealed, sizeof(kat_sealed));
	assert_int_equal(ft_crypto_open(kat_enc_key, &c, KAT_ID_A, KAT_ID_B, kat_sealed,
	                                sizeof(kat_sealed), pt),
	                 FT_OK);
	assert_string_equal(pt, KAT_PT);
}

static void test_mask_kat(void **state)
{
	uint32_t acc[40];
	uint32_t acc20[24];

	(void)state;
	memset(acc, 0, sizeof(acc));
	assert_int_equal(ft_crypto_mask_apply(kat_mask_seed, acc, 40, 0, 32, 1), FT_OK);
	assert_memory_equal(acc, kat_mask32, sizeof(acc));
	memset(acc, 0, sizeof(acc));
	assert_int_equal(ft_crypto_mask_apply(kat_mask_seed, acc, 40, 0, 16, 1), FT_OK);
	assert_memory_equal(acc, kat_mask16, sizeof(acc));
	/* An offset that is not a multiple of 16 elements, in a 20-bit ring. */
	memset(acc20, 0, sizeof(acc20));
	assert_int_equal(ft_crypto_mask_apply(kat_mask_seed, acc20, 24, KAT_MASK20_OFFSET, 20, 1),
	                 FT_OK);
	assert_memory_equal(acc20, kat_mask20_off, sizeof(acc20));
	/* Subtracting from zero gives the negation mod 2^bits. */
	memset(acc, 0, sizeof(acc));
	assert_int_equal(ft_crypto_mask_apply(kat_mask_seed, acc, 40, 0, 16, -1), FT_OK);
	for (size_t i = 0; i < 40; i++)
		assert_int_equal(acc[i], (0x10000u - kat_mask16[i]) & 0xffffu);
}

static void test_shamir_kat(void **state)
{
	ft_crypto_share sh[KAT_SHAMIR_N];
	uint8_t secret[32];

	(void)state;
	assert_int_equal(ft_crypto_shamir_split_det(kat_shamir_secret, KAT_SHAMIR_T, KAT_SHAMIR_N,
	                                            kat_shamir_coef_seed, sh),
	                 FT_OK);
	for (uint32_t i = 0; i < KAT_SHAMIR_N; i++) {
		assert_int_equal(sh[i].x, i + 1);
		assert_memory_equal(sh[i].value, kat_shamir_shares + 64 * i, 64);
	}
	assert_int_equal(ft_crypto_shamir_combine(sh + 2, 3, KAT_SHAMIR_T, secret), FT_OK);
	assert_memory_equal(secret, kat_shamir_secret, 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kx_derive_kat),
		cmocka_unit_test(test_seal_kat),
		cmocka_unit_test(test_mask_kat),
		cmocka_unit_test(test_shamir_kat),
	};

	if (ft_crypto_init() != FT_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
