/*
 * ft_model_stats.c - the encodings of a round that sites and the server
 * must agree on: fixed-point parameters of site updates and of the
 * federated standardisation vectors, their sensitivity to one patient,
 * and the decoding of the summed noisy statistics into means and variances.
 */
#include <math.h>

#include "ft_model.h"

int ft_model_update_fxp_init(ft_crypto_fxp *fxp, double update_clip, int weighted,
                             unsigned bits, uint32_t n_sites)
{
	double clip;

	if (fxp == NULL || !isfinite(update_clip) || !(update_clip > 0))
		return FT_EINVAL;
	clip = update_clip;
	/* The weight (at most 1) rides in the same vector and must not be
	 * clipped either. */
	if (weighted && clip < 1.0)
		clip = 1.0;
	return ft_crypto_fxp_init(fxp, clip, bits, n_sites);
}

size_t ft_model_stats_len(size_t n_features)
{
	return 2 * n_features + 1;
}

double ft_model_stats_sensitivity(size_t n_features)
{
	/* Per feature, u^2 + (u^2 - 1/2)^2 <= 5/4 for u in [-1, 1]; the
	 * count adds 1. */
	return sqrt(1.25 * (double)n_features + 1.0);
}

int ft_model_stats_fxp_init(ft_crypto_fxp *fxp, uint64_t max_rows, unsigned bits,
                            uint32_t n_sites)
{
	if (fxp == NULL || max_rows == 0 || max_rows > ((uint64_t)1 << 40))
		return FT_EINVAL;
	return ft_crypto_fxp_init(fxp, (double)max_rows, bits, n_sites);
}

int ft_model_stats_finish(const float *sum, size_t len, size_t n_features, const double *lo,
                          const double *hi, double *mean, double *var, uint64_t *count)
{
	double n;

	if (sum == NULL || lo == NULL || hi == NULL || mean == NULL || var == NULL ||
	    len != ft_model_stats_len(n_features))
		return FT_EINVAL;
	for (size_t i = 0; i < len; i++)
		if (!isfinite(sum[i]))
			return FT_EINVAL;
	for (size_t j = 0; j < n_features; j++)
		if (!isfinite(lo[j]) || !isfinite(hi[j]) || !(lo[j] < hi[j]))
			return FT_EINVAL;
	/* Noise can take the count below 1. Failing would fail every retry too
	 * (sites re-send their kept vectors): post-processing clamps it, and
	 * the moments below are clamped to what values in range allow. */
	n = nearbyint((double)sum[2 * n_features]);
	if (!(n >= 1))
		n = 1;
	for (size_t j = 0; j < n_features; j++) {
		double m = (double)sum[j] / n, e2 = (double)sum[n_features + j] / n + 0.5;
		double mid = 0.5 * (lo[j] + hi[j]), half = 0.5 * (hi[j] - lo[j]), v;

		/* Noise can carry the moments of u outside what values in
		 * [-1, 1] allow; post-processing brings them back. */
		m = fmin(fmax(m, -1.0), 1.0);
		v = e2 - m * m;
		v = fmin(fmax(v, FT_MODEL_STATS_VAR_FLOOR), 1.0);
		mean[j] = mid + m * half;
		var[j] = v * half * half;
	}
	if (count != NULL)
		*count = (uint64_t)n;
	return FT_OK;
}
