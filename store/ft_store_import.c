/*
 * ft_store_import.c - CSV import into the site store: column resolution,
 * the dataset's fixed shape, patients and their consent, and records, all
 * in one transaction so that a failed import leaves nothing behind.
 */
#include "ft_store.h"
#include "store_int.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ft_crypto.h"

#define NO_COLUMN ((size_t)-1)

/* Everything one import works with; freed by import_ctx_free. */
typedef struct import_ctx {
	ft_store *s;
	const ft_store_import_opts *o;
	ft_store_csv *csv;
	char *dataset;         /* dataset name */
	size_t target, pid, consent;
	size_t *feat;          /* CSV column of each feature */
	size_t n_feat;
	uint8_t *blob;         /* n_feat little-endian float32 */
	int64_t dataset_id;
	int64_t base_records;  /* records in the dataset before this import */
	int64_t last_record;   /* largest records.id before this import */
	int64_t now_ms;
	sqlite3_stmt *sel_patient, *ins_patient, *revoke, *ins_event, *ins_record;
} import_ctx;

static void import_ctx_free(import_ctx *x)
{
	sqlite3_finalize(x->sel_patient);
	sqlite3_finalize(x->ins_patient);
	sqlite3_finalize(x->revoke);
	sqlite3_finalize(x->ins_event);
	sqlite3_finalize(x->ins_record);
	ft_store_csv_close(x->csv);
	if (x->blob != NULL)
		ft_crypto_wipe(x->blob, x->n_feat * 4);
	ft_free(x->blob);
	ft_free(x->feat);
	ft_free(x->dataset);
}

/* "dir/heart.csv" -> "heart". */
static char *default_dataset_name(const char *path)
{
	const char *base = strrchr(path, '/');
	size_t n;
	char *name;

	base = base != NULL ? base + 1 : path;
	n = strlen(base);
	if (n > 4 && strcmp(base + n - 4, ".csv") == 0)
		n -= 4;
	name = ft_malloc(n + 1);
	if (name != NULL) {
		memcpy(name, base, n);
		name[n] = '\0';
	}
	return name;
}

/* Resolves an optional named column; NO_COLUMN when `name` is NULL. */
static int find_optional(import_ctx *x, const char *name, const char *option, size_t *col,
                         ft_errmsg *err)
{
	int rv;

	*col = NO_COLUMN;
	if (name == NULL)
		return FT_OK;
	rv = ft_store_csv_find(x->csv, name, col, err);
	if (rv == FT_ENOTFOUND && err != NULL) {
		char detail[FT_ERRMSG_MAX];

		memcpy(detail, err->msg, sizeof(detail));
		ft_errmsg_set(err, rv, "%s: %s", option, detail);
	}
	return rv;
}

/* The columns the options name, and the feature list. */
static int resolve_columns(import_ctx *x, ft_errmsg *err)
{
	const ft_store_import_opts *o = x->o;
	size_t ncols = ft_store_csv_columns(x->csv);
	int rv;

	rv = find_optional(x, o->target, "--target", &x->target, err);
	if (rv == FT_OK)
		rv = find_optional(x, o->patient_id, "--patient-id", &x->pid, err);
	if (rv == FT_OK)
		rv = find_optional(x, o->consent, "--consent", &x->consent, err);
	if (rv != FT_OK)
		return rv;
	if (x->pid == x->target || x->consent == x->target ||
	    (x->pid != NO_COLUMN && x->pid == x->consent))
		return ft_errmsg_set(err, FT_EINVAL,
		                     "--target, --patient-id and --consent must name different columns");

	x->n_feat = o->features != NULL ? o->n_features : ncols;
	x->feat = ft_mallocarray(x->n_feat == 0 ? 1 : x->n_feat, sizeof(*x->feat));
	if (x->feat == NULL)
		return ft_errmsg_set(err, FT_ENOMEM, "out of memory");
	if (o->features != NULL) {
		for (size_t i = 0; i < x->n_feat; i++) {
			rv = find_optional(x, o->features[i], "--features", &x->feat[i], err);
			if (rv != FT_OK)
				return rv;
			if (x->feat[i] == x->target || x->feat[i] == x->pid ||
			    x->feat[i] == x->consent)
				return ft_errmsg_set(err, FT_EINVAL,
				                     "--features: column '%.48s' is the target, patient id "
				                     "or consent column",
				                     o->features[i]);
			for (size_t k = 0; k < i; k++)
				if (x->feat[k] == x->feat[i])
					return ft_errmsg_set(err, FT_EINVAL,
					                     "--features: column '%.48s' is listed twice",
					                     o->features[i]);
		}
	} else {
		size_t n = 0;

		for (size_t c = 0; c < ncols; c++)
			if (c != x->target && c != x->pid && c != x->consent)
				x->feat[n++] = c;
		x->n_feat = n;
	}
	if (x->n_feat == 0)
		return ft_errmsg_set(err, FT_EINVAL, "%.96s: no feature columns to import",
		                     store_csv_name(x->csv));
	x->blob = ft_mallocarray(x->n_feat, 4);
	if (x->blob == NULL)
		return ft_errmsg_set(err, FT_ENOMEM, "out of memory");
	return FT_OK;
}

/* Finds the dataset or creates it; an existing one must have the same shape. */
static int dataset_prepare(import_ctx *x, int *created, ft_errmsg *err)
{
	const char *target = ft_store_csv_column_name(x->csv, x->target);
	sqlite3_stmt *st = NULL;
	int rv, rc;

	*created = 0;
	rv = store_prepare(x->s, "SELECT id, target, n_features FROM datasets WHERE name = ?1", &st,
	                   err);
	if (rv != FT_OK)
		return rv;
	sqlite3_bind_text(st, 1, x->dataset, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int same = strcmp((const char *)sqlite3_column_text(st, 1), target) == 0 &&
		           (size_t)sqlite3_column_int64(st, 2) == x->n_feat;
		char old_target[64];

		snprintf(old_target, sizeof(old_target), "%s",
		         (const char *)sqlite3_column_text(st, 1));
		x->dataset_id = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		st = NULL;
		if (same) {
			rv = store_prepare(x->s,
			                   "SELECT position, name FROM dataset_features "
			                   "WHERE dataset_id = ?1 ORDER BY position",
			                   &st, err);
			if (rv != FT_OK)
				return rv;
			sqlite3_bind_int64(st, 1, x->dataset_id);
			for (size_t i = 0; same && i < x->n_feat; i++) {
				same = sqlite3_step(st) == SQLITE_ROW &&
				       strcmp((const char *)sqlite3_column_text(st, 1),
				              ft_store_csv_column_name(x->csv, x->feat[i])) == 0;
			}
		}
		if (!same) {
			rv = ft_errmsg_set(err, FT_EEXIST,
			                   "dataset '%.64s' already exists with target '%s' and other "
			                   "feature columns; import into another --dataset",
			                   x->dataset, old_target);
			goto out;
		}
		rv = FT_OK;
		goto out;
	}
	if (rc != SQLITE_DONE) {
		rv = store_db_fail(x->s, err, "cannot read datasets");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	rv = store_prepare(x->s,
	                   "INSERT INTO datasets (name, target, n_features, created_at_ms) "
	                   "VALUES (?1, ?2, ?3, ?4)",
	                   &st, err);
	if (rv != FT_OK)
		return rv;
	sqlite3_bind_text(st, 1, x->dataset, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, target, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)x->n_feat);
	sqlite3_bind_int64(st, 4, x->now_ms);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rv = store_db_fail(x->s, err, "cannot create the dataset");
		goto out;
	}
	x->dataset_id = sqlite3_last_insert_rowid(x->s->db);
	sqlite3_finalize(st);
	st = NULL;
	rv = store_prepare(x->s,
	                   "INSERT INTO dataset_features (dataset_id, position, name) "
	                   "VALUES (?1, ?2, ?3)",
	                   &st, err);
	if (rv != FT_OK)
		return rv;
	for (size_t i = 0; i < x->n_feat; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, x->dataset_id);
		sqlite3_bind_int64(st, 2, (int64_t)i);
		sqlite3_bind_text(st, 3, ft_store_csv_column_name(x->csv, x->feat[i]), -1,
		                  SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rv = store_db_fail(x->s, err, "cannot record the feature names");
			goto out;
		}
	}
	*created = 1;
	rv = FT_OK;
out:
	sqlite3_finalize(st);
	return rv;
}

static int prepare_statements(import_ctx *x, ft_errmsg *err)
{
	sqlite3_stmt *st = NULL;
	int rv;

	rv = store_prepare(x->s,
	                   "SELECT count(*), (SELECT coalesce(max(id), 0) FROM records) "
	                   "FROM records WHERE dataset_id = ?1",
	                   &st, err);
	if (rv != FT_OK)
		return rv;
	sqlite3_bind_int64(st, 1, x->dataset_id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return store_db_fail(x->s, err, "cannot count records");
	}
	x->base_records = sqlite3_column_int64(st, 0);
	x->last_record = sqlite3_column_int64(st, 1);
	sqlite3_finalize(st);

	rv = store_prepare(x->s, "SELECT id, consent FROM patients WHERE patient_key = ?1",
	                   &x->sel_patient, err);
	if (rv == FT_OK)
		rv = store_prepare(x->s,
		                   "INSERT INTO patients (patient_key, consent, created_at_ms, "
		                   "consent_changed_at_ms) VALUES (?1, ?2, ?3, ?3)",
		                   &x->ins_patient, err);
	if (rv == FT_OK)
		rv = store_prepare(x->s,
		                   "UPDATE patients SET consent = 0, consent_changed_at_ms = ?2 "
		                   "WHERE id = ?1",
		                   &x->revoke, err);
	if (rv == FT_OK)
		rv = store_prepare(x->s,
		                   "INSERT INTO consent_events (patient_id, granted, actor, at_ms) "
		                   "VALUES (?1, ?2, 'import', ?3)",
		                   &x->ins_event, err);
	if (rv == FT_OK)
		rv = store_prepare(x->s,
		                   "INSERT INTO records (dataset_id, patient_id, target, features) "
		                   "VALUES (?1, ?2, ?3, ?4)",
		                   &x->ins_record, err);
	return rv;
}

/* 1 if any column the import uses is missing in the current row. */
static int row_has_na(const import_ctx *x, size_t *which)
{
	size_t cols[3] = { x->target, x->pid, x->consent };

	for (size_t i = 0; i < 3; i++) {
		if (cols[i] != NO_COLUMN && ft_store_csv_is_na(x->csv, cols[i])) {
			*which = cols[i];
			return 1;
		}
	}
	for (size_t i = 0; i < x->n_feat; i++) {
		if (ft_store_csv_is_na(x->csv, x->feat[i])) {
			*which = x->feat[i];
			return 1;
		}
	}
	return 0;
}

/* A number that must also fit a float32 (what training uses). */
static int row_number(import_ctx *x, size_t col, double *out, ft_errmsg *err)
{
	int na = 0;
	int rv = ft_store_csv_number(x->csv, col, out, &na, err);

	if (rv != FT_OK)
		return rv;
	if (fabs(*out) > FLT_MAX)
		return ft_errmsg_set(err, FT_ERANGE,
		                     "%.96s: line %zu, column '%.48s': value out of float32 range",
		                     store_csv_name(x->csv), ft_store_csv_line(x->csv),
		                     ft_store_csv_column_name(x->csv, col));
	return FT_OK;
}

static int step_done(import_ctx *x, sqlite3_stmt *st, const char *what, ft_errmsg *err)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store_db_fail(x->s, err, what);
	return FT_OK;
}

static int add_event(import_ctx *x, int64_t patient, int granted, ft_errmsg *err)
{
	sqlite3_bind_int64(x->ins_event, 1, patient);
	sqlite3_bind_int(x->ins_event, 2, granted);
	sqlite3_bind_int64(x->ins_event, 3, x->now_ms);
	return step_done(x, x->ins_event, "cannot record a consent event", err);
}

/*
 * Finds or creates the row's patient. The file may withdraw consent but
 * never restore it: re-granting is an explicit act (ft_store_consent_set).
 */
static int row_patient(import_ctx *x, int consent, int64_t *patient,
                       ft_store_import_result *r, ft_errmsg *err)
{
	char key[STORE_KEY_MAX + 1];
	const char *k;
	int rc, rv;

	if (x->pid != NO_COLUMN) {
		k = ft_store_csv_field(x->csv, x->pid);
		if (strlen(k) > STORE_KEY_MAX)
			return ft_errmsg_set(err, FT_ERANGE,
			                     "%.96s: line %zu, column '%.48s': patient key longer than "
			                     "%d bytes",
			                     store_csv_name(x->csv), ft_store_csv_line(x->csv),
			                     ft_store_csv_column_name(x->csv, x->pid), STORE_KEY_MAX);
	} else {
		snprintf(key, sizeof(key), "%s#%lld", x->dataset,
		         (long long)(x->base_records + (int64_t)r->rows + 1));
		k = key;
	}
	sqlite3_bind_text(x->sel_patient, 1, k, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(x->sel_patient);
	if (rc == SQLITE_ROW) {
		int current = sqlite3_column_int(x->sel_patient, 1);

		*patient = sqlite3_column_int64(x->sel_patient, 0);
		sqlite3_reset(x->sel_patient);
		if (consent == 0 && current == 1) {
			sqlite3_bind_int64(x->revoke, 1, *patient);
			sqlite3_bind_int64(x->revoke, 2, x->now_ms);
			rv = step_done(x, x->revoke, "cannot record consent", err);
			if (rv == FT_OK)
				rv = add_event(x, *patient, 0, err);
			if (rv != FT_OK)
				return rv;
			r->revoked++;
		}
		return FT_OK;
	}
	sqlite3_reset(x->sel_patient);
	if (rc != SQLITE_DONE)
		return store_db_fail(x->s, err, "cannot read patients");
	sqlite3_bind_text(x->ins_patient, 1, k, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(x->ins_patient, 2, consent);
	sqlite3_bind_int64(x->ins_patient, 3, x->now_ms);
	rv = step_done(x, x->ins_patient, "cannot add a patient", err);
	if (rv != FT_OK)
		return rv;
	*patient = sqlite3_last_insert_rowid(x->s->db);
	r->new_patients++;
	return add_event(x, *patient, consent, err);
}

static int import_row(import_ctx *x, ft_store_import_result *r, ft_errmsg *err)
{
	double target = 0, v = 0;
	int consent = 1;
	int64_t patient = 0;
	size_t na_col = 0;
	int rv;

	if (row_has_na(x, &na_col)) {
		if (x->o->na == FT_STORE_NA_SKIP) {
			r->skipped++;
			return FT_OK;
		}
		return ft_errmsg_set(err, FT_EFORMAT,
		                     "%.96s: line %zu, column '%.48s': missing value (NA or empty); "
		                     "use --na skip to skip such rows",
		                     store_csv_name(x->csv), ft_store_csv_line(x->csv),
		                     ft_store_csv_column_name(x->csv, na_col));
	}
	rv = row_number(x, x->target, &target, err);
	if (rv != FT_OK)
		return rv;
	for (size_t i = 0; i < x->n_feat; i++) {
		float f;
		uint32_t bits;

		rv = row_number(x, x->feat[i], &v, err);
		if (rv != FT_OK)
			return rv;
		f = (float)v;
		memcpy(&bits, &f, sizeof(bits));
		ft_put_le32(x->blob + 4 * i, bits);
	}
	if (x->consent != NO_COLUMN) {
		const char *c = ft_store_csv_field(x->csv, x->consent);

		if (strcmp(c, "0") != 0 && strcmp(c, "1") != 0)
			return ft_errmsg_set(err, FT_EFORMAT,
			                     "%.96s: line %zu, column '%.48s': consent must be 0 or 1, "
			                     "not '%.16s'",
			                     store_csv_name(x->csv), ft_store_csv_line(x->csv),
			                     ft_store_csv_column_name(x->csv, x->consent), c);
		consent = c[0] == '1';
	}
	rv = row_patient(x, consent, &patient, r, err);
	if (rv != FT_OK)
		return rv;
	sqlite3_bind_int64(x->ins_record, 1, x->dataset_id);
	sqlite3_bind_int64(x->ins_record, 2, patient);
	sqlite3_bind_double(x->ins_record, 3, target);
	sqlite3_bind_blob(x->ins_record, 4, x->blob, (int)(x->n_feat * 4), SQLITE_STATIC);
	rv = step_done(x, x->ins_record, "cannot add a record", err);
	if (rv != FT_OK)
		return rv;
	r->rows++;
	return FT_OK;
}

/* Counts the import's patients and records where the data came from. */
static int import_finish(import_ctx *x, const char *path, ft_store_import_result *r,
                         ft_errmsg *err)
{
	sqlite3_stmt *st = NULL;
	uint8_t h[32];
	char hex[65];
	const char *base = strrchr(path, '/');
	int rv;

	rv = store_prepare(x->s,
	                   "SELECT count(DISTINCT patient_id) FROM records "
	                   "WHERE dataset_id = ?1 AND id > ?2",
	                   &st, err);
	if (rv != FT_OK)
		return rv;
	sqlite3_bind_int64(st, 1, x->dataset_id);
	sqlite3_bind_int64(st, 2, x->last_record);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rv = store_db_fail(x->s, err, "cannot count patients");
		goto out;
	}
	r->patients = (size_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;

	ft_store_csv_hash(x->csv, h);
	ft_crypto_hex(hex, h, sizeof(h));
	rv = store_prepare(x->s,
	                   "INSERT INTO imports (dataset_id, file_name, file_blake2b, rows, "
	                   "patients, skipped, at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	                   &st, err);
	if (rv != FT_OK)
		return rv;
	sqlite3_bind_int64(st, 1, x->dataset_id);
	sqlite3_bind_text(st, 2, base != NULL ? base + 1 : path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, hex, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (int64_t)r->rows);
	sqlite3_bind_int64(st, 5, (int64_t)r->patients);
	sqlite3_bind_int64(st, 6, (int64_t)r->skipped);
	sqlite3_bind_int64(st, 7, x->now_ms);
	if (sqlite3_step(st) != SQLITE_DONE)
		rv = store_db_fail(x->s, err, "cannot record the import");
out:
	sqlite3_finalize(st);
	return rv;
}

int ft_store_import_csv(ft_store *s, const char *path, const ft_store_import_opts *o,
                        ft_store_import_result *result, ft_errmsg *err)
{
	import_ctx x;
	ft_store_import_result r;
	ft_store_csv_limits lim = { 0 };
	int has = 1, in_txn = 0;
	int rv;

	memset(&x, 0, sizeof(x));
	memset(&r, 0, sizeof(r));
	if (s == NULL || path == NULL || o == NULL || o->target == NULL || o->target[0] == '\0')
		return ft_errmsg_set(err, FT_EINVAL, "--target is required");
	if (o->na != FT_STORE_NA_ERROR && o->na != FT_STORE_NA_SKIP)
		return ft_errmsg_set(err, FT_EINVAL, "--na must be error or skip");
	x.s = s;
	x.o = o;
	x.now_ms = store_wall_ms();
	x.dataset = o->dataset != NULL ? ft_strdup(o->dataset) : default_dataset_name(path);
	if (x.dataset == NULL) {
		rv = ft_errmsg_set(err, FT_ENOMEM, "out of memory");
		goto out;
	}
	if (x.dataset[0] == '\0' || strlen(x.dataset) > STORE_NAME_MAX) {
		rv = ft_errmsg_set(err, FT_EINVAL, "--dataset: name must have 1 to %d bytes",
		                   STORE_NAME_MAX);
		goto out;
	}
	lim.max_rows = o->max_rows;
	rv = ft_store_csv_open(path, &lim, &x.csv, err);
	if (rv != FT_OK)
		goto out;
	rv = resolve_columns(&x, err);
	if (rv != FT_OK)
		goto out;
	rv = store_begin_write(s, err);
	if (rv != FT_OK)
		goto out;
	in_txn = 1;
	rv = dataset_prepare(&x, &r.created_dataset, err);
	if (rv != FT_OK)
		goto out;
	rv = prepare_statements(&x, err);
	if (rv != FT_OK)
		goto out;
	for (;;) {
		rv = ft_store_csv_next(x.csv, &has, err);
		if (rv != FT_OK || !has)
			break;
		rv = import_row(&x, &r, err);
		if (rv != FT_OK)
			break;
	}
	if (rv != FT_OK)
		goto out;
	if (r.rows == 0) {
		rv = ft_errmsg_set(err, FT_EFORMAT,
		                   "%.96s: every row has a missing value (%zu skipped); nothing to import",
		                   store_tail(path), r.skipped);
		goto out;
	}
	rv = import_finish(&x, path, &r, err);
	if (rv != FT_OK)
		goto out;
	rv = store_commit(s, err);
	if (rv != FT_OK)
		goto out;
	in_txn = 0;
	snprintf(r.dataset, sizeof(r.dataset), "%s", x.dataset);
	if (result != NULL)
		*result = r;
out:
	if (in_txn)
		store_rollback(s);
	import_ctx_free(&x);
	return rv;
}
