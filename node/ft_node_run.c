/*
 * ft_node_run.c - `fedtwin node run --config FILE`: the hospital's daemon.
 * It only dials out (req0 over mutual TLS), proves the site's identity,
 * verifies every frame from the coordinator against the signed manifest,
 * refuses what its own privacy policy forbids, trains on consented records
 * with the ledger charged before anything leaves, takes part in secure
 * aggregation, and keeps each global model version it receives (hash
 * checked) in its models directory. One thread; the long poll paces it.
 *
 * In a plain-sum round (announced by a `--no-secagg` run) a site that
 * allows it (allow_plain_sum) sends the same encoded update in the clear,
 * in PLAIN_UPDATE pieces, after the same ledger charge; a site that does
 * not refuses before anything is charged or trained.
 *
 * What survives a kill -9: the models directory (the newest version is
 * announced in HELLO), the store's ledger, and the DP update of the current
 * round (state directory), which a retried attempt of the same round
 * re-sends under fresh masks instead of spending privacy twice.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ini.h>

#include "ft_audit.h"
#include "ft_node.h"
#include "ft_privacy.h"
#include "ft_secagg.h"
#include "ft_transport.h"
#include "ft_wire.h"
#include "node_int.h"

typedef struct node_cfg {
	uint32_t site_id;
	int have_site;
	char coordinator[256];
	char store[512];
	char dataset[128];
	char identity_key[512];
	char passphrase_file[512];  /* opens a sealed identity key; else FEDTWIN_PASSPHRASE */
	char manifest[512];
	char consortium_pk[512];
	char models_dir[512];
	char state_dir[512];
	char audit_log[512];
	char ca[512], cert[512], key[512], server_name[256];
	char key_passphrase_file[512]; /* opens an encrypted TLS key */
	int tls_off;
	uint64_t call_timeout_ms;
	uint32_t min_sites;   /* the site's own floor on a round's site count */
	double assume_corrupt; /* fraction of sites assumed to collude with the
	                          coordinator when judging a round's (k, t) */
	int allow_plain_sum;  /* takes part in plain-sum rounds (default no) */
	uint32_t max_trainings; /* charged trainings per (run, round), all attempts */
} node_cfg;

typedef struct node_d {
	node_cfg cfg;
	ft_crypto_identity *id;
	ft_wire_manifest *man;
	ft_wire_replay *replay;
	ft_audit_log *audit;
	ft_store *store;
	ft_transport_client *tc;
	ft_transport_tls tls;         /* kept for reconnecting */
	int lock_fd;                  /* state_dir/node.lock, or -1 */
	char *tls_pass;               /* guarded memory, or NULL */
	/* session */
	int bound;
	uint64_t seq_out;             /* starts at the wall clock in microseconds */
	ft_transport_body out;
	/* models */
	uint64_t run;                 /* run of the newest model held */
	uint64_t have_version;
	ft_wire_reasm *reasm;         /* MODEL_CHUNK reassembly */
	/* round */
	ft_secagg_client *sa;
	uint64_t sa_run, sa_round;
	uint32_t sa_attempt;
	uint32_t *x;
	size_t d;
	int input_set;
	/* a plain-sum upload still to send: its bytes and where the chunker is */
	uint8_t *plain;
	ft_wire_chunker plain_ck;
	uint64_t plain_run, plain_round;
	uint32_t plain_attempt;
} node_d;

static volatile sig_atomic_t node_stop;

static void node_on_signal(int sig)
{
	(void)sig;
	node_stop = 1;
}

static uint32_t log_site;

static void nlog(const char *fmt, ...) FT_PRINTF(1, 2);
static void nlog(const char *fmt, ...)
{
	char when[32];
	time_t t = time(NULL);
	struct tm tm;
	va_list ap;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s node %u: ", when, log_site);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

/* ---- Configuration ----------------------------------------------------------- */

static int cset(char *dst, size_t cap, const char *v)
{
	if (strlen(v) >= cap)
		return 0;
	memcpy(dst, v, strlen(v) + 1);
	return 1;
}

static int node_cfg_handler(void *user, const char *section, const char *name, const char *value)
{
	node_cfg *c = user;

	if (strcmp(section, "node") == 0) {
		if (strcmp(name, "site_id") == 0) {
			uint64_t x;

			if (ft_parse_u64(value, FT_WIRE_SITE_ID_MAX, &x) != FT_OK || x == 0 ||
			    ft_parse_u64(value, FT_WIRE_SITE_ID_MAX, &x) != FT_OK)
				return 0;
			c->site_id = (uint32_t)x;
			c->have_site = 1;
			return 1;
		}
		if (strcmp(name, "min_sites") == 0) {
			uint64_t x;

			if (ft_parse_u64(value, FT_WIRE_MAX_SITES, &x) != FT_OK || x < 3)
				return 0;
			c->min_sites = (uint32_t)x;
			return 1;
		}
		if (strcmp(name, "max_trainings_per_round") == 0) {
			uint64_t x;

			if (ft_parse_u64(value, 999, &x) != FT_OK || x == 0)
				return 0;
			c->max_trainings = (uint32_t)x;
			return 1;
		}
		if (strcmp(name, "coordinator") == 0)
			return cset(c->coordinator, sizeof(c->coordinator), value);
		if (strcmp(name, "store") == 0)
			return cset(c->store, sizeof(c->store), value);
		if (strcmp(name, "dataset") == 0)
			return cset(c->dataset, sizeof(c->dataset), value);
		if (strcmp(name, "identity_key") == 0)
			return cset(c->identity_key, sizeof(c->identity_key), value);
		if (strcmp(name, "passphrase_file") == 0)
			return cset(c->passphrase_file, sizeof(c->passphrase_file), value);
		if (strcmp(name, "manifest") == 0)
			return cset(c->manifest, sizeof(c->manifest), value);
		if (strcmp(name, "consortium_pk") == 0)
			return cset(c->consortium_pk, sizeof(c->consortium_pk), value);
		if (strcmp(name, "models_dir") == 0)
			return cset(c->models_dir, sizeof(c->models_dir), value);
		if (strcmp(name, "state_dir") == 0)
			return cset(c->state_dir, sizeof(c->state_dir), value);
		if (strcmp(name, "audit_log") == 0)
			return cset(c->audit_log, sizeof(c->audit_log), value);
		if (strcmp(name, "assume_corrupt_fraction") == 0)
			return ft_parse_double(value, &c->assume_corrupt) == FT_OK &&
			       c->assume_corrupt >= 0.0 && c->assume_corrupt < 0.5;
		if (strcmp(name, "allow_plain_sum") == 0) {
			c->allow_plain_sum = strcmp(value, "yes") == 0;
			return c->allow_plain_sum || strcmp(value, "no") == 0;
		}
		if (strcmp(name, "call_timeout_ms") == 0)
			return ft_parse_u64(value, 3600000, &c->call_timeout_ms) == FT_OK &&
			       c->call_timeout_ms >= 100;
	} else if (strcmp(section, "tls") == 0) {
		if (strcmp(name, "ca") == 0)
			return cset(c->ca, sizeof(c->ca), value);
		if (strcmp(name, "cert") == 0)
			return cset(c->cert, sizeof(c->cert), value);
		if (strcmp(name, "key") == 0)
			return cset(c->key, sizeof(c->key), value);
		if (strcmp(name, "key_passphrase_file") == 0)
			return cset(c->key_passphrase_file, sizeof(c->key_passphrase_file), value);
		if (strcmp(name, "server_name") == 0)
			return cset(c->server_name, sizeof(c->server_name), value);
		if (strcmp(name, "insecure_plain_tcp") == 0) {
			c->tls_off = strcmp(value, "yes") == 0;
			return c->tls_off || strcmp(value, "no") == 0;
		}
	}
	return 0;
}

static int node_cfg_load(const char *path, node_cfg *c, ft_errmsg *err)
{
	int line;

	memset(c, 0, sizeof(*c));
	c->call_timeout_ms = 15000;
	c->min_sites = 3;
	c->assume_corrupt = FT_SECAGG_ASSUME_CORRUPT;
	c->max_trainings = 2;
	line = ini_parse(path, node_cfg_handler, c);
	if (line < 0)
		return ft_errmsg_set(err, FT_EIO, "%s: cannot read", path);
	if (line > 0)
		return ft_errmsg_set(err, FT_EFORMAT,
		                     "%s: line %d: unknown key, bad value or too long", path, line);
	if (!c->have_site || c->coordinator[0] == '\0' || c->store[0] == '\0' ||
	    c->dataset[0] == '\0' || c->identity_key[0] == '\0' || c->manifest[0] == '\0' ||
	    c->consortium_pk[0] == '\0' || c->models_dir[0] == '\0' || c->state_dir[0] == '\0' ||
	    c->audit_log[0] == '\0')
		return ft_errmsg_set(err, FT_EFORMAT,
		                     "%s: [node] needs site_id, coordinator, store, dataset, identity_key,"
		                     " manifest, consortium_pk, models_dir, state_dir and audit_log",
		                     path);
	if (!c->tls_off && (c->ca[0] == '\0' || c->cert[0] == '\0' || c->key[0] == '\0'))
		return ft_errmsg_set(err, FT_EFORMAT, "%s: [tls] needs ca, cert and key", path);
	return FT_OK;
}

/* ---- Files ----------------------------------------------------------------------- */

/* Writes bytes atomically: temporary file, fsync, rename, fsync of the
 * directory. */
static int write_atomic(const char *dir, const char *name, const uint8_t *a, size_t alen,
                        const uint8_t *b, size_t blen)
{
	char path[1100], tmp[1100];
	int fd, dfd, rv = FT_EIO;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name) >= sizeof(tmp))
		return FT_ERANGE;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return FT_EIO;
	if ((alen == 0 || write(fd, a, alen) == (ssize_t)alen) &&
	    (blen == 0 || write(fd, b, blen) == (ssize_t)blen) && fsync(fd) == 0)
		rv = FT_OK;
	close(fd);
	if (rv == FT_OK && rename(tmp, path) != 0)
		rv = FT_EIO;
	if (rv != FT_OK) {
		unlink(tmp);
		return rv;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return FT_OK;
}

static int read_all(const char *path, size_t max, uint8_t **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t n;

	if (f == NULL)
		return FT_ENOTFOUND;
	buf = ft_malloc(max + 1);
	if (buf == NULL) {
		fclose(f);
		return FT_ENOMEM;
	}
	n = fread(buf, 1, max + 1, f);
	fclose(f);
	if (n > max) {
		ft_free(buf);
		return FT_ERANGE;
	}
	*out = buf;
	*len = n;
	return FT_OK;
}

/* Loads the model file of (run, version) and checks its hash. */
static int model_load_meta(node_d *n, uint64_t run, uint64_t version,
                           const uint8_t hash[FT_CRYPTO_HASH_BYTES], ft_model **out,
                           ft_model_meta **meta);

static int model_load(node_d *n, uint64_t run, uint64_t version,
                      const uint8_t hash[FT_CRYPTO_HASH_BYTES], ft_model **out)
{
	return model_load_meta(n, run, version, hash, out, NULL);
}

/* Loads the model file of (run, version), checks its hash, and gives its
 * metadata too if meta is non-NULL (the caller frees it). */
static int model_load_meta(node_d *n, uint64_t run, uint64_t version,
                           const uint8_t hash[FT_CRYPTO_HASH_BYTES], ft_model **out,
                           ft_model_meta **meta)
{
	char path[1100];
	uint8_t *buf = NULL, h[FT_CRYPTO_HASH_BYTES];
	size_t len;
	int rv;

	snprintf(path, sizeof(path), "%s/run-%llu-v%llu.ftm", n->cfg.models_dir,
	         (unsigned long long)run, (unsigned long long)version);
	rv = read_all(path, FT_MODEL_FILE_MAX_BYTES, &buf, &len);
	if (rv != FT_OK)
		return rv;
	ft_crypto_hash(h, buf, len);
	if (!ft_crypto_equal(h, hash, sizeof(h)))
		rv = FT_ECRYPTO;
	else
		rv = ft_model_decode(buf, len, out, meta, NULL);
	ft_free(buf);
	return rv;
}

/* The newest model held: the highest run, then its highest version. */
static void models_scan(node_d *n)
{
	DIR *d = opendir(n->cfg.models_dir);
	struct dirent *e;

	n->run = 0;
	n->have_version = UINT64_MAX;
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		unsigned long long r, v;
		int used = 0;

		if (sscanf(e->d_name, "run-%llu-v%llu.ftm%n", &r, &v, &used) != 2 ||
		    e->d_name[used] != '\0')
			continue;
		if (r > n->run || (r == n->run && (n->have_version == UINT64_MAX ||
		                                   v > n->have_version))) {
			n->run = r;
			n->have_version = v;
		}
	}
	closedir(d);
}

/* ---- Frames out ---------------------------------------------------------------------- */

/* Audit appends are durable commits; a failure is fatal to releasing
 * anything (the site's record must be complete), so it stops the daemon. */
static void audit_check(node_d *n, int rv, const char *what)
{
	if (rv == FT_OK)
		return;
	nlog("FATAL: audit log: %s: %s", what, ft_audit_last_error(n->audit));
	exit(1);
}

/* Test-only fault injection (docs/AUDIT.md, "The ledger never under-counts"):
 * FEDTWIN_TEST_CRASH_AFTER_CHARGE=R makes the daemon die as a kill -9 would,
 * right after round R's privacy charge is durable in the ledger and the
 * audit log and before anything derived from that training is sent or
 * saved. Never set it in production. */
static void crash_after_charge(uint64_t round, uint32_t attempt)
{
	const char *v = getenv("FEDTWIN_TEST_CRASH_AFTER_CHARGE");
	uint64_t r;

	if (v == NULL || ft_parse_u64(v, UINT64_MAX, &r) != FT_OK || r != round)
		return;
	nlog("FEDTWIN_TEST_CRASH_AFTER_CHARGE: dying after the privacy charge of round %llu"
	     " attempt %u", (unsigned long long)round, attempt);
	_exit(137);
}

static void audit_msg(node_d *n, ft_audit_dir dir, unsigned type, uint64_t run, uint64_t round,
                      const uint8_t *env, size_t len)
{
	char rn[32];
	uint8_t digest[FT_CRYPTO_HASH_BYTES];

	snprintf(rn, sizeof(rn), "run-%llu", (unsigned long long)run);
	ft_crypto_hash(digest, env, len);
	audit_check(n, ft_audit_log_message(n->audit, dir, "coordinator", ft_wire_type_name(type),
	                                    len, digest, run != 0 ? rn : NULL, round, NULL, NULL),
	            "message");
}

static void send_frame(node_d *n, unsigned type, uint64_t run, uint64_t round, uint32_t attempt,
                       const uint8_t *body, size_t len)
{
	ft_wire_hdr h;
	uint8_t *buf = NULL;
	size_t blen;

	memset(&h, 0, sizeof(h));
	h.type = (uint16_t)type;
	memcpy(h.consortium, n->man->id, FT_CRYPTO_ID_BYTES);
	h.run = run;
	h.round = round;
	h.attempt = attempt;
	h.sender = n->cfg.site_id;
	h.recipient = FT_WIRE_COORDINATOR_ID;
	h.seq = ++n->seq_out;
	h.sent_at_ms = ft_wire_time_ms();
	if (ft_wire_envelope_encode(&h, body, len, n->id, &buf, &blen) != FT_OK)
		return;
	audit_msg(n, FT_AUDIT_SENT, type, run, round, buf, blen);
	if (ft_transport_body_add(&n->out, buf, blen) != FT_OK)
		nlog("a %s did not fit in the request: dropped", ft_wire_type_name(type));
	ft_free(buf);
}

/* Test-only fault injection (tests/integration/net_flood.sh):
 * FEDTWIN_TEST_FLOOD_FRAMES=N adds N valid, signed ERROR notices that no
 * round uses to every request, as a misbehaving member site might, so a
 * test can check that the coordinator's audit cost stays bounded. They are
 * not recorded in this site's log. Never set it in production. */
static void test_flood(node_d *n)
{
	const char *v = getenv("FEDTWIN_TEST_FLOOD_FRAMES");
	ft_wire_notice nt;
	uint8_t *body = NULL;
	size_t len;
	uint64_t k;

	if (v == NULL || ft_parse_u64(v, 10000, &k) != FT_OK || !n->bound)
		return;
	memset(&nt, 0, sizeof(nt));
	nt.code = FT_EINTERNAL;
	snprintf(nt.text, sizeof(nt.text), "FEDTWIN_TEST_FLOOD_FRAMES");
	if (ft_wire_notice_encode(&nt, &body, &len) != FT_OK)
		return;
	for (uint64_t i = 0; i < k; i++) {
		ft_wire_hdr h;
		uint8_t *buf = NULL;
		size_t blen;

		memset(&h, 0, sizeof(h));
		h.type = FT_WIRE_ERROR;
		memcpy(h.consortium, n->man->id, FT_CRYPTO_ID_BYTES);
		h.sender = n->cfg.site_id;
		h.recipient = FT_WIRE_COORDINATOR_ID;
		h.seq = ++n->seq_out;
		h.sent_at_ms = ft_wire_time_ms();
		if (ft_wire_envelope_encode(&h, body, len, n->id, &buf, &blen) != FT_OK)
			break;
		if (ft_transport_body_add(&n->out, buf, blen) != FT_OK) {
			ft_free(buf);
			break;
		}
		ft_free(buf);
	}
	ft_free(body);
}

/* Refuses a round: `why` goes to the coordinator (and the audit log) and
 * must not depend on patient data; `detail`, if non-NULL, is logged only
 * at the site. */
static void refuse_notice(node_d *n, const ft_wire_hdr *f, uint32_t wire_code,
                          const char *why, const char *detail)
{
	ft_wire_notice nt;
	uint8_t *body = NULL;
	size_t len;

	memset(&nt, 0, sizeof(nt));
	nt.code = wire_code;
	/* Printable ASCII only: the wire refuses control characters. */
	for (size_t i = 0, j = 0; why[i] != '\0' && j < FT_WIRE_TEXT_MAX; i++)
		nt.text[j++] = (why[i] >= 0x20 && why[i] < 0x7f) ? why[i] : '?';
	nlog("refusing run %llu round %llu attempt %u: %s%s%s%s", (unsigned long long)f->run,
	     (unsigned long long)f->round, f->attempt, why, detail != NULL ? " (here: " : "",
	     detail != NULL ? detail : "", detail != NULL ? ")" : "");
	{
		char rn[32];

		snprintf(rn, sizeof(rn), "run-%llu", (unsigned long long)f->run);
		audit_check(n, ft_audit_log_refusal(n->audit, rn, f->round, nt.text[0] ? nt.text : "refused",
		                                    NAN, NAN, NULL, NULL),
		            "policy.refuse");
	}
	(void)ft_audit_head(n->audit, &nt.log_len, nt.log_head);
	if (ft_wire_notice_encode(&nt, &body, &len) == FT_OK)
		send_frame(n, FT_WIRE_ROUND_REFUSE, f->run, f->round, f->attempt, body, len);
	ft_free(body);
}

static void refuse_detail(node_d *n, const ft_wire_hdr *f, int code, const char *why,
                          const char *detail)
{
	refuse_notice(n, f,
	              code == FT_EBUDGET     ? FT_WIRE_REFUSE_BUDGET
	              : code == FT_EPERM     ? FT_WIRE_REFUSE_POLICY
	              : code == FT_ENOTFOUND ? FT_WIRE_REFUSE_CONSENT
	              : code == FT_ECRYPTO   ? FT_WIRE_REFUSE_MODEL
	              : code == FT_EINVAL    ? FT_WIRE_REFUSE_CONFIG
	                                     : FT_WIRE_REFUSE_OTHER,
	              why, detail);
}

static void refuse(node_d *n, const ft_wire_hdr *f, int code, const char *why)
{
	refuse_detail(n, f, code, why, NULL);
}

/*
 * What a refusal from training or statistics may tell the coordinator: the
 * site's own policy limits (chosen by the site, not derived from patients)
 * and a fixed text per reason, never counts, sampling rates or epsilons
 * computed from the data.
 */
static void public_reason(node_d *n, int code, char *buf, size_t len)
{
	ft_store_policy pol;

	switch (code) {
	case FT_EBUDGET:
		if (ft_store_policy_get(n->store, &pol, NULL) == FT_OK)
			snprintf(buf, len, "privacy budget: the round would exceed this site's policy "
			         "(max-epsilon-run %g, max-epsilon-total %g, delta %g)",
			         pol.max_eps_run, pol.max_eps_total, pol.delta);
		else
			snprintf(buf, len, "privacy budget: the round would exceed this site's policy");
		break;
	case FT_EPERM:
		snprintf(buf, len, "refused by this site's privacy policy");
		break;
	case FT_ENOTFOUND:
		snprintf(buf, len, "no consenting patients' records for this run's dataset");
		break;
	case FT_ECRYPTO:
		snprintf(buf, len, "the announced model failed its checks");
		break;
	case FT_EINVAL:
	case FT_ERANGE:
		snprintf(buf, len, "the announced training configuration is not acceptable here");
		break;
	default:
		snprintf(buf, len, "refused (%s)", ft_strerror(code));
		break;
	}
}

static void secagg_drain(node_d *n)
{
	uint8_t *buf;
	size_t len;

	if (n->sa == NULL)
		return;
	if (!n->input_set && ft_secagg_client_phase(n->sa) >= FT_SECAGG_ADVERTISE &&
	    ft_secagg_client_phase(n->sa) <= FT_SECAGG_UPLOAD) {
		if (ft_secagg_client_set_input(n->sa, n->x, n->d) == FT_OK)
			n->input_set = 1;
	}
	while (ft_secagg_client_next(n->sa, &buf, &len) == FT_OK) {
		ft_wire_secagg w;
		uint8_t *body = NULL;
		size_t blen;

		/* Every secure-aggregation message, the masked upload included,
		 * carries this log's head: the coordinator anchors it, so the
		 * privacy charge logged before the upload is fixed in its log. */
		memset(&w, 0, sizeof(w));
		w.msg = buf;
		w.len = len;
		(void)ft_audit_head(n->audit, &w.log_len, w.log_head);
		if (ft_wire_secagg_encode(&w, &body, &blen) == FT_OK)
			send_frame(n, FT_WIRE_SECAGG, n->sa_run, n->sa_round, n->sa_attempt, body, blen);
		ft_free(body);
		ft_free(buf);
	}
	if (ft_secagg_client_phase(n->sa) == FT_SECAGG_ABORTED) {
		const char *why = "";

		(void)ft_secagg_client_abort_reason(n->sa, &why);
		nlog("round %llu attempt %u: secure aggregation aborted: %s",
		     (unsigned long long)n->sa_round, n->sa_attempt, why);
		ft_secagg_client_free(n->sa);
		n->sa = NULL;
	} else if (ft_secagg_client_phase(n->sa) == FT_SECAGG_DONE) {
		nlog("round %llu attempt %u: secure aggregation finished",
		     (unsigned long long)n->sa_round, n->sa_attempt);
		ft_secagg_client_free(n->sa);
		n->sa = NULL;
	}
}

/* ---- Rounds ------------------------------------------------------------------------ */

/* Counts the ledger's charges of one round of a run, over all attempts
 * (ledger key round * 1000 + attempt). */
typedef struct round_charges {
	uint64_t round;
	uint32_t n;
} round_charges;

static int count_round_charges(void *ctx, const ft_store_ledger_event *ev)
{
	round_charges *rc = ctx;

	if (ev->round / 1000 == rc->round)
		rc->n++;
	return FT_OK;
}

/*
 * A kept vector (the DP update of a round, the noisy statistics of a
 * run): magic (4) || hash of the model it was computed from (32) ||
 * consent withdrawal head before the computation (i64 LE,
 * ft_store_consent_withdrawn_head) || len (u32) || v[len] (float32 LE).
 * It is re-sent by a retried attempt only while the model and the
 * withdrawal head are the same: a withdrawal takes effect for everything
 * that has not left yet.
 */
#define KEPT_HDR 48

static int kept_write(node_d *n, const char *name, const char magic[4],
                      const uint8_t hash[FT_CRYPTO_HASH_BYTES], int64_t withdrawn, const float *v,
                      size_t len)
{
	uint8_t hdr[KEPT_HDR], *buf = ft_mallocarray(len, 4);
	int rv;

	if (buf == NULL)
		return FT_ENOMEM;
	for (size_t i = 0; i < len; i++) {
		uint32_t u;

		memcpy(&u, &v[i], 4);
		ft_put_le32(buf + 4 * i, u);
	}
	memcpy(hdr, magic, 4);
	memcpy(hdr + 4, hash, FT_CRYPTO_HASH_BYTES);
	ft_put_le64(hdr + 36, (uint64_t)withdrawn);
	ft_put_le32(hdr + 44, (uint32_t)len);
	rv = write_atomic(n->cfg.state_dir, name, hdr, sizeof(hdr), buf, 4 * len);
	ft_free(buf);
	return rv;
}

/* FT_OK with out[len] filled when `path` holds a vector that may be
 * re-sent; FT_ENOTFOUND when there is none or it is stale, which is then
 * deleted (*stale = 1 if it was for this model: a withdrawal since, or an
 * older format that did not record consent); FT_EIO if it cannot be. */
static int kept_read(const char *path, const char magic[4],
                     const uint8_t hash[FT_CRYPTO_HASH_BYTES], int64_t withdrawn, size_t len,
                     float *out, int *stale)
{
	uint8_t *buf = NULL;
	size_t blen;

	*stale = 0;
	if (read_all(path, KEPT_HDR + 4 * len, &buf, &blen) != FT_OK)
		return FT_ENOTFOUND;
	if (blen == KEPT_HDR + 4 * len && memcmp(buf, magic, 4) == 0 &&
	    memcmp(buf + 4, hash, FT_CRYPTO_HASH_BYTES) == 0 && ft_get_le32(buf + 44) == len &&
	    (int64_t)ft_get_le64(buf + 36) == withdrawn) {
		for (size_t i = 0; i < len; i++) {
			uint32_t u = ft_get_le32(buf + KEPT_HDR + 4 * i);

			memcpy(&out[i], &u, 4);
		}
		ft_free(buf);
		return FT_OK;
	}
	*stale = blen >= KEPT_HDR && memcmp(buf + 4, hash, FT_CRYPTO_HASH_BYTES) == 0;
	ft_free(buf);
	if (unlink(path) != 0 && errno != ENOENT)
		return FT_EIO;
	return FT_ENOTFOUND;
}

/*
 * The DP update of (run, round): computed once (ledger charged first, inside
 * ft_node_train_local) and kept in the state directory, so a retried attempt
 * re-sends the same noisy update rather than spending privacy again, unless
 * a patient has withdrawn consent since it was computed: then it is deleted
 * and never sent (PRIVACY.md "Consent withdrawal and saved updates").
 * File: "FTU2" || base hash (32) || withdrawal head (i64 LE,
 * ft_store_consent_withdrawn_head before the training) || d (u32) ||
 * delta[d] (float32 LE).
 * Before any charge: the announcement's cheap checks
 * (ft_node_update_params_check) and the site's cap on charged trainings per
 * round (max_trainings_per_round); a refusal for the cap writes its fixed
 * public reason to `pub`.
 */
static int update_get(node_d *n, const ft_wire_hdr *f, const ft_wire_announce *a,
                      float **delta, size_t *d, char *why, size_t why_cap, char *pub,
                      size_t pub_cap)
{
	char name[96], path[1200], run_id[32];
	int64_t withdrawn = 0;
	round_charges rc;
	int stale;
	ft_model *global = NULL, *trained = NULL;
	ft_model_meta *gmeta = NULL;
	double *smean = NULL, *svar = NULL;
	ft_node_train_request req;
	ft_node_train_result res;
	ft_errmsg err = {{0}};
	float *dl = NULL;
	size_t np;
	int rv;

	snprintf(name, sizeof(name), "update-run-%llu-round-%llu.bin", (unsigned long long)f->run,
	         (unsigned long long)f->round);
	snprintf(path, sizeof(path), "%s/%s", n->cfg.state_dir, name);
	rv = model_load_meta(n, f->run, a->model_version, a->model_hash, &global, &gmeta);
	if (rv != FT_OK) {
		snprintf(why, why_cap, "global model v%llu is not held or its hash differs",
		         (unsigned long long)a->model_version);
		return rv;
	}
	np = ft_model_n_params(global);
	{
		ft_model_spec shape;

		memset(&shape, 0, sizeof(shape));
		shape.n_features = a->n_features;
		shape.n_classes = a->n_classes;
		shape.n_hidden = a->n_hidden;
		for (uint32_t i = 0; i < a->n_hidden && i < FT_MODEL_MAX_HIDDEN; i++)
			shape.hidden[i] = a->hidden[i];
		rv = ft_node_update_params_check(global, &shape, a->d, a->bits, a->fxp_clip,
		                                 a->n_sites, &err);
	}
	if (rv != FT_OK) {
		snprintf(why, why_cap, "%s", err.msg);
		goto out;
	}
	rv = ft_store_consent_withdrawn_head(n->store, &withdrawn, &err);
	if (rv != FT_OK) {
		snprintf(why, why_cap, "%s", err.msg[0] ? err.msg : ft_strerror(rv));
		goto out;
	}
	dl = ft_mallocarray(np, sizeof(float));
	if (dl == NULL) {
		rv = FT_ENOMEM;
		goto out;
	}
	rv = kept_read(path, "FTU2", a->model_hash, withdrawn, np, dl, &stale);
	if (rv == FT_OK) {
		nlog("round %llu: re-sending the update already computed (no new privacy cost)",
		     (unsigned long long)f->round);
		goto done;
	}
	if (stale)
		nlog("round %llu: the saved update predates a consent withdrawal (or its "
		     "consent state is unknown): discarded, never sent",
		     (unsigned long long)f->round);
	if (rv == FT_EIO) {
		snprintf(why, why_cap, "cannot delete the stale update %.200s", path);
		goto out;
	}
	memset(&req, 0, sizeof(req));
	snprintf(run_id, sizeof(run_id), "run-%llu", (unsigned long long)f->run);
	req.dataset = n->cfg.dataset;
	req.run_id = run_id;
	req.initial = global;
	/* Each training is charged under its own ledger key, (round, attempt):
	 * a retried attempt that trains again (its earlier update lost) spends
	 * privacy again and the ledger must say so. */
	if (f->attempt >= 1000) {
		snprintf(why, why_cap, "attempt %u: more than 999 attempts of one round", f->attempt);
		rv = FT_ERANGE;
		goto out;
	}
	req.round = f->round * 1000 + f->attempt;
	/* A coordinator that changes the model on every attempt (or a site
	 * that keeps losing its update) must not make the site train, and
	 * spend privacy, up to 999 times for one round. */
	rc.round = f->round;
	rc.n = 0;
	rv = ft_store_ledger_foreach(n->store, run_id, count_round_charges, &rc, &err);
	if (rv != FT_OK) {
		snprintf(why, why_cap, "%s", err.msg[0] ? err.msg : ft_strerror(rv));
		goto out;
	}
	if (rc.n >= n->cfg.max_trainings) {
		snprintf(why, why_cap, "round %llu was already charged %u times",
		         (unsigned long long)f->round, rc.n);
		snprintf(pub, pub_cap, "this site trains at most %u times per round "
		         "(max_trainings_per_round)", n->cfg.max_trainings);
		rv = FT_EPERM;
		goto out;
	}
	ft_model_train_config_default(&req.cfg);
	req.cfg.lr = a->lr;
	req.cfg.epochs = a->epochs;
	req.cfg.batch_units = a->batch;
	req.cfg.dp.clip = a->dp_clip;
	req.target_epsilon = a->dp_max_epsilon;
	/* Never this site's exact moments (every row would depend on every
	 * patient, outside DP-SGD's guarantee): the federation's, from the
	 * global model's metadata when the run standardised, else raw
	 * features. */
	req.standardise = 0;
	{
		size_t p = ft_model_get_spec(global)->n_features;

		smean = ft_calloc(p, sizeof(double));
		svar = ft_calloc(p, sizeof(double));
		if (smean == NULL || svar == NULL) {
			rv = FT_ENOMEM;
			goto out;
		}
		if (ft_model_meta_get_vector(gmeta, "standardise.mean", smean, p) == FT_OK &&
		    ft_model_meta_get_vector(gmeta, "standardise.var", svar, p) == FT_OK) {
			req.std_mean = smean;
			req.std_var = svar;
		}
	}
	rv = ft_node_train_local(n->store, &req, &trained, NULL, &res, &err);
	if (rv != FT_OK) {
		snprintf(why, why_cap, "%s", err.msg[0] ? err.msg : ft_strerror(rv));
		goto out;
	}
	nlog("round %llu: trained on %llu patients; epsilon %.3f this round, %.3f this run,"
	     " %.3f lifetime (charged to the ledger)",
	     (unsigned long long)f->round, (unsigned long long)res.train.n_units, res.eps_round,
	     res.eps_run, res.eps_total);
	{
		/* The privacy spent is in the audit log before anything derived
		 * from this training can leave (the update is sent only after
		 * this function returns). */
		ft_audit_training t;
		ft_audit_privacy pv;
		ft_store_policy pol;

		memset(&pol, 0, sizeof(pol));
		if (ft_store_policy_get(n->store, &pol, NULL) != FT_OK) {
			snprintf(why, why_cap, "the site policy cannot be read");
			rv = FT_EPERM;
			goto out;
		}
		memset(&t, 0, sizeof(t));
		t.run = run_id;
		t.round = req.round;
		t.dataset = n->cfg.dataset;
		t.patients = res.train.n_units;
		t.records = res.train.n_rows;
		t.steps = res.train.steps;
		t.q = res.train.q;
		t.clip = res.train.clip;
		t.sigma = res.train.sigma;
		audit_check(n, ft_audit_log_training(n->audit, &t, NULL, NULL), "train.local");
		memset(&pv, 0, sizeof(pv));
		pv.run = run_id;
		pv.round = req.round;
		pv.q = res.train.q;
		pv.sigma = res.train.sigma;
		pv.clip = res.train.clip;
		pv.steps = res.train.steps;
		pv.eps_round = res.eps_round;
		pv.eps_run = res.eps_run;
		pv.eps_total = res.eps_total;
		pv.delta = res.delta;
		pv.max_eps_run = pol.max_eps_run;
		pv.max_eps_total = pol.max_eps_total;
		audit_check(n, ft_audit_log_privacy(n->audit, &pv, NULL, NULL), "privacy.spend");
		crash_after_charge(f->round, f->attempt);
	}
	{
		/* The update clip (L2, post-processing: no privacy cost) bounds
		 * this site's influence on the sum and keeps every coordinate
		 * inside the fixed-point range. */
		double norm = 0, scale = 1;

		for (size_t i = 0; i < np; i++) {
			dl[i] = ft_model_params_const(trained)[i] - ft_model_params_const(global)[i];
			norm += (double)dl[i] * dl[i];
		}
		norm = sqrt(norm);
		if (norm > a->fxp_clip)
			scale = a->fxp_clip / norm;
		for (size_t i = 0; i < np; i++)
			dl[i] = (float)(dl[i] * scale);
	}
	rv = kept_write(n, name, "FTU2", a->model_hash, withdrawn, dl, np);
	if (rv != FT_OK) {
		snprintf(why, why_cap, "cannot keep the update in %.200s", n->cfg.state_dir);
		goto out;
	}
done:
	*delta = dl;
	*d = np;
	dl = NULL;
	rv = FT_OK;
out:
	ft_free(smean);
	ft_free(svar);
	ft_model_meta_free(gmeta);
	ft_free(dl);
	ft_model_free(trained);
	ft_model_free(global);
	return rv;
}

/* Reads the vector kept for (run, model hash); FT_ENOTFOUND if none. */
/*
 * The statistics release of a standardised run (round 0): this site's noisy
 * vector of per-patient sums over its consented records, clipped to the
 * run's public feature ranges (the version-0 model's metadata), with the
 * ledger charged by ft_node_stats_release and the spend in the audit log
 * before anything leaves (docs/PRIVACY.md, "Federated standardisation").
 * The vector is kept in the state directory (stats-run-R.bin: "FTS1" ||
 * model hash (32) || len (u32) || len float32 LE), so a retried attempt
 * re-sends it at no cost and a coordinator cannot obtain fresh noise by
 * retrying.
 */
static int stats_get(node_d *n, const ft_wire_hdr *f, const ft_wire_announce *a, float **vec_out,
                     char *why, size_t why_cap)
{
	ft_model *global = NULL;
	ft_model_meta *meta = NULL;
	ft_node_stats_request req;
	ft_node_stats_result res;
	ft_errmsg err = {{0}};
	double *lo = NULL, *hi = NULL;
	float *vec = NULL;
	char name[96], path[1200], run_id[32];
	int64_t withdrawn = 0;
	size_t p, len;
	int rv, stale;

	/* The patient cap is public and fixed; one chosen by the coordinator
	 * would turn this site's refusals into a search for its count. */
	if (a->fxp_clip != (double)FT_MODEL_STATS_MAX_UNITS) {
		snprintf(why, why_cap, "a statistics release caps each site at %u patients, not %g",
		         FT_MODEL_STATS_MAX_UNITS, a->fxp_clip);
		return FT_EINVAL;
	}
	rv = model_load_meta(n, f->run, a->model_version, a->model_hash, &global, &meta);
	if (rv != FT_OK) {
		snprintf(why, why_cap, "model v%llu is not held or its hash differs",
		         (unsigned long long)a->model_version);
		return rv;
	}
	p = ft_model_get_spec(global)->n_features;
	len = ft_model_stats_len(p);
	if (len != a->d) {
		snprintf(why, why_cap, "the announced vector length is not %zu", len);
		rv = FT_EINVAL;
		goto out;
	}
	lo = ft_calloc(p, sizeof(double));
	hi = ft_calloc(p, sizeof(double));
	vec = ft_mallocarray(len, sizeof(float));
	if (lo == NULL || hi == NULL || vec == NULL) {
		rv = FT_ENOMEM;
		goto out;
	}
	snprintf(run_id, sizeof(run_id), "run-%llu", (unsigned long long)f->run);
	snprintf(name, sizeof(name), "stats-run-%llu.bin", (unsigned long long)f->run);
	snprintf(path, sizeof(path), "%s/%s", n->cfg.state_dir, name);
	rv = ft_store_consent_withdrawn_head(n->store, &withdrawn, &err);
	if (rv != FT_OK) {
		snprintf(why, why_cap, "%s", err.msg[0] ? err.msg : ft_strerror(rv));
		goto out;
	}
	rv = kept_read(path, "FTS2", a->model_hash, withdrawn, len, vec, &stale);
	if (stale)
		nlog("the kept statistics vector predates a consent withdrawal: discarded, never sent");
	if (rv == FT_EIO) {
		snprintf(why, why_cap, "cannot delete the stale statistics %.200s", path);
		goto out;
	}
	if (rv == FT_OK) {
		nlog("statistics of run %llu: re-sending the noisy vector already released (no new"
		     " privacy cost)", (unsigned long long)f->run);
		goto done;
	}
	/* The clipping bounds must be public: the run's, never this site's. */
	if (ft_model_meta_get_vector(meta, "standardise.lo", lo, p) != FT_OK ||
	    ft_model_meta_get_vector(meta, "standardise.hi", hi, p) != FT_OK) {
		snprintf(why, why_cap, "the run carries no public feature ranges");
		rv = FT_EINVAL;
		goto out;
	}
	memset(&req, 0, sizeof(req));
	req.dataset = n->cfg.dataset;
	req.run_id = run_id;
	req.lo = lo;
	req.hi = hi;
	req.n_features = p;
	req.epsilon = a->dp_max_epsilon;
	req.max_units = FT_MODEL_STATS_MAX_UNITS;
	rv = ft_node_stats_release(n->store, &req, vec, len, &res, &err);
	if (rv != FT_OK) {
		snprintf(why, why_cap, "%s", err.msg[0] ? err.msg : ft_strerror(rv));
		goto out;
	}
	{
		/* The spend is in the audit log before the vector can leave. */
		ft_audit_privacy pv;

		memset(&pv, 0, sizeof(pv));
		pv.run = run_id;
		pv.round = res.ledger_round;
		pv.q = 1.0;
		pv.sigma = res.dp.z;
		pv.clip = res.dp.sensitivity;
		pv.steps = 1;
		pv.eps_round = res.eps_round;
		pv.eps_run = res.eps_run;
		pv.eps_total = res.eps_total;
		pv.delta = res.dp.delta;
		pv.max_eps_run = res.max_eps_run;
		pv.max_eps_total = res.max_eps_total;
		audit_check(n, ft_audit_log_privacy(n->audit, &pv, NULL, NULL), "privacy.spend");
	}
	nlog("statistics of run %llu: %zu patients, values clipped to the run's public ranges,"
	     " noise multiplier %.3f; epsilon %.3f this release, %.3f this run, %.3f lifetime"
	     " (charged to the ledger)", (unsigned long long)f->run, res.n_units, res.dp.z,
	     res.eps_round, res.eps_run, res.eps_total);
	crash_after_charge(0, f->attempt);
	rv = kept_write(n, name, "FTS2", a->model_hash, withdrawn, vec, len);
	if (rv != FT_OK) {
		snprintf(why, why_cap, "cannot keep the statistics in %.200s", n->cfg.state_dir);
		goto out;
	}
done:
	*vec_out = vec;
	vec = NULL;
	rv = FT_OK;
out:
	ft_free(vec);
	ft_free(lo);
	ft_free(hi);
	ft_model_meta_free(meta);
	ft_model_free(global);
	return rv;
}

/*
 * The site's own floor under the secure-aggregation parameters a
 * coordinator proposes: this site must be among the announced sites, there
 * must be at least min_sites of them (so a sum is never of one or two
 * sites), and unmasking must need at least two sites' shares. A statistics
 * round is charged like training, so it too needs the site's privacy
 * policy to be set (fail closed). Writes the reason on refusal.
 */
static int announce_acceptable(node_d *n, const ft_wire_hdr *f, const ft_wire_announce *a,
                               char *why, size_t wlen)
{
	ft_store_policy pol;
	int member = 0;

	/* Ledger keys are round * 1000 + attempt in an INTEGER column: a
	 * round beyond that would wrap and escape the per-round count. */
	if (f->round > ((uint64_t)INT64_MAX - 999) / 1000) {
		snprintf(why, wlen, "round %llu is beyond what this site's ledger records",
		         (unsigned long long)f->round);
		return 0;
	}
	for (uint32_t i = 0; i < a->n_sites; i++)
		member |= a->sites[i] == n->cfg.site_id;
	if (!member) {
		snprintf(why, wlen, "this site is not among the announced sites");
		return 0;
	}
	if (a->n_sites < n->cfg.min_sites) {
		snprintf(why, wlen, "the round has %u sites; this site's policy needs at least %u",
		         a->n_sites, n->cfg.min_sites);
		return 0;
	}
	if (!a->plain_sum && a->t < 2) {
		snprintf(why, wlen, "a secure-aggregation threshold of %u would let one site's shares "
		         "unmask; at least 2 is needed", a->t);
		return 0;
	}
	if (!a->plain_sum &&
	    !ft_secagg_params_secure(a->n_sites, a->k, a->t, n->cfg.assume_corrupt, 40)) {
		uint32_t need = 0;

		for (uint32_t t = a->k / 2 + 1; t <= a->k && need == 0; t++)
			if (ft_secagg_params_secure(a->n_sites, a->k, t, n->cfg.assume_corrupt, 40))
				need = t;
		if (need > 0)
			snprintf(why, wlen, "a threshold of %u of %u neighbours among %u sites is too low"
			         " for this site, which assumes up to %g of the sites may collude with the"
			         " coordinator: it needs at least %u", a->t, a->k, a->n_sites,
			         n->cfg.assume_corrupt, need);
		else
			snprintf(why, wlen, "no threshold with %u neighbours among %u sites is safe for"
			         " this site, which assumes up to %g of the sites may collude with the"
			         " coordinator", a->k, a->n_sites, n->cfg.assume_corrupt);
		return 0;
	}
	if (f->round == 0 && ft_store_policy_get(n->store, &pol, NULL) != FT_OK) {
		snprintf(why, wlen, "no privacy policy is set at this site");
		return 0;
	}
	return 1;
}

/* ---- Plain-sum rounds ------------------------------------------------------------ */

static void plain_drop(node_d *n)
{
	ft_free(n->plain);
	n->plain = NULL;
}

/*
 * A plain-sum round this site allows: the encoded update n->x (the same
 * fixed-point vector the masked upload would carry) becomes d u32 LE values,
 * logged as leaving unmasked (update.unmasked, durable) before the accept,
 * whose log head therefore covers it; the pieces follow (plain_fill).
 */
static void plain_accept(node_d *n, const ft_wire_hdr *f, const ft_wire_announce *a)
{
	ft_wire_accept acc;
	uint8_t *ab = NULL;
	size_t alen;
	char rn[32];

	n->plain = ft_mallocarray(n->d, 4);
	if (n->plain == NULL) {
		refuse(n, f, FT_ENOMEM, "out of memory");
		return;
	}
	for (size_t i = 0; i < n->d; i++)
		ft_put_le32(n->plain + 4 * i, n->x[i]);
	if (ft_wire_chunker_init(&n->plain_ck, n->plain, 4 * (uint64_t)n->d, a->model_version,
	                         FT_WIRE_CHUNK_DEFAULT) != FT_OK) {
		plain_drop(n);
		refuse(n, f, FT_EINVAL, "the update cannot be cut into pieces");
		return;
	}
	/* The masked path's copy is not needed any more. */
	ft_free(n->x);
	n->x = NULL;
	n->plain_run = f->run;
	n->plain_round = f->round;
	n->plain_attempt = f->attempt;
	/* The chunker hashed the vector: the digest every piece names. */
	snprintf(rn, sizeof(rn), "run-%llu", (unsigned long long)f->run);
	audit_check(n, ft_audit_log_unmasked(n->audit, rn, f->round, n->d, n->plain_ck.hash, NULL,
	                                     NULL),
	            "update.unmasked");
	nlog("round %llu attempt %u: plain-sum round: sending the encoded update without secure"
	     " aggregation (%zu values)", (unsigned long long)f->round, f->attempt, n->d);
	memset(&acc, 0, sizeof(acc));
	memcpy(acc.model_hash, a->model_hash, sizeof(acc.model_hash));
	(void)ft_audit_head(n->audit, &acc.log_len, acc.log_head);
	if (ft_wire_accept_encode(&acc, &ab, &alen) == FT_OK)
		send_frame(n, FT_WIRE_ROUND_ACCEPT, f->run, f->round, f->attempt, ab, alen);
	ft_free(ab);
}

/* Adds the pending pieces that fit in this request (at most 8 MiB of them,
 * well inside the transport's 16 MiB body); the rest go with the next ones,
 * which the coordinator answers at once. */
static void plain_fill(node_d *n)
{
	while (n->plain != NULL && n->out.len < ((size_t)8 << 20)) {
		uint8_t *body = NULL;
		size_t blen;
		int rv = ft_wire_chunker_next(&n->plain_ck, &body, &blen);

		if (rv != FT_OK) {
			if (rv == FT_ENOTFOUND)
				nlog("round %llu attempt %u: update sent", (unsigned long long)n->plain_round,
				     n->plain_attempt);
			plain_drop(n);
			break;
		}
		send_frame(n, FT_WIRE_PLAIN_UPDATE, n->plain_run, n->plain_round, n->plain_attempt,
		           body, blen);
		ft_free(body);
	}
}

/*
 * What this site accepts in the secure-aggregation CONFIG, which the
 * coordinator builds after the announcement from the sites that accepted:
 * only announced sites, each with the key the consortium manifest enrols
 * for it (an announced id the manifest lacks is left out, so a CONFIG
 * naming it fails), at least min_sites of them, and a (k, t) that passes
 * the same collusion check as the announcement.
 */
static int secagg_expect(node_d *n, const ft_wire_announce *a)
{
	ft_secagg_expect e;
	ft_secagg_site *sites;
	uint32_t m = 0;
	int rv;

	sites = ft_mallocarray(a->n_sites ? a->n_sites : 1, sizeof(*sites));
	if (sites == NULL)
		return FT_ENOMEM;
	for (uint32_t i = 0; i < a->n_sites; i++) {
		const ft_wire_site *w = ft_wire_manifest_site(n->man, a->sites[i]);

		if (w == NULL)
			continue;
		sites[m].id = w->id;
		memcpy(sites[m].sign_pk, w->pk, FT_CRYPTO_SIGN_PK_BYTES);
		m++;
	}
	memset(&e, 0, sizeof(e));
	e.sites = sites;
	e.n_sites = m;
	e.min_n = n->cfg.min_sites;
	e.gamma = n->cfg.assume_corrupt;
	e.sigma = 40;
	rv = ft_secagg_client_expect(n->sa, &e);
	ft_free(sites);
	return rv;
}

static void on_announce(node_d *n, const ft_wire_hdr *f, const uint8_t *body, size_t blen)
{
	ft_wire_announce *a = NULL;
	ft_crypto_fxp fxp;
	ft_crypto_ctx ctx;
	ft_wire_accept acc;
	float *delta = NULL;
	size_t d = 0, alen;
	uint8_t *ab = NULL;
	char why[FT_ERRMSG_MAX + 64], pub[256];
	int rv;

	ft_secagg_client_free(n->sa);
	n->sa = NULL;
	ft_free(n->x);
	n->x = NULL;
	n->input_set = 0;
	plain_drop(n);
	a = ft_calloc(1, sizeof(*a));
	if (a == NULL)
		return;
	if (ft_wire_announce_decode(body, blen, a) != FT_OK || a->round != f->round ||
	    a->attempt != f->attempt) {
		refuse(n, f, FT_EPROTO, "malformed announcement");
		goto out;
	}
	/* Before any ledger charge or training: a site that requires secure
	 * aggregation never computes an update that would leave unmasked, and
	 * statistics sums (not DP) never leave in the clear at all. The reason
	 * is fixed text: nothing about the site's data. */
	if (a->plain_sum && f->round == 0) {
		refuse_notice(n, f, FT_WIRE_REFUSE_SECAGG,
		              "standardisation sums require secure aggregation", NULL);
		goto out;
	}
	if (a->plain_sum && !n->cfg.allow_plain_sum) {
		refuse_notice(n, f, FT_WIRE_REFUSE_SECAGG, "this site requires secure aggregation",
		              NULL);
		goto out;
	}
	nlog("run %llu round %llu attempt %u announced (model v%llu, epsilon %g)",
	     (unsigned long long)f->run, (unsigned long long)f->round, f->attempt,
	     (unsigned long long)a->model_version, a->dp_max_epsilon);
	why[0] = '\0';
	pub[0] = '\0';
	if (!announce_acceptable(n, f, a, why, sizeof(why))) {
		refuse(n, f, FT_EPERM, why);
		goto out;
	}
	if (f->round == 0) {
		rv = stats_get(n, f, a, &delta, why, sizeof(why));
		d = a->d;
	} else {
		rv = update_get(n, f, a, &delta, &d, why, sizeof(why), pub, sizeof(pub));
	}
	if (rv != FT_OK) {
		if (pub[0] == '\0')
			public_reason(n, rv, pub, sizeof(pub));
		refuse_detail(n, f, rv, pub, why);
		goto out;
	}
	if (d != a->d) {
		refuse(n, f, FT_EINVAL, "the announced vector length is not the model's");
		goto out;
	}
	if (f->round == 0)
		rv = ft_model_stats_fxp_init(&fxp, (uint64_t)a->fxp_clip, a->bits, a->n_sites);
	else
		rv = ft_model_update_fxp_init(&fxp, a->fxp_clip, 0, a->bits, a->n_sites);
	if (rv == FT_OK) {
		n->x = ft_mallocarray(d, sizeof(uint32_t));
		rv = n->x == NULL ? FT_ENOMEM : ft_crypto_fxp_encode(&fxp, delta, d, n->x);
	}
	if (rv != FT_OK) {
		refuse(n, f, rv, "the update cannot be encoded with the announced parameters");
		goto out;
	}
	n->d = d;
	if (a->plain_sum) {
		plain_accept(n, f, a);
		goto out;
	}
	memset(&ctx, 0, sizeof(ctx));
	memcpy(ctx.consortium, n->man->id, FT_CRYPTO_ID_BYTES);
	ctx.run = f->run;
	ctx.round = f->round;
	ctx.attempt = f->attempt;
	rv = ft_secagg_client_alloc(n->id, n->cfg.site_id, &ctx, NULL, ft_now_ms(), &n->sa);
	if (rv == FT_OK)
		rv = secagg_expect(n, a);
	if (rv != FT_OK) {
		ft_secagg_client_free(n->sa);
		n->sa = NULL;
		refuse(n, f, rv, "secure aggregation could not start");
		goto out;
	}
	n->sa_run = f->run;
	n->sa_round = f->round;
	n->sa_attempt = f->attempt;
	memcpy(acc.model_hash, a->model_hash, sizeof(acc.model_hash));
	(void)ft_audit_head(n->audit, &acc.log_len, acc.log_head);
	if (ft_wire_accept_encode(&acc, &ab, &alen) == FT_OK)
		send_frame(n, FT_WIRE_ROUND_ACCEPT, f->run, f->round, f->attempt, ab, alen);
out:
	ft_free(ab);
	ft_free(delta);
	ft_free(a);
}

static void on_chunk(node_d *n, const ft_wire_hdr *f, const uint8_t *body, size_t blen)
{
	ft_wire_chunk c;
	uint8_t *file = NULL, h[FT_CRYPTO_HASH_BYTES];
	size_t flen;
	uint64_t version;
	char name[96], hex[2 * FT_CRYPTO_HASH_BYTES + 1];
	ft_model *m = NULL;
	int rv;

	if (ft_wire_chunk_decode(body, blen, &c) != FT_OK) {
		nlog("malformed model chunk ignored");
		return;
	}
	if (c.offset == 0) {
		/* A new transfer starts: drop any half-received one. */
		ft_wire_reasm_free(n->reasm);
		n->reasm = NULL;
	}
	if (n->reasm == NULL && ft_wire_reasm_alloc(FT_MODEL_FILE_MAX_BYTES, &n->reasm) != FT_OK)
		return;
	rv = ft_wire_reasm_add(n->reasm, &c);
	if (rv != FT_OK) {
		nlog("model chunk refused: %s", ft_strerror(rv));
		ft_wire_reasm_free(n->reasm);
		n->reasm = NULL;
		return;
	}
	if (!ft_wire_reasm_complete(n->reasm))
		return;
	rv = ft_wire_reasm_finish(n->reasm, &file, &flen, &version);
	if (rv != FT_OK || ft_model_decode(file, flen, &m, NULL, NULL) != FT_OK) {
		nlog("model v%llu: hash or contents wrong: discarded", (unsigned long long)c.model_version);
		goto out;
	}
	ft_crypto_hash(h, file, flen);
	snprintf(name, sizeof(name), "run-%llu-v%llu.ftm", (unsigned long long)f->run,
	         (unsigned long long)version);
	if (write_atomic(n->cfg.models_dir, name, file, flen, NULL, 0) != FT_OK) {
		nlog("cannot write %s/%s", n->cfg.models_dir, name);
		goto out;
	}
	ft_crypto_hex(hex, h, sizeof(h));
	nlog("stored model run %llu v%llu hash %s", (unsigned long long)f->run,
	     (unsigned long long)version, hex);
	{
		char rn[32];

		snprintf(rn, sizeof(rn), "run-%llu", (unsigned long long)f->run);
		audit_check(n, ft_audit_log_model(n->audit, rn, version, h, n->man->coord_pk, flen, NULL,
		                                  NULL),
		            "model.version");
	}
	n->run = f->run;
	n->have_version = version;
out:
	ft_model_free(m);
	ft_free(file);
}

/* The new global model: kept only if it is the file received (hash), and
 * the signed ROUND_RESULT envelope itself is kept beside it as the
 * coordinator's statement. */
static void on_result(node_d *n, const ft_wire_hdr *f, const uint8_t *raw, size_t rlen,
                      const uint8_t *body, size_t blen)
{
	ft_wire_result *r = ft_calloc(1, sizeof(*r));
	char hex[2 * FT_CRYPTO_HASH_BYTES + 1], name[96];
	ft_model *m = NULL;
	int complete = 0;

	if (r == NULL || ft_wire_result_decode(body, blen, r) != FT_OK)
		goto out;
	if (model_load(n, f->run, r->model_version, r->model_hash, &m) != FT_OK) {
		nlog("model v%llu announced but not held", (unsigned long long)r->model_version);
		goto out;
	}
	/* The coordinator's log head as it published this model. */
	if (r->log_len > 0)
		audit_check(n, ft_audit_log_anchor(n->audit, "coordinator", r->log_len, r->log_head,
		                                   NULL, NULL),
		            "anchor");
	for (uint32_t i = 0; i < r->n_metrics; i++)
		if (strcmp(r->metrics[i].name, "run_complete") == 0 && r->metrics[i].value == 1.0)
			complete = 1;
	snprintf(name, sizeof(name), "run-%llu-v%llu.result", (unsigned long long)f->run,
	         (unsigned long long)r->model_version);
	(void)write_atomic(n->cfg.models_dir, name, raw, rlen, NULL, 0);
	ft_crypto_hex(hex, r->model_hash, sizeof(r->model_hash));
	nlog("run %llu: global model v%llu (%u sites) verified: %s%s", (unsigned long long)f->run,
	     (unsigned long long)r->model_version, r->n_survivors, hex,
	     complete ? "; run complete" : "");
out:
	ft_model_free(m);
	ft_free(r);
}

/* ---- Messages in ------------------------------------------------------------------------ */

static void hello(node_d *n)
{
	ft_wire_hello h;
	uint8_t *body = NULL;
	size_t len;

	memset(&h, 0, sizeof(h));
	h.site_id = n->cfg.site_id;
	snprintf(h.software, sizeof(h.software), "fedtwin node");
	h.caps = FT_WIRE_CAP_SECAGG | FT_WIRE_CAP_DP | FT_WIRE_CAP_CHUNKS;
	h.recv_max = FT_TRANSPORT_MAX_MSG;
	(void)ft_audit_head(n->audit, &h.log_len, h.log_head);
	n->bound = 0;
	ft_transport_body_reset(&n->out);
	if (ft_wire_hello_encode(&h, &body, &len) == FT_OK)
		send_frame(n, FT_WIRE_HELLO, n->run, 0, 0, body, len);
	ft_free(body);
}

static void handle_reply(node_d *n, const uint8_t *rbody, size_t len)
{
	size_t off = 0, flen;
	const uint8_t *raw;

	for (;;) {
		ft_wire_hdr f;
		const uint8_t *body;
		size_t blen;
		int rv = ft_transport_body_next(rbody, len, &off, &raw, &flen);

		if (rv != FT_OK)
			break;
		rv = ft_wire_envelope_decode(raw, flen, FT_WIRE_ENVELOPE_MAX, n->man->id,
		                             ft_wire_manifest_lookup, n->man, &f, &body, &blen);
		if (rv != FT_OK || f.sender != FT_WIRE_COORDINATOR_ID ||
		    (f.recipient != n->cfg.site_id && f.recipient != FT_WIRE_ALL_SITES)) {
			nlog("refused a message not signed by the manifest's coordinator key");
			continue;
		}
		if (ft_wire_replay_check(n->replay, &f, ft_wire_time_ms()) != FT_OK) {
			nlog("refused a replayed or stale %s", ft_wire_type_name(f.type));
			continue;
		}
		audit_msg(n, FT_AUDIT_RECEIVED, f.type, f.run, f.round, raw, flen);
		switch (f.type) {
		case FT_WIRE_WELCOME: {
			ft_wire_welcome w;

			n->bound = 1;
			nlog("connected to the coordinator");
			/* The coordinator's log head, anchored in ours. */
			if (ft_wire_welcome_decode(body, blen, &w) == FT_OK && w.log_len > 0)
				audit_check(n, ft_audit_log_anchor(n->audit, "coordinator", w.log_len,
				                                   w.log_head, NULL, NULL),
				            "anchor");
			break;
		}
		case FT_WIRE_MODEL_CHUNK:
			on_chunk(n, &f, body, blen);
			break;
		case FT_WIRE_ROUND_RESULT:
			on_result(n, &f, raw, flen, body, blen);
			break;
		case FT_WIRE_ROUND_ANNOUNCE:
			on_announce(n, &f, body, blen);
			break;
		case FT_WIRE_SECAGG: {
			ft_wire_secagg w;

			if (n->sa != NULL && f.run == n->sa_run && f.round == n->sa_round &&
			    f.attempt == n->sa_attempt && ft_wire_secagg_decode(body, blen, &w) == FT_OK) {
				ft_secagg_phase before = ft_secagg_client_phase(n->sa);

				rv = ft_secagg_client_recv(n->sa, w.msg, w.len, ft_now_ms());
				if (rv == FT_EPERM && before == FT_SECAGG_CONFIG) {
					const char *why = "";

					/* The coordinator learns a fixed reason; the
					 * ids and numbers stay in this site's log. */
					(void)ft_secagg_client_abort_reason(n->sa, &why);
					refuse_notice(n, &f, FT_WIRE_REFUSE_POLICY,
					              "the secure-aggregation configuration is outside the"
					              " announced round or this site's policy",
					              why);
				} else if (rv != FT_OK) {
					nlog("round %llu: secure-aggregation message rejected: %s",
					     (unsigned long long)f.round, ft_strerror(rv));
				}
				secagg_drain(n);
			}
			break;
		}
		case FT_WIRE_ERROR: {
			ft_wire_notice nt;

			if (ft_wire_notice_decode(body, blen, &nt) != FT_OK)
				break;
			nlog("the coordinator refused us: %s", nt.text);
			if (nt.code != FT_EPERM)
				sleep(1); /* a key or membership problem: do not hammer */
			hello(n);
			return; /* the rest of this reply belongs to a dead session */
		}
		default:
			break;
		}
	}
}

/* ---- Main ------------------------------------------------------------------------------ */

static int node_open(node_d *n, ft_errmsg *err)
{
	uint8_t cpk[FT_CRYPTO_SIGN_PK_BYTES];
	const ft_wire_site *me;
	char *pass = NULL, lock[600];
	int rv;

	/* One daemon per state directory, before anything is opened. */
	if (mkdir(n->cfg.state_dir, 0700) != 0 && errno != EEXIST)
		return ft_errmsg_set(err, FT_EIO, "%s: %s", n->cfg.state_dir, strerror(errno));
	snprintf(lock, sizeof(lock), "%s/node.lock", n->cfg.state_dir);
	rv = ft_lock_acquire(lock, &n->lock_fd, err);
	if (rv != FT_OK)
		return rv;
	rv = ft_crypto_passphrase_read(n->cfg.passphrase_file[0] ? n->cfg.passphrase_file : NULL,
	                               &pass, err);
	if (rv != FT_OK)
		return rv;
	rv = ft_crypto_identity_load(n->cfg.identity_key, pass, &n->id, err);
	ft_crypto_passphrase_free(pass);
	if (rv != FT_OK)
		return rv;
	if (n->cfg.key_passphrase_file[0] != '\0') {
		rv = ft_crypto_passphrase_read(n->cfg.key_passphrase_file, &n->tls_pass, err);
		if (rv != FT_OK)
			return rv;
	}
	rv = ft_crypto_pk_load(n->cfg.consortium_pk, cpk, err);
	if (rv != FT_OK)
		return rv;
	rv = ft_wire_manifest_load(n->cfg.manifest, cpk, &n->man, err);
	if (rv != FT_OK)
		return rv;
	{
		char actor[32];

		snprintf(actor, sizeof(actor), "site:%u", n->cfg.site_id);
		rv = ft_audit_open(n->cfg.audit_log, n->id, actor, &n->audit, err);
		if (rv != FT_OK)
			return rv;
	}
	rv = ft_wire_replay_alloc(16, 300000, &n->replay);
	if (rv != FT_OK)
		return rv;
	n->seq_out = ft_wire_time_ms() * 1000;
	me = ft_wire_manifest_site(n->man, n->cfg.site_id);
	if (me == NULL || !ft_crypto_equal(me->pk, ft_crypto_identity_pk(n->id), FT_CRYPTO_SIGN_PK_BYTES))
		nlog("warning: %s is not the manifest's key for site %u: the coordinator will refuse"
		     " this site",
		     n->cfg.identity_key, n->cfg.site_id);
	if (mkdir(n->cfg.models_dir, 0700) != 0 && errno != EEXIST)
		return ft_errmsg_set(err, FT_EIO, "%s: %s", n->cfg.models_dir, strerror(errno));
	if (mkdir(n->cfg.state_dir, 0700) != 0 && errno != EEXIST)
		return ft_errmsg_set(err, FT_EIO, "%s: %s", n->cfg.state_dir, strerror(errno));
	rv = ft_store_open(n->cfg.store, &n->store, err);
	if (rv != FT_OK)
		return rv;
	models_scan(n);
	if (!n->cfg.tls_off) {
		/* An expired or foreign certificate fails every handshake without
		 * a word from nng: say so now, and warn ahead of expiry. */
		char note[700];

		rv = ft_transport_cert_check(n->cfg.cert, n->cfg.ca, (int64_t)time(NULL), note,
		                             sizeof(note), err);
		if (rv != FT_OK && rv != FT_ETIMEDOUT)
			return rv;
		nlog("%scertificate %s", rv == FT_ETIMEDOUT ? "WARNING: " : "", note);
	}
	n->tls.ca_file = n->cfg.ca;
	n->tls.cert_file = n->cfg.cert;
	n->tls.key_file = n->cfg.key;
	n->tls.key_passphrase = n->tls_pass;
	n->tls.server_name = n->cfg.server_name[0] ? n->cfg.server_name : NULL;
	return ft_transport_client_open(n->cfg.coordinator, n->cfg.tls_off ? NULL : &n->tls, &n->tc,
	                                err);
}

static void node_close(node_d *n)
{
	ft_transport_client_close(n->tc);
	ft_secagg_client_free(n->sa);
	ft_free(n->x);
	plain_drop(n);
	ft_wire_reasm_free(n->reasm);
	ft_transport_body_free(&n->out);
	ft_store_close(n->store);
	ft_wire_manifest_free(n->man);
	ft_wire_replay_free(n->replay);
	ft_audit_close(n->audit);
	ft_crypto_identity_free(n->id);
	ft_crypto_passphrase_free(n->tls_pass);
	ft_lock_release(n->lock_fd);
}

static int node_run_main(const char *config, int allow_plain)
{
	node_d n;
	ft_errmsg err = {{0}};
	struct sigaction sa;
	int rv, failures = 0;

	memset(&n, 0, sizeof(n));
	n.lock_fd = -1;
	rv = node_cfg_load(config, &n.cfg, &err);
	if (allow_plain)
		n.cfg.allow_plain_sum = 1; /* the flag overrides the file's "no" */
	log_site = n.cfg.site_id;
	if (rv == FT_OK)
		rv = node_open(&n, &err);
	if (rv != FT_OK) {
		fprintf(stderr, "fedtwin node run: %s\n", err.msg[0] ? err.msg : ft_strerror(rv));
		node_close(&n);
		ft_transport_fini();
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = node_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	nlog("dialling %s (newest model held: run %llu v%lld)", n.cfg.coordinator,
	     (unsigned long long)n.run,
	     n.have_version == UINT64_MAX ? -1LL : (long long)n.have_version);
	hello(&n);
	while (!node_stop) {
		uint8_t *reply = NULL;
		size_t rlen = 0;

		if (n.bound)
			plain_fill(&n);
		test_flood(&n);
		rv = ft_transport_client_call(n.tc, n.out.buf, n.out.len, (int)n.cfg.call_timeout_ms,
		                              &reply, &rlen);
		ft_transport_body_reset(&n.out);
		if (rv != FT_OK) {
			/* The session may be gone (coordinator restarted, network
			 * down): start over with a fresh challenge. */
			if (failures++ < 3 || failures % 10 == 0)
				nlog("no answer from the coordinator (%s): TLS refused, unreachable or"
				     " restarting; retrying",
				     ft_strerror(rv));
			n.bound = 0;
			/* The pieces of a plain-sum upload in that request may not
			 * have arrived: send them all again (the coordinator takes a
			 * piece it already holds as a duplicate). */
			if (n.plain != NULL)
				n.plain_ck.offset = 0;
			if (failures >= 1) {
				/* Start the connection afresh: a dialer whose pipe died while
				 * this process was stopped may never redial by itself. */
				ft_transport_client *fresh = NULL;

				if (ft_transport_client_open(n.cfg.coordinator, n.cfg.tls_off ? NULL : &n.tls,
				                             &fresh, &err) == FT_OK) {
					ft_transport_client_close(n.tc);
					n.tc = fresh;
				}
			}
			/* A new connection is a new session: introduce ourselves. */
			hello(&n);
			continue;
		}
		failures = 0;
		handle_reply(&n, reply, rlen);
		ft_free(reply);
		if (n.sa != NULL) {
			(void)ft_secagg_client_tick(n.sa, ft_now_ms());
			secagg_drain(&n);
		}
	}
	if (n.bound) {
		uint8_t *reply = NULL;
		size_t rlen;

		ft_wire_notice bye;
		uint8_t *bb = NULL;
		size_t blen;

		memset(&bye, 0, sizeof(bye));
		snprintf(bye.text, sizeof(bye.text), "stopping");
		(void)ft_audit_head(n.audit, &bye.log_len, bye.log_head);
		if (ft_wire_notice_encode(&bye, &bb, &blen) == FT_OK)
			send_frame(&n, FT_WIRE_BYE, n.run, 0, 0, bb, blen);
		ft_free(bb);
		if (ft_transport_client_call(n.tc, n.out.buf, n.out.len, 1000, &reply, &rlen) == FT_OK)
			ft_free(reply);
	}
	nlog("stopping");
	node_close(&n);
	ft_transport_fini();
	return 0;
}

int ft_node_run_main(int argc, char **argv)
{
	int allow_plain = 0;

	if (argc == 4 && strcmp(argv[3], "--allow-plain-sum") == 0)
		allow_plain = 1;
	if ((argc != 3 && !allow_plain) || strcmp(argv[1], "--config") != 0) {
		fprintf(stderr, "usage: fedtwin node run --config FILE [--allow-plain-sum]\n");
		return 2;
	}
	if (ft_crypto_init() != FT_OK) {
		fprintf(stderr, "fedtwin node run: libsodium failed to initialise\n");
		return 1;
	}
	return node_run_main(argv[2], allow_plain);
}

/* ---- Preflight check ------------------------------------------------------------------- */

/*
 * `fedtwin node check`: what site IT runs after installing or changing
 * anything, before the coordinator's next round finds out. Each line says
 * ok, warn or FAIL and what to do; only reads, except the connection test,
 * which is a real HELLO (logged in the audit log like any message) followed
 * by a BYE.
 */
static int check_failed;

static void check_line(int ok, const char *what, const char *fmt, ...) FT_PRINTF(3, 4);
static void check_line(int ok, const char *what, const char *fmt, ...)
{
	va_list ap;

	printf("%-5s %-12s ", ok > 0 ? "ok" : ok == 0 ? "FAIL" : "warn", what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (ok == 0)
		check_failed = 1;
}

static void check_offline(const node_cfg *c, int *daemon_running)
{
	ft_crypto_identity *id = NULL;
	ft_wire_manifest *man = NULL;
	ft_store *st = NULL;
	ft_errmsg err = {{0}};
	uint8_t cpk[FT_CRYPTO_SIGN_PK_BYTES];
	char *pass = NULL, lock[600];
	int fd = -1, rv;

	snprintf(lock, sizeof(lock), "%s/node.lock", c->state_dir);
	if (access(c->state_dir, F_OK) != 0) {
		check_line(1, "state", "%s will be created at the first start", c->state_dir);
	} else if (ft_lock_acquire(lock, &fd, &err) == FT_OK) {
		check_line(1, "state", "%s: no node daemon is running on it", c->state_dir);
		ft_lock_release(fd);
	} else {
		*daemon_running = 1;
		check_line(-1, "state", "%s (the connection test is skipped)", err.msg);
	}
	memset(&err, 0, sizeof(err));
	rv = ft_crypto_passphrase_read(c->passphrase_file[0] ? c->passphrase_file : NULL, &pass, &err);
	if (rv == FT_OK)
		rv = ft_crypto_identity_load(c->identity_key, pass, &id, &err);
	ft_crypto_passphrase_free(pass);
	pass = NULL;
	if (rv != FT_OK) {
		check_line(0, "identity", "%s", err.msg);
	} else {
		char fpr[FT_CRYPTO_FPR_CHARS + 1];

		ft_crypto_fingerprint(ft_crypto_identity_pk(id), fpr);
		check_line(1, "identity", "%s opens (fingerprint %s)", c->identity_key, fpr);
	}
	memset(&err, 0, sizeof(err));
	rv = ft_crypto_pk_load(c->consortium_pk, cpk, &err);
	if (rv == FT_OK)
		rv = ft_wire_manifest_load(c->manifest, cpk, &man, &err);
	if (rv != FT_OK) {
		check_line(0, "manifest", "%s", err.msg);
	} else {
		const ft_wire_site *me = ft_wire_manifest_site(man, c->site_id);

		if (me == NULL)
			check_line(0, "manifest", "%s (serial %llu) does not list site %u: ask the"
			           " consortium operator to enrol this site", c->manifest,
			           (unsigned long long)man->serial, c->site_id);
		else if (id != NULL && !ft_crypto_equal(me->pk, ft_crypto_identity_pk(id),
		                                        FT_CRYPTO_SIGN_PK_BYTES))
			check_line(0, "manifest", "%s lists another key for site %u than %s: the"
			           " coordinator will refuse this site", c->manifest, c->site_id,
			           c->identity_key);
		else
			check_line(1, "manifest", "%s (serial %llu, consortium '%s', %u sites) lists"
			           " site %u '%s' with this key", c->manifest,
			           (unsigned long long)man->serial, man->name, man->n_sites,
			           c->site_id, me->name);
	}
	if (c->tls_off) {
		check_line(-1, "tls", "insecure_plain_tcp = yes: for tests only");
	} else {
		ft_transport_tls tls;

		memset(&tls, 0, sizeof(tls));
		tls.ca_file = c->ca;
		tls.cert_file = c->cert;
		tls.key_file = c->key;
		tls.server_name = c->server_name[0] ? c->server_name : NULL;
		memset(&err, 0, sizeof(err));
		rv = FT_OK;
		if (c->key_passphrase_file[0] != '\0')
			rv = ft_crypto_passphrase_read(c->key_passphrase_file, &pass, &err);
		tls.key_passphrase = pass;
		/* The CA, the certificate and the key, and that they belong
		 * together, without a socket. */
		if (rv == FT_OK)
			rv = ft_transport_tls_check(&tls, 0, &err);
		ft_crypto_passphrase_free(pass);
		pass = NULL;
		if (rv != FT_OK) {
			check_line(0, "tls", "%s", err.msg);
		} else {
			char note[700];

			memset(&err, 0, sizeof(err));
			rv = ft_transport_cert_check(c->cert, c->ca, (int64_t)time(NULL), note,
			                             sizeof(note), &err);
			if (rv == FT_OK || rv == FT_ETIMEDOUT)
				check_line(rv == FT_OK ? 1 : -1, "tls", "key and certificate load, issued by"
				           " the CA; %s", note);
			else
				check_line(0, "tls", "%s", err.msg);
		}
	}
	memset(&err, 0, sizeof(err));
	rv = ft_store_open(c->store, &st, &err);
	if (rv != FT_OK) {
		check_line(0, "store", "%s", err.msg);
	} else {
		ft_store_policy pol;
		ft_model_dataset *ds = NULL;
		ft_store_load_stats ls;

		memset(&pol, 0, sizeof(pol));
		if (ft_store_policy_get(st, &pol, NULL) != FT_OK)
			check_line(0, "policy", "no privacy policy is set: the node refuses every round"
			           " (fedtwin node policy set --store %s ...)", c->store);
		else
			check_line(1, "policy", "at most epsilon %g per run, %g in all, delta %g",
			           pol.max_eps_run, pol.max_eps_total, pol.delta);
		memset(&err, 0, sizeof(err));
		rv = ft_store_load_training(st, c->dataset, &ds, &ls, &err);
		if (rv != FT_OK)
			check_line(0, "dataset", "%s", err.msg);
		else if (ls.patients_used == 0)
			check_line(0, "dataset", "'%s' has no consented patient", c->dataset);
		else
			check_line(1, "dataset", "'%s': %zu consented patients, %zu records, %zu features"
			           " (%zu patients withdrawn)", c->dataset, ls.patients_used,
			           ls.records_used, ds->n_features, ls.patients_excluded);
		ft_model_dataset_free(ds);
		ft_store_close(st);
	}
	if (access(c->audit_log, F_OK) != 0) {
		check_line(1, "audit", "%s will be created at the first start", c->audit_log);
	} else {
		ft_audit_verify_result vr;

		memset(&err, 0, sizeof(err));
		rv = ft_audit_verify(c->audit_log, id != NULL ? ft_crypto_identity_pk(id) : NULL, &vr,
		                     &err);
		if (rv != FT_OK)
			check_line(0, "audit", "%s does not verify: %s", c->audit_log, err.msg);
		else
			check_line(1, "audit", "%s verifies (%llu entries)", c->audit_log,
			           (unsigned long long)vr.head_seq);
	}
	ft_wire_manifest_free(man);
	ft_crypto_identity_free(id);
}

/* A real HELLO: the coordinator answers WELCOME, or ERROR with its reason. */
static void check_online(const char *config)
{
	node_d n;
	ft_errmsg err = {{0}};
	uint8_t *reply = NULL;
	size_t rlen = 0, off = 0, flen;
	const uint8_t *raw;
	int rv, seen = 0;

	memset(&n, 0, sizeof(n));
	n.lock_fd = -1;
	rv = node_cfg_load(config, &n.cfg, &err);
	if (rv == FT_OK)
		rv = node_open(&n, &err);
	if (rv != FT_OK) {
		check_line(0, "coordinator", "not tried: %s", err.msg);
		goto out;
	}
	hello(&n);
	rv = ft_transport_client_call(n.tc, n.out.buf, n.out.len, (int)n.cfg.call_timeout_ms, &reply,
	                              &rlen);
	ft_transport_body_reset(&n.out);
	if (rv != FT_OK) {
		check_line(0, "coordinator", "no answer from %s within %llu ms (%s): is it running,"
		           " reachable through the firewall, and does its certificate carry the"
		           " server_name '%s' and come from this CA?",
		           n.cfg.coordinator, (unsigned long long)n.cfg.call_timeout_ms,
		           ft_strerror(rv), n.cfg.server_name[0] ? n.cfg.server_name : "(URL host)");
		goto out;
	}
	/* Only the answer to the HELLO matters here; anything else queued for
	 * this site (an announcement) is left unanswered. */
	while (!seen && ft_transport_body_next(reply, rlen, &off, &raw, &flen) == FT_OK) {
		ft_wire_hdr f;
		const uint8_t *body;
		size_t blen;

		if (ft_wire_envelope_decode(raw, flen, FT_WIRE_ENVELOPE_MAX, n.man->id,
		                            ft_wire_manifest_lookup, n.man, &f, &body,
		                            &blen) != FT_OK ||
		    f.sender != FT_WIRE_COORDINATOR_ID)
			continue;
		audit_msg(&n, FT_AUDIT_RECEIVED, f.type, f.run, f.round, raw, flen);
		if (f.type == FT_WIRE_WELCOME) {
			check_line(1, "coordinator", "%s accepted site %u (signed by the manifest's"
			           " coordinator key)", n.cfg.coordinator, n.cfg.site_id);
			seen = 1;
		} else if (f.type == FT_WIRE_ERROR) {
			ft_wire_notice nt;

			if (ft_wire_notice_decode(body, blen, &nt) == FT_OK)
				check_line(0, "coordinator", "refused this site: %s", nt.text);
			else
				check_line(0, "coordinator", "refused this site");
			seen = 1;
		}
	}
	if (!seen)
		check_line(0, "coordinator", "answered without a WELCOME signed by the manifest's"
		           " coordinator key");
	else {
		ft_wire_notice bye;
		uint8_t *bb = NULL, *r2 = NULL;
		size_t blen, r2len;

		memset(&bye, 0, sizeof(bye));
		snprintf(bye.text, sizeof(bye.text), "check done");
		(void)ft_audit_head(n.audit, &bye.log_len, bye.log_head);
		if (ft_wire_notice_encode(&bye, &bb, &blen) == FT_OK)
			send_frame(&n, FT_WIRE_BYE, n.run, 0, 0, bb, blen);
		ft_free(bb);
		if (ft_transport_client_call(n.tc, n.out.buf, n.out.len, 1000, &r2, &r2len) == FT_OK)
			ft_free(r2);
	}
out:
	ft_free(reply);
	node_close(&n);
}

int ft_node_check_main(int argc, char **argv)
{
	const char *config = NULL;
	int offline = 0, running = 0;
	node_cfg c;
	ft_errmsg err = {{0}};

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			config = argv[++i];
		} else if (strcmp(argv[i], "--offline") == 0) {
			offline = 1;
		} else if (strcmp(argv[i], "--help") == 0) {
			printf("usage: fedtwin node check --config FILE [--offline]\n"
			       "Checks what `fedtwin node run --config FILE` needs: the config, the\n"
			       "identity key, the manifest lists this site with that key, the TLS\n"
			       "files, the store, the privacy policy, the dataset, the audit log,\n"
			       "and (unless --offline) that the coordinator accepts this site.\n"
			       "One line per check (ok, warn, FAIL); exit 0 when nothing failed.\n");
			return 0;
		} else {
			fprintf(stderr, "fedtwin node check: unknown or incomplete option '%s'\n",
			        argv[i]);
			return 2;
		}
	}
	if (config == NULL) {
		fprintf(stderr, "usage: fedtwin node check --config FILE [--offline]\n");
		return 2;
	}
	if (ft_crypto_init() != FT_OK) {
		fprintf(stderr, "fedtwin node check: libsodium failed to initialise\n");
		return 1;
	}
	check_failed = 0;
	if (node_cfg_load(config, &c, &err) != FT_OK) {
		check_line(0, "config", "%s", err.msg);
		return 1;
	}
	check_line(1, "config", "%s: site %u, coordinator %s", config, c.site_id, c.coordinator);
	check_offline(&c, &running);
	if (!offline && !running && !check_failed)
		check_online(config);
	else if (!offline && check_failed)
		check_line(-1, "coordinator", "not tried: fix the failures above first");
	ft_transport_fini();
	return check_failed ? 1 : 0;
}
