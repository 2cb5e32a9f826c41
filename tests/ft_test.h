/*
 * ft_test.h - helpers shared by the cmocka unit tests.
 */
#ifndef FT_TEST_H
#define FT_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* Path of a file under the project's data/ folder (FT_DATA_DIR, set by CTest). */
static inline const char *ft_test_data(const char *rel, char *buf, size_t n)
{
	const char *dir = getenv("FT_DATA_DIR");

	snprintf(buf, n, "%s/%s", dir != NULL ? dir : "data", rel);
	return buf;
}

/* A fresh temporary directory for one test; removed by the caller with
 * ft_test_rmdir(). */
static inline void ft_test_tmpdir(char *buf, size_t n)
{
	snprintf(buf, n, "/tmp/fedtwin-test-XXXXXX");
	assert_non_null(mkdtemp(buf));
}

static inline void ft_test_rmdir(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

#endif
