/*
 * test_secagg_graph.c - the secure-aggregation neighbour graph, the (k, t)
 * choice, the CONFIG encoding and the hashed statements. Known answers are recomputed independently
 * by tests/vectors/gen_secagg_vectors.py.
 */
#include "ft_test.h"

#include "ft_crypto.h"
#include "ft_secagg.h"
#include "secagg_int.h"

static void seed_fill(uint8_t seed[32], uint8_t start)
{
	for (int i = 0; i < 32; i++)
		seed[i] = (uint8_t)(start + i);
}

static void test_graph_known_answer(void **state)
{
	uint8_t seed[32];
	ft_secagg_graph *g = NULL;
	uint32_t nb[6];
	static const uint32_t want0[6] = {6, 34, 36, 40, 42, 49};
	static const uint32_t want17[6] = {14, 28, 34, 43, 46, 49};

	(void)state;
	seed_fill(seed, 0);
	assert_int_equal(ft_secagg_graph_alloc(seed, 50, 6, &g), FT_OK);
	assert_int_equal(ft_secagg_graph_neighbours(g, 0, nb), 6);
	assert_memory_equal(nb, want0, sizeof(want0));
	assert_int_equal(ft_secagg_graph_neighbours(g, 17, nb), 6);
	assert_memory_equal(nb, want17, sizeof(want17));
	ft_secagg_graph_free(g);
}

/* k-regular, symmetric, no self loops, list == adjacency, deterministic. */
static void test_graph_regular_symmetric(void **state)
{
	static const uint32_t shapes[][2] = {{2, 1}, {3, 2}, {21, 4}, {100, 10}, {101, 20},
	                                     {64, 63}, {300, 8}};
	uint32_t nb[300];

	(void)state;
	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		uint32_t n = shapes[s][0], k = shapes[s][1];
		uint8_t seed[32];
		ft_secagg_graph *g = NULL, *g2 = NULL;

		seed_fill(seed, (uint8_t)(7 * s));
		assert_int_equal(ft_secagg_graph_alloc(seed, n, k, &g), FT_OK);
		assert_int_equal(ft_secagg_graph_alloc(seed, n, k, &g2), FT_OK);
		for (uint32_t a = 0; a < n; a++) {
			uint32_t m = ft_secagg_graph_neighbours(g, a, nb), deg = 0;

			assert_int_equal(m, k);
			for (uint32_t i = 1; i < m; i++)
				assert_true(nb[i - 1] < nb[i]);
			for (uint32_t b = 0; b < n; b++) {
				int adj = ft_secagg_graph_adjacent(g, a, b);

				assert_int_equal(adj, ft_secagg_graph_adjacent(g, b, a));
				assert_int_equal(adj, ft_secagg_graph_adjacent(g2, a, b));
				deg += (uint32_t)adj;
			}
			assert_int_equal(deg, k);
			for (uint32_t i = 0; i < m; i++)
				assert_true(ft_secagg_graph_adjacent(g, a, nb[i]));
			assert_false(ft_secagg_graph_adjacent(g, a, a));
		}
		ft_secagg_graph_free(g);
		ft_secagg_graph_free(g2);
	}
}

/* Another seed gives another graph (the graph is not a fixed ring). */
static void test_graph_depends_on_seed(void **state)
{
	uint8_t s1[32], s2[32];
	ft_secagg_graph *g1 = NULL, *g2 = NULL;
	uint32_t diff = 0;

	(void)state;
	seed_fill(s1, 1);
	seed_fill(s2, 2);
	assert_int_equal(ft_secagg_graph_alloc(s1, 100, 8, &g1), FT_OK);
	assert_int_equal(ft_secagg_graph_alloc(s2, 100, 8, &g2), FT_OK);
	for (uint32_t a = 0; a < 100; a++)
		for (uint32_t b = a + 1; b < 100; b++)
			diff += ft_secagg_graph_adjacent(g1, a, b) != ft_secagg_graph_adjacent(g2, a, b);
	assert_true(diff > 100);
	ft_secagg_graph_free(g1);
	ft_secagg_graph_free(g2);
}

static void test_graph_rejects(void **state)
{
	uint8_t seed[32] = {0};
	ft_secagg_graph *g = NULL;

	(void)state;
	assert_int_equal(ft_secagg_graph_alloc(seed, 10, 3, &g), FT_EINVAL);  /* odd k < n-1 */
	assert_int_equal(ft_secagg_graph_alloc(seed, 10, 0, &g), FT_EINVAL);
	assert_int_equal(ft_secagg_graph_alloc(seed, 10, 10, &g), FT_EINVAL);
	assert_int_equal(ft_secagg_graph_alloc(seed, 1, 0, &g), FT_EINVAL);
	assert_int_equal(ft_secagg_graph_alloc(seed, 1001, 8, &g), FT_EINVAL);
	assert_null(g);
	assert_int_equal(ft_secagg_graph_adjacent(NULL, 0, 1), 0);
}

static void test_params_known_answers(void **state)
{
	static const struct {
		uint32_t n;
		double delta, gamma;
		uint32_t k, t;
	} v[] = {
		{10, 0.1, 0.05, 9, 8},     {20, 0.2, 0.1, 19, 15},     {100, 0.1, 0.05, 26, 16},
		{500, 0.1, 0.05, 76, 49},  {1000, 0.05, 0.05, 60, 41}, {1000, 0.1, 0.1, 114, 78},
		{200, 0.3, 0.0, 108, 55},
	};
	uint32_t k, t;

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_int_equal(ft_secagg_params(v[i].n, v[i].delta, v[i].gamma, 40, 30, &k, &t), FT_OK);
		assert_int_equal(k, v[i].k);
		assert_int_equal(t, v[i].t);
		assert_true(2 * t > k && t <= k);
	}
	/* Half the sites dropping leaves no t with 2t > k that survives. */
	assert_int_equal(ft_secagg_params(30, 0.5, 0.0, 40, 30, &k, &t), FT_ERANGE);
	assert_int_equal(ft_secagg_params(30, 1.5, 0.0, 40, 30, &k, &t), FT_EINVAL);
}

/* The site's check accepts what the server's choice guarantees for the same
 * corrupt fraction, and refuses thresholds a colluding group could beat. */
static void test_params_secure(void **state)
{
	static const struct {
		uint32_t n;
		double delta, gamma;
	} v[] = {
		{10, 0.1, 0.05}, {20, 0.2, 0.1}, {100, 0.1, 0.05}, {500, 0.1, 0.05}, {1000, 0.1, 0.1},
	};
	uint32_t k, t;

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_int_equal(ft_secagg_params(v[i].n, v[i].delta, v[i].gamma, 40, 30, &k, &t), FT_OK);
		assert_true(ft_secagg_params_secure(v[i].n, k, t, v[i].gamma, 40));
		/* Lowering t to just above k/2 lets the corrupt neighbours of some
		 * site reach 2t - k: refused (when any site is assumed corrupt). */
		if (v[i].gamma * v[i].n >= 1.0)
			assert_false(ft_secagg_params_secure(v[i].n, k, k / 2 + 1, v[i].gamma, 40));
		else
			assert_true(ft_secagg_params_secure(v[i].n, k, k / 2 + 1, v[i].gamma, 40));
	}
	/* Full graph of 4 (k = 3): with no site assumed corrupt any t in (1.5, 3]
	 * is safe; assuming a third (one site), t = 2 (2t - k = 1 corrupt
	 * neighbour suffices) is not, t = 3 is. */
	assert_true(ft_secagg_params_secure(4, 3, 2, 0.0, 40));
	assert_false(ft_secagg_params_secure(4, 3, 2, 0.34, 40));
	assert_true(ft_secagg_params_secure(4, 3, 3, 0.34, 40));
	/* Malformed proposals. */
	assert_false(ft_secagg_params_secure(4, 3, 1, 0.0, 40));  /* 2t <= k */
	assert_false(ft_secagg_params_secure(4, 4, 3, 0.0, 40));  /* k > n - 1 */
	assert_false(ft_secagg_params_secure(4, 3, 4, 0.0, 40));  /* t > k */
	assert_false(ft_secagg_params_secure(4, 3, 3, 1.0, 40));  /* gamma out of range */
	assert_false(ft_secagg_params_secure(1, 0, 0, 0.0, 40));
}

static void make_cfg(ft_secagg_config *cfg, ft_secagg_site *sites, uint32_t n)
{
	memset(cfg, 0, sizeof(*cfg));
	for (uint32_t i = 0; i < n; i++) {
		sites[i].id = 10 + 3 * i;
		memset(sites[i].sign_pk, (int)i, sizeof(sites[i].sign_pk));
	}
	memset(cfg->ctx.consortium, 0xC5, sizeof(cfg->ctx.consortium));
	cfg->ctx.run = 7;
	cfg->ctx.round = 3;
	cfg->ctx.attempt = 1;
	cfg->n = n;
	cfg->sites = sites;
	cfg->k = n - 1;
	cfg->t = n - 1;
	seed_fill(cfg->seed, 9);
	cfg->d = 1000;
	cfg->bits = 24;
	cfg->chunk = 128;
}

static void test_config_roundtrip_and_rejects(void **state)
{
	ft_secagg_site sites[5], *out_sites = NULL, bad[5];
	ft_secagg_config cfg, got;
	uint8_t *buf = NULL;
	size_t len;

	(void)state;
	make_cfg(&cfg, sites, 5);
	assert_int_equal(ft_secagg_config_encode(&cfg, &buf, &len), FT_OK);
	assert_int_equal(len, FT_SECAGG_HDR_BYTES + 53 + 5 * 36);
	assert_int_equal(ft_secagg_config_decode(buf, len, &got, &out_sites), FT_OK);
	assert_int_equal(got.n, 5);
	assert_int_equal(got.t, 4);
	assert_int_equal(got.d, 1000);
	assert_int_equal(got.bits, 24);
	assert_int_equal(got.chunk, 128);
	assert_int_equal(got.ctx.run, 7);
	assert_int_equal(got.ctx.attempt, 1);
	assert_memory_equal(got.sites, sites, sizeof(sites));
	ft_free(out_sites);
	out_sites = NULL;
	/* Every truncation and one extra byte are malformed. */
	for (size_t l = 0; l < len; l++)
		assert_int_not_equal(ft_secagg_config_decode(buf, l, &got, &out_sites), FT_OK);
	assert_int_equal(ft_secagg_config_decode(buf, len + 0, &got, &out_sites), FT_OK);
	ft_free(out_sites);
	out_sites = NULL;
	/* A site count that claims more than is there is caught before allocating. */
	ft_put_le32(buf + FT_SECAGG_HDR_BYTES, 0xFFFFFFFFu);
	assert_int_equal(ft_secagg_config_decode(buf, len, &got, &out_sites), FT_EPROTO);
	ft_put_le32(buf + FT_SECAGG_HDR_BYTES, 5);
	/* t <= k/2 would let a lying server gather both kinds of shares. */
	ft_put_le32(buf + FT_SECAGG_HDR_BYTES + 4, 2);
	assert_int_equal(ft_secagg_config_decode(buf, len, &got, &out_sites), FT_EPROTO);
	ft_put_le32(buf + FT_SECAGG_HDR_BYTES + 4, 4);
	/* Unknown version. */
	buf[0] = 2;
	assert_int_equal(ft_secagg_config_decode(buf, len, &got, &out_sites), FT_EPROTO);
	buf[0] = FT_SECAGG_VERSION;
	ft_free(buf);
	buf = NULL;
	/* Duplicate site ids. */
	memcpy(bad, sites, sizeof(bad));
	bad[3].id = bad[2].id;
	cfg.sites = bad;
	assert_int_equal(ft_secagg_config_check(&cfg), FT_EEXIST);
	assert_int_not_equal(ft_secagg_config_encode(&cfg, &buf, &len), FT_OK);
	assert_null(buf);
}

/* The encodings every signature and hash covers, against
 * tests/vectors/gen_secagg_vectors.py (wire_vectors). */
static void test_wire_known_answers(void **state)
{
	ft_secagg_site sites[5];
	ft_secagg_config cfg;
	uint8_t *buf = NULL, h[32], h2[32], b[32], ids[12];
	char hex[65];
	size_t len;

	(void)state;
	make_cfg(&cfg, sites, 5);
	assert_int_equal(ft_secagg_config_encode(&cfg, &buf, &len), FT_OK);
	ft_crypto_hash(h, buf, len);
	ft_crypto_hex(hex, h, 32);
	assert_string_equal(hex, "6bc421f61d2c9f7470f2350cbff1b998ceb0154ccb2b2b3f9e31fac70dff865f");
	ft_free(buf);
	assert_int_equal(secagg_config_hash(&cfg, h), FT_OK);
	ft_crypto_hex(hex, h, 32);
	assert_string_equal(hex, "a74cd2e2b79e12fef0740f42543f96fa8206b18b377c2c96269db1c9318c9e3a");
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)(100 + i);
	secagg_b_commit(&cfg.ctx, 13, b, h);
	ft_crypto_hex(hex, h, 32);
	assert_string_equal(hex, "2f631470ba0661dac9fa98633c63e2d99876cb9f768cfdf8e884b8d464c82683");
	assert_int_equal(secagg_config_hash(&cfg, h), FT_OK);
	ft_put_le32(ids, 10);
	ft_put_le32(ids + 4, 13);
	ft_put_le32(ids + 8, 19);
	secagg_check_statement(&cfg.ctx, 13, h, 3, ids, h2);
	ft_crypto_hex(hex, h2, 32);
	assert_string_equal(hex, "9fca4a714f66a91ab5ad7ad2ad78a39456c44eed995cc38920ef792f67d5cf6e");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_graph_known_answer),
		cmocka_unit_test(test_graph_regular_symmetric),
		cmocka_unit_test(test_graph_depends_on_seed),
		cmocka_unit_test(test_graph_rejects),
		cmocka_unit_test(test_params_known_answers),
		cmocka_unit_test(test_params_secure),
		cmocka_unit_test(test_config_roundtrip_and_rejects),
		cmocka_unit_test(test_wire_known_answers),
	};

	if (ft_crypto_init() != FT_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
