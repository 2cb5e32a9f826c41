/*
 * test_node_train.c - local DP training at the site under the site's own
 * policy: it fails closed, refuses over-budget runs before training, never
 * reads withdrawn patients, charges each round once and before release, and
 * the model it returns carries its privacy cost.
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

/* 40 patients with 2 records each; the label is the sign of feature a. */
static void write_csv(const char *path)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fprintf(f, "pid,a,b,label\n");
	for (int p = 0; p < 40; p++)
		for (int r = 0; r < 2; r++) {
			double a = (p % 2 ? 1.0 : -1.0) * (0.5 + 0.01 * p + 0.1 * r);

			fprintf(f, "P%02d,%.3f,%.3f,%d\n", p, a, 0.3 * r - 0.1, p % 2);
		}
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

static void request(ft_node_train_request *req, uint64_t round)
{
	memset(req, 0, sizeof(*req));
	req->dataset = "toy";
	req->run_id = "run-1";
	req->round = round;
	req->spec.kind = FT_MODEL_LOGREG;
	req->spec.n_classes = 2;
	req->standardise = 1;
	ft_model_train_config_default(&req->cfg);
	req->cfg.epochs = 2;
	req->cfg.batch_units = 10;
	req->cfg.lr = 0.5;
	req->cfg.dp.clip = 1.0;
	req->cfg.dp.sigma = 2.0;
}

static int count_fn(void *ctx, const ft_store_ledger_event *ev)
{
	(void)ev;
	(*(size_t *)ctx)++;
	return 0;
}

/* Events in the privacy ledger, through the public walk. */
static size_t ledger_count(ft_store *store)
{
	size_t n = 0;

	assert_int_equal(ft_store_ledger_foreach(store, NULL, count_fn, &n, NULL), FT_OK);
	return n;
}

static void test_no_policy_fails_closed(void **state)
{
	fixture *fx = *state;
	ft_node_train_request req;
	ft_node_train_result res;
	ft_model *m = NULL;
	ft_errmsg err = {{0}};

	request(&req, 0);
	assert_int_equal(ft_node_train_local(fx->store, &req, &m, NULL, &res, &err), FT_EPERM);
	assert_null(m);
	assert_non_null(strstr(err.msg, "policy"));
	assert_int_equal(ledger_count(fx->store), 0);
}

static void test_trains_within_policy_and_charges_once(void **state)
{
	fixture *fx = *state;
	ft_node_train_request req;
	ft_node_train_result res;
	ft_model *m = NULL;
	ft_model_meta *meta = NULL;
	ft_errmsg err = {{0}};
	double eps = 0, direct = 0, order = 0;
	int64_t steps = 0;

	assert_int_equal(ft_store_policy_set(fx->store, 5.0, 10.0, 1e-5, NULL), FT_OK);
	request(&req, 0);
	assert_int_equal(ft_node_train_local(fx->store, &req, &m, &meta, &res, &err), FT_OK);
	assert_non_null(m);
	/* 40 patients are 40 units, not 80 rows. */
	assert_int_equal(res.data.patients_used, 40);
	assert_int_equal(res.data.records_used, 80);
	assert_true(fabs(res.train.q - 10.0 / 40.0) < 1e-12);
	assert_int_equal(res.train.steps, 8);
	/* The cost reported is the accountant's for exactly what ran. */
	assert_int_equal(ft_privacy_epsilon(0.25, 2.0, 8, 1e-5, NULL, 0, &direct, &order), FT_OK);
	assert_true(fabs(res.eps_round - direct) < 1e-9);
	assert_true(fabs(res.eps_run - direct) < 1e-9);
	assert_int_equal(ft_model_meta_get_double(meta, "dp.epsilon_round", &eps), FT_OK);
	assert_true(fabs(eps - direct) < 1e-9);
	assert_int_equal(ft_model_meta_get_int(meta, "dp.steps", &steps), FT_OK);
	assert_int_equal(steps, 8);
	assert_int_equal(ledger_count(fx->store), 1);
	ft_model_free(m);
	ft_model_meta_free(meta);
	m = NULL;
	/* The same round cannot be charged (and so trained) twice. */
	assert_int_equal(ft_node_train_local(fx->store, &req, &m, NULL, &res, &err), FT_EEXIST);
	assert_null(m);
	assert_int_equal(ledger_count(fx->store), 1);
}

static void test_over_budget_is_refused_before_training(void **state)
{
	fixture *fx = *state;
	ft_node_train_request req;
	ft_node_train_result res;
	ft_model *m = NULL;
	ft_errmsg err = {{0}};

	assert_int_equal(ft_store_policy_set(fx->store, 0.5, 1.0, 1e-5, NULL), FT_OK);
	request(&req, 0);
	req.cfg.dp.sigma = 0.7; /* far over epsilon 0.5 */
	assert_int_equal(ft_node_train_local(fx->store, &req, &m, NULL, &res, &err), FT_EBUDGET);
	assert_null(m);
	assert_non_null(strstr(err.msg, "max-epsilon-run"));
	assert_int_equal(ledger_count(fx->store), 0);
	/* Calibrating to the run limit fits, once; the next round does not. */
	req.cfg.dp.sigma = 0;
	req.target_epsilon = 0.49;
	assert_int_equal(ft_node_train_local(fx->store, &req, &m, NULL, &res, &err), FT_OK);
	assert_true(res.eps_round <= 0.49 + 1e-9);
	ft_model_free(m);
	m = NULL;
	request(&req, 1);
	req.target_epsilon = 0.49;
	req.cfg.dp.sigma = 0;
	assert_int_equal(ft_node_train_local(fx->store, &req, &m, NULL, &res, &err), FT_EBUDGET);
	assert_null(m);
	assert_int_equal(ledger_count(fx->store), 1);
}

static void test_withdrawn_patients_are_not_used(void **state)
{
	fixture *fx = *state;
	ft_node_train_request req;
	ft_node_train_result res;
	ft_model *m = NULL;
	ft_errmsg err = {{0}};

	assert_int_equal(ft_store_policy_set(fx->store, 5.0, 10.0, 1e-5, NULL), FT_OK);
	assert_int_equal(ft_store_consent_set(fx->store, "P03", 0, "test", NULL), FT_OK);
	assert_int_equal(ft_store_consent_set(fx->store, "P07", 0, "test", NULL), FT_OK);
	request(&req, 0);
	assert_int_equal(ft_node_train_local(fx->store, &req, &m, NULL, &res, &err), FT_OK);
	assert_int_equal(res.data.patients_used, 38);
	assert_int_equal(res.data.records_used, 76);
	assert_int_equal(res.data.patients_excluded, 2);
	assert_true(fabs(res.train.q - 10.0 / 38.0) < 1e-12);
	ft_model_free(m);
}

static void test_bad_requests(void **state)
{
	fixture *fx = *state;
	ft_node_train_request req;
	ft_node_train_result res;
	ft_model *m = NULL;
	ft_errmsg err = {{0}};

	assert_int_equal(ft_store_policy_set(fx->store, 5.0, 10.0, 1e-5, NULL), FT_OK);
	request(&req, 0);
	req.cfg.dp.clip = 0;
	assert_int_equal(ft_node_train_local(fx->store, &req, &m, NULL, &res, &err), FT_EINVAL);
	request(&req, 0);
	req.cfg.dp.sigma = 0;
	assert_int_equal(ft_node_train_local(fx->store, &req, &m, NULL, &res, &err), FT_EINVAL);
	request(&req, 0);
	req.dataset = "nope";
	assert_int_equal(ft_node_train_local(fx->store, &req, &m, NULL, &res, &err), FT_ENOTFOUND);
	assert_null(m);
	assert_int_equal(ledger_count(fx->store), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_no_policy_fails_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trains_within_policy_and_charges_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_over_budget_is_refused_before_training, setup, teardown),
		cmocka_unit_test_setup_teardown(test_withdrawn_patients_are_not_used, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
