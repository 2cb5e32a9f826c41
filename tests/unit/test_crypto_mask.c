/*
 * test_crypto_mask.c - mask expansion: chunked equals whole at any offset,
 * add then subtract is the identity, pairwise masks cancel over random
 * graphs, and bad arguments are refused.
 */
#include "ft_test.h"
#include "ft_crypto.h"

#define N 5000

static void test_chunked_equals_whole(void **state)
{
	static uint32_t whole[N], chunked[N];
	uint8_t seed[32];
	const unsigned bits_list[] = { 16, 17, 24, 31, 32 };

	(void)state;
	for (size_t b = 0; b < sizeof(bits_list) / sizeof(bits_list[0]); b++) {
		unsigned bits = bits_list[b];

		ft_crypto_random(seed, sizeof(seed));
		memset(whole, 0, sizeof(whole));
		memset(chunked, 0, sizeof(chunked));
		assert_int_equal(ft_crypto_mask_apply(seed, whole, N, 0, bits, 1), FT_OK);
		/* random chunk lengths, mostly not multiples of 16 */
		for (size_t done = 0; done < N;) {
			size_t len = 1 + ft_crypto_random_uniform(3000);

			if (len > N - done)
				len = N - done;
			assert_int_equal(ft_crypto_mask_apply(seed, chunked + done, len, done, bits, 1),
			                 FT_OK);
			done += len;
		}
		assert_memory_equal(whole, chunked, sizeof(whole));
		for (size_t i = 0; i < N; i++)
			assert_true(bits == 32 || whole[i] < (UINT32_C(1) << bits));
		/* a start deep in the stream equals the tail of a longer call */
		memset(chunked, 0, sizeof(chunked));
		assert_int_equal(ft_crypto_mask_apply(seed, chunked, N - 1237, 1237, bits, 1), FT_OK);
		assert_memory_equal(whole + 1237, chunked, (N - 1237) * sizeof(uint32_t));
	}
}

static void test_add_sub_identity(void **state)
{
	static uint32_t v[N], orig[N];
	uint8_t seed[32];

	(void)state;
	ft_crypto_random(seed, sizeof(seed));
	for (size_t i = 0; i < N; i++)
		orig[i] = v[i] = ft_crypto_random_uniform(1u << 20);
	assert_int_equal(ft_crypto_mask_apply(seed, v, N, 0, 20, 1), FT_OK);
	assert_memory_not_equal(v, orig, sizeof(v));
	assert_int_equal(ft_crypto_mask_apply(seed, v, N, 0, 20, -1), FT_OK);
	assert_memory_equal(v, orig, sizeof(v));
}

/* Sites on a random graph add +mask for higher-id neighbours and -mask for
 * lower-id ones (seeds from the real KDF); the sum is the plain sum. */
static void test_pairwise_masks_cancel(void **state)
{
	enum { SITES = 9, LEN = 777 };
	static uint32_t in[SITES][LEN], masked[SITES][LEN];
	ft_crypto_kx *kx[SITES];
	ft_crypto_ctx ctx;
	unsigned bits = 24;
	uint32_t m = (1u << 24) - 1;

	(void)state;
	memset(&ctx, 7, sizeof(ctx));
	for (int s = 0; s < SITES; s++)
		assert_int_equal(ft_crypto_kx_generate(&kx[s]), FT_OK);
	for (int g = 0; g < 4; g++) {
		int adj[SITES][SITES] = { { 0 } };
		uint32_t plain, sum;

		for (int a = 0; a < SITES; a++)
			for (int b = a + 1; b < SITES; b++)
				adj[a][b] = adj[b][a] = ft_crypto_random_uniform(2);
		for (int s = 0; s < SITES; s++) {
			for (int i = 0; i < LEN; i++)
				masked[s][i] = in[s][i] = ft_crypto_random_uniform(1u << 16);
			for (int p = 0; p < SITES; p++) {
				uint8_t ms[32], ek[32];

				if (!adj[s][p])
					continue;
				assert_int_equal(ft_crypto_kx_derive(kx[s], (uint32_t)s + 1,
				                                     ft_crypto_kx_pk(kx[p]),
				                                     (uint32_t)p + 1, &ctx, ms, ek),
				                 FT_OK);
				assert_int_equal(ft_crypto_mask_apply(ms, masked[s], LEN, 0, bits,
				                                      s < p ? 1 : -1),
				                 FT_OK);
			}
		}
		for (int i = 0; i < LEN; i++) {
			plain = sum = 0;
			for (int s = 0; s < SITES; s++) {
				plain = (plain + in[s][i]) & m;
				sum = (sum + masked[s][i]) & m;
			}
			assert_int_equal(sum, plain);
		}
	}
	for (int s = 0; s < SITES; s++)
		ft_crypto_kx_free(kx[s]);
}

static void test_mask_args(void **state)
{
	uint8_t seed[32] = { 1 };
	uint32_t v[4] = { 0 };

	(void)state;
	assert_int_equal(ft_crypto_mask_apply(seed, v, 4, 0, 15, 1), FT_EINVAL);
	assert_int_equal(ft_crypto_mask_apply(seed, v, 4, 0, 33, 1), FT_EINVAL);
	assert_int_equal(ft_crypto_mask_apply(seed, v, 4, 0, 32, 0), FT_EINVAL);
	assert_int_equal(ft_crypto_mask_apply(NULL, v, 4, 0, 32, 1), FT_EINVAL);
	assert_int_equal(ft_crypto_mask_apply(seed, NULL, 4, 0, 32, 1), FT_EINVAL);
	assert_int_equal(ft_crypto_mask_apply(seed, NULL, 0, 0, 32, 1), FT_OK);
	/* beyond the 2^32-block counter of ChaCha20-IETF */
	assert_int_equal(ft_crypto_mask_apply(seed, v, 4, (UINT64_C(1) << 36) - 3, 32, 1),
	                 FT_ERANGE);
	assert_int_equal(ft_crypto_mask_apply(seed, v, 4, (UINT64_C(1) << 36) - 4, 32, 1), FT_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chunked_equals_whole),
		cmocka_unit_test(test_add_sub_identity),
		cmocka_unit_test(test_pairwise_masks_cancel),
		cmocka_unit_test(test_mask_args),
	};

	if (ft_crypto_init() != FT_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
