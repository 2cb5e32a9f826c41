/*
 * bench_secagg.c - one in-process secure-aggregation round per (sites N,
 * vector length d) and drop-out scenario: per-site setup time (keys, shares),
 * per-site masking time, server aggregation and unmasking time, peak RSS, and
 * from the same run the time raw ChaCha20-IETF needs for the mask bytes each
 * role must generate (the masking and unmasking targets are <= 1.5x that).
 *
 *   bench_secagg            all shapes: (10,1e5) (50,1e5) (100,1e5) (20,1e6)
 *   bench_secagg N d        one shape
 *   bench_secagg N d k t    one shape with graph degree k and threshold t
 *
 * Each figure is the best of three rounds. k and t come from
 * ft_secagg_params(N, 0.1, 0.05, 40, 30) unless given. "Whole round" is the
 * wall time of everything in the round, all N clients and the server run
 * one after another in this process. Scenarios:
 * no drop-out; 10% of the sites drop after uploading (before the
 * consistency check); 10% drop after sharing keys, before uploading (the
 * server then regenerates their pairwise masks). The peak RSS is the whole
 * process so far (the server plus all N simulated clients and their
 * inputs): run one shape per process to read it per shape.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <sodium.h>

#include "ft_crypto.h"
#include "ft_secagg.h"

/* Graph degree and threshold given on the command line (0: ft_secagg_params). */
static uint32_t bench_k, bench_t;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

enum { DROP_NONE = 0, DROP_AFTER_UPLOAD = 1, DROP_BEFORE_UPLOAD = 2 };
static const char *const scen_name[] = {"none", "10% after upload", "10% before upload"};

typedef struct result {
	double setup_s;   /* all clients, CONFIG..SHARES_FWD processing */
	double mask_s;    /* all clients, producing masked chunks */
	double agg_s;     /* server, adding chunks */
	double unmask_s;  /* server, the unmasking phase */
	double round_s;   /* the whole round, server alloc to result, all roles */
	double chacha_client_s, chacha_server_s;
	double shamir_s;  /* the server's reconstructions alone, timed apart:
	                   * one set of weights, then weighted combines */
	double shamir_plain_s; /* the same number of unbatched combines */
	uint64_t client_mask_elems; /* mask elements all clients generated */
	uint64_t server_mask_elems; /* mask elements the server generated */
	uint32_t k, t, survivors;
} result;

/* Raw ChaCha20-IETF keystream for `elems` 4-byte elements, in d-sized
 * streams as the masks are (one per seed). */
static double chacha_time(uint64_t elems, uint32_t d)
{
	uint8_t key[32], nonce[12] = {0};
	uint8_t *buf = malloc((size_t)d * 4);
	double t0;

	if (buf == NULL)
		return -1;
	randombytes_buf(key, sizeof(key));
	t0 = now_s();
	while (elems > 0) {
		uint32_t n = elems < d ? (uint32_t)elems : d;

		crypto_stream_chacha20_ietf(buf, (size_t)n * 4, nonce, key);
		elems -= n;
	}
	t0 = now_s() - t0;
	free(buf);
	return t0;
}

static int run(uint32_t n, uint32_t d, int scen, result *r)
{
	ft_secagg_site *sites = calloc(n, sizeof(*sites));
	ft_crypto_identity **ids = calloc(n, sizeof(*ids));
	ft_secagg_client **cl = calloc(n, sizeof(*cl));
	uint32_t **x = calloc(n, sizeof(*x));
	int *dead = calloc(n, sizeof(int)), *drop = calloc(n, sizeof(int));
	ft_secagg_server *srv = NULL;
	ft_secagg_config cfg;
	ft_secagg_graph *g = NULL;
	uint32_t *nb = NULL;
	uint64_t now = 1;
	int rv = 1;

	memset(r, 0, sizeof(*r));
	memset(&cfg, 0, sizeof(cfg));
	if (sites == NULL || ids == NULL || cl == NULL || x == NULL || dead == NULL || drop == NULL)
		goto out;
	if (bench_k != 0) {
		r->k = bench_k;
		r->t = bench_t;
	} else if (ft_secagg_params(n, 0.1, 0.05, 40, 30, &r->k, &r->t) != FT_OK) {
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		sites[i].id = i + 1;
		if (ft_crypto_identity_generate(&ids[i]) != FT_OK)
			goto out;
		memcpy(sites[i].sign_pk, ft_crypto_identity_pk(ids[i]), 32);
		x[i] = malloc((size_t)d * 4);
		if (x[i] == NULL)
			goto out;
		randombytes_buf(x[i], (size_t)d * 4);
	}
	/* Every tenth site drops (10%). */
	for (uint32_t i = 0; scen != DROP_NONE && i < n; i += 10)
		drop[i] = 1;
	randombytes_buf(cfg.ctx.consortium, 32);
	cfg.ctx.run = 1;
	cfg.ctx.round = 1;
	cfg.n = n;
	cfg.sites = sites;
	cfg.k = r->k;
	cfg.t = r->t;
	randombytes_buf(cfg.seed, 32);
	cfg.d = d;
	cfg.bits = 32;
	cfg.chunk = 16384;
	r->round_s = now_s();
	if (ft_secagg_server_alloc(&cfg, NULL, now, &srv) != FT_OK)
		goto out;
	for (uint32_t i = 0; i < n; i++)
		if (ft_secagg_client_alloc(ids[i], sites[i].id, &cfg.ctx, NULL, now, &cl[i]) != FT_OK)
			goto out;

	for (;;) {
		int progress = 0;
		uint32_t to;
		uint8_t *buf;
		size_t len;
		double t0;

		while (ft_secagg_server_next(srv, &to, &buf, &len) == FT_OK) {
			uint32_t i = to - 1;

			progress = 1;
			if (!dead[i]) {
				int type = buf[1], e;

				t0 = now_s();
				e = ft_secagg_client_recv(cl[i], buf, len, now);
				t0 = now_s() - t0;
				if (type <= FT_SECAGG_MSG_SHARES_FWD)
					r->setup_s += t0;
				if (e != FT_OK && ft_secagg_server_phase(srv) != FT_SECAGG_ABORTED)
					fprintf(stderr, "client %u rejected a message: %s\n", i, ft_strerror(e));
				if (ft_secagg_client_phase(cl[i]) == FT_SECAGG_ADVERTISE ||
				    ft_secagg_client_phase(cl[i]) == FT_SECAGG_UPLOAD) {
					e = ft_secagg_client_set_input(cl[i], x[i], d);
					(void)e; /* FT_ESTATE once set */
				}
			}
			free(buf);
		}
		for (uint32_t i = 0; i < n; i++) {
			for (;;) {
				ft_secagg_phase p = ft_secagg_client_phase(cl[i]);
				int e;

				if (dead[i])
					break;
				if (drop[i] && ((scen == DROP_BEFORE_UPLOAD && p == FT_SECAGG_UPLOAD) ||
				                (scen == DROP_AFTER_UPLOAD && p == FT_SECAGG_CHECK))) {
					dead[i] = 1;
					break;
				}
				t0 = now_s();
				e = ft_secagg_client_next(cl[i], &buf, &len);
				t0 = now_s() - t0;
				if (e != FT_OK)
					break;
				progress = 1;
				if (buf[1] == FT_SECAGG_MSG_MASKED)
					r->mask_s += t0;
				else if (buf[1] <= FT_SECAGG_MSG_SHARES)
					r->setup_s += t0;
				t0 = now_s();
				e = ft_secagg_server_recv(srv, sites[i].id, buf, len, now);
				t0 = now_s() - t0;
				if (buf[1] == FT_SECAGG_MSG_MASKED)
					r->agg_s += t0;
				if (buf[1] == FT_SECAGG_MSG_UNMASK)
					r->unmask_s += t0;
				if (e != FT_OK)
					fprintf(stderr, "server rejected a message: %s\n", ft_strerror(e));
				free(buf);
			}
		}
		if (!progress) {
			ft_secagg_phase p = ft_secagg_server_phase(srv);
			double t1;

			if (p == FT_SECAGG_DONE || p == FT_SECAGG_ABORTED)
				break;
			now = ft_secagg_server_deadline(srv);
			t1 = now_s();
			(void)ft_secagg_server_tick(srv, now);
			if (p == FT_SECAGG_UNMASK)
				r->unmask_s += now_s() - t1;
		}
	}
	r->round_s = now_s() - r->round_s;
	if (ft_secagg_server_phase(srv) != FT_SECAGG_DONE) {
		const char *why;

		ft_secagg_server_abort_reason(srv, &why);
		fprintf(stderr, "round aborted: %s\n", why);
		goto out;
	}
	/* Check the sum, and count the mask elements each role generated. */
	{
		const uint32_t *sum, *surv;
		size_t dd;
		uint32_t ns;

		if (ft_secagg_server_result(srv, &sum, &dd, &surv, &ns) != FT_OK)
			goto out;
		r->survivors = ns;
		for (uint32_t j = 0; j < d; j++) {
			uint32_t want = 0;

			for (uint32_t i = 0; i < n; i++)
				if (!(drop[i] && scen == DROP_BEFORE_UPLOAD))
					want += x[i][j];
			if (want != sum[j]) {
				fprintf(stderr, "wrong sum at %u\n", j);
				goto out;
			}
		}
	}
	if (ft_secagg_graph_alloc(cfg.seed, n, cfg.k, &g) != FT_OK)
		goto out;
	nb = malloc(cfg.k * sizeof(*nb));
	if (nb == NULL)
		goto out;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t m = ft_secagg_graph_neighbours(g, i, nb), live = 0;
		int uploaded = !(drop[i] && scen == DROP_BEFORE_UPLOAD);

		/* Pairwise masks with neighbours that shared keys (all did), plus b. */
		if (uploaded)
			r->client_mask_elems += (uint64_t)(m + 1) * d;
		/* Server: b of each survivor; for a site dropped before upload, one
		 * pairwise mask per surviving neighbour. */
		if (uploaded) {
			r->server_mask_elems += d;
			continue;
		}
		for (uint32_t j = 0; j < m; j++)
			live += !(drop[nb[j]] && scen == DROP_BEFORE_UPLOAD);
		r->server_mask_elems += (uint64_t)live * d;
	}
	/* The reconstructions the server did (one per survivor, one per site
	 * dropped before upload), repeated outside the round to split the
	 * unmasking time into Shamir and masks. */
	{
		uint8_t sec[32], outsec[32];
		ft_crypto_share *sh = malloc(cfg.k * sizeof(*sh));
		double t0;

		if (sh == NULL)
			goto out;
		randombytes_buf(sec, sizeof(sec));
		if (ft_crypto_shamir_split(sec, cfg.t, cfg.k, sh) != FT_OK) {
			free(sh);
			goto out;
		}
		/* As the server does when every owner's kept shares sit at the
		 * same points (no holder missing): weights once, n combines. */
		t0 = now_s();
		{
			ft_crypto_shamir_weights *w = NULL;
			uint32_t *xs = malloc(cfg.t * sizeof(*xs));

			for (uint32_t i = 0; xs != NULL && i < cfg.t; i++)
				xs[i] = sh[i].x;
			if (xs == NULL || ft_crypto_shamir_weights_alloc(xs, cfg.t, &w) != FT_OK) {
				free(xs);
				free(sh);
				goto out;
			}
			for (uint32_t i = 0; i < n; i++)
				if (!ft_crypto_shamir_weights_match(w, sh, cfg.t) ||
				    ft_crypto_shamir_combine_weighted(w, sh, cfg.t, outsec) != FT_OK)
					break;
			ft_crypto_shamir_weights_free(w);
			free(xs);
		}
		r->shamir_s = now_s() - t0;
		t0 = now_s();
		for (uint32_t i = 0; i < n; i++)
			if (ft_crypto_shamir_combine(sh, cfg.t, cfg.t, outsec) != FT_OK)
				break;
		r->shamir_plain_s = now_s() - t0;
		free(sh);
	}
	/* Best of three: the machine is shared. */
	r->chacha_client_s = r->chacha_server_s = 1e9;
	for (int rep = 0; rep < 3; rep++) {
		double c = chacha_time(r->client_mask_elems, d), s = chacha_time(r->server_mask_elems, d);

		if (c < r->chacha_client_s)
			r->chacha_client_s = c;
		if (s < r->chacha_server_s)
			r->chacha_server_s = s;
	}
	rv = 0;
out:
	ft_secagg_server_free(srv);
	for (uint32_t i = 0; cl != NULL && i < n; i++) {
		ft_secagg_client_free(cl[i]);
		ft_crypto_identity_free(ids[i]);
		free(x[i]);
	}
	ft_secagg_graph_free(g);
	free(nb);
	free(sites);
	free(ids);
	free(cl);
	free(x);
	free(dead);
	free(drop);
	return rv;
}

static int report(uint32_t n, uint32_t d)
{
	for (int scen = 0; scen < 3; scen++) {
		result r = {0};
		struct rusage ru;
		uint32_t uploaders = scen == DROP_BEFORE_UPLOAD ? n - (n + 9) / 10 : n;

		/* Best of three rounds per figure: the machine is shared. */
		for (int rep = 0; rep < 3; rep++) {
			result q;

			if (run(n, d, scen, &q) != 0)
				return 1;
			if (rep == 0) {
				r = q;
				continue;
			}
#define BEST(f) r.f = q.f < r.f ? q.f : r.f
			BEST(setup_s);
			BEST(mask_s);
			BEST(agg_s);
			BEST(unmask_s);
			BEST(shamir_s);
			BEST(shamir_plain_s);
			BEST(chacha_client_s);
			BEST(chacha_server_s);
			BEST(round_s);
#undef BEST
		}
		getrusage(RUSAGE_SELF, &ru);
		printf("| %u | %u | %u/%u | %s | %u | %.1f | %.1f | %.2fx | %.1f | %.1f | %.2f | %.1f | %.2fx | %.2fx | %.1f | %.0f | %ld |\n",
		       n, d, r.k, r.t, scen_name[scen], r.survivors, 1e3 * r.setup_s / n,
		       1e3 * r.mask_s / uploaders, r.mask_s / r.chacha_client_s,
		       1e3 * r.agg_s, 1e3 * r.unmask_s, 1e3 * r.shamir_s, 1e3 * r.shamir_plain_s,
		       r.unmask_s / r.chacha_server_s,
		       (r.unmask_s - r.shamir_s) / r.chacha_server_s,
		       1e3 * r.chacha_server_s, 1e3 * r.round_s, ru.ru_maxrss / 1024);
		fflush(stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const uint32_t shapes[][2] = {{10, 100000}, {50, 100000}, {100, 100000}, {20, 1000000}};

	if (ft_crypto_init() != FT_OK)
		return 1;
	printf("| N | d | k/t | drop-out | survivors | setup ms/site | masking ms/site | "
	       "masking / ChaCha20 | server add ms | server unmask ms | of which Shamir ms | "
	       "Shamir unbatched ms | unmask / ChaCha20 | (unmask - Shamir) / ChaCha20 | "
	       "ChaCha20 server ms | whole round ms | peak RSS MiB |\n");
	printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
	if (argc == 3 || argc == 5) {
		uint64_t n, d, k = 0, t = 0;

		if (ft_parse_u64(argv[1], FT_SECAGG_MAX_SITES, &n) != FT_OK ||
		    ft_parse_u64(argv[2], FT_SECAGG_MAX_D, &d) != FT_OK || n < 2 || d < 1 ||
		    (argc == 5 && (ft_parse_u64(argv[3], n - 1, &k) != FT_OK ||
		                   ft_parse_u64(argv[4], k, &t) != FT_OK || k < 1 || 2 * t <= k))) {
			fprintf(stderr, "usage: bench_secagg [N d [k t]]  (k < N, k/2 < t <= k)\n");
			return 2;
		}
		bench_k = (uint32_t)k;
		bench_t = (uint32_t)t;
		return report((uint32_t)n, (uint32_t)d);
	}
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		if (report(shapes[i][0], shapes[i][1]) != 0)
			return 1;
	return 0;
}
