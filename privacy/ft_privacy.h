/*
 * ft_privacy.h - differential privacy for fedtwin: the exact discrete
 * Gaussian noise sampler and the Renyi-DP accountant of the Poisson-subsampled
 * Gaussian mechanism, with noise calibration.
 *
 * Knows only base and crypto. The models module (DP-SGD) and the node build on
 * it. The privacy unit is the patient: sampling rates, clipping and
 * accounting all refer to patients, never to rows (docs/PRIVACY.md).
 *
 * Conventions: functions return FT_OK or an ft_err code; outputs are written
 * only on FT_OK. Every function is thread-safe and may be called from any
 * thread once ft_crypto_init() has returned FT_OK (the sampler draws from
 * libsodium's CSPRNG); accountant objects are not internally locked.
 */
#ifndef FT_PRIVACY_H
#define FT_PRIVACY_H

#include <stddef.h>
#include <stdint.h>

#include "ft_base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Discrete Gaussian noise ------------------------------------------- */

/* Largest integer sigma ft_privacy_dgauss_sample() accepts. Keeps every
 * intermediate of the exact rational arithmetic inside 128 bits. */
#define FT_PRIVACY_DGAUSS_SIGMA_MAX ((uint64_t)1 << 24)

/*
 * Resolution of the float noise grid: ft_privacy_noise_add() works on the
 * grid g = 2^(floor(log2 sigma) - FT_PRIVACY_GRID_BITS), on which sigma spans
 * between 2^20 and 2^21 grid steps.
 */
#define FT_PRIVACY_GRID_BITS 20

/* Accepted range of the float noise standard deviation. */
#define FT_PRIVACY_SIGMA_MIN 0x1p-64
#define FT_PRIVACY_SIGMA_MAX 0x1p64

/*
 * Draws n independent samples of the discrete Gaussian N_Z(0, sigma^2) on the
 * integers (P[x] proportional to exp(-x^2 / (2 sigma^2))), with the exact
 * rejection sampler of Canonne, Kamath and Steinke 2020 (Algorithms 1-3) in
 * integer arithmetic, fed by libsodium's CSPRNG. 1 <= sigma <=
 * FT_PRIVACY_DGAUSS_SIGMA_MAX, else FT_EINVAL. n may be 0; out has n entries.
 * Every loop is capped; a cap is reached with probability below 2^-128 per
 * sample and then the call fails with FT_EINTERNAL (it never returns a biased
 * sample). On FT_EINVAL out is untouched; after FT_EINTERNAL its contents are
 * unspecified and must be discarded. Samples satisfy
 * |x| < (sigma + 1) * 4096. Thread-safe; allocates nothing.
 */
int ft_privacy_dgauss_fill(uint64_t sigma, int64_t *out, size_t n) FT_WARN_UNUSED;

/* One sample of ft_privacy_dgauss_fill() (same rules). */
int ft_privacy_dgauss_sample(uint64_t sigma, int64_t *out) FT_WARN_UNUSED;

/*
 * The grid ft_privacy_noise_add() uses for `sigma`: the step *grid (a power
 * of two) and the integer discrete-Gaussian parameter *units =
 * ceil(sigma / *grid), so that the noise actually added has parameter
 * *units * *grid, in [sigma, sigma * (1 + 2^-20)]. FT_EINVAL unless sigma is
 * finite and in [FT_PRIVACY_SIGMA_MIN, FT_PRIVACY_SIGMA_MAX].
 */
int ft_privacy_noise_grid(double sigma, double *grid, uint64_t *units) FT_WARN_UNUSED;

/*
 * Adds independent discrete-Gaussian noise of standard deviation sigma to
 * each of v[0..n), in place: each v[i] is first rounded to the nearest
 * multiple of the grid g of ft_privacy_noise_grid() (ties to even), then
 * g * Z with Z ~ N_Z(0, units^2) is added exactly in integer arithmetic, and
 * the exact result is rounded once to float. The rounding to the grid moves
 * each coordinate by at most g/2, so the L2 sensitivity of the rounded
 * vector grows by at most sqrt(n) * g <= sqrt(n) * sigma * 2^-20 (see
 * docs/PRIVACY.md).
 *
 * sigma = 0 is refused (FT_EINVAL): a node never adds "no noise" by
 * accident; callers that train without privacy do not call this. FT_EINVAL
 * also for NaN, infinite or negative sigma or sigma outside
 * [FT_PRIVACY_SIGMA_MIN, FT_PRIVACY_SIGMA_MAX], or v == NULL with n > 0;
 * FT_ERANGE if some v[i] is not finite or |v[i]| >= 2^41 * sigma (the noise
 * would be lost to float rounding); FT_EINTERNAL as for
 * ft_privacy_dgauss_fill(). On FT_EINVAL and FT_ERANGE v is left unchanged;
 * after FT_EINTERNAL its contents are unspecified and must be discarded.
 * Thread-safe; allocates nothing.
 */
int ft_privacy_noise_add(float *v, size_t n, double sigma) FT_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif /* FT_PRIVACY_H */
