/*
 * ft_coord.h - the consortium's coordinator: training runs kept in SQLite,
 * the round engine, and `fedtwin coordinator ...`.
 *
 * The round engine is a pure state machine: frames' payloads and the clock
 * go in; frames to send (with their destination site) and events to persist
 * come out. It never touches a socket, a thread or SQLite. The daemon
 * (`fedtwin coordinator serve`) persists each event BEFORE it sends what the
 * engine queued after it, so a model is durable before any site sees it.
 * Knows base, crypto, models, secagg and transport; never node/.
 */
#ifndef FT_COORD_H
#define FT_COORD_H

#include <stddef.h>
#include <stdint.h>

#include "ft_base.h"
#include "ft_crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "No model version held" in ft_coord_engine_site_up(). */
#define FT_COORD_NO_VERSION UINT64_MAX

/* Server optimisers: the values of ft_model_server_kind (models/), stored
 * in the database. */
typedef enum ft_coord_optimizer {
	FT_COORD_OPT_FEDAVG = 1,    /* w += server_lr * mean(delta) */
	FT_COORD_OPT_FEDADAM = 2,   /* Reddi et al. 2021; state m, v kept per run */
	FT_COORD_OPT_FEDYOGI = 3,
	FT_COORD_OPT_FEDADAGRAD = 4
} ft_coord_optimizer;

/* One training run's parameters (the `runs` table). */
typedef struct ft_coord_run {
	uint64_t id;
	uint32_t rounds;        /* rounds to complete */
	uint32_t min_sites;     /* >= 2: fewer accepting sites abort the attempt */
	double lr;              /* local learning rate */
	uint32_t epochs;
	uint32_t batch;
	double dp_clip;
	double epsilon;         /* per round, at each site's own delta */
	double update_clip;     /* fixed-point clip of update values */
	uint32_t bits;          /* 16..32 */
	uint32_t standardise;   /* 1: one DP statistics release (round 0) before
	                           round 1; the version-0 model must carry the
	                           run's public feature ranges and the release's
	                           epsilon (ft_coord_model_set_ranges) */
	uint32_t optimizer;     /* ft_coord_optimizer */
	double server_lr;
	double beta1, beta2, tau; /* the adaptive optimisers */
	double dropout;         /* secure aggregation tolerates this fraction of
	                           the sites dropping, [0, 0.5): with the corrupt
	                           fraction 0 it sets the graph degree k and the
	                           threshold t (ft_secagg_params); falls back to
	                           no tolerance when n is too small for it */
	double delta;           /* the delta announced with epsilon (each site
	                           states its spending at its own policy delta) */
	uint32_t plain_sum;     /* 1: `run create --no-secagg`: training rounds sum
	                           the sites' encoded updates in the clear (no
	                           secure aggregation; docs/PRIVACY.md says what
	                           that reveals). Standardisation passes (round 0)
	                           always use secure aggregation. */
} ft_coord_run;

/* Per-phase deadlines (milliseconds). */
typedef struct ft_coord_timeouts {
	uint64_t accept_ms;     /* announce -> accept/refuse */
	uint64_t phase_ms;      /* each secure-aggregation phase */
	uint64_t upload_ms;     /* the masked upload */
	uint64_t retry_ms;      /* wait before a fresh attempt after an abort */
	uint64_t gather_ms;     /* an attempt starts when every enrolled site is
	                           connected, or min_sites are and this long has
	                           passed since the engine became ready */
	uint64_t round_gap_ms;  /* pause between a round's end and the next
	                           announcement (paces the sites' compute) */
} ft_coord_timeouts;

typedef struct ft_coord_engine ft_coord_engine;

/* One enrolled site (from the signed manifest). */
typedef struct ft_coord_site {
	uint32_t id;
	uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES];
} ft_coord_site;

/*
 * Starts an engine for `run` at global model `model_bytes` (a model file,
 * copied) of version `version`, to play round `next_round` from attempt
 * `next_attempt` (the daemon reads both from the database: an interrupted
 * attempt is never resumed, a fresh one starts). `opt_state` (may be NULL:
 * a fresh optimiser; copied) is the server optimiser's state as last
 * persisted (ft_model_server_encode; FT_EFORMAT if it does not decode or
 * does not fit the model). `id` (the
 * coordinator's identity) and `sites` are borrowed and must outlive the
 * engine. On FT_OK the caller owns *out (ft_coord_engine_free).
 */
int ft_coord_engine_alloc(const ft_coord_run *run, const ft_coord_timeouts *to,
                          const ft_crypto_identity *id,
                          const uint8_t consortium[FT_CRYPTO_ID_BYTES],
                          const ft_coord_site *sites, uint32_t n_sites,
                          const uint8_t *model_bytes, size_t model_len, uint64_t version,
                          const uint8_t *opt_state, size_t opt_state_len, uint64_t next_round,
                          uint32_t next_attempt, ft_coord_engine **out,
                          ft_errmsg *err) FT_WARN_UNUSED;
void ft_coord_engine_free(ft_coord_engine *e);

/* A site proved its identity (have_version: the newest model version of this
 * run it holds, or UINT64_MAX) / its connection went away. Unknown ids are
 * ignored. The engine queues the current model for a site that lacks it. */
void ft_coord_engine_site_up(ft_coord_engine *e, uint32_t site, uint64_t have_version,
                             uint64_t now_ms);
void ft_coord_engine_site_down(ft_coord_engine *e, uint32_t site, uint64_t now_ms);

/*
 * A message body from an authenticated site: FT_WIRE_ROUND_ACCEPT,
 * FT_WIRE_ROUND_REFUSE, FT_WIRE_SECAGG or (plain-sum attempts)
 * FT_WIRE_PLAIN_UPDATE, with the round and attempt of its envelope. FT_OK if
 * used; FT_EREPLAY for another round/attempt, FT_ESTATE out of phase,
 * FT_EPROTO malformed, or the secure-aggregation server's reason. A
 * PLAIN_UPDATE piece that does not fit the site's upload (another total or
 * version, overlap, bad hash, a value above 2^bits) leaves that site's
 * upload out of the sum (FT_EPROTO, FT_EEXIST, FT_ERANGE or FT_ECRYPTO).
 * A ROUND_REFUSE is used in the accept phase, and once from a site that
 * accepted while secure aggregation runs (it refused the CONFIG): both
 * give a REFUSED event.
 */
int ft_coord_engine_recv(ft_coord_engine *e, uint32_t site, unsigned type, uint64_t round,
                         uint32_t attempt, const uint8_t *payload, size_t len,
                         uint64_t now_ms) FT_WARN_UNUSED;

/* Moves on when a deadline has passed, starts attempts. Call at least at
 * ft_coord_engine_deadline(). */
void ft_coord_engine_tick(ft_coord_engine *e, uint64_t now_ms);
uint64_t ft_coord_engine_deadline(const ft_coord_engine *e);

/* Pauses (abandons an attempt in flight) or resumes the engine. */
void ft_coord_engine_pause(ft_coord_engine *e, int paused, uint64_t now_ms);

/* An outgoing message: destination site, wire type, round/attempt for the
 * envelope and the encoded body (ft_wire.h). On FT_OK the caller owns *payload (ft_free). FT_ENOTFOUND if
 * none is queued. */
int ft_coord_engine_next(ft_coord_engine *e, uint32_t *site, unsigned *type, uint64_t *round,
                         uint32_t *attempt, uint8_t **payload, size_t *len) FT_WARN_UNUSED;

/* Events to persist, in order. */
typedef enum ft_coord_event_type {
	FT_COORD_EV_ATTEMPT_START = 1, /* round, attempt, n_sites announced */
	FT_COORD_EV_REFUSED = 2,       /* round, attempt, site, code (ft_wire_refusal), text */
	FT_COORD_EV_ATTEMPT_END = 3,   /* round, attempt, code, text (aborted) */
	FT_COORD_EV_MODEL = 4,         /* round done: model, survivors, opt state */
	FT_COORD_EV_STATS = 5          /* the statistics release done (round 0):
	                                  model = the new version-0 file, whose
	                                  metadata carries the moments;
	                                  run_complete = 1 */
} ft_coord_event_type;

/* Federated standardisation before round 1 (when the run's standardise is
 * 1): ONE secure sum of the sites' DP-noised statistics vectors (models/
 * ft_model.h, "Federated standardisation"), as attempts of round 0, whose
 * announcement carries the release's epsilon in dp_max_epsilon. Values are
 * clipped to the run's public feature ranges; a site contributes at most
 * FT_COORD_STATS_MAX_ROWS patients. Ranges, epsilon and results travel in
 * the version-0 model file's metadata ("standardise.*"), so at most
 * FT_COORD_STATS_MAX_FEATURES features (the metadata string limit). */
#define FT_COORD_STATS_PASSES 1
#define FT_COORD_STATS_MAX_ROWS FT_MODEL_STATS_MAX_UNITS
#define FT_COORD_STATS_MAX_FEATURES 40u

#define FT_COORD_TEXT_MAX 256
typedef struct ft_coord_event {
	int type;
	uint64_t round;
	uint32_t attempt;
	uint32_t site;
	int code;
	char text[FT_COORD_TEXT_MAX];
	uint32_t n_sites;
	const uint32_t *sites;   /* ATTEMPT_START: the n_sites announced (borrowed) */
	/* FT_COORD_EV_MODEL: borrowed until the next engine call. */
	uint64_t version;
	const uint8_t *model;
	size_t model_len;
	uint8_t hash[FT_CRYPTO_HASH_BYTES];
	uint8_t sig[FT_CRYPTO_SIG_BYTES];
	const uint32_t *survivors;
	uint32_t n_survivors;
	const uint8_t *opt_state;
	size_t opt_state_len;
	int run_complete;
} ft_coord_event;

/* Takes the next event; FT_ENOTFOUND if none. */
int ft_coord_engine_event(ft_coord_engine *e, ft_coord_event *ev) FT_WARN_UNUSED;

/* 1 once the last round's model was produced. */
int ft_coord_engine_complete(const ft_coord_engine *e);

/* The model file a new run starts from: `spec` initialised from `seed`,
 * metadata run/version 0. On FT_OK the caller owns *buf (ft_free). */
struct ft_model_spec;
int ft_coord_initial_model(const struct ft_model_spec *spec, uint64_t run,
                           const uint8_t seed[32], uint8_t **buf, size_t *len,
                           ft_errmsg *err) FT_WARN_UNUSED;

/* The statistics release's default epsilon per site (at each site's own
 * delta), as `run create --stats-epsilon` documents it. */
#define FT_COORD_STATS_EPSILON_DEFAULT 1.0

/*
 * Returns a copy of the model file `in` whose metadata also carries the
 * run's public feature ranges ("standardise.lo", "standardise.hi", p values
 * each, p the model's feature count) and the statistics release's epsilon
 * ("standardise.epsilon"), which a standardised run needs. FT_EINVAL for
 * a count that is not the model's, an empty range or a bad epsilon;
 * FT_ERANGE past FT_COORD_STATS_MAX_FEATURES. On FT_OK the caller owns
 * *out (ft_free).
 */
int ft_coord_model_set_ranges(const uint8_t *in, size_t in_len, const double *lo,
                              const double *hi, size_t p, double stats_epsilon, uint8_t **out,
                              size_t *out_len, ft_errmsg *err) FT_WARN_UNUSED;

/*
 * `fedtwin coordinator ...` (argv[0] is "coordinator"): run create|start|
 * pause|resume|stop|status, manifest, serve. Returns the exit status: 0
 * success, 1 error, 2 usage.
 */
int ft_coord_cli_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif /* FT_COORD_H */
