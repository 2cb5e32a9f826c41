/*
 * ft_store_db.c - opening the site store: file permissions, SQLite settings,
 * the versioned schema and its migrations, plus the small SQLite helpers the
 * other store files share.
 *
 * The schema is documented in docs/PROTOCOL.md, "Site store (SQLite)". A
 * migration is never edited once released: a change appends a new one and
 * raises FT_STORE_SCHEMA_VERSION.
 */
#include "ft_store.h"
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ft_crypto.h"

/* ---- Migrations: index i brings the schema from version i to i + 1 ---- */

static const char migration_1[] =
	/* Datasets and their feature columns, in order. */
	"CREATE TABLE datasets ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 128),"
	"  target TEXT NOT NULL CHECK (length(target) >= 1),"
	"  n_features INTEGER NOT NULL CHECK (n_features >= 1),"
	"  created_at_ms INTEGER NOT NULL"
	") STRICT;"
	"CREATE TABLE dataset_features ("
	"  dataset_id INTEGER NOT NULL REFERENCES datasets(id),"
	"  position INTEGER NOT NULL CHECK (position >= 0),"
	"  name TEXT NOT NULL CHECK (length(name) >= 1),"
	"  PRIMARY KEY (dataset_id, position),"
	"  UNIQUE (dataset_id, name)"
	") STRICT;"
	/* Patients, keyed by the site-local key; consent is the current state. */
	"CREATE TABLE patients ("
	"  id INTEGER PRIMARY KEY,"
	"  patient_key TEXT NOT NULL UNIQUE CHECK (length(patient_key) BETWEEN 1 AND 256),"
	"  consent INTEGER NOT NULL CHECK (consent IN (0, 1)),"
	"  created_at_ms INTEGER NOT NULL,"
	"  consent_changed_at_ms INTEGER NOT NULL"
	") STRICT;"
	/* One row per record; features: n_features little-endian float32. */
	"CREATE TABLE records ("
	"  id INTEGER PRIMARY KEY,"
	"  dataset_id INTEGER NOT NULL REFERENCES datasets(id),"
	"  patient_id INTEGER NOT NULL REFERENCES patients(id),"
	"  target REAL NOT NULL,"
	"  features BLOB NOT NULL"
	") STRICT;"
	"CREATE INDEX records_by_dataset_patient ON records (dataset_id, patient_id, id);"
	/* The consent history: append-only. */
	"CREATE TABLE consent_events ("
	"  id INTEGER PRIMARY KEY,"
	"  patient_id INTEGER NOT NULL REFERENCES patients(id),"
	"  granted INTEGER NOT NULL CHECK (granted IN (0, 1)),"
	"  actor TEXT NOT NULL CHECK (length(actor) BETWEEN 1 AND 128),"
	"  at_ms INTEGER NOT NULL"
	") STRICT;"
	"CREATE INDEX consent_events_by_patient ON consent_events (patient_id, id);"
	"CREATE TRIGGER consent_events_no_update BEFORE UPDATE ON consent_events"
	"  BEGIN SELECT RAISE(ABORT, 'consent_events is append-only'); END;"
	"CREATE TRIGGER consent_events_no_delete BEFORE DELETE ON consent_events"
	"  BEGIN SELECT RAISE(ABORT, 'consent_events is append-only'); END;"
	/* Where the data came from: one row per import. */
	"CREATE TABLE imports ("
	"  id INTEGER PRIMARY KEY,"
	"  dataset_id INTEGER NOT NULL REFERENCES datasets(id),"
	"  file_name TEXT NOT NULL,"
	"  file_blake2b TEXT NOT NULL CHECK (length(file_blake2b) = 64),"
	"  rows INTEGER NOT NULL,"
	"  patients INTEGER NOT NULL,"
	"  skipped INTEGER NOT NULL,"
	"  at_ms INTEGER NOT NULL"
	") STRICT;";

static const char migration_2[] =
	/* The site's privacy policy: at most one row. */
	"CREATE TABLE privacy_policy ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  max_eps_run REAL NOT NULL CHECK (max_eps_run > 0),"
	"  max_eps_total REAL NOT NULL CHECK (max_eps_total >= max_eps_run),"
	"  delta REAL NOT NULL CHECK (delta > 0 AND delta < 1),"
	"  set_at_ms INTEGER NOT NULL"
	") STRICT;"
	"CREATE TABLE privacy_policy_history ("
	"  id INTEGER PRIMARY KEY,"
	"  max_eps_run REAL NOT NULL,"
	"  max_eps_total REAL NOT NULL,"
	"  delta REAL NOT NULL,"
	"  set_at_ms INTEGER NOT NULL"
	") STRICT;"
	"CREATE TRIGGER privacy_policy_history_no_update BEFORE UPDATE ON privacy_policy_history"
	"  BEGIN SELECT RAISE(ABORT, 'privacy_policy_history is append-only'); END;"
	"CREATE TRIGGER privacy_policy_history_no_delete BEFORE DELETE ON privacy_policy_history"
	"  BEGIN SELECT RAISE(ABORT, 'privacy_policy_history is append-only'); END;"
	/* The privacy ledger, replayed in seq order by the RDP accountant. */
	"CREATE TABLE privacy_ledger ("
	"  seq INTEGER PRIMARY KEY,"
	"  run_id TEXT NOT NULL CHECK (length(run_id) BETWEEN 1 AND 128),"
	"  round INTEGER NOT NULL CHECK (round >= 0),"
	"  q REAL NOT NULL CHECK (q > 0 AND q <= 1),"
	"  sigma REAL NOT NULL CHECK (sigma > 0),"
	"  steps INTEGER NOT NULL CHECK (steps >= 1),"
	"  delta REAL NOT NULL CHECK (delta > 0 AND delta < 1),"
	"  at_ms INTEGER NOT NULL,"
	"  UNIQUE (run_id, round)"
	") STRICT;"
	"CREATE TRIGGER privacy_ledger_no_update BEFORE UPDATE ON privacy_ledger"
	"  BEGIN SELECT RAISE(ABORT, 'privacy_ledger is append-only'); END;"
	"CREATE TRIGGER privacy_ledger_no_delete BEFORE DELETE ON privacy_ledger"
	"  BEGIN SELECT RAISE(ABORT, 'privacy_ledger is append-only'); END;";

static const char *const migrations[FT_STORE_SCHEMA_VERSION] = {
	migration_1,
	migration_2,
};

/* ---- Helpers ----------------------------------------------------------- */

int store_db_fail(ft_store *s, ft_errmsg *err, const char *what)
{
	return ft_errmsg_set(err, FT_EDB, "%.96s: %s: %s", s->label, what, sqlite3_errmsg(s->db));
}

int store_exec(ft_store *s, const char *sql, ft_errmsg *err)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return store_db_fail(s, err, "database error");
	return FT_OK;
}

int store_prepare(ft_store *s, const char *sql, sqlite3_stmt **st, ft_errmsg *err)
{
	if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) {
		*st = NULL;
		return store_db_fail(s, err, "cannot prepare a statement");
	}
	return FT_OK;
}

int store_begin_write(ft_store *s, ft_errmsg *err)
{
	return store_exec(s, "BEGIN IMMEDIATE", err);
}

int store_begin_read(ft_store *s, ft_errmsg *err)
{
	return store_exec(s, "BEGIN", err);
}

int store_commit(ft_store *s, ft_errmsg *err)
{
	return store_exec(s, "COMMIT", err);
}

void store_rollback(ft_store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

int64_t store_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + (int64_t)(ts.tv_nsec / 1000000);
}

/* One integer from a single-row query. */
static int store_query_int(ft_store *s, const char *sql, int64_t *out, ft_errmsg *err)
{
	sqlite3_stmt *st = NULL;
	int rv = store_prepare(s, sql, &st, err);

	if (rv != FT_OK)
		return rv;
	if (sqlite3_step(st) != SQLITE_ROW) {
		rv = store_db_fail(s, err, "database error");
		goto out;
	}
	*out = sqlite3_column_int64(st, 0);
out:
	sqlite3_finalize(st);
	return rv;
}

/* ---- Opening ----------------------------------------------------------- */

/*
 * Creates the file with mode 0600 if it is missing (SQLite would use 0644
 * less the umask, and its -wal/-shm files copy the database's mode), and
 * refuses an existing file that others may read: it holds patient data.
 * Symlinks are followed, as for key files (a store may live on a mounted
 * volume); the mode checked is that of the file actually opened.
 */
static int store_check_file(const char *path, ft_errmsg *err)
{
	struct stat sb;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	int rv = FT_OK;

	if (fd < 0)
		return ft_errmsg_set(err, FT_EIO,
		                     "%.96s: cannot open the store: %s", store_tail(path), strerror(errno));
	if (fstat(fd, &sb) != 0) {
		rv = ft_errmsg_set(err, FT_EIO, "%.96s: %s", store_tail(path), strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		rv = ft_errmsg_set(err, FT_EIO, "%.96s: not a regular file", store_tail(path));
		goto out;
	}
	if ((sb.st_mode & 077) != 0) {
		rv = ft_errmsg_set(err, FT_EPERM,
		                   "%.96s: readable or writable by group/others (mode %04o); it holds "
		                   "patient data: run chmod 600 %.96s",
		                   store_tail(path), (unsigned)(sb.st_mode & 07777), path);
		goto out;
	}
out:
	close(fd);
	return rv;
}

/* Applies migrations up to `target` in one write transaction. */
static int store_migrate(ft_store *s, int target, ft_errmsg *err)
{
	int64_t version = 0, app_id = 0, objects = 0;
	char sql[96];
	int rv;

	rv = store_begin_write(s, err);
	if (rv != FT_OK)
		return rv;
	rv = store_query_int(s, "PRAGMA application_id", &app_id, err);
	if (rv != FT_OK)
		goto out;
	rv = store_query_int(s, "PRAGMA user_version", &version, err);
	if (rv != FT_OK)
		goto out;
	rv = store_query_int(s, "SELECT count(*) FROM sqlite_schema", &objects, err);
	if (rv != FT_OK)
		goto out;
	if (app_id != STORE_APPLICATION_ID && (app_id != 0 || version != 0 || objects != 0)) {
		rv = ft_errmsg_set(err, FT_EFORMAT,
		                   "%.96s: an SQLite database that is not a fedtwin site store", s->label);
		goto out;
	}
	if (version > FT_STORE_SCHEMA_VERSION) {
		rv = ft_errmsg_set(err, FT_ESTATE,
		                   "%.96s: schema version %lld is newer than this fedtwin supports "
		                   "(%d); use a newer fedtwin",
		                   s->label, (long long)version, FT_STORE_SCHEMA_VERSION);
		goto out;
	}
	for (int64_t v = version; v < target; v++) {
		if (sqlite3_exec(s->db, migrations[v], NULL, NULL, NULL) != SQLITE_OK) {
			rv = store_db_fail(s, err, "schema migration failed");
			goto out;
		}
	}
	if (version < target) {
		snprintf(sql, sizeof(sql), "PRAGMA application_id = %d; PRAGMA user_version = %d",
		         STORE_APPLICATION_ID, target);
		rv = store_exec(s, sql, err);
		if (rv != FT_OK)
			goto out;
		version = target;
	}
	rv = store_commit(s, err);
	if (rv == FT_OK)
		s->schema_version = (int)version;
out:
	if (rv != FT_OK)
		store_rollback(s);
	return rv;
}

int store_open_at(const char *path, int target_version, ft_store **out, ft_errmsg *err)
{
	ft_store *s = NULL;
	sqlite3_stmt *st = NULL;
	int rv;

	if (path == NULL || *path == '\0' || out == NULL || target_version < 1 ||
	    target_version > FT_STORE_SCHEMA_VERSION)
		return ft_errmsg_set(err, FT_EINVAL, "invalid argument");
	rv = ft_crypto_init();
	if (rv != FT_OK)
		return ft_errmsg_set(err, rv, "cannot initialise libsodium");
	rv = store_check_file(path, err);
	if (rv != FT_OK)
		return rv;
	s = ft_calloc(1, sizeof(*s));
	if (s == NULL)
		return ft_errmsg_set(err, FT_ENOMEM, "out of memory");
	s->path = ft_strdup(path);
	if (s->path == NULL) {
		rv = ft_errmsg_set(err, FT_ENOMEM, "out of memory");
		goto out;
	}
	s->label = store_tail(s->path);
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		rv = s->db != NULL ? store_db_fail(s, err, "cannot open the store")
		                   : ft_errmsg_set(err, FT_ENOMEM, "out of memory");
		goto out;
	}
	sqlite3_extended_result_codes(s->db, 1);
	/* Refuse schema tricks from a tampered file. */
	(void)sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	(void)sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	sqlite3_busy_timeout(s->db, 5000);

	/* The first read tells a foreign file from a database. */
	rv = store_prepare(s, "PRAGMA journal_mode = WAL", &st, err);
	if (rv != FT_OK) {
		if (sqlite3_errcode(s->db) == SQLITE_NOTADB)
			rv = ft_errmsg_set(err, FT_EFORMAT, "%.96s: not an SQLite database",
			                   s->label);
		goto out;
	}
	if (sqlite3_step(st) != SQLITE_ROW) {
		rv = sqlite3_errcode(s->db) == SQLITE_NOTADB
		             ? ft_errmsg_set(err, FT_EFORMAT, "%.96s: not an SQLite database",
		                             s->label)
		             : store_db_fail(s, err, "cannot enable WAL");
		goto out;
	}
	if (strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
		rv = ft_errmsg_set(err, FT_EDB, "%.96s: cannot enable WAL (journal mode %s)", s->label,
		                   (const char *)sqlite3_column_text(st, 0));
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	/* FULL: a ledger entry must survive power loss once appended. */
	rv = store_exec(s, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;"
	                   "PRAGMA secure_delete = ON",
	                err);
	if (rv != FT_OK)
		goto out;
	rv = store_migrate(s, target_version, err);
	if (rv != FT_OK)
		goto out;
	*out = s;
	s = NULL;
out:
	sqlite3_finalize(st);
	ft_store_close(s);
	return rv;
}

int ft_store_open(const char *path, ft_store **out, ft_errmsg *err)
{
	return store_open_at(path, FT_STORE_SCHEMA_VERSION, out, err);
}

void ft_store_close(ft_store *s)
{
	if (s == NULL)
		return;
	sqlite3_close_v2(s->db);
	ft_free(s->path);
	ft_free(s);
}

int ft_store_schema_version(ft_store *s)
{
	return s->schema_version;
}

int ft_store_counts_get(ft_store *s, ft_store_counts *out, ft_errmsg *err)
{
	static const char sql[] =
		"SELECT (SELECT count(*) FROM datasets), (SELECT count(*) FROM patients),"
		" (SELECT count(*) FROM patients WHERE consent = 1), (SELECT count(*) FROM records),"
		" (SELECT count(*) FROM consent_events), (SELECT count(*) FROM privacy_ledger)";
	sqlite3_stmt *st = NULL;
	int rv = store_prepare(s, sql, &st, err);

	if (rv != FT_OK)
		return rv;
	if (sqlite3_step(st) != SQLITE_ROW) {
		rv = store_db_fail(s, err, "cannot count");
		goto out;
	}
	out->datasets = (size_t)sqlite3_column_int64(st, 0);
	out->patients = (size_t)sqlite3_column_int64(st, 1);
	out->consented = (size_t)sqlite3_column_int64(st, 2);
	out->records = (size_t)sqlite3_column_int64(st, 3);
	out->consent_events = (size_t)sqlite3_column_int64(st, 4);
	out->ledger_events = (size_t)sqlite3_column_int64(st, 5);
out:
	sqlite3_finalize(st);
	return rv;
}
