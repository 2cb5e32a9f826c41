/*
 * test_coord_engine.c - the coordinator's round engine as a pure state
 * machine, driven in one process by simulated sites that run the real
 * secure-aggregation client: a round's new model is the old one plus the
 * mean of the accepting sites' updates (within the fixed-point error), is
 * hashed and signed, reaches every connected site in chunks, and is
 * announced as an event before any frame that carries it; refusals, too few
 * sites, a site dropping mid-round, stale frames, pausing and FedAdam state.
 * Plain-sum runs: the same model from the clear sum of the complete uploads
 * only, and standardisation passes that stay on secure aggregation.
 */
#include <math.h>

#include "ft_test.h"

#include "ft_coord.h"
#include "ft_model.h"
#include "ft_node.h"
#include "ft_secagg.h"
#include "ft_wire.h"

#define MAXS 5

typedef struct ssite {
	uint32_t id;
	ft_crypto_identity *idn;
	ft_secagg_client *sa;
	uint32_t *x;
	float value;    /* every element of this site's update */
	int refuse;
	int dead;       /* stopped answering */
	int die_phase;  /* stops when its client reaches this phase (0: never) */
	int input_set;
	uint8_t *model;
	size_t model_len;
	int results;
	uint64_t round;
	uint32_t attempt;
	ft_model_dataset *ds;  /* rows for the statistics release */
	int partial;    /* plain-sum rounds: sends only the first piece */
	int resend;     /* plain-sum rounds: sends its first piece twice, as a
	                   node that lost its connection sends again */
	int refuse_config; /* accepts, then refuses the secure-aggregation CONFIG */
} ssite;

typedef struct sim {
	ft_coord_engine *e;
	ft_crypto_identity *coord;
	uint8_t consortium[32];
	ft_coord_run run;
	ft_coord_site sites[MAXS];
	ssite s[MAXS];
	uint32_t n;
	uint64_t now;
	ft_coord_event ev[64];
	uint8_t *ev_model[64];
	uint32_t n_ev;
	uint8_t *model0;
	size_t model0_len;
	size_t d;
	uint32_t ann[2][2];    /* announcements seen: [round > 0][plain_sum] */
} sim;

static void collect(sim *m)
{
	ft_coord_event ev;

	while (ft_coord_engine_event(m->e, &ev) == FT_OK) {
		assert_true(m->n_ev < 64);
		m->ev_model[m->n_ev] = NULL;
		if (ev.type == FT_COORD_EV_MODEL || ev.type == FT_COORD_EV_STATS) {
			/* Borrowed until the next engine call: keep a copy. */
			m->ev_model[m->n_ev] = malloc(ev.model_len);
			memcpy(m->ev_model[m->n_ev], ev.model, ev.model_len);
		}
		m->ev[m->n_ev++] = ev;
	}
}

static void sim_init(sim *m, uint32_t n, uint32_t optimizer)
{
	ft_model_spec spec;
	uint8_t seed[32] = {1};
	ft_errmsg err;
	ft_coord_timeouts to = {1000, 1000, 1000, 500, 0, 0};

	memset(m, 0, sizeof(*m));
	m->n = n;
	assert_int_equal(ft_crypto_identity_generate(&m->coord), FT_OK);
	ft_crypto_random(m->consortium, 32);
	memset(&spec, 0, sizeof(spec));
	spec.kind = FT_MODEL_LOGREG;
	spec.n_features = 4;
	spec.n_classes = 2;
	assert_int_equal(ft_coord_initial_model(&spec, 7, seed, &m->model0, &m->model0_len, &err),
	                 FT_OK);
	m->d = 5;
	m->run.id = 7;
	m->run.rounds = 2;
	m->run.min_sites = 2;
	m->run.lr = 0.1;
	m->run.epochs = 1;
	m->run.batch = 8;
	m->run.dp_clip = 1;
	m->run.epsilon = 1;
	m->run.update_clip = 1;
	m->run.bits = 32;
	m->run.optimizer = optimizer;
	m->run.server_lr = 1;
	m->run.beta1 = 0.9;
	m->run.beta2 = 0.99;
	m->run.tau = 1e-3;
	m->run.dropout = 0.25;
	for (uint32_t i = 0; i < n; i++) {
		m->s[i].id = 10 + i;
		assert_int_equal(ft_crypto_identity_generate(&m->s[i].idn), FT_OK);
		m->sites[i].id = m->s[i].id;
		memcpy(m->sites[i].pk, ft_crypto_identity_pk(m->s[i].idn), 32);
		m->s[i].value = 0.1f * (float)(i + 1);
	}
	assert_int_equal(ft_coord_engine_alloc(&m->run, &to, m->coord, m->consortium, m->sites, n,
	                                       m->model0, m->model0_len, 0, NULL, 0, 1, 1, &m->e,
	                                       &err),
	                 FT_OK);
	m->now = 1000;
	for (uint32_t i = 0; i < n; i++)
		ft_coord_engine_site_up(m->e, m->s[i].id, FT_COORD_NO_VERSION, m->now);
}

static void sim_free(sim *m)
{
	ft_coord_engine_free(m->e);
	for (uint32_t i = 0; i < m->n; i++) {
		ft_secagg_client_free(m->s[i].sa);
		ft_crypto_identity_free(m->s[i].idn);
		free(m->s[i].x);
		free(m->s[i].model);
		ft_model_dataset_free(m->s[i].ds);
	}
	for (uint32_t i = 0; i < m->n_ev; i++)
		free(m->ev_model[i]);
	ft_free(m->model0);
	ft_crypto_identity_free(m->coord);
}

static ssite *site_of(sim *m, uint32_t id)
{
	for (uint32_t i = 0; i < m->n; i++)
		if (m->s[i].id == id)
			return &m->s[i];
	fail_msg("unknown site %u", id);
	return NULL;
}

static void client_out(sim *m, ssite *s)
{
	size_t d = s->round == 0 ? ft_model_stats_len(4) : m->d;

	uint8_t *buf;
	size_t len;

	if (s->sa == NULL || s->dead)
		return;
	if (!s->input_set && ft_secagg_client_phase(s->sa) >= FT_SECAGG_ADVERTISE &&
	    ft_secagg_client_set_input(s->sa, s->x, d) == FT_OK)
		s->input_set = 1;
	while (!s->dead && ft_secagg_client_next(s->sa, &buf, &len) == FT_OK) {
		ft_wire_secagg w = { .msg = buf, .len = len };
		uint8_t *body;
		size_t blen;

		if (s->die_phase != 0 && (int)ft_secagg_client_phase(s->sa) >= s->die_phase) {
			s->dead = 1;
			ft_free(buf);
			break;
		}
		assert_int_equal(ft_wire_secagg_encode(&w, &body, &blen), FT_OK);
		assert_int_equal(ft_coord_engine_recv(m->e, s->id, FT_WIRE_SECAGG, s->round,
		                                      s->attempt, body, blen, m->now),
		                 FT_OK);
		ft_free(body);
		ft_free(buf);
		collect(m);
	}
}

/* A plain-sum upload: the encoded vector (u32 LE) in PLAIN_UPDATE pieces of
 * 8 bytes, right after the accept, as the node sends it. */
static void plain_upload(sim *m, ssite *s, uint64_t version)
{
	ft_wire_chunker c;
	uint8_t *buf = malloc(4 * m->d), *body;
	size_t blen;
	int k = 0;

	for (size_t i = 0; i < m->d; i++)
		ft_put_le32(buf + 4 * i, s->x[i]);
	assert_int_equal(ft_wire_chunker_init(&c, buf, 4 * m->d, version, 8), FT_OK);
	while (ft_wire_chunker_next(&c, &body, &blen) == FT_OK) {
		if (s->resend && k == 0)
			assert_int_equal(ft_coord_engine_recv(m->e, s->id, FT_WIRE_PLAIN_UPDATE, s->round,
			                                      s->attempt, body, blen, m->now),
			                 FT_OK);
		if (!s->partial || k == 0)
			assert_int_equal(ft_coord_engine_recv(m->e, s->id, FT_WIRE_PLAIN_UPDATE, s->round,
			                                      s->attempt, body, blen, m->now),
			                 FT_OK);
		k++;
		ft_free(body);
		collect(m);
	}
	free(buf);
}

static void on_frame(sim *m, uint32_t to, unsigned type, uint64_t round, uint32_t attempt,
                     uint8_t *p, size_t len)
{
	ssite *s = site_of(m, to);

	if (type == FT_WIRE_MODEL_CHUNK) {
		ft_wire_chunk c;

		assert_int_equal(ft_wire_chunk_decode(p, len, &c), FT_OK);
		if (c.offset == 0) {
			free(s->model);
			s->model = malloc(c.total);
			s->model_len = 0;
		}
		assert_int_equal(c.offset, s->model_len);
		memcpy(s->model + c.offset, c.data, c.len);
		s->model_len += c.len;
	} else if (type == FT_WIRE_ROUND_ANNOUNCE) {
		static ft_wire_announce a;
		ft_wire_accept acc;
		ft_crypto_fxp fxp;
		ft_crypto_ctx ctx;
		uint8_t h[32], *ab;
		size_t alen;
		float *delta;

		assert_int_equal(ft_wire_announce_decode(p, len, &a), FT_OK);
		assert_true(a.round == round && a.attempt == attempt);
		/* The model the announcement names was delivered before it. */
		ft_crypto_hash(h, s->model, s->model_len);
		assert_memory_equal(h, a.model_hash, 32);
		assert_int_equal(a.model_len, s->model_len);
		if (round > 0)
			assert_int_equal(a.d, m->d);
		/* Round 0 announces the statistics release's own epsilon. */
		assert_true(a.dp_max_epsilon == (round > 0 ? m->run.epsilon : 0.75));
		m->ann[round > 0][a.plain_sum]++;
		if (s->dead)
			return;
		s->round = round;
		s->attempt = attempt;
		if (s->refuse) {
			ft_wire_notice nt;
			uint8_t *nb;
			size_t nlen;

			memset(&nt, 0, sizeof(nt));
			nt.code = FT_WIRE_REFUSE_BUDGET;
			snprintf(nt.text, sizeof(nt.text), "budget reached");
			assert_int_equal(ft_wire_notice_encode(&nt, &nb, &nlen), FT_OK);
			assert_int_equal(ft_coord_engine_recv(m->e, to, FT_WIRE_ROUND_REFUSE, round,
			                                      attempt, nb, nlen, m->now),
			                 FT_OK);
			ft_free(nb);
			return;
		}
		ft_secagg_client_free(s->sa);
		free(s->x);
		s->input_set = 0;
		memset(&ctx, 0, sizeof(ctx));
		memcpy(ctx.consortium, m->consortium, 32);
		ctx.run = m->run.id;
		ctx.round = round;
		ctx.attempt = attempt;
		s->sa = NULL;
		if (!a.plain_sum)
			assert_int_equal(ft_secagg_client_alloc(s->idn, s->id, &ctx, NULL, m->now, &s->sa),
			                 FT_OK);
		if (!a.plain_sum && s->refuse_config) {
			/* Expects no site at all: any CONFIG fails. */
			ft_secagg_expect ex = { .sites = NULL, .n_sites = 0, .min_n = 3, .gamma = 0.2,
			                        .sigma = 40 };

			assert_int_equal(ft_secagg_client_expect(s->sa, &ex), FT_OK);
		}
		if (round == 0) {
			/* The statistics release: this site's sums over the run's
			 * public ranges from the version-0 model's metadata, at the
			 * release's epsilon (a node adds noise; the engine's decoding
			 * is checked here on the exact sums). */
			ft_model *gm = NULL;
			ft_model_meta *meta = NULL;
			double lo[4], hi[4];

			assert_non_null(s->ds);
			assert_int_equal(ft_model_decode(s->model, s->model_len, &gm, &meta, NULL), FT_OK);
			assert_int_equal(ft_model_meta_get_vector(meta, "standardise.lo", lo, 4), FT_OK);
			assert_int_equal(ft_model_meta_get_vector(meta, "standardise.hi", hi, 4), FT_OK);
			assert_int_equal(a.d, ft_model_stats_len(4));
			delta = malloc(a.d * sizeof(float));
			s->x = malloc(a.d * sizeof(uint32_t));
			assert_int_equal(ft_node_stats_site(s->ds, lo, hi, (uint64_t)a.fxp_clip, delta, a.d,
			                                    NULL),
			                 FT_OK);
			assert_int_equal(ft_model_stats_fxp_init(&fxp, (uint64_t)a.fxp_clip, a.bits,
			                                         a.n_sites),
			                 FT_OK);
			assert_int_equal(ft_crypto_fxp_encode(&fxp, delta, a.d, s->x), FT_OK);
			free(delta);
			ft_model_meta_free(meta);
			ft_model_free(gm);
		} else {
			assert_int_equal(ft_crypto_fxp_init(&fxp, a.fxp_clip, a.bits, a.n_sites), FT_OK);
			delta = malloc(m->d * sizeof(float));
			s->x = malloc(m->d * sizeof(uint32_t));
			for (size_t i = 0; i < m->d; i++)
				delta[i] = s->value;
			assert_int_equal(ft_crypto_fxp_encode(&fxp, delta, m->d, s->x), FT_OK);
			free(delta);
		}
		/* An accept must echo the announced model's hash. */
		memset(acc.model_hash, 0, 32);
		assert_int_equal(ft_wire_accept_encode(&acc, &ab, &alen), FT_OK);
		assert_int_equal(ft_coord_engine_recv(m->e, to, FT_WIRE_ROUND_ACCEPT, round, attempt, ab,
		                                      alen, m->now),
		                 FT_EPROTO);
		ft_free(ab);
		memcpy(acc.model_hash, a.model_hash, 32);
		assert_int_equal(ft_wire_accept_encode(&acc, &ab, &alen), FT_OK);
		assert_int_equal(ft_coord_engine_recv(m->e, to, FT_WIRE_ROUND_ACCEPT, round, attempt, ab,
		                                      alen, m->now),
		                 FT_OK);
		ft_free(ab);
		if (a.plain_sum)
			plain_upload(m, s, a.model_version);
	} else if (type == FT_WIRE_SECAGG) {
		if (s->dead || s->sa == NULL)
			return;
		{
			/* The abort notice of a finished round may be refused. */
			ft_wire_secagg w;
			int rv;

			assert_int_equal(ft_wire_secagg_decode(p, len, &w), FT_OK);
			rv = ft_secagg_client_recv(s->sa, w.msg, w.len, m->now);
			if (s->refuse_config && rv == FT_EPERM) {
				/* As the node does: one ROUND_REFUSE with a fixed
				 * reason, after its accept; a second is not used. */
				ft_wire_notice nt;
				uint8_t *nb;
				size_t nlen;

				memset(&nt, 0, sizeof(nt));
				nt.code = FT_WIRE_REFUSE_POLICY;
				snprintf(nt.text, sizeof(nt.text), "configuration refused");
				assert_int_equal(ft_wire_notice_encode(&nt, &nb, &nlen), FT_OK);
				assert_int_equal(ft_coord_engine_recv(m->e, to, FT_WIRE_ROUND_REFUSE, s->round,
				                                      s->attempt, nb, nlen, m->now),
				                 FT_OK);
				assert_int_equal(ft_coord_engine_recv(m->e, to, FT_WIRE_ROUND_REFUSE, s->round,
				                                      s->attempt, nb, nlen, m->now),
				                 FT_ESTATE);
				ft_free(nb);
				collect(m);
			}
		}
		client_out(m, s);
	} else if (type == FT_WIRE_ROUND_RESULT) {
		static ft_wire_result r;
		uint8_t h[32];

		assert_int_equal(ft_wire_result_decode(p, len, &r), FT_OK);
		/* The result names the model just delivered. */
		ft_crypto_hash(h, s->model, s->model_len);
		assert_memory_equal(h, r.model_hash, 32);
		assert_true(r.n_survivors >= 2);
		s->results++;
	}
}

/* Runs until the engine has nothing more to do before `until` events of
 * type `stop` were seen (or the clock passes 60 s). */
static void sim_run(sim *m, int stop, uint32_t until)
{
	for (int guard = 0; guard < 10000; guard++) {
		uint32_t to, attempt, seen = 0;
		unsigned type;
		uint64_t round, dl;
		uint8_t *p;
		size_t len;
		int progress = 0;

		ft_coord_engine_tick(m->e, m->now);
		collect(m);
		while (ft_coord_engine_next(m->e, &to, &type, &round, &attempt, &p, &len) == FT_OK) {
			on_frame(m, to, type, round, attempt, p, len);
			ft_free(p);
			collect(m);
			progress = 1;
		}
		for (uint32_t i = 0; i < m->n_ev; i++)
			seen += m->ev[i].type == stop;
		if (seen >= until)
			return;
		if (!progress) {
			dl = ft_coord_engine_deadline(m->e);
			assert_true(dl != UINT64_MAX);
			m->now = dl > m->now ? dl : m->now + 1;
			assert_true(m->now < 60000);
		}
	}
	fail_msg("the engine did not get there");
}

static const ft_coord_event *find_ev(sim *m, int type, uint32_t nth, uint8_t **model)
{
	for (uint32_t i = 0; i < m->n_ev; i++) {
		if (m->ev[i].type == type && nth-- == 0) {
			if (model != NULL)
				*model = m->ev_model[i];
			return &m->ev[i];
		}
	}
	fail_msg("event %d not found", type);
	return NULL;
}

/* The new model is the old one plus the mean update, within the error of
 * one stochastic rounding per summand. */
static void check_model(sim *m, const uint8_t *old_bytes, size_t old_len, const ft_coord_event *ev,
                        const uint8_t *new_bytes, float mean)
{
	ft_model *a = NULL, *b = NULL;
	ft_errmsg err;
	ft_crypto_fxp fxp;
	uint8_t h[32], tbs[16 + 32 + 16 + 32];

	assert_int_equal(ft_model_decode(old_bytes, old_len, &a, NULL, &err), FT_OK);
	assert_int_equal(ft_model_decode(new_bytes, ev->model_len, &b, NULL, &err), FT_OK);
	assert_int_equal(ft_crypto_fxp_init(&fxp, 1.0, 32, m->n), FT_OK);
	for (size_t i = 0; i < m->d; i++)
		assert_true(fabs(ft_model_params_const(b)[i] - ft_model_params_const(a)[i] - mean) <=
		            (double)m->n / fxp.scale + 1e-6);
	ft_crypto_hash(h, new_bytes, ev->model_len);
	assert_memory_equal(h, ev->hash, 32);
	/* "fedtwin-model-v1" || consortium || run || version || hash */
	memcpy(tbs, "fedtwin-model-v1", 16);
	memcpy(tbs + 16, m->consortium, 32);
	ft_put_le64(tbs + 48, m->run.id);
	ft_put_le64(tbs + 56, ev->version);
	memcpy(tbs + 64, ev->hash, 32);
	assert_int_equal(ft_crypto_verify(ft_crypto_identity_pk(m->coord), tbs, sizeof(tbs), ev->sig),
	                 FT_OK);
	ft_model_free(a);
	ft_model_free(b);
}

static void test_two_rounds(void **state)
{
	sim m;
	const ft_coord_event *ev1, *ev2;
	uint8_t *b1 = NULL, *b2 = NULL, h[32];

	(void)state;
	sim_init(&m, 3, FT_COORD_OPT_FEDAVG);
	sim_run(&m, FT_COORD_EV_MODEL, 2);
	assert_int_equal(m.ev[0].type, FT_COORD_EV_ATTEMPT_START);
	assert_int_equal(m.ev[0].n_sites, 3);
	ev1 = find_ev(&m, FT_COORD_EV_MODEL, 0, &b1);
	ev2 = find_ev(&m, FT_COORD_EV_MODEL, 1, &b2);
	assert_true(ev1->version == 1 && ev1->round == 1 && ev1->attempt == 1);
	assert_int_equal(ev1->n_survivors, 3);
	assert_int_equal(ev1->run_complete, 0);
	assert_true(ev2->version == 2 && ev2->round == 2 && ev2->run_complete == 1);
	check_model(&m, m.model0, m.model0_len, ev1, b1, 0.2f); /* mean of .1 .2 .3 */
	check_model(&m, b1, ev1->model_len, ev2, b2, 0.2f);
	assert_true(ft_coord_engine_complete(m.e));
	/* Every site holds the final model, byte for byte, and was told. */
	for (uint32_t i = 0; i < 3; i++) {
		assert_int_equal(m.s[i].model_len, ev2->model_len);
		ft_crypto_hash(h, m.s[i].model, m.s[i].model_len);
		assert_memory_equal(h, ev2->hash, 32);
		assert_int_equal(m.s[i].results, 2);
	}
	sim_free(&m);
}

static void test_refusal_and_stale_frames(void **state)
{
	sim m;
	const ft_coord_event *ev;
	uint8_t *b = NULL;

	(void)state;
	sim_init(&m, 3, FT_COORD_OPT_FEDAVG);
	m.s[2].refuse = 1;
	sim_run(&m, FT_COORD_EV_MODEL, 1);
	ev = find_ev(&m, FT_COORD_EV_REFUSED, 0, NULL);
	assert_int_equal(ev->site, 12);
	assert_int_equal(ev->code, FT_WIRE_REFUSE_BUDGET);
	assert_string_equal(ev->text, "budget reached");
	ev = find_ev(&m, FT_COORD_EV_MODEL, 0, &b);
	assert_int_equal(ev->n_survivors, 2);
	assert_int_equal(ev->survivors[0], 10);
	assert_int_equal(ev->survivors[1], 11);
	check_model(&m, m.model0, m.model0_len, ev, b, 0.15f);
	/* Frames of a finished round or attempt are not used. */
	assert_int_equal(ft_coord_engine_recv(m.e, 10, FT_WIRE_ROUND_ACCEPT, 1, 1, NULL, 0, m.now),
	                 FT_EREPLAY);
	assert_int_equal(ft_coord_engine_recv(m.e, 99, FT_WIRE_ROUND_ACCEPT, 2, 1, NULL, 0, m.now),
	                 FT_EPROTO);
	sim_free(&m);
}

/* A site that accepted the announcement may refuse the CONFIG built from
 * the sites that accepted: the refusal is recorded with its reason, the
 * site sends nothing of the round, and the others complete it without it. */
static void test_config_refusal_after_accept(void **state)
{
	sim m;
	const ft_coord_event *ev;
	uint8_t *b = NULL;

	(void)state;
	sim_init(&m, 4, FT_COORD_OPT_FEDAVG);
	m.s[3].value = 0.4f;
	m.s[3].refuse_config = 1;
	sim_run(&m, FT_COORD_EV_MODEL, 1);
	ev = find_ev(&m, FT_COORD_EV_REFUSED, 0, NULL);
	assert_int_equal(ev->site, 13);
	assert_int_equal(ev->code, FT_WIRE_REFUSE_POLICY);
	assert_string_equal(ev->text, "configuration refused");
	ev = find_ev(&m, FT_COORD_EV_MODEL, 0, &b);
	assert_int_equal(ev->n_survivors, 3);
	assert_int_equal(ev->survivors[2], 12);
	check_model(&m, m.model0, m.model0_len, ev, b, 0.2f); /* mean of .1 .2 .3 */
	sim_free(&m);
}

static void test_too_few_then_fresh_attempt(void **state)
{
	sim m;
	const ft_coord_event *ev;

	(void)state;
	sim_init(&m, 3, FT_COORD_OPT_FEDAVG);
	m.s[1].refuse = 1;
	m.s[2].refuse = 1;
	sim_run(&m, FT_COORD_EV_ATTEMPT_START, 2);
	ev = find_ev(&m, FT_COORD_EV_ATTEMPT_END, 0, NULL);
	assert_int_equal(ev->code, FT_EABORT);
	assert_true(ev->round == 1 && ev->attempt == 1);
	assert_non_null(strstr(ev->text, "1 of 3"));
	ev = find_ev(&m, FT_COORD_EV_ATTEMPT_START, 1, NULL);
	assert_true(ev->round == 1 && ev->attempt == 2);
	/* The sites change their minds: attempt 2 completes the round. */
	m.s[1].refuse = 0;
	m.s[2].refuse = 0;
	sim_run(&m, FT_COORD_EV_MODEL, 1);
	ev = find_ev(&m, FT_COORD_EV_MODEL, 0, NULL);
	assert_true(ev->round == 1 && ev->attempt >= 2 && ev->version == 1);
	sim_free(&m);
}

static void test_dropout_mid_round(void **state)
{
	sim m;
	const ft_coord_event *ev;
	uint8_t *b = NULL;

	(void)state;
	sim_init(&m, 4, FT_COORD_OPT_FEDAVG);
	/* Site 13 takes part until its shares are out, then dies before it
	 * uploads: its pairwise masks are removed with its neighbours' shares. */
	m.s[3].value = 0.4f;
	m.s[3].die_phase = FT_SECAGG_UPLOAD;
	sim_run(&m, FT_COORD_EV_MODEL, 1);
	ev = find_ev(&m, FT_COORD_EV_MODEL, 0, &b);
	assert_int_equal(ev->n_survivors, 3);
	check_model(&m, m.model0, m.model0_len, ev, b, 0.2f); /* mean of .1 .2 .3 */
	sim_free(&m);
}

static void test_pause_abandons_attempt(void **state)
{
	sim m;
	const ft_coord_event *ev;

	(void)state;
	sim_init(&m, 3, FT_COORD_OPT_FEDAVG);
	ft_coord_engine_tick(m.e, m.now);
	collect(&m);
	assert_int_equal(m.ev[0].type, FT_COORD_EV_ATTEMPT_START);
	ft_coord_engine_pause(m.e, 1, m.now);
	collect(&m);
	ev = find_ev(&m, FT_COORD_EV_ATTEMPT_END, 0, NULL);
	assert_string_equal(ev->text, "run paused");
	assert_int_equal(ft_coord_engine_deadline(m.e), UINT64_MAX);
	m.now += 100000;
	ft_coord_engine_tick(m.e, m.now);
	collect(&m);
	assert_int_equal(m.n_ev, 2); /* nothing while paused */
	ft_coord_engine_pause(m.e, 0, m.now);
	sim_run(&m, FT_COORD_EV_MODEL, 1);
	assert_int_equal(find_ev(&m, FT_COORD_EV_MODEL, 0, NULL)->attempt, 2);
	sim_free(&m);
}

static void test_fedadam_state(void **state)
{
	sim m;
	const ft_coord_event *ev;
	uint8_t *b = NULL, bad[64 + 16 * 5];
	ft_coord_engine *e2 = NULL;
	ft_coord_timeouts to = {1000, 1000, 1000, 500, 0, 0};
	ft_errmsg err;

	(void)state;
	sim_init(&m, 3, FT_COORD_OPT_FEDADAM);
	sim_run(&m, FT_COORD_EV_MODEL, 1);
	ev = find_ev(&m, FT_COORD_EV_MODEL, 0, &b);
	/* ft_model_server_encode: a 64-byte header, then m and v in doubles. */
	assert_int_equal(ev->opt_state_len, 64 + 16 * m.d);
	/* Restart from the persisted state: accepted; a corrupt one is not. */
	assert_int_equal(ft_coord_engine_alloc(&m.run, &to, m.coord, m.consortium, m.sites, m.n, b,
	                                       ev->model_len, 1, ev->opt_state, ev->opt_state_len, 2,
	                                       1, &e2, &err),
	                 FT_OK);
	ft_coord_engine_free(e2);
	e2 = NULL;
	memcpy(bad, ev->opt_state, sizeof(bad));
	memcpy(bad, "XXXX", 4);
	assert_int_equal(ft_coord_engine_alloc(&m.run, &to, m.coord, m.consortium, m.sites, m.n, b,
	                                       ev->model_len, 1, bad, sizeof(bad), 2, 1, &e2, &err),
	                 FT_EFORMAT);
	assert_null(e2);
	sim_free(&m);
}

/* One statistics release over the sites' patients comes before round 1,
 * announced with the run's statistics epsilon; the version-0 model then
 * carries the pooled means and variances, and every later version keeps
 * them. A standardised run without public ranges does not start. */
static void standardisation_case(int plain)
{
	sim m;
	ft_model *gm = NULL;
	ft_model_meta *meta = NULL;
	const ft_coord_event *ev;
	uint8_t *b = NULL;
	double sum[4] = {0}, sumsq[4] = {0}, want_mean[4], want_var[4];
	size_t total = 0;
	const char *str;
	uint32_t n_stats = 0;

	sim_init(&m, 3, FT_COORD_OPT_FEDAVG);
	m.run.standardise = 1;
	m.run.plain_sum = (uint32_t)plain;
	ft_coord_engine_free(m.e);
	m.e = NULL;
	{
		ft_coord_timeouts to = {1000, 1000, 1000, 500, 0, 0};
		ft_errmsg err;
		const double lo[4] = {150, -2, 0, 0}, hi[4] = {350, 2, 100, 100};
		uint8_t *with = NULL;
		size_t wlen;

		assert_int_equal(ft_coord_engine_alloc(&m.run, &to, m.coord, m.consortium, m.sites, 3,
		                                       m.model0, m.model0_len, 0, NULL, 0, 1, 1, &m.e,
		                                       &err),
		                 FT_EFORMAT);
		assert_null(m.e);
		assert_int_equal(ft_coord_model_set_ranges(m.model0, m.model0_len, lo, hi, 3, 0.75,
		                                           &with, &wlen, &err),
		                 FT_EINVAL);
		assert_int_equal(ft_coord_model_set_ranges(m.model0, m.model0_len, lo, hi, 4, 0.75,
		                                           &with, &wlen, &err),
		                 FT_OK);
		ft_free(m.model0);
		m.model0 = with;
		m.model0_len = wlen;
		assert_int_equal(ft_coord_engine_alloc(&m.run, &to, m.coord, m.consortium, m.sites, 3,
		                                       m.model0, m.model0_len, 0, NULL, 0, 1, 1, &m.e,
		                                       &err),
		                 FT_OK);
	}
	for (uint32_t i = 0; i < 3; i++) {
		size_t rows = 50 + 20 * i;

		assert_int_equal(ft_model_dataset_alloc(rows, 4, &m.s[i].ds), FT_OK);
		for (size_t r = 0; r < rows; r++) {
			for (int j = 0; j < 4; j++) {
				/* Features of very different scales and offsets. */
				double x = (j == 0 ? 250.0 : j == 1 ? 0.0 : 50.0) +
				           (j == 0 ? 40.0 : j == 1 ? 1.0 : 10.0) *
				               sin((double)(r * 7 + i * 13 + (size_t)j * 3));

				m.s[i].ds->x[r * 4 + (size_t)j] = (float)x;
				sum[j] += (float)x;
				sumsq[j] += (double)(float)x * (float)x;
			}
		}
		total += rows;
		ft_coord_engine_site_up(m.e, m.s[i].id, FT_COORD_NO_VERSION, m.now);
	}
	for (int j = 0; j < 4; j++) {
		want_mean[j] = sum[j] / (double)total;
		want_var[j] = sumsq[j] / (double)total - want_mean[j] * want_mean[j];
	}
	sim_run(&m, FT_COORD_EV_MODEL, 1);
	for (uint32_t i = 0; i < m.n_ev; i++) {
		if (m.ev[i].type == FT_COORD_EV_STATS) {
			assert_int_equal(m.ev[i].round, 0);
			assert_int_equal(m.ev[i].version, 0);
			n_stats++;
		}
		if (m.ev[i].type == FT_COORD_EV_MODEL)
			assert_int_equal(n_stats, 1); /* the release before round 1 */
	}
	assert_int_equal(n_stats, 1);
	ev = find_ev(&m, FT_COORD_EV_STATS, 0, &b);
	assert_int_equal(ev->run_complete, 1);
	assert_int_equal(ft_model_decode(b, ev->model_len, &gm, &meta, NULL), FT_OK);
	assert_int_equal(ft_model_meta_get_str(meta, "standardise.mean", &str), FT_OK);
	for (int j = 0; j < 4; j++) {
		double got = strtod(str, NULL);

		/* Within a part in 10^4 of the feature's spread. */
		if (!(fabs(got - want_mean[j]) <= 1e-4 * sqrt(want_var[j]) + 1e-6))
			fail_msg("mean %d: %g vs %g", j, got, want_mean[j]);
		str = strchr(str, ',') != NULL ? strchr(str, ',') + 1 : str;
	}
	assert_int_equal(ft_model_meta_get_str(meta, "standardise.var", &str), FT_OK);
	for (int j = 0; j < 4; j++) {
		double got = strtod(str, NULL);

		if (!(fabs(got - want_var[j]) <= 2e-3 * want_var[j]))
			fail_msg("var %d: %g vs %g", j, got, want_var[j]);
		str = strchr(str, ',') != NULL ? strchr(str, ',') + 1 : str;
	}
	ft_model_meta_free(meta);
	meta = NULL;
	ft_model_free(gm);
	gm = NULL;
	/* Version 1 carries the same moments, and a coordinator restarted at
	 * version 1 resumes the run from it (no second release). */
	ev = find_ev(&m, FT_COORD_EV_MODEL, 0, &b);
	assert_int_equal(ft_model_decode(b, ev->model_len, &gm, &meta, NULL), FT_OK);
	assert_int_equal(ft_model_meta_get_str(meta, "standardise.var", &str), FT_OK);
	ft_model_meta_free(meta);
	ft_model_free(gm);
	{
		ft_coord_timeouts to = {1000, 1000, 1000, 500, 0, 0};
		ft_coord_engine *e2 = NULL;
		ft_errmsg err = {{0}};

		if (ft_coord_engine_alloc(&m.run, &to, m.coord, m.consortium, m.sites, 3, b,
		                          ev->model_len, 1, NULL, 0, 2, 1, &e2, &err) != FT_OK)
			fail_msg("restart at version 1: %s", err.msg);
		ft_coord_engine_free(e2);
	}
	/* Round 0 is never summed in the clear, even in a plain-sum run. */
	assert_int_equal(m.ann[0][1], 0);
	assert_true(m.ann[0][0] >= 3);
	assert_int_equal(m.ann[1][!plain], 0);
	assert_true(m.ann[1][plain] >= 3);
	sim_free(&m);
}

static void test_federated_standardisation(void **state)
{
	(void)state;
	standardisation_case(0);
}

static void test_plain_sum_standardisation_stays_secure(void **state)
{
	(void)state;
	standardisation_case(1);
}

/* A plain-sum run: the same model as with secure aggregation (old + mean of
 * the complete uploads), every announcement says plain_sum, and a site
 * whose upload is incomplete at the deadline is left out of the sum. */
static void test_plain_sum(void **state)
{
	sim m;
	const ft_coord_event *ev1, *ev2;
	uint8_t *b1 = NULL, *b2 = NULL, *body = NULL;
	ft_wire_chunk c;
	size_t blen;
	uint8_t zero[8] = {0};

	(void)state;
	sim_init(&m, 4, FT_COORD_OPT_FEDAVG);
	m.run.plain_sum = 1;
	ft_coord_engine_free(m.e);
	{
		ft_coord_timeouts to = {1000, 1000, 1000, 500, 0, 0};
		ft_errmsg err;

		assert_int_equal(ft_coord_engine_alloc(&m.run, &to, m.coord, m.consortium, m.sites, 4,
		                                       m.model0, m.model0_len, 0, NULL, 0, 1, 1, &m.e,
		                                       &err),
		                 FT_OK);
	}
	for (uint32_t i = 0; i < 4; i++)
		ft_coord_engine_site_up(m.e, m.s[i].id, FT_COORD_NO_VERSION, m.now);
	m.s[3].partial = 1; /* value .4: would move the mean to .25 */
	m.s[1].resend = 1;  /* a duplicate piece: still in the sum */
	sim_run(&m, FT_COORD_EV_MODEL, 2);
	assert_int_equal(m.ann[1][1], 8);
	assert_int_equal(m.ann[1][0], 0);
	ev1 = find_ev(&m, FT_COORD_EV_MODEL, 0, &b1);
	ev2 = find_ev(&m, FT_COORD_EV_MODEL, 1, &b2);
	assert_true(ev1->version == 1 && ev1->round == 1 && ev1->attempt == 1);
	assert_int_equal(ev1->n_survivors, 3);
	assert_int_equal(ev2->n_survivors, 3);
	/* (the list is borrowed until the next engine call: the last one's) */
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(ev2->survivors[i], m.s[i].id);
	check_model(&m, m.model0, m.model0_len, ev1, b1, 0.2f); /* mean of .1 .2 .3 */
	check_model(&m, b1, ev1->model_len, ev2, b2, 0.2f);
	assert_true(ev2->run_complete == 1 && ft_coord_engine_complete(m.e));
	/* Nothing of a plain-sum upload is taken outside its phase. */
	c.model_version = 2;
	c.offset = 0;
	c.total = 4 * m.d;
	memset(c.hash, 0, sizeof(c.hash));
	c.data = zero;
	c.len = sizeof(zero);
	assert_int_equal(ft_wire_chunk_encode(&c, &body, &blen), FT_OK);
	assert_int_equal(ft_coord_engine_recv(m.e, m.s[0].id, FT_WIRE_PLAIN_UPDATE, 2, 1, body, blen,
	                                      m.now),
	                 FT_ESTATE);
	ft_free(body);
	sim_free(&m);
}

/* A secure run takes no PLAIN_UPDATE, even from an accepting site. */
static void test_secure_run_refuses_plain_upload(void **state)
{
	sim m;
	uint32_t to, attempt;
	unsigned type;
	uint64_t round;
	uint8_t *p, *body, zero[8] = {0};
	size_t len, blen;
	ft_wire_chunk c;
	int accepted = 0;

	(void)state;
	sim_init(&m, 3, FT_COORD_OPT_FEDAVG);
	ft_coord_engine_tick(m.e, m.now);
	while (ft_coord_engine_next(m.e, &to, &type, &round, &attempt, &p, &len) == FT_OK) {
		if (type == FT_WIRE_ROUND_ANNOUNCE && to == m.s[0].id) {
			ft_wire_announce *a = malloc(sizeof(*a));
			ft_wire_accept acc;
			uint8_t *ab;
			size_t alen;

			assert_int_equal(ft_wire_announce_decode(p, len, a), FT_OK);
			assert_int_equal(a->plain_sum, 0);
			memset(&acc, 0, sizeof(acc));
			memcpy(acc.model_hash, a->model_hash, 32);
			assert_int_equal(ft_wire_accept_encode(&acc, &ab, &alen), FT_OK);
			assert_int_equal(ft_coord_engine_recv(m.e, to, FT_WIRE_ROUND_ACCEPT, round, attempt,
			                                      ab, alen, m.now),
			                 FT_OK);
			ft_free(ab);
			c.model_version = a->model_version;
			c.offset = 0;
			c.total = 4 * m.d;
			memset(c.hash, 0, sizeof(c.hash));
			c.data = zero;
			c.len = sizeof(zero);
			assert_int_equal(ft_wire_chunk_encode(&c, &body, &blen), FT_OK);
			assert_int_equal(ft_coord_engine_recv(m.e, to, FT_WIRE_PLAIN_UPDATE, round, attempt,
			                                      body, blen, m.now),
			                 FT_ESTATE);
			ft_free(body);
			free(a);
			accepted = 1;
		}
		ft_free(p);
	}
	assert_true(accepted);
	sim_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_rounds),
		cmocka_unit_test(test_refusal_and_stale_frames),
		cmocka_unit_test(test_config_refusal_after_accept),
		cmocka_unit_test(test_too_few_then_fresh_attempt),
		cmocka_unit_test(test_dropout_mid_round),
		cmocka_unit_test(test_pause_abandons_attempt),
		cmocka_unit_test(test_fedadam_state),
		cmocka_unit_test(test_federated_standardisation),
		cmocka_unit_test(test_plain_sum),
		cmocka_unit_test(test_plain_sum_standardisation_stays_secure),
		cmocka_unit_test(test_secure_run_refuses_plain_upload),
	};

	if (ft_crypto_init() != FT_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
