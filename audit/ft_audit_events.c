/*
 * ft_audit_events.c - the typed events of the registry (docs/AUDIT.md,
 * "Event registry"): one function per event type, so that the node and the
 * coordinator write the same keys with the same meaning and the report can
 * read them back.
 */
#include "ft_audit.h"
#include "audit_int.h"

#include <math.h>
#include <string.h>

/* Runs `rv = call` only while rv is FT_OK. */
#define ADD(call)                  \
	do {                       \
		if (rv == FT_OK)   \
			rv = (call); \
	} while (0)

static int valid_str(const char *s)
{
	return s != NULL && audit_valid_id(s, strlen(s));
}

/* Appends `j` as `type` (freeing j), or reports the build error rv. */
static int emit(ft_audit_log *log, const char *type, ft_audit_json *j, int rv, uint64_t *seq,
                uint8_t *head_out)
{
	if (rv == FT_OK)
		rv = ft_audit_append(log, type, j, seq, head_out);
	else
		ft_errmsg_set(&log->last, rv, "audit log: invalid %s event", type);
	ft_audit_json_free(j);
	return rv;
}

/* Starts a payload; FT_EINVAL unless log is set. */
static int begin(ft_audit_log *log, ft_audit_json **j)
{
	if (log == NULL)
		return FT_EINVAL;
	log->last.msg[0] = '\0';
	return ft_audit_json_new(j);
}

static int check_ids(const char *const *v, size_t n)
{
	if (v == NULL && n > 0)
		return FT_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!valid_str(v[i]))
			return FT_EINVAL;
	return FT_OK;
}

int ft_audit_log_key(ft_audit_log *log, const char *type, const char *subject,
                     const uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES], const uint8_t *old_pk,
                     uint64_t *seq, uint8_t head_out[FT_CRYPTO_HASH_BYTES])
{
	ft_audit_json *j = NULL;
	int rv = begin(log, &j);

	if (rv != FT_OK)
		return rv;
	if (type == NULL || !valid_str(subject) || pk == NULL ||
	    (strcmp(type, "key.enrol") != 0 && strcmp(type, "key.rotate") != 0 &&
	     strcmp(type, "key.revoke") != 0) ||
	    ((old_pk != NULL) != (strcmp(type, "key.rotate") == 0)))
		rv = FT_EINVAL;
	ADD(ft_audit_json_str(j, "subject", subject));
	ADD(ft_audit_json_hex(j, "pk", pk, FT_CRYPTO_SIGN_PK_BYTES));
	if (old_pk != NULL)
		ADD(ft_audit_json_hex(j, "old_pk", old_pk, FT_CRYPTO_SIGN_PK_BYTES));
	return emit(log, type != NULL ? type : "key.enrol", j, rv, seq, head_out);
}

int ft_audit_log_run_start(ft_audit_log *log, const char *run, uint64_t rounds_planned,
                           const char *const *sites, size_t n_sites, uint64_t *seq,
                           uint8_t head_out[FT_CRYPTO_HASH_BYTES])
{
	ft_audit_json *j = NULL;
	int rv = begin(log, &j);

	if (rv != FT_OK)
		return rv;
	if (!valid_str(run))
		rv = FT_EINVAL;
	ADD(check_ids(sites, n_sites));
	ADD(ft_audit_json_str(j, "run", run));
	ADD(ft_audit_json_u64(j, "rounds_planned", rounds_planned));
	ADD(ft_audit_json_str_array(j, "sites", sites, n_sites));
	return emit(log, "run.start", j, rv, seq, head_out);
}

int ft_audit_log_run_end(ft_audit_log *log, const char *run, const char *status,
                         uint64_t rounds_done, uint64_t *seq,
                         uint8_t head_out[FT_CRYPTO_HASH_BYTES])
{
	ft_audit_json *j = NULL;
	int rv = begin(log, &j);

	if (rv != FT_OK)
		return rv;
	if (!valid_str(run) || !valid_str(status))
		rv = FT_EINVAL;
	ADD(ft_audit_json_str(j, "run", run));
	ADD(ft_audit_json_str(j, "status", status));
	ADD(ft_audit_json_u64(j, "rounds_done", rounds_done));
	return emit(log, "run.end", j, rv, seq, head_out);
}

int ft_audit_log_round_start(ft_audit_log *log, const char *run, uint64_t round,
                             const char *const *sites, size_t n_sites, uint32_t threshold,
                             uint64_t *seq, uint8_t head_out[FT_CRYPTO_HASH_BYTES])
{
	ft_audit_json *j = NULL;
	int rv = begin(log, &j);

	if (rv != FT_OK)
		return rv;
	if (!valid_str(run))
		rv = FT_EINVAL;
	ADD(check_ids(sites, n_sites));
	ADD(ft_audit_json_str(j, "run", run));
	ADD(ft_audit_json_u64(j, "round", round));
	ADD(ft_audit_json_str_array(j, "sites", sites, n_sites));
	ADD(ft_audit_json_u64(j, "threshold", threshold));
	return emit(log, "round.start", j, rv, seq, head_out);
}

int ft_audit_log_round_end(ft_audit_log *log, const char *run, uint64_t round,
                           const char *status, const char *const *included, size_t n_included,
                           const char *const *dropped, size_t n_dropped, uint64_t *seq,
                           uint8_t head_out[FT_CRYPTO_HASH_BYTES])
{
	ft_audit_json *j = NULL;
	int rv = begin(log, &j);

	if (rv != FT_OK)
		return rv;
	if (!valid_str(run) || !valid_str(status))
		rv = FT_EINVAL;
	ADD(check_ids(included, n_included));
	ADD(check_ids(dropped, n_dropped));
	ADD(ft_audit_json_str(j, "run", run));
	ADD(ft_audit_json_u64(j, "round", round));
	ADD(ft_audit_json_str(j, "status", status));
	ADD(ft_audit_json_str_array(j, "included", included, n_included));
	ADD(ft_audit_json_str_array(j, "dropped", dropped, n_dropped));
	return emit(log, "round.end", j, rv, seq, head_out);
}

/* One msg.sent / msg.received entry, for one message (frames 0) or for
 * several (frames >= 2: size their total, digest over their digests). */
static int message_entry(ft_audit_log *log, ft_audit_dir dir, const char *peer,
                         const char *msg_type, uint64_t frames, uint64_t size,
                         const uint8_t digest[FT_CRYPTO_HASH_BYTES], const char *run,
                         uint64_t round, uint64_t *seq, uint8_t head_out[FT_CRYPTO_HASH_BYTES])
{
	ft_audit_json *j = NULL;
	int rv = begin(log, &j);

	if (rv != FT_OK)
		return rv;
	if ((dir != FT_AUDIT_SENT && dir != FT_AUDIT_RECEIVED) || !valid_str(peer) ||
	    !valid_str(msg_type) || digest == NULL || frames == 1 ||
	    (run != NULL && !valid_str(run)))
		rv = FT_EINVAL;
	ADD(ft_audit_json_str(j, "peer", peer));
	ADD(ft_audit_json_str(j, "msg_type", msg_type));
	if (frames > 0)
		ADD(ft_audit_json_u64(j, "frames", frames));
	ADD(ft_audit_json_u64(j, "size", size));
	ADD(ft_audit_json_hex(j, "digest", digest, FT_CRYPTO_HASH_BYTES));
	if (run != NULL) {
		ADD(ft_audit_json_str(j, "run", run));
		ADD(ft_audit_json_u64(j, "round", round));
	}
	return emit(log, dir == FT_AUDIT_RECEIVED ? "msg.received" : "msg.sent", j, rv, seq,
	            head_out);
}

int ft_audit_log_message(ft_audit_log *log, ft_audit_dir dir, const char *peer,
                         const char *msg_type, uint64_t size,
                         const uint8_t digest[FT_CRYPTO_HASH_BYTES], const char *run,
                         uint64_t round, uint64_t *seq, uint8_t head_out[FT_CRYPTO_HASH_BYTES])
{
	return message_entry(log, dir, peer, msg_type, 0, size, digest, run, round, seq, head_out);
}

int ft_audit_log_training(ft_audit_log *log, const ft_audit_training *t, uint64_t *seq,
                          uint8_t head_out[FT_CRYPTO_HASH_BYTES])
{
	ft_audit_json *j = NULL;
	int rv = begin(log, &j);

	if (rv != FT_OK)
		return rv;
	if (t == NULL) {
		ft_audit_json_free(j);
		return FT_EINVAL;
	}
	if (!valid_str(t->run) || (t->dataset != NULL && !valid_str(t->dataset)) ||
	    !(t->q > 0 && t->q <= 1) || !(t->clip > 0) || !(t->sigma >= 0) || t->steps == 0)
		rv = FT_EINVAL;
	ADD(ft_audit_json_str(j, "run", t->run));
	ADD(ft_audit_json_u64(j, "round", t->round));
	if (t->dataset != NULL)
		ADD(ft_audit_json_str(j, "dataset", t->dataset));
	ADD(ft_audit_json_u64(j, "patients", t->patients));
	ADD(ft_audit_json_u64(j, "records", t->records));
	ADD(ft_audit_json_u64(j, "steps", t->steps));
	ADD(ft_audit_json_double(j, "q", t->q));
	ADD(ft_audit_json_double(j, "clip", t->clip));
	ADD(ft_audit_json_double(j, "sigma", t->sigma));
	return emit(log, "train.local", j, rv, seq, head_out);
}

int ft_audit_log_privacy(ft_audit_log *log, const ft_audit_privacy *p, uint64_t *seq,
                         uint8_t head_out[FT_CRYPTO_HASH_BYTES])
{
	ft_audit_json *j = NULL;
	int rv = begin(log, &j);

	if (rv != FT_OK)
		return rv;
	if (p == NULL) {
		ft_audit_json_free(j);
		return FT_EINVAL;
	}
	if ((p->site != NULL && !valid_str(p->site)) || !valid_str(p->run) ||
	    !(p->q > 0 && p->q <= 1) || !(p->sigma > 0) || !(p->clip > 0) || p->steps == 0 ||
	    !(p->eps_round >= 0) || !(p->eps_run >= p->eps_round) ||
	    !(p->eps_total >= p->eps_run) || !(p->delta > 0 && p->delta < 1) ||
	    !(p->max_eps_run > 0) || !(p->max_eps_total > 0))
		rv = FT_EINVAL;
	ADD(ft_audit_json_str(j, "site", p->site != NULL ? p->site : log->actor));
	ADD(ft_audit_json_str(j, "run", p->run));
	ADD(ft_audit_json_u64(j, "round", p->round));
	ADD(ft_audit_json_double(j, "q", p->q));
	ADD(ft_audit_json_double(j, "sigma", p->sigma));
	ADD(ft_audit_json_double(j, "clip", p->clip));
	ADD(ft_audit_json_u64(j, "steps", p->steps));
	ADD(ft_audit_json_double(j, "eps_round", p->eps_round));
	ADD(ft_audit_json_double(j, "eps_run", p->eps_run));
	ADD(ft_audit_json_double(j, "eps_total", p->eps_total));
	ADD(ft_audit_json_double(j, "delta", p->delta));
	ADD(ft_audit_json_double(j, "max_eps_run", p->max_eps_run));
	ADD(ft_audit_json_double(j, "max_eps_total", p->max_eps_total));
	return emit(log, "privacy.spend", j, rv, seq, head_out);
}

int ft_audit_log_policy(ft_audit_log *log, double max_eps_run, double max_eps_total,
                        double delta, uint64_t *seq, uint8_t head_out[FT_CRYPTO_HASH_BYTES])
{
	ft_audit_json *j = NULL;
	int rv = begin(log, &j);

	if (rv != FT_OK)
		return rv;
	if (!(max_eps_run > 0) || !(max_eps_total >= max_eps_run) || !(delta > 0 && delta < 1))
		rv = FT_EINVAL;
	ADD(ft_audit_json_double(j, "max_eps_run", max_eps_run));
	ADD(ft_audit_json_double(j, "max_eps_total", max_eps_total));
	ADD(ft_audit_json_double(j, "delta", delta));
	return emit(log, "policy.set", j, rv, seq, head_out);
}

int ft_audit_log_refusal(ft_audit_log *log, const char *run, uint64_t round,
                         const char *reason, double eps_needed, double limit, uint64_t *seq,
                         uint8_t head_out[FT_CRYPTO_HASH_BYTES])
{
	ft_audit_json *j = NULL;
	int rv = begin(log, &j);

	if (rv != FT_OK)
		return rv;
	if ((run != NULL && !valid_str(run)) || reason == NULL || *reason == '\0' ||
	    strlen(reason) > 1024)
		rv = FT_EINVAL;
	if (run != NULL) {
		ADD(ft_audit_json_str(j, "run", run));
		ADD(ft_audit_json_u64(j, "round", round));
	}
	ADD(ft_audit_json_str(j, "reason", reason));
	if (!isnan(eps_needed))
		ADD(ft_audit_json_double(j, "eps_needed", eps_needed));
	if (!isnan(limit))
		ADD(ft_audit_json_double(j, "limit", limit));
	return emit(log, "policy.refuse", j, rv, seq, head_out);
}

int ft_audit_log_consent(ft_audit_log *log, const char *patient_key, int granted,
                         const char *by, uint64_t *seq, uint8_t head_out[FT_CRYPTO_HASH_BYTES])
{
	static const char dom[] = "fedtwin-audit-patient";
	ft_audit_json *j = NULL;
	ft_crypto_hash_state h;
	uint8_t digest[FT_CRYPTO_HASH_BYTES];
	int rv = begin(log, &j);

	if (rv != FT_OK)
		return rv;
	if (patient_key == NULL || *patient_key == '\0' || !valid_str(by) ||
	    (granted != 0 && granted != 1))
		rv = FT_EINVAL;
	if (rv == FT_OK) {
		ft_crypto_hash_init(&h);
		ft_crypto_hash_update(&h, dom, sizeof(dom) - 1);
		ft_crypto_hash_update(&h, patient_key, strlen(patient_key));
		ft_crypto_hash_final(&h, digest);
	}
	ADD(ft_audit_json_hex(j, "patient", digest, sizeof(digest)));
	ADD(ft_audit_json_bool(j, "granted", granted));
	ADD(ft_audit_json_str(j, "by", by));
	return emit(log, "consent.change", j, rv, seq, head_out);
}

int ft_audit_log_model(ft_audit_log *log, const char *run, uint64_t round,
                       const uint8_t hash[FT_CRYPTO_HASH_BYTES],
                       const uint8_t signer_pk[FT_CRYPTO_SIGN_PK_BYTES], uint64_t size,
                       uint64_t *seq, uint8_t head_out[FT_CRYPTO_HASH_BYTES])
{
	ft_audit_json *j = NULL;
	int rv = begin(log, &j);

	if (rv != FT_OK)
		return rv;
	if ((run != NULL && !valid_str(run)) || hash == NULL || signer_pk == NULL)
		rv = FT_EINVAL;
	if (run != NULL) {
		ADD(ft_audit_json_str(j, "run", run));
		ADD(ft_audit_json_u64(j, "round", round));
	}
	ADD(ft_audit_json_hex(j, "model_hash", hash, FT_CRYPTO_HASH_BYTES));
	ADD(ft_audit_json_hex(j, "signer", signer_pk, FT_CRYPTO_SIGN_PK_BYTES));
	ADD(ft_audit_json_u64(j, "size", size));
	return emit(log, "model.version", j, rv, seq, head_out);
}

int ft_audit_log_anchor(ft_audit_log *log, const char *peer, uint64_t peer_seq,
                        const uint8_t peer_head[FT_CRYPTO_HASH_BYTES], uint64_t *seq,
                        uint8_t head_out[FT_CRYPTO_HASH_BYTES])
{
	ft_audit_json *j = NULL;
	int rv = begin(log, &j);

	if (rv != FT_OK)
		return rv;
	if (!valid_str(peer) || peer_head == NULL || peer_seq == 0 || peer_seq >= AUDIT_SEQ_MAX)
		rv = FT_EINVAL;
	ADD(ft_audit_json_str(j, "peer", peer));
	ADD(ft_audit_json_u64(j, "peer_seq", peer_seq));
	ADD(ft_audit_json_hex(j, "peer_head", peer_head, FT_CRYPTO_HASH_BYTES));
	return emit(log, "anchor", j, rv, seq, head_out);
}

int ft_audit_log_unmasked(ft_audit_log *log, const char *run, uint64_t round, uint64_t values,
                          const uint8_t digest[FT_CRYPTO_HASH_BYTES], uint64_t *seq,
                          uint8_t head_out[FT_CRYPTO_HASH_BYTES])
{
	ft_audit_json *j = NULL;
	int rv = begin(log, &j);

	if (rv != FT_OK)
		return rv;
	if (!valid_str(run) || digest == NULL || values == 0)
		rv = FT_EINVAL;
	ADD(ft_audit_json_str(j, "run", run));
	ADD(ft_audit_json_u64(j, "round", round));
	ADD(ft_audit_json_u64(j, "values", values));
	ADD(ft_audit_json_hex(j, "digest", digest, FT_CRYPTO_HASH_BYTES));
	return emit(log, "update.unmasked", j, rv, seq, head_out);
}

int ft_audit_log_message_group(ft_audit_log *log, ft_audit_dir dir, const char *peer,
                               const char *msg_type, uint64_t frames, uint64_t size,
                               const uint8_t digest[FT_CRYPTO_HASH_BYTES], const char *run,
                               uint64_t round, uint64_t *seq,
                               uint8_t head_out[FT_CRYPTO_HASH_BYTES])
{
	if (frames < 2)
		frames = 1; /* refused: a group is of two messages or more */
	return message_entry(log, dir, peer, msg_type, frames, size, digest, run, round, seq,
	                     head_out);
}

int ft_audit_log_dropped(ft_audit_log *log, const char *peer, uint64_t budget,
                         uint64_t window_ms, uint64_t dropped, uint64_t *seq,
                         uint8_t head_out[FT_CRYPTO_HASH_BYTES])
{
	ft_audit_json *j = NULL;
	int rv = begin(log, &j);

	if (rv != FT_OK)
		return rv;
	if (!valid_str(peer) || dropped == 0 || window_ms == 0)
		rv = FT_EINVAL;
	ADD(ft_audit_json_str(j, "peer", peer));
	ADD(ft_audit_json_u64(j, "budget", budget));
	ADD(ft_audit_json_u64(j, "window_ms", window_ms));
	ADD(ft_audit_json_u64(j, "dropped", dropped));
	return emit(log, "msg.dropped", j, rv, seq, head_out);
}
