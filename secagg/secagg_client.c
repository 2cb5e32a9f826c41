/*
 * secagg_client.c - a site's side of secure aggregation as a pure state
 * machine: draws fresh round keys, shares its secrets with its neighbours,
 * uploads its masked input chunk by chunk, signs the survivor set, checks the
 * other survivors' signatures and releases exactly one kind of share per
 * neighbour (docs/PROTOCOL.md, "Secure aggregation").
 *
 * The round's secrets live in guarded memory (ft_crypto_secure_alloc) from
 * CONFIG to the end of the round: the seeds b and s_seed in one block, the
 * per-neighbour keys, pairwise mask seeds and held shares in the peer array.
 */
#include <stdio.h>
#include <string.h>

#include "secagg_int.h"

/* A neighbour in the graph: its keys and, once forwarded, its shares. */
typedef struct cl_peer {
	uint32_t idx, id;
	uint8_t c_pk[FT_CRYPTO_KX_PK_BYTES];
	uint8_t s_pk[FT_CRYPTO_KX_PK_BYTES];
	uint8_t enc_key[FT_CRYPTO_KEY_BYTES];   /* secret */
	uint8_t mask_seed[FT_CRYPTO_KEY_BYTES]; /* secret: s_ij */
	uint8_t have_keys;   /* in U1: its keys were forwarded */
	uint8_t have_shares; /* in U2: its shares were forwarded (we mask with it) */
	uint8_t in_u3;
	ft_crypto_share b_share; /* secret */
	ft_crypto_share s_share; /* secret */
} cl_peer;

/* The site's own seeds for one round, in one guarded block. */
typedef struct cl_seeds {
	uint8_t b[FT_CRYPTO_KEY_BYTES];      /* self-mask seed */
	uint8_t s_seed[FT_CRYPTO_KEY_BYTES]; /* seed of the s pair, wiped once shared */
} cl_seeds;

struct ft_secagg_client {
	const ft_crypto_identity *id;
	uint32_t self_id, self_idx;
	ft_crypto_ctx ctx;
	ft_secagg_timeouts to;
	ft_secagg_phase phase;
	uint64_t deadline;
	int err;
	char reason[128];

	ft_secagg_config cfg;
	ft_secagg_site *sites;
	uint8_t cfg_hash[FT_CRYPTO_HASH_BYTES];
	ft_secagg_graph *g;

	ft_crypto_kx *c_kx, *s_kx;
	cl_seeds *sec; /* guarded block */
	cl_peer *peer; /* guarded block, cfg.k entries */
	uint32_t n_peer;

	const uint32_t *x;
	uint32_t up_off;
	int uploaded;
	uint32_t *tmp; /* one chunk */

	uint8_t *u3_le; /* the survivor set U3 as on the wire (sorted ids) */
	uint32_t n_u3;

	ft_secagg_expect exp; /* exp.sites is exp_sites; unused if !has_exp */
	ft_secagg_site *exp_sites;
	int has_exp;

	secagg_outbox ob;
};

static const ft_secagg_timeouts default_timeouts = {
	30000, 30000, 300000, 30000, 30000, 600000,
};

static void client_wipe(ft_secagg_client *c)
{
	ft_crypto_kx_free(c->c_kx);
	ft_crypto_kx_free(c->s_kx);
	c->c_kx = NULL;
	c->s_kx = NULL;
	if (c->sec != NULL)
		ft_crypto_wipe(c->sec, sizeof(*c->sec));
	if (c->peer != NULL)
		ft_crypto_wipe(c->peer, (size_t)c->n_peer * sizeof(*c->peer));
}

static int client_abort(ft_secagg_client *c, int code, const char *why)
{
	client_wipe(c);
	secagg_outbox_clear(&c->ob);
	c->phase = FT_SECAGG_ABORTED;
	c->err = code;
	snprintf(c->reason, sizeof(c->reason), "%s", why);
	return code;
}

int ft_secagg_client_alloc(const ft_crypto_identity *id, uint32_t site_id,
                           const ft_crypto_ctx *ctx, const ft_secagg_timeouts *to,
                           uint64_t now_ms, ft_secagg_client **out)
{
	ft_secagg_client *c;

	if (id == NULL || ctx == NULL || out == NULL || site_id == FT_SECAGG_SERVER_ID)
		return FT_EINVAL;
	c = ft_calloc(1, sizeof(*c));
	if (c == NULL)
		return FT_ENOMEM;
	c->id = id;
	c->self_id = site_id;
	c->ctx = *ctx;
	c->to = to != NULL ? *to : default_timeouts;
	c->phase = FT_SECAGG_CONFIG;
	c->deadline = now_ms + c->to.client_idle_ms;
	*out = c;
	return FT_OK;
}

void ft_secagg_client_free(ft_secagg_client *c)
{
	if (c == NULL)
		return;
	client_wipe(c);
	ft_crypto_secure_free(c->sec);
	ft_crypto_secure_free(c->peer);
	ft_free(c->tmp);
	ft_free(c->u3_le);
	ft_free(c->sites);
	ft_free(c->exp_sites);
	ft_secagg_graph_free(c->g);
	secagg_outbox_clear(&c->ob);
	ft_free(c);
}

int ft_secagg_client_expect(ft_secagg_client *c, const ft_secagg_expect *e)
{
	ft_secagg_site *copy;

	if (c == NULL || e == NULL || (e->n_sites > 0 && e->sites == NULL) ||
	    e->n_sites > FT_SECAGG_MAX_SITES || !(e->gamma >= 0.0) || !(e->gamma < 1.0) ||
	    e->sigma > 128)
		return FT_EINVAL;
	if (c->phase != FT_SECAGG_CONFIG)
		return FT_ESTATE;
	for (uint32_t i = 1; i < e->n_sites; i++)
		if (e->sites[i].id <= e->sites[i - 1].id)
			return FT_EINVAL;
	copy = ft_mallocarray(e->n_sites ? e->n_sites : 1, sizeof(*copy));
	if (copy == NULL)
		return FT_ENOMEM;
	if (e->n_sites > 0)
		memcpy(copy, e->sites, (size_t)e->n_sites * sizeof(*copy));
	ft_free(c->exp_sites);
	c->exp_sites = copy;
	c->exp = *e;
	c->exp.sites = copy;
	c->has_exp = 1;
	return FT_OK;
}

int ft_secagg_client_set_input(ft_secagg_client *c, const uint32_t *x, size_t d)
{
	if (c == NULL || x == NULL)
		return FT_EINVAL;
	if (c->x != NULL || c->phase == FT_SECAGG_CONFIG || c->phase > FT_SECAGG_UPLOAD)
		return FT_ESTATE;
	if (d != c->cfg.d)
		return FT_EINVAL;
	c->x = x;
	c->up_off = 0;
	return FT_OK;
}

static cl_peer *peer_find(ft_secagg_client *c, uint32_t id)
{
	uint32_t lo = 0, hi = c->n_peer;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (c->peer[mid].id == id)
			return &c->peer[mid];
		if (c->peer[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * The CONFIG against what the site accepts (ft_secagg_client_expect): the
 * server chose n, k and t, and the sites, and could otherwise shrink the
 * round below the site's floor or add a "site" whose key it holds and so
 * gather the shares that unmask this site alone. Writes the reason on
 * failure; it names ids and numbers, never a key.
 */
static int config_acceptable(const ft_secagg_client *c, const ft_secagg_config *cfg, char *why,
                             size_t wlen)
{
	const ft_secagg_expect *e = &c->exp;
	uint32_t j = 0;

	for (uint32_t i = 0; i < cfg->n; i++) {
		const ft_secagg_site *s = &cfg->sites[i];

		/* Both lists are sorted by id: one merge pass. */
		while (j < e->n_sites && e->sites[j].id < s->id)
			j++;
		if (j == e->n_sites || e->sites[j].id != s->id) {
			snprintf(why, wlen, "the configuration lists site %u, which was not announced"
			         " or is not enrolled", s->id);
			return 0;
		}
		if (!ft_crypto_equal(s->sign_pk, e->sites[j].sign_pk, FT_CRYPTO_SIGN_PK_BYTES)) {
			snprintf(why, wlen, "the configuration gives site %u a key the consortium"
			         " manifest does not enrol for it", s->id);
			return 0;
		}
	}
	if (secagg_site_index(cfg, c->self_id) < 0) {
		snprintf(why, wlen, "the configuration does not list this site");
		return 0;
	}
	if (cfg->n < e->min_n) {
		snprintf(why, wlen, "the configuration has %u sites; this site needs at least %u",
		         cfg->n, e->min_n);
		return 0;
	}
	if (cfg->t < 2 || !ft_secagg_params_secure(cfg->n, cfg->k, cfg->t, e->gamma, e->sigma)) {
		snprintf(why, wlen, "a threshold of %u of %u neighbours among %u sites is too low for"
		         " the collusion this site assumes", cfg->t, cfg->k, cfg->n);
		return 0;
	}
	return 1;
}

/* Phase 0 -> 1: learn the round, draw fresh keys, advertise them signed. */
static int on_config(ft_secagg_client *c, const uint8_t *msg, size_t len)
{
	ft_secagg_config cfg;
	ft_secagg_site *sites = NULL;
	ft_secagg_graph *g = NULL;
	cl_peer *peer = NULL;
	cl_seeds *sec = NULL;
	uint32_t *nb = NULL, *tmp = NULL;
	uint8_t stmt[SECAGG_ADV_STMT_BYTES];
	uint8_t *m = NULL, *body;
	ft_crypto_kx *c_kx = NULL, *s_kx = NULL;
	uint32_t i, n_nb;
	long self;
	int rv;

	rv = ft_secagg_config_decode(msg, len, &cfg, &sites);
	if (rv != FT_OK)
		return rv;
	if (c->has_exp) {
		char why[sizeof(c->reason)];

		if (!config_acceptable(c, &cfg, why, sizeof(why))) {
			ft_free(sites);
			return client_abort(c, FT_EPERM, why);
		}
	}
	self = secagg_site_index(&cfg, c->self_id);
	if (self < 0 || !ft_crypto_equal(cfg.sites[self].sign_pk, ft_crypto_identity_pk(c->id),
	                                 FT_CRYPTO_SIGN_PK_BYTES)) {
		rv = FT_EPROTO; /* not for us, or our key is enrolled differently */
		goto out;
	}
	rv = ft_secagg_graph_alloc(cfg.seed, cfg.n, cfg.k, &g);
	if (rv != FT_OK)
		goto out;
	nb = ft_mallocarray(cfg.k, sizeof(*nb));
	tmp = ft_mallocarray(cfg.chunk, sizeof(*tmp));
	/* k <= FT_SECAGG_MAX_SITES: the product cannot overflow. */
	peer = ft_crypto_secure_alloc((size_t)cfg.k * sizeof(*peer));
	sec = ft_crypto_secure_alloc(sizeof(*sec));
	if (nb == NULL || peer == NULL || tmp == NULL || sec == NULL) {
		rv = FT_ENOMEM;
		goto out;
	}
	n_nb = ft_secagg_graph_neighbours(g, (uint32_t)self, nb);
	for (i = 0; i < n_nb; i++) {
		peer[i].idx = nb[i];
		peer[i].id = cfg.sites[nb[i]].id;
	}
	rv = secagg_config_hash(&cfg, c->cfg_hash);
	if (rv != FT_OK)
		goto out;
	/* Fresh for every attempt: c for share encryption, s (from a seed that
	 * is Shamir-shared) for the pairwise masks, b for the self mask. */
	rv = ft_crypto_kx_generate(&c_kx);
	if (rv != FT_OK)
		goto out;
	ft_crypto_random(sec->s_seed, sizeof(sec->s_seed));
	rv = ft_crypto_kx_from_seed(sec->s_seed, &s_kx);
	if (rv != FT_OK)
		goto out;
	rv = secagg_msg_alloc(FT_SECAGG_MSG_ADVERTISE, &cfg.ctx, c->self_id, SECAGG_ADV_BODY, &m,
	                      &body);
	if (rv != FT_OK)
		goto out;
	ft_crypto_random(sec->b, sizeof(sec->b));
	memcpy(body, ft_crypto_kx_pk(c_kx), FT_CRYPTO_KX_PK_BYTES);
	memcpy(body + 32, ft_crypto_kx_pk(s_kx), FT_CRYPTO_KX_PK_BYTES);
	secagg_b_commit(&cfg.ctx, c->self_id, sec->b, body + 64);
	secagg_adv_statement(&cfg.ctx, c->self_id, c->cfg_hash, body, stmt);
	rv = ft_crypto_identity_sign(c->id, stmt, sizeof(stmt), body + SECAGG_ADV_KEYS);
	if (rv != FT_OK)
		goto out;
	rv = secagg_outbox_push(&c->ob, FT_SECAGG_SERVER_ID, m, FT_SECAGG_HDR_BYTES + SECAGG_ADV_BODY);
	if (rv != FT_OK)
		goto out;
	m = NULL;
	c->cfg = cfg;
	c->sites = sites;
	sites = NULL;
	c->self_idx = (uint32_t)self;
	c->g = g;
	g = NULL;
	c->peer = peer;
	peer = NULL;
	c->n_peer = n_nb;
	c->tmp = tmp;
	tmp = NULL;
	c->c_kx = c_kx;
	c_kx = NULL;
	c->s_kx = s_kx;
	s_kx = NULL;
	c->sec = sec;
	sec = NULL;
	c->phase = FT_SECAGG_ADVERTISE;
	rv = FT_OK;
out:
	ft_crypto_secure_free(sec); /* wipes */
	ft_free(m);
	ft_free(nb);
	ft_crypto_secure_free(peer);
	ft_free(tmp);
	ft_free(sites);
	ft_secagg_graph_free(g);
	ft_crypto_kx_free(c_kx);
	ft_crypto_kx_free(s_kx);
	return rv;
}

/* Phase 1 -> 2: check the neighbours' signed keys, share b and the s seed
 * among them (t of m) and encrypt each pair of shares to its holder. */
static int on_keys(ft_secagg_client *c, const uint8_t *body, size_t blen)
{
	const uint8_t *e;
	uint8_t stmt[SECAGG_ADV_STMT_BYTES];
	uint8_t pt[SECAGG_SHARE_PT_BYTES];
	uint8_t scratch[FT_CRYPTO_KEY_BYTES];
	ft_crypto_share *bsh = NULL, *ssh = NULL;
	uint8_t *m = NULL, *out;
	uint32_t count, i, prev = 0;
	size_t mlen = 0;
	int rv;

	rv = secagg_list_decode(body, blen, SECAGG_KEYS_ENTRY, c->cfg.k, &count, &e);
	if (rv != FT_OK)
		return rv;
	/* Validate everything before touching the state. */
	for (i = 0; i < count; i++) {
		const uint8_t *p = e + (size_t)i * SECAGG_KEYS_ENTRY;
		uint32_t id = ft_get_le32(p);
		long idx = secagg_site_index(&c->cfg, id);

		if (i > 0 && id == prev)
			return FT_EEXIST;
		if ((i > 0 && id < prev) || idx < 0 ||
		    !ft_secagg_graph_adjacent(c->g, c->self_idx, (uint32_t)idx))
			return FT_EPROTO;
		prev = id;
		secagg_adv_statement(&c->ctx, id, c->cfg_hash, p + 4, stmt);
		if (ft_crypto_verify(c->cfg.sites[idx].sign_pk, stmt, sizeof(stmt),
		                     p + 4 + SECAGG_ADV_KEYS) != FT_OK)
			return FT_ECRYPTO;
	}
	if (count < c->cfg.t)
		return FT_EPROTO; /* the server must not continue with fewer than t */
	for (i = 0; i < count; i++) {
		const uint8_t *p = e + (size_t)i * SECAGG_KEYS_ENTRY;
		cl_peer *q = peer_find(c, ft_get_le32(p));

		if (q == NULL)
			return FT_EINTERNAL; /* adjacency was checked above */
		memcpy(q->c_pk, p + 4, FT_CRYPTO_KX_PK_BYTES);
		memcpy(q->s_pk, p + 36, FT_CRYPTO_KX_PK_BYTES);
		q->have_keys = 1;
	}
	bsh = ft_calloc(count, sizeof(*bsh));
	ssh = ft_calloc(count, sizeof(*ssh));
	if (bsh == NULL || ssh == NULL) {
		rv = FT_ENOMEM;
		goto out;
	}
	rv = ft_crypto_shamir_split(c->sec->b, c->cfg.t, count, bsh);
	if (rv != FT_OK)
		goto out;
	rv = ft_crypto_shamir_split(c->sec->s_seed, c->cfg.t, count, ssh);
	if (rv != FT_OK)
		goto out;
	mlen = 4 + (size_t)count * SECAGG_SHARES_ENTRY;
	rv = secagg_msg_alloc(FT_SECAGG_MSG_SHARES, &c->ctx, c->self_id, mlen, &m, &out);
	if (rv != FT_OK)
		goto out;
	ft_put_le32(out, count);
	out += 4;
	/* Holders in increasing id order get x = 1, 2, ...: the split's order. */
	for (i = 0; i < count; i++) {
		cl_peer *q = peer_find(c, ft_get_le32(e + (size_t)i * SECAGG_KEYS_ENTRY));

		if (q == NULL) {
			rv = FT_EINTERNAL;
			goto out;
		}
		rv = ft_crypto_kx_derive(c->c_kx, c->self_id, q->c_pk, q->id, &c->ctx, scratch,
		                         q->enc_key);
		ft_crypto_wipe(scratch, sizeof(scratch));
		if (rv != FT_OK)
			goto out;
		ft_put_le32(pt, bsh[i].x);
		memcpy(pt + 4, bsh[i].value, FT_CRYPTO_SHARE_BYTES);
		memcpy(pt + 4 + FT_CRYPTO_SHARE_BYTES, ssh[i].value, FT_CRYPTO_SHARE_BYTES);
		ft_put_le32(out, q->id);
		rv = ft_crypto_seal(q->enc_key, &c->ctx, c->self_id, q->id, pt, sizeof(pt), out + 4);
		if (rv != FT_OK)
			goto out;
		out += SECAGG_SHARES_ENTRY;
	}
	rv = secagg_outbox_push(&c->ob, FT_SECAGG_SERVER_ID, m, FT_SECAGG_HDR_BYTES + mlen);
	if (rv != FT_OK)
		goto out;
	m = NULL;
	/* The s seed now lives only in the shares; the s pair stays for masks. */
	ft_crypto_wipe(c->sec->s_seed, sizeof(c->sec->s_seed));
	c->phase = FT_SECAGG_SHARES;
out:
	if (rv != FT_OK) {
		for (i = 0; i < c->n_peer; i++)
			c->peer[i].have_keys = 0;
	}
	ft_crypto_wipe(pt, sizeof(pt));
	if (bsh != NULL)
		ft_crypto_wipe(bsh, (size_t)count * sizeof(*bsh));
	if (ssh != NULL)
		ft_crypto_wipe(ssh, (size_t)count * sizeof(*ssh));
	ft_free(bsh);
	ft_free(ssh);
	ft_free(m);
	return rv;
}

/* Phase 2 -> 3: open the shares neighbours sent us; each of them is in U2,
 * and we mask with exactly those. */
static int on_shares_fwd(ft_secagg_client *c, const uint8_t *body, size_t blen)
{
	const uint8_t *e;
	uint8_t pt[SECAGG_SHARE_PT_BYTES];
	uint8_t scratch[FT_CRYPTO_KEY_BYTES];
	ft_crypto_share *bs = NULL, *ss = NULL;
	uint8_t (*seeds)[FT_CRYPTO_KEY_BYTES] = NULL;
	uint32_t count, i, prev = 0;
	int rv;

	rv = secagg_list_decode(body, blen, SECAGG_SHARES_ENTRY, c->cfg.k, &count, &e);
	if (rv != FT_OK)
		return rv;
	for (i = 0; i < count; i++) {
		uint32_t id = ft_get_le32(e + (size_t)i * SECAGG_SHARES_ENTRY);
		cl_peer *q = peer_find(c, id);

		if (i > 0 && id == prev)
			return FT_EEXIST;
		if ((i > 0 && id < prev) || q == NULL || !q->have_keys)
			return FT_EPROTO;
		prev = id;
	}
	/* Masking with fewer than t neighbours would let a server that
	 * forwarded few shares strip the remaining masks with the self-mask
	 * shares alone (Bonawitz et al. require |U2| >= t). */
	if (count < c->cfg.t)
		return client_abort(c, FT_EABORT,
		                    "fewer than t neighbours' shares were forwarded");
	bs = ft_calloc(count ? count : 1, sizeof(*bs));
	ss = ft_calloc(count ? count : 1, sizeof(*ss));
	seeds = ft_calloc(count ? count : 1, sizeof(*seeds));
	if (bs == NULL || ss == NULL || seeds == NULL) {
		rv = FT_ENOMEM;
		goto out;
	}
	for (i = 0; i < count; i++) {
		const uint8_t *p = e + (size_t)i * SECAGG_SHARES_ENTRY;
		cl_peer *q = peer_find(c, ft_get_le32(p));
		uint32_t x;

		if (q == NULL) {
			rv = FT_EINTERNAL;
			goto out;
		}
		rv = ft_crypto_open(q->enc_key, &c->ctx, q->id, c->self_id, p + 4,
		                    SECAGG_SHARE_CT_BYTES, pt);
		if (rv != FT_OK) {
			rv = FT_ECRYPTO;
			goto out;
		}
		x = ft_get_le32(pt);
		if (x < 1 || x > c->cfg.k) {
			rv = FT_EPROTO;
			goto out;
		}
		bs[i].x = x;
		ss[i].x = x;
		memcpy(bs[i].value, pt + 4, FT_CRYPTO_SHARE_BYTES);
		memcpy(ss[i].value, pt + 4 + FT_CRYPTO_SHARE_BYTES, FT_CRYPTO_SHARE_BYTES);
		rv = ft_crypto_kx_derive(c->s_kx, c->self_id, q->s_pk, q->id, &c->ctx, seeds[i],
		                         scratch);
		ft_crypto_wipe(scratch, sizeof(scratch));
		if (rv != FT_OK)
			goto out;
	}
	for (i = 0; i < count; i++) {
		cl_peer *q = peer_find(c, ft_get_le32(e + (size_t)i * SECAGG_SHARES_ENTRY));

		if (q == NULL)
			continue; /* checked above */
		q->b_share = bs[i];
		q->s_share = ss[i];
		memcpy(q->mask_seed, seeds[i], FT_CRYPTO_KEY_BYTES);
		q->have_shares = 1;
	}
	c->phase = FT_SECAGG_UPLOAD;
	rv = FT_OK;
out:
	ft_crypto_wipe(pt, sizeof(pt));
	if (bs != NULL)
		ft_crypto_wipe(bs, (count ? count : 1) * sizeof(*bs));
	if (ss != NULL)
		ft_crypto_wipe(ss, (count ? count : 1) * sizeof(*ss));
	if (seeds != NULL)
		ft_crypto_wipe(seeds, (count ? count : 1) * sizeof(*seeds));
	ft_free(bs);
	ft_free(ss);
	ft_free(seeds);
	return rv;
}

/* Builds the next masked chunk: y = x + PRG(b) + sum_{j>i} PRG(s_ij)
 * - sum_{j<i} PRG(s_ij) over Z_2^bits, for elements [up_off, up_off+cnt). */
static int next_chunk(ft_secagg_client *c, uint8_t **buf, size_t *len)
{
	uint32_t off = c->up_off, cnt = c->cfg.d - off, i;
	uint32_t mask = c->cfg.bits == 32 ? 0xFFFFFFFFu : (1u << c->cfg.bits) - 1u;
	uint8_t *m = NULL, *body;
	size_t blen;
	int rv;

	if (cnt > c->cfg.chunk)
		cnt = c->cfg.chunk;
	for (i = 0; i < cnt; i++)
		c->tmp[i] = c->x[off + i] & mask;
	rv = ft_crypto_mask_apply(c->sec->b, c->tmp, cnt, off, c->cfg.bits, +1);
	if (rv != FT_OK)
		return rv;
	for (i = 0; i < c->n_peer; i++) {
		const cl_peer *q = &c->peer[i];

		if (!q->have_shares)
			continue;
		rv = ft_crypto_mask_apply(q->mask_seed, c->tmp, cnt, off, c->cfg.bits,
		                          q->id > c->self_id ? +1 : -1);
		if (rv != FT_OK)
			return rv;
	}
	blen = 8 + (size_t)cnt * 4;
	rv = secagg_msg_alloc(FT_SECAGG_MSG_MASKED, &c->ctx, c->self_id, blen, &m, &body);
	if (rv != FT_OK)
		return rv;
	ft_put_le32(body, off);
	ft_put_le32(body + 4, cnt);
	for (i = 0; i < cnt; i++)
		ft_put_le32(body + 8 + 4 * (size_t)i, c->tmp[i]);
	c->up_off = off + cnt;
	if (c->up_off == c->cfg.d) {
		c->uploaded = 1;
		/* The self-mask seed is needed again only as shares held by others. */
		ft_crypto_wipe(c->sec->b, sizeof(c->sec->b));
		ft_crypto_wipe(c->tmp, (size_t)c->cfg.chunk * sizeof(*c->tmp));
	}
	*buf = m;
	*len = FT_SECAGG_HDR_BYTES + blen;
	return FT_OK;
}

int ft_secagg_client_next(ft_secagg_client *c, uint8_t **buf, size_t *len)
{
	uint32_t to;

	if (c == NULL || buf == NULL || len == NULL)
		return FT_EINVAL;
	if (secagg_outbox_pop(&c->ob, &to, buf, len) == FT_OK)
		return FT_OK;
	if (c->phase == FT_SECAGG_UPLOAD && c->x != NULL && !c->uploaded)
		return next_chunk(c, buf, len);
	return FT_ENOTFOUND;
}

static int u3_contains(const uint8_t *ids_le, uint32_t m, uint32_t id)
{
	uint32_t lo = 0, hi = m;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2, v = ft_get_le32(ids_le + 4 * (size_t)mid);

		if (v == id)
			return 1;
		if (v < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* Phase 3 -> 4: sign the survivor set the server claims. */
static int on_check(ft_secagg_client *c, const uint8_t *body, size_t blen)
{
	const uint8_t *e;
	uint8_t h[FT_CRYPTO_HASH_BYTES];
	uint8_t *u3 = NULL, *m = NULL, *out;
	uint32_t count, i, prev = 0;
	int self_in = 0, rv;

	if (!c->uploaded)
		return FT_ESTATE;
	rv = secagg_list_decode(body, blen, SECAGG_ID_ENTRY, c->cfg.n, &count, &e);
	if (rv != FT_OK)
		return rv;
	for (i = 0; i < count; i++) {
		uint32_t id = ft_get_le32(e + 4 * (size_t)i);

		if (i > 0 && id == prev)
			return FT_EEXIST;
		if ((i > 0 && id < prev) || secagg_site_index(&c->cfg, id) < 0)
			return FT_EPROTO;
		if (id == c->self_id)
			self_in = 1;
		prev = id;
	}
	if (!self_in || count < c->cfg.t)
		return FT_EPROTO;
	u3 = ft_malloc((size_t)count * 4);
	if (u3 == NULL)
		return FT_ENOMEM;
	memcpy(u3, e, (size_t)count * 4);
	rv = secagg_msg_alloc(FT_SECAGG_MSG_CHECK_SIG, &c->ctx, c->self_id, FT_CRYPTO_SIG_BYTES, &m,
	                      &out);
	if (rv != FT_OK)
		goto out;
	secagg_check_statement(&c->ctx, c->self_id, c->cfg_hash, count, u3, h);
	rv = ft_crypto_identity_sign(c->id, h, sizeof(h), out);
	if (rv != FT_OK)
		goto out;
	rv = secagg_outbox_push(&c->ob, FT_SECAGG_SERVER_ID, m,
	                        FT_SECAGG_HDR_BYTES + FT_CRYPTO_SIG_BYTES);
	if (rv != FT_OK)
		goto out;
	m = NULL;
	c->u3_le = u3;
	u3 = NULL;
	c->n_u3 = count;
	for (i = 0; i < c->n_peer; i++)
		c->peer[i].in_u3 = (uint8_t)u3_contains(c->u3_le, count, c->peer[i].id);
	c->phase = FT_SECAGG_CHECK;
out:
	ft_free(u3);
	ft_free(m);
	return rv;
}

/* Phase 4 -> 5: at least t members of U3 must have signed the same U3, so
 * the server cannot have told different sites different survivor sets. */
static int on_check_sigs(ft_secagg_client *c, const uint8_t *body, size_t blen)
{
	const uint8_t *e;
	uint8_t h[FT_CRYPTO_HASH_BYTES];
	uint32_t count, i, prev = 0, valid = 0;
	int rv;

	rv = secagg_list_decode(body, blen, SECAGG_SIGS_ENTRY, c->cfg.n, &count, &e);
	if (rv != FT_OK)
		return rv;
	for (i = 0; i < count; i++) {
		uint32_t id = ft_get_le32(e + (size_t)i * SECAGG_SIGS_ENTRY);

		if (i > 0 && id == prev)
			return FT_EEXIST;
		if ((i > 0 && id < prev) || !u3_contains(c->u3_le, c->n_u3, id))
			return FT_EPROTO;
		prev = id;
	}
	if (count < c->cfg.t)
		return FT_ECRYPTO;
	/* Every signature must verify (a forged one is a forged message), but
	 * only our own neighbours' count (Bell et al.): on a sparse graph, t
	 * signatures from elsewhere in U3 would let a server show our
	 * neighbours another survivor set than the one we saw. Our own
	 * signature proves nothing to us. */
	for (i = 0; i < count; i++) {
		const uint8_t *p = e + (size_t)i * SECAGG_SIGS_ENTRY;
		uint32_t id = ft_get_le32(p);
		long idx = secagg_site_index(&c->cfg, id);

		secagg_check_statement(&c->ctx, id, c->cfg_hash, c->n_u3, c->u3_le, h);
		if (ft_crypto_verify(c->cfg.sites[idx].sign_pk, h, sizeof(h), p + 4) != FT_OK)
			return FT_ECRYPTO;
		valid += peer_find(c, id) != NULL;
	}
	if (valid < c->cfg.t)
		return client_abort(c, FT_EABORT,
		                    "fewer than t neighbours signed the survivor set");
	c->phase = FT_SECAGG_UNMASK;
	return FT_OK;
}

/* Phase 5: release, per requested neighbour, the b share if it survived or
 * the s-seed share if it dropped; never both for one neighbour, and never a
 * kind that contradicts the signed U3. */
static int on_unmask_req(ft_secagg_client *c, const uint8_t *body, size_t blen)
{
	const uint8_t *e;
	uint8_t *m = NULL, *out;
	uint32_t count, i, prev = 0;
	uint8_t prev_kind = 0;
	size_t mlen;
	int rv;

	rv = secagg_list_decode(body, blen, SECAGG_REQ_ENTRY, c->cfg.k, &count, &e);
	if (rv != FT_OK)
		return rv;
	for (i = 0; i < count; i++) {
		const uint8_t *p = e + (size_t)i * SECAGG_REQ_ENTRY;
		uint32_t id = ft_get_le32(p);
		uint8_t kind = p[4];
		const cl_peer *q = peer_find(c, id);

		if (kind != SECAGG_KIND_SELF && kind != SECAGG_KIND_MASKKEY)
			return FT_EPROTO;
		if (i > 0 && id == prev) {
			if (kind != prev_kind)
				return client_abort(c, FT_EPERM,
				                    "server asked for both shares of one neighbour");
			return FT_EEXIST;
		}
		if ((i > 0 && id < prev) || q == NULL || !q->have_shares)
			return FT_EPROTO;
		if ((kind == SECAGG_KIND_SELF) != (q->in_u3 != 0))
			return client_abort(c, FT_EPERM,
			                    "server asked for a share that contradicts the signed survivor set");
		prev = id;
		prev_kind = kind;
	}
	mlen = 4 + (size_t)count * SECAGG_UNMASK_ENTRY;
	rv = secagg_msg_alloc(FT_SECAGG_MSG_UNMASK, &c->ctx, c->self_id, mlen, &m, &out);
	if (rv != FT_OK)
		return rv;
	ft_put_le32(out, count);
	out += 4;
	for (i = 0; i < count; i++) {
		const uint8_t *p = e + (size_t)i * SECAGG_REQ_ENTRY;
		const cl_peer *q = peer_find(c, ft_get_le32(p));
		const ft_crypto_share *sh;

		if (q == NULL)
			continue; /* checked above */
		sh = p[4] == SECAGG_KIND_SELF ? &q->b_share : &q->s_share;
		ft_put_le32(out, q->id);
		out[4] = p[4];
		ft_put_le32(out + 5, sh->x);
		memcpy(out + 9, sh->value, FT_CRYPTO_SHARE_BYTES);
		out += SECAGG_UNMASK_ENTRY;
	}
	rv = secagg_outbox_push(&c->ob, FT_SECAGG_SERVER_ID, m, FT_SECAGG_HDR_BYTES + mlen);
	if (rv != FT_OK) {
		ft_crypto_wipe(m, FT_SECAGG_HDR_BYTES + mlen);
		ft_free(m);
		return rv;
	}
	/* One answer per round: nothing secret is needed any more. */
	client_wipe(c);
	c->phase = FT_SECAGG_DONE;
	return FT_OK;
}

/* The phase in which each server message type is expected. */
static ft_secagg_phase expected_phase(uint8_t type)
{
	switch (type) {
	case FT_SECAGG_MSG_CONFIG:
		return FT_SECAGG_CONFIG;
	case FT_SECAGG_MSG_KEYS:
		return FT_SECAGG_ADVERTISE;
	case FT_SECAGG_MSG_SHARES_FWD:
		return FT_SECAGG_SHARES;
	case FT_SECAGG_MSG_CHECK:
		return FT_SECAGG_UPLOAD;
	case FT_SECAGG_MSG_CHECK_SIGS:
		return FT_SECAGG_CHECK;
	case FT_SECAGG_MSG_UNMASK_REQ:
		return FT_SECAGG_UNMASK;
	default:
		return FT_SECAGG_ABORTED; /* a client -> server type */
	}
}

int ft_secagg_client_recv(ft_secagg_client *c, const uint8_t *msg, size_t len, uint64_t now_ms)
{
	ft_secagg_hdr h;
	ft_secagg_phase want;
	const uint8_t *body;
	size_t blen;
	int rv;

	if (c == NULL || msg == NULL)
		return FT_EINVAL;
	rv = ft_secagg_hdr_decode(msg, len, &h);
	if (rv != FT_OK)
		return rv;
	if (h.sender != FT_SECAGG_SERVER_ID)
		return FT_EPROTO;
	if (!secagg_ctx_equal(&h.ctx, &c->ctx))
		return FT_EREPLAY;
	if (c->phase == FT_SECAGG_DONE || c->phase == FT_SECAGG_ABORTED)
		return FT_ESTATE;
	body = msg + FT_SECAGG_HDR_BYTES;
	blen = len - FT_SECAGG_HDR_BYTES;
	if (h.type == FT_SECAGG_MSG_ABORT) {
		if (blen != 4)
			return FT_EPROTO;
		client_abort(c, FT_EABORT, "the server aborted the round");
		return FT_OK;
	}
	want = expected_phase(h.type);
	if (want == FT_SECAGG_ABORTED)
		return FT_EPROTO;
	if (want < c->phase)
		return FT_EREPLAY; /* a message of a phase we already completed */
	if (want > c->phase)
		return FT_ESTATE;
	switch (h.type) {
	case FT_SECAGG_MSG_CONFIG:
		rv = on_config(c, msg, len);
		break;
	case FT_SECAGG_MSG_KEYS:
		rv = on_keys(c, body, blen);
		break;
	case FT_SECAGG_MSG_SHARES_FWD:
		rv = on_shares_fwd(c, body, blen);
		break;
	case FT_SECAGG_MSG_CHECK:
		rv = on_check(c, body, blen);
		break;
	case FT_SECAGG_MSG_CHECK_SIGS:
		rv = on_check_sigs(c, body, blen);
		break;
	default:
		rv = on_unmask_req(c, body, blen);
		break;
	}
	if (rv == FT_OK)
		c->deadline = now_ms + c->to.client_idle_ms;
	return rv;
}

int ft_secagg_client_tick(ft_secagg_client *c, uint64_t now_ms)
{
	if (c == NULL)
		return FT_EINVAL;
	if (c->phase == FT_SECAGG_DONE || c->phase == FT_SECAGG_ABORTED)
		return FT_OK;
	if (now_ms >= c->deadline)
		return client_abort(c, FT_ETIMEDOUT, "the server was silent too long");
	return FT_OK;
}

uint64_t ft_secagg_client_deadline(const ft_secagg_client *c)
{
	if (c == NULL || c->phase == FT_SECAGG_DONE || c->phase == FT_SECAGG_ABORTED)
		return UINT64_MAX;
	return c->deadline;
}

ft_secagg_phase ft_secagg_client_phase(const ft_secagg_client *c)
{
	return c != NULL ? c->phase : FT_SECAGG_ABORTED;
}

int ft_secagg_client_abort_reason(const ft_secagg_client *c, const char **reason)
{
	if (c == NULL || c->phase != FT_SECAGG_ABORTED) {
		if (reason != NULL)
			*reason = "";
		return FT_OK;
	}
	if (reason != NULL)
		*reason = c->reason;
	return c->err;
}
