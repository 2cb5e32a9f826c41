/*
 * test_node_stats.c - the site's statistics release for federated
 * standardisation under its own policy: it fails closed without a policy,
 * charges the ledger (q = 1, one step, the calibrated multiplier) before the
 * noisy vector exists, counts against the run's limit like training,
 * refuses past FT_NODE_STATS_MAX_RELEASES per run, and averages each
 * patient's records.
 */
#include "ft_test.h"

#include <math.h>

#include "ft_crypto.h"
#include "ft_node.h"
#include "ft_privacy.h"

typedef struct fixture {
	char dir[128];
	char db[192];
	ft_store *store;
} fixture;

/* 40 patients with 3 records each; a in [-1, 1], b in [0, 1]. */
static void write_csv(const char *path)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fprintf(f, "pid,a,b,label\n");
	for (int p = 0; p < 40; p++)
		for (int r = 0; r < 3; r++)
			fprintf(f, "P%02d,%.3f,%.3f,%d\n", p, (p % 2 ? 1.0 : -1.0) * 0.02 * p,
			        0.3 * r, p % 2);
	fclose(f);
}

static int setup(void **state)
{
	fixture *fx = calloc(1, sizeof(*fx));
	ft_store_import_opts opts;
	char csv[256];

	assert_non_null(fx);
	assert_int_equal(ft_crypto_init(), FT_OK);
	ft_test_tmpdir(fx->dir, sizeof(fx->dir));
	snprintf(fx->db, sizeof(fx->db), "%s/site.db", fx->dir);
	snprintf(csv, sizeof(csv), "%s/data.csv", fx->dir);
	write_csv(csv);
	assert_int_equal(ft_store_open(fx->db, &fx->store, NULL), FT_OK);
	memset(&opts, 0, sizeof(opts));
	opts.target = "label";
	opts.patient_id = "pid";
	opts.dataset = "toy";
	assert_int_equal(ft_store_import_csv(fx->store, csv, &opts, NULL, NULL), FT_OK);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	fixture *fx = *state;

	ft_store_close(fx->store);
	ft_test_rmdir(fx->dir);
	free(fx);
	return 0;
}

static const double LO[2] = {-1, 0}, HI[2] = {1, 1};

static void request(ft_node_stats_request *req, const char *run, double eps)
{
	memset(req, 0, sizeof(*req));
	req->dataset = "toy";
	req->run_id = run;
	req->lo = LO;
	req->hi = HI;
	req->n_features = 2;
	req->epsilon = eps;
	req->max_units = 1000;
}

typedef struct ledger_seen {
	int n;
	ft_store_ledger_event last;
} ledger_seen;

static int seen_fn(void *ctx, const ft_store_ledger_event *ev)
{
	ledger_seen *s = ctx;

	s->n++;
	s->last = *ev;
	return 0;
}

static ledger_seen ledger(ft_store *st, const char *run)
{
	ledger_seen s;

	memset(&s, 0, sizeof(s));
	assert_int_equal(ft_store_ledger_foreach(st, run, seen_fn, &s, NULL), FT_OK);
	return s;
}

static void test_no_policy_fails_closed(void **state)
{
	fixture *fx = *state;
	ft_node_stats_request req;
	ft_node_stats_result res;
	float vec[5] = {42, 42, 42, 42, 42};

	request(&req, "run-1", 1.0);
	assert_int_equal(ft_node_stats_release(fx->store, &req, vec, 5, &res, NULL), FT_EPERM);
	assert_true(vec[0] == 42 && vec[4] == 42);
	assert_int_equal(ledger(fx->store, NULL).n, 0);
}

/* The charge is the Gaussian mechanism at the calibrated multiplier, and
 * the released count is 40 patients (not 120 records) plus noise. */
static void test_release_is_charged(void **state)
{
	fixture *fx = *state;
	ft_node_stats_request req;
	ft_node_stats_result res;
	ledger_seen s;
	float vec[5];
	double eps = 0, order;

	assert_int_equal(ft_store_policy_set(fx->store, 5.0, 10.0, 1e-5, NULL), FT_OK);
	request(&req, "run-1", 1.0);
	assert_int_equal(ft_node_stats_release(fx->store, &req, vec, 5, &res, NULL), FT_OK);
	s = ledger(fx->store, "run-1");
	assert_int_equal(s.n, 1);
	assert_int_equal(s.last.round, 0);
	assert_true(s.last.q == 1.0 && s.last.steps == 1 && s.last.delta == 1e-5);
	assert_true(s.last.sigma == res.dp.z);
	assert_int_equal(ft_privacy_epsilon(1.0, res.dp.z, 1, 1e-5, NULL, 0, &eps, &order), FT_OK);
	assert_true(eps <= 1.0 && fabs(res.eps_round - eps) < 1e-12);
	assert_true(fabs(res.eps_run - eps) < 1e-9);
	assert_int_equal(res.n_units, 40);
	assert_true(res.dp.sensitivity == ft_model_stats_sensitivity(2));
	/* noise of sd about 14 around 40: never 120 records' worth */
	assert_true(fabs(vec[4] - 40) < 10 * res.dp.noise_sd);
	assert_true(vec[4] != 40 || vec[0] != 0);
	/* the store's spend says the same */
	assert_int_equal(ft_store_privacy_spent(fx->store, "run-1", &eps, NULL), FT_OK);
	assert_true(fabs(eps - res.eps_run) < 1e-9);
}

/* At most FT_NODE_STATS_MAX_RELEASES charged releases per run; another run
 * has its own count. */
static void test_release_cap(void **state)
{
	fixture *fx = *state;
	ft_node_stats_request req;
	ft_node_stats_result res;
	ft_errmsg err = {{0}};
	float vec[5];

	assert_int_equal(ft_store_policy_set(fx->store, 50.0, 100.0, 1e-5, NULL), FT_OK);
	request(&req, "run-7", 1.0);
	for (unsigned k = 0; k < FT_NODE_STATS_MAX_RELEASES; k++) {
		assert_int_equal(ft_node_stats_release(fx->store, &req, vec, 5, &res, NULL), FT_OK);
		assert_int_equal(res.ledger_round, k);
	}
	assert_int_equal(ft_node_stats_release(fx->store, &req, vec, 5, &res, &err), FT_EPERM);
	assert_non_null(strstr(err.msg, "released"));
	assert_int_equal(ledger(fx->store, "run-7").n, FT_NODE_STATS_MAX_RELEASES);
	request(&req, "run-8", 1.0);
	assert_int_equal(ft_node_stats_release(fx->store, &req, vec, 5, &res, NULL), FT_OK);
}

/* The release counts against the run's limit like training: over it,
 * nothing is charged and nothing released; a smaller epsilon fits. */
static void test_release_within_run_limit(void **state)
{
	fixture *fx = *state;
	ft_node_stats_request req;
	ft_node_stats_result res;
	float vec[5] = {42, 42, 42, 42, 42};

	assert_int_equal(ft_store_policy_set(fx->store, 1.0, 10.0, 1e-5, NULL), FT_OK);
	request(&req, "run-2", 2.0);
	assert_int_equal(ft_node_stats_release(fx->store, &req, vec, 5, &res, NULL), FT_EBUDGET);
	assert_true(vec[0] == 42);
	assert_int_equal(ledger(fx->store, NULL).n, 0);
	request(&req, "run-2", 0.9);
	assert_int_equal(ft_node_stats_release(fx->store, &req, vec, 5, &res, NULL), FT_OK);
	/* a second release would take the run past 1 */
	assert_int_equal(ft_node_stats_release(fx->store, &req, vec, 5, &res, NULL), FT_EBUDGET);
	assert_int_equal(ledger(fx->store, NULL).n, 1);
}

static void test_bad_requests(void **state)
{
	fixture *fx = *state;
	ft_node_stats_request req;
	ft_node_stats_result res;
	float vec[5];

	assert_int_equal(ft_store_policy_set(fx->store, 5.0, 10.0, 1e-5, NULL), FT_OK);
	request(&req, "run-3", 1.0);
	assert_int_equal(ft_node_stats_release(fx->store, &req, vec, 4, &res, NULL), FT_EINVAL);
	req.n_features = 3;
	assert_int_equal(ft_node_stats_release(fx->store, &req, vec, 7, &res, NULL) != FT_OK, 1);
	request(&req, "run-3", 0);
	assert_int_equal(ft_node_stats_release(fx->store, &req, vec, 5, &res, NULL), FT_EINVAL);
	request(&req, "run-3", 1.0);
	req.dataset = "none";
	assert_int_equal(ft_node_stats_release(fx->store, &req, vec, 5, &res, NULL) != FT_OK, 1);
	request(&req, "run-3", 1.0);
	req.max_units = 39;
	assert_int_equal(ft_node_stats_release(fx->store, &req, vec, 5, &res, NULL), FT_ERANGE);
	assert_int_equal(ledger(fx->store, NULL).n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_no_policy_fails_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_is_charged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_within_run_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
