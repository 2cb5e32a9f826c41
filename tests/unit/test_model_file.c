/*
 * test_model_file.c - model files: the encoding against an independent
 * Python encoder, round trips through memory and disk, and the decoder on
 * hostile input (truncation, bit flips, lying container headers, deep
 * nesting, unknown kinds, non-canonical encodings, allocation failures).
 */
#include "ft_test.h"
#include "ft_crypto.h"
#include "ft_model.h"

#include <dirent.h>
#include <math.h>

/* From tests/vectors/model_file_vector.py. */
static const char vector_hex[] =
	"85a6666f726d617401a47370656385a46b696e64a66c6f67726567aa6e5f666561747572657302a96e5f63"
	"6c617373657302a668696464656e90aa61637469766174696f6ea46e6f6e65a6706172616d73c40c000000"
	"3f000080becdcccc3da46d65746183a763726561746564aa323032362d31312d3235a26c72cb3fe0000000"
	"000000a5726f756e6403a468617368c42016908ede5de579a5257a04417eeab59ae62b705797d30f219041"
	"ac5c12f6f70b";

static uint8_t *vector(size_t *len)
{
	size_t n = strlen(vector_hex) / 2;
	uint8_t *b = malloc(n);

	assert_non_null(b);
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		assert_int_equal(sscanf(vector_hex + 2 * i, "%2x", &v), 1);
		b[i] = (uint8_t)v;
	}
	*len = n;
	return b;
}

static uint8_t *find_bytes(uint8_t *hay, size_t n, const char *needle, size_t k)
{
	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(hay + i, needle, k) == 0)
			return hay + i;
	return NULL;
}

static void make_vector_model(ft_model **m, ft_model_meta **meta)
{
	ft_model_spec s = { FT_MODEL_LOGREG, 2, 2, 0, { 0 }, FT_MODEL_ACT_NONE };
	float *p;

	assert_int_equal(ft_model_alloc(&s, m, NULL), FT_OK);
	p = ft_model_params(*m);
	p[0] = 0.5f;
	p[1] = -0.25f;
	p[2] = 0.1f;
	assert_int_equal(ft_model_meta_alloc(meta), FT_OK);
	assert_int_equal(ft_model_meta_set_int(*meta, "round", 3), FT_OK);
	assert_int_equal(ft_model_meta_set_str(*meta, "created", "2026-11-25"), FT_OK);
	assert_int_equal(ft_model_meta_set_double(*meta, "lr", 0.5), FT_OK);
}

static void test_encoding_known_answer(void **state)
{
	ft_model *m = NULL, *d = NULL;
	ft_model_meta *meta = NULL, *dm = NULL;
	uint8_t *buf = NULL, *want;
	size_t len = 0, wlen;
	const char *str = NULL;
	int64_t round = 0;
	double lr = 0;

	(void)state;
	make_vector_model(&m, &meta);
	want = vector(&wlen);
	assert_int_equal(ft_model_encode(m, meta, &buf, &len), FT_OK);
	assert_int_equal(len, wlen);
	assert_memory_equal(buf, want, len);
	assert_int_equal(ft_model_decode(want, wlen, &d, &dm, NULL), FT_OK);
	assert_memory_equal(ft_model_params(d), ft_model_params(m), 3 * sizeof(float));
	assert_int_equal(ft_model_get_spec(d)->kind, FT_MODEL_LOGREG);
	assert_int_equal(ft_model_meta_count(dm), 3);
	assert_int_equal(ft_model_meta_get_str(dm, "created", &str), FT_OK);
	assert_string_equal(str, "2026-11-25");
	assert_int_equal(ft_model_meta_get_int(dm, "round", &round), FT_OK);
	assert_int_equal(round, 3);
	assert_int_equal(ft_model_meta_get_double(dm, "lr", &lr), FT_OK);
	assert_true(lr == 0.5);
	assert_int_equal(ft_model_meta_get_int(dm, "lr", &round), FT_EINVAL);
	assert_int_equal(ft_model_meta_get_int(dm, "nope", &round), FT_ENOTFOUND);
	ft_free(buf);
	free(want);
	ft_model_free(m);
	ft_model_free(d);
	ft_model_meta_free(meta);
	ft_model_meta_free(dm);
}

static void test_roundtrip_mlp_and_files(void **state)
{
	ft_model_spec s = { FT_MODEL_MLP, 30, 3, 2, { 64, 32 }, FT_MODEL_ACT_RELU };
	uint8_t seed[32] = { 1 };
	ft_model *m = NULL, *d = NULL;
	ft_model_meta *meta = NULL;
	char dir[64], path[128];
	ft_errmsg e;
	DIR *dh;
	struct dirent *de;
	int files = 0;

	(void)state;
	assert_int_equal(ft_model_alloc(&s, &m, NULL), FT_OK);
	assert_int_equal(ft_model_init(m, seed), FT_OK);
	assert_int_equal(ft_model_meta_alloc(&meta), FT_OK);
	assert_int_equal(ft_model_meta_set_int(meta, "run", -42), FT_OK);
	ft_test_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/global.model", dir);
	assert_int_equal(ft_model_save(m, meta, path, &e), FT_OK);
	/* Saving again replaces the file atomically. */
	assert_int_equal(ft_model_save(m, NULL, path, &e), FT_OK);
	assert_int_equal(ft_model_load(path, &d, NULL, &e), FT_OK);
	assert_int_equal(ft_model_n_params(d), ft_model_n_params(m));
	assert_memory_equal(ft_model_get_spec(d), ft_model_get_spec(m), sizeof(ft_model_spec));
	assert_memory_equal(ft_model_params(d), ft_model_params(m),
	                    ft_model_n_params(m) * sizeof(float));
	ft_model_free(d);
	d = NULL;
	/* No temporary file is left behind. */
	dh = opendir(dir);
	assert_non_null(dh);
	while ((de = readdir(dh)) != NULL)
		files += de->d_name[0] != '.';
	closedir(dh);
	assert_int_equal(files, 1);
	snprintf(path, sizeof(path), "%s/missing.model", dir);
	assert_int_equal(ft_model_load(path, &d, NULL, &e), FT_ENOTFOUND);
	snprintf(path, sizeof(path), "%s/no/such/dir/x.model", dir);
	assert_int_equal(ft_model_save(m, NULL, path, &e), FT_EIO);
	ft_test_rmdir(dir);
	ft_model_free(m);
	ft_model_meta_free(meta);
}

static void test_truncated_and_flipped(void **state)
{
	size_t len;
	uint8_t *buf = vector(&len), *copy = malloc(len);
	ft_model *d = NULL;
	ft_errmsg e;
	int rv;

	(void)state;
	assert_non_null(copy);
	for (size_t n = 0; n < len; n++) {
		memcpy(copy, buf, n);
		rv = ft_model_decode(copy, n, &d, NULL, &e);
		assert_int_equal(rv, FT_EFORMAT);
		assert_null(d);
	}
	memcpy(copy, buf, len);
	assert_int_equal(ft_model_decode(copy, len - 1, &d, NULL, &e), FT_EFORMAT);
	assert_non_null(strstr(e.msg, "truncated"));
	/* Every single-bit flip is caught, whatever it hits. */
	for (size_t i = 0; i < len; i++)
		for (int bit = 0; bit < 8; bit++) {
			memcpy(copy, buf, len);
			copy[i] ^= (uint8_t)(1u << bit);
			rv = ft_model_decode(copy, len, &d, NULL, &e);
			if (rv == FT_OK)
				fail_msg("flip of bit %d of byte %zu accepted", bit, i);
			assert_null(d);
		}
	/* A flip inside the parameters is a hash mismatch. */
	memcpy(copy, buf, len);
	find_bytes(copy, len, "params", 6)[8] ^= 0x01; /* after "params" and the bin8 header */
	assert_int_equal(ft_model_decode(copy, len, &d, NULL, &e), FT_ECRYPTO);
	assert_non_null(strstr(e.msg, "hash mismatch"));
	free(buf);
	free(copy);
}

static void test_hostile_headers(void **state)
{
	/* An array32 declaring 2^32-1 elements: refused before unpacking. */
	const uint8_t big_array[] = { 0xdd, 0xff, 0xff, 0xff, 0xff, 0x00 };
	const uint8_t big_map[] = { 0xdf, 0x10, 0x00, 0x00, 0x00, 0xa1, 0x61 };
	const uint8_t big_bin[] = { 0xc6, 0x7f, 0xff, 0xff, 0xff, 0x00 };
	const uint8_t reserved[] = { 0xc1 };
	const uint8_t ext[] = { 0xd4, 0x01, 0x00 };
	uint8_t deep[64];
	ft_model *d = NULL;
	ft_errmsg e;

	(void)state;
	assert_int_equal(ft_model_decode(big_array, sizeof(big_array), &d, NULL, &e), FT_EFORMAT);
	assert_non_null(strstr(e.msg, "declares"));
	assert_int_equal(ft_model_decode(big_map, sizeof(big_map), &d, NULL, &e), FT_EFORMAT);
	assert_int_equal(ft_model_decode(big_bin, sizeof(big_bin), &d, NULL, &e), FT_EFORMAT);
	assert_non_null(strstr(e.msg, "truncated"));
	assert_int_equal(ft_model_decode(reserved, 1, &d, NULL, &e), FT_EFORMAT);
	assert_int_equal(ft_model_decode(ext, sizeof(ext), &d, NULL, &e), FT_EFORMAT);
	memset(deep, 0x91, sizeof(deep));
	deep[63] = 0x00;
	assert_int_equal(ft_model_decode(deep, sizeof(deep), &d, NULL, &e), FT_EFORMAT);
	assert_non_null(strstr(e.msg, "nesting"));
	assert_int_equal(ft_model_decode(deep, 0, &d, NULL, &e), FT_EFORMAT);
	assert_int_equal(ft_model_decode(deep, FT_MODEL_FILE_MAX_BYTES + 1, &d, NULL, &e), FT_ERANGE);
	assert_null(d);
}

static void test_semantic_errors(void **state)
{
	size_t len;
	uint8_t *buf = vector(&len), *big = malloc(len + 8);
	ft_model *d = NULL;
	ft_errmsg e;
	uint8_t *p;

	(void)state;
	assert_non_null(big);
	/* Unknown model kind (same length, so only the spec is wrong). */
	p = find_bytes(buf, len, "logreg", 6);
	assert_non_null(p);
	memcpy(p, "forest", 6);
	assert_int_equal(ft_model_decode(buf, len, &d, NULL, &e), FT_EINVAL);
	assert_non_null(strstr(e.msg, "unknown model kind"));
	memcpy(p, "logreg", 6);
	/* Unsupported format version. */
	buf[8] = 0x02;
	assert_int_equal(ft_model_decode(buf, len, &d, NULL, &e), FT_EFORMAT);
	assert_non_null(strstr(e.msg, "version"));
	buf[8] = 0x01;
	/* n_classes 3 for a logreg. */
	p = find_bytes(buf, len, "n_classes", 9);
	assert_non_null(p);
	p[9] = 0x03;
	assert_int_equal(ft_model_decode(buf, len, &d, NULL, &e), FT_EINVAL);
	p[9] = 0x02;
	/* A non-canonical integer width (uint8 for 2) is refused. */
	memcpy(big, buf, (size_t)(p + 9 - buf));
	big[p + 9 - buf] = 0xcc;
	memcpy(big + (p + 9 - buf) + 1, p + 9, len - (size_t)(p + 9 - buf));
	assert_int_equal(ft_model_decode(big, len + 1, &d, NULL, &e), FT_EFORMAT);
	assert_non_null(strstr(e.msg, "canonical"));
	/* Trailing bytes. */
	memcpy(big, buf, len);
	big[len] = 0x00;
	assert_int_equal(ft_model_decode(big, len + 1, &d, NULL, &e), FT_EFORMAT);
	assert_non_null(strstr(e.msg, "trailing"));
	/* A NaN parameter. */
	memcpy(big, buf, len);
	p = find_bytes(big, len, "params", 6);
	memcpy(p + 8, "\x00\x00\xc0\x7f", 4);
	assert_int_equal(ft_model_decode(big, len, &d, NULL, &e), FT_EFORMAT);
	assert_non_null(strstr(e.msg, "not finite"));
	/* The unmodified vector still decodes. */
	assert_int_equal(ft_model_decode(buf, len, &d, NULL, &e), FT_OK);
	ft_model_free(d);
	free(buf);
	free(big);
}

/* Every allocation of a load fails in turn: a clean FT_ENOMEM each time,
 * never a leak (the ASan build checks) or a crash. */
static void test_alloc_failure_sweep(void **state)
{
	ft_model_spec s = { FT_MODEL_MLP, 5, 2, 1, { 4 }, FT_MODEL_ACT_TANH };
	ft_model *m = NULL, *d = NULL;
	ft_model_meta *meta = NULL, *dm = NULL;
	char dir[64], path[128];
	uint8_t seed[32] = { 2 };
	int rv = -1, n_fail = 0;
	ft_errmsg e;

	(void)state;
	assert_int_equal(ft_model_alloc(&s, &m, NULL), FT_OK);
	assert_int_equal(ft_model_init(m, seed), FT_OK);
	assert_int_equal(ft_model_meta_alloc(&meta), FT_OK);
	assert_int_equal(ft_model_meta_set_str(meta, "site", "basel"), FT_OK);
	assert_int_equal(ft_model_meta_set_int(meta, "round", 12), FT_OK);
	ft_test_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/m.model", dir);
	assert_int_equal(ft_model_save(m, meta, path, &e), FT_OK);
	for (long n = 0; n < 1000; n++) {
		ft_alloc_fail_after(n);
		rv = ft_model_load(path, &d, &dm, &e);
		ft_alloc_fail_after(-1);
		if (rv == FT_OK)
			break;
		assert_int_equal(rv, FT_ENOMEM);
		assert_null(d);
		assert_null(dm);
		n_fail++;
	}
	assert_int_equal(rv, FT_OK);
	assert_true(n_fail >= 5);
	assert_memory_equal(ft_model_params(d), ft_model_params(m),
	                    ft_model_n_params(m) * sizeof(float));
	ft_model_free(d);
	ft_model_meta_free(dm);
	ft_test_rmdir(dir);
	ft_model_free(m);
	ft_model_meta_free(meta);
}

static void test_meta_limits(void **state)
{
	ft_model_meta *meta = NULL;
	char key[80], val[FT_MODEL_META_MAX_STR + 2];

	(void)state;
	assert_int_equal(ft_model_meta_alloc(&meta), FT_OK);
	assert_int_equal(ft_model_meta_set_str(meta, "", "x"), FT_EINVAL);
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	assert_int_equal(ft_model_meta_set_int(meta, key, 1), FT_ERANGE);
	memset(val, 'v', sizeof(val) - 1);
	val[sizeof(val) - 1] = '\0';
	assert_int_equal(ft_model_meta_set_str(meta, "k", val), FT_ERANGE);
	assert_int_equal(ft_model_meta_set_double(meta, "k", NAN), FT_EINVAL);
	for (unsigned i = 0; i < FT_MODEL_META_MAX_ENTRIES; i++) {
		snprintf(key, sizeof(key), "key%03u", i);
		assert_int_equal(ft_model_meta_set_int(meta, key, i), FT_OK);
	}
	assert_int_equal(ft_model_meta_set_int(meta, "one-too-many", 1), FT_ERANGE);
	/* Replacing an existing key is still possible when full. */
	assert_int_equal(ft_model_meta_set_str(meta, "key007", "seven"), FT_OK);
	assert_int_equal(ft_model_meta_count(meta), FT_MODEL_META_MAX_ENTRIES);
	ft_model_meta_free(meta);
	ft_model_meta_free(NULL);
}


/* Standardisation moments travel as metadata vectors: a few thousand
 * features fit, and a malformed or short vector is refused, not half read. */
static void test_meta_vectors(void **state)
{
	enum { P = 1000 };
	static double v[P], back[P];
	ft_model_meta *meta = NULL;

	(void)state;
	for (int i = 0; i < P; i++)
		v[i] = (i % 2 ? -1.0 : 1.0) * (123.456789 + i) * 1e-3;
	assert_int_equal(ft_model_meta_alloc(&meta), FT_OK);
	assert_int_equal(ft_model_meta_set_vector(meta, "standardise.mean", v, P), FT_OK);
	assert_int_equal(ft_model_meta_get_vector(meta, "standardise.mean", back, P), FT_OK);
	for (int i = 0; i < P; i++)
		assert_true(fabs(back[i] - v[i]) <= 1e-8 * fabs(v[i]));
	/* A different count is a format error, and nothing is written. */
	back[0] = 42;
	assert_int_equal(ft_model_meta_get_vector(meta, "standardise.mean", back, P - 1),
	                 FT_EFORMAT);
	assert_true(back[0] == 42);
	assert_int_equal(ft_model_meta_get_vector(meta, "standardise.var", back, P), FT_ENOTFOUND);
	assert_int_equal(ft_model_meta_set_str(meta, "bad", "1,2,x"), FT_OK);
	assert_int_equal(ft_model_meta_get_vector(meta, "bad", back, 3), FT_EFORMAT);
	assert_int_equal(ft_model_meta_set_str(meta, "nan", "1,nan,2"), FT_OK);
	assert_int_equal(ft_model_meta_get_vector(meta, "nan", back, 3), FT_EFORMAT);
	/* Past the string limit: refused with a range error, not cut. */
	assert_int_equal(ft_model_meta_set_vector(meta, "huge", v, FT_MODEL_META_MAX_STR / 2 + 1),
	                 FT_ERANGE);
	ft_model_meta_free(meta);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_meta_vectors),
		cmocka_unit_test(test_encoding_known_answer),
		cmocka_unit_test(test_roundtrip_mlp_and_files),
		cmocka_unit_test(test_truncated_and_flipped),
		cmocka_unit_test(test_hostile_headers),
		cmocka_unit_test(test_semantic_errors),
		cmocka_unit_test(test_alloc_failure_sweep),
		cmocka_unit_test(test_meta_limits),
	};

	if (ft_crypto_init() != FT_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
