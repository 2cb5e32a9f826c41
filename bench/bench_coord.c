/*
 * bench_coord.c - times the coordinator's round engine without a network:
 * n sites (the real secure-aggregation client, in this process) and one
 * engine play whole rounds of a d-parameter model. Reported per round: the
 * CPU time spent inside the engine (announce, secure-aggregation server,
 * decoding, server optimiser, model encoding and chunking, wire bodies) and
 * the CPU time of the whole round (engine plus every simulated site's
 * client work), thread CPU clock so other processes do not count.
 *
 *   bench_coord [SITES] [PARAMS] [ROUNDS]      (defaults 10 10000 3)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ft_coord.h"
#include "ft_model.h"
#include "ft_secagg.h"
#include "ft_wire.h"

typedef struct bsite {
	uint32_t id;
	ft_crypto_identity *idn;
	ft_secagg_client *sa;
	uint32_t *x;
	int input_set;
	uint64_t round;
	uint32_t attempt;
} bsite;

static double engine_cpu;

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define ENGINE(call)                                                                               \
	do {                                                                                       \
		double t0_ = cpu_now();                                                            \
		call;                                                                              \
		engine_cpu += cpu_now() - t0_;                                                     \
	} while (0)

static void die(const char *what)
{
	fprintf(stderr, "bench_coord: %s\n", what);
	exit(1);
}

static bsite *find(bsite *s, uint32_t n, uint32_t id)
{
	for (uint32_t i = 0; i < n; i++)
		if (s[i].id == id)
			return &s[i];
	die("unknown site");
	return NULL;
}

static void client_out(ft_coord_engine *e, bsite *s, size_t d, uint64_t now)
{
	uint8_t *buf, *body;
	size_t len, blen;
	int rv;

	if (!s->input_set && ft_secagg_client_phase(s->sa) >= FT_SECAGG_ADVERTISE &&
	    ft_secagg_client_set_input(s->sa, s->x, d) == FT_OK)
		s->input_set = 1;
	while (ft_secagg_client_next(s->sa, &buf, &len) == FT_OK) {
		ft_wire_secagg w = { .msg = buf, .len = len };

		if (ft_wire_secagg_encode(&w, &body, &blen) != FT_OK)
			die("secagg body");
		ENGINE(rv = ft_coord_engine_recv(e, s->id, FT_WIRE_SECAGG, s->round, s->attempt, body,
		                                 blen, now));
		if (rv != FT_OK)
			die("engine refused a site message");
		ft_free(body);
		ft_free(buf);
	}
}

int main(int argc, char **argv)
{
	uint64_t n_sites = 10, n_params = 10000, rounds = 3, now = 1000;
	ft_coord_run run;
	ft_coord_timeouts to = {60000, 60000, 60000, 1000, 0, 0};
	ft_coord_site *sites;
	bsite *bs;
	ft_model_spec spec;
	uint8_t seed[32] = {7}, consortium[32] = {9}, *model;
	size_t model_len;
	ft_crypto_identity *coord;
	ft_coord_engine *e = NULL;
	ft_errmsg err;
	ft_coord_event ev;
	uint64_t done = 0;
	double t_all;

	if ((argc > 1 && ft_parse_u64(argv[1], 1000, &n_sites) != FT_OK) ||
	    (argc > 2 && ft_parse_u64(argv[2], 1u << 24, &n_params) != FT_OK) ||
	    (argc > 3 && ft_parse_u64(argv[3], 1000, &rounds) != FT_OK) || n_sites < 2 ||
	    n_params < 2 || rounds < 1) {
		fprintf(stderr, "usage: bench_coord [SITES 2..1000] [PARAMS] [ROUNDS]\n");
		return 2;
	}
	if (ft_crypto_init() != FT_OK || ft_crypto_identity_generate(&coord) != FT_OK)
		die("crypto");
	memset(&spec, 0, sizeof(spec));
	spec.kind = FT_MODEL_LOGREG;
	spec.n_features = (uint32_t)n_params - 1;
	spec.n_classes = 2;
	if (ft_coord_initial_model(&spec, 1, seed, &model, &model_len, &err) != FT_OK)
		die(err.msg);
	sites = calloc(n_sites, sizeof(*sites));
	bs = calloc(n_sites, sizeof(*bs));
	if (sites == NULL || bs == NULL)
		die("out of memory");
	for (uint32_t i = 0; i < n_sites; i++) {
		bs[i].id = i + 1;
		if (ft_crypto_identity_generate(&bs[i].idn) != FT_OK)
			die("keys");
		sites[i].id = i + 1;
		memcpy(sites[i].pk, ft_crypto_identity_pk(bs[i].idn), 32);
	}
	memset(&run, 0, sizeof(run));
	run.id = 1;
	run.rounds = (uint32_t)rounds;
	run.min_sites = 2;
	run.lr = 0.1;
	run.epochs = 1;
	run.batch = 16;
	run.dp_clip = 1;
	run.epsilon = 1;
	run.update_clip = 1;
	run.bits = 32;
	run.optimizer = FT_COORD_OPT_FEDADAM;
	run.server_lr = 0.05;
	run.beta1 = 0.9;
	run.beta2 = 0.99;
	run.tau = 1e-3;
	run.dropout = 0.25;
	if (ft_coord_engine_alloc(&run, &to, coord, consortium, sites, (uint32_t)n_sites, model,
	                          model_len, 0, NULL, 0, 1, 1, &e, &err) != FT_OK)
		die(err.msg);
	for (uint32_t i = 0; i < n_sites; i++)
		ft_coord_engine_site_up(e, bs[i].id, FT_COORD_NO_VERSION, now);
	t_all = cpu_now();
	while (done < rounds) {
		uint32_t to_site, attempt;
		unsigned type;
		uint64_t round;
		uint8_t *p;
		size_t len;

		ENGINE(ft_coord_engine_tick(e, now));
		while (ft_coord_engine_next(e, &to_site, &type, &round, &attempt, &p, &len) == FT_OK) {
			bsite *s = find(bs, (uint32_t)n_sites, to_site);

			if (type == FT_WIRE_ROUND_ANNOUNCE) {
				static ft_wire_announce a;
				ft_wire_accept acc;
				ft_crypto_fxp fxp;
				ft_crypto_ctx ctx;
				float *delta;
				uint8_t *ab;
				size_t alen;
				int rv;

				if (ft_wire_announce_decode(p, len, &a) != FT_OK)
					die("announce");
				ft_secagg_client_free(s->sa);
				free(s->x);
				memset(&ctx, 0, sizeof(ctx));
				memcpy(ctx.consortium, consortium, 32);
				ctx.run = 1;
				ctx.round = round;
				ctx.attempt = attempt;
				s->round = round;
				s->attempt = attempt;
				s->input_set = 0;
				if (ft_secagg_client_alloc(s->idn, s->id, &ctx, NULL, now, &s->sa) != FT_OK ||
				    ft_crypto_fxp_init(&fxp, a.fxp_clip, a.bits, a.n_sites) != FT_OK)
					die("client");
				delta = malloc(a.d * sizeof(float));
				s->x = malloc(a.d * sizeof(uint32_t));
				for (uint32_t j = 0; j < a.d; j++)
					delta[j] = 0.001f * (float)((j + s->id) % 17);
				if (ft_crypto_fxp_encode(&fxp, delta, a.d, s->x) != FT_OK)
					die("encode");
				free(delta);
				memcpy(acc.model_hash, a.model_hash, 32);
				if (ft_wire_accept_encode(&acc, &ab, &alen) != FT_OK)
					die("accept");
				ENGINE(rv = ft_coord_engine_recv(e, s->id, FT_WIRE_ROUND_ACCEPT, round, attempt,
				                                 ab, alen, now));
				if (rv != FT_OK)
					die("accept refused");
				ft_free(ab);
			} else if (type == FT_WIRE_SECAGG) {
				ft_wire_secagg w;

				if (s->sa != NULL && ft_wire_secagg_decode(p, len, &w) == FT_OK) {
					int rv = ft_secagg_client_recv(s->sa, w.msg, w.len, now);

					(void)rv;
					client_out(e, s, n_params, now);
				}
			}
			ft_free(p);
		}
		while (ft_coord_engine_event(e, &ev) == FT_OK) {
			if (ev.type == FT_COORD_EV_MODEL)
				done++;
			else if (ev.type == FT_COORD_EV_ATTEMPT_END)
				die(ev.text);
		}
		now += 1;
	}
	t_all = cpu_now() - t_all;
	printf("sites %llu, parameters %llu, rounds %llu (FedAdam)\n", (unsigned long long)n_sites,
	       (unsigned long long)n_params, (unsigned long long)rounds);
	printf("engine CPU per round:               %9.2f ms\n", 1e3 * engine_cpu / (double)rounds);
	printf("whole round CPU (engine + %3llu sites): %9.2f ms\n", (unsigned long long)n_sites,
	       1e3 * t_all / (double)rounds);
	ft_coord_engine_free(e);
	for (uint32_t i = 0; i < n_sites; i++) {
		ft_secagg_client_free(bs[i].sa);
		ft_crypto_identity_free(bs[i].idn);
		free(bs[i].x);
	}
	free(bs);
	free(sites);
	ft_free(model);
	ft_crypto_identity_free(coord);
	return 0;
}
