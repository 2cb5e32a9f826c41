/*
 * coord_int.h - private structures of the coordinator.
 */
#ifndef COORD_INT_H
#define COORD_INT_H

#include "ft_coord.h"
#include "ft_model.h"
#include "ft_secagg.h"
#include "ft_transport.h"
#include "ft_wire.h"

enum { ENG_IDLE = 0, ENG_ACCEPT = 1, ENG_SECAGG = 2, ENG_DONE = 3, ENG_PLAIN = 4 };
enum { RS_NONE = 0, RS_ANNOUNCED = 1, RS_ACCEPTED = 2, RS_REFUSED = 3 };
/* A site's upload in a plain-sum attempt. */
enum { UP_NONE = 0, UP_RECEIVING = 1, UP_DONE = 2, UP_FAILED = 3 };

typedef struct eng_site {
	uint32_t id;
	const uint8_t *pk;
	int up;
	uint64_t have_version;
	int rstate;
	int up_state;               /* plain-sum attempts: UP_* */
	ft_wire_reasm *upload;      /* its PLAIN_UPDATE pieces, until complete */
} eng_site;

typedef struct eng_out {
	struct eng_out *next;
	uint32_t site;
	unsigned type;
	uint64_t round;
	uint32_t attempt;
	uint8_t *payload;
	size_t len;
} eng_out;

typedef struct eng_ev {
	struct eng_ev *next;
	ft_coord_event ev;
} eng_ev;

struct ft_coord_engine {
	ft_coord_run run;
	ft_coord_timeouts to;
	const ft_crypto_identity *id;
	uint8_t consortium[FT_CRYPTO_ID_BYTES];
	uint32_t n_sites;
	eng_site *sites;

	ft_model *model;
	uint8_t *model_bytes;
	size_t model_len;
	uint64_t version;
	uint8_t hash[FT_CRYPTO_HASH_BYTES];
	uint8_t sig[FT_CRYPTO_SIG_BYTES];
	ft_model_server *opt;       /* the server optimiser and its state */
	/* federated standardisation (round 0) */
	int stats_mode;             /* the attempt in flight is the stats release */
	int std_done;               /* standardise.mean/var are in the model */
	double *std_lo, *std_hi;    /* the run's public ranges (n_features each) */
	double std_eps;             /* the release's epsilon per site */
	size_t std_p;
	uint8_t *opt_state;         /* serialised state for the last event */
	size_t opt_state_len;

	int state;
	int paused;
	uint64_t round;
	uint32_t attempt;           /* of the attempt in flight, or the last */
	uint32_t next_attempt;
	uint64_t deadline;
	uint64_t retry_at;
	uint32_t n_announced;
	uint32_t *announced;        /* the ids announced to (n_sites entries) */
	ft_secagg_server *sa;
	ft_secagg_site *sa_sites;
	ft_crypto_fxp fxp;
	/* plain-sum attempts (run.plain_sum, never round 0) */
	int plain_mode;             /* the attempt in flight sums in the clear */
	uint32_t *plain_sum;        /* sum mod 2^bits of the complete uploads */
	uint32_t plain_need;        /* complete uploads the sum needs (t) */
	uint32_t *survivors;
	uint32_t n_survivors;

	eng_out *out_head, *out_tail;
	eng_ev *ev_head, *ev_tail;
};

/* ---- Per-site audit gate (coord_gate.c; docs/AUDIT.md, "Bounded cost") ---- */

/*
 * A site's budget of frames the round did not use (refused, late, repeated,
 * unexpected), per window. The daemon records such a frame and charges it
 * (coord_gate_unused) while coord_gate_over() is false; after that it
 * drops them unrecorded (coord_gate_drop), writing one msg.dropped entry
 * when coord_gate_drop() returns 1 (the window's first drop). Frames the
 * round uses are always recorded: the protocol bounds them. So at most
 * `budget` unused frames are recorded per site and window, plus one note.
 * Pure; the serving thread only.
 */
typedef struct coord_gate {
	uint32_t budget;    /* unused frames recorded per window */
	uint64_t window_ms;
	int started;
	uint64_t start_ms;  /* this window's start */
	uint32_t unused;    /* unused frames recorded in this window */
	int noted;          /* this window's msg.dropped entry is written */
	uint64_t pending;   /* drops not yet reported in a msg.dropped entry */
} coord_gate;

void coord_gate_init(coord_gate *g, uint32_t budget, uint64_t window_ms);
/* 1 if the budget of the window containing now_ms is spent. */
int coord_gate_over(coord_gate *g, uint64_t now_ms);
void coord_gate_unused(coord_gate *g, uint64_t now_ms);
/* Counts one dropped frame; 1 if the window's msg.dropped entry is due. */
int coord_gate_drop(coord_gate *g);
/* The frames dropped since the last call (for the msg.dropped entry). */
uint64_t coord_gate_take_dropped(coord_gate *g);

/*
 * The chunks of one masked upload, summed up for one msg.received entry:
 * frames, total bytes, and as digest the BLAKE2b-256 of the concatenated
 * BLAKE2b-256 digests of the chunks' envelopes, in arrival order (what a
 * checker recomputes from the site's msg.sent entries), and the newest log
 * head the chunks carried (one anchor). Reset before first use and after
 * each entry. Pure.
 */
typedef struct coord_upload {
	uint64_t frames, size;
	uint64_t run, round;
	ft_crypto_hash_state st;
	uint8_t first[FT_CRYPTO_HASH_BYTES]; /* the first chunk's digest */
	uint64_t log_len;
	uint8_t log_head[FT_CRYPTO_HASH_BYTES];
} coord_upload;

void coord_upload_reset(coord_upload *u);
void coord_upload_add(coord_upload *u, uint64_t run, uint64_t round, const uint8_t *env,
                      size_t len, uint64_t log_len, const uint8_t head[FT_CRYPTO_HASH_BYTES]);
/* FT_OK with the digest, or FT_ENOTFOUND if nothing was added. */
int coord_upload_finish(coord_upload *u, uint8_t digest[FT_CRYPTO_HASH_BYTES]) FT_WARN_UNUSED;

#endif

/* ---- Database (coord_db.c; schema in docs/PROTOCOL.md) ---------------- */

#include <sqlite3.h>

#define COORD_DB_VERSION 2

int coord_db_open(const char *path, sqlite3 **out, ft_errmsg *err);
void coord_db_close(sqlite3 *db);
/* Creates a run (status 'created') with its version-0 model; *id out. */
int coord_db_run_create(sqlite3 *db, const char *name, const ft_coord_run *run,
                        const char *spec_text, const uint8_t *model, size_t model_len,
                        uint64_t *id, ft_errmsg *err);
/* status: created, running, paused, stopped, complete. Checks the transition. */
int coord_db_run_set_status(sqlite3 *db, uint64_t id, const char *status, ft_errmsg *err);
int coord_db_run_load(sqlite3 *db, uint64_t id, ft_coord_run *run, char *status, size_t cap,
                      uint8_t **opt_state, size_t *opt_len, ft_errmsg *err);
/* The lowest-numbered run that is running or paused: FT_ENOTFOUND if none. */
int coord_db_active_run(sqlite3 *db, uint64_t *id, ft_errmsg *err);
int coord_db_latest_model(sqlite3 *db, uint64_t run, uint8_t **bytes, size_t *len,
                          uint64_t *version, ft_errmsg *err);
/* The next attempt number for `round` (1 + the highest recorded). */
int coord_db_next_attempt(sqlite3 *db, uint64_t run, uint64_t round, uint32_t *attempt,
                          ft_errmsg *err);
/* Attempts left 'running' by a crash become 'abandoned'. */
int coord_db_abandon_running(sqlite3 *db, ft_errmsg *err);
int coord_db_event(sqlite3 *db, uint64_t run, const ft_coord_event *ev, ft_errmsg *err);
