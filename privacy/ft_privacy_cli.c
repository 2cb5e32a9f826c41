/*
 * ft_privacy_cli.c - `fedtwin privacy`: the accountant and calibration on the
 * command line, so that a data steward can check a training configuration's
 * budget (epsilon) or the noise it needs (sigma) before any run starts.
 *
 * Parsing is strict: every number must parse completely and lie in range,
 * every option may appear once, and every error names the option at fault
 * (exit status 2). Output is one line of key=value pairs, or one JSON object
 * with --json, on stdout; diagnostics go to stderr.
 */
#include "privacy_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define EXIT_USAGE 2
#define EXIT_FAIL 1

static const char usage_text[] =
	"usage: fedtwin privacy epsilon --sampling-rate Q --noise-multiplier S --steps T\n"
	"                               --delta D [--orders LIST] [--json]\n"
	"       fedtwin privacy sigma --epsilon E --delta D --sampling-rate Q --steps T\n"
	"                             [--orders LIST] [--json]\n"
	"\n"
	"  epsilon  privacy spent by T steps of DP-SGD with Poisson sampling rate Q\n"
	"           (of patients) and noise multiplier S, at delta D, and the\n"
	"           optimal Renyi order\n"
	"  sigma    the smallest noise multiplier meeting (E, D) for Q and T\n"
	"  LIST     comma-separated Renyi orders > 1 (default: 1.1, 1.2, ..., 10.9,\n"
	"           12, ..., 63)\n";

/* Parsed options. `seen` bits guard against repeats and report omissions. */
enum {
	OPT_Q = 1 << 0,
	OPT_SIGMA = 1 << 1,
	OPT_STEPS = 1 << 2,
	OPT_DELTA = 1 << 3,
	OPT_EPS = 1 << 4,
	OPT_ORDERS = 1 << 5,
	OPT_JSON = 1 << 6,
};

struct opts {
	unsigned seen;
	double q, sigma, delta, eps;
	uint64_t steps;
	double *orders; /* owned; NULL for the default set */
	size_t n_orders;
};

static int usage_error(const char *fmt, ...) FT_PRINTF(1, 2);
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("fedtwin privacy: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(see 'fedtwin privacy --help')\n", stderr);
	return EXIT_USAGE;
}

/* Parses a comma-separated order list into o->orders. */
static int parse_orders(const char *s, struct opts *o)
{
	size_t n = 1, k = 0;
	double *v = NULL;
	char item[64];
	const char *p = s;
	int rv = EXIT_USAGE;

	for (const char *c = s; *c != '\0'; c++)
		n += *c == ',';
	if (n > FT_PRIVACY_MAX_ORDERS)
		return usage_error("--orders: more than %u orders", FT_PRIVACY_MAX_ORDERS);
	v = ft_mallocarray(n, sizeof(*v));
	if (v == NULL) {
		fputs("fedtwin privacy: out of memory\n", stderr);
		return EXIT_FAIL;
	}
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		double d = 0;

		if (len == 0 || len >= sizeof(item)) {
			usage_error("--orders: empty or overlong item in '%s'", s);
			goto out;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		if (ft_parse_double(item, &d) != FT_OK || !(d > 1)) {
			usage_error("--orders: '%s' is not a Renyi order > 1", item);
			goto out;
		}
		v[k++] = d;
		if (end == NULL)
			break;
		p = end + 1;
	}
	if (ft_privacy_check_orders_(v, k) != FT_OK) {
		usage_error("--orders: invalid order set '%s'", s);
		goto out;
	}
	o->orders = v;
	o->n_orders = k;
	v = NULL;
	rv = 0;
out:
	ft_free(v);
	return rv;
}

/* One numeric option: parses `val` and checks its range. */
static int parse_value(const char *name, unsigned bit, const char *val, struct opts *o)
{
	double d = 0;

	if (bit == OPT_STEPS) {
		if (ft_parse_u64(val, UINT64_MAX, &o->steps) != FT_OK)
			return usage_error("--steps: '%s' is not a non-negative integer", val);
		return 0;
	}
	if (bit == OPT_ORDERS)
		return parse_orders(val, o);
	if (ft_parse_double(val, &d) != FT_OK)
		return usage_error("%s: '%s' is not a finite number", name, val);
	switch (bit) {
	case OPT_Q:
		if (!(d >= 0 && d <= 1))
			return usage_error("--sampling-rate: '%s' is not in [0, 1]", val);
		o->q = d;
		break;
	case OPT_SIGMA:
		if (!(d >= 0))
			return usage_error("--noise-multiplier: '%s' is negative", val);
		o->sigma = d;
		break;
	case OPT_DELTA:
		if (!(d > 0 && d < 1))
			return usage_error("--delta: '%s' is not in (0, 1)", val);
		o->delta = d;
		break;
	default: /* OPT_EPS */
		if (!(d > 0))
			return usage_error("--epsilon: '%s' is not positive", val);
		o->eps = d;
		break;
	}
	return 0;
}

static const struct {
	const char *name;
	unsigned bit;
} options[] = {
	{"--sampling-rate", OPT_Q}, {"--noise-multiplier", OPT_SIGMA},
	{"--steps", OPT_STEPS},     {"--delta", OPT_DELTA},
	{"--epsilon", OPT_EPS},     {"--orders", OPT_ORDERS},
	{"--json", OPT_JSON},
};

/* Parses argv[2..] (after "privacy <command>"); `allowed` masks the options
 * the command takes. Returns 0 or an exit status. */
static int parse(int argc, char **argv, unsigned allowed, struct opts *o)
{
	for (int i = 2; i < argc; i++) {
		const char *arg = argv[i], *val = NULL, *eq = strchr(arg, '=');
		size_t nlen = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
		unsigned bit = 0;
		const char *name = NULL;
		int rv;

		for (size_t k = 0; k < sizeof(options) / sizeof(options[0]); k++) {
			if (strlen(options[k].name) == nlen &&
			    strncmp(options[k].name, arg, nlen) == 0) {
				bit = options[k].bit;
				name = options[k].name;
			}
		}
		if (bit == 0 || (bit & allowed) == 0)
			return usage_error("unknown option '%s'", arg);
		if (o->seen & bit)
			return usage_error("%s given twice", name);
		o->seen |= bit;
		if (bit == OPT_JSON) {
			if (eq != NULL)
				return usage_error("%s takes no value", name);
			continue;
		}
		if (eq != NULL) {
			val = eq + 1;
		} else {
			if (i + 1 >= argc)
				return usage_error("%s needs a value", name);
			val = argv[++i];
		}
		rv = parse_value(name, bit, val, o);
		if (rv != 0)
			return rv;
	}
	for (size_t k = 0; k < sizeof(options) / sizeof(options[0]); k++) {
		unsigned bit = options[k].bit;

		if ((allowed & bit) && !(o->seen & bit) &&
		    !(bit & (OPT_ORDERS | OPT_JSON)))
			return usage_error("missing required option %s", options[k].name);
	}
	return 0;
}

/* A double for key=value or JSON output: JSON has no infinity, so an
 * infinite epsilon is null there. */
static void put_num(char *buf, size_t n, double d, int json)
{
	if (isinf(d))
		snprintf(buf, n, "%s", json ? "null" : "inf");
	else
		snprintf(buf, n, "%.10g", d);
}

static int cmd_epsilon(const struct opts *o)
{
	double eps = 0, order = 0;
	char e[32], a[32];
	int rv, json = (o->seen & OPT_JSON) != 0;

	rv = ft_privacy_epsilon(o->q, o->sigma, o->steps, o->delta, o->orders, o->n_orders,
	                        &eps, &order);
	if (rv != FT_OK) {
		fprintf(stderr, "fedtwin privacy: epsilon: %s\n", ft_strerror(rv));
		return EXIT_FAIL;
	}
	put_num(e, sizeof(e), eps, json);
	put_num(a, sizeof(a), order, json);
	if (json)
		printf("{\"epsilon\":%s,\"order\":%s,\"delta\":%.10g,\"sampling_rate\":%.10g,"
		       "\"noise_multiplier\":%.10g,\"steps\":%llu}\n",
		       e, a, o->delta, o->q, o->sigma, (unsigned long long)o->steps);
	else
		printf("epsilon=%s order=%s delta=%.10g sampling_rate=%.10g "
		       "noise_multiplier=%.10g steps=%llu\n",
		       e, a, o->delta, o->q, o->sigma, (unsigned long long)o->steps);
	return 0;
}

static int cmd_sigma(const struct opts *o)
{
	double sigma = 0, eps = 0, order = 0;
	char a[32];
	int rv, json = (o->seen & OPT_JSON) != 0;

	if (o->q == 0 || o->steps == 0) {
		fprintf(stderr, "fedtwin privacy: sigma: with %s nothing is released; any "
		        "noise multiplier meets the target\n",
		        o->q == 0 ? "--sampling-rate 0" : "--steps 0");
		return EXIT_USAGE;
	}
	rv = ft_privacy_calibrate_sigma(o->eps, o->delta, o->q, o->steps, o->orders,
	                                o->n_orders, &sigma);
	if (rv == FT_ERANGE) {
		fprintf(stderr, "fedtwin privacy: sigma: no noise multiplier in [%g, %g] "
		        "meets epsilon %g at delta %g\n", FT_PRIVACY_CALIB_SIGMA_MIN,
		        FT_PRIVACY_CALIB_SIGMA_MAX, o->eps, o->delta);
		return EXIT_FAIL;
	}
	if (rv == FT_OK)
		rv = ft_privacy_epsilon(o->q, sigma, o->steps, o->delta, o->orders, o->n_orders,
		                        &eps, &order);
	if (rv != FT_OK) {
		fprintf(stderr, "fedtwin privacy: sigma: %s\n", ft_strerror(rv));
		return EXIT_FAIL;
	}
	put_num(a, sizeof(a), order, json);
	if (json)
		printf("{\"noise_multiplier\":%.10g,\"epsilon\":%.10g,\"order\":%s,"
		       "\"target_epsilon\":%.10g,\"delta\":%.10g,\"sampling_rate\":%.10g,"
		       "\"steps\":%llu}\n",
		       sigma, eps, a, o->eps, o->delta, o->q, (unsigned long long)o->steps);
	else
		printf("noise_multiplier=%.10g epsilon=%.10g order=%s target_epsilon=%.10g "
		       "delta=%.10g sampling_rate=%.10g steps=%llu\n",
		       sigma, eps, a, o->eps, o->delta, o->q, (unsigned long long)o->steps);
	return 0;
}

int ft_privacy_cli_main(int argc, char **argv)
{
	struct opts o;
	int rv;

	memset(&o, 0, sizeof(o));
	if (argc < 2 || argv == NULL) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (strcmp(argv[1], "epsilon") == 0) {
		rv = parse(argc, argv,
		           OPT_Q | OPT_SIGMA | OPT_STEPS | OPT_DELTA | OPT_ORDERS | OPT_JSON, &o);
		if (rv == 0)
			rv = cmd_epsilon(&o);
	} else if (strcmp(argv[1], "sigma") == 0) {
		rv = parse(argc, argv,
		           OPT_EPS | OPT_DELTA | OPT_Q | OPT_STEPS | OPT_ORDERS | OPT_JSON, &o);
		if (rv == 0)
			rv = cmd_sigma(&o);
	} else {
		rv = usage_error("unknown command '%s' (epsilon or sigma)", argv[1]);
	}
	fflush(stdout);
	ft_free(o.orders);
	return rv;
}
