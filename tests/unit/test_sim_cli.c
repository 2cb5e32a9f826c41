/*
 * test_sim_cli.c - `fedtwin simulate` as a user runs it: the documented
 * command on the FLamby heart split prints one line per round with the
 * documented fields, and bad options fail with exit status 2 and a message
 * naming what is wrong.
 */
#include "ft_test.h"
#include "ft_crypto.h"
#include "ft_sim.h"

#include <fcntl.h>
#include <unistd.h>

static char heart[512], heart_ranges[512];
static char out_path[128], err_path[128];

/* Runs ft_sim_cli_main with stdout and stderr sent to files; returns the
 * exit status. */
static int run_cli(int argc, char **argv)
{
	int so = dup(1), se = dup(2), fo, fe, rc;

	fflush(stdout);
	fflush(stderr);
	fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(so >= 0 && se >= 0 && fo >= 0 && fe >= 0);
	dup2(fo, 1);
	dup2(fe, 2);
	rc = ft_sim_cli_main(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);
	close(fo);
	close(fe);
	return rc;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 16);
	size_t n;

	assert_non_null(f);
	assert_non_null(buf);
	n = fread(buf, 1, (1 << 16) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_documented_command(void **state)
{
	char *argv[] = {"simulate", "--data", heart, "--site-column", "site", "--split-column",
	                "split", "--target", "disease", "--exclude", "num", "--categorical",
	                "cp,restecg", "--model", "logreg", "--rounds", "3", "--dp-epsilon", "4",
	                "--dp-delta", "1e-5", "--seed", "5", "--feature-ranges", heart_ranges};
	char *out, *line;
	int n = 0;

	(void)state;
	assert_int_equal(run_cli(sizeof(argv) / sizeof(argv[0]), argv), 0);
	out = slurp(out_path);
	assert_non_null(strstr(out, "# sites=4 train=486 test=254"));
	assert_non_null(strstr(out, "stats-epsilon=1 standardise=public-ranges+dp"));
	for (line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		unsigned r = 0, sites = 0, surv = 0;
		double acc = -1, loss = -1, eps = -1;

		if (line[0] == '#')
			continue;
		n++;
		assert_int_equal(sscanf(line, "round=%u accuracy=%lf", &r, &acc), 2);
		assert_int_equal(r, (unsigned)n);
		assert_true(acc > 0 && acc <= 1);
		assert_non_null(strstr(line, " loss="));
		assert_int_equal(sscanf(strstr(line, " loss="), " loss=%lf", &loss), 1);
		assert_int_equal(sscanf(strstr(line, " epsilon="), " epsilon=%lf", &eps), 1);
		assert_int_equal(sscanf(strstr(line, " sites="), " sites=%u survivors=%u", &sites, &surv),
		                 2);
		assert_true(loss > 0);
		assert_true(eps > 0 && eps <= 4.0 + 0.005);
		assert_int_equal(sites, 4);
		assert_int_equal(surv, 4);
	}
	assert_int_equal(n, 3);
	free(out);
}

static void test_linreg_prints_rmse(void **state)
{
	char diabetes[512];
	char *argv[] = {"simulate", "--data", diabetes, "--target", "y", "--sites", "3",
	                "--model", "linreg", "--rounds", "2", "--no-secagg"};
	char *out;

	(void)state;
	ft_test_data("diabetes_progression/diabetes_progression.csv", diabetes, sizeof(diabetes));
	assert_int_equal(run_cli(sizeof(argv) / sizeof(argv[0]), argv), 0);
	out = slurp(out_path);
	assert_non_null(strstr(out, "round=2 rmse="));
	assert_null(strstr(out, "accuracy="));
	assert_non_null(strstr(out, "secagg=off"));
	free(out);
}

/* Each bad command exits 2 and says what is wrong. */
static void test_bad_options_exit_2(void **state)
{
	static const struct {
		const char *args[12];
		const char *says;
	} cases[] = {
		{{"--bogus", "1"}, "unknown option '--bogus'"},
		{{"--sites", "4", "--model", "logreg"}, "--rounds are required"},
		{{"--sites", "1", "--model", "logreg", "--rounds", "2"}, "--sites must be"},
		{{"--sites", "4", "--model", "tree", "--rounds", "2"}, "--model"},
		{{"--sites", "4", "--model", "logreg", "--rounds", "0"}, "--rounds must be"},
		{{"--sites", "4", "--model", "logreg", "--rounds", "2", "--server-opt", "sgd"},
		 "--server-opt"},
		{{"--sites", "4", "--model", "logreg", "--rounds", "2", "--dp-delta", "1e-5"},
		 "--dp-delta needs --dp-epsilon"},
		{{"--sites", "4", "--model", "logreg", "--rounds", "2", "--dp-epsilon", "1"},
		 "--dp-epsilon needs --feature-ranges"},
		{{"--sites", "4", "--model", "logreg", "--rounds", "2", "--stats-epsilon", "1"},
		 "--stats-epsilon needs --dp-epsilon"},
		{{"--sites", "4", "--model", "logreg", "--rounds", "2", "--bits", "8"}, "--bits"},
		{{"--sites", "4", "--model", "logreg", "--rounds", "2", "--drop-rate", "1.5"},
		 "--drop-rate"},
		{{"--sites", "4", "--site-column", "site", "--model", "logreg", "--rounds", "2"},
		 "exactly one of --site-column and --sites"},
		{{"--sites", "4", "--model", "logreg", "--rounds", "2", "--exclude", "nope"},
		 "no column 'nope'"},
		{{"--site-column", "site", "--model", "logreg", "--rounds", "2", "--dirichlet", "0.5"},
		 "--dirichlet needs --sites"},
		{{"--sites", "4", "--model", "logreg", "--rounds", "2", "--regression"},
		 "numeric target needs --model linreg or mlp"},
		{{"--sites", "4", "--model", "logreg", "--rounds", "2", "--lr"}, "--lr needs a value"},
	};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		char *argv[24];
		int argc = 0;
		char *err;

		argv[argc++] = "simulate";
		argv[argc++] = "--data";
		argv[argc++] = heart;
		argv[argc++] = "--target";
		argv[argc++] = "disease";
		for (int i = 0; i < 12 && cases[c].args[i] != NULL; i++)
			argv[argc++] = (char *)cases[c].args[i];
		if (run_cli(argc, argv) != 2)
			fail_msg("case %zu (%s): exit status not 2", c, cases[c].says);
		err = slurp(err_path);
		if (strstr(err, cases[c].says) == NULL)
			fail_msg("case %zu: stderr lacks '%s':\n%s", c, cases[c].says, err);
		free(err);
	}
}

static void test_help(void **state)
{
	char *argv[] = {"simulate", "--help"};
	char *out;

	(void)state;
	assert_int_equal(run_cli(2, argv), 0);
	out = slurp(out_path);
	assert_non_null(strstr(out, "usage: fedtwin simulate"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_documented_command),
		cmocka_unit_test(test_linreg_prints_rmse),
		cmocka_unit_test(test_bad_options_exit_2),
		cmocka_unit_test(test_help),
	};
	char dir[64];
	int rc;

	if (ft_crypto_init() != FT_OK)
		return 1;
	ft_test_data("heart_disease_uci/heart_disease_flamby_split.csv", heart, sizeof(heart));
	ft_test_data("heart_disease_uci/feature_ranges.txt", heart_ranges, sizeof(heart_ranges));
	snprintf(dir, sizeof(dir), "/tmp/fedtwin-sim-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(out_path, sizeof(out_path), "%s/out", dir);
	snprintf(err_path, sizeof(err_path), "%s/err", dir);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(out_path);
	unlink(err_path);
	rmdir(dir);
	return rc;
}
