/*
 * test_privacy_cli.c - `fedtwin privacy epsilon|sigma`: exit statuses, the
 * one-line key=value and JSON outputs, and error messages that name the
 * option at fault.
 */
#include "ft_test.h"

#include <math.h>
#include <unistd.h>

#include "ft_privacy.h"

/* Runs ft_privacy_cli_main on a NULL-terminated argument list with stdout and
 * stderr captured into out / err (NUL-terminated). Returns the exit status. */
static int run(char *out, size_t nout, char *err, size_t nerr, ...)
{
	char *argv[32];
	int argc = 0, rc, so, se;
	FILE *fo = tmpfile(), *fe = tmpfile();
	va_list ap;
	size_t k;

	assert_non_null(fo);
	assert_non_null(fe);
	va_start(ap, nerr);
	for (char *a = va_arg(ap, char *); a != NULL; a = va_arg(ap, char *))
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	fflush(stdout);
	fflush(stderr);
	so = dup(STDOUT_FILENO);
	se = dup(STDERR_FILENO);
	assert_true(so >= 0 && se >= 0);
	assert_true(dup2(fileno(fo), STDOUT_FILENO) >= 0);
	assert_true(dup2(fileno(fe), STDERR_FILENO) >= 0);
	rc = ft_privacy_cli_main(argc, argv);
	fflush(stdout);
	fflush(stderr);
	assert_true(dup2(so, STDOUT_FILENO) >= 0);
	assert_true(dup2(se, STDERR_FILENO) >= 0);
	close(so);
	close(se);
	rewind(fo);
	k = fread(out, 1, nout - 1, fo);
	out[k] = '\0';
	rewind(fe);
	k = fread(err, 1, nerr - 1, fe);
	err[k] = '\0';
	fclose(fo);
	fclose(fe);
	return rc;
}

#define RUN(...) run(out, sizeof(out), err, sizeof(err), __VA_ARGS__, (char *)NULL)

static void test_cli_epsilon(void **state)
{
	char out[512], err[512];
	double eps = 0, order = 0, got = 0, got_order = 0;

	(void)state;
	/* Opacus's accountants_test setting; the line carries the accountant's
	 * own result. */
	assert_int_equal(RUN("privacy", "epsilon", "--sampling-rate", "0.04",
	                     "--noise-multiplier", "1.5", "--steps", "2250", "--delta", "1e-5"),
	                 0);
	assert_int_equal(ft_privacy_epsilon(0.04, 1.5, 2250, 1e-5, NULL, 0, &eps, &order), FT_OK);
	assert_int_equal(sscanf(out, "epsilon=%lf order=%lf ", &got, &got_order), 2);
	assert_true(fabs(got - eps) <= 1e-9 * eps);
	assert_true(got_order == order);
	assert_non_null(strstr(out, " delta=1e-05 sampling_rate=0.04 noise_multiplier=1.5 "
	                            "steps=2250\n"));
	assert_true(strchr(out, '\n') == out + strlen(out) - 1); /* exactly one line */
	assert_string_equal(err, "");

	/* --opt=value, an explicit order list, JSON. */
	assert_int_equal(RUN("privacy", "epsilon", "--json", "--sampling-rate=0.04",
	                     "--noise-multiplier=1.5", "--steps=2250", "--delta=1e-5",
	                     "--orders=2,3.9,32"),
	                 0);
	assert_true(strncmp(out, "{\"epsilon\":7.32911117", 21) == 0);
	assert_non_null(strstr(out, "\"order\":3.9,"));
	assert_non_null(strstr(out, "\"steps\":2250}\n"));

	/* No noise: infinite epsilon, null in JSON. */
	assert_int_equal(RUN("privacy", "epsilon", "--sampling-rate", "0.1", "--noise-multiplier",
	                     "0", "--steps", "1", "--delta", "1e-5"),
	                 0);
	assert_true(strncmp(out, "epsilon=inf ", 12) == 0);
	assert_int_equal(RUN("privacy", "epsilon", "--sampling-rate", "0.1", "--noise-multiplier",
	                     "0", "--steps", "1", "--delta", "1e-5", "--json"),
	                 0);
	assert_true(strncmp(out, "{\"epsilon\":null,", 16) == 0);
}

static void test_cli_sigma(void **state)
{
	char out[512], err[512];
	double sigma = 0, want = 0, eps = 0;

	(void)state;
	assert_int_equal(RUN("privacy", "sigma", "--epsilon", "8", "--delta", "1e-5",
	                     "--sampling-rate", "0.04", "--steps", "2000"),
	                 0);
	assert_int_equal(ft_privacy_calibrate_sigma(8, 1e-5, 0.04, 2000, NULL, 0, &want), FT_OK);
	assert_int_equal(sscanf(out, "noise_multiplier=%lf epsilon=%lf ", &sigma, &eps), 2);
	assert_true(fabs(sigma - want) <= 1e-9 * want);
	assert_true(eps <= 8);
	assert_non_null(strstr(out, " target_epsilon=8 delta=1e-05 sampling_rate=0.04 "
	                            "steps=2000\n"));
	assert_int_equal(RUN("privacy", "sigma", "--epsilon", "8", "--delta", "1e-5",
	                     "--sampling-rate", "0.04", "--steps", "2000", "--json"),
	                 0);
	assert_true(strncmp(out, "{\"noise_multiplier\":1.35", 24) == 0);
	/* Unreachable target: a failure, not a usage error. */
	assert_int_equal(RUN("privacy", "sigma", "--epsilon", "1e-9", "--delta", "1e-5",
	                     "--sampling-rate", "1", "--steps", "1000000"),
	                 1);
	assert_non_null(strstr(err, "no noise multiplier"));
	assert_string_equal(out, "");
}

/* Each bad invocation exits 2 and names what is wrong. */
static void test_cli_usage_errors(void **state)
{
	char out[512], err[512];

	(void)state;
	assert_int_equal(RUN("privacy"), 2);
	assert_int_equal(RUN("privacy", "bogus"), 2);
	assert_non_null(strstr(err, "unknown command 'bogus'"));
	assert_int_equal(RUN("privacy", "epsilon", "--sampling-rate", "0.1x", "--noise-multiplier",
	                     "1", "--steps", "10", "--delta", "1e-5"),
	                 2);
	assert_non_null(strstr(err, "--sampling-rate: '0.1x' is not a finite number"));
	assert_int_equal(RUN("privacy", "epsilon", "--sampling-rate", "1.5", "--noise-multiplier",
	                     "1", "--steps", "10", "--delta", "1e-5"),
	                 2);
	assert_non_null(strstr(err, "--sampling-rate: '1.5' is not in [0, 1]"));
	assert_int_equal(RUN("privacy", "epsilon", "--sampling-rate", "0.1", "--noise-multiplier",
	                     "nan", "--steps", "10", "--delta", "1e-5"),
	                 2);
	assert_non_null(strstr(err, "--noise-multiplier"));
	assert_int_equal(RUN("privacy", "epsilon", "--sampling-rate", "0.1", "--noise-multiplier",
	                     "-1", "--steps", "10", "--delta", "1e-5"),
	                 2);
	assert_non_null(strstr(err, "--noise-multiplier: '-1' is negative"));
	assert_int_equal(RUN("privacy", "epsilon", "--sampling-rate", "0.1", "--noise-multiplier",
	                     "1", "--steps", "-3", "--delta", "1e-5"),
	                 2);
	assert_non_null(strstr(err, "--steps"));
	assert_int_equal(RUN("privacy", "epsilon", "--sampling-rate", "0.1", "--noise-multiplier",
	                     "1", "--steps", "10", "--delta", "1"),
	                 2);
	assert_non_null(strstr(err, "--delta: '1' is not in (0, 1)"));
	assert_int_equal(RUN("privacy", "epsilon", "--sampling-rate", "0.1", "--noise-multiplier",
	                     "1", "--steps", "10"),
	                 2);
	assert_non_null(strstr(err, "missing required option --delta"));
	assert_int_equal(RUN("privacy", "epsilon", "--sampling-rate", "0.1", "--sampling-rate",
	                     "0.2", "--noise-multiplier", "1", "--steps", "10", "--delta", "1e-5"),
	                 2);
	assert_non_null(strstr(err, "--sampling-rate given twice"));
	assert_int_equal(RUN("privacy", "epsilon", "--sampling-rate", "0.1", "--noise-multiplier",
	                     "1", "--steps", "10", "--delta"),
	                 2);
	assert_non_null(strstr(err, "--delta needs a value"));
	/* --epsilon belongs to `sigma`, not `epsilon`. */
	assert_int_equal(RUN("privacy", "epsilon", "--epsilon", "1", "--sampling-rate", "0.1",
	                     "--noise-multiplier", "1", "--steps", "10", "--delta", "1e-5"),
	                 2);
	assert_non_null(strstr(err, "unknown option '--epsilon'"));
	assert_int_equal(RUN("privacy", "epsilon", "--sampling-rate", "0.1", "--noise-multiplier",
	                     "1", "--steps", "10", "--delta", "1e-5", "--orders", "2,,3"),
	                 2);
	assert_non_null(strstr(err, "--orders"));
	assert_int_equal(RUN("privacy", "epsilon", "--sampling-rate", "0.1", "--noise-multiplier",
	                     "1", "--steps", "10", "--delta", "1e-5", "--orders", "2,1"),
	                 2);
	assert_non_null(strstr(err, "--orders: '1' is not a Renyi order > 1"));
	assert_int_equal(RUN("privacy", "epsilon", "--sampling-rate", "0.1", "--noise-multiplier",
	                     "1", "--steps", "10", "--delta", "1e-5", "--json=yes"),
	                 2);
	assert_int_equal(RUN("privacy", "sigma", "--epsilon", "0", "--delta", "1e-5",
	                     "--sampling-rate", "0.1", "--steps", "10"),
	                 2);
	assert_non_null(strstr(err, "--epsilon: '0' is not positive"));
	assert_int_equal(RUN("privacy", "sigma", "--epsilon", "1", "--delta", "1e-5",
	                     "--sampling-rate", "0", "--steps", "10"),
	                 2);
	assert_string_equal(out, "");
	assert_int_equal(RUN("privacy", "--help"), 0);
	assert_non_null(strstr(out, "usage: fedtwin privacy epsilon"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cli_epsilon),
		cmocka_unit_test(test_cli_sigma),
		cmocka_unit_test(test_cli_usage_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
