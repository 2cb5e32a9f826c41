/*
 * test_model_quality.c - models trained on the shipped clinical data reach
 * the accuracy the project promises: logistic regression on WDBC and on
 * FLamby's Fed-Heart-Disease split, DP-SGD logistic regression on WDBC at
 * epsilon = 1, linear regression on the diabetes progression data, and an
 * MLP on WDBC.
 */
#include "ft_test.h"
#include "ft_crypto.h"
#include "ft_model.h"
#include "model_csv.h"
#include "ft_privacy.h"

#include <math.h>

static void load_wdbc(ft_model_dataset **train, ft_model_dataset **test)
{
	char path[512];
	csv_table t;
	ft_model_dataset *all;

	csv_load(ft_test_data("wdbc_breast_cancer/wdbc_breast_cancer.csv", path, sizeof(path)), &t);
	assert_int_equal(t.n_rows, 569);
	all = csv_dataset(&t, "malignant", NULL, NULL, NULL, NULL);
	assert_int_equal(all->n_features, 30);
	csv_split(all, 0.75, 42, train, test);
	csv_standardise(*train, *test);
	ft_model_dataset_free(all);
	csv_free(&t);
}

static ft_model *new_model(uint32_t kind, uint32_t nf, uint32_t nc, uint32_t hidden)
{
	ft_model_spec s;
	ft_model *m = NULL;
	uint8_t seed[32] = { 42 };

	memset(&s, 0, sizeof(s));
	s.kind = kind;
	s.n_features = nf;
	s.n_classes = nc;
	if (hidden > 0) {
		s.n_hidden = 1;
		s.hidden[0] = hidden;
		s.activation = FT_MODEL_ACT_RELU;
	}
	assert_int_equal(ft_model_alloc(&s, &m, NULL), FT_OK);
	assert_int_equal(ft_model_init(m, seed), FT_OK);
	return m;
}

static void test_wdbc_logreg(void **state)
{
	ft_model_dataset *train = NULL, *test = NULL;
	ft_model *m = new_model(FT_MODEL_LOGREG, 30, 2, 0);
	ft_model_train_config c;
	ft_model_eval ev;
	ft_errmsg e;

	(void)state;
	load_wdbc(&train, &test);
	ft_model_train_config_default(&c);
	c.lr = 0.1;
	c.epochs = 30;
	c.batch_units = 16;
	c.l2 = 1e-3;
	assert_int_equal(ft_model_train(m, train, &c, NULL, &e), FT_OK);
	assert_int_equal(ft_model_evaluate(m, test, &ev, &e), FT_OK);
	print_message("WDBC logreg: test accuracy %.4f AUC %.4f log loss %.4f\n", ev.accuracy,
	              ev.auc, ev.logloss);
	assert_true(ev.accuracy >= 0.95);
	assert_true(ev.auc >= 0.98);
	ft_model_free(m);
	ft_model_dataset_free(train);
	ft_model_dataset_free(test);
}

static void test_heart_flamby_logreg(void **state)
{
	static const char *const drop[] = { "site", "split", "num", NULL };
	static const char *const onehot[] = { "cp", "restecg", NULL };
	char path[512];
	csv_table t;
	ft_model_dataset *train, *test;
	ft_model *m;
	ft_model_train_config c;
	ft_model_eval ev;
	ft_errmsg e;

	(void)state;
	csv_load(ft_test_data("heart_disease_uci/heart_disease_flamby_split.csv", path, sizeof(path)),
	         &t);
	train = csv_dataset(&t, "disease", drop, onehot, "split", "train");
	test = csv_dataset(&t, "disease", drop, onehot, "split", "test");
	assert_int_equal(train->n_rows + test->n_rows, 740);
	csv_standardise(train, test);
	m = new_model(FT_MODEL_LOGREG, (uint32_t)train->n_features, 2, 0);
	ft_model_train_config_default(&c);
	c.lr = 0.05;
	c.epochs = 30;
	c.batch_units = 16;
	c.l2 = 1e-3;
	assert_int_equal(ft_model_train(m, train, &c, NULL, &e), FT_OK);
	assert_int_equal(ft_model_evaluate(m, test, &ev, &e), FT_OK);
	print_message("Fed-Heart-Disease pooled logreg: %zu train, %zu test, accuracy %.4f AUC %.4f\n",
	              train->n_rows, test->n_rows, ev.accuracy, ev.auc);
	assert_true(ev.accuracy >= 0.78);
	ft_model_free(m);
	ft_model_dataset_free(train);
	ft_model_dataset_free(test);
	csv_free(&t);
}

static void test_diabetes_linreg(void **state)
{
	char path[512];
	csv_table t;
	ft_model_dataset *all, *train = NULL, *test = NULL;
	ft_model *m;
	ft_model_train_config c;
	ft_model_eval ev;
	double mean = 0, sd = 0;

	(void)state;
	csv_load(ft_test_data("diabetes_progression/diabetes_progression.csv", path, sizeof(path)),
	         &t);
	all = csv_dataset(&t, "y", NULL, NULL, NULL, NULL);
	assert_int_equal(all->n_rows, 442);
	csv_split(all, 0.75, 7, &train, &test);
	csv_standardise(train, test);
	for (size_t r = 0; r < test->n_rows; r++)
		mean += test->y[r] / (double)test->n_rows;
	for (size_t r = 0; r < test->n_rows; r++)
		sd += (test->y[r] - mean) * (test->y[r] - mean) / (double)test->n_rows;
	sd = sqrt(sd);
	m = new_model(FT_MODEL_LINREG, 10, 0, 0);
	ft_model_train_config_default(&c);
	c.lr = 0.05;
	c.epochs = 100;
	c.batch_units = 16;
	assert_int_equal(ft_model_train(m, train, &c, NULL, NULL), FT_OK);
	assert_int_equal(ft_model_evaluate(m, test, &ev, NULL), FT_OK);
	print_message("diabetes linreg: test RMSE %.2f MAE %.2f (target sd %.2f)\n", ev.rmse, ev.mae,
	              sd);
	/* Published least-squares fits of this data have RMSE ~54 (R^2 ~0.5). */
	assert_true(ev.rmse < 60);
	assert_true(ev.rmse < 0.8 * sd);
	assert_true(isnan(ev.accuracy));
	ft_model_free(m);
	ft_model_dataset_free(all);
	ft_model_dataset_free(train);
	ft_model_dataset_free(test);
	csv_free(&t);
}

static void test_wdbc_mlp(void **state)
{
	ft_model_dataset *train = NULL, *test = NULL;
	ft_model *m = new_model(FT_MODEL_MLP, 30, 2, 16);
	ft_model_train_config c;
	ft_model_eval ev;

	(void)state;
	load_wdbc(&train, &test);
	ft_model_train_config_default(&c);
	c.optimizer = FT_MODEL_OPT_ADAM;
	c.lr = 0.003;
	c.epochs = 20;
	c.batch_units = 16;
	c.l2 = 1e-3;
	assert_int_equal(ft_model_train(m, train, &c, NULL, NULL), FT_OK);
	assert_int_equal(ft_model_evaluate(m, test, &ev, NULL), FT_OK);
	print_message("WDBC MLP(16, relu): test accuracy %.4f AUC %.4f\n", ev.accuracy, ev.auc);
	assert_true(ev.accuracy >= 0.93);
	ft_model_free(m);
	ft_model_dataset_free(train);
	ft_model_dataset_free(test);
}

/*
 * DP-SGD at (epsilon = 1, delta = 1e-5) per patient. The noise comes from
 * the CSPRNG, so the test cannot be seeded: it averages the accuracy of
 * three runs, and the threshold leaves the margin measured in
 * docs/BENCHMARKS.md (spread of single runs).
 */
static void test_wdbc_dp_logreg(void **state)
{
	ft_model_dataset *train = NULL, *test = NULL;
	ft_model_train_config c;
	ft_model_train_report rep;
	double sigma = 0, acc = 0, q;
	const uint32_t epochs = 15, batch = 64;
	uint64_t steps;
	ft_errmsg e;

	(void)state;
	load_wdbc(&train, &test);
	q = (double)batch / (double)train->n_units;
	steps = (uint64_t)epochs * ((train->n_units + batch - 1) / batch);
	assert_int_equal(ft_privacy_calibrate_sigma(1.0, 1e-5, q, steps, NULL, 0, &sigma), FT_OK);
	for (int run = 0; run < 3; run++) {
		ft_model *m = new_model(FT_MODEL_LOGREG, 30, 2, 0);
		ft_model_eval ev;
		double eps = 0, order = 0;

		ft_model_train_config_default(&c);
		c.lr = 0.5;
		c.epochs = epochs;
		c.batch_units = batch;
		c.dp.enabled = 1;
		c.dp.clip = 1.0;
		c.dp.sigma = sigma;
		assert_int_equal(ft_model_train(m, train, &c, &rep, &e), FT_OK);
		assert_int_equal(rep.steps, steps);
		assert_true(fabs(rep.q - q) < 1e-12);
		/* The report is what the accountant needs: it spends <= 1. */
		assert_int_equal(ft_privacy_epsilon(rep.q, rep.sigma, rep.steps, 1e-5, NULL, 0, &eps,
		                                    &order),
		                 FT_OK);
		assert_true(eps <= 1.0 + 1e-9);
		assert_int_equal(ft_model_evaluate(m, test, &ev, &e), FT_OK);
		print_message("WDBC DP-SGD eps=1: sigma %.3f, run %d accuracy %.4f\n", sigma, run,
		              ev.accuracy);
		acc += ev.accuracy / 3;
		ft_model_free(m);
	}
	assert_true(acc >= 0.94);
	ft_model_dataset_free(train);
	ft_model_dataset_free(test);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wdbc_logreg),
		cmocka_unit_test(test_heart_flamby_logreg),
		cmocka_unit_test(test_diabetes_linreg),
		cmocka_unit_test(test_wdbc_mlp),
		cmocka_unit_test(test_wdbc_dp_logreg),
	};

	if (ft_crypto_init() != FT_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
