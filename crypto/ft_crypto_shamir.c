/*
 * ft_crypto_shamir.c - Shamir secret sharing of 32-byte secrets, t-of-n with
 * n up to FT_CRYPTO_SHAMIR_MAX_N.
 *
 * Field: Z_L, L = 2^252 + 27742317777372353535851937790883648493 (the order
 * of Ed25519's prime-order group), because libsodium ships constant-time
 * arithmetic for it (crypto_core_ed25519_scalar_*) and GF(2^8) cannot hold
 * 1000 distinct evaluation points. A 32-byte secret does not fit below L, so
 * it is split into two 16-byte halves (each < 2^128 < L), each shared with
 * its own random polynomial; a share value is the two 32-byte little-endian
 * canonical scalars f_lo(x) || f_hi(x) (PROTOCOL.md, "Shamir").
 *
 * All arithmetic on secret values (coefficients, share values, the result)
 * goes through libsodium's scalar functions, which have no secret-dependent
 * branches or table lookups. Only the public evaluation points steer
 * control flow.
 */
#include "crypto_int.h"

#include <string.h>

#include <sodium.h>

#define SC 32u /* scalar bytes */
#define HALF 16u

_Static_assert(crypto_core_ed25519_SCALARBYTES == SC, "scalar size");
_Static_assert(FT_CRYPTO_SHARE_BYTES == 2 * SC, "share = two scalars");
_Static_assert(sizeof(FT_CRYPTO_PERS_SHAMIR_KAT) - 1 == 16, "personal is 16 bytes");

/* Where polynomial coefficients come from: the CSPRNG, or (tests) a seed. */
typedef struct coef_src {
	const uint8_t *seed; /* NULL: CSPRNG */
} coef_src;

static void next_coef(const coef_src *src, uint32_t half, uint32_t j, uint8_t c[SC])
{
	uint8_t wide[crypto_core_ed25519_NONREDUCEDSCALARBYTES];
	uint8_t msg[8];

	if (src->seed == NULL) {
		crypto_core_ed25519_scalar_random(c);
		return;
	}
	ft_store_le32(msg, half);
	ft_store_le32(msg + 4, j);
	crypto_generichash_blake2b_salt_personal(wide, sizeof(wide), msg, sizeof(msg), src->seed,
	                                         FT_CRYPTO_KEY_BYTES, NULL,
	                                         (const unsigned char *)FT_CRYPTO_PERS_SHAMIR_KAT);
	crypto_core_ed25519_scalar_reduce(c, wide);
	sodium_memzero(wide, sizeof(wide));
}

static void scalar_from_u32(uint8_t s[SC], uint32_t v)
{
	memset(s, 0, SC);
	ft_store_le32(s, v);
}

/*
 * Evaluates both polynomials at x = 1..n by Horner's rule run column-wise:
 * the accumulators live in the output shares, so each coefficient is
 * generated, used for every x and wiped, and nothing is allocated.
 */
static int split(const uint8_t secret[FT_CRYPTO_SECRET_BYTES], uint32_t t, uint32_t n,
                 const coef_src *src, ft_crypto_share *out)
{
	uint8_t c[SC], xs[SC], tmp[SC];

	if (secret == NULL || out == NULL)
		return FT_EINVAL;
	if (t < 1 || t > n || n > FT_CRYPTO_SHAMIR_MAX_N)
		return FT_ERANGE;

	for (uint32_t i = 0; i < n; i++) {
		out[i].x = i + 1;
		memset(out[i].value, 0, sizeof(out[i].value));
	}
	for (uint32_t half = 0; half < 2; half++) {
		for (uint32_t j = t; j-- > 0;) {
			if (j == 0) {
				memset(c, 0, SC);
				memcpy(c, secret + half * HALF, HALF);
			} else {
				next_coef(src, half, j, c);
			}
			for (uint32_t i = 0; i < n; i++) {
				uint8_t *acc = out[i].value + half * SC;

				scalar_from_u32(xs, i + 1);
				crypto_core_ed25519_scalar_mul(tmp, acc, xs);
				crypto_core_ed25519_scalar_add(acc, tmp, c);
			}
		}
	}
	sodium_memzero(c, sizeof(c));
	sodium_memzero(tmp, sizeof(tmp));
	return FT_OK;
}

int ft_crypto_shamir_split(const uint8_t secret[FT_CRYPTO_SECRET_BYTES], uint32_t t, uint32_t n,
                           ft_crypto_share *out)
{
	const coef_src src = { NULL };

	return split(secret, t, n, &src, out);
}

int ft_crypto_shamir_split_det(const uint8_t secret[FT_CRYPTO_SECRET_BYTES], uint32_t t,
                               uint32_t n, const uint8_t coef_seed[FT_CRYPTO_KEY_BYTES],
                               ft_crypto_share *out)
{
	const coef_src src = { coef_seed };

	if (coef_seed == NULL)
		return FT_EINVAL;
	return split(secret, t, n, &src, out);
}

/* 1 if s is a canonical scalar (< L), computed without branching on s. */
static int is_canonical(const uint8_t s[SC])
{
	uint8_t wide[crypto_core_ed25519_NONREDUCEDSCALARBYTES] = { 0 };
	uint8_t red[SC];
	int ok;

	memcpy(wide, s, SC);
	crypto_core_ed25519_scalar_reduce(red, wide);
	ok = sodium_memcmp(red, s, SC) == 0;
	sodium_memzero(wide, sizeof(wide));
	sodium_memzero(red, sizeof(red));
	return ok;
}

int ft_crypto_shamir_combine(const ft_crypto_share *shares, uint32_t count, uint32_t t,
                             uint8_t secret[FT_CRYPTO_SECRET_BYTES])
{
	uint8_t seen[(FT_CRYPTO_SHAMIR_MAX_N + 8) / 8] = { 0 };
	uint8_t (*lam)[SC] = NULL, (*pre)[SC] = NULL;
	uint8_t xi[SC], xj[SC], d[SC], inv[SC], tmp[SC], acc[2][SC];
	uint8_t all_x[SC]; /* product of all x_j */
	unsigned high = 0;
	int rv;

	if (shares == NULL || secret == NULL || t < 1)
		return FT_EINVAL;
	if (count < t)
		return FT_EINVAL;
	if (t > FT_CRYPTO_SHAMIR_MAX_N || count > FT_CRYPTO_SHAMIR_MAX_N)
		return FT_ERANGE;
	/* Every share given is checked, not only the t that are used, so a
	 * malformed share is reported wherever it sits. */
	for (uint32_t i = 0; i < count; i++) {
		uint32_t x = shares[i].x;

		if (x == 0 || x > FT_CRYPTO_SHAMIR_MAX_N)
			return FT_ERANGE;
		if (seen[x / 8] & (1u << (x % 8)))
			return FT_EINVAL;
		seen[x / 8] |= (uint8_t)(1u << (x % 8));
	}
	for (uint32_t i = 0; i < count; i++)
		if (!is_canonical(shares[i].value) || !is_canonical(shares[i].value + SC))
			return FT_EFORMAT;

	lam = ft_mallocarray(t, SC);
	pre = ft_mallocarray(t, SC);
	if (lam == NULL || pre == NULL) {
		rv = FT_ENOMEM;
		goto out;
	}

	/*
	 * Lagrange weights at 0 (public: they depend on the x only):
	 * lam_i = prod_{j!=i} x_j / (x_j - x_i) = (prod_j x_j) / (x_i * den_i).
	 * The t denominators are inverted together (Montgomery's trick) so the
	 * cost is one field inversion.
	 */
	scalar_from_u32(all_x, 1);
	for (uint32_t i = 0; i < t; i++) {
		uint8_t *den = lam[i];

		scalar_from_u32(xi, shares[i].x);
		crypto_core_ed25519_scalar_mul(tmp, all_x, xi);
		memcpy(all_x, tmp, SC);
		memcpy(den, xi, SC);
		for (uint32_t j = 0; j < t; j++) {
			if (j == i)
				continue;
			scalar_from_u32(xj, shares[j].x);
			crypto_core_ed25519_scalar_sub(d, xj, xi);
			crypto_core_ed25519_scalar_mul(tmp, den, d);
			memcpy(den, tmp, SC);
		}
		/* pre[i] = den_0 * ... * den_i */
		if (i == 0)
			memcpy(pre[0], den, SC);
		else
			crypto_core_ed25519_scalar_mul(pre[i], pre[i - 1], den);
	}
	if (crypto_core_ed25519_scalar_invert(inv, pre[t - 1]) != 0) {
		rv = FT_EINTERNAL; /* distinct non-zero x make every factor non-zero */
		goto out;
	}
	for (uint32_t i = t; i-- > 0;) {
		/* inv = 1 / (den_0 ... den_i) */
		if (i > 0) {
			crypto_core_ed25519_scalar_mul(d, inv, pre[i - 1]); /* 1/den_i */
			crypto_core_ed25519_scalar_mul(tmp, inv, lam[i]);
			memcpy(inv, tmp, SC);
		} else {
			memcpy(d, inv, SC);
		}
		crypto_core_ed25519_scalar_mul(lam[i], d, all_x);
	}

	memset(acc, 0, sizeof(acc));
	for (uint32_t i = 0; i < t; i++) {
		for (uint32_t h = 0; h < 2; h++) {
			crypto_core_ed25519_scalar_mul(tmp, lam[i], shares[i].value + h * SC);
			crypto_core_ed25519_scalar_add(acc[h], acc[h], tmp);
		}
	}
	/* Each half was < 2^128, so anything else means the shares do not lie
	 * on one polynomial of degree < t: too few genuine shares, garbage or
	 * shares from different splits. It is a sanity check, not integrity:
	 * an offset chosen by a malicious holder can pass it, so callers check
	 * the secret against a commitment (PROTOCOL.md). */
	for (uint32_t h = 0; h < 2; h++)
		for (uint32_t b = HALF; b < SC; b++)
			high |= acc[h][b];
	if (high != 0) {
		rv = FT_ECRYPTO;
		goto out;
	}
	memcpy(secret, acc[0], HALF);
	memcpy(secret + HALF, acc[1], HALF);
	rv = FT_OK;
out:
	sodium_memzero(acc, sizeof(acc));
	sodium_memzero(tmp, sizeof(tmp));
	ft_free(lam);
	ft_free(pre);
	return rv;
}
