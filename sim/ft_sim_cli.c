/*
 * ft_sim_cli.c - `fedtwin simulate`: parses the options into ft_sim_options,
 * runs the simulation and prints one line per round.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sim_int.h"

static void sim_usage(FILE *f)
{
	fprintf(f,
	        "usage: fedtwin simulate --data CSV --target COL [--exclude COLS]\n"
	        "         [--categorical COLS] (--site-column COL | --sites N [--dirichlet ALPHA])\n"
	        "         [--split-column COL] [--test-fraction F] --model logreg|softmax|linreg|mlp\n"
	        "         [--hidden 64,32] [--regression] --rounds R [--local-epochs E]\n"
	        "         [--server-opt fedavg|fedadam|fedyogi|fedadagrad] [--server-lr ETA]\n"
	        "         [--lr LR] [--batch B] [--clip C] [--update-clip CU] [--bits BITS]\n"
	        "         [--unweighted] [--dp-epsilon E [--dp-delta D]] [--no-secagg]\n"
	        "         [--drop-rate P] [--drop-before-upload] [--seed S]\n"
	        "         [--feature-ranges FILE [--stats-epsilon E]]\n"
	        "\n"
	        "Defaults: --test-fraction 0.25, --local-epochs 1, --server-opt fedavg (server lr 1;\n"
	        "0.1 for the adaptive ones), --lr 0.1, --batch 16, --clip 1 (DP per-patient clip),\n"
	        "--update-clip 5 (L2 bound of a site's update), --bits 32, --dp-delta 1e-5,\n"
	        "--hidden 32 (mlp), --stats-epsilon a quarter of --dp-epsilon, --seed 1. Sites\n"
	        "are weighted by their training patients unless --unweighted. --dp-epsilon is\n"
	        "each site's budget for the whole run; without it there is no DP (epsilon=inf).\n"
	        "Features are standardised from one secure sum of per-site statistics clipped\n"
	        "to the public --feature-ranges (NAME LO HI per line), noised with DP when\n"
	        "--dp-epsilon is given (--stats-epsilon of the budget; training spends the\n"
	        "rest); without the file, with the exact pooled moments (no DP). A run repeats\n"
	        "with the same --seed except for what comes from the CSPRNG on purpose: DP\n"
	        "noise, the fixed-point rounding of updates and the secure-aggregation masks\n"
	        "(which cancel).\n");
}

static int bad(const char *opt, const char *v, const char *what)
{
	fprintf(stderr, "fedtwin simulate: %s %s, not '%s'\n", opt, what, v != NULL ? v : "");
	return 2;
}

static int parse_u32(const char *opt, const char *v, uint32_t min, uint32_t max, uint32_t *out)
{
	int64_t x;

	if (ft_parse_i64(v, min, max, &x) != FT_OK) {
		char what[64];

		snprintf(what, sizeof(what), "must be an integer in [%u, %u]", min, max);
		return bad(opt, v, what);
	}
	*out = (uint32_t)x;
	return 0;
}

static int parse_num(const char *opt, const char *v, double lo, double hi, double *out)
{
	double x;

	if (ft_parse_double(v, &x) != FT_OK || !(x >= lo && x <= hi)) {
		char what[96];

		snprintf(what, sizeof(what), "must be a number in [%g, %g]", lo, hi);
		return bad(opt, v, what);
	}
	*out = x;
	return 0;
}

static int parse_hidden(const char *v, ft_sim_options *o)
{
	ft_model_spec spec;
	ft_errmsg err = {{0}};

	memset(&spec, 0, sizeof(spec));
	if (ft_model_spec_parse_hidden(v, &spec, &err) != FT_OK) {
		fprintf(stderr, "fedtwin simulate: --hidden: %s\n", err.msg);
		return 2;
	}
	memcpy(o->hidden, spec.hidden, spec.n_hidden * sizeof(spec.hidden[0]));
	o->n_hidden = spec.n_hidden;
	return 0;
}

static int parse_model(const char *v, ft_sim_options *o)
{
	static const struct {
		const char *name;
		uint32_t kind;
	} models[] = {{"logreg", FT_MODEL_LOGREG}, {"softmax", FT_MODEL_SOFTMAX},
	              {"linreg", FT_MODEL_LINREG}, {"mlp", FT_MODEL_MLP}};

	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
		if (strcmp(v, models[i].name) == 0) {
			o->model = models[i].kind;
			return 0;
		}
	}
	return bad("--model", v, "must be logreg, softmax, linreg or mlp");
}

/* Parses argv into o; 0 on success, 2 for a usage error (reported). */
static int sim_parse(int argc, char **argv, ft_sim_options *o, int *help)
{
	int have_model = 0, have_rounds = 0, have_delta = 0, regression = 0, have_stats_eps = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int rc = 0, takes = 1;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			*help = 1;
			return 0;
		} else if (strcmp(a, "--no-secagg") == 0) {
			o->secagg = 0;
			takes = 0;
		} else if (strcmp(a, "--unweighted") == 0) {
			o->weighted = 0;
			takes = 0;
		} else if (strcmp(a, "--regression") == 0) {
			regression = 1;
			takes = 0;
		} else if (strcmp(a, "--drop-before-upload") == 0) {
			o->drop_when = FT_SIM_DROP_BEFORE_UPLOAD;
			takes = 0;
		} else if (v == NULL) {
			if (strncmp(a, "--", 2) != 0)
				fprintf(stderr, "fedtwin simulate: unknown option '%s'\n", a);
			else
				fprintf(stderr, "fedtwin simulate: %s needs a value\n", a);
			return 2;
		} else if (strcmp(a, "--data") == 0) {
			o->data = v;
		} else if (strcmp(a, "--target") == 0) {
			o->target = v;
		} else if (strcmp(a, "--exclude") == 0) {
			o->exclude = v;
		} else if (strcmp(a, "--categorical") == 0) {
			o->categorical = v;
		} else if (strcmp(a, "--site-column") == 0) {
			o->site_column = v;
		} else if (strcmp(a, "--sites") == 0) {
			rc = parse_u32(a, v, 2, FT_SIM_MAX_SITES, &o->n_sites);
		} else if (strcmp(a, "--dirichlet") == 0) {
			rc = parse_num(a, v, 1e-3, 1e6, &o->dirichlet);
		} else if (strcmp(a, "--split-column") == 0) {
			o->split_column = v;
		} else if (strcmp(a, "--test-fraction") == 0) {
			rc = parse_num(a, v, 0, 0.95, &o->test_fraction);
		} else if (strcmp(a, "--model") == 0) {
			rc = parse_model(v, o);
			have_model = 1;
		} else if (strcmp(a, "--hidden") == 0) {
			rc = parse_hidden(v, o);
		} else if (strcmp(a, "--rounds") == 0) {
			rc = parse_u32(a, v, 1, FT_SIM_MAX_ROUNDS, &o->rounds);
			have_rounds = 1;
		} else if (strcmp(a, "--local-epochs") == 0) {
			rc = parse_u32(a, v, 1, 1000, &o->local_epochs);
		} else if (strcmp(a, "--server-opt") == 0) {
			if (ft_model_server_kind_parse(v, &o->server_opt) != FT_OK)
				rc = bad(a, v, "must be fedavg, fedadam, fedyogi or fedadagrad");
		} else if (strcmp(a, "--server-lr") == 0) {
			rc = parse_num(a, v, 1e-9, 1e3, &o->server_lr);
		} else if (strcmp(a, "--lr") == 0) {
			rc = parse_num(a, v, 1e-9, 1e3, &o->lr);
		} else if (strcmp(a, "--batch") == 0) {
			rc = parse_u32(a, v, 1, 1u << 24, &o->batch);
		} else if (strcmp(a, "--clip") == 0) {
			rc = parse_num(a, v, 1e-9, 1e9, &o->clip);
		} else if (strcmp(a, "--update-clip") == 0) {
			rc = parse_num(a, v, 1e-9, 1e9, &o->update_clip);
		} else if (strcmp(a, "--bits") == 0) {
			uint32_t b = 0;

			rc = parse_u32(a, v, 16, 32, &b);
			o->bits = b;
		} else if (strcmp(a, "--dp-epsilon") == 0) {
			rc = parse_num(a, v, 1e-6, 1e6, &o->dp_epsilon);
			o->dp = 1;
		} else if (strcmp(a, "--dp-delta") == 0) {
			rc = parse_num(a, v, 1e-300, 0.5, &o->dp_delta);
			have_delta = 1;
		} else if (strcmp(a, "--drop-rate") == 0) {
			rc = parse_num(a, v, 0, 0.99, &o->drop_rate);
		} else if (strcmp(a, "--feature-ranges") == 0) {
			o->feature_ranges = v;
		} else if (strcmp(a, "--stats-epsilon") == 0) {
			rc = parse_num(a, v, 1e-6, 1e6, &o->stats_epsilon);
			have_stats_eps = 1;
		} else if (strcmp(a, "--seed") == 0) {
			uint64_t s = 0;

			if (ft_parse_u64(v, UINT64_MAX, &s) != FT_OK)
				rc = bad(a, v, "must be an unsigned integer");
			o->seed = s;
		} else {
			fprintf(stderr, "fedtwin simulate: unknown option '%s'\n", a);
			return 2;
		}
		if (rc != 0)
			return 2;
		i += takes;
		continue;
	}
	if (o->data == NULL || o->target == NULL || !have_model || !have_rounds) {
		fprintf(stderr, "fedtwin simulate: --data, --target, --model and --rounds are "
		        "required\n");
		return 2;
	}
	if (have_stats_eps && !o->dp) {
		fprintf(stderr, "fedtwin simulate: --stats-epsilon needs --dp-epsilon\n");
		return 2;
	}
	if (o->dp && o->feature_ranges == NULL) {
		fprintf(stderr, "fedtwin simulate: --dp-epsilon needs --feature-ranges (the "
		        "standardisation statistics are released with DP too)\n");
		return 2;
	}
	if (have_delta && !o->dp) {
		fprintf(stderr, "fedtwin simulate: --dp-delta needs --dp-epsilon\n");
		return 2;
	}
	o->regression = o->model == FT_MODEL_LINREG || regression;
	return 0;
}

static void print_start(void *user, const ft_sim_summary *s)
{
	const ft_sim_options *o = user;

	printf("# sites=%u train=%zu test=%zu features=%zu params=%zu classes=%u\n", s->n_sites,
	       s->n_train, s->n_test, s->n_features, s->n_params, s->n_classes);
	printf("# server-opt=%s secagg=%s", ft_model_server_kind_name(o->server_opt),
	       o->secagg ? "on" : "off");
	if (o->secagg)
		printf(" k=%u t=%u bits=%u", s->secagg_k, s->secagg_t, o->bits);
	if (o->dp)
		printf(" dp-epsilon=%g dp-delta=%g max-sigma=%.3f stats-epsilon=%g", o->dp_epsilon,
		       o->dp_delta, s->sigma_max, sim_stats_epsilon(o));
	if (o->feature_ranges != NULL)
		printf(" standardise=public-ranges%s", o->dp ? "+dp" : "");
	else
		printf(" standardise=exact-pooled");
	printf("\n");
	fflush(stdout);
}

static void print_round(void *user, const ft_sim_round_report *r)
{
	(void)user;
	printf("round=%u", r->round);
	if (r->aborted)
		printf(" aborted=\"%s\"", r->abort_reason != NULL ? r->abort_reason : "");
	if (!isnan(r->accuracy))
		printf(" accuracy=%.3f", r->accuracy);
	if (!isnan(r->accuracy_sites))
		printf(" site-accuracy=%.3f", r->accuracy_sites);
	if (!isnan(r->auc))
		printf(" auc=%.3f", r->auc);
	if (!isnan(r->rmse))
		printf(" rmse=%.3f", r->rmse);
	if (!isnan(r->rmse_sites))
		printf(" site-rmse=%.3f", r->rmse_sites);
	printf(" loss=%.4f", r->loss);
	if (isinf(r->epsilon))
		printf(" epsilon=inf");
	else
		printf(" epsilon=%.2f", r->epsilon);
	printf(" sites=%u survivors=%u dropped=%u ms=%.1f\n", r->sites, r->survivors, r->dropped,
	       r->wall_ms);
	fflush(stdout);
}

int ft_sim_cli_main(int argc, char **argv)
{
	ft_sim_options o;
	ft_sim_summary sum;
	ft_errmsg err;
	int help = 0, rc, rv;

	ft_sim_options_default(&o);
	rc = sim_parse(argc, argv, &o, &help);
	if (help) {
		sim_usage(stdout);
		return 0;
	}
	if (rc != 0) {
		sim_usage(stderr);
		return rc;
	}
	err.msg[0] = '\0';
	rv = ft_sim_run(&o, print_start, print_round, &o, &sum, NULL, &err);
	if (rv != FT_OK) {
		fprintf(stderr, "fedtwin simulate: %s (%s)\n", err.msg, ft_strerror(rv));
		return rv == FT_EINVAL || rv == FT_ENOTFOUND ? 2 : 1;
	}
	return 0;
}
