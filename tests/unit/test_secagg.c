/*
 * test_secagg.c - secure aggregation end to end: in-process rounds with up
 * to 100 sites and drop-outs at every phase (the sum must be exact, or the
 * round must abort when too many drop), a lying server, and hostile
 * messages of every kind.
 */
#include "secagg_sim.h"

/* splitmix64: reproducible test randomness (the seed is printed). */
static uint64_t rng_state;
static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}
static uint32_t rng_below(uint32_t m)
{
	return (uint32_t)(rng_next() % m);
}

static void test_full_graph_no_dropout(void **state)
{
	sim s;

	(void)state;
	sim_init(&s, 5, 4, 3, 100, 32, 7, 0);
	sim_start(&s);
	sim_run(&s);
	assert_int_equal(ft_secagg_server_phase(s.srv), FT_SECAGG_DONE);
	sim_check_sum(&s);
	for (uint32_t i = 0; i < s.n; i++)
		assert_int_equal(ft_secagg_client_phase(s.cl[i]), FT_SECAGG_DONE);
	sim_free(&s);
}

/* Small secure sums (a sample count, a few metrics) use the same machinery. */
static void test_tiny_vectors(void **state)
{
	sim s;

	(void)state;
	sim_init(&s, 3, 2, 2, 1, 16, 1, 0);
	sim_start(&s);
	sim_run(&s);
	assert_int_equal(ft_secagg_server_phase(s.srv), FT_SECAGG_DONE);
	sim_check_sum(&s);
	sim_free(&s);

	sim_init(&s, 6, 5, 3, 3, 20, 2, 0);
	s.drop_at[1] = FT_SECAGG_CHECK; /* drops right after uploading */
	s.drop_at[2] = FT_SECAGG_UPLOAD;
	sim_start(&s);
	sim_run(&s);
	assert_int_equal(ft_secagg_server_phase(s.srv), FT_SECAGG_DONE);
	sim_check_sum(&s);
	sim_free(&s);
}

/* With the full graph the outcome follows from the drop-out counts alone. */
static int predict_full(const sim *s)
{
	uint32_t u[7] = {0};

	/* A site dropping "at" phase p sent every message of the phases before;
	 * the unmasking answer is sent from the DONE phase (6). */
	for (uint32_t i = 0; i < s->n; i++) {
		for (int p = 2; p <= 5; p++)
			u[p] += s->drop_at[i] >= p;
		u[6] += s->drop_at[i] > FT_SECAGG_DONE;
	}
	/* Each site needs t neighbours' shares (u[3] - 1 others) to mask, and t
	 * neighbours' signatures (u[5] - 1 others, its own does not count) to
	 * unmask; on the full graph every site sees the same counts. */
	if (u[2] < s->cfg.t + 1 || u[3] < s->cfg.t + 1 || u[4] < s->cfg.t || u[5] < s->cfg.t + 1)
		return FT_SECAGG_ABORTED;
	for (uint32_t j = 0; j < s->n; j++) {
		if (s->drop_at[j] < 3)
			continue;
		if (u[6] - (s->drop_at[j] > FT_SECAGG_DONE) < s->cfg.t)
			return FT_SECAGG_ABORTED;
	}
	return FT_SECAGG_DONE;
}

static void test_random_dropouts_full_graph(void **state)
{
	int done = 0, aborted = 0;

	(void)state;
	for (uint64_t seed = 1; seed <= 40; seed++) {
		sim s;
		uint32_t n, t, d;
		int pdrop;

		rng_state = seed;
		n = 3 + rng_below(14);
		t = (n - 1) / 2 + 1 + rng_below(n - 1 - (n - 1) / 2);
		d = 64 + rng_below(200);
		pdrop = (int)rng_below(35);
		sim_init(&s, n, n - 1, t, d, 16 + rng_below(17), 1 + rng_below(80), 0);
		for (uint32_t i = 0; i < n; i++)
			if ((int)rng_below(100) < pdrop)
				s.drop_at[i] = 1 + (int)rng_below(6);
		sim_start(&s);
		sim_run(&s);
		if ((int)ft_secagg_server_phase(s.srv) != predict_full(&s))
		{
			for (uint32_t i = 0; i < n; i++)
				print_message("site %u drops at %d\n", i, s.drop_at[i]);
			fail_msg("seed %llu: n=%u t=%u: unexpected outcome %d", (unsigned long long)seed,
			         n, t, (int)ft_secagg_server_phase(s.srv));
		}
		if (ft_secagg_server_phase(s.srv) == FT_SECAGG_DONE) {
			sim_check_sum(&s);
			done++;
		} else {
			const uint32_t *sum, *surv;
			size_t dd;
			uint32_t ns;
			const char *why;

			assert_int_equal(ft_secagg_server_result(s.srv, &sum, &dd, &surv, &ns), FT_ESTATE);
			assert_int_not_equal(ft_secagg_server_abort_reason(s.srv, &why), FT_OK);
			assert_true(strlen(why) > 0);
			aborted++;
		}
		sim_free(&s);
	}
	/* The seeds cover both outcomes. */
	assert_true(done > 10);
	assert_true(aborted > 2);
}

/* The protocol's set rules (PROTOCOL.md, "Phases and survivor sets") on the
 * public graph: the expected outcome and survivor set of a round. */
static int predict_graph(const sim *s, int *in_u3)
{
	ft_secagg_graph *g = NULL;
	uint32_t n = s->n, t = s->cfg.t, cnt[8] = {0};
	int *u1 = calloc(n, sizeof(int)), changed = 1, outcome = FT_SECAGG_DONE;
	int *sent = calloc(n, sizeof(int)), *signer = calloc(n, sizeof(int));
	int *answers = calloc(n, sizeof(int));

	assert_int_equal(ft_secagg_graph_alloc(s->cfg.seed, n, s->cfg.k, &g), FT_OK);
	for (uint32_t i = 0; i < n; i++)
		u1[i] = s->drop_at[i] >= 2;
	while (changed) {
		changed = 0;
		for (uint32_t i = 0; i < n; i++) {
			uint32_t live = 0;

			for (uint32_t j = 0; j < n; j++)
				live += u1[i] && u1[j] && ft_secagg_graph_adjacent(g, i, j);
			if (u1[i] && live < t) {
				u1[i] = 0;
				changed = 1;
			}
		}
	}
	/* A site masks only if t neighbours' shares reached it (else it aborts
	 * and never uploads), and answers the unmasking only if t neighbours
	 * (not itself) signed the survivor set. */
	for (uint32_t i = 0; i < n; i++)
		sent[i] = u1[i] && s->drop_at[i] >= 3;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t nb = 0;

		for (uint32_t j = 0; j < n; j++)
			nb += sent[j] && ft_secagg_graph_adjacent(g, i, j);
		in_u3[i] = sent[i] && nb >= t && s->drop_at[i] >= 4;
	}
	for (uint32_t i = 0; i < n; i++)
		signer[i] = in_u3[i] && s->drop_at[i] >= 5;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t nb = 0;

		for (uint32_t j = 0; j < n; j++)
			nb += signer[j] && ft_secagg_graph_adjacent(g, i, j);
		answers[i] = signer[i] && nb >= t && s->drop_at[i] > FT_SECAGG_DONE;
	}
	for (uint32_t i = 0; i < n; i++) {
		cnt[1] += (uint32_t)u1[i];
		cnt[2] += (uint32_t)sent[i];
		cnt[3] += (uint32_t)in_u3[i];
		cnt[4] += (uint32_t)signer[i];
	}
	if (cnt[1] < t + 1 || cnt[2] < t + 1 || cnt[3] < t || cnt[4] < t)
		outcome = FT_SECAGG_ABORTED;
	for (uint32_t j = 0; j < n && outcome == FT_SECAGG_DONE; j++) {
		uint32_t holders = 0, surv_nb = 0;

		if (!sent[j])
			continue;
		for (uint32_t i = 0; i < n; i++) {
			if (!ft_secagg_graph_adjacent(g, i, j) || !u1[i])
				continue;
			holders += (uint32_t)answers[i];
			surv_nb += (uint32_t)in_u3[i];
		}
		if ((in_u3[j] || surv_nb > 0) && holders < t)
			outcome = FT_SECAGG_ABORTED;
	}
	ft_secagg_graph_free(g);
	free(u1);
	free(sent);
	free(signer);
	free(answers);
	return outcome;
}

/* SecAgg+ on sparse graphs, drop-outs at random phases, many seeds: the
 * outcome and the survivors are what the rules say, the sum is exact. */
static void test_random_dropouts_sparse_graph(void **state)
{
	int done = 0, aborted = 0;

	(void)state;
	for (uint64_t seed = 1000; seed < 1012; seed++) {
		sim s;
		uint32_t n, k, t;
		int pdrop, *in_u3;

		rng_state = seed;
		n = 25 + rng_below(36);
		assert_int_equal(ft_secagg_params(n, 0.15, 0.05, 40, 30, &k, &t), FT_OK);
		pdrop = 5 + (int)rng_below(40);
		sim_init(&s, n, k, t, 64 + rng_below(64), 24, 1 + rng_below(64), 0);
		/* The graph follows from the test seed, so a failure can be replayed. */
		for (int i = 0; i < 32; i++)
			s.cfg.seed[i] = (uint8_t)rng_next();
		for (uint32_t i = 0; i < n; i++)
			if ((int)rng_below(100) < pdrop)
				s.drop_at[i] = 1 + (int)rng_below(6);
		in_u3 = calloc(n, sizeof(int));
		sim_start(&s);
		sim_run(&s);
		if ((int)ft_secagg_server_phase(s.srv) != predict_graph(&s, in_u3))
			fail_msg("seed %llu: n=%u k=%u t=%u: unexpected outcome %d", (unsigned long long)seed,
			         n, k, t, (int)ft_secagg_server_phase(s.srv));
		if (ft_secagg_server_phase(s.srv) == FT_SECAGG_DONE) {
			const uint32_t *sum, *surv;
			size_t d;
			uint32_t ns, w = 0;

			assert_int_equal(ft_secagg_server_result(s.srv, &sum, &d, &surv, &ns), FT_OK);
			for (uint32_t i = 0; i < n; i++)
				if (in_u3[i])
					assert_int_equal(surv[w++], s.sites[i].id);
			assert_int_equal(w, ns);
			for (uint32_t j = 0; j < d; j++) {
				uint32_t want = 0;

				for (uint32_t i = 0; i < n; i++)
					if (in_u3[i])
						want += s.x[i][j];
				assert_int_equal(sum[j], want & sim_mask(24));
			}
			done++;
		} else {
			aborted++;
		}
		free(in_u3);
		sim_free(&s);
	}
	assert_true(done >= 3);
	assert_true(aborted >= 1);
}

/* SecAgg+ with 100 sites on a sparse graph chosen for 10% drop-outs. */
static void test_sparse_graph_100_sites(void **state)
{
	uint32_t k, t;

	(void)state;
	assert_int_equal(ft_secagg_params(100, 0.1, 0.05, 40, 30, &k, &t), FT_OK);
	assert_true(k < 99);
	for (uint64_t seed = 100; seed < 102; seed++) {
		sim s;

		rng_state = seed;
		sim_init(&s, 100, k, t, 64 + rng_below(100), 24, 50, 0);
		for (int i = 0; i < 32; i++)
			s.cfg.seed[i] = (uint8_t)rng_next();
		for (uint32_t m = 0; m < 10; m++)
			s.drop_at[rng_below(100)] = 1 + (int)rng_below(6);
		sim_start(&s);
		sim_run(&s);
		if (ft_secagg_server_phase(s.srv) != FT_SECAGG_DONE)
			fail_msg("seed %llu: round did not finish", (unsigned long long)seed);
		sim_check_sum(&s);
		sim_free(&s);
	}
}

static void test_too_many_dropouts_abort(void **state)
{
	uint32_t k, t;
	sim s;
	const char *why;
	const uint32_t *sum, *surv;
	size_t d;
	uint32_t ns;

	(void)state;
	/* 60 of 100 drop after the shares: no t survivors among neighbours. */
	assert_int_equal(ft_secagg_params(100, 0.1, 0.05, 40, 30, &k, &t), FT_OK);
	sim_init(&s, 100, k, t, 64, 24, 64, 0);
	for (uint32_t i = 0; i < 60; i++)
		s.drop_at[i] = FT_SECAGG_UPLOAD;
	sim_start(&s);
	sim_run(&s);
	assert_int_equal(ft_secagg_server_phase(s.srv), FT_SECAGG_ABORTED);
	assert_int_equal(ft_secagg_server_abort_reason(s.srv, &why), FT_EABORT);
	assert_int_equal(ft_secagg_server_result(s.srv, &sum, &d, &surv, &ns), FT_ESTATE);
	/* The survivors were told. */
	for (uint32_t i = 60; i < 100; i++)
		assert_true(ft_secagg_client_phase(s.cl[i]) >= FT_SECAGG_DONE);
	sim_free(&s);

	/* Full graph: too few answer the unmasking request. */
	sim_init(&s, 6, 5, 4, 32, 32, 32, 0);
	s.drop_at[0] = s.drop_at[1] = s.drop_at[2] = FT_SECAGG_DONE;
	sim_start(&s);
	sim_run(&s);
	assert_int_equal(ft_secagg_server_phase(s.srv), FT_SECAGG_ABORTED);
	assert_int_equal(ft_secagg_server_abort_reason(s.srv, &why), FT_EABORT);
	assert_non_null(strstr(why, "shares"));
	sim_free(&s);
}

/* A site cut off in the middle of its upload cannot be taken out of the
 * accumulator: the round aborts (to be retried) instead of a wrong sum. */
static void test_partial_upload_aborts(void **state)
{
	sim s;
	const char *why;

	(void)state;
	sim_init(&s, 5, 4, 3, 100, 32, 10, 0);
	s.drop_after_chunks[2] = 3;
	sim_start(&s);
	sim_run(&s);
	assert_int_equal(ft_secagg_server_phase(s.srv), FT_SECAGG_ABORTED);
	assert_int_equal(ft_secagg_server_abort_reason(s.srv, &why), FT_EABORT);
	assert_non_null(strstr(why, "stopped uploading"));
	sim_free(&s);
}

/* ---- Messages built by hand (a hostile server or client) ------------------ */

static uint8_t *mk_msg(const ft_crypto_ctx *ctx, uint8_t type, uint32_t sender, size_t blen,
                       uint8_t **body)
{
	uint8_t *m = calloc(1, FT_SECAGG_HDR_BYTES + blen + 1);

	assert_non_null(m);
	m[0] = FT_SECAGG_VERSION;
	m[1] = type;
	memcpy(m + 2, ctx->consortium, 32);
	ft_put_le64(m + 34, ctx->run);
	ft_put_le64(m + 42, ctx->round);
	ft_put_le32(m + 50, ctx->attempt);
	ft_put_le32(m + 54, sender);
	*body = m + FT_SECAGG_HDR_BYTES;
	return m;
}

static uint8_t *dup_msg(const uint8_t *m, size_t len)
{
	uint8_t *c = malloc(len + 1);

	assert_non_null(c);
	memcpy(c, m, len);
	return c;
}

/* ---- A lying server ------------------------------------------------------- */

typedef struct liar {
	uint32_t victim;      /* site index */
	uint32_t *y;          /* the victim's masked input, as uploaded */
	uint8_t s_pk[16][32]; /* every site's s public key, from KEYS */
} liar;

static int liar_hook(sim *s, uint32_t from, uint32_t to, const uint8_t *msg, size_t len)
{
	liar *L = s->user;
	ft_secagg_hdr h;

	(void)to;
	assert_int_equal(ft_secagg_hdr_decode(msg, len, &h), FT_OK);
	if (h.type == FT_SECAGG_MSG_MASKED && from == s->sites[L->victim].id) {
		uint32_t off = ft_get_le32(msg + FT_SECAGG_HDR_BYTES);
		uint32_t cnt = ft_get_le32(msg + FT_SECAGG_HDR_BYTES + 4);

		for (uint32_t j = 0; j < cnt; j++)
			L->y[off + j] = ft_get_le32(msg + FT_SECAGG_HDR_BYTES + 8 + 4 * j);
	}
	if (h.type == FT_SECAGG_MSG_KEYS) {
		uint32_t m = ft_get_le32(msg + FT_SECAGG_HDR_BYTES);

		for (uint32_t e = 0; e < m; e++) {
			const uint8_t *p = msg + FT_SECAGG_HDR_BYTES + 4 + e * 164;

			memcpy(L->s_pk[sim_index(s, ft_get_le32(p))], p + 36, 32);
		}
	}
	/* From the consistency check on, the test plays the server itself. */
	return h.type == FT_SECAGG_MSG_CHECK || h.type == FT_SECAGG_MSG_ABORT;
}

static void test_lying_server(void **state)
{
	enum { N = 6, D = 64 };
	sim s;
	liar L;
	uint8_t *m, *b, *out;
	size_t len;
	uint32_t u3[N], nu3 = 0, nsig = 0, v;
	uint8_t sigs[N][68];
	ft_crypto_share sh[N];
	uint32_t nsh = 0;
	uint8_t seed[32], pair[32], scratch[32];
	ft_crypto_kx *kx = NULL;
	uint32_t *z;
	int same = 0;

	(void)state;
	memset(&L, 0, sizeof(L));
	sim_init(&s, N, N - 1, 3, D, 32, 16, 0);
	L.victim = 0;
	L.y = calloc(D, sizeof(uint32_t));
	s.user = &L;
	s.hook = liar_hook;
	v = s.sites[L.victim].id;
	sim_start(&s);
	sim_run(&s);
	/* Every site uploaded; the CHECK never arrived. */
	for (uint32_t i = 0; i < N; i++)
		assert_int_equal(ft_secagg_client_phase(s.cl[i]), FT_SECAGG_UPLOAD);

	/* The lie: "the victim dropped", told consistently to everyone else. */
	for (uint32_t i = 0; i < N; i++)
		if (i != L.victim)
			u3[nu3++] = s.sites[i].id;
	for (uint32_t i = 0; i < N; i++) {
		if (i == L.victim)
			continue;
		m = mk_msg(&s.cfg.ctx, FT_SECAGG_MSG_CHECK, FT_SECAGG_SERVER_ID, 4 + 4 * nu3, &b);
		ft_put_le32(b, nu3);
		for (uint32_t j = 0; j < nu3; j++)
			ft_put_le32(b + 4 + 4 * j, u3[j]);
		assert_int_equal(ft_secagg_client_recv(s.cl[i], m, FT_SECAGG_HDR_BYTES + 4 + 4 * nu3, 0),
		                 FT_OK);
		free(m);
		assert_int_equal(ft_secagg_client_next(s.cl[i], &out, &len), FT_OK);
		ft_put_le32(sigs[nsig], s.sites[i].id);
		memcpy(sigs[nsig++] + 4, out + FT_SECAGG_HDR_BYTES, 64);
		ft_free(out);
	}
	for (uint32_t i = 0; i < N; i++) {
		if (i == L.victim)
			continue;
		m = mk_msg(&s.cfg.ctx, FT_SECAGG_MSG_CHECK_SIGS, FT_SECAGG_SERVER_ID, 4 + 68 * nsig, &b);
		ft_put_le32(b, nsig);
		memcpy(b + 4, sigs, 68 * nsig);
		assert_int_equal(ft_secagg_client_recv(s.cl[i], m, FT_SECAGG_HDR_BYTES + 4 + 68 * nsig, 0),
		                 FT_OK);
		free(m);
	}
	/* Site 1 is asked for both shares of the victim; site 2 for its b share
	 * although the victim is "dropped": both refuse and abort. */
	m = mk_msg(&s.cfg.ctx, FT_SECAGG_MSG_UNMASK_REQ, FT_SECAGG_SERVER_ID, 4 + 10, &b);
	ft_put_le32(b, 2);
	ft_put_le32(b + 4, v);
	b[8] = 1;
	ft_put_le32(b + 9, v);
	b[13] = 2;
	assert_int_equal(ft_secagg_client_recv(s.cl[1], m, FT_SECAGG_HDR_BYTES + 14, 0), FT_EPERM);
	assert_int_equal(ft_secagg_client_phase(s.cl[1]), FT_SECAGG_ABORTED);
	assert_int_equal(ft_secagg_client_next(s.cl[1], &out, &len), FT_ENOTFOUND);
	ft_put_le32(b, 1);
	assert_int_equal(ft_secagg_client_recv(s.cl[2], m, FT_SECAGG_HDR_BYTES + 9, 0), FT_EPERM);
	assert_int_equal(ft_secagg_client_phase(s.cl[2]), FT_SECAGG_ABORTED);
	assert_int_equal(ft_secagg_client_next(s.cl[2], &out, &len), FT_ENOTFOUND);
	free(m);
	/* Sites 3..5 are asked, consistently with the lie, for the victim's s
	 * share: they give it (that is all the protocol lets the server have). */
	for (uint32_t i = 3; i < N; i++) {
		m = mk_msg(&s.cfg.ctx, FT_SECAGG_MSG_UNMASK_REQ, FT_SECAGG_SERVER_ID, 9, &b);
		ft_put_le32(b, 1);
		ft_put_le32(b + 4, v);
		b[8] = 2;
		assert_int_equal(ft_secagg_client_recv(s.cl[i], m, FT_SECAGG_HDR_BYTES + 9, 0), FT_OK);
		free(m);
		assert_int_equal(ft_secagg_client_next(s.cl[i], &out, &len), FT_OK);
		assert_int_equal(len, FT_SECAGG_HDR_BYTES + 4 + 73);
		assert_int_equal(ft_get_le32(out + FT_SECAGG_HDR_BYTES + 4), v);
		assert_int_equal(out[FT_SECAGG_HDR_BYTES + 8], 2);
		sh[nsh].x = ft_get_le32(out + FT_SECAGG_HDR_BYTES + 9);
		memcpy(sh[nsh++].value, out + FT_SECAGG_HDR_BYTES + 13, 64);
		ft_free(out);
	}
	/* The server now holds t shares of the victim's s seed, no b share, and
	 * the victim's masked input. Removing the pairwise masks leaves
	 * x + PRG(b): nothing about x. */
	assert_int_equal(ft_crypto_shamir_combine(sh, nsh, 3, seed), FT_OK);
	assert_int_equal(ft_crypto_kx_from_seed(seed, &kx), FT_OK);
	assert_memory_equal(ft_crypto_kx_pk(kx), L.s_pk[L.victim], 32);
	z = calloc(D, sizeof(uint32_t));
	memcpy(z, L.y, D * sizeof(uint32_t));
	for (uint32_t i = 0; i < N; i++) {
		if (i == L.victim)
			continue;
		assert_int_equal(ft_crypto_kx_derive(kx, v, L.s_pk[i], s.sites[i].id, &s.cfg.ctx, pair,
		                                     scratch),
		                 FT_OK);
		assert_int_equal(ft_crypto_mask_apply(pair, z, D, 0, 32,
		                                      s.sites[i].id > v ? -1 : +1),
		                 FT_OK);
	}
	for (uint32_t j = 0; j < D; j++)
		same += z[j] == s.x[L.victim][j];
	assert_true(same <= 1);
	ft_crypto_kx_free(kx);
	free(z);
	free(L.y);
	sim_free(&s);
}

/* A server that tells two groups different survivor sets cannot pass the
 * consistency check with either: signatures on the other group's set do
 * not verify, and one group alone has fewer than t signers. */
static void test_split_survivor_views(void **state)
{
	enum { N = 6, D = 16 };
	sim s;
	liar L;
	uint8_t *m, *b, *out;
	size_t len;
	uint32_t full[N], part[N], nfull = 0, npart = 0;
	uint8_t sigs_full[N][68], sigs_part[N][68];
	uint32_t nsf = 0, nsp = 0;

	(void)state;
	memset(&L, 0, sizeof(L));
	sim_init(&s, N, N - 1, 4, D, 32, 16, 0);
	L.victim = 0;
	L.y = calloc(D, sizeof(uint32_t));
	s.user = &L;
	s.hook = liar_hook;
	sim_start(&s);
	sim_run(&s);
	for (uint32_t i = 0; i < N; i++) {
		full[nfull++] = s.sites[i].id;
		if (i != L.victim)
			part[npart++] = s.sites[i].id;
	}
	/* Sites 1-3 hear "everyone survived", sites 4-5 "the victim dropped". */
	for (uint32_t i = 1; i < N; i++) {
		const uint32_t *ids = i <= 3 ? full : part;
		uint32_t nid = i <= 3 ? nfull : npart;

		m = mk_msg(&s.cfg.ctx, FT_SECAGG_MSG_CHECK, FT_SECAGG_SERVER_ID, 4 + 4 * nid, &b);
		ft_put_le32(b, nid);
		for (uint32_t j = 0; j < nid; j++)
			ft_put_le32(b + 4 + 4 * j, ids[j]);
		assert_int_equal(ft_secagg_client_recv(s.cl[i], m, FT_SECAGG_HDR_BYTES + 4 + 4 * nid, 0),
		                 FT_OK);
		free(m);
		assert_int_equal(ft_secagg_client_next(s.cl[i], &out, &len), FT_OK);
		if (i <= 3) {
			ft_put_le32(sigs_full[nsf], s.sites[i].id);
			memcpy(sigs_full[nsf++] + 4, out + FT_SECAGG_HDR_BYTES, 64);
		} else {
			ft_put_le32(sigs_part[nsp], s.sites[i].id);
			memcpy(sigs_part[nsp++] + 4, out + FT_SECAGG_HDR_BYTES, 64);
		}
		ft_free(out);
	}
	/* Group 2 shown group 1's signatures (valid ones, on another set). */
	for (uint32_t i = 4; i < N; i++) {
		uint8_t both[N][68];
		uint32_t nb = 0;

		memcpy(both[nb++], sigs_full[0], 68);
		memcpy(both[nb++], sigs_full[1], 68);
		memcpy(both[nb++], sigs_full[2], 68);
		memcpy(both[nb++], sigs_part[0], 68);
		memcpy(both[nb++], sigs_part[1], 68);
		m = mk_msg(&s.cfg.ctx, FT_SECAGG_MSG_CHECK_SIGS, FT_SECAGG_SERVER_ID, 4 + 68 * nb, &b);
		ft_put_le32(b, nb);
		memcpy(b + 4, both, 68 * nb);
		assert_int_equal(ft_secagg_client_recv(s.cl[i], m, FT_SECAGG_HDR_BYTES + 4 + 68 * nb, 0),
		                 FT_ECRYPTO);
		free(m);
		/* Its own group's signatures only: 2 < t. */
		m = mk_msg(&s.cfg.ctx, FT_SECAGG_MSG_CHECK_SIGS, FT_SECAGG_SERVER_ID, 4 + 68 * nsp, &b);
		ft_put_le32(b, nsp);
		memcpy(b + 4, sigs_part, 68 * nsp);
		assert_int_equal(ft_secagg_client_recv(s.cl[i], m, FT_SECAGG_HDR_BYTES + 4 + 68 * nsp, 0),
		                 FT_ECRYPTO);
		free(m);
		/* Without a passed check, no share is released. */
		m = mk_msg(&s.cfg.ctx, FT_SECAGG_MSG_UNMASK_REQ, FT_SECAGG_SERVER_ID, 9, &b);
		ft_put_le32(b, 1);
		ft_put_le32(b + 4, s.sites[L.victim].id);
		b[8] = 2;
		assert_int_equal(ft_secagg_client_recv(s.cl[i], m, FT_SECAGG_HDR_BYTES + 9, 0), FT_ESTATE);
		free(m);
		assert_int_equal(ft_secagg_client_next(s.cl[i], &out, &len), FT_ENOTFOUND);
	}
	free(L.y);
	sim_free(&s);
}

/* Share holders who all add 1 to their shares of a survivor's b shift the
 * reconstructed b by 1 (still a valid secret): without the signed
 * commitment to b the server would publish a wrong sum. It aborts instead. */
static int shift_hook(sim *s, uint32_t from, uint32_t to, const uint8_t *msg, size_t len)
{
	ft_secagg_hdr h;
	uint8_t *m = (uint8_t *)msg; /* the loop's own buffer: edited in place */

	(void)from;
	(void)to;
	assert_int_equal(ft_secagg_hdr_decode(msg, len, &h), FT_OK);
	if (h.type == FT_SECAGG_MSG_UNMASK) {
		uint32_t cnt = ft_get_le32(m + FT_SECAGG_HDR_BYTES);

		for (uint32_t e = 0; e < cnt; e++) {
			uint8_t *p = m + FT_SECAGG_HDR_BYTES + 4 + e * 73;

			if (ft_get_le32(p) != s->sites[0].id || p[4] != 1)
				continue;
			/* +1 to the low-half scalar (little-endian, < L: no wrap in
			 * practice). */
			for (int i = 9; i < 9 + 32 && ++p[i] == 0; i++)
				;
		}
	}
	return 0;
}

static void test_shifted_shares_detected(void **state)
{
	sim s;
	const char *why;

	(void)state;
	sim_init(&s, 5, 4, 3, 32, 32, 32, 0);
	s.hook = shift_hook;
	sim_start(&s);
	sim_run(&s);
	assert_int_equal(ft_secagg_server_phase(s.srv), FT_SECAGG_ABORTED);
	assert_int_equal(ft_secagg_server_abort_reason(s.srv, &why), FT_ECRYPTO);
	assert_non_null(strstr(why, "committed"));
	sim_free(&s);
}

/* ---- Unmasking: which shares the server uses -------------------------------- */

/* Holds back every UNMASK answer until the last live site's arrives, then
 * delivers them newest first: each site's shares arrive with the largest
 * points first, and the server's choice of points and cached weights must
 * not depend on that order. */
typedef struct reorder {
	uint8_t *held[16];
	size_t len[16];
	uint32_t from[16];
	uint32_t n_held, last, delivered;
} reorder;

static int reorder_hook(sim *s, uint32_t from, uint32_t to, const uint8_t *msg, size_t len)
{
	reorder *R = s->user;
	ft_secagg_hdr h;

	assert_int_equal(ft_secagg_hdr_decode(msg, len, &h), FT_OK);
	if (to != FT_SECAGG_SERVER_ID || h.type != FT_SECAGG_MSG_UNMASK)
		return 0;
	assert_true(R->n_held < 16);
	R->held[R->n_held] = dup_msg(msg, len);
	R->len[R->n_held] = len;
	R->from[R->n_held] = from;
	R->n_held++;
	if (from != R->last)
		return 1;
	for (uint32_t i = R->n_held; i-- > 0;) {
		assert_int_equal(ft_secagg_server_recv(s->srv, R->from[i], R->held[i], R->len[i], s->now),
		                 FT_OK);
		free(R->held[i]);
		R->delivered++;
	}
	R->n_held = 0;
	return 1;
}

static void test_unmask_answers_in_any_order(void **state)
{
	sim s;
	reorder R;

	(void)state;
	memset(&R, 0, sizeof(R));
	/* Full graph: every owner numbers its holders differently, so the
	 * owners' point sets differ; two sites drop before uploading (their
	 * s keys are rebuilt) and two never answer the unmasking request. */
	sim_init(&s, 12, 11, 7, 200, 32, 64, 0);
	s.drop_at[4] = FT_SECAGG_UPLOAD;
	s.drop_at[8] = FT_SECAGG_UPLOAD;
	s.drop_at[2] = FT_SECAGG_UNMASK;
	s.drop_at[10] = FT_SECAGG_UNMASK;
	R.last = s.sites[11].id;
	s.hook = reorder_hook;
	s.user = &R;
	sim_start(&s);
	sim_run(&s);
	assert_int_equal(R.n_held, 0);
	assert_int_equal(R.delivered, 8); /* the 8 sites in U3 that answer */
	assert_int_equal(ft_secagg_server_phase(s.srv), FT_SECAGG_DONE);
	sim_check_sum(&s);
	sim_free(&s);
}

/* A holder that claims another holder's evaluation point gives a repeated
 * x or a wrong interpolation: the server aborts, it never publishes. */
static int point_lie_hook(sim *s, uint32_t from, uint32_t to, const uint8_t *msg, size_t len)
{
	ft_secagg_hdr h;
	uint8_t *m = (uint8_t *)msg; /* the loop's own buffer: edited in place */
	int *mode = s->user;

	(void)to;
	assert_int_equal(ft_secagg_hdr_decode(msg, len, &h), FT_OK);
	if (h.type != FT_SECAGG_MSG_UNMASK || from != s->sites[3].id)
		return 0;
	for (uint32_t e = 0; e < ft_get_le32(m + FT_SECAGG_HDR_BYTES); e++) {
		uint8_t *p = m + FT_SECAGG_HDR_BYTES + 4 + e * 73;

		/* site 3 is site 0's holder x = 3 of 4 */
		if (ft_get_le32(p) == s->sites[0].id)
			ft_put_le32(p + 5, *mode == 0 ? 1u : 4u);
	}
	return 0;
}

static void test_unmask_point_lie_aborts(void **state)
{
	(void)state;
	for (int mode = 0; mode < 2; mode++) {
		sim s;
		const char *why;

		sim_init(&s, 5, 4, 3, 32, 32, 32, 0);
		s.hook = point_lie_hook;
		s.user = &mode;
		sim_start(&s);
		sim_run(&s);
		assert_int_equal(ft_secagg_server_phase(s.srv), FT_SECAGG_ABORTED);
		assert_int_equal(ft_secagg_server_abort_reason(s.srv, &why), FT_ECRYPTO);
		assert_non_null(strstr(why, "site 100"));
		sim_free(&s);
	}
}

/* ---- Hostile messages ----------------------------------------------------- */

typedef struct hostile {
	int checks;
	uint8_t *adv0;   /* site 0's ADVERTISE, for a replay */
	size_t adv0_len;
	uint8_t *cfg0;   /* site 0's CONFIG, for a replay */
	size_t cfg0_len;
	int seen[16];
} hostile;

#define EXPECT_SRV(s_, from_, m_, l_, code_)                                                  \
	do {                                                                                   \
		assert_int_equal(ft_secagg_server_recv((s_)->srv, (from_), (m_), (l_), (s_)->now), \
		                 (code_));                                                         \
		H->checks++;                                                                   \
	} while (0)
#define EXPECT_CL(c_, m_, l_, code_)                                                          \
	do {                                                                                   \
		assert_int_equal(ft_secagg_client_recv((c_), (m_), (l_), 0), (code_));            \
		H->checks++;                                                                   \
	} while (0)

static int hostile_to_server(sim *s, hostile *H, uint32_t from, const uint8_t *msg, size_t len,
                             uint8_t type)
{
	uint8_t *c = dup_msg(msg, len);
	const size_t B = FT_SECAGG_HDR_BYTES;

	switch (type) {
	case FT_SECAGG_MSG_ADVERTISE:
		c[B + 100] ^= 1; /* forged signature */
		EXPECT_SRV(s, from, c, len, FT_ECRYPTO);
		c[B + 100] ^= 1;
		c[B] ^= 1; /* key swapped under a valid signature */
		EXPECT_SRV(s, from, c, len, FT_ECRYPTO);
		c[B] ^= 1;
		ft_put_le32(c + 50, s->cfg.ctx.attempt + 1); /* another attempt */
		EXPECT_SRV(s, from, c, len, FT_EREPLAY);
		ft_put_le32(c + 50, s->cfg.ctx.attempt);
		ft_put_le64(c + 42, s->cfg.ctx.round - 1); /* an earlier round */
		EXPECT_SRV(s, from, c, len, FT_EREPLAY);
		ft_put_le64(c + 42, s->cfg.ctx.round);
		EXPECT_SRV(s, from + 3, c, len, FT_EPROTO);   /* not the authenticated peer */
		EXPECT_SRV(s, from, c, len - 1, FT_EPROTO);   /* truncated */
		EXPECT_SRV(s, from, c, 10, FT_EPROTO);        /* shorter than a header */
		c[1] = FT_SECAGG_MSG_MASKED;                  /* out of phase */
		EXPECT_SRV(s, from, c, len, FT_ESTATE);
		c[1] = FT_SECAGG_MSG_KEYS;                    /* a server-to-client type */
		EXPECT_SRV(s, from, c, len, FT_EPROTO);
		c[1] = FT_SECAGG_MSG_ADVERTISE;
		EXPECT_SRV(s, from, c, len, FT_OK);
		EXPECT_SRV(s, from, c, len, FT_EEXIST);      /* duplicate */
		H->adv0 = c;
		H->adv0_len = len;
		return 1;
	case FT_SECAGG_MSG_SHARES: {
		uint8_t tmp[4];

		/* Two recipients swapped: not the agreed order. */
		memcpy(tmp, c + B + 4, 4);
		memcpy(c + B + 4, c + B + 4 + 176, 4);
		memcpy(c + B + 4 + 176, tmp, 4);
		EXPECT_SRV(s, from, c, len, FT_EPROTO);
		free(c);
		c = dup_msg(msg, len);
		EXPECT_SRV(s, from, c, len - 1, FT_EPROTO);  /* truncated ciphertext */
		EXPECT_SRV(s, from, H->adv0, H->adv0_len, FT_EREPLAY); /* earlier phase */
		break;
	}
	case FT_SECAGG_MSG_MASKED: {
		uint32_t off = ft_get_le32(c + B), cnt = ft_get_le32(c + B + 4);

		ft_put_le32(c + B, off + cnt); /* skips a chunk */
		EXPECT_SRV(s, from, c, len, FT_EPROTO);
		ft_put_le32(c + B, off);
		ft_put_le32(c + B + 8, 1u << 24); /* outside Z_2^24 */
		EXPECT_SRV(s, from, c, len, FT_EPROTO);
		free(c);
		c = dup_msg(msg, len);
		EXPECT_SRV(s, from, c, len, FT_OK);
		EXPECT_SRV(s, from, c, len, FT_EEXIST); /* the same chunk again */
		free(c);
		return 1;
	}
	case FT_SECAGG_MSG_CHECK_SIG:
		c[B + 5] ^= 0x40;
		EXPECT_SRV(s, from, c, len, FT_ECRYPTO);
		break;
	case FT_SECAGG_MSG_UNMASK:
		ft_put_le32(c + B + 4 + 5, 0); /* bad share index */
		EXPECT_SRV(s, from, c, len, FT_EPROTO);
		ft_put_le32(c + B + 4 + 5, 1000);
		EXPECT_SRV(s, from, c, len, FT_EPROTO);
		free(c);
		c = dup_msg(msg, len);
		c[B + 4 + 4] ^= 3; /* the other kind of share */
		EXPECT_SRV(s, from, c, len, FT_EPROTO);
		break;
	default:
		break;
	}
	free(c);
	return 0;
}

static int hostile_to_client(sim *s, hostile *H, ft_secagg_client *cl, const uint8_t *msg,
                             size_t len, uint8_t type)
{
	uint8_t *c = dup_msg(msg, len);
	const size_t B = FT_SECAGG_HDR_BYTES;

	switch (type) {
	case FT_SECAGG_MSG_CONFIG:
		ft_put_le64(c + 42, s->cfg.ctx.round + 1); /* another round */
		EXPECT_CL(cl, c, len, FT_EREPLAY);
		ft_put_le64(c + 42, s->cfg.ctx.round);
		ft_put_le32(c + B + 53 + 36, ft_get_le32(c + B + 53)); /* duplicate site id */
		EXPECT_CL(cl, c, len, FT_EEXIST);
		free(c);
		c = dup_msg(msg, len);
		c[1] = FT_SECAGG_MSG_CHECK; /* out of phase */
		EXPECT_CL(cl, c, len, FT_ESTATE);
		c[1] = FT_SECAGG_MSG_ADVERTISE; /* a client-to-server type */
		EXPECT_CL(cl, c, len, FT_EPROTO);
		ft_put_le32(c + 54, 7); /* not from the server */
		c[1] = FT_SECAGG_MSG_CONFIG;
		EXPECT_CL(cl, c, len, FT_EPROTO);
		H->cfg0 = dup_msg(msg, len);
		H->cfg0_len = len;
		break;
	case FT_SECAGG_MSG_KEYS: {
		uint32_t m = ft_get_le32(c + B);
		uint8_t *big;

		c[B + 4 + 110] ^= 1; /* forged signature on a neighbour's keys */
		EXPECT_CL(cl, c, len, FT_ECRYPTO);
		c[B + 4 + 110] ^= 1;
		c[B + 4 + 70] ^= 1; /* a neighbour's b commitment replaced */
		EXPECT_CL(cl, c, len, FT_ECRYPTO);
		c[B + 4 + 70] ^= 1;
		c[B + 4 + 40] ^= 1; /* a neighbour's s key replaced */
		EXPECT_CL(cl, c, len, FT_ECRYPTO);
		c[B + 4 + 40] ^= 1;
		/* The first neighbour twice. */
		assert_true(m >= 2);
		big = dup_msg(c, len);
		memcpy(big + B + 4 + 164, big + B + 4, 164);
		EXPECT_CL(cl, big, len, FT_EEXIST);
		free(big);
		EXPECT_CL(cl, c, len - 1, FT_EPROTO);
		EXPECT_CL(cl, H->cfg0, H->cfg0_len, FT_EREPLAY); /* replayed CONFIG */
		break;
	}
	case FT_SECAGG_MSG_SHARES_FWD:
		c[B + 4 + 4 + 30] ^= 1; /* tampered ciphertext */
		EXPECT_CL(cl, c, len, FT_ECRYPTO);
		c[B + 4 + 4 + 30] ^= 1;
		ft_put_le32(c + B + 4, ft_get_le32(c + B + 4) + 1); /* from no neighbour */
		EXPECT_CL(cl, c, len, FT_EPROTO);
		free(c);
		c = dup_msg(msg, len);
		EXPECT_CL(cl, c, len - 1, FT_EPROTO); /* truncated ciphertext */
		c[1] = FT_SECAGG_MSG_UNMASK_REQ;
		EXPECT_CL(cl, c, len, FT_ESTATE);
		break;
	case FT_SECAGG_MSG_CHECK_SIGS:
		c[B + 4 + 4 + 10] ^= 1;
		EXPECT_CL(cl, c, len, FT_ECRYPTO);
		break;
	case FT_SECAGG_MSG_UNMASK_REQ:
		c[B + 4 + 4] = 3; /* unknown kind */
		EXPECT_CL(cl, c, len, FT_EPROTO);
		free(c);
		c = dup_msg(msg, len);
		ft_put_le32(c + B + 4, 5); /* not a neighbour */
		EXPECT_CL(cl, c, len, FT_EPROTO);
		break;
	default:
		break;
	}
	free(c);
	return 0;
}

static int hostile_hook(sim *s, uint32_t from, uint32_t to, const uint8_t *msg, size_t len)
{
	hostile *H = s->user;
	ft_secagg_hdr h;

	assert_int_equal(ft_secagg_hdr_decode(msg, len, &h), FT_OK);
	/* Each kind of message is attacked once, on site 0's traffic. */
	if (from == s->sites[0].id && !H->seen[h.type]) {
		H->seen[h.type] = 1;
		return hostile_to_server(s, H, from, msg, len, h.type);
	}
	if (to == s->sites[0].id && !H->seen[h.type]) {
		H->seen[h.type] = 1;
		return hostile_to_client(s, H, s->cl[0], msg, len, h.type);
	}
	return 0;
}

static void test_hostile_messages(void **state)
{
	sim s;
	hostile H;

	(void)state;
	memset(&H, 0, sizeof(H));
	sim_init(&s, 4, 3, 2, 50, 24, 16, 2);
	s.user = &H;
	s.hook = hostile_hook;
	sim_start(&s);
	sim_run(&s);
	/* Nothing above disturbed the honest round. */
	assert_int_equal(ft_secagg_server_phase(s.srv), FT_SECAGG_DONE);
	sim_check_sum(&s);
	assert_int_equal(H.checks, 40); /* every injection above ran */
	free(H.adv0);
	free(H.cfg0);
	sim_free(&s);
}

/* A retried round (new attempt) draws new keys, and nothing from the old
 * attempt is accepted by the new one. */
static void test_retry_uses_fresh_keys(void **state)
{
	sim s;
	uint8_t *adv1 = NULL, *adv2 = NULL, *cfg1 = NULL;
	size_t l1, l2, lc;
	uint32_t to;
	ft_secagg_client *c2 = NULL;
	ft_secagg_server *srv2 = NULL;
	ft_crypto_ctx ctx2;

	(void)state;
	sim_init(&s, 3, 2, 2, 8, 32, 8, 0);
	sim_start(&s);
	assert_int_equal(ft_secagg_server_next(s.srv, &to, &cfg1, &lc), FT_OK);
	assert_int_equal(to, s.sites[0].id);
	assert_int_equal(ft_secagg_client_recv(s.cl[0], cfg1, lc, 0), FT_OK);
	assert_int_equal(ft_secagg_client_next(s.cl[0], &adv1, &l1), FT_OK);

	ctx2 = s.cfg.ctx;
	ctx2.attempt++;
	s.cfg.ctx = ctx2;
	assert_int_equal(ft_secagg_server_alloc(&s.cfg, NULL, 0, &srv2), FT_OK);
	assert_int_equal(ft_secagg_client_alloc(s.ids[0], s.sites[0].id, &ctx2, NULL, 0, &c2), FT_OK);
	/* The old attempt's CONFIG and ADVERTISE are replays for the new one. */
	assert_int_equal(ft_secagg_client_recv(c2, cfg1, lc, 0), FT_EREPLAY);
	assert_int_equal(ft_secagg_server_recv(srv2, s.sites[0].id, adv1, l1, 0), FT_EREPLAY);
	ft_free(cfg1);
	assert_int_equal(ft_secagg_server_next(srv2, &to, &cfg1, &lc), FT_OK);
	assert_int_equal(ft_secagg_client_recv(c2, cfg1, lc, 0), FT_OK);
	assert_int_equal(ft_secagg_client_next(c2, &adv2, &l2), FT_OK);
	assert_int_equal(l1, l2);
	/* Both round public keys are new. */
	assert_memory_not_equal(adv1 + FT_SECAGG_HDR_BYTES, adv2 + FT_SECAGG_HDR_BYTES, 32);
	assert_memory_not_equal(adv1 + FT_SECAGG_HDR_BYTES + 32, adv2 + FT_SECAGG_HDR_BYTES + 32, 32);
	assert_int_equal(ft_secagg_server_recv(srv2, s.sites[0].id, adv2, l2, 0), FT_OK);
	ft_free(cfg1);
	ft_free(adv1);
	ft_free(adv2);
	ft_secagg_client_free(c2);
	ft_secagg_server_free(srv2);
	sim_free(&s);
}

/* Deadlines: a silent server makes the client give up; a server whose sites
 * all stay silent aborts once the deadline passes. */
static void test_timeouts(void **state)
{
	sim s;
	const char *why;

	(void)state;
	sim_init(&s, 3, 2, 2, 8, 32, 8, 0);
	sim_start(&s);
	assert_int_equal(ft_secagg_server_tick(s.srv, s.now + 1), FT_OK);
	assert_int_equal(ft_secagg_server_phase(s.srv), FT_SECAGG_ADVERTISE);
	assert_int_equal(ft_secagg_server_tick(s.srv, ft_secagg_server_deadline(s.srv)), FT_EABORT);
	assert_int_equal(ft_secagg_server_abort_reason(s.srv, &why), FT_EABORT);
	assert_int_equal(ft_secagg_client_tick(s.cl[0], ft_secagg_client_deadline(s.cl[0]) - 1), FT_OK);
	assert_int_equal(ft_secagg_client_tick(s.cl[0], ft_secagg_client_deadline(s.cl[0])),
	                 FT_ETIMEDOUT);
	assert_int_equal(ft_secagg_client_phase(s.cl[0]), FT_SECAGG_ABORTED);
	sim_free(&s);
}

/* Every allocation failing in turn leaves a clean error, never a crash or a
 * leak (the sanitizer build checks the latter). */
static void test_allocation_failures(void **state)
{
	int done = 0;

	(void)state;
	/* Every 7th failure point, until rounds finish without hitting one. */
	for (long k = 0; k < 5000 && done < 3; k += 7) {
		sim s;

		ft_secagg_expect ex;

		sim_init(&s, 3, 2, 2, 16, 32, 8, 0);
		memset(&ex, 0, sizeof(ex));
		ex.sites = s.sites;
		ex.n_sites = s.n;
		ex.min_n = 3;
		ex.gamma = 0.2;
		ex.sigma = 40;
		ft_alloc_fail_after(k);
		if (ft_secagg_server_alloc(&s.cfg, NULL, 0, &s.srv) == FT_OK) {
			for (uint32_t i = 0; i < s.n; i++)
				if (ft_secagg_client_alloc(s.ids[i], s.sites[i].id, &s.cfg.ctx, NULL, 0,
				                           &s.cl[i]) != FT_OK ||
				    ft_secagg_client_expect(s.cl[i], &ex) != FT_OK)
					s.dead[i] = 1;
			for (int step = 0; step < 200; step++) {
				uint32_t to;
				uint8_t *buf;
				size_t len;
				int moved = 0;

				while (ft_secagg_server_next(s.srv, &to, &buf, &len) == FT_OK) {
					long i = sim_index(&s, to);

					moved = 1;
					if (!s.dead[i])
						SIM_IGNORE(ft_secagg_client_recv(s.cl[i], buf, len, 0));
					ft_free(buf);
				}
				for (uint32_t i = 0; i < s.n; i++) {
					if (s.dead[i])
						continue;
					SIM_IGNORE(ft_secagg_client_set_input(s.cl[i], s.x[i], s.cfg.d));
					while (ft_secagg_client_next(s.cl[i], &buf, &len) == FT_OK) {
						moved = 1;
						SIM_IGNORE(ft_secagg_server_recv(s.srv, s.sites[i].id, buf, len, 0));
						ft_free(buf);
					}
				}
				if (ft_secagg_server_phase(s.srv) >= FT_SECAGG_DONE)
					break;
				if (!moved)
					(void)ft_secagg_server_tick(s.srv, ft_secagg_server_deadline(s.srv));
			}
		}
		ft_alloc_fail_after(-1);
		/* Whatever failed, a finished round has the exact sum of the sites
		 * it names. */
		if (s.srv != NULL && ft_secagg_server_phase(s.srv) == FT_SECAGG_DONE) {
			const uint32_t *sum, *surv;
			size_t d;
			uint32_t ns;

			assert_int_equal(ft_secagg_server_result(s.srv, &sum, &d, &surv, &ns), FT_OK);
			for (uint32_t j = 0; j < d; j++) {
				uint32_t want = 0;

				for (uint32_t v = 0; v < ns; v++)
					want += s.x[sim_index(&s, surv[v])][j];
				assert_int_equal(sum[j], want);
			}
			done++;
		}
		sim_free(&s);
	}
	/* The late failure points let some rounds finish. */
	assert_true(done > 0);
}

/* A server that forwards fewer than t neighbours' shares to a site could
 * strip that site's remaining masks with its self-mask shares alone: the
 * site must refuse to mask and never upload. */
static int starve_hook(sim *s, uint32_t from, uint32_t to, const uint8_t *msg, size_t len)
{
	ft_secagg_hdr h;
	uint8_t m[FT_SECAGG_HDR_BYTES + 4];

	if (from != FT_SECAGG_SERVER_ID || to != s->sites[0].id ||
	    ft_secagg_hdr_decode(msg, len, &h) != FT_OK)
		return 0;
	if (h.type == FT_SECAGG_MSG_SHARES_FWD) {
		memcpy(m, msg, FT_SECAGG_HDR_BYTES);
		memset(m + FT_SECAGG_HDR_BYTES, 0, 4); /* no shares at all */
		assert_int_equal(ft_secagg_client_recv(s->cl[0], m, sizeof(m), s->now), FT_EABORT);
		assert_int_equal(ft_secagg_client_phase(s->cl[0]), FT_SECAGG_ABORTED);
		*(int *)s->user = 1;
		return 1;
	}
	return 0;
}

static int masked_from_site0(sim *s, uint32_t from, uint32_t to, const uint8_t *msg, size_t len)
{
	ft_secagg_hdr h;

	if (to == FT_SECAGG_SERVER_ID && from == s->sites[0].id &&
	    ft_secagg_hdr_decode(msg, len, &h) == FT_OK && h.type == FT_SECAGG_MSG_MASKED)
		fail_msg("a site with no forwarded shares uploaded its input");
	return starve_hook(s, from, to, msg, len);
}

static void test_starved_site_refuses_to_mask(void **state)
{
	sim s;
	int starved = 0;

	(void)state;
	sim_init(&s, 5, 4, 3, 50, 32, 50, 0);
	s.hook = masked_from_site0;
	s.user = &starved;
	sim_start(&s);
	sim_run(&s);
	assert_true(starved);
	assert_int_not_equal(ft_secagg_client_phase(s.cl[0]), FT_SECAGG_DONE);
	sim_free(&s);
}

/* On a sparse graph only a site's own neighbours' signatures on the
 * survivor set count: signatures from elsewhere in U3 (what a server
 * splitting the sites into two views would show) make the site abort
 * instead of releasing shares. */
static int strip_neighbour_sigs(sim *s, uint32_t from, uint32_t to, const uint8_t *msg,
                                size_t len)
{
	ft_secagg_hdr h;
	ft_secagg_graph *g = NULL;
	const uint32_t entry = 4 + FT_CRYPTO_SIG_BYTES;
	uint8_t *m;
	uint32_t count, kept = 0;

	if (from != FT_SECAGG_SERVER_ID || to != s->sites[0].id ||
	    ft_secagg_hdr_decode(msg, len, &h) != FT_OK || h.type != FT_SECAGG_MSG_CHECK_SIGS)
		return 0;
	assert_int_equal(ft_secagg_graph_alloc(s->cfg.seed, s->n, s->cfg.k, &g), FT_OK);
	count = ft_get_le32(msg + FT_SECAGG_HDR_BYTES);
	m = calloc(1, len);
	assert_non_null(m);
	memcpy(m, msg, FT_SECAGG_HDR_BYTES);
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *p = msg + FT_SECAGG_HDR_BYTES + 4 + (size_t)i * entry;
		uint32_t id = ft_get_le32(p);
		long idx = (long)((id - 100) / 3); /* sim ids are 100, 103, ... */

		if (ft_secagg_graph_adjacent(g, 0, (uint32_t)idx))
			continue;
		memcpy(m + FT_SECAGG_HDR_BYTES + 4 + (size_t)kept * entry, p, entry);
		kept++;
	}
	ft_put_le32(m + FT_SECAGG_HDR_BYTES, kept);
	assert_true(kept >= s->cfg.t); /* enough signers, none a neighbour */
	assert_int_equal(ft_secagg_client_recv(s->cl[0], m,
	                                       FT_SECAGG_HDR_BYTES + 4 + (size_t)kept * entry, s->now),
	                 FT_EABORT);
	assert_int_equal(ft_secagg_client_phase(s->cl[0]), FT_SECAGG_ABORTED);
	*(int *)s->user = 1;
	free(m);
	ft_secagg_graph_free(g);
	return 1;
}

static void test_only_neighbour_signatures_count(void **state)
{
	sim s;
	int seen = 0;

	(void)state;
	sim_init(&s, 30, 10, 6, 40, 32, 40, 0);
	s.hook = strip_neighbour_sigs;
	s.user = &seen;
	sim_start(&s);
	sim_run(&s);
	assert_true(seen);
	sim_free(&s);
}

/* A site's own copy of what it accepts in CONFIG (ft_secagg_client_expect):
 * the announced sites with their enrolled keys, its floor on n and the
 * collusion it assumes. Site 0 receives `cfg` and must abort with nothing
 * to send if `ok` is 0, or advertise if it is 1. */
static void expect_case(const sim *s, const ft_secagg_config *cfg, double gamma, uint32_t min_n,
                        int ok, const char *because)
{
	ft_secagg_expect e;
	ft_secagg_client *c = NULL;
	uint8_t *buf = NULL, *m = NULL;
	size_t len, mlen;
	const char *why = NULL;

	memset(&e, 0, sizeof(e));
	e.sites = s->sites;
	e.n_sites = s->n;
	e.min_n = min_n;
	e.gamma = gamma;
	e.sigma = 40;
	assert_int_equal(ft_secagg_config_encode(cfg, &m, &mlen), FT_OK);
	assert_int_equal(ft_secagg_client_alloc(s->ids[0], s->sites[0].id, &s->cfg.ctx, NULL, 0, &c),
	                 FT_OK);
	assert_int_equal(ft_secagg_client_expect(c, &e), FT_OK);
	if (ok) {
		assert_int_equal(ft_secagg_client_recv(c, m, mlen, 0), FT_OK);
		assert_int_equal(ft_secagg_client_phase(c), FT_SECAGG_ADVERTISE);
		assert_int_equal(ft_secagg_client_next(c, &buf, &len), FT_OK);
		ft_free(buf);
		/* Too late to change what the site accepts. */
		assert_int_equal(ft_secagg_client_expect(c, &e), FT_ESTATE);
	} else {
		assert_int_equal(ft_secagg_client_recv(c, m, mlen, 0), FT_EPERM);
		assert_int_equal(ft_secagg_client_phase(c), FT_SECAGG_ABORTED);
		assert_int_equal(ft_secagg_client_abort_reason(c, &why), FT_EPERM);
		if (strstr(why, because) == NULL)
			fail_msg("aborted for \"%s\", expected \"%s\"", why, because);
		/* Nothing leaves the site: no advertisement, no input taken, and a
		 * second CONFIG cannot revive the attempt. */
		assert_int_equal(ft_secagg_client_next(c, &buf, &len), FT_ENOTFOUND);
		assert_int_equal(ft_secagg_client_set_input(c, s->x[0], cfg->d), FT_ESTATE);
		assert_int_equal(ft_secagg_client_recv(c, m, mlen, 0), FT_ESTATE);
		assert_int_equal(ft_secagg_client_next(c, &buf, &len), FT_ENOTFOUND);
	}
	ft_secagg_client_free(c);
	ft_free(m);
}

static void test_config_outside_expectations(void **state)
{
	sim s;
	ft_secagg_config cfg;
	ft_secagg_site alt[5];
	ft_crypto_identity *rogue = NULL;
	ft_secagg_expect e;
	ft_secagg_client *c = NULL;

	(void)state;
	sim_init(&s, 5, 4, 3, 8, 32, 8, 0);
	assert_int_equal(ft_crypto_identity_generate(&rogue), FT_OK);

	/* The round as announced is acceptable. */
	expect_case(&s, &s.cfg, 0.2, 3, 1, NULL);

	/* (a) A site the coordinator enrolled itself: an announced id with a
	 * key that is not the manifest's. */
	cfg = s.cfg;
	memcpy(alt, s.sites, sizeof(alt));
	memcpy(alt[2].sign_pk, ft_crypto_identity_pk(rogue), 32);
	cfg.sites = alt;
	expect_case(&s, &cfg, 0.2, 3, 0, "site 106");

	/* (b) An invented site, with a key the coordinator holds. */
	memcpy(alt, s.sites, sizeof(alt));
	alt[4].id = 999;
	memcpy(alt[4].sign_pk, ft_crypto_identity_pk(rogue), 32);
	expect_case(&s, &cfg, 0.2, 3, 0, "site 999");

	/* (b') The targeted unmasking: the victim and one invented site. */
	memcpy(alt, s.sites, sizeof(alt));
	alt[1].id = 101;
	memcpy(alt[1].sign_pk, ft_crypto_identity_pk(rogue), 32);
	cfg.n = 2;
	cfg.k = 1;
	cfg.t = 1;
	expect_case(&s, &cfg, 0.0, 2, 0, "site 101");

	/* (c) Fewer sites than the site's floor, all of them genuine. */
	cfg = s.cfg;
	cfg.n = 3;
	cfg.k = 2;
	cfg.t = 2;
	expect_case(&s, &cfg, 0.0, 3, 1, NULL);
	expect_case(&s, &cfg, 0.0, 4, 0, "at least 4");

	/* (d) The threshold the coordinator recomputed after refusals: fine
	 * for a site assuming 20% collusion, too low for one assuming 40%
	 * (2 of 5 corrupt could hold both kinds of its shares). */
	expect_case(&s, &s.cfg, 0.4, 3, 0, "threshold of 3 of 4");

	/* (e) This site missing from the configuration. */
	cfg = s.cfg;
	cfg.sites = s.sites + 1;
	cfg.n = 4;
	cfg.k = 3;
	cfg.t = 2;
	expect_case(&s, &cfg, 0.0, 3, 0, "does not list this site");

	/* The expectation itself: ids must be sorted; only before CONFIG. */
	memcpy(alt, s.sites, sizeof(alt));
	alt[3].id = alt[1].id;
	memset(&e, 0, sizeof(e));
	e.sites = alt;
	e.n_sites = 5;
	e.sigma = 40;
	assert_int_equal(ft_secagg_client_alloc(s.ids[0], s.sites[0].id, &s.cfg.ctx, NULL, 0, &c),
	                 FT_OK);
	assert_int_equal(ft_secagg_client_expect(c, &e), FT_EINVAL);
	e.sites = s.sites;
	e.gamma = 0.5 * 2;
	assert_int_equal(ft_secagg_client_expect(c, &e), FT_EINVAL);
	ft_secagg_client_free(c);

	ft_crypto_identity_free(rogue);
	sim_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_graph_no_dropout),
		cmocka_unit_test(test_tiny_vectors),
		cmocka_unit_test(test_random_dropouts_full_graph),
		cmocka_unit_test(test_random_dropouts_sparse_graph),
		cmocka_unit_test(test_sparse_graph_100_sites),
		cmocka_unit_test(test_too_many_dropouts_abort),
		cmocka_unit_test(test_partial_upload_aborts),
		cmocka_unit_test(test_lying_server),
		cmocka_unit_test(test_starved_site_refuses_to_mask),
		cmocka_unit_test(test_only_neighbour_signatures_count),
		cmocka_unit_test(test_split_survivor_views),
		cmocka_unit_test(test_shifted_shares_detected),
		cmocka_unit_test(test_unmask_answers_in_any_order),
		cmocka_unit_test(test_unmask_point_lie_aborts),
		cmocka_unit_test(test_hostile_messages),
		cmocka_unit_test(test_retry_uses_fresh_keys),
		cmocka_unit_test(test_config_outside_expectations),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_allocation_failures),
	};

	if (ft_crypto_init() != FT_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
