/*
 * coord_engine.c - the coordinator's round engine: a pure state machine.
 * Per attempt: announce to every connected site, collect accepts and
 * refusals, run secure aggregation among the accepting sites, decode the sum
 * of their fixed-point updates, apply the server optimiser and publish the
 * signed new model version. An attempt that fails for any reason is closed
 * and a fresh one (new attempt number, so fresh secure-aggregation keys)
 * starts after retry_ms. No I/O here: ft_coord.h says how it is driven.
 *
 * A plain-sum run (`run create --no-secagg`) replaces secure aggregation in
 * its training rounds by a sum in the clear of the sites' complete
 * PLAIN_UPDATE uploads; everything before (announce, accept) and after
 * (decode, mean, server optimiser, publication) is the same code, so the
 * two modes differ only by the secure-aggregation work. Standardisation
 * passes (round 0) always use secure aggregation.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "coord_int.h"

/* The round of the attempt in flight: 0 for the statistics release. */
static uint64_t cur_round(const ft_coord_engine *e)
{
	return e->stats_mode ? 0 : e->round;
}

static void out_push(ft_coord_engine *e, eng_out *o)
{
	o->next = NULL;
	if (e->out_tail != NULL)
		e->out_tail->next = o;
	else
		e->out_head = o;
	e->out_tail = o;
}

/* Queues a frame; takes ownership of payload (freed on failure). A frame
 * that cannot be queued for lack of memory is lost like one on a dropped
 * connection: the attempt's deadlines recover. */
static void queue(ft_coord_engine *e, uint32_t site, unsigned type, uint8_t *payload, size_t len)
{
	eng_out *o = ft_calloc(1, sizeof(*o));

	if (o == NULL) {
		ft_free(payload);
		return;
	}
	o->site = site;
	o->type = type;
	o->round = cur_round(e);
	o->attempt = e->attempt;
	o->payload = payload;
	o->len = len;
	out_push(e, o);
}

static ft_coord_event *event_new(ft_coord_engine *e, int type)
{
	eng_ev *v = ft_calloc(1, sizeof(*v));

	if (v == NULL)
		return NULL;
	v->ev.type = type;
	v->ev.round = cur_round(e);
	v->ev.attempt = e->attempt;
	v->next = NULL;
	if (e->ev_tail != NULL)
		e->ev_tail->next = v;
	else
		e->ev_head = v;
	e->ev_tail = v;
	return &v->ev;
}

static eng_site *site_find(ft_coord_engine *e, uint32_t id)
{
	for (uint32_t i = 0; i < e->n_sites; i++)
		if (e->sites[i].id == id)
			return &e->sites[i];
	return NULL;
}

static void queue_model(ft_coord_engine *e, eng_site *s)
{
	ft_wire_chunker c;
	uint8_t *body;
	size_t len;

	if (ft_wire_chunker_init(&c, e->model_bytes, e->model_len, e->version,
	                         FT_WIRE_CHUNK_DEFAULT) != FT_OK)
		return;
	while (ft_wire_chunker_next(&c, &body, &len) == FT_OK)
		queue(e, s->id, FT_WIRE_MODEL_CHUNK, body, len);
	s->have_version = e->version;
}

static void queue_result(ft_coord_engine *e, eng_site *s)
{
	ft_wire_result *r = ft_calloc(1, sizeof(*r));
	uint8_t *body = NULL;
	size_t len;

	if (r == NULL)
		return;
	r->model_version = e->version;
	memcpy(r->model_hash, e->hash, sizeof(r->model_hash));
	r->model_len = e->model_len;
	r->n_survivors = e->n_survivors;
	if (e->n_survivors > 0)
		memcpy(r->survivors, e->survivors, e->n_survivors * sizeof(uint32_t));
	r->n_metrics = 2;
	snprintf(r->metrics[0].name, sizeof(r->metrics[0].name), "round");
	r->metrics[0].value = (double)e->version;
	snprintf(r->metrics[1].name, sizeof(r->metrics[1].name), "run_complete");
	r->metrics[1].value = e->state == ENG_DONE ? 1.0 : 0.0;
	if (ft_wire_result_encode(r, &body, &len) == FT_OK)
		queue(e, s->id, FT_WIRE_ROUND_RESULT, body, len);
	ft_free(r);
}

/* What the coordinator signs for a model version (kept with the model in
 * its database): "fedtwin-model-v1" || consortium || run || version || hash. */
static void model_tbs(const ft_coord_engine *e, uint8_t out[16 + 32 + 16 + 32])
{
	memcpy(out, "fedtwin-model-v1", 16);
	memcpy(out + 16, e->consortium, FT_CRYPTO_ID_BYTES);
	ft_put_le64(out + 48, e->run.id);
	ft_put_le64(out + 56, e->version);
	memcpy(out + 64, e->hash, FT_CRYPTO_HASH_BYTES);
}

/* Sets hash and signature for the current model bytes. */
static int model_seal(ft_coord_engine *e)
{
	uint8_t tbs[16 + 32 + 16 + 32];

	ft_crypto_hash(e->hash, e->model_bytes, e->model_len);
	model_tbs(e, tbs);
	return ft_crypto_identity_sign(e->id, tbs, sizeof(tbs), e->sig);
}

/* The optimiser's state after a step, for the MODEL event. */
static int opt_state_encode(ft_coord_engine *e)
{
	ft_free(e->opt_state);
	e->opt_state = NULL;
	e->opt_state_len = 0;
	return ft_model_server_encode(e->opt, &e->opt_state, &e->opt_state_len);
}

/* ---- Attempts ------------------------------------------------------------------ */

static void reset_sites(ft_coord_engine *e)
{
	for (uint32_t i = 0; i < e->n_sites; i++)
		e->sites[i].rstate = RS_NONE;
}

/* Drops every plain-sum upload and the running sum. */
static void plain_reset(ft_coord_engine *e)
{
	for (uint32_t i = 0; i < e->n_sites; i++) {
		ft_wire_reasm_free(e->sites[i].upload);
		e->sites[i].upload = NULL;
		e->sites[i].up_state = UP_NONE;
	}
	ft_free(e->plain_sum);
	e->plain_sum = NULL;
	e->plain_need = 0;
	e->plain_mode = 0;
}

/* Frames of a closed attempt that are still queued would only make sites
 * work for nothing: drop them (models and results stay). */
static void drop_attempt_frames(ft_coord_engine *e)
{
	eng_out **pp = &e->out_head, *o;

	e->out_tail = NULL;
	while ((o = *pp) != NULL) {
		if ((o->type == FT_WIRE_ROUND_ANNOUNCE || o->type == FT_WIRE_SECAGG) &&
		    o->round == cur_round(e) && o->attempt == e->attempt) {
			*pp = o->next;
			ft_free(o->payload);
			ft_free(o);
			continue;
		}
		e->out_tail = o;
		pp = &o->next;
	}
}

static void attempt_close(ft_coord_engine *e, int code, uint64_t now, const char *fmt, ...)
	FT_PRINTF(4, 5);
static void attempt_close(ft_coord_engine *e, int code, uint64_t now, const char *fmt, ...)
{
	ft_coord_event *ev = event_new(e, FT_COORD_EV_ATTEMPT_END);
	va_list ap;

	if (ev != NULL) {
		ev->code = code;
		va_start(ap, fmt);
		vsnprintf(ev->text, sizeof(ev->text), fmt, ap);
		va_end(ap);
	}
	ft_secagg_server_free(e->sa);
	e->sa = NULL;
	ft_free(e->sa_sites);
	e->sa_sites = NULL;
	reset_sites(e);
	drop_attempt_frames(e);
	plain_reset(e);
	e->stats_mode = 0;
	e->state = ENG_IDLE;
	e->retry_at = now + e->to.retry_ms;
}

static const char *kind_name(uint32_t kind)
{
	switch (kind) {
	case FT_MODEL_LOGREG:
		return "logreg";
	case FT_MODEL_SOFTMAX:
		return "softmax";
	case FT_MODEL_LINREG:
		return "linreg";
	default:
		return "mlp";
	}
}

/* k and t for n sites: safe against the fraction of colluding sites that
 * sites assume by default (they check it: ft_secagg_params_secure), and
 * tolerating the run's drop-out fraction where the graph allows it, else
 * none (small consortia). */
static int choose_kt(const ft_coord_engine *e, uint32_t n, uint32_t *k, uint32_t *t)
{
	if (e->run.dropout > 0 &&
	    ft_secagg_params(n, e->run.dropout, FT_SECAGG_ASSUME_CORRUPT, 40, 30, k, t) == FT_OK)
		return FT_OK;
	if (ft_secagg_params(n, 0.0, FT_SECAGG_ASSUME_CORRUPT, 40, 30, k, t) == FT_OK)
		return FT_OK;
	return ft_secagg_params(n, 0.0, 0.0, 40, 30, k, t);
}

static void attempt_start(ft_coord_engine *e, uint64_t now)
{
	ft_wire_announce *a = ft_calloc(1, sizeof(*a));
	const ft_model_spec *spec = ft_model_get_spec(e->model);
	ft_coord_event *ev;
	uint32_t n_up = 0, k = 0, t = 0;

	if (a == NULL)
		return; /* tried again at the next tick */
	for (uint32_t i = 0; i < e->n_sites; i++)
		if (e->sites[i].up)
			a->sites[n_up++] = e->sites[i].id;
	if (choose_kt(e, n_up, &k, &t) != FT_OK) {
		ft_free(a);
		e->retry_at = now + e->to.retry_ms;
		return;
	}
	e->attempt = e->next_attempt++;
	e->n_announced = 0;
	/* Standardisation passes come before round 1. */
	e->stats_mode = e->run.standardise && !e->std_done && e->version == 0;
	/* Never a standardisation pass: its sums are not DP-noised. */
	e->plain_mode = e->run.plain_sum && !e->stats_mode;
	snprintf(a->run_id, sizeof(a->run_id), "run-%llu", (unsigned long long)e->run.id);
	a->round = cur_round(e);
	a->attempt = e->attempt;
	a->model_version = e->version;
	memcpy(a->model_hash, e->hash, sizeof(a->model_hash));
	a->model_len = e->model_len;
	snprintf(a->kind, sizeof(a->kind), "%s", kind_name(spec->kind));
	a->n_features = spec->n_features;
	a->n_classes = spec->n_classes;
	a->n_hidden = spec->n_hidden;
	for (uint32_t i = 0; i < spec->n_hidden && i < FT_WIRE_MAX_HIDDEN; i++)
		a->hidden[i] = spec->hidden[i];
	snprintf(a->activation, sizeof(a->activation), "%s",
	         spec->activation == FT_MODEL_ACT_RELU   ? "relu"
	         : spec->activation == FT_MODEL_ACT_TANH ? "tanh"
	                                                 : "none");
	a->lr = e->run.lr;
	a->epochs = e->run.epochs;
	a->batch = e->run.batch;
	snprintf(a->optimiser, sizeof(a->optimiser), "sgd");
	a->dp_clip = e->run.dp_clip;
	a->dp_noise = 0; /* 0: each site calibrates its noise to dp_max_epsilon */
	a->dp_delta = e->run.delta > 0 && e->run.delta < 1 ? e->run.delta : 1e-5;
	/* Round 0 is the statistics release: its own epsilon, which each site
	 * checks against its policy and charges like a training round. */
	a->dp_max_epsilon = e->stats_mode ? e->std_eps : e->run.epsilon;
	a->n_sites = n_up;
	a->t = t;
	a->k = k;
	a->bits = e->run.bits;
	a->fxp_clip = e->stats_mode ? (double)FT_COORD_STATS_MAX_ROWS : e->run.update_clip;
	ft_crypto_random(a->seed, sizeof(a->seed));
	a->d = (uint32_t)(e->stats_mode ? ft_model_stats_len(spec->n_features)
	                                : ft_model_n_params(e->model));
	a->chunk = a->d < 65536 ? a->d : 65536;
	a->train_ms = e->to.accept_ms;
	a->advertise_ms = e->to.phase_ms;
	a->shares_ms = e->to.phase_ms;
	a->upload_ms = e->to.upload_ms;
	a->check_ms = e->to.phase_ms;
	a->unmask_ms = e->to.phase_ms;
	a->plain_sum = (uint32_t)e->plain_mode;
	for (uint32_t i = 0; i < e->n_sites; i++) {
		eng_site *s = &e->sites[i];
		uint8_t *body = NULL;
		size_t len;

		if (!s->up)
			continue;
		if (s->have_version != e->version)
			queue_model(e, s);
		if (ft_wire_announce_encode(a, &body, &len) != FT_OK)
			continue;
		queue(e, s->id, FT_WIRE_ROUND_ANNOUNCE, body, len);
		s->rstate = RS_ANNOUNCED;
		e->announced[e->n_announced++] = s->id;
	}
	ft_free(a);
	ev = event_new(e, FT_COORD_EV_ATTEMPT_START);
	if (ev != NULL) {
		ev->n_sites = e->n_announced;
		ev->sites = e->announced;
	}
	e->state = ENG_ACCEPT;
	e->deadline = now + e->to.accept_ms;
}

static void drain_secagg(ft_coord_engine *e)
{
	uint32_t to;
	uint8_t *buf;
	size_t len;

	while (e->sa != NULL && ft_secagg_server_next(e->sa, &to, &buf, &len) == FT_OK) {
		ft_wire_secagg w = { .msg = buf, .len = len };
		uint8_t *body = NULL;
		size_t blen;

		if (ft_wire_secagg_encode(&w, &body, &blen) == FT_OK)
			queue(e, to, FT_WIRE_SECAGG, body, blen);
		ft_free(buf);
	}
}

static void plain_start(ft_coord_engine *e, uint32_t need, uint64_t now);

static void close_accept(ft_coord_engine *e, uint64_t now)
{
	ft_secagg_config cfg;
	ft_secagg_timeouts st;
	uint32_t n_acc = 0, need = e->run.min_sites < 2 ? 2 : e->run.min_sites, k = 0, t = 0;
	char detail[64];
	int rv;

	for (uint32_t i = 0; i < e->n_sites; i++)
		n_acc += e->sites[i].rstate == RS_ACCEPTED;
	if (n_acc < need) {
		snprintf(detail, sizeof(detail), "%u of %u", n_acc, e->n_announced);
		attempt_close(e, FT_EABORT, now, "too few sites accepted: %s", detail);
		return;
	}
	e->sa_sites = ft_calloc(n_acc, sizeof(*e->sa_sites));
	if (e->sa_sites == NULL) {
		attempt_close(e, FT_ENOMEM, now, "out of memory");
		return;
	}
	n_acc = 0;
	for (uint32_t i = 0; i < e->n_sites; i++) {
		if (e->sites[i].rstate != RS_ACCEPTED)
			continue;
		e->sa_sites[n_acc].id = e->sites[i].id;
		memcpy(e->sa_sites[n_acc].sign_pk, e->sites[i].pk, FT_CRYPTO_SIGN_PK_BYTES);
		n_acc++;
	}
	if (choose_kt(e, n_acc, &k, &t) != FT_OK) {
		attempt_close(e, FT_ERANGE, now, "no secure-aggregation parameters");
		return;
	}
	if (e->plain_mode) {
		plain_start(e, t, now);
		return;
	}
	memset(&cfg, 0, sizeof(cfg));
	memcpy(cfg.ctx.consortium, e->consortium, FT_CRYPTO_ID_BYTES);
	cfg.ctx.run = e->run.id;
	cfg.ctx.round = cur_round(e);
	cfg.ctx.attempt = e->attempt;
	cfg.n = n_acc;
	cfg.sites = e->sa_sites;
	cfg.t = t;
	cfg.k = k;
	ft_crypto_random(cfg.seed, sizeof(cfg.seed));
	cfg.d = (uint32_t)(e->stats_mode ? ft_model_stats_len(ft_model_get_spec(e->model)->n_features)
	                                 : ft_model_n_params(e->model));
	cfg.bits = e->run.bits;
	cfg.chunk = cfg.d < 65536 ? cfg.d : 65536;
	if (e->stats_mode)
		rv = ft_model_stats_fxp_init(&e->fxp, FT_COORD_STATS_MAX_ROWS, e->run.bits,
		                             e->n_announced);
	else
		rv = ft_crypto_fxp_init(&e->fxp, e->run.update_clip, e->run.bits, e->n_announced);
	if (rv != FT_OK) {
		attempt_close(e, rv, now, "fixed-point parameters do not fit");
		return;
	}
	st.advertise_ms = e->to.phase_ms;
	st.shares_ms = e->to.phase_ms;
	st.upload_ms = e->to.upload_ms;
	st.check_ms = e->to.phase_ms;
	st.unmask_ms = e->to.phase_ms;
	st.client_idle_ms = 4 * e->to.upload_ms;
	rv = ft_secagg_server_alloc(&cfg, &st, now, &e->sa);
	if (rv != FT_OK) {
		attempt_close(e, rv, now, "secure aggregation could not start");
		return;
	}
	e->state = ENG_SECAGG;
	drain_secagg(e);
}

/* Every global model carries the federation's moments (prediction must
 * apply them too): copied from the current model's metadata. */
static int carry_standardisation(const ft_coord_engine *e, ft_model_meta *meta)
{
	static const char *const keys[] = {"standardise.mean", "standardise.var",
	                                   "standardise.privacy", "standardise.lo",
	                                   "standardise.hi"};
	ft_model *m = NULL;
	ft_model_meta *cur = NULL;
	int rv = ft_model_decode(e->model_bytes, e->model_len, &m, &cur, NULL);

	for (size_t i = 0; rv == FT_OK && i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v;

		if (ft_model_meta_get_str(cur, keys[i], &v) == FT_OK)
			rv = ft_model_meta_set_str(meta, keys[i], v);
	}
	ft_model_meta_free(cur);
	ft_model_free(m);
	return rv;
}

/* The sum of the n_surv sites `surv` is in (secure or plain): decode it,
 * apply the server optimiser, publish. */
static void publish_round(ft_coord_engine *e, uint64_t now, const uint32_t *sum, size_t d,
                          const uint32_t *surv, uint32_t n_surv)
{
	size_t n = ft_model_n_params(e->model);
	float *delta = NULL, *mean = NULL, *w;
	ft_model *next = NULL;
	ft_model_meta *meta = NULL;
	uint8_t *bytes = NULL;
	size_t blen;
	ft_coord_event *ev;
	char run_name[32];
	uint8_t *saved = NULL;
	size_t saved_len = 0;
	int rv, stepped = 0, committed = 0;

	if (d != n || n_surv == 0) {
		attempt_close(e, FT_EINTERNAL, now, "no aggregation result");
		return;
	}
	delta = ft_mallocarray(n, sizeof(float));
	mean = ft_mallocarray(n, sizeof(float));
	if (delta == NULL || mean == NULL)
		goto nomem;
	rv = ft_crypto_fxp_decode(&e->fxp, sum, n, n_surv, delta);
	if (rv != FT_OK) {
		attempt_close(e, rv, now, "the sum does not decode (a site sent an out-of-range update)");
		goto out;
	}
	rv = ft_model_clone(e->model, &next);
	if (rv != FT_OK)
		goto nomem;
	w = ft_model_params(next);
	/* The mean of the survivors' updates, then one optimiser step; the
	 * optimiser's state before the step is kept to undo it if this round
	 * cannot be committed. */
	rv = ft_model_server_mean(delta, n, 0, n_surv, mean, n);
	if (rv != FT_OK) {
		attempt_close(e, rv, now, "the mean update is not finite");
		goto out;
	}
	rv = ft_model_server_encode(e->opt, &saved, &saved_len);
	if (rv != FT_OK)
		goto nomem;
	rv = ft_model_server_step(e->opt, w, n, mean);
	if (rv != FT_OK) {
		attempt_close(e, rv, now, "the new model diverged");
		goto out;
	}
	stepped = 1;
	rv = ft_model_meta_alloc(&meta);
	if (rv != FT_OK)
		goto nomem;
	snprintf(run_name, sizeof(run_name), "run-%llu", (unsigned long long)e->run.id);
	if (ft_model_meta_set_str(meta, "run", run_name) != FT_OK ||
	    ft_model_meta_set_int(meta, "version", (int64_t)(e->version + 1)) != FT_OK ||
	    ft_model_meta_set_int(meta, "round", (int64_t)e->round) != FT_OK ||
	    ft_model_meta_set_int(meta, "sites", (int64_t)n_surv) != FT_OK)
		goto nomem;
	if (carry_standardisation(e, meta) != FT_OK)
		goto nomem;
	rv = ft_model_encode(next, meta, &bytes, &blen);
	if (rv != FT_OK)
		goto nomem;
	if (opt_state_encode(e) != FT_OK)
		goto nomem;
	ft_free(e->survivors);
	e->survivors = ft_mallocarray(n_surv, sizeof(uint32_t));
	if (e->survivors == NULL)
		goto nomem;
	memcpy(e->survivors, surv, n_surv * sizeof(uint32_t));
	e->n_survivors = n_surv;
	/* Commit: from here on the new version is the engine's model. */
	committed = 1;
	ft_model_free(e->model);
	e->model = next;
	next = NULL;
	ft_free(e->model_bytes);
	e->model_bytes = bytes;
	e->model_len = blen;
	bytes = NULL;
	e->version++;
	if (model_seal(e) != FT_OK)
		goto nomem;
	if (e->round >= e->run.rounds)
		e->state = ENG_DONE;
	ev = event_new(e, FT_COORD_EV_MODEL);
	if (ev != NULL) {
		ev->version = e->version;
		ev->model = e->model_bytes;
		ev->model_len = e->model_len;
		memcpy(ev->hash, e->hash, sizeof(ev->hash));
		memcpy(ev->sig, e->sig, sizeof(ev->sig));
		ev->survivors = e->survivors;
		ev->n_survivors = e->n_survivors;
		ev->opt_state = e->opt_state;
		ev->opt_state_len = e->opt_state_len;
		ev->run_complete = e->state == ENG_DONE;
	}
	for (uint32_t i = 0; i < e->n_sites; i++) {
		if (!e->sites[i].up)
			continue;
		queue_model(e, &e->sites[i]);
		queue_result(e, &e->sites[i]);
	}
	ft_secagg_server_free(e->sa);
	e->sa = NULL;
	ft_free(e->sa_sites);
	e->sa_sites = NULL;
	reset_sites(e);
	plain_reset(e);
	if (e->state != ENG_DONE) {
		e->state = ENG_IDLE;
		e->round++;
		e->next_attempt = 1;
		e->retry_at = now + e->to.round_gap_ms;
	}
	goto out;
nomem:
	attempt_close(e, FT_ENOMEM, now, "out of memory");
out:
	if (stepped && !committed && saved != NULL) {
		ft_model_server *back = NULL;

		if (ft_model_server_decode(saved, saved_len, &back, NULL) == FT_OK) {
			ft_model_server_free(e->opt);
			e->opt = back;
		}
	}
	ft_free(saved);
	ft_free(mean);
	ft_model_meta_free(meta);
	ft_model_free(next);
	ft_free(bytes);
	ft_free(delta);
}

static void finish_round(ft_coord_engine *e, uint64_t now)
{
	const uint32_t *sum, *surv;
	size_t d;
	uint32_t n_surv;

	if (ft_secagg_server_result(e->sa, &sum, &d, &surv, &n_surv) != FT_OK) {
		attempt_close(e, FT_EINTERNAL, now, "no secure-aggregation result");
		return;
	}
	publish_round(e, now, sum, d, surv, n_surv);
}

/* ---- Plain-sum attempts ----------------------------------------------------------
 *
 * Memory: a site's pieces are reassembled in one buffer of exactly 4·d
 * bytes (the reassembler refuses a larger declared total before it
 * allocates), at most one per accepting site, and each buffer is added into
 * the one running sum (4·d bytes) and freed as soon as its upload is
 * complete. So the peak is (sites uploading at once + 1) · 4·d bytes, and an
 * incomplete upload never touches the sum: it is dropped whole at the
 * deadline. */

/* Every accepting site's upload is complete or failed. */
static int plain_all_in(const ft_coord_engine *e)
{
	for (uint32_t i = 0; i < e->n_sites; i++)
		if (e->sites[i].rstate == RS_ACCEPTED && e->sites[i].up_state != UP_DONE &&
		    e->sites[i].up_state != UP_FAILED)
			return 0;
	return 1;
}

/* The sum of the complete uploads, if there are enough of them. */
static void plain_finish(ft_coord_engine *e, uint64_t now)
{
	uint32_t *surv = NULL, n_surv = 0, n_acc = 0;
	size_t d = ft_model_n_params(e->model);

	surv = ft_calloc(e->n_sites ? e->n_sites : 1, sizeof(*surv));
	if (surv == NULL) {
		attempt_close(e, FT_ENOMEM, now, "out of memory");
		return;
	}
	/* e->sites is in manifest order (ids ascending), as ROUND_RESULT needs. */
	for (uint32_t i = 0; i < e->n_sites; i++) {
		n_acc += e->sites[i].rstate == RS_ACCEPTED;
		if (e->sites[i].rstate == RS_ACCEPTED && e->sites[i].up_state == UP_DONE)
			surv[n_surv++] = e->sites[i].id;
	}
	if (n_surv < e->plain_need || e->plain_sum == NULL)
		attempt_close(e, FT_EABORT, now, "too few complete uploads: %u of %u (%u needed)",
		              n_surv, n_acc, e->plain_need);
	else
		publish_round(e, now, e->plain_sum, d, surv, n_surv);
	ft_free(surv);
}

/* The accept phase closed with enough sites: wait for their uploads (some
 * may be complete already: sites send right after their accept). */
static void plain_start(ft_coord_engine *e, uint32_t need, uint64_t now)
{
	int rv = ft_crypto_fxp_init(&e->fxp, e->run.update_clip, e->run.bits, e->n_announced);

	if (rv != FT_OK) {
		attempt_close(e, rv, now, "fixed-point parameters do not fit");
		return;
	}
	e->plain_need = need;
	e->state = ENG_PLAIN;
	e->deadline = now + e->to.upload_ms;
	if (plain_all_in(e))
		plain_finish(e, now);
}

/* Adds a complete upload (d values, u32 LE) into the running sum. */
static int plain_add(ft_coord_engine *e, const uint8_t *buf, size_t d)
{
	uint32_t mask = e->run.bits >= 32 ? UINT32_MAX : (1u << e->run.bits) - 1u;

	/* Refuse before touching the sum: a value outside Z_2^bits is no
	 * encoding at all, and the sum keeps only whole uploads. */
	for (size_t i = 0; i < d; i++)
		if (ft_get_le32(buf + 4 * i) > mask)
			return FT_ERANGE;
	if (e->plain_sum == NULL) {
		e->plain_sum = ft_calloc(d, sizeof(uint32_t));
		if (e->plain_sum == NULL)
			return FT_ENOMEM;
	}
	for (size_t i = 0; i < d; i++)
		e->plain_sum[i] = (e->plain_sum[i] + ft_get_le32(buf + 4 * i)) & mask;
	return FT_OK;
}

static int plain_recv(ft_coord_engine *e, eng_site *s, const uint8_t *payload, size_t len,
                      uint64_t now)
{
	ft_wire_chunk c;
	size_t d = ft_model_n_params(e->model);
	uint8_t *buf = NULL;
	size_t blen = 0;
	uint64_t version;
	int rv;

	if (!e->plain_mode || (e->state != ENG_ACCEPT && e->state != ENG_PLAIN) ||
	    s->rstate != RS_ACCEPTED || s->up_state == UP_DONE || s->up_state == UP_FAILED)
		return FT_ESTATE;
	if (ft_wire_chunk_decode(payload, len, &c) != FT_OK) {
		rv = FT_EPROTO;
		goto fail;
	}
	/* The update of the announced model, of this model's length. */
	if (c.model_version != e->version || c.total != 4 * (uint64_t)d) {
		rv = FT_EPROTO;
		goto fail;
	}
	if (s->upload == NULL) {
		rv = ft_wire_reasm_alloc(4 * (uint64_t)d, &s->upload);
		if (rv != FT_OK)
			goto fail;
	}
	s->up_state = UP_RECEIVING;
	rv = ft_wire_reasm_add(s->upload, &c);
	/* A node that lost its connection sends its upload again from the
	 * start: a piece already held is a duplicate, not a failure (the
	 * whole upload's hash is checked when it is complete). */
	if (rv == FT_EEXIST)
		return FT_OK;
	if (rv != FT_OK)
		goto fail;
	if (!ft_wire_reasm_complete(s->upload))
		return FT_OK;
	rv = ft_wire_reasm_finish(s->upload, &buf, &blen, &version);
	if (rv == FT_OK)
		rv = blen == 4 * d ? plain_add(e, buf, d) : FT_EPROTO;
	ft_free(buf);
	if (rv != FT_OK)
		goto fail;
	ft_wire_reasm_free(s->upload);
	s->upload = NULL;
	s->up_state = UP_DONE;
	if (e->state == ENG_PLAIN && plain_all_in(e))
		plain_finish(e, now);
	return FT_OK;
fail:
	/* A site whose upload cannot be complete is left out of the sum. */
	ft_wire_reasm_free(s->upload);
	s->upload = NULL;
	s->up_state = UP_FAILED;
	if (e->state == ENG_PLAIN && plain_all_in(e))
		plain_finish(e, now);
	return rv;
}

/* ---- Federated standardisation ------------------------------------------ */

/* Where standardisation stands, from the version-0 model's metadata: a
 * standardised run needs its public ranges and the release's epsilon. */
static int stats_state_load(ft_coord_engine *e, const ft_model_meta *meta)
{
	size_t p = ft_model_get_spec(e->model)->n_features;
	const char *str;

	e->std_p = p;
	if (!e->run.standardise)
		return FT_OK;
	e->std_lo = ft_calloc(p, sizeof(double));
	e->std_hi = ft_calloc(p, sizeof(double));
	if (e->std_lo == NULL || e->std_hi == NULL)
		return FT_ENOMEM;
	/* Past the release (a restart at a later version), the moments are in
	 * the model and nothing else is needed. */
	e->std_done = meta != NULL && ft_model_meta_get_str(meta, "standardise.mean", &str) == FT_OK;
	if (e->std_done)
		return FT_OK;
	if (meta == NULL ||
	    ft_model_meta_get_vector(meta, "standardise.lo", e->std_lo, p) != FT_OK ||
	    ft_model_meta_get_vector(meta, "standardise.hi", e->std_hi, p) != FT_OK ||
	    ft_model_meta_get_double(meta, "standardise.epsilon", &e->std_eps) != FT_OK ||
	    !isfinite(e->std_eps) || !(e->std_eps > 0))
		return FT_EFORMAT;
	for (size_t j = 0; j < p; j++)
		if (!(e->std_lo[j] < e->std_hi[j]))
			return FT_EFORMAT;
	return FT_OK;
}

/* The statistics release's sum is in: the moments, and a new version-0
 * model file carrying them. */
static void finish_stats(ft_coord_engine *e, uint64_t now)
{
	const uint32_t *sum, *surv;
	size_t d, p = e->std_p, len = ft_model_stats_len(p);
	uint32_t n_surv;
	float *dec = NULL;
	double *mean = NULL, *var = NULL;
	uint64_t count = 0;
	ft_model_meta *meta = NULL;
	uint8_t *bytes = NULL;
	size_t blen;
	ft_coord_event *ev;
	char run_name[32], privacy[160];
	int rv;

	rv = ft_secagg_server_result(e->sa, &sum, &d, &surv, &n_surv);
	if (rv != FT_OK || d != len || n_surv == 0) {
		attempt_close(e, FT_EINTERNAL, now, "no secure-aggregation result");
		return;
	}
	dec = ft_mallocarray(len, sizeof(float));
	mean = ft_calloc(p, sizeof(double));
	var = ft_calloc(p, sizeof(double));
	if (dec == NULL || mean == NULL || var == NULL)
		goto nomem;
	rv = ft_crypto_fxp_decode(&e->fxp, sum, len, n_surv, dec);
	if (rv == FT_OK)
		rv = ft_model_stats_finish(dec, len, p, e->std_lo, e->std_hi, mean, var, &count);
	if (rv != FT_OK) {
		attempt_close(e, rv, now, "the standardisation sums do not decode");
		goto out;
	}
	snprintf(privacy, sizeof(privacy),
	         "federation moments from one DP release: epsilon %g per site at its own delta,"
	         " values clipped to public ranges", e->std_eps);
	rv = ft_model_meta_alloc(&meta);
	if (rv != FT_OK)
		goto nomem;
	snprintf(run_name, sizeof(run_name), "run-%llu", (unsigned long long)e->run.id);
	rv = ft_model_meta_set_str(meta, "run", run_name);
	if (rv == FT_OK)
		rv = ft_model_meta_set_int(meta, "version", 0);
	if (rv == FT_OK)
		rv = ft_model_meta_set_vector(meta, "standardise.lo", e->std_lo, p);
	if (rv == FT_OK)
		rv = ft_model_meta_set_vector(meta, "standardise.hi", e->std_hi, p);
	if (rv == FT_OK)
		rv = ft_model_meta_set_double(meta, "standardise.epsilon", e->std_eps);
	if (rv == FT_OK)
		rv = ft_model_meta_set_vector(meta, "standardise.mean", mean, p);
	if (rv == FT_OK)
		rv = ft_model_meta_set_vector(meta, "standardise.var", var, p);
	if (rv == FT_OK)
		rv = ft_model_meta_set_str(meta, "standardise.privacy", privacy);
	if (rv == FT_OK)
		rv = ft_model_meta_set_int(meta, "standardise.patients", (int64_t)count);
	if (rv == FT_OK)
		rv = ft_model_encode(e->model, meta, &bytes, &blen);
	if (rv != FT_OK) {
		attempt_close(e, rv, now, "the standardised model cannot be encoded");
		goto out;
	}
	ft_free(e->survivors);
	e->survivors = ft_mallocarray(n_surv, sizeof(uint32_t));
	if (e->survivors == NULL)
		goto nomem;
	memcpy(e->survivors, surv, n_surv * sizeof(uint32_t));
	e->n_survivors = n_surv;
	ft_free(e->model_bytes);
	e->model_bytes = bytes;
	e->model_len = blen;
	bytes = NULL;
	if (model_seal(e) != FT_OK)
		goto nomem;
	e->std_done = 1;
	ev = event_new(e, FT_COORD_EV_STATS);
	if (ev != NULL) {
		ev->version = 0;
		ev->model = e->model_bytes;
		ev->model_len = e->model_len;
		memcpy(ev->hash, e->hash, sizeof(ev->hash));
		memcpy(ev->sig, e->sig, sizeof(ev->sig));
		ev->survivors = e->survivors;
		ev->n_survivors = e->n_survivors;
		ev->run_complete = 1;
		ev->code = FT_COORD_STATS_PASSES;
	}
	/* Every site needs the new version-0 file before round 1. */
	for (uint32_t i = 0; i < e->n_sites; i++) {
		e->sites[i].have_version = FT_COORD_NO_VERSION;
		if (e->sites[i].up)
			queue_model(e, &e->sites[i]);
	}
	ft_secagg_server_free(e->sa);
	e->sa = NULL;
	ft_free(e->sa_sites);
	e->sa_sites = NULL;
	reset_sites(e);
	e->stats_mode = 0;
	e->state = ENG_IDLE;
	e->retry_at = now;
	goto out;
nomem:
	attempt_close(e, FT_ENOMEM, now, "out of memory");
out:
	ft_free(bytes);
	ft_model_meta_free(meta);
	ft_free(var);
	ft_free(mean);
	ft_free(dec);
}

static void after_secagg(ft_coord_engine *e, uint64_t now)
{
	ft_secagg_phase p;

	drain_secagg(e);
	if (e->sa == NULL)
		return;
	p = ft_secagg_server_phase(e->sa);
	if (p == FT_SECAGG_DONE) {
		if (e->stats_mode)
			finish_stats(e, now);
		else
			finish_round(e, now);
	} else if (p == FT_SECAGG_ABORTED) {
		const char *why = "";
		int code = ft_secagg_server_abort_reason(e->sa, &why);

		attempt_close(e, code, now, "secure aggregation aborted: %s", why);
	}
}

/* ---- Public API ---------------------------------------------------------------------- */

int ft_coord_engine_alloc(const ft_coord_run *run, const ft_coord_timeouts *to,
                          const ft_crypto_identity *id,
                          const uint8_t consortium[FT_CRYPTO_ID_BYTES],
                          const ft_coord_site *sites, uint32_t n_sites,
                          const uint8_t *model_bytes, size_t model_len, uint64_t version,
                          const uint8_t *opt_state, size_t opt_state_len, uint64_t next_round,
                          uint32_t next_attempt, ft_coord_engine **out, ft_errmsg *err)
{
	ft_coord_engine *e = NULL;
	ft_model_meta *meta = NULL;
	int rv;

	if (run == NULL || to == NULL || id == NULL || consortium == NULL || out == NULL ||
	    (n_sites > 0 && sites == NULL) || model_bytes == NULL || next_round == 0 ||
	    next_attempt == 0)
		return FT_EINVAL;
	if (run->rounds == 0 || run->bits < 16 || run->bits > 32 || !(run->dropout >= 0) ||
	    run->plain_sum > 1 ||
	    run->dropout >= 0.5 || run->optimizer < FT_COORD_OPT_FEDAVG ||
	    run->optimizer > FT_COORD_OPT_FEDADAGRAD)
		return ft_errmsg_set(err, FT_EINVAL, "run %llu: bad parameters",
		                     (unsigned long long)run->id);
	e = ft_calloc(1, sizeof(*e));
	if (e == NULL)
		return FT_ENOMEM;
	e->run = *run;
	e->to = *to;
	e->id = id;
	memcpy(e->consortium, consortium, FT_CRYPTO_ID_BYTES);
	e->sites = ft_calloc(n_sites ? n_sites : 1, sizeof(*e->sites));
	e->announced = ft_calloc(n_sites ? n_sites : 1, sizeof(*e->announced));
	e->model_bytes = ft_malloc(model_len);
	if (e->sites == NULL || e->announced == NULL || e->model_bytes == NULL) {
		rv = FT_ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < n_sites; i++) {
		e->sites[i].id = sites[i].id;
		e->sites[i].pk = sites[i].pk;
		e->sites[i].have_version = FT_COORD_NO_VERSION;
	}
	e->n_sites = n_sites;
	memcpy(e->model_bytes, model_bytes, model_len);
	e->model_len = model_len;
	rv = ft_model_decode(model_bytes, model_len, &e->model, &meta, err);
	if (rv != FT_OK)
		goto out;
	if (run->standardise && ft_model_get_spec(e->model)->n_features > FT_COORD_STATS_MAX_FEATURES) {
		rv = ft_errmsg_set(err, FT_ERANGE,
		                   "federated standardisation handles at most %u features",
		                   FT_COORD_STATS_MAX_FEATURES);
		goto out;
	}
	rv = stats_state_load(e, meta);
	if (rv != FT_OK) {
		rv = ft_errmsg_set(err, rv, "run %llu: a standardised run needs its public feature"
		                   " ranges and statistics epsilon in the model (a run created"
		                   " before statistics releases existed cannot resume: stop it and"
		                   " create it again with --feature-ranges)",
		                   (unsigned long long)run->id);
		goto out;
	}
	e->version = version;
	rv = model_seal(e);
	if (rv != FT_OK)
		goto out;
	if (opt_state != NULL && opt_state_len > 0) {
		rv = ft_model_server_decode(opt_state, opt_state_len, &e->opt, err);
		if (rv == FT_OK && ft_model_server_n_params(e->opt) != ft_model_n_params(e->model))
			rv = ft_errmsg_set(err, FT_EFORMAT, "the optimiser state is for another model");
		if (rv != FT_OK) {
			rv = FT_EFORMAT;
			goto out;
		}
	} else {
		ft_model_server_config oc;

		rv = ft_model_server_config_default(&oc, run->optimizer);
		if (rv != FT_OK)
			goto out;
		if (run->server_lr > 0)
			oc.lr = run->server_lr;
		if (run->optimizer != FT_COORD_OPT_FEDAVG) {
			oc.beta1 = run->beta1;
			oc.beta2 = run->beta2;
			oc.tau = run->tau;
		}
		rv = ft_model_server_alloc(&oc, ft_model_n_params(e->model), &e->opt, err);
		if (rv != FT_OK)
			goto out;
	}
	e->round = next_round;
	e->next_attempt = next_attempt;
	e->attempt = next_attempt - 1;
	e->state = next_round > run->rounds ? ENG_DONE : ENG_IDLE;
	*out = e;
	e = NULL;
	rv = FT_OK;
out:
	ft_model_meta_free(meta);
	ft_coord_engine_free(e);
	return rv;
}

void ft_coord_engine_free(ft_coord_engine *e)
{
	if (e == NULL)
		return;
	while (e->out_head != NULL) {
		eng_out *o = e->out_head;

		e->out_head = o->next;
		ft_free(o->payload);
		ft_free(o);
	}
	while (e->ev_head != NULL) {
		eng_ev *v = e->ev_head;

		e->ev_head = v->next;
		ft_free(v);
	}
	ft_secagg_server_free(e->sa);
	ft_free(e->sa_sites);
	if (e->sites != NULL)
		plain_reset(e);
	ft_model_free(e->model);
	ft_free(e->model_bytes);
	ft_model_server_free(e->opt);
	ft_free(e->std_lo);
	ft_free(e->std_hi);
	ft_free(e->opt_state);
	ft_free(e->survivors);
	ft_free(e->sites);
	ft_free(e->announced);
	ft_free(e);
}

void ft_coord_engine_site_up(ft_coord_engine *e, uint32_t site, uint64_t have_version,
                             uint64_t now_ms)
{
	eng_site *s = e != NULL ? site_find(e, site) : NULL;

	(void)now_ms;
	if (s == NULL)
		return;
	s->up = 1;
	s->have_version = have_version;
	/* A site that (re)connects mid-attempt waits for the next one: its
	 * previous connection's state is gone. */
	if (s->rstate == RS_ANNOUNCED)
		s->rstate = RS_NONE;
	if (have_version != e->version) {
		queue_model(e, s);
		if (e->version > 0 && e->n_survivors > 0)
			queue_result(e, s);
	}
}

void ft_coord_engine_site_down(ft_coord_engine *e, uint32_t site, uint64_t now_ms)
{
	eng_site *s = e != NULL ? site_find(e, site) : NULL;

	(void)now_ms;
	if (s == NULL)
		return;
	s->up = 0;
	s->have_version = FT_COORD_NO_VERSION;
	if (s->rstate == RS_ANNOUNCED)
		s->rstate = RS_NONE;
}

static void sanitize(char *dst, size_t cap, const uint8_t *src, size_t n)
{
	size_t j = 0;

	for (size_t i = 0; i < n && j + 1 < cap; i++)
		dst[j++] = (src[i] >= 0x20 && src[i] < 0x7f) ? (char)src[i] : '?';
	dst[j] = '\0';
}

/* A site's ROUND_REFUSE becomes a REFUSED event with its sanitised text. */
static int refusal_event(ft_coord_engine *e, uint32_t site, const uint8_t *payload, size_t len)
{
	ft_wire_notice nt;
	ft_coord_event *ev;

	if (ft_wire_notice_decode(payload, len, &nt) != FT_OK)
		return FT_EPROTO;
	ev = event_new(e, FT_COORD_EV_REFUSED);
	if (ev != NULL) {
		ev->site = site;
		ev->code = (int)nt.code;
		sanitize(ev->text, sizeof(ev->text), (const uint8_t *)nt.text, strlen(nt.text));
	}
	return FT_OK;
}

int ft_coord_engine_recv(ft_coord_engine *e, uint32_t site, unsigned type, uint64_t round,
                         uint32_t attempt, const uint8_t *payload, size_t len, uint64_t now_ms)
{
	eng_site *s;
	int rv;

	if (e == NULL || (len > 0 && payload == NULL))
		return FT_EINVAL;
	s = site_find(e, site);
	if (s == NULL)
		return FT_EPROTO;
	if (round != cur_round(e) || attempt != e->attempt)
		return FT_EREPLAY;
	switch (type) {
	case FT_WIRE_ROUND_ACCEPT:
	case FT_WIRE_ROUND_REFUSE:
		/* A site that accepted still checks the secure-aggregation CONFIG
		 * against the announcement and its own policy, and refuses it
		 * (once) if it fails: the operator sees why; the secure-aggregation
		 * server counts the site as dropped. */
		if (type == FT_WIRE_ROUND_REFUSE && e->state == ENG_SECAGG && s->rstate == RS_ACCEPTED) {
			rv = refusal_event(e, site, payload, len);
			if (rv == FT_OK)
				s->rstate = RS_REFUSED;
			return rv;
		}
		if (e->state != ENG_ACCEPT || s->rstate != RS_ANNOUNCED)
			return FT_ESTATE;
		if (type == FT_WIRE_ROUND_ACCEPT) {
			ft_wire_accept acc;

			if (ft_wire_accept_decode(payload, len, &acc) != FT_OK)
				return FT_EPROTO;
			/* The site must have trained from the model announced. */
			if (!ft_crypto_equal(acc.model_hash, e->hash, FT_CRYPTO_HASH_BYTES))
				return FT_EPROTO;
			s->rstate = RS_ACCEPTED;
		} else {
			rv = refusal_event(e, site, payload, len);
			if (rv != FT_OK)
				return rv;
			s->rstate = RS_REFUSED;
		}
		for (uint32_t i = 0; i < e->n_sites; i++)
			if (e->sites[i].rstate == RS_ANNOUNCED)
				return FT_OK;
		close_accept(e, now_ms);
		return FT_OK;
	case FT_WIRE_SECAGG: {
		ft_wire_secagg w;

		if (e->state != ENG_SECAGG)
			return FT_ESTATE;
		if (ft_wire_secagg_decode(payload, len, &w) != FT_OK)
			return FT_EPROTO;
		rv = ft_secagg_server_recv(e->sa, site, w.msg, w.len, now_ms);
		after_secagg(e, now_ms);
		return rv;
	}
	case FT_WIRE_PLAIN_UPDATE:
		return plain_recv(e, s, payload, len, now_ms);
	default:
		return FT_EPROTO;
	}
}

void ft_coord_engine_tick(ft_coord_engine *e, uint64_t now_ms)
{
	uint32_t n_up = 0;

	if (e == NULL || e->paused)
		return;
	switch (e->state) {
	case ENG_IDLE:
		if (now_ms < e->retry_at)
			return;
		for (uint32_t i = 0; i < e->n_sites; i++)
			n_up += e->sites[i].up != 0;
		if (n_up >= (e->run.min_sites < 2 ? 2 : e->run.min_sites) &&
		    (n_up == e->n_sites || now_ms >= e->retry_at + e->to.gather_ms))
			attempt_start(e, now_ms);
		return;
	case ENG_ACCEPT:
		if (now_ms >= e->deadline)
			close_accept(e, now_ms);
		return;
	case ENG_SECAGG:
		if (now_ms >= ft_secagg_server_deadline(e->sa)) {
			(void)ft_secagg_server_tick(e->sa, now_ms);
			after_secagg(e, now_ms);
		}
		return;
	case ENG_PLAIN:
		if (now_ms >= e->deadline)
			plain_finish(e, now_ms);
		return;
	default:
		return;
	}
}

uint64_t ft_coord_engine_deadline(const ft_coord_engine *e)
{
	if (e == NULL || e->paused)
		return UINT64_MAX;
	switch (e->state) {
	case ENG_IDLE:
		/* Also woken by site_up; the gather deadline is a fallback. */
		return e->retry_at + e->to.gather_ms;
	case ENG_ACCEPT:
	case ENG_PLAIN:
		return e->deadline;
	case ENG_SECAGG:
		return ft_secagg_server_deadline(e->sa);
	default:
		return UINT64_MAX;
	}
}

void ft_coord_engine_pause(ft_coord_engine *e, int paused, uint64_t now_ms)
{
	if (e == NULL)
		return;
	if (paused && (e->state == ENG_ACCEPT || e->state == ENG_SECAGG || e->state == ENG_PLAIN))
		attempt_close(e, FT_EABORT, now_ms, "run paused");
	e->paused = paused != 0;
	if (!paused)
		e->retry_at = now_ms;
}

int ft_coord_engine_next(ft_coord_engine *e, uint32_t *site, unsigned *type, uint64_t *round,
                         uint32_t *attempt, uint8_t **payload, size_t *len)
{
	eng_out *o;

	if (e == NULL || site == NULL || type == NULL || round == NULL || attempt == NULL ||
	    payload == NULL || len == NULL)
		return FT_EINVAL;
	o = e->out_head;
	if (o == NULL)
		return FT_ENOTFOUND;
	e->out_head = o->next;
	if (e->out_head == NULL)
		e->out_tail = NULL;
	*site = o->site;
	*type = o->type;
	*round = o->round;
	*attempt = o->attempt;
	*payload = o->payload;
	*len = o->len;
	ft_free(o);
	return FT_OK;
}

int ft_coord_engine_event(ft_coord_engine *e, ft_coord_event *ev)
{
	eng_ev *v;

	if (e == NULL || ev == NULL)
		return FT_EINVAL;
	v = e->ev_head;
	if (v == NULL)
		return FT_ENOTFOUND;
	e->ev_head = v->next;
	if (e->ev_head == NULL)
		e->ev_tail = NULL;
	*ev = v->ev;
	ft_free(v);
	return FT_OK;
}

int ft_coord_engine_complete(const ft_coord_engine *e)
{
	return e != NULL && e->state == ENG_DONE;
}

int ft_coord_model_set_ranges(const uint8_t *in, size_t in_len, const double *lo,
                              const double *hi, size_t p, double stats_epsilon, uint8_t **out,
                              size_t *out_len, ft_errmsg *err)
{
	ft_model *m = NULL;
	ft_model_meta *meta = NULL;
	int rv;

	if (in == NULL || lo == NULL || hi == NULL || out == NULL || out_len == NULL)
		return FT_EINVAL;
	if (!isfinite(stats_epsilon) || !(stats_epsilon > 0))
		return ft_errmsg_set(err, FT_EINVAL, "the statistics epsilon must be > 0");
	if (p > FT_COORD_STATS_MAX_FEATURES)
		return ft_errmsg_set(err, FT_ERANGE,
		                     "federated standardisation handles at most %u features",
		                     FT_COORD_STATS_MAX_FEATURES);
	for (size_t j = 0; j < p; j++)
		if (!isfinite(lo[j]) || !isfinite(hi[j]) || !(lo[j] < hi[j]))
			return ft_errmsg_set(err, FT_EINVAL, "feature %zu has an empty range", j + 1);
	rv = ft_model_decode(in, in_len, &m, &meta, err);
	if (rv != FT_OK)
		return rv;
	if (ft_model_get_spec(m)->n_features != p) {
		rv = ft_errmsg_set(err, FT_EINVAL, "%zu feature ranges for a model of %u features", p,
		                   ft_model_get_spec(m)->n_features);
		goto out;
	}
	if (meta == NULL)
		rv = ft_model_meta_alloc(&meta);
	if (rv == FT_OK)
		rv = ft_model_meta_set_vector(meta, "standardise.lo", lo, p);
	if (rv == FT_OK)
		rv = ft_model_meta_set_vector(meta, "standardise.hi", hi, p);
	if (rv == FT_OK)
		rv = ft_model_meta_set_double(meta, "standardise.epsilon", stats_epsilon);
	if (rv == FT_OK)
		rv = ft_model_encode(m, meta, out, out_len);
	if (rv != FT_OK)
		ft_errmsg_set(err, rv, "the model cannot carry the feature ranges");
out:
	ft_model_meta_free(meta);
	ft_model_free(m);
	return rv;
}

int ft_coord_initial_model(const ft_model_spec *spec, uint64_t run, const uint8_t seed[32],
                           uint8_t **buf, size_t *len, ft_errmsg *err)
{
	ft_model *m = NULL;
	ft_model_meta *meta = NULL;
	char name[32];
	int rv;

	rv = ft_model_alloc(spec, &m, err);
	if (rv != FT_OK)
		return rv;
	rv = ft_model_init(m, seed);
	if (rv == FT_OK)
		rv = ft_model_meta_alloc(&meta);
	snprintf(name, sizeof(name), "run-%llu", (unsigned long long)run);
	if (rv == FT_OK)
		rv = ft_model_meta_set_str(meta, "run", name);
	if (rv == FT_OK)
		rv = ft_model_meta_set_int(meta, "version", 0);
	if (rv == FT_OK)
		rv = ft_model_encode(m, meta, buf, len);
	ft_model_meta_free(meta);
	ft_model_free(m);
	return rv;
}
