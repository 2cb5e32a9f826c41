/*
 * ft_wire.h - the fedtwin wire protocol: signed envelopes, the message
 * registry and the body of every message, chunked transfer of large payloads,
 * replay protection and the signed consortium manifest that says who may
 * speak.
 *
 * Node and coordinator exchange envelopes over nng (tls+tcp://). Every
 * envelope is signed by the sender's enrolled Ed25519 identity key over the
 * exact bytes of its inner encoding; the receiver looks the key up in the
 * consortium manifest, verifies, then decodes. Formats, numbers and limits:
 * docs/PROTOCOL.md, section "Wire protocol". This module knows base and
 * crypto only: secure-aggregation messages and model files are opaque bytes
 * here.
 *
 * Conventions: FT_OK or an ft_err code; outputs written only on FT_OK;
 * decoders are FT_WARN_UNUSED, take untrusted bytes and check every size
 * against its limit before allocating. Encoders return a buffer the caller
 * frees with ft_free(). No function keeps a pointer to its input after it
 * returns unless its comment says it borrows. Objects are not locked: one
 * thread at a time per object; functions without an object may be called
 * from any thread once ft_crypto_init() returned FT_OK.
 */
#ifndef FT_WIRE_H
#define FT_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "ft_base.h"
#include "ft_crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FT_WIRE_VERSION 1u                 /* protocol version in every envelope */
#define FT_WIRE_COORDINATOR_ID 0xFFFFFFFFu /* sender/recipient id of the coordinator */
#define FT_WIRE_ALL_SITES 0xFFFFFFFEu      /* recipient: every site of the round */
#define FT_WIRE_SITE_ID_MAX 0xFFFFFFFDu    /* site ids are 1..FT_WIRE_SITE_ID_MAX */
#define FT_WIRE_PHASE_MAX 7u               /* phase byte: ft_secagg_phase, 0 outside */

/* Limits (PROTOCOL.md "Wire protocol", "Limits"). */
#define FT_WIRE_NAME_MAX 64u        /* site/consortium/coordinator names, run id */
#define FT_WIRE_TEXT_MAX 256u       /* free text: refusal reason, error, bye */
#define FT_WIRE_URL_MAX 256u        /* coordinator endpoint URL */
#define FT_WIRE_TOKEN_MAX 16u       /* kind, activation, optimiser names */
#define FT_WIRE_MAX_SITES 1000u     /* sites per manifest and per round */
#define FT_WIRE_MAX_HIDDEN 8u       /* hidden layers in a model spec */
#define FT_WIRE_MAX_METRICS 32u     /* metrics in a ROUND_RESULT */
#define FT_WIRE_MAX_COLUMNS 64u     /* categorical columns in STATS */
#define FT_WIRE_MAX_LEVELS 256u     /* levels per categorical column */
#define FT_WIRE_CHUNK_MAX (4u << 20) /* data bytes in one MODEL_CHUNK */
#define FT_WIRE_CHUNK_DEFAULT (1u << 20)
#define FT_WIRE_SECAGG_MAX ((5u << 20))   /* one secure-aggregation message */
#define FT_WIRE_ENVELOPE_OVERHEAD 256u    /* envelope bytes around the body */
/* The largest legal envelope: what NNG_OPT_RECVMAXSZ should be set to. */
#define FT_WIRE_ENVELOPE_MAX (FT_WIRE_SECAGG_MAX + FT_WIRE_ENVELOPE_OVERHEAD)

/*
 * Message types. Numbers are stable: never renumber or reuse one; a new
 * message takes the next number, an incompatible change raises
 * FT_WIRE_VERSION.
 */
typedef enum ft_wire_type {
	FT_WIRE_HELLO = 1,          /* site -> coordinator */
	FT_WIRE_WELCOME = 2,        /* coordinator -> site */
	FT_WIRE_ROUND_ANNOUNCE = 3, /* coordinator -> sites */
	FT_WIRE_ROUND_ACCEPT = 4,   /* site -> coordinator */
	FT_WIRE_ROUND_REFUSE = 5,   /* site -> coordinator */
	FT_WIRE_SECAGG = 6,         /* both ways: one secure-aggregation message */
	FT_WIRE_MODEL_CHUNK = 7,    /* coordinator -> site: part of a model file */
	FT_WIRE_ROUND_RESULT = 8,   /* coordinator -> sites */
	FT_WIRE_STATS_REQUEST = 9,  /* coordinator -> site */
	FT_WIRE_STATS = 10,         /* site -> coordinator */
	FT_WIRE_ERROR = 11,         /* both ways */
	FT_WIRE_BYE = 12,           /* both ways */
	FT_WIRE_PLAIN_UPDATE = 13,  /* site -> coordinator: part of an encoded update
	                               sent in the clear (plain-sum rounds only);
	                               body as MODEL_CHUNK (ft_wire_chunk) */
	FT_WIRE_TYPE_COUNT_
} ft_wire_type;

/* The largest body of message type `type`, or 0 for an unknown type. */
size_t ft_wire_body_max(unsigned type);

/* A static name of a message type ("HELLO"); "UNKNOWN" if not a type. */
const char *ft_wire_type_name(unsigned type);

/* ---- Envelope ---------------------------------------------------------- */

/* The signed header of every message (PROTOCOL.md "Envelope"). */
typedef struct ft_wire_hdr {
	uint8_t version;                        /* FT_WIRE_VERSION */
	uint16_t type;                          /* ft_wire_type */
	uint8_t consortium[FT_CRYPTO_ID_BYTES]; /* manifest's consortium id */
	uint64_t run;                           /* training run; 0 outside runs */
	uint64_t round;
	uint32_t attempt;
	uint8_t phase;      /* <= FT_WIRE_PHASE_MAX */
	uint32_t sender;    /* site id or FT_WIRE_COORDINATOR_ID */
	uint32_t recipient; /* site id, FT_WIRE_COORDINATOR_ID or FT_WIRE_ALL_SITES */
	uint64_t seq;       /* strictly increasing per sender within a run */
	uint64_t sent_at_ms;/* sender's wall clock, Unix milliseconds */
} ft_wire_hdr;

/*
 * Signs and encodes one envelope: `hdr` (its version is ignored and
 * FT_WIRE_VERSION written) and `body` (body_len bytes, at most
 * ft_wire_body_max(hdr->type)), signed with `id`. On FT_OK the caller owns
 * *out (ft_free) of *out_len bytes. FT_EINVAL for a bad header (unknown type,
 * phase, sender) or NULL arguments, FT_ERANGE for an oversized body, FT_ENOMEM.
 */
int ft_wire_envelope_encode(const ft_wire_hdr *hdr, const uint8_t *body, size_t body_len,
                            const ft_crypto_identity *id, uint8_t **out, size_t *out_len)
    FT_WARN_UNUSED;

/*
 * Looks up the Ed25519 identity public key of `sender`: FT_OK with pk
 * written, or FT_ENOTFOUND. ft_wire_manifest_lookup() is one.
 */
typedef int (*ft_wire_key_lookup)(void *arg, uint32_t sender,
                                  uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES]);

/*
 * Decodes and verifies one envelope (PROTOCOL.md "Envelope"): refuses more
 * than `max_len` bytes (the socket's NNG_OPT_RECVMAXSZ) before anything
 * else, checks the structure and the body size for its type, looks the
 * sender's key up with `lookup(arg, sender, pk)`, verifies the signature
 * over the exact inner bytes, then range-checks every header field and
 * requires hdr.consortium == `consortium`. It does not check the recipient,
 * seq or time: see ft_wire_replay_check().
 * On FT_OK writes *hdr and sets *body / *body_len to the body, which is
 * BORROWED from `buf`: it stays valid only as long as `buf` (keep the
 * nng_msg alive until done with the body). Allocates one temporary buffer
 * of len bytes for the signed message.
 * Errors: FT_ERANGE too large, FT_EPROTO malformed, unknown version or type,
 * bad field, FT_ENOTFOUND unknown sender, FT_ECRYPTO bad signature,
 * FT_EREPLAY another consortium, FT_ENOMEM, FT_EINVAL NULL arguments.
 */
int ft_wire_envelope_decode(const uint8_t *buf, size_t len, size_t max_len,
                            const uint8_t consortium[FT_CRYPTO_ID_BYTES],
                            ft_wire_key_lookup lookup, void *arg, ft_wire_hdr *hdr,
                            const uint8_t **body, size_t *body_len) FT_WARN_UNUSED;

/* The wall clock in Unix milliseconds (for sent_at_ms and freshness). */
uint64_t ft_wire_time_ms(void);

/* ---- Replay protection ------------------------------------------------- */

typedef struct ft_wire_replay ft_wire_replay;

/*
 * A replay filter remembering, for up to `max_entries` (sender, run) pairs,
 * the highest seq accepted, and accepting sent_at_ms within `tolerance_ms`
 * of the receiver's clock either way. Senders start seq above any value
 * they may have used before (e.g. at their wall clock in microseconds when
 * they start), so a restarted sender is not mistaken for a replayer.
 * Bounded and long-lived: when the table is full, an entry of the sender
 * holding the most entries (its least recently used) is dropped, and the
 * filter keeps a floor per sender, the newest sent_at_ms it ever accepted
 * under a dropped entry of that sender; a (sender, run) without an entry
 * is accepted only with sent_at_ms above its sender's floor. So every
 * message accepted once is refused again, dropped entry or not, and no
 * sender's messages can raise another sender's floor (PROTOCOL.md "Replay
 * and freshness"). Floors are kept for up to FT_WIRE_MAX_SITES + 1
 * senders, allocated here.
 * On FT_OK the caller owns *out (ft_wire_replay_free). FT_EINVAL if
 * max_entries is 0 or above 2^20, FT_ENOMEM.
 */
int ft_wire_replay_alloc(size_t max_entries, uint64_t tolerance_ms, ft_wire_replay **out)
    FT_WARN_UNUSED;
void ft_wire_replay_free(ft_wire_replay *r);

/*
 * Checks a verified header at the receiver's wall-clock time now_ms and, on
 * FT_OK, records its seq (dropping the least recently used entry if the
 * table is full). FT_EREPLAY if sent_at_ms is further than the tolerance
 * from now_ms, or seq <= the highest seq accepted from this sender in this
 * run, or the (sender, run) has no entry and sent_at_ms is at or below the
 * floor of this sender's dropped entries; on any error nothing is recorded.
 * Every (sender, run) accepted takes an entry: a receiver that will not use
 * a message should refuse it before calling this.
 */
int ft_wire_replay_check(ft_wire_replay *r, const ft_wire_hdr *hdr, uint64_t now_ms)
    FT_WARN_UNUSED;

/* Drops every sender's entry for `run` (a finished run), raising each
 * sender's floor over them as an eviction does: the run's old messages
 * stay refused. */
void ft_wire_replay_forget_run(ft_wire_replay *r, uint64_t run);

/* ---- Message bodies (PROTOCOL.md "Messages") ----------------------------
 * Each body type has _encode(in, &out, &len) (on FT_OK the caller owns *out,
 * ft_free; FT_EINVAL if `in` breaks a limit, FT_ENOMEM) and
 * _decode(body, len, out) (FT_EPROTO malformed or out of range, FT_ERANGE
 * over a size limit; *out written only on FT_OK). Decoders never allocate,
 * except ft_wire_stats_decode (one allocation sized from validated input).
 * Strings are copied, NUL-terminated, and hold no control characters
 * (bytes < 0x20 or 0x7f). The encoder refuses (FT_EINVAL) every value the
 * decoder refuses. A decoded body says nothing about who sent it: check
 * ids inside a body (HELLO's site_id) against the envelope's sender.
 */

/* Capability bits in HELLO. Append only. */
#define FT_WIRE_CAP_SECAGG 0x1u   /* secure aggregation (secagg version 1) */
#define FT_WIRE_CAP_DP 0x2u       /* DP-SGD local training */
#define FT_WIRE_CAP_STATS 0x4u    /* categorical level discovery */
#define FT_WIRE_CAP_CHUNKS 0x8u   /* MODEL_CHUNK transfer */

typedef struct ft_wire_hello {
	uint32_t site_id;
	char software[FT_WIRE_NAME_MAX + 1];   /* e.g. "fedtwin 0.1.0" */
	uint8_t log_head[FT_CRYPTO_HASH_BYTES]; /* site audit-log head hash */
	uint64_t log_len;                        /* entries in the site log */
	uint64_t caps;                           /* FT_WIRE_CAP_* */
	uint64_t recv_max;                       /* site's RECVMAXSZ, bytes */
} ft_wire_hello;
int ft_wire_hello_encode(const ft_wire_hello *in, uint8_t **out, size_t *len) FT_WARN_UNUSED;
int ft_wire_hello_decode(const uint8_t *body, size_t len, ft_wire_hello *out) FT_WARN_UNUSED;

typedef struct ft_wire_welcome {
	uint64_t manifest_serial;                /* serial of the coordinator's manifest */
	uint8_t log_head[FT_CRYPTO_HASH_BYTES];  /* coordinator audit-log head */
	uint64_t log_len;
	uint64_t server_time_ms;                 /* coordinator wall clock */
} ft_wire_welcome;
int ft_wire_welcome_encode(const ft_wire_welcome *in, uint8_t **out, size_t *len) FT_WARN_UNUSED;
int ft_wire_welcome_decode(const uint8_t *body, size_t len, ft_wire_welcome *out) FT_WARN_UNUSED;

/* ROUND_ANNOUNCE: everything a site needs to decide and to train. */
typedef struct ft_wire_announce {
	char run_id[FT_WIRE_NAME_MAX + 1];     /* operator's name of the run */
	uint64_t round;
	uint32_t attempt;
	uint64_t model_version;
	uint8_t model_hash[FT_CRYPTO_HASH_BYTES]; /* BLAKE2b-256 of the model file */
	uint64_t model_len;                    /* bytes of the model file */
	/* model spec (PROTOCOL.md "Model files"): names are checked here only
	 * as tokens [a-z0-9_]; the node checks them against what it supports */
	char kind[FT_WIRE_TOKEN_MAX + 1];
	uint32_t n_features;                   /* 1..65536 */
	uint32_t n_classes;                    /* 0..1024 */
	uint32_t n_hidden;                     /* 0..FT_WIRE_MAX_HIDDEN */
	uint32_t hidden[FT_WIRE_MAX_HIDDEN];   /* 1..16384 each */
	char activation[FT_WIRE_TOKEN_MAX + 1];
	/* local training */
	double lr;                             /* > 0, <= 100 */
	uint32_t epochs;                       /* 1..1000 */
	uint32_t batch;                        /* 1..2^20 */
	char optimiser[FT_WIRE_TOKEN_MAX + 1];
	/* differential privacy */
	double dp_clip;                        /* > 0 */
	double dp_noise;                       /* noise multiplier >= 0 */
	double dp_delta;                       /* 0 < delta < 1 */
	double dp_max_epsilon;                 /* > 0: most this round may spend */
	/* secure aggregation */
	uint32_t n_sites;                      /* 2..FT_WIRE_MAX_SITES */
	uint32_t sites[FT_WIRE_MAX_SITES];     /* strictly increasing ids */
	uint32_t t, k;                         /* k/2 < t <= k <= n_sites - 1 */
	uint32_t bits;                         /* 16..32 */
	double fxp_clip;                       /* > 0 */
	uint8_t seed[FT_CRYPTO_KEY_BYTES];     /* public round seed */
	uint32_t d;                            /* vector length, 1..2^28 */
	uint32_t chunk;                        /* elements per upload, 1..2^20 */
	/* phase deadlines, ms after the phase starts, 1..86400000 */
	uint64_t train_ms, advertise_ms, shares_ms, upload_ms, check_ms, unmask_ms;
	/* 0: secure aggregation (the default). 1: a plain-sum round (`coordinator
	 * run create --no-secagg`): each site sends its fixed-point encoded
	 * update in the clear in PLAIN_UPDATE chunks; t and k above then only
	 * set how many complete uploads the sum needs (t). On the wire an
	 * optional trailing key, sent only when 1, so every announcement of a
	 * secure round keeps its old encoding. */
	uint32_t plain_sum;
} ft_wire_announce;
int ft_wire_announce_encode(const ft_wire_announce *in, uint8_t **out, size_t *len)
    FT_WARN_UNUSED;
int ft_wire_announce_decode(const uint8_t *body, size_t len, ft_wire_announce *out)
    FT_WARN_UNUSED;

/*
 * Cross-anchors (PROTOCOL.md "Log-head anchors"): ROUND_ACCEPT,
 * ROUND_REFUSE/ERROR/BYE, SECAGG and ROUND_RESULT carry the sender's
 * audit-log head, so that each side's log records the other's head every
 * round. log_len is the head entry's seq (entries in the log); 0 means no
 * head is sent, and then log_head must be all zero. On the wire the pair is
 * two optional trailing keys, present exactly when log_len >= 1.
 */
typedef struct ft_wire_accept {
	uint8_t model_hash[FT_CRYPTO_HASH_BYTES]; /* the announced model, echoed */
	uint64_t log_len;                         /* the site's log head (0: none) */
	uint8_t log_head[FT_CRYPTO_HASH_BYTES];
} ft_wire_accept;
int ft_wire_accept_encode(const ft_wire_accept *in, uint8_t **out, size_t *len) FT_WARN_UNUSED;
int ft_wire_accept_decode(const uint8_t *body, size_t len, ft_wire_accept *out) FT_WARN_UNUSED;

/* Reasons in ROUND_REFUSE. Append only; unknown codes decode as they are. */
typedef enum ft_wire_refusal {
	FT_WIRE_REFUSE_OTHER = 0,
	FT_WIRE_REFUSE_POLICY = 1,   /* privacy policy exceeded (epsilon, delta, noise) */
	FT_WIRE_REFUSE_BUDGET = 2,   /* privacy budget exhausted */
	FT_WIRE_REFUSE_CONSENT = 3,  /* too few consented records */
	FT_WIRE_REFUSE_CONFIG = 4,   /* unsupported model or training config */
	FT_WIRE_REFUSE_BUSY = 5,     /* site busy or shutting down */
	FT_WIRE_REFUSE_MODEL = 6,    /* model missing or hash mismatch */
	FT_WIRE_REFUSE_SECAGG = 7    /* a plain-sum round at a site that requires
	                                secure aggregation */
} ft_wire_refusal;

/* ROUND_REFUSE, ERROR and BYE: a code and a text for the operator.
 * REFUSE: code is an ft_wire_refusal; ERROR: an ft_err; BYE: 0. */
typedef struct ft_wire_notice {
	uint32_t code;
	char text[FT_WIRE_TEXT_MAX + 1];
	uint64_t log_len;                         /* the sender's log head (0: none) */
	uint8_t log_head[FT_CRYPTO_HASH_BYTES];
} ft_wire_notice;
int ft_wire_notice_encode(const ft_wire_notice *in, uint8_t **out, size_t *len) FT_WARN_UNUSED;
int ft_wire_notice_decode(const uint8_t *body, size_t len, ft_wire_notice *out) FT_WARN_UNUSED;

/* SECAGG: one ft_secagg message, opaque. `msg` is BORROWED from `body` on
 * decode (valid as long as the body, i.e. the received buffer). */
typedef struct ft_wire_secagg {
	const uint8_t *msg;
	size_t len; /* 1..FT_WIRE_SECAGG_MAX - 96 */
	uint64_t log_len;                         /* the sender's log head (0: none) */
	uint8_t log_head[FT_CRYPTO_HASH_BYTES];
} ft_wire_secagg;
int ft_wire_secagg_encode(const ft_wire_secagg *in, uint8_t **out, size_t *len) FT_WARN_UNUSED;
int ft_wire_secagg_decode(const uint8_t *body, size_t len, ft_wire_secagg *out) FT_WARN_UNUSED;

/* MODEL_CHUNK: bytes [offset, offset + len) of a file of `total` bytes whose
 * BLAKE2b-256 is `hash`. `data` is BORROWED from `body` on decode.
 * PLAIN_UPDATE uses the same body: the payload is then a site's encoded
 * update (d values, u32 LE each) and model_version the version it was
 * trained from. */
typedef struct ft_wire_chunk {
	uint64_t model_version;
	uint64_t offset;
	uint64_t total;                      /* 1..2^40 */
	uint8_t hash[FT_CRYPTO_HASH_BYTES];
	const uint8_t *data;
	size_t len;                          /* 1..FT_WIRE_CHUNK_MAX */
} ft_wire_chunk;
int ft_wire_chunk_encode(const ft_wire_chunk *in, uint8_t **out, size_t *len) FT_WARN_UNUSED;
int ft_wire_chunk_decode(const uint8_t *body, size_t len, ft_wire_chunk *out) FT_WARN_UNUSED;

typedef struct ft_wire_metric {
	char name[FT_WIRE_TOKEN_MAX * 2 + 1]; /* 1..32 bytes, token characters */
	double value;                         /* finite */
} ft_wire_metric;

/* ROUND_RESULT: the new global model and who made it. */
typedef struct ft_wire_result {
	uint64_t model_version;
	uint8_t model_hash[FT_CRYPTO_HASH_BYTES];
	uint64_t model_len;
	uint32_t n_survivors;                   /* 0..FT_WIRE_MAX_SITES */
	uint32_t survivors[FT_WIRE_MAX_SITES];  /* strictly increasing ids */
	uint32_t n_metrics;                     /* 0..FT_WIRE_MAX_METRICS */
	ft_wire_metric metrics[FT_WIRE_MAX_METRICS]; /* names unique */
	uint64_t log_len;                       /* the coordinator's log head (0: none) */
	uint8_t log_head[FT_CRYPTO_HASH_BYTES];
} ft_wire_result;
int ft_wire_result_encode(const ft_wire_result *in, uint8_t **out, size_t *len) FT_WARN_UNUSED;
int ft_wire_result_decode(const uint8_t *body, size_t len, ft_wire_result *out) FT_WARN_UNUSED;

/* STATS_REQUEST: which categorical columns' levels the coordinator asks for. */
typedef struct ft_wire_stats_request {
	uint32_t n_columns;                                  /* 1..FT_WIRE_MAX_COLUMNS */
	char columns[FT_WIRE_MAX_COLUMNS][FT_WIRE_NAME_MAX + 1]; /* unique */
	uint32_t max_levels;                                 /* 1..FT_WIRE_MAX_LEVELS */
} ft_wire_stats_request;
int ft_wire_stats_request_encode(const ft_wire_stats_request *in, uint8_t **out, size_t *len)
    FT_WARN_UNUSED;
int ft_wire_stats_request_decode(const uint8_t *body, size_t len, ft_wire_stats_request *out)
    FT_WARN_UNUSED;

/* STATS: the set of levels a site has per categorical column, never counts.
 * Levels are 1..FT_WIRE_NAME_MAX bytes, sorted bytewise ascending and unique
 * within a column (a set has one encoding). */
typedef struct ft_wire_stats_column {
	const char *name;
	uint32_t n_levels;          /* 0..FT_WIRE_MAX_LEVELS */
	const char *const *levels;
} ft_wire_stats_column;
typedef struct ft_wire_stats {
	uint32_t n_columns;         /* 1..FT_WIRE_MAX_COLUMNS, names unique */
	const ft_wire_stats_column *columns;
} ft_wire_stats;
int ft_wire_stats_encode(const ft_wire_stats *in, uint8_t **out, size_t *len) FT_WARN_UNUSED;
/* On FT_OK the caller owns *out, one allocation holding every string (free
 * with ft_wire_stats_free). */
int ft_wire_stats_decode(const uint8_t *body, size_t len, ft_wire_stats **out) FT_WARN_UNUSED;
void ft_wire_stats_free(ft_wire_stats *s);

/* ---- Chunked transfer (PROTOCOL.md "Chunked transfer") ------------------ */

/* Splits data[0..total) into MODEL_CHUNK bodies of at most chunk_size bytes.
 * `data` is BORROWED and must outlive the chunker. Plain struct: no free. */
typedef struct ft_wire_chunker {
	const uint8_t *data;
	uint64_t total, offset, model_version;
	size_t chunk_size;
	uint8_t hash[FT_CRYPTO_HASH_BYTES];
} ft_wire_chunker;

/* Hashes the payload. FT_EINVAL for total 0 or above 2^40, or chunk_size
 * 0 or above FT_WIRE_CHUNK_MAX. */
int ft_wire_chunker_init(ft_wire_chunker *c, const uint8_t *data, uint64_t total,
                         uint64_t model_version, size_t chunk_size) FT_WARN_UNUSED;

/* The next MODEL_CHUNK body: on FT_OK the caller owns *body (ft_free);
 * FT_ENOTFOUND once every byte was emitted; FT_ENOMEM. */
int ft_wire_chunker_next(ft_wire_chunker *c, uint8_t **body, size_t *len) FT_WARN_UNUSED;

typedef struct ft_wire_reasm ft_wire_reasm;

/* A reassembler accepting a declared total of at most max_total bytes.
 * On FT_OK the caller owns *out (ft_wire_reasm_free). FT_EINVAL for
 * max_total 0, FT_ENOMEM. */
int ft_wire_reasm_alloc(uint64_t max_total, ft_wire_reasm **out) FT_WARN_UNUSED;
void ft_wire_reasm_free(ft_wire_reasm *r);

/*
 * Adds one decoded chunk, in any order. The first chunk fixes version, total
 * and hash; the total is checked against max_total before the buffer is
 * allocated. FT_ERANGE total over the limit or chunk beyond the total,
 * FT_EPROTO version/total/hash differ from the first chunk's, FT_EEXIST the
 * chunk overlaps bytes already received, FT_ESTATE already complete,
 * FT_ENOMEM. The reassembler is unchanged on error.
 */
int ft_wire_reasm_add(ft_wire_reasm *r, const ft_wire_chunk *c) FT_WARN_UNUSED;

/* 1 once every byte of the declared total arrived, else 0. */
int ft_wire_reasm_complete(const ft_wire_reasm *r);

/* Verifies the BLAKE2b-256 of the whole payload against the declared hash
 * and hands it over: on FT_OK the caller owns *data (ft_free) of *len bytes
 * and the reassembler is empty again. FT_ESTATE incomplete, FT_ECRYPTO hash
 * mismatch (the reassembler is then emptied). */
int ft_wire_reasm_finish(ft_wire_reasm *r, uint8_t **data, size_t *len,
                         uint64_t *model_version) FT_WARN_UNUSED;

/* ---- Consortium manifest (PROTOCOL.md "Consortium manifest") ------------ */

#define FT_WIRE_MANIFEST_VERSION 1u
#define FT_WIRE_MANIFEST_MAX_BYTES (256u * 1024u)

typedef struct ft_wire_site {
	uint32_t id;                         /* 1..FT_WIRE_SITE_ID_MAX */
	char name[FT_WIRE_NAME_MAX + 1];
	uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES]; /* identity public key */
} ft_wire_site;

typedef struct ft_wire_manifest {
	char name[FT_WIRE_NAME_MAX + 1];
	uint8_t consortium_pk[FT_CRYPTO_SIGN_PK_BYTES];
	uint8_t id[FT_CRYPTO_ID_BYTES]; /* BLAKE2b-256(name || consortium_pk) */
	uint64_t serial;                /* rises with every change */
	uint64_t created_ms;            /* Unix ms of this serial */
	char coord_name[FT_WIRE_NAME_MAX + 1];
	uint8_t coord_pk[FT_CRYPTO_SIGN_PK_BYTES];
	char endpoint[FT_WIRE_URL_MAX + 1];
	uint32_t n_sites;
	ft_wire_site *sites;            /* owned; sorted by increasing id */
} ft_wire_manifest;

/* A new manifest with serial 1 and no sites. On FT_OK the caller owns *out
 * (ft_wire_manifest_free). FT_EINVAL bad name/endpoint, FT_EEXIST the
 * coordinator key equals the consortium key, FT_ENOMEM. */
int ft_wire_manifest_new(const char *name, const uint8_t consortium_pk[FT_CRYPTO_SIGN_PK_BYTES],
                         const char *coord_name, const uint8_t coord_pk[FT_CRYPTO_SIGN_PK_BYTES],
                         const char *endpoint, ft_wire_manifest **out) FT_WARN_UNUSED;
void ft_wire_manifest_free(ft_wire_manifest *m);

/* Adds a site, keeping ids sorted. FT_EEXIST duplicate id, or a key already
 * used by a site, the coordinator or the consortium; FT_ERANGE full;
 * FT_EINVAL bad id or name; FT_ENOMEM. The manifest is unchanged on error.
 * Does not touch the serial (ft_wire_manifest_sign takes it as it is). */
int ft_wire_manifest_add_site(ft_wire_manifest *m, uint32_t id, const char *name,
                              const uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES]) FT_WARN_UNUSED;

/* Encodes and signs with the consortium key (whose public key must be
 * m->consortium_pk, else FT_EINVAL). On FT_OK the caller owns *out (ft_free). */
int ft_wire_manifest_sign(const ft_wire_manifest *m, const ft_crypto_identity *consortium_key,
                          uint8_t **out, size_t *len) FT_WARN_UNUSED;

/*
 * Decodes and verifies a signed manifest against the pinned consortium
 * public key `pin` (NULL: against the key the document names, which proves
 * only integrity: for display, never for trust). Checks the id, the limits,
 * sorted unique ids and unique keys. On FT_OK the caller owns *out.
 * FT_ERANGE too large, FT_EFORMAT malformed, FT_ECRYPTO bad signature or
 * another consortium key, FT_EEXIST duplicates; `err` (may be NULL) says what.
 */
int ft_wire_manifest_verify(const uint8_t *buf, size_t len,
                            const uint8_t pin[FT_CRYPTO_SIGN_PK_BYTES], ft_wire_manifest **out,
                            ft_errmsg *err) FT_WARN_UNUSED;

/* FT_OK if `next` may replace `cur`: same consortium id and a higher serial
 * (else FT_EREPLAY: an old or replayed manifest; FT_EPERM another consortium). */
int ft_wire_manifest_check_update(const ft_wire_manifest *cur, const ft_wire_manifest *next)
    FT_WARN_UNUSED;

/* The identity key of `sender` (a site id, or FT_WIRE_COORDINATOR_ID for the
 * coordinator): an ft_wire_key_lookup with arg = the ft_wire_manifest. */
int ft_wire_manifest_lookup(void *manifest, uint32_t sender, uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES]);

/* The site with this id, or NULL; valid as long as m is unchanged. */
const ft_wire_site *ft_wire_manifest_site(const ft_wire_manifest *m, uint32_t id);

/* Writes bytes atomically (temporary file in the same directory, fsync,
 * rename, directory fsync), mode 0644. FT_EIO with `err` naming the step. */
int ft_wire_manifest_save(const uint8_t *buf, size_t len, const char *path, ft_errmsg *err)
    FT_WARN_UNUSED;

/* Reads a manifest file (at most FT_WIRE_MANIFEST_MAX_BYTES) and verifies it
 * like ft_wire_manifest_verify. FT_ENOTFOUND no such file, FT_EIO. */
int ft_wire_manifest_load(const char *path, const uint8_t pin[FT_CRYPTO_SIGN_PK_BYTES],
                          ft_wire_manifest **out, ft_errmsg *err) FT_WARN_UNUSED;

/* ---- Command line ------------------------------------------------------- */

/*
 * `fedtwin consortium init|add-site|show ...` (argv[0] is "consortium").
 * Returns the exit status: 0 success, 1 failure, 2 usage error. Key files
 * are read with ft_crypto_identity_load (passphrase from FEDTWIN_PASSPHRASE
 * or --passphrase-file) and ft_crypto_pk_load.
 */
int ft_wire_cli_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif /* FT_WIRE_H */
