/*
 * coord_serve.c - `fedtwin coordinator serve`: the daemon. One worker thread
 * (this one) owns the database, the engine and every session; nng's threads
 * only queue requests for it (transport_nng.c). Each request is answered
 * with the frames queued for its site, or held up to poll_ms (long poll).
 * Engine events are written to SQLite before any frame queued after them is
 * sent, so a model is durable before a site sees it.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ini.h>

#include "coord_int.h"
#include "ft_audit.h"

typedef struct serve_cfg {
	char listen[256];
	char database[512];
	char identity_key[512];
	char passphrase_file[512];   /* opens a sealed identity key; else FEDTWIN_PASSPHRASE */
	char manifest[512];
	char consortium_pk[512];
	char audit_log[512];
	char ca[512], cert[512], key[512];
	char key_passphrase_file[512]; /* opens an encrypted TLS key */
	int tls_off;               /* tests only: plain tcp */
	ft_coord_timeouts to;
	uint64_t poll_ms;
	uint32_t unused_budget;     /* frames a site may send unused per window */
	uint64_t unused_window_ms;
} serve_cfg;

typedef struct out_frame {
	struct out_frame *next;
	uint8_t *buf;
	size_t len;
} out_frame;

typedef struct csite {
	uint32_t id;
	const uint8_t *pk;
	int bound;
	uint32_t pipe;
	ft_transport_req *held;
	uint64_t held_since;
	out_frame *q_head, *q_tail;
	coord_gate gate;            /* its unused frames (audit cost bound) */
	coord_upload up;            /* masked-upload chunks not yet recorded */
} csite;

typedef struct serve {
	serve_cfg cfg;
	sqlite3 *db;
	ft_crypto_identity *id;
	ft_wire_manifest *man;
	ft_wire_replay *replay;
	ft_audit_log *audit;
	uint64_t seq_out;           /* starts at the wall clock in microseconds */
	ft_transport_server *srv;
	ft_coord_site *esites;
	csite *sites;
	uint32_t n_sites;
	ft_coord_engine *eng;
	uint64_t run_id;
	int run_paused;
	uint64_t last_db_check;
	uint64_t last_status;
	int lock_fd;                /* database.lock, or -1 */
} serve;

static volatile sig_atomic_t serve_stop;

static void on_signal(int sig)
{
	(void)sig;
	serve_stop = 1;
}

static void logf_(const char *fmt, ...) FT_PRINTF(1, 2);
static void logf_(const char *fmt, ...)
{
	char when[32];
	time_t t = time(NULL);
	struct tm tm;
	va_list ap;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s coordinator: ", when);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

/* ---- Audit trail (docs/AUDIT.md) --------------------------------------- */

/* The audit log is the record auditors rely on: an entry that cannot be
 * written stops the daemon (a restart abandons the attempt cleanly) rather
 * than let the protocol run on unrecorded. */
static void audit_check(serve *s, int rv, const char *what)
{
	if (rv == FT_OK)
		return;
	logf_("FATAL: audit log: %s: %s", what, ft_audit_last_error(s->audit));
	exit(1);
}

static void site_actor(uint32_t id, char *buf, size_t n)
{
	snprintf(buf, n, "site:%u", id);
}

static void run_name(uint64_t run, char *buf, size_t n)
{
	snprintf(buf, n, "run-%llu", (unsigned long long)run);
}

static void audit_msg(serve *s, ft_audit_dir dir, uint32_t site, unsigned type, uint64_t run,
                      uint64_t round, const uint8_t *env, size_t len)
{
	char peer[32], rn[32];
	uint8_t digest[FT_CRYPTO_HASH_BYTES];

	site_actor(site, peer, sizeof(peer));
	run_name(run, rn, sizeof(rn));
	ft_crypto_hash(digest, env, len);
	audit_check(s, ft_audit_log_message(s->audit, dir, peer, ft_wire_type_name(type), len, digest,
	                                    run != 0 ? rn : NULL, round, NULL, NULL),
	            "message");
}

/* Records the log head a site put in a round message (ROUND_ACCEPT,
 * ROUND_REFUSE, SECAGG, BYE) as an anchor: the site's log as it stood when
 * it sent the message, which an auditor checks against that log. The body
 * was signed by the site; one it sent without a head anchors nothing. */
static void audit_site_anchor(serve *s, uint32_t site, unsigned type, const uint8_t *body,
                              size_t len)
{
	uint64_t log_len = 0;
	uint8_t head[FT_CRYPTO_HASH_BYTES];
	char peer[32];

	if (type == FT_WIRE_ROUND_ACCEPT) {
		ft_wire_accept a;

		if (ft_wire_accept_decode(body, len, &a) == FT_OK) {
			log_len = a.log_len;
			memcpy(head, a.log_head, sizeof(head));
		}
	} else if (type == FT_WIRE_ROUND_REFUSE || type == FT_WIRE_BYE) {
		ft_wire_notice nt;

		if (ft_wire_notice_decode(body, len, &nt) == FT_OK) {
			log_len = nt.log_len;
			memcpy(head, nt.log_head, sizeof(head));
		}
	} else if (type == FT_WIRE_SECAGG) {
		ft_wire_secagg w;

		if (ft_wire_secagg_decode(body, len, &w) == FT_OK) {
			log_len = w.log_len;
			memcpy(head, w.log_head, sizeof(head));
		}
	}
	if (log_len == 0)
		return;
	site_actor(site, peer, sizeof(peer));
	audit_check(s, ft_audit_log_anchor(s->audit, peer, log_len, head, NULL, NULL), "anchor");
}

/* Records the masked-upload chunks of site c received so far in one
 * msg.received entry (a plain one for a single chunk) and one anchor, the
 * newest log head they carried (docs/AUDIT.md, "Bounded cost"). */
static void upload_flush(serve *s, csite *c)
{
	uint8_t digest[FT_CRYPTO_HASH_BYTES];
	char peer[32], rn[32];

	if (c == NULL || coord_upload_finish(&c->up, digest) != FT_OK)
		return;
	site_actor(c->id, peer, sizeof(peer));
	run_name(c->up.run, rn, sizeof(rn));
	if (c->up.frames == 1)
		audit_check(s, ft_audit_log_message(s->audit, FT_AUDIT_RECEIVED, peer,
		                                    ft_wire_type_name(FT_WIRE_SECAGG), c->up.size,
		                                    c->up.first, c->up.run != 0 ? rn : NULL,
		                                    c->up.round, NULL, NULL),
		            "message");
	else
		audit_check(s, ft_audit_log_message_group(s->audit, FT_AUDIT_RECEIVED, peer,
		                                          ft_wire_type_name(FT_WIRE_SECAGG),
		                                          c->up.frames, c->up.size, digest,
		                                          c->up.run != 0 ? rn : NULL, c->up.round,
		                                          NULL, NULL),
		            "message");
	if (c->up.log_len > 0)
		audit_check(s, ft_audit_log_anchor(s->audit, peer, c->up.log_len, c->up.log_head, NULL,
		                                   NULL),
		            "anchor");
	coord_upload_reset(&c->up);
}

/* A SECAGG body that is a masked-input chunk: its log head, for the
 * anchor of the whole upload. */
static int is_masked_chunk(const uint8_t *body, size_t len, uint64_t *log_len,
                           uint8_t head[FT_CRYPTO_HASH_BYTES])
{
	ft_wire_secagg w;
	ft_secagg_hdr sh;

	if (ft_wire_secagg_decode(body, len, &w) != FT_OK ||
	    ft_secagg_hdr_decode(w.msg, w.len, &sh) != FT_OK || sh.type != FT_SECAGG_MSG_MASKED)
		return 0;
	*log_len = w.log_len;
	memcpy(head, w.log_head, FT_CRYPTO_HASH_BYTES);
	return 1;
}

/* Charges a recorded frame the round did not use to its sender's budget. */
static void charge_unused(csite *g, uint64_t now)
{
	if (g != NULL)
		coord_gate_unused(&g->gate, now);
}

/* Drops an unused frame of site g, over its budget: unrecorded, but the
 * window's first drop writes one msg.dropped entry (after the chunks of
 * connection c's site not yet recorded, to keep the log in order). */
static void drop_unused(serve *s, csite *c, csite *g)
{
	char peer[32];

	if (!coord_gate_drop(&g->gate))
		return;
	upload_flush(s, c);
	site_actor(g->id, peer, sizeof(peer));
	logf_("site %u: more than %u unused frames in %llu ms: such frames are dropped unrecorded"
	      " until the window ends",
	      g->id, s->cfg.unused_budget, (unsigned long long)s->cfg.unused_window_ms);
	audit_check(s, ft_audit_log_dropped(s->audit, peer, s->cfg.unused_budget,
	                                    s->cfg.unused_window_ms,
	                                    coord_gate_take_dropped(&g->gate), NULL, NULL),
	            "msg.dropped");
}

/* Puts the coordinator's current log head into a ROUND_RESULT body before
 * it is sealed: each site anchors it with the model it receives. On error
 * the body is sent as it was (without a head). */
static void stamp_result(serve *s, uint8_t **payload, size_t *len)
{
	ft_wire_result *r = ft_calloc(1, sizeof(*r));
	uint8_t *body = NULL;
	size_t blen;

	if (r == NULL || ft_wire_result_decode(*payload, *len, r) != FT_OK)
		goto out;
	if (ft_audit_head(s->audit, &r->log_len, r->log_head) != FT_OK || r->log_len == 0)
		goto out;
	if (ft_wire_result_encode(r, &body, &blen) != FT_OK)
		goto out;
	ft_free(*payload);
	*payload = body;
	*len = blen;
out:
	ft_free(r);
}

/* A list of "site:N" strings for the typed events. */
static void site_list(const uint32_t *ids, uint32_t n, char (*buf)[16], const char **ptr)
{
	for (uint32_t i = 0; i < n; i++) {
		snprintf(buf[i], 16, "site:%u", ids[i]);
		ptr[i] = buf[i];
	}
}

/* ---- Configuration (INI) -------------------------------------------------- */

static int set_str(char *dst, size_t cap, const char *v)
{
	if (strlen(v) >= cap)
		return 0;
	memcpy(dst, v, strlen(v) + 1);
	return 1;
}

static int set_ms(uint64_t *dst, const char *v)
{
	uint64_t x;

	if (ft_parse_u64(v, 86400000ull, &x) != FT_OK || x == 0)
		return 0;
	*dst = x;
	return 1;
}

static int cfg_handler(void *user, const char *section, const char *name, const char *value)
{
	serve_cfg *c = user;

	if (strcmp(section, "coordinator") == 0) {
		if (strcmp(name, "listen") == 0)
			return set_str(c->listen, sizeof(c->listen), value);
		if (strcmp(name, "database") == 0)
			return set_str(c->database, sizeof(c->database), value);
		if (strcmp(name, "identity_key") == 0)
			return set_str(c->identity_key, sizeof(c->identity_key), value);
		if (strcmp(name, "passphrase_file") == 0)
			return set_str(c->passphrase_file, sizeof(c->passphrase_file), value);
		if (strcmp(name, "manifest") == 0)
			return set_str(c->manifest, sizeof(c->manifest), value);
		if (strcmp(name, "consortium_pk") == 0)
			return set_str(c->consortium_pk, sizeof(c->consortium_pk), value);
		if (strcmp(name, "audit_log") == 0)
			return set_str(c->audit_log, sizeof(c->audit_log), value);
		if (strcmp(name, "unused_frames_budget") == 0) {
			uint64_t x;

			if (ft_parse_u64(value, 1000000, &x) != FT_OK || x == 0)
				return 0;
			c->unused_budget = (uint32_t)x;
			return 1;
		}
		if (strcmp(name, "unused_frames_window_ms") == 0)
			return set_ms(&c->unused_window_ms, value);
	} else if (strcmp(section, "tls") == 0) {
		if (strcmp(name, "ca") == 0)
			return set_str(c->ca, sizeof(c->ca), value);
		if (strcmp(name, "cert") == 0)
			return set_str(c->cert, sizeof(c->cert), value);
		if (strcmp(name, "key") == 0)
			return set_str(c->key, sizeof(c->key), value);
		if (strcmp(name, "key_passphrase_file") == 0)
			return set_str(c->key_passphrase_file, sizeof(c->key_passphrase_file), value);
		if (strcmp(name, "insecure_plain_tcp") == 0) {
			c->tls_off = strcmp(value, "yes") == 0;
			return c->tls_off || strcmp(value, "no") == 0;
		}
	} else if (strcmp(section, "deadlines") == 0) {
		if (strcmp(name, "accept_ms") == 0)
			return set_ms(&c->to.accept_ms, value);
		if (strcmp(name, "phase_ms") == 0)
			return set_ms(&c->to.phase_ms, value);
		if (strcmp(name, "upload_ms") == 0)
			return set_ms(&c->to.upload_ms, value);
		if (strcmp(name, "retry_ms") == 0)
			return set_ms(&c->to.retry_ms, value);
		if (strcmp(name, "round_gap_ms") == 0)
			return set_ms(&c->to.round_gap_ms, value);
		if (strcmp(name, "gather_ms") == 0)
			return set_ms(&c->to.gather_ms, value);
		if (strcmp(name, "poll_ms") == 0)
			return set_ms(&c->poll_ms, value);
	}
	return 0;
}

static int cfg_load(const char *path, serve_cfg *c, ft_errmsg *err)
{
	int line;

	memset(c, 0, sizeof(*c));
	c->to.accept_ms = 30000;
	c->to.phase_ms = 30000;
	c->to.upload_ms = 120000;
	c->to.retry_ms = 5000;
	c->to.gather_ms = 10000;
	c->poll_ms = 1000;
	c->unused_budget = 32;
	c->unused_window_ms = 10000;
	line = ini_parse(path, cfg_handler, c);
	if (line < 0)
		return ft_errmsg_set(err, FT_EIO, "%s: cannot read", path);
	if (line > 0)
		return ft_errmsg_set(err, FT_EFORMAT,
		                     "%s: line %d: unknown key, bad value or too long", path, line);
	if (c->listen[0] == '\0' || c->database[0] == '\0' || c->identity_key[0] == '\0' ||
	    c->manifest[0] == '\0' || c->consortium_pk[0] == '\0' || c->audit_log[0] == '\0')
		return ft_errmsg_set(err, FT_EFORMAT,
		                     "%s: [coordinator] needs listen, database, identity_key, manifest,"
		                     " consortium_pk and audit_log",
		                     path);
	if (!c->tls_off && (c->ca[0] == '\0' || c->cert[0] == '\0' || c->key[0] == '\0'))
		return ft_errmsg_set(err, FT_EFORMAT, "%s: [tls] needs ca, cert and key", path);
	return FT_OK;
}

/* ---- Sessions --------------------------------------------------------------- */

static csite *site_by_id(serve *s, uint32_t id)
{
	for (uint32_t i = 0; i < s->n_sites; i++)
		if (s->sites[i].id == id)
			return &s->sites[i];
	return NULL;
}

static csite *site_by_pipe(serve *s, uint32_t pipe)
{
	for (uint32_t i = 0; i < s->n_sites; i++)
		if (s->sites[i].bound && s->sites[i].pipe == pipe)
			return &s->sites[i];
	return NULL;
}

static void queue_clear(csite *c)
{
	while (c->q_head != NULL) {
		out_frame *f = c->q_head;

		c->q_head = f->next;
		ft_free(f->buf);
		ft_free(f);
	}
	c->q_tail = NULL;
}

/* Seals an envelope (ft_wire.h) for `recipient`. On FT_OK the caller owns
 * *buf (ft_free). */
static int seal(serve *s, uint32_t recipient, unsigned type, uint64_t round, uint32_t attempt,
                const uint8_t *body, size_t len, uint8_t **buf, size_t *blen)
{
	ft_wire_hdr h;

	memset(&h, 0, sizeof(h));
	h.type = (uint16_t)type;
	memcpy(h.consortium, s->man->id, FT_CRYPTO_ID_BYTES);
	h.run = s->run_id;
	h.round = round;
	h.attempt = attempt;
	h.sender = FT_WIRE_COORDINATOR_ID;
	h.recipient = recipient;
	h.seq = ++s->seq_out;
	h.sent_at_ms = ft_wire_time_ms();
	return ft_wire_envelope_encode(&h, body, len, s->id, buf, blen);
}

/* Test-only fault injection (tests/integration/net_guard.sh):
 * FEDTWIN_TEST_ANNOUNCE_WRONG_D=1 makes the coordinator announce training
 * rounds with a vector length one above the model's, as a faulty or
 * hostile coordinator might, so a test can check that nodes refuse before
 * any privacy charge. FEDTWIN_TEST_STATS_CAP=N announces round 0 (the
 * statistics release) with a patient cap of N instead of the public one, as
 * a coordinator searching for a site's patient count would. Never set them
 * in production. */
static void test_wrong_d(uint8_t **payload, size_t *len)
{
	const char *v = getenv("FEDTWIN_TEST_ANNOUNCE_WRONG_D");
	const char *cap = getenv("FEDTWIN_TEST_STATS_CAP");
	ft_wire_announce *a = NULL;
	uint8_t *body = NULL;
	size_t blen;

	if ((v == NULL || strcmp(v, "1") != 0) && cap == NULL)
		return;
	a = ft_calloc(1, sizeof(*a));
	if (a == NULL || ft_wire_announce_decode(*payload, *len, a) != FT_OK)
		goto out;
	if (a->round == 0 && cap != NULL)
		a->fxp_clip = strtod(cap, NULL);
	else if (a->round > 0 && v != NULL && strcmp(v, "1") == 0)
		a->d++;
	else
		goto out;
	if (ft_wire_announce_encode(a, &body, &blen) != FT_OK)
		goto out;
	ft_free(*payload);
	*payload = body;
	*len = blen;
out:
	ft_free(a);
}

/* Seals a message for site c and queues it; takes body's ownership. */
static void send_frame(serve *s, csite *c, unsigned type, uint64_t round, uint32_t attempt,
                       uint8_t *payload, size_t len)
{
	out_frame *o = NULL;
	uint8_t *buf = NULL;
	size_t blen;

	if (!c->bound)
		goto out;
	if (type == FT_WIRE_ROUND_RESULT)
		stamp_result(s, &payload, &len);
	if (type == FT_WIRE_ROUND_ANNOUNCE)
		test_wrong_d(&payload, &len);
	if (seal(s, c->id, type, round, attempt, payload, len, &buf, &blen) != FT_OK)
		goto out;
	audit_msg(s, FT_AUDIT_SENT, c->id, type, s->run_id, round, buf, blen);
	o = ft_calloc(1, sizeof(*o));
	if (o == NULL)
		goto out;
	o->buf = buf;
	o->len = blen;
	buf = NULL;
	if (c->q_tail != NULL)
		c->q_tail->next = o;
	else
		c->q_head = o;
	c->q_tail = o;
out:
	ft_free(buf);
	ft_free(payload);
}

/* Answers c's held request with as many queued frames as fit. */
static void reply_site(serve *s, csite *c)
{
	ft_transport_body b;

	if (c->held == NULL)
		return;
	memset(&b, 0, sizeof(b));
	while (c->q_head != NULL) {
		out_frame *f = c->q_head;

		if (ft_transport_body_add(&b, f->buf, f->len) != FT_OK)
			break;
		c->q_head = f->next;
		if (c->q_head == NULL)
			c->q_tail = NULL;
		ft_free(f->buf);
		ft_free(f);
	}
	(void)ft_transport_server_reply(s->srv, c->held, b.buf, b.len);
	c->held = NULL;
	ft_transport_body_free(&b);
}

static void site_unbind(serve *s, csite *c, const char *why)
{
	if (!c->bound)
		return;
	logf_("site %u disconnected (%s)", c->id, why);
	if (c->held != NULL)
		reply_site(s, c);
	queue_clear(c);
	c->bound = 0;
	c->pipe = 0;
	if (s->eng != NULL)
		ft_coord_engine_site_down(s->eng, c->id, ft_now_ms());
}

static const char *refusal_name(int code)
{
	switch (code) {
	case FT_WIRE_REFUSE_POLICY:
		return "privacy policy";
	case FT_WIRE_REFUSE_BUDGET:
		return "privacy budget";
	case FT_WIRE_REFUSE_CONSENT:
		return "consent";
	case FT_WIRE_REFUSE_CONFIG:
		return "configuration";
	case FT_WIRE_REFUSE_BUSY:
		return "busy";
	case FT_WIRE_REFUSE_MODEL:
		return "model";
	case FT_WIRE_REFUSE_SECAGG:
		return "secure aggregation required";
	default:
		return "other";
	}
}

/* run.start / round.start of a plain-sum run's training: the usual keys
 * plus `secure_aggregation` = false (docs/AUDIT.md), so an auditor sees
 * from the coordinator's log alone which rounds' updates it saw unmasked. */
static void audit_plain_start(serve *s, const char *type, const char *rn, uint64_t round,
                              const char *const *sites, uint32_t n_sites)
{
	ft_audit_json *j = NULL;
	int rv = ft_audit_json_new(&j);

	if (rv == FT_OK)
		rv = ft_audit_json_str(j, "run", rn);
	if (rv == FT_OK && strcmp(type, "run.start") == 0) {
		rv = ft_audit_json_u64(j, "rounds_planned", 0);
		if (rv == FT_OK)
			rv = ft_audit_json_str_array(j, "sites", NULL, 0);
	} else if (rv == FT_OK) {
		rv = ft_audit_json_u64(j, "round", round);
		if (rv == FT_OK)
			rv = ft_audit_json_str_array(j, "sites", sites, n_sites);
		if (rv == FT_OK)
			rv = ft_audit_json_u64(j, "threshold", 0);
	}
	if (rv == FT_OK)
		rv = ft_audit_json_bool(j, "secure_aggregation", 0);
	if (rv == FT_OK)
		rv = ft_audit_append(s->audit, type, j, NULL, NULL);
	ft_audit_json_free(j);
	audit_check(s, rv, type);
}

/* Each engine event in the audit log, after the database has it. */
static void audit_event(serve *s, const ft_coord_event *ev)
{
	char rn[32], (*names)[16] = NULL, (*dnames)[16] = NULL;
	const char **ptr = NULL, **dptr = NULL;
	uint32_t nd = 0;

	run_name(s->run_id, rn, sizeof(rn));
	names = ft_calloc(s->n_sites + 1, sizeof(*names));
	ptr = ft_calloc(s->n_sites + 1, sizeof(*ptr));
	dnames = ft_calloc(s->n_sites + 1, sizeof(*dnames));
	dptr = ft_calloc(s->n_sites + 1, sizeof(*dptr));
	if (names == NULL || ptr == NULL || dnames == NULL || dptr == NULL)
		audit_check(s, FT_ENOMEM, "out of memory");
	switch (ev->type) {
	case FT_COORD_EV_ATTEMPT_START: {
		int plain = s->eng->run.plain_sum != 0;

		if (ev->round <= 1 && ev->attempt == 1) {
			if (plain)
				audit_plain_start(s, "run.start", rn, 0, NULL, 0);
			else
				audit_check(s, ft_audit_log_run_start(s->audit, rn, 0, NULL, 0, NULL, NULL),
				            "run.start");
		}
		site_list(ev->sites, ev->n_sites, names, ptr);
		/* Round 0 (standardisation) is always secure. */
		if (plain && ev->round > 0)
			audit_plain_start(s, "round.start", rn, ev->round, ptr, ev->n_sites);
		else
			audit_check(s, ft_audit_log_round_start(s->audit, rn, ev->round, ptr, ev->n_sites,
			                                        0, NULL, NULL),
			            "round.start");
		break;
	}
	case FT_COORD_EV_REFUSED: {
		char why[FT_COORD_TEXT_MAX + 32];

		snprintf(why, sizeof(why), "site:%u refused: %.200s", ev->site, ev->text);
		audit_check(s, ft_audit_log_refusal(s->audit, rn, ev->round, why, NAN, NAN, NULL, NULL),
		            "policy.refuse");
		break;
	}
	case FT_COORD_EV_ATTEMPT_END:
		audit_check(s, ft_audit_log_round_end(s->audit, rn, ev->round, "aborted", NULL, 0, NULL,
		                                      0, NULL, NULL),
		            "round.end");
		break;
	case FT_COORD_EV_STATS:
		site_list(ev->survivors, ev->n_survivors, names, ptr);
		audit_check(s, ft_audit_log_round_end(s->audit, rn, 0, "standardised", ptr,
		                                      ev->n_survivors, dptr, 0, NULL, NULL),
		            "round.end");
		audit_check(s, ft_audit_log_model(s->audit, rn, 0, ev->hash,
		                                  ft_crypto_identity_pk(s->id), ev->model_len, NULL,
		                                  NULL),
		            "model.version");
		break;
	case FT_COORD_EV_MODEL:
		site_list(ev->survivors, ev->n_survivors, names, ptr);
		audit_check(s, ft_audit_log_round_end(s->audit, rn, ev->round, "aggregated", ptr,
		                                      ev->n_survivors, dptr, nd, NULL, NULL),
		            "round.end");
		audit_check(s, ft_audit_log_model(s->audit, rn, ev->round, ev->hash,
		                                  ft_crypto_identity_pk(s->id), ev->model_len, NULL,
		                                  NULL),
		            "model.version");
		if (ev->run_complete)
			audit_check(s, ft_audit_log_run_end(s->audit, rn, "completed", ev->round, NULL,
			                                    NULL),
			            "run.end");
		break;
	default:
		break;
	}
	ft_free(names);
	ft_free(ptr);
	ft_free(dnames);
	ft_free(dptr);
}

/* Persists every engine event, then moves every queued frame to its site. */
static void pump(serve *s)
{
	ft_coord_event ev;
	uint32_t to, attempt;
	unsigned type;
	uint64_t round;
	uint8_t *payload;
	size_t len;
	ft_errmsg err = {{0}};

	if (s->eng == NULL)
		return;
	while (ft_coord_engine_event(s->eng, &ev) == FT_OK) {
		if (coord_db_event(s->db, s->run_id, &ev, &err) != FT_OK) {
			/* Nothing may be sent that is not durable: stop, a restart
			 * abandons the attempt cleanly. */
			logf_("FATAL: %s", err.msg);
			exit(1);
		}
		audit_event(s, &ev);
		switch (ev.type) {
		case FT_COORD_EV_ATTEMPT_START:
			logf_("run %llu round %llu attempt %u: announced to %u sites",
			      (unsigned long long)s->run_id, (unsigned long long)ev.round, ev.attempt,
			      ev.n_sites);
			break;
		case FT_COORD_EV_REFUSED:
			logf_("run %llu round %llu attempt %u: site %u refused (%s): %s",
			      (unsigned long long)s->run_id, (unsigned long long)ev.round, ev.attempt,
			      ev.site, refusal_name(ev.code), ev.text);
			break;
		case FT_COORD_EV_ATTEMPT_END:
			logf_("run %llu round %llu attempt %u: aborted (%s): %s",
			      (unsigned long long)s->run_id, (unsigned long long)ev.round, ev.attempt,
			      ft_strerror(ev.code), ev.text);
			break;
		case FT_COORD_EV_STATS:
			logf_("run %llu statistics release done with %u sites: DP moments published in"
			      " model v0", (unsigned long long)s->run_id, ev.n_survivors);
			break;
		case FT_COORD_EV_MODEL: {
			char hex[2 * FT_CRYPTO_HASH_BYTES + 1];

			ft_crypto_hex(hex, ev.hash, sizeof(ev.hash));
			logf_("run %llu round %llu attempt %u: done with %u sites; model version %llu"
			      " hash %s%s",
			      (unsigned long long)s->run_id, (unsigned long long)ev.round, ev.attempt,
			      ev.n_survivors, (unsigned long long)ev.version, hex,
			      ev.run_complete ? "; run complete" : "");
			break;
		}
		default:
			break;
		}
	}
	while (ft_coord_engine_next(s->eng, &to, &type, &round, &attempt, &payload, &len) == FT_OK) {
		csite *c = site_by_id(s, to);

		if (c == NULL) {
			ft_free(payload);
			continue;
		}
		send_frame(s, c, type, round, attempt, payload, len);
	}
}

/* ---- Runs --------------------------------------------------------------------- */

static void engine_drop(serve *s)
{
	ft_coord_engine_free(s->eng);
	s->eng = NULL;
	s->run_id = 0;
}

static void engine_load(serve *s, uint64_t now)
{
	ft_coord_run run;
	char status[32];
	uint8_t *opt = NULL, *model = NULL;
	size_t opt_len = 0, mlen = 0;
	uint64_t id, version;
	uint32_t attempt;
	ft_errmsg err = {{0}};
	int rv;

	if (coord_db_active_run(s->db, &id, &err) != FT_OK)
		return;
	rv = coord_db_run_load(s->db, id, &run, status, sizeof(status), &opt, &opt_len, &err);
	if (rv == FT_OK)
		rv = coord_db_latest_model(s->db, id, &model, &mlen, &version, &err);
	if (rv == FT_OK)
		rv = coord_db_next_attempt(s->db, id, version + 1, &attempt, &err);
	if (rv == FT_OK && version == 0) {
		/* Standardisation passes are attempts of round 0 and share the
		 * counter with round 1's first attempts. */
		uint32_t a0 = 0;

		rv = coord_db_next_attempt(s->db, id, 0, &a0, &err);
		if (rv == FT_OK && a0 > attempt)
			attempt = a0;
	}
	if (rv == FT_OK)
		rv = ft_coord_engine_alloc(&run, &s->cfg.to, s->id, s->man->id, s->esites,
		                           s->n_sites, model, mlen, version, opt, opt_len, version + 1,
		                           attempt, &s->eng, &err);
	if (rv != FT_OK) {
		logf_("run %llu cannot be loaded: %s", (unsigned long long)id,
		      err.msg[0] ? err.msg : ft_strerror(rv));
		goto out;
	}
	s->run_id = id;
	s->run_paused = strcmp(status, "paused") == 0;
	ft_coord_engine_pause(s->eng, s->run_paused, now);
	logf_("run %llu loaded: model version %llu, next round %llu attempt %u%s",
	      (unsigned long long)id, (unsigned long long)version,
	      (unsigned long long)(version + 1), attempt, s->run_paused ? " (paused)" : "");
	for (uint32_t i = 0; i < s->n_sites; i++)
		if (s->sites[i].bound)
			ft_coord_engine_site_up(s->eng, s->sites[i].id, FT_COORD_NO_VERSION, now);
out:
	ft_free(opt);
	ft_free(model);
}

/* Operators change a run's status with `fedtwin coordinator run ...` from
 * another process; the daemon follows the database. */
static void follow_db(serve *s, uint64_t now)
{
	ft_coord_run run;
	char status[32];
	ft_errmsg err = {{0}};

	if (now - s->last_db_check < 500)
		return;
	s->last_db_check = now;
	if (s->eng == NULL) {
		engine_load(s, now);
		return;
	}
	if (coord_db_run_load(s->db, s->run_id, &run, status, sizeof(status), NULL, NULL, &err) !=
	    FT_OK)
		return;
	if (strcmp(status, "stopped") == 0) {
		logf_("run %llu stopped by the operator", (unsigned long long)s->run_id);
		ft_coord_engine_pause(s->eng, 1, now);
		pump(s);
		engine_drop(s);
	} else if (strcmp(status, "paused") == 0 && !s->run_paused) {
		logf_("run %llu paused", (unsigned long long)s->run_id);
		s->run_paused = 1;
		ft_coord_engine_pause(s->eng, 1, now);
	} else if (strcmp(status, "running") == 0 && s->run_paused) {
		logf_("run %llu resumed", (unsigned long long)s->run_id);
		s->run_paused = 0;
		ft_coord_engine_pause(s->eng, 0, now);
	} else if (strcmp(status, "complete") == 0 && !ft_coord_engine_complete(s->eng)) {
		engine_drop(s);
	} else if (strcmp(status, "complete") == 0) {
		/* A finished run stays loaded (its final model is served from
		 * it) until the operator has started another one. */
		uint64_t next;

		if (coord_db_active_run(s->db, &next, &err) == FT_OK && next != s->run_id) {
			logf_("run %llu complete; run %llu is next", (unsigned long long)s->run_id,
			      (unsigned long long)next);
			engine_drop(s);
			engine_load(s, now);
		}
	}
}

/* ---- Requests ---------------------------------------------------------------- */

/* Replies at once, on a connection not (or no longer) bound to a site, with
 * one signed ERROR telling the node why, so that it says HELLO again. */
static void reply_error(serve *s, ft_transport_req *r, uint32_t recipient, int code,
                        const char *text)
{
	ft_wire_notice nt;
	ft_transport_body b;
	uint8_t *body = NULL, *buf = NULL;
	size_t len, blen;

	memset(&nt, 0, sizeof(nt));
	memset(&b, 0, sizeof(b));
	nt.code = (uint32_t)code;
	snprintf(nt.text, sizeof(nt.text), "%s", text);
	if (ft_wire_notice_encode(&nt, &body, &len) == FT_OK &&
	    seal(s, recipient, FT_WIRE_ERROR, 0, 0, body, len, &buf, &blen) == FT_OK &&
	    ft_transport_body_add(&b, buf, blen) != FT_OK)
		ft_transport_body_reset(&b); /* an empty reply: the node asks again */
	(void)ft_transport_server_reply(s->srv, r, b.buf, b.len);
	ft_free(body);
	ft_free(buf);
	ft_transport_body_free(&b);
}

/* A verified HELLO binds this connection to the site that signed it. */
static int hello(serve *s, uint32_t pipe, const ft_wire_hdr *h, const uint8_t *body, size_t len,
                 uint64_t now)
{
	ft_wire_hello hb;
	ft_wire_welcome w;
	csite *c = site_by_id(s, h->sender);
	uint8_t *wb = NULL;
	size_t wlen;

	if (c == NULL || ft_wire_hello_decode(body, len, &hb) != FT_OK || hb.site_id != h->sender)
		return FT_EPROTO;
	if (c->bound)
		site_unbind(s, c, "reconnected");
	c->bound = 1;
	c->pipe = pipe;
	logf_("site %u connected (pipe %u, %s)", c->id, pipe, hb.software);
	if (hb.log_len > 0) {
		char peer[32];

		/* The site's log head as it stands: an auditor checks it against
		 * the site's log (verify --against). */
		site_actor(c->id, peer, sizeof(peer));
		audit_check(s, ft_audit_log_anchor(s->audit, peer, hb.log_len, hb.log_head, NULL, NULL),
		            "anchor");
	}
	memset(&w, 0, sizeof(w));
	w.manifest_serial = s->man->serial;
	w.server_time_ms = ft_wire_time_ms();
	(void)ft_audit_head(s->audit, &w.log_len, w.log_head);
	if (ft_wire_welcome_encode(&w, &wb, &wlen) == FT_OK)
		send_frame(s, c, FT_WIRE_WELCOME, 0, 0, wb, wlen);
	/* HELLO does not say which model the site holds: send the current one. */
	if (s->eng != NULL)
		ft_coord_engine_site_up(s->eng, c->id, FT_COORD_NO_VERSION, now);
	return FT_OK;
}

static void handle_request(serve *s, ft_transport_req *r, uint64_t now)
{
	uint32_t pipe = ft_transport_req_pipe(r);
	size_t blen, off = 0, flen;
	const uint8_t *body = ft_transport_req_body(r, &blen), *raw;
	csite *c = site_by_pipe(s, pipe);
	int rv, reply_now = 0, said_bye = 0;

	for (;;) {
		ft_wire_hdr h, rh;
		const uint8_t *mb;
		size_t mlen;
		csite *g;
		int over, session;

		rv = ft_transport_body_next(body, blen, &off, &raw, &flen);
		if (rv == FT_ENOTFOUND)
			break;
		if (rv != FT_OK) {
			logf_("malformed request on pipe %u", pipe);
			break;
		}
		rv = ft_wire_envelope_decode(raw, flen, FT_WIRE_ENVELOPE_MAX, s->man->id,
		                             ft_wire_manifest_lookup, s->man, &h, &mb, &mlen);
		if (rv != FT_OK) {
			/* Say it once in the log and to the peer: an unknown site, or a
			 * key that is not the manifest's for the site it claims. */
			logf_("refused a message on pipe %u: %s", pipe,
			      rv == FT_ECRYPTO   ? "the signature does not verify with the manifest key"
			      : rv == FT_ENOTFOUND ? "the sender is not in the manifest"
			                          : ft_strerror(rv));
			if (c == NULL) {
				reply_error(s, r, FT_WIRE_ALL_SITES, rv,
				            rv == FT_ECRYPTO ? "the signature does not verify with the"
				                               " manifest key for the site you claim"
				                             : "refused: not a consortium member");
				return;
			}
			continue;
		}
		if (h.sender == FT_WIRE_COORDINATOR_ID || h.recipient != FT_WIRE_COORDINATOR_ID) {
			logf_("site %u: refused a misaddressed %s", h.sender, ft_wire_type_name(h.type));
			continue;
		}
		/* A site over its budget of unused frames: those are dropped
		 * unrecorded from now to the end of the window; frames the round
		 * uses are still taken and recorded. */
		g = site_by_id(s, h.sender);
		over = g != NULL && coord_gate_over(&g->gate, now);
		/* Only frames the coordinator may use take a replay entry, so a
		 * site holds at most two whatever it sends: one for the active
		 * run's frames and one for its session frames (HELLO, BYE, ERROR),
		 * which carry whatever run the site last knew and are checked as
		 * one sequence (a site's seq rises across all it sends). Frames of
		 * any other run, and frames dropped for the budget, are refused
		 * before the check. */
		session = h.type == FT_WIRE_HELLO || h.type == FT_WIRE_BYE || h.type == FT_WIRE_ERROR;
		if (!session && (s->eng == NULL || h.run != s->run_id)) {
			if (over)
				drop_unused(s, c, g);
			else {
				logf_("site %u: refused a %s for run %llu, not the active run", h.sender,
				      ft_wire_type_name(h.type), (unsigned long long)h.run);
				charge_unused(g, now);
			}
			if (c == NULL) {
				reply_error(s, r, h.sender, FT_EPERM, "say HELLO first");
				return;
			}
			continue;
		}
		if (over && (h.type == FT_WIRE_HELLO || h.type == FT_WIRE_ERROR || c == NULL ||
		             c->id != h.sender)) {
			drop_unused(s, c, g);
			if (c == NULL) {
				reply_error(s, r, h.sender, FT_EPERM, "say HELLO first");
				return;
			}
			continue;
		}
		rh = h;
		if (session)
			rh.run = UINT64_MAX;
		if (ft_wire_replay_check(s->replay, &rh, ft_wire_time_ms()) != FT_OK) {
			if (over) {
				drop_unused(s, c, g);
				continue;
			}
			logf_("site %u: refused a %s (replayed or stale)", h.sender,
			      ft_wire_type_name(h.type));
			charge_unused(g, now);
			continue;
		}
		if (h.type == FT_WIRE_HELLO) {
			upload_flush(s, c);
			audit_msg(s, FT_AUDIT_RECEIVED, h.sender, h.type, h.run, h.round, raw, flen);
			if (hello(s, pipe, &h, mb, mlen, now) != FT_OK)
				logf_("site %u: malformed HELLO", h.sender);
			c = site_by_pipe(s, pipe);
			/* Each HELLO costs a WELCOME and a model: never free. */
			charge_unused(g, now);
			continue;
		}
		if (c == NULL || c->id != h.sender) {
			/* Signed by a site, but this connection was not opened by it
			 * (or the coordinator restarted since): start over. */
			upload_flush(s, c);
			audit_msg(s, FT_AUDIT_RECEIVED, h.sender, h.type, h.run, h.round, raw, flen);
			charge_unused(g, now);
			if (c == NULL) {
				reply_error(s, r, h.sender, FT_EPERM, "say HELLO first");
				return;
			}
			logf_("site %u: a %s from site %u on its connection: refused", c->id,
			      ft_wire_type_name(h.type), h.sender);
			continue;
		}
		{
			int used = 0, grouped = 0;
			uint64_t log_len = 0;
			uint8_t head[FT_CRYPTO_HASH_BYTES];

			switch (h.type) {
			case FT_WIRE_PLAIN_UPDATE:
				/* A node with more pieces to send asks again at once
				 * instead of waiting out a long poll. */
				reply_now = 1;
				/* fall through */
			case FT_WIRE_ROUND_ACCEPT:
			case FT_WIRE_ROUND_REFUSE:
			case FT_WIRE_SECAGG:
				if (s->eng == NULL || h.run != s->run_id)
					break;
				rv = ft_coord_engine_recv(s->eng, c->id, h.type, h.round, h.attempt, mb, mlen,
				                          now);
				used = rv == FT_OK;
				if (rv != FT_OK && rv != FT_EREPLAY && !over)
					logf_("site %u: %s for round %llu attempt %u not used: %s", c->id,
					      ft_wire_type_name(h.type), (unsigned long long)h.round, h.attempt,
					      ft_strerror(rv));
				grouped = used && h.type == FT_WIRE_SECAGG &&
				          is_masked_chunk(mb, mlen, &log_len, head);
				break;
			case FT_WIRE_BYE:
				used = 1;
				break;
			case FT_WIRE_ERROR: {
				ft_wire_notice nt;

				if (!over && ft_wire_notice_decode(mb, mlen, &nt) == FT_OK)
					logf_("site %u reports an error (%s): %s", c->id,
					      ft_strerror((int)nt.code), nt.text);
				break;
			}
			default:
				if (!over)
					logf_("site %u: unexpected %s", c->id, ft_wire_type_name(h.type));
				break;
			}
			/* Recorded after the engine has it and before anything it
			 * causes is sent (pump, below): the order of the log holds. */
			if (!used && over) {
				drop_unused(s, c, g);
			} else if (grouped) {
				if (c->up.frames > 0 && (c->up.run != h.run || c->up.round != h.round))
					upload_flush(s, c);
				coord_upload_add(&c->up, h.run, h.round, raw, flen, log_len, head);
			} else {
				upload_flush(s, c);
				audit_msg(s, FT_AUDIT_RECEIVED, h.sender, h.type, h.run, h.round, raw, flen);
				audit_site_anchor(s, c->id, h.type, mb, mlen);
				if (!used)
					charge_unused(g, now);
			}
			if (h.type == FT_WIRE_BYE) {
				site_unbind(s, c, "said goodbye");
				c = NULL;
				said_bye = 1;
			}
		}
		if (c == NULL)
			break;
	}
	upload_flush(s, c);
	if (c == NULL) {
		/* After a BYE: nothing more to say. Otherwise a connection no
		 * site is bound to, e.g. a node's poll that its socket re-sent to
		 * this process after a restart: an empty answer would leave that
		 * node polling forever without a session, so tell it to HELLO. */
		if (said_bye)
			(void)ft_transport_server_reply(s->srv, r, NULL, 0);
		else
			reply_error(s, r, FT_WIRE_ALL_SITES, FT_EPERM, "say HELLO first");
		return;
	}
	pump(s);
	if (c->held != NULL)
		reply_site(s, c); /* a newer request replaces a held one */
	c->held = r;
	c->held_since = now;
	if (c->q_head != NULL || reply_now)
		reply_site(s, c);
}

/* ---- Main loop ----------------------------------------------------------------------- */

static int serve_open(serve *s, ft_errmsg *err)
{
	uint8_t cpk[FT_CRYPTO_SIGN_PK_BYTES];
	ft_transport_tls tls;
	char *pass = NULL, lock[600];
	int rv;

	/* One coordinator per database, before anything is opened. */
	snprintf(lock, sizeof(lock), "%s.lock", s->cfg.database);
	rv = ft_lock_acquire(lock, &s->lock_fd, err);
	if (rv != FT_OK)
		return rv;
	rv = coord_db_open(s->cfg.database, &s->db, err);
	if (rv != FT_OK)
		return rv;
	rv = coord_db_abandon_running(s->db, err);
	if (rv != FT_OK)
		return rv;
	rv = ft_crypto_passphrase_read(s->cfg.passphrase_file[0] ? s->cfg.passphrase_file : NULL,
	                               &pass, err);
	if (rv != FT_OK)
		return rv;
	rv = ft_crypto_identity_load(s->cfg.identity_key, pass, &s->id, err);
	ft_crypto_passphrase_free(pass);
	pass = NULL;
	if (rv != FT_OK)
		return rv;
	rv = ft_crypto_pk_load(s->cfg.consortium_pk, cpk, err);
	if (rv != FT_OK)
		return rv;
	rv = ft_wire_manifest_load(s->cfg.manifest, cpk, &s->man, err);
	if (rv != FT_OK)
		return rv;
	rv = ft_wire_replay_alloc(4 * (size_t)FT_WIRE_MAX_SITES, 300000, &s->replay);
	if (rv != FT_OK)
		return rv;
	s->seq_out = ft_wire_time_ms() * 1000;
	rv = ft_audit_open(s->cfg.audit_log, s->id, "coordinator", &s->audit, err);
	if (rv != FT_OK)
		return rv;
	if (!ft_crypto_equal(s->man->coord_pk, ft_crypto_identity_pk(s->id), FT_CRYPTO_SIGN_PK_BYTES))
		return ft_errmsg_set(err, FT_ECRYPTO,
		                     "%s: the manifest names another coordinator key than %s",
		                     s->cfg.manifest, s->cfg.identity_key);
	s->n_sites = s->man->n_sites;
	s->sites = ft_calloc(s->n_sites ? s->n_sites : 1, sizeof(*s->sites));
	s->esites = ft_calloc(s->n_sites ? s->n_sites : 1, sizeof(*s->esites));
	if (s->sites == NULL || s->esites == NULL)
		return FT_ENOMEM;
	for (uint32_t i = 0; i < s->n_sites; i++) {
		s->sites[i].id = s->man->sites[i].id;
		s->sites[i].pk = s->man->sites[i].pk;
		coord_gate_init(&s->sites[i].gate, s->cfg.unused_budget, s->cfg.unused_window_ms);
		coord_upload_reset(&s->sites[i].up);
		s->esites[i].id = s->man->sites[i].id;
		memcpy(s->esites[i].pk, s->man->sites[i].pk, FT_CRYPTO_SIGN_PK_BYTES);
	}
	if (!s->cfg.tls_off) {
		/* A node cannot tell why a handshake fails: check our side here. */
		char note[700];

		rv = ft_transport_cert_check(s->cfg.cert, s->cfg.ca, (int64_t)time(NULL), note,
		                             sizeof(note), err);
		if (rv != FT_OK && rv != FT_ETIMEDOUT)
			return rv;
		logf_("%scertificate %s", rv == FT_ETIMEDOUT ? "WARNING: " : "", note);
	}
	tls.ca_file = s->cfg.ca;
	tls.cert_file = s->cfg.cert;
	tls.key_file = s->cfg.key;
	tls.key_passphrase = NULL;
	tls.server_name = NULL;
	if (s->cfg.key_passphrase_file[0] != '\0') {
		rv = ft_crypto_passphrase_read(s->cfg.key_passphrase_file, &pass, err);
		if (rv != FT_OK)
			return rv;
		tls.key_passphrase = pass;
	}
	/* The key is parsed here and the passphrase is not needed again. */
	rv = ft_transport_server_open(s->cfg.listen, s->cfg.tls_off ? NULL : &tls, s->n_sites + 8,
	                              &s->srv, err);
	ft_crypto_passphrase_free(pass);
	if (rv != FT_OK)
		return rv;
	logf_("listening on %s (port %d), %u sites in the manifest", s->cfg.listen,
	      ft_transport_server_port(s->srv), s->n_sites);
	return FT_OK;
}

static void serve_close(serve *s)
{
	/* What is still held for the log: chunks, and drops not yet
	 * reported, so every dropped frame is counted somewhere. */
	for (uint32_t i = 0; s->audit != NULL && s->sites != NULL && i < s->n_sites; i++) {
		csite *c = &s->sites[i];
		uint64_t n = coord_gate_take_dropped(&c->gate);
		char peer[32];

		upload_flush(s, c);
		if (n == 0)
			continue;
		site_actor(c->id, peer, sizeof(peer));
		audit_check(s, ft_audit_log_dropped(s->audit, peer, s->cfg.unused_budget,
		                                    s->cfg.unused_window_ms, n, NULL, NULL),
		            "msg.dropped");
	}
	for (uint32_t i = 0; i < s->n_sites; i++) {
		if (s->sites[i].held != NULL)
			reply_site(s, &s->sites[i]);
		queue_clear(&s->sites[i]);
	}
	ft_transport_server_close(s->srv);
	ft_coord_engine_free(s->eng);
	ft_free(s->sites);
	ft_free(s->esites);
	ft_wire_manifest_free(s->man);
	ft_wire_replay_free(s->replay);
	ft_audit_close(s->audit);
	ft_crypto_identity_free(s->id);
	coord_db_close(s->db);
	ft_lock_release(s->lock_fd);
}

int coord_serve_main(const char *config_path);
int coord_serve_main(const char *config_path)
{
	serve s;
	ft_errmsg err = {{0}};
	struct sigaction sa;
	int rv;

	memset(&s, 0, sizeof(s));
	s.lock_fd = -1;
	rv = cfg_load(config_path, &s.cfg, &err);
	if (rv == FT_OK)
		rv = serve_open(&s, &err);
	if (rv != FT_OK) {
		fprintf(stderr, "fedtwin coordinator serve: %s\n", err.msg[0] ? err.msg : ft_strerror(rv));
		serve_close(&s);
		ft_transport_fini();
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	while (!serve_stop) {
		uint64_t now = ft_now_ms(), dl;
		ft_transport_req *r = NULL;
		uint32_t closed = 0;
		int wait_ms = 50;

		if (s.eng != NULL) {
			dl = ft_coord_engine_deadline(s.eng);
			if (dl <= now)
				wait_ms = 0;
			else if (dl - now < (uint64_t)wait_ms)
				wait_ms = (int)(dl - now);
		}
		if (ft_transport_server_wait(s.srv, wait_ms, &r, &closed) == FT_OK) {
			now = ft_now_ms();
			if (r != NULL) {
				handle_request(&s, r, now);
			} else {
				csite *c = site_by_pipe(&s, closed);

				if (c != NULL)
					site_unbind(&s, c, "connection closed");
			}
		}
		now = ft_now_ms();
		follow_db(&s, now);
		if (s.eng != NULL) {
			ft_coord_engine_tick(s.eng, now);
			pump(&s);
		}
		for (uint32_t i = 0; i < s.n_sites; i++) {
			csite *c = &s.sites[i];

			if (c->held != NULL &&
			    (c->q_head != NULL || now - c->held_since >= s.cfg.poll_ms))
				reply_site(&s, c);
		}
	}
	logf_("stopping");
	serve_close(&s);
	ft_transport_fini();
	return 0;
}
