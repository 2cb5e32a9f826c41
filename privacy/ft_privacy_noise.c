/*
 * ft_privacy_noise.c - the exact discrete Gaussian sampler (Canonne, Kamath
 * and Steinke 2020, "The Discrete Gaussian for Differential Privacy",
 * Algorithms 1-3) and the float noise that DP-SGD adds on a power-of-two grid.
 *
 * No floating-point number ever decides a random choice here: every
 * Bernoulli trial compares CSPRNG bits with an exact rational probability, so
 * the output distribution is the mathematical one and leaks nothing through
 * rounding (Mironov 2012). Random bits come from a ChaCha20 keystream keyed
 * with 32 fresh bytes of libsodium's CSPRNG per call, produced on demand in
 * blocks of 256 bytes growing to 4 KiB, because a getrandom call per sample
 * would cost more than the sampling itself; key and the keystream produced
 * are wiped before returning. Comparisons with rational probabilities take
 * 32 uniform bits at a time, so that the time goes to arithmetic rather
 * than to mispredicted branches (docs/PRIVACY.md, "Sampler speed").
 */
#include "ft_privacy.h"

#include <math.h>
#include <string.h>

#include <sodium.h>

#include "ft_crypto.h"

typedef unsigned __int128 u128;

/* Random bits are fetched in blocks of up to this many 64-bit words. */
#define RNG_WORDS 512
/* The first refill of a call is this many words (256 bytes); each further
 * refill doubles, up to RNG_WORDS. A call over a few floats thus generates
 * (and wipes) a few hundred bytes, a call over 100k floats 4 KiB at a time. */
#define RNG_WORDS_FIRST 32
/* Caps on the loops. Each is reached with probability far below 2^-128. */
#define CAP_BITS 192      /* equal bits in a lazy comparison: 2^-192 */
#define CAP_K 64          /* Bernoulli(exp(-g)) series: 1/63! < 2^-290 */
#define CAP_V 4096        /* geometric part of the Laplace: e^-4096 */
#define CAP_TRIES 1024    /* rejection rounds: each accepts w.p. > 0.3 */

/*
 * floor(exp(-1) * 2^192), most significant word first: Bernoulli(1/e) is
 * decided by comparing uniform words with these (an irrational number never
 * equals a finite binary fraction, so only 192 equal bits are undecided).
 * Computed exactly from the alternating series sum (-1)^j / j! up to j = 79
 * in rational arithmetic (Python fractions; the truncation error, below
 * 1/80!, does not move the floor); the top word is floor(exp(-1) * 2^64) =
 * 6786177901268885274.
 */
static const uint64_t EXP_M1[3] = {
	UINT64_C(0x5e2d58d8b3bcdf1a), UINT64_C(0xbadec7829054f90d),
	UINT64_C(0xda9805aab56c7733)};

typedef struct rng {
	uint32_t buf[2 * RNG_WORDS];
	uint8_t key[crypto_stream_chacha20_ietf_KEYBYTES];
	uint64_t block; /* refills so far: the nonce of the next one */
	size_t words;   /* 64-bit words fetched by the last refill (0: none yet) */
	size_t pos;     /* next unused 32-bit half-word in buf */
	uint32_t cur;   /* bits being consumed one at a time, low bit first */
	unsigned ncur;  /* bits left in cur */
	int failed;     /* a loop cap was reached */
} rng;

/* No keystream is generated here: buf fills on first use, so a call pays
 * for the bytes it consumes and not for a full block. */
static void rng_init(rng *r)
{
	r->words = 0;
	r->pos = 0;
	r->cur = 0;
	r->ncur = 0;
	r->failed = 0;
	r->block = 0;
	ft_crypto_random(r->key, sizeof(r->key));
}

/* Wipes the key and the part of buf that ever held keystream (refills only
 * grow, so that is the first `words` words). */
static void rng_done(rng *r)
{
	ft_crypto_wipe(r->buf, r->words * 2 * sizeof(r->buf[0]));
	ft_crypto_wipe(r->key, sizeof(r->key));
	ft_crypto_wipe(&r->cur, sizeof(r->cur));
	r->words = r->pos = 0;
	r->ncur = 0;
}

/* 32 uniform bits. */
static uint64_t rng_u32(rng *r)
{
	if (r->pos == 2 * r->words) {
		/* Each refill is its own (key, nonce) stream, so the keystream
		 * never repeats however many blocks one call needs. */
		uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {0};
		size_t w = r->words == 0 ? RNG_WORDS_FIRST : 2 * r->words;

		r->words = w > RNG_WORDS ? RNG_WORDS : w;
		ft_put_le64(nonce, r->block++);
		crypto_stream_chacha20_ietf((uint8_t *)r->buf, r->words * 8, nonce, r->key);
		r->pos = 0;
	}
	return r->buf[r->pos++];
}

static unsigned rng_bit(rng *r)
{
	unsigned b;

	if (r->ncur == 0) {
		r->cur = (uint32_t)rng_u32(r);
		r->ncur = 32;
	}
	b = r->cur & 1u;
	r->cur >>= 1;
	r->ncur--;
	return b;
}

/*
 * Uniform in [0, m), 1 <= m <= 2^32, exactly, by Lemire's multiply-and-
 * reject (ACM TOMACS 2019): x * m / 2^32 for a 32-bit x, rejecting the
 * 2^32 mod m values of the low half that would make some outcomes one more
 * likely than others. Rejection has probability below m / 2^32, so unlike
 * rejection of ceil(log2 m) bits it almost never loops.
 */
static uint64_t rng_uniform(rng *r, uint64_t m)
{
	uint64_t prod, thresh;

	if (m <= 1)
		return 0;
	prod = rng_u32(r) * m;
	if ((prod & UINT32_MAX) >= m)
		return prod >> 32; /* low half >= m > 2^32 mod m: accepted */
	thresh = (((uint64_t)1 << 32) - m) % m; /* 2^32 mod m */
	for (unsigned i = 0; i < CAP_TRIES; i++) {
		if ((prod & UINT32_MAX) >= thresh)
			return prod >> 32;
		prod = rng_u32(r) * m;
	}
	r->failed = 1;
	return 0;
}

/*
 * Bernoulli(n/d) for 0 <= n, 0 < d < 2^127: compares a uniform binary
 * fraction with the binary expansion of n/d, produced one digit at a time by
 * long division, and stops at the first difference (two bits on average).
 * The general path, for denominators too large for the chunked ones below.
 */
static int bern_frac(rng *r, u128 n, u128 d)
{
	u128 rem = n;

	if (n >= d)
		return 1;
	if (n == 0)
		return 0;
	for (unsigned i = 0; i < CAP_BITS; i++) {
		unsigned pbit, b;

		rem <<= 1;
		pbit = rem >= d;
		if (pbit)
			rem -= d;
		b = rng_bit(r);
		if (b != pbit)
			return b < pbit;
		if (rem == 0)
			return 0; /* the rest of n/d is zeros: U > n/d */
	}
	r->failed = 1;
	return 0;
}

/*
 * The same comparison 32 digits at a time, without division. The uniform
 * fraction V lies in [x / 2^32, (x + 1) / 2^32) for the next 32 bits x:
 * V < n/d for sure if (x + 1) d <= n 2^32, V >= n/d if x d >= n 2^32, and
 * otherwise (one x in 2^32) V < n/d iff the remaining bits V' of V satisfy
 * V' < (n 2^32 - x d) / d, a Bernoulli of the same kind. The result is the
 * same function of the uniform bits as bern_frac()'s; only the number of
 * unpredictable branches drops (one per trial instead of one per bit).
 * bern_frac32 needs d < 2^32, bern_frac96 d < 2^95.
 */
static int bern_frac32(rng *r, uint64_t n, uint64_t d)
{
	if (n >= d)
		return 1;
	for (unsigned i = 0; i < CAP_BITS / 32; i++) {
		uint64_t xd, n32;

		if (n == 0)
			return 0;
		xd = rng_u32(r) * d;
		n32 = n << 32;
		if (xd + d <= n32)
			return 1;
		if (xd >= n32)
			return 0;
		n = n32 - xd; /* in (0, d) */
	}
	r->failed = 1;
	return 0;
}

static int bern_frac96(rng *r, u128 n, u128 d)
{
	if (n >= d)
		return 1;
	for (unsigned i = 0; i < CAP_BITS / 32; i++) {
		u128 xd, n32;

		if (n == 0)
			return 0;
		xd = (u128)rng_u32(r) * d;
		n32 = n << 32;
		if (xd + d <= n32)
			return 1;
		if (xd >= n32)
			return 0;
		n = n32 - xd;
	}
	r->failed = 1;
	return 0;
}

/* Bernoulli(n/d) by the cheapest exact path for the size of d. */
static int bern_any(rng *r, u128 n, u128 d)
{
	if (d < ((u128)1 << 32))
		return bern_frac32(r, (uint64_t)n, (uint64_t)d);
	if (d < ((u128)1 << 95))
		return bern_frac96(r, n, d);
	return bern_frac(r, n, d);
}

/* Bernoulli(exp(-1)): uniform bits against EXP_M1, most significant first,
 * 32 at a time (the first 32 decide with probability 1 - 2^-32). */
static int bern_exp_m1(rng *r)
{
	for (unsigned i = 0; i < 6; i++) {
		uint64_t c = (EXP_M1[i / 2] >> (i % 2 ? 0 : 32)) & UINT32_MAX;
		uint64_t x = rng_u32(r);

		if (x != c)
			return x < c;
	}
	r->failed = 1; /* 192 equal bits: probability 2^-192 */
	return 0;
}

/* Bernoulli(exp(-n/d)) for n < d <= 2^25 (CKS20 Algorithm 1 with gamma < 1)
 * in 64-bit arithmetic: d * k <= 2^31 < 2^32 for every k <= CAP_K = 64, as
 * bern_frac32 needs. The Laplace step's trials are all this small. */
static int bern_exp_lt1_small(rng *r, uint64_t n, uint64_t d)
{
	uint64_t k = 1;

	while (bern_frac32(r, n, d * k)) {
		if (++k > CAP_K) {
			r->failed = 1;
			return 0;
		}
	}
	return (int)(k & 1u);
}

/* Bernoulli(exp(-n/d)) for n <= d < 2^120 (CKS20 Algorithm 1, gamma <= 1). */
static int bern_exp_le1(rng *r, u128 n, u128 d)
{
	uint64_t k = 1;

	if (n == d)
		return bern_exp_m1(r);
	/* d * k < 2^126 for every k <= CAP_K = 64. */
	while (bern_any(r, n, d * k)) {
		if (++k > CAP_K) {
			r->failed = 1;
			return 0;
		}
	}
	return (int)(k & 1u);
}

/* Bernoulli(exp(-n/d)) for any n >= 0, 0 < d < 2^120: exp(-1) per whole unit
 * of n/d, each of which fails with probability 1 - 1/e, so this ends fast. */
static int bern_exp(rng *r, u128 n, u128 d)
{
	while (n > d) {
		if (!bern_exp_m1(r) || r->failed)
			return 0;
		n -= d;
	}
	return bern_exp_le1(r, n, d);
}

/* Discrete Laplace with integer scale t >= 1 (CKS20 Algorithm 2):
 * P[x] proportional to exp(-|x| / t). Returns |x| < t * CAP_V. */
static int64_t dlaplace(rng *r, uint64_t t)
{
	for (unsigned tries = 0; tries < CAP_TRIES && !r->failed; tries++) {
		uint64_t u = rng_uniform(r, t), v = 0, x;

		/* u < t <= 2^24 + 1 (FT_PRIVACY_DGAUSS_SIGMA_MAX + 1). */
		if (!bern_exp_lt1_small(r, u, t))
			continue;
		while (bern_exp_m1(r)) {
			if (++v >= CAP_V) {
				r->failed = 1;
				return 0;
			}
		}
		x = u + t * v;
		if (rng_bit(r)) {
			if (x == 0)
				continue; /* -0 would double the weight of 0 */
			return -(int64_t)x;
		}
		return (int64_t)x;
	}
	r->failed = 1;
	return 0;
}

/*
 * Discrete Gaussian with integer sigma s (CKS20 Algorithm 3 with sigma^2 =
 * s^2, t = s + 1): accept a Laplace sample y with probability
 * exp(-(|y| - s^2/t)^2 / (2 s^2)) = exp(-(|y| t - s^2)^2 / (2 s^2 t^2)).
 * With s <= 2^24 and |y| < 2^37, the numerator is below 2^124 and the
 * denominator below 2^98.
 */
static int64_t dgauss(rng *r, uint64_t s)
{
	uint64_t t = s + 1;
	u128 den = (u128)2 * s * s * t * t;

	for (unsigned tries = 0; tries < CAP_TRIES && !r->failed; tries++) {
		int64_t y = dlaplace(r, t);
		uint64_t ay = y < 0 ? (uint64_t)-y : (uint64_t)y;
		uint64_t a = ay * t, b = s * s;
		uint64_t w = a >= b ? a - b : b - a;

		if (r->failed)
			break;
		if (bern_exp(r, (u128)w * w, den) && !r->failed)
			return y;
	}
	r->failed = 1;
	return 0;
}

int ft_privacy_dgauss_fill(uint64_t sigma, int64_t *out, size_t n)
{
	rng r;
	int rv = FT_OK;

	if (sigma < 1 || sigma > FT_PRIVACY_DGAUSS_SIGMA_MAX || (out == NULL && n > 0))
		return FT_EINVAL;
	if (n == 0)
		return FT_OK;
	rng_init(&r);
	for (size_t i = 0; i < n; i++) {
		int64_t z = dgauss(&r, sigma);

		if (r.failed) {
			rv = FT_EINTERNAL;
			goto out;
		}
		out[i] = z;
	}
out:
	rng_done(&r);
	return rv;
}

int ft_privacy_dgauss_sample(uint64_t sigma, int64_t *out)
{
	return ft_privacy_dgauss_fill(sigma, out, 1);
}

int ft_privacy_noise_grid(double sigma, double *grid, uint64_t *units)
{
	int e = 0;
	double m;

	if (!(sigma >= FT_PRIVACY_SIGMA_MIN && sigma <= FT_PRIVACY_SIGMA_MAX) || grid == NULL ||
	    units == NULL)
		return FT_EINVAL; /* also rejects NaN */
	/* sigma = m * 2^e with m in [0.5, 1): g = 2^(e - 1 - GRID_BITS) puts
	 * sigma / g = m * 2^(GRID_BITS + 1) in [2^20, 2^21), exactly. */
	m = frexp(sigma, &e);
	*grid = ldexp(1.0, e - 1 - FT_PRIVACY_GRID_BITS);
	*units = (uint64_t)ceil(ldexp(m, FT_PRIVACY_GRID_BITS + 1));
	return FT_OK;
}

/* Noise samples are drawn in chunks of this many, on the stack. */
#define NOISE_CHUNK 256

int ft_privacy_noise_add(float *v, size_t n, double sigma)
{
	double g = 0;
	uint64_t units = 0;
	double limit;
	int64_t z[NOISE_CHUNK];
	size_t z_used = 0; /* entries of z that held noise: wiped at the end */
	rng r;
	int rv;

	rv = ft_privacy_noise_grid(sigma, &g, &units);
	if (rv != FT_OK)
		return rv;
	if (v == NULL && n > 0)
		return FT_EINVAL;
	/* |v| / g < 2^62 keeps the grid index and the noisy index in int64;
	 * since g > sigma * 2^-21 this admits every |v| < 2^41 * sigma. */
	limit = fmin(ldexp(g, 62), ldexp(sigma, 41));
	for (size_t i = 0; i < n; i++) {
		double x = (double)v[i];

		if (!isfinite(x) || fabs(x) >= limit)
			return FT_ERANGE;
	}
	rng_init(&r);
	for (size_t i = 0; i < n; i += NOISE_CHUNK) {
		size_t m = n - i < NOISE_CHUNK ? n - i : NOISE_CHUNK;

		z_used = m > z_used ? m : z_used;
		for (size_t j = 0; j < m; j++) {
			z[j] = dgauss(&r, units);
			if (r.failed) {
				rv = FT_EINTERNAL;
				goto out;
			}
		}
		for (size_t j = 0; j < m; j++) {
			/* v / g is exact (g is a power of two); the sum is an
			 * exact integer, and the one rounding to float below is a
			 * function of that integer alone, i.e. post-processing. */
			int64_t idx = (int64_t)rint((double)v[i + j] / g);

			v[i + j] = (float)((double)(idx + z[j]) * g);
		}
	}
out:
	ft_crypto_wipe(z, z_used * sizeof(z[0]));
	rng_done(&r);
	return rv;
}

int ft_privacy_noise_multiplier_effective(double z, size_t n, double *z_eff)
{
	double e;

	if (!(z > 0) || isinf(z) || z_eff == NULL)
		return FT_EINVAL;
	e = z / (1 + z * sqrt((double)n) * ldexp(1.0, -FT_PRIVACY_GRID_BITS));
	/* Round down: accounting must never credit more noise than added. */
	*z_eff = nextafter(e, 0.0);
	return FT_OK;
}

int ft_privacy_noise_multiplier_required(double z, size_t n, double *z_add)
{
	double a, add;

	if (!(z > 0) || isinf(z) || z_add == NULL)
		return FT_EINVAL;
	a = z * sqrt((double)n) * ldexp(1.0, -FT_PRIVACY_GRID_BITS);
	if (!(a < 0.5))
		return FT_ERANGE;
	/* Round up until the effective multiplier, as computed, reaches z:
	 * never add less noise than the accountant assumes. A few ulps at most. */
	add = nextafter(z / (1 - a), INFINITY);
	for (int i = 0; i < 64; i++) {
		double eff = 0;

		if (ft_privacy_noise_multiplier_effective(add, n, &eff) != FT_OK)
			return FT_ERANGE;
		if (eff >= z) {
			*z_add = add;
			return FT_OK;
		}
		add = nextafter(add, INFINITY);
	}
	return FT_EINTERNAL;
}
