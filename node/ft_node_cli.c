/*
 * ft_node_cli.c - `fedtwin node ...`: the site operator's commands. `train`
 * runs local DP training under the site policy; the store's commands
 * (import, consent, policy, status) are passed through.
 */
#include <stdio.h>
#include <string.h>

#include "ft_node.h"
#include "node_int.h"

static void node_usage(FILE *f)
{
	fprintf(f,
	        "usage: fedtwin node COMMAND [--store PATH] ...\n"
	        "  import --csv FILE --target COL [--patient-id COL] [--consent COL]\n"
	        "         [--features A,B,...] [--dataset NAME] [--na error|skip]\n"
	        "  consent grant|revoke PATIENT [--actor NAME]\n"
	        "  policy set --max-epsilon-run E --max-epsilon-total E --delta D\n"
	        "  policy show\n"
	        "  status\n"
	        "  train --dataset NAME [--model logreg|softmax|linreg|mlp] [--classes K]\n"
	        "        [--hidden 64,32] [--activation relu|tanh] [--epochs E] [--batch B]\n"
	        "        [--lr LR] [--optimizer sgd|adam] [--momentum M] [--clip C]\n"
	        "        (--epsilon E | --noise-multiplier S) [--run ID] [--round N]\n"
	        "        [--standardise] [--out MODEL_FILE]\n"
	        "  --standardise scales features by this site's exact means and variances;\n"
	        "  they are stored in the model file and are not covered by DP, so such a\n"
	        "  model must stay at the site.\n"
	        "  run --config FILE   the site daemon (docs/OPERATIONS.md)\n"
	        "  check --config FILE [--offline]   checks what run needs, and that the\n"
	        "                      coordinator accepts this site\n");
}

typedef struct node_train_opts {
	const char *store_path;
	const char *out;
	ft_node_train_request req;
	int have_round;
} node_train_opts;

static int parse_u32(const char *opt, const char *v, uint32_t min, uint32_t max, uint32_t *out)
{
	int64_t x;

	if (ft_parse_i64(v, min, max, &x) != FT_OK) {
		fprintf(stderr, "fedtwin node train: %s must be an integer in [%u, %u], not '%s'\n",
		        opt, min, max, v);
		return -1;
	}
	*out = (uint32_t)x;
	return 0;
}

static int parse_pos(const char *opt, const char *v, double *out)
{
	double x;

	if (ft_parse_double(v, &x) != FT_OK || !(x > 0)) {
		fprintf(stderr, "fedtwin node train: %s must be a positive number, not '%s'\n", opt, v);
		return -1;
	}
	*out = x;
	return 0;
}

static int parse_hidden(const char *v, ft_model_spec *spec)
{
	ft_errmsg err = {{0}};

	if (ft_model_spec_parse_hidden(v, spec, &err) != FT_OK) {
		fprintf(stderr, "fedtwin node train: --hidden: %s\n", err.msg);
		return -1;
	}
	return 0;
}

/* The next round number of `run` that is not yet in the ledger. */
static int max_round_fn(void *ctx, const ft_store_ledger_event *ev)
{
	uint64_t *next = ctx;

	if (ev->round + 1 > *next)
		*next = ev->round + 1;
	return 0;
}

static int node_train_main(int argc, char **argv)
{
	node_train_opts o;
	ft_model_train_config *cfg = &o.req.cfg;
	ft_store *store = NULL;
	ft_model *model = NULL;
	ft_model_meta *meta = NULL;
	ft_node_train_result res;
	ft_errmsg err = {{0}};
	const char *model_kind = "logreg";
	int classes_set = 0, status = 1, rv;

	memset(&o, 0, sizeof(o));
	o.store_path = FT_STORE_DEFAULT_PATH;
	o.req.run_id = "local";
	ft_model_train_config_default(cfg);
	cfg->epochs = 5;
	cfg->batch_units = 64;
	cfg->dp.clip = 1.0;
	o.req.spec.n_classes = 2;
	o.req.spec.activation = FT_MODEL_ACT_RELU;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--standardise") == 0) {
			o.req.standardise = 1;
			continue;
		}
		if (strcmp(a, "--help") == 0) {
			node_usage(stdout);
			return 0;
		}
		if (v == NULL || strncmp(a, "--", 2) != 0) {
			fprintf(stderr, "fedtwin node train: unknown or incomplete option '%s'\n", a);
			return 2;
		}
		i++;
		if (strcmp(a, "--store") == 0) {
			o.store_path = v;
		} else if (strcmp(a, "--dataset") == 0) {
			o.req.dataset = v;
		} else if (strcmp(a, "--out") == 0) {
			o.out = v;
		} else if (strcmp(a, "--run") == 0) {
			o.req.run_id = v;
		} else if (strcmp(a, "--round") == 0) {
			uint64_t r;

			if (ft_parse_u64(v, UINT32_MAX, &r) != FT_OK) {
				fprintf(stderr, "fedtwin node train: --round must be a round number, not '%s'\n", v);
				return 2;
			}
			o.req.round = r;
			o.have_round = 1;
		} else if (strcmp(a, "--model") == 0) {
			model_kind = v;
		} else if (strcmp(a, "--classes") == 0) {
			if (parse_u32(a, v, 2, FT_MODEL_MAX_CLASSES, &o.req.spec.n_classes) != 0)
				return 2;
			classes_set = 1;
		} else if (strcmp(a, "--hidden") == 0) {
			if (parse_hidden(v, &o.req.spec) != 0)
				return 2;
		} else if (strcmp(a, "--activation") == 0) {
			if (strcmp(v, "relu") == 0) {
				o.req.spec.activation = FT_MODEL_ACT_RELU;
			} else if (strcmp(v, "tanh") == 0) {
				o.req.spec.activation = FT_MODEL_ACT_TANH;
			} else {
				fprintf(stderr, "fedtwin node train: --activation is relu or tanh, not '%s'\n", v);
				return 2;
			}
		} else if (strcmp(a, "--epochs") == 0) {
			if (parse_u32(a, v, 1, 100000, &cfg->epochs) != 0)
				return 2;
		} else if (strcmp(a, "--batch") == 0) {
			if (parse_u32(a, v, 1, 1u << 24, &cfg->batch_units) != 0)
				return 2;
		} else if (strcmp(a, "--lr") == 0) {
			if (parse_pos(a, v, &cfg->lr) != 0)
				return 2;
		} else if (strcmp(a, "--momentum") == 0) {
			if (ft_parse_double(v, &cfg->momentum) != FT_OK || cfg->momentum < 0 ||
			    cfg->momentum >= 1) {
				fprintf(stderr, "fedtwin node train: --momentum must be in [0, 1), not '%s'\n", v);
				return 2;
			}
		} else if (strcmp(a, "--optimizer") == 0) {
			if (strcmp(v, "sgd") == 0) {
				cfg->optimizer = FT_MODEL_OPT_SGD;
			} else if (strcmp(v, "adam") == 0) {
				cfg->optimizer = FT_MODEL_OPT_ADAM;
			} else {
				fprintf(stderr, "fedtwin node train: --optimizer is sgd or adam, not '%s'\n", v);
				return 2;
			}
		} else if (strcmp(a, "--clip") == 0) {
			if (parse_pos(a, v, &cfg->dp.clip) != 0)
				return 2;
		} else if (strcmp(a, "--epsilon") == 0) {
			if (parse_pos(a, v, &o.req.target_epsilon) != 0)
				return 2;
		} else if (strcmp(a, "--noise-multiplier") == 0) {
			if (parse_pos(a, v, &cfg->dp.sigma) != 0)
				return 2;
		} else {
			fprintf(stderr, "fedtwin node train: unknown option '%s'\n", a);
			return 2;
		}
	}
	if (o.req.dataset == NULL) {
		fprintf(stderr, "fedtwin node train: --dataset NAME is required\n");
		return 2;
	}
	if ((o.req.target_epsilon > 0) == (cfg->dp.sigma > 0)) {
		fprintf(stderr, "fedtwin node train: give exactly one of --epsilon E and "
		                "--noise-multiplier S\n");
		return 2;
	}
	if (strcmp(model_kind, "logreg") == 0) {
		o.req.spec.kind = FT_MODEL_LOGREG;
		o.req.spec.activation = FT_MODEL_ACT_NONE;
	} else if (strcmp(model_kind, "softmax") == 0) {
		o.req.spec.kind = FT_MODEL_SOFTMAX;
		o.req.spec.activation = FT_MODEL_ACT_NONE;
	} else if (strcmp(model_kind, "linreg") == 0) {
		o.req.spec.kind = FT_MODEL_LINREG;
		o.req.spec.activation = FT_MODEL_ACT_NONE;
		if (classes_set) {
			fprintf(stderr, "fedtwin node train: --classes does not apply to linreg\n");
			return 2;
		}
		o.req.spec.n_classes = 0;
	} else if (strcmp(model_kind, "mlp") == 0) {
		o.req.spec.kind = FT_MODEL_MLP;
		if (o.req.spec.n_hidden == 0) {
			o.req.spec.n_hidden = 1;
			o.req.spec.hidden[0] = 32;
		}
	} else {
		fprintf(stderr, "fedtwin node train: --model is logreg, softmax, linreg or mlp, "
		                "not '%s'\n", model_kind);
		return 2;
	}
	if (o.req.spec.kind != FT_MODEL_MLP && o.req.spec.n_hidden != 0) {
		fprintf(stderr, "fedtwin node train: --hidden applies only to --model mlp\n");
		return 2;
	}

	rv = ft_store_open(o.store_path, &store, &err);
	if (rv != FT_OK)
		goto fail;
	if (!o.have_round) {
		uint64_t next = 0;

		rv = ft_store_ledger_foreach(store, o.req.run_id, max_round_fn, &next, &err);
		if (rv != FT_OK)
			goto fail;
		o.req.round = next;
	}
	rv = ft_node_train_local(store, &o.req, &model, o.out != NULL ? &meta : NULL, &res, &err);
	if (rv != FT_OK)
		goto fail;
	if (o.out != NULL) {
		rv = ft_model_save(model, meta, o.out, &err);
		if (rv != FT_OK)
			goto fail;
	}
	printf("run=%s round=%llu patients=%zu records=%zu excluded_patients=%zu steps=%llu "
	       "q=%.6g sigma=%.6g clip=%g delta=%g epsilon_round=%.6g epsilon_run=%.6g "
	       "epsilon_total=%.6g",
	       o.req.run_id, (unsigned long long)o.req.round, res.data.patients_used,
	       res.data.records_used, res.data.patients_excluded,
	       (unsigned long long)res.train.steps, res.train.q, res.sigma, res.train.clip,
	       res.delta, res.eps_round, res.eps_run, res.eps_total);
	if (o.req.spec.kind == FT_MODEL_LINREG || (o.req.spec.kind == FT_MODEL_MLP &&
	                                          o.req.spec.n_classes == 0))
		printf(" train_rmse=%.6g train_mae=%.6g", res.eval.rmse, res.eval.mae);
	else
		printf(" train_accuracy=%.4f train_logloss=%.4f", res.eval.accuracy, res.eval.logloss);
	printf("%s%s%s\n", o.req.standardise ? " standardise=site-exact-not-dp" : "",
	       o.out != NULL ? " model=" : "", o.out != NULL ? o.out : "");
	status = 0;
	goto out;
fail:
	fprintf(stderr, "fedtwin node train: %s%s%s\n", ft_strerror(rv), err.msg[0] ? ": " : "",
	        err.msg);
out:
	ft_model_meta_free(meta);
	ft_model_free(model);
	ft_store_close(store);
	return status;
}

int ft_node_cli_main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		node_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "train") == 0)
		return node_train_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "run") == 0)
		return ft_node_run_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "check") == 0)
		return ft_node_check_main(argc - 1, argv + 1);
	return ft_store_cli_main(argc - 1, argv + 1);
}
