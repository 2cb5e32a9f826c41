/*
 * test_base.c - the shared error enum, allocation failure injection and
 * strict number parsing.
 */
#include "ft_test.h"
#include "ft_base.h"

static void test_strerror_total(void **state)
{
	(void)state;
	for (int i = 0; i < FT_ERR_COUNT_; i++)
		assert_non_null(ft_strerror(i));
	assert_string_equal(ft_strerror(FT_OK), "success");
	assert_string_equal(ft_strerror(-5), "unknown error");
	assert_string_equal(ft_strerror(FT_ERR_COUNT_), "unknown error");
}

static void test_errmsg(void **state)
{
	ft_errmsg e;

	(void)state;
	assert_int_equal(ft_errmsg_set(&e, FT_EFORMAT, "line %d", 7), FT_EFORMAT);
	assert_string_equal(e.msg, "line 7");
	assert_int_equal(ft_errmsg_set(NULL, FT_EIO, "x"), FT_EIO);
}

static void test_alloc_failure_injection(void **state)
{
	void *a, *b;

	(void)state;
	ft_alloc_fail_after(1);
	a = ft_malloc(8);
	b = ft_malloc(8);
	assert_non_null(a);
	assert_null(b);
	ft_alloc_fail_after(-1);
	b = ft_malloc(8);
	assert_non_null(b);
	ft_free(a);
	ft_free(b);
	assert_null(ft_mallocarray(SIZE_MAX / 2, 4));
}

static void test_parse_numbers(void **state)
{
	double d = 0;
	int64_t i = 0;
	uint64_t u = 0;

	(void)state;
	assert_int_equal(ft_parse_double("0.5", &d), FT_OK);
	assert_true(d == 0.5);
	assert_int_equal(ft_parse_double("0.5x", &d), FT_EFORMAT);
	assert_int_equal(ft_parse_double("", &d), FT_EFORMAT);
	assert_int_equal(ft_parse_double("nan", &d), FT_ERANGE);
	assert_int_equal(ft_parse_double("1e999", &d), FT_ERANGE);
	assert_int_equal(ft_parse_i64("-12", -100, 100, &i), FT_OK);
	assert_int_equal(i, -12);
	assert_int_equal(ft_parse_i64("101", -100, 100, &i), FT_ERANGE);
	assert_int_equal(ft_parse_i64("12 ", -100, 100, &i), FT_EFORMAT);
	assert_int_equal(ft_parse_u64("-1", 100, &u), FT_EFORMAT);
	assert_int_equal(ft_parse_u64("99", 100, &u), FT_OK);
	assert_int_equal(u, 99);
}

static void test_le_helpers(void **state)
{
	uint8_t b[8];

	(void)state;
	ft_put_le64(b, 0x0102030405060708ull);
	assert_int_equal(b[0], 0x08);
	assert_int_equal(b[7], 0x01);
	assert_true(ft_get_le64(b) == 0x0102030405060708ull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strerror_total),
		cmocka_unit_test(test_errmsg),
		cmocka_unit_test(test_alloc_failure_injection),
		cmocka_unit_test(test_parse_numbers),
		cmocka_unit_test(test_le_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
