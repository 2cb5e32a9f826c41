/*
 * coord_cli.c - `fedtwin coordinator ...`: the consortium operator's
 * commands. Runs are created and steered in the database; the daemon
 * (`serve`) follows the database within half a second.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_int.h"

int coord_serve_main(const char *config_path);

static void coord_usage(FILE *f)
{
	fprintf(f,
	        "usage: fedtwin coordinator COMMAND ...\n"
	        "  run create --db PATH --name NAME --features N [--model logreg|softmax|linreg|mlp]\n"
	        "             [--hidden W1,W2,...] [--activation relu|tanh] [--classes K]\n"
	        "              [--rounds R] [--min-sites M] [--lr LR] [--epochs E]\n"
	        "             [--batch B] [--clip C] [--epsilon E] [--update-clip U] [--bits 16..32]\n"
	        "             [--server-optimizer fedavg|fedadam|fedyogi|fedadagrad]\n"
	        "             [--server-lr LR] [--dropout-tolerance F] [--no-secagg]\n"
	        "             [--feature-ranges FILE [--stats-epsilon E]]\n"
	        "  run start|pause|resume|stop ID --db PATH\n"
	        "  run status [ID] --db PATH\n"
	        "  serve --config FILE\n");
}

static int opt_u32(const char *name, const char *v, uint32_t min, uint32_t max, uint32_t *out)
{
	int64_t x;

	if (v == NULL || ft_parse_i64(v, min, max, &x) != FT_OK) {
		fprintf(stderr, "fedtwin coordinator: %s must be an integer in [%u, %u]\n", name, min,
		        max);
		return -1;
	}
	*out = (uint32_t)x;
	return 0;
}

static int opt_pos(const char *name, const char *v, double *out)
{
	double x;

	if (v == NULL || ft_parse_double(v, &x) != FT_OK || !(x > 0)) {
		fprintf(stderr, "fedtwin coordinator: %s must be a positive number\n", name);
		return -1;
	}
	*out = x;
	return 0;
}

/* --hidden W1,W2,...: 1..FT_MODEL_MAX_HIDDEN widths, each 1..FT_MODEL_MAX_WIDTH. */
static int parse_hidden(const char *v, ft_model_spec *spec)
{
	ft_errmsg err = {{0}};

	if (ft_model_spec_parse_hidden(v, spec, &err) != FT_OK) {
		fprintf(stderr, "fedtwin coordinator run create: --hidden: %s\n", err.msg);
		return 1;
	}
	return 0;
}

/* The run's human-readable model description, as `run status` shows it. */
static int spec_describe(const char *model, const ft_model_spec *spec, char *out, size_t cap)
{
	size_t used;
	int n;

	n = snprintf(out, cap, "%s features=%u classes=%u", model, spec->n_features,
	             spec->n_classes);
	if (n < 0 || (size_t)n >= cap)
		return -1;
	used = (size_t)n;
	for (uint32_t i = 0; i < spec->n_hidden; i++) {
		n = snprintf(out + used, cap - used, "%s%u", i == 0 ? " hidden=" : ",",
		             spec->hidden[i]);
		if (n < 0 || (size_t)n >= cap - used)
			return -1;
		used += (size_t)n;
	}
	if (spec->n_hidden > 0) {
		n = snprintf(out + used, cap - used, " activation=%s",
		             spec->activation == FT_MODEL_ACT_TANH ? "tanh" : "relu");
		if (n < 0 || (size_t)n >= cap - used)
			return -1;
	}
	return 0;
}

static int run_create(int argc, char **argv)
{
	ft_coord_run r;
	ft_model_spec spec;
	const char *db_path = NULL, *name = NULL, *model = "logreg", *ranges_path = NULL;
	ft_model_ranges *ranges = NULL;
	double stats_eps = FT_COORD_STATS_EPSILON_DEFAULT;
	char spec_text[256];
	uint8_t seed[32], *bytes = NULL;
	size_t blen;
	uint64_t id;
	sqlite3 *db = NULL;
	ft_errmsg err = {{0}};
	int rv, status = 1, have_features = 0, have_classes = 0;

	memset(&r, 0, sizeof(r));
	memset(&spec, 0, sizeof(spec));
	r.rounds = 3;
	r.min_sites = 2;
	r.lr = 0.1;
	r.epochs = 1;
	r.batch = 16;
	r.dp_clip = 1.0;
	r.epsilon = 1.0;
	r.update_clip = 1.0;
	r.bits = 32;
	r.standardise = 0; /* on with --feature-ranges */
	r.optimizer = FT_COORD_OPT_FEDAVG;
	r.server_lr = 0; /* 0: the optimiser's default (ft_model_server_config_default) */
	r.beta1 = 0.9;
	r.beta2 = 0.99;
	r.tau = 1e-3;
	r.dropout = 0.25;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;

		/* Training rounds sum the sites' updates in the clear: for
		 * measuring what secure aggregation costs, and for consortia whose
		 * sites accept showing their DP-noised updates to the coordinator
		 * (each site must allow it: allow_plain_sum). Round 0 stays on
		 * secure aggregation. */
		if (strcmp(a, "--no-secagg") == 0) {
			r.plain_sum = 1;
			continue;
		}
		if (v == NULL) {
			coord_usage(stderr);
			return 2;
		}
		i++;
		if (strcmp(a, "--db") == 0)
			db_path = v;
		else if (strcmp(a, "--name") == 0)
			name = v;
		else if (strcmp(a, "--model") == 0)
			model = v;
		else if (strcmp(a, "--hidden") == 0)
			bad = parse_hidden(v, &spec);
		else if (strcmp(a, "--activation") == 0) {
			if (strcmp(v, "relu") == 0) {
				spec.activation = FT_MODEL_ACT_RELU;
			} else if (strcmp(v, "tanh") == 0) {
				spec.activation = FT_MODEL_ACT_TANH;
			} else {
				fprintf(stderr, "fedtwin coordinator run create: --activation is relu or"
				                " tanh\n");
				bad = 1;
			}
		}
		else if (strcmp(a, "--features") == 0)
			bad = opt_u32(a, v, 1, FT_MODEL_MAX_FEATURES, &spec.n_features), have_features = 1;
		else if (strcmp(a, "--classes") == 0)
			bad = opt_u32(a, v, 2, FT_MODEL_MAX_CLASSES, &spec.n_classes), have_classes = 1;
		else if (strcmp(a, "--rounds") == 0)
			bad = opt_u32(a, v, 1, 100000, &r.rounds);
		else if (strcmp(a, "--min-sites") == 0)
			bad = opt_u32(a, v, 2, FT_WIRE_MAX_SITES, &r.min_sites);
		else if (strcmp(a, "--lr") == 0)
			bad = opt_pos(a, v, &r.lr);
		else if (strcmp(a, "--epochs") == 0)
			bad = opt_u32(a, v, 1, 1000, &r.epochs);
		else if (strcmp(a, "--batch") == 0)
			bad = opt_u32(a, v, 1, 1000000, &r.batch);
		else if (strcmp(a, "--clip") == 0)
			bad = opt_pos(a, v, &r.dp_clip);
		else if (strcmp(a, "--epsilon") == 0)
			bad = opt_pos(a, v, &r.epsilon);
		else if (strcmp(a, "--feature-ranges") == 0)
			ranges_path = v;
		else if (strcmp(a, "--stats-epsilon") == 0)
			bad = opt_pos(a, v, &stats_eps);
		else if (strcmp(a, "--update-clip") == 0)
			bad = opt_pos(a, v, &r.update_clip);
		else if (strcmp(a, "--bits") == 0)
			bad = opt_u32(a, v, 16, 32, &r.bits);
		else if (strcmp(a, "--dropout-tolerance") == 0) {
			if (ft_parse_double(v, &r.dropout) != FT_OK || !(r.dropout >= 0) ||
			    r.dropout >= 0.5) {
				fprintf(stderr, "fedtwin coordinator run create: --dropout-tolerance is a"
				                " fraction in [0, 0.5)\n");
				bad = 1;
			}
		} else if (strcmp(a, "--server-lr") == 0)
			bad = opt_pos(a, v, &r.server_lr);
		else if (strcmp(a, "--server-optimizer") == 0) {
			if (ft_model_server_kind_parse(v, &r.optimizer) != FT_OK) {
				fprintf(stderr, "fedtwin coordinator run create: --server-optimizer is"
				                " fedavg, fedadam, fedyogi or fedadagrad\n");
				bad = 1;
			}
		} else {
			fprintf(stderr, "fedtwin coordinator run create: unknown option %s\n", a);
			return 2;
		}
		if (bad)
			return 2;
	}
	if (db_path == NULL || name == NULL || !have_features) {
		fprintf(stderr, "fedtwin coordinator run create: --db, --name and --features are needed\n");
		return 2;
	}
	if (strcmp(model, "logreg") == 0) {
		spec.kind = FT_MODEL_LOGREG;
		spec.n_classes = 2;
	} else if (strcmp(model, "softmax") == 0) {
		spec.kind = FT_MODEL_SOFTMAX;
		if (!have_classes)
			spec.n_classes = 2;
	} else if (strcmp(model, "linreg") == 0) {
		spec.kind = FT_MODEL_LINREG;
		spec.n_classes = 0;
	} else if (strcmp(model, "mlp") == 0) {
		/* The head follows --classes: two classes is one sigmoid output. */
		spec.kind = FT_MODEL_MLP;
		if (!have_classes)
			spec.n_classes = 2;
		if (spec.n_hidden == 0) {
			fprintf(stderr, "fedtwin coordinator run create: --model mlp needs --hidden"
			                " W1[,W2...]\n");
			return 2;
		}
		if (spec.activation == FT_MODEL_ACT_NONE)
			spec.activation = FT_MODEL_ACT_RELU;
	} else {
		fprintf(stderr, "fedtwin coordinator run create: --model is logreg, softmax, linreg"
		                " or mlp\n");
		return 2;
	}
	if (spec.kind != FT_MODEL_MLP && (spec.n_hidden != 0 || spec.activation != FT_MODEL_ACT_NONE)) {
		fprintf(stderr, "fedtwin coordinator run create: --hidden and --activation apply only"
		                " to --model mlp\n");
		return 2;
	}
	if (spec_describe(model, &spec, spec_text, sizeof(spec_text)) != 0) {
		fprintf(stderr, "fedtwin coordinator run create: the model description is too long\n");
		return 2;
	}
	if (ranges_path == NULL && stats_eps != FT_COORD_STATS_EPSILON_DEFAULT) {
		fprintf(stderr, "fedtwin coordinator run create: --stats-epsilon needs"
		                " --feature-ranges\n");
		return 2;
	}
	if (ranges_path != NULL) {
		rv = ft_model_ranges_load(ranges_path, &ranges, &err);
		if (rv == FT_OK && ranges->n != spec.n_features)
			rv = ft_errmsg_set(&err, FT_EINVAL, "%s has %zu features, --features is %u",
			                   ranges_path, ranges->n, spec.n_features);
		if (rv != FT_OK) {
			fprintf(stderr, "fedtwin coordinator run create: --feature-ranges: %s\n", err.msg);
			ft_model_ranges_free(ranges);
			return 2;
		}
		r.standardise = 1;
	}
	rv = coord_db_open(db_path, &db, &err);
	if (rv != FT_OK)
		goto out;
	/* The initial model's seed: the run id is not known yet, so the model
	 * metadata names no run; the seed only needs to be fresh. */
	ft_crypto_random(seed, sizeof(seed));
	rv = ft_coord_initial_model(&spec, 0, seed, &bytes, &blen, &err);
	if (rv != FT_OK)
		goto out;
	if (ranges != NULL) {
		/* The public ranges and the release's epsilon travel in the
		 * version-0 model, which every site verifies by its hash. */
		uint8_t *with = NULL;
		size_t wlen;

		rv = ft_coord_model_set_ranges(bytes, blen, ranges->lo, ranges->hi, ranges->n, stats_eps,
		                               &with, &wlen, &err);
		if (rv != FT_OK)
			goto out;
		ft_free(bytes);
		bytes = with;
		blen = wlen;
	}
	rv = coord_db_run_create(db, name, &r, spec_text, bytes, blen, &id, &err);
	if (rv != FT_OK)
		goto out;
	printf("%llu\n", (unsigned long long)id);
	status = 0;
out:
	if (status != 0)
		fprintf(stderr, "fedtwin coordinator run create: %s\n",
		        err.msg[0] ? err.msg : ft_strerror(rv));
	ft_free(bytes);
	ft_model_ranges_free(ranges);
	coord_db_close(db);
	return status;
}

static int run_set(const char *verb, int argc, char **argv)
{
	const char *db_path = NULL, *id_s = NULL, *to;
	uint64_t id;
	sqlite3 *db = NULL;
	ft_errmsg err = {{0}};
	int rv;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--db") == 0 && i + 1 < argc)
			db_path = argv[++i];
		else if (id_s == NULL)
			id_s = argv[i];
		else
			return coord_usage(stderr), 2;
	}
	if (db_path == NULL || id_s == NULL || ft_parse_u64(id_s, INT64_MAX, &id) != FT_OK) {
		coord_usage(stderr);
		return 2;
	}
	to = strcmp(verb, "start") == 0 || strcmp(verb, "resume") == 0 ? "running"
	     : strcmp(verb, "pause") == 0                               ? "paused"
	                                                                : "stopped";
	rv = coord_db_open(db_path, &db, &err);
	if (rv == FT_OK)
		rv = coord_db_run_set_status(db, id, to, &err);
	coord_db_close(db);
	if (rv != FT_OK) {
		fprintf(stderr, "fedtwin coordinator run %s: %s\n", verb,
		        err.msg[0] ? err.msg : ft_strerror(rv));
		return 1;
	}
	printf("run %llu: %s\n", (unsigned long long)id, to);
	return 0;
}

static int run_status(int argc, char **argv)
{
	const char *db_path = NULL, *id_s = NULL;
	uint64_t id = 0;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	ft_errmsg err = {{0}};
	int rv;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--db") == 0 && i + 1 < argc)
			db_path = argv[++i];
		else if (id_s == NULL)
			id_s = argv[i];
		else
			return coord_usage(stderr), 2;
	}
	if (db_path == NULL || (id_s != NULL && ft_parse_u64(id_s, INT64_MAX, &id) != FT_OK)) {
		coord_usage(stderr);
		return 2;
	}
	rv = coord_db_open(db_path, &db, &err);
	if (rv != FT_OK) {
		fprintf(stderr, "fedtwin coordinator run status: %s\n", err.msg);
		return 1;
	}
	if (id_s == NULL) {
		sqlite3_prepare_v2(db,
		                   "SELECT r.id, r.name, r.status, r.rounds,"
		                   " (SELECT COUNT(*) FROM rounds WHERE run_id=r.id AND round>0 AND status='done'),"
		                   " r.spec FROM runs r ORDER BY r.id",
		                   -1, &st, NULL);
		printf("%-6s %-20s %-9s %-8s %s\n", "run", "name", "status", "rounds", "model");
		while (st != NULL && sqlite3_step(st) == SQLITE_ROW)
			printf("%-6lld %-20s %-9s %3lld/%-4lld %s\n", sqlite3_column_int64(st, 0),
			       sqlite3_column_text(st, 1), sqlite3_column_text(st, 2),
			       sqlite3_column_int64(st, 4), sqlite3_column_int64(st, 3),
			       sqlite3_column_text(st, 5));
		sqlite3_finalize(st);
		coord_db_close(db);
		return 0;
	}
	sqlite3_prepare_v2(db,
	                   "SELECT name, status, rounds, spec, epsilon, min_sites, dropout, plain_sum"
	                   " FROM runs WHERE id=?",
	                   -1, &st, NULL);
	sqlite3_bind_int64(st, 1, (int64_t)id);
	if (st == NULL || sqlite3_step(st) != SQLITE_ROW) {
		fprintf(stderr, "fedtwin coordinator run status: no run %llu\n",
		        (unsigned long long)id);
		sqlite3_finalize(st);
		coord_db_close(db);
		return 1;
	}
	printf("run %llu '%s': %s, %lld rounds, %s, epsilon %g per round, min %lld sites,"
	       " tolerates %g of the sites dropping\n",
	       (unsigned long long)id, sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
	       sqlite3_column_int64(st, 2), sqlite3_column_text(st, 3), sqlite3_column_double(st, 4),
	       sqlite3_column_int64(st, 5), sqlite3_column_double(st, 6));
	if (sqlite3_column_int64(st, 7) != 0)
		printf("  aggregation: plain sum (--no-secagg): each site's DP-noised update is seen"
		       " by the coordinator; round 0 uses secure aggregation\n");
	else
		printf("  aggregation: secure aggregation\n");
	sqlite3_finalize(st);
	sqlite3_prepare_v2(db,
	                   "SELECT round, attempt, status, n_sites, COALESCE(survivors,''),"
	                   " COALESCE(model_version,-1), COALESCE(model_hash,''), COALESCE(reason,'')"
	                   " FROM rounds WHERE run_id=? ORDER BY round, attempt",
	                   -1, &st, NULL);
	sqlite3_bind_int64(st, 1, (int64_t)id);
	while (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		printf("  round %lld attempt %lld: %-9s announced to %lld", sqlite3_column_int64(st, 0),
		       sqlite3_column_int64(st, 1), sqlite3_column_text(st, 2),
		       sqlite3_column_int64(st, 3));
		if (sqlite3_column_int64(st, 5) >= 0)
			printf("; sites %s; model v%lld %.16s", sqlite3_column_text(st, 4),
			       sqlite3_column_int64(st, 5), sqlite3_column_text(st, 6));
		if (sqlite3_column_bytes(st, 7) > 0)
			printf("; %s", sqlite3_column_text(st, 7));
		printf("\n");
	}
	sqlite3_finalize(st);
	sqlite3_prepare_v2(db,
	                   "SELECT round, attempt, site, reason FROM refusals WHERE run_id=?"
	                   " ORDER BY at_ms",
	                   -1, &st, NULL);
	sqlite3_bind_int64(st, 1, (int64_t)id);
	while (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		printf("  refused: round %lld attempt %lld site %lld: %s\n", sqlite3_column_int64(st, 0),
		       sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
		       sqlite3_column_text(st, 3));
	sqlite3_finalize(st);
	sqlite3_prepare_v2(db, "SELECT version, hash FROM models WHERE run_id=? ORDER BY version",
	                   -1, &st, NULL);
	sqlite3_bind_int64(st, 1, (int64_t)id);
	while (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		printf("  model v%lld %s\n", sqlite3_column_int64(st, 0), sqlite3_column_text(st, 1));
	sqlite3_finalize(st);
	coord_db_close(db);
	return 0;
}

int ft_coord_cli_main(int argc, char **argv)
{
	if (ft_crypto_init() != FT_OK) {
		fprintf(stderr, "fedtwin coordinator: libsodium failed to initialise\n");
		return 1;
	}
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		coord_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "run") == 0 && argc >= 3) {
		if (strcmp(argv[2], "create") == 0)
			return run_create(argc - 3, argv + 3);
		if (strcmp(argv[2], "status") == 0)
			return run_status(argc - 3, argv + 3);
		if (strcmp(argv[2], "start") == 0 || strcmp(argv[2], "pause") == 0 ||
		    strcmp(argv[2], "resume") == 0 || strcmp(argv[2], "stop") == 0)
			return run_set(argv[2], argc - 3, argv + 3);
	}
	if (strcmp(argv[1], "serve") == 0 && argc == 4 && strcmp(argv[2], "--config") == 0)
		return coord_serve_main(argv[3]);
	coord_usage(stderr);
	return 2;
}
