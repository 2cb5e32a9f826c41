/*
 * ft_model_train.c - local training at the site: minibatch SGD (momentum) or
 * Adam, with optional L2 and FedProx terms, and DP-SGD with the patient as the
 * privacy unit (Poisson sampling of units, per-unit clipping, Gaussian noise
 * from the privacy module's sampler).
 */
#include "model_int.h"

#include <math.h>
#include <string.h>

#include <sodium.h>

#include "ft_crypto.h"
#include "ft_privacy.h"

/* Random bytes and 32-bit words from a ChaCha20 keystream, refilled 4 KiB
 * at a time. For shuffling the key is the caller's seed; for DP sampling it
 * is 32 fresh bytes from the CSPRNG (libsodium), so the keystream is itself
 * a CSPRNG output without a system call per block. Wiped when training
 * ends. */
typedef struct rng {
	int csprng;
	uint8_t key[32];
	uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES];
	uint32_t counter;
	uint8_t buf[4096];
	size_t pos;
} rng;

static void rng_refill(rng *r)
{
	/* The 32-bit block counter covers 256 GiB per key and nonce; past
	 * that, never reuse keystream: a fresh key (DP) or the next nonce
	 * (shuffling, which must stay reproducible). */
	if (r->counter > UINT32_MAX - sizeof(r->buf) / 64) {
		if (r->csprng)
			ft_crypto_random(r->key, sizeof(r->key));
		else
			ft_put_le32(r->nonce + 4, ft_get_le32(r->nonce + 4) + 1);
		r->counter = 0;
	}
	memset(r->buf, 0, sizeof(r->buf));
	/* Cannot fail for these sizes. */
	(void)crypto_stream_chacha20_ietf_xor_ic(r->buf, r->buf, sizeof(r->buf), r->nonce,
	                                         r->counter, r->key);
	r->counter += sizeof(r->buf) / 64;
	r->pos = 0;
}

static uint32_t rng_u32(rng *r)
{
	uint32_t v;

	if (r->pos + 4 > sizeof(r->buf))
		rng_refill(r);
	v = ft_get_le32(r->buf + r->pos);
	r->pos += 4;
	return v;
}

static uint32_t rng_u8(rng *r)
{
	if (r->pos >= sizeof(r->buf))
		rng_refill(r);
	return r->buf[r->pos++];
}

/*
 * Poisson sampling: a unit is included iff a uniform 32-bit word is below
 * thresh (<= 2^32). The word is compared lazily, most significant byte
 * first: its top byte decides unless it equals thresh's (probability 1/256),
 * and only then are the other three bytes drawn. The outcome is the same
 * function of a uniform word as `word < thresh`, so the inclusion
 * probability is exactly thresh / 2^32, for a quarter of the keystream.
 */
static int rng_include(rng *r, uint64_t thresh)
{
	uint32_t hi = (uint32_t)(thresh >> 24), x = rng_u8(r);

	if (x != hi)
		return x < hi;
	x = rng_u8(r) << 16;
	x |= rng_u8(r) << 8;
	x |= rng_u8(r);
	return x < (uint32_t)(thresh & 0xffffff);
}

/* Everything a training call needs, allocated once before the first step. */
typedef struct train_state {
	float *grad;   /* the step's gradient sum */
	float *ugrad;  /* one unit's gradient (DP, units with several rows) */
	float *m1, *m2; /* optimiser moments */
	float *ldelta; /* per-layer deltas of one row */
	double *xnorm2; /* squared norm of each row's features (DP) */
	size_t *perm;  /* unit order (non-private) */
	rng *rand;
} train_state;

/* The scratch held clipped but not yet noised patient gradients: wiped. */
static void state_free(train_state *s, const ft_model *m)
{
	if (s->grad != NULL)
		ft_crypto_wipe(s->grad, m->n_params * sizeof(float));
	if (s->ugrad != NULL)
		ft_crypto_wipe(s->ugrad, m->n_params * sizeof(float));
	if (s->ldelta != NULL)
		ft_crypto_wipe(s->ldelta, m->act_len * sizeof(float));
	ft_free(s->grad);
	ft_free(s->ugrad);
	ft_free(s->m1);
	ft_free(s->m2);
	ft_free(s->ldelta);
	ft_free(s->xnorm2);
	ft_free(s->perm);
	if (s->rand != NULL)
		ft_crypto_wipe(s->rand, sizeof(*s->rand));
	ft_free(s->rand);
}

void ft_model_train_config_default(ft_model_train_config *c)
{
	memset(c, 0, sizeof(*c));
	c->lr = 0.1;
	c->epochs = 1;
	c->batch_units = 32;
	c->optimizer = FT_MODEL_OPT_SGD;
	c->beta1 = 0.9;
	c->beta2 = 0.999;
	c->adam_eps = 1e-8;
}

static int check_config(const ft_model_train_config *c, ft_errmsg *err)
{
	if (!(c->lr > 0) || !isfinite(c->lr))
		return ft_errmsg_set(err, FT_EINVAL, "learning rate must be finite and > 0");
	if (c->batch_units == 0)
		return ft_errmsg_set(err, FT_EINVAL, "batch size must be >= 1 unit");
	if (c->steps == 0 && c->epochs == 0)
		return ft_errmsg_set(err, FT_EINVAL, "neither epochs nor steps given");
	if (c->steps > FT_MODEL_MAX_STEPS)
		return ft_errmsg_set(err, FT_ERANGE, "more than %llu steps",
		                     (unsigned long long)FT_MODEL_MAX_STEPS);
	if (c->optimizer == FT_MODEL_OPT_SGD) {
		if (!(c->momentum >= 0 && c->momentum < 1))
			return ft_errmsg_set(err, FT_EINVAL, "momentum must be in [0, 1)");
	} else if (c->optimizer == FT_MODEL_OPT_ADAM) {
		if (!(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1))
			return ft_errmsg_set(err, FT_EINVAL, "Adam betas must be in [0, 1)");
		if (!(c->adam_eps > 0) || !isfinite(c->adam_eps))
			return ft_errmsg_set(err, FT_EINVAL, "Adam epsilon must be finite and > 0");
	} else {
		return ft_errmsg_set(err, FT_EINVAL, "unknown optimiser %u", c->optimizer);
	}
	if (!(c->l2 >= 0) || !isfinite(c->l2))
		return ft_errmsg_set(err, FT_EINVAL, "L2 must be finite and >= 0");
	if (!(c->prox_mu >= 0) || !isfinite(c->prox_mu))
		return ft_errmsg_set(err, FT_EINVAL, "FedProx mu must be finite and >= 0");
	if (c->prox_mu > 0 && c->global_params == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "FedProx needs the global parameters");
	if (c->dp.enabled) {
		if (!(c->dp.clip > 0) || !isfinite(c->dp.clip))
			return ft_errmsg_set(err, FT_EINVAL, "DP clip norm must be finite and > 0");
		if (!(c->dp.sigma >= 0) || !isfinite(c->dp.sigma))
			return ft_errmsg_set(err, FT_EINVAL, "DP noise multiplier must be finite and >= 0");
	}
	return FT_OK;
}

/* Per-layer deltas of one row and the squared norm of the row's gradient,
 * which for a dense layer is ||delta||^2 (||in||^2 + 1): the weight gradient
 * is the outer product delta in^T and the bias gradient is delta. This gives
 * a one-row unit's norm without writing its gradient out. */
typedef struct ghost_ctx {
	float *ldelta;
	double norm2;
	double x_norm2; /* the first layer's ||in||^2, computed once per row */
} ghost_ctx;

static void ghost_layer(void *vctx, const model_layer *L, const float *in, const float *delta)
{
	ghost_ctx *g = vctx;
	double dn = 0, an = 1.0;

	memcpy(g->ldelta + L->a_off, delta, L->n_out * sizeof(float));
	for (size_t j = 0; j < L->n_out; j++)
		dn += (double)delta[j] * delta[j];
	if (L->w_off == 0) {
		an += g->x_norm2;
	} else {
		for (size_t i = 0; i < L->n_in; i++)
			an += (double)in[i] * in[i];
	}
	g->norm2 += dn * an;
}

static void dense_layer(void *vctx, const model_layer *L, const float *in, const float *delta)
{
	float *grad = vctx;

	for (size_t j = 0; j < L->n_out; j++) {
		float *restrict g = grad + L->w_off + j * L->n_in;
		float dj = delta[j];

		if (dj == 0.0f)
			continue;
		for (size_t i = 0; i < L->n_in; i++)
			g[i] += dj * in[i];
		grad[L->b_off + j] += dj;
	}
}

/* Opacus's clip factor: min(1, C / (norm + 1e-6)). */
static float clip_factor(double norm2, double clip)
{
	double f = clip / (sqrt(norm2) + 1e-6);

	return f < 1.0 ? (float)f : 1.0f;
}

/* Adds the clipped gradient of unit u to st->grad. */
static void add_clipped_unit(ft_model *m, const ft_model_dataset *ds, size_t u, double clip,
                             train_state *st)
{
	size_t r0 = ds->unit_offset[u], r1 = ds->unit_offset[u + 1];

	if (r1 == r0)
		return;
	if (r1 - r0 == 1) {
		const float *x = ds->x + r0 * ds->n_features;
		ghost_ctx g = { st->ldelta, 0, st->xnorm2[r0] };
		float f;

		model_forward(m, x);
		model_backward(m, x, ds->y[r0], ghost_layer, &g);
		/* A non-finite gradient (overflow under hostile or diverged
		 * parameters) contributes nothing: zero is within any clip, and
		 * failing instead would reveal that this patient exists. */
		if (!isfinite(g.norm2))
			return;
		f = clip_factor(g.norm2, clip);
		for (size_t l = 0; l < m->n_layers; l++) {
			const model_layer *L = &m->layer[l];
			const float *in = l == 0 ? x : m->act + m->layer[l - 1].a_off;
			float *d = st->ldelta + L->a_off;

			for (size_t j = 0; j < L->n_out; j++)
				d[j] *= f;
			dense_layer(st->grad, L, in, d);
		}
	} else {
		double norm2 = 0;
		float f;

		memset(st->ugrad, 0, m->n_params * sizeof(float));
		for (size_t r = r0; r < r1; r++) {
			const float *x = ds->x + r * ds->n_features;

			model_forward(m, x);
			model_backward(m, x, ds->y[r], dense_layer, st->ugrad);
		}
		for (size_t i = 0; i < m->n_params; i++)
			norm2 += (double)st->ugrad[i] * st->ugrad[i];
		if (!isfinite(norm2))
			return; /* as above: contributes nothing */
		f = clip_factor(norm2, clip);
		for (size_t i = 0; i < m->n_params; i++)
			st->grad[i] += f * st->ugrad[i];
	}
}

/* Keeps one row's per-layer deltas for accumulation after the backward
 * pass: reading W (backward) and writing the gradient (afterwards) in
 * separate sweeps keeps each sweep's working set in cache, which is
 * measurably faster for wide layers than interleaving them. */
static void store_layer(void *vctx, const model_layer *L, const float *in, const float *delta)
{
	(void)in;
	memcpy((float *)vctx + L->a_off, delta, L->n_out * sizeof(float));
}

/* Adds the unclipped gradient of unit u to st->grad. */
static void add_unit(ft_model *m, const ft_model_dataset *ds, size_t u, train_state *st)
{
	for (size_t r = ds->unit_offset[u]; r < ds->unit_offset[u + 1]; r++) {
		const float *x = ds->x + r * ds->n_features;

		model_forward(m, x);
		model_backward(m, x, ds->y[r], store_layer, st->ldelta);
		for (size_t l = 0; l < m->n_layers; l++) {
			const model_layer *L = &m->layer[l];

			dense_layer(st->grad, L, l == 0 ? x : m->act + m->layer[l - 1].a_off,
			            st->ldelta + L->a_off);
		}
	}
}

/* grad <- grad * scale + l2 W + mu (w - w_global), then one optimiser step. */
static void apply_step(ft_model *m, const ft_model_train_config *c, train_state *st,
                       float scale, uint64_t t)
{
	float *w = m->params, *g = st->grad;
	size_t n = m->n_params;
	float lr = (float)c->lr;

	for (size_t i = 0; i < n; i++)
		g[i] *= scale;
	if (c->l2 > 0) {
		float l2 = (float)c->l2;

		for (size_t l = 0; l < m->n_layers; l++) {
			const model_layer *L = &m->layer[l];

			for (size_t i = L->w_off; i < L->b_off; i++)
				g[i] += l2 * w[i];
		}
	}
	if (c->prox_mu > 0) {
		float mu = (float)c->prox_mu;

		for (size_t i = 0; i < n; i++)
			g[i] += mu * (w[i] - c->global_params[i]);
	}
	if (c->optimizer == FT_MODEL_OPT_SGD) {
		if (c->momentum > 0) {
			float mom = (float)c->momentum;

			for (size_t i = 0; i < n; i++) {
				st->m1[i] = mom * st->m1[i] + g[i];
				w[i] -= lr * st->m1[i];
			}
		} else {
			for (size_t i = 0; i < n; i++)
				w[i] -= lr * g[i];
		}
	} else {
		float b1 = (float)c->beta1, b2 = (float)c->beta2;
		/* Bias corrections folded into the step size. */
		double c1 = 1.0 - pow(c->beta1, (double)t), c2 = 1.0 - pow(c->beta2, (double)t);
		float a = (float)(c->lr * sqrt(c2) / c1);
		float e = (float)(c->adam_eps * sqrt(c2));

		for (size_t i = 0; i < n; i++) {
			st->m1[i] = b1 * st->m1[i] + (1.0f - b1) * g[i];
			st->m2[i] = b2 * st->m2[i] + (1.0f - b2) * g[i] * g[i];
			w[i] -= a * st->m1[i] / (sqrtf(st->m2[i]) + e);
		}
	}
}

/* Fisher-Yates with the deterministic stream (a multiply-shift bound: the
 * bias of at most n / 2^32 does not matter for batch order). */
static void shuffle(size_t *perm, size_t n, rng *r)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(((uint64_t)rng_u32(r) * (uint64_t)i) >> 32);
		size_t t = perm[i - 1];

		perm[i - 1] = perm[j];
		perm[j] = t;
	}
}

int ft_model_train(ft_model *m, const ft_model_dataset *ds, const ft_model_train_config *cfg,
                   ft_model_train_report *report, ft_errmsg *err)
{
	train_state st;
	ft_model_train_report rep;
	uint64_t steps, per_epoch;
	double q = 1.0;
	int rv;

	memset(&st, 0, sizeof(st));
	memset(&rep, 0, sizeof(rep));
	if (m == NULL || cfg == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "no model or config");
	rv = check_config(cfg, err);
	if (rv != FT_OK)
		return rv;
	rv = ft_model_dataset_check(ds, &m->spec, err);
	if (rv != FT_OK)
		return rv;
	if (ds->n_units == 0)
		return ft_errmsg_set(err, FT_EINVAL, "dataset has no units");
	per_epoch = (ds->n_units + cfg->batch_units - 1) / cfg->batch_units;
	if (cfg->steps > 0) {
		steps = cfg->steps;
	} else {
		if (per_epoch > FT_MODEL_MAX_STEPS / cfg->epochs)
			return ft_errmsg_set(err, FT_ERANGE, "%u epochs of %llu steps is too many",
			                     cfg->epochs, (unsigned long long)per_epoch);
		steps = per_epoch * cfg->epochs;
	}
	if (cfg->dp.enabled)
		q = cfg->batch_units >= ds->n_units ? 1.0 :
		    (double)cfg->batch_units / (double)ds->n_units;

	rv = FT_ENOMEM;
	st.grad = ft_mallocarray(m->n_params, sizeof(float));
	st.m1 = ft_calloc(m->n_params, sizeof(float));
	st.m2 = cfg->optimizer == FT_MODEL_OPT_ADAM ? ft_calloc(m->n_params, sizeof(float)) : NULL;
	st.rand = ft_calloc(1, sizeof(*st.rand));
	if (st.grad == NULL || st.m1 == NULL || st.rand == NULL ||
	    (cfg->optimizer == FT_MODEL_OPT_ADAM && st.m2 == NULL))
		goto nomem;
	st.ldelta = ft_mallocarray(m->act_len, sizeof(float));
	if (st.ldelta == NULL)
		goto nomem;
	if (cfg->dp.enabled) {
		st.ugrad = ft_mallocarray(m->n_params, sizeof(float));
		st.xnorm2 = ft_mallocarray(ds->n_rows ? ds->n_rows : 1, sizeof(double));
		if (st.ugrad == NULL || st.xnorm2 == NULL)
			goto nomem;
		for (size_t r = 0; r < ds->n_rows; r++) {
			const float *x = ds->x + r * ds->n_features;
			double s2 = 0;

			for (size_t j = 0; j < ds->n_features; j++)
				s2 += (double)x[j] * x[j];
			st.xnorm2[r] = s2;
		}
		st.rand->csprng = 1;
		ft_crypto_random(st.rand->key, sizeof(st.rand->key));
	} else {
		st.perm = ft_mallocarray(ds->n_units, sizeof(size_t));
		if (st.perm == NULL)
			goto nomem;
		for (size_t u = 0; u < ds->n_units; u++)
			st.perm[u] = u;
		memcpy(st.rand->key, cfg->shuffle_seed, sizeof(st.rand->key));
	}
	st.rand->pos = sizeof(st.rand->buf);

	if (cfg->dp.enabled) {
		/* Inclusion iff a uniform 32-bit word is below q 2^32: the rate is
		 * q up to 2^-32. */
		uint64_t thresh = (uint64_t)ldexp(q, 32);
		double expected = q * (double)ds->n_units;
		double z_add = 0;

		/* The sampler rounds to a grid, which adds a little sensitivity:
		 * add slightly more noise so the accounted multiplier still holds
		 * (docs/PRIVACY.md). */
		if (cfg->dp.sigma > 0) {
			rv = ft_privacy_noise_multiplier_required(cfg->dp.sigma, m->n_params, &z_add);
			if (rv != FT_OK) {
				ft_errmsg_set(err, rv, "noise multiplier %g is too large for %zu parameters",
				              cfg->dp.sigma, m->n_params);
				goto out;
			}
		}

		for (uint64_t t = 1; t <= steps; t++) {
			memset(st.grad, 0, m->n_params * sizeof(float));
			for (size_t u = 0; u < ds->n_units; u++) {
				if (!rng_include(st.rand, thresh))
					continue;
				add_clipped_unit(m, ds, u, cfg->dp.clip, &st);
				rep.units_sampled++;
			}
			if (cfg->dp.sigma > 0) {
				rv = ft_privacy_noise_add(st.grad, m->n_params, z_add * cfg->dp.clip);
				if (rv != FT_OK) {
					ft_errmsg_set(err, rv, "noise sampler failed: %s", ft_strerror(rv));
					goto out;
				}
			}
			/* Divided by the expected batch size, not the sampled one,
			 * whose size would itself leak (as Opacus does). */
			apply_step(m, cfg, &st, (float)(1.0 / expected), t);
		}
	} else {
		size_t pos = ds->n_units;
		uint32_t epoch = 0;

		for (uint64_t t = 1; t <= steps; t++) {
			size_t b = 0;

			memset(st.grad, 0, m->n_params * sizeof(float));
			while (b < cfg->batch_units) {
				if (pos == ds->n_units) {
					/* Each epoch its own nonce: the same seed
					 * gives the same sequence of orders. */
					ft_put_le32(st.rand->nonce, epoch++);
					ft_put_le32(st.rand->nonce + 4, 0);
					st.rand->counter = 0;
					st.rand->pos = sizeof(st.rand->buf);
					shuffle(st.perm, ds->n_units, st.rand);
					pos = 0;
				}
				add_unit(m, ds, st.perm[pos++], &st);
				b++;
				if (pos == ds->n_units)
					break; /* a batch never spans two epochs */
			}
			rep.units_sampled += b;
			apply_step(m, cfg, &st, 1.0f / (float)b, t);
		}
	}
	for (size_t i = 0; i < m->n_params; i++)
		if (!isfinite(m->params[i])) {
			rv = ft_errmsg_set(err, FT_ERANGE,
			                   "training diverged (non-finite parameters); lower the learning rate");
			goto out;
		}
	rep.dp = cfg->dp.enabled ? 1 : 0;
	rep.steps = steps;
	rep.q = q;
	rep.sigma = cfg->dp.enabled ? cfg->dp.sigma : 0;
	rep.clip = cfg->dp.enabled ? cfg->dp.clip : 0;
	rep.n_units = ds->n_units;
	rep.n_rows = ds->n_rows;
	/* An exact loss on the patients' data would be a release the accountant
	 * does not cover, so with DP it is not computed. */
	rep.final_loss = NAN;
	if (!cfg->dp.enabled && cfg->eval_loss) {
		rv = ft_model_loss(m, ds, &rep.final_loss, err);
		if (rv != FT_OK)
			goto out;
	}
	if (report != NULL)
		*report = rep;
	rv = FT_OK;
	goto out;
nomem:
	ft_errmsg_set(err, FT_ENOMEM, "out of memory for training scratch");
out:
	state_free(&st, m);
	return rv;
}
