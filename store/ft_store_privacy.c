/*
 * ft_store_privacy.c - the site's privacy policy (set by the site operator
 * only) and its privacy ledger: every release of a training result is
 * charged here, durably, before it leaves, so the RDP accountant can replay
 * the ledger in order and an auditor can check it. The policy check replays
 * the ledger through the privacy module's RDP accountant and fails closed.
 */
#include "ft_store.h"
#include "store_int.h"

#include "ft_privacy.h"

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
static int plan_valid(const char *run_id, double q, double sigma, uint64_t steps,
                      ft_errmsg *err)
{
	size_t n = strnlen(run_id, FT_STORE_RUN_ID_MAX + 1);

	if (n == 0 || n > FT_STORE_RUN_ID_MAX)
		return ft_errmsg_set(err, FT_EINVAL, "ledger: run id must have 1 to %d bytes",
		                     FT_STORE_RUN_ID_MAX);
	if (steps < 1 || steps > INT64_MAX)
		return ft_errmsg_set(err, FT_EINVAL, "ledger: steps out of range");
	if (!isfinite(q) || q <= 0 || q > 1)
		return ft_errmsg_set(err, FT_EINVAL, "ledger: sampling rate q must be in (0, 1]");
	if (!isfinite(sigma) || sigma <= 0)
		return ft_errmsg_set(err, FT_EINVAL, "ledger: noise multiplier sigma must be > 0");
	return FT_OK;
}

static int ledger_event_valid(const ft_store_ledger_event *ev, ft_errmsg *err)
{
	int rv;

	if (strnlen(ev->run_id, sizeof(ev->run_id)) == sizeof(ev->run_id))
		return ft_errmsg_set(err, FT_EINVAL, "ledger: run id is not terminated");
	rv = plan_valid(ev->run_id, ev->q, ev->sigma, ev->steps, err);
	if (rv != FT_OK)
		return rv;
	if (ev->round > INT64_MAX)
		return ft_errmsg_set(err, FT_EINVAL, "ledger: round out of range");
	if (!isfinite(ev->delta) || ev->delta <= 0 || ev->delta >= 1)
		return ft_errmsg_set(err, FT_EINVAL, "ledger: delta must be in (0, 1)");
	return FT_OK;
}

/* Inserts `ev` inside the caller's write transaction. */
static int ledger_insert(ft_store *s, const ft_store_ledger_event *ev, int64_t *seq,
                         ft_errmsg *err)
{
	sqlite3_stmt *st = NULL;
	int rv, rc;

	rv = store_prepare(s,
	                   "INSERT INTO privacy_ledger (run_id, round, q, sigma, steps, delta, at_ms)"
	                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	                   &st, err);
	if (rv != FT_OK)
		return rv;
	sqlite3_bind_text(st, 1, ev->run_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)ev->round);
	sqlite3_bind_double(st, 3, ev->q);
	sqlite3_bind_double(st, 4, ev->sigma);
	sqlite3_bind_int64(st, 5, (int64_t)ev->steps);
	sqlite3_bind_double(st, 6, ev->delta);
	sqlite3_bind_int64(st, 7, store_wall_ms());
	rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT_UNIQUE)
		rv = ft_errmsg_set(err, FT_EEXIST,
		                   "ledger: run '%.64s' round %llu is already charged", ev->run_id,
		                   (unsigned long long)ev->round);
	else if (rc != SQLITE_DONE)
		rv = store_db_fail(s, err, "cannot append to the privacy ledger");
	else
		*seq = sqlite3_last_insert_rowid(s->db);
	sqlite3_finalize(st);
	return rv;
}

int ft_store_ledger_append(ft_store *s, const ft_store_ledger_event *ev, int64_t *seq,
                           ft_errmsg *err)
{
	int64_t id = 0;
	int rv;

	if (s == NULL || ev == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "invalid argument");
	rv = ledger_event_valid(ev, err);
	if (rv != FT_OK)
		return rv;
	rv = store_begin_write(s, err);
	if (rv != FT_OK)
		return rv;
	rv = ledger_insert(s, ev, &id, err);
	if (rv == FT_OK)
		rv = store_commit(s, err);
	if (rv != FT_OK) {
		store_rollback(s);
		return rv;
	}
	if (seq != NULL)
		*seq = id;
	return FT_OK;
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

/* ---- Budget: the ledger replayed through the RDP accountant ------------ */

/* The policy, or FT_EPERM: without one nothing may be released. */
static int budget_policy(ft_store *s, ft_store_policy *p, ft_errmsg *err)
{
	int rv = ft_store_policy_get(s, p, err);

	if (rv == FT_ENOTFOUND)
		return ft_errmsg_set(err, FT_EPERM,
		                     "no privacy policy is set, so training is refused; " POLICY_HOWTO);
	return rv;
}

/*
 * Composes every ledger event into `total` and the events of `run_id` (if
 * non-NULL) into `run`. Runs inside the caller's transaction.
 */
static int budget_replay(ft_store *s, const char *run_id, ft_privacy_accountant *total,
                         ft_privacy_accountant *run, ft_errmsg *err)
{
	sqlite3_stmt *st = NULL;
	int rv, rc;

	rv = store_prepare(s, "SELECT seq, run_id, q, sigma, steps FROM privacy_ledger ORDER BY seq",
	                   &st, err);
	if (rv != FT_OK)
		return rv;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 1);
		double q = sqlite3_column_double(st, 2);
		double sigma = sqlite3_column_double(st, 3);
		int64_t steps = sqlite3_column_int64(st, 4);

		rv = steps < 1 ? FT_EINVAL : ft_privacy_accountant_add(total, q, sigma, (uint64_t)steps);
		if (rv == FT_OK && run != NULL && id != NULL && strcmp(id, run_id) == 0)
			rv = ft_privacy_accountant_add(run, q, sigma, (uint64_t)steps);
		if (rv != FT_OK) {
			rv = ft_errmsg_set(err, rv, "%.96s: privacy ledger event %lld cannot be "
			                   "accounted: %s", s->label, (long long)sqlite3_column_int64(st, 0),
			                   ft_strerror(rv));
			goto out;
		}
	}
	if (rc != SQLITE_DONE)
		rv = store_db_fail(s, err, "cannot read the privacy ledger");
out:
	sqlite3_finalize(st);
	return rv;
}

/* Epsilon of an accountant at `delta`; an unusable value counts as
 * infinite so that it can only refuse. */
static int budget_epsilon(const ft_privacy_accountant *acc, double delta, double *eps,
                          ft_errmsg *err)
{
	double order = 0, e = 0;
	int rv = ft_privacy_accountant_epsilon(acc, delta, &e, &order);

	if (rv != FT_OK)
		return ft_errmsg_set(err, rv, "privacy accountant: %s", ft_strerror(rv));
	*eps = isnan(e) ? INFINITY : e;
	return FT_OK;
}

/*
 * The check shared by ft_store_policy_check and ft_store_policy_charge,
 * inside the caller's transaction.
 */
static int budget_check(ft_store *s, const char *run_id, double q, double sigma,
                        uint64_t steps, double *eps_run, double *eps_total, ft_errmsg *err)
{
	ft_privacy_accountant *total = NULL, *run = NULL;
	ft_store_policy p = {0};
	double er = 0, et = 0;
	int rv;

	rv = budget_policy(s, &p, err);
	if (rv != FT_OK)
		return rv;
	rv = ft_privacy_accountant_alloc(NULL, 0, &total);
	if (rv == FT_OK)
		rv = ft_privacy_accountant_alloc(NULL, 0, &run);
	if (rv != FT_OK) {
		rv = ft_errmsg_set(err, rv, "privacy accountant: %s", ft_strerror(rv));
		goto out;
	}
	rv = budget_replay(s, run_id, total, run, err);
	if (rv != FT_OK)
		goto out;
	rv = ft_privacy_accountant_add(total, q, sigma, steps);
	if (rv == FT_OK)
		rv = ft_privacy_accountant_add(run, q, sigma, steps);
	if (rv != FT_OK) {
		rv = ft_errmsg_set(err, rv, "planned training (q %g, sigma %g, %llu steps): %s", q,
		                   sigma, (unsigned long long)steps, ft_strerror(rv));
		goto out;
	}
	rv = budget_epsilon(run, p.delta, &er, err);
	if (rv == FT_OK)
		rv = budget_epsilon(total, p.delta, &et, err);
	if (rv != FT_OK)
		goto out;
	*eps_run = er;
	*eps_total = et;
	if (!(er <= p.max_eps_run))
		rv = ft_errmsg_set(err, FT_EBUDGET,
		                   "run '%.64s' would reach epsilon %.4g > max-epsilon-run %g "
		                   "(delta %g); refused",
		                   run_id, er, p.max_eps_run, p.delta);
	else if (!(et <= p.max_eps_total))
		rv = ft_errmsg_set(err, FT_EBUDGET,
		                   "the store's patients would reach epsilon %.4g over all runs > "
		                   "max-epsilon-total %g (delta %g); refused",
		                   et, p.max_eps_total, p.delta);
out:
	ft_privacy_accountant_free(run);
	ft_privacy_accountant_free(total);
	return rv;
}

int ft_store_policy_check(ft_store *s, const char *run_id, double q, double sigma,
                          uint64_t steps, double *eps_run, double *eps_total, ft_errmsg *err)
{
	double er = 0, et = 0;
	int rv;

	if (s == NULL || run_id == NULL || eps_run == NULL || eps_total == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "invalid argument");
	rv = plan_valid(run_id, q, sigma, steps, err);
	if (rv != FT_OK)
		return rv;
	/* One snapshot of policy and ledger. */
	rv = store_begin_read(s, err);
	if (rv != FT_OK)
		return rv;
	rv = budget_check(s, run_id, q, sigma, steps, &er, &et, err);
	store_rollback(s);
	if (rv == FT_OK || rv == FT_EBUDGET) {
		*eps_run = er;
		*eps_total = et;
	}
	return rv;
}

int ft_store_policy_charge(ft_store *s, const ft_store_ledger_event *ev, double *eps_run,
                           double *eps_total, ft_errmsg *err)
{
	double er = 0, et = 0;
	int64_t seq = 0;
	int rv;

	if (s == NULL || ev == NULL || eps_run == NULL || eps_total == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "invalid argument");
	rv = ledger_event_valid(ev, err);
	if (rv != FT_OK)
		return rv;
	/* Check and append under one write lock: no overspending race. */
	rv = store_begin_write(s, err);
	if (rv != FT_OK)
		return rv;
	rv = budget_check(s, ev->run_id, ev->q, ev->sigma, ev->steps, &er, &et, err);
	if (rv == FT_OK)
		rv = ledger_insert(s, ev, &seq, err);
	if (rv == FT_OK)
		rv = store_commit(s, err);
	if (rv != FT_OK)
		store_rollback(s);
	if (rv == FT_OK || rv == FT_EBUDGET) {
		*eps_run = er;
		*eps_total = et;
	}
	return rv;
}

int ft_store_privacy_spent(ft_store *s, const char *run_id, double *eps, ft_errmsg *err)
{
	ft_privacy_accountant *total = NULL, *run = NULL;
	ft_store_policy p = {0};
	double e = 0;
	int rv;

	if (s == NULL || eps == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "invalid argument");
	rv = store_begin_read(s, err);
	if (rv != FT_OK)
		return rv;
	rv = ft_store_policy_get(s, &p, err);
	if (rv != FT_OK)
		goto out;
	rv = ft_privacy_accountant_alloc(NULL, 0, &total);
	if (rv == FT_OK && run_id != NULL)
		rv = ft_privacy_accountant_alloc(NULL, 0, &run);
	if (rv != FT_OK) {
		rv = ft_errmsg_set(err, rv, "privacy accountant: %s", ft_strerror(rv));
		goto out;
	}
	rv = budget_replay(s, run_id, total, run, err);
	if (rv == FT_OK)
		rv = budget_epsilon(run_id != NULL ? run : total, p.delta, &e, err);
	if (rv == FT_OK)
		*eps = e;
out:
	store_rollback(s);
	ft_privacy_accountant_free(run);
	ft_privacy_accountant_free(total);
	return rv;
}
