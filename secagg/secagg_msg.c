/*
 * secagg_msg.c - the secure-aggregation wire format: the common header, the
 * CONFIG message, counted lists, the signed statements and the outbox queue
 * shared by the client and the server (docs/PROTOCOL.md, "Secure
 * aggregation").
 */
#include <string.h>

#include "secagg_int.h"

/* ---- Outbox ------------------------------------------------------------ */

static int outbox_add(secagg_outbox *ob, uint32_t to, uint8_t *buf, const uint8_t *shared,
                      size_t len)
{
	if (ob->head > 0 && ob->head == ob->len) {
		ob->head = 0;
		ob->len = 0;
	}
	if (ob->len == ob->cap) {
		size_t ncap = ob->cap != 0 ? ob->cap * 2 : 16;
		secagg_out *nv = ft_reallocarray(ob->v, ncap, sizeof(*nv));

		if (nv == NULL)
			return FT_ENOMEM;
		ob->v = nv;
		ob->cap = ncap;
	}
	ob->v[ob->len].to = to;
	ob->v[ob->len].buf = buf;
	ob->v[ob->len].shared = shared;
	ob->v[ob->len].len = len;
	ob->len++;
	return FT_OK;
}

int secagg_outbox_push(secagg_outbox *ob, uint32_t to, uint8_t *buf, size_t len)
{
	return outbox_add(ob, to, buf, NULL, len);
}

int secagg_outbox_push_shared(secagg_outbox *ob, uint32_t to, const uint8_t *shared, size_t len)
{
	return outbox_add(ob, to, NULL, shared, len);
}

int secagg_outbox_pop(secagg_outbox *ob, uint32_t *to, uint8_t **buf, size_t *len)
{
	secagg_out *e;

	if (ob->head == ob->len)
		return FT_ENOTFOUND;
	e = &ob->v[ob->head];
	if (e->buf == NULL) {
		e->buf = ft_malloc(e->len);
		if (e->buf == NULL)
			return FT_ENOMEM;
		memcpy(e->buf, e->shared, e->len);
	}
	*to = e->to;
	*buf = e->buf;
	*len = e->len;
	ob->v[ob->head].buf = NULL;
	ob->head++;
	return FT_OK;
}

void secagg_outbox_clear(secagg_outbox *ob)
{
	size_t i;

	for (i = ob->head; i < ob->len; i++)
		ft_free(ob->v[i].buf);
	ft_free(ob->v);
	memset(ob, 0, sizeof(*ob));
}

/* ---- Header ------------------------------------------------------------ */

static void hdr_store(uint8_t *p, uint8_t type, const ft_crypto_ctx *ctx, uint32_t sender)
{
	p[0] = FT_SECAGG_VERSION;
	p[1] = type;
	memcpy(p + 2, ctx->consortium, FT_CRYPTO_ID_BYTES);
	ft_put_le64(p + 34, ctx->run);
	ft_put_le64(p + 42, ctx->round);
	ft_put_le32(p + 50, ctx->attempt);
	ft_put_le32(p + 54, sender);
}

int ft_secagg_hdr_decode(const uint8_t *msg, size_t len, ft_secagg_hdr *out)
{
	ft_secagg_hdr h;

	if (msg == NULL || out == NULL || len < FT_SECAGG_HDR_BYTES)
		return FT_EPROTO;
	memset(&h, 0, sizeof(h));
	h.version = msg[0];
	h.type = msg[1];
	if (h.version != FT_SECAGG_VERSION || h.type < FT_SECAGG_MSG_CONFIG ||
	    h.type > FT_SECAGG_MSG_ABORT)
		return FT_EPROTO;
	memcpy(h.ctx.consortium, msg + 2, FT_CRYPTO_ID_BYTES);
	h.ctx.run = ft_get_le64(msg + 34);
	h.ctx.round = ft_get_le64(msg + 42);
	h.ctx.attempt = ft_get_le32(msg + 50);
	h.sender = ft_get_le32(msg + 54);
	*out = h;
	return FT_OK;
}

int secagg_msg_alloc(uint8_t type, const ft_crypto_ctx *ctx, uint32_t sender, size_t body,
                     uint8_t **msg, uint8_t **bodyp)
{
	uint8_t *m;

	if (body > SIZE_MAX - FT_SECAGG_HDR_BYTES)
		return FT_ERANGE;
	m = ft_malloc(FT_SECAGG_HDR_BYTES + body);
	if (m == NULL)
		return FT_ENOMEM;
	hdr_store(m, type, ctx, sender);
	*msg = m;
	*bodyp = m + FT_SECAGG_HDR_BYTES;
	return FT_OK;
}

int secagg_ctx_equal(const ft_crypto_ctx *a, const ft_crypto_ctx *b)
{
	return memcmp(a->consortium, b->consortium, FT_CRYPTO_ID_BYTES) == 0 &&
	       a->run == b->run && a->round == b->round && a->attempt == b->attempt;
}

int secagg_list_decode(const uint8_t *body, size_t blen, size_t stride, uint32_t max,
                       uint32_t *count, const uint8_t **entries)
{
	uint32_t m;

	if (blen < 4)
		return FT_EPROTO;
	m = ft_get_le32(body);
	if (m > max)
		return FT_EPROTO;
	/* m <= max <= FT_SECAGG_MAX_CHUNK and stride is small: no overflow. */
	if ((size_t)m * stride != blen - 4)
		return FT_EPROTO;
	*count = m;
	*entries = body + 4;
	return FT_OK;
}

/* ---- Configuration ----------------------------------------------------- */

int ft_secagg_config_check(const ft_secagg_config *cfg)
{
	uint32_t i;

	if (cfg == NULL || cfg->sites == NULL)
		return FT_EINVAL;
	if (cfg->n < 2 || cfg->n > FT_SECAGG_MAX_SITES)
		return FT_ERANGE;
	if (cfg->k < 1 || cfg->k > cfg->n - 1 || (cfg->k % 2 != 0 && cfg->k != cfg->n - 1))
		return FT_EINVAL;
	if (cfg->t > cfg->k || 2 * cfg->t <= cfg->k)
		return FT_EINVAL;
	if (cfg->bits < 16 || cfg->bits > 32)
		return FT_ERANGE;
	if (cfg->d < 1 || cfg->d > FT_SECAGG_MAX_D || cfg->chunk < 1 ||
	    cfg->chunk > FT_SECAGG_MAX_CHUNK)
		return FT_ERANGE;
	for (i = 0; i < cfg->n; i++) {
		if (cfg->sites[i].id == FT_SECAGG_SERVER_ID)
			return FT_EINVAL;
		if (i > 0 && cfg->sites[i].id == cfg->sites[i - 1].id)
			return FT_EEXIST;
		if (i > 0 && cfg->sites[i].id < cfg->sites[i - 1].id)
			return FT_EINVAL;
	}
	return FT_OK;
}

static void config_body_store(const ft_secagg_config *cfg, uint8_t *p)
{
	uint32_t i;

	ft_put_le32(p, cfg->n);
	ft_put_le32(p + 4, cfg->t);
	ft_put_le32(p + 8, cfg->k);
	ft_put_le32(p + 12, cfg->d);
	p[16] = (uint8_t)cfg->bits;
	ft_put_le32(p + 17, cfg->chunk);
	memcpy(p + 21, cfg->seed, FT_CRYPTO_KEY_BYTES);
	p += SECAGG_CONFIG_FIXED;
	for (i = 0; i < cfg->n; i++) {
		ft_put_le32(p, cfg->sites[i].id);
		memcpy(p + 4, cfg->sites[i].sign_pk, FT_CRYPTO_SIGN_PK_BYTES);
		p += SECAGG_CONFIG_ENTRY;
	}
}

int ft_secagg_config_encode(const ft_secagg_config *cfg, uint8_t **buf, size_t *len)
{
	uint8_t *m = NULL, *body;
	size_t blen;
	int rv;

	if (buf == NULL || len == NULL)
		return FT_EINVAL;
	rv = ft_secagg_config_check(cfg);
	if (rv != FT_OK)
		return rv;
	blen = SECAGG_CONFIG_FIXED + (size_t)cfg->n * SECAGG_CONFIG_ENTRY;
	rv = secagg_msg_alloc(FT_SECAGG_MSG_CONFIG, &cfg->ctx, FT_SECAGG_SERVER_ID, blen, &m, &body);
	if (rv != FT_OK)
		return rv;
	config_body_store(cfg, body);
	*buf = m;
	*len = FT_SECAGG_HDR_BYTES + blen;
	return FT_OK;
}

int secagg_config_hash(const ft_secagg_config *cfg, uint8_t out[FT_CRYPTO_HASH_BYTES])
{
	size_t blen = SECAGG_CONFIG_FIXED + (size_t)cfg->n * SECAGG_CONFIG_ENTRY;
	uint8_t *body = ft_malloc(blen);

	if (body == NULL)
		return FT_ENOMEM;
	config_body_store(cfg, body);
	ft_crypto_hash(out, body, blen);
	ft_free(body);
	return FT_OK;
}

int ft_secagg_config_decode(const uint8_t *msg, size_t len, ft_secagg_config *cfg,
                            ft_secagg_site **sites)
{
	ft_secagg_hdr h;
	ft_secagg_config c;
	ft_secagg_site *s = NULL;
	const uint8_t *p;
	uint32_t i;
	int rv;

	if (cfg == NULL || sites == NULL)
		return FT_EINVAL;
	rv = ft_secagg_hdr_decode(msg, len, &h);
	if (rv != FT_OK)
		return rv;
	if (h.type != FT_SECAGG_MSG_CONFIG || h.sender != FT_SECAGG_SERVER_ID)
		return FT_EPROTO;
	if (len < FT_SECAGG_HDR_BYTES + SECAGG_CONFIG_FIXED)
		return FT_EPROTO;
	p = msg + FT_SECAGG_HDR_BYTES;
	memset(&c, 0, sizeof(c));
	c.ctx = h.ctx;
	c.n = ft_get_le32(p);
	c.t = ft_get_le32(p + 4);
	c.k = ft_get_le32(p + 8);
	c.d = ft_get_le32(p + 12);
	c.bits = p[16];
	c.chunk = ft_get_le32(p + 17);
	memcpy(c.seed, p + 21, FT_CRYPTO_KEY_BYTES);
	/* The count is checked against the remaining bytes before allocating. */
	if (c.n < 2 || c.n > FT_SECAGG_MAX_SITES ||
	    len - FT_SECAGG_HDR_BYTES - SECAGG_CONFIG_FIXED != (size_t)c.n * SECAGG_CONFIG_ENTRY)
		return FT_EPROTO;
	s = ft_mallocarray(c.n, sizeof(*s));
	if (s == NULL)
		return FT_ENOMEM;
	p += SECAGG_CONFIG_FIXED;
	for (i = 0; i < c.n; i++) {
		s[i].id = ft_get_le32(p);
		memcpy(s[i].sign_pk, p + 4, FT_CRYPTO_SIGN_PK_BYTES);
		p += SECAGG_CONFIG_ENTRY;
	}
	c.sites = s;
	rv = ft_secagg_config_check(&c);
	if (rv != FT_OK) {
		ft_free(s);
		return rv == FT_EEXIST ? FT_EEXIST : FT_EPROTO;
	}
	*cfg = c;
	*sites = s;
	return FT_OK;
}

int secagg_config_copy(const ft_secagg_config *cfg, ft_secagg_config *dst, ft_secagg_site **sites)
{
	ft_secagg_site *s = ft_mallocarray(cfg->n, sizeof(*s));

	if (s == NULL)
		return FT_ENOMEM;
	memcpy(s, cfg->sites, (size_t)cfg->n * sizeof(*s));
	*dst = *cfg;
	dst->sites = s;
	*sites = s;
	return FT_OK;
}

long secagg_site_index(const ft_secagg_config *cfg, uint32_t id)
{
	uint32_t lo = 0, hi = cfg->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (cfg->sites[mid].id == id)
			return (long)mid;
		if (cfg->sites[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* ---- Signed statements ------------------------------------------------- */

static uint8_t *ctx_store(uint8_t *p, const ft_crypto_ctx *ctx)
{
	memcpy(p, ctx->consortium, FT_CRYPTO_ID_BYTES);
	ft_put_le64(p + 32, ctx->run);
	ft_put_le64(p + 40, ctx->round);
	ft_put_le32(p + 48, ctx->attempt);
	return p + 52;
}

void secagg_adv_statement(const ft_crypto_ctx *ctx, uint32_t sender,
                          const uint8_t cfg_hash[FT_CRYPTO_HASH_BYTES],
                          const uint8_t keys[SECAGG_ADV_KEYS], uint8_t *out)
{
	uint8_t *p = out;

	memcpy(p, SECAGG_ADV_DOMAIN, sizeof(SECAGG_ADV_DOMAIN) - 1);
	p += sizeof(SECAGG_ADV_DOMAIN) - 1;
	p = ctx_store(p, ctx);
	ft_put_le32(p, sender);
	p += 4;
	memcpy(p, cfg_hash, FT_CRYPTO_HASH_BYTES);
	p += FT_CRYPTO_HASH_BYTES;
	memcpy(p, keys, SECAGG_ADV_KEYS);
}

void secagg_b_commit(const ft_crypto_ctx *ctx, uint32_t site,
                     const uint8_t b[FT_CRYPTO_KEY_BYTES], uint8_t out[FT_CRYPTO_HASH_BYTES])
{
	ft_crypto_hash_state st;
	uint8_t pre[52 + 4];

	ctx_store(pre, ctx);
	ft_put_le32(pre + 52, site);
	ft_crypto_hash_init(&st);
	ft_crypto_hash_update(&st, SECAGG_BCOMMIT_DOMAIN, sizeof(SECAGG_BCOMMIT_DOMAIN) - 1);
	ft_crypto_hash_update(&st, pre, sizeof(pre));
	ft_crypto_hash_update(&st, b, FT_CRYPTO_KEY_BYTES);
	ft_crypto_hash_final(&st, out);
	ft_crypto_wipe(&st, sizeof(st));
}

void secagg_check_statement(const ft_crypto_ctx *ctx, uint32_t signer,
                            const uint8_t cfg_hash[FT_CRYPTO_HASH_BYTES], uint32_t m,
                            const uint8_t *ids_le, uint8_t out[FT_CRYPTO_HASH_BYTES])
{
	ft_crypto_hash_state st;
	uint8_t pre[52 + 4 + 4];
	uint8_t *p;

	ft_crypto_hash_init(&st);
	ft_crypto_hash_update(&st, SECAGG_CHECK_DOMAIN, sizeof(SECAGG_CHECK_DOMAIN) - 1);
	p = ctx_store(pre, ctx);
	ft_put_le32(p, signer);
	ft_put_le32(p + 4, m);
	ft_crypto_hash_update(&st, pre, sizeof(pre));
	ft_crypto_hash_update(&st, cfg_hash, FT_CRYPTO_HASH_BYTES);
	ft_crypto_hash_update(&st, ids_le, (size_t)m * 4);
	ft_crypto_hash_final(&st, out);
}
