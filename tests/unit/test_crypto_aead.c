/*
 * test_crypto_aead.c - X25519 round keys, the pairwise KDF and share
 * encryption: both parties agree, every bound field separates keys and
 * ciphertexts, and any tampering or misrouting is rejected.
 */
#include "ft_test.h"
#include "crypto_int.h"

static ft_crypto_ctx some_ctx(void)
{
	ft_crypto_ctx c;

	ft_crypto_random(c.consortium, sizeof(c.consortium));
	c.run = 5;
	c.round = 17;
	c.attempt = 0;
	return c;
}

static void test_kx_agree_and_separate(void **state)
{
	ft_crypto_kx *a = NULL, *b = NULL, *e = NULL;
	uint8_t ms1[32], ek1[32], ms2[32], ek2[32], ms3[32], ek3[32];
	ft_crypto_ctx c = some_ctx(), c2;

	(void)state;
	assert_int_equal(ft_crypto_kx_generate(&a), FT_OK);
	assert_int_equal(ft_crypto_kx_generate(&b), FT_OK);
	assert_int_equal(ft_crypto_kx_generate(&e), FT_OK);
	assert_int_equal(ft_crypto_kx_derive(a, 1, ft_crypto_kx_pk(b), 2, &c, ms1, ek1), FT_OK);
	assert_int_equal(ft_crypto_kx_derive(b, 2, ft_crypto_kx_pk(a), 1, &c, ms2, ek2), FT_OK);
	assert_memory_equal(ms1, ms2, 32);
	assert_memory_equal(ek1, ek2, 32);
	assert_memory_not_equal(ms1, ek1, 32); /* the two outputs are distinct keys */

	/* Every field of the transcript changes both keys. */
	c2 = c;
	c2.round++;
	assert_int_equal(ft_crypto_kx_derive(a, 1, ft_crypto_kx_pk(b), 2, &c2, ms3, ek3), FT_OK);
	assert_memory_not_equal(ms1, ms3, 32);
	assert_memory_not_equal(ek1, ek3, 32);
	c2 = c;
	c2.attempt++;
	assert_int_equal(ft_crypto_kx_derive(a, 1, ft_crypto_kx_pk(b), 2, &c2, ms3, ek3), FT_OK);
	assert_memory_not_equal(ms1, ms3, 32);
	c2 = c;
	c2.run++;
	assert_int_equal(ft_crypto_kx_derive(a, 1, ft_crypto_kx_pk(b), 2, &c2, ms3, ek3), FT_OK);
	assert_memory_not_equal(ms1, ms3, 32);
	c2 = c;
	c2.consortium[31] ^= 1;
	assert_int_equal(ft_crypto_kx_derive(a, 1, ft_crypto_kx_pk(b), 2, &c2, ms3, ek3), FT_OK);
	assert_memory_not_equal(ms1, ms3, 32);
	/* Party ids are bound: the same keys under other ids give other seeds. */
	assert_int_equal(ft_crypto_kx_derive(a, 1, ft_crypto_kx_pk(b), 3, &c, ms3, ek3), FT_OK);
	assert_memory_not_equal(ms1, ms3, 32);
	/* A third party with its own key gets something else. */
	assert_int_equal(ft_crypto_kx_derive(e, 1, ft_crypto_kx_pk(b), 2, &c, ms3, ek3), FT_OK);
	assert_memory_not_equal(ms1, ms3, 32);
	assert_memory_not_equal(ek1, ek3, 32);

	ft_crypto_kx_free(a);
	ft_crypto_kx_free(b);
	ft_crypto_kx_free(e);
	ft_crypto_kx_free(NULL);
}

static void test_kx_from_seed_deterministic(void **state)
{
	uint8_t seed[32];
	ft_crypto_kx *a = NULL, *b = NULL;

	(void)state;
	ft_crypto_random(seed, sizeof(seed));
	assert_int_equal(ft_crypto_kx_from_seed(seed, &a), FT_OK);
	assert_int_equal(ft_crypto_kx_from_seed(seed, &b), FT_OK);
	assert_memory_equal(ft_crypto_kx_pk(a), ft_crypto_kx_pk(b), 32);
	ft_crypto_kx_free(a);
	ft_crypto_kx_free(b);
}

static void test_kx_rejects(void **state)
{
	ft_crypto_kx *a = NULL, *x = NULL;
	uint8_t ms[32] = { 1 }, ek[32] = { 2 }, ms0[32], ek0[32];
	uint8_t zero_pk[32] = { 0 };
	/* A point of order 8 on Curve25519 (RFC 7748 low-order list). */
	uint8_t low[32] = { 0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3,
	                    0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32,
	                    0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00 };
	ft_crypto_ctx c = some_ctx();

	(void)state;
	memcpy(ms0, ms, 32);
	memcpy(ek0, ek, 32);
	assert_int_equal(ft_crypto_kx_generate(&a), FT_OK);
	assert_int_equal(ft_crypto_kx_derive(a, 1, zero_pk, 2, &c, ms, ek), FT_ECRYPTO);
	assert_int_equal(ft_crypto_kx_derive(a, 1, low, 2, &c, ms, ek), FT_ECRYPTO);
	assert_int_equal(ft_crypto_kx_derive(a, 4, ft_crypto_kx_pk(a), 4, &c, ms, ek), FT_EINVAL);
	/* Outputs untouched on failure. */
	assert_memory_equal(ms, ms0, 32);
	assert_memory_equal(ek, ek0, 32);
	assert_int_equal(ft_crypto_kx_from_seed(NULL, &x), FT_EINVAL);
	/* Allocation failure leaks nothing and reports ENOMEM. */
	ft_alloc_fail_after(0);
	assert_int_equal(ft_crypto_kx_generate(&x), FT_ENOMEM);
	ft_alloc_fail_after(-1);
	assert_null(x);
	ft_crypto_kx_free(a);
}

struct aead_fixture {
	uint8_t key[32];
	ft_crypto_ctx ctx;
	uint8_t pt[100];
	uint8_t ct[100 + FT_CRYPTO_AEAD_OVERHEAD];
};

static int aead_setup(void **state)
{
	struct aead_fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	ft_crypto_random(f->key, sizeof(f->key));
	f->ctx = some_ctx();
	ft_crypto_random(f->pt, sizeof(f->pt));
	if (ft_crypto_seal(f->key, &f->ctx, 10, 20, f->pt, sizeof(f->pt), f->ct) != FT_OK)
		return -1;
	*state = f;
	return 0;
}

static int aead_teardown(void **state)
{
	free(*state);
	return 0;
}

static void test_seal_open_roundtrip(void **state)
{
	struct aead_fixture *f = *state;
	uint8_t out[100], ct2[sizeof(f->ct)];

	assert_int_equal(ft_crypto_open(f->key, &f->ctx, 10, 20, f->ct, sizeof(f->ct), out), FT_OK);
	assert_memory_equal(out, f->pt, sizeof(out));
	/* Fresh random nonce each time: sealing twice differs. */
	assert_int_equal(ft_crypto_seal(f->key, &f->ctx, 10, 20, f->pt, sizeof(f->pt), ct2), FT_OK);
	assert_memory_not_equal(ct2, f->ct, FT_CRYPTO_AEAD_NONCE_BYTES);
	assert_memory_not_equal(ct2 + 24, f->ct + 24, sizeof(f->pt));
	/* Empty plaintext still authenticates. */
	assert_int_equal(ft_crypto_seal(f->key, &f->ctx, 10, 20, NULL, 0, ct2), FT_OK);
	assert_int_equal(ft_crypto_open(f->key, &f->ctx, 10, 20, ct2, FT_CRYPTO_AEAD_OVERHEAD, NULL),
	                 FT_OK);
	assert_int_equal(ft_crypto_open(f->key, &f->ctx, 10, 21, ct2, FT_CRYPTO_AEAD_OVERHEAD, NULL),
	                 FT_ECRYPTO);
}

static void expect_reject(struct aead_fixture *f, const uint8_t *key, const ft_crypto_ctx *c,
                          uint32_t s, uint32_t r, const uint8_t *ct, size_t n)
{
	uint8_t out[100];

	memset(out, 0xaa, sizeof(out));
	assert_int_equal(ft_crypto_open(key, c, s, r, ct, n, out), FT_ECRYPTO);
	/* Nothing of the plaintext leaks out of a failed open. */
	if (n >= FT_CRYPTO_AEAD_OVERHEAD)
		for (size_t i = 0; i < n - FT_CRYPTO_AEAD_OVERHEAD; i++)
			assert_int_equal(out[i], 0);
	(void)f;
}

static void test_open_rejects_tampering(void **state)
{
	struct aead_fixture *f = *state;
	uint8_t bad[sizeof(f->ct)];
	const size_t spots[] = { 0, 23, 24, 60, 24 + 99, 24 + 100, sizeof(f->ct) - 1 };

	/* nonce, ciphertext and tag bytes */
	for (size_t k = 0; k < sizeof(spots) / sizeof(spots[0]); k++) {
		memcpy(bad, f->ct, sizeof(bad));
		bad[spots[k]] ^= 0x01;
		expect_reject(f, f->key, &f->ctx, 10, 20, bad, sizeof(bad));
	}
	/* truncated, and shorter than the overhead */
	expect_reject(f, f->key, &f->ctx, 10, 20, f->ct, sizeof(f->ct) - 1);
	expect_reject(f, f->key, &f->ctx, 10, 20, f->ct, FT_CRYPTO_AEAD_OVERHEAD - 1);
	expect_reject(f, f->key, &f->ctx, 10, 20, f->ct, 0);
}

static void test_open_rejects_misrouting(void **state)
{
	struct aead_fixture *f = *state;
	ft_crypto_ctx c;
	uint8_t key2[32];

	expect_reject(f, f->key, &f->ctx, 11, 20, f->ct, sizeof(f->ct)); /* sender */
	expect_reject(f, f->key, &f->ctx, 10, 21, f->ct, sizeof(f->ct)); /* recipient */
	expect_reject(f, f->key, &f->ctx, 20, 10, f->ct, sizeof(f->ct)); /* swapped */
	c = f->ctx;
	c.round++;
	expect_reject(f, f->key, &c, 10, 20, f->ct, sizeof(f->ct));
	c = f->ctx;
	c.run++;
	expect_reject(f, f->key, &c, 10, 20, f->ct, sizeof(f->ct));
	c = f->ctx;
	c.attempt++;
	expect_reject(f, f->key, &c, 10, 20, f->ct, sizeof(f->ct));
	c = f->ctx;
	c.consortium[0] ^= 0x80;
	expect_reject(f, f->key, &c, 10, 20, f->ct, sizeof(f->ct));
	memcpy(key2, f->key, 32);
	key2[5] ^= 1;
	expect_reject(f, key2, &f->ctx, 10, 20, f->ct, sizeof(f->ct));
}

static void test_seal_args(void **state)
{
	struct aead_fixture *f = *state;

	assert_int_equal(ft_crypto_seal(NULL, &f->ctx, 1, 2, f->pt, 1, f->ct), FT_EINVAL);
	assert_int_equal(ft_crypto_seal(f->key, NULL, 1, 2, f->pt, 1, f->ct), FT_EINVAL);
	assert_int_equal(ft_crypto_seal(f->key, &f->ctx, 1, 2, NULL, 1, f->ct), FT_EINVAL);
	assert_int_equal(ft_crypto_seal(f->key, &f->ctx, 1, 2, f->pt, SIZE_MAX, f->ct), FT_ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kx_agree_and_separate),
		cmocka_unit_test(test_kx_from_seed_deterministic),
		cmocka_unit_test(test_kx_rejects),
		cmocka_unit_test_setup_teardown(test_seal_open_roundtrip, aead_setup, aead_teardown),
		cmocka_unit_test_setup_teardown(test_open_rejects_tampering, aead_setup, aead_teardown),
		cmocka_unit_test_setup_teardown(test_open_rejects_misrouting, aead_setup, aead_teardown),
		cmocka_unit_test_setup_teardown(test_seal_args, aead_setup, aead_teardown),
	};

	if (ft_crypto_init() != FT_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
