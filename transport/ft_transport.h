/*
 * ft_transport.h - how a coordinator and its hospital nodes reach each other:
 * nng request/reply over tls+tcp with mutual TLS, signed frames, and the
 * consortium manifest that says which site holds which identity key.
 *
 * Pattern (docs/ARCHITECTURE.md, "Transport"): the coordinator LISTENS with a
 * rep0 socket; each node DIALS OUT with a req0 socket and keeps exactly one
 * request outstanding (a long poll). A request carries the frames the node
 * has for the coordinator, the reply carries the frames the coordinator has
 * queued for that node (possibly none, after the poll interval). Replies
 * always go back on the pipe the request came from, so the coordinator
 * addresses a site without any routing of its own, nodes never accept a
 * connection, and nothing is dropped under load: a node that is busy simply
 * has no request outstanding (back-pressure), unlike pair1's polyamorous mode,
 * which discards messages once its two-message per-pipe queue is full.
 *
 * Identity: TLS proves that the peer holds a certificate of the consortium
 * CA. nng 1.5.2 exposes no peer-certificate name on a pipe, so the site id is
 * bound to a connection by a challenge: the coordinator sends a fresh 16-byte
 * session id, and the node answers with a HELLO frame carrying it, signed
 * with the site's Ed25519 identity key listed in the signed manifest. Every
 * later frame carries the session id and a strictly increasing sequence
 * number and is signed, so a frame replayed on another connection, or twice,
 * is refused.
 *
 * Knows base, crypto and nng. Thread rules are given per function.
 */
#ifndef FT_TRANSPORT_H
#define FT_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "ft_base.h"
#include "ft_crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Frames (docs/PROTOCOL.md, "Round protocol and transport") ---------- */

#define FT_TRANSPORT_VERSION 1u
#define FT_TRANSPORT_HDR_BYTES 60u
#define FT_TRANSPORT_FRAME_OVERHEAD (FT_TRANSPORT_HDR_BYTES + FT_CRYPTO_SIG_BYTES)
#define FT_TRANSPORT_SESSION_BYTES 16u
#define FT_TRANSPORT_COORD_ID 0xFFFFFFFFu   /* sender id of the coordinator */
#define FT_TRANSPORT_MAX_MSG ((size_t)16 << 20) /* one request or reply body */
#define FT_TRANSPORT_MAX_FRAMES 4096u       /* frames in one body */
#define FT_TRANSPORT_CHUNK_BYTES 65536u     /* model bytes per MODEL_CHUNK */

/* Frame types. Never renumber or reuse a value. */
typedef enum ft_transport_type {
	FT_TRANSPORT_HELLO = 1,          /* node -> coord: signed answer to CHALLENGE */
	FT_TRANSPORT_WELCOME = 2,        /* coord -> node: the session is bound */
	FT_TRANSPORT_CHALLENGE = 3,      /* coord -> node: prove who you are */
	FT_TRANSPORT_ROUND_ANNOUNCE = 4, /* coord -> node */
	FT_TRANSPORT_ROUND_ACCEPT = 5,   /* node -> coord */
	FT_TRANSPORT_ROUND_REFUSE = 6,   /* node -> coord, with a reason */
	FT_TRANSPORT_SECAGG = 7,         /* both ways: opaque secure-aggregation bytes */
	FT_TRANSPORT_MODEL_CHUNK = 8,    /* coord -> node */
	FT_TRANSPORT_ROUND_RESULT = 9,   /* coord -> node: signed model version */
	FT_TRANSPORT_ERROR = 10,         /* both ways */
	FT_TRANSPORT_BYE = 11,           /* both ways */
	FT_TRANSPORT_TYPE_MAX_ = 11
} ft_transport_type;

/* Printable name of a frame type ("HELLO", ...; "?" if unknown). */
const char *ft_transport_type_name(unsigned type);

/* A frame, decoded. `payload` points into the buffer it was decoded from. */
typedef struct ft_transport_frame {
	uint8_t type;
	uint32_t sender;
	uint8_t session[FT_TRANSPORT_SESSION_BYTES];
	uint64_t run;
	uint64_t round;
	uint32_t attempt;
	uint64_t seq;
	const uint8_t *payload;
	uint32_t payload_len;
} ft_transport_frame;

/*
 * Encodes and signs f with `id`. On FT_OK the caller owns *buf (ft_free) of
 * *len bytes. FT_ERANGE if the payload is over FT_TRANSPORT_MAX_MSG.
 */
int ft_transport_frame_seal(const ft_transport_frame *f, const ft_crypto_identity *id,
                            uint8_t **buf, size_t *len) FT_WARN_UNUSED;

/*
 * Decodes the header of a frame without checking the signature (to learn the
 * sender, and so the key to check it with). `out->payload` borrows `buf`.
 * FT_EPROTO if malformed, of another version or of an unknown type.
 */
int ft_transport_frame_parse(const uint8_t *buf, size_t len,
                             ft_transport_frame *out) FT_WARN_UNUSED;

/* FT_OK if the frame in buf is signed by pk, else FT_ECRYPTO (or FT_EPROTO
 * if it is too short to hold a signature). */
int ft_transport_frame_verify(const uint8_t *buf, size_t len,
                              const uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES]) FT_WARN_UNUSED;

/*
 * A body is a sequence of frames, each preceded by its length (u32 LE).
 * ft_transport_body_next() walks one: *off starts at 0; on FT_OK *frame and
 * *frame_len describe the next frame (borrowed from body); FT_ENOTFOUND at
 * the end; FT_EPROTO if a length runs past the body.
 */
int ft_transport_body_next(const uint8_t *body, size_t len, size_t *off,
                           const uint8_t **frame, size_t *frame_len) FT_WARN_UNUSED;

/* ---- Manifest (docs/PROTOCOL.md, "Consortium manifest") ------------------ */

#define FT_TRANSPORT_MAX_SITES 1000u
#define FT_TRANSPORT_MANIFEST_MAX_BYTES ((size_t)256 << 10)

typedef struct ft_transport_manifest_site {
	uint32_t id;
	uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES];
	char name[64];
} ft_transport_manifest_site;

typedef struct ft_transport_manifest {
	uint8_t consortium[FT_CRYPTO_ID_BYTES];   /* BLAKE2b-256 of the consortium pk */
	uint8_t coord_pk[FT_CRYPTO_SIGN_PK_BYTES];
	uint32_t n_sites;
	ft_transport_manifest_site *sites;        /* sorted by increasing id */
} ft_transport_manifest;

/*
 * Loads a manifest file and checks its signature with the consortium public
 * key. On FT_OK the caller owns *out (ft_transport_manifest_free). FT_EIO,
 * FT_EFORMAT (with the line), FT_ECRYPTO (bad signature), FT_ERANGE.
 */
int ft_transport_manifest_load(const char *path, const uint8_t consortium_pk[FT_CRYPTO_SIGN_PK_BYTES],
                               ft_transport_manifest **out, ft_errmsg *err) FT_WARN_UNUSED;
void ft_transport_manifest_free(ft_transport_manifest *m);

/* The site entry for id, or NULL. Borrowed from m. */
const ft_transport_manifest_site *ft_transport_manifest_site_get(const ft_transport_manifest *m,
                                                                 uint32_t id);

/*
 * Writes a signed manifest (atomically, refusing to replace a file):
 * consortium = the consortium identity (signs); coord_pk; n sites (ids
 * unique; names optional, [A-Za-z0-9_.-], up to 63 bytes).
 */
int ft_transport_manifest_write(const char *path, const ft_crypto_identity *consortium,
                                const uint8_t coord_pk[FT_CRYPTO_SIGN_PK_BYTES],
                                const ft_transport_manifest_site *sites, uint32_t n,
                                ft_errmsg *err) FT_WARN_UNUSED;

/* ---- TLS endpoints -------------------------------------------------------- */

typedef struct ft_transport_tls {
	const char *ca_file;     /* the consortium CA (PEM) */
	const char *cert_file;   /* own certificate (PEM) */
	const char *key_file;    /* own private key (PEM, unencrypted, mode 0600) */
	const char *server_name; /* dialer: the name the coordinator's certificate
	                            must carry; NULL: the host of the URL */
} ft_transport_tls;

/* ---- Coordinator side: the listener --------------------------------------- */

typedef struct ft_transport_server ft_transport_server;

/*
 * Listens on `url` (tls+tcp://host:port; tcp:// only when tls is NULL, for
 * tests) with peer authentication REQUIRED, NNG_OPT_RECVMAXSZ set to
 * FT_TRANSPORT_MAX_MSG and `slots` request contexts (at least the number of
 * sites plus a few: one outstanding request per connected node). On FT_OK the
 * caller owns *out (ft_transport_server_close). FT_ENET with nng's reason.
 */
int ft_transport_server_open(const char *url, const ft_transport_tls *tls, uint32_t slots,
                             ft_transport_server **out, ft_errmsg *err) FT_WARN_UNUSED;

/* Stops every aio, closes the socket and frees; accepts NULL. */
void ft_transport_server_close(ft_transport_server *s);

/* The TCP port actually bound (useful with port 0), or 0. */
int ft_transport_server_port(const ft_transport_server *s);

/*
 * A request waiting for its reply. The daemon takes it with _wait(), reads
 * the body, and must answer it exactly once with _reply() (possibly later:
 * that is the long poll). `pipe` identifies the connection.
 */
typedef struct ft_transport_req ft_transport_req;
const uint8_t *ft_transport_req_body(const ft_transport_req *r, size_t *len);
uint32_t ft_transport_req_pipe(const ft_transport_req *r);

/*
 * Waits up to timeout_ms for a request (or a closed connection). On FT_OK
 * *req is set (and *closed_pipe is 0), or *req is NULL and *closed_pipe names
 * a connection that went away. FT_ETIMEDOUT if nothing happened.
 * Call from one thread (the daemon's worker) only.
 */
int ft_transport_server_wait(ft_transport_server *s, int timeout_ms, ft_transport_req **req,
                             uint32_t *closed_pipe) FT_WARN_UNUSED;

/*
 * Answers r with `body` (copied; may be empty) and gives r back to the
 * server; r must not be used afterwards, whatever the result. FT_ENOMEM.
 */
int ft_transport_server_reply(ft_transport_server *s, ft_transport_req *r, const uint8_t *body,
                              size_t len);

/* Closes the connection of pipe id `pipe` (a peer that failed to prove its
 * identity). */
void ft_transport_server_drop_pipe(ft_transport_server *s, uint32_t pipe);

/* ---- Node side: the dialer --------------------------------------------------- */

typedef struct ft_transport_client ft_transport_client;

/*
 * Dials `url` in the background (reconnecting with back-off from 100 ms up to
 * 5 s), verifying the coordinator's certificate against the CA and the
 * server name. On FT_OK the caller owns *out (ft_transport_client_close).
 */
int ft_transport_client_open(const char *url, const ft_transport_tls *tls,
                             ft_transport_client **out, ft_errmsg *err) FT_WARN_UNUSED;
void ft_transport_client_close(ft_transport_client *c);

/*
 * One exchange: sends `body` as a request and waits up to timeout_ms for the
 * reply. On FT_OK the caller owns *reply (ft_free) of *reply_len bytes.
 * FT_ETIMEDOUT, FT_ENET. Blocking; one thread only.
 */
int ft_transport_client_call(ft_transport_client *c, const uint8_t *body, size_t len,
                             int timeout_ms, uint8_t **reply, size_t *reply_len) FT_WARN_UNUSED;

/* ---- Body builder ----------------------------------------------------------- */

/* A growable body of length-prefixed frames, capped at FT_TRANSPORT_MAX_MSG. */
typedef struct ft_transport_body {
	uint8_t *buf;
	size_t len, cap;
	uint32_t n_frames;
} ft_transport_body;

/* Appends one frame (copied). FT_ERANGE if the body would pass the cap (the
 * caller sends what it has and appends to the next body), FT_ENOMEM. */
int ft_transport_body_add(ft_transport_body *b, const uint8_t *frame, size_t len) FT_WARN_UNUSED;
/* Empties b (keeps its memory). */
void ft_transport_body_reset(ft_transport_body *b);
/* Frees b's memory; b is reset. */
void ft_transport_body_free(ft_transport_body *b);


/* ---- Payloads of the round frames (PROTOCOL.md, one table each) ---------- */

#define FT_TRANSPORT_NO_VERSION UINT64_MAX

/* ROUND_ANNOUNCE: what the coordinator asks of a site for one attempt. The
 * frame header carries run, round and attempt. */
typedef struct ft_transport_announce {
	uint64_t model_version;            /* the global model to start from */
	uint8_t model_hash[FT_CRYPTO_HASH_BYTES];
	double lr;                         /* local learning rate */
	uint32_t epochs;                   /* local epochs */
	uint32_t batch;                    /* expected batch, in patients */
	double dp_clip;                    /* per-patient clip norm */
	double epsilon;                    /* target epsilon of this round alone */
	double update_clip;                /* fixed-point clip of each update value */
	uint32_t bits;                     /* secure-aggregation ring Z_2^bits */
	uint32_t max_summands;             /* sites announced to: fixed-point headroom */
	uint32_t standardise;              /* 1: standardise features before training */
} ft_transport_announce;
#define FT_TRANSPORT_ANNOUNCE_BYTES 92u

/* ROUND_RESULT: a new global model version, signed by the coordinator over
 * "fedtwin-model-v1" || consortium || run || version || hash. */
typedef struct ft_transport_result {
	uint64_t model_version;
	uint8_t model_hash[FT_CRYPTO_HASH_BYTES];
	uint8_t model_sig[FT_CRYPTO_SIG_BYTES];
	uint32_t n_survivors;
	uint32_t run_complete;            /* 1 after the run's last round */
} ft_transport_result;
#define FT_TRANSPORT_RESULT_BYTES 112u

/* MODEL_CHUNK header, followed by the chunk's bytes. */
typedef struct ft_transport_chunk {
	uint64_t model_version;
	uint8_t model_hash[FT_CRYPTO_HASH_BYTES];
	uint32_t total;                   /* bytes of the whole model file */
	uint32_t offset;
	const uint8_t *data;              /* borrowed */
	uint32_t len;
} ft_transport_chunk;
#define FT_TRANSPORT_CHUNK_HDR_BYTES 48u

/* Encoders write exactly the _BYTES size into out (chunk: header + data,
 * into out of FT_TRANSPORT_CHUNK_HDR_BYTES + len). Decoders return
 * FT_EPROTO for a wrong size or an out-of-range field; outputs only on FT_OK. */
void ft_transport_announce_encode(const ft_transport_announce *a, uint8_t *out);
int ft_transport_announce_decode(const uint8_t *p, size_t n, ft_transport_announce *a) FT_WARN_UNUSED;
void ft_transport_result_encode(const ft_transport_result *r, uint8_t *out);
int ft_transport_result_decode(const uint8_t *p, size_t n, ft_transport_result *r) FT_WARN_UNUSED;
void ft_transport_chunk_encode(const ft_transport_chunk *c, uint8_t *out);
int ft_transport_chunk_decode(const uint8_t *p, size_t n, ft_transport_chunk *c) FT_WARN_UNUSED;

/* The bytes the coordinator signs for a model version (ROUND_RESULT). */
#define FT_TRANSPORT_MODEL_TBS_BYTES (16u + FT_CRYPTO_ID_BYTES + 16u + FT_CRYPTO_HASH_BYTES)
void ft_transport_model_tbs(const uint8_t consortium[FT_CRYPTO_ID_BYTES], uint64_t run,
                            uint64_t version, const uint8_t hash[FT_CRYPTO_HASH_BYTES],
                            uint8_t out[FT_TRANSPORT_MODEL_TBS_BYTES]);

#ifdef __cplusplus
}
#endif
#endif /* FT_TRANSPORT_H */
