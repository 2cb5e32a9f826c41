/*
 * ft_model.h - the site's models: a flat float32 parameter vector per model,
 * training data as a dataset grouped by privacy unit (patient), optimisers,
 * metrics and model files.
 *
 * Knows crypto (hashing, CSPRNG) and privacy (the DP noise sampler).
 */
#ifndef FT_MODEL_H
#define FT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "ft_base.h"
#include "ft_crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Datasets ---------------------------------------------------------- */

/*
 * Training or evaluation data held in memory. Rows are grouped by privacy
 * unit (the patient): the rows of unit u are [unit_offset[u],
 * unit_offset[u+1]). DP sampling, clipping and accounting work on units, never
 * on rows. For classifiers y holds the class index (0, 1, ...) as a float.
 */
typedef struct ft_model_dataset {
	size_t n_rows;
	size_t n_features;
	size_t n_units;
	float *x;              /* n_rows * n_features, row-major */
	float *y;              /* n_rows */
	size_t *unit_offset;   /* n_units + 1 entries; unit_offset[n_units] == n_rows */
	char **feature_names;  /* n_features NUL-terminated names, or NULL */
} ft_model_dataset;

/*
 * Allocates a zeroed dataset of the given shape, with unit_offset set to one
 * row per unit (callers grouping several rows per patient overwrite
 * n_units and unit_offset) and feature_names NULL. Limits are checked before
 * allocating: FT_ERANGE if n_rows * n_features overflows or exceeds
 * FT_MODEL_MAX_CELLS. On FT_OK the caller owns *out.
 */
#define FT_MODEL_MAX_CELLS ((size_t)1 << 31)
int ft_model_dataset_alloc(size_t n_rows, size_t n_features,
                           ft_model_dataset **out) FT_WARN_UNUSED;

/* Frees the dataset and everything it points to; accepts NULL. */
void ft_model_dataset_free(ft_model_dataset *ds);


/*
 * Checks that `ds` is usable with `spec` (spec may be NULL to check the
 * dataset alone): consistent unit offsets, finite features and targets,
 * n_features matching, class labels integral in [0, n_classes).
 * FT_EINVAL with a message naming the first bad row or unit.
 */
struct ft_model_spec;
int ft_model_dataset_check(const ft_model_dataset *ds, const struct ft_model_spec *spec,
                           ft_errmsg *err) FT_WARN_UNUSED;

/* ---- Feature standardisation ------------------------------------------ */

/*
 * Per-feature sums, sums of squares (both double, n_features entries each,
 * caller-provided) and the row count of `ds`. Sites add these across the
 * federation with secure aggregation; ft_model_moments_from_sums() turns the
 * totals into means and variances. FT_EINVAL for a non-finite value.
 */
int ft_model_dataset_sums(const ft_model_dataset *ds, double *sum, double *sumsq,
                          uint64_t *count) FT_WARN_UNUSED;

/* mean[i] = sum[i]/count, var[i] = sumsq[i]/count - mean[i]^2 (clamped at 0;
 * population variance). FT_EINVAL if count == 0. */
int ft_model_moments_from_sums(size_t n_features, const double *sum, const double *sumsq,
                               uint64_t count, double *mean, double *var) FT_WARN_UNUSED;

/* Both steps at once, for centralised use. */
int ft_model_dataset_moments(const ft_model_dataset *ds, double *mean,
                             double *var) FT_WARN_UNUSED;

/*
 * In place: x = (x - mean) / sqrt(var). A feature whose variance is below
 * 1e-12 (constant at this site or in the federation) is only centred.
 * FT_EINVAL for a negative or non-finite mean/var.
 */
int ft_model_dataset_standardise(ft_model_dataset *ds, const double *mean,
                                 const double *var) FT_WARN_UNUSED;

/* ---- Model specification ------------------------------------------------ */

/* Model kinds. Values appear in model files as strings, never as numbers. */
typedef enum ft_model_kind {
	FT_MODEL_LOGREG = 1,  /* binary logistic regression; n_classes == 2 */
	FT_MODEL_SOFTMAX = 2, /* multinomial (softmax) regression; n_classes >= 2 */
	FT_MODEL_LINREG = 3,  /* least-squares linear regression; n_classes == 0 */
	FT_MODEL_MLP = 4      /* multilayer perceptron; head chosen by n_classes */
} ft_model_kind;

typedef enum ft_model_activation {
	FT_MODEL_ACT_NONE = 0, /* only for models without hidden layers */
	FT_MODEL_ACT_RELU = 1,
	FT_MODEL_ACT_TANH = 2
} ft_model_activation;

/* Hard limits, checked before anything is allocated. */
#define FT_MODEL_MAX_HIDDEN 8u
#define FT_MODEL_MAX_FEATURES 65536u
#define FT_MODEL_MAX_WIDTH 16384u
#define FT_MODEL_MAX_CLASSES 1024u
#define FT_MODEL_MAX_PARAMS ((size_t)1 << 24) /* 16M float32 = 64 MiB */

/*
 * The architecture. The output head follows n_classes:
 *   0  regression: one linear output, loss 1/2 (y - f)^2 per row;
 *   2  for LOGREG and MLP: one sigmoid output, binary cross-entropy;
 *   k  for SOFTMAX (k >= 2) and MLP (k >= 3): k softmax outputs, cross-entropy.
 * Parameters are one flat float32 vector, layer by layer: the weights
 * W[out][in] (row-major), then the biases b[out].
 */
typedef struct ft_model_spec {
	uint32_t kind;       /* ft_model_kind */
	uint32_t n_features;
	uint32_t n_classes;
	uint32_t n_hidden;   /* MLP: 1..FT_MODEL_MAX_HIDDEN; others: 0 */
	uint32_t hidden[FT_MODEL_MAX_HIDDEN];
	uint32_t activation; /* ft_model_activation; NONE iff n_hidden == 0 */
} ft_model_spec;

/*
 * Parses hidden-layer widths written "64,32" (1 to FT_MODEL_MAX_HIDDEN
 * widths, each in [1, FT_MODEL_MAX_WIDTH], nothing else) into
 * spec->hidden and spec->n_hidden, which are written only on FT_OK.
 * FT_EINVAL with a message naming the bad text.
 */
int ft_model_spec_parse_hidden(const char *text, ft_model_spec *spec,
                               ft_errmsg *err) FT_WARN_UNUSED;

/*
 * Checks a spec against the rules above and the hard limits, and gives its
 * parameter count. FT_EINVAL (unknown kind, inconsistent fields) or FT_ERANGE
 * (over a limit), with a message.
 */
int ft_model_spec_check(const ft_model_spec *spec, size_t *n_params,
                        ft_errmsg *err) FT_WARN_UNUSED;

/* ---- Models ------------------------------------------------------------- */

/* Opaque: spec, parameters and the scratch space for one forward/backward
 * pass. A model is not thread-safe (forward and gradient use its scratch). */
typedef struct ft_model ft_model;

/* Allocates a model with all parameters zero. On FT_OK the caller owns *out
 * (free with ft_model_free). */
int ft_model_alloc(const ft_model_spec *spec, ft_model **out, ft_errmsg *err) FT_WARN_UNUSED;

/* Frees; accepts NULL. */
void ft_model_free(ft_model *m);

/* A deep copy (parameters included). On FT_OK the caller owns *out. */
int ft_model_clone(const ft_model *m, ft_model **out) FT_WARN_UNUSED;

const ft_model_spec *ft_model_get_spec(const ft_model *m);
size_t ft_model_n_params(const ft_model *m);
/* Number of values ft_model_predict writes: 1 for regression, else n_classes. */
size_t ft_model_n_outputs(const ft_model *m);
/* The parameter vector, owned by the model and valid as long as it. */
float *ft_model_params(ft_model *m);
const float *ft_model_params_const(const ft_model *m);

/*
 * Deterministic initialisation from a 32-byte seed: weights uniform in
 * [-a, a] with a = sqrt(6 / (fan_in + fan_out)) (Glorot), biases zero. The
 * uniform values come from the ChaCha20 keystream of the seed
 * (libsodium randombytes_buf_deterministic), so the same seed gives the same
 * model on every site and platform.
 */
int ft_model_init(ft_model *m, const uint8_t seed[32]) FT_WARN_UNUSED;

/*
 * Prediction for one row x (n_features floats). out receives
 * ft_model_n_outputs() values: the prediction for regression, class
 * probabilities (summing to 1) for classifiers (for binary heads out[0] is
 * P(class 0) and out[1] is P(class 1)). FT_EINVAL for a short buffer or a
 * non-finite input.
 */
int ft_model_predict(ft_model *m, const float *x, float *out, size_t n_out) FT_WARN_UNUSED;

/*
 * Predictions for every row of ds: out has n_rows * n_outputs floats.
 * The predicted class is the argmax of a row's probabilities.
 */
int ft_model_predict_dataset(ft_model *m, const ft_model_dataset *ds, float *out,
                             size_t n_out, ft_errmsg *err) FT_WARN_UNUSED;

/* Mean per-row loss over ds (cross-entropy or 1/2 squared error). */
int ft_model_loss(ft_model *m, const ft_model_dataset *ds, double *loss,
                  ft_errmsg *err) FT_WARN_UNUSED;

/*
 * Gradient of privacy unit `unit`'s loss (the sum over its rows) with respect
 * to the parameters, written to grad (n_params floats, overwritten); the
 * unit's summed loss goes to *loss if non-NULL. The dataset is not checked
 * here (call ft_model_dataset_check once).
 */
int ft_model_grad_unit(ft_model *m, const ft_model_dataset *ds, size_t unit, float *grad,
                       double *loss) FT_WARN_UNUSED;

/* ---- Training ------------------------------------------------------------ */

typedef enum ft_model_optimizer {
	FT_MODEL_OPT_SGD = 1,  /* SGD with (heavy-ball) momentum */
	FT_MODEL_OPT_ADAM = 2
} ft_model_optimizer;

#define FT_MODEL_MAX_STEPS 100000000ull

/*
 * Local training configuration. Every field is checked by ft_model_train.
 * The optimiser state starts fresh at each call (one call per round).
 */
typedef struct ft_model_train_config {
	double lr;             /* learning rate, > 0 */
	uint32_t epochs;       /* used when steps == 0 */
	uint64_t steps;        /* if > 0, exactly this many steps */
	uint32_t batch_units;  /* (expected) batch size in units, >= 1 */
	uint32_t optimizer;    /* ft_model_optimizer */
	double momentum;       /* SGD, in [0, 1) */
	double beta1, beta2, adam_eps; /* Adam */
	double l2;             /* L2 penalty l2/2 ||W||^2 on weights (not biases) */
	double prox_mu;        /* FedProx: mu/2 ||w - w_global||^2; 0 = off */
	const float *global_params; /* n_params floats; needed iff prox_mu > 0 */
	struct {
		int enabled;
		double clip;       /* per-unit L2 clip norm C > 0 */
		double sigma;      /* noise multiplier; std of the noise is sigma*C */
	} dp;
	/* Seed of the (non-private) batch shuffling; DP sampling ignores it and
	 * always draws from the CSPRNG. */
	uint8_t shuffle_seed[32];
	/* Non-private only: compute report->final_loss with one more pass
	 * over the data (costs a forward pass per row). */
	int eval_loss;
} ft_model_train_config;

/* Fills sensible defaults: lr 0.1, 1 epoch, batch 32, SGD momentum 0,
 * Adam betas 0.9/0.999 eps 1e-8, no L2, no FedProx, DP off, zero seed. */
void ft_model_train_config_default(ft_model_train_config *c);

/*
 * What the accountant and the audit need from one ft_model_train call. The
 * accountant composes `steps` Poisson-subsampled Gaussian steps with rate q
 * and noise multiplier sigma (meaningful only when dp is 1).
 */
typedef struct ft_model_train_report {
	int dp;                 /* 1 if DP-SGD ran */
	uint64_t steps;
	double q;               /* sampling rate batch_units / n_units (DP) */
	double sigma;
	double clip;
	uint64_t n_units;       /* units in the dataset */
	uint64_t n_rows;        /* rows in the dataset */
	uint64_t units_sampled; /* sum over steps of the units used */
	double final_loss;      /* mean per-row training loss after training if
	                         * cfg->eval_loss and not DP, else NaN (an exact
	                         * loss on patients' data would be a release the
	                         * accountant does not cover) */
} ft_model_train_report;

/*
 * Runs local training of m on ds. Without DP: `epochs` passes (or `steps`
 * steps) of minibatches of batch_units units, shuffled with shuffle_seed; the
 * gradient is the mean of the units' gradients. With DP (DP-SGD per unit):
 * each step includes every unit independently with probability
 * q = batch_units / n_units (CSPRNG), clips each included unit's gradient to
 * L2 norm C, sums them, adds Gaussian noise of std z*C per coordinate
 * (ft_privacy_noise_add), where z is ft_privacy_noise_multiplier_required(
 * sigma, n_params) >= sigma, so that the accounted multiplier sigma holds
 * despite the sampler's grid rounding, and divides by q * n_units. The L2 and FedProx
 * terms depend on no patient and are added after the noise. Steps per epoch
 * are ceil(n_units / batch_units) in both modes. dp.sigma = 0 (clipping
 * without noise) is accepted for experiments; the report then carries
 * sigma 0, which the accountant charges as infinite epsilon.
 * Scratch is allocated once per call. On FT_OK the parameters are updated
 * and *report (if non-NULL) is filled; on error the parameters may be
 * partly updated (FT_ERANGE if they diverged to non-finite values).
 */
int ft_model_train(ft_model *m, const ft_model_dataset *ds, const ft_model_train_config *cfg,
                   ft_model_train_report *report, ft_errmsg *err) FT_WARN_UNUSED;

/* ---- Metrics -------------------------------------------------------------- */

/* Fraction of i with y_true[i] == y_pred[i] (class indices as floats). */
int ft_model_metric_accuracy(const float *y_true, const float *y_pred, size_t n,
                             double *out) FT_WARN_UNUSED;

/*
 * Area under the ROC curve of scores for labels in {0, 1}: the Mann-Whitney
 * statistic with tied scores given their average rank. FT_EINVAL if a label
 * is not 0/1, a score is not finite, or one class is absent. Allocates
 * n indices.
 */
int ft_model_metric_auc(const float *y_true, const float *score, size_t n,
                        double *out) FT_WARN_UNUSED;

/* Mean cross-entropy of probs (n rows of k >= 2 probabilities) for class
 * labels y_true; probabilities are clipped to [1e-15, 1]. */
int ft_model_metric_logloss(const float *y_true, const float *probs, size_t n, size_t k,
                            double *out) FT_WARN_UNUSED;

int ft_model_metric_rmse(const float *y_true, const float *y_pred, size_t n,
                         double *out) FT_WARN_UNUSED;
int ft_model_metric_mae(const float *y_true, const float *y_pred, size_t n,
                        double *out) FT_WARN_UNUSED;

/* Metrics of m on ds: classifiers fill accuracy, logloss and (binary only)
 * auc; regressors fill rmse and mae; unused fields are NaN. */
typedef struct ft_model_eval {
	double accuracy, auc, logloss, rmse, mae;
} ft_model_eval;
int ft_model_evaluate(ft_model *m, const ft_model_dataset *ds, ft_model_eval *out,
                      ft_errmsg *err) FT_WARN_UNUSED;

/* ---- Metadata ------------------------------------------------------------- */

#define FT_MODEL_META_MAX_ENTRIES 64u
#define FT_MODEL_META_MAX_KEY 64u    /* bytes, excluding the NUL */
#define FT_MODEL_META_MAX_STR 65536u /* bytes, excluding the NUL */

/* String-keyed metadata stored in model files (run, round, created, ...).
 * Values are strings, signed integers or doubles. Keys are unique. */
typedef struct ft_model_meta ft_model_meta;

typedef enum ft_model_meta_type {
	FT_MODEL_META_STR = 1,
	FT_MODEL_META_INT = 2,
	FT_MODEL_META_DOUBLE = 3
} ft_model_meta_type;

/* On FT_OK the caller owns *out (free with ft_model_meta_free). */
int ft_model_meta_alloc(ft_model_meta **out) FT_WARN_UNUSED;
void ft_model_meta_free(ft_model_meta *meta);

/* Set (insert or replace) a value; the strings are copied. FT_ERANGE past a
 * limit, FT_EINVAL for an empty key, embedded NUL or non-finite double. */
int ft_model_meta_set_str(ft_model_meta *meta, const char *key, const char *value) FT_WARN_UNUSED;
int ft_model_meta_set_int(ft_model_meta *meta, const char *key, int64_t value) FT_WARN_UNUSED;
int ft_model_meta_set_double(ft_model_meta *meta, const char *key, double value) FT_WARN_UNUSED;

/* Lookups: FT_ENOTFOUND if absent, FT_EINVAL if the type differs. The string
 * returned by get_str is owned by meta. */
size_t ft_model_meta_count(const ft_model_meta *meta);
int ft_model_meta_get_str(const ft_model_meta *meta, const char *key, const char **value) FT_WARN_UNUSED;
int ft_model_meta_get_int(const ft_model_meta *meta, const char *key, int64_t *value) FT_WARN_UNUSED;
int ft_model_meta_get_double(const ft_model_meta *meta, const char *key, double *value) FT_WARN_UNUSED;

/*
 * A vector of n doubles as one metadata string ("a,b,c", each %.9g), e.g.
 * the standardisation moments that prediction must apply. _set gives
 * FT_ERANGE if the text would exceed FT_MODEL_META_MAX_STR (about 3,800
 * values). _get parses exactly n finite values into v (written only on
 * FT_OK): FT_ENOTFOUND if the key is absent or not a string, FT_EFORMAT for
 * any other count or a bad value. Both allocate only a temporary.
 */
int ft_model_meta_set_vector(ft_model_meta *meta, const char *key, const double *v,
                             size_t n) FT_WARN_UNUSED;
int ft_model_meta_get_vector(const ft_model_meta *meta, const char *key, double *v,
                             size_t n) FT_WARN_UNUSED;

/* ---- Model files (docs/PROTOCOL.md, "Model files") ------------------------ */

#define FT_MODEL_FILE_VERSION 1u
#define FT_MODEL_FILE_MAX_BYTES ((size_t)80 << 20)

/*
 * Encodes m and meta (may be NULL: no metadata) into a fresh buffer. On FT_OK
 * the caller owns *buf (free with ft_free).
 */
int ft_model_encode(const ft_model *m, const ft_model_meta *meta, uint8_t **buf,
                    size_t *len) FT_WARN_UNUSED;

/*
 * Decodes a model file held in memory; the input is treated as hostile.
 * Checks every size and count against the remaining bytes and the limits
 * before anything is allocated, the nesting depth, the spec, finite
 * parameters, the canonical encoding and the BLAKE2b-256 hash. On FT_OK the
 * caller owns *out and, if meta_out is non-NULL, *meta_out. FT_EFORMAT
 * (malformed, non-canonical, truncated), FT_ECRYPTO (hash mismatch),
 * FT_ERANGE (over a limit), FT_ENOMEM, each with a message in err.
 */
int ft_model_decode(const uint8_t *buf, size_t len, ft_model **out, ft_model_meta **meta_out,
                    ft_errmsg *err) FT_WARN_UNUSED;

/* Writes the encoding atomically: a temporary file in the same directory,
 * fsync, rename, fsync of the directory. Replaces an existing file. */
int ft_model_save(const ft_model *m, const ft_model_meta *meta, const char *path,
                  ft_errmsg *err) FT_WARN_UNUSED;

/* Reads (at most FT_MODEL_FILE_MAX_BYTES) and decodes a model file. */
int ft_model_load(const char *path, ft_model **out, ft_model_meta **meta_out,
                  ft_errmsg *err) FT_WARN_UNUSED;


/* ---- Server optimisers (models/ft_model_server.c) ----------------------- */

/*
 * The optimisers a coordinator (or the simulator) applies to the global
 * parameter vector once per round, given the round's mean client update
 * Delta_t (the mean of delta_i = local_i - global over the surviving sites).
 * Reddi et al. 2021, "Adaptive Federated Optimization", Algorithm 2, without
 * bias correction, as in the paper:
 *   FEDAVG:     x <- x + eta * Delta
 *   otherwise:  m <- beta1 m + (1 - beta1) Delta
 *     FEDADAGRAD: v <- v + Delta^2
 *     FEDYOGI:    v <- v - (1 - beta2) Delta^2 sign(v - Delta^2)
 *     FEDADAM:    v <- beta2 v + (1 - beta2) Delta^2
 *               x <- x + eta * m / (sqrt(v) + tau)
 * all per coordinate, m starting at 0 and v at tau^2 (the paper's
 * v_{-1} >= tau^2). The state (m, v) is kept in double precision.
 * With eta = 1, FEDAVG is plain federated averaging.
 *
 * Which mean: the protocol's secure sum carries, per site, the clipped
 * delta multiplied by the site's weight w_i in [0, 1], plus w_i itself as
 * one extra element, so the server learns only sum(w_i delta_i) and
 * sum(w_i) and Delta = sum(w_i delta_i) / sum(w_i) (ft_model_server_mean).
 * With w_i = n_i / n_cap (n_i the site's training units, n_cap a public
 * cap) this is FedAvg's sample-weighted mean; without weights (w_i = 1 and
 * no extra element) it is the unweighted mean over the survivors, whose
 * number the secure-aggregation server knows anyway.
 */
typedef enum ft_model_server_kind {
	FT_MODEL_SERVER_FEDAVG = 1,
	FT_MODEL_SERVER_FEDADAM = 2,
	FT_MODEL_SERVER_FEDYOGI = 3,
	FT_MODEL_SERVER_FEDADAGRAD = 4
} ft_model_server_kind;

typedef struct ft_model_server_config {
	uint32_t kind;  /* ft_model_server_kind */
	double lr;      /* server learning rate eta, > 0 */
	double beta1;   /* [0, 1) */
	double beta2;   /* [0, 1) (FEDADAM, FEDYOGI) */
	double tau;     /* adaptivity, > 0 (not FEDAVG) */
} ft_model_server_config;

/* Defaults for `kind`: FEDAVG eta 1; the adaptive ones eta 0.1 (FEDADAGRAD
 * 0.1 too), beta1 0.9, beta2 0.99, tau 1e-3 (Reddi et al.'s grid centre).
 * FT_EINVAL for an unknown kind (c untouched). */
int ft_model_server_config_default(ft_model_server_config *c, uint32_t kind) FT_WARN_UNUSED;

/* Parses "fedavg", "fedadam", "fedyogi", "fedadagrad" into *kind; FT_EINVAL
 * otherwise. ft_model_server_kind_name gives the name back ("?" if unknown). */
int ft_model_server_kind_parse(const char *name, uint32_t *kind) FT_WARN_UNUSED;
const char *ft_model_server_kind_name(uint32_t kind);

/* Opaque: the config, the round count and the moment vectors. */
typedef struct ft_model_server ft_model_server;

/*
 * A fresh optimiser over n_params parameters (1..FT_MODEL_MAX_PARAMS, checked
 * before allocating). FT_EINVAL for a bad config, FT_ERANGE for n_params.
 * On FT_OK the caller owns *out (free with ft_model_server_free).
 */
int ft_model_server_alloc(const ft_model_server_config *cfg, size_t n_params,
                          ft_model_server **out, ft_errmsg *err) FT_WARN_UNUSED;

/* Frees; accepts NULL. */
void ft_model_server_free(ft_model_server *s);

const ft_model_server_config *ft_model_server_get_config(const ft_model_server *s);
size_t ft_model_server_n_params(const ft_model_server *s);
/* Steps applied so far. */
uint64_t ft_model_server_rounds(const ft_model_server *s);

/*
 * One server step: updates params (n floats, n == the optimiser's n_params)
 * in place with the mean update mean_delta (n floats). FT_EINVAL for a size
 * mismatch or a non-finite mean_delta (nothing changed); FT_ERANGE if a
 * parameter would become non-finite (nothing changed: params and the state
 * are written only when every coordinate is finite). Pure computation, no
 * I/O; allocates nothing.
 */
int ft_model_server_step(ft_model_server *s, float *params, size_t n,
                         const float *mean_delta) FT_WARN_UNUSED;

/*
 * The mean update from a decoded secure sum: `sum` has d floats (weighted:
 * d = n_params + 1, the last being the summed weight; unweighted: d =
 * n_params). Writes n_params floats to mean: sum[j] / sum[n_params]
 * (weighted) or sum[j] / n_surv. FT_EINVAL if the divisor is not > 0 (a
 * weighted sum whose total weight decoded to <= 1e-9 counts as empty) or a
 * value is not finite.
 */
int ft_model_server_mean(const float *sum, size_t d, int weighted, uint32_t n_surv,
                         float *mean, size_t n_params) FT_WARN_UNUSED;

/*
 * State serialisation, so a coordinator can persist the optimiser (e.g. in
 * SQLite) after each round and resume after a crash. Format
 * (little-endian): "FTSO", version byte 1, kind byte, two zero bytes,
 * uint64 n_params, uint64 rounds, doubles lr, beta1, beta2, tau, then (not
 * for FEDAVG) n_params doubles m and n_params doubles v: 64 bytes, plus
 * 16 n_params for the adaptive kinds.
 * _encode: on FT_OK the caller owns *buf (ft_free) of *len bytes.
 * _decode treats the input as hostile: exact length (checked against
 * n_params before allocating), valid config, finite m, finite v >= 0;
 * FT_EFORMAT otherwise, with a message. On FT_OK the caller owns *out.
 */
#define FT_MODEL_SERVER_STATE_VERSION 1u
#define FT_MODEL_SERVER_HDR_BYTES 64u
int ft_model_server_encode(const ft_model_server *s, uint8_t **buf, size_t *len) FT_WARN_UNUSED;
int ft_model_server_decode(const uint8_t *buf, size_t len, ft_model_server **out,
                           ft_errmsg *err) FT_WARN_UNUSED;


/* ---- Round encodings that sites and the server share (ft_model_stats.c) --
 *
 * Both sides of a round must agree on the fixed-point parameters, and the
 * server decodes what the sites encode: these live here, below both the
 * node and the coordinator.
 */

/*
 * Encoding of site updates (docs/PROTOCOL.md, "The update vector"):
 * clip max(C_u, 1 if weighted) - the weight rides in the same vector - in
 * Z_2^bits for a sum of up to n_sites vectors (ft_crypto_fxp_init).
 * FT_EINVAL for a bad C_u; FT_ERANGE if even scale 1 does not fit.
 */
int ft_model_update_fxp_init(ft_crypto_fxp *fxp, double update_clip, int weighted,
                             unsigned bits, uint32_t n_sites) FT_WARN_UNUSED;

/* Federated standardisation (docs/PRIVACY.md, "Federated standardisation").
 *
 * Means and variances of every feature over all sites' patients, from ONE
 * secure sum of noisy per-site vectors. The run carries PUBLIC per-feature
 * ranges [lo_j, hi_j] (a data dictionary, never the data's own extremes,
 * ft_model_ranges). A site clips each value to its range and maps it to
 *   u = (2 x - lo_j - hi_j) / (hi_j - lo_j)  in [-1, 1],
 * averages u and u^2 over each patient's records (a patient with many
 * records counts once), and contributes (ft_node_stats_site)
 *   [ sum_patients a_j (j < p) | sum_patients (b_j - 1/2) (j < p) | n_patients ]
 * with a_j, b_j the patient's means of u_j and u_j^2, of length 2p + 1, to
 * which it adds discrete Gaussian noise (ft_node_stats_noise) before secure
 * aggregation. One patient adds or removes the vector (a, b - 1/2, 1), of
 * squared L2 norm at most sum_j (a_j^2 + (b_j - 1/2)^2) + 1 <= 5p/4 + 1,
 * since a_j^2 <= b_j <= 1 and b_j^2 + (b_j - 1/2)^2 <= 5/4 on [0, 1]
 * (centring the squares at 1/2 is what brings 2p + 1 down to 5p/4 + 1):
 * ft_model_stats_sensitivity. Every element lies in [-N, N] for N the
 * public cap on patients per site, so one fixed-point encoding (clip N,
 * ft_model_stats_fxp_init) serves the whole vector.
 */
/* The public cap on one site's patients in a statistics release: it sizes
 * the fixed-point encoding of the count, so every site and the coordinator
 * use this one constant (a site never takes the cap from an announcement:
 * refusals at a cap the coordinator chooses would reveal its count). */
#define FT_MODEL_STATS_MAX_UNITS 100000u

size_t ft_model_stats_len(size_t n_features);

/* The L2 sensitivity of a site's stats vector to one patient:
 * sqrt(5 n_features / 4 + 1). Depends on nothing but the feature count. */
double ft_model_stats_sensitivity(size_t n_features);

/* Fixed-point parameters for stats vectors: clip max_rows (the public cap
 * on a site's patients, 1..2^40), bits, n_sites summands. */
int ft_model_stats_fxp_init(ft_crypto_fxp *fxp, uint64_t max_rows, unsigned bits,
                            uint32_t n_sites) FT_WARN_UNUSED;

/* The smallest variance ft_model_stats_finish reports, in units of the
 * half-range squared: a standard deviation of at least 1/8 of the
 * half-range. Noise can make the estimated variance tiny or negative; a
 * feature divided by a tiny standard deviation would swamp the model, one
 * divided by a too large one only learns more slowly. */
#define FT_MODEL_STATS_VAR_FLOOR (1.0 / 64.0)

/*
 * Turns the decoded (noisy) secure sum of stats vectors (len floats) made
 * with ranges lo, hi (n_features each) into per-feature mean and
 * (population) variance of the clipped x (n_features doubles each, the
 * caller's), and the noisy patient count rounded (*count, may be NULL).
 * The mean of u is kept in [-1, 1] and the variance of u in
 * [FT_MODEL_STATS_VAR_FLOOR, 1] (noise can leave them outside); a noisy
 * count below 1 is taken as 1 (post-processing: the release's retries
 * re-send the same vectors, so failing would fail them all). FT_EINVAL if a
 * value is not finite or a range is empty. Pure computation.
 */
int ft_model_stats_finish(const float *sum, size_t len, size_t n_features, const double *lo,
                          const double *hi, double *mean, double *var,
                          uint64_t *count) FT_WARN_UNUSED;

/* ---- Public feature ranges (models/ft_model_ranges.c) ---------------------
 *
 * The text format of `--feature-ranges FILE` (docs/OPERATIONS.md): one
 * feature per line, "NAME LO HI", separated by spaces or tabs; "#" starts a
 * comment to the end of the line; blank lines are ignored. NAME is 1..64
 * printable characters without spaces, unique; LO < HI, both finite. At
 * most FT_MODEL_MAX_FEATURES lines, FT_MODEL_RANGES_MAX_BYTES bytes.
 */
#define FT_MODEL_RANGES_MAX_BYTES ((size_t)1 << 20)
#define FT_MODEL_RANGES_NAME_MAX 64u

typedef struct ft_model_ranges {
	size_t n;
	char **name;   /* n NUL-terminated names, in file order */
	double *lo;    /* n */
	double *hi;    /* n */
} ft_model_ranges;

/* Parses text (len bytes, need not be NUL-terminated). FT_EFORMAT with the
 * line number in err for anything else. On FT_OK the caller owns *out. */
int ft_model_ranges_parse(const char *text, size_t len, ft_model_ranges **out,
                          ft_errmsg *err) FT_WARN_UNUSED;
/* Reads and parses a file (FT_EIO if it cannot be read). */
int ft_model_ranges_load(const char *path, ft_model_ranges **out, ft_errmsg *err) FT_WARN_UNUSED;
/* Frees; accepts NULL. */
void ft_model_ranges_free(ft_model_ranges *r);
/* Index of `name`; FT_ENOTFOUND if absent. */
int ft_model_ranges_find(const ft_model_ranges *r, const char *name, size_t *idx) FT_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif /* FT_MODEL_H */
