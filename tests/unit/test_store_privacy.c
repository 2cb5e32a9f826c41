/*
 * test_store_privacy.c - the site's privacy policy check: it fails closed
 * (no policy, any database error), replays the ledger through the RDP
 * accountant, and refuses training that would exceed either limit.
 *
 * Expected epsilons come from tests/vectors/store_budget_reference.py, an
 * independent Python 3 (standard library) implementation of the
 * subsampled-Gaussian RDP bound (Mironov, Talwar and Zhang 2019; integer and
 * fractional orders, Opacus's default orders) with the conversion of Balle
 * et al. 2020, and are also checked against the privacy module's one-shot
 * ft_privacy_epsilon.
 */
#include "ft_test.h"
#include "ft_store.h"
#include "ft_privacy.h"
#include "store_int.h"

#include <math.h>

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

static void append(ft_store *s, const char *run, uint64_t round, double q, double sigma,
                   uint64_t steps)
{
	ft_store_ledger_event ev = { .round = round, .q = q, .sigma = sigma, .steps = steps,
		                     .delta = 1e-5 };
	ft_errmsg e;

	snprintf(ev.run_id, sizeof(ev.run_id), "%s", run);
	if (ft_store_ledger_append(s, &ev, NULL, &e) != FT_OK)
		fail_msg("append: %s", e.msg);
}

static size_t ledger_len(ft_store *s)
{
	ft_store_counts c;

	assert_int_equal(ft_store_counts_get(s, &c, NULL), FT_OK);
	return c.ledger_events;
}

static void assert_close(double got, double want)
{
	if (!(fabs(got - want) <= 1e-9 * fabs(want)))
		fail_msg("got %.17g, want %.17g", got, want);
}

/* Three events: run-a (0.01, 1.1) 200 and 300 steps, run-b (0.02, 1.5) 100. */
static void ledger_three(ft_store *s)
{
	append(s, "run-a", 1, 0.01, 1.1, 200);
	append(s, "run-a", 2, 0.01, 1.1, 300);
	append(s, "run-b", 1, 0.02, 1.5, 100);
}

static void test_check_fails_closed_without_policy(void **state)
{
	fixture *f = *state;
	ft_store_ledger_event ev = { .run_id = "run-a", .round = 3, .q = 0.01, .sigma = 1.1,
		                     .steps = 10, .delta = 1e-5 };
	double er = -1, et = -1;
	ft_errmsg e;

	assert_int_equal(ft_store_policy_check(f->s, "run-a", 0.01, 1.1, 10, &er, &et, &e),
	                 FT_EPERM);
	assert_non_null(strstr(e.msg, "no privacy policy is set, so training is refused"));
	assert_non_null(strstr(e.msg, "fedtwin node policy set --max-epsilon-run E"));
	assert_true(er == -1 && et == -1);
	assert_int_equal(ft_store_policy_charge(f->s, &ev, &er, &et, &e), FT_EPERM);
	assert_int_equal(ledger_len(f->s), 0);
	assert_int_equal(ft_store_privacy_spent(f->s, NULL, &er, &e), FT_ENOTFOUND);
}

static void test_check_replays_ledger(void **state)
{
	fixture *f = *state;
	double er = 0, et = 0, eps = 0, order = 0;
	ft_errmsg e;

	assert_int_equal(ft_store_policy_set(f->s, 2, 10, 1e-5, &e), FT_OK);
	/* Empty ledger: the plan alone. */
	assert_int_equal(ft_store_policy_check(f->s, "run-a", 0.01, 1.1, 900, &er, &et, &e),
	                 FT_OK);
	assert_close(er, 1.6367941099165217);
	assert_close(et, 1.6367941099165217);

	ledger_three(f->s);
	/* run-a: 200 + 300 recorded + 400 planned = 900 steps; the total also
	 * composes run-b's differently parameterised event. */
	assert_int_equal(ft_store_policy_check(f->s, "run-a", 0.01, 1.1, 400, &er, &et, &e),
	                 FT_OK);
	assert_close(er, 1.6367941099165217);
	assert_close(et, 1.7569611539368921);
	assert_int_equal(ft_privacy_epsilon(0.01, 1.1, 900, 1e-5, NULL, 0, &eps, &order), FT_OK);
	assert_close(er, eps);

	assert_int_equal(ft_store_privacy_spent(f->s, NULL, &eps, &e), FT_OK);
	assert_close(eps, 1.4474201095479082);
	assert_int_equal(ft_store_privacy_spent(f->s, "run-b", &eps, &e), FT_OK);
	assert_close(eps, 0.7466507412085426);
	assert_int_equal(ft_store_privacy_spent(f->s, "run-none", &eps, &e), FT_OK);
	assert_true(eps == 0);
	/* A check records nothing. */
	assert_int_equal(ledger_len(f->s), 3);
}

static void test_check_refuses_over_budget(void **state)
{
	fixture *f = *state;
	double er = 0, et = 0;
	ft_errmsg e;

	ledger_three(f->s);
	assert_int_equal(ft_store_policy_set(f->s, 1.5, 10, 1e-5, &e), FT_OK);
	assert_int_equal(ft_store_policy_check(f->s, "run-a", 0.01, 1.1, 400, &er, &et, &e),
	                 FT_EBUDGET);
	assert_non_null(strstr(e.msg, "run 'run-a' would reach epsilon 1.637 > max-epsilon-run 1.5"));
	assert_close(er, 1.6367941099165217); /* the values come back with the refusal */
	assert_close(et, 1.7569611539368921);
	/* Another run starts from its own zero but shares the lifetime total. */
	assert_int_equal(ft_store_policy_check(f->s, "run-c", 0.01, 1.1, 400, &er, &et, &e), FT_OK);

	assert_int_equal(ft_store_policy_set(f->s, 1.7, 1.7, 1e-5, &e), FT_OK);
	assert_int_equal(ft_store_policy_check(f->s, "run-a", 0.01, 1.1, 400, &er, &et, &e),
	                 FT_EBUDGET);
	assert_non_null(strstr(e.msg, "would reach epsilon 1.757 over all runs > "
	                              "max-epsilon-total 1.7"));
	/* A tighter delta costs more epsilon for the same ledger. */
	assert_int_equal(ft_store_policy_set(f->s, 5, 10, 1e-5, &e), FT_OK);
	assert_int_equal(ft_store_policy_check(f->s, "run-a", 0.01, 1.1, 400, &er, &et, &e), FT_OK);
	assert_int_equal(ft_store_policy_set(f->s, 5, 10, 1e-9, &e), FT_OK);
	{
		double er2 = 0, et2 = 0;

		assert_int_equal(ft_store_policy_check(f->s, "run-a", 0.01, 1.1, 400, &er2, &et2, &e),
		                 FT_OK);
		assert_true(er2 > er && et2 > et);
	}
	assert_int_equal(ft_store_policy_check(f->s, "run-a", 0, 1.1, 400, &er, &et, &e),
	                 FT_EINVAL);
	assert_int_equal(ft_store_policy_check(f->s, "", 0.01, 1.1, 400, &er, &et, &e), FT_EINVAL);
}

static void test_charge_is_check_and_append(void **state)
{
	fixture *f = *state;
	ft_store_ledger_event ev = { .run_id = "run-a", .round = 3, .q = 0.01, .sigma = 1.1,
		                     .steps = 400, .delta = 1e-5 };
	double er = 0, et = 0;
	ft_errmsg e;

	ledger_three(f->s);
	assert_int_equal(ft_store_policy_set(f->s, 2, 10, 1e-5, &e), FT_OK);
	assert_int_equal(ft_store_policy_charge(f->s, &ev, &er, &et, &e), FT_OK);
	assert_close(er, 1.6367941099165217);
	assert_int_equal(ledger_len(f->s), 4);
	/* The same round again. */
	assert_int_equal(ft_store_policy_charge(f->s, &ev, &er, &et, &e), FT_EEXIST);
	/* Round 4 would overspend run-a (1700 steps): refused, not recorded. */
	ev.round = 4;
	ev.steps = 800;
	assert_int_equal(ft_store_policy_charge(f->s, &ev, &er, &et, &e), FT_EBUDGET);
	assert_close(er, 2.194929419180927);
	assert_int_equal(ledger_len(f->s), 4);
	/* The spend now includes the charged round. */
	assert_int_equal(ft_store_privacy_spent(f->s, "run-a", &er, &e), FT_OK);
	assert_close(er, 1.6367941099165217);
}

static void test_check_refuses_on_database_error(void **state)
{
	fixture *f = *state;
	double er = 0, et = 0;
	ft_errmsg e;

	assert_int_equal(ft_store_policy_set(f->s, 2, 10, 1e-5, &e), FT_OK);
	ledger_three(f->s);
	/* A damaged store: the ledger cannot be read, so nothing is allowed. */
	assert_int_equal(sqlite3_exec(f->s->db, "ALTER TABLE privacy_ledger RENAME TO gone", NULL,
	                              NULL, NULL),
	                 SQLITE_OK);
	assert_int_equal(ft_store_policy_check(f->s, "run-a", 0.01, 1.1, 1, &er, &et, &e), FT_EDB);
	assert_int_equal(ft_store_privacy_spent(f->s, NULL, &er, &e), FT_EDB);
	/* A ledger row the accountant rejects (written around the CHECKs). */
	assert_int_equal(sqlite3_exec(f->s->db,
	                              "ALTER TABLE gone RENAME TO privacy_ledger;"
	                              "PRAGMA ignore_check_constraints = ON;"
	                              "INSERT INTO privacy_ledger (run_id, round, q, sigma, steps,"
	                              " delta, at_ms) VALUES ('run-x', 1, 7.0, 1.0, 1, 1e-5, 0);"
	                              "PRAGMA ignore_check_constraints = OFF",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	assert_int_equal(ft_store_policy_check(f->s, "run-a", 0.01, 1.1, 1, &er, &et, &e),
	                 FT_EINVAL);
	assert_non_null(strstr(e.msg, "privacy ledger event 4 cannot be accounted"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_check_fails_closed_without_policy, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_check_replays_ledger, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_refuses_over_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_charge_is_check_and_append, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_refuses_on_database_error, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
