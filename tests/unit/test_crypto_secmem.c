/*
 * test_crypto_secmem.c - guarded memory for secrets: blocks are zeroed,
 * aligned for any object, usable over their whole size, and the allocator
 * refuses sizes it cannot serve.
 */
#include <stdalign.h>

#include "ft_test.h"
#include "ft_crypto.h"

static void test_blocks(void **state)
{
	static const size_t sizes[] = { 1, 3, 16, 17, 100, 4095, 4096, 4097, 70000 };
	void *held;

	(void)state;
	assert_int_equal(ft_crypto_secure_blocks(), 0);
	held = ft_crypto_secure_alloc(32);
	assert_int_equal(ft_crypto_secure_blocks(), 1);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		uint8_t *p = ft_crypto_secure_alloc(sizes[k]);

		assert_non_null(p);
		assert_int_equal((uintptr_t)p % alignof(max_align_t), 0);
		for (size_t i = 0; i < sizes[k]; i++)
			assert_int_equal(p[i], 0);
		/* the whole block is writable (a guard page right after it
		 * would fault here if the size were not honoured) */
		memset(p, 0xa5, sizes[k]);
		assert_int_equal(p[sizes[k] - 1], 0xa5);
		assert_int_equal(ft_crypto_secure_blocks(), 2);
		ft_crypto_secure_free(p);
	}
	ft_crypto_secure_free(held);
	assert_int_equal(ft_crypto_secure_blocks(), 0);
}

/* Structures with 4- and 8-byte members land aligned, as UBSan checks. */
static void test_struct_array(void **state)
{
	typedef struct rec {
		uint64_t a;
		uint32_t b;
		uint8_t c;
	} rec;
	rec *r = ft_crypto_secure_alloc(7 * sizeof(rec));

	(void)state;
	assert_non_null(r);
	for (int i = 0; i < 7; i++) {
		r[i].a = (uint64_t)i << 40;
		r[i].b = (uint32_t)i;
		r[i].c = (uint8_t)i;
	}
	assert_int_equal(r[6].a >> 40, 6);
	ft_crypto_secure_free(r);
}

static void test_refusals(void **state)
{
	(void)state;
	assert_null(ft_crypto_secure_alloc(0));
	assert_null(ft_crypto_secure_alloc(SIZE_MAX));
	assert_null(ft_crypto_secure_alloc(SIZE_MAX - 8));
	ft_crypto_secure_free(NULL);
	/* injected allocation failures reach it too */
	ft_alloc_fail_after(0);
	assert_null(ft_crypto_secure_alloc(64));
	ft_alloc_fail_after(-1);
	assert_int_equal(ft_crypto_secure_blocks(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blocks),
		cmocka_unit_test(test_struct_array),
		cmocka_unit_test(test_refusals),
	};

	if (ft_crypto_init() != FT_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
