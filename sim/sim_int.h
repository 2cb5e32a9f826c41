/*
 * sim_int.h - the simulator's private structures, shared by its .c files
 * only: the loaded table, the simulated sites and the federation.
 */
#ifndef FT_SIM_INT_H
#define FT_SIM_INT_H

#include "ft_sim.h"

#include "ft_crypto.h"
#include "ft_model.h"
#include "ft_node.h"
#include "ft_privacy.h"
#include "ft_secagg.h"

#define SIM_MAX_ROWS ((size_t)1 << 22)
#define SIM_MAX_COLUMNS 1024u

/* The CSV file as strings, row-major. */
typedef struct sim_table {
	size_t n_rows, n_cols;
	char **names;  /* n_cols */
	char **cells;  /* n_rows * n_cols */
} sim_table;

/* Column roles. */
enum { SIM_COL_NUMERIC = 0, SIM_COL_CATEGORICAL = 1, SIM_COL_SKIP = 2 };

typedef struct sim_site {
	size_t *rows;          /* table rows of the site (train then test) */
	size_t n_rows, n_train;
	ft_model_dataset *train, *test;
	ft_crypto_identity *id;
	ft_privacy_accountant *acc;
	double q, sigma;
	double stats_z;        /* noise multiplier of its statistics release (0: none) */
	uint32_t batch;
	uint64_t steps_per_round;
} sim_site;

typedef struct sim_fed {
	const ft_sim_options *o;
	sim_table tab;
	size_t target_col;
	int *role;                 /* per column */
	ft_node_levels *levels;    /* per column (categorical ones used) */
	ft_node_levels target_levels;
	uint32_t n_classes;        /* 0: regression */
	size_t n_features;
	int *onehot;               /* per feature: 1 if a one-hot column */
	char **feature_names;      /* n_features */
	double y_mean, y_sd;       /* regression target standardisation */
	uint32_t n_sites;
	sim_site *site;
	ft_model_dataset *test_all;
	uint64_t rng;
	uint64_t secagg_round;     /* distinct round context per secure sum */
	uint32_t k, t;             /* secure-aggregation graph degree, threshold */
	uint8_t consortium[FT_CRYPTO_ID_BYTES];
} sim_fed;

/* splitmix64 over f->rng: seeded, reproducible, not for secrets. */
uint64_t sim_rand(sim_fed *f);
double sim_uniform(sim_fed *f);   /* [0, 1) */
void sim_shuffle(sim_fed *f, size_t *a, size_t n);

/* The statistics release's epsilon: o->stats_epsilon, or a quarter of
 * o->dp_epsilon when 0. */
static inline double sim_stats_epsilon(const ft_sim_options *o)
{
	return o->stats_epsilon > 0 ? o->stats_epsilon : o->dp_epsilon / 4;
}

/* sim_data.c: load, partition, build the standardised site datasets
 * (standardisation statistics through sim_secure_sum). */
int sim_data_prepare(sim_fed *f, ft_errmsg *err);
void sim_fed_free(sim_fed *f);

/*
 * sim_secagg.c: the sum modulo 2^bits of the sites' d-element inputs.
 * With f->o->secagg, through one in-process secure-aggregation round of the
 * real client and server state machines; otherwise in the clear. drop (n_sites
 * entries, or NULL) marks sites that go silent this round, when
 * f->o->drop_when says. On FT_OK sum (d entries) and *n_surv (sites whose
 * input is in the sum) are written. FT_EABORT (reason in err) if the round
 * aborted.
 */
int sim_secure_sum(sim_fed *f, uint32_t *const *inputs, uint32_t d, unsigned bits,
                   const uint8_t *drop, uint32_t *sum, uint32_t *n_surv,
                   ft_errmsg *err) FT_WARN_UNUSED;

/* Chooses k and t for the federation and creates the sites' identities. */
int sim_secagg_setup(sim_fed *f, ft_errmsg *err) FT_WARN_UNUSED;

#endif
