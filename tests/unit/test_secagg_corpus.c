/*
 * test_secagg_corpus.c - the secure-aggregation fuzz seed corpus run as a
 * regression suite through the fuzz target's own harness
 * (tests/fuzz/fuzz_secagg_msg.c): every stored message is delivered to the
 * state machine in the state it was recorded in, and the harness aborts if a
 * memory error, a leak (under ASan) or a rejected message that still moved
 * the state turns up. Crash reproducers from fuzzing go into the same
 * directory.
 */
#include <dirent.h>

#include "ft_test.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static uint8_t *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long len;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	assert_true(len >= 0 && len < (1L << 24));
	rewind(f);
	buf = malloc((size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	*n = (size_t)len;
	return buf;
}

static void test_secagg_seed_corpus(void **state)
{
	const char *src = getenv("FT_SOURCE_DIR");
	char dir[512], path[1024];
	struct dirent *e;
	DIR *d;
	int files = 0, selectors[12] = {0};

	(void)state;
	assert_int_equal(LLVMFuzzerInitialize(NULL, NULL), 0);
	snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/secagg_msg", src != NULL ? src : ".");
	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		uint8_t *buf;
		size_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		buf = slurp(path, &n);
		if (n > 0)
			selectors[buf[0] % 12] = 1;
		assert_int_equal(LLVMFuzzerTestOneInput(buf, n), 0);
		free(buf);
		files++;
	}
	closedir(d);
	/* One real round: every receiver state has at least one message. */
	assert_true(files >= 24);
	for (int i = 0; i < 12; i++)
		assert_true(selectors[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secagg_seed_corpus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
