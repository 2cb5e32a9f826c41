/*
 * ft_model.c - model specifications, allocation, deterministic
 * initialisation, and the forward and backward passes every model kind
 * shares: each kind is a stack of dense layers with a regression, sigmoid or
 * softmax head.
 */
#include "model_int.h"

#include <math.h>
#include <string.h>

#include <sodium.h>

#include "ft_crypto.h"

static const char *kind_name(uint32_t kind)
{
	switch (kind) {
	case FT_MODEL_LOGREG: return "logreg";
	case FT_MODEL_SOFTMAX: return "softmax";
	case FT_MODEL_LINREG: return "linreg";
	case FT_MODEL_MLP: return "mlp";
	default: return "?";
	}
}

int ft_model_spec_check(const ft_model_spec *spec, size_t *n_params, ft_errmsg *err)
{
	size_t total = 0, n_in, n_out;

	if (spec == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "no model spec");
	if (spec->kind < FT_MODEL_LOGREG || spec->kind > FT_MODEL_MLP)
		return ft_errmsg_set(err, FT_EINVAL, "unknown model kind %u", spec->kind);
	if (spec->n_features == 0 || spec->n_features > FT_MODEL_MAX_FEATURES)
		return ft_errmsg_set(err, FT_ERANGE, "n_features %u outside 1..%u",
		                     spec->n_features, FT_MODEL_MAX_FEATURES);
	if (spec->n_classes > FT_MODEL_MAX_CLASSES)
		return ft_errmsg_set(err, FT_ERANGE, "n_classes %u over %u", spec->n_classes,
		                     FT_MODEL_MAX_CLASSES);
	switch (spec->kind) {
	case FT_MODEL_LOGREG:
		if (spec->n_classes != 2)
			return ft_errmsg_set(err, FT_EINVAL, "logreg needs n_classes 2, not %u",
			                     spec->n_classes);
		break;
	case FT_MODEL_SOFTMAX:
		if (spec->n_classes < 2)
			return ft_errmsg_set(err, FT_EINVAL, "softmax needs n_classes >= 2");
		break;
	case FT_MODEL_LINREG:
		if (spec->n_classes != 0)
			return ft_errmsg_set(err, FT_EINVAL, "linreg needs n_classes 0");
		break;
	default:
		if (spec->n_classes == 1)
			return ft_errmsg_set(err, FT_EINVAL, "mlp n_classes must be 0 or >= 2");
		break;
	}
	if (spec->kind == FT_MODEL_MLP) {
		if (spec->n_hidden == 0 || spec->n_hidden > FT_MODEL_MAX_HIDDEN)
			return ft_errmsg_set(err, FT_ERANGE, "mlp needs 1..%u hidden layers, not %u",
			                     FT_MODEL_MAX_HIDDEN, spec->n_hidden);
		if (spec->activation != FT_MODEL_ACT_RELU && spec->activation != FT_MODEL_ACT_TANH)
			return ft_errmsg_set(err, FT_EINVAL, "unknown activation %u", spec->activation);
	} else {
		if (spec->n_hidden != 0)
			return ft_errmsg_set(err, FT_EINVAL, "%s has no hidden layers",
			                     kind_name(spec->kind));
		if (spec->activation != FT_MODEL_ACT_NONE)
			return ft_errmsg_set(err, FT_EINVAL, "%s has no activation",
			                     kind_name(spec->kind));
	}
	for (uint32_t i = spec->n_hidden; i < FT_MODEL_MAX_HIDDEN; i++)
		if (spec->hidden[i] != 0)
			return ft_errmsg_set(err, FT_EINVAL, "hidden[%u] set beyond n_hidden", i);
	n_in = spec->n_features;
	for (uint32_t l = 0; l <= spec->n_hidden; l++) {
		if (l < spec->n_hidden) {
			n_out = spec->hidden[l];
			if (n_out == 0 || n_out > FT_MODEL_MAX_WIDTH)
				return ft_errmsg_set(err, FT_ERANGE, "hidden layer %u width %zu outside 1..%u",
				                     l, n_out, FT_MODEL_MAX_WIDTH);
		} else {
			n_out = (spec->n_classes <= 2 && spec->kind != FT_MODEL_SOFTMAX) ?
			                1 : spec->n_classes;
		}
		/* n_in, n_out <= 65536: the product cannot overflow size_t. */
		total += n_in * n_out + n_out;
		if (total > FT_MODEL_MAX_PARAMS)
			return ft_errmsg_set(err, FT_ERANGE, "more than %zu parameters",
			                     FT_MODEL_MAX_PARAMS);
		n_in = n_out;
	}
	if (n_params != NULL)
		*n_params = total;
	return FT_OK;
}

int ft_model_alloc(const ft_model_spec *spec, ft_model **out, ft_errmsg *err)
{
	ft_model *m = NULL;
	size_t n_params = 0, n_in, off = 0, a_off = 0, maxw;
	int rv;

	rv = ft_model_spec_check(spec, &n_params, err);
	if (rv != FT_OK)
		return rv;
	rv = FT_ENOMEM;
	m = ft_calloc(1, sizeof(*m));
	if (m == NULL)
		goto out;
	m->spec = *spec;
	m->n_params = n_params;
	m->n_layers = spec->n_hidden + 1u;
	n_in = spec->n_features;
	maxw = n_in;
	for (size_t l = 0; l < m->n_layers; l++) {
		model_layer *L = &m->layer[l];
		size_t n_out = l < spec->n_hidden ? spec->hidden[l] :
		               ((spec->n_classes <= 2 && spec->kind != FT_MODEL_SOFTMAX) ?
		                1 : spec->n_classes);

		L->n_in = n_in;
		L->n_out = n_out;
		L->w_off = off;
		L->b_off = off + n_in * n_out;
		L->a_off = a_off;
		off = L->b_off + n_out;
		a_off += n_out;
		if (n_out > maxw)
			maxw = n_out;
		n_in = n_out;
	}
	m->n_out = n_in;
	m->max_width = maxw;
	m->act_len = a_off;
	if (spec->n_classes == 0)
		m->head = MODEL_HEAD_REG;
	else if (m->n_out == 1)
		m->head = MODEL_HEAD_BIN;
	else
		m->head = MODEL_HEAD_SOFTMAX;
	m->params = ft_calloc(n_params, sizeof(float));
	m->act = ft_calloc(a_off, sizeof(float));
	m->delta = ft_calloc(maxw, sizeof(float));
	m->delta2 = ft_calloc(maxw, sizeof(float));
	if (m->params == NULL || m->act == NULL || m->delta == NULL || m->delta2 == NULL) {
		ft_errmsg_set(err, FT_ENOMEM, "out of memory for a model of %zu parameters",
		              n_params);
		goto out;
	}
	*out = m;
	m = NULL;
	rv = FT_OK;
out:
	ft_model_free(m);
	return rv;
}

void ft_model_free(ft_model *m)
{
	if (m == NULL)
		return;
	/* The scratch holds the last row's activations: patient data. */
	if (m->act != NULL)
		ft_crypto_wipe(m->act, m->act_len * sizeof(float));
	if (m->delta != NULL && m->delta2 != NULL) {
		ft_crypto_wipe(m->delta, m->max_width * sizeof(float));
		ft_crypto_wipe(m->delta2, m->max_width * sizeof(float));
	}
	ft_free(m->params);
	ft_free(m->act);
	ft_free(m->delta);
	ft_free(m->delta2);
	ft_free(m);
}

int ft_model_clone(const ft_model *m, ft_model **out)
{
	ft_model *c = NULL;
	int rv;

	if (m == NULL || out == NULL)
		return FT_EINVAL;
	rv = ft_model_alloc(&m->spec, &c, NULL);
	if (rv != FT_OK)
		return rv;
	memcpy(c->params, m->params, m->n_params * sizeof(float));
	*out = c;
	return FT_OK;
}

const ft_model_spec *ft_model_get_spec(const ft_model *m) { return &m->spec; }
size_t ft_model_n_params(const ft_model *m) { return m->n_params; }
float *ft_model_params(ft_model *m) { return m->params; }
const float *ft_model_params_const(const ft_model *m) { return m->params; }

size_t ft_model_n_outputs(const ft_model *m)
{
	return m->head == MODEL_HEAD_REG ? 1 : m->spec.n_classes;
}

int ft_model_init(ft_model *m, const uint8_t seed[32])
{
	/* One ChaCha20-IETF keystream (key = seed, nonce = 0) consumed 4 bytes
	 * per parameter in vector order, in 4 KiB chunks so memory stays flat. */
	static const uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES];
	uint8_t block[4096];
	uint64_t chunk = 0;
	size_t p = 0;

	if (m == NULL || seed == NULL)
		return FT_EINVAL;
	while (p < m->n_params) {
		size_t n = m->n_params - p;

		if (n > sizeof(block) / 4)
			n = sizeof(block) / 4;
		memset(block, 0, n * 4);
		/* 64 ChaCha20 blocks per 4 KiB chunk. */
		if (crypto_stream_chacha20_ietf_xor_ic(block, block, n * 4, nonce,
		                                       (uint32_t)(chunk * 64u), seed) != 0)
			return FT_ECRYPTO;
		for (size_t i = 0; i < n; i++) {
			/* 24 bits give every float in [0, 1) on the 2^-24 grid. */
			float u = (float)(ft_get_le32(block + 4 * i) >> 8) * (1.0f / 16777216.0f);

			m->params[p + i] = 2.0f * u - 1.0f;
		}
		p += n;
		chunk++;
	}
	ft_crypto_wipe(block, sizeof(block));
	for (size_t l = 0; l < m->n_layers; l++) {
		const model_layer *L = &m->layer[l];
		float a = (float)sqrt(6.0 / (double)(L->n_in + L->n_out));

		for (size_t i = 0; i < L->n_in * L->n_out; i++)
			m->params[L->w_off + i] *= a;
		memset(m->params + L->b_off, 0, L->n_out * sizeof(float));
	}
	return FT_OK;
}

/* Four independent partial sums keep the FPU pipelines busy. */
static float dot(const float *restrict a, const float *restrict b, size_t n)
{
	float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	size_t i = 0;

	for (; i + 4 <= n; i += 4) {
		s0 += a[i] * b[i];
		s1 += a[i + 1] * b[i + 1];
		s2 += a[i + 2] * b[i + 2];
		s3 += a[i + 3] * b[i + 3];
	}
	for (; i < n; i++)
		s0 += a[i] * b[i];
	return (s0 + s1) + (s2 + s3);
}

void model_forward(ft_model *m, const float *x)
{
	const float *in = x;

	for (size_t l = 0; l < m->n_layers; l++) {
		const model_layer *L = &m->layer[l];
		const float *W = m->params + L->w_off;
		const float *b = m->params + L->b_off;
		float *z = m->act + L->a_off;
		int hidden = l + 1 < m->n_layers;

		for (size_t j = 0; j < L->n_out; j++) {
			float v = b[j] + dot(W + j * L->n_in, in, L->n_in);

			if (hidden) {
				if (m->spec.activation == FT_MODEL_ACT_RELU)
					v = v > 0.0f ? v : 0.0f;
				else
					v = tanhf(v);
			}
			z[j] = v;
		}
		in = z;
	}
}

/* log(1 + exp(z)) without overflow. */
static double softplus(double z)
{
	return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z));
}

static double logsumexp(const float *z, size_t n)
{
	double mx = z[0], s = 0;

	for (size_t i = 1; i < n; i++)
		if (z[i] > mx)
			mx = z[i];
	for (size_t i = 0; i < n; i++)
		s += exp((double)z[i] - mx);
	return mx + log(s);
}

double model_row_loss(const ft_model *m, float y)
{
	const float *z = m->act + m->layer[m->n_layers - 1].a_off;

	switch (m->head) {
	case MODEL_HEAD_REG:
		return 0.5 * ((double)z[0] - y) * ((double)z[0] - y);
	case MODEL_HEAD_BIN:
		/* -[y log p + (1-y) log(1-p)] with p = sigmoid(z). */
		return softplus(z[0]) - (double)y * z[0];
	default:
		return logsumexp(z, m->n_out) - z[(size_t)y];
	}
}

void model_backward(ft_model *m, const float *x, float y, model_layer_fn fn, void *ctx)
{
	const model_layer *last = &m->layer[m->n_layers - 1];
	const float *z = m->act + last->a_off;
	float *delta = m->delta, *dprev = m->delta2;

	switch (m->head) {
	case MODEL_HEAD_REG:
		delta[0] = z[0] - y;
		break;
	case MODEL_HEAD_BIN:
		delta[0] = (float)(1.0 / (1.0 + exp(-(double)z[0]))) - y;
		break;
	default: {
		double lse = logsumexp(z, m->n_out);

		for (size_t j = 0; j < m->n_out; j++)
			delta[j] = (float)exp((double)z[j] - lse);
		delta[(size_t)y] -= 1.0f;
		break;
	}
	}
	for (size_t l = m->n_layers; l-- > 0;) {
		const model_layer *L = &m->layer[l];
		const float *in = l == 0 ? x : m->act + m->layer[l - 1].a_off;

		fn(ctx, L, in, delta);
		if (l == 0)
			break;
		{
			const float *W = m->params + L->w_off;
			size_t n_in = L->n_in;
			float *tmp;

			memset(dprev, 0, n_in * sizeof(float));
			for (size_t j = 0; j < L->n_out; j++) {
				const float *restrict w = W + j * n_in;
				float *restrict d = dprev;
				float dj = delta[j];

				if (dj == 0.0f)
					continue;
				for (size_t i = 0; i < n_in; i++)
					d[i] += w[i] * dj;
			}
			/* `in` holds post-activation values: relu' = [a > 0],
			 * tanh' = 1 - a^2. */
			if (m->spec.activation == FT_MODEL_ACT_RELU) {
				for (size_t i = 0; i < n_in; i++)
					if (!(in[i] > 0.0f))
						dprev[i] = 0.0f;
			} else {
				for (size_t i = 0; i < n_in; i++)
					dprev[i] *= 1.0f - in[i] * in[i];
			}
			tmp = delta;
			delta = dprev;
			dprev = tmp;
		}
	}
}

/* Dense accumulation of one layer's gradient: dW += delta in^T, db += delta. */
static void accumulate_dense(void *ctx, const model_layer *L, const float *in,
                             const float *delta)
{
	float *grad = ctx;

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

int ft_model_grad_unit(ft_model *m, const ft_model_dataset *ds, size_t unit, float *grad,
                       double *loss)
{
	double total = 0;

	if (m == NULL || ds == NULL || grad == NULL || unit >= ds->n_units ||
	    ds->n_features != m->spec.n_features)
		return FT_EINVAL;
	memset(grad, 0, m->n_params * sizeof(float));
	for (size_t r = ds->unit_offset[unit]; r < ds->unit_offset[unit + 1]; r++) {
		const float *x = ds->x + r * ds->n_features;

		model_forward(m, x);
		total += model_row_loss(m, ds->y[r]);
		model_backward(m, x, ds->y[r], accumulate_dense, grad);
	}
	if (loss != NULL)
		*loss = total;
	return FT_OK;
}

/* Turns the last layer's raw outputs into what predict reports. */
static void head_output(const ft_model *m, float *out)
{
	const float *z = m->act + m->layer[m->n_layers - 1].a_off;

	switch (m->head) {
	case MODEL_HEAD_REG:
		out[0] = z[0];
		break;
	case MODEL_HEAD_BIN: {
		double p = 1.0 / (1.0 + exp(-(double)z[0]));

		out[0] = (float)(1.0 - p);
		out[1] = (float)p;
		break;
	}
	default: {
		double lse = logsumexp(z, m->n_out);

		for (size_t j = 0; j < m->n_out; j++)
			out[j] = (float)exp((double)z[j] - lse);
		break;
	}
	}
}

int ft_model_predict(ft_model *m, const float *x, float *out, size_t n_out)
{
	if (m == NULL || x == NULL || out == NULL || n_out < ft_model_n_outputs(m))
		return FT_EINVAL;
	for (size_t i = 0; i < m->spec.n_features; i++)
		if (!isfinite(x[i]))
			return FT_EINVAL;
	model_forward(m, x);
	head_output(m, out);
	return FT_OK;
}

int ft_model_predict_dataset(ft_model *m, const ft_model_dataset *ds, float *out, size_t n_out,
                             ft_errmsg *err)
{
	size_t k;
	int rv;

	if (m == NULL || out == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "no model or output buffer");
	rv = ft_model_dataset_check(ds, NULL, err);
	if (rv != FT_OK)
		return rv;
	if (ds->n_features != m->spec.n_features)
		return ft_errmsg_set(err, FT_EINVAL, "dataset has %zu features, model %u",
		                     ds->n_features, m->spec.n_features);
	k = ft_model_n_outputs(m);
	if (n_out / k < ds->n_rows)
		return ft_errmsg_set(err, FT_EINVAL, "output buffer holds %zu values, need %zu x %zu",
		                     n_out, ds->n_rows, k);
	for (size_t r = 0; r < ds->n_rows; r++) {
		model_forward(m, ds->x + r * ds->n_features);
		head_output(m, out + r * k);
	}
	return FT_OK;
}

int ft_model_loss(ft_model *m, const ft_model_dataset *ds, double *loss, ft_errmsg *err)
{
	double total = 0;
	int rv;

	if (m == NULL || loss == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "no model or output");
	rv = ft_model_dataset_check(ds, &m->spec, err);
	if (rv != FT_OK)
		return rv;
	if (ds->n_rows == 0)
		return ft_errmsg_set(err, FT_EINVAL, "empty dataset");
	for (size_t r = 0; r < ds->n_rows; r++) {
		model_forward(m, ds->x + r * ds->n_features);
		total += model_row_loss(m, ds->y[r]);
	}
	*loss = total / (double)ds->n_rows;
	return FT_OK;
}

int ft_model_spec_parse_hidden(const char *text, ft_model_spec *spec, ft_errmsg *err)
{
	uint32_t w[FT_MODEL_MAX_HIDDEN];
	const char *p = text;
	uint32_t n = 0;

	if (text == NULL || spec == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "no hidden-layer widths");
	while (*p != '\0') {
		char buf[16];
		size_t k = strcspn(p, ",");
		uint64_t x;

		if (k == 0 || k >= sizeof(buf) || n == FT_MODEL_MAX_HIDDEN)
			goto bad;
		memcpy(buf, p, k);
		buf[k] = '\0';
		if (ft_parse_u64(buf, FT_MODEL_MAX_WIDTH, &x) != FT_OK || x == 0)
			goto bad;
		w[n++] = (uint32_t)x;
		p += k;
		if (*p == ',' && *++p == '\0')
			goto bad; /* a trailing comma */
	}
	if (n == 0)
		goto bad;
	memcpy(spec->hidden, w, n * sizeof(w[0]));
	spec->n_hidden = n;
	return FT_OK;
bad:
	return ft_errmsg_set(err, FT_EINVAL, "hidden layers '%.64s': give 1 to %u comma-separated "
	                     "widths in [1, %u]", text, FT_MODEL_MAX_HIDDEN, FT_MODEL_MAX_WIDTH);
}
