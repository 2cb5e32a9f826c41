/*
 * test_coord_db.c - the coordinator's database: run status transitions an
 * operator relies on, a round's model and its 'done' status and the run's
 * completion committed together, attempts left running by a crash marked
 * abandoned with the next attempt numbered after them, and refusals kept.
 */
#include "ft_test.h"

#include "coord_int.h"

static sqlite3 *open_db(char *dir, size_t n)
{
	char path[128];
	sqlite3 *db = NULL;
	ft_errmsg err;

	ft_test_tmpdir(dir, n);
	snprintf(path, sizeof(path), "%s/coord.db", dir);
	assert_int_equal(coord_db_open(path, &db, &err), FT_OK);
	return db;
}

static uint64_t new_run(sqlite3 *db, uint32_t rounds)
{
	ft_coord_run r;
	uint8_t model[16] = {1, 2, 3};
	uint64_t id = 0;
	ft_errmsg err;

	memset(&r, 0, sizeof(r));
	r.rounds = rounds;
	r.min_sites = 2;
	r.lr = 0.1;
	r.epochs = 1;
	r.batch = 8;
	r.dp_clip = 1;
	r.epsilon = 1;
	r.update_clip = 1;
	r.bits = 32;
	r.optimizer = FT_COORD_OPT_FEDAVG;
	assert_int_equal(coord_db_run_create(db, "heart", &r, "logreg", model, sizeof(model), &id, &err),
	                 FT_OK);
	assert_true(id > 0);
	return id;
}

static const char *status_of(sqlite3 *db, uint64_t id)
{
	static char st[32];
	ft_coord_run r;
	ft_errmsg err;

	assert_int_equal(coord_db_run_load(db, id, &r, st, sizeof(st), NULL, NULL, &err), FT_OK);
	return st;
}

static void test_status_transitions(void **state)
{
	char dir[64];
	sqlite3 *db = open_db(dir, sizeof(dir));
	uint64_t id = new_run(db, 2), active = 0;
	ft_errmsg err;

	(void)state;
	assert_string_equal(status_of(db, id), "created");
	assert_int_equal(coord_db_active_run(db, &active, &err), FT_ENOTFOUND);
	assert_int_equal(coord_db_run_set_status(db, id, "paused", &err), FT_ESTATE);
	assert_int_equal(coord_db_run_set_status(db, id, "running", &err), FT_OK);
	assert_int_equal(coord_db_active_run(db, &active, &err), FT_OK);
	assert_int_equal(active, id);
	assert_int_equal(coord_db_run_set_status(db, id, "paused", &err), FT_OK);
	assert_int_equal(coord_db_active_run(db, &active, &err), FT_OK); /* paused is active */
	assert_int_equal(coord_db_run_set_status(db, id, "running", &err), FT_OK);
	assert_int_equal(coord_db_run_set_status(db, id, "stopped", &err), FT_OK);
	/* A stopped run stays stopped. */
	assert_int_equal(coord_db_run_set_status(db, id, "running", &err), FT_ESTATE);
	assert_non_null(strstr(err.msg, "stopped"));
	assert_int_equal(coord_db_run_set_status(db, 999, "running", &err), FT_ENOTFOUND);
	coord_db_close(db);
	ft_test_rmdir(dir);
}

static void test_round_commit_and_crash(void **state)
{
	char dir[64];
	sqlite3 *db = open_db(dir, sizeof(dir));
	uint64_t id = new_run(db, 1), version = 9;
	ft_coord_event ev;
	uint8_t bytes[40], *got = NULL, opt[8] = {5};
	uint32_t surv[2] = {3, 7}, attempt = 0;
	size_t len = 0;
	ft_errmsg err;
	sqlite3_stmt *st;

	(void)state;
	assert_int_equal(coord_db_run_set_status(db, id, "running", &err), FT_OK);
	/* Attempt 1 of round 1 is running when the coordinator dies. */
	memset(&ev, 0, sizeof(ev));
	ev.type = FT_COORD_EV_ATTEMPT_START;
	ev.round = 1;
	ev.attempt = 1;
	ev.n_sites = 3;
	assert_int_equal(coord_db_event(db, id, &ev, &err), FT_OK);
	assert_int_equal(coord_db_abandon_running(db, &err), FT_OK);
	assert_int_equal(coord_db_next_attempt(db, id, 1, &attempt, &err), FT_OK);
	assert_int_equal(attempt, 2);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT status FROM rounds WHERE attempt=1", -1, &st,
	                                    NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "abandoned");
	sqlite3_finalize(st);
	/* Attempt 2: a refusal, then the model: all of it lands together. */
	ev.attempt = 2;
	assert_int_equal(coord_db_event(db, id, &ev, &err), FT_OK);
	memset(&ev, 0, sizeof(ev));
	ev.type = FT_COORD_EV_REFUSED;
	ev.round = 1;
	ev.attempt = 2;
	ev.site = 5;
	ev.code = 2;
	snprintf(ev.text, sizeof(ev.text), "budget");
	assert_int_equal(coord_db_event(db, id, &ev, &err), FT_OK);
	memset(bytes, 0xAB, sizeof(bytes));
	memset(&ev, 0, sizeof(ev));
	ev.type = FT_COORD_EV_MODEL;
	ev.round = 1;
	ev.attempt = 2;
	ev.version = 1;
	ev.model = bytes;
	ev.model_len = sizeof(bytes);
	ev.survivors = surv;
	ev.n_survivors = 2;
	ev.opt_state = opt;
	ev.opt_state_len = sizeof(opt);
	ev.run_complete = 1;
	assert_int_equal(coord_db_event(db, id, &ev, &err), FT_OK);
	assert_string_equal(status_of(db, id), "complete");
	assert_int_equal(coord_db_latest_model(db, id, &got, &len, &version, &err), FT_OK);
	assert_int_equal(version, 1);
	assert_int_equal(len, sizeof(bytes));
	assert_memory_equal(got, bytes, sizeof(bytes));
	ft_free(got);
	assert_int_equal(sqlite3_prepare_v2(db,
	                                    "SELECT status, survivors, model_version FROM rounds"
	                                    " WHERE attempt=2",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "done");
	assert_string_equal((const char *)sqlite3_column_text(st, 1), "3,7");
	assert_int_equal(sqlite3_column_int64(st, 2), 1);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT site, reason FROM refusals", -1, &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int64(st, 0), 5);
	assert_string_equal((const char *)sqlite3_column_text(st, 1), "budget");
	sqlite3_finalize(st);
	/* A second model of the same version cannot be committed: the
	 * transaction rolls back whole. */
	ev.round = 2;
	assert_int_equal(coord_db_event(db, id, &ev, &err), FT_EDB);
	assert_int_equal(coord_db_next_attempt(db, id, 2, &attempt, &err), FT_OK);
	assert_int_equal(attempt, 1);
	/* A complete run is no longer active. */
	{
		uint64_t active;

		assert_int_equal(coord_db_active_run(db, &active, &err), FT_ENOTFOUND);
	}
	coord_db_close(db);
	ft_test_rmdir(dir);
}

/* A database written before plain-sum runs existed (schema version 1)
 * opens, is migrated once, keeps its run as a secure one, and takes new
 * plain-sum runs. */
static void test_migration_from_version_1(void **state)
{
	static const char v1[] =
		"CREATE TABLE runs("
		" id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, status TEXT NOT NULL,"
		" rounds INTEGER NOT NULL, min_sites INTEGER NOT NULL, lr REAL NOT NULL,"
		" epochs INTEGER NOT NULL, batch INTEGER NOT NULL, dp_clip REAL NOT NULL,"
		" epsilon REAL NOT NULL, update_clip REAL NOT NULL, bits INTEGER NOT NULL,"
		" standardise INTEGER NOT NULL, optimizer INTEGER NOT NULL, server_lr REAL NOT NULL,"
		" beta1 REAL NOT NULL, beta2 REAL NOT NULL, tau REAL NOT NULL, dropout REAL NOT NULL,"
		" opt_state BLOB,"
		" spec TEXT NOT NULL, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);"
		"CREATE TABLE rounds("
		" run_id INTEGER NOT NULL REFERENCES runs(id), round INTEGER NOT NULL,"
		" attempt INTEGER NOT NULL, status TEXT NOT NULL, n_sites INTEGER NOT NULL,"
		" survivors TEXT, model_version INTEGER, model_hash TEXT, code INTEGER, reason TEXT,"
		" started_ms INTEGER NOT NULL, ended_ms INTEGER,"
		" PRIMARY KEY(run_id, round, attempt));"
		"CREATE TABLE models("
		" run_id INTEGER NOT NULL REFERENCES runs(id), version INTEGER NOT NULL,"
		" round INTEGER NOT NULL, hash TEXT NOT NULL, signature TEXT, bytes BLOB NOT NULL,"
		" created_ms INTEGER NOT NULL, PRIMARY KEY(run_id, version));"
		"CREATE TABLE refusals("
		" run_id INTEGER NOT NULL, round INTEGER NOT NULL, attempt INTEGER NOT NULL,"
		" site INTEGER NOT NULL, code INTEGER NOT NULL, reason TEXT NOT NULL,"
		" at_ms INTEGER NOT NULL);"
		"INSERT INTO runs(name,status,rounds,min_sites,lr,epochs,batch,dp_clip,epsilon,"
		" update_clip,bits,standardise,optimizer,server_lr,beta1,beta2,tau,dropout,spec,"
		" created_ms,updated_ms) VALUES('old','running',4,2,0.1,1,8,1,1,1,32,1,1,1,0.9,0.99,"
		" 0.001,0.25,'logreg',1,1);"
		"PRAGMA user_version=1;";
	char dir[64], path[128], st[32];
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	ft_coord_run r;
	ft_errmsg err;
	uint64_t id;
	(void)state;

	ft_test_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/coord.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, v1, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	db = NULL;
	assert_int_equal(coord_db_open(path, &db, &err), FT_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), COORD_DB_VERSION);
	sqlite3_finalize(q);
	assert_int_equal(coord_db_run_load(db, 1, &r, st, sizeof(st), NULL, NULL, &err), FT_OK);
	assert_string_equal(st, "running");
	assert_int_equal(r.rounds, 4);
	assert_int_equal(r.plain_sum, 0);
	coord_db_close(db);
	/* Opened again: nothing to migrate; a plain-sum run is kept as one. */
	assert_int_equal(coord_db_open(path, &db, &err), FT_OK);
	memset(&r, 0, sizeof(r));
	r.rounds = 2;
	r.min_sites = 2;
	r.bits = 32;
	r.optimizer = FT_COORD_OPT_FEDAVG;
	r.plain_sum = 1;
	{
		uint8_t model[16] = {1};

		assert_int_equal(coord_db_run_create(db, "plain", &r, "logreg", model, sizeof(model),
		                                     &id, &err),
		                 FT_OK);
	}
	memset(&r, 0, sizeof(r));
	assert_int_equal(coord_db_run_load(db, id, &r, st, sizeof(st), NULL, NULL, &err), FT_OK);
	assert_int_equal(r.plain_sum, 1);
	assert_int_equal(coord_db_run_load(db, 1, &r, st, sizeof(st), NULL, NULL, &err), FT_OK);
	assert_int_equal(r.plain_sum, 0);
	coord_db_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_transitions),
		cmocka_unit_test(test_round_commit_and_crash),
		cmocka_unit_test(test_migration_from_version_1),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
