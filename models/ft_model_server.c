/*
 * ft_model_server.c - server optimisers over the global parameter vector:
 * FedAvg, FedAdam, FedYogi and FedAdagrad (Reddi et al. 2021, Algorithm 2),
 * the mean update from a decoded secure sum, and the optimiser state as
 * bytes so a coordinator can persist it and resume after a crash.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "ft_model.h"

struct ft_model_server {
	ft_model_server_config cfg;
	size_t n;
	uint64_t rounds;
	double *m; /* first moment; NULL for FEDAVG */
	double *v; /* second moment; NULL for FEDAVG */
	double *scratch; /* the new parameters, committed only if all finite */
};

static const char *const server_names[] = {NULL, "fedavg", "fedadam", "fedyogi", "fedadagrad"};

static int server_adaptive(uint32_t kind)
{
	return kind != FT_MODEL_SERVER_FEDAVG;
}

int ft_model_server_config_default(ft_model_server_config *c, uint32_t kind)
{
	ft_model_server_config d;

	if (c == NULL || kind < FT_MODEL_SERVER_FEDAVG || kind > FT_MODEL_SERVER_FEDADAGRAD)
		return FT_EINVAL;
	memset(&d, 0, sizeof(d));
	d.kind = kind;
	d.lr = kind == FT_MODEL_SERVER_FEDAVG ? 1.0 : 0.1;
	d.beta1 = 0.9;
	d.beta2 = 0.99;
	d.tau = 1e-3;
	*c = d;
	return FT_OK;
}

int ft_model_server_kind_parse(const char *name, uint32_t *kind)
{
	if (name == NULL || kind == NULL)
		return FT_EINVAL;
	for (uint32_t k = FT_MODEL_SERVER_FEDAVG; k <= FT_MODEL_SERVER_FEDADAGRAD; k++) {
		if (strcmp(name, server_names[k]) == 0) {
			*kind = k;
			return FT_OK;
		}
	}
	return FT_EINVAL;
}

const char *ft_model_server_kind_name(uint32_t kind)
{
	if (kind < FT_MODEL_SERVER_FEDAVG || kind > FT_MODEL_SERVER_FEDADAGRAD)
		return "?";
	return server_names[kind];
}

static int server_config_check(const ft_model_server_config *c, ft_errmsg *err)
{
	if (c == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "server optimiser: no config");
	if (c->kind < FT_MODEL_SERVER_FEDAVG || c->kind > FT_MODEL_SERVER_FEDADAGRAD)
		return ft_errmsg_set(err, FT_EINVAL, "server optimiser: unknown kind %u", c->kind);
	if (!isfinite(c->lr) || !(c->lr > 0))
		return ft_errmsg_set(err, FT_EINVAL, "server optimiser: learning rate must be > 0");
	if (!server_adaptive(c->kind))
		return FT_OK;
	if (!(c->beta1 >= 0 && c->beta1 < 1))
		return ft_errmsg_set(err, FT_EINVAL, "server optimiser: beta1 must be in [0, 1)");
	if (!(c->beta2 >= 0 && c->beta2 < 1))
		return ft_errmsg_set(err, FT_EINVAL, "server optimiser: beta2 must be in [0, 1)");
	if (!isfinite(c->tau) || !(c->tau > 0))
		return ft_errmsg_set(err, FT_EINVAL, "server optimiser: tau must be > 0");
	return FT_OK;
}

/* Allocates the object and its vectors; m and v are left for the caller. */
static int server_new(const ft_model_server_config *cfg, size_t n, ft_model_server **out,
                      ft_errmsg *err)
{
	ft_model_server *s = NULL;
	int rv;

	rv = server_config_check(cfg, err);
	if (rv != FT_OK)
		return rv;
	if (n == 0 || n > FT_MODEL_MAX_PARAMS)
		return ft_errmsg_set(err, FT_ERANGE, "server optimiser: %zu parameters (1..%zu)", n,
		                     (size_t)FT_MODEL_MAX_PARAMS);
	s = ft_calloc(1, sizeof(*s));
	if (s == NULL)
		goto nomem;
	s->cfg = *cfg;
	s->n = n;
	s->scratch = ft_mallocarray(n, sizeof(double));
	if (s->scratch == NULL)
		goto nomem;
	if (server_adaptive(cfg->kind)) {
		s->m = ft_mallocarray(n, sizeof(double));
		s->v = ft_mallocarray(n, sizeof(double));
		if (s->m == NULL || s->v == NULL)
			goto nomem;
	}
	*out = s;
	return FT_OK;
nomem:
	ft_model_server_free(s);
	return ft_errmsg_set(err, FT_ENOMEM, "server optimiser: out of memory");
}

int ft_model_server_alloc(const ft_model_server_config *cfg, size_t n_params,
                          ft_model_server **out, ft_errmsg *err)
{
	ft_model_server *s = NULL;
	int rv;

	if (out == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "server optimiser: no output");
	rv = server_new(cfg, n_params, &s, err);
	if (rv != FT_OK)
		return rv;
	if (s->m != NULL) {
		double v0 = cfg->tau * cfg->tau;

		for (size_t i = 0; i < n_params; i++) {
			s->m[i] = 0;
			s->v[i] = v0;
		}
	}
	*out = s;
	return FT_OK;
}

void ft_model_server_free(ft_model_server *s)
{
	if (s == NULL)
		return;
	ft_free(s->m);
	ft_free(s->v);
	ft_free(s->scratch);
	ft_free(s);
}

const ft_model_server_config *ft_model_server_get_config(const ft_model_server *s)
{
	return &s->cfg;
}

size_t ft_model_server_n_params(const ft_model_server *s)
{
	return s->n;
}

uint64_t ft_model_server_rounds(const ft_model_server *s)
{
	return s->rounds;
}

/* The new second moment of one coordinate, as Algorithm 2 has it. */
static double server_second_moment(const ft_model_server_config *c, double v, double d2)
{
	double sign;

	switch (c->kind) {
	case FT_MODEL_SERVER_FEDADAGRAD:
		return v + d2;
	case FT_MODEL_SERVER_FEDYOGI:
		sign = (v > d2) ? 1.0 : (v < d2 ? -1.0 : 0.0);
		return v - (1.0 - c->beta2) * d2 * sign;
	default:
		return c->beta2 * v + (1.0 - c->beta2) * d2;
	}
}

int ft_model_server_step(ft_model_server *s, float *params, size_t n, const float *mean_delta)
{
	const ft_model_server_config *c;

	if (s == NULL || params == NULL || mean_delta == NULL || n != s->n)
		return FT_EINVAL;
	c = &s->cfg;
	for (size_t i = 0; i < n; i++)
		if (!isfinite(mean_delta[i]))
			return FT_EINVAL;
	/* First pass: the new parameters into scratch; nothing is committed
	 * unless every one is finite and fits a float, so a diverging step
	 * leaves model and state as they were. */
	for (size_t i = 0; i < n; i++) {
		double d = mean_delta[i], x;

		if (!server_adaptive(c->kind)) {
			x = (double)params[i] + c->lr * d;
		} else {
			double m = c->beta1 * s->m[i] + (1.0 - c->beta1) * d;
			double v = server_second_moment(c, s->v[i], d * d);

			/* Yogi's v can fall below 0 only through rounding; keep the
			 * square root real. */
			if (v < 0)
				v = 0;
			x = (double)params[i] + c->lr * m / (sqrt(v) + c->tau);
		}
		if (!isfinite(x) || fabs(x) > FLT_MAX)
			return FT_ERANGE;
		s->scratch[i] = x;
	}
	for (size_t i = 0; i < n; i++) {
		if (server_adaptive(c->kind)) {
			double d = mean_delta[i];
			double v = server_second_moment(c, s->v[i], d * d);

			s->m[i] = c->beta1 * s->m[i] + (1.0 - c->beta1) * d;
			s->v[i] = v < 0 ? 0 : v;
		}
		params[i] = (float)s->scratch[i];
	}
	s->rounds++;
	return FT_OK;
}

int ft_model_server_mean(const float *sum, size_t d, int weighted, uint32_t n_surv,
                         float *mean, size_t n_params)
{
	double div;

	if (sum == NULL || mean == NULL || n_params == 0 || d != n_params + (weighted ? 1u : 0u))
		return FT_EINVAL;
	div = weighted ? (double)sum[n_params] : (double)n_surv;
	if (!isfinite(div) || !(div > 1e-9))
		return FT_EINVAL;
	for (size_t i = 0; i < d; i++)
		if (!isfinite(sum[i]))
			return FT_EINVAL;
	for (size_t i = 0; i < n_params; i++)
		mean[i] = (float)((double)sum[i] / div);
	return FT_OK;
}

/* ---- State bytes ------------------------------------------------------- */

static void put_f64(uint8_t *p, double x)
{
	uint64_t u;

	memcpy(&u, &x, sizeof(u));
	ft_put_le64(p, u);
}

static double get_f64(const uint8_t *p)
{
	uint64_t u = ft_get_le64(p);
	double x;

	memcpy(&x, &u, sizeof(x));
	return x;
}

int ft_model_server_encode(const ft_model_server *s, uint8_t **buf, size_t *len)
{
	uint8_t *b;
	size_t n_len;

	if (s == NULL || buf == NULL || len == NULL)
		return FT_EINVAL;
	/* n <= 2^24, so 16 n + 64 cannot overflow. */
	n_len = FT_MODEL_SERVER_HDR_BYTES + (s->m != NULL ? 16 * s->n : 0);
	b = ft_malloc(n_len);
	if (b == NULL)
		return FT_ENOMEM;
	memcpy(b, "FTSO", 4);
	b[4] = FT_MODEL_SERVER_STATE_VERSION;
	b[5] = (uint8_t)s->cfg.kind;
	b[6] = b[7] = 0;
	ft_put_le64(b + 8, (uint64_t)s->n);
	ft_put_le64(b + 16, s->rounds);
	put_f64(b + 24, s->cfg.lr);
	put_f64(b + 32, s->cfg.beta1);
	put_f64(b + 40, s->cfg.beta2);
	put_f64(b + 48, s->cfg.tau);
	memset(b + 56, 0, 8);
	if (s->m != NULL) {
		uint8_t *p = b + FT_MODEL_SERVER_HDR_BYTES;

		for (size_t i = 0; i < s->n; i++)
			put_f64(p + 8 * i, s->m[i]);
		p += 8 * s->n;
		for (size_t i = 0; i < s->n; i++)
			put_f64(p + 8 * i, s->v[i]);
	}
	*buf = b;
	*len = n_len;
	return FT_OK;
}

int ft_model_server_decode(const uint8_t *buf, size_t len, ft_model_server **out,
                           ft_errmsg *err)
{
	ft_model_server_config cfg;
	ft_model_server *s = NULL;
	uint64_t n;
	size_t want;
	int rv;

	if (buf == NULL || out == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "server state: missing argument");
	if (len < FT_MODEL_SERVER_HDR_BYTES || memcmp(buf, "FTSO", 4) != 0)
		return ft_errmsg_set(err, FT_EFORMAT, "server state: not a server optimiser state");
	if (buf[4] != FT_MODEL_SERVER_STATE_VERSION)
		return ft_errmsg_set(err, FT_EFORMAT, "server state: unsupported version %u", buf[4]);
	if (buf[6] != 0 || buf[7] != 0)
		return ft_errmsg_set(err, FT_EFORMAT, "server state: reserved bytes not zero");
	for (size_t i = 56; i < 64; i++)
		if (buf[i] != 0)
			return ft_errmsg_set(err, FT_EFORMAT, "server state: reserved bytes not zero");
	memset(&cfg, 0, sizeof(cfg));
	cfg.kind = buf[5];
	cfg.lr = get_f64(buf + 24);
	cfg.beta1 = get_f64(buf + 32);
	cfg.beta2 = get_f64(buf + 40);
	cfg.tau = get_f64(buf + 48);
	if (server_config_check(&cfg, NULL) != FT_OK)
		return ft_errmsg_set(err, FT_EFORMAT, "server state: invalid optimiser config");
	n = ft_get_le64(buf + 8);
	if (n == 0 || n > FT_MODEL_MAX_PARAMS)
		return ft_errmsg_set(err, FT_EFORMAT, "server state: %llu parameters out of range",
		                     (unsigned long long)n);
	want = FT_MODEL_SERVER_HDR_BYTES + (server_adaptive(cfg.kind) ? 16 * (size_t)n : 0);
	if (len != want)
		return ft_errmsg_set(err, FT_EFORMAT, "server state: %zu bytes, expected %zu", len,
		                     want);
	rv = server_new(&cfg, (size_t)n, &s, err);
	if (rv != FT_OK)
		return rv;
	s->rounds = ft_get_le64(buf + 16);
	if (s->m != NULL) {
		const uint8_t *p = buf + FT_MODEL_SERVER_HDR_BYTES;

		for (size_t i = 0; i < s->n; i++) {
			s->m[i] = get_f64(p + 8 * i);
			s->v[i] = get_f64(p + 8 * (s->n + i));
			if (!isfinite(s->m[i]) || !isfinite(s->v[i]) || s->v[i] < 0) {
				ft_model_server_free(s);
				return ft_errmsg_set(err, FT_EFORMAT,
				                     "server state: moment %zu not finite or negative", i);
			}
		}
	}
	*out = s;
	return FT_OK;
}
