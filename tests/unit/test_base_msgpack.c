/*
 * test_base_msgpack.c - ft_msgpack_check: bounded validation of untrusted
 * msgpack before anything unpacks it. Hand-built hostile inputs (lying
 * counts, truncated lengths, deep nesting, the reserved byte), every length
 * form of every type, and agreement with msgpack-c's own unpacker on what
 * msgpack-c packs and on random mutations.
 */
#include "ft_test.h"
#include "ft_base.h"

#include <msgpack.h>

#define DEEP 64u
#define MANY ((size_t)1 << 20)

static int check(const uint8_t *b, size_t n, size_t *used)
{
	return ft_msgpack_check(b, n, DEEP, MANY, used);
}

/* Each accepted object is exactly as long as claimed, and refused once the
 * last byte is cut off. */
static void expect_object(const uint8_t *b, size_t n)
{
	size_t used = 0;

	assert_int_equal(check(b, n, &used), FT_OK);
	assert_int_equal(used, n);
	assert_int_equal(check(b, n - 1, &used), FT_EFORMAT);
}

static void test_every_length_form(void **state)
{
	static uint8_t big[70000 + 5];
	(void)state;
	/* scalars */
	expect_object((const uint8_t[]){ 0x05 }, 1);
	expect_object((const uint8_t[]){ 0xe0 }, 1);
	expect_object((const uint8_t[]){ 0xc0 }, 1);
	expect_object((const uint8_t[]){ 0xc3 }, 1);
	expect_object((const uint8_t[]){ 0xcc, 1 }, 2);
	expect_object((const uint8_t[]){ 0xcd, 1, 2 }, 3);
	expect_object((const uint8_t[]){ 0xce, 1, 2, 3, 4 }, 5);
	expect_object((const uint8_t[]){ 0xcf, 1, 2, 3, 4, 5, 6, 7, 8 }, 9);
	expect_object((const uint8_t[]){ 0xd0, 1 }, 2);
	expect_object((const uint8_t[]){ 0xd1, 1, 2 }, 3);
	expect_object((const uint8_t[]){ 0xd2, 1, 2, 3, 4 }, 5);
	expect_object((const uint8_t[]){ 0xd3, 1, 2, 3, 4, 5, 6, 7, 8 }, 9);
	expect_object((const uint8_t[]){ 0xca, 1, 2, 3, 4 }, 5);
	expect_object((const uint8_t[]){ 0xcb, 1, 2, 3, 4, 5, 6, 7, 8 }, 9);
	/* str: fix, 8, 16, 32 */
	expect_object((const uint8_t[]){ 0xa3, 'a', 'b', 'c' }, 4);
	expect_object((const uint8_t[]){ 0xd9, 2, 'a', 'b' }, 4);
	expect_object((const uint8_t[]){ 0xda, 0, 2, 'a', 'b' }, 5);
	expect_object((const uint8_t[]){ 0xdb, 0, 0, 0, 2, 'a', 'b' }, 7);
	/* bin 8, 16, 32 */
	expect_object((const uint8_t[]){ 0xc4, 1, 9 }, 3);
	expect_object((const uint8_t[]){ 0xc5, 0, 1, 9 }, 4);
	expect_object((const uint8_t[]){ 0xc6, 0, 0, 0, 1, 9 }, 6);
	/* ext: fixext 1/2/4/8/16 (type byte + data), ext 8/16/32 */
	expect_object((const uint8_t[]){ 0xd4, 7, 1 }, 3);
	expect_object((const uint8_t[]){ 0xd5, 7, 1, 2 }, 4);
	expect_object((const uint8_t[]){ 0xd6, 7, 1, 2, 3, 4 }, 6);
	expect_object((const uint8_t[]){ 0xd7, 7, 1, 2, 3, 4, 5, 6, 7, 8 }, 10);
	expect_object((const uint8_t[]){ 0xd8, 7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	                                 15, 16 },
	              18);
	expect_object((const uint8_t[]){ 0xc7, 2, 7, 1, 2 }, 5);
	expect_object((const uint8_t[]){ 0xc8, 0, 2, 7, 1, 2 }, 6);
	expect_object((const uint8_t[]){ 0xc9, 0, 0, 0, 2, 7, 1, 2 }, 8);
	/* containers: fix, 16, 32 */
	expect_object((const uint8_t[]){ 0x92, 1, 2 }, 3);
	expect_object((const uint8_t[]){ 0xdc, 0, 2, 1, 2 }, 5);
	expect_object((const uint8_t[]){ 0xdd, 0, 0, 0, 2, 1, 2 }, 7);
	expect_object((const uint8_t[]){ 0x81, 1, 2 }, 3);
	expect_object((const uint8_t[]){ 0xde, 0, 1, 1, 2 }, 5);
	expect_object((const uint8_t[]){ 0xdf, 0, 0, 0, 1, 1, 2 }, 7);
	/* empty containers and strings are complete objects */
	expect_object((const uint8_t[]){ 0x90 }, 1);
	expect_object((const uint8_t[]){ 0x80 }, 1);
	expect_object((const uint8_t[]){ 0xa0 }, 1);
	/* a long bin16 body is walked, not recursed */
	big[0] = 0xc6;
	big[1] = 0;
	big[2] = 1;
	big[3] = 0x11;
	big[4] = 0x70;
	expect_object(big, 5 + 70000);
}

static void test_lying_counts(void **state)
{
	size_t used = 12345;
	(void)state;
	/* 5-byte array header claiming 2^32 - 1 elements: msgpack-c would
	 * reserve for them; refused because 0 bytes back them. */
	assert_int_equal(check((const uint8_t[]){ 0xdd, 0xff, 0xff, 0xff, 0xff }, 5, &used),
	                 FT_EFORMAT);
	assert_int_equal(used, 12345); /* not written on error */
	assert_int_equal(check((const uint8_t[]){ 0xdf, 0x7f, 0xff, 0xff, 0xff, 0, 0 }, 7, &used),
	                 FT_EFORMAT);
	assert_int_equal(check((const uint8_t[]){ 0xdc, 0xff, 0xff, 1, 2, 3 }, 6, &used),
	                 FT_EFORMAT);
	/* a map pair needs two bytes: one pair, one byte left */
	assert_int_equal(check((const uint8_t[]){ 0x81, 1 }, 2, &used), FT_EFORMAT);
	/* three elements declared, two present */
	assert_int_equal(check((const uint8_t[]){ 0x93, 1, 2 }, 3, &used), FT_EFORMAT);
	/* the lie is nested: inner array claims more than the outer leaves */
	assert_int_equal(check((const uint8_t[]){ 0x92, 0xdd, 0, 0, 1, 0, 1 }, 7, &used),
	                 FT_EFORMAT);
}

static void test_truncated_lengths(void **state)
{
	size_t used;
	(void)state;
	assert_int_equal(check((const uint8_t[]){ 0xd9, 5, 'a', 'b', 'c', 'd' }, 6, &used),
	                 FT_EFORMAT);
	assert_int_equal(check((const uint8_t[]){ 0xdb, 0xff, 0xff, 0xff, 0xff, 'a' }, 6, &used),
	                 FT_EFORMAT);
	assert_int_equal(check((const uint8_t[]){ 0xc6, 0xff, 0xff, 0xff, 0xff }, 5, &used),
	                 FT_EFORMAT);
	assert_int_equal(check((const uint8_t[]){ 0xc5, 0x01 }, 2, &used), FT_EFORMAT);
	/* ext 8 of 1 byte lacks its type byte */
	assert_int_equal(check((const uint8_t[]){ 0xc7, 1, 7 }, 3, &used), FT_EFORMAT);
	assert_int_equal(check((const uint8_t[]){ 0xc9, 0xff, 0xff, 0xff, 0xff, 7 }, 6, &used),
	                 FT_EFORMAT);
	/* a string inside a map, cut */
	assert_int_equal(check((const uint8_t[]){ 0x81, 0xa1, 'k', 0xa4, 'v' }, 5, &used),
	                 FT_EFORMAT);
	/* nothing at all */
	assert_int_equal(check((const uint8_t[]){ 0 }, 0, &used), FT_EFORMAT);
	assert_int_equal(ft_msgpack_check(NULL, 0, DEEP, MANY, &used), FT_EFORMAT);
	assert_int_equal(ft_msgpack_check(NULL, 3, DEEP, MANY, &used), FT_EINVAL);
}

static void test_depth_and_items(void **state)
{
	uint8_t b[200];
	size_t used;
	(void)state;
	/* [[[0]]]: the scalar is at depth 4 */
	memcpy(b, (const uint8_t[]){ 0x91, 0x91, 0x91, 0x00 }, 4);
	assert_int_equal(ft_msgpack_check(b, 4, 4, MANY, &used), FT_OK);
	assert_int_equal(ft_msgpack_check(b, 4, 3, MANY, &used), FT_EFORMAT);
	/* an empty container at the limit is fine, its would-be children
	 * are not */
	assert_int_equal(ft_msgpack_check((const uint8_t[]){ 0x91, 0x90 }, 2, 2, MANY, &used),
	                 FT_OK);
	assert_int_equal(ft_msgpack_check((const uint8_t[]){ 0x91, 0x91, 0x90 }, 3, 2, MANY, &used),
	                 FT_EFORMAT);
	/* 199 nested arrays: refused at any depth limit we allow */
	memset(b, 0x91, 199);
	b[199] = 0;
	assert_int_equal(ft_msgpack_check(b, 200, 16, MANY, &used), FT_EFORMAT);
	assert_int_equal(ft_msgpack_check(b, 200, 1000, MANY, &used), FT_EFORMAT);
	/* item budget: [0 x 10] is 11 objects; a map pair is 2 */
	b[0] = 0x9a;
	memset(b + 1, 0, 10);
	assert_int_equal(ft_msgpack_check(b, 11, 2, 11, &used), FT_OK);
	assert_int_equal(ft_msgpack_check(b, 11, 2, 10, &used), FT_ERANGE);
	assert_int_equal(ft_msgpack_check((const uint8_t[]){ 0x81, 1, 2 }, 3, 2, 3, &used), FT_OK);
	assert_int_equal(ft_msgpack_check((const uint8_t[]){ 0x81, 1, 2 }, 3, 2, 2, &used),
	                 FT_ERANGE);
}

static void test_reserved_byte_and_trailing(void **state)
{
	size_t used = 0;
	(void)state;
	assert_int_equal(check((const uint8_t[]){ 0xc1 }, 1, &used), FT_EFORMAT);
	assert_int_equal(check((const uint8_t[]){ 0x92, 0x01, 0xc1 }, 3, &used), FT_EFORMAT);
	/* one object is read; what follows is the caller's business */
	assert_int_equal(check((const uint8_t[]){ 0x91, 0x01, 0xc1, 0xff }, 4, &used), FT_OK);
	assert_int_equal(used, 2);
	assert_int_equal(check((const uint8_t[]){ 0x01, 0x02 }, 2, NULL), FT_OK);
}

/* What msgpack-c packs, ft_msgpack_check accepts at exactly its length. */
static void test_agrees_with_msgpack_c_packer(void **state)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	static char blob[300];
	size_t used;
	(void)state;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	msgpack_pack_str(&pk, 3);
	msgpack_pack_str_body(&pk, "abc", 3);
	msgpack_pack_array(&pk, 20);
	for (int i = 0; i < 20; i++)
		msgpack_pack_int64(&pk, (int64_t)i * -123456789);
	msgpack_pack_bin(&pk, sizeof(blob));
	msgpack_pack_bin_body(&pk, blob, sizeof(blob));
	msgpack_pack_double(&pk, 1.5);
	msgpack_pack_uint64(&pk, UINT64_MAX);
	msgpack_pack_ext(&pk, 40, 9);
	msgpack_pack_ext_body(&pk, blob, 40);
	msgpack_pack_nil(&pk);
	msgpack_pack_map(&pk, 17);
	for (int i = 0; i < 17; i++) {
		msgpack_pack_int(&pk, i);
		msgpack_pack_true(&pk);
	}
	assert_int_equal(check((const uint8_t *)sb.data, sb.size, &used), FT_OK);
	assert_int_equal(used, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

/* Random mutations: whenever ft_msgpack_check accepts, msgpack-c parses the
 * same object to the same end. Deterministic xorshift, no rand(). */
static void test_agrees_with_msgpack_c_unpacker(void **state)
{
	static const uint8_t seed_obj[] = { 0x83, 0xa1, 'a', 0x93, 0x01, 0xcd, 0x01, 0x00, 0xc4,
		                            0x02, 0xaa, 0xbb, 0xa1, 'b', 0xde, 0x00, 0x01, 0xc0,
		                            0xc3, 0xa1, 'c', 0xd6, 0x05, 1, 2, 3, 4 };
	uint64_t x = 0x9e3779b97f4a7c15ull;
	unsigned accepted = 0;
	(void)state;
	for (int iter = 0; iter < 20000; iter++) {
		uint8_t b[sizeof(seed_obj)];
		size_t n = sizeof(b), used, off = 0;
		msgpack_unpacked u;
		msgpack_unpack_return ur;

		memcpy(b, seed_obj, n);
		for (int k = 0; k < 3; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			b[(x >> 8) % n] = (uint8_t)(x >> 32);
		}
		if ((x >> 40) % 4 == 0)
			n = (size_t)((x >> 45) % n) + 1;
		if (check(b, n, &used) != FT_OK)
			continue;
		accepted++;
		msgpack_unpacked_init(&u);
		ur = msgpack_unpack_next(&u, (const char *)b, used, &off);
		assert_int_equal(ur, MSGPACK_UNPACK_SUCCESS);
		assert_int_equal(off, used);
		msgpack_unpacked_destroy(&u);
	}
	assert_true(accepted > 100); /* the property was exercised */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_length_form),
		cmocka_unit_test(test_lying_counts),
		cmocka_unit_test(test_truncated_lengths),
		cmocka_unit_test(test_depth_and_items),
		cmocka_unit_test(test_reserved_byte_and_trailing),
		cmocka_unit_test(test_agrees_with_msgpack_c_packer),
		cmocka_unit_test(test_agrees_with_msgpack_c_unpacker),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
