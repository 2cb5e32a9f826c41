/*
 * test_model_corpus.c - the model file fuzz seed corpus
 * (tests/fuzz/corpus/model_file/) run as a regression suite: every stored
 * input goes through the fuzz target's own harness (tests/fuzz/
 * fuzz_model_file.c, which aborts if an accepted file does not re-encode to
 * the same bytes), and the seeds, all valid model files, must decode. Crash
 * reproducers from fuzzing go into the same directory.
 */
#include <dirent.h>

#include "ft_test.h"
#include "ft_crypto.h"
#include "ft_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
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

static void test_model_file_corpus(void **state)
{
	const char *src = getenv("FT_SOURCE_DIR");
	char dir[512], path[1024];
	struct dirent *e;
	DIR *d;
	int files = 0, valid = 0;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/model_file", src != NULL ? src : ".");
	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		ft_model *m = NULL;
		uint8_t *buf;
		size_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		buf = slurp(path, &n);
		assert_int_equal(LLVMFuzzerTestOneInput(buf, n), 0);
		if (ft_model_decode(buf, n, &m, NULL, NULL) == FT_OK)
			valid++;
		ft_model_free(m);
		free(buf);
		files++;
	}
	closedir(d);
	/* The six seeds: each model kind, both activations, with and
	 * without metadata, and the PROTOCOL.md vector. */
	assert_true(files >= 6);
	assert_true(valid >= 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model_file_corpus),
	};

	if (ft_crypto_init() != FT_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
