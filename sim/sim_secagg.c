/*
 * sim_secagg.c - one secure sum per call, run in-process through the real
 * secure-aggregation client and server state machines: the server's outbox
 * is delivered to the clients and theirs to the server by a loop on a
 * virtual clock, dropping sites go silent at the chosen phase, and the
 * server's deadlines are honoured by jumping the clock to them. With
 * --no-secagg the same encoded vectors are summed in the clear.
 */
#include <string.h>

#include "sim_int.h"

/* The loop stops after this many idle deadline jumps or turns. */
#define SIM_SECAGG_MAX_TURNS 100000

int sim_secagg_setup(sim_fed *f, ft_errmsg *err)
{
	uint32_t k = 0, t = 0;
	double drop = f->o->drop_rate;
	int rv;

	ft_crypto_hash(f->consortium, "fedtwin-simulate", 16);
	for (uint32_t i = 0; i < f->n_sites; i++) {
		rv = ft_crypto_identity_generate(&f->site[i].id);
		if (rv != FT_OK)
			return ft_errmsg_set(err, rv, "cannot create the sites' identity keys");
	}
	/* Plan for the expected drop-outs and a few more; past what the full
	 * graph tolerates, use the full graph with the lowest legal threshold
	 * (the round aborts when too many drop, as a real one would). */
	if (drop < 0.999) {
		double plan = drop > 0 ? drop + 0.1 : 0;

		/* With few sites, floor(plan * n) can be 0: plan for at least
		 * one drop-out whenever drop-outs are simulated. */
		if (drop > 0 && plan * f->n_sites < 1.0)
			plan = 1.0 / f->n_sites + 1e-9;
		if (plan > 0.9)
			plan = 0.9;
		rv = ft_secagg_params(f->n_sites, plan, 0.0, 40, 30, &k, &t);
	} else {
		rv = FT_ERANGE;
	}
	if (rv != FT_OK) {
		k = f->n_sites - 1;
		t = k / 2 + 1;
	}
	f->k = k;
	f->t = t;
	return FT_OK;
}

static uint32_t ring_mask(unsigned bits)
{
	return bits == 32 ? UINT32_MAX : ((UINT32_C(1) << bits) - 1);
}

static int clear_sum(sim_fed *f, uint32_t *const *inputs, uint32_t d, unsigned bits,
                     const uint8_t *drop, uint32_t *sum, uint32_t *n_surv)
{
	uint32_t m = 0;

	memset(sum, 0, (size_t)d * sizeof(uint32_t));
	for (uint32_t i = 0; i < f->n_sites; i++) {
		if (drop != NULL && drop[i] && f->o->drop_when == FT_SIM_DROP_BEFORE_UPLOAD)
			continue;
		for (uint32_t j = 0; j < d; j++)
			sum[j] = (sum[j] + inputs[i][j]) & ring_mask(bits);
		m++;
	}
	if (m == 0)
		return FT_EABORT;
	*n_surv = m;
	return FT_OK;
}

int sim_secure_sum(sim_fed *f, uint32_t *const *inputs, uint32_t d, unsigned bits,
                   const uint8_t *drop, uint32_t *sum, uint32_t *n_surv, ft_errmsg *err)
{
	uint32_t n = f->n_sites;
	ft_secagg_site *sites = NULL;
	ft_secagg_client **cl = NULL;
	ft_secagg_server *srv = NULL;
	ft_secagg_config cfg;
	uint8_t *dead = NULL, *has_input = NULL;
	int drop_phase = f->o->drop_when == FT_SIM_DROP_BEFORE_UPLOAD ? FT_SECAGG_UPLOAD
	                                                                : FT_SECAGG_CHECK;
	uint64_t now = 1000;
	int rv = FT_OK, turn;

	if (!f->o->secagg) {
		rv = clear_sum(f, inputs, d, bits, drop, sum, n_surv);
		if (rv != FT_OK)
			ft_errmsg_set(err, rv, "every site dropped before uploading");
		return rv;
	}
	sites = ft_calloc(n, sizeof(*sites));
	cl = ft_calloc(n, sizeof(*cl));
	dead = ft_calloc(n, 1);
	has_input = ft_calloc(n, 1);
	if (sites == NULL || cl == NULL || dead == NULL || has_input == NULL) {
		rv = ft_errmsg_set(err, FT_ENOMEM, "secure aggregation: out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		sites[i].id = i + 1;
		memcpy(sites[i].sign_pk, ft_crypto_identity_pk(f->site[i].id), FT_CRYPTO_SIGN_PK_BYTES);
	}
	memset(&cfg, 0, sizeof(cfg));
	memcpy(cfg.ctx.consortium, f->consortium, FT_CRYPTO_ID_BYTES);
	cfg.ctx.run = 1;
	cfg.ctx.round = ++f->secagg_round;
	cfg.ctx.attempt = 0;
	cfg.n = n;
	cfg.sites = sites;
	cfg.k = f->k;
	cfg.t = f->t;
	ft_crypto_random(cfg.seed, sizeof(cfg.seed));
	cfg.d = d;
	cfg.bits = bits;
	cfg.chunk = d < 65536 ? d : 65536;
	rv = ft_secagg_server_alloc(&cfg, NULL, now, &srv);
	if (rv != FT_OK) {
		ft_errmsg_set(err, rv, "secure aggregation: cannot start the round");
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		rv = ft_secagg_client_alloc(f->site[i].id, sites[i].id, &cfg.ctx, NULL, now, &cl[i]);
		if (rv != FT_OK) {
			ft_errmsg_set(err, rv, "secure aggregation: cannot start site %u", i + 1);
			goto out;
		}
	}
	for (turn = 0; turn < SIM_SECAGG_MAX_TURNS; turn++) {
		int progress = 0;
		uint32_t to;
		uint8_t *buf;
		size_t len;

		while (ft_secagg_server_next(srv, &to, &buf, &len) == FT_OK) {
			progress = 1;
			/* A finished or aborted client may refuse a late notice;
			 * the server's verdict is what counts. */
			if (to >= 1 && to <= n && !dead[to - 1]) {
				int ign = ft_secagg_client_recv(cl[to - 1], buf, len, now);

				(void)ign;
			}
			ft_free(buf);
		}
		for (uint32_t i = 0; i < n; i++) {
			ft_secagg_phase ph;

			if (dead[i])
				continue;
			ph = ft_secagg_client_phase(cl[i]);
			if (!has_input[i] && ph >= FT_SECAGG_ADVERTISE && ph <= FT_SECAGG_UPLOAD &&
			    ft_secagg_client_set_input(cl[i], inputs[i], d) == FT_OK)
				has_input[i] = 1;
			while (!dead[i] && ft_secagg_client_next(cl[i], &buf, &len) == FT_OK) {
				progress = 1;
				if (drop != NULL && drop[i] &&
				    (int)ft_secagg_client_phase(cl[i]) >= drop_phase) {
					dead[i] = 1; /* goes silent: this message is never sent */
				} else {
					rv = ft_secagg_server_recv(srv, sites[i].id, buf, len, now);
					if (rv != FT_OK) {
						ft_free(buf);
						ft_errmsg_set(err, FT_EINTERNAL,
						              "secure aggregation: the server refused site %u's "
						              "message (%s)", i + 1, ft_strerror(rv));
						rv = FT_EINTERNAL;
						goto out;
					}
				}
				ft_free(buf);
			}
		}
		if (!progress) {
			ft_secagg_phase p = ft_secagg_server_phase(srv);

			if (p == FT_SECAGG_DONE || p == FT_SECAGG_ABORTED)
				break;
			now = ft_secagg_server_deadline(srv);
			if (now == UINT64_MAX)
				break;
			(void)ft_secagg_server_tick(srv, now);
		}
	}
	if (ft_secagg_server_phase(srv) == FT_SECAGG_DONE) {
		const uint32_t *res, *surv;
		size_t rd;
		uint32_t ns;

		rv = ft_secagg_server_result(srv, &res, &rd, &surv, &ns);
		if (rv != FT_OK || rd != d) {
			rv = ft_errmsg_set(err, FT_EINTERNAL, "secure aggregation: no result");
			goto out;
		}
		memcpy(sum, res, (size_t)d * sizeof(uint32_t));
		*n_surv = ns;
		rv = FT_OK;
	} else {
		const char *reason = "the round did not finish";

		if (ft_secagg_server_phase(srv) == FT_SECAGG_ABORTED)
			(void)ft_secagg_server_abort_reason(srv, &reason);
		rv = ft_errmsg_set(err, FT_EABORT, "%s", reason);
	}
out:
	if (cl != NULL)
		for (uint32_t i = 0; i < n; i++)
			ft_secagg_client_free(cl[i]);
	ft_secagg_server_free(srv);
	ft_free(cl);
	ft_free(sites);
	ft_free(dead);
	ft_free(has_input);
	return rv;
}
