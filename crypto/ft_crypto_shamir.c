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
 *
 * Reconstruction is split in two: Lagrange weights at 0 from the points
 * (public, about t^2 multiplications and one inversion), then the weighted
 * sum of the share values (2t multiplications). Callers that rebuild many
 * secrets from the same holders compute the weights once.
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
	ft_put_le32(msg, half);
	ft_put_le32(msg + 4, j);
	crypto_generichash_blake2b_salt_personal(wide, sizeof(wide), msg, sizeof(msg), src->seed,
	                                         FT_CRYPTO_KEY_BYTES, NULL,
	                                         (const unsigned char *)FT_CRYPTO_PERS_SHAMIR_KAT);
	crypto_core_ed25519_scalar_reduce(c, wide);
	sodium_memzero(wide, sizeof(wide));
}

static void scalar_from_u32(uint8_t s[SC], uint32_t v)
{
	memset(s, 0, SC);
	ft_put_le32(s, v);
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

/* The group order L, little-endian. */
static const uint8_t order_l[SC] = {
	0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
	0xa2, 0xde, 0xf9, 0xde, 0x14, 0,    0,    0,    0,    0,    0,
	0,    0,    0,    0,    0,    0,    0,    0,    0,    0x10,
};

/*
 * 1 if s is a canonical scalar (s < L): the borrow out of s - L, computed
 * over every byte with no branch or lookup that depends on s. It replaced a
 * reduce-and-compare that cost about as much as a field multiplication,
 * which mattered once batched reconstruction made the check a large part of
 * each combine.
 */
static int is_canonical(const uint8_t s[SC])
{
	unsigned borrow = 0;

	for (unsigned i = 0; i < SC; i++)
		borrow = ((unsigned)s[i] - order_l[i] - borrow) >> 8 & 1u;
	return (int)borrow;
}

/* Lagrange weights at 0 for a set of evaluation points. Public data. */
struct ft_crypto_shamir_weights {
	uint32_t t;
	uint32_t *x;      /* t points, in the order the shares must follow */
	uint8_t (*lam)[SC];
};

/* Range and duplicate checks on count points read with a stride (so the
 * x of a share array and a plain uint32_t array go through the same code). */
static int check_points(const uint32_t *x0, size_t stride, uint32_t count)
{
	uint8_t seen[(FT_CRYPTO_SHAMIR_MAX_N + 8) / 8] = { 0 };

	for (uint32_t i = 0; i < count; i++) {
		uint32_t x = *(const uint32_t *)(const void *)((const uint8_t *)x0 + i * stride);

		if (x == 0 || x > FT_CRYPTO_SHAMIR_MAX_N)
			return FT_ERANGE;
		if (seen[x / 8] & (1u << (x % 8)))
			return FT_EINVAL;
		seen[x / 8] |= (uint8_t)(1u << (x % 8));
	}
	return FT_OK;
}

/*
 * Computes w->lam from w->x (distinct, in range: checked by the caller):
 * lam_i = prod_{j!=i} x_j / (x_j - x_i) = (prod_j x_j) / (x_i * den_i).
 * The t denominators are inverted together (Montgomery's trick) so the cost
 * is one field inversion; `pre` is t scalars of scratch.
 */
static int lagrange(ft_crypto_shamir_weights *w, uint8_t (*pre)[SC])
{
	uint8_t (*lam)[SC] = w->lam;
	uint8_t xi[SC], xj[SC], d[SC], inv[SC], tmp[SC], all_x[SC];
	uint32_t t = w->t;

	scalar_from_u32(all_x, 1);
	for (uint32_t i = 0; i < t; i++) {
		uint8_t *den = lam[i];

		scalar_from_u32(xi, w->x[i]);
		crypto_core_ed25519_scalar_mul(tmp, all_x, xi);
		memcpy(all_x, tmp, SC);
		memcpy(den, xi, SC);
		for (uint32_t j = 0; j < t; j++) {
			if (j == i)
				continue;
			scalar_from_u32(xj, w->x[j]);
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
	if (crypto_core_ed25519_scalar_invert(inv, pre[t - 1]) != 0)
		return FT_EINTERNAL; /* distinct non-zero x make every factor non-zero */
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
	return FT_OK;
}

/* Allocates w for t points (x and lam in one block) and computes the
 * weights for the points at x0 (read with `stride`). Points are checked. */
static int weights_alloc(const uint32_t *x0, size_t stride, uint32_t t,
                         ft_crypto_shamir_weights **out)
{
	ft_crypto_shamir_weights *w = NULL;
	uint8_t (*pre)[SC] = NULL;
	size_t xbytes = ((size_t)t * sizeof(uint32_t) + SC - 1) / SC * SC;
	int rv;

	if (t < 1)
		return FT_EINVAL;
	if (t > FT_CRYPTO_SHAMIR_MAX_N)
		return FT_ERANGE;
	rv = check_points(x0, stride, t);
	if (rv != FT_OK)
		return rv;
	/* One block: header, x (rounded to a scalar), lam. */
	w = ft_malloc(sizeof(*w) + xbytes + (size_t)t * SC + SC);
	pre = ft_mallocarray(t, SC);
	if (w == NULL || pre == NULL) {
		rv = FT_ENOMEM;
		goto out;
	}
	w->t = t;
	w->x = (uint32_t *)(void *)(w + 1);
	w->lam = (uint8_t (*)[SC])(void *)((uint8_t *)w->x + xbytes);
	for (uint32_t i = 0; i < t; i++)
		w->x[i] = *(const uint32_t *)(const void *)((const uint8_t *)x0 + i * stride);
	rv = lagrange(w, pre);
	if (rv != FT_OK)
		goto out;
	*out = w;
	w = NULL;
out:
	ft_free(w);
	ft_free(pre);
	return rv;
}

int ft_crypto_shamir_weights_alloc(const uint32_t *x, uint32_t t, ft_crypto_shamir_weights **out)
{
	if (x == NULL || out == NULL)
		return FT_EINVAL;
	return weights_alloc(x, sizeof(*x), t, out);
}

void ft_crypto_shamir_weights_free(ft_crypto_shamir_weights *w)
{
	ft_free(w); /* public data: nothing to wipe */
}

uint32_t ft_crypto_shamir_weights_t(const ft_crypto_shamir_weights *w)
{
	return w != NULL ? w->t : 0;
}

int ft_crypto_shamir_weights_match(const ft_crypto_shamir_weights *w,
                                   const ft_crypto_share *shares, uint32_t count)
{
	if (w == NULL || shares == NULL || count < w->t)
		return 0;
	for (uint32_t i = 0; i < w->t; i++)
		if (shares[i].x != w->x[i])
			return 0;
	return 1;
}

/*
 * The part of a combine that touches secrets: checks every given share value
 * is canonical, then sums lam_i * share_i per half. Constant-time in the
 * share values; only the public weights and counts steer control flow.
 */
static int combine_values(const ft_crypto_shamir_weights *w, const ft_crypto_share *shares,
                          uint32_t count, uint8_t secret[FT_CRYPTO_SECRET_BYTES])
{
	uint8_t tmp[SC], acc[2][SC];
	unsigned bad = 0, high = 0;
	int rv;

	/* Every share given is checked, not only the t that are used, so a
	 * malformed share is reported wherever it sits. */
	for (uint32_t i = 0; i < count; i++)
		bad |= (unsigned)(is_canonical(shares[i].value) & is_canonical(shares[i].value + SC)) ^ 1u;
	if (bad != 0)
		return FT_EFORMAT;

	memset(acc, 0, sizeof(acc));
	for (uint32_t i = 0; i < w->t; i++) {
		for (uint32_t h = 0; h < 2; h++) {
			crypto_core_ed25519_scalar_mul(tmp, w->lam[i], shares[i].value + h * SC);
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
	return rv;
}

int ft_crypto_shamir_combine_weighted(const ft_crypto_shamir_weights *w,
                                      const ft_crypto_share *shares, uint32_t count,
                                      uint8_t secret[FT_CRYPTO_SECRET_BYTES])
{
	int rv;

	if (w == NULL || shares == NULL || secret == NULL)
		return FT_EINVAL;
	if (count < w->t)
		return FT_EINVAL;
	if (count > FT_CRYPTO_SHAMIR_MAX_N)
		return FT_ERANGE;
	rv = check_points(&shares[0].x, sizeof(*shares), count);
	if (rv != FT_OK)
		return rv;
	if (!ft_crypto_shamir_weights_match(w, shares, count))
		return FT_EINVAL;
	return combine_values(w, shares, count, secret);
}

int ft_crypto_shamir_combine(const ft_crypto_share *shares, uint32_t count, uint32_t t,
                             uint8_t secret[FT_CRYPTO_SECRET_BYTES])
{
	ft_crypto_shamir_weights *w = NULL;
	int rv;

	if (shares == NULL || secret == NULL || t < 1)
		return FT_EINVAL;
	if (count < t)
		return FT_EINVAL;
	if (t > FT_CRYPTO_SHAMIR_MAX_N || count > FT_CRYPTO_SHAMIR_MAX_N)
		return FT_ERANGE;
	rv = check_points(&shares[0].x, sizeof(*shares), count);
	if (rv != FT_OK)
		return rv;
	rv = weights_alloc(&shares[0].x, sizeof(*shares), t, &w);
	if (rv != FT_OK)
		return rv;
	rv = combine_values(w, shares, count, secret);
	ft_crypto_shamir_weights_free(w);
	return rv;
}
