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

/*
 * The noise multiplier to account for when DP-SGD adds
 * ft_privacy_noise_add(v, n, z * C) to a sum of gradients clipped to L2 norm
 * C: rounding to the grid raises the sensitivity to at most
 * C * (1 + z * sqrt(n) * 2^-20), so *z_eff = z / (1 + z * sqrt(n) * 2^-20)
 * (rounded down), slightly below z (1.1 -> 1.09964 for n = 100000).
 * FT_EINVAL unless z is finite and > 0.
 */
int ft_privacy_noise_multiplier_effective(double z, size_t n, double *z_eff) FT_WARN_UNUSED;

/*
 * The inverse: the multiplier to pass to ft_privacy_noise_add (times C) so
 * that the accounted multiplier is at least z, *z_add = z / (1 - z * sqrt(n)
 * * 2^-20) (rounded up). Use it after ft_privacy_calibrate_sigma. FT_EINVAL
 * unless z is finite and > 0; FT_ERANGE if z * sqrt(n) * 2^-20 >= 1/2 (the
 * grid would be too coarse for the vector: more than 2^40 parameters at
 * z = 1).
 */
int ft_privacy_noise_multiplier_required(double z, size_t n, double *z_add) FT_WARN_UNUSED;

/* ---- Renyi-DP accountant of the Poisson-subsampled Gaussian ------------ */

/*
 * Orders: every order is > 1 (finite, or +INFINITY, whose RDP is infinite
 * unless q = 0). Passing orders == NULL and n_orders == 0 selects the default
 * set, Opacus's DEFAULT_ALPHAS: 1 + x/10 for x = 1..99, then 12..63
 * (FT_PRIVACY_DEFAULT_ORDERS orders). At most FT_PRIVACY_MAX_ORDERS orders.
 * Integer orders use the exact binomial sum in log space; fractional orders
 * use the two-series formula of Mironov, Talwar and Zhang 2019 (section
 * 3.3), summed until the terms fall 30 nats below the total, for at most
 * FT_PRIVACY_FRAC_TERMS terms (an order that does not converge gets RDP
 * +INFINITY, so it is never the optimal one).
 */
#define FT_PRIVACY_DEFAULT_ORDERS 151u
#define FT_PRIVACY_MAX_ORDERS 200000u
#define FT_PRIVACY_FRAC_TERMS 100000u
#define FT_PRIVACY_ORDER_INT_MAX 1e7 /* integer orders above this: FT_EINVAL */

/* The default order set (a static array of FT_PRIVACY_DEFAULT_ORDERS
 * entries, valid for the life of the program). */
const double *ft_privacy_default_orders(void);

/*
 * RDP of `steps` compositions of the Poisson-subsampled Gaussian mechanism
 * with sampling rate q in [0, 1] and noise multiplier sigma >= 0 (noise
 * standard deviation over L2 sensitivity), at each order: rdp_out[i] =
 * steps * log(A_alpha) / (alpha - 1). q = 0 or steps = 0 gives 0; sigma = 0
 * gives +INFINITY; q = 1 gives steps * alpha / (2 sigma^2). rdp_out has
 * n_orders entries (FT_PRIVACY_DEFAULT_ORDERS for the default set).
 * FT_EINVAL for NaN or out-of-range arguments or a bad order.
 */
int ft_privacy_rdp(double q, double sigma, uint64_t steps, const double *orders,
                   size_t n_orders, double *rdp_out) FT_WARN_UNUSED;

/*
 * Converts RDP to (epsilon, delta)-DP with the bound of Balle et al. 2020
 * (Proposition 12 of arXiv:2004.00010, as dp_accounting's compute_epsilon
 * and Opacus's get_privacy_spent use it):
 *   eps(alpha) = rdp - (log(delta) + log(alpha)) / (alpha - 1)
 *                + log((alpha - 1) / alpha),
 * minimised over the orders; like dp_accounting, orders <= 1.01 are skipped
 * (the bound is unstable there), eps is 0 at an order where
 * delta^2 > 1 - exp(-rdp) (the KL bound), and the result is clamped at 0.
 * 0 < delta < 1. *eps may be +INFINITY (then *order is the first order).
 * Ties go to the first order. Writes *eps and *order on FT_OK only.
 */
int ft_privacy_rdp_to_epsilon(const double *orders, const double *rdp, size_t n_orders,
                              double delta, double *eps, double *order) FT_WARN_UNUSED;

/* ft_privacy_rdp() then ft_privacy_rdp_to_epsilon() in one call. */
int ft_privacy_epsilon(double q, double sigma, uint64_t steps, double delta,
                       const double *orders, size_t n_orders, double *eps,
                       double *order) FT_WARN_UNUSED;

/*
 * Calibration: the smallest noise multiplier sigma for which `steps`
 * compositions at sampling rate q satisfy (target_eps, delta)-DP, found by
 * bisection on [FT_PRIVACY_CALIB_SIGMA_MIN, FT_PRIVACY_CALIB_SIGMA_MAX] to
 * relative width FT_PRIVACY_CALIB_RTOL. The feasible end is returned: *sigma
 * meets the target and *sigma * (1 - FT_PRIVACY_CALIB_RTOL) does not.
 * FT_EINVAL for bad arguments (also q = 0 or steps = 0: any sigma would do);
 * FT_ERANGE if even FT_PRIVACY_CALIB_SIGMA_MAX misses the target or
 * FT_PRIVACY_CALIB_SIGMA_MIN already meets it.
 */
#define FT_PRIVACY_CALIB_RTOL 1e-4
#define FT_PRIVACY_CALIB_SIGMA_MIN 1e-3
#define FT_PRIVACY_CALIB_SIGMA_MAX 1e4
int ft_privacy_calibrate_sigma(double target_eps, double delta, double q, uint64_t steps,
                               const double *orders, size_t n_orders,
                               double *sigma) FT_WARN_UNUSED;

/*
 * An accountant: the RDP curve of everything composed so far, at a fixed
 * order set. Composition is additive in RDP at each order, so each
 * (q, sigma, steps) event (DP-SGD steps of one round, further rounds) adds
 * its curve. Not internally locked.
 */
typedef struct ft_privacy_accountant ft_privacy_accountant;

/* Allocates an empty accountant over a copy of `orders` (NULL/0: the
 * default set). On FT_OK the caller owns *out (free with
 * ft_privacy_accountant_free). FT_EINVAL for a bad order set. */
int ft_privacy_accountant_alloc(const double *orders, size_t n_orders,
                                ft_privacy_accountant **out) FT_WARN_UNUSED;

/* Frees; accepts NULL. */
void ft_privacy_accountant_free(ft_privacy_accountant *acc);

/* Composes `steps` Poisson-subsampled Gaussian steps (arguments as for
 * ft_privacy_rdp). On error the accountant is unchanged. */
int ft_privacy_accountant_add(ft_privacy_accountant *acc, double q, double sigma,
                              uint64_t steps) FT_WARN_UNUSED;

/* Epsilon at `delta` of everything composed so far, and its optimal order
 * (as ft_privacy_rdp_to_epsilon). */
int ft_privacy_accountant_epsilon(const ft_privacy_accountant *acc, double delta,
                                  double *eps, double *order) FT_WARN_UNUSED;

/* The order set and current RDP curve (n entries each), valid until the
 * accountant is next changed or freed. Returns n (0 for acc == NULL). */
size_t ft_privacy_accountant_orders(const ft_privacy_accountant *acc, const double **orders,
                                    const double **rdp);

/*
 * Serialisation (docs/PRIVACY.md, "Accountant encoding"): "FTRA", version
 * byte 1, three zero bytes, uint32 n, then n pairs (order, rdp) as
 * little-endian IEEE-754 doubles: 12 + 16 n bytes.
 * _encoded_size gives that size (0 for NULL); _encode writes it to buf (cap bytes;
 * FT_ERANGE if too small) and sets *len.
 * _decode checks the whole input (exact length, n <= FT_PRIVACY_MAX_ORDERS
 * checked before allocating, valid orders, rdp >= 0 or +INFINITY, no NaN)
 * and returns FT_EFORMAT otherwise; on FT_OK the caller owns *out.
 */
size_t ft_privacy_accountant_encoded_size(const ft_privacy_accountant *acc);
int ft_privacy_accountant_encode(const ft_privacy_accountant *acc, uint8_t *buf, size_t cap,
                                 size_t *len) FT_WARN_UNUSED;
int ft_privacy_accountant_decode(const uint8_t *buf, size_t len,
                                 ft_privacy_accountant **out) FT_WARN_UNUSED;

/* ---- Command line ------------------------------------------------------- */

/*
 * `fedtwin privacy ...` (argv[0] is "privacy"):
 *   privacy epsilon --sampling-rate Q --noise-multiplier S --steps T
 *                   --delta D [--orders LIST] [--json]
 *   privacy sigma --epsilon E --delta D --sampling-rate Q --steps T
 *                 [--orders LIST] [--json]
 * Prints one line of key=value pairs (or one JSON object) on stdout.
 * Returns 0 on success, 2 for a usage error (message naming the bad option
 * on stderr), 1 for any other failure.
 */
int ft_privacy_cli_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif /* FT_PRIVACY_H */
