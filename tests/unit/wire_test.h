/*
 * wire_test.h - fixtures shared by the wire tests: deterministic identities,
 * a manifest enrolling them, and one valid value of every message body.
 */
#ifndef WIRE_TEST_H
#define WIRE_TEST_H

#include "ft_test.h"
#include "ft_wire.h"

#define WT_SITES 4u

typedef struct wt_world {
	ft_crypto_identity *consortium, *coord, *site[WT_SITES];
	ft_wire_manifest *m;
} wt_world;

static inline ft_crypto_identity *wt_identity(uint8_t tag)
{
	uint8_t seed[FT_CRYPTO_KEY_BYTES];
	ft_crypto_identity *id = NULL;

	memset(seed, tag, sizeof(seed));
	assert_int_equal(ft_crypto_identity_from_seed(seed, &id), FT_OK);
	return id;
}

/* Sites have ids 1..WT_SITES and seeds 0x11, 0x12, ... */
static inline void wt_world_init(wt_world *w)
{
	assert_int_equal(ft_crypto_init(), FT_OK);
	w->consortium = wt_identity(0x01);
	w->coord = wt_identity(0x02);
	assert_int_equal(ft_wire_manifest_new("Test Consortium", ft_crypto_identity_pk(w->consortium),
	                                      "coord", ft_crypto_identity_pk(w->coord),
	                                      "tls+tcp://127.0.0.1:7000", &w->m),
	                 FT_OK);
	for (uint32_t i = 0; i < WT_SITES; i++) {
		char name[16];

		w->site[i] = wt_identity((uint8_t)(0x11 + i));
		snprintf(name, sizeof(name), "site-%u", i + 1);
		assert_int_equal(ft_wire_manifest_add_site(w->m, i + 1, name,
		                                           ft_crypto_identity_pk(w->site[i])),
		                 FT_OK);
	}
}

static inline void wt_world_free(wt_world *w)
{
	ft_wire_manifest_free(w->m);
	ft_crypto_identity_free(w->consortium);
	ft_crypto_identity_free(w->coord);
	for (uint32_t i = 0; i < WT_SITES; i++)
		ft_crypto_identity_free(w->site[i]);
}

static inline void wt_hdr(const wt_world *w, ft_wire_hdr *h, uint16_t type, uint32_t sender,
                          uint32_t recipient, uint64_t seq)
{
	memset(h, 0, sizeof(*h));
	h->version = FT_WIRE_VERSION;
	h->type = type;
	memcpy(h->consortium, w->m->id, FT_CRYPTO_ID_BYTES);
	h->run = 7;
	h->round = 3;
	h->attempt = 1;
	h->phase = 0;
	h->sender = sender;
	h->recipient = recipient;
	h->seq = seq;
	h->sent_at_ms = 1700000000000ull;
}

static inline void wt_announce(ft_wire_announce *a)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->run_id, sizeof(a->run_id), "heart-2026-11");
	a->round = 3;
	a->attempt = 1;
	a->model_version = 12;
	memset(a->model_hash, 0xab, sizeof(a->model_hash));
	a->model_len = 5000000;
	snprintf(a->kind, sizeof(a->kind), "mlp");
	a->n_features = 13;
	a->n_classes = 2;
	a->n_hidden = 2;
	a->hidden[0] = 32;
	a->hidden[1] = 16;
	snprintf(a->activation, sizeof(a->activation), "relu");
	a->lr = 0.05;
	a->epochs = 2;
	a->batch = 64;
	snprintf(a->optimiser, sizeof(a->optimiser), "sgd");
	a->dp_clip = 1.0;
	a->dp_noise = 1.1;
	a->dp_delta = 1e-5;
	a->dp_max_epsilon = 0.5;
	a->n_sites = 1000;
	for (uint32_t i = 0; i < a->n_sites; i++)
		a->sites[i] = 3 * i + 1;
	a->k = 40;
	a->t = 25;
	a->bits = 32;
	a->fxp_clip = 0.25;
	memset(a->seed, 0x5c, sizeof(a->seed));
	a->d = 1u << 20;
	a->chunk = 65536;
	a->train_ms = 600000;
	a->advertise_ms = 30000;
	a->shares_ms = 30000;
	a->upload_ms = 300000;
	a->check_ms = 30000;
	a->unmask_ms = 30000;
}

static inline void wt_result(ft_wire_result *r)
{
	memset(r, 0, sizeof(*r));
	r->model_version = 13;
	memset(r->model_hash, 0xcd, sizeof(r->model_hash));
	r->model_len = 123456;
	r->n_survivors = 3;
	r->survivors[0] = 1;
	r->survivors[1] = 2;
	r->survivors[2] = 4;
	r->n_metrics = 2;
	snprintf(r->metrics[0].name, sizeof(r->metrics[0].name), "accuracy");
	r->metrics[0].value = 0.8125;
	snprintf(r->metrics[1].name, sizeof(r->metrics[1].name), "loss");
	r->metrics[1].value = 0.4375;
}

#endif
