/*
 * ft_model_stats.c - the encodings of a round that sites and the server
 * must agree on: fixed-point parameters of site updates and of the
 * federated standardisation vectors, and the decoding of the summed
 * statistics into means and variances.
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

int ft_model_stats_fxp_init(ft_crypto_fxp *fxp, uint64_t max_rows, unsigned bits,
                            uint32_t n_sites)
{
	if (fxp == NULL || max_rows == 0 || max_rows > ((uint64_t)1 << 40))
		return FT_EINVAL;
	return ft_crypto_fxp_init(fxp, (double)max_rows, bits, n_sites);
}

int ft_model_stats_finish(const float *sum, size_t len, size_t n_features, const double *shift,
                         const double *scale, double bound, double *mean, double *var,
                         uint64_t *count)
{
	double n;

	if (sum == NULL || mean == NULL || var == NULL || len != ft_model_stats_len(n_features) ||
	    !isfinite(bound) || !(bound > 0))
		return FT_EINVAL;
	for (size_t i = 0; i < len; i++)
		if (!isfinite(sum[i]))
			return FT_EINVAL;
	n = nearbyint((double)sum[2 * n_features]);
	if (!(n >= 1))
		return FT_EINVAL;
	for (size_t j = 0; j < n_features; j++) {
		double m = (double)sum[j] / n, e2 = (double)sum[n_features + j] / n;
		double s = scale != NULL ? scale[j] : 1.0, a = shift != NULL ? shift[j] : 0.0;
		double v = e2 - m * m;

		mean[j] = a + m * bound * s;
		var[j] = v > 0 ? v * bound * bound * s * s : 0.0;
	}
	if (count != NULL)
		*count = (uint64_t)n;
	return FT_OK;
}
