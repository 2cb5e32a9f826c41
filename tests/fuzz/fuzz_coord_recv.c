/*
 * fuzz_coord_recv.c - libFuzzer target for what the coordinator's round
 * engine decodes from sites: ROUND_ACCEPT, ROUND_REFUSE and SECAGG bodies
 * (ft_coord_engine_recv), on an engine with an attempt announced to three
 * sites, and PLAIN_UPDATE bodies on a plain-sum run's engine where the
 * sending site has accepted. Input: one byte (site index and message type)
 * then the body.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ft_coord.h"
#include "ft_model.h"
#include "ft_wire.h"

static ft_crypto_identity *coord, *ids[3];
static ft_coord_site sites[3];
static uint8_t *model;
static size_t model_len;

static void setup(void)
{
	ft_model_spec spec;
	uint8_t seed[32] = {3};
	ft_errmsg err;

	if (ft_crypto_init() != FT_OK || ft_crypto_identity_generate(&coord) != FT_OK)
		abort();
	for (int i = 0; i < 3; i++) {
		if (ft_crypto_identity_generate(&ids[i]) != FT_OK)
			abort();
		sites[i].id = (uint32_t)i + 1;
		memcpy(sites[i].pk, ft_crypto_identity_pk(ids[i]), 32);
	}
	memset(&spec, 0, sizeof(spec));
	spec.kind = FT_MODEL_LOGREG;
	spec.n_features = 4;
	spec.n_classes = 2;
	if (ft_coord_initial_model(&spec, 1, seed, &model, &model_len, &err) != FT_OK)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned types[] = {FT_WIRE_ROUND_ACCEPT, FT_WIRE_ROUND_REFUSE, FT_WIRE_SECAGG,
	                                 FT_WIRE_PLAIN_UPDATE};
	ft_coord_run run;
	ft_coord_timeouts to = {1000, 1000, 1000, 100, 0, 0};
	uint8_t consortium[32] = {1};
	ft_coord_engine *e = NULL;
	ft_coord_event ev;
	uint32_t site, dest, attempt;
	unsigned type, t;
	uint64_t round;
	uint8_t *p;
	size_t len;
	int rv;

	if (coord == NULL)
		setup();
	if (size < 1)
		return 0;
	memset(&run, 0, sizeof(run));
	run.id = 1;
	run.rounds = 2;
	run.min_sites = 2;
	run.lr = 0.1;
	run.epochs = 1;
	run.batch = 8;
	run.dp_clip = 1;
	run.epsilon = 1;
	run.update_clip = 1;
	run.bits = 32;
	run.optimizer = FT_COORD_OPT_FEDAVG;
	type = types[(data[0] / 3) % 4];
	run.plain_sum = type == FT_WIRE_PLAIN_UPDATE;
	if (ft_coord_engine_alloc(&run, &to, coord, consortium, sites, 3, model, model_len, 0, NULL,
	                          0, 1, 1, &e, NULL) != FT_OK)
		abort();
	for (uint32_t i = 1; i <= 3; i++)
		ft_coord_engine_site_up(e, i, FT_COORD_NO_VERSION, 0);
	ft_coord_engine_tick(e, 0);
	site = (uint32_t)(data[0] % 3) + 1;
	if (run.plain_sum) {
		/* The site accepts the model announced to it, so its pieces reach
		 * the reassembly and the sum. */
		while (ft_coord_engine_next(e, &dest, &t, &round, &attempt, &p, &len) == FT_OK) {
			ft_wire_announce *a = t == FT_WIRE_ROUND_ANNOUNCE && dest == site ? malloc(sizeof(*a))
			                                                                 : NULL;
			ft_wire_accept acc;
			uint8_t *ab;
			size_t alen;

			if (a != NULL && ft_wire_announce_decode(p, len, a) == FT_OK) {
				memset(&acc, 0, sizeof(acc));
				memcpy(acc.model_hash, a->model_hash, 32);
				if (ft_wire_accept_encode(&acc, &ab, &alen) != FT_OK ||
				    ft_coord_engine_recv(e, site, FT_WIRE_ROUND_ACCEPT, 1, 1, ab, alen, 1) !=
				        FT_OK)
					abort();
				ft_free(ab);
			}
			free(a);
			ft_free(p);
		}
	}
	/* Hostile bytes as any of the messages, from any site. */
	rv = ft_coord_engine_recv(e, site, type, 1, 1, data + 1, size - 1, 1);
	(void)rv;
	ft_coord_engine_tick(e, 5000);
	while (ft_coord_engine_next(e, &site, &type, &round, &attempt, &p, &len) == FT_OK)
		ft_free(p);
	while (ft_coord_engine_event(e, &ev) == FT_OK)
		;
	ft_coord_engine_free(e);
	return 0;
}
