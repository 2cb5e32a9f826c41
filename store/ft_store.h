/*
 * ft_store.h - the site data store: everything a hospital node keeps about
 * its own patients. Raw records never leave it.
 *
 *  - a strict, streaming CSV reader (ft_store_csv_*), reusable by tools that
 *    read clinical tables;
 *  - an SQLite database (ft_store_open / ft_store_close) holding datasets,
 *    patients with their consent state, records, the append-only consent
 *    history, and the site's own privacy policy and privacy ledger. The
 *    schema and its user_version are in docs/PROTOCOL.md, "Site store
 *    (SQLite)";
 *  - CSV import in one transaction, consent grant/revoke, and the training
 *    load that returns only consented patients' records, grouped by patient;
 *  - the `fedtwin node` subcommands (ft_store_cli_main).
 *
 * Knows base, crypto (file hashes), privacy (the RDP accountant replays the
 * ledger) and models (ft_model_dataset).
 *
 * Threads: an ft_store handle may be used by one thread at a time; several
 * processes or handles may open the same file (SQLite WAL, busy timeout).
 * The CSV reader is single-threaded. Nothing here keeps global state.
 */
#ifndef FT_STORE_H
#define FT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "ft_base.h"
#include "ft_model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== Strict CSV reader =============================================== */

/*
 * Input: comma-separated, one header row, then data rows. Records end with
 * "\n" or "\r\n" (the last one may lack it). A field may be quoted with '"';
 * inside quotes a doubled quote is a literal quote and commas and newlines
 * are data. A UTF-8 byte-order mark at the start is skipped. Lines that are
 * completely empty are skipped (they still count for line numbers).
 *
 * Rejected, with FT_EFORMAT and a message naming the line (1 = header) and,
 * where there is one, the column: an empty file, a file with a header only,
 * empty or duplicate column names, rows with more or fewer fields than the
 * header, a record longer than max_record_bytes, more than max_columns
 * columns or max_rows data rows (FT_ERANGE), NUL bytes, invalid UTF-8, a
 * quote inside an unquoted field, text after a closing quote, an unterminated
 * quote, and a bare carriage return. Limits are checked before allocating.
 */
#define FT_STORE_CSV_MAX_RECORD_BYTES ((size_t)1 << 20) /* 1 MiB */
#define FT_STORE_CSV_MAX_COLUMNS ((size_t)4096)
#define FT_STORE_CSV_MAX_ROWS ((size_t)10000000)

typedef struct ft_store_csv_limits {
	size_t max_record_bytes; /* 0: FT_STORE_CSV_MAX_RECORD_BYTES */
	size_t max_columns;      /* 0: FT_STORE_CSV_MAX_COLUMNS */
	size_t max_rows;         /* data rows; 0: FT_STORE_CSV_MAX_ROWS */
} ft_store_csv_limits;

typedef struct ft_store_csv ft_store_csv;

/*
 * Opens `path` and reads its header row. `limits` may be NULL (defaults).
 * Messages start with the file's name. Returns FT_OK, FT_EIO (cannot open
 * or read), FT_EFORMAT / FT_ERANGE (bad header), FT_ENOMEM. On FT_OK the
 * caller owns *out (ft_store_csv_close).
 */
int ft_store_csv_open(const char *path, const ft_store_csv_limits *limits,
                      ft_store_csv **out, ft_errmsg *err) FT_WARN_UNUSED;

/*
 * The same over `len` bytes at `buf` (which must stay valid until close);
 * `name` is used in messages. For tests and fuzzing.
 */
int ft_store_csv_open_mem(const void *buf, size_t len, const char *name,
                          const ft_store_csv_limits *limits, ft_store_csv **out,
                          ft_errmsg *err) FT_WARN_UNUSED;

/* Closes the reader (and its file); accepts NULL. */
void ft_store_csv_close(ft_store_csv *csv);

/* Number of columns, and the name of column `col` (owned by the reader,
 * valid until close; NULL if col is out of range). */
size_t ft_store_csv_columns(const ft_store_csv *csv);
const char *ft_store_csv_column_name(const ft_store_csv *csv, size_t col);

/*
 * Index of the column called `name`. FT_ENOTFOUND, with a message listing
 * the columns, if there is none. *col is written only on FT_OK.
 */
int ft_store_csv_find(const ft_store_csv *csv, const char *name, size_t *col,
                      ft_errmsg *err) FT_WARN_UNUSED;

/*
 * Reads the next data row. On FT_OK *has_row is 1 and the row's fields are
 * available until the next call, or *has_row is 0 at the end of the input
 * (FT_EFORMAT instead if the file had no data row at all). Errors are sticky:
 * after one, every call returns it again.
 */
int ft_store_csv_next(ft_store_csv *csv, int *has_row, ft_errmsg *err) FT_WARN_UNUSED;

/* Line on which the current row starts (the header is line 1). */
size_t ft_store_csv_line(const ft_store_csv *csv);

/* Data rows read so far. */
size_t ft_store_csv_rows(const ft_store_csv *csv);

/* Field `col` of the current row, unquoted and NUL-terminated (owned by the
 * reader until the next ft_store_csv_next); NULL if there is no such field. */
const char *ft_store_csv_field(const ft_store_csv *csv, size_t col);

/* 1 if field `col` of the current row is missing: empty, or the literal NA. */
int ft_store_csv_is_na(const ft_store_csv *csv, size_t col);

/*
 * Field `col` of the current row as a number (ft_parse_double: the whole
 * field, finite). A missing field sets *is_na = 1 and leaves *out alone;
 * otherwise *is_na = 0 and *out is written. FT_EFORMAT / FT_ERANGE with
 * "FILE: line L, column 'C': ..." if it is not a number.
 */
int ft_store_csv_number(const ft_store_csv *csv, size_t col, double *out, int *is_na,
                        ft_errmsg *err) FT_WARN_UNUSED;

/*
 * BLAKE2b-256 of every byte read so far; after *has_row == 0, of the whole
 * input. Records which file an import came from.
 */
void ft_store_csv_hash(const ft_store_csv *csv, uint8_t out[32]);

/* ==== The SQLite store ================================================= */

typedef struct ft_store ft_store;

/* Schema version this code writes (PRAGMA user_version); see
 * docs/PROTOCOL.md, "Site store (SQLite)". */
#define FT_STORE_SCHEMA_VERSION 2

/* Default file name used by the CLI. */
#define FT_STORE_DEFAULT_PATH "fedtwin-site.db"

/*
 * Opens or creates the store at `path`. A new file is created with mode
 * 0600; an existing file that group or others may read is refused (FT_EPERM,
 * the message says to chmod 600). Sets WAL, foreign keys, a busy timeout and
 * full sync, then applies pending schema migrations in one transaction.
 * Refuses (FT_ESTATE) a database whose schema is newer than this code, and
 * (FT_EFORMAT) an SQLite file that is not a fedtwin site store. Other
 * errors: FT_EIO, FT_EDB, FT_ENOMEM. Calls ft_crypto_init(). On FT_OK the
 * caller owns *out (ft_store_close).
 */
int ft_store_open(const char *path, ft_store **out, ft_errmsg *err) FT_WARN_UNUSED;

/* Closes the store; accepts NULL. */
void ft_store_close(ft_store *store);

/* Schema version of the open store (FT_STORE_SCHEMA_VERSION after open). */
int ft_store_schema_version(ft_store *store);

/* ---- Import ----------------------------------------------------------- */

typedef enum ft_store_na_policy {
	FT_STORE_NA_ERROR = 0, /* a missing value is an error (default) */
	FT_STORE_NA_SKIP = 1   /* rows with a missing value are skipped and counted */
} ft_store_na_policy;

/*
 * Import options. Only `target` is required; zero/NULL means the default.
 * Missing values in any used column (target, features, patient id, consent)
 * follow `na`.
 */
typedef struct ft_store_import_opts {
	const char *target;      /* target column (numeric) */
	const char *patient_id;  /* patient key column; NULL: each row its own patient */
	const char *consent;     /* 0/1 column; NULL: every new patient consents */
	const char *const *features; /* feature columns in order, n_features of them;
	                                NULL: all but target, patient id and consent */
	size_t n_features;
	const char *dataset;     /* NULL: the file name without directory and ".csv" */
	ft_store_na_policy na;
	size_t max_rows;         /* 0: FT_STORE_CSV_MAX_ROWS */
} ft_store_import_opts;

#define FT_STORE_DATASET_MAX 128 /* longest dataset name, bytes */

typedef struct ft_store_import_result {
	char dataset[FT_STORE_DATASET_MAX + 1]; /* the dataset imported into */
	size_t rows;          /* records imported */
	size_t patients;      /* distinct patients among them */
	size_t new_patients;  /* of which were not yet in the store */
	size_t skipped;       /* rows skipped for a missing value (FT_STORE_NA_SKIP) */
	size_t revoked;       /* patients whose consent the file withdrew */
	int created_dataset;  /* 1 if the dataset was created by this import */
} ft_store_import_result;

/*
 * Imports the CSV at `path` into a dataset, all in ONE transaction: on any
 * error nothing is left behind. A new dataset records its target and feature
 * names; importing into an existing dataset with another target or other
 * features (names or order) is refused (FT_EEXIST). Patients are keyed by
 * the patient-id column's text (site-local; never leaves the site) or, by
 * default, "<dataset>#<n>" with n the record's number in the dataset.
 * Consent from the file can withdraw consent but never re-grant it: a patient
 * already revoked stays revoked (use ft_store_consent_set). Every consent
 * state set by an import is recorded as a consent event by actor "import".
 * Errors: FT_EFORMAT / FT_ERANGE / FT_EIO (CSV; the message names file, line
 * and column, and suggests `--na skip` for missing values), FT_ENOTFOUND (a
 * named column is not in the file), FT_EINVAL (bad options), FT_EEXIST,
 * FT_EDB, FT_ENOMEM. `*result` is written only on FT_OK; it may be NULL.
 */
int ft_store_import_csv(ft_store *store, const char *path, const ft_store_import_opts *opts,
                        ft_store_import_result *result, ft_errmsg *err) FT_WARN_UNUSED;

/* ---- Consent ---------------------------------------------------------- */

/*
 * Grants (granted = 1) or revokes (granted = 0) consent for the patient with
 * site-local key `patient_key`, and appends a consent event naming `actor`
 * (non-empty, e.g. the operator's user name). Takes effect for every
 * training load that starts afterwards. FT_ENOTFOUND if there is no such
 * patient, FT_EINVAL for bad arguments, FT_EDB.
 */
int ft_store_consent_set(ft_store *store, const char *patient_key, int granted,
                         const char *actor, ft_errmsg *err) FT_WARN_UNUSED;

/*
 * The id of the newest withdrawal (granted = 0) in the append-only consent
 * history, or 0 if there is none. It only grows, so anything computed from
 * the patients consented when it was h is stale once it exceeds h (a node
 * keeps it beside a saved update). FT_EDB; *out written only on FT_OK.
 */
int ft_store_consent_withdrawn_head(ft_store *store, int64_t *out, ft_errmsg *err)
    FT_WARN_UNUSED;

/* ---- Training load ---------------------------------------------------- */

typedef struct ft_store_load_stats {
	size_t patients_used;     /* consented patients with records in the dataset */
	size_t records_used;      /* their records (rows of the returned dataset) */
	size_t patients_excluded; /* patients with records whose consent is withdrawn */
} ft_store_load_stats;

/*
 * Loads dataset `dataset` for training: ONLY consented patients' records,
 * filtered in SQL so withdrawn patients' records are never read. Rows are
 * grouped by patient (unit_offset: one unit per patient), and feature_names
 * are set. One read transaction, so the rows, the units and the stats agree.
 * FT_ENOTFOUND for an unknown dataset, FT_ERANGE if it is too large for an
 * ft_model_dataset, FT_EDB (also for a corrupt record), FT_ENOMEM. A dataset
 * with no consented record is returned empty (n_rows == 0). On FT_OK the
 * caller owns *out (ft_model_dataset_free); `stats` may be NULL and is
 * written only on FT_OK.
 */
int ft_store_load_training(ft_store *store, const char *dataset, ft_model_dataset **out,
                           ft_store_load_stats *stats, ft_errmsg *err) FT_WARN_UNUSED;

/* ---- Counts for status displays --------------------------------------- */

typedef struct ft_store_counts {
	size_t datasets;
	size_t patients;
	size_t consented;
	size_t records;
	size_t consent_events;
	size_t ledger_events;
} ft_store_counts;

/* Totals over the whole store. FT_EDB on error; *out written only on FT_OK. */
int ft_store_counts_get(ft_store *store, ft_store_counts *out, ft_errmsg *err) FT_WARN_UNUSED;

/* ---- Privacy policy and ledger ---------------------------------------- */

/*
 * The site's privacy policy, set by the site operator and never by the
 * coordinator: the largest epsilon one training run may reach, the largest
 * epsilon the store's patients may spend over the store's lifetime, and the
 * delta at which epsilons are stated.
 */
typedef struct ft_store_policy {
	double max_eps_run;   /* > 0 */
	double max_eps_total; /* >= max_eps_run */
	double delta;         /* in (0, 1) */
	int64_t set_at_ms;    /* Unix time, milliseconds (output only) */
} ft_store_policy;

/*
 * Sets (replaces) the policy; every change is also appended to the policy
 * history. FT_EINVAL if a value is out of range (the message names it).
 */
int ft_store_policy_set(ft_store *store, double max_eps_run, double max_eps_total,
                        double delta, ft_errmsg *err) FT_WARN_UNUSED;

/*
 * Reads the policy. FT_ENOTFOUND if none was ever set (the message says how
 * to set one), FT_EDB. *out written only on FT_OK.
 */
int ft_store_policy_get(ft_store *store, ft_store_policy *out, ft_errmsg *err) FT_WARN_UNUSED;

/*
 * One privacy event: `steps` steps of the subsampled Gaussian mechanism with
 * sampling rate q (of patients) and noise multiplier sigma, in round `round`
 * of training run `run_id`, accounted at `delta`. This is exactly what an
 * RDP accountant needs to replay the ledger, in `seq` order.
 */
#define FT_STORE_RUN_ID_MAX 128
typedef struct ft_store_ledger_event {
	int64_t seq;      /* position in the ledger, from 1 (output only) */
	char run_id[FT_STORE_RUN_ID_MAX + 1];
	uint64_t round;
	double q;         /* (0, 1] */
	double sigma;     /* > 0 */
	uint64_t steps;   /* >= 1 */
	double delta;     /* (0, 1) */
	int64_t at_ms;    /* Unix time, milliseconds (set by the store) */
} ft_store_ledger_event;

/*
 * Appends `ev` (seq and at_ms are ignored and set by the store) and makes it
 * durable (synchronous commit) before returning: call it BEFORE anything
 * derived from that training is released. A (run_id, round) pair can be
 * charged only once: FT_EEXIST if it is already in the ledger. FT_EINVAL for
 * out-of-range values, FT_EDB. The ledger is append-only (enforced by
 * triggers). If `seq` is non-NULL it receives the event's seq on FT_OK.
 */
int ft_store_ledger_append(ft_store *store, const ft_store_ledger_event *ev, int64_t *seq,
                           ft_errmsg *err) FT_WARN_UNUSED;

/*
 * Calls fn(ctx, ev) for every ledger event in seq order, or only those of
 * `run_id` if it is non-NULL. `ev` is valid during the call only. A non-zero
 * return from fn stops the walk and is returned (err is not set then). One
 * read transaction.
 */
typedef int (*ft_store_ledger_fn)(void *ctx, const ft_store_ledger_event *ev);
int ft_store_ledger_foreach(ft_store *store, const char *run_id, ft_store_ledger_fn fn,
                            void *ctx, ft_errmsg *err) FT_WARN_UNUSED;

/*
 * Would training run `run_id` with `steps` more steps at sampling rate q and
 * noise multiplier sigma stay within the site's policy? Replays the whole
 * ledger through the privacy module's RDP accountant, then adds the planned
 * steps, and states both epsilons at the policy's delta: *eps_run for the
 * run's own events plus the plan, *eps_total for every event plus the plan.
 * FAILS CLOSED: FT_EPERM if no policy is set (the message says how to set
 * one), FT_EBUDGET if either epsilon would exceed its limit (the message
 * gives that epsilon and the limit), FT_EDB / FT_ENOMEM / FT_EINVAL on any
 * other failure, including a ledger row the accountant rejects;
 * only FT_OK permits training. *eps_run and *eps_total are written on
 * FT_OK and on FT_EBUDGET.
 */
int ft_store_policy_check(ft_store *store, const char *run_id, double q, double sigma,
                          uint64_t steps, double *eps_run, double *eps_total,
                          ft_errmsg *err) FT_WARN_UNUSED;

/*
 * ft_store_policy_check for event `ev` and, if it passes, ft_store_ledger_append
 * of it, in ONE write transaction: two processes cannot both pass the check
 * and together overspend. Returns as ft_store_policy_check, plus FT_EEXIST
 * if the round is already charged. On FT_OK the event is durable; release
 * the training result only after that.
 */
int ft_store_policy_charge(ft_store *store, const ft_store_ledger_event *ev, double *eps_run,
                           double *eps_total, ft_errmsg *err) FT_WARN_UNUSED;

/*
 * Epsilon spent so far, at the policy's delta: by run `run_id`, or by the
 * whole store if run_id is NULL. FT_ENOTFOUND if no policy is set (there is
 * no delta to state it at).
 */
int ft_store_privacy_spent(ft_store *store, const char *run_id, double *eps,
                           ft_errmsg *err) FT_WARN_UNUSED;

/* ==== CLI ============================================================= */

/*
 * The `fedtwin node` store subcommands; argv[0] is the subcommand:
 *   import --csv FILE --target COL [--patient-id COL] [--consent COL]
 *          [--features A,B,...] [--dataset NAME] [--na error|skip]
 *   consent grant|revoke PATIENT [--actor NAME]
 *   policy set --max-epsilon-run E --max-epsilon-total E --delta D
 *   policy show
 *   ledger show [--run ID]     (one event per line, then the epsilon spent)
 *   status
 * Every command takes --store PATH (default FT_STORE_DEFAULT_PATH). Output
 * is plain line-oriented text on stdout; errors go to stderr. Returns the
 * exit status: 0 success, 1 error, 2 usage.
 */
int ft_store_cli_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif /* FT_STORE_H */
