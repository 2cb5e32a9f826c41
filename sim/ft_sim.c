/*
 * ft_sim.c - the federated training loop of `fedtwin simulate`: per-site
 * DP calibration and accounting, and each round the sites' updates
 * (ft_node_update_compute), their secure sum, its decoding, the server
 * optimiser's step and the evaluation on the held-out rows.
 */
#include <math.h>
#include <string.h>
#include <time.h>

#include "sim_int.h"

void ft_sim_options_default(ft_sim_options *o)
{
	memset(o, 0, sizeof(*o));
	o->test_fraction = 0.25;
	o->model = FT_MODEL_LOGREG;
	o->n_hidden = 1;
	o->hidden[0] = 32;
	o->rounds = 20;
	o->local_epochs = 1;
	o->batch = 16;
	o->lr = 0.1;
	o->server_opt = FT_MODEL_SERVER_FEDAVG;
	o->clip = 1.0;
	o->update_clip = 5.0;
	o->bits = 32;
	o->weighted = 1;
	o->dp_delta = 1e-5;
	o->secagg = 1;
	o->drop_when = FT_SIM_DROP_AFTER_UPLOAD;
	o->stats_epsilon = 0;
	o->seed = 1;
}

static int options_check(const ft_sim_options *o, ft_errmsg *err)
{
	if (o->data == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "--data is required");
	if (o->target == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "--target is required");
	if ((o->site_column != NULL) == (o->n_sites != 0))
		return ft_errmsg_set(err, FT_EINVAL, "give exactly one of --site-column and --sites");
	if (o->site_column == NULL && (o->n_sites < 2 || o->n_sites > FT_SIM_MAX_SITES))
		return ft_errmsg_set(err, FT_EINVAL, "--sites must be in [2, %u]", FT_SIM_MAX_SITES);
	if (o->dirichlet != 0 && (o->site_column != NULL || !(o->dirichlet > 0) ||
	                          !isfinite(o->dirichlet)))
		return ft_errmsg_set(err, FT_EINVAL, "--dirichlet needs --sites and a positive alpha");
	if (!(o->test_fraction >= 0 && o->test_fraction < 1))
		return ft_errmsg_set(err, FT_EINVAL, "--test-fraction must be in [0, 1)");
	if (o->model < FT_MODEL_LOGREG || o->model > FT_MODEL_MLP)
		return ft_errmsg_set(err, FT_EINVAL, "--model must be logreg, softmax, linreg or mlp");
	if (o->regression && o->model != FT_MODEL_LINREG && o->model != FT_MODEL_MLP)
		return ft_errmsg_set(err, FT_EINVAL, "a numeric target needs --model linreg or mlp");
	if (o->model == FT_MODEL_LINREG && !o->regression)
		return ft_errmsg_set(err, FT_EINVAL, "--model linreg is for a numeric target");
	if (o->rounds < 1 || o->rounds > FT_SIM_MAX_ROUNDS)
		return ft_errmsg_set(err, FT_EINVAL, "--rounds must be in [1, %u]", FT_SIM_MAX_ROUNDS);
	if (o->local_epochs < 1 || o->local_epochs > 1000)
		return ft_errmsg_set(err, FT_EINVAL, "--local-epochs must be in [1, 1000]");
	if (o->batch < 1)
		return ft_errmsg_set(err, FT_EINVAL, "--batch must be at least 1");
	if (!(o->lr > 0) || !isfinite(o->lr))
		return ft_errmsg_set(err, FT_EINVAL, "--lr must be positive");
	if (!(o->clip > 0) || !isfinite(o->clip))
		return ft_errmsg_set(err, FT_EINVAL, "--clip must be positive");
	if (!(o->update_clip > 0) || !isfinite(o->update_clip))
		return ft_errmsg_set(err, FT_EINVAL, "--update-clip must be positive");
	if (o->bits < 16 || o->bits > 32)
		return ft_errmsg_set(err, FT_EINVAL, "--bits must be in [16, 32]");
	if (o->dp && (!(o->dp_epsilon > 0) || !isfinite(o->dp_epsilon)))
		return ft_errmsg_set(err, FT_EINVAL, "--dp-epsilon must be positive");
	if (o->dp && !(o->dp_delta > 0 && o->dp_delta < 1))
		return ft_errmsg_set(err, FT_EINVAL, "--dp-delta must be in (0, 1)");
	if (!(o->drop_rate >= 0 && o->drop_rate < 1))
		return ft_errmsg_set(err, FT_EINVAL, "--drop-rate must be in [0, 1)");
	if (o->drop_when > FT_SIM_DROP_BEFORE_UPLOAD)
		return ft_errmsg_set(err, FT_EINVAL, "bad drop phase");
	if (o->dp && (!(o->stats_epsilon >= 0) || !(o->stats_epsilon < o->dp_epsilon)))
		return ft_errmsg_set(err, FT_EINVAL, "--stats-epsilon must be positive and below "
		                     "--dp-epsilon (the site's budget covers both)");
	if (o->dp && o->feature_ranges == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "--dp-epsilon needs --feature-ranges: the "
		                     "standardisation statistics are released with DP too");
	if (!(o->server_lr >= 0) || !isfinite(o->server_lr))
		return ft_errmsg_set(err, FT_EINVAL, "--server-lr must be positive");
	return FT_OK;
}

static double sim_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The global model's architecture for this federation. */
static int model_create(const sim_fed *f, ft_model **out, ft_errmsg *err)
{
	ft_model_spec spec;
	uint8_t seed[32];
	uint64_t s = f->o->seed;
	ft_model *m = NULL;
	int rv;

	memset(&spec, 0, sizeof(spec));
	spec.kind = f->o->model;
	spec.n_features = (uint32_t)f->n_features;
	spec.n_classes = f->n_classes;
	if (spec.kind == FT_MODEL_MLP) {
		spec.n_hidden = f->o->n_hidden;
		memcpy(spec.hidden, f->o->hidden, sizeof(spec.hidden));
		spec.activation = FT_MODEL_ACT_RELU;
	}
	rv = ft_model_alloc(&spec, &m, err);
	if (rv != FT_OK)
		return rv;
	/* Every site would receive this model; its initialisation is seeded. */
	ft_crypto_hash(seed, &s, sizeof(s));
	rv = ft_model_init(m, seed);
	if (rv != FT_OK) {
		ft_model_free(m);
		return ft_errmsg_set(err, rv, "cannot initialise the model");
	}
	*out = m;
	return FT_OK;
}

/* The epsilon of the statistics release (one Gaussian step, multiplier
 * stats_z) composed with `steps` DP-SGD steps at (q, sigma). */
static int eps_with_stats(double delta, double q, uint64_t steps, double stats_z, double sigma,
                          double *eps)
{
	ft_privacy_accountant *acc = NULL;
	double order;
	int rv;

	rv = ft_privacy_accountant_alloc(NULL, 0, &acc);
	if (rv == FT_OK)
		rv = ft_privacy_accountant_add(acc, 1.0, stats_z, 1);
	if (rv == FT_OK)
		rv = ft_privacy_accountant_add(acc, q, sigma, steps);
	if (rv == FT_OK)
		rv = ft_privacy_accountant_epsilon(acc, delta, eps, &order);
	ft_privacy_accountant_free(acc);
	return rv;
}

/* The smallest DP-SGD multiplier (to FT_PRIVACY_CALIB_RTOL) with which the
 * statistics release and the whole run's training together stay within
 * target_eps: the site's budget covers both, as a node's policy does.
 * Bisection in log sigma like ft_privacy_calibrate_sigma. */
static int calibrate_after_stats(double target_eps, double delta, double q, uint64_t steps,
                                 double stats_z, double *sigma)
{
	double lo = FT_PRIVACY_CALIB_SIGMA_MIN, hi = FT_PRIVACY_CALIB_SIGMA_MAX, eps;
	int rv;

	rv = eps_with_stats(delta, q, steps, stats_z, hi, &eps);
	if (rv != FT_OK)
		return rv;
	if (!(eps <= target_eps))
		return FT_ERANGE;
	while (hi > lo * (1 + FT_PRIVACY_CALIB_RTOL)) {
		double mid = sqrt(lo * hi);

		rv = eps_with_stats(delta, q, steps, stats_z, mid, &eps);
		if (rv != FT_OK)
			return rv;
		if (eps <= target_eps)
			hi = mid;
		else
			lo = mid;
	}
	*sigma = hi;
	return FT_OK;
}

/* Per site: batch, sampling rate, steps per round and, with DP, the noise
 * multiplier that spends what the statistics release left of the site's
 * budget over all rounds. */
static int sites_plan(sim_fed *f, double *sigma_max, ft_errmsg *err)
{
	const ft_sim_options *o = f->o;

	*sigma_max = 0;
	for (uint32_t s = 0; s < f->n_sites; s++) {
		sim_site *st = &f->site[s];
		size_t n = st->train->n_units;
		int rv;

		st->batch = o->batch < n ? o->batch : (uint32_t)n;
		st->q = (double)st->batch / (double)n;
		st->steps_per_round = (uint64_t)o->local_epochs * ((n + st->batch - 1) / st->batch);
		if (!o->dp)
			continue;
		if (st->stats_z > 0)
			rv = calibrate_after_stats(o->dp_epsilon, o->dp_delta, st->q,
			                           st->steps_per_round * o->rounds, st->stats_z,
			                           &st->sigma);
		else
			rv = ft_privacy_calibrate_sigma(o->dp_epsilon, o->dp_delta, st->q,
			                                st->steps_per_round * o->rounds, NULL, 0,
			                                &st->sigma);
		if (rv != FT_OK)
			return ft_errmsg_set(err, rv, "site %u: cannot reach epsilon %g at delta %g with "
			                     "q=%g over %llu steps", s + 1, o->dp_epsilon, o->dp_delta,
			                     st->q, (unsigned long long)(st->steps_per_round * o->rounds));
		rv = ft_privacy_accountant_alloc(NULL, 0, &st->acc);
		if (rv != FT_OK)
			return ft_errmsg_set(err, rv, "out of memory");
		/* The statistics release came first: the Gaussian mechanism,
		 * q = 1, one step. */
		if (st->stats_z > 0) {
			rv = ft_privacy_accountant_add(st->acc, 1.0, st->stats_z, 1);
			if (rv != FT_OK)
				return ft_errmsg_set(err, rv, "site %u: cannot account the statistics",
				                     s + 1);
		}
		if (st->sigma > *sigma_max)
			*sigma_max = st->sigma;
	}
	return FT_OK;
}

static void shuffle_seed(const sim_fed *f, uint32_t round, uint32_t site, uint8_t out[32])
{
	uint64_t in[3] = {f->o->seed, round, site};

	ft_crypto_hash(out, in, sizeof(in));
}

/* Evaluation of the global model on the pooled test rows. */
static int evaluate(sim_fed *f, ft_model *g, ft_sim_round_report *r, ft_errmsg *err)
{
	ft_model_eval ev;
	int rv;

	rv = ft_model_evaluate(g, f->test_all, &ev, err);
	if (rv == FT_OK)
		rv = ft_model_loss(g, f->test_all, &r->loss, err);
	if (rv != FT_OK)
		return rv;
	r->accuracy = ev.accuracy;
	r->auc = ev.auc;
	r->rmse = f->n_classes == 0 ? ev.rmse * f->y_sd : NAN;
	{
		double acc = 0, rmse = 0;
		uint32_t m = 0;

		for (uint32_t s = 0; s < f->n_sites; s++) {
			if (f->site[s].test->n_rows == 0)
				continue;
			rv = ft_model_evaluate(g, f->site[s].test, &ev, err);
			if (rv != FT_OK)
				return rv;
			acc += ev.accuracy;
			rmse += ev.rmse;
			m++;
		}
		r->accuracy_sites = f->n_classes > 0 && m > 0 ? acc / m : NAN;
		r->rmse_sites = f->n_classes == 0 && m > 0 ? rmse / m * f->y_sd : NAN;
	}
	return FT_OK;
}

int ft_sim_run(const ft_sim_options *o, ft_sim_start_fn start, ft_sim_round_fn round_fn,
               void *user, ft_sim_summary *summary, ft_model **final, ft_errmsg *err)
{
	sim_fed f;
	ft_sim_summary sum;
	ft_model *global = NULL;
	ft_model_server *server = NULL;
	ft_model_server_config scfg;
	ft_crypto_fxp fxp;
	uint32_t **enc = NULL, *ring = NULL, n_ok = 0;
	float *vec = NULL, *dec = NULL, *mean = NULL;
	uint8_t *drop = NULL;
	size_t n_params = 0, len = 0, cap = 1;
	ft_errmsg rerr;
	int rv;

	memset(&f, 0, sizeof(f));
	memset(&sum, 0, sizeof(sum));
	if (o == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "no options");
	rv = options_check(o, err);
	if (rv != FT_OK)
		return rv;
	f.o = o;
	rv = sim_data_prepare(&f, err);
	if (rv != FT_OK)
		goto out;
	rv = model_create(&f, &global, err);
	if (rv != FT_OK)
		goto out;
	n_params = ft_model_n_params(global);
	len = ft_node_update_len(global, o->weighted);
	rv = ft_model_server_config_default(&scfg, o->server_opt);
	if (rv != FT_OK) {
		ft_errmsg_set(err, rv, "unknown server optimiser");
		goto out;
	}
	if (o->server_lr > 0)
		scfg.lr = o->server_lr;
	rv = ft_model_server_alloc(&scfg, n_params, &server, err);
	if (rv != FT_OK)
		goto out;
	rv = ft_model_update_fxp_init(&fxp, o->update_clip, o->weighted, o->bits, f.n_sites);
	if (rv != FT_OK) {
		ft_errmsg_set(err, rv, "--bits %u is too few for %u sites at --update-clip %g", o->bits,
		              f.n_sites, o->update_clip);
		goto out;
	}
	rv = sites_plan(&f, &sum.sigma_max, err);
	if (rv != FT_OK)
		goto out;
	for (uint32_t s = 0; s < f.n_sites; s++)
		if (f.site[s].train->n_units > cap)
			cap = f.site[s].train->n_units;

	enc = ft_calloc(f.n_sites, sizeof(uint32_t *));
	ring = ft_mallocarray(len, sizeof(uint32_t));
	vec = ft_mallocarray(len, sizeof(float));
	dec = ft_mallocarray(len, sizeof(float));
	mean = ft_mallocarray(n_params, sizeof(float));
	drop = ft_calloc(f.n_sites, 1);
	if (enc == NULL || ring == NULL || vec == NULL || dec == NULL || mean == NULL ||
	    drop == NULL) {
		rv = ft_errmsg_set(err, FT_ENOMEM, "out of memory");
		goto out;
	}
	for (uint32_t s = 0; s < f.n_sites; s++) {
		enc[s] = ft_mallocarray(len, sizeof(uint32_t));
		if (enc[s] == NULL) {
			rv = ft_errmsg_set(err, FT_ENOMEM, "out of memory");
			goto out;
		}
	}

	sum.n_sites = f.n_sites;
	for (uint32_t s = 0; s < f.n_sites; s++) {
		sum.n_train += f.site[s].train->n_rows;
		sum.n_test += f.site[s].test->n_rows;
	}
	sum.n_features = f.n_features;
	sum.n_params = n_params;
	sum.n_classes = f.n_classes;
	sum.secagg_k = f.k;
	sum.secagg_t = f.t;
	if (start != NULL)
		start(user, &sum);

	for (uint32_t r = 1; r <= o->rounds; r++) {
		ft_sim_round_report rep;
		uint32_t n_surv = 0;
		double t0 = sim_ms(), t1;

		memset(&rep, 0, sizeof(rep));
		rep.round = r;
		rep.sites = f.n_sites;
		rep.accuracy = rep.auc = rep.rmse = NAN;
		rep.accuracy_sites = rep.rmse_sites = NAN;
		for (uint32_t s = 0; s < f.n_sites; s++) {
			drop[s] = o->drop_rate > 0 && sim_uniform(&f) < o->drop_rate;
			rep.dropped += drop[s];
		}
		/* Every site trains on its own rows and encodes its update. */
		for (uint32_t s = 0; s < f.n_sites; s++) {
			sim_site *st = &f.site[s];
			ft_node_update_request req;
			ft_node_update_result res;

			memset(&req, 0, sizeof(req));
			req.global = global;
			req.ds = st->train;
			ft_model_train_config_default(&req.cfg);
			req.cfg.lr = o->lr;
			req.cfg.epochs = o->local_epochs;
			req.cfg.batch_units = st->batch;
			req.cfg.optimizer = FT_MODEL_OPT_SGD;
			if (o->dp) {
				req.cfg.dp.enabled = 1;
				req.cfg.dp.clip = o->clip;
				req.cfg.dp.sigma = st->sigma;
			}
			shuffle_seed(&f, r, s, req.cfg.shuffle_seed);
			req.update_clip = o->update_clip;
			req.weighted = o->weighted;
			req.weight = (double)st->train->n_units / (double)cap;
			req.fxp = &fxp;
			rv = ft_node_update_compute(&req, vec, enc[s], len, NULL, &res, err);
			if (rv != FT_OK)
				goto out;
			if (o->dp) {
				/* What the site's ledger records for this round. */
				rv = ft_privacy_accountant_add(st->acc, res.train.q, res.train.sigma,
				                               res.train.steps);
				if (rv != FT_OK) {
					ft_errmsg_set(err, rv, "site %u: accounting failed", s + 1);
					goto out;
				}
			}
		}
		t1 = sim_ms();
		rv = sim_secure_sum(&f, enc, (uint32_t)len, o->bits, drop, ring, &n_surv, &rerr);
		rep.secagg_ms = sim_ms() - t1;
		if (rv == FT_EABORT) {
			rep.aborted = 1;
			rep.abort_reason = rerr.msg;
			sum.rounds_aborted++;
		} else if (rv != FT_OK) {
			ft_errmsg_set(err, rv, "%s", rerr.msg);
			goto out;
		} else {
			rep.survivors = n_surv;
			rv = ft_crypto_fxp_decode(&fxp, ring, len, n_surv, dec);
			if (rv == FT_OK)
				rv = ft_model_server_mean(dec, len, o->weighted, n_surv, mean, n_params);
			if (rv == FT_OK)
				rv = ft_model_server_step(server, ft_model_params(global), n_params, mean);
			if (rv != FT_OK) {
				ft_errmsg_set(err, rv, "round %u: cannot apply the aggregated update", r);
				goto out;
			}
			n_ok++;
		}
		rv = evaluate(&f, global, &rep, err);
		if (rv != FT_OK)
			goto out;
		rep.epsilon = o->dp ? 0.0 : INFINITY;
		for (uint32_t s = 0; o->dp && s < f.n_sites; s++) {
			double eps = 0, order = 0;

			rv = ft_privacy_accountant_epsilon(f.site[s].acc, o->dp_delta, &eps, &order);
			if (rv != FT_OK) {
				ft_errmsg_set(err, rv, "site %u: accounting failed", s + 1);
				goto out;
			}
			if (eps > rep.epsilon)
				rep.epsilon = eps;
		}
		rep.wall_ms = sim_ms() - t0;
		sum.last = rep;
		sum.last.abort_reason = NULL;
		if (round_fn != NULL)
			round_fn(user, &rep);
	}
	if (n_ok == 0) {
		rv = ft_errmsg_set(err, FT_EABORT, "every round aborted");
		goto out;
	}
	if (summary != NULL)
		*summary = sum;
	if (final != NULL) {
		*final = global;
		global = NULL;
	}
	rv = FT_OK;
out:
	if (enc != NULL)
		for (uint32_t s = 0; s < f.n_sites; s++)
			ft_free(enc[s]);
	ft_free(enc);
	ft_free(ring);
	ft_free(vec);
	ft_free(dec);
	ft_free(mean);
	ft_free(drop);
	ft_model_server_free(server);
	ft_model_free(global);
	sim_fed_free(&f);
	return rv;
}
