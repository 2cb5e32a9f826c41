/*
 * test_store_csv.c - the strict CSV reader: what it accepts, and that every
 * rejected input is named by file, line and column.
 */
#include "ft_test.h"
#include "ft_store.h"
#include "ft_crypto.h"

#include <dirent.h>

/* Opens `text` as an in-memory CSV named "t.csv". */
static int open_text(const char *text, const ft_store_csv_limits *lim, ft_store_csv **c,
                     ft_errmsg *e)
{
	return ft_store_csv_open_mem(text, strlen(text), "t.csv", lim, c, e);
}

/* Reads every row of `text`; returns the first error (or FT_OK) with its message. */
static int read_all(const char *text, const ft_store_csv_limits *lim, size_t *rows,
                    ft_errmsg *e)
{
	ft_store_csv *c = NULL;
	int has = 1;
	int rv = open_text(text, lim, &c, e);

	while (rv == FT_OK && has)
		rv = ft_store_csv_next(c, &has, e);
	if (rows != NULL && c != NULL)
		*rows = ft_store_csv_rows(c);
	ft_store_csv_close(c);
	return rv;
}

/* Asserts that reading `text` fails with `code` and a message containing `want`. */
static void expect_error(const char *text, const ft_store_csv_limits *lim, int code,
                         const char *want)
{
	ft_errmsg e = { "" };
	int rv = read_all(text, lim, NULL, &e);

	if (rv != code || strstr(e.msg, want) == NULL)
		fail_msg("input %.40s: got %d '%s', want %d '%s'", text, rv, e.msg, code, want);
}

static void test_csv_accepts_rfc4180(void **state)
{
	/* BOM, CRLF, quoted fields with commas, doubled quotes and a newline,
	 * an empty line, NA and empty cells, no final newline. */
	const char *text = "\xef\xbb\xbfid,name,x\r\n"
	                   "1,\"Smith, J\",2.5\r\n"
	                   "\r\n"
	                   "2,\"say \"\"hi\"\"\nthere\",NA\n"
	                   "3,,-1e3";
	ft_store_csv *c = NULL;
	ft_errmsg e;
	int has = 0, na = 0;
	double v = 0;
	size_t col = 99;

	(void)state;
	assert_int_equal(open_text(text, NULL, &c, &e), FT_OK);
	assert_int_equal(ft_store_csv_columns(c), 3);
	assert_string_equal(ft_store_csv_column_name(c, 0), "id");
	assert_null(ft_store_csv_column_name(c, 3));
	assert_int_equal(ft_store_csv_find(c, "x", &col, &e), FT_OK);
	assert_int_equal(col, 2);

	assert_int_equal(ft_store_csv_next(c, &has, &e), FT_OK);
	assert_int_equal(has, 1);
	assert_int_equal(ft_store_csv_line(c), 2);
	assert_string_equal(ft_store_csv_field(c, 1), "Smith, J");
	assert_int_equal(ft_store_csv_number(c, 2, &v, &na, &e), FT_OK);
	assert_int_equal(na, 0);
	assert_true(v == 2.5);

	assert_int_equal(ft_store_csv_next(c, &has, &e), FT_OK);
	assert_int_equal(ft_store_csv_line(c), 4); /* the empty line 3 was skipped */
	assert_string_equal(ft_store_csv_field(c, 1), "say \"hi\"\nthere");
	assert_true(ft_store_csv_is_na(c, 2));
	v = 7;
	assert_int_equal(ft_store_csv_number(c, 2, &v, &na, &e), FT_OK);
	assert_int_equal(na, 1);
	assert_true(v == 7); /* untouched for NA */

	assert_int_equal(ft_store_csv_next(c, &has, &e), FT_OK);
	assert_int_equal(ft_store_csv_line(c), 6); /* the quoted newline counted */
	assert_true(ft_store_csv_is_na(c, 1));
	assert_int_equal(ft_store_csv_number(c, 2, &v, &na, &e), FT_OK);
	assert_true(v == -1000.0);

	assert_int_equal(ft_store_csv_next(c, &has, &e), FT_OK);
	assert_int_equal(has, 0);
	assert_int_equal(ft_store_csv_rows(c), 3);
	assert_null(ft_store_csv_field(c, 0));
	ft_store_csv_close(c);
	ft_store_csv_close(NULL);
}

static void test_csv_structure_errors(void **state)
{
	(void)state;
	expect_error("", NULL, FT_EFORMAT, "t.csv: empty file (no header row)");
	expect_error("\n\r\n\n", NULL, FT_EFORMAT, "t.csv: empty file (no header row)");
	expect_error("a,b\n", NULL, FT_EFORMAT, "t.csv: header only, no data rows");
	expect_error("a,b\n\n\n", NULL, FT_EFORMAT, "t.csv: header only, no data rows");
	expect_error("a,b,c\n1,2,3\n4,5\n", NULL, FT_EFORMAT,
	             "t.csv: line 3: 2 fields but the header has 3 columns (missing column 'c')");
	expect_error("a,b,c\n1,2,3\n4,5,6,7\n", NULL, FT_EFORMAT,
	             "t.csv: line 3: more fields than the 3 header columns (extra field after "
	             "column 'c')");
	expect_error("a,b,a\n1,2,3\n", NULL, FT_EFORMAT,
	             "t.csv: line 1: duplicate column name 'a' (columns 1 and 3)");
	expect_error("a,,c\n1,2,3\n", NULL, FT_EFORMAT, "t.csv: line 1, column 2: empty column name");
	expect_error("a,b\n1,2\n3,\"4\n", NULL, FT_EFORMAT,
	             "t.csv: line 3, column 'b': unterminated quoted field");
	expect_error("a,b\n1,2\n3,\"4\"x\n", NULL, FT_EFORMAT,
	             "t.csv: line 3, column 'b': text after a closing quote");
	expect_error("a,b\n1,2\n3,4\"\n", NULL, FT_EFORMAT,
	             "t.csv: line 3, column 'b': quote inside an unquoted field");
	expect_error("a,b\n1,2\r3,4\n", NULL, FT_EFORMAT,
	             "t.csv: line 2, column 'b': carriage return not followed by a newline");
}

static void test_csv_bytes_errors(void **state)
{
	static const char nul[] = "a,b\n1,2\n3,4\0\n";
	ft_store_csv *c = NULL;
	ft_errmsg e;
	int has = 0;

	(void)state;
	/* A NUL byte cannot be given through strlen(). */
	assert_int_equal(ft_store_csv_open_mem(nul, sizeof(nul) - 1, "t.csv", NULL, &c, &e), FT_OK);
	assert_int_equal(ft_store_csv_next(c, &has, &e), FT_OK);
	assert_int_equal(ft_store_csv_next(c, &has, &e), FT_EFORMAT);
	assert_string_equal(e.msg, "t.csv: line 3, column 'b': NUL byte");
	/* Errors are sticky. */
	memset(&e, 0, sizeof(e));
	assert_int_equal(ft_store_csv_next(c, &has, &e), FT_EFORMAT);
	assert_string_equal(e.msg, "t.csv: line 3, column 'b': NUL byte");
	ft_store_csv_close(c);

	expect_error("a,b\n1,2\n\xc3\x28,4\n", NULL, FT_EFORMAT,
	             "t.csv: line 3, column 'a': invalid UTF-8");
	expect_error("a,b\n\xed\xa0\x80,1\n", NULL, FT_EFORMAT, /* a UTF-16 surrogate */
	             "t.csv: line 2, column 'a': invalid UTF-8");
	expect_error("a,\xc0\xaf\n1,2\n", NULL, FT_EFORMAT, /* overlong '/' */
	             "t.csv: line 1, column 2: invalid UTF-8");
	assert_int_equal(read_all("na\xc3\xafve,b\n1,2\n", NULL, NULL, NULL), FT_OK);
}

static void test_csv_limits(void **state)
{
	ft_store_csv_limits lim = { .max_record_bytes = 64 };
	char *big = NULL;
	size_t n = ((size_t)1 << 20) + 100, rows = 0;
	ft_errmsg e;

	(void)state;
	expect_error("a,b\n1,2\n3,"
	             "0123456789012345678901234567890123456789012345678901234567890123456789\n",
	             &lim, FT_ERANGE, "t.csv: line 3, column 'b': record longer than 64 bytes");

	/* The default 1 MiB limit, on a line just above it. */
	big = malloc(n + 1);
	assert_non_null(big);
	memcpy(big, "a,b\n1,", 6);
	memset(big + 6, '7', n - 7);
	big[n - 1] = '\n';
	big[n] = '\0';
	assert_int_equal(read_all(big, NULL, NULL, &e), FT_ERANGE);
	assert_non_null(strstr(e.msg, "t.csv: line 2, column 'b': record longer than 1048576 bytes"));
	free(big);

	lim = (ft_store_csv_limits){ .max_columns = 3 };
	expect_error("a,b,c,d\n1,2,3,4\n", &lim, FT_ERANGE, "t.csv: line 1: more than 3 columns");
	assert_int_equal(read_all("a,b,c\n1,2,3\n", &lim, NULL, NULL), FT_OK);

	lim = (ft_store_csv_limits){ .max_rows = 2 };
	expect_error("a\n1\n2\n3\n", &lim, FT_ERANGE, "t.csv: line 4: more than 2 data rows");
	assert_int_equal(read_all("a\n1\n2\n", &lim, &rows, NULL), FT_OK);
	assert_int_equal(rows, 2);
}

static void test_csv_numbers_and_columns(void **state)
{
	static const char *const bad[] = { "abc", " 5", "5 ", "0x10", "inf", "nan", "1,5", "--1" };
	char text[64];
	ft_store_csv *c = NULL;
	ft_errmsg e;
	double v = 0;
	int has = 0, na = 0;
	size_t col = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "id,age\n1,3\n2,\"%s\"\n", bad[i]);
		assert_int_equal(open_text(text, NULL, &c, &e), FT_OK);
		assert_int_equal(ft_store_csv_next(c, &has, &e), FT_OK);
		assert_int_equal(ft_store_csv_next(c, &has, &e), FT_OK);
		assert_int_not_equal(ft_store_csv_number(c, 1, &v, &na, &e), FT_OK);
		assert_non_null(strstr(e.msg, "t.csv: line 3, column 'age': '"));
		assert_non_null(strstr(e.msg, "is not"));
		ft_store_csv_close(c);
		c = NULL;
	}
	assert_int_equal(open_text("id,age\n1,1e999\n", NULL, &c, &e), FT_OK);
	assert_int_equal(ft_store_csv_next(c, &has, &e), FT_OK);
	assert_int_equal(ft_store_csv_number(c, 1, &v, &na, &e), FT_ERANGE);
	assert_int_equal(ft_store_csv_find(c, "weight", &col, &e), FT_ENOTFOUND);
	assert_string_equal(e.msg, "t.csv: unknown column 'weight' (columns: id, age)");
	ft_store_csv_close(c);
}

static void test_csv_real_file_and_hash(void **state)
{
	/* Sums and BLAKE2b-256 cross-checked with Python's csv and hashlib. */
	static const char pima_hash[] =
		"5530b503824be0a2df1ce044d2017fe947f5112cc0459bfc799a413184c8a226";
	char path[512], hex[65];
	uint8_t h[32];
	ft_store_csv *c = NULL;
	ft_errmsg e;
	int has = 1, na = 0;
	size_t glucose = 0, label = 0;
	double v = 0, sum_glucose = 0, sum_label = 0;

	(void)state;
	assert_int_equal(ft_crypto_init(), FT_OK);
	assert_int_equal(ft_store_csv_open(ft_test_data("pima_diabetes/pima_diabetes.csv", path,
	                                                 sizeof(path)),
	                                   NULL, &c, &e),
	                 FT_OK);
	assert_int_equal(ft_store_csv_columns(c), 9);
	assert_int_equal(ft_store_csv_find(c, "glucose", &glucose, &e), FT_OK);
	assert_int_equal(ft_store_csv_find(c, "diabetes", &label, &e), FT_OK);
	for (;;) {
		assert_int_equal(ft_store_csv_next(c, &has, &e), FT_OK);
		if (!has)
			break;
		assert_int_equal(ft_store_csv_number(c, glucose, &v, &na, &e), FT_OK);
		sum_glucose += v;
		assert_int_equal(ft_store_csv_number(c, label, &v, &na, &e), FT_OK);
		sum_label += v;
	}
	assert_int_equal(ft_store_csv_rows(c), 768);
	assert_true(sum_glucose == 92847.0);
	assert_true(sum_label == 268.0);
	ft_store_csv_hash(c, h);
	ft_crypto_hex(hex, h, sizeof(h));
	assert_string_equal(hex, pima_hash);
	ft_store_csv_close(c);

	assert_int_equal(ft_store_csv_open("/nonexistent/x.csv", NULL, &c, &e), FT_EIO);
	assert_non_null(strstr(e.msg, "/nonexistent/x.csv: cannot open"));
	/* A long directory is cut from the left so the file name survives. */
	memset(path, 'd', 300);
	memcpy(path, "/no", 3);
	snprintf(path + 300, sizeof(path) - 300, "/admissions_2026.csv");
	assert_int_equal(ft_store_csv_open(path, NULL, &c, &e), FT_EIO);
	assert_non_null(strstr(e.msg, "ddd/admissions_2026.csv: cannot open"));
}

static void test_csv_file_spans_read_chunks(void **state)
{
	/* A file larger than the reader's buffer: rows and the hash must not
	 * depend on where chunks end. */
	char dir[64], path[128];
	uint8_t want[32], got[32];
	char *text = NULL;
	size_t len = 0, rows = 0;
	FILE *f = NULL;
	ft_store_csv *c = NULL;
	ft_errmsg e;
	int has = 1;

	(void)state;
	assert_int_equal(ft_crypto_init(), FT_OK);
	ft_test_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/big.csv", dir);
	f = open_memstream(&text, &len);
	assert_non_null(f);
	fprintf(f, "id,\"long name\",v\r\n");
	for (int i = 0; i < 20000; i++)
		fprintf(f, "%d,\"p, %d\",%d.25\r\n", i, i, i);
	fclose(f);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
	ft_crypto_hash(want, text, len);

	assert_int_equal(ft_store_csv_open(path, NULL, &c, &e), FT_OK);
	while (has) {
		assert_int_equal(ft_store_csv_next(c, &has, &e), FT_OK);
		if (has) {
			char expect[32];

			snprintf(expect, sizeof(expect), "p, %zu", rows);
			assert_string_equal(ft_store_csv_field(c, 1), expect);
			rows++;
		}
	}
	assert_int_equal(rows, 20000);
	ft_store_csv_hash(c, got);
	assert_memory_equal(got, want, 32);
	ft_store_csv_close(c);
	free(text);
	ft_test_rmdir(dir);
}

static void test_csv_alloc_failures(void **state)
{
	const char *text = "a,b,c\n1,2,3\n4,5,6\n";
	int ok = 0;

	(void)state;
	for (long n = 0; n < 50 && !ok; n++) {
		ft_errmsg e;
		int rv;

		ft_alloc_fail_after(n);
		rv = read_all(text, NULL, NULL, &e);
		ft_alloc_fail_after(-1);
		if (rv == FT_OK)
			ok = 1;
		else
			assert_int_equal(rv, FT_ENOMEM);
	}
	assert_true(ok);
}

static void test_csv_seed_corpus_regression(void **state)
{
	/* Every seed of the fuzz target is read without a crash, and ends in
	 * success or a format/limit error, never anything else. */
	const char *src = getenv("FT_SOURCE_DIR");
	char dir[512], path[1024];
	struct dirent *d;
	DIR *dp;
	size_t n = 0;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/csv", src != NULL ? src : ".");
	dp = opendir(dir);
	assert_non_null(dp);
	while ((d = readdir(dp)) != NULL) {
		static char buf[65536];
		FILE *f;
		size_t len;
		int rv;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		f = fopen(path, "rb");
		assert_non_null(f);
		len = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		{
			ft_store_csv *c = NULL;
			int has = 1;

			rv = ft_store_csv_open_mem(buf, len, d->d_name, NULL, &c, NULL);
			while (rv == FT_OK && has)
				rv = ft_store_csv_next(c, &has, NULL);
			ft_store_csv_close(c);
		}
		if (rv != FT_OK && rv != FT_EFORMAT && rv != FT_ERANGE)
			fail_msg("%s: %d", d->d_name, rv);
		n++;
	}
	closedir(dp);
	assert_true(n >= 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csv_accepts_rfc4180),
		cmocka_unit_test(test_csv_structure_errors),
		cmocka_unit_test(test_csv_bytes_errors),
		cmocka_unit_test(test_csv_limits),
		cmocka_unit_test(test_csv_numbers_and_columns),
		cmocka_unit_test(test_csv_real_file_and_hash),
		cmocka_unit_test(test_csv_file_spans_read_chunks),
		cmocka_unit_test(test_csv_alloc_failures),
		cmocka_unit_test(test_csv_seed_corpus_regression),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
