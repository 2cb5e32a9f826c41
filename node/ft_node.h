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
	int standardise;         /* 1: standardise features with this site's moments */
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

/*
 * `fedtwin node ...` (argv[0] is "node"). `train` is handled here; import,
 * consent, policy and status go to the store's commands. Returns the exit
 * status: 0 success, 1 error, 2 usage.
 */
int ft_node_cli_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif /* FT_NODE_H */
