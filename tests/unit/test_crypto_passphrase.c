/*
 * test_crypto_passphrase.c - the passphrase that seals identity keys comes
 * from a file's first line or FEDTWIN_PASSPHRASE, never silently empty or
 * truncated.
 */
#include "ft_test.h"

#include "ft_crypto.h"

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_file_first_line(void **state)
{
	char dir[128], path[256];
	char *p = NULL;

	(void)state;
	ft_test_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/pass", dir);
	write_file(path, "correct horse\r\nsecond line\n");
	assert_int_equal(ft_crypto_passphrase_read(path, &p, NULL), FT_OK);
	assert_string_equal(p, "correct horse");
	ft_crypto_passphrase_free(p);
	ft_test_rmdir(dir);
}

static void test_file_errors(void **state)
{
	char dir[128], path[256], *big;
	char *p = (char *)1;
	ft_errmsg e = {{0}};

	(void)state;
	ft_test_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_int_equal(ft_crypto_passphrase_read(path, &p, &e), FT_EIO);
	assert_null(p);
	assert_non_null(strstr(e.msg, "missing"));
	snprintf(path, sizeof(path), "%s/empty", dir);
	write_file(path, "\nafter an empty line\n");
	assert_int_equal(ft_crypto_passphrase_read(path, &p, &e), FT_EFORMAT);
	/* One byte over the limit is refused, not cut. */
	big = malloc(FT_CRYPTO_PASSPHRASE_MAX + 3);
	assert_non_null(big);
	memset(big, 'a', FT_CRYPTO_PASSPHRASE_MAX + 1);
	big[FT_CRYPTO_PASSPHRASE_MAX + 1] = '\n';
	big[FT_CRYPTO_PASSPHRASE_MAX + 2] = '\0';
	snprintf(path, sizeof(path), "%s/long", dir);
	write_file(path, big);
	assert_int_equal(ft_crypto_passphrase_read(path, &p, &e), FT_ERANGE);
	/* Exactly the limit is fine. */
	big[FT_CRYPTO_PASSPHRASE_MAX] = '\n';
	big[FT_CRYPTO_PASSPHRASE_MAX + 1] = '\0';
	write_file(path, big);
	assert_int_equal(ft_crypto_passphrase_read(path, &p, &e), FT_OK);
	assert_int_equal(strlen(p), FT_CRYPTO_PASSPHRASE_MAX);
	ft_crypto_passphrase_free(p);
	free(big);
	ft_test_rmdir(dir);
}

static void test_environment(void **state)
{
	char *p = NULL;

	(void)state;
	unsetenv("FEDTWIN_PASSPHRASE");
	assert_int_equal(ft_crypto_passphrase_read(NULL, &p, NULL), FT_OK);
	assert_null(p);
	setenv("FEDTWIN_PASSPHRASE", "", 1);
	assert_int_equal(ft_crypto_passphrase_read(NULL, &p, NULL), FT_OK);
	assert_null(p);
	setenv("FEDTWIN_PASSPHRASE", "from the environment", 1);
	assert_int_equal(ft_crypto_passphrase_read(NULL, &p, NULL), FT_OK);
	assert_string_equal(p, "from the environment");
	ft_crypto_passphrase_free(p);
	unsetenv("FEDTWIN_PASSPHRASE");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_first_line),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_environment),
	};

	if (ft_crypto_init() != FT_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
