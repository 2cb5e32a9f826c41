/*
 * secagg_sim.h - an in-process secure-aggregation round for tests: one
 * server, n clients, the messages carried between them by a loop, drop-outs
 * injected per site and phase, and a hook that sees every message.
 */
#ifndef SECAGG_SIM_H
#define SECAGG_SIM_H

#include "ft_test.h"

#include "ft_crypto.h"
#include "ft_secagg.h"

#define SIM_NEVER 99

/* Calls a warn_unused_result function whose result a test does not need. */
#define SIM_IGNORE(call) do { int ign_ = (call); (void)ign_; } while (0)

typedef struct sim sim;

/* Called for every message before delivery; returns 0 to deliver it, 1 to
 * swallow it. `to` is FT_SECAGG_SERVER_ID for client -> server messages. */
typedef int (*sim_hook)(sim *s, uint32_t from, uint32_t to, const uint8_t *msg, size_t len);

struct sim {
	uint32_t n;
	ft_secagg_config cfg;
	ft_secagg_site *sites;
	ft_crypto_identity **ids;
	ft_secagg_client **cl;
	ft_secagg_server *srv;
	uint32_t **x;
	int *drop_at;        /* drops when about to send a message in this phase */
	uint32_t *drop_after_chunks; /* 0: never; else drops after that many chunks */
	uint32_t *chunks_sent;
	int *dead;
	uint64_t now;
	sim_hook hook;
	void *user;
};

static inline uint32_t sim_mask(unsigned bits)
{
	return bits == 32 ? 0xFFFFFFFFu : (1u << bits) - 1u;
}

/* Sets up n sites with ids 100, 103, ...; random inputs; no drop-outs. */
static inline void sim_init(sim *s, uint32_t n, uint32_t k, uint32_t t, uint32_t d,
                            unsigned bits, uint32_t chunk, uint32_t attempt)
{
	memset(s, 0, sizeof(*s));
	s->n = n;
	s->sites = calloc(n, sizeof(*s->sites));
	s->ids = calloc(n, sizeof(*s->ids));
	s->cl = calloc(n, sizeof(*s->cl));
	s->x = calloc(n, sizeof(*s->x));
	s->drop_at = calloc(n, sizeof(int));
	s->drop_after_chunks = calloc(n, sizeof(uint32_t));
	s->chunks_sent = calloc(n, sizeof(uint32_t));
	s->dead = calloc(n, sizeof(int));
	assert_non_null(s->dead);
	for (uint32_t i = 0; i < n; i++) {
		s->sites[i].id = 100 + 3 * i;
		assert_int_equal(ft_crypto_identity_generate(&s->ids[i]), FT_OK);
		memcpy(s->sites[i].sign_pk, ft_crypto_identity_pk(s->ids[i]), 32);
		s->x[i] = calloc(d, sizeof(uint32_t));
		ft_crypto_random(s->x[i], d * sizeof(uint32_t));
		for (uint32_t j = 0; j < d; j++)
			s->x[i][j] &= sim_mask(bits);
		s->drop_at[i] = SIM_NEVER;
	}
	memset(s->cfg.ctx.consortium, 0xA7, 32);
	s->cfg.ctx.run = 42;
	s->cfg.ctx.round = 5;
	s->cfg.ctx.attempt = attempt;
	s->cfg.n = n;
	s->cfg.sites = s->sites;
	s->cfg.k = k;
	s->cfg.t = t;
	ft_crypto_random(s->cfg.seed, 32);
	s->cfg.d = d;
	s->cfg.bits = bits;
	s->cfg.chunk = chunk;
	s->now = 1000;
}

static inline void sim_start(sim *s)
{
	assert_int_equal(ft_secagg_server_alloc(&s->cfg, NULL, s->now, &s->srv), FT_OK);
	for (uint32_t i = 0; i < s->n; i++)
		assert_int_equal(ft_secagg_client_alloc(s->ids[i], s->sites[i].id, &s->cfg.ctx, NULL,
		                                        s->now, &s->cl[i]),
		                 FT_OK);
}

static inline void sim_free(sim *s)
{
	ft_secagg_server_free(s->srv);
	for (uint32_t i = 0; i < s->n; i++) {
		ft_secagg_client_free(s->cl[i]);
		ft_crypto_identity_free(s->ids[i]);
		free(s->x[i]);
	}
	free(s->sites);
	free(s->ids);
	free(s->cl);
	free(s->x);
	free(s->drop_at);
	free(s->drop_after_chunks);
	free(s->chunks_sent);
	free(s->dead);
	/* Every guarded block of the round was freed (LeakSanitizer cannot see
	 * sodium_malloc's mappings). */
	assert_int_equal(ft_crypto_secure_blocks(), 0);
}

static inline long sim_index(const sim *s, uint32_t id)
{
	for (uint32_t i = 0; i < s->n; i++)
		if (s->sites[i].id == id)
			return (long)i;
	return -1;
}

/* Runs until the server is done or aborted (or nothing moves any more). */
static inline void sim_run(sim *s)
{
	for (int guard = 0; guard < 100000; guard++) {
		int progress = 0;
		uint32_t to;
		uint8_t *buf;
		size_t len;

		while (ft_secagg_server_next(s->srv, &to, &buf, &len) == FT_OK) {
			long i = sim_index(s, to);

			assert_true(i >= 0);
			progress = 1;
			if (!s->dead[i] && (s->hook == NULL ||
			                    !s->hook(s, FT_SECAGG_SERVER_ID, to, buf, len))) {
				int rv = ft_secagg_client_recv(s->cl[i], buf, len, s->now);

				/* After an abort a finished client may refuse the notice. */
				if (rv != FT_OK)
					assert_true(ft_secagg_server_phase(s->srv) == FT_SECAGG_ABORTED ||
					            ft_secagg_client_phase(s->cl[i]) == FT_SECAGG_ABORTED);
			}
			ft_free(buf);
		}
		for (uint32_t i = 0; i < s->n; i++) {
			if (s->dead[i])
				continue;
			if (ft_secagg_client_phase(s->cl[i]) >= FT_SECAGG_ADVERTISE &&
			    ft_secagg_client_phase(s->cl[i]) <= FT_SECAGG_UPLOAD)
				SIM_IGNORE(ft_secagg_client_set_input(s->cl[i], s->x[i], s->cfg.d));
			while (!s->dead[i] && ft_secagg_client_next(s->cl[i], &buf, &len) == FT_OK) {
				ft_secagg_hdr h;

				assert_int_equal(ft_secagg_hdr_decode(buf, len, &h), FT_OK);
				progress = 1;
				if ((int)ft_secagg_client_phase(s->cl[i]) >= s->drop_at[i] ||
				    (h.type == FT_SECAGG_MSG_MASKED && s->drop_after_chunks[i] != 0 &&
				     s->chunks_sent[i] >= s->drop_after_chunks[i])) {
					s->dead[i] = 1;
				} else if (s->hook == NULL ||
				           !s->hook(s, s->sites[i].id, FT_SECAGG_SERVER_ID, buf, len)) {
					assert_int_equal(ft_secagg_server_recv(s->srv, s->sites[i].id, buf, len,
					                                       s->now),
					                 FT_OK);
					if (h.type == FT_SECAGG_MSG_MASKED)
						s->chunks_sent[i]++;
				}
				ft_free(buf);
			}
		}
		if (!progress) {
			ft_secagg_phase p = ft_secagg_server_phase(s->srv);

			if (p == FT_SECAGG_DONE || p == FT_SECAGG_ABORTED)
				return;
			s->now = ft_secagg_server_deadline(s->srv);
			(void)ft_secagg_server_tick(s->srv, s->now);
		}
	}
	fail_msg("the simulated round did not finish");
}

/* Asserts the server's result is exactly the sum of the survivors' inputs
 * and that the survivors are exactly the sites that finished uploading. */
static inline void sim_check_sum(const sim *s)
{
	const uint32_t *sum, *surv;
	size_t d;
	uint32_t n_surv, w = 0;
	uint32_t *want = calloc(s->cfg.d, sizeof(uint32_t));

	assert_non_null(want);
	assert_int_equal(ft_secagg_server_result(s->srv, &sum, &d, &surv, &n_surv), FT_OK);
	assert_int_equal(d, s->cfg.d);
	for (uint32_t i = 0; i < s->n; i++) {
		if (s->drop_at[i] <= FT_SECAGG_UPLOAD)
			continue;
		assert_true(w < n_surv);
		assert_int_equal(surv[w++], s->sites[i].id);
		for (uint32_t j = 0; j < s->cfg.d; j++)
			want[j] = (want[j] + s->x[i][j]) & sim_mask(s->cfg.bits);
	}
	assert_int_equal(w, n_surv);
	assert_memory_equal(sum, want, d * sizeof(uint32_t));
	free(want);
}

#endif
