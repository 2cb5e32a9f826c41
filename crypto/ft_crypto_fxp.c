/*
 * ft_crypto_fxp.c - fixed-point encoding of model updates into Z_2^bits,
 * the ring secure aggregation sums in.
 *
 * Values are clipped to [-clip, clip], multiplied by a power-of-two scale
 * (exact in binary floating point, so scaling adds no error of its own) and
 * rounded stochastically: up with probability equal to the fractional part,
 * drawn from the CSPRNG, so the rounding is unbiased and the error of a sum
 * does not drift. Each encoded value is then at most B = ceil(clip * scale)
 * in magnitude, and the scale is chosen so that max_summands * B <
 * 2^(bits-1): the sum of that many vectors, read as a signed number, can
 * never wrap. The decoder checks the same budget and refuses a sum that
 * could only have come from a wrap or a bad input (PROTOCOL.md,
 * "Fixed-point encoding").
 */
#include "crypto_int.h"

#include <math.h>
#include <string.h>

#include <sodium.h>

#define MAX_SCALE_EXP 126 /* the search for the scale stops here */
#define RAND_CHUNK 256u    /* random words drawn per CSPRNG call */

static uint32_t ring_mask(unsigned bits)
{
	return bits == 32 ? UINT32_MAX : ((UINT32_C(1) << bits) - 1);
}

/* Does the budget hold: m * ceil(clip * scale) <= 2^(bits-1) - 1 ? Every
 * product of integers below 2^53 is exact in a double, and anything larger
 * fails the comparison anyway. */
static int fits(double clip, double scale, unsigned bits, uint32_t m)
{
	double b = ceil(clip * scale);
	double limit = ldexp(1.0, (int)bits - 1) - 1.0;

	return isfinite(b) && (double)m * b <= limit;
}

/* Parameters as ft_crypto_fxp_init would leave them: a hand-made or
 * corrupted struct is refused rather than allowed to wrap. */
static int check(const ft_crypto_fxp *p)
{
	int e = 0;

	if (p == NULL || !isfinite(p->clip) || p->clip <= 0 || p->bits < 16 || p->bits > 32 ||
	    p->max_summands == 0 || !isfinite(p->scale) || p->scale < 1.0)
		return FT_EINVAL;
	if (frexp(p->scale, &e) != 0.5) /* a power of two */
		return FT_EINVAL;
	if (!fits(p->clip, p->scale, p->bits, p->max_summands))
		return FT_ERANGE;
	return FT_OK;
}

int ft_crypto_fxp_init(ft_crypto_fxp *p, double clip, unsigned bits, uint32_t max_summands)
{
	int k = 0;

	if (p == NULL || !isfinite(clip) || clip <= 0 || bits < 16 || bits > 32 ||
	    max_summands == 0)
		return FT_EINVAL;
	if (!fits(clip, 1.0, bits, max_summands))
		return FT_ERANGE;
	while (k < MAX_SCALE_EXP && fits(clip, ldexp(1.0, k + 1), bits, max_summands))
		k++;
	p->clip = clip;
	p->scale = ldexp(1.0, k);
	p->bits = bits;
	p->max_summands = max_summands;
	return FT_OK;
}

int ft_crypto_fxp_encode(const ft_crypto_fxp *p, const float *in, size_t n, uint32_t *out)
{
	uint64_t r[RAND_CHUNK];
	uint32_t m;
	int rv;

	rv = check(p);
	if (rv != FT_OK)
		return rv;
	if (n > 0 && (in == NULL || out == NULL))
		return FT_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!isfinite(in[i]))
			return FT_EINVAL;
	m = ring_mask(p->bits);

	for (size_t base = 0; base < n; base += RAND_CHUNK) {
		size_t len = n - base < RAND_CHUNK ? n - base : RAND_CHUNK;

		randombytes_buf(r, len * sizeof(r[0]));
		for (size_t i = 0; i < len; i++) {
			double v = (double)in[base + i];
			double fl, frac, u;
			int64_t q;

			v = v > p->clip ? p->clip : v < -p->clip ? -p->clip : v;
			v *= p->scale;
			fl = floor(v);
			frac = v - fl;
			u = (double)(r[i] >> 11) * 0x1p-53; /* uniform in [0, 1) */
			q = (int64_t)fl + (u < frac);
			out[base + i] = (uint32_t)(uint64_t)q & m;
		}
	}
	sodium_memzero(r, sizeof(r));
	return FT_OK;
}

int ft_crypto_fxp_decode(const ft_crypto_fxp *p, const uint32_t *in, size_t n, uint32_t summands,
                         float *out)
{
	uint32_t m;
	int64_t bound, half;
	int rv;

	rv = check(p);
	if (rv != FT_OK)
		return rv;
	if (n > 0 && (in == NULL || out == NULL))
		return FT_EINVAL;
	if (summands == 0)
		return FT_EINVAL;
	if (summands > p->max_summands)
		return FT_ERANGE;
	m = ring_mask(p->bits);
	half = INT64_C(1) << (p->bits - 1);
	bound = (int64_t)summands * (int64_t)ceil(p->clip * p->scale);

	/* Check everything before writing anything. */
	for (size_t i = 0; i < n; i++) {
		int64_t v = (int64_t)in[i];

		if ((in[i] & ~m) != 0)
			return FT_ERANGE;
		if (v >= half)
			v -= 2 * half;
		if (v > bound || v < -bound)
			return FT_ERANGE;
	}
	for (size_t i = 0; i < n; i++) {
		int64_t v = (int64_t)in[i];

		if (v >= half)
			v -= 2 * half;
		out[i] = (float)((double)v / p->scale);
	}
	return FT_OK;
}
