/*
 * test_sim.c - federated simulation end to end on the shipped data: the
 * FLamby heart-disease split reaches a sensible accuracy, secure
 * aggregation gives the model summing in the clear gives (up to fixed-point
 * rounding), rounds complete with drop-outs, the DP budget is spent and not
 * exceeded, linear regression on diabetes progression, and bad options.
 */
#include "ft_test.h"
#include "ft_crypto.h"
#include "ft_sim.h"

#include <math.h>

#define HEART "heart_disease_uci/heart_disease_flamby_split.csv"
#define MAX_R 64

typedef struct rounds_log {
	uint32_t n;
	ft_sim_round_report r[MAX_R];
} rounds_log;

static void log_round(void *user, const ft_sim_round_report *r)
{
	rounds_log *l = user;

	if (l->n < MAX_R) {
		l->r[l->n] = *r;
		l->r[l->n].abort_reason = NULL;
		l->n++;
	}
}

static char heart_path[512], heart_ranges[512], diabetes_path[512];

static void heart_options(ft_sim_options *o, uint32_t rounds)
{
	ft_sim_options_default(o);
	o->data = heart_path;
	o->target = "disease";
	o->exclude = "num";
	o->categorical = "cp,restecg";
	o->site_column = "site";
	o->split_column = "split";
	o->model = FT_MODEL_LOGREG;
	o->rounds = rounds;
}

static void test_heart_fedavg_accuracy(void **state)
{
	ft_sim_options o;
	ft_sim_summary s;
	rounds_log log = {0};

	(void)state;
	heart_options(&o, 15);
	assert_int_equal(ft_sim_run(&o, NULL, log_round, &log, &s, NULL, NULL), FT_OK);
	/* FLamby's split: 4 hospitals, 486 training and 254 test patients;
	 * 13 columns minus num, with cp (4 levels) and restecg (3) one-hot. */
	assert_int_equal(s.n_sites, 4);
	assert_int_equal(s.n_train, 486);
	assert_int_equal(s.n_test, 254);
	assert_int_equal(s.n_features, 9 + 4 + 3 - 1);
	assert_int_equal(log.n, 15);
	for (uint32_t i = 0; i < log.n; i++) {
		assert_int_equal(log.r[i].round, i + 1);
		assert_int_equal(log.r[i].survivors, 4);
		assert_true(isinf(log.r[i].epsilon));
	}
	/* FLamby publishes 0.776 pooled and 0.697 for the best federated
	 * strategy; a plain logistic model under FedAvg should be in range. */
	print_message("final accuracy %.3f (sites %.3f), auc %.3f\n", s.last.accuracy,
	              s.last.accuracy_sites, s.last.auc);
	assert_true(s.last.accuracy >= 0.74);
	assert_true(s.last.auc >= 0.80);
	/* Training helped: better than the first round. */
	assert_true(s.last.loss < log.r[0].loss);
}

static double max_param_diff(ft_model *a, ft_model *b)
{
	double m = 0;

	assert_int_equal(ft_model_n_params(a), ft_model_n_params(b));
	for (size_t i = 0; i < ft_model_n_params(a); i++) {
		double d = fabs((double)ft_model_params(a)[i] - (double)ft_model_params(b)[i]);

		if (d > m)
			m = d;
	}
	return m;
}

/* The masks cancel exactly: with and without secure aggregation the models
 * differ only by the stochastic fixed-point rounding. */
static void test_secagg_equals_clear_sum(void **state)
{
	ft_sim_options o;
	ft_model *with = NULL, *without = NULL, *other_seed = NULL;
	rounds_log l1 = {0}, l2 = {0};
	double d;

	(void)state;
	heart_options(&o, 8);
	o.seed = 7;
	assert_int_equal(ft_sim_run(&o, NULL, log_round, &l1, NULL, &with, NULL), FT_OK);
	o.secagg = 0;
	assert_int_equal(ft_sim_run(&o, NULL, log_round, &l2, NULL, &without, NULL), FT_OK);
	d = max_param_diff(with, without);
	print_message("max parameter difference %.3g\n", d);
	assert_true(d < 1e-4);
	for (uint32_t i = 0; i < 8; i++)
		assert_true(fabs(l1.r[i].loss - l2.r[i].loss) < 1e-4);
	/* ... while a different seed (another batch order) moves the model by
	 * far more, so the comparison above can tell. */
	o.seed = 8;
	assert_int_equal(ft_sim_run(&o, NULL, NULL, NULL, NULL, &other_seed, NULL), FT_OK);
	assert_true(max_param_diff(with, other_seed) > 100 * d);
	ft_model_free(with);
	ft_model_free(without);
	ft_model_free(other_seed);
}

/* Sites dropping after their upload: rounds complete with every update in
 * the sum (the dropped sites' self masks are recovered from the others). */
static void test_dropouts_after_upload(void **state)
{
	ft_sim_options o;
	rounds_log log = {0};
	int seen = 0;

	(void)state;
	heart_options(&o, 8);
	o.drop_rate = 0.25;
	o.seed = 3;
	assert_int_equal(ft_sim_run(&o, NULL, log_round, &log, NULL, NULL, NULL), FT_OK);
	for (uint32_t i = 0; i < log.n; i++) {
		if (log.r[i].dropped > 0 && !log.r[i].aborted) {
			seen++;
			assert_int_equal(log.r[i].survivors, 4);
		}
	}
	print_message("%d rounds completed with drop-outs\n", seen);
	assert_true(seen > 0);
}

/* Sites dropping before their upload: the sum is over the others. */
static void test_dropouts_before_upload(void **state)
{
	ft_sim_options o;
	rounds_log log = {0};
	int seen = 0;

	(void)state;
	heart_options(&o, 8);
	o.drop_rate = 0.25;
	o.drop_when = FT_SIM_DROP_BEFORE_UPLOAD;
	o.seed = 3;
	assert_int_equal(ft_sim_run(&o, NULL, log_round, &log, NULL, NULL, NULL), FT_OK);
	for (uint32_t i = 0; i < log.n; i++) {
		if (log.r[i].dropped > 0 && !log.r[i].aborted) {
			seen++;
			assert_int_equal(log.r[i].survivors, 4 - log.r[i].dropped);
		}
	}
	assert_true(seen > 0);
}

/* Each site's budget is spent over the run and never exceeded: the
 * statistics release (epsilon 0.5 of it) counts from the start, and
 * training is calibrated to what it leaves. DP needs public ranges. */
static void test_dp_budget(void **state)
{
	ft_sim_options o;
	ft_sim_summary s;
	rounds_log log = {0};
	ft_errmsg err = {{0}};

	(void)state;
	heart_options(&o, 6);
	o.dp = 1;
	o.dp_epsilon = 2.0;
	o.dp_delta = 1e-5;
	assert_int_equal(ft_sim_run(&o, NULL, log_round, &log, &s, NULL, &err), FT_EINVAL);
	assert_non_null(strstr(err.msg, "--feature-ranges"));
	o.feature_ranges = heart_ranges;
	o.stats_epsilon = 2.0;
	assert_int_equal(ft_sim_run(&o, NULL, log_round, &log, &s, NULL, NULL), FT_EINVAL);
	o.stats_epsilon = 0.5;
	assert_int_equal(ft_sim_run(&o, NULL, log_round, &log, &s, NULL, NULL), FT_OK);
	assert_true(s.sigma_max > 0.5);
	/* round 1 already includes the release: more than 0.5 */
	assert_true(log.r[0].epsilon > 0.5);
	for (uint32_t i = 1; i < log.n; i++)
		assert_true(log.r[i].epsilon > log.r[i - 1].epsilon);
	print_message("epsilon after round 1: %.3f, at the end %.4f; accuracy %.3f\n",
	              log.r[0].epsilon, s.last.epsilon, s.last.accuracy);
	assert_true(s.last.epsilon <= 2.0 * (1 + 1e-6));
	assert_true(s.last.epsilon >= 1.9);
	assert_true(s.last.accuracy > 0.6);
}

static void test_linreg_diabetes(void **state)
{
	ft_sim_options o;
	ft_sim_summary s;

	(void)state;
	ft_sim_options_default(&o);
	o.data = diabetes_path;
	o.target = "y";
	o.n_sites = 4;
	o.model = FT_MODEL_LINREG;
	o.regression = 1;
	o.rounds = 15;
	assert_int_equal(ft_sim_run(&o, NULL, NULL, NULL, &s, NULL, NULL), FT_OK);
	assert_int_equal(s.n_sites, 4);
	assert_int_equal(s.n_classes, 0);
	assert_int_equal(s.n_train + s.n_test, 442);
	print_message("rmse %.2f\n", s.last.rmse);
	/* The target's standard deviation is 77; least squares reaches ~54. */
	assert_true(isnan(s.last.accuracy));
	assert_true(s.last.rmse < 60);
}

/* Label-skewed split and the other model kinds run and learn. */
static void test_dirichlet_softmax_mlp(void **state)
{
	ft_sim_options o;
	ft_sim_summary s1, s2;

	(void)state;
	heart_options(&o, 5);
	o.site_column = NULL;
	o.split_column = NULL;
	o.exclude = "num,site,split";
	o.n_sites = 3;
	o.dirichlet = 0.5;
	o.seed = 11;
	assert_int_equal(ft_sim_run(&o, NULL, NULL, NULL, &s1, NULL, NULL), FT_OK);
	assert_int_equal(s1.n_sites, 3);
	assert_int_equal(s1.n_train + s1.n_test, 740);
	/* Same seed, same partition. */
	assert_int_equal(ft_sim_run(&o, NULL, NULL, NULL, &s2, NULL, NULL), FT_OK);
	assert_int_equal(s1.n_train, s2.n_train);
	assert_true(fabs(s1.last.loss - s2.last.loss) < 1e-3);

	heart_options(&o, 5);
	o.target = "num";
	o.exclude = "disease";
	o.model = FT_MODEL_SOFTMAX;
	assert_int_equal(ft_sim_run(&o, NULL, NULL, NULL, &s1, NULL, NULL), FT_OK);
	assert_int_equal(s1.n_classes, 5);
	/* Better than always predicting the majority class (123 of the 254
	 * test patients have num = 0). */
	assert_true(s1.last.accuracy > 123.0 / 254 + 0.02);

	heart_options(&o, 5);
	o.model = FT_MODEL_MLP;
	o.n_hidden = 1;
	o.hidden[0] = 8;
	o.server_opt = FT_MODEL_SERVER_FEDADAM;
	assert_int_equal(ft_sim_run(&o, NULL, NULL, NULL, &s1, NULL, NULL), FT_OK);
	assert_int_equal(s1.n_params, 15 * 8 + 8 + 8 + 1);
	assert_true(s1.last.accuracy > 0.7);
}

static void test_bad_options(void **state)
{
	ft_sim_options o;
	ft_errmsg err;

	(void)state;
	heart_options(&o, 2);
	o.target = "nosuch";
	assert_int_equal(ft_sim_run(&o, NULL, NULL, NULL, NULL, NULL, &err), FT_ENOTFOUND);
	assert_non_null(strstr(err.msg, "nosuch"));
	heart_options(&o, 2);
	o.categorical = "cp,bogus";
	assert_int_equal(ft_sim_run(&o, NULL, NULL, NULL, NULL, NULL, &err), FT_ENOTFOUND);
	assert_non_null(strstr(err.msg, "bogus"));
	heart_options(&o, 2);
	o.target = "num"; /* five classes */
	o.exclude = "disease";
	assert_int_equal(ft_sim_run(&o, NULL, NULL, NULL, NULL, NULL, &err), FT_EINVAL);
	assert_non_null(strstr(err.msg, "softmax"));
	heart_options(&o, 2);
	o.n_sites = 3; /* and a site column */
	assert_int_equal(ft_sim_run(&o, NULL, NULL, NULL, NULL, NULL, &err), FT_EINVAL);
	heart_options(&o, 2);
	o.dp = 1;
	o.dp_epsilon = 0;
	assert_int_equal(ft_sim_run(&o, NULL, NULL, NULL, NULL, NULL, &err), FT_EINVAL);
	heart_options(&o, 2);
	o.exclude = NULL; /* num stays: fine, it is numeric */
	o.categorical = "split";
	assert_int_equal(ft_sim_run(&o, NULL, NULL, NULL, NULL, NULL, &err), FT_EINVAL);
	heart_options(&o, 2);
	o.data = "/nonexistent/file.csv";
	assert_int_equal(ft_sim_run(&o, NULL, NULL, NULL, NULL, NULL, &err), FT_EIO);
}

/* Allocation failures anywhere (data loading, standardisation, secure
 * aggregation, training, the server step) fail cleanly: an error or an
 * aborted round, never a crash or a leak (checked under ASan). */
static void test_allocation_failures(void **state)
{
	char dir[64], path[128], ranges[128];
	FILE *f;
	ft_sim_options o;
	long n, ok = 0, failed = 0;

	(void)state;
	ft_test_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/small.csv", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "h,a,b,c,y\n");
	for (int r = 0; r < 24; r++)
		fprintf(f, "%d,%d,%g,%s,%d\n", r % 2, r, (r * 7 % 11) / 3.0, r % 3 ? "u" : "v",
		        (r * 5 % 7) > 3);
	fclose(f);
	ft_sim_options_default(&o);
	o.data = path;
	o.target = "y";
	o.site_column = "h";
	o.categorical = "c";
	o.model = FT_MODEL_LOGREG;
	o.rounds = 2;
	o.dp = 1;
	o.dp_epsilon = 5;
	snprintf(ranges, sizeof(ranges), "%s/ranges.txt", dir);
	f = fopen(ranges, "w");
	assert_non_null(f);
	fprintf(f, "a 0 30\nb 0 4\n");
	fclose(f);
	o.feature_ranges = ranges;
	for (n = 0; n < 20000; n++) {
		ft_model *m = NULL;
		int rv;

		ft_alloc_fail_after(n);
		rv = ft_sim_run(&o, NULL, NULL, NULL, NULL, &m, NULL);
		ft_alloc_fail_after(-1);
		ft_model_free(m);
		if (rv == FT_OK) {
			ok = 1;
			break;
		}
		failed++;
	}
	print_message("%ld failing runs before the first success at %ld\n", failed, n);
	assert_true(ok);
	assert_true(failed > 10);
	ft_test_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heart_fedavg_accuracy),
		cmocka_unit_test(test_secagg_equals_clear_sum),
		cmocka_unit_test(test_dropouts_after_upload),
		cmocka_unit_test(test_dropouts_before_upload),
		cmocka_unit_test(test_dp_budget),
		cmocka_unit_test(test_linreg_diabetes),
		cmocka_unit_test(test_dirichlet_softmax_mlp),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_allocation_failures),
	};

	if (ft_crypto_init() != FT_OK)
		return 1;
	ft_test_data(HEART, heart_path, sizeof(heart_path));
	ft_test_data("heart_disease_uci/feature_ranges.txt", heart_ranges, sizeof(heart_ranges));
	ft_test_data("diabetes_progression/diabetes_progression.csv", diabetes_path,
	             sizeof(diabetes_path));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
