/*
 * ft_secagg.h - secure aggregation (SecAgg+, Bell et al. CCS 2020; with the
 * full neighbour graph it is Bonawitz et al. CCS 2017) as two pure state
 * machines: a client (one per hospital site) and a server (the coordinator).
 *
 * Neither side does I/O. The caller feeds received messages (bytes) and the
 * current time in milliseconds in, takes messages to send (bytes plus a
 * destination) out of an outbox, and calls _tick() when the deadline returned
 * by _deadline() has passed. The daemons drive them over nng; tests and
 * benchmarks drive them directly in one process.
 *
 * The server learns the sum, modulo 2^bits, of the input vectors of the sites
 * that survived the upload, and nothing else about any single input, as long
 * as fewer than 2t - k of every site's neighbours collude with it (see
 * docs/PROTOCOL.md, "Secure aggregation", for the message formats, the phase
 * rules and how k and t are chosen).
 *
 * Each site uses two X25519 round key pairs (Bonawitz): c for encrypting
 * shares, s (built from a Shamir-shared seed) for the pairwise masks, so
 * rebuilding a dropped site's s reveals no encryption key.
 *
 * Error codes for rejected messages: FT_EPROTO malformed (or from a sender
 * that is not the transport-authenticated peer), FT_EREPLAY bound to another
 * consortium/run/round/attempt or a message the sender already sent in an
 * earlier phase, FT_ESTATE out of phase, FT_ECRYPTO bad signature or
 * ciphertext, FT_EEXIST duplicate. A rejected message leaves the state
 * machine as it was, unless documented otherwise (FT_EPERM: a client refuses a
 * dishonest unmasking request, or a CONFIG outside what it expects, and
 * aborts).
 *
 * Objects are not locked: one thread drives one object at a time.
 */
#ifndef FT_SECAGG_H
#define FT_SECAGG_H

#include <stddef.h>
#include <stdint.h>

#include "ft_base.h"
#include "ft_crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FT_SECAGG_VERSION 1u
#define FT_SECAGG_MAX_SITES 1000u        /* = FT_CRYPTO_SHAMIR_MAX_N */
#define FT_SECAGG_MAX_D (1u << 28)        /* vector elements */
#define FT_SECAGG_MAX_CHUNK (1u << 20)    /* elements per upload message */
#define FT_SECAGG_SERVER_ID 0xFFFFFFFFu   /* sender/destination id of the server */
#define FT_SECAGG_HDR_BYTES 58u           /* common message header */

/* One site of the round: its id (never FT_SECAGG_SERVER_ID) and its
 * enrolled Ed25519 identity public key. */
typedef struct ft_secagg_site {
	uint32_t id;
	uint8_t sign_pk[FT_CRYPTO_SIGN_PK_BYTES];
} ft_secagg_site;

/*
 * The round configuration that the server announces (phase 0). `sites` has
 * `n` entries sorted by strictly increasing id; it is borrowed by every
 * function that takes a config (copied where kept). Limits: 2 <= n <=
 * FT_SECAGG_MAX_SITES; 1 <= k <= n - 1, k even unless k == n - 1 (full
 * graph); k/2 < t <= k; 16 <= bits <= 32; 1 <= d <= FT_SECAGG_MAX_D;
 * 1 <= chunk <= FT_SECAGG_MAX_CHUNK.
 */
typedef struct ft_secagg_config {
	ft_crypto_ctx ctx;
	uint32_t n;
	const ft_secagg_site *sites;
	uint32_t t;       /* Shamir threshold among a site's neighbours */
	uint32_t k;       /* neighbour graph degree */
	uint8_t seed[FT_CRYPTO_KEY_BYTES]; /* public round seed: draws the graph */
	uint32_t d;       /* vector length (elements) */
	unsigned bits;    /* ring Z_2^bits */
	uint32_t chunk;   /* elements per masked-input message */
} ft_secagg_config;

/* FT_OK if cfg is within the limits above, else FT_EINVAL / FT_ERANGE
 * (FT_EEXIST for a repeated site id). */
int ft_secagg_config_check(const ft_secagg_config *cfg) FT_WARN_UNUSED;

/*
 * Phase deadlines, in milliseconds after the phase starts. The server moves
 * on (or aborts) when a phase's deadline passes; a client aborts with
 * FT_ETIMEDOUT if the server is silent for client_idle_ms. Pass NULL for the
 * defaults (30 s per phase, 300 s for the upload, 600 s client idle).
 */
typedef struct ft_secagg_timeouts {
	uint64_t advertise_ms;
	uint64_t shares_ms;
	uint64_t upload_ms;
	uint64_t check_ms;
	uint64_t unmask_ms;
	uint64_t client_idle_ms;
} ft_secagg_timeouts;

/* Where a state machine is. Values appear in logs: append only. */
typedef enum ft_secagg_phase {
	FT_SECAGG_CONFIG = 0,    /* client: waiting for the round config */
	FT_SECAGG_ADVERTISE = 1, /* collecting / exchanging round public keys */
	FT_SECAGG_SHARES = 2,    /* exchanging encrypted Shamir shares */
	FT_SECAGG_UPLOAD = 3,    /* masked input being uploaded */
	FT_SECAGG_CHECK = 4,     /* consistency check on the survivor set */
	FT_SECAGG_UNMASK = 5,    /* unmasking */
	FT_SECAGG_DONE = 6,      /* server: sum available; client: finished */
	FT_SECAGG_ABORTED = 7    /* see _abort_reason() */
} ft_secagg_phase;

/* ---- Neighbour graph and parameters ------------------------------------ */

typedef struct ft_secagg_graph ft_secagg_graph;

/*
 * The k-regular neighbour graph on n sites (indices 0..n-1): a Harary graph
 * H(k, n) laid on a permutation drawn deterministically from `seed` (each
 * site is joined to the k/2 sites on either side of it on the permuted
 * cycle), or the complete graph if k >= n - 1. Same seed, same graph.
 * FT_EINVAL for bad n/k (k odd and < n - 1, or k == 0). On FT_OK the caller
 * owns *out (free with ft_secagg_graph_free).
 */
int ft_secagg_graph_alloc(const uint8_t seed[FT_CRYPTO_KEY_BYTES], uint32_t n, uint32_t k,
                          ft_secagg_graph **out) FT_WARN_UNUSED;
void ft_secagg_graph_free(ft_secagg_graph *g);

/* 1 if a != b are neighbours, else 0 (also for out-of-range indices). */
int ft_secagg_graph_adjacent(const ft_secagg_graph *g, uint32_t a, uint32_t b);

/* Writes a's neighbours in increasing order into out (room for the degree)
 * and returns how many were written (the degree; 0 if a is out of range). */
uint32_t ft_secagg_graph_neighbours(const ft_secagg_graph *g, uint32_t a, uint32_t *out);

/*
 * Chooses the smallest graph degree k, and a threshold t, such that, with at
 * most floor(delta * n) dropped and floor(gamma * n) corrupt sites, (1) every
 * site keeps at least t live neighbours except with probability 2^-eta, and
 * (2) no honest site has 2t - k or more corrupt neighbours (so a malicious
 * server, even with the consistency check split, never gathers t shares of
 * both kinds) except with probability 2^-sigma; union bounds over the n
 * sites, hypergeometric tails. The full graph is used for n <= 20 or when no
 * smaller k works. FT_ERANGE if not even the full graph satisfies both (too
 * many drop-outs or corruptions for n). Formulas: docs/PROTOCOL.md.
 */
int ft_secagg_params(uint32_t n, double delta, double gamma, unsigned sigma, unsigned eta,
                     uint32_t *k, uint32_t *t) FT_WARN_UNUSED;

/*
 * A site's own check of the (k, t) a server proposes for n sites: 1 if
 * 2t > k, t <= k <= n - 1 and, with floor(gamma * n) corrupt sites, no
 * honest site has 2t - k or more corrupt neighbours except with probability
 * 2^-sigma (condition (2) above, same tail). So a site that assumes a
 * fraction gamma of the others may collude with the server refuses a round
 * whose threshold would let them gather both kinds of its shares. 0
 * otherwise, including for out-of-range arguments. Drop-out tolerance is
 * the server's concern and is not checked.
 */
int ft_secagg_params_secure(uint32_t n, uint32_t k, uint32_t t, double gamma, unsigned sigma);

/* The fraction of sites that the coordinator, when it chooses (k, t), and a
 * site, by default, when it checks them, assume may collude with the
 * coordinator. A site may assume more (node.ini assume_corrupt_fraction)
 * and then refuses rounds whose threshold is too low for it. */
#define FT_SECAGG_ASSUME_CORRUPT 0.2

/* ---- Server ------------------------------------------------------------ */

typedef struct ft_secagg_server ft_secagg_server;

/*
 * Starts a round: checks and copies cfg, queues the CONFIG message to every
 * site and enters FT_SECAGG_ADVERTISE. `to` may be NULL (defaults). Memory is
 * O(d + n k) whatever the number of sites uploading. On FT_OK the caller
 * owns *out (free with ft_secagg_server_free).
 */
int ft_secagg_server_alloc(const ft_secagg_config *cfg, const ft_secagg_timeouts *to,
                           uint64_t now_ms, ft_secagg_server **out) FT_WARN_UNUSED;

/* Wipes and frees; accepts NULL. */
void ft_secagg_server_free(ft_secagg_server *s);

/*
 * Handles one message from site `from` (the id the transport authenticated).
 * Borrows msg for the call only. Returns FT_OK if accepted, else the reason it
 * was rejected (see the top of this file); a rejected message never changes
 * the round. A phase whose last expected message arrives is closed at once.
 */
int ft_secagg_server_recv(ft_secagg_server *s, uint32_t from, const uint8_t *msg, size_t len,
                          uint64_t now_ms) FT_WARN_UNUSED;

/* Closes the current phase if its deadline has passed (sites that have not
 * answered count as dropped). A site cut off in the middle of its upload
 * aborts the round (FT_EABORT, retry with a new attempt): its partial input
 * is already in the accumulator and cannot be taken out. Returns FT_OK, or
 * the abort code if the round aborted now. */
int ft_secagg_server_tick(ft_secagg_server *s, uint64_t now_ms);

/* The time (ms) at which _tick() must next be called; UINT64_MAX if none. */
uint64_t ft_secagg_server_deadline(const ft_secagg_server *s);

/*
 * Takes the next queued message: on FT_OK *to is the destination site id,
 * and the caller owns *buf (free with ft_free) of *len bytes.
 * FT_ENOTFOUND if the outbox is empty; FT_ENOMEM.
 */
int ft_secagg_server_next(ft_secagg_server *s, uint32_t *to, uint8_t **buf, size_t *len) FT_WARN_UNUSED;

ft_secagg_phase ft_secagg_server_phase(const ft_secagg_server *s);

/* For FT_SECAGG_ABORTED: the ft_err code (FT_EABORT, FT_ETIMEDOUT, ...) and a
 * static-lifetime-of-s reason string; FT_OK and "" otherwise. */
int ft_secagg_server_abort_reason(const ft_secagg_server *s, const char **reason);

/*
 * In FT_SECAGG_DONE: *sum points to the d-element sum modulo 2^bits of the
 * inputs of the *n_surv sites listed (increasing ids) in *survivors. Both are
 * borrowed until ft_secagg_server_free. FT_ESTATE in any other phase.
 */
int ft_secagg_server_result(const ft_secagg_server *s, const uint32_t **sum, size_t *d,
                            const uint32_t **survivors, uint32_t *n_surv) FT_WARN_UNUSED;

/* ---- Client ------------------------------------------------------------ */

typedef struct ft_secagg_client ft_secagg_client;

/*
 * A site's side of one round attempt. `id` (the site's enrolled identity) is
 * borrowed and must outlive the client. `ctx` is the round the site expects
 * (from the signed round announcement); a CONFIG for any other context is
 * rejected with FT_EREPLAY. Fresh round keys and seeds are drawn when the
 * CONFIG arrives, so a retried attempt never reuses them. `to` may be NULL.
 * On FT_OK the caller owns *out (free with ft_secagg_client_free).
 */
int ft_secagg_client_alloc(const ft_crypto_identity *id, uint32_t site_id,
                           const ft_crypto_ctx *ctx, const ft_secagg_timeouts *to,
                           uint64_t now_ms, ft_secagg_client **out) FT_WARN_UNUSED;

/*
 * What a site accepts in the CONFIG of a round, from sources the server does
 * not control: the round's announced sites with the identity keys the
 * consortium manifest enrols for them (`sites`, `n_sites` entries, strictly
 * increasing ids), the site's own floor on the number of sites (`min_n`)
 * and the collusion it assumes (`gamma`, `sigma`, as for
 * ft_secagg_params_secure). The server may run the round with fewer sites
 * than it announced, and so with another (k, t), but never with a site or a
 * key that was not announced and enrolled.
 */
typedef struct ft_secagg_expect {
	const ft_secagg_site *sites;
	uint32_t n_sites;
	uint32_t min_n;
	double gamma;
	unsigned sigma;
} ft_secagg_expect;

/*
 * Makes the client check the CONFIG against `e` before it acts on it (draws
 * keys, advertises): every site of the CONFIG must be one of e->sites with
 * exactly that key, the client's own site among them, n >= e->min_n, and
 * ft_secagg_params_secure(n, k, t, e->gamma, e->sigma). A CONFIG that fails
 * makes the client abort with FT_EPERM (nothing sent, secrets wiped; the
 * reason from _abort_reason() names the rule, never a key). Copies e->sites.
 * Call after _alloc and before the CONFIG arrives: FT_ESTATE otherwise;
 * FT_EINVAL for ids not strictly increasing or out-of-range arguments;
 * FT_ENOMEM (the client is then unchanged). Without it only the CONFIG's
 * own limits are checked.
 */
int ft_secagg_client_expect(ft_secagg_client *c, const ft_secagg_expect *e) FT_WARN_UNUSED;

/* Wipes every secret and frees; accepts NULL. */
void ft_secagg_client_free(ft_secagg_client *c);

/*
 * Sets the input: d elements of Z_2^bits (higher bits are ignored). Borrowed:
 * x must stay valid and unchanged until the client reaches FT_SECAGG_CHECK or
 * is freed. May be called once the CONFIG has been accepted and before the
 * upload; the client uploads as soon as both the input and the shares are
 * there. FT_EINVAL if d differs from the round's, FT_ESTATE if called twice,
 * too early or too late.
 */
int ft_secagg_client_set_input(ft_secagg_client *c, const uint32_t *x, size_t d) FT_WARN_UNUSED;

/* Handles one message from the server (borrowed for the call only). Returns
 * FT_OK if accepted, else why it was rejected (top of this file); FT_EPERM if
 * the server asked for shares the client must not give, or sent a CONFIG
 * that fails ft_secagg_client_expect's checks (the client then aborts and
 * wipes its secrets). */
int ft_secagg_client_recv(ft_secagg_client *c, const uint8_t *msg, size_t len,
                          uint64_t now_ms) FT_WARN_UNUSED;

/* Aborts with FT_ETIMEDOUT if the server has been silent too long. */
int ft_secagg_client_tick(ft_secagg_client *c, uint64_t now_ms);

uint64_t ft_secagg_client_deadline(const ft_secagg_client *c);

/*
 * Takes the next message for the server (destination FT_SECAGG_SERVER_ID):
 * on FT_OK the caller owns *buf (ft_free) of *len bytes. Masked-input chunks
 * are produced here one at a time, so a client holds O(chunk) memory beyond
 * its input. FT_ENOTFOUND if there is nothing to send now.
 */
int ft_secagg_client_next(ft_secagg_client *c, uint8_t **buf, size_t *len) FT_WARN_UNUSED;

ft_secagg_phase ft_secagg_client_phase(const ft_secagg_client *c);
int ft_secagg_client_abort_reason(const ft_secagg_client *c, const char **reason);

/* ---- Messages ---------------------------------------------------------- */

/*
 * Message types (docs/PROTOCOL.md, "Secure aggregation"). Never renumber or
 * reuse a value.
 */
typedef enum ft_secagg_msg_type {
	FT_SECAGG_MSG_CONFIG = 1,      /* server -> client */
	FT_SECAGG_MSG_ADVERTISE = 2,   /* client -> server */
	FT_SECAGG_MSG_KEYS = 3,        /* server -> client */
	FT_SECAGG_MSG_SHARES = 4,      /* client -> server */
	FT_SECAGG_MSG_SHARES_FWD = 5,  /* server -> client */
	FT_SECAGG_MSG_MASKED = 6,      /* client -> server */
	FT_SECAGG_MSG_CHECK = 7,       /* server -> client */
	FT_SECAGG_MSG_CHECK_SIG = 8,   /* client -> server */
	FT_SECAGG_MSG_CHECK_SIGS = 9,  /* server -> client */
	FT_SECAGG_MSG_UNMASK_REQ = 10, /* server -> client */
	FT_SECAGG_MSG_UNMASK = 11,     /* client -> server */
	FT_SECAGG_MSG_ABORT = 12       /* server -> client */
} ft_secagg_msg_type;

/* The common header of every message, decoded. */
typedef struct ft_secagg_hdr {
	uint8_t version;
	uint8_t type;
	ft_crypto_ctx ctx;
	uint32_t sender;
} ft_secagg_hdr;

/* Decodes the header (first FT_SECAGG_HDR_BYTES bytes). FT_EPROTO if short,
 * of another version, or of an unknown type. */
int ft_secagg_hdr_decode(const uint8_t *msg, size_t len, ft_secagg_hdr *out) FT_WARN_UNUSED;

/*
 * Decodes a CONFIG message (PROTOCOL.md, "CONFIG"). Limits are checked before
 * allocating. On FT_OK *cfg is filled and the caller owns *sites (ft_free),
 * which cfg->sites points to. FT_EEXIST if a site id repeats, FT_EPROTO if
 * malformed or outside the limits. The header's context is returned in
 * cfg->ctx unchecked: the caller compares it with the round it expects.
 */
int ft_secagg_config_decode(const uint8_t *msg, size_t len, ft_secagg_config *cfg,
                            ft_secagg_site **sites) FT_WARN_UNUSED;

/* Encodes cfg as a CONFIG message; on FT_OK the caller owns *buf (ft_free). */
int ft_secagg_config_encode(const ft_secagg_config *cfg, uint8_t **buf, size_t *len) FT_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif /* FT_SECAGG_H */
