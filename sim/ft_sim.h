/*
 * ft_sim.h - federated simulation: `fedtwin simulate` runs a whole
 * federated training in one process on a CSV file, with the same pieces the
 * daemons use - the site update (node), DP-SGD and the accountant (models,
 * privacy), the real secure-aggregation client and server state machines
 * (secagg) and the server optimisers (models) - and prints one line per
 * round.
 *
 * Sits above node; knows node, models, privacy, secagg, store (its CSV
 * reader) and crypto, never the coordinator.
 *
 * Reproducibility: with the same --seed, everything drawn from the seed is
 * the same (test split, site partition, initial model, batch shuffling,
 * which sites drop out). DP noise, the stochastic rounding of the
 * fixed-point encoding and the secure-aggregation keys and masks come from
 * the CSPRNG on purpose: a seeded run without DP differs between runs only
 * by the fixed-point rounding (below n_sites / scale per coordinate and
 * round), and the masks cancel exactly, so with and without --no-secagg the
 * models agree up to that rounding.
 */
#ifndef FT_SIM_H
#define FT_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "ft_base.h"
#include "ft_model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FT_SIM_MAX_SITES 256u
#define FT_SIM_MAX_ROUNDS 100000u

/* When a dropping site goes silent (per round, each site independently
 * with probability drop_rate). */
typedef enum ft_sim_drop_when {
	FT_SIM_DROP_AFTER_UPLOAD = 0,  /* its masked update is in; it never helps
	                                  unmask (its self mask is recovered
	                                  from the others' shares) */
	FT_SIM_DROP_BEFORE_UPLOAD = 1  /* keys and shares sent, no update: its
	                                  pairwise masks are recovered, its
	                                  update is missing from the sum */
} ft_sim_drop_when;

/*
 * Everything `fedtwin simulate` takes, with the defaults of
 * ft_sim_options_default() in brackets. Strings are borrowed.
 */
typedef struct ft_sim_options {
	const char *data;          /* CSV file */
	const char *target;        /* target column */
	const char *exclude;       /* comma-separated columns to leave out [NULL] */
	const char *categorical;   /* comma-separated columns to one-hot [NULL] */
	const char *site_column;   /* sites from this column, or ... */
	uint32_t n_sites;          /* ... rows split across n sites (2..FT_SIM_MAX_SITES) */
	double dirichlet;          /* > 0: label skew Dirichlet(alpha) over classes [0: IID] */
	const char *split_column;  /* rows whose value is "test" are held out [NULL] */
	double test_fraction;      /* without split_column, per site [0.25] */
	uint32_t model;            /* ft_model_kind [LOGREG] */
	uint32_t n_hidden;         /* MLP layers and widths [1 layer of 32] */
	uint32_t hidden[FT_MODEL_MAX_HIDDEN];
	int regression;            /* 1: numeric target (linreg; mlp with a regression head)
	                              [1 for linreg, else 0] */
	uint32_t rounds;           /* [20] */
	uint32_t local_epochs;     /* [1] */
	uint32_t batch;            /* local batch, patients [16] */
	double lr;                 /* local SGD learning rate [0.1] */
	uint32_t server_opt;       /* ft_model_server_kind [FEDAVG] */
	double server_lr;          /* <= 0: the optimiser's default [0] */
	double clip;               /* DP per-patient clip C [1.0] */
	double update_clip;        /* C_u, L2 bound of a site's update [5.0] */
	unsigned bits;             /* secure-aggregation ring Z_2^bits [32] */
	int weighted;              /* weight sites by training patients [1] */
	int dp;                    /* DP-SGD on [0] */
	double dp_epsilon;         /* per-site budget over the whole run, the
	                              statistics release included */
	double dp_delta;           /* [1e-5] */
	int secagg;                /* 1: through secure aggregation [1] */
	double drop_rate;          /* [0] */
	uint32_t drop_when;        /* ft_sim_drop_when [AFTER_UPLOAD] */
	const char *feature_ranges; /* public per-feature ranges (ft_model_ranges
	                              format, by column name): standardise as the
	                              daemons do, from one noisy secure sum; NULL:
	                              exact pooled moments, no privacy, refused
	                              with DP [NULL] */
	double stats_epsilon;      /* the statistics release's epsilon per site,
	                              with DP: part of dp_epsilon, training is
	                              calibrated to what it leaves [0: a quarter
	                              of dp_epsilon] */
	uint64_t seed;             /* [1] */
} ft_sim_options;

/* Fills *o with the defaults above (data, target and the site choice left
 * unset). */
void ft_sim_options_default(ft_sim_options *o);

/* What each round reports (to the callback of ft_sim_run). */
typedef struct ft_sim_round_report {
	uint32_t round;       /* 1-based */
	int aborted;          /* 1: secure aggregation aborted; model unchanged */
	const char *abort_reason; /* valid during the callback */
	double accuracy;      /* test accuracy (classification), else NaN */
	double accuracy_sites;/* mean over sites of the accuracy on each site's own
	                         test rows (FLamby's way of reporting), else NaN */
	double auc;           /* binary only, else NaN */
	double rmse;          /* test RMSE in the target's units (regression), else NaN */
	double rmse_sites;    /* mean over sites of their own test RMSE, else NaN */
	double loss;          /* mean test loss (cross-entropy; 1/2 squared error
	                         of the standardised target) */
	double epsilon;       /* max over sites of epsilon spent so far; +inf without DP */
	uint32_t sites;       /* sites selected */
	uint32_t survivors;   /* sites whose update is in the sum */
	uint32_t dropped;     /* sites that went silent this round */
	double wall_ms;       /* wall time of the round (training, aggregation, server step) */
	double secagg_ms;     /* of which secure aggregation */
} ft_sim_round_report;

typedef void (*ft_sim_round_fn)(void *user, const ft_sim_round_report *r);

/* The shape of the simulated federation, known after data loading. */
typedef struct ft_sim_summary {
	uint32_t n_sites;
	size_t n_train, n_test;   /* rows */
	size_t n_features;        /* after one-hot expansion */
	size_t n_params;
	uint32_t n_classes;       /* 0 for regression */
	double sigma_max;         /* largest noise multiplier over sites (DP) */
	uint32_t secagg_k, secagg_t;
	ft_sim_round_report last; /* the last round */
	uint32_t rounds_aborted;
} ft_sim_summary;

/* Called once after data loading, before round 1 (may be NULL). */
typedef void (*ft_sim_start_fn)(void *user, const ft_sim_summary *s);

/*
 * Runs the simulation. The callbacks (either may be NULL) run on the
 * calling thread. On FT_OK *summary (if non-NULL) is filled and, if final
 * is non-NULL, the caller owns *final, the last global model (in the
 * standardised feature space). Errors: FT_EINVAL for bad options,
 * FT_ENOTFOUND for a column that is not in the file (both usage errors of
 * the CLI), FT_EIO/FT_EFORMAT for the file, FT_ERANGE when a DP budget
 * cannot be met, FT_EABORT if every round aborted; each with a message.
 */
int ft_sim_run(const ft_sim_options *o, ft_sim_start_fn start, ft_sim_round_fn round,
               void *user, ft_sim_summary *summary, ft_model **final,
               ft_errmsg *err) FT_WARN_UNUSED;

/*
 * `fedtwin simulate ...` (argv[0] is "simulate"). Prints "# " lines
 * describing the federation, then one line per round:
 *   round=3 accuracy=0.771 auc=0.84 loss=0.512 epsilon=0.84 sites=4 survivors=4 ...
 * Returns 0 on success, 2 for a usage error (message on stderr naming the
 * option or column), 1 for any other failure.
 */
int ft_sim_cli_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif /* FT_SIM_H */
