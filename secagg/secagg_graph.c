/*
 * secagg_graph.c - the SecAgg+ neighbour graph (a Harary graph on a
 * permutation drawn from the public round seed) and the choice of the graph
 * degree k and the Shamir threshold t from the tolerated drop-out and
 * corruption fractions.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "secagg_int.h"

#define GRAPH_DOMAIN "fedtwin-secagg-graph"

struct ft_secagg_graph {
	uint32_t n, k;
	int full;
	uint32_t *perm; /* perm[p] = site at cycle position p */
	uint32_t *pos;  /* pos[i] = cycle position of site i */
};

/*
 * Deterministic word stream: word w is the little-endian u32 at byte
 * 4 * (w % 8) of BLAKE2b-256(GRAPH_DOMAIN || seed || le64(w / 8)). Anyone can
 * recompute the graph from the seed; the seed is public, so nothing here is
 * secret.
 */
typedef struct graph_rng {
	uint8_t in[sizeof(GRAPH_DOMAIN) - 1 + FT_CRYPTO_KEY_BYTES + 8];
	uint8_t block[FT_CRYPTO_HASH_BYTES];
	uint64_t counter;
	unsigned used;
} graph_rng;

static void rng_init(graph_rng *r, const uint8_t seed[FT_CRYPTO_KEY_BYTES])
{
	memcpy(r->in, GRAPH_DOMAIN, sizeof(GRAPH_DOMAIN) - 1);
	memcpy(r->in + sizeof(GRAPH_DOMAIN) - 1, seed, FT_CRYPTO_KEY_BYTES);
	r->counter = 0;
	r->used = 8;
}

static uint32_t rng_word(graph_rng *r)
{
	if (r->used == 8) {
		ft_put_le64(r->in + sizeof(r->in) - 8, r->counter++);
		ft_crypto_hash(r->block, r->in, sizeof(r->in));
		r->used = 0;
	}
	return ft_get_le32(r->block + 4 * r->used++);
}

/* Uniform in [0, m) by rejection, so every permutation is equally likely. */
static uint32_t rng_uniform(graph_rng *r, uint32_t m)
{
	uint32_t limit = (uint32_t)(0x100000000ull - (0x100000000ull % m));
	uint32_t w;

	do {
		w = rng_word(r);
	} while ((uint64_t)w >= limit && limit != 0);
	return w % m;
}

int ft_secagg_graph_alloc(const uint8_t seed[FT_CRYPTO_KEY_BYTES], uint32_t n, uint32_t k,
                          ft_secagg_graph **out)
{
	ft_secagg_graph *g = NULL;
	graph_rng r;
	uint32_t i;
	int rv = FT_EINVAL;

	if (seed == NULL || out == NULL || n < 2 || n > FT_SECAGG_MAX_SITES || k == 0 ||
	    k > n - 1 || (k % 2 != 0 && k != n - 1))
		return FT_EINVAL;
	g = ft_calloc(1, sizeof(*g));
	if (g == NULL)
		return FT_ENOMEM;
	g->n = n;
	g->k = k;
	g->full = k == n - 1;
	g->perm = ft_mallocarray(n, sizeof(uint32_t));
	g->pos = ft_mallocarray(n, sizeof(uint32_t));
	if (g->perm == NULL || g->pos == NULL) {
		rv = FT_ENOMEM;
		goto out;
	}
	/* Fisher-Yates, from the last position down. */
	for (i = 0; i < n; i++)
		g->perm[i] = i;
	rng_init(&r, seed);
	for (i = n - 1; i > 0; i--) {
		uint32_t j = rng_uniform(&r, i + 1);
		uint32_t tmp = g->perm[i];

		g->perm[i] = g->perm[j];
		g->perm[j] = tmp;
	}
	for (i = 0; i < n; i++)
		g->pos[g->perm[i]] = i;
	*out = g;
	g = NULL;
	rv = FT_OK;
out:
	ft_secagg_graph_free(g);
	return rv;
}

void ft_secagg_graph_free(ft_secagg_graph *g)
{
	if (g == NULL)
		return;
	ft_free(g->perm);
	ft_free(g->pos);
	ft_free(g);
}

int ft_secagg_graph_adjacent(const ft_secagg_graph *g, uint32_t a, uint32_t b)
{
	uint32_t dist;

	if (g == NULL || a >= g->n || b >= g->n || a == b)
		return 0;
	if (g->full)
		return 1;
	dist = g->pos[a] > g->pos[b] ? g->pos[a] - g->pos[b] : g->pos[b] - g->pos[a];
	if (dist > g->n - dist)
		dist = g->n - dist;
	return dist <= g->k / 2;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

uint32_t ft_secagg_graph_neighbours(const ft_secagg_graph *g, uint32_t a, uint32_t *out)
{
	uint32_t i, m = 0;

	if (g == NULL || a >= g->n)
		return 0;
	if (g->full) {
		for (i = 0; i < g->n; i++)
			if (i != a)
				out[m++] = i;
		return m;
	}
	for (i = 1; i <= g->k / 2; i++) {
		out[m++] = g->perm[(g->pos[a] + i) % g->n];
		out[m++] = g->perm[(g->pos[a] + g->n - i) % g->n];
	}
	qsort(out, m, sizeof(*out), cmp_u32);
	return m;
}

/* ---- Parameters -------------------------------------------------------- */

/* log of the binomial coefficient C(a, b). */
static double log_choose(double a, double b)
{
	return lgamma(a + 1) - lgamma(b + 1) - lgamma(a - b + 1);
}

/* P[X >= x] for X ~ Hypergeometric(population N, K marked, k drawn). */
static double hyper_tail(uint32_t N, uint32_t K, uint32_t k, uint32_t x)
{
	double sum = 0.0, denom = log_choose(N, k);
	uint32_t i, hi = K < k ? K : k;

	for (i = x; i <= hi; i++) {
		if (k - i > N - K)
			continue;
		sum += exp(log_choose(K, i) + log_choose(N - K, k - i) - denom);
	}
	return sum > 1.0 ? 1.0 : sum;
}

/* Tries degree k; on success writes the largest t that keeps correctness. */
static int params_try(uint32_t n, uint32_t k, uint32_t drop, uint32_t bad, double p_eta,
                      double p_sigma, uint32_t *t_out)
{
	uint32_t x, t;

	/* Smallest x with n * P[D > x] <= 2^-eta: then t = k - x survive. */
	for (x = 0; x < k; x++)
		if ((double)n * hyper_tail(n - 1, drop, k, x + 1) <= p_eta)
			break;
	if (x >= k)
		return 0;
	t = k - x;
	if (2 * t <= k)
		return 0;
	if ((double)n * hyper_tail(n - 1, bad, k, 2 * t - k) > p_sigma)
		return 0;
	*t_out = t;
	return 1;
}

int ft_secagg_params(uint32_t n, double delta, double gamma, unsigned sigma, unsigned eta,
                     uint32_t *k, uint32_t *t)
{
	uint32_t drop, bad, kk, tt = 0;
	double p_sigma, p_eta;

	if (k == NULL || t == NULL || n < 2 || n > FT_SECAGG_MAX_SITES || !(delta >= 0.0) ||
	    !(delta < 1.0) || !(gamma >= 0.0) || !(gamma < 1.0) || sigma > 128 || eta > 128)
		return FT_EINVAL;
	drop = (uint32_t)floor(delta * n);
	bad = (uint32_t)floor(gamma * n);
	if (drop > n - 1 || bad > n - 1)
		return FT_ERANGE;
	p_sigma = ldexp(1.0, -(int)sigma);
	p_eta = ldexp(1.0, -(int)eta);
	if (n > 20) {
		for (kk = 2; kk < n - 1; kk += 2) {
			if (params_try(n, kk, drop, bad, p_eta, p_sigma, &tt)) {
				*k = kk;
				*t = tt;
				return FT_OK;
			}
		}
	}
	if (!params_try(n, n - 1, drop, bad, p_eta, p_sigma, &tt))
		return FT_ERANGE;
	*k = n - 1;
	*t = tt;
	return FT_OK;
}

int ft_secagg_params_secure(uint32_t n, uint32_t k, uint32_t t, double gamma, unsigned sigma)
{
	uint32_t bad;

	if (n < 2 || n > FT_SECAGG_MAX_SITES || k == 0 || k > n - 1 || t > k || 2 * t <= k ||
	    !(gamma >= 0.0) || !(gamma < 1.0) || sigma > 128)
		return 0;
	/* The sites the site must assume corrupt, itself excluded. */
	bad = (uint32_t)floor(gamma * n);
	if (bad > n - 1)
		return 0;
	return (double)n * hyper_tail(n - 1, bad, k, 2 * t - k) <= ldexp(1.0, -(int)sigma);
}
