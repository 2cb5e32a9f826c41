/*
 * ft_store_privacy.c - the site's privacy policy (set by the site operator
 * only) and its privacy ledger: every release of a training result is
 * charged here, durably, before it leaves, so the RDP accountant can replay
 * the ledger in order and an auditor can check it.
 */
#include "ft_store.h"
#include "store_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define POLICY_HOWTO                                                                        \
	"set one with `fedtwin node policy set --max-epsilon-run E --max-epsilon-total E "   \
	"--delta D`"

int ft_store_policy_set(ft_store *s, double max_eps_run, double max_eps_total, double delta,
                        ft_errmsg *err)
{
	sqlite3_stmt *st = NULL;
	int64_t now = store_wall_ms();
	int rv;

	if (s == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "invalid argument");
	if (!isfinite(max_eps_run) || max_eps_run <= 0)
		return ft_errmsg_set(err, FT_EINVAL, "--max-epsilon-run must be a number > 0");
	if (!isfinite(max_eps_total) || max_eps_total < max_eps_run)
		return ft_errmsg_set(err, FT_EINVAL,
		                     "--max-epsilon-total must be a number >= --max-epsilon-run");
	if (!isfinite(delta) || delta <= 0 || delta >= 1)
		return ft_errmsg_set(err, FT_EINVAL, "--delta must be a number in (0, 1)");
	rv = store_begin_write(s, err);
	if (rv != FT_OK)
		return rv;
	rv = store_prepare(s,
	                   "INSERT INTO privacy_policy (id, max_eps_run, max_eps_total, delta,"
	                   " set_at_ms) VALUES (1, ?1, ?2, ?3, ?4)"
	                   " ON CONFLICT (id) DO UPDATE SET max_eps_run = ?1, max_eps_total = ?2,"
	                   " delta = ?3, set_at_ms = ?4",
	                   &st, err);
	if (rv != FT_OK)
		goto out;
	for (int pass = 0; pass < 2; pass++) {
		sqlite3_bind_double(st, 1, max_eps_run);
		sqlite3_bind_double(st, 2, max_eps_total);
		sqlite3_bind_double(st, 3, delta);
		sqlite3_bind_int64(st, 4, now);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rv = store_db_fail(s, err, "cannot set the privacy policy");
			goto out;
		}
		if (pass == 1)
			break;
		sqlite3_finalize(st);
		st = NULL;
		rv = store_prepare(s,
		                   "INSERT INTO privacy_policy_history (max_eps_run, max_eps_total,"
		                   " delta, set_at_ms) VALUES (?1, ?2, ?3, ?4)",
		                   &st, err);
		if (rv != FT_OK)
			goto out;
	}
	rv = store_commit(s, err);
out:
	sqlite3_finalize(st);
	if (rv != FT_OK)
		store_rollback(s);
	return rv;
}

int ft_store_policy_get(ft_store *s, ft_store_policy *out, ft_errmsg *err)
{
	sqlite3_stmt *st = NULL;
	int rv, rc;

	if (s == NULL || out == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "invalid argument");
	rv = store_prepare(s,
	                   "SELECT max_eps_run, max_eps_total, delta, set_at_ms"
	                   " FROM privacy_policy WHERE id = 1",
	                   &st, err);
	if (rv != FT_OK)
		return rv;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		rv = ft_errmsg_set(err, FT_ENOTFOUND, "no privacy policy is set; " POLICY_HOWTO);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		rv = store_db_fail(s, err, "cannot read the privacy policy");
		goto out;
	}
	out->max_eps_run = sqlite3_column_double(st, 0);
	out->max_eps_total = sqlite3_column_double(st, 1);
	out->delta = sqlite3_column_double(st, 2);
	out->set_at_ms = sqlite3_column_int64(st, 3);
out:
	sqlite3_finalize(st);
	return rv;
}

/* The ranges the ledger table's CHECK constraints also enforce. */
static int ledger_event_valid(const ft_store_ledger_event *ev, ft_errmsg *err)
{
	size_t n = strnlen(ev->run_id, sizeof(ev->run_id));

	if (n == 0 || n > FT_STORE_RUN_ID_MAX)
		return ft_errmsg_set(err, FT_EINVAL, "ledger: run id must have 1 to %d bytes",
		                     FT_STORE_RUN_ID_MAX);
	if (ev->round > INT64_MAX || ev->steps < 1 || ev->steps > INT64_MAX)
		return ft_errmsg_set(err, FT_EINVAL, "ledger: round or steps out of range");
	if (!isfinite(ev->q) || ev->q <= 0 || ev->q > 1)
		return ft_errmsg_set(err, FT_EINVAL, "ledger: sampling rate q must be in (0, 1]");
	if (!isfinite(ev->sigma) || ev->sigma <= 0)
		return ft_errmsg_set(err, FT_EINVAL, "ledger: noise multiplier sigma must be > 0");
	if (!isfinite(ev->delta) || ev->delta <= 0 || ev->delta >= 1)
		return ft_errmsg_set(err, FT_EINVAL, "ledger: delta must be in (0, 1)");
	return FT_OK;
}

int ft_store_ledger_append(ft_store *s, const ft_store_ledger_event *ev, int64_t *seq,
                           ft_errmsg *err)
{
	sqlite3_stmt *st = NULL;
	int64_t id = 0;
	int rv, rc;

	if (s == NULL || ev == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "invalid argument");
	rv = ledger_event_valid(ev, err);
	if (rv != FT_OK)
		return rv;
	rv = store_begin_write(s, err);
	if (rv != FT_OK)
		return rv;
	rv = store_prepare(s,
	                   "INSERT INTO privacy_ledger (run_id, round, q, sigma, steps, delta, at_ms)"
	                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	                   &st, err);
	if (rv != FT_OK)
		goto out;
	sqlite3_bind_text(st, 1, ev->run_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)ev->round);
	sqlite3_bind_double(st, 3, ev->q);
	sqlite3_bind_double(st, 4, ev->sigma);
	sqlite3_bind_int64(st, 5, (int64_t)ev->steps);
	sqlite3_bind_double(st, 6, ev->delta);
	sqlite3_bind_int64(st, 7, store_wall_ms());
	rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT_UNIQUE) {
		rv = ft_errmsg_set(err, FT_EEXIST,
		                   "ledger: run '%.64s' round %llu is already charged", ev->run_id,
		                   (unsigned long long)ev->round);
		goto out;
	}
	if (rc != SQLITE_DONE) {
		rv = store_db_fail(s, err, "cannot append to the privacy ledger");
		goto out;
	}
	id = sqlite3_last_insert_rowid(s->db);
	rv = store_commit(s, err);
	if (rv == FT_OK && seq != NULL)
		*seq = id;
out:
	sqlite3_finalize(st);
	if (rv != FT_OK)
		store_rollback(s);
	return rv;
}

int ft_store_ledger_foreach(ft_store *s, const char *run_id, ft_store_ledger_fn fn, void *ctx,
                            ft_errmsg *err)
{
	sqlite3_stmt *st = NULL;
	ft_store_ledger_event ev;
	int rv, rc;

	if (s == NULL || fn == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "invalid argument");
	rv = store_begin_read(s, err);
	if (rv != FT_OK)
		return rv;
	rv = store_prepare(s,
	                   "SELECT seq, run_id, round, q, sigma, steps, delta, at_ms"
	                   " FROM privacy_ledger WHERE ?1 IS NULL OR run_id = ?1 ORDER BY seq",
	                   &st, err);
	if (rv != FT_OK)
		goto out;
	if (run_id != NULL)
		sqlite3_bind_text(st, 1, run_id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&ev, 0, sizeof(ev));
		ev.seq = sqlite3_column_int64(st, 0);
		snprintf(ev.run_id, sizeof(ev.run_id), "%s", (const char *)sqlite3_column_text(st, 1));
		ev.round = (uint64_t)sqlite3_column_int64(st, 2);
		ev.q = sqlite3_column_double(st, 3);
		ev.sigma = sqlite3_column_double(st, 4);
		ev.steps = (uint64_t)sqlite3_column_int64(st, 5);
		ev.delta = sqlite3_column_double(st, 6);
		ev.at_ms = sqlite3_column_int64(st, 7);
		rv = fn(ctx, &ev);
		if (rv != 0)
			goto out;
	}
	if (rc != SQLITE_DONE) {
		rv = store_db_fail(s, err, "cannot read the privacy ledger");
		goto out;
	}
	rv = store_commit(s, err);
out:
	sqlite3_finalize(st);
	if (rv != FT_OK)
		store_rollback(s);
	return rv;
}
