/*
 * test_store_cli.c - the `fedtwin node` store subcommands as an operator
 * uses them: exit statuses (0 ok, 1 error, 2 usage), the plain text they
 * print, and errors that name the file, line, column or option.
 */
#include "ft_test.h"
#include "ft_store.h"
#include "store_int.h"

#include <unistd.h>

typedef struct run_result {
	int status;
	char *out;
	char *err;
} run_result;

static char g_dir[64];
static char g_db[128];

/* Runs one command (NULL-terminated words) with --store g_db appended
 * unless `with_store` is 0. */
static run_result run(int with_store, ...)
{
	char *argv[32];
	int argc = 0;
	size_t n_out = 0, n_err = 0;
	run_result r = { 0 };
	FILE *out, *err;
	va_list ap;
	char *a;

	va_start(ap, with_store);
	while ((a = va_arg(ap, char *)) != NULL && argc < 28)
		argv[argc++] = a;
	va_end(ap);
	if (with_store) {
		argv[argc++] = "--store";
		argv[argc++] = g_db;
	}
	argv[argc] = NULL;
	out = open_memstream(&r.out, &n_out);
	err = open_memstream(&r.err, &n_err);
	assert_non_null(out);
	assert_non_null(err);
	r.status = store_cli_run(argc, argv, out, err);
	fclose(out);
	fclose(err);
	return r;
}

static void run_free(run_result *r)
{
	free(r->out);
	free(r->err);
}

static void expect(run_result r, int status, const char *in_out, const char *in_err)
{
	if (r.status != status || (in_out != NULL && strstr(r.out, in_out) == NULL) ||
	    (in_err != NULL && strstr(r.err, in_err) == NULL))
		fail_msg("status %d (want %d)\nstdout: %s\nstderr: %s\nwant out '%s' err '%s'",
		         r.status, status, r.out, r.err, in_out ? in_out : "", in_err ? in_err : "");
	run_free(&r);
}

static int setup(void **state)
{
	(void)state;
	ft_test_tmpdir(g_dir, sizeof(g_dir));
	snprintf(g_db, sizeof(g_db), "%s/site.db", g_dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ft_test_rmdir(g_dir);
	return 0;
}

static void test_cli_usage_errors(void **state)
{
	char pima[512];

	(void)state;
	ft_test_data("pima_diabetes/pima_diabetes.csv", pima, sizeof(pima));
	expect(run(0, "frobnicate", NULL), 2, NULL, "unknown command 'frobnicate'");
	expect(run(1, "import", "--target", "diabetes", NULL), 2, NULL, "--csv FILE is required");
	expect(run(1, "import", "--csv", pima, NULL), 2, NULL, "--target COL is required");
	expect(run(1, "import", "--csv", pima, "--target", "diabetes", "--na", "maybe", NULL), 2,
	       NULL, "--na must be 'error' or 'skip', not 'maybe'");
	expect(run(1, "import", "--csv", pima, "--target", "diabetes", "--bogus", "1", NULL), 2,
	       NULL, "unknown option '--bogus'");
	expect(run(1, "import", "--csv", pima, "--target", NULL), 2, NULL,
	       "option --target needs a value");
	expect(run(1, "import", "--csv", pima, "--csv", pima, "--target", "y", NULL), 2, NULL,
	       "option --csv given twice");
	expect(run(1, "import", "--csv", pima, "--target", "y", "--features", "a,,b", NULL), 2,
	       NULL, "--features: empty column name");
	expect(run(1, "consent", "maybe", "p1", NULL), 2, NULL, "expected grant or revoke");
	expect(run(1, "consent", "revoke", NULL), 2, NULL, "expected grant|revoke PATIENT");
	expect(run(1, "policy", "set", "--max-epsilon-run", "one", "--max-epsilon-total", "2",
	           "--delta", "1e-5", NULL),
	       2, NULL, "--max-epsilon-run: 'one' is not a number");
	expect(run(1, "policy", "set", "--max-epsilon-run", "1", "--delta", "1e-5", NULL), 2, NULL,
	       "--max-epsilon-total is required");
	expect(run(1, "policy", "drop", NULL), 2, NULL, "expected 'policy set' or 'policy show'");
	expect(run(0, "help", NULL), 0, "usage: fedtwin node", NULL);
	/* None of that created a store. */
	assert_int_not_equal(access(g_db, F_OK), 0);
	expect(run(1, "status", NULL), 1, NULL, "no store at");
	assert_int_not_equal(access(g_db, F_OK), 0);
}

static void test_cli_import_consent_policy_status(void **state)
{
	char heart[512];

	(void)state;
	ft_test_data("heart_disease_uci/heart_disease_uci.csv", heart, sizeof(heart));
	/* An error names file, line and column, and suggests --na skip. */
	expect(run(1, "import", "--csv", heart, "--target", "num", "--dataset", "heart", NULL), 1,
	       NULL, "heart_disease_uci.csv: line 89, column 'thal': missing value");
	expect(run(1, "import", "--csv", heart, "--target", "num", "--features", "age,chol,nope",
	           NULL),
	       1, NULL, "--features: ");
	expect(run(1, "import", "--csv", heart, "--target", "num", "--dataset", "heart", "--na",
	           "skip", "--features", "site,age,sex,trestbps", NULL),
	       0, "dataset: heart (new)\nrows: 861\n", NULL);
	expect(run(1, "import", "--csv", heart, "--target", "num", "--dataset", "heart2", "--na",
	           "skip", "--features", "site,age,sex,trestbps", NULL),
	       0, "skipped rows with missing values: 59", NULL);
	expect(run(1, "status", NULL), 0,
	       "dataset heart: target num, 4 features, 861 records, 861 patients, 861 consented",
	       NULL);

	expect(run(1, "consent", "revoke", "heart#1", "--actor", "dpo", NULL), 0,
	       "consent revoked: patient heart#1 (by dpo)", NULL);
	expect(run(1, "consent", "revoke", "nobody", NULL), 1, NULL, "no patient 'nobody'");
	expect(run(1, "status", NULL), 0, "consented: 1721\n", NULL);
	expect(run(1, "consent", "grant", "heart#1", NULL), 0, "consent granted", NULL);
	expect(run(1, "status", NULL), 0, "consented: 1722\n", NULL);

	expect(run(1, "policy", "show", NULL), 1, NULL, "no privacy policy is set; set one with");
	expect(run(1, "status", NULL), 0, "privacy policy: none; training is refused", NULL);
	expect(run(1, "policy", "set", "--max-epsilon-run", "2", "--max-epsilon-total", "1",
	           "--delta", "1e-5", NULL),
	       1, NULL, "--max-epsilon-total must be a number >= --max-epsilon-run");
	expect(run(1, "policy", "set", "--max-epsilon-run=1.5", "--max-epsilon-total", "8",
	           "--delta", "1e-5", NULL),
	       0, "max-epsilon-run: 1.5\nmax-epsilon-total: 8\ndelta: 1.0000000000000001e-05\n",
	       NULL);
	expect(run(1, "policy", "show", NULL), 0, "max-epsilon-total: 8\n", NULL);
	expect(run(1, "status", NULL), 0,
	       "privacy policy: max-epsilon-run 1.5, max-epsilon-total 8, delta 1e-05\n"
	       "privacy spent: epsilon 0 of max-epsilon-total 8 (delta 1e-05)\n",
	       NULL);
	{
		ft_store_ledger_event ev = { .run_id = "r1", .round = 1, .q = 0.01, .sigma = 1.1,
			                     .steps = 900, .delta = 1e-5 };
		ft_store *s = NULL;

		assert_int_equal(ft_store_open(g_db, &s, NULL), FT_OK);
		assert_int_equal(ft_store_ledger_append(s, &ev, NULL, NULL), FT_OK);
		ft_store_close(s);
	}
	/* 900 steps at q 0.01, sigma 1.1: epsilon 1.6368 (test_store_privacy.c). */
	expect(run(1, "status", NULL), 0,
	       "privacy spent: epsilon 1.637 of max-epsilon-total 8 (delta 1e-05)\n"
	       "privacy ledger events: 1\n",
	       NULL);
	expect(run(1, "ledger", "show", NULL), 0,
	       "1 r1 1 q=0.01 sigma=1.1000000000000001 steps=900 delta=1.0000000000000001e-05 at=",
	       NULL);
	expect(run(1, "ledger", "show", NULL), 0, "epsilon spent: 1.63679\n", NULL);
	expect(run(1, "ledger", "show", "--run", "r2", NULL), 0, "epsilon spent by run r2: 0\n",
	       NULL);
	expect(run(1, "ledger", "list", NULL), 2, NULL, "expected 'ledger show'");
}

static void test_cli_default_store_path(void **state)
{
	char cwd[512], csv[160];
	FILE *f;

	(void)state;
	snprintf(csv, sizeof(csv), "%s/tiny.csv", g_dir);
	f = fopen(csv, "w");
	assert_non_null(f);
	fputs("pid,a,y\np1,1,0\np1,2,1\n", f);
	fclose(f);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(g_dir), 0);
	expect(run(0, "import", "--csv", csv, "--target", "y", "--patient-id", "pid", NULL), 0,
	       "patients: 1 (1 new)", NULL);
	assert_int_equal(access(FT_STORE_DEFAULT_PATH, F_OK), 0);
	expect(run(0, "status", NULL), 0, "dataset tiny: target y, 1 features, 2 records, 1 patients",
	       NULL);
	assert_int_equal(chdir(cwd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cli_usage_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cli_import_consent_policy_status, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_cli_default_store_path, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
