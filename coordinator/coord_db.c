/*
 * coord_db.c - the coordinator's SQLite database (WAL, synchronous FULL):
 * runs, round attempts, model versions and site refusals. A round's model
 * and its 'done' status are written in one transaction, so after a crash at
 * any moment every completed round has its model and no model lacks its
 * round (docs/PROTOCOL.md, "Coordinator database").
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "coord_int.h"

/* Migrations: index i brings the schema from version i to i + 1. A
 * migration is never edited once released: a change appends one and raises
 * COORD_DB_VERSION (docs/PROTOCOL.md, "What each side persists"). */
static const char migration_1[] =
	"CREATE TABLE IF NOT EXISTS runs("
	" id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, status TEXT NOT NULL,"
	" rounds INTEGER NOT NULL, min_sites INTEGER NOT NULL, lr REAL NOT NULL,"
	" epochs INTEGER NOT NULL, batch INTEGER NOT NULL, dp_clip REAL NOT NULL,"
	" epsilon REAL NOT NULL, update_clip REAL NOT NULL, bits INTEGER NOT NULL,"
	" standardise INTEGER NOT NULL, optimizer INTEGER NOT NULL, server_lr REAL NOT NULL,"
	" beta1 REAL NOT NULL, beta2 REAL NOT NULL, tau REAL NOT NULL, dropout REAL NOT NULL,"
	" opt_state BLOB,"
	" spec TEXT NOT NULL, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS rounds("
	" run_id INTEGER NOT NULL REFERENCES runs(id), round INTEGER NOT NULL,"
	" attempt INTEGER NOT NULL, status TEXT NOT NULL, n_sites INTEGER NOT NULL,"
	" survivors TEXT, model_version INTEGER, model_hash TEXT, code INTEGER, reason TEXT,"
	" started_ms INTEGER NOT NULL, ended_ms INTEGER,"
	" PRIMARY KEY(run_id, round, attempt));"
	"CREATE TABLE IF NOT EXISTS models("
	" run_id INTEGER NOT NULL REFERENCES runs(id), version INTEGER NOT NULL,"
	" round INTEGER NOT NULL, hash TEXT NOT NULL, signature TEXT, bytes BLOB NOT NULL,"
	" created_ms INTEGER NOT NULL, PRIMARY KEY(run_id, version));"
	"CREATE TABLE IF NOT EXISTS refusals("
	" run_id INTEGER NOT NULL, round INTEGER NOT NULL, attempt INTEGER NOT NULL,"
	" site INTEGER NOT NULL, code INTEGER NOT NULL, reason TEXT NOT NULL,"
	" at_ms INTEGER NOT NULL);";

/* Plain-sum runs (`run create --no-secagg`); older runs are secure. */
static const char migration_2[] =
	"ALTER TABLE runs ADD COLUMN plain_sum INTEGER NOT NULL DEFAULT 0;";

static const char *const migrations[COORD_DB_VERSION] = {
	migration_1,
	migration_2,
};

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int db_fail(sqlite3 *db, ft_errmsg *err, const char *what)
{
	return ft_errmsg_set(err, FT_EDB, "%s: %s", what, sqlite3_errmsg(db));
}

int coord_db_open(const char *path, sqlite3 **out, ft_errmsg *err)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rv = FT_OK, ver = 0;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		rv = ft_errmsg_set(err, FT_EDB, "%s: %s", path,
		                   db != NULL ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
	                     "PRAGMA foreign_keys=ON;", NULL, NULL, NULL) != SQLITE_OK) {
		rv = db_fail(db, err, path);
		goto out;
	}
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rv = db_fail(db, err, path);
		goto out;
	}
	ver = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (ver > COORD_DB_VERSION) {
		rv = ft_errmsg_set(err, FT_EDB, "%s: schema version %d is newer than this program's %d",
		                   path, ver, COORD_DB_VERSION);
		goto out;
	}
	if (ver < COORD_DB_VERSION) {
		char sql[64];
		int ok = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;

		/* The version is read again inside the write transaction: two
		 * processes opening an old database migrate it once. */
		if (ok) {
			ok = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
			     sqlite3_step(st) == SQLITE_ROW;
			if (ok)
				ver = sqlite3_column_int(st, 0);
			sqlite3_finalize(st);
			st = NULL;
		}
		for (int v = ver; ok && v < COORD_DB_VERSION; v++)
			ok = sqlite3_exec(db, migrations[v], NULL, NULL, NULL) == SQLITE_OK;
		snprintf(sql, sizeof(sql), "PRAGMA user_version=%d; COMMIT", COORD_DB_VERSION);
		if (!ok || sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
			rv = db_fail(db, err, path);
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			goto out;
		}
	}
	*out = db;
	db = NULL;
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rv;
}

void coord_db_close(sqlite3 *db)
{
	sqlite3_close(db);
}

int coord_db_run_create(sqlite3 *db, const char *name, const ft_coord_run *r,
                        const char *spec_text, const uint8_t *model, size_t model_len,
                        uint64_t *id, ft_errmsg *err)
{
	sqlite3_stmt *st = NULL;
	uint8_t hash[FT_CRYPTO_HASH_BYTES];
	char hex[2 * FT_CRYPTO_HASH_BYTES + 1];
	int64_t now = wall_ms(), rid;
	int rv = FT_OK;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(db, err, "begin");
	if (sqlite3_prepare_v2(db,
	                       "INSERT INTO runs(name,status,rounds,min_sites,lr,epochs,batch,"
	                       "dp_clip,epsilon,update_clip,bits,standardise,optimizer,server_lr,"
	                       "beta1,beta2,tau,spec,created_ms,updated_ms,dropout,plain_sum)"
	                       " VALUES(?,'created',?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
	                       -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, r->rounds);
	sqlite3_bind_int64(st, 3, r->min_sites);
	sqlite3_bind_double(st, 4, r->lr);
	sqlite3_bind_int64(st, 5, r->epochs);
	sqlite3_bind_int64(st, 6, r->batch);
	sqlite3_bind_double(st, 7, r->dp_clip);
	sqlite3_bind_double(st, 8, r->epsilon);
	sqlite3_bind_double(st, 9, r->update_clip);
	sqlite3_bind_int64(st, 10, r->bits);
	sqlite3_bind_int64(st, 11, r->standardise);
	sqlite3_bind_int64(st, 12, r->optimizer);
	sqlite3_bind_double(st, 13, r->server_lr);
	sqlite3_bind_double(st, 14, r->beta1);
	sqlite3_bind_double(st, 15, r->beta2);
	sqlite3_bind_double(st, 16, r->tau);
	sqlite3_bind_text(st, 17, spec_text, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 18, now);
	sqlite3_bind_int64(st, 19, now);
	sqlite3_bind_double(st, 20, r->dropout);
	sqlite3_bind_int64(st, 21, r->plain_sum);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	rid = sqlite3_last_insert_rowid(db);
	sqlite3_finalize(st);
	st = NULL;
	ft_crypto_hash(hash, model, model_len);
	ft_crypto_hex(hex, hash, sizeof(hash));
	if (sqlite3_prepare_v2(db,
	                       "INSERT INTO models(run_id,version,round,hash,bytes,created_ms)"
	                       " VALUES(?,0,0,?,?,?)",
	                       -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(st, 1, rid);
	sqlite3_bind_text(st, 2, hex, -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 3, model, (int)model_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	*id = (uint64_t)rid;
	return FT_OK;
fail:
	rv = db_fail(db, err, "creating the run");
	sqlite3_finalize(st);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rv;
}

int coord_db_run_set_status(sqlite3 *db, uint64_t id, const char *status, ft_errmsg *err)
{
	static const struct {
		const char *to, *from;
	} allowed[] = {
		{"running", "created"}, {"paused", "running"}, {"running", "paused"},
		{"stopped", "created"}, {"stopped", "running"}, {"stopped", "paused"},
		{"complete", "running"},
	};
	sqlite3_stmt *st = NULL;
	char cur[32];
	int rv = FT_OK, ok = 0;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(db, err, "begin");
	if (sqlite3_prepare_v2(db, "SELECT status FROM runs WHERE id=?", -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(st, 1, (int64_t)id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rv = ft_errmsg_set(err, FT_ENOTFOUND, "no run %llu", (unsigned long long)id);
		goto out;
	}
	snprintf(cur, sizeof(cur), "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	st = NULL;
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (strcmp(allowed[i].to, status) == 0 && strcmp(allowed[i].from, cur) == 0)
			ok = 1;
	if (!ok) {
		rv = ft_errmsg_set(err, FT_ESTATE, "run %llu is %s: it cannot become %s",
		                   (unsigned long long)id, cur, status);
		goto out;
	}
	if (sqlite3_prepare_v2(db, "UPDATE runs SET status=?, updated_ms=? WHERE id=?", -1, &st,
	                       NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, wall_ms());
	sqlite3_bind_int64(st, 3, (int64_t)id);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	return FT_OK;
fail:
	rv = db_fail(db, err, "run status");
out:
	sqlite3_finalize(st);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rv;
}

int coord_db_run_load(sqlite3 *db, uint64_t id, ft_coord_run *r, char *status, size_t cap,
                      uint8_t **opt_state, size_t *opt_len, ft_errmsg *err)
{
	sqlite3_stmt *st = NULL;
	ft_coord_run x;
	int rv = FT_OK;

	if (sqlite3_prepare_v2(db,
	                       "SELECT status,rounds,min_sites,lr,epochs,batch,dp_clip,epsilon,"
	                       "update_clip,bits,standardise,optimizer,server_lr,beta1,beta2,tau,"
	                       "opt_state,dropout,plain_sum FROM runs WHERE id=?",
	                       -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, err, "loading the run");
	sqlite3_bind_int64(st, 1, (int64_t)id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rv = ft_errmsg_set(err, FT_ENOTFOUND, "no run %llu", (unsigned long long)id);
		goto out;
	}
	memset(&x, 0, sizeof(x));
	x.id = id;
	snprintf(status, cap, "%s", (const char *)sqlite3_column_text(st, 0));
	x.rounds = (uint32_t)sqlite3_column_int64(st, 1);
	x.min_sites = (uint32_t)sqlite3_column_int64(st, 2);
	x.lr = sqlite3_column_double(st, 3);
	x.epochs = (uint32_t)sqlite3_column_int64(st, 4);
	x.batch = (uint32_t)sqlite3_column_int64(st, 5);
	x.dp_clip = sqlite3_column_double(st, 6);
	x.epsilon = sqlite3_column_double(st, 7);
	x.update_clip = sqlite3_column_double(st, 8);
	x.bits = (uint32_t)sqlite3_column_int64(st, 9);
	x.standardise = (uint32_t)sqlite3_column_int64(st, 10);
	x.optimizer = (uint32_t)sqlite3_column_int64(st, 11);
	x.server_lr = sqlite3_column_double(st, 12);
	x.beta1 = sqlite3_column_double(st, 13);
	x.beta2 = sqlite3_column_double(st, 14);
	x.tau = sqlite3_column_double(st, 15);
	x.dropout = sqlite3_column_double(st, 17);
	x.plain_sum = sqlite3_column_int64(st, 18) != 0;
	if (opt_state != NULL) {
		int n = sqlite3_column_bytes(st, 16);

		*opt_state = NULL;
		*opt_len = 0;
		if (n > 0) {
			*opt_state = ft_malloc((size_t)n);
			if (*opt_state == NULL) {
				rv = FT_ENOMEM;
				goto out;
			}
			memcpy(*opt_state, sqlite3_column_blob(st, 16), (size_t)n);
			*opt_len = (size_t)n;
		}
	}
	*r = x;
out:
	sqlite3_finalize(st);
	return rv;
}

int coord_db_active_run(sqlite3 *db, uint64_t *id, ft_errmsg *err)
{
	sqlite3_stmt *st = NULL;
	int rv = FT_ENOTFOUND, s;

	if (sqlite3_prepare_v2(db,
	                       "SELECT id FROM runs WHERE status IN ('running','paused')"
	                       " ORDER BY id LIMIT 1",
	                       -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, err, "active run");
	s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		*id = (uint64_t)sqlite3_column_int64(st, 0);
		rv = FT_OK;
	} else if (s != SQLITE_DONE) {
		rv = db_fail(db, err, "active run");
	}
	sqlite3_finalize(st);
	return rv;
}

int coord_db_latest_model(sqlite3 *db, uint64_t run, uint8_t **bytes, size_t *len,
                          uint64_t *version, ft_errmsg *err)
{
	sqlite3_stmt *st = NULL;
	int rv = FT_OK, n;
	uint8_t *b;

	if (sqlite3_prepare_v2(db,
	                       "SELECT version, bytes FROM models WHERE run_id=?"
	                       " ORDER BY version DESC LIMIT 1",
	                       -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, err, "latest model");
	sqlite3_bind_int64(st, 1, (int64_t)run);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rv = ft_errmsg_set(err, FT_ENOTFOUND, "run %llu has no model",
		                   (unsigned long long)run);
		goto out;
	}
	n = sqlite3_column_bytes(st, 1);
	b = ft_malloc(n > 0 ? (size_t)n : 1);
	if (b == NULL) {
		rv = FT_ENOMEM;
		goto out;
	}
	memcpy(b, sqlite3_column_blob(st, 1), (size_t)n);
	*version = (uint64_t)sqlite3_column_int64(st, 0);
	*bytes = b;
	*len = (size_t)n;
out:
	sqlite3_finalize(st);
	return rv;
}

int coord_db_next_attempt(sqlite3 *db, uint64_t run, uint64_t round, uint32_t *attempt,
                          ft_errmsg *err)
{
	sqlite3_stmt *st = NULL;
	int rv = FT_OK;

	if (sqlite3_prepare_v2(db,
	                       "SELECT COALESCE(MAX(attempt),0) FROM rounds WHERE run_id=? AND round=?",
	                       -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, err, "next attempt");
	sqlite3_bind_int64(st, 1, (int64_t)run);
	sqlite3_bind_int64(st, 2, (int64_t)round);
	if (sqlite3_step(st) != SQLITE_ROW)
		rv = db_fail(db, err, "next attempt");
	else
		*attempt = (uint32_t)sqlite3_column_int64(st, 0) + 1;
	sqlite3_finalize(st);
	return rv;
}

int coord_db_abandon_running(sqlite3 *db, ft_errmsg *err)
{
	char sql[160];

	snprintf(sql, sizeof(sql),
	         "UPDATE rounds SET status='abandoned', reason='coordinator restarted',"
	         " ended_ms=%lld WHERE status='running'",
	         (long long)wall_ms());
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(db, err, "abandoning interrupted attempts");
	return FT_OK;
}

static int exec_stmt(sqlite3 *db, sqlite3_stmt *st)
{
	int s = sqlite3_step(st);

	sqlite3_finalize(st);
	(void)db;
	return s == SQLITE_DONE ? FT_OK : FT_EDB;
}

int coord_db_event(sqlite3 *db, uint64_t run, const ft_coord_event *ev, ft_errmsg *err)
{
	sqlite3_stmt *st = NULL;
	int64_t now = wall_ms();
	char hex[2 * FT_CRYPTO_SIG_BYTES + 1], sig[2 * FT_CRYPTO_SIG_BYTES + 1];
	char *surv = NULL;

	/* A model and its round must survive a power cut before any site sees
	 * them (synchronous FULL); attempt bookkeeping only needs to survive a
	 * crash of the process, which WAL gives at NORMAL without an fsync per
	 * commit, so a slow disk does not stall every site's replies. */
	sqlite3_exec(db, ev->type == FT_COORD_EV_MODEL || ev->type == FT_COORD_EV_STATS
	                     ? "PRAGMA synchronous=FULL"
	                                               : "PRAGMA synchronous=NORMAL",
	             NULL, NULL, NULL);
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(db, err, "begin");
	switch (ev->type) {
	case FT_COORD_EV_ATTEMPT_START:
		if (sqlite3_prepare_v2(db,
		                       "INSERT INTO rounds(run_id,round,attempt,status,n_sites,started_ms)"
		                       " VALUES(?,?,?,'running',?,?)",
		                       -1, &st, NULL) != SQLITE_OK)
			goto fail;
		sqlite3_bind_int64(st, 1, (int64_t)run);
		sqlite3_bind_int64(st, 2, (int64_t)ev->round);
		sqlite3_bind_int64(st, 3, ev->attempt);
		sqlite3_bind_int64(st, 4, ev->n_sites);
		sqlite3_bind_int64(st, 5, now);
		if (exec_stmt(db, st) != FT_OK)
			goto fail_nost;
		break;
	case FT_COORD_EV_REFUSED:
		if (sqlite3_prepare_v2(db,
		                       "INSERT INTO refusals(run_id,round,attempt,site,code,reason,at_ms)"
		                       " VALUES(?,?,?,?,?,?,?)",
		                       -1, &st, NULL) != SQLITE_OK)
			goto fail;
		sqlite3_bind_int64(st, 1, (int64_t)run);
		sqlite3_bind_int64(st, 2, (int64_t)ev->round);
		sqlite3_bind_int64(st, 3, ev->attempt);
		sqlite3_bind_int64(st, 4, ev->site);
		sqlite3_bind_int64(st, 5, ev->code);
		sqlite3_bind_text(st, 6, ev->text, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 7, now);
		if (exec_stmt(db, st) != FT_OK)
			goto fail_nost;
		break;
	case FT_COORD_EV_ATTEMPT_END:
		if (sqlite3_prepare_v2(db,
		                       "UPDATE rounds SET status='aborted', code=?, reason=?, ended_ms=?"
		                       " WHERE run_id=? AND round=? AND attempt=?",
		                       -1, &st, NULL) != SQLITE_OK)
			goto fail;
		sqlite3_bind_int64(st, 1, ev->code);
		sqlite3_bind_text(st, 2, ev->text, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, now);
		sqlite3_bind_int64(st, 4, (int64_t)run);
		sqlite3_bind_int64(st, 5, (int64_t)ev->round);
		sqlite3_bind_int64(st, 6, ev->attempt);
		if (exec_stmt(db, st) != FT_OK)
			goto fail_nost;
		break;
	case FT_COORD_EV_STATS:
	case FT_COORD_EV_MODEL: {
		size_t cap = (size_t)ev->n_survivors * 11 + 1, off = 0;

		surv = ft_malloc(cap);
		if (surv == NULL)
			goto fail_nost;
		surv[0] = '\0';
		for (uint32_t i = 0; i < ev->n_survivors; i++)
			off += (size_t)snprintf(surv + off, cap - off, i ? ",%u" : "%u",
			                        ev->survivors[i]);
		ft_crypto_hex(hex, ev->hash, FT_CRYPTO_HASH_BYTES);
		ft_crypto_hex(sig, ev->sig, FT_CRYPTO_SIG_BYTES);
		/* The statistics release replaces the version-0 file (its
		 * metadata carries the moments); a round adds a version. */
		if (sqlite3_prepare_v2(db,
		                       ev->type == FT_COORD_EV_STATS
		                           ? "INSERT OR REPLACE INTO models(run_id,version,round,hash,"
		                             "signature,bytes,created_ms) VALUES(?,?,?,?,?,?,?)"
		                           : "INSERT INTO models(run_id,version,round,hash,signature,"
		                             "bytes,created_ms) VALUES(?,?,?,?,?,?,?)",
		                       -1, &st, NULL) != SQLITE_OK)
			goto fail;
		sqlite3_bind_int64(st, 1, (int64_t)run);
		sqlite3_bind_int64(st, 2, (int64_t)ev->version);
		sqlite3_bind_int64(st, 3, (int64_t)ev->round);
		sqlite3_bind_text(st, 4, hex, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, sig, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 6, ev->model, (int)ev->model_len, SQLITE_STATIC);
		sqlite3_bind_int64(st, 7, now);
		if (exec_stmt(db, st) != FT_OK)
			goto fail_nost;
		if (sqlite3_prepare_v2(db,
		                       "UPDATE rounds SET status='done', survivors=?, model_version=?,"
		                       " model_hash=?, ended_ms=? WHERE run_id=? AND round=? AND attempt=?",
		                       -1, &st, NULL) != SQLITE_OK)
			goto fail;
		sqlite3_bind_text(st, 1, surv, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (int64_t)ev->version);
		sqlite3_bind_text(st, 3, hex, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, now);
		sqlite3_bind_int64(st, 5, (int64_t)run);
		sqlite3_bind_int64(st, 6, (int64_t)ev->round);
		sqlite3_bind_int64(st, 7, ev->attempt);
		if (exec_stmt(db, st) != FT_OK)
			goto fail_nost;
		if (ev->type == FT_COORD_EV_STATS)
			break;
		if (sqlite3_prepare_v2(db,
		                       "UPDATE runs SET opt_state=?, updated_ms=?,"
		                       " status=CASE WHEN ? THEN 'complete' ELSE status END WHERE id=?",
		                       -1, &st, NULL) != SQLITE_OK)
			goto fail;
		if (ev->opt_state_len > 0)
			sqlite3_bind_blob(st, 1, ev->opt_state, (int)ev->opt_state_len, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 1);
		sqlite3_bind_int64(st, 2, now);
		sqlite3_bind_int(st, 3, ev->run_complete);
		sqlite3_bind_int64(st, 4, (int64_t)run);
		if (exec_stmt(db, st) != FT_OK)
			goto fail_nost;
		break;
	}
	default:
		break;
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail_nost;
	ft_free(surv);
	return FT_OK;
fail:
	sqlite3_finalize(st);
fail_nost:
	ft_free(surv);
	{
		int rv = db_fail(db, err, "recording a round event");

		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return rv;
	}
}
