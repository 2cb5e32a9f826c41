/*
 * test_wire_chunk.c - chunked transfer: a payload several times larger than
 * one message goes through MODEL_CHUNK bodies and comes back byte for byte,
 * in order or shuffled; overlaps, inconsistent chunks, a wrong hash and a
 * declared total over the receiver's limit are refused.
 */
#include "wire_test.h"

#define PAYLOAD (3u * FT_WIRE_CHUNK_MAX + 12345u) /* no single message holds it */

static uint8_t *make_payload(size_t n)
{
	uint8_t *p = malloc(n);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 2654435761u >> 13);
	return p;
}

/* Cuts the payload into encoded bodies. */
static size_t cut(const uint8_t *p, size_t n, size_t chunk, uint8_t ***bodies, size_t **lens)
{
	ft_wire_chunker c;
	size_t count = 0, cap = n / chunk + 2;
	uint8_t *b;
	size_t len;
	int rv;

	*bodies = calloc(cap, sizeof(**bodies));
	*lens = calloc(cap, sizeof(**lens));
	assert_non_null(*bodies);
	assert_non_null(*lens);
	assert_int_equal(ft_wire_chunker_init(&c, p, n, 77, chunk), FT_OK);
	for (;;) {
		rv = ft_wire_chunker_next(&c, &b, &len);
		if (rv != FT_OK)
			break;
		assert_true(count < cap);
		assert_true(len <= ft_wire_body_max(FT_WIRE_MODEL_CHUNK));
		(*bodies)[count] = b;
		(*lens)[count] = len;
		count++;
	}
	assert_int_equal(rv, FT_ENOTFOUND);
	return count;
}

static void free_bodies(uint8_t **bodies, size_t *lens, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ft_free(bodies[i]);
	free(bodies);
	free(lens);
}

static void reassemble(uint8_t **bodies, size_t *lens, const size_t *order, size_t n,
                       const uint8_t *want, size_t want_len)
{
	ft_wire_reasm *r = NULL;
	ft_wire_chunk ch;
	uint8_t *out = NULL;
	size_t out_len = 0;
	uint64_t version = 0;

	assert_int_equal(ft_wire_reasm_alloc(want_len, &r), FT_OK);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(ft_wire_reasm_complete(r), 0);
		assert_int_equal(ft_wire_reasm_finish(r, &out, &out_len, &version), FT_ESTATE);
		assert_int_equal(ft_wire_chunk_decode(bodies[order[i]], lens[order[i]], &ch), FT_OK);
		assert_int_equal(ft_wire_reasm_add(r, &ch), FT_OK);
	}
	assert_int_equal(ft_wire_reasm_complete(r), 1);
	assert_int_equal(ft_wire_reasm_finish(r, &out, &out_len, &version), FT_OK);
	assert_int_equal(out_len, want_len);
	assert_int_equal(version, 77);
	assert_memory_equal(out, want, want_len);
	ft_free(out);
	ft_wire_reasm_free(r);
}

static void test_in_order_and_shuffled(void **state)
{
	uint8_t *p = make_payload(PAYLOAD), **bodies;
	size_t *lens, n, order[8] = { 0 };
	(void)state;
	assert_int_equal(ft_crypto_init(), FT_OK);
	n = cut(p, PAYLOAD, FT_WIRE_CHUNK_MAX, &bodies, &lens);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	reassemble(bodies, lens, order, n, p, PAYLOAD);
	/* reversed, and middle-out (joins on both sides of a hole) */
	for (size_t i = 0; i < n; i++)
		order[i] = n - 1 - i;
	reassemble(bodies, lens, order, n, p, PAYLOAD);
	order[0] = 0;
	order[1] = 2;
	order[2] = 3;
	order[3] = 1;
	reassemble(bodies, lens, order, n, p, PAYLOAD);
	free_bodies(bodies, lens, n);
	/* small chunks, the last one short */
	n = cut(p, 1000, 300, &bodies, &lens);
	assert_int_equal(n, 4);
	order[0] = 3;
	order[1] = 1;
	order[2] = 0;
	order[3] = 2;
	reassemble(bodies, lens, order, n, p, 1000);
	free_bodies(bodies, lens, n);
	free(p);
}

static void test_refusals(void **state)
{
	uint8_t *p = make_payload(1000), *out = NULL;
	uint8_t data2[100];
	ft_wire_reasm *r = NULL;
	ft_wire_chunk c;
	size_t out_len;
	(void)state;
	assert_int_equal(ft_crypto_init(), FT_OK);
	memset(&c, 0, sizeof(c));
	c.model_version = 5;
	c.total = 1000;
	ft_crypto_hash(c.hash, p, 1000);
	/* declared total over the limit: refused before the buffer exists */
	assert_int_equal(ft_wire_reasm_alloc(999, &r), FT_OK);
	c.data = p;
	c.len = 100;
	ft_alloc_fail_after(0);
	assert_int_equal(ft_wire_reasm_add(r, &c), FT_ERANGE);
	ft_alloc_fail_after(-1);
	ft_wire_reasm_free(r);
	/* a hostile total of 2^40 against a 1 GiB limit */
	assert_int_equal(ft_wire_reasm_alloc(1ull << 30, &r), FT_OK);
	c.total = 1ull << 40;
	ft_alloc_fail_after(0);
	assert_int_equal(ft_wire_reasm_add(r, &c), FT_ERANGE);
	ft_alloc_fail_after(-1);
	ft_wire_reasm_free(r);

	c.total = 1000;
	assert_int_equal(ft_wire_reasm_alloc(1000, &r), FT_OK);
	c.offset = 100;
	assert_int_equal(ft_wire_reasm_add(r, &c), FT_OK);
	/* the same chunk again, and partial overlaps from either side */
	assert_int_equal(ft_wire_reasm_add(r, &c), FT_EEXIST);
	c.offset = 150;
	c.data = p + 150;
	assert_int_equal(ft_wire_reasm_add(r, &c), FT_EEXIST);
	c.offset = 50;
	c.data = p + 50;
	assert_int_equal(ft_wire_reasm_add(r, &c), FT_EEXIST);
	c.offset = 0;
	c.len = 101;
	c.data = p;
	assert_int_equal(ft_wire_reasm_add(r, &c), FT_EEXIST);
	/* beyond the total */
	c.offset = 950;
	c.len = 51;
	c.data = data2;
	assert_int_equal(ft_wire_reasm_add(r, &c), FT_ERANGE);
	/* another version, total or hash than the first chunk's */
	c.offset = 0;
	c.len = 100;
	c.data = p;
	c.model_version = 6;
	assert_int_equal(ft_wire_reasm_add(r, &c), FT_EPROTO);
	c.model_version = 5;
	c.total = 999;
	assert_int_equal(ft_wire_reasm_add(r, &c), FT_EPROTO);
	c.total = 1000;
	c.hash[0] ^= 1;
	assert_int_equal(ft_wire_reasm_add(r, &c), FT_EPROTO);
	c.hash[0] ^= 1;
	/* the rest, with one byte of the payload corrupted in transit */
	assert_int_equal(ft_wire_reasm_add(r, &c), FT_OK);
	memcpy(data2, p + 200, 100);
	for (uint64_t off = 200; off < 1000; off += 100) {
		uint8_t tmp[100];

		memcpy(tmp, p + off, 100);
		if (off == 500)
			tmp[17] ^= 0x40;
		c.offset = off;
		c.data = tmp;
		assert_int_equal(ft_wire_reasm_add(r, &c), FT_OK);
	}
	assert_int_equal(ft_wire_reasm_complete(r), 1);
	assert_int_equal(ft_wire_reasm_add(r, &c), FT_ESTATE);
	assert_int_equal(ft_wire_reasm_finish(r, &out, &out_len, NULL), FT_ECRYPTO);
	assert_null(out);
	/* emptied: a new transfer can start */
	assert_int_equal(ft_wire_reasm_complete(r), 0);
	c.offset = 0;
	c.len = 1000;
	c.data = p;
	assert_int_equal(ft_wire_reasm_add(r, &c), FT_OK);
	assert_int_equal(ft_wire_reasm_finish(r, &out, &out_len, NULL), FT_OK);
	assert_memory_equal(out, p, 1000);
	ft_free(out);
	ft_wire_reasm_free(r);
	ft_wire_reasm_free(NULL);
	/* the chunker refuses what cannot be sent */
	{
		ft_wire_chunker ck;

		assert_int_equal(ft_wire_chunker_init(&ck, p, 0, 1, 100), FT_EINVAL);
		assert_int_equal(ft_wire_chunker_init(&ck, p, 1000, 1, 0), FT_EINVAL);
		assert_int_equal(ft_wire_chunker_init(&ck, p, 1000, 1, FT_WIRE_CHUNK_MAX + 1),
		                 FT_EINVAL);
	}
	free(p);
}

/* Many one-byte chunks at odd offsets: holes are bounded, joins work. */
static void test_alloc_failures_and_many_holes(void **state)
{
	uint8_t *p = make_payload(4096), *out = NULL;
	ft_wire_reasm *r = NULL;
	ft_wire_chunk c;
	size_t out_len;
	int rv;
	(void)state;
	assert_int_equal(ft_crypto_init(), FT_OK);
	memset(&c, 0, sizeof(c));
	c.total = 4096;
	ft_crypto_hash(c.hash, p, 4096);
	c.len = 1;
	/* every allocation of the reassembler may fail; it stays usable */
	for (long k = 0;; k++) {
		ft_alloc_fail_after(k);
		rv = ft_wire_reasm_alloc(4096, &r);
		if (rv == FT_OK) {
			for (uint64_t off = 1; off < 4096 && rv == FT_OK; off += 2) {
				c.offset = off;
				c.data = p + off;
				rv = ft_wire_reasm_add(r, &c);
			}
		}
		ft_alloc_fail_after(-1);
		if (rv == FT_OK)
			break;
		assert_int_equal(rv, FT_ENOMEM);
		ft_wire_reasm_free(r);
		r = NULL;
	}
	/* 2048 separate ranges, then the even bytes join them all */
	for (uint64_t off = 0; off < 4096; off += 2) {
		c.offset = off;
		c.data = p + off;
		assert_int_equal(ft_wire_reasm_add(r, &c), FT_OK);
	}
	assert_int_equal(ft_wire_reasm_finish(r, &out, &out_len, NULL), FT_OK);
	assert_memory_equal(out, p, 4096);
	ft_free(out);
	ft_wire_reasm_free(r);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_order_and_shuffled),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_alloc_failures_and_many_holes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
