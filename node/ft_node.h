/*
 * ft_node.h - the hospital site: everything `fedtwin node` does on top of the
 * site store, the models, the privacy accountant and (later) the secure
 * aggregation client.
 *
 * The node is where the site's own privacy policy is enforced. Every
 * training that can release anything goes through ft_node_train_local(),
 * which refuses before it starts when the policy would be exceeded (fail
 * closed), and commits the privacy-ledger entry before the result can leave
 * the function.
 */
#ifndef FT_NODE_H
#define FT_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "ft_base.h"
#include "ft_crypto.h"
#include "ft_model.h"
#include "ft_store.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * One DP training request. Training without DP is not offered: everything a
 * node trains may be released, so everything is covered by DP.
 */
typedef struct ft_node_train_request {
	const char *dataset;     /* dataset name in the store */
	const char *run_id;      /* the run this training is charged to */
	const ft_model *initial; /* start from these parameters (the global model);
	                            NULL: a fresh model of `spec`, seeded randomly */
	ft_model_spec spec;      /* used when initial is NULL; n_features is taken
	                            from the dataset */
	uint64_t round;          /* the round within the run (charged once) */
	ft_model_train_config cfg; /* cfg.dp.clip must be > 0; dp.enabled is forced */
	double target_epsilon;   /* > 0: calibrate cfg.dp.sigma so this round alone
	                            meets (target_epsilon, policy delta) */
	int standardise;         /* 1: standardise features with this site's exact
	                            moments. They are stored in the model's metadata
	                            (prediction needs them) and are NOT covered by
	                            DP: such a model file must stay at the site. */
	const double *std_mean;  /* non-NULL (with std_var): standardise features
	                            with these public moments (n_features each,
	                            e.g. the federation's, from secure sums), which
	                            depend on no single patient of this site in a
	                            way DP-SGD must cover; overrides standardise */
	const double *std_var;
} ft_node_train_request;

typedef struct ft_node_train_result {
	ft_model_train_report train;
	ft_store_load_stats data;  /* patients and records used / excluded */
	double sigma;              /* noise multiplier used */
	double delta;              /* the policy's delta */
	double eps_round;          /* this round alone */
	double eps_run;            /* the run so far, this round included */
	double eps_total;          /* the store's lifetime, this round included */
	ft_model_eval eval;        /* on the training data, after training */
} ft_node_train_result;

/*
 * Trains a copy of req->initial (or a fresh model of req->spec) on the
 * consented records of req->dataset with DP-SGD per patient:
 *   1. reads the site policy (none set: FT_EPERM, fail closed);
 *   2. loads only consented patients' records;
 *   3. computes q and steps, calibrates sigma if asked;
 *   4. checks the run's and the lifetime epsilon, with this round, against the
 *      policy (FT_EBUDGET with a message naming the limit);
 *   5. appends the ledger event durably (a (run, round) pair is charged once:
 *      FT_EEXIST);
 *   6. trains.
 * Nothing is trained if a step before 6 fails. On FT_OK *res is filled, the
 * caller owns the trained *out and *meta_out (if meta_out is non-NULL): the
 * metadata to store with the model (dataset, run, round, privacy cost, and
 * the standardisation moments, which prediction must apply too).
 * Runs on the calling thread; the store is not shared across threads.
 */
int ft_node_train_local(ft_store *store, const ft_node_train_request *req, ft_model **out,
                        ft_model_meta **meta_out, ft_node_train_result *res,
                        ft_errmsg *err) FT_WARN_UNUSED;


/* ==== Site update for one federated round (node/ft_node_update.c) =======
 *
 * The pieces of a federated round that run at a site, shared by the node
 * daemon and `fedtwin simulate`. They do no I/O, touch no store and keep no
 * state: the caller charges the privacy ledger (ft_store_policy_charge)
 * before it lets the encoded update leave, and reports the privacy event in
 * ft_node_update_result.train (q, sigma, steps).
 */

/*
 * One site update. Two clips are at work:
 *   - cfg.dp.clip (C) bounds each patient's gradient inside DP-SGD; it is
 *     what the DP guarantee is computed from;
 *   - update_clip (C_u) bounds the L2 norm of the whole update
 *     delta = local - global, so that one site's influence on the sum is
 *     bounded (needed for the fixed-point budget and, at the server, for
 *     robustness). It is post-processing: it costs no privacy.
 * The fixed-point encoding clips each coordinate to fxp->clip; with
 * fxp->clip >= C_u (and >= 1 when weighted), which
 * ft_model_update_fxp_init() arranges for sites and server alike, that
 * coordinate clip never bites because |delta_j| <= ||delta|| <= C_u.
 */
typedef struct ft_node_update_request {
	const ft_model *global;       /* the round's global model (borrowed) */
	const ft_model_dataset *ds;   /* the site's training data, already standardised */
	ft_model_train_config cfg;    /* the round's local training; DP as in cfg.dp */
	double update_clip;           /* C_u > 0 */
	int weighted;                 /* 1: append the weight (see ft_model_server_mean) */
	double weight;                /* w in [0, 1] when weighted */
	const ft_crypto_fxp *fxp;     /* encoding; NULL: no encoding */
} ft_node_update_request;

typedef struct ft_node_update_result {
	ft_model_train_report train;  /* the privacy event: dp, q, sigma, steps */
	double delta_norm;            /* ||local - global|| before the update clip */
	int clipped;                  /* 1 if the update clip scaled the delta down */
} ft_node_update_result;

/*
 * The checks of an announced training round that need no training: the
 * announced shape (`shape`'s n_features, n_classes, n_hidden and hidden
 * widths; NULL skips it) must be the global model's, the announced vector
 * length `d` its parameter count, and the update clip `fxp_clip` must
 * encode at `bits` bits for a sum of `n_sites` sites
 * (ft_model_update_fxp_init). A node runs them before the privacy charge,
 * so an announcement it would refuse after training is refused before it
 * costs privacy. FT_OK, or FT_EINVAL / FT_ERANGE with the reason in err.
 * Pure; any thread.
 */
int ft_node_update_params_check(const ft_model *global, const ft_model_spec *shape, size_t d,
                                unsigned bits, double fxp_clip, uint32_t n_sites,
                                ft_errmsg *err) FT_WARN_UNUSED;

/* Length of the update vector: n_params, plus 1 when weighted. */
size_t ft_node_update_len(const ft_model *global, int weighted);

/*
 * Trains a clone of req->global on req->ds with req->cfg (ft_model_train),
 * then writes to vec (len == ft_node_update_len() floats, the caller's)
 * delta = local - global scaled to L2 norm at most C_u, multiplied by w
 * when weighted, with w itself as the last element; and, if enc is non-NULL
 * and req->fxp is set, its encoding into Z_2^bits (len uint32s, the
 * caller's; stochastic rounding from the CSPRNG). The local model is freed
 * unless local_out is non-NULL (then the caller owns *local_out).
 * Outputs are written only on FT_OK. FT_EINVAL for bad arguments (message
 * in err), or what ft_model_train / ft_crypto_fxp_encode return.
 * Allocates the clone; runs on the calling thread.
 */
int ft_node_update_compute(const ft_node_update_request *req, float *vec, uint32_t *enc,
                           size_t len, ft_model **local_out, ft_node_update_result *res,
                           ft_errmsg *err) FT_WARN_UNUSED;

/* ---- Federated standardisation: the site's release ------------------------
 *
 * The site's half of federated standardisation; the vector layout, the
 * encoding and the decoding (ft_model_stats_fxp_init, ft_model_stats_finish,
 * which the coordinator uses too) are described in models/ft_model.h,
 * "Federated standardisation", and the privacy argument in docs/PRIVACY.md.
 * The daemon and `fedtwin simulate` both release through these functions.
 */

/*
 * A site's exact stats vector (len == ft_model_stats_len(ds->n_features)
 * floats, the caller's): each value clipped to [lo_j, hi_j] (public, n_features
 * each) and mapped to [-1, 1]; u and u^2 averaged over each patient's records
 * (ds->unit_offset), so that one patient moves the vector by at most
 * ft_model_stats_sensitivity() however many records they have; the last
 * element is the number of patients. FT_ERANGE if the site has more than
 * max_units patients; FT_EINVAL for bad arguments (an empty range, a
 * non-finite value). This vector must not leave the site without
 * ft_node_stats_noise().
 */
int ft_node_stats_site(const ft_model_dataset *ds, const double *lo, const double *hi,
                       uint64_t max_units, float *vec, size_t len,
                       ft_errmsg *err) FT_WARN_UNUSED;

/* The Gaussian mechanism of one statistics release. */
typedef struct ft_node_stats_dp {
	double epsilon;      /* asked for this release, at delta */
	double delta;
	double sensitivity;  /* ft_model_stats_sensitivity(n_features) */
	double z;            /* noise multiplier to account (q = 1, one step): what
	                        the ledger is charged */
	double rounding;     /* what rounding the exact vector to float32 can add
	                        to the distance of two neighbouring vectors:
	                        sqrt(len) * ulp(FT_MODEL_STATS_MAX_UNITS) */
	double noise_sd;     /* what ft_node_stats_noise adds per element: at least
	                        z * (sensitivity + rounding) once the noise grid
	                        is allowed for */
} ft_node_stats_dp;

/*
 * Calibrates the release of a stats vector over n_features features so that
 * it alone is (epsilon, delta)-DP per patient: the smallest multiplier z
 * with which one Gaussian mechanism step (the subsampled Gaussian at q = 1)
 * meets the target in the RDP accountant, raised for the rounding to the
 * noise grid. FT_EINVAL for a bad epsilon, delta or n_features; FT_ERANGE if
 * the target cannot be met. *out written only on FT_OK. Pure computation.
 */
int ft_node_stats_calibrate(double epsilon, double delta, size_t n_features,
                            ft_node_stats_dp *out, ft_errmsg *err) FT_WARN_UNUSED;

/*
 * Adds exact discrete Gaussian noise (ft_privacy_noise_add) of standard
 * deviation dp->noise_sd to every element of vec (len floats), in place.
 * On error vec must be discarded. Draws from the CSPRNG.
 */
int ft_node_stats_noise(const ft_node_stats_dp *dp, float *vec, size_t len,
                        ft_errmsg *err) FT_WARN_UNUSED;

/* A site refuses more charged statistics releases than this in one run: one,
 * and one more for a release whose vector was lost before it was kept
 * (a crash between the ledger charge and the state file). A retried attempt
 * re-sends the kept vector at no cost. Releases are charged under ledger
 * keys (rounds) 0 .. FT_NODE_STATS_MAX_RELEASES - 1 of the run; keys below
 * FT_NODE_STATS_LEDGER_KEYS are reserved for them (the daemon charges
 * training round r, attempt a, under r * 1000 + a). */
#define FT_NODE_STATS_MAX_RELEASES 2u
#define FT_NODE_STATS_LEDGER_KEYS 1000u

typedef struct ft_node_stats_request {
	const char *dataset;     /* dataset name in the store */
	const char *run_id;      /* the run charged */
	const double *lo, *hi;   /* the run's public ranges, n_features each */
	size_t n_features;       /* the model's */
	double epsilon;          /* announced for the release, at the policy's delta */
	uint64_t max_units;      /* the public cap on patients (fixed-point clip) */
} ft_node_stats_request;

typedef struct ft_node_stats_result {
	ft_node_stats_dp dp;     /* the mechanism (delta: the policy's) */
	uint64_t ledger_round;   /* the ledger key charged */
	size_t n_units;          /* patients in the vector (stays at the site) */
	double eps_round;        /* this release alone */
	double eps_run;          /* the run so far, this release included */
	double eps_total;        /* the store's lifetime, this release included */
	double max_eps_run;      /* the policy's limits */
	double max_eps_total;
} ft_node_stats_result;

/*
 * The site's statistics release for run req->run_id:
 *   1. reads the site policy (none: FT_EPERM, fail closed);
 *   2. counts the run's releases already charged; FT_EPERM at
 *      FT_NODE_STATS_MAX_RELEASES;
 *   3. calibrates the noise to req->epsilon at the policy's delta;
 *   4. computes the vector over consented patients (FT_ENOTFOUND if none);
 *   5. charges the ledger under the next release key, checking the run's and
 *      the lifetime epsilon (FT_EBUDGET, nothing charged) - durable before
 *      step 6;
 *   6. adds the noise.
 * On FT_OK vec (len == ft_model_stats_len(n_features) floats) holds the
 * noisy vector and *res the spend; nothing is written otherwise. The caller
 * must log the spend in the audit log and keep the vector (a retry re-sends
 * it) before it lets the vector leave. Runs on the calling thread.
 */
int ft_node_stats_release(ft_store *store, const ft_node_stats_request *req, float *vec,
                          size_t len, ft_node_stats_result *res, ft_errmsg *err) FT_WARN_UNUSED;

/* ---- Categorical levels --------------------------------------------------
 *
 * A categorical column is one-hot encoded with levels agreed across sites.
 * Each site reveals only its set of levels per column (never a count); the
 * coordinator takes the union and every site expands with the agreed,
 * sorted (bytewise) list, so column order does not depend on which site
 * spoke first.
 */
#define FT_NODE_LEVELS_MAX 256u        /* distinct levels per column */
#define FT_NODE_LEVEL_MAX_BYTES 64u    /* bytes of one level, excluding NUL */

typedef struct ft_node_levels {
	size_t n;
	char *level[FT_NODE_LEVELS_MAX]; /* sorted, unique, owned */
} ft_node_levels;

/* An empty set (the struct is the caller's; no allocation). */
void ft_node_levels_init(ft_node_levels *lv);
/* Frees the strings and empties the set; accepts NULL. */
void ft_node_levels_clear(ft_node_levels *lv);

/* Adds `level` (copied) if absent. FT_EINVAL for an empty or over-long
 * level, FT_ERANGE past FT_NODE_LEVELS_MAX, FT_ENOMEM; lv unchanged then. */
int ft_node_levels_add(ft_node_levels *lv, const char *level) FT_WARN_UNUSED;

/* dst = dst U src. On error dst holds part of the union: clear it. */
int ft_node_levels_union(ft_node_levels *dst, const ft_node_levels *src) FT_WARN_UNUSED;

/* Index of `level` in the sorted set; FT_ENOTFOUND if absent. */
int ft_node_levels_index(const ft_node_levels *lv, const char *level,
                         size_t *idx) FT_WARN_UNUSED;

/* One-hot: out (lv->n floats, the caller's) gets 1 at the level's index and
 * 0 elsewhere. FT_ENOTFOUND (out untouched) for a level outside the set. */
int ft_node_levels_onehot(const ft_node_levels *lv, const char *level, float *out,
                          size_t n_out) FT_WARN_UNUSED;

/*
 * `fedtwin node ...` (argv[0] is "node"). `train` is handled here; import,
 * consent, policy and status go to the store's commands. Returns the exit
 * status: 0 success, 1 error, 2 usage.
 */
int ft_node_cli_main(int argc, char **argv);

/* `fedtwin model ...` (argv[0] is "model"): `eval`, the metrics of a model
 * file on a labelled CSV file, standardised with the moments the model
 * carries. Returns the exit status (0, 1 failure, 2 usage). */
int ft_node_model_cli_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif /* FT_NODE_H */
