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
 * What travels are wire envelopes (ft_wire.h), signed by their sender; this
 * module only moves bytes and never looks inside them. TLS proves that the
 * peer holds a certificate of the consortium CA; which site a connection
 * is, the daemons learn from the first signed HELLO on it (nng 1.5.2 exposes
 * no peer-certificate name on a pipe).
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

#define FT_TRANSPORT_MAX_MSG ((size_t)16 << 20) /* one request or reply body */
#define FT_TRANSPORT_MAX_FRAMES 4096u       /* envelopes in one body */

/*
 * A body (of a request or a reply) is a sequence of wire envelopes
 * (ft_wire.h), each preceded by its length (u32 LE). ft_transport_body_next()
 * walks one: *off starts at 0; on FT_OK *frame and *frame_len describe the
 * next envelope (borrowed from body); FT_ENOTFOUND at the end; FT_EPROTO if a
 * length runs past the body.
 */
int ft_transport_body_next(const uint8_t *body, size_t len, size_t *off,
                           const uint8_t **frame, size_t *frame_len) FT_WARN_UNUSED;

/* ---- TLS endpoints -------------------------------------------------------- */

typedef struct ft_transport_tls {
	const char *ca_file;     /* the consortium CA (PEM) */
	const char *cert_file;   /* own certificate (PEM) */
	const char *key_file;    /* own private key (PEM, mode 0600); when
	                            encrypted, in the traditional "Proc-Type:
	                            4,ENCRYPTED" AES-CBC form mbedTLS reads */
	const char *server_name; /* dialer: the name the coordinator's certificate
	                            must carry; NULL: the host of the URL */
	const char *key_passphrase; /* opens an encrypted key_file; NULL when it
	                               is not encrypted (borrowed) */
} ft_transport_tls;

/* What a certificate says about itself (mbedTLS parses it). */
typedef struct ft_transport_cert_info {
	char subject[256];   /* e.g. "O=fedtwin consortium, CN=site-1" */
	char issuer[256];
	int64_t not_before;  /* Unix time, seconds */
	int64_t not_after;
	int ca_checked;      /* a CA file was given */
	int ca_signed;       /* ... and it signed this certificate */
} ft_transport_cert_info;

/*
 * Reads `cert_file` (PEM) and, if `ca_file` is non-NULL, checks whether that
 * CA signed it (the dates are reported, not judged). *out written only on
 * FT_OK; FT_EFORMAT naming the file that cannot be read or parsed.
 */
int ft_transport_cert_info_read(const char *cert_file, const char *ca_file,
                                ft_transport_cert_info *out, ft_errmsg *err) FT_WARN_UNUSED;

/* Whole days until the certificate expires (0 on its last day), or a
 * negative number: -1 - the days since it expired. */
int ft_transport_cert_days_left(const ft_transport_cert_info *info, int64_t now_unix);

/* Days before expiry from which the daemons and `node check` warn. */
#define FT_TRANSPORT_CERT_WARN_DAYS 30

/*
 * The start-up judgement of a daemon's own certificate: FT_OK with `note`
 * (may be NULL) saying its subject and expiry; FT_ETIMEDOUT with the same
 * note when it expires within FT_TRANSPORT_CERT_WARN_DAYS (warn, keep
 * going); FT_ECRYPTO when ca_file is given and did not sign it, FT_EPERM when
 * it has expired or is not valid yet, FT_EFORMAT when a file cannot be read;
 * `err` then says what to do.
 */
int ft_transport_cert_check(const char *cert_file, const char *ca_file, int64_t now_unix,
                            char *note, size_t note_cap, ft_errmsg *err) FT_WARN_UNUSED;

/*
 * Loads the CA, the certificate and the key (opening it with
 * key_passphrase) and checks that key and certificate belong together, as
 * an endpoint would, without opening a socket. server: 1 for the
 * coordinator's side. FT_OK, or the error an endpoint would report.
 */
int ft_transport_tls_check(const ft_transport_tls *tls, int server, ft_errmsg *err)
    FT_WARN_UNUSED;

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
 * Releases nng's global state once every socket of the process is closed:
 * nng tears sockets down on background threads, so a request still queued
 * when a daemon exits would otherwise outlive the process's last free.
 * Call once, after the last _close, just before the process exits.
 */
void ft_transport_fini(void);

/*
 * One exchange: sends `body` as a request and waits up to timeout_ms for the
 * reply. On FT_OK the caller owns *reply (ft_free) of *reply_len bytes.
 * FT_ETIMEDOUT, FT_ENET; FT_ENET at once, without sending, when the
 * connection dropped since the previous call (nng would redial and send
 * the request on a new connection, where the coordinator knows no session:
 * the caller starts a new one). Blocking; one thread only.
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


#ifdef __cplusplus
}
#endif
#endif /* FT_TRANSPORT_H */
