/*
 * ft_node_stats.c - the site's statistics release for federated
 * standardisation under its own privacy policy: fail closed without a
 * policy, at most FT_NODE_STATS_MAX_RELEASES charged releases per run, the
 * ledger charged (and so the run's and lifetime limits checked) before the
 * noisy vector exists. The node daemon and its tests call it; the daemon
 * keeps the result so that a retry re-sends it.
 */
#include <math.h>
#include <string.h>

#include "ft_node.h"
#include "ft_privacy.h"

/* Ledger keys of statistics releases are 0 .. FT_NODE_STATS_MAX_RELEASES - 1;
 * the daemon's training keys are round * 1000 + attempt with round >= 1. */
static int count_fn(void *ctx, const ft_store_ledger_event *ev)
{
	if (ev->round < FT_NODE_STATS_LEDGER_KEYS)
		(*(uint64_t *)ctx)++;
	return 0;
}

int ft_node_stats_release(ft_store *store, const ft_node_stats_request *req, float *vec,
                          size_t len, ft_node_stats_result *res, ft_errmsg *err)
{
	ft_store_policy pol;
	ft_store_ledger_event ev;
	ft_store_load_stats ls;
	ft_model_dataset *ds = NULL;
	ft_node_stats_result r;
	float *tmp = NULL;
	uint64_t released = 0;
	double order;
	int rv;

	if (store == NULL || req == NULL || req->dataset == NULL || req->run_id == NULL ||
	    req->lo == NULL || req->hi == NULL || vec == NULL || res == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "stats: missing argument");
	if (len != ft_model_stats_len(req->n_features))
		return ft_errmsg_set(err, FT_EINVAL, "stats: vector of %zu, expected %zu", len,
		                     ft_model_stats_len(req->n_features));
	if (strlen(req->run_id) > FT_STORE_RUN_ID_MAX)
		return ft_errmsg_set(err, FT_EINVAL, "run id longer than %d bytes",
		                     FT_STORE_RUN_ID_MAX);
	memset(&r, 0, sizeof(r));
	/* 1. The site's policy; none means no release at all. */
	rv = ft_store_policy_get(store, &pol, err);
	if (rv != FT_OK)
		return rv == FT_ENOTFOUND ? FT_EPERM : rv;
	/* 2. The cap: a coordinator cannot collect fresh noise draws. */
	rv = ft_store_ledger_foreach(store, req->run_id, count_fn, &released, err);
	if (rv != FT_OK)
		return rv;
	if (released >= FT_NODE_STATS_MAX_RELEASES)
		return ft_errmsg_set(err, FT_EPERM, "run %s: the statistics were released %llu times"
		                     " already, the most this site allows", req->run_id,
		                     (unsigned long long)released);
	/* 3. The noise for the announced epsilon at the policy's delta. */
	rv = ft_node_stats_calibrate(req->epsilon, pol.delta, req->n_features, &r.dp, err);
	if (rv == FT_OK)
		rv = ft_privacy_epsilon(1.0, r.dp.z, 1, pol.delta, NULL, 0, &r.eps_round, &order);
	if (rv != FT_OK)
		return rv;
	/* 4. The exact vector over consented patients, at the site only. */
	rv = ft_store_load_training(store, req->dataset, &ds, &ls, err);
	if (rv != FT_OK)
		return rv;
	if (ds->n_units == 0) {
		rv = ft_errmsg_set(err, FT_ENOTFOUND,
		                   "dataset '%s' has no record of a consenting patient", req->dataset);
		goto out;
	}
	if (ds->n_features != req->n_features) {
		rv = ft_errmsg_set(err, FT_EINVAL, "dataset '%s' has %zu features, the model %zu",
		                   req->dataset, ds->n_features, req->n_features);
		goto out;
	}
	tmp = ft_mallocarray(len, sizeof(float));
	if (tmp == NULL) {
		rv = ft_errmsg_set(err, FT_ENOMEM, "out of memory");
		goto out;
	}
	rv = ft_node_stats_site(ds, req->lo, req->hi, req->max_units, tmp, len, err);
	if (rv != FT_OK)
		goto out;
	/* 5. Within the run's and lifetime limits, charged durably. */
	memset(&ev, 0, sizeof(ev));
	memcpy(ev.run_id, req->run_id, strlen(req->run_id) + 1);
	ev.round = released;
	ev.q = 1.0;
	ev.sigma = r.dp.z;
	ev.steps = 1;
	ev.delta = pol.delta;
	rv = ft_store_policy_charge(store, &ev, &r.eps_run, &r.eps_total, err);
	if (rv != FT_OK)
		goto out;
	/* 6. Only now the noise: the exact vector never exists outside. */
	rv = ft_node_stats_noise(&r.dp, tmp, len, err);
	if (rv != FT_OK)
		goto out;
	r.ledger_round = released;
	r.n_units = ds->n_units;
	r.max_eps_run = pol.max_eps_run;
	r.max_eps_total = pol.max_eps_total;
	memcpy(vec, tmp, len * sizeof(float));
	*res = r;
out:
	if (tmp != NULL)
		ft_crypto_wipe(tmp, len * sizeof(float));
	ft_free(tmp);
	ft_model_dataset_free(ds);
	return rv;
}
