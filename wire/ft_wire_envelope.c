/*
 * ft_wire_envelope.c - the signed envelope every message travels in, the
 * message registry (type numbers, names, body limits) and replay protection.
 *
 * The signature covers the exact bytes of the inner encoding, prefixed with
 * a domain-separation string, so no canonical re-encoding is ever needed:
 * the receiver verifies the bytes it received, then decodes them.
 */
#include <string.h>
#include <time.h>

#include "wire_int.h"

#define ENVELOPE_DOMAIN "fedtwin-envelope-v1"
#define ENVELOPE_DOMAIN_LEN (sizeof(ENVELOPE_DOMAIN) - 1)
#define INNER_FIELDS 12u

static const struct {
	const char *name;
	size_t body_max;
} registry[FT_WIRE_TYPE_COUNT_] = {
	[FT_WIRE_HELLO] = { "HELLO", 1024 },
	[FT_WIRE_WELCOME] = { "WELCOME", 256 },
	[FT_WIRE_ROUND_ANNOUNCE] = { "ROUND_ANNOUNCE", 16384 },
	[FT_WIRE_ROUND_ACCEPT] = { "ROUND_ACCEPT", 128 },
	[FT_WIRE_ROUND_REFUSE] = { "ROUND_REFUSE", 512 },
	[FT_WIRE_SECAGG] = { "SECAGG", FT_WIRE_SECAGG_MAX },
	[FT_WIRE_MODEL_CHUNK] = { "MODEL_CHUNK", FT_WIRE_CHUNK_MAX + 128 },
	[FT_WIRE_ROUND_RESULT] = { "ROUND_RESULT", 16384 },
	[FT_WIRE_STATS_REQUEST] = { "STATS_REQUEST", 8192 },
	[FT_WIRE_STATS] = { "STATS", 1280 * 1024 },
	[FT_WIRE_ERROR] = { "ERROR", 512 },
	[FT_WIRE_BYE] = { "BYE", 512 },
	[FT_WIRE_PLAIN_UPDATE] = { "PLAIN_UPDATE", FT_WIRE_CHUNK_MAX + 128 },
};

size_t ft_wire_body_max(unsigned type)
{
	if (type == 0 || type >= FT_WIRE_TYPE_COUNT_)
		return 0;
	return registry[type].body_max;
}

const char *ft_wire_type_name(unsigned type)
{
	if (type == 0 || type >= FT_WIRE_TYPE_COUNT_)
		return "UNKNOWN";
	return registry[type].name;
}

uint64_t ft_wire_time_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int sender_ok(uint32_t id)
{
	return id == FT_WIRE_COORDINATOR_ID || (id >= 1 && id <= FT_WIRE_SITE_ID_MAX);
}

static int hdr_ok(const ft_wire_hdr *h)
{
	return ft_wire_body_max(h->type) > 0 && h->phase <= FT_WIRE_PHASE_MAX &&
	       sender_ok(h->sender) && h->recipient != 0 && h->recipient != h->sender;
}

int ft_wire_envelope_encode(const ft_wire_hdr *hdr, const uint8_t *body, size_t body_len,
                            const ft_crypto_identity *id, uint8_t **out, size_t *out_len)
{
	wire_wr w;
	uint8_t sig[FT_CRYPTO_SIG_BYTES], pre[6];
	size_t inner_len, npre;
	int rv;

	if (hdr == NULL || id == NULL || out == NULL || out_len == NULL ||
	    (body == NULL && body_len > 0))
		return FT_EINVAL;
	if (!hdr_ok(hdr))
		return FT_EINVAL;
	if (body_len > ft_wire_body_max(hdr->type))
		return FT_ERANGE;
	wire_wr_init(&w, FT_WIRE_ENVELOPE_MAX + ENVELOPE_DOMAIN_LEN);
	/* The domain string first: domain || inner is what is signed, and its
	 * room is reused for the outer header afterwards. */
	wire_wr_raw(&w, ENVELOPE_DOMAIN, ENVELOPE_DOMAIN_LEN);
	wire_wr_array(&w, INNER_FIELDS);
	wire_wr_uint(&w, FT_WIRE_VERSION);
	wire_wr_uint(&w, hdr->type);
	wire_wr_bin(&w, hdr->consortium, FT_CRYPTO_ID_BYTES);
	wire_wr_uint(&w, hdr->run);
	wire_wr_uint(&w, hdr->round);
	wire_wr_uint(&w, hdr->attempt);
	wire_wr_uint(&w, hdr->phase);
	wire_wr_uint(&w, hdr->sender);
	wire_wr_uint(&w, hdr->recipient);
	wire_wr_uint(&w, hdr->seq);
	wire_wr_uint(&w, hdr->sent_at_ms);
	wire_wr_bin(&w, body, body_len);
	if (w.err != FT_OK) {
		rv = w.err;
		goto out;
	}
	rv = ft_crypto_identity_sign(id, w.p, w.len, sig);
	if (rv != FT_OK)
		goto out;
	inner_len = w.len - ENVELOPE_DOMAIN_LEN;
	/* Outer header: array of 2, then the bin header of inner. */
	pre[0] = 0x92;
	if (inner_len <= 0xff) {
		pre[1] = 0xc4;
		pre[2] = (uint8_t)inner_len;
		npre = 3;
	} else if (inner_len <= 0xffff) {
		pre[1] = 0xc5;
		pre[2] = (uint8_t)(inner_len >> 8);
		pre[3] = (uint8_t)inner_len;
		npre = 4;
	} else {
		pre[1] = 0xc6;
		pre[2] = (uint8_t)(inner_len >> 24);
		pre[3] = (uint8_t)(inner_len >> 16);
		pre[4] = (uint8_t)(inner_len >> 8);
		pre[5] = (uint8_t)inner_len;
		npre = 6;
	}
	memcpy(w.p, pre, npre);
	memmove(w.p + npre, w.p + ENVELOPE_DOMAIN_LEN, inner_len);
	w.len = npre + inner_len;
	wire_wr_bin(&w, sig, sizeof(sig));
	rv = wire_wr_finish(&w, out, out_len);
	return rv;
out:
	wire_wr_discard(&w);
	return rv;
}

int ft_wire_envelope_decode(const uint8_t *buf, size_t len, size_t max_len,
                            const uint8_t consortium[FT_CRYPTO_ID_BYTES],
                            ft_wire_key_lookup lookup, void *arg, ft_wire_hdr *hdr,
                            const uint8_t **body, size_t *body_len)
{
	wire_rd r, ri;
	const uint8_t *inner, *sig, *b;
	size_t inner_len, sig_len, blen;
	uint8_t *signed_msg = NULL, pk[FT_CRYPTO_SIGN_PK_BYTES];
	ft_wire_hdr h;
	uint64_t v;
	uint32_t n;
	int rv;

	if (buf == NULL || consortium == NULL || lookup == NULL || hdr == NULL || body == NULL ||
	    body_len == NULL)
		return FT_EINVAL;
	if (len > max_len || len > FT_WIRE_ENVELOPE_MAX)
		return FT_ERANGE;
	memset(&h, 0, sizeof(h));
	/* Outer: [inner bin, sig bin(64)] */
	rv = wire_rd_init(&r, buf, len, 2, 3);
	if (rv != FT_OK)
		return FT_EPROTO;
	if (wire_rd_array(&r, &n) != FT_OK || n != 2 ||
	    wire_rd_bin(&r, len, &inner, &inner_len) != FT_OK ||
	    wire_rd_bin(&r, FT_CRYPTO_SIG_BYTES, &sig, &sig_len) != FT_OK ||
	    sig_len != FT_CRYPTO_SIG_BYTES)
		return FT_EPROTO;
	/* Inner: structure and sizes, enough to find the sender's key. */
	rv = wire_rd_init(&ri, inner, inner_len, 2, 1 + INNER_FIELDS);
	if (rv != FT_OK)
		return FT_EPROTO;
	if (wire_rd_array(&ri, &n) != FT_OK || n != INNER_FIELDS)
		return FT_EPROTO;
	if (wire_rd_uint(&ri, 0, UINT8_MAX, &v) != FT_OK)
		return FT_EPROTO;
	h.version = (uint8_t)v;
	if (wire_rd_uint(&ri, 0, UINT16_MAX, &v) != FT_OK)
		return FT_EPROTO;
	h.type = (uint16_t)v;
	if (h.version != FT_WIRE_VERSION || ft_wire_body_max(h.type) == 0)
		return FT_EPROTO;
	if (wire_rd_bin_fixed(&ri, h.consortium, FT_CRYPTO_ID_BYTES) != FT_OK ||
	    wire_rd_uint(&ri, 0, UINT64_MAX, &h.run) != FT_OK ||
	    wire_rd_uint(&ri, 0, UINT64_MAX, &h.round) != FT_OK ||
	    wire_rd_u32(&ri, 0, UINT32_MAX, &h.attempt) != FT_OK)
		return FT_EPROTO;
	if (wire_rd_uint(&ri, 0, UINT8_MAX, &v) != FT_OK)
		return FT_EPROTO;
	h.phase = (uint8_t)v;
	if (wire_rd_u32(&ri, 0, UINT32_MAX, &h.sender) != FT_OK ||
	    wire_rd_u32(&ri, 0, UINT32_MAX, &h.recipient) != FT_OK ||
	    wire_rd_uint(&ri, 0, UINT64_MAX, &h.seq) != FT_OK ||
	    wire_rd_uint(&ri, 0, UINT64_MAX, &h.sent_at_ms) != FT_OK)
		return FT_EPROTO;
	rv = wire_rd_bin(&ri, ft_wire_body_max(h.type), &b, &blen);
	if (rv != FT_OK)
		return rv == FT_ERANGE ? FT_ERANGE : FT_EPROTO;
	if (!sender_ok(h.sender))
		return FT_EPROTO;
	/* Who signed it? */
	rv = lookup(arg, h.sender, pk);
	if (rv != FT_OK)
		return rv == FT_ENOTFOUND ? FT_ENOTFOUND : FT_EINTERNAL;
	signed_msg = ft_malloc(ENVELOPE_DOMAIN_LEN + inner_len);
	if (signed_msg == NULL)
		return FT_ENOMEM;
	memcpy(signed_msg, ENVELOPE_DOMAIN, ENVELOPE_DOMAIN_LEN);
	memcpy(signed_msg + ENVELOPE_DOMAIN_LEN, inner, inner_len);
	rv = ft_crypto_verify(pk, signed_msg, ENVELOPE_DOMAIN_LEN + inner_len, sig);
	ft_free(signed_msg);
	if (rv != FT_OK)
		return FT_ECRYPTO;
	/* Authentic: now the meaning of each field. */
	if (!hdr_ok(&h))
		return FT_EPROTO;
	if (!ft_crypto_equal(h.consortium, consortium, FT_CRYPTO_ID_BYTES))
		return FT_EREPLAY;
	*hdr = h;
	*body = b;
	*body_len = blen;
	return FT_OK;
}

/* ---- Replay protection ------------------------------------------------------ */

/* Senders the filter keeps a floor for: every sender a manifest can name
 * (its sites and the coordinator). Sized up front, never grown. */
#define REPLAY_MAX_SENDERS ((size_t)FT_WIRE_MAX_SITES + 1u)

typedef struct replay_entry {
	uint32_t sender;
	uint64_t run;
	uint64_t seq;
	uint64_t max_sent_ms; /* the newest sent_at_ms accepted */
	uint64_t used;        /* r->tick when last accepted: least recently used goes first */
} replay_entry;

/* The newest sent_at_ms accepted under any dropped entry of one sender: a
 * (sender, run) of that sender without an entry is accepted only above it,
 * so no message accepted under a dropped entry can be accepted again. The
 * floor is the sender's own: another sender's flood can drop this sender's
 * entries, but it raises this floor only to what this sender itself sent. */
typedef struct replay_floor {
	uint32_t sender;
	uint64_t ms;
} replay_floor;

struct ft_wire_replay {
	replay_entry *e; /* sorted by (sender, run) */
	size_t n, max;
	replay_floor *f; /* sorted by sender */
	size_t nf;
	uint64_t tolerance_ms;
	uint64_t tick;
	uint64_t now_ms; /* the newest receiver time seen, to expire floors */
	/* Floors given up when the floor table was full (only ever the lowest
	 * one, which does not outlive the freshness window by much): a sender
	 * without a floor of its own is held to this one. */
	uint64_t spill_ms;
	int have_spill;
};

int ft_wire_replay_alloc(size_t max_entries, uint64_t tolerance_ms, ft_wire_replay **out)
{
	ft_wire_replay *r;

	if (out == NULL || max_entries == 0 || max_entries > (1u << 20))
		return FT_EINVAL;
	r = ft_calloc(1, sizeof(*r));
	if (r == NULL)
		return FT_ENOMEM;
	r->e = ft_mallocarray(max_entries, sizeof(*r->e));
	r->f = ft_mallocarray(REPLAY_MAX_SENDERS, sizeof(*r->f));
	if (r->e == NULL || r->f == NULL) {
		ft_wire_replay_free(r);
		return FT_ENOMEM;
	}
	r->max = max_entries;
	r->tolerance_ms = tolerance_ms;
	*out = r;
	return FT_OK;
}

void ft_wire_replay_free(ft_wire_replay *r)
{
	if (r == NULL)
		return;
	ft_free(r->e);
	ft_free(r->f);
	ft_free(r);
}

static int entry_cmp(const replay_entry *e, uint32_t sender, uint64_t run)
{
	if (e->sender != sender)
		return e->sender < sender ? -1 : 1;
	if (e->run != run)
		return e->run < run ? -1 : 1;
	return 0;
}

static size_t floor_find(const ft_wire_replay *r, uint32_t sender)
{
	size_t lo = 0, hi = r->nf;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->f[mid].sender < sender)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The floor `sender` is held to: its own, else the spilled one; 0 in
 * *have when there is none. */
static uint64_t floor_of(const ft_wire_replay *r, uint32_t sender, int *have)
{
	size_t i = floor_find(r, sender);

	if (i < r->nf && r->f[i].sender == sender) {
		*have = 1;
		return r->f[i].ms;
	}
	*have = r->have_spill;
	return r->spill_ms;
}

/* Makes room in a full floor table: floors older than the freshness
 * window refuse nothing the window does not, so they go first; failing
 * that, the lowest floor moves to the spill. */
static void floor_make_room(ft_wire_replay *r)
{
	size_t j = 0, low = 0;

	for (size_t i = 0; i < r->nf; i++)
		if (r->f[i].ms >= r->now_ms || r->now_ms - r->f[i].ms <= r->tolerance_ms)
			r->f[j++] = r->f[i];
	r->nf = j;
	if (r->nf < REPLAY_MAX_SENDERS)
		return;
	for (size_t i = 1; i < r->nf; i++)
		if (r->f[i].ms < r->f[low].ms)
			low = i;
	if (!r->have_spill || r->f[low].ms > r->spill_ms)
		r->spill_ms = r->f[low].ms;
	r->have_spill = 1;
	memmove(&r->f[low], &r->f[low + 1], (r->nf - low - 1) * sizeof(*r->f));
	r->nf--;
}

/* Raises e's sender's floor over e (an entry being dropped). */
static void raise_floor(ft_wire_replay *r, const replay_entry *e)
{
	size_t i = floor_find(r, e->sender);

	if (i < r->nf && r->f[i].sender == e->sender) {
		if (e->max_sent_ms > r->f[i].ms)
			r->f[i].ms = e->max_sent_ms;
		return;
	}
	if (r->nf == REPLAY_MAX_SENDERS) {
		floor_make_room(r);
		i = floor_find(r, e->sender);
	}
	memmove(&r->f[i + 1], &r->f[i], (r->nf - i) * sizeof(*r->f));
	r->f[i].sender = e->sender;
	/* A sender without a floor was held to the spill: keep it so. */
	r->f[i].ms = r->have_spill && r->spill_ms > e->max_sent_ms ? r->spill_ms : e->max_sent_ms;
	r->nf++;
}

/* Drops one entry of the sender holding the most entries (its least
 * recently used one; among equals, the least recently used of all), and
 * raises that sender's floor over it. A sender that floods the table with
 * runs thus mostly pushes out its own entries. */
static void evict_one(ft_wire_replay *r)
{
	size_t victim = 0, best_n = 0;

	for (size_t i = 0; i < r->n;) {
		size_t j = i, lru = i;

		while (j < r->n && r->e[j].sender == r->e[i].sender) {
			if (r->e[j].used < r->e[lru].used)
				lru = j;
			j++;
		}
		if (j - i > best_n || (j - i == best_n && r->e[lru].used < r->e[victim].used)) {
			best_n = j - i;
			victim = lru;
		}
		i = j;
	}
	raise_floor(r, &r->e[victim]);
	memmove(&r->e[victim], &r->e[victim + 1], (r->n - victim - 1) * sizeof(*r->e));
	r->n--;
}

static size_t entry_find(const ft_wire_replay *r, uint32_t sender, uint64_t run)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (entry_cmp(&r->e[mid], sender, run) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int ft_wire_replay_check(ft_wire_replay *r, const ft_wire_hdr *hdr, uint64_t now_ms)
{
	size_t lo;
	uint64_t skew, fl;
	int have_fl;

	if (r == NULL || hdr == NULL)
		return FT_EINVAL;
	skew = hdr->sent_at_ms > now_ms ? hdr->sent_at_ms - now_ms : now_ms - hdr->sent_at_ms;
	if (skew > r->tolerance_ms)
		return FT_EREPLAY;
	if (now_ms > r->now_ms)
		r->now_ms = now_ms;
	lo = entry_find(r, hdr->sender, hdr->run);
	if (lo < r->n && entry_cmp(&r->e[lo], hdr->sender, hdr->run) == 0) {
		if (hdr->seq <= r->e[lo].seq)
			return FT_EREPLAY;
		r->e[lo].seq = hdr->seq;
		if (hdr->sent_at_ms > r->e[lo].max_sent_ms)
			r->e[lo].max_sent_ms = hdr->sent_at_ms;
		r->e[lo].used = ++r->tick;
		return FT_OK;
	}
	/* Unknown (sender, run): new, or dropped earlier. Either way only a
	 * message sent after everything this sender had dropped can be fresh. */
	fl = floor_of(r, hdr->sender, &have_fl);
	if (have_fl && hdr->sent_at_ms <= fl)
		return FT_EREPLAY;
	if (r->n == r->max) {
		evict_one(r);
		lo = entry_find(r, hdr->sender, hdr->run);
	}
	memmove(&r->e[lo + 1], &r->e[lo], (r->n - lo) * sizeof(*r->e));
	r->e[lo].sender = hdr->sender;
	r->e[lo].run = hdr->run;
	r->e[lo].seq = hdr->seq;
	r->e[lo].max_sent_ms = hdr->sent_at_ms;
	r->e[lo].used = ++r->tick;
	r->n++;
	return FT_OK;
}

void ft_wire_replay_forget_run(ft_wire_replay *r, uint64_t run)
{
	size_t j = 0;

	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++) {
		if (r->e[i].run != run)
			r->e[j++] = r->e[i];
		else
			raise_floor(r, &r->e[i]);
	}
	r->n = j;
}
