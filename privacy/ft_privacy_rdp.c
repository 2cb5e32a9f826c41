/*
 * ft_privacy_rdp.c - the Renyi-DP accountant of the Poisson-subsampled
 * Gaussian mechanism (Mironov, Talwar and Zhang 2019, "Renyi Differential
 * Privacy of the Sampled Gaussian Mechanism"), the conversion to
 * (epsilon, delta)-DP of Balle et al. 2020, noise calibration, and the
 * accountant object with its encoding.
 *
 * The formulas follow Google's dp_accounting and Opacus so that budgets
 * computed here agree with what those libraries report (docs/PRIVACY.md says
 * to what tolerance); all sums are kept in log space because A_alpha
 * overflows a double long before the RDP it yields does.
 */
#include "privacy_int.h"

#include <math.h>
#include <string.h>

static double log_add(double a, double b)
{
	double lo = a < b ? a : b, hi = a < b ? b : a;

	if (lo == -INFINITY)
		return hi;
	return hi + log1p(exp(lo - hi));
}

/* log(exp(a) - exp(b)) for a >= b; NaN if a < b (the caller treats it as a
 * failed series). */
static double log_sub(double a, double b)
{
	if (b == -INFINITY)
		return a;
	if (a < b)
		return NAN;
	if (a == b)
		return -INFINITY;
	return a + log1p(-exp(b - a));
}

/*
 * log(erfc(x)), accurate where erfc underflows: for x > 25 the asymptotic
 * series erfc(x) = exp(-x^2) / (x sqrt(pi)) * (1 - 1/(2x^2) + 3/(4x^4) - ...)
 * whose terms after the sixth are below 1e-17 there.
 */
static double log_erfc(double x)
{
	double r, t, sum;

	if (x <= 25)
		return log(erfc(x));
	r = 1 / (2 * x * x);
	t = 1;
	sum = 1;
	for (int k = 1; k <= 8; k++) {
		t *= -(2 * k - 1) * r;
		sum += t;
	}
	return -x * x - log(x) - 0.5 * log(M_PI) + log(sum);
}

/*
 * log(A_alpha) for integer alpha >= 2, 0 < q < 1: the binomial expansion
 * A = sum_i C(alpha, i) q^i (1-q)^(alpha-i) exp((i^2 - i) / (2 sigma^2)).
 * The binomial weights sum to 1 and the i = 0, 1 terms have exponent 0, so
 * A - 1 = sum_{i>=2} C(alpha, i) q^i (1-q)^(alpha-i) expm1((i^2 - i) / (2 sigma^2))
 * is summed instead and log(A) = log1p(A - 1) keeps full relative precision
 * when the RDP is tiny (small q, large sigma).
 */
static double log_a_int(double q, double sigma, uint64_t alpha)
{
	double log_am1 = -INFINITY, log_c = log((double)alpha); /* log C(alpha, 1) */
	double lq = log(q), l1q = log1p(-q), s2 = 2 * sigma * sigma;

	for (uint64_t i = 2; i <= alpha; i++) {
		double di = (double)i, x = (di * di - di) / s2;
		double log_expm1 = x > 40 ? x + log1p(-exp(-x)) : log(expm1(x));

		log_c += log((double)(alpha - i + 1)) - log(di);
		log_am1 = log_add(log_am1, log_c + di * lq + (double)(alpha - i) * l1q + log_expm1);
	}
	return log_add(0, log_am1);
}

/*
 * log(A_alpha) for fractional alpha, 0 < q < 1: MTZ19 section 3.3 splits the
 * integral at z0 = sigma^2 log(1/q - 1) + 1/2 and expands each part in a
 * binomial series whose terms carry the sign of C(alpha, i). Summed until
 * both terms decrease and lie 30 nats below the total; +INFINITY if that
 * does not happen within FT_PRIVACY_FRAC_TERMS terms or the partial sums
 * lose their sign, so that the order is never chosen.
 */
static double log_a_frac(double q, double sigma, double alpha)
{
	double a0 = -INFINITY, a1 = -INFINITY, last0 = -INFINITY, last1 = -INFINITY;
	double z0 = sigma * sigma * log(1 / q - 1) + 0.5;
	double lq = log(q), l1q = log1p(-q), s2 = 2 * sigma * sigma;
	double rs = sqrt(2.0) * sigma;
	double log_c = 0; /* log |C(alpha, i)| */
	int pos = 1;      /* sign of C(alpha, i) */

	for (unsigned k = 0; k < FT_PRIVACY_FRAC_TERMS; k++) {
		double i = (double)k, j = alpha - i;
		double t0, t1, s0, s1, total;

		if (k > 0) {
			double f = alpha - i + 1;

			log_c += log(fabs(f)) - log(i);
			if (f < 0)
				pos = !pos;
		}
		t0 = log_c + i * lq + j * l1q;
		t1 = log_c + j * lq + i * l1q;
		s0 = t0 + (i * i - i) / s2 + log(0.5) + log_erfc((i - z0) / rs);
		s1 = t1 + (j * j - j) / s2 + log(0.5) + log_erfc((z0 - j) / rs);
		if (pos) {
			a0 = log_add(a0, s0);
			a1 = log_add(a1, s1);
		} else {
			a0 = log_sub(a0, s0);
			a1 = log_sub(a1, s1);
		}
		if (isnan(a0) || isnan(a1))
			return INFINITY;
		total = log_add(a0, a1);
		if (s0 < last0 && s1 < last1 && (s0 > s1 ? s0 : s1) < total - 30)
			return total;
		last0 = s0;
		last1 = s1;
	}
	return INFINITY;
}

static int order_valid(double a)
{
	if (isnan(a) || !(a > 1))
		return 0;
	if (isinf(a))
		return 1;
	return !(a == floor(a) && a > FT_PRIVACY_ORDER_INT_MAX);
}

int ft_privacy_check_orders_(const double *orders, size_t n)
{
	if (orders == NULL || n == 0 || n > FT_PRIVACY_MAX_ORDERS)
		return FT_EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!order_valid(orders[i]))
			return FT_EINVAL;
	}
	return FT_OK;
}

/* RDP of one step at one order. */
static double rdp_one(double q, double sigma, double alpha)
{
	if (q == 0)
		return 0;
	if (sigma == 0 || isinf(alpha))
		return INFINITY;
	if (q == 1)
		return alpha / (2 * sigma * sigma);
	if (alpha == floor(alpha))
		return log_a_int(q, sigma, (uint64_t)alpha) / (alpha - 1);
	return log_a_frac(q, sigma, alpha) / (alpha - 1);
}

/*
 * Opacus's DEFAULT_ALPHAS, [1 + x / 10.0 for x in range(1, 100)] +
 * list(range(12, 64)), written as the same floating-point expressions (the
 * compiler folds them with the same IEEE rounding) so that the orders are
 * bit-identical: 1 + 10 / 10.0 is exactly 2.0 and takes the integer formula,
 * as in Opacus. A constant table: no initialisation race between threads.
 */
static const double default_orders[FT_PRIVACY_DEFAULT_ORDERS] = {
	1 + 1 / 10.0, 1 + 2 / 10.0, 1 + 3 / 10.0, 1 + 4 / 10.0, 1 + 5 / 10.0, 1 + 6 / 10.0,
	1 + 7 / 10.0, 1 + 8 / 10.0, 1 + 9 / 10.0, 1 + 10 / 10.0, 1 + 11 / 10.0, 1 + 12 / 10.0,
	1 + 13 / 10.0, 1 + 14 / 10.0, 1 + 15 / 10.0, 1 + 16 / 10.0, 1 + 17 / 10.0, 1 + 18 / 10.0,
	1 + 19 / 10.0, 1 + 20 / 10.0, 1 + 21 / 10.0, 1 + 22 / 10.0, 1 + 23 / 10.0, 1 + 24 / 10.0,
	1 + 25 / 10.0, 1 + 26 / 10.0, 1 + 27 / 10.0, 1 + 28 / 10.0, 1 + 29 / 10.0, 1 + 30 / 10.0,
	1 + 31 / 10.0, 1 + 32 / 10.0, 1 + 33 / 10.0, 1 + 34 / 10.0, 1 + 35 / 10.0, 1 + 36 / 10.0,
	1 + 37 / 10.0, 1 + 38 / 10.0, 1 + 39 / 10.0, 1 + 40 / 10.0, 1 + 41 / 10.0, 1 + 42 / 10.0,
	1 + 43 / 10.0, 1 + 44 / 10.0, 1 + 45 / 10.0, 1 + 46 / 10.0, 1 + 47 / 10.0, 1 + 48 / 10.0,
	1 + 49 / 10.0, 1 + 50 / 10.0, 1 + 51 / 10.0, 1 + 52 / 10.0, 1 + 53 / 10.0, 1 + 54 / 10.0,
	1 + 55 / 10.0, 1 + 56 / 10.0, 1 + 57 / 10.0, 1 + 58 / 10.0, 1 + 59 / 10.0, 1 + 60 / 10.0,
	1 + 61 / 10.0, 1 + 62 / 10.0, 1 + 63 / 10.0, 1 + 64 / 10.0, 1 + 65 / 10.0, 1 + 66 / 10.0,
	1 + 67 / 10.0, 1 + 68 / 10.0, 1 + 69 / 10.0, 1 + 70 / 10.0, 1 + 71 / 10.0, 1 + 72 / 10.0,
	1 + 73 / 10.0, 1 + 74 / 10.0, 1 + 75 / 10.0, 1 + 76 / 10.0, 1 + 77 / 10.0, 1 + 78 / 10.0,
	1 + 79 / 10.0, 1 + 80 / 10.0, 1 + 81 / 10.0, 1 + 82 / 10.0, 1 + 83 / 10.0, 1 + 84 / 10.0,
	1 + 85 / 10.0, 1 + 86 / 10.0, 1 + 87 / 10.0, 1 + 88 / 10.0, 1 + 89 / 10.0, 1 + 90 / 10.0,
	1 + 91 / 10.0, 1 + 92 / 10.0, 1 + 93 / 10.0, 1 + 94 / 10.0, 1 + 95 / 10.0, 1 + 96 / 10.0,
	1 + 97 / 10.0, 1 + 98 / 10.0, 1 + 99 / 10.0, 12, 13, 14,
	15, 16, 17, 18, 19, 20,
	21, 22, 23, 24, 25, 26,
	27, 28, 29, 30, 31, 32,
	33, 34, 35, 36, 37, 38,
	39, 40, 41, 42, 43, 44,
	45, 46, 47, 48, 49, 50,
	51, 52, 53, 54, 55, 56,
	57, 58, 59, 60, 61, 62,
	63,
};

const double *ft_privacy_default_orders(void)
{
	return default_orders;
}

/* Resolves (orders, n) to the default set when both are empty. */
static int resolve_orders(const double **orders, size_t *n)
{
	if (*orders == NULL && *n == 0) {
		*orders = ft_privacy_default_orders();
		*n = FT_PRIVACY_DEFAULT_ORDERS;
	}
	return ft_privacy_check_orders_(*orders, *n);
}

static int check_mech(double q, double sigma)
{
	if (!(q >= 0 && q <= 1) || !(sigma >= 0) || isinf(sigma))
		return FT_EINVAL;
	return FT_OK;
}

int ft_privacy_rdp(double q, double sigma, uint64_t steps, const double *orders,
                   size_t n_orders, double *rdp_out)
{
	int rv;

	rv = resolve_orders(&orders, &n_orders);
	if (rv != FT_OK)
		return rv;
	rv = check_mech(q, sigma);
	if (rv != FT_OK || rdp_out == NULL)
		return FT_EINVAL;
	for (size_t i = 0; i < n_orders; i++) {
		double r = steps == 0 ? 0 : rdp_one(q, sigma, orders[i]);

		/* Rounding can leave a hair below 0 when q is tiny. */
		rdp_out[i] = r < 0 ? 0 : r * (double)steps;
	}
	return FT_OK;
}

int ft_privacy_rdp_to_epsilon(const double *orders, const double *rdp, size_t n_orders,
                              double delta, double *eps, double *order)
{
	double best = INFINITY, best_order;
	size_t bi = 0;
	int rv;

	rv = ft_privacy_check_orders_(orders, n_orders);
	if (rv != FT_OK || rdp == NULL || eps == NULL || order == NULL)
		return FT_EINVAL;
	if (!(delta > 0 && delta < 1))
		return FT_EINVAL;
	for (size_t i = 0; i < n_orders; i++) {
		double a = orders[i], r = rdp[i], e;

		if (isnan(r) || r < 0)
			return FT_EINVAL;
		if (delta * delta + expm1(-r) > 0)
			e = 0; /* delta <= sqrt(1 - exp(-KL)) */
		else if (a > 1.01 && !isinf(a) && !isinf(r))
			e = r + log1p(-1 / a) - log(delta * a) / (a - 1);
		else
			e = INFINITY;
		if (e < best) {
			best = e;
			bi = i;
		}
	}
	best_order = orders[bi];
	*eps = best < 0 ? 0 : best;
	*order = best_order;
	return FT_OK;
}

int ft_privacy_epsilon(double q, double sigma, uint64_t steps, double delta,
                       const double *orders, size_t n_orders, double *eps, double *order)
{
	double *rdp = NULL;
	int rv;

	rv = resolve_orders(&orders, &n_orders);
	if (rv != FT_OK)
		return rv;
	rdp = ft_mallocarray(n_orders, sizeof(*rdp));
	if (rdp == NULL)
		return FT_ENOMEM;
	rv = ft_privacy_rdp(q, sigma, steps, orders, n_orders, rdp);
	if (rv != FT_OK)
		goto out;
	rv = ft_privacy_rdp_to_epsilon(orders, rdp, n_orders, delta, eps, order);
out:
	ft_free(rdp);
	return rv;
}

/* 1 if sigma meets (target, delta), 0 if not, or an error (< 0 never: errors
 * are returned through *rv). */
static int feasible(double sigma, double target, double delta, double q, uint64_t steps,
                    const double *orders, size_t n, double *rdp, int *rv)
{
	double eps = 0, order = 0;

	*rv = ft_privacy_rdp(q, sigma, steps, orders, n, rdp);
	if (*rv == FT_OK)
		*rv = ft_privacy_rdp_to_epsilon(orders, rdp, n, delta, &eps, &order);
	return *rv == FT_OK && eps <= target;
}

int ft_privacy_calibrate_sigma(double target_eps, double delta, double q, uint64_t steps,
                               const double *orders, size_t n_orders, double *sigma)
{
	double lo = FT_PRIVACY_CALIB_SIGMA_MIN, hi = FT_PRIVACY_CALIB_SIGMA_MAX;
	double *rdp = NULL;
	int rv = FT_OK;

	if (!(target_eps > 0) || isinf(target_eps) || !(delta > 0 && delta < 1) ||
	    !(q > 0 && q <= 1) || steps == 0 || sigma == NULL)
		return FT_EINVAL;
	rv = resolve_orders(&orders, &n_orders);
	if (rv != FT_OK)
		return rv;
	rdp = ft_mallocarray(n_orders, sizeof(*rdp));
	if (rdp == NULL)
		return FT_ENOMEM;
	/* Epsilon falls as sigma grows (RDP does at every order), so the
	 * feasible set is an interval [sigma*, inf): keep lo infeasible and
	 * hi feasible and halve the gap. */
	if (!feasible(hi, target_eps, delta, q, steps, orders, n_orders, rdp, &rv)) {
		if (rv == FT_OK)
			rv = FT_ERANGE;
		goto out;
	}
	if (feasible(lo, target_eps, delta, q, steps, orders, n_orders, rdp, &rv) ||
	    rv != FT_OK) {
		if (rv == FT_OK)
			rv = FT_ERANGE;
		goto out;
	}
	while (hi - lo > FT_PRIVACY_CALIB_RTOL * hi) {
		/* The geometric mean halves the ratio hi/lo, which matters
		 * while the bracket spans decades. */
		double mid = hi / lo > 4 ? sqrt(hi * lo) : 0.5 * (hi + lo);

		if (feasible(mid, target_eps, delta, q, steps, orders, n_orders, rdp, &rv))
			hi = mid;
		else if (rv != FT_OK)
			goto out;
		else
			lo = mid;
	}
	*sigma = hi;
out:
	ft_free(rdp);
	return rv;
}

/* ---- The accountant object ---------------------------------------------- */

static int accountant_new(size_t n, ft_privacy_accountant **out)
{
	ft_privacy_accountant *acc = NULL;

	acc = ft_calloc(1, sizeof(*acc));
	if (acc == NULL)
		return FT_ENOMEM;
	acc->orders = ft_mallocarray(n, sizeof(double));
	acc->rdp = ft_calloc(n, sizeof(double));
	if (acc->orders == NULL || acc->rdp == NULL) {
		ft_privacy_accountant_free(acc);
		return FT_ENOMEM;
	}
	acc->n = n;
	*out = acc;
	return FT_OK;
}

int ft_privacy_accountant_alloc(const double *orders, size_t n_orders,
                                ft_privacy_accountant **out)
{
	ft_privacy_accountant *acc = NULL;
	int rv;

	if (out == NULL)
		return FT_EINVAL;
	rv = resolve_orders(&orders, &n_orders);
	if (rv != FT_OK)
		return rv;
	rv = accountant_new(n_orders, &acc);
	if (rv != FT_OK)
		return rv;
	memcpy(acc->orders, orders, n_orders * sizeof(double));
	*out = acc;
	return FT_OK;
}

void ft_privacy_accountant_free(ft_privacy_accountant *acc)
{
	if (acc == NULL)
		return;
	ft_free(acc->orders);
	ft_free(acc->rdp);
	ft_free(acc);
}

int ft_privacy_accountant_add(ft_privacy_accountant *acc, double q, double sigma,
                              uint64_t steps)
{
	double *step = NULL;
	int rv;

	if (acc == NULL)
		return FT_EINVAL;
	step = ft_mallocarray(acc->n, sizeof(*step));
	if (step == NULL)
		return FT_ENOMEM;
	rv = ft_privacy_rdp(q, sigma, steps, acc->orders, acc->n, step);
	if (rv != FT_OK)
		goto out;
	for (size_t i = 0; i < acc->n; i++)
		acc->rdp[i] += step[i];
out:
	ft_free(step);
	return rv;
}

int ft_privacy_accountant_epsilon(const ft_privacy_accountant *acc, double delta,
                                  double *eps, double *order)
{
	if (acc == NULL)
		return FT_EINVAL;
	return ft_privacy_rdp_to_epsilon(acc->orders, acc->rdp, acc->n, delta, eps, order);
}

size_t ft_privacy_accountant_orders(const ft_privacy_accountant *acc, const double **orders,
                                    const double **rdp)
{
	if (acc == NULL)
		return 0;
	if (orders != NULL)
		*orders = acc->orders;
	if (rdp != NULL)
		*rdp = acc->rdp;
	return acc->n;
}

#define ENC_MAGIC "FTRA"
#define ENC_VERSION 1u
#define ENC_HEADER 12u

static void store_f64(uint8_t *p, double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	ft_put_le64(p, u);
}

static double load_f64(const uint8_t *p)
{
	uint64_t u = ft_get_le64(p);
	double d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

size_t ft_privacy_accountant_encoded_size(const ft_privacy_accountant *acc)
{
	if (acc == NULL)
		return 0;
	return ENC_HEADER + 16u * acc->n;
}

int ft_privacy_accountant_encode(const ft_privacy_accountant *acc, uint8_t *buf, size_t cap,
                                 size_t *len)
{
	size_t need;

	if (acc == NULL || buf == NULL || len == NULL)
		return FT_EINVAL;
	need = ft_privacy_accountant_encoded_size(acc);
	if (cap < need)
		return FT_ERANGE;
	memcpy(buf, ENC_MAGIC, 4);
	buf[4] = ENC_VERSION;
	buf[5] = buf[6] = buf[7] = 0;
	ft_put_le32(buf + 8, (uint32_t)acc->n);
	for (size_t i = 0; i < acc->n; i++) {
		store_f64(buf + ENC_HEADER + 16 * i, acc->orders[i]);
		store_f64(buf + ENC_HEADER + 16 * i + 8, acc->rdp[i]);
	}
	*len = need;
	return FT_OK;
}

int ft_privacy_accountant_decode(const uint8_t *buf, size_t len, ft_privacy_accountant **out)
{
	ft_privacy_accountant *acc = NULL;
	uint32_t n;
	int rv;

	if (buf == NULL || out == NULL)
		return FT_EINVAL;
	if (len < ENC_HEADER || memcmp(buf, ENC_MAGIC, 4) != 0 || buf[4] != ENC_VERSION ||
	    buf[5] != 0 || buf[6] != 0 || buf[7] != 0)
		return FT_EFORMAT;
	n = ft_get_le32(buf + 8);
	/* Limits before allocating: the count must match the bytes present. */
	if (n == 0 || n > FT_PRIVACY_MAX_ORDERS || (len - ENC_HEADER) / 16 != n ||
	    (len - ENC_HEADER) % 16 != 0)
		return FT_EFORMAT;
	rv = accountant_new(n, &acc);
	if (rv != FT_OK)
		return rv;
	for (size_t i = 0; i < n; i++) {
		double a = load_f64(buf + ENC_HEADER + 16 * i);
		double r = load_f64(buf + ENC_HEADER + 16 * i + 8);

		if (!order_valid(a) || isnan(r) || r < 0) {
			ft_privacy_accountant_free(acc);
			return FT_EFORMAT;
		}
		acc->orders[i] = a;
		acc->rdp[i] = r;
	}
	*out = acc;
	return FT_OK;
}
