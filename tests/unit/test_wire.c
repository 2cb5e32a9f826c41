/*
 * test_wire.c - signed envelopes and replay protection: round trips, a
 * signature over exactly the inner bytes (every flipped byte fails), unknown
 * senders, other consortia, oversized envelopes and bodies refused before
 * any allocation, replayed and stale messages, allocation failures.
 */
#include "wire_test.h"

/* Written by tests/vectors/wire_envelope_vector.py (an independent encoder
 * with its own Ed25519 and msgpack). */
#include "../vectors/wire_envelope_vector.inc"

#define RECV_MAX FT_WIRE_ENVELOPE_MAX

static int lookup_none(void *arg, uint32_t sender, uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES])
{
	(void)arg;
	(void)sender;
	(void)pk;
	return FT_ENOTFOUND;
}

static void seal(const wt_world *w, const ft_wire_hdr *h, const ft_crypto_identity *id,
                 const uint8_t *body, size_t blen, uint8_t **env, size_t *elen)
{
	assert_int_equal(ft_wire_envelope_encode(h, body, blen, id, env, elen), FT_OK);
	(void)w;
}

static int open_env(const wt_world *w, const uint8_t *env, size_t elen, ft_wire_hdr *h,
                    const uint8_t **body, size_t *blen)
{
	return ft_wire_envelope_decode(env, elen, RECV_MAX, w->m->id, ft_wire_manifest_lookup, w->m,
	                               h, body, blen);
}

static void test_envelope_round_trip(void **state)
{
	wt_world w;
	ft_wire_hdr h, got;
	uint8_t *env = NULL;
	const uint8_t *body;
	size_t elen, blen;
	static const uint8_t payload[] = "opaque secure-aggregation bytes";
	(void)state;
	wt_world_init(&w);
	/* site -> coordinator */
	wt_hdr(&w, &h, FT_WIRE_SECAGG, 2, FT_WIRE_COORDINATOR_ID, 99);
	h.phase = 3;
	h.run = UINT64_MAX;
	h.round = 1ull << 40;
	h.attempt = UINT32_MAX;
	seal(&w, &h, w.site[1], payload, sizeof(payload), &env, &elen);
	assert_true(elen <= sizeof(payload) + FT_WIRE_ENVELOPE_OVERHEAD);
	assert_int_equal(open_env(&w, env, elen, &got, &body, &blen), FT_OK);
	assert_memory_equal(&got.consortium, h.consortium, FT_CRYPTO_ID_BYTES);
	assert_int_equal(got.version, FT_WIRE_VERSION);
	assert_int_equal(got.type, FT_WIRE_SECAGG);
	assert_true(got.run == UINT64_MAX && got.round == (1ull << 40) && got.attempt == UINT32_MAX);
	assert_int_equal(got.phase, 3);
	assert_int_equal(got.sender, 2);
	assert_int_equal(got.recipient, FT_WIRE_COORDINATOR_ID);
	assert_int_equal(got.seq, 99);
	assert_int_equal(got.sent_at_ms, h.sent_at_ms);
	assert_int_equal(blen, sizeof(payload));
	assert_memory_equal(body, payload, blen);
	/* the body is borrowed: it points into the envelope */
	assert_true(body > env && body + blen <= env + elen);
	ft_free(env);
	/* coordinator -> all sites, empty body */
	wt_hdr(&w, &h, FT_WIRE_BYE, FT_WIRE_COORDINATOR_ID, FT_WIRE_ALL_SITES, 1);
	seal(&w, &h, w.coord, NULL, 0, &env, &elen);
	assert_int_equal(open_env(&w, env, elen, &got, &body, &blen), FT_OK);
	assert_int_equal(got.sender, FT_WIRE_COORDINATOR_ID);
	assert_int_equal(blen, 0);
	ft_free(env);
	wt_world_free(&w);
}

/* The encoder's bytes equal an independent implementation's, byte for
 * byte (Ed25519 is deterministic), and the decoder accepts them. */
static void test_envelope_known_answer(void **state)
{
	wt_world w;
	ft_wire_hdr h, got;
	uint8_t *env = NULL, body_in[20];
	const uint8_t *body;
	size_t elen, blen;
	(void)state;
	wt_world_init(&w);
	assert_memory_equal(w.m->id, kat_consortium_id, 32);
	for (int i = 0; i < 20; i++)
		body_in[i] = (uint8_t)i;
	wt_hdr(&w, &h, FT_WIRE_SECAGG, 1, FT_WIRE_COORDINATOR_ID, 300);
	h.phase = 3;
	seal(&w, &h, w.site[0], body_in, sizeof(body_in), &env, &elen);
	assert_int_equal(elen, sizeof(kat_envelope));
	assert_memory_equal(env, kat_envelope, elen);
	ft_free(env);
	assert_int_equal(open_env(&w, kat_envelope, sizeof(kat_envelope), &got, &body, &blen), FT_OK);
	assert_int_equal(got.seq, 300);
	assert_int_equal(blen, 20);
	assert_memory_equal(body, body_in, 20);
	wt_world_free(&w);
}

/* Splits an envelope into inner and sig (encoder's shortest forms). */
static void split(const uint8_t *env, size_t elen, const uint8_t **inner, size_t *ilen,
                  const uint8_t **sig)
{
	size_t hdr;

	assert_int_equal(env[0], 0x92);
	if (env[1] == 0xc4) {
		*ilen = env[2];
		hdr = 3;
	} else if (env[1] == 0xc5) {
		*ilen = ((size_t)env[2] << 8) | env[3];
		hdr = 4;
	} else {
		assert_int_equal(env[1], 0xc6);
		*ilen = ((size_t)env[2] << 24) | ((size_t)env[3] << 16) | ((size_t)env[4] << 8) | env[5];
		hdr = 6;
	}
	*inner = env + hdr;
	assert_int_equal(env[hdr + *ilen], 0xc4);
	assert_int_equal(env[hdr + *ilen + 1], 64);
	*sig = env + hdr + *ilen + 2;
	assert_int_equal(hdr + *ilen + 2 + 64, elen);
}

static void test_signature_covers_exactly_inner(void **state)
{
	wt_world w;
	ft_wire_hdr h, got;
	uint8_t *env = NULL, *msg;
	const uint8_t *inner, *sig, *body;
	size_t elen, ilen, blen;
	static const uint8_t payload[40] = { 1, 2, 3 };
	(void)state;
	wt_world_init(&w);
	wt_hdr(&w, &h, FT_WIRE_SECAGG, 1, FT_WIRE_COORDINATOR_ID, 5);
	seal(&w, &h, w.site[0], payload, sizeof(payload), &env, &elen);
	split(env, elen, &inner, &ilen, &sig);
	/* Ed25519 over "fedtwin-envelope-v1" || inner, nothing else */
	msg = malloc(19 + ilen);
	assert_non_null(msg);
	memcpy(msg, "fedtwin-envelope-v1", 19);
	memcpy(msg + 19, inner, ilen);
	assert_int_equal(ft_crypto_verify(ft_crypto_identity_pk(w.site[0]), msg, 19 + ilen, sig),
	                 FT_OK);
	assert_int_equal(ft_crypto_verify(ft_crypto_identity_pk(w.site[0]), inner, ilen, sig),
	                 FT_ECRYPTO);
	free(msg);
	/* every single flipped bit anywhere is refused */
	for (size_t i = 0; i < elen; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			env[i] ^= (uint8_t)(1u << bit);
			assert_int_not_equal(open_env(&w, env, elen, &got, &body, &blen), FT_OK);
			env[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* flips inside the signed region that keep the structure decodable
	 * are caught by the signature itself */
	env[elen - 64 - 2 - 5] ^= 0x01; /* a body byte */
	assert_int_equal(open_env(&w, env, elen, &got, &body, &blen), FT_ECRYPTO);
	env[elen - 64 - 2 - 5] ^= 0x01;
	env[elen - 1] ^= 0x80; /* a signature byte */
	assert_int_equal(open_env(&w, env, elen, &got, &body, &blen), FT_ECRYPTO);
	env[elen - 1] ^= 0x80;
	assert_int_equal(open_env(&w, env, elen, &got, &body, &blen), FT_OK);
	ft_free(env);
	wt_world_free(&w);
}

static void test_wrong_key_unknown_sender_other_consortium(void **state)
{
	wt_world w;
	ft_wire_hdr h, got;
	uint8_t *env = NULL, other[FT_CRYPTO_ID_BYTES];
	const uint8_t *body;
	size_t elen, blen;
	(void)state;
	wt_world_init(&w);
	/* site 3 signs a message claiming to come from site 1 */
	wt_hdr(&w, &h, FT_WIRE_ROUND_ACCEPT, 1, FT_WIRE_COORDINATOR_ID, 5);
	seal(&w, &h, w.site[2], NULL, 0, &env, &elen);
	assert_int_equal(open_env(&w, env, elen, &got, &body, &blen), FT_ECRYPTO);
	ft_free(env);
	/* a site that is not enrolled */
	wt_hdr(&w, &h, FT_WIRE_HELLO, 77, FT_WIRE_COORDINATOR_ID, 5);
	seal(&w, &h, w.site[0], NULL, 0, &env, &elen);
	assert_int_equal(open_env(&w, env, elen, &got, &body, &blen), FT_ENOTFOUND);
	assert_int_equal(ft_wire_envelope_decode(env, elen, RECV_MAX, w.m->id, lookup_none, NULL,
	                                         &got, &body, &blen),
	                 FT_ENOTFOUND);
	ft_free(env);
	/* correctly signed, but for another consortium */
	wt_hdr(&w, &h, FT_WIRE_HELLO, 1, FT_WIRE_COORDINATOR_ID, 5);
	seal(&w, &h, w.site[0], NULL, 0, &env, &elen);
	memcpy(other, w.m->id, sizeof(other));
	other[31] ^= 1;
	assert_int_equal(ft_wire_envelope_decode(env, elen, RECV_MAX, other, ft_wire_manifest_lookup,
	                                         w.m, &got, &body, &blen),
	                 FT_EREPLAY);
	ft_free(env);
	wt_world_free(&w);
}

static void test_encode_refuses_bad_headers(void **state)
{
	wt_world w;
	ft_wire_hdr h;
	uint8_t *env = NULL, big[2048] = { 0 };
	size_t elen;
	(void)state;
	wt_world_init(&w);
	wt_hdr(&w, &h, 0, 1, FT_WIRE_COORDINATOR_ID, 1);
	assert_int_equal(ft_wire_envelope_encode(&h, NULL, 0, w.site[0], &env, &elen), FT_EINVAL);
	h.type = FT_WIRE_TYPE_COUNT_;
	assert_int_equal(ft_wire_envelope_encode(&h, NULL, 0, w.site[0], &env, &elen), FT_EINVAL);
	h.type = FT_WIRE_HELLO;
	h.phase = FT_WIRE_PHASE_MAX + 1;
	assert_int_equal(ft_wire_envelope_encode(&h, NULL, 0, w.site[0], &env, &elen), FT_EINVAL);
	h.phase = 0;
	h.sender = 0;
	assert_int_equal(ft_wire_envelope_encode(&h, NULL, 0, w.site[0], &env, &elen), FT_EINVAL);
	h.sender = FT_WIRE_ALL_SITES;
	assert_int_equal(ft_wire_envelope_encode(&h, NULL, 0, w.site[0], &env, &elen), FT_EINVAL);
	h.sender = 1;
	h.recipient = 1;
	assert_int_equal(ft_wire_envelope_encode(&h, NULL, 0, w.site[0], &env, &elen), FT_EINVAL);
	h.recipient = FT_WIRE_COORDINATOR_ID;
	assert_int_equal(ft_wire_envelope_encode(&h, big, ft_wire_body_max(FT_WIRE_HELLO) + 1,
	                                         w.site[0], &env, &elen),
	                 FT_ERANGE);
	assert_null(env);
	assert_int_equal(ft_wire_envelope_encode(&h, big, ft_wire_body_max(FT_WIRE_HELLO), w.site[0],
	                                         &env, &elen),
	                 FT_OK);
	ft_free(env);
	wt_world_free(&w);
}

/* Builds a signed envelope by hand whose body breaks its type's limit
 * (the encoder refuses to), to check the decoder refuses it first. */
static void hand_envelope(const ft_crypto_identity *id, const uint8_t consortium[32],
                          uint16_t type, uint32_t sender, size_t body_len, uint8_t **out,
                          size_t *out_len)
{
	size_t cap = 64 + body_len + 128, n = 0;
	uint8_t *p = malloc(cap), *inner;
	uint8_t sig[64];

	assert_non_null(p);
	inner = p + 6;
	inner[n++] = 0x9c;     /* array of 12 */
	inner[n++] = 0x01;     /* version */
	inner[n++] = 0xcd;     /* type, uint16 */
	inner[n++] = (uint8_t)(type >> 8);
	inner[n++] = (uint8_t)type;
	inner[n++] = 0xc4;
	inner[n++] = 32;
	memcpy(inner + n, consortium, 32);
	n += 32;
	for (int i = 0; i < 4; i++)
		inner[n++] = 0x01; /* run, round, attempt, phase */
	inner[n++] = 0xce;     /* sender */
	inner[n++] = (uint8_t)(sender >> 24);
	inner[n++] = (uint8_t)(sender >> 16);
	inner[n++] = (uint8_t)(sender >> 8);
	inner[n++] = (uint8_t)sender;
	inner[n++] = 0xce;     /* recipient: coordinator */
	for (int i = 0; i < 4; i++)
		inner[n++] = 0xff;
	inner[n++] = 0x05;     /* seq */
	inner[n++] = 0x06;     /* sent_at_ms */
	inner[n++] = 0xc6;     /* body, bin32 */
	inner[n++] = (uint8_t)(body_len >> 24);
	inner[n++] = (uint8_t)(body_len >> 16);
	inner[n++] = (uint8_t)(body_len >> 8);
	inner[n++] = (uint8_t)body_len;
	memset(inner + n, 0x00, body_len);
	n += body_len;
	{
		uint8_t *m = malloc(19 + n);

		assert_non_null(m);
		memcpy(m, "fedtwin-envelope-v1", 19);
		memcpy(m + 19, inner, n);
		assert_int_equal(ft_crypto_identity_sign(id, m, 19 + n, sig), FT_OK);
		free(m);
	}
	p[0] = 0x92;
	p[1] = 0xc6;
	p[2] = (uint8_t)(n >> 24);
	p[3] = (uint8_t)(n >> 16);
	p[4] = (uint8_t)(n >> 8);
	p[5] = (uint8_t)n;
	p[6 + n] = 0xc4;
	p[7 + n] = 64;
	memcpy(p + 8 + n, sig, 64);
	*out = p;
	*out_len = 8 + n + 64;
}

static void test_oversize_refused_before_allocation(void **state)
{
	wt_world w;
	ft_wire_hdr got;
	uint8_t *env;
	const uint8_t *body;
	size_t elen, blen;
	(void)state;
	wt_world_init(&w);
	/* the hand-built encoding is accepted when it is within limits */
	hand_envelope(w.site[0], w.m->id, FT_WIRE_HELLO, 1, 10, &env, &elen);
	assert_int_equal(open_env(&w, env, elen, &got, &body, &blen), FT_OK);
	assert_int_equal(blen, 10);
	/* over the receive limit: refused first, with no allocation at all */
	ft_alloc_fail_after(0);
	assert_int_equal(ft_wire_envelope_decode(env, elen, elen - 1, w.m->id,
	                                         ft_wire_manifest_lookup, w.m, &got, &body, &blen),
	                 FT_ERANGE);
	ft_alloc_fail_after(-1);
	free(env);
	/* a HELLO with a body over HELLO's limit, validly signed */
	hand_envelope(w.site[0], w.m->id, FT_WIRE_HELLO, 1, ft_wire_body_max(FT_WIRE_HELLO) + 1,
	              &env, &elen);
	ft_alloc_fail_after(0);
	assert_int_equal(open_env(&w, env, elen, &got, &body, &blen), FT_ERANGE);
	ft_alloc_fail_after(-1);
	free(env);
	/* unknown type numbers are refused */
	hand_envelope(w.site[0], w.m->id, FT_WIRE_TYPE_COUNT_, 1, 1, &env, &elen);
	assert_int_equal(open_env(&w, env, elen, &got, &body, &blen), FT_EPROTO);
	free(env);
	hand_envelope(w.site[0], w.m->id, 0x1234, 1, 1, &env, &elen);
	assert_int_equal(open_env(&w, env, elen, &got, &body, &blen), FT_EPROTO);
	free(env);
	/* a lying outer header: bin32 claiming 4 GiB */
	{
		static const uint8_t lie[] = { 0x92, 0xc6, 0xff, 0xff, 0xff, 0xff, 0x00 };

		ft_alloc_fail_after(0);
		assert_int_equal(ft_wire_envelope_decode(lie, sizeof(lie), RECV_MAX, w.m->id,
		                                         ft_wire_manifest_lookup, w.m, &got, &body,
		                                         &blen),
		                 FT_EPROTO);
		ft_alloc_fail_after(-1);
	}
	wt_world_free(&w);
}

static void test_envelope_alloc_failures(void **state)
{
	wt_world w;
	ft_wire_hdr h, got;
	uint8_t *env = NULL, body_in[3000];
	const uint8_t *body;
	size_t elen, blen;
	int rv = -1;
	(void)state;
	wt_world_init(&w);
	memset(body_in, 0x42, sizeof(body_in));
	wt_hdr(&w, &h, FT_WIRE_SECAGG, 4, FT_WIRE_COORDINATOR_ID, 1);
	for (long n = 0; n < 100; n++) {
		ft_alloc_fail_after(n);
		rv = ft_wire_envelope_encode(&h, body_in, sizeof(body_in), w.site[3], &env, &elen);
		ft_alloc_fail_after(-1);
		if (rv == FT_OK)
			break;
		assert_int_equal(rv, FT_ENOMEM);
	}
	assert_int_equal(rv, FT_OK);
	for (long n = 0; n < 100; n++) {
		ft_alloc_fail_after(n);
		rv = open_env(&w, env, elen, &got, &body, &blen);
		ft_alloc_fail_after(-1);
		if (rv == FT_OK)
			break;
		assert_int_equal(rv, FT_ENOMEM);
	}
	assert_int_equal(rv, FT_OK);
	assert_memory_equal(body, body_in, sizeof(body_in));
	ft_free(env);
	wt_world_free(&w);
}

/*
 * A node's filter holds 16 entries and its coordinator starts a run after
 * another for months: the 17th run and later are accepted (the least
 * recently used run is dropped), while any message of a dropped run, or a
 * remembered one, is still refused.
 */
static void test_replay_many_runs(void **state)
{
	wt_world w;
	ft_wire_replay *r = NULL;
	ft_wire_hdr h, first[40];
	uint64_t now = 1700000000000ull, seq = 1000;
	(void)state;
	wt_world_init(&w);
	assert_int_equal(ft_wire_replay_alloc(16, 300000, &r), FT_OK);
	wt_hdr(&w, &h, FT_WIRE_ROUND_ANNOUNCE, FT_WIRE_COORDINATOR_ID, 1, 10);
	for (uint64_t run = 1; run <= 40; run++) {
		/* a few messages per run, one millisecond apart */
		for (int k = 0; k < 3; k++) {
			h.run = run;
			h.seq = ++seq;
			h.sent_at_ms = ++now;
			assert_int_equal(ft_wire_replay_check(r, &h, now), FT_OK);
			if (k == 0)
				first[run - 1] = h;
		}
		/* a message of the run before, and of the first run, is refused */
		if (run > 1)
			assert_int_equal(ft_wire_replay_check(r, &first[run - 2], now), FT_EREPLAY);
		assert_int_equal(ft_wire_replay_check(r, &first[0], now), FT_EREPLAY);
	}
	/* every run's first message, dropped from the table or not */
	for (size_t i = 0; i < 40; i++)
		assert_int_equal(ft_wire_replay_check(r, &first[i], now), FT_EREPLAY);
	/* a new run started afterwards is accepted */
	h.run = 41;
	h.seq = ++seq;
	h.sent_at_ms = ++now;
	assert_int_equal(ft_wire_replay_check(r, &h, now), FT_OK);
	ft_wire_replay_free(r);
	wt_world_free(&w);
}

static void test_replay_and_freshness(void **state)
{
	wt_world w;
	ft_wire_replay *r = NULL;
	ft_wire_hdr h;
	const uint64_t now = 1700000000000ull;
	(void)state;
	wt_world_init(&w);
	assert_int_equal(ft_wire_replay_alloc(0, 1000, &r), FT_EINVAL);
	assert_int_equal(ft_wire_replay_alloc(3, 30000, &r), FT_OK);
	wt_hdr(&w, &h, FT_WIRE_SECAGG, 1, FT_WIRE_COORDINATOR_ID, 10);
	h.sent_at_ms = now;
	assert_int_equal(ft_wire_replay_check(r, &h, now), FT_OK);
	/* the same message again, and an older one */
	assert_int_equal(ft_wire_replay_check(r, &h, now), FT_EREPLAY);
	h.seq = 9;
	assert_int_equal(ft_wire_replay_check(r, &h, now + 5), FT_EREPLAY);
	h.seq = 11;
	assert_int_equal(ft_wire_replay_check(r, &h, now + 5), FT_OK);
	/* seq is tracked per sender ... */
	h.sender = 2;
	h.seq = 1;
	assert_int_equal(ft_wire_replay_check(r, &h, now), FT_OK);
	/* ... and per run */
	h.sender = 1;
	h.run = 8;
	h.seq = 1;
	assert_int_equal(ft_wire_replay_check(r, &h, now), FT_OK);
	/* stale and future timestamps beyond the tolerance; nothing recorded */
	h.seq = 2;
	h.sent_at_ms = now - 30001;
	assert_int_equal(ft_wire_replay_check(r, &h, now), FT_EREPLAY);
	h.sent_at_ms = now + 30001;
	assert_int_equal(ft_wire_replay_check(r, &h, now), FT_EREPLAY);
	h.sent_at_ms = now - 30000;
	assert_int_equal(ft_wire_replay_check(r, &h, now), FT_OK);
	/* forgetting run 7 frees its two entries, yet its messages stay
	 * refused: they were sent at or before the floor it leaves */
	ft_wire_replay_forget_run(r, 7);
	h.sender = 1;
	h.run = 7;
	h.seq = 11; /* the message accepted above, replayed */
	h.sent_at_ms = now;
	assert_int_equal(ft_wire_replay_check(r, &h, now + 5), FT_EREPLAY);
	h.sender = 2;
	h.seq = 1;
	assert_int_equal(ft_wire_replay_check(r, &h, now + 5), FT_EREPLAY);
	h.sender = 3;
	h.sent_at_ms = now + 6;
	assert_int_equal(ft_wire_replay_check(r, &h, now + 6), FT_OK);
	h.sender = 1; /* run 8 is still remembered */
	h.run = 8;
	h.seq = 2;
	assert_int_equal(ft_wire_replay_check(r, &h, now), FT_EREPLAY);
	ft_wire_replay_free(r);
	ft_wire_replay_free(NULL);
	wt_world_free(&w);
}

/*
 * A member site floods the coordinator's table with signed frames for
 * thousands of made-up runs, dated near the end of the freshness window.
 * Another site's next messages, in its run or a new one, are still
 * accepted; the flooder's own replays, and anything it dates below its
 * own floor, are refused.
 */
static void test_replay_flood_spares_other_senders(void **state)
{
	wt_world w;
	ft_wire_replay *r = NULL;
	ft_wire_hdr a, b, b_first, a_first, a_last;
	const uint64_t now = 1700000000000ull;
	(void)state;
	wt_world_init(&w);
	assert_int_equal(ft_wire_replay_alloc(4 * (size_t)FT_WIRE_MAX_SITES, 300000, &r), FT_OK);
	wt_hdr(&w, &b, FT_WIRE_SECAGG, 2, FT_WIRE_COORDINATOR_ID, 100);
	b.run = 5;
	b.sent_at_ms = now;
	assert_int_equal(ft_wire_replay_check(r, &b, now), FT_OK);
	b_first = b;
	wt_hdr(&w, &a, FT_WIRE_SECAGG, 1, FT_WIRE_COORDINATOR_ID, 100);
	for (uint64_t i = 0; i < 5 * (uint64_t)FT_WIRE_MAX_SITES; i++) {
		a.run = 1000 + i;
		a.seq++;
		a.sent_at_ms = now + 290000 + i;
		assert_int_equal(ft_wire_replay_check(r, &a, now + 1), FT_OK);
		if (i == 0)
			a_first = a;
	}
	a_last = a;
	/* the other site, in its run and in a new one */
	b.seq++;
	b.sent_at_ms = now + 2;
	assert_int_equal(ft_wire_replay_check(r, &b, now + 2), FT_OK);
	b.run = 6;
	b.seq++;
	b.sent_at_ms = now + 3;
	assert_int_equal(ft_wire_replay_check(r, &b, now + 3), FT_OK);
	assert_int_equal(ft_wire_replay_check(r, &b_first, now + 3), FT_EREPLAY);
	/* the flooder's replays, dropped entry or not, and a back-dated run */
	assert_int_equal(ft_wire_replay_check(r, &a_first, now + 3), FT_EREPLAY);
	assert_int_equal(ft_wire_replay_check(r, &a_last, now + 3), FT_EREPLAY);
	a.run = 1;
	a.seq++;
	a.sent_at_ms = now + 3;
	assert_int_equal(ft_wire_replay_check(r, &a, now + 3), FT_EREPLAY);
	ft_wire_replay_free(r);
	wt_world_free(&w);
}

/*
 * Even when the flood pushes the other site's entries out (a small table
 * where that site holds the most), the floor it leaves is that site's own:
 * its later messages pass and its old ones stay refused.
 */
static void test_replay_dropped_entries_keep_own_floor(void **state)
{
	wt_world w;
	ft_wire_replay *r = NULL;
	ft_wire_hdr a, b, old[3];
	const uint64_t now = 1700000000000ull;
	(void)state;
	wt_world_init(&w);
	assert_int_equal(ft_wire_replay_alloc(4, 300000, &r), FT_OK);
	wt_hdr(&w, &b, FT_WIRE_SECAGG, 2, FT_WIRE_COORDINATOR_ID, 100);
	for (int k = 0; k < 3; k++) {
		b.run = 5 + (uint64_t)k;
		b.seq++;
		b.sent_at_ms = now + (uint64_t)k;
		assert_int_equal(ft_wire_replay_check(r, &b, now + (uint64_t)k), FT_OK);
		old[k] = b;
	}
	wt_hdr(&w, &a, FT_WIRE_SECAGG, 1, FT_WIRE_COORDINATOR_ID, 100);
	for (uint64_t i = 0; i < 50; i++) {
		a.run = 1000 + i;
		a.seq++;
		a.sent_at_ms = now + 290000 + i;
		assert_int_equal(ft_wire_replay_check(r, &a, now + 3), FT_OK);
	}
	for (int k = 0; k < 3; k++)
		assert_int_equal(ft_wire_replay_check(r, &old[k], now + 4), FT_EREPLAY);
	b.run = 5;
	b.seq++;
	b.sent_at_ms = now + 4;
	assert_int_equal(ft_wire_replay_check(r, &b, now + 4), FT_OK);
	b.run = 9;
	b.seq++;
	b.sent_at_ms = now + 5;
	assert_int_equal(ft_wire_replay_check(r, &b, now + 5), FT_OK);
	ft_wire_replay_free(r);
	wt_world_free(&w);
}

/*
 * More senders than the floor table holds (a manifest rotated while the
 * receiver runs): memory stays fixed, every accepted message stays refused,
 * and a sender sending later is accepted.
 */
static void test_replay_many_senders(void **state)
{
	wt_world w;
	ft_wire_replay *r = NULL;
	ft_wire_hdr h, first;
	const uint32_t n = (uint32_t)FT_WIRE_MAX_SITES + 100u;
	const uint64_t now = 1700000000000ull;
	(void)state;
	wt_world_init(&w);
	assert_int_equal(ft_wire_replay_alloc(2, 300000, &r), FT_OK);
	wt_hdr(&w, &h, FT_WIRE_HELLO, 1, FT_WIRE_COORDINATOR_ID, 100);
	for (uint32_t id = 1; id <= n; id++) {
		h.sender = id;
		h.sent_at_ms = now + id;
		assert_int_equal(ft_wire_replay_check(r, &h, now + id), FT_OK);
		if (id == 1)
			first = h;
	}
	assert_int_equal(ft_wire_replay_check(r, &first, now + n), FT_EREPLAY);
	for (uint32_t id = 1; id <= n; id += 97) {
		h.sender = id;
		h.sent_at_ms = now + id;
		assert_int_equal(ft_wire_replay_check(r, &h, now + n), FT_EREPLAY);
	}
	h.sender = 1;
	h.seq++;
	h.sent_at_ms = now + n + 1;
	assert_int_equal(ft_wire_replay_check(r, &h, now + n + 1), FT_OK);
	/* a new sender, long after */
	h.sender = n + 1;
	h.sent_at_ms = now + 10 * 300000;
	assert_int_equal(ft_wire_replay_check(r, &h, now + 10 * 300000), FT_OK);
	ft_wire_replay_free(r);
	wt_world_free(&w);
}

static void test_registry(void **state)
{
	(void)state;
	/* stable numbers: these appear on the wire */
	assert_int_equal(FT_WIRE_HELLO, 1);
	assert_int_equal(FT_WIRE_SECAGG, 6);
	assert_int_equal(FT_WIRE_BYE, 12);
	assert_int_equal(FT_WIRE_PLAIN_UPDATE, 13);
	assert_string_equal(ft_wire_type_name(FT_WIRE_PLAIN_UPDATE), "PLAIN_UPDATE");
	assert_int_equal(ft_wire_body_max(FT_WIRE_PLAIN_UPDATE),
	                 ft_wire_body_max(FT_WIRE_MODEL_CHUNK));
	assert_string_equal(ft_wire_type_name(FT_WIRE_ROUND_ANNOUNCE), "ROUND_ANNOUNCE");
	assert_string_equal(ft_wire_type_name(0), "UNKNOWN");
	assert_string_equal(ft_wire_type_name(FT_WIRE_TYPE_COUNT_), "UNKNOWN");
	for (unsigned t = 1; t < FT_WIRE_TYPE_COUNT_; t++) {
		assert_true(ft_wire_body_max(t) > 0);
		assert_true(ft_wire_body_max(t) + FT_WIRE_ENVELOPE_OVERHEAD <= FT_WIRE_ENVELOPE_MAX);
	}
	assert_int_equal(ft_wire_body_max(0), 0);
	assert_int_equal(ft_wire_body_max(FT_WIRE_TYPE_COUNT_), 0);
	/* the largest body fits in the largest envelope */
	assert_int_equal(ft_wire_body_max(FT_WIRE_SECAGG) + FT_WIRE_ENVELOPE_OVERHEAD,
	                 FT_WIRE_ENVELOPE_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_envelope_round_trip),
		cmocka_unit_test(test_envelope_known_answer),
		cmocka_unit_test(test_signature_covers_exactly_inner),
		cmocka_unit_test(test_wrong_key_unknown_sender_other_consortium),
		cmocka_unit_test(test_encode_refuses_bad_headers),
		cmocka_unit_test(test_oversize_refused_before_allocation),
		cmocka_unit_test(test_envelope_alloc_failures),
		cmocka_unit_test(test_replay_and_freshness),
		cmocka_unit_test(test_replay_many_runs),
		cmocka_unit_test(test_replay_flood_spares_other_senders),
		cmocka_unit_test(test_replay_dropped_entries_keep_own_floor),
		cmocka_unit_test(test_replay_many_senders),
		cmocka_unit_test(test_registry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
