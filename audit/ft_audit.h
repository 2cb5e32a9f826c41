/*
 * ft_audit.h - the audit trail: an append-only, hash-chained, signed event
 * log in its own SQLite file, the typed events the node and the coordinator
 * record, and the auditor's offline checks (verify, cross-anchors, report,
 * export).
 *
 * Every entry is committed durably (synchronous=FULL) before its append
 * returns, so a caller that logs "what is about to leave" and only then sends
 * it never sends something the log does not show. The format (schema, entry
 * hash, signature, event registry) is in docs/AUDIT.md and docs/PROTOCOL.md,
 * section "Audit log".
 *
 * Knows only base, crypto and SQLite. Objects are not locked: one thread at a
 * time per ft_audit_log (the daemons append from their SQLite worker).
 * Functions return FT_OK or an ft_err code; outputs are written only on
 * FT_OK; `err` arguments may be NULL.
 */
#ifndef FT_AUDIT_H
#define FT_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "ft_base.h"
#include "ft_crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* PRAGMA user_version of an audit log written by this code. */
#define FT_AUDIT_SCHEMA_VERSION 1
/* Longest actor id, event type, peer id, run id and message type, in bytes. */
#define FT_AUDIT_ID_MAX 128
/* Largest canonical JSON payload, in bytes (checked before allocating). */
#define FT_AUDIT_PAYLOAD_MAX 65536

/* ---- Canonical JSON payloads ------------------------------------------ */

/*
 * A payload under construction: a flat JSON object whose members are
 * strings, integers, finite doubles, booleans, hex byte strings or arrays of
 * strings or integers. ft_audit_json_finish() sorts the members by key
 * (bytewise) and produces the one canonical text for them (docs/AUDIT.md,
 * "Payload encoding"). Keys are 1..64 bytes of [a-z0-9_]; each key may be
 * added once (FT_EEXIST). Strings must be valid UTF-8 without NUL
 * (FT_EINVAL). Doubles must be finite (FT_EINVAL) and are written as %.17g.
 */
typedef struct ft_audit_json ft_audit_json;

/* On FT_OK the caller owns *out (free with ft_audit_json_free). */
int ft_audit_json_new(ft_audit_json **out) FT_WARN_UNUSED;
/* Frees; accepts NULL. */
void ft_audit_json_free(ft_audit_json *j);

int ft_audit_json_str(ft_audit_json *j, const char *key, const char *value) FT_WARN_UNUSED;
int ft_audit_json_i64(ft_audit_json *j, const char *key, int64_t value) FT_WARN_UNUSED;
int ft_audit_json_u64(ft_audit_json *j, const char *key, uint64_t value) FT_WARN_UNUSED;
int ft_audit_json_double(ft_audit_json *j, const char *key, double value) FT_WARN_UNUSED;
int ft_audit_json_bool(ft_audit_json *j, const char *key, int value) FT_WARN_UNUSED;
/* n bytes as a lower-case hex string (n <= 1024). */
int ft_audit_json_hex(ft_audit_json *j, const char *key, const uint8_t *bytes,
                      size_t n) FT_WARN_UNUSED;
/* Arrays, kept in the order given (n <= 4096; values may be NULL if n = 0). */
int ft_audit_json_str_array(ft_audit_json *j, const char *key, const char *const *values,
                            size_t n) FT_WARN_UNUSED;
int ft_audit_json_u64_array(ft_audit_json *j, const char *key, const uint64_t *values,
                            size_t n) FT_WARN_UNUSED;

/*
 * The canonical text of the members added so far, NUL-terminated, into
 * *out (the caller frees it with ft_free) and its length (without the NUL)
 * into *len (may be NULL). FT_ERANGE if longer than FT_AUDIT_PAYLOAD_MAX.
 * `j` stays usable.
 */
int ft_audit_json_finish(const ft_audit_json *j, char **out, size_t *len) FT_WARN_UNUSED;

/* ---- The log ------------------------------------------------------------ */

typedef struct ft_audit_log ft_audit_log;

/*
 * Opens the audit log at `path` for appending as `actor` (1..128 printable
 * ASCII bytes, e.g. "site:3" or "coordinator"), signing with `identity`.
 * A missing file is created (mode 0600, WAL) with its genesis entry (seq 1,
 * type "log.genesis") recording the actor and the identity's public key. An
 * existing log must be ours and belong to the same key and actor, and its
 * last entry must verify.
 *
 * `identity` is borrowed: it must outlive the log. On FT_OK the caller owns
 * *out (close with ft_audit_close).
 * Errors: FT_EINVAL (arguments), FT_EFORMAT (not an SQLite database, or an
 * SQLite database that is not an audit log), FT_ESTATE (a newer schema),
 * FT_EPERM (the log belongs to another key or actor; the file is readable or
 * writable by group/others; a symbolic link), FT_ECRYPTO (the last entry does
 * not verify), FT_EIO, FT_EDB, FT_ENOMEM.
 */
int ft_audit_open(const char *path, const ft_crypto_identity *identity, const char *actor,
                  ft_audit_log **out, ft_errmsg *err) FT_WARN_UNUSED;

/* Closes; accepts NULL. */
void ft_audit_close(ft_audit_log *log);

/*
 * Appends one entry of `type` (a type from the registry in docs/AUDIT.md;
 * anything else is FT_EINVAL) with `payload` (NULL for "{}"; stays the
 * caller's) and commits it durably before returning. On FT_OK writes the
 * entry's seq into *seq and its hash into head_out (both may be NULL).
 * The entry's time is the wall clock in Unix ms, never less than the
 * previous entry's. FT_EDB/FT_EIO if the commit failed (nothing was
 * appended), FT_ERANGE if the log is full (seq 2^62).
 */
int ft_audit_append(ft_audit_log *log, const char *type, const ft_audit_json *payload,
                    uint64_t *seq, uint8_t head_out[FT_CRYPTO_HASH_BYTES]) FT_WARN_UNUSED;

/* The last entry's seq and hash (what goes into an anchor). Never fails on
 * an open log; FT_EINVAL for NULL arguments. */
int ft_audit_head(const ft_audit_log *log, uint64_t *seq, uint8_t hash[FT_CRYPTO_HASH_BYTES]);

/* The detail message of the last failed ft_audit_append / typed helper on
 * this log ("" if none); valid until the next call on the log. */
const char *ft_audit_last_error(const ft_audit_log *log);

/* ---- Typed events (docs/AUDIT.md, "Event registry") -------------------- */
/* Each builds the payload of its type and calls ft_audit_append; same
 * return codes, plus FT_EINVAL for an argument out of its documented range.
 * seq and head_out may be NULL. Strings stay the caller's. */

/* key.enrol / key.rotate / key.revoke: `subject` (an actor id) and its
 * public key; `old_pk` only for key.rotate (else NULL). */
int ft_audit_log_key(ft_audit_log *log, const char *type, const char *subject,
                     const uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES],
                     const uint8_t *old_pk, uint64_t *seq,
                     uint8_t head_out[FT_CRYPTO_HASH_BYTES]) FT_WARN_UNUSED;

/* run.start: the run, its planned rounds, the enrolled sites taking part. */
int ft_audit_log_run_start(ft_audit_log *log, const char *run, uint64_t rounds_planned,
                           const char *const *sites, size_t n_sites, uint64_t *seq,
                           uint8_t head_out[FT_CRYPTO_HASH_BYTES]) FT_WARN_UNUSED;
/* run.end: `status` e.g. "completed", "aborted", `rounds_done`. */
int ft_audit_log_run_end(ft_audit_log *log, const char *run, const char *status,
                         uint64_t rounds_done, uint64_t *seq,
                         uint8_t head_out[FT_CRYPTO_HASH_BYTES]) FT_WARN_UNUSED;
/* round.start: the selected sites and the secure-aggregation threshold. */
int ft_audit_log_round_start(ft_audit_log *log, const char *run, uint64_t round,
                             const char *const *sites, size_t n_sites, uint32_t threshold,
                             uint64_t *seq, uint8_t head_out[FT_CRYPTO_HASH_BYTES]) FT_WARN_UNUSED;
/* round.end: `status` ("aggregated", "aborted", ...), the sites whose
 * updates are in the sum, and those that dropped. */
int ft_audit_log_round_end(ft_audit_log *log, const char *run, uint64_t round,
                           const char *status, const char *const *included, size_t n_included,
                           const char *const *dropped, size_t n_dropped, uint64_t *seq,
                           uint8_t head_out[FT_CRYPTO_HASH_BYTES]) FT_WARN_UNUSED;

/* Direction of a protocol message. */
typedef enum ft_audit_dir { FT_AUDIT_SENT = 0, FT_AUDIT_RECEIVED = 1 } ft_audit_dir;

/* msg.sent / msg.received: one protocol message, never its content: its
 * protocol type name, size in bytes and BLAKE2b-256 digest, the peer, and
 * the run and round it belongs to (run may be NULL outside a run). */
int ft_audit_log_message(ft_audit_log *log, ft_audit_dir dir, const char *peer,
                         const char *msg_type, uint64_t size,
                         const uint8_t digest[FT_CRYPTO_HASH_BYTES], const char *run,
                         uint64_t round, uint64_t *seq,
                         uint8_t head_out[FT_CRYPTO_HASH_BYTES]) FT_WARN_UNUSED;

/* train.local: one local training. */
typedef struct ft_audit_training {
	const char *run;
	uint64_t round;
	const char *dataset;  /* may be NULL */
	uint64_t patients;    /* privacy units used (consented) */
	uint64_t records;
	uint64_t steps;
	double q;             /* patient sampling rate, (0, 1] */
	double clip;          /* per-patient clip norm, > 0 */
	double sigma;         /* noise multiplier, >= 0 */
} ft_audit_training;
int ft_audit_log_training(ft_audit_log *log, const ft_audit_training *t, uint64_t *seq,
                          uint8_t head_out[FT_CRYPTO_HASH_BYTES]) FT_WARN_UNUSED;

/* privacy.spend: the privacy charged for one round, logged (and committed)
 * before anything derived from that training leaves the site. */
typedef struct ft_audit_privacy {
	const char *site;     /* whose patients; NULL = the log's actor */
	const char *run;
	uint64_t round;
	double q, sigma, clip;
	uint64_t steps;
	double eps_round;     /* this round alone */
	double eps_run;       /* the run so far, this round included */
	double eps_total;     /* the site's lifetime spend, this round included */
	double delta;
	double max_eps_run;   /* the site policy's limits */
	double max_eps_total;
} ft_audit_privacy;
int ft_audit_log_privacy(ft_audit_log *log, const ft_audit_privacy *p, uint64_t *seq,
                         uint8_t head_out[FT_CRYPTO_HASH_BYTES]) FT_WARN_UNUSED;

/* policy.set: the site's privacy policy as set by its operator. */
int ft_audit_log_policy(ft_audit_log *log, double max_eps_run, double max_eps_total,
                        double delta, uint64_t *seq,
                        uint8_t head_out[FT_CRYPTO_HASH_BYTES]) FT_WARN_UNUSED;
/* policy.refuse: a refusal (budget, consent, unknown coordinator, ...);
 * `reason` is a short text; eps_needed/limit may be NAN when not relevant
 * (then left out). */
int ft_audit_log_refusal(ft_audit_log *log, const char *run, uint64_t round,
                         const char *reason, double eps_needed, double limit,
                         uint64_t *seq, uint8_t head_out[FT_CRYPTO_HASH_BYTES]) FT_WARN_UNUSED;

/* consent.change: a patient's consent granted (1) or withdrawn (0) by
 * `by`. The patient key is not logged: only BLAKE2b-256("fedtwin-audit-
 * patient" || key), so the log can leave the site. */
int ft_audit_log_consent(ft_audit_log *log, const char *patient_key, int granted,
                         const char *by, uint64_t *seq,
                         uint8_t head_out[FT_CRYPTO_HASH_BYTES]) FT_WARN_UNUSED;

/* model.version: a model version (its file's BLAKE2b-256), who signed it,
 * its size, and the run/round it came from (run may be NULL). */
int ft_audit_log_model(ft_audit_log *log, const char *run, uint64_t round,
                       const uint8_t hash[FT_CRYPTO_HASH_BYTES],
                       const uint8_t signer_pk[FT_CRYPTO_SIGN_PK_BYTES], uint64_t size,
                       uint64_t *seq, uint8_t head_out[FT_CRYPTO_HASH_BYTES]) FT_WARN_UNUSED;

/* update.unmasked: a site's encoded update of (run, round) is about to
 * leave without secure aggregation (a plain-sum round): its length in
 * values and the BLAKE2b-256 of its bytes (the `hash` of its PLAIN_UPDATE
 * pieces), logged before the first piece is sent. */
int ft_audit_log_unmasked(ft_audit_log *log, const char *run, uint64_t round, uint64_t values,
                          const uint8_t digest[FT_CRYPTO_HASH_BYTES], uint64_t *seq,
                          uint8_t head_out[FT_CRYPTO_HASH_BYTES]) FT_WARN_UNUSED;

/* anchor: the head (seq, hash) of `peer`'s log as received in a protocol
 * message. An auditor holding both logs checks it (verify --against). */
int ft_audit_log_anchor(ft_audit_log *log, const char *peer, uint64_t peer_seq,
                        const uint8_t peer_head[FT_CRYPTO_HASH_BYTES], uint64_t *seq,
                        uint8_t head_out[FT_CRYPTO_HASH_BYTES]) FT_WARN_UNUSED;

/* msg.received / msg.sent for `frames` (>= 2) messages of one type summed
 * up in one entry (the chunks of one masked upload): total size, and as
 * digest the BLAKE2b-256 of their BLAKE2b-256 digests concatenated in
 * order (docs/AUDIT.md, "Bounded cost"). FT_EINVAL if frames < 2. */
int ft_audit_log_message_group(ft_audit_log *log, ft_audit_dir dir, const char *peer,
                               const char *msg_type, uint64_t frames, uint64_t size,
                               const uint8_t digest[FT_CRYPTO_HASH_BYTES], const char *run,
                               uint64_t round, uint64_t *seq,
                               uint8_t head_out[FT_CRYPTO_HASH_BYTES]) FT_WARN_UNUSED;

/* msg.dropped: `peer` went over its budget of `budget` unused frames per
 * `window_ms`; `dropped` (>= 1) frames were dropped unrecorded since the
 * previous msg.dropped entry for that peer, the one that triggers this
 * entry included. At most one per peer and window. */
int ft_audit_log_dropped(ft_audit_log *log, const char *peer, uint64_t budget,
                         uint64_t window_ms, uint64_t dropped, uint64_t *seq,
                         uint8_t head_out[FT_CRYPTO_HASH_BYTES]) FT_WARN_UNUSED;

/* ---- Auditing ------------------------------------------------------------ */

/* What ft_audit_verify found. */
typedef struct ft_audit_verify_result {
	uint64_t entries;        /* entries that verified, in order from seq 1 */
	uint64_t bad_seq;        /* first bad entry (0 if none or not one entry) */
	uint64_t head_seq;       /* the last verified entry */
	uint8_t head[FT_CRYPTO_HASH_BYTES];
	uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES]; /* from the genesis entry */
	char actor[FT_AUDIT_ID_MAX + 1];
} ft_audit_verify_result;

/*
 * Verifies the whole log at `path` (opened read-only): seq continuity from 1,
 * the genesis entry, every prev link, entry hash, signature (by the genesis
 * key, or `expect_pk` if non-NULL, which must then equal the genesis key),
 * one actor throughout, non-decreasing times and canonical payloads.
 * FT_OK only if every entry verifies. Otherwise FT_ECRYPTO (a hash,
 * signature, link or key mismatch), FT_EFORMAT (a malformed entry or not an
 * audit log), FT_EDB/FT_EIO (the file cannot be read); `err` names the first
 * bad entry and what is wrong, and *res (if non-NULL) is filled in either way.
 */
int ft_audit_verify(const char *path, const uint8_t *expect_pk, ft_audit_verify_result *res,
                    ft_errmsg *err) FT_WARN_UNUSED;

/*
 * The auditor's commands, for `fedtwin audit`: argv[0] is "audit", then
 * verify / report / export (docs/AUDIT.md). Exit status 0 success (for
 * verify: everything verified), 1 failure (a message on stderr names the
 * first bad entry), 2 usage error.
 */
int ft_audit_cli_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif /* FT_AUDIT_H */
