/*
 * secagg_server.c - the coordinator's side of secure aggregation as a pure
 * state machine: relays signed round keys and encrypted shares it cannot
 * read, adds each masked chunk into one accumulator as it arrives, runs the
 * consistency check on the survivor set and removes the masks from the
 * reconstructed seeds (docs/PROTOCOL.md, "Secure aggregation").
 *
 * The shares the survivors return are kept in one guarded block
 * (ft_crypto_secure_alloc) until the round ends. Each site's secret is
 * rebuilt from t of its shares at points for which Lagrange weights were
 * already computed, when it has shares at all of them, so most sites share a
 * few sets of weights.
 */
#include <stdio.h>
#include <string.h>

#include "secagg_int.h"

/* Per-site progress bits: which sets the site belongs to. */
#define S_U1 0x01u  /* advertised keys (and kept: enough live neighbours) */
#define S_U2 0x02u  /* sent its shares */
#define S_U3 0x04u  /* uploaded its whole masked input */
#define S_U4 0x08u  /* signed U3 */
#define S_U5 0x10u  /* answered the unmasking request */
#define S_ADV 0x20u /* an ADVERTISE was accepted (even if later excluded) */

typedef struct srv_site {
	uint32_t flags;
	uint8_t c_pk[FT_CRYPTO_KX_PK_BYTES];
	uint8_t s_pk[FT_CRYPTO_KX_PK_BYTES];
	uint8_t b_commit[FT_CRYPTO_HASH_BYTES];
	uint8_t adv_sig[FT_CRYPTO_SIG_BYTES];
	uint8_t check_sig[FT_CRYPTO_SIG_BYTES];
	uint8_t *cts;      /* SHARES entries as received, until forwarded */
	uint32_t n_cts;
	uint32_t up_off;   /* elements uploaded so far */
	ft_crypto_share *sh; /* up to k shares of this site's secret, sorted by x
	                      * (phase 5; points into shares) */
	uint32_t n_sh;
} srv_site;

struct ft_secagg_server {
	ft_secagg_config cfg;
	ft_secagg_site *sites;
	uint8_t cfg_hash[FT_CRYPTO_HASH_BYTES];
	ft_secagg_graph *g;
	ft_secagg_timeouts to;
	ft_secagg_phase phase;
	uint64_t deadline;
	int err;
	char reason[160];

	srv_site *site;
	uint32_t *nb;   /* scratch: k neighbour indices */
	uint32_t *acc;  /* the one accumulator, d elements */
	uint32_t *surv; /* U3 ids, once done */
	ft_crypto_share *shares; /* guarded block: k shares per site in U2, then
	                          * t for the ones picked for a combine: */
	ft_crypto_share *sel;    /* those t, inside `shares` */
	uint32_t n_surv;
	secagg_outbox ob;
	/* CONFIG, CHECK and CHECK_SIGS are the same bytes for every site: one
	 * copy each, referenced by the outbox entries. */
	uint8_t *blob_config, *blob_check, *blob_sigs;
};

static const ft_secagg_timeouts default_timeouts = {
	30000, 30000, 300000, 30000, 30000, 600000,
};

static uint32_t count_flag(const ft_secagg_server *s, uint32_t flag)
{
	uint32_t i, m = 0;

	for (i = 0; i < s->cfg.n; i++)
		m += (s->site[i].flags & flag) != 0;
	return m;
}

static void server_wipe(ft_secagg_server *s)
{
	uint32_t i;

	if (s->site == NULL)
		return;
	for (i = 0; i < s->cfg.n; i++) {
		ft_free(s->site[i].cts);
		s->site[i].cts = NULL;
		s->site[i].sh = NULL;
	}
	ft_crypto_secure_free(s->shares); /* wipes */
	s->shares = NULL;
	s->sel = NULL;
}

/* Queues a message with an empty body of blen bytes; *body to fill in. */
static int queue(ft_secagg_server *s, uint32_t to, uint8_t type, size_t blen, uint8_t **body)
{
	uint8_t *m = NULL;
	int rv;

	rv = secagg_msg_alloc(type, &s->cfg.ctx, FT_SECAGG_SERVER_ID, blen, &m, body);
	if (rv != FT_OK)
		return rv;
	rv = secagg_outbox_push(&s->ob, to, m, FT_SECAGG_HDR_BYTES + blen);
	if (rv != FT_OK)
		ft_free(m);
	return rv;
}

static int server_abort(ft_secagg_server *s, int code, const char *why)
{
	uint8_t *body;
	uint32_t i;

	server_wipe(s);
	secagg_outbox_clear(&s->ob);
	s->phase = FT_SECAGG_ABORTED;
	s->err = code;
	snprintf(s->reason, sizeof(s->reason), "%s", why);
	if (s->acc != NULL)
		ft_crypto_wipe(s->acc, (size_t)s->cfg.d * sizeof(*s->acc));
	/* Best effort: tell every site that took part; they time out anyway. */
	for (i = 0; i < s->cfg.n; i++) {
		if (!(s->site[i].flags & S_ADV))
			continue;
		if (queue(s, s->cfg.sites[i].id, FT_SECAGG_MSG_ABORT, 4, &body) != FT_OK)
			break;
		ft_put_le32(body, (uint32_t)code);
	}
	return code;
}

int ft_secagg_server_alloc(const ft_secagg_config *cfg, const ft_secagg_timeouts *to,
                           uint64_t now_ms, ft_secagg_server **out)
{
	ft_secagg_server *s = NULL;
	uint8_t *m = NULL;
	size_t len;
	uint32_t i;
	int rv;

	if (out == NULL)
		return FT_EINVAL;
	rv = ft_secagg_config_check(cfg);
	if (rv != FT_OK)
		return rv;
	s = ft_calloc(1, sizeof(*s));
	if (s == NULL)
		return FT_ENOMEM;
	rv = secagg_config_copy(cfg, &s->cfg, &s->sites);
	if (rv != FT_OK) {
		ft_free(s);
		return rv;
	}
	s->to = to != NULL ? *to : default_timeouts;
	rv = secagg_config_hash(&s->cfg, s->cfg_hash);
	if (rv != FT_OK)
		goto out;
	rv = ft_secagg_graph_alloc(cfg->seed, cfg->n, cfg->k, &s->g);
	if (rv != FT_OK)
		goto out;
	s->site = ft_calloc(cfg->n, sizeof(*s->site));
	s->nb = ft_mallocarray(cfg->k, sizeof(*s->nb));
	if (s->site == NULL || s->nb == NULL) {
		rv = FT_ENOMEM;
		goto out;
	}
	rv = ft_secagg_config_encode(cfg, &m, &len);
	if (rv != FT_OK)
		goto out;
	s->blob_config = m;
	m = NULL;
	for (i = 0; i < cfg->n; i++) {
		rv = secagg_outbox_push_shared(&s->ob, cfg->sites[i].id, s->blob_config, len);
		if (rv != FT_OK)
			goto out;
	}
	s->phase = FT_SECAGG_ADVERTISE;
	s->deadline = now_ms + s->to.advertise_ms;
	*out = s;
	s = NULL;
	rv = FT_OK;
out:
	ft_free(m);
	ft_secagg_server_free(s);
	return rv;
}

void ft_secagg_server_free(ft_secagg_server *s)
{
	if (s == NULL)
		return;
	server_wipe(s);
	ft_free(s->site);
	ft_free(s->nb);
	ft_free(s->acc);
	ft_free(s->surv);
	ft_free(s->sites);
	ft_secagg_graph_free(s->g);
	secagg_outbox_clear(&s->ob);
	ft_free(s->blob_config);
	ft_free(s->blob_check);
	ft_free(s->blob_sigs);
	ft_free(s);
}

/* Neighbours of site a that carry `flag`, into s->nb; returns the count. */
static uint32_t live_neighbours(ft_secagg_server *s, uint32_t a, uint32_t flag)
{
	uint32_t m = ft_secagg_graph_neighbours(s->g, a, s->nb), i, w = 0;

	for (i = 0; i < m; i++)
		if (s->site[s->nb[i]].flags & flag)
			s->nb[w++] = s->nb[i];
	return w;
}

/* ---- Phase transitions --------------------------------------------------- */

/* U1 is fixed: drop sites with fewer than t live neighbours (their secrets
 * could never be reconstructed), then send each the keys of its neighbours. */
static int close_advertise(ft_secagg_server *s, uint64_t now_ms)
{
	uint32_t i, j, m, changed = 1;
	uint8_t *body;
	int rv;

	while (changed) {
		changed = 0;
		for (i = 0; i < s->cfg.n; i++) {
			if ((s->site[i].flags & S_U1) && live_neighbours(s, i, S_U1) < s->cfg.t) {
				s->site[i].flags &= ~S_U1;
				changed = 1;
			}
		}
	}
	if (count_flag(s, S_U1) < s->cfg.t + 1)
		return server_abort(s, FT_EABORT, "too few sites advertised keys");
	for (i = 0; i < s->cfg.n; i++) {
		if (!(s->site[i].flags & S_U1)) {
			if ((s->site[i].flags & S_ADV) &&
			    queue(s, s->cfg.sites[i].id, FT_SECAGG_MSG_ABORT, 4, &body) == FT_OK)
				ft_put_le32(body, FT_EABORT); /* excluded: tell it */
			continue;
		}
		m = live_neighbours(s, i, S_U1);
		rv = queue(s, s->cfg.sites[i].id, FT_SECAGG_MSG_KEYS,
		           4 + (size_t)m * SECAGG_KEYS_ENTRY, &body);
		if (rv != FT_OK)
			return server_abort(s, rv, "out of memory");
		ft_put_le32(body, m);
		body += 4;
		for (j = 0; j < m; j++) {
			const srv_site *q = &s->site[s->nb[j]];

			ft_put_le32(body, s->cfg.sites[s->nb[j]].id);
			memcpy(body + 4, q->c_pk, FT_CRYPTO_KX_PK_BYTES);
			memcpy(body + 36, q->s_pk, FT_CRYPTO_KX_PK_BYTES);
			memcpy(body + 68, q->b_commit, FT_CRYPTO_HASH_BYTES);
			memcpy(body + 4 + SECAGG_ADV_KEYS, q->adv_sig, FT_CRYPTO_SIG_BYTES);
			body += SECAGG_KEYS_ENTRY;
		}
	}
	s->phase = FT_SECAGG_SHARES;
	s->deadline = now_ms + s->to.shares_ms;
	return FT_OK;
}

/* U2 is fixed: forward to each member the ciphertexts other members sent it. */
static int close_shares(ft_secagg_server *s, uint64_t now_ms)
{
	uint32_t i, j, e, m;
	uint8_t *body;
	int rv;

	if (count_flag(s, S_U2) < s->cfg.t + 1)
		return server_abort(s, FT_EABORT, "too few sites sent their shares");
	for (j = 0; j < s->cfg.n; j++) {
		uint32_t jid = s->cfg.sites[j].id;

		if (!(s->site[j].flags & S_U2))
			continue;
		m = live_neighbours(s, j, S_U2);
		rv = queue(s, jid, FT_SECAGG_MSG_SHARES_FWD, 4 + (size_t)m * SECAGG_SHARES_ENTRY,
		           &body);
		if (rv != FT_OK)
			return server_abort(s, rv, "out of memory");
		ft_put_le32(body, m);
		body += 4;
		for (i = 0; i < m; i++) {
			const srv_site *q = &s->site[s->nb[i]];

			/* q's entries are sorted by recipient; find j's. */
			for (e = 0; e < q->n_cts; e++)
				if (ft_get_le32(q->cts + (size_t)e * SECAGG_SHARES_ENTRY) == jid)
					break;
			if (e == q->n_cts)
				return server_abort(s, FT_EINTERNAL, "missing ciphertext");
			ft_put_le32(body, s->cfg.sites[s->nb[i]].id);
			memcpy(body + 4, q->cts + (size_t)e * SECAGG_SHARES_ENTRY + 4,
			       SECAGG_SHARE_CT_BYTES);
			body += SECAGG_SHARES_ENTRY;
		}
	}
	for (i = 0; i < s->cfg.n; i++) {
		ft_free(s->site[i].cts);
		s->site[i].cts = NULL;
	}
	s->acc = ft_calloc(s->cfg.d, sizeof(*s->acc));
	if (s->acc == NULL)
		return server_abort(s, FT_ENOMEM, "out of memory for the accumulator");
	s->phase = FT_SECAGG_UPLOAD;
	s->deadline = now_ms + s->to.upload_ms;
	return FT_OK;
}

/* U3 is fixed: ask every survivor to sign it. */
static int close_upload(ft_secagg_server *s, uint64_t now_ms)
{
	uint32_t i, m = count_flag(s, S_U3), w;
	char why[160];
	uint8_t *body;
	int rv;

	for (i = 0; i < s->cfg.n; i++) {
		const srv_site *q = &s->site[i];

		/* A partial upload is in the accumulator and cannot be taken out
		 * without holding every site's data (see PROTOCOL.md). */
		if ((q->flags & S_U2) && !(q->flags & S_U3) && q->up_off > 0) {
			snprintf(why, sizeof(why),
			         "site %u stopped uploading at element %u of %u; retry the round",
			         s->cfg.sites[i].id, q->up_off, s->cfg.d);
			return server_abort(s, FT_EABORT, why);
		}
	}
	if (m < s->cfg.t)
		return server_abort(s, FT_EABORT, "too few sites uploaded their masked input");
	rv = secagg_msg_alloc(FT_SECAGG_MSG_CHECK, &s->cfg.ctx, FT_SECAGG_SERVER_ID, 4 + (size_t)m * 4,
	                      &s->blob_check, &body);
	if (rv != FT_OK)
		return server_abort(s, rv, "out of memory");
	ft_put_le32(body, m);
	for (i = 0, w = 0; i < s->cfg.n; i++)
		if (s->site[i].flags & S_U3)
			ft_put_le32(body + 4 + 4 * (size_t)w++, s->cfg.sites[i].id);
	for (i = 0; i < s->cfg.n; i++) {
		if (!(s->site[i].flags & S_U3))
			continue;
		rv = secagg_outbox_push_shared(&s->ob, s->cfg.sites[i].id, s->blob_check,
		                               FT_SECAGG_HDR_BYTES + 4 + (size_t)m * 4);
		if (rv != FT_OK)
			return server_abort(s, rv, "out of memory");
	}
	s->phase = FT_SECAGG_CHECK;
	s->deadline = now_ms + s->to.check_ms;
	return FT_OK;
}

/* U4 is fixed: forward the signatures, and ask each signer for one share
 * per neighbour in U2: of b if the neighbour is in U3, of s if it dropped. */
static int close_check(ft_secagg_server *s, uint64_t now_ms)
{
	uint32_t i, j, m = count_flag(s, S_U4), w;
	uint8_t *body;
	int rv;

	if (m < s->cfg.t)
		return server_abort(s, FT_EABORT, "too few survivors signed the survivor set");
	rv = secagg_msg_alloc(FT_SECAGG_MSG_CHECK_SIGS, &s->cfg.ctx, FT_SECAGG_SERVER_ID,
	                      4 + (size_t)m * SECAGG_SIGS_ENTRY, &s->blob_sigs, &body);
	if (rv != FT_OK)
		return server_abort(s, rv, "out of memory");
	ft_put_le32(body, m);
	for (j = 0, w = 0; j < s->cfg.n; j++) {
		uint8_t *p;

		if (!(s->site[j].flags & S_U4))
			continue;
		p = body + 4 + (size_t)w++ * SECAGG_SIGS_ENTRY;
		ft_put_le32(p, s->cfg.sites[j].id);
		memcpy(p + 4, s->site[j].check_sig, FT_CRYPTO_SIG_BYTES);
	}
	for (i = 0; i < s->cfg.n; i++) {
		if (!(s->site[i].flags & S_U4))
			continue;
		rv = secagg_outbox_push_shared(&s->ob, s->cfg.sites[i].id, s->blob_sigs,
		                               FT_SECAGG_HDR_BYTES + 4 + (size_t)m * SECAGG_SIGS_ENTRY);
		if (rv != FT_OK)
			return server_abort(s, rv, "out of memory");
		w = live_neighbours(s, i, S_U2);
		rv = queue(s, s->cfg.sites[i].id, FT_SECAGG_MSG_UNMASK_REQ,
		           4 + (size_t)w * SECAGG_REQ_ENTRY, &body);
		if (rv != FT_OK)
			return server_abort(s, rv, "out of memory");
		ft_put_le32(body, w);
		for (j = 0; j < w; j++) {
			uint8_t *p = body + 4 + (size_t)j * SECAGG_REQ_ENTRY;

			ft_put_le32(p, s->cfg.sites[s->nb[j]].id);
			p[4] = (s->site[s->nb[j]].flags & S_U3) ? SECAGG_KIND_SELF : SECAGG_KIND_MASKKEY;
		}
	}
	/* One guarded block for every share that comes back: they are secrets
	 * (t of them give a site's seed) held for the whole phase. */
	m = count_flag(s, S_U2);
	s->shares = ft_crypto_secure_alloc(((size_t)m * s->cfg.k + s->cfg.t) *
	                                   sizeof(ft_crypto_share));
	if (s->shares == NULL)
		return server_abort(s, FT_ENOMEM, "out of memory");
	for (i = 0, j = 0; i < s->cfg.n; i++) {
		if (!(s->site[i].flags & S_U2))
			continue;
		s->site[i].sh = s->shares + (size_t)j * s->cfg.k;
		j++;
	}
	s->sel = s->shares + (size_t)m * s->cfg.k;
	s->phase = FT_SECAGG_UNMASK;
	s->deadline = now_ms + s->to.unmask_ms;
	return FT_OK;
}

/*
 * Lagrange weights for the point sets used so far in this unmasking, with
 * their points (sorted). Computing weights costs about as much as a whole
 * unbatched combine; applying them costs a tenth of that at t = 16. A site
 * whose answers cover a cached point set reuses it, so when a few holders
 * are missing most sites still share a handful of sets.
 */
#define WCACHE 64

typedef struct wcache {
	ft_crypto_shamir_weights *w[WCACHE];
	uint32_t *x; /* WCACHE rows of t points */
	unsigned used, next;
} wcache;

/* 1 if every point of the sorted list x (t entries) is among q's share
 * points (sorted); then pick[i] is the index of q's share at x[i]. */
static int covers(const srv_site *q, const uint32_t *x, uint32_t t, uint32_t *pick)
{
	uint32_t i = 0, j = 0;

	while (i < t && j < q->n_sh) {
		if (q->sh[j].x < x[i]) {
			j++;
		} else if (q->sh[j].x == x[i]) {
			pick[i++] = j++;
		} else {
			return 0;
		}
	}
	return i == t;
}

/*
 * Chooses the t shares of q to combine and their weights: a cached point
 * set that q's answers cover, else q's t smallest points (new weights,
 * cached). The chosen shares are copied to `sel` (guarded, t entries) when
 * they are not q's first t. Public data only steers the choice.
 */
static int weights_for(wcache *wc, const srv_site *q, uint32_t t, ft_crypto_share *sel,
                       uint32_t *pick, const ft_crypto_shamir_weights **w,
                       const ft_crypto_share **shares)
{
	ft_crypto_shamir_weights *nw = NULL;
	uint32_t *row;
	int rv;

	for (unsigned e = 0; e < wc->used; e++) {
		if (!covers(q, wc->x + (size_t)e * t, t, pick))
			continue;
		for (uint32_t i = 0; i < t; i++)
			sel[i] = q->sh[pick[i]];
		*w = wc->w[e];
		*shares = sel;
		return FT_OK;
	}
	for (uint32_t i = 0; i < t; i++)
		pick[i] = q->sh[i].x;
	rv = ft_crypto_shamir_weights_alloc(pick, t, &nw);
	if (rv != FT_OK)
		return rv;
	row = wc->x + (size_t)wc->next * t;
	memcpy(row, pick, (size_t)t * sizeof(*row));
	ft_crypto_shamir_weights_free(wc->w[wc->next]);
	wc->w[wc->next] = nw;
	wc->next = (wc->next + 1) % WCACHE;
	if (wc->used < WCACHE)
		wc->used++;
	*w = nw;
	*shares = q->sh;
	return FT_OK;
}

static void wcache_clear(wcache *wc)
{
	for (unsigned i = 0; i < WCACHE; i++) {
		ft_crypto_shamir_weights_free(wc->w[i]);
		wc->w[i] = NULL;
	}
	ft_free(wc->x);
	wc->x = NULL;
}

/* Removes the masks: the self mask of every survivor, and the pairwise masks
 * between each dropped site and its surviving neighbours. */
static int close_unmask(ft_secagg_server *s)
{
	uint8_t secret[FT_CRYPTO_SECRET_BYTES];
	uint8_t seed[FT_CRYPTO_KEY_BYTES], scratch[FT_CRYPTO_KEY_BYTES];
	ft_crypto_kx *kx = NULL;
	wcache wc = { { NULL }, NULL, 0, 0 };
	const ft_crypto_shamir_weights *lw = NULL;
	const ft_crypto_share *use = NULL;
	uint32_t *pick = NULL;
	char why[160];
	uint32_t i, j, m, w;
	int rv = FT_OK;

	for (j = 0; j < s->cfg.n; j++) {
		if (!(s->site[j].flags & S_U3) && live_neighbours(s, j, S_U3) == 0)
			s->site[j].flags &= ~S_U2; /* dropped, and no survivor masked with it */
	}
	for (j = 0; j < s->cfg.n; j++) {
		if ((s->site[j].flags & S_U2) && s->site[j].n_sh < s->cfg.t) {
			snprintf(why, sizeof(why), "fewer than t shares came back for site %u",
			         s->cfg.sites[j].id);
			return server_abort(s, FT_EABORT, why);
		}
	}
	wc.x = ft_mallocarray((size_t)WCACHE * s->cfg.t, sizeof(*wc.x));
	pick = ft_mallocarray(s->cfg.t, sizeof(*pick));
	if (wc.x == NULL || pick == NULL) {
		rv = FT_ENOMEM;
		goto out_abort;
	}
	for (j = 0; j < s->cfg.n; j++) {
		const srv_site *q = &s->site[j];
		uint32_t jid = s->cfg.sites[j].id;

		if (!(q->flags & S_U2))
			continue;
		/* A repeated point means a holder lied about its x. */
		rv = FT_OK;
		for (i = 1; i < q->n_sh && rv == FT_OK; i++)
			if (q->sh[i].x == q->sh[i - 1].x)
				rv = FT_EINVAL;
		if (rv == FT_OK)
			rv = weights_for(&wc, q, s->cfg.t, s->sel, pick, &lw, &use);
		if (rv == FT_ENOMEM)
			goto out_abort;
		if (rv == FT_OK)
			rv = ft_crypto_shamir_combine_weighted(lw, use, s->cfg.t, secret);
		if (rv != FT_OK) {
			snprintf(why, sizeof(why), "the shares of site %u do not combine", jid);
			rv = server_abort(s, FT_ECRYPTO, why);
			goto out;
		}
		if (q->flags & S_U3) {
			uint8_t commit[FT_CRYPTO_HASH_BYTES];

			/* A shifted b would silently give a wrong sum: check it. */
			secagg_b_commit(&s->cfg.ctx, jid, secret, commit);
			if (!ft_crypto_equal(commit, q->b_commit, sizeof(commit))) {
				snprintf(why, sizeof(why),
				         "the shares of site %u do not give its committed self-mask seed",
				         jid);
				rv = server_abort(s, FT_ECRYPTO, why);
				goto out;
			}
			rv = ft_crypto_mask_apply(secret, s->acc, s->cfg.d, 0, s->cfg.bits, -1);
			if (rv != FT_OK)
				goto out_abort;
			continue;
		}
		rv = ft_crypto_kx_from_seed(secret, &kx);
		if (rv != FT_OK)
			goto out_abort;
		/* The reconstructed key must be the one the site signed. */
		if (!ft_crypto_equal(ft_crypto_kx_pk(kx), q->s_pk, FT_CRYPTO_KX_PK_BYTES)) {
			snprintf(why, sizeof(why), "the shares of site %u do not give its key", jid);
			rv = server_abort(s, FT_ECRYPTO, why);
			goto out;
		}
		w = live_neighbours(s, j, S_U3);
		for (i = 0; i < w; i++) {
			uint32_t iid = s->cfg.sites[s->nb[i]].id;

			rv = ft_crypto_kx_derive(kx, jid, s->site[s->nb[i]].s_pk, iid, &s->cfg.ctx, seed,
			                         scratch);
			if (rv != FT_OK)
				goto out_abort;
			/* Survivor i added +PRG(s_ij) if j > i, else -PRG: undo it. */
			rv = ft_crypto_mask_apply(seed, s->acc, s->cfg.d, 0, s->cfg.bits,
			                          jid > iid ? -1 : +1);
			if (rv != FT_OK)
				goto out_abort;
		}
		ft_crypto_kx_free(kx);
		kx = NULL;
	}
	m = count_flag(s, S_U3);
	s->surv = ft_mallocarray(m, sizeof(*s->surv));
	if (s->surv == NULL) {
		rv = server_abort(s, FT_ENOMEM, "out of memory");
		goto out;
	}
	for (j = 0, w = 0; j < s->cfg.n; j++)
		if (s->site[j].flags & S_U3)
			s->surv[w++] = s->cfg.sites[j].id;
	s->n_surv = m;
	server_wipe(s);
	s->phase = FT_SECAGG_DONE;
	s->deadline = UINT64_MAX;
	rv = FT_OK;
	goto out;
out_abort:
	rv = server_abort(s, rv, "unmasking failed");
out:
	ft_crypto_wipe(secret, sizeof(secret));
	ft_crypto_wipe(seed, sizeof(seed));
	ft_crypto_wipe(scratch, sizeof(scratch));
	ft_crypto_kx_free(kx);
	wcache_clear(&wc);
	ft_free(pick);
	if (s->sel != NULL)
		ft_crypto_wipe(s->sel, (size_t)s->cfg.t * sizeof(*s->sel));
	return rv;
}

static int close_phase(ft_secagg_server *s, uint64_t now_ms)
{
	switch (s->phase) {
	case FT_SECAGG_ADVERTISE:
		return close_advertise(s, now_ms);
	case FT_SECAGG_SHARES:
		return close_shares(s, now_ms);
	case FT_SECAGG_UPLOAD:
		return close_upload(s, now_ms);
	case FT_SECAGG_CHECK:
		return close_check(s, now_ms);
	case FT_SECAGG_UNMASK:
		return close_unmask(s);
	default:
		return FT_OK;
	}
}

/* Closes the phase early once every expected site has answered. */
static int maybe_close(ft_secagg_server *s, uint32_t want, uint32_t got, uint64_t now_ms)
{
	uint32_t i;

	for (i = 0; i < s->cfg.n; i++)
		if ((s->site[i].flags & want) && !(s->site[i].flags & got))
			return FT_OK;
	close_phase(s, now_ms);
	return FT_OK;
}

/* ---- Message handlers ------------------------------------------------------ */

static int on_advertise(ft_secagg_server *s, uint32_t i, const uint8_t *body, size_t blen,
                        uint64_t now_ms)
{
	uint8_t stmt[SECAGG_ADV_STMT_BYTES];
	srv_site *q = &s->site[i];

	if (blen != SECAGG_ADV_BODY)
		return FT_EPROTO;
	if (q->flags & S_ADV)
		return FT_EEXIST;
	secagg_adv_statement(&s->cfg.ctx, s->cfg.sites[i].id, s->cfg_hash, body, stmt);
	if (ft_crypto_verify(s->cfg.sites[i].sign_pk, stmt, sizeof(stmt), body + SECAGG_ADV_KEYS) !=
	    FT_OK)
		return FT_ECRYPTO;
	memcpy(q->c_pk, body, FT_CRYPTO_KX_PK_BYTES);
	memcpy(q->s_pk, body + 32, FT_CRYPTO_KX_PK_BYTES);
	memcpy(q->b_commit, body + 64, FT_CRYPTO_HASH_BYTES);
	memcpy(q->adv_sig, body + SECAGG_ADV_KEYS, FT_CRYPTO_SIG_BYTES);
	q->flags |= S_ADV | S_U1;
	if (count_flag(s, S_ADV) == s->cfg.n)
		close_phase(s, now_ms);
	return FT_OK;
}

static int on_shares(ft_secagg_server *s, uint32_t i, const uint8_t *body, size_t blen,
                     uint64_t now_ms)
{
	srv_site *q = &s->site[i];
	const uint8_t *e;
	uint32_t count, m, j;
	int rv;

	if (!(q->flags & S_U1))
		return FT_ESTATE;
	if (q->flags & S_U2)
		return FT_EEXIST;
	rv = secagg_list_decode(body, blen, SECAGG_SHARES_ENTRY, s->cfg.k, &count, &e);
	if (rv != FT_OK)
		return rv;
	/* Exactly one ciphertext per neighbour in U1, in increasing id order. */
	m = live_neighbours(s, i, S_U1);
	if (count != m)
		return FT_EPROTO;
	for (j = 0; j < m; j++) {
		uint32_t rid = ft_get_le32(e + (size_t)j * SECAGG_SHARES_ENTRY);

		if (j > 0 && rid == ft_get_le32(e + (size_t)(j - 1) * SECAGG_SHARES_ENTRY))
			return FT_EEXIST;
		if (rid != s->cfg.sites[s->nb[j]].id)
			return FT_EPROTO;
	}
	q->cts = ft_malloc(blen - 4 > 0 ? blen - 4 : 1);
	if (q->cts == NULL)
		return FT_ENOMEM;
	memcpy(q->cts, e, blen - 4);
	q->n_cts = count;
	q->flags |= S_U2;
	return maybe_close(s, S_U1, S_U2, now_ms);
}

static int on_masked(ft_secagg_server *s, uint32_t i, const uint8_t *body, size_t blen,
                     uint64_t now_ms)
{
	srv_site *q = &s->site[i];
	uint32_t off, cnt, j;
	uint32_t mask = s->cfg.bits == 32 ? 0xFFFFFFFFu : (1u << s->cfg.bits) - 1u;

	if (!(q->flags & S_U2))
		return FT_ESTATE;
	if (blen < 8)
		return FT_EPROTO;
	off = ft_get_le32(body);
	cnt = ft_get_le32(body + 4);
	if (cnt < 1 || cnt > s->cfg.chunk || off > s->cfg.d || cnt > s->cfg.d - off ||
	    blen - 8 != (size_t)cnt * 4)
		return FT_EPROTO;
	if (off < q->up_off)
		return FT_EEXIST; /* this chunk was already added */
	if (off > q->up_off)
		return FT_EPROTO; /* chunks arrive in order over one connection */
	for (j = 0; j < cnt; j++)
		if (ft_get_le32(body + 8 + 4 * (size_t)j) > mask)
			return FT_EPROTO;
	for (j = 0; j < cnt; j++)
		s->acc[off + j] = (s->acc[off + j] + ft_get_le32(body + 8 + 4 * (size_t)j)) & mask;
	q->up_off = off + cnt;
	if (q->up_off == s->cfg.d) {
		q->flags |= S_U3;
		return maybe_close(s, S_U2, S_U3, now_ms);
	}
	return FT_OK;
}

static int on_check_sig(ft_secagg_server *s, uint32_t i, const uint8_t *body, size_t blen,
                        uint64_t now_ms)
{
	srv_site *q = &s->site[i];
	uint8_t h[FT_CRYPTO_HASH_BYTES];
	const uint8_t *u3 = s->blob_check + FT_SECAGG_HDR_BYTES;

	if (!(q->flags & S_U3))
		return FT_ESTATE;
	if (q->flags & S_U4)
		return FT_EEXIST;
	if (blen != FT_CRYPTO_SIG_BYTES)
		return FT_EPROTO;
	/* The CHECK message the server sent holds U3 as signed. */
	secagg_check_statement(&s->cfg.ctx, s->cfg.sites[i].id, s->cfg_hash, ft_get_le32(u3), u3 + 4,
	                       h);
	if (ft_crypto_verify(s->cfg.sites[i].sign_pk, h, sizeof(h), body) != FT_OK)
		return FT_ECRYPTO;
	memcpy(q->check_sig, body, FT_CRYPTO_SIG_BYTES);
	q->flags |= S_U4;
	return maybe_close(s, S_U3, S_U4, now_ms);
}

/* Stores a share in x order. Only the public x steers where it goes. */
static void keep_share(const ft_secagg_server *s, srv_site *owner, uint32_t x,
                       const uint8_t value[FT_CRYPTO_SHARE_BYTES])
{
	uint32_t pos = owner->n_sh;

	if (owner->n_sh == s->cfg.k)
		return; /* one answer per neighbour: cannot happen */
	while (pos > 0 && owner->sh[pos - 1].x > x)
		pos--;
	if (owner->n_sh > pos)
		memmove(&owner->sh[pos + 1], &owner->sh[pos],
		        (size_t)(owner->n_sh - pos) * sizeof(*owner->sh));
	owner->sh[pos].x = x;
	memcpy(owner->sh[pos].value, value, FT_CRYPTO_SHARE_BYTES);
	owner->n_sh++;
}

static int on_unmask(ft_secagg_server *s, uint32_t i, const uint8_t *body, size_t blen,
                     uint64_t now_ms)
{
	srv_site *q = &s->site[i];
	const uint8_t *e;
	uint32_t count, m, j;
	int rv;

	if (!(q->flags & S_U4))
		return FT_ESTATE;
	if (q->flags & S_U5)
		return FT_EEXIST;
	rv = secagg_list_decode(body, blen, SECAGG_UNMASK_ENTRY, s->cfg.k, &count, &e);
	if (rv != FT_OK)
		return rv;
	/* The answer must match the request entry by entry. */
	m = live_neighbours(s, i, S_U2);
	if (count != m)
		return FT_EPROTO;
	for (j = 0; j < m; j++) {
		const uint8_t *p = e + (size_t)j * SECAGG_UNMASK_ENTRY;
		uint8_t kind = (s->site[s->nb[j]].flags & S_U3) ? SECAGG_KIND_SELF : SECAGG_KIND_MASKKEY;
		uint32_t x = ft_get_le32(p + 5);

		if (ft_get_le32(p) != s->cfg.sites[s->nb[j]].id || p[4] != kind || x < 1 ||
		    x > s->cfg.k)
			return FT_EPROTO;
	}
	for (j = 0; j < m; j++) {
		const uint8_t *p = e + (size_t)j * SECAGG_UNMASK_ENTRY;

		keep_share(s, &s->site[s->nb[j]], ft_get_le32(p + 5), p + 9);
	}
	q->flags |= S_U5;
	return maybe_close(s, S_U4, S_U5, now_ms);
}

/* The phase in which each client message type is accepted. */
static ft_secagg_phase server_phase_of(uint8_t type)
{
	switch (type) {
	case FT_SECAGG_MSG_ADVERTISE:
		return FT_SECAGG_ADVERTISE;
	case FT_SECAGG_MSG_SHARES:
		return FT_SECAGG_SHARES;
	case FT_SECAGG_MSG_MASKED:
		return FT_SECAGG_UPLOAD;
	case FT_SECAGG_MSG_CHECK_SIG:
		return FT_SECAGG_CHECK;
	case FT_SECAGG_MSG_UNMASK:
		return FT_SECAGG_UNMASK;
	default:
		return FT_SECAGG_ABORTED; /* a server -> client type */
	}
}

/* The set bit a site gains by sending a message of the given phase. */
static uint32_t phase_flag(ft_secagg_phase p)
{
	static const uint32_t f[] = {0, S_ADV, S_U2, S_U3, S_U4, S_U5};

	return p <= FT_SECAGG_UNMASK ? f[p] : 0;
}

int ft_secagg_server_recv(ft_secagg_server *s, uint32_t from, const uint8_t *msg, size_t len,
                          uint64_t now_ms)
{
	ft_secagg_hdr h;
	ft_secagg_phase want;
	const uint8_t *body;
	size_t blen;
	long idx;
	int rv;

	if (s == NULL || msg == NULL)
		return FT_EINVAL;
	rv = ft_secagg_hdr_decode(msg, len, &h);
	if (rv != FT_OK)
		return rv;
	if (h.sender != from)
		return FT_EPROTO;
	idx = secagg_site_index(&s->cfg, h.sender);
	if (idx < 0)
		return FT_EPROTO;
	if (!secagg_ctx_equal(&h.ctx, &s->cfg.ctx))
		return FT_EREPLAY;
	want = server_phase_of(h.type);
	if (want == FT_SECAGG_ABORTED)
		return FT_EPROTO;
	if (s->phase == FT_SECAGG_DONE || s->phase == FT_SECAGG_ABORTED)
		return want < s->phase && (s->site[idx].flags & phase_flag(want)) ? FT_EREPLAY
		                                                                   : FT_ESTATE;
	if (want < s->phase)
		return (s->site[idx].flags & phase_flag(want)) ? FT_EREPLAY : FT_ESTATE;
	if (want > s->phase)
		return FT_ESTATE;
	body = msg + FT_SECAGG_HDR_BYTES;
	blen = len - FT_SECAGG_HDR_BYTES;
	switch (want) {
	case FT_SECAGG_ADVERTISE:
		return on_advertise(s, (uint32_t)idx, body, blen, now_ms);
	case FT_SECAGG_SHARES:
		return on_shares(s, (uint32_t)idx, body, blen, now_ms);
	case FT_SECAGG_UPLOAD:
		return on_masked(s, (uint32_t)idx, body, blen, now_ms);
	case FT_SECAGG_CHECK:
		return on_check_sig(s, (uint32_t)idx, body, blen, now_ms);
	default:
		return on_unmask(s, (uint32_t)idx, body, blen, now_ms);
	}
}

int ft_secagg_server_tick(ft_secagg_server *s, uint64_t now_ms)
{
	if (s == NULL)
		return FT_EINVAL;
	if (s->phase == FT_SECAGG_DONE || s->phase == FT_SECAGG_ABORTED || now_ms < s->deadline)
		return FT_OK;
	close_phase(s, now_ms);
	return s->phase == FT_SECAGG_ABORTED ? s->err : FT_OK;
}

uint64_t ft_secagg_server_deadline(const ft_secagg_server *s)
{
	if (s == NULL || s->phase == FT_SECAGG_DONE || s->phase == FT_SECAGG_ABORTED)
		return UINT64_MAX;
	return s->deadline;
}

int ft_secagg_server_next(ft_secagg_server *s, uint32_t *to, uint8_t **buf, size_t *len)
{
	if (s == NULL || to == NULL || buf == NULL || len == NULL)
		return FT_EINVAL;
	return secagg_outbox_pop(&s->ob, to, buf, len);
}

ft_secagg_phase ft_secagg_server_phase(const ft_secagg_server *s)
{
	return s != NULL ? s->phase : FT_SECAGG_ABORTED;
}

int ft_secagg_server_abort_reason(const ft_secagg_server *s, const char **reason)
{
	if (s == NULL || s->phase != FT_SECAGG_ABORTED) {
		if (reason != NULL)
			*reason = "";
		return FT_OK;
	}
	if (reason != NULL)
		*reason = s->reason;
	return s->err;
}

int ft_secagg_server_result(const ft_secagg_server *s, const uint32_t **sum, size_t *d,
                            const uint32_t **survivors, uint32_t *n_surv)
{
	if (s == NULL || sum == NULL || d == NULL || survivors == NULL || n_surv == NULL)
		return FT_EINVAL;
	if (s->phase != FT_SECAGG_DONE)
		return FT_ESTATE;
	*sum = s->acc;
	*d = s->cfg.d;
	*survivors = s->surv;
	*n_surv = s->n_surv;
	return FT_OK;
}
