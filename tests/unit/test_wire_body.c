/*
 * test_wire_body.c - every message body: round trips, bodies built by an
 * independent encoder (msgpack-c) decoded by ours, limits on every string
 * and array refused before anything is allocated, values out of range,
 * allocation failures.
 */
#include "wire_test.h"

#include <math.h>
#include <msgpack.h>

static void test_hello_welcome_round_trip(void **state)
{
	ft_wire_hello h, h2;
	ft_wire_welcome w, w2;
	uint8_t *b = NULL;
	size_t n;
	(void)state;
	memset(&h, 0, sizeof(h));
	h.site_id = 42;
	snprintf(h.software, sizeof(h.software), "fedtwin 0.1.0");
	memset(h.log_head, 0x77, sizeof(h.log_head));
	h.log_len = 1234567;
	h.caps = FT_WIRE_CAP_SECAGG | FT_WIRE_CAP_DP | FT_WIRE_CAP_CHUNKS;
	h.recv_max = FT_WIRE_ENVELOPE_MAX;
	assert_int_equal(ft_wire_hello_encode(&h, &b, &n), FT_OK);
	assert_int_equal(ft_wire_hello_decode(b, n, &h2), FT_OK);
	assert_memory_equal(&h, &h2, sizeof(h));
	/* trailing garbage after the map is refused */
	{
		uint8_t *b2 = malloc(n + 1);

		assert_non_null(b2);
		memcpy(b2, b, n);
		b2[n] = 0;
		assert_int_equal(ft_wire_hello_decode(b2, n + 1, &h2), FT_EPROTO);
		free(b2);
	}
	ft_free(b);
	h.site_id = 0;
	assert_int_equal(ft_wire_hello_encode(&h, &b, &n), FT_EINVAL);
	h.site_id = 1;
	h.software[3] = '\n';
	assert_int_equal(ft_wire_hello_encode(&h, &b, &n), FT_EINVAL);

	memset(&w, 0, sizeof(w));
	w.manifest_serial = 9;
	memset(w.log_head, 0x31, sizeof(w.log_head));
	w.log_len = 5;
	w.server_time_ms = 1700000000123ull;
	assert_int_equal(ft_wire_welcome_encode(&w, &b, &n), FT_OK);
	assert_int_equal(ft_wire_welcome_decode(b, n, &w2), FT_OK);
	assert_memory_equal(&w, &w2, sizeof(w));
	ft_free(b);
}

static void test_announce_round_trip_and_limits(void **state)
{
	ft_wire_announce a, *a2 = malloc(sizeof(*a2));
	uint8_t *b = NULL;
	size_t n;
	(void)state;
	assert_non_null(a2);
	wt_announce(&a);
	assert_int_equal(ft_wire_announce_encode(&a, &b, &n), FT_OK);
	assert_true(n <= ft_wire_body_max(FT_WIRE_ROUND_ANNOUNCE));
	assert_int_equal(ft_wire_announce_decode(b, n, a2), FT_OK);
	assert_memory_equal(&a, a2, sizeof(a));
	/* any truncation is refused */
	for (size_t cut = 0; cut < n; cut += 97)
		assert_int_not_equal(ft_wire_announce_decode(b, cut, a2), FT_OK);
	ft_free(b);
	/* what the secure-aggregation limits forbid cannot be sent */
	wt_announce(&a);
	a.t = a.k / 2;
	assert_int_equal(ft_wire_announce_encode(&a, &b, &n), FT_EINVAL);
	wt_announce(&a);
	a.k = 41; /* odd and not the full graph */
	assert_int_equal(ft_wire_announce_encode(&a, &b, &n), FT_EINVAL);
	wt_announce(&a);
	a.sites[5] = a.sites[4]; /* duplicate id */
	assert_int_equal(ft_wire_announce_encode(&a, &b, &n), FT_EINVAL);
	wt_announce(&a);
	a.dp_delta = 1.0;
	assert_int_equal(ft_wire_announce_encode(&a, &b, &n), FT_EINVAL);
	wt_announce(&a);
	a.lr = NAN;
	assert_int_equal(ft_wire_announce_encode(&a, &b, &n), FT_EINVAL);
	wt_announce(&a);
	snprintf(a.kind, sizeof(a.kind), "MLP");
	assert_int_equal(ft_wire_announce_encode(&a, &b, &n), FT_EINVAL);
	wt_announce(&a);
	a.upload_ms = 0;
	assert_int_equal(ft_wire_announce_encode(&a, &b, &n), FT_EINVAL);
	wt_announce(&a);
	a.n_hidden = FT_WIRE_MAX_HIDDEN + 1;
	assert_int_equal(ft_wire_announce_encode(&a, &b, &n), FT_EINVAL);
	free(a2);
}

/* The optional plain_sum flag: present (true) only in a plain-sum round, so a
 * secure round's announcement keeps its old bytes and old ones still decode;
 * false, another type, another key or the key twice are refused. */
static void test_announce_plain_sum(void **state)
{
	static const uint8_t key[] = "\xa9plain_sum";
	ft_wire_announce a, *a2 = malloc(sizeof(*a2));
	uint8_t *b0 = NULL, *b1 = NULL, *h = NULL;
	size_t n0, n1;
	(void)state;
	assert_non_null(a2);
	wt_announce(&a);
	assert_int_equal(a.plain_sum, 0);
	assert_int_equal(ft_wire_announce_encode(&a, &b0, &n0), FT_OK);
	assert_int_equal(b0[0], 0x8b); /* 11 keys: the format before the flag */
	assert_int_equal(ft_wire_announce_decode(b0, n0, a2), FT_OK);
	assert_int_equal(a2->plain_sum, 0);
	a.plain_sum = 1;
	assert_int_equal(ft_wire_announce_encode(&a, &b1, &n1), FT_OK);
	assert_int_equal(ft_wire_announce_decode(b1, n1, a2), FT_OK);
	assert_int_equal(a2->plain_sum, 1);
	assert_memory_equal(&a, a2, sizeof(a));
	/* the same body plus one trailing key */
	assert_int_equal(n1, n0 + 11);
	assert_int_equal(b1[0], 0x8c);
	assert_memory_equal(b1 + 1, b0 + 1, n0 - 1);
	assert_memory_equal(b1 + n0, key, 10);
	assert_int_equal(b1[n0 + 10], 0xc3);
	h = malloc(n0 + 22);
	assert_non_null(h);
	/* false is not an encoding of the flag (absence is) */
	memcpy(h, b1, n1);
	h[n0 + 10] = 0xc2;
	assert_int_equal(ft_wire_announce_decode(h, n1, a2), FT_EPROTO);
	/* another type in its place */
	h[n0 + 10] = 0x01;
	assert_int_equal(ft_wire_announce_decode(h, n1, a2), FT_EPROTO);
	/* another key in its place */
	h[n0 + 10] = 0xc3;
	h[n0 + 1] = 'q';
	assert_int_equal(ft_wire_announce_decode(h, n1, a2), FT_EPROTO);
	/* the key twice */
	memcpy(h, b1, n1);
	memcpy(h + n1, key, 10);
	h[n1 + 10] = 0xc3;
	h[0] = 0x8d;
	assert_int_equal(ft_wire_announce_decode(h, n1 + 11, a2), FT_EPROTO);
	/* 12 keys announced, 11 present */
	memcpy(h, b0, n0);
	h[0] = 0x8c;
	assert_int_not_equal(ft_wire_announce_decode(h, n0, a2), FT_OK);
	a.plain_sum = 2;
	assert_int_equal(ft_wire_announce_encode(&a, &b1, &n1), FT_EINVAL);
	free(h);
	ft_free(b0);
	ft_free(b1);
	free(a2);
}

/* Packs a str with msgpack-c. */
static void mp_str(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str(pk, strlen(s));
	msgpack_pack_str_body(pk, s, strlen(s));
}

static void test_bodies_from_independent_encoder(void **state)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	ft_wire_notice no;
	ft_wire_chunk c;
	ft_wire_result *r = malloc(sizeof(*r));
	static const uint8_t data[5] = { 9, 8, 7, 6, 5 };
	uint8_t hash[32];
	(void)state;
	assert_non_null(r);
	memset(hash, 0xee, sizeof(hash));
	/* ROUND_REFUSE written by msgpack-c, decoded by us */
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	mp_str(&pk, "code");
	msgpack_pack_uint32(&pk, FT_WIRE_REFUSE_POLICY);
	mp_str(&pk, "text");
	mp_str(&pk, "epsilon 0.9 exceeds the site's per-round limit 0.5");
	assert_int_equal(ft_wire_notice_decode((const uint8_t *)sb.data, sb.size, &no), FT_OK);
	assert_int_equal(no.code, FT_WIRE_REFUSE_POLICY);
	assert_string_equal(no.text, "epsilon 0.9 exceeds the site's per-round limit 0.5");
	msgpack_sbuffer_clear(&sb);
	/* MODEL_CHUNK */
	msgpack_pack_map(&pk, 5);
	mp_str(&pk, "model_version");
	msgpack_pack_uint64(&pk, 3);
	mp_str(&pk, "offset");
	msgpack_pack_uint64(&pk, 10);
	mp_str(&pk, "total");
	msgpack_pack_uint64(&pk, 15);
	mp_str(&pk, "hash");
	msgpack_pack_bin(&pk, 32);
	msgpack_pack_bin_body(&pk, hash, 32);
	mp_str(&pk, "data");
	msgpack_pack_bin(&pk, sizeof(data));
	msgpack_pack_bin_body(&pk, data, sizeof(data));
	assert_int_equal(ft_wire_chunk_decode((const uint8_t *)sb.data, sb.size, &c), FT_OK);
	assert_true(c.model_version == 3 && c.offset == 10 && c.total == 15 && c.len == 5);
	assert_memory_equal(c.hash, hash, 32);
	assert_memory_equal(c.data, data, 5);
	assert_true(c.data > (const uint8_t *)sb.data); /* borrowed */
	msgpack_sbuffer_clear(&sb);
	/* the same chunk reaching past its total is refused */
	msgpack_pack_map(&pk, 5);
	mp_str(&pk, "model_version");
	msgpack_pack_uint64(&pk, 3);
	mp_str(&pk, "offset");
	msgpack_pack_uint64(&pk, 11);
	mp_str(&pk, "total");
	msgpack_pack_uint64(&pk, 15);
	mp_str(&pk, "hash");
	msgpack_pack_bin(&pk, 32);
	msgpack_pack_bin_body(&pk, hash, 32);
	mp_str(&pk, "data");
	msgpack_pack_bin(&pk, sizeof(data));
	msgpack_pack_bin_body(&pk, data, sizeof(data));
	assert_int_equal(ft_wire_chunk_decode((const uint8_t *)sb.data, sb.size, &c), FT_EPROTO);
	msgpack_sbuffer_clear(&sb);
	/* ROUND_RESULT with metrics written as float32 by msgpack-c */
	msgpack_pack_map(&pk, 5);
	mp_str(&pk, "model_version");
	msgpack_pack_uint64(&pk, 4);
	mp_str(&pk, "model_hash");
	msgpack_pack_bin(&pk, 32);
	msgpack_pack_bin_body(&pk, hash, 32);
	mp_str(&pk, "model_len");
	msgpack_pack_uint64(&pk, 99);
	mp_str(&pk, "survivors");
	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint32(&pk, 5);
	msgpack_pack_uint32(&pk, 700);
	mp_str(&pk, "metrics");
	msgpack_pack_map(&pk, 1);
	mp_str(&pk, "auc");
	msgpack_pack_float(&pk, 0.75f);
	assert_int_equal(ft_wire_result_decode((const uint8_t *)sb.data, sb.size, r), FT_OK);
	assert_int_equal(r->n_survivors, 2);
	assert_int_equal(r->survivors[1], 700);
	assert_string_equal(r->metrics[0].name, "auc");
	assert_true(r->metrics[0].value == 0.75);
	msgpack_sbuffer_clear(&sb);
	/* a negative integer where a count belongs */
	msgpack_pack_map(&pk, 2);
	mp_str(&pk, "code");
	msgpack_pack_int32(&pk, -1);
	mp_str(&pk, "text");
	mp_str(&pk, "x");
	assert_int_equal(ft_wire_notice_decode((const uint8_t *)sb.data, sb.size, &no), FT_EPROTO);
	msgpack_sbuffer_clear(&sb);
	/* keys out of order */
	msgpack_pack_map(&pk, 2);
	mp_str(&pk, "text");
	mp_str(&pk, "x");
	mp_str(&pk, "code");
	msgpack_pack_uint32(&pk, 1);
	assert_int_equal(ft_wire_notice_decode((const uint8_t *)sb.data, sb.size, &no), FT_EPROTO);
	msgpack_sbuffer_destroy(&sb);
	free(r);
}

/* The log-head anchor pair (PROTOCOL.md "Log-head anchors"): carried when
 * log_len >= 1, absent otherwise, refused when half there or contradictory. */
static void test_anchor_fields(void **state)
{
	ft_wire_accept ac, ac2;
	ft_wire_notice no, no2;
	ft_wire_secagg sa, sa2;
	ft_wire_result *r = malloc(sizeof(*r)), *r2 = malloc(sizeof(*r2));
	static const uint8_t sec[] = { 1, 0, 0, 0, 6, 42 };
	uint8_t *b = NULL, *b0 = NULL;
	size_t n, n0;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint8_t head[32];
	(void)state;
	assert_non_null(r);
	assert_non_null(r2);
	memset(head, 0xa5, sizeof(head));

	memset(&ac, 0, sizeof(ac));
	memset(ac.model_hash, 0x10, sizeof(ac.model_hash));
	assert_int_equal(ft_wire_accept_encode(&ac, &b0, &n0), FT_OK);
	ac.log_len = 41;
	memcpy(ac.log_head, head, 32);
	assert_int_equal(ft_wire_accept_encode(&ac, &b, &n), FT_OK);
	/* the pair costs its bytes only when sent: two keys, a uint, a bin */
	assert_int_equal(n, n0 + 8 + 1 + 9 + 2 + 32);
	assert_int_equal(ft_wire_accept_decode(b, n, &ac2), FT_OK);
	assert_int_equal(ac2.log_len, 41);
	assert_memory_equal(ac2.log_head, head, 32);
	ft_free(b);
	assert_int_equal(ft_wire_accept_decode(b0, n0, &ac2), FT_OK);
	assert_int_equal(ac2.log_len, 0);
	ft_free(b0);
	/* no head, yet a hash: one encoding per value, so refused */
	ac.log_len = 0;
	assert_int_equal(ft_wire_accept_encode(&ac, &b, &n), FT_EINVAL);

	memset(&no, 0, sizeof(no));
	no.code = FT_WIRE_REFUSE_BUDGET;
	snprintf(no.text, sizeof(no.text), "budget");
	no.log_len = UINT64_MAX;
	memcpy(no.log_head, head, 32);
	assert_int_equal(ft_wire_notice_encode(&no, &b, &n), FT_OK);
	assert_true(n <= ft_wire_body_max(FT_WIRE_ROUND_REFUSE));
	assert_int_equal(ft_wire_notice_decode(b, n, &no2), FT_OK);
	assert_true(no2.log_len == UINT64_MAX);
	assert_memory_equal(no2.log_head, head, 32);
	ft_free(b);

	memset(&sa, 0, sizeof(sa));
	sa.msg = sec;
	sa.len = sizeof(sec);
	sa.log_len = 7;
	memcpy(sa.log_head, head, 32);
	assert_int_equal(ft_wire_secagg_encode(&sa, &b, &n), FT_OK);
	assert_int_equal(ft_wire_secagg_decode(b, n, &sa2), FT_OK);
	assert_int_equal(sa2.log_len, 7);
	assert_memory_equal(sa2.log_head, head, 32);
	assert_memory_equal(sa2.msg, sec, sizeof(sec));
	ft_free(b);

	wt_result(r);
	r->log_len = 1234;
	memcpy(r->log_head, head, 32);
	assert_int_equal(ft_wire_result_encode(r, &b, &n), FT_OK);
	assert_int_equal(ft_wire_result_decode(b, n, r2), FT_OK);
	assert_memory_equal(r, r2, sizeof(*r));
	ft_free(b);

	/* written by msgpack-c: the pair after the other keys */
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	mp_str(&pk, "model_hash");
	msgpack_pack_bin(&pk, 32);
	msgpack_pack_bin_body(&pk, head, 32);
	mp_str(&pk, "log_len");
	msgpack_pack_uint64(&pk, 5);
	mp_str(&pk, "log_head");
	msgpack_pack_bin(&pk, 32);
	msgpack_pack_bin_body(&pk, head, 32);
	assert_int_equal(ft_wire_accept_decode((const uint8_t *)sb.data, sb.size, &ac2), FT_OK);
	assert_int_equal(ac2.log_len, 5);
	msgpack_sbuffer_clear(&sb);
	/* log_len 0 inside the pair */
	msgpack_pack_map(&pk, 3);
	mp_str(&pk, "model_hash");
	msgpack_pack_bin(&pk, 32);
	msgpack_pack_bin_body(&pk, head, 32);
	mp_str(&pk, "log_len");
	msgpack_pack_uint64(&pk, 0);
	mp_str(&pk, "log_head");
	msgpack_pack_bin(&pk, 32);
	msgpack_pack_bin_body(&pk, head, 32);
	assert_int_equal(ft_wire_accept_decode((const uint8_t *)sb.data, sb.size, &ac2), FT_EPROTO);
	msgpack_sbuffer_clear(&sb);
	/* half a pair */
	msgpack_pack_map(&pk, 3);
	mp_str(&pk, "code");
	msgpack_pack_uint32(&pk, 1);
	mp_str(&pk, "text");
	mp_str(&pk, "x");
	mp_str(&pk, "log_len");
	msgpack_pack_uint64(&pk, 5);
	assert_int_equal(ft_wire_notice_decode((const uint8_t *)sb.data, sb.size, &no2), FT_EPROTO);
	msgpack_sbuffer_clear(&sb);
	/* a head that is not 32 bytes */
	msgpack_pack_map(&pk, 4);
	mp_str(&pk, "code");
	msgpack_pack_uint32(&pk, 1);
	mp_str(&pk, "text");
	mp_str(&pk, "x");
	mp_str(&pk, "log_len");
	msgpack_pack_uint64(&pk, 5);
	mp_str(&pk, "log_head");
	msgpack_pack_bin(&pk, 31);
	msgpack_pack_bin_body(&pk, head, 31);
	assert_int_equal(ft_wire_notice_decode((const uint8_t *)sb.data, sb.size, &no2), FT_EPROTO);
	msgpack_sbuffer_destroy(&sb);
	free(r);
	free(r2);
}

static void test_small_bodies_round_trip(void **state)
{
	ft_wire_accept ac, ac2;
	ft_wire_notice no, no2;
	ft_wire_secagg sa, sa2;
	ft_wire_result r, *r2 = malloc(sizeof(*r2));
	ft_wire_stats_request q, *q2 = malloc(sizeof(*q2));
	static const uint8_t sec[] = { 1, 0, 0, 0, 6, 42 };
	uint8_t *b = NULL;
	size_t n;
	(void)state;
	assert_non_null(r2);
	assert_non_null(q2);
	memset(&ac, 0, sizeof(ac));
	memset(ac.model_hash, 0x10, sizeof(ac.model_hash));
	assert_int_equal(ft_wire_accept_encode(&ac, &b, &n), FT_OK);
	assert_int_equal(ft_wire_accept_decode(b, n, &ac2), FT_OK);
	assert_memory_equal(&ac, &ac2, sizeof(ac));
	ft_free(b);

	memset(&no, 0, sizeof(no));
	no.code = FT_EBUDGET;
	memset(no.text, 'x', FT_WIRE_TEXT_MAX);
	assert_int_equal(ft_wire_notice_encode(&no, &b, &n), FT_OK);
	assert_int_equal(ft_wire_notice_decode(b, n, &no2), FT_OK);
	assert_int_equal(no2.code, FT_EBUDGET);
	assert_string_equal(no2.text, no.text);
	ft_free(b);
	no.text[0] = '\0'; /* empty text is allowed */
	assert_int_equal(ft_wire_notice_encode(&no, &b, &n), FT_OK);
	assert_int_equal(ft_wire_notice_decode(b, n, &no2), FT_OK);
	assert_string_equal(no2.text, "");
	ft_free(b);

	memset(&sa, 0, sizeof(sa));
	sa.msg = sec;
	sa.len = sizeof(sec);
	assert_int_equal(ft_wire_secagg_encode(&sa, &b, &n), FT_OK);
	assert_int_equal(ft_wire_secagg_decode(b, n, &sa2), FT_OK);
	assert_int_equal(sa2.len, sizeof(sec));
	assert_memory_equal(sa2.msg, sec, sizeof(sec));
	ft_free(b);
	sa.len = 0;
	assert_int_equal(ft_wire_secagg_encode(&sa, &b, &n), FT_EINVAL);

	wt_result(&r);
	assert_int_equal(ft_wire_result_encode(&r, &b, &n), FT_OK);
	assert_int_equal(ft_wire_result_decode(b, n, r2), FT_OK);
	assert_memory_equal(&r, r2, sizeof(r));
	ft_free(b);
	/* metric names sorted and unique */
	snprintf(r.metrics[1].name, sizeof(r.metrics[1].name), "accuracy");
	assert_int_equal(ft_wire_result_encode(&r, &b, &n), FT_EINVAL);

	memset(&q, 0, sizeof(q));
	q.n_columns = 2;
	snprintf(q.columns[0], sizeof(q.columns[0]), "sex");
	snprintf(q.columns[1], sizeof(q.columns[1]), "chest pain type");
	q.max_levels = 16;
	assert_int_equal(ft_wire_stats_request_encode(&q, &b, &n), FT_OK);
	assert_int_equal(ft_wire_stats_request_decode(b, n, q2), FT_OK);
	assert_memory_equal(&q, q2, sizeof(q));
	ft_free(b);
	snprintf(q.columns[1], sizeof(q.columns[1]), "sex");
	assert_int_equal(ft_wire_stats_request_encode(&q, &b, &n), FT_EINVAL);
	free(r2);
	free(q2);
}

static void test_stats_round_trip_and_sets(void **state)
{
	static const char *const sex[] = { "F", "M" };
	static const char *const cp[] = { "asymptomatic", "atypical", "non-anginal", "typical" };
	ft_wire_stats_column cols[3] = {
		{ "sex", 2, sex }, { "cp", 4, cp }, { "empty", 0, NULL }
	};
	ft_wire_stats s = { 3, cols }, *got = NULL;
	uint8_t *b = NULL;
	size_t n;
	(void)state;
	assert_int_equal(ft_wire_stats_encode(&s, &b, &n), FT_OK);
	assert_int_equal(ft_wire_stats_decode(b, n, &got), FT_OK);
	assert_int_equal(got->n_columns, 3);
	for (uint32_t i = 0; i < 3; i++) {
		assert_string_equal(got->columns[i].name, cols[i].name);
		assert_int_equal(got->columns[i].n_levels, cols[i].n_levels);
		for (uint32_t j = 0; j < cols[i].n_levels; j++)
			assert_string_equal(got->columns[i].levels[j], cols[i].levels[j]);
	}
	ft_wire_stats_free(got);
	got = NULL;
	/* allocation failures: one allocation, no leak, nothing written */
	ft_alloc_fail_after(0);
	assert_int_equal(ft_wire_stats_decode(b, n, &got), FT_ENOMEM);
	ft_alloc_fail_after(-1);
	assert_null(got);
	ft_free(b);
	/* a set has one encoding: unsorted or repeated levels are refused */
	{
		static const char *const unsorted[] = { "M", "F" };
		static const char *const twice[] = { "F", "F" };

		cols[0].levels = unsorted;
		assert_int_equal(ft_wire_stats_encode(&s, &b, &n), FT_EINVAL);
		cols[0].levels = twice;
		assert_int_equal(ft_wire_stats_encode(&s, &b, &n), FT_EINVAL);
		cols[0].levels = sex;
		cols[2].name = "sex"; /* duplicate column */
		assert_int_equal(ft_wire_stats_encode(&s, &b, &n), FT_EINVAL);
	}
	/* the same refusals from an independent encoder, on the decode side */
	{
		msgpack_sbuffer sb;
		msgpack_packer pk;

		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_map(&pk, 1);
		mp_str(&pk, "columns");
		msgpack_pack_array(&pk, 1);
		msgpack_pack_array(&pk, 2);
		mp_str(&pk, "sex");
		msgpack_pack_array(&pk, 2);
		mp_str(&pk, "M");
		mp_str(&pk, "F");
		assert_int_equal(ft_wire_stats_decode((const uint8_t *)sb.data, sb.size, &got),
		                 FT_EPROTO);
		assert_null(got);
		msgpack_sbuffer_destroy(&sb);
	}
}

/* Arrays and strings over their limits, with counts that are backed by real
 * bytes (so only the limit can refuse them), refused before allocating. */
static void test_limits_refused_before_allocation(void **state)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	ft_wire_stats *st = NULL;
	ft_wire_stats_request *q = malloc(sizeof(*q));
	ft_wire_announce *a = malloc(sizeof(*a));
	ft_wire_notice no;
	ft_wire_hello h;
	char longtext[FT_WIRE_TEXT_MAX + 2];
	uint8_t *b = NULL;
	size_t n;
	(void)state;
	assert_non_null(q);
	assert_non_null(a);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	/* STATS: 65 columns */
	msgpack_pack_map(&pk, 1);
	mp_str(&pk, "columns");
	msgpack_pack_array(&pk, FT_WIRE_MAX_COLUMNS + 1);
	for (unsigned i = 0; i <= FT_WIRE_MAX_COLUMNS; i++) {
		char name[16];

		snprintf(name, sizeof(name), "c%u", i);
		msgpack_pack_array(&pk, 2);
		mp_str(&pk, name);
		msgpack_pack_array(&pk, 0);
	}
	ft_alloc_fail_after(0);
	assert_int_equal(ft_wire_stats_decode((const uint8_t *)sb.data, sb.size, &st), FT_ERANGE);
	ft_alloc_fail_after(-1);
	msgpack_sbuffer_clear(&sb);
	/* STATS: 257 levels in a column */
	msgpack_pack_map(&pk, 1);
	mp_str(&pk, "columns");
	msgpack_pack_array(&pk, 1);
	msgpack_pack_array(&pk, 2);
	mp_str(&pk, "c");
	msgpack_pack_array(&pk, FT_WIRE_MAX_LEVELS + 1);
	for (unsigned i = 0; i <= FT_WIRE_MAX_LEVELS; i++) {
		char name[16];

		snprintf(name, sizeof(name), "l%04u", i);
		mp_str(&pk, name);
	}
	ft_alloc_fail_after(0);
	assert_int_equal(ft_wire_stats_decode((const uint8_t *)sb.data, sb.size, &st), FT_ERANGE);
	ft_alloc_fail_after(-1);
	msgpack_sbuffer_clear(&sb);
	/* STATS_REQUEST: a column name of 65 bytes */
	msgpack_pack_map(&pk, 2);
	mp_str(&pk, "columns");
	msgpack_pack_array(&pk, 1);
	memset(longtext, 'a', FT_WIRE_NAME_MAX + 1);
	longtext[FT_WIRE_NAME_MAX + 1] = '\0';
	mp_str(&pk, longtext);
	mp_str(&pk, "max_levels");
	msgpack_pack_uint32(&pk, 4);
	assert_int_equal(ft_wire_stats_request_decode((const uint8_t *)sb.data, sb.size, q),
	                 FT_ERANGE);
	msgpack_sbuffer_clear(&sb);
	/* HELLO software string too long */
	msgpack_pack_map(&pk, 6);
	mp_str(&pk, "site_id");
	msgpack_pack_uint32(&pk, 1);
	mp_str(&pk, "software");
	mp_str(&pk, longtext);
	mp_str(&pk, "log_head");
	msgpack_pack_bin(&pk, 32);
	msgpack_pack_bin_body(&pk, longtext, 32);
	mp_str(&pk, "log_len");
	msgpack_pack_uint32(&pk, 0);
	mp_str(&pk, "caps");
	msgpack_pack_uint32(&pk, 0);
	mp_str(&pk, "recv_max");
	msgpack_pack_uint32(&pk, 0);
	assert_int_equal(ft_wire_hello_decode((const uint8_t *)sb.data, sb.size, &h), FT_ERANGE);
	msgpack_sbuffer_clear(&sb);
	/* text with a control character (terminal escape) */
	msgpack_pack_map(&pk, 2);
	mp_str(&pk, "code");
	msgpack_pack_uint32(&pk, 1);
	mp_str(&pk, "budget \x1b[2J exceeded");
	assert_int_equal(ft_wire_notice_decode((const uint8_t *)sb.data, sb.size, &no), FT_EPROTO);
	msgpack_sbuffer_destroy(&sb);
	/* ROUND_ANNOUNCE with 1001 sites: over the body limit or the list
	 * limit, refused either way */
	wt_announce(a);
	assert_int_equal(ft_wire_announce_encode(a, &b, &n), FT_OK);
	{
		/* patch the sites array header (array16 1000 -> 1001) and add
		 * one id before "t" */
		uint8_t *p = malloc(n + 3);
		size_t i;

		assert_non_null(p);
		for (i = 0; i + 2 < n; i++)
			if (b[i] == 0xdc && b[i + 1] == 0x03 && b[i + 2] == 0xe8)
				break;
		assert_true(i + 2 < n);
		memcpy(p, b, i + 3);
		p[i + 2] = 0xe9;
		/* ids are 1, 4, ..., 2998 (uint16 each): insert 3001 after */
		{
			size_t end = i + 3;

			for (uint32_t k = 0; k < 1000; k++)
				end += b[end] <= 0x7f ? 1 : b[end] == 0xcc ? 2 : 3;
			memcpy(p + i + 3, b + i + 3, end - (i + 3));
			p[end] = 0xcd;
			p[end + 1] = 0x0b;
			p[end + 2] = 0xb9;
			memcpy(p + end + 3, b + end, n - end);
		}
		ft_alloc_fail_after(0);
		assert_int_equal(ft_wire_announce_decode(p, n + 3, a), FT_ERANGE);
		ft_alloc_fail_after(-1);
		free(p);
	}
	ft_free(b);
	free(q);
	free(a);
}

static void test_decoder_alloc_failures(void **state)
{
	ft_wire_announce a, *a2 = malloc(sizeof(*a2));
	ft_wire_result r, *r2 = malloc(sizeof(*r2));
	uint8_t *b = NULL;
	size_t n;
	int rv = -1;
	(void)state;
	assert_non_null(a2);
	assert_non_null(r2);
	wt_announce(&a);
	for (long k = 0; k < 20; k++) {
		ft_alloc_fail_after(k);
		rv = ft_wire_announce_encode(&a, &b, &n);
		ft_alloc_fail_after(-1);
		if (rv == FT_OK)
			break;
		assert_int_equal(rv, FT_ENOMEM);
	}
	assert_int_equal(rv, FT_OK);
	for (long k = 0; k < 20; k++) {
		ft_alloc_fail_after(k);
		rv = ft_wire_announce_decode(b, n, a2);
		ft_alloc_fail_after(-1);
		if (rv == FT_OK)
			break;
		assert_int_equal(rv, FT_ENOMEM);
	}
	assert_int_equal(rv, FT_OK);
	assert_memory_equal(&a, a2, sizeof(a));
	ft_free(b);
	wt_result(&r);
	assert_int_equal(ft_wire_result_encode(&r, &b, &n), FT_OK);
	for (long k = 0; k < 20; k++) {
		ft_alloc_fail_after(k);
		rv = ft_wire_result_decode(b, n, r2);
		ft_alloc_fail_after(-1);
		if (rv == FT_OK)
			break;
		assert_int_equal(rv, FT_ENOMEM);
	}
	assert_int_equal(rv, FT_OK);
	assert_memory_equal(&r, r2, sizeof(r));
	ft_free(b);
	free(a2);
	free(r2);
}

/* Every encoder under allocation failure: FT_ENOMEM and nothing leaked,
 * until it has the memory it needs. */
#define SWEEP(call)                                            \
	do {                                                   \
		int rv_ = -1;                                  \
		for (long k_ = 0; k_ < 40; k_++) {             \
			b = NULL;                              \
			ft_alloc_fail_after(k_);               \
			rv_ = (call);                          \
			ft_alloc_fail_after(-1);               \
			if (rv_ == FT_OK)                      \
				break;                         \
			assert_int_equal(rv_, FT_ENOMEM);      \
			assert_null(b);                        \
		}                                              \
		assert_int_equal(rv_, FT_OK);                  \
		ft_free(b);                                    \
	} while (0)

static void test_encoder_alloc_failures(void **state)
{
	static const char *const lv[] = { "a", "b" };
	ft_wire_stats_column col = { "c", 2, lv };
	ft_wire_stats st = { 1, &col };
	ft_wire_hello h = { .site_id = 1, .software = "x" };
	ft_wire_welcome we = { .manifest_serial = 1 };
	ft_wire_accept ac = { .log_len = 9 };
	ft_wire_notice no = { .code = 3, .text = "text", .log_len = 9 };
	static uint8_t big[3u << 20];
	ft_wire_secagg sa = { .msg = big, .len = sizeof(big), .log_len = 9 };
	ft_wire_chunk ch = { .total = sizeof(big), .data = big, .len = sizeof(big) };
	ft_wire_result r;
	ft_wire_announce a;
	ft_wire_stats_request q = { .n_columns = 1, .max_levels = 2 };
	uint8_t *b = NULL;
	size_t n;
	(void)state;
	wt_result(&r);
	wt_announce(&a);
	snprintf(q.columns[0], sizeof(q.columns[0]), "c");
	SWEEP(ft_wire_hello_encode(&h, &b, &n));
	SWEEP(ft_wire_welcome_encode(&we, &b, &n));
	SWEEP(ft_wire_accept_encode(&ac, &b, &n));
	SWEEP(ft_wire_notice_encode(&no, &b, &n));
	SWEEP(ft_wire_secagg_encode(&sa, &b, &n));
	SWEEP(ft_wire_chunk_encode(&ch, &b, &n));
	SWEEP(ft_wire_result_encode(&r, &b, &n));
	SWEEP(ft_wire_announce_encode(&a, &b, &n));
	SWEEP(ft_wire_stats_request_encode(&q, &b, &n));
	SWEEP(ft_wire_stats_encode(&st, &b, &n));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_welcome_round_trip),
		cmocka_unit_test(test_announce_round_trip_and_limits),
		cmocka_unit_test(test_announce_plain_sum),
		cmocka_unit_test(test_bodies_from_independent_encoder),
		cmocka_unit_test(test_small_bodies_round_trip),
		cmocka_unit_test(test_anchor_fields),
		cmocka_unit_test(test_stats_round_trip_and_sets),
		cmocka_unit_test(test_limits_refused_before_allocation),
		cmocka_unit_test(test_decoder_alloc_failures),
		cmocka_unit_test(test_encoder_alloc_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
