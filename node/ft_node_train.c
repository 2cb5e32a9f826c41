/*
 * ft_node_train.c - local DP training under the site's own privacy policy:
 * load consented records, plan and check the privacy cost, commit it to the
 * ledger, then train. The order is the point: nothing is trained, and so
 * nothing can be released, before the cost is checked and durably recorded.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ft_node.h"
#include "ft_crypto.h"
#include "ft_privacy.h"

/* Steps of DP-SGD the trainer will take for this config and unit count. */
static uint64_t node_planned_steps(const ft_model_train_config *cfg, size_t n_units)
{
	uint64_t per_epoch;

	if (cfg->steps > 0)
		return cfg->steps;
	per_epoch = (n_units + cfg->batch_units - 1) / cfg->batch_units;
	return per_epoch * cfg->epochs;
}

/* The metadata stored with a locally trained model. */
static int node_build_meta(const ft_node_train_request *req, const ft_node_train_result *r,
                           const double *mean, const double *var, size_t n_features,
                           ft_model_meta **out)
{
	ft_model_meta *meta = NULL;
	int rv;

	rv = ft_model_meta_alloc(&meta);
	if (rv == FT_OK)
		rv = ft_model_meta_set_str(meta, "dataset", req->dataset);
	if (rv == FT_OK)
		rv = ft_model_meta_set_str(meta, "run", req->run_id);
	if (rv == FT_OK)
		rv = ft_model_meta_set_int(meta, "round", (int64_t)req->round);
	if (rv == FT_OK)
		rv = ft_model_meta_set_double(meta, "dp.epsilon_round", r->eps_round);
	if (rv == FT_OK)
		rv = ft_model_meta_set_double(meta, "dp.epsilon_run", r->eps_run);
	if (rv == FT_OK)
		rv = ft_model_meta_set_double(meta, "dp.delta", r->delta);
	if (rv == FT_OK)
		rv = ft_model_meta_set_double(meta, "dp.sampling_rate", r->train.q);
	if (rv == FT_OK)
		rv = ft_model_meta_set_double(meta, "dp.noise_multiplier", r->sigma);
	if (rv == FT_OK)
		rv = ft_model_meta_set_double(meta, "dp.clip", r->train.clip);
	if (rv == FT_OK)
		rv = ft_model_meta_set_int(meta, "dp.steps", (int64_t)r->train.steps);
	/* Exact patient and record counts are not covered by DP: they stay in
	 * the store and the audit log, never in the model file. */
	if (rv == FT_OK && mean != NULL)
		rv = ft_model_meta_set_str(meta, "standardise.privacy",
		                           "exact site moments, not covered by DP");
	if (rv == FT_OK && mean != NULL)
		rv = ft_model_meta_set_vector(meta, "standardise.mean", mean, n_features);
	if (rv == FT_OK && var != NULL)
		rv = ft_model_meta_set_vector(meta, "standardise.var", var, n_features);
	if (rv != FT_OK) {
		ft_model_meta_free(meta);
		return rv;
	}
	*out = meta;
	return FT_OK;
}

int ft_node_train_local(ft_store *store, const ft_node_train_request *req, ft_model **out,
                        ft_model_meta **meta_out, ft_node_train_result *res, ft_errmsg *err)
{
	ft_model *model = NULL;
	ft_model_meta *meta = NULL;
	ft_model_spec spec;
	uint8_t seed[32];
	ft_store_policy policy;
	ft_store_ledger_event ev;
	ft_model_dataset *ds = NULL;
	ft_node_train_result r;
	ft_model_train_config cfg;
	double *mean = NULL, *var = NULL;
	double q, eps_round = 0, order = 0, eps_run = 0, eps_total = 0;
	uint64_t steps;
	int rv;

	memset(&r, 0, sizeof(r));
	if (store == NULL || out == NULL || req == NULL || req->dataset == NULL ||
	    req->run_id == NULL || res == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "train: missing argument");
	cfg = req->cfg;
	if (!(cfg.dp.clip > 0) || !isfinite(cfg.dp.clip))
		return ft_errmsg_set(err, FT_EINVAL, "train: the clip norm must be positive");
	if (cfg.batch_units == 0)
		return ft_errmsg_set(err, FT_EINVAL, "train: the batch size must be at least 1");
	cfg.dp.enabled = 1;

	/* 1. The site's policy; none means no training at all. */
	rv = ft_store_policy_get(store, &policy, err);
	if (rv != FT_OK) {
		if (rv == FT_ENOTFOUND)
			rv = FT_EPERM;
		goto out;
	}

	/* 2. Consented records only, grouped by patient. */
	rv = ft_store_load_training(store, req->dataset, &ds, &r.data, err);
	if (rv != FT_OK)
		goto out;
	if (ds->n_units == 0) {
		rv = ft_errmsg_set(err, FT_ENOTFOUND,
		                   "dataset '%s' has no record of a consenting patient", req->dataset);
		goto out;
	}
	if (cfg.batch_units > ds->n_units)
		cfg.batch_units = (uint32_t)ds->n_units;
	if (req->initial != NULL) {
		rv = ft_model_clone(req->initial, &model);
		if (rv != FT_OK) {
			ft_errmsg_set(err, rv, "cannot copy the initial model");
			goto out;
		}
	} else {
		spec = req->spec;
		spec.n_features = (uint32_t)ds->n_features;
		rv = ft_model_alloc(&spec, &model, err);
		if (rv != FT_OK)
			goto out;
		ft_crypto_random(seed, sizeof(seed));
		rv = ft_model_init(model, seed);
		ft_crypto_wipe(seed, sizeof(seed));
		if (rv != FT_OK)
			goto out;
	}
	rv = ft_model_dataset_check(ds, ft_model_get_spec(model), err);
	if (rv != FT_OK)
		goto out;

	/* 3. The privacy cost of this round. */
	steps = node_planned_steps(&cfg, ds->n_units);
	q = (double)cfg.batch_units / (double)ds->n_units;
	if (req->target_epsilon > 0) {
		rv = ft_privacy_calibrate_sigma(req->target_epsilon, policy.delta, q, steps, NULL, 0,
		                                &cfg.dp.sigma);
		if (rv != FT_OK) {
			ft_errmsg_set(err, rv, "cannot reach epsilon %g at delta %g with q=%g over %llu "
			              "steps", req->target_epsilon, policy.delta, q,
			              (unsigned long long)steps);
			goto out;
		}
	}
	if (!(cfg.dp.sigma > 0) || !isfinite(cfg.dp.sigma)) {
		rv = ft_errmsg_set(err, FT_EINVAL, "train: the noise multiplier must be positive");
		goto out;
	}
	rv = ft_privacy_epsilon(q, cfg.dp.sigma, steps, policy.delta, NULL, 0, &eps_round, &order);
	if (rv != FT_OK) {
		ft_errmsg_set(err, rv, "cannot account q=%g sigma=%g steps=%llu", q, cfg.dp.sigma,
		              (unsigned long long)steps);
		goto out;
	}

	/* 4 and 5. Fail closed against the run and lifetime budgets, and make
	 * the cost durable in the same transaction, before anything can be
	 * released. */
	memset(&ev, 0, sizeof(ev));
	if (strlen(req->run_id) > FT_STORE_RUN_ID_MAX) {
		rv = ft_errmsg_set(err, FT_EINVAL, "run id longer than %d bytes", FT_STORE_RUN_ID_MAX);
		goto out;
	}
	memcpy(ev.run_id, req->run_id, strlen(req->run_id) + 1);
	ev.round = req->round;
	ev.q = q;
	ev.sigma = cfg.dp.sigma;
	ev.steps = steps;
	ev.delta = policy.delta;
	rv = ft_store_policy_charge(store, &ev, &eps_run, &eps_total, err);
	if (rv != FT_OK)
		goto out;

	/* 6. Train. */
	if (req->std_mean != NULL && req->std_var != NULL) {
		/* Public moments: the data are transformed by fixed values. */
		rv = ft_model_dataset_standardise(ds, req->std_mean, req->std_var);
		if (rv != FT_OK) {
			ft_errmsg_set(err, rv, "cannot standardise dataset '%s'", req->dataset);
			goto out;
		}
	} else if (req->standardise) {
		mean = ft_mallocarray(ds->n_features, sizeof(double));
		var = ft_mallocarray(ds->n_features, sizeof(double));
		if (mean == NULL || var == NULL) {
			rv = ft_errmsg_set(err, FT_ENOMEM, "out of memory");
			goto out;
		}
		rv = ft_model_dataset_moments(ds, mean, var);
		if (rv == FT_OK)
			rv = ft_model_dataset_standardise(ds, mean, var);
		if (rv != FT_OK) {
			ft_errmsg_set(err, rv, "cannot standardise dataset '%s'", req->dataset);
			goto out;
		}
	}
	rv = ft_model_train(model, ds, &cfg, &r.train, err);
	if (rv != FT_OK)
		goto out;
	if (r.train.steps > steps || r.train.q > q) {
		/* The ledger holds the planned cost; training must never exceed it. */
		rv = ft_errmsg_set(err, FT_EINTERNAL, "training took %llu steps at q=%g, more than "
		                   "the %llu at q=%g charged to the ledger",
		                   (unsigned long long)r.train.steps, r.train.q,
		                   (unsigned long long)steps, q);
		goto out;
	}
	rv = ft_model_evaluate(model, ds, &r.eval, err);
	if (rv != FT_OK)
		goto out;
	r.sigma = cfg.dp.sigma;
	r.delta = policy.delta;
	r.eps_round = eps_round;
	r.eps_run = eps_run;
	r.eps_total = eps_total;
	if (meta_out != NULL) {
		rv = node_build_meta(req, &r, mean, var, ds->n_features, &meta);
		if (rv != FT_OK) {
			ft_errmsg_set(err, rv, "cannot build the model metadata");
			goto out;
		}
		*meta_out = meta;
		meta = NULL;
	}
	*res = r;
	*out = model;
	model = NULL;
out:
	ft_model_free(model);
	ft_model_meta_free(meta);
	ft_free(mean);
	ft_free(var);
	ft_model_dataset_free(ds);
	return rv;
}
