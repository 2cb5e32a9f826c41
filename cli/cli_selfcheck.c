/*
 * cli_selfcheck.c - `fedtwin selfcheck`: exercises the whole cryptographic
 * core on this machine (signatures, key agreement, share encryption, Shamir
 * sharing, mask cancellation, fixed-point sums) and reports each check. A
 * site runs it after installation to know the build and the CPU agree with
 * the protocol; it uses fresh randomness, so it also catches a broken RNG
 * that would make the checks fail.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ft_base.h"
#include "ft_crypto.h"
#include "cli_int.h"

#define CHECK_N 3        /* parties in the mask check */
#define CHECK_D 100000   /* vector length in the mask check */

static int report(const char *what, int ok)
{
	printf("%-44s %s\n", what, ok ? "ok" : "FAILED");
	return ok ? 0 : 1;
}

static int check_signatures(void)
{
	ft_crypto_identity *id = NULL;
	uint8_t sig[FT_CRYPTO_SIG_BYTES];
	const char msg[] = "fedtwin selfcheck";
	int ok = 0;

	if (ft_crypto_identity_generate(&id) != FT_OK)
		goto out;
	if (ft_crypto_identity_sign(id, msg, sizeof(msg), sig) != FT_OK)
		goto out;
	if (ft_crypto_verify(ft_crypto_identity_pk(id), msg, sizeof(msg), sig) != FT_OK)
		goto out;
	sig[5] ^= 1;
	ok = ft_crypto_verify(ft_crypto_identity_pk(id), msg, sizeof(msg), sig) == FT_ECRYPTO;
out:
	ft_crypto_identity_free(id);
	return report("Ed25519 sign, verify, reject tampering", ok);
}

static int check_agreement_and_aead(void)
{
	ft_crypto_kx *a = NULL, *b = NULL;
	ft_crypto_ctx ctx = {.run = 1, .round = 1, .attempt = 0};
	uint8_t ma[32], ea[32], mb[32], eb[32];
	uint8_t ct[64 + FT_CRYPTO_AEAD_OVERHEAD], pt[64], back[64];
	int ok = 0, ok2 = 0;

	ft_crypto_random(ctx.consortium, sizeof(ctx.consortium));
	ft_crypto_random(pt, sizeof(pt));
	if (ft_crypto_kx_generate(&a) != FT_OK || ft_crypto_kx_generate(&b) != FT_OK)
		goto out;
	if (ft_crypto_kx_derive(a, 1, ft_crypto_kx_pk(b), 2, &ctx, ma, ea) != FT_OK ||
	    ft_crypto_kx_derive(b, 2, ft_crypto_kx_pk(a), 1, &ctx, mb, eb) != FT_OK)
		goto out;
	ok = ft_crypto_equal(ma, mb, 32) && ft_crypto_equal(ea, eb, 32) &&
	     !ft_crypto_equal(ma, ea, 32);
	if (ft_crypto_seal(ea, &ctx, 1, 2, pt, sizeof(pt), ct) != FT_OK)
		goto out;
	ok2 = ft_crypto_open(eb, &ctx, 1, 2, ct, sizeof(ct), back) == FT_OK &&
	      memcmp(back, pt, sizeof(pt)) == 0 &&
	      ft_crypto_open(eb, &ctx, 2, 1, ct, sizeof(ct), back) == FT_ECRYPTO;
out:
	ft_crypto_wipe(ma, 32);
	ft_crypto_wipe(mb, 32);
	ft_crypto_wipe(ea, 32);
	ft_crypto_wipe(eb, 32);
	ft_crypto_kx_free(a);
	ft_crypto_kx_free(b);
	return report("X25519 + KDF: both sides derive the same keys", ok) +
	       report("XChaCha20-Poly1305: open, reject misrouting", ok2);
}

static int check_shamir(void)
{
	enum { N = 100, T = 51 };
	static ft_crypto_share shares[N], pick[T];
	uint8_t secret[32], back[32];
	uint32_t perm[N];
	int ok = 0;

	ft_crypto_random(secret, sizeof(secret));
	if (ft_crypto_shamir_split(secret, T, N, shares) != FT_OK)
		goto out;
	for (uint32_t i = 0; i < N; i++)
		perm[i] = i;
	for (uint32_t i = N - 1; i > 0; i--) {
		uint32_t j = ft_crypto_random_uniform(i + 1), tmp = perm[i];

		perm[i] = perm[j];
		perm[j] = tmp;
	}
	for (uint32_t i = 0; i < T; i++)
		pick[i] = shares[perm[i]];
	ok = ft_crypto_shamir_combine(pick, T, T, back) == FT_OK &&
	     ft_crypto_equal(back, secret, 32);
	pick[1].x = pick[0].x;
	ok = ok && ft_crypto_shamir_combine(pick, T, T, back) != FT_OK;
out:
	ft_crypto_wipe(shares, sizeof(shares));
	ft_crypto_wipe(pick, sizeof(pick));
	ft_crypto_wipe(secret, sizeof(secret));
	ft_crypto_wipe(back, sizeof(back));
	return report("Shamir 51-of-100: random subset reconstructs", ok);
}

/* Three parties mask encoded vectors pairwise; the masks cancel in the sum,
 * which decodes to the sum of the inputs within one quantisation step each. */
static int check_masked_sum(void)
{
	ft_crypto_fxp fxp;
	float *in = NULL, *dec = NULL;
	uint32_t *enc = NULL, *sum = NULL;
	uint8_t seeds[CHECK_N][CHECK_N][32];
	int ok = 0, failed = 0;

	if (ft_crypto_fxp_init(&fxp, 1.0, 32, CHECK_N) != FT_OK)
		goto out;
	in = ft_mallocarray((size_t)CHECK_N * CHECK_D, sizeof(float));
	dec = ft_mallocarray(CHECK_D, sizeof(float));
	enc = ft_mallocarray(CHECK_D, sizeof(uint32_t));
	sum = ft_calloc(CHECK_D, sizeof(uint32_t));
	if (in == NULL || dec == NULL || enc == NULL || sum == NULL)
		goto out;
	for (int i = 0; i < CHECK_N; i++)
		for (int j = i + 1; j < CHECK_N; j++)
			ft_crypto_random(seeds[i][j], 32);
	for (size_t k = 0; k < (size_t)CHECK_N * CHECK_D; k++)
		in[k] = (float)ft_crypto_random_uniform(2001) / 1000.0f - 1.0f;
	for (int i = 0; i < CHECK_N && !failed; i++) {
		failed |= ft_crypto_fxp_encode(&fxp, in + (size_t)i * CHECK_D, CHECK_D, enc) != FT_OK;
		for (int j = 0; j < CHECK_N && !failed; j++) {
			if (j == i)
				continue;
			failed |= ft_crypto_mask_apply(i < j ? seeds[i][j] : seeds[j][i], enc, CHECK_D,
			                               0, 32, i < j ? 1 : -1) != FT_OK;
		}
		for (size_t k = 0; k < CHECK_D; k++)
			sum[k] += enc[k];
	}
	if (failed || ft_crypto_fxp_decode(&fxp, sum, CHECK_D, CHECK_N, dec) != FT_OK)
		goto out;
	ok = 1;
	for (size_t k = 0; k < CHECK_D && ok; k++) {
		double want = 0;

		for (int i = 0; i < CHECK_N; i++)
			want += in[(size_t)i * CHECK_D + k];
		ok = fabs(want - dec[k]) <= CHECK_N / fxp.scale + 1e-6;
	}
out:
	ft_crypto_wipe(seeds, sizeof(seeds));
	ft_free(in);
	ft_free(dec);
	ft_free(enc);
	ft_free(sum);
	return report("masks cancel; fixed-point sum decodes", ok);
}

int ft_cli_selfcheck_main(int argc, char **argv)
{
	int failures = 0;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: fedtwin selfcheck\n");
		return 2;
	}
	failures += check_signatures();
	failures += check_agreement_and_aead();
	failures += check_shamir();
	failures += check_masked_sum();
	printf("selfcheck: %s\n", failures == 0 ? "all checks passed" : "FAILED");
	return failures == 0 ? 0 : 1;
}
