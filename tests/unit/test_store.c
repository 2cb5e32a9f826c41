/*
 * test_store.c - the SQLite site store: opening and schema versions, CSV
 * import of the shipped clinical tables, all-or-nothing imports, consent and
 * the training load, the privacy policy and ledger, and allocation failures.
 */
#include "ft_test.h"
#include "ft_store.h"
#include "store_int.h"

#include <sys/stat.h>
#include <unistd.h>

typedef struct fixture {
	char dir[64];
	char db[128];
	ft_store *s;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	ft_errmsg e;

	assert_non_null(f);
	ft_test_tmpdir(f->dir, sizeof(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/site.db", f->dir);
	if (ft_store_open(f->db, &f->s, &e) != FT_OK)
		fail_msg("open: %s", e.msg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	ft_store_close(f->s);
	ft_test_rmdir(f->dir);
	free(f);
	return 0;
}

/* Writes `text` to DIR/name and returns the path in buf. */
static const char *write_file(const fixture *f, const char *name, const char *text, char *buf,
                              size_t n)
{
	FILE *fp;

	snprintf(buf, n, "%s/%s", f->dir, name);
	fp = fopen(buf, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
	fclose(fp);
	return buf;
}

/* One integer from SQL run directly on the store's database. */
static int64_t sql_int(ft_store *s, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(s->db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Nothing at all was stored. */
static void assert_store_empty(ft_store *s)
{
	ft_store_counts c;

	assert_int_equal(ft_store_counts_get(s, &c, NULL), FT_OK);
	assert_int_equal(c.datasets, 0);
	assert_int_equal(c.patients, 0);
	assert_int_equal(c.records, 0);
	assert_int_equal(c.consent_events, 0);
	assert_int_equal(sql_int(s, "SELECT count(*) FROM imports"), 0);
	assert_int_equal(sql_int(s, "SELECT count(*) FROM dataset_features"), 0);
}

static void expect_import_error(fixture *f, const char *text, const ft_store_import_opts *o,
                                int code, const char *want)
{
	char path[256];
	ft_errmsg e = { "" };
	int rv;

	write_file(f, "t.csv", text, path, sizeof(path));
	rv = ft_store_import_csv(f->s, path, o, NULL, &e);
	if (rv != code || strstr(e.msg, want) == NULL)
		fail_msg("got %d '%s', want %d '%s'", rv, e.msg, code, want);
	assert_store_empty(f->s);
}

/* ---- Opening ----------------------------------------------------------- */

static void test_open_file_mode_and_settings(void **state)
{
	fixture *f = *state;
	char wal[160], path[160];
	struct stat sb;
	ft_store *s2 = NULL;
	ft_errmsg e;

	assert_int_equal(ft_store_schema_version(f->s), FT_STORE_SCHEMA_VERSION);
	assert_int_equal(stat(f->db, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(sql_int(f->s, "PRAGMA foreign_keys"), 1);
	assert_int_equal(sql_int(f->s, "PRAGMA busy_timeout"), 5000);
	assert_int_equal(sql_int(f->s, "PRAGMA user_version"), FT_STORE_SCHEMA_VERSION);
	assert_int_equal(sql_int(f->s, "PRAGMA application_id"), STORE_APPLICATION_ID);
	/* WAL, and its file gets the database's mode. */
	assert_int_equal(ft_store_policy_set(f->s, 1, 2, 1e-5, &e), FT_OK);
	snprintf(wal, sizeof(wal), "%s-wal", f->db);
	assert_int_equal(stat(wal, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* A second handle on the same file. */
	assert_int_equal(ft_store_open(f->db, &s2, &e), FT_OK);
	ft_store_close(s2);

	/* Through a symlink: the target's mode is what counts. */
	snprintf(path, sizeof(path), "%s/link.db", f->dir);
	assert_int_equal(symlink(f->db, path), 0);
	assert_int_equal(ft_store_open(path, &s2, &e), FT_OK);
	ft_store_close(s2);
	s2 = NULL;
	assert_int_equal(chmod(f->db, 0640), 0);
	assert_int_equal(ft_store_open(path, &s2, &e), FT_EPERM);
	assert_int_equal(chmod(f->db, 0600), 0);

	/* A store others may read is refused. */
	write_file(f, "open.db", "", path, sizeof(path));
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(ft_store_open(path, &s2, &e), FT_EPERM);
	assert_non_null(strstr(e.msg, "chmod 600"));
	/* Not a database, and an SQLite database of some other program. */
	write_file(f, "text.db", "hello, this is not a database file at all, but text\n", path,
	           sizeof(path));
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(ft_store_open(path, &s2, &e), FT_EFORMAT);
	assert_non_null(strstr(e.msg, "not an SQLite database"));
	{
		sqlite3 *db = NULL;

		snprintf(path, sizeof(path), "%s/other.db", f->dir);
		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
		assert_int_equal(chmod(path, 0600), 0);
	}
	assert_int_equal(ft_store_open(path, &s2, &e), FT_EFORMAT);
	assert_non_null(strstr(e.msg, "not a fedtwin site store"));
	ft_store_close(NULL);
}

static void test_schema_migration_and_newer_refused(void **state)
{
	fixture *f = *state;
	char db[160], csv[160];
	ft_store *s = NULL;
	ft_store_import_opts o = { .target = "y", .patient_id = "pid" };
	ft_store_import_result r;
	ft_model_dataset *ds = NULL;
	ft_store_policy p;
	ft_errmsg e;

	/* A store at version 1 (before the privacy tables) holding data. */
	snprintf(db, sizeof(db), "%s/old.db", f->dir);
	assert_int_equal(store_open_at(db, 1, &s, &e), FT_OK);
	assert_int_equal(ft_store_schema_version(s), 1);
	assert_int_equal(sql_int(s, "SELECT count(*) FROM sqlite_schema WHERE name = "
	                            "'privacy_ledger'"),
	                 0);
	write_file(f, "v1.csv", "pid,x,y\na,1,0\na,2,1\nb,3,1\n", csv, sizeof(csv));
	assert_int_equal(ft_store_import_csv(s, csv, &o, &r, &e), FT_OK);
	ft_store_close(s);
	s = NULL;

	/* Opening it with the current code upgrades it and keeps the data. */
	assert_int_equal(ft_store_open(db, &s, &e), FT_OK);
	assert_int_equal(ft_store_schema_version(s), FT_STORE_SCHEMA_VERSION);
	assert_int_equal(sql_int(s, "PRAGMA user_version"), FT_STORE_SCHEMA_VERSION);
	assert_int_equal(ft_store_load_training(s, "v1", &ds, NULL, &e), FT_OK);
	assert_int_equal(ds->n_rows, 3);
	assert_int_equal(ds->n_units, 2);
	ft_model_dataset_free(ds);
	assert_int_equal(ft_store_policy_set(s, 1, 4, 1e-5, &e), FT_OK);
	assert_int_equal(ft_store_policy_get(s, &p, &e), FT_OK);

	/* A database from a newer fedtwin is refused, and left alone. */
	assert_int_equal(sqlite3_exec(s->db, "PRAGMA user_version = 3", NULL, NULL, NULL),
	                 SQLITE_OK);
	ft_store_close(s);
	s = NULL;
	assert_int_equal(ft_store_open(db, &s, &e), FT_ESTATE);
	assert_null(s);
	assert_non_null(strstr(e.msg, "schema version 3 is newer than this fedtwin supports (2)"));
	assert_int_equal(store_open_at(db, 1, &s, &e), FT_ESTATE);
}

/* ---- Import ------------------------------------------------------------ */

static void test_import_pima(void **state)
{
	fixture *f = *state;
	char path[512];
	ft_store_import_opts o = { .target = "diabetes" };
	ft_store_import_result r;
	ft_store_load_stats st;
	ft_model_dataset *ds = NULL;
	ft_errmsg e;
	double sum_y = 0, sum_glucose = 0, sum_bmi = 0;

	ft_test_data("pima_diabetes/pima_diabetes.csv", path, sizeof(path));
	if (ft_store_import_csv(f->s, path, &o, &r, &e) != FT_OK)
		fail_msg("%s", e.msg);
	assert_int_equal(r.rows, 768);
	assert_int_equal(r.patients, 768);
	assert_int_equal(r.new_patients, 768);
	assert_int_equal(r.skipped, 0);
	assert_int_equal(r.created_dataset, 1);
	assert_string_equal(r.dataset, "pima_diabetes");
	assert_int_equal(ft_store_load_training(f->s, "pima_diabetes", &ds, &st, &e), FT_OK);
	assert_int_equal(ds->n_rows, 768);
	assert_int_equal(ds->n_features, 8);
	assert_int_equal(ds->n_units, 768);
	assert_int_equal(st.records_used, 768);
	assert_int_equal(st.patients_used, 768);
	assert_int_equal(st.patients_excluded, 0);
	assert_string_equal(ds->feature_names[0], "pregnancies");
	assert_string_equal(ds->feature_names[1], "glucose");
	assert_string_equal(ds->feature_names[7], "age");
	for (size_t i = 0; i < ds->n_rows; i++) {
		sum_y += ds->y[i];
		sum_glucose += ds->x[i * 8 + 1];
		sum_bmi += ds->x[i * 8 + 5];
	}
	/* Python's csv module: 268 positives, glucose sums to 92847, BMI to
	 * 24570.3 (float32 storage rounds each BMI by < 1e-6 relative). */
	assert_true(sum_y == 268.0);
	assert_true(sum_glucose == 92847.0);
	assert_true(sum_bmi > 24570.29 && sum_bmi < 24570.31);
	assert_true(ds->x[5] == 33.6f); /* first row's BMI */
	ft_model_dataset_free(ds);
	/* The file's hash is recorded with the import. */
	assert_int_equal(sql_int(f->s, "SELECT count(*) FROM imports WHERE file_blake2b = '5530b50"
	                               "3824be0a2df1ce044d2017fe947f5112cc0459bfc799a413184c8a226'"),
	                 1);
}

static void test_import_heart_na_policy(void **state)
{
	fixture *f = *state;
	char path[512];
	ft_store_import_opts o = { .target = "num", .dataset = "heart" };
	ft_store_import_result r;
	ft_model_dataset *ds = NULL;
	ft_errmsg e;
	double sum_y = 0;

	ft_test_data("heart_disease_uci/heart_disease_uci.csv", path, sizeof(path));
	/* NA is an error by default; nothing is left behind. Line and column
	 * cross-checked with Python. */
	assert_int_equal(ft_store_import_csv(f->s, path, &o, &r, &e), FT_EFORMAT);
	assert_non_null(strstr(e.msg, "heart_disease_uci.csv: line 89, column 'thal': missing value"));
	assert_non_null(strstr(e.msg, "--na skip"));
	assert_store_empty(f->s);

	o.na = FT_STORE_NA_SKIP;
	assert_int_equal(ft_store_import_csv(f->s, path, &o, &r, &e), FT_OK);
	assert_int_equal(r.rows, 299);
	assert_int_equal(r.skipped, 621);
	assert_int_equal(ft_store_load_training(f->s, "heart", &ds, NULL, &e), FT_OK);
	assert_int_equal(ds->n_features, 14); /* site and the 13 attributes */
	assert_string_equal(ds->feature_names[0], "site");
	for (size_t i = 0; i < ds->n_rows; i++)
		sum_y += ds->y[i];
	assert_true(sum_y == 283.0);
	ft_model_dataset_free(ds);
}

static void test_import_heart_flamby_split(void **state)
{
	/* The FLamby split file has a text column: importing every column fails
	 * at its first row; naming numeric features works. */
	static const char *const feats[] = { "site", "age", "sex", "cp", "trestbps", "chol",
		                             "fbs", "restecg", "thalach", "exang", "oldpeak" };
	fixture *f = *state;
	char path[512];
	ft_store_import_opts o = { .target = "disease" };
	ft_store_import_result r;
	ft_model_dataset *ds = NULL;
	ft_errmsg e;
	size_t per_site[4] = { 0 };
	double sum_y = 0;

	ft_test_data("heart_disease_uci/heart_disease_flamby_split.csv", path, sizeof(path));
	assert_int_equal(ft_store_import_csv(f->s, path, &o, &r, &e), FT_EFORMAT);
	assert_non_null(strstr(e.msg, "line 2, column 'split': 'train' is not a number"));
	assert_store_empty(f->s);

	o.features = feats;
	o.n_features = sizeof(feats) / sizeof(feats[0]);
	if (ft_store_import_csv(f->s, path, &o, &r, &e) != FT_OK)
		fail_msg("%s", e.msg);
	assert_int_equal(r.rows, 740);
	assert_int_equal(ft_store_load_training(f->s, "heart_disease_flamby_split", &ds, NULL, &e),
	                 FT_OK);
	assert_int_equal(ds->n_features, 11);
	for (size_t i = 0; i < ds->n_rows; i++) {
		sum_y += ds->y[i];
		per_site[(size_t)ds->x[i * 11]]++;
	}
	/* Python: 383 with disease; 303, 261, 46 and 130 records per site. */
	assert_true(sum_y == 383.0);
	assert_int_equal(per_site[0], 303);
	assert_int_equal(per_site[1], 261);
	assert_int_equal(per_site[2], 46);
	assert_int_equal(per_site[3], 130);
	ft_model_dataset_free(ds);
}

static void test_import_bad_csv_leaves_nothing(void **state)
{
	fixture *f = *state;
	ft_store_import_opts o = { .target = "y", .patient_id = "pid" };
	static const char *const bad_feat[] = { "x", "nope" };
	static const char *const target_feat[] = { "x", "y" };
	char text[20000];
	size_t n = 0;

	expect_import_error(f, "", &o, FT_EFORMAT, "t.csv: empty file");
	expect_import_error(f, "pid,x,y\n", &o, FT_EFORMAT, "t.csv: header only, no data rows");
	expect_import_error(f, "pid,x,y\na,1,2\nb,1\n", &o, FT_EFORMAT,
	                    "t.csv: line 3: 2 fields but the header has 3 columns (missing column "
	                    "'y')");
	expect_import_error(f, "pid,x,y,x\na,1,2,3\n", &o, FT_EFORMAT,
	                    "t.csv: line 1: duplicate column name 'x' (columns 2 and 4)");
	expect_import_error(f, "pid,x,y\na,1,2\nb,abc,1\n", &o, FT_EFORMAT,
	                    "t.csv: line 3, column 'x': 'abc' is not a number");
	expect_import_error(f, "pid,x,y\na,1,2\nb,1e39,1\n", &o, FT_ERANGE,
	                    "t.csv: line 3, column 'x': value out of float32 range");
	expect_import_error(f, "pid,x,y\na,1,2\n,1,1\n", &o, FT_EFORMAT,
	                    "t.csv: line 3, column 'pid': missing value (NA or empty); use --na skip");
	expect_import_error(f, "pid,x,z\na,1,2\n", &o, FT_ENOTFOUND,
	                    "--target: ");
	expect_import_error(f, "pid,x,z\na,1,2\n", &o, FT_ENOTFOUND,
	                    "t.csv: unknown column 'y' (columns: pid, x, z)");
	o.features = bad_feat;
	o.n_features = 2;
	expect_import_error(f, "pid,x,y\na,1,2\n", &o, FT_ENOTFOUND, "--features: /");
	expect_import_error(f, "pid,x,y\na,1,2\n", &o, FT_ENOTFOUND,
	                    "t.csv: unknown column 'nope' (columns: pid, x, y)");
	o.features = target_feat;
	expect_import_error(f, "pid,x,y\na,1,2\n", &o, FT_EINVAL, "column 'y' is the target");
	o.features = NULL;
	o.n_features = 0;
	o.consent = "c";
	expect_import_error(f, "pid,x,y,c\na,1,2,1\nb,1,2,yes\n", &o, FT_EFORMAT,
	                    "t.csv: line 3, column 'c': consent must be 0 or 1, not 'yes'");
	o.consent = "pid";
	expect_import_error(f, "pid,x,y\na,1,2\n", &o, FT_EINVAL, "must name different columns");
	o.consent = NULL;
	o.patient_id = NULL;
	expect_import_error(f, "y\n1\n", &o, FT_EINVAL, "no feature columns");

	/* A bad value after many good rows: still nothing. */
	n += (size_t)snprintf(text + n, sizeof(text) - n, "x,y\n");
	for (int i = 0; i < 999; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%d,%d\n", i, i % 2);
	snprintf(text + n, sizeof(text) - n, "1,\"1\"2\n");
	expect_import_error(f, text, &o, FT_EFORMAT,
	                    "t.csv: line 1001, column 'y': text after a closing quote");
}

static void test_reimport_same_and_different_columns(void **state)
{
	fixture *f = *state;
	char a[160], b[160];
	ft_store_import_opts o = { .target = "y", .dataset = "d" };
	ft_store_import_result r;
	ft_store_counts c;
	ft_errmsg e;

	write_file(f, "a.csv", "x1,x2,y\n1,2,0\n3,4,1\n", a, sizeof(a));
	write_file(f, "b.csv", "x2,x1,y\n1,2,0\n", b, sizeof(b));
	assert_int_equal(ft_store_import_csv(f->s, a, &o, &r, &e), FT_OK);
	assert_int_equal(r.created_dataset, 1);
	/* Same columns: appended, each row a new patient. */
	assert_int_equal(ft_store_import_csv(f->s, a, &o, &r, &e), FT_OK);
	assert_int_equal(r.created_dataset, 0);
	assert_int_equal(r.new_patients, 2);
	assert_int_equal(sql_int(f->s, "SELECT count(*) FROM patients WHERE patient_key = 'd#4'"),
	                 1);
	/* Other columns (here: another order) are refused. */
	assert_int_equal(ft_store_import_csv(f->s, b, &o, &r, &e), FT_EEXIST);
	assert_non_null(strstr(e.msg, "dataset 'd' already exists with target 'y'"));
	o.target = "x1";
	assert_int_equal(ft_store_import_csv(f->s, b, &o, &r, &e), FT_EEXIST);
	assert_int_equal(ft_store_counts_get(f->s, &c, &e), FT_OK);
	assert_int_equal(c.records, 4);
	assert_int_equal(c.datasets, 1);
	/* The default dataset name is the file's. */
	o.dataset = NULL;
	assert_int_equal(ft_store_import_csv(f->s, b, &o, &r, &e), FT_OK);
	assert_int_equal(sql_int(f->s, "SELECT count(*) FROM datasets WHERE name = 'b'"), 1);
}

/* ---- Consent and the training load ------------------------------------- */

static const char consent_csv[] = "pid,a,b,y\n"
                                  "p1,1,10,0\n"
                                  "p2,2,20,1\n"
                                  "p1,3,30,1\n"
                                  "p3,4,40,0\n"
                                  "p3,5,50,1\n"
                                  "p3,6,60,0\n";

static void test_consent_changes_training_load(void **state)
{
	fixture *f = *state;
	char path[160];
	ft_store_import_opts o = { .target = "y", .patient_id = "pid", .dataset = "c" };
	ft_store_import_result r;
	ft_store_load_stats st;
	ft_model_dataset *ds = NULL;
	ft_store *other = NULL;
	ft_errmsg e;

	write_file(f, "c.csv", consent_csv, path, sizeof(path));
	assert_int_equal(ft_store_import_csv(f->s, path, &o, &r, &e), FT_OK);
	assert_int_equal(r.rows, 6);
	assert_int_equal(r.patients, 3);

	/* A patient with several records is one unit, rows kept together. */
	assert_int_equal(ft_store_load_training(f->s, "c", &ds, &st, &e), FT_OK);
	assert_int_equal(ds->n_rows, 6);
	assert_int_equal(ds->n_units, 3);
	assert_int_equal(ds->unit_offset[0], 0);
	assert_int_equal(ds->unit_offset[1], 2); /* p1: a = 1, 3 */
	assert_int_equal(ds->unit_offset[2], 3); /* p2: a = 2 */
	assert_int_equal(ds->unit_offset[3], 6); /* p3: a = 4, 5, 6 */
	assert_true(ds->x[0] == 1.0f && ds->x[2] == 3.0f && ds->x[4] == 2.0f);
	assert_true(ds->x[11] == 60.0f);
	assert_int_equal(st.patients_used, 3);
	ft_model_dataset_free(ds);
	ds = NULL;

	/* No withdrawal yet: the withdrawal head is 0 (a saved update
	 * computed now stays valid until it moves). */
	{
		int64_t h = -1;

		assert_int_equal(ft_store_consent_withdrawn_head(f->s, &h, &e), FT_OK);
		assert_int_equal(h, 0);
	}

	/* Revoked through a second handle: the next load on the first sees it. */
	assert_int_equal(ft_store_open(f->db, &other, &e), FT_OK);
	assert_int_equal(ft_store_consent_set(other, "p1", 0, "dr.who", &e), FT_OK);
	ft_store_close(other);
	{
		int64_t h0 = 0, h1 = 0;

		/* the withdrawal moves the head, through the other handle too */
		assert_int_equal(ft_store_consent_withdrawn_head(f->s, &h0, &e), FT_OK);
		assert_true(h0 > 0);
		/* a grant does not: the saved update left no one out it may not use */
		assert_int_equal(ft_store_consent_set(f->s, "p2", 1, "dr.who", &e), FT_OK);
		assert_int_equal(ft_store_consent_withdrawn_head(f->s, &h1, &e), FT_OK);
		assert_int_equal(h1, h0);
		assert_int_equal(ft_store_consent_withdrawn_head(f->s, NULL, &e), FT_EINVAL);
	}
	assert_int_equal(ft_store_load_training(f->s, "c", &ds, &st, &e), FT_OK);
	assert_int_equal(ds->n_rows, 4);
	assert_int_equal(ds->n_units, 2);
	assert_int_equal(st.patients_used, 2);
	assert_int_equal(st.records_used, 4);
	assert_int_equal(st.patients_excluded, 1);
	for (size_t i = 0; i < ds->n_rows; i++)
		assert_true(ds->x[i * 2] != 1.0f && ds->x[i * 2] != 3.0f);
	ft_model_dataset_free(ds);
	ds = NULL;

	/* Everyone revoked: an empty dataset, not an error. */
	assert_int_equal(ft_store_consent_set(f->s, "p2", 0, "dr.who", &e), FT_OK);
	assert_int_equal(ft_store_consent_set(f->s, "p3", 0, "dr.who", &e), FT_OK);
	assert_int_equal(ft_store_load_training(f->s, "c", &ds, &st, &e), FT_OK);
	assert_int_equal(ds->n_rows, 0);
	assert_int_equal(ds->n_units, 0);
	assert_int_equal(st.patients_excluded, 3);
	ft_model_dataset_free(ds);
	ds = NULL;

	/* Granted again. */
	assert_int_equal(ft_store_consent_set(f->s, "p1", 1, "dr.who", &e), FT_OK);
	assert_int_equal(ft_store_load_training(f->s, "c", &ds, &st, &e), FT_OK);
	assert_int_equal(ds->n_rows, 2);
	assert_int_equal(ds->n_units, 1);
	ft_model_dataset_free(ds);

	/* The history: 3 from the import, 5 changes, who did them. */
	assert_int_equal(sql_int(f->s, "SELECT count(*) FROM consent_events"), 8);
	assert_int_equal(sql_int(f->s, "SELECT count(*) FROM consent_events WHERE actor = "
	                               "'dr.who' AND granted = 0"),
	                 3);
	assert_int_not_equal(sqlite3_exec(f->s->db, "DELETE FROM consent_events", NULL, NULL,
	                                  NULL),
	                     SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(f->s->db, "UPDATE consent_events SET granted = 1",
	                                  NULL, NULL, NULL),
	                     SQLITE_OK);

	assert_int_equal(ft_store_consent_set(f->s, "p9", 0, "dr.who", &e), FT_ENOTFOUND);
	assert_non_null(strstr(e.msg, "no patient 'p9'"));
	assert_int_equal(ft_store_consent_set(f->s, "p1", 0, "", &e), FT_EINVAL);
	assert_int_equal(ft_store_load_training(f->s, "nope", &ds, &st, &e), FT_ENOTFOUND);
	assert_non_null(strstr(e.msg, "no dataset 'nope'"));
}

static void test_consent_column_withdraws_never_grants(void **state)
{
	fixture *f = *state;
	char path[160];
	ft_store_import_opts o = { .target = "y", .patient_id = "pid", .consent = "ok",
		                   .dataset = "k" };
	ft_store_import_result r;
	ft_store_load_stats st;
	ft_model_dataset *ds = NULL;
	ft_errmsg e;

	write_file(f, "k.csv", "pid,ok,a,y\np1,1,1,0\np2,0,2,1\np1,0,3,1\np3,1,4,0\n", path,
	           sizeof(path));
	assert_int_equal(ft_store_import_csv(f->s, path, &o, &r, &e), FT_OK);
	assert_int_equal(r.rows, 4);
	assert_int_equal(r.revoked, 1); /* p1, by its second row */
	assert_int_equal(ft_store_load_training(f->s, "k", &ds, &st, &e), FT_OK);
	assert_int_equal(ds->n_rows, 1); /* only p3 */
	assert_true(ds->x[0] == 4.0f);
	assert_int_equal(st.patients_excluded, 2);
	ft_model_dataset_free(ds);
	ds = NULL;

	/* A later file saying 1 does not re-grant. */
	write_file(f, "k2.csv", "pid,ok,a,y\np1,1,7,0\np2,1,8,1\n", path, sizeof(path));
	assert_int_equal(ft_store_import_csv(f->s, path, &o, &r, &e), FT_OK);
	assert_int_equal(r.new_patients, 0);
	assert_int_equal(ft_store_load_training(f->s, "k", &ds, &st, &e), FT_OK);
	assert_int_equal(ds->n_rows, 1);
	assert_int_equal(st.patients_excluded, 2);
	ft_model_dataset_free(ds);
}

/* ---- Privacy policy and ledger ----------------------------------------- */

typedef struct ledger_seen {
	size_t n;
	int64_t seq[8];
	uint64_t round[8];
	double q[8];
} ledger_seen;

static int collect(void *ctx, const ft_store_ledger_event *ev)
{
	ledger_seen *s = ctx;

	if (s->n == 8)
		return 99;
	s->seq[s->n] = ev->seq;
	s->round[s->n] = ev->round;
	s->q[s->n] = ev->q;
	s->n++;
	return 0;
}

static void test_policy_and_ledger(void **state)
{
	fixture *f = *state;
	ft_store_policy p;
	ft_store_ledger_event ev = { .round = 1, .q = 0.01, .sigma = 1.1, .steps = 100,
		                     .delta = 1e-5 };
	ledger_seen seen = { 0 };
	int64_t seq = 0;
	ft_errmsg e;

	/* No policy yet: reading says how to set one. */
	assert_int_equal(ft_store_policy_get(f->s, &p, &e), FT_ENOTFOUND);
	assert_non_null(strstr(e.msg, "fedtwin node policy set --max-epsilon-run"));
	assert_int_equal(ft_store_policy_set(f->s, 0, 1, 1e-5, &e), FT_EINVAL);
	assert_non_null(strstr(e.msg, "--max-epsilon-run"));
	assert_int_equal(ft_store_policy_set(f->s, 2, 1, 1e-5, &e), FT_EINVAL);
	assert_non_null(strstr(e.msg, "--max-epsilon-total"));
	assert_int_equal(ft_store_policy_set(f->s, 1, 2, 1, &e), FT_EINVAL);
	assert_non_null(strstr(e.msg, "--delta"));
	assert_int_equal(ft_store_policy_get(f->s, &p, &e), FT_ENOTFOUND);
	assert_int_equal(ft_store_policy_set(f->s, 1, 2, 1e-5, &e), FT_OK);
	assert_int_equal(ft_store_policy_set(f->s, 3, 10, 1e-6, &e), FT_OK);
	assert_int_equal(ft_store_policy_get(f->s, &p, &e), FT_OK);
	assert_true(p.max_eps_run == 3 && p.max_eps_total == 10 && p.delta == 1e-6);
	assert_true(p.set_at_ms > 1700000000000LL);
	assert_int_equal(sql_int(f->s, "SELECT count(*) FROM privacy_policy_history"), 2);

	/* Appends, in order; a round is charged once. */
	snprintf(ev.run_id, sizeof(ev.run_id), "run-a");
	assert_int_equal(ft_store_ledger_append(f->s, &ev, &seq, &e), FT_OK);
	assert_int_equal(seq, 1);
	ev.round = 2;
	ev.q = 0.02;
	assert_int_equal(ft_store_ledger_append(f->s, &ev, &seq, &e), FT_OK);
	assert_int_equal(ft_store_ledger_append(f->s, &ev, &seq, &e), FT_EEXIST);
	assert_non_null(strstr(e.msg, "run 'run-a' round 2 is already charged"));
	snprintf(ev.run_id, sizeof(ev.run_id), "run-b");
	ev.round = 1;
	ev.q = 0.03;
	assert_int_equal(ft_store_ledger_append(f->s, &ev, &seq, &e), FT_OK);
	assert_int_equal(seq, 3);
	ev.q = 1.5;
	assert_int_equal(ft_store_ledger_append(f->s, &ev, NULL, &e), FT_EINVAL);
	ev.q = 0.5;
	ev.sigma = 0;
	assert_int_equal(ft_store_ledger_append(f->s, &ev, NULL, &e), FT_EINVAL);
	ev.sigma = 1;
	ev.steps = 0;
	assert_int_equal(ft_store_ledger_append(f->s, &ev, NULL, &e), FT_EINVAL);
	ev.steps = 1;
	ev.run_id[0] = '\0';
	assert_int_equal(ft_store_ledger_append(f->s, &ev, NULL, &e), FT_EINVAL);

	assert_int_equal(ft_store_ledger_foreach(f->s, NULL, collect, &seen, &e), FT_OK);
	assert_int_equal(seen.n, 3);
	assert_true(seen.seq[0] == 1 && seen.seq[1] == 2 && seen.seq[2] == 3);
	assert_true(seen.q[0] == 0.01 && seen.q[1] == 0.02 && seen.q[2] == 0.03);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(ft_store_ledger_foreach(f->s, "run-a", collect, &seen, &e), FT_OK);
	assert_int_equal(seen.n, 2);
	assert_true(seen.round[0] == 1 && seen.round[1] == 2);
	seen.n = 8; /* the callback stops the walk */
	assert_int_equal(ft_store_ledger_foreach(f->s, NULL, collect, &seen, &e), 99);

	/* Append-only. */
	assert_int_not_equal(sqlite3_exec(f->s->db, "DELETE FROM privacy_ledger", NULL, NULL, NULL),
	                     SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(f->s->db, "UPDATE privacy_ledger SET q = 0.001", NULL,
	                                  NULL, NULL),
	                     SQLITE_OK);
	assert_int_equal(sql_int(f->s, "SELECT count(*) FROM privacy_ledger"), 3);
}

/* ---- Allocation failures ----------------------------------------------- */

static void test_import_and_load_alloc_failure_sweep(void **state)
{
	fixture *f = *state;
	char path[160];
	ft_store_import_opts o = { .target = "y", .patient_id = "pid", .dataset = "c" };
	ft_store_import_result r;
	ft_model_dataset *ds = NULL;
	ft_errmsg e;
	int done = 0;
	long n;

	write_file(f, "c.csv", consent_csv, path, sizeof(path));
	for (n = 0; n < 200 && !done; n++) {
		int rv;

		ft_alloc_fail_after(n);
		rv = ft_store_import_csv(f->s, path, &o, &r, &e);
		ft_alloc_fail_after(-1);
		if (rv == FT_OK) {
			done = 1;
			break;
		}
		assert_int_equal(rv, FT_ENOMEM);
		assert_store_empty(f->s);
	}
	assert_true(done);
	assert_true(n > 3); /* the sweep did fail some allocations */
	assert_int_equal(r.rows, 6);

	done = 0;
	for (n = 0; n < 200 && !done; n++) {
		int rv;

		ft_alloc_fail_after(n);
		rv = ft_store_load_training(f->s, "c", &ds, NULL, &e);
		ft_alloc_fail_after(-1);
		if (rv == FT_OK)
			done = 1;
		else
			assert_int_equal(rv, FT_ENOMEM);
	}
	assert_true(done);
	assert_int_equal(ds->n_rows, 6);
	ft_model_dataset_free(ds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_file_mode_and_settings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema_migration_and_newer_refused, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_import_pima, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_heart_na_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_heart_flamby_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_bad_csv_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reimport_same_and_different_columns, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_consent_changes_training_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_consent_column_withdraws_never_grants, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_policy_and_ledger, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_and_load_alloc_failure_sweep, setup,
		                                teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
