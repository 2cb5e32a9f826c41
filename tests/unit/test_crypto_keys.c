/*
 * test_crypto_keys.c - Ed25519 identities, fingerprints, key files and
 * public key files: known answers (RFC 8032 and the Python generator),
 * round trips, and every way a key file can be wrong.
 */
#include "ft_test.h"
#include "crypto_int.h"
#include "vectors/crypto_vectors.h"

#include <sys/stat.h>
#include <unistd.h>

static void unhex(uint8_t *out, size_t n, const char *hex)
{
	assert_int_equal(ft_crypto_unhex(out, n, hex), FT_OK);
}

/* RFC 8032, section 7.1, TESTS 1 and 2: seed -> public key -> signature. */
static void test_ed25519_rfc8032(void **state)
{
	static const struct {
		const char *seed, *pk, *msg, *sig;
	} v[] = {
		{ "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
		  "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
		  "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
		  "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b" },
		{ "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
		  "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
		  "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
		  "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t seed[32], pk[32], msg[1], sig[64], got[64];
		size_t mlen = strlen(v[i].msg) / 2;
		ft_crypto_identity *id = NULL;

		unhex(seed, 32, v[i].seed);
		unhex(pk, 32, v[i].pk);
		unhex(sig, 64, v[i].sig);
		if (mlen > 0)
			unhex(msg, mlen, v[i].msg);
		assert_int_equal(ft_crypto_identity_from_seed(seed, &id), FT_OK);
		assert_memory_equal(ft_crypto_identity_pk(id), pk, 32);
		assert_int_equal(ft_crypto_identity_sign(id, msg, mlen, got), FT_OK);
		assert_memory_equal(got, sig, 64);
		assert_int_equal(ft_crypto_verify(pk, msg, mlen, sig), FT_OK);
		ft_crypto_identity_free(id);
	}
}

static void test_fingerprint_kat(void **state)
{
	char fpr[FT_CRYPTO_FPR_CHARS + 1];

	(void)state;
	ft_crypto_fingerprint(kat_ed_pk, fpr);
	assert_string_equal(fpr, KAT_ED_FPR);
	assert_int_equal(strlen(fpr), FT_CRYPTO_FPR_CHARS);
	ft_crypto_fingerprint(kat_pk_a, fpr);
	assert_string_equal(fpr, KAT_KX_A_FPR);
}

static void test_verify_rejects(void **state)
{
	ft_crypto_identity *id = NULL, *other = NULL;
	const char msg[] = "round 7 announcement";
	uint8_t sig[64], bad[64], pk[32];

	(void)state;
	assert_int_equal(ft_crypto_identity_generate(&id), FT_OK);
	assert_int_equal(ft_crypto_identity_generate(&other), FT_OK);
	assert_int_equal(ft_crypto_identity_sign(id, msg, sizeof(msg), sig), FT_OK);
	assert_int_equal(ft_crypto_verify(ft_crypto_identity_pk(id), msg, sizeof(msg), sig), FT_OK);
	for (size_t i = 0; i < 64; i += 7) {
		memcpy(bad, sig, 64);
		bad[i] ^= 0x04;
		assert_int_equal(ft_crypto_verify(ft_crypto_identity_pk(id), msg, sizeof(msg), bad),
		                 FT_ECRYPTO);
	}
	assert_int_equal(ft_crypto_verify(ft_crypto_identity_pk(id), msg, sizeof(msg) - 1, sig),
	                 FT_ECRYPTO);
	assert_int_equal(ft_crypto_verify(ft_crypto_identity_pk(other), msg, sizeof(msg), sig),
	                 FT_ECRYPTO);
	memcpy(pk, ft_crypto_identity_pk(id), 32);
	pk[0] ^= 1;
	assert_int_equal(ft_crypto_verify(pk, msg, sizeof(msg), sig), FT_ECRYPTO);
	memset(bad, 0, sizeof(bad));
	assert_int_equal(ft_crypto_verify(ft_crypto_identity_pk(id), msg, sizeof(msg), bad),
	                 FT_ECRYPTO);
	ft_crypto_identity_free(id);
	ft_crypto_identity_free(other);
	ft_crypto_identity_free(NULL);
}

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *buf = calloc(1, 4096);

	assert_non_null(f);
	assert_non_null(buf);
	*n = fread(buf, 1, 4095, f);
	fclose(f);
	return buf;
}

static void test_keyfile_plain(void **state)
{
	char dir[64], path[128], pkpath[128];
	ft_crypto_identity *id = NULL, *back = NULL;
	uint8_t seed[32], pk[32];
	struct stat st;
	ft_errmsg err;
	char *text;
	size_t n;

	(void)state;
	ft_test_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/node.key", dir);
	snprintf(pkpath, sizeof(pkpath), "%s/node.pub", dir);
	unhex(seed, 32, "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
	assert_int_equal(ft_crypto_identity_from_seed(seed, &id), FT_OK);
	assert_int_equal(ft_crypto_identity_save(id, path, NULL), FT_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* The exact bytes the Python generator expects for this seed. */
	text = slurp(path, &n);
	assert_int_equal(n, strlen(KAT_ED_KEYFILE));
	assert_memory_equal(text, KAT_ED_KEYFILE, n);
	free(text);
	assert_int_equal(ft_crypto_identity_load(path, NULL, &back, &err), FT_OK);
	assert_memory_equal(ft_crypto_identity_pk(back), ft_crypto_identity_pk(id), 32);
	/* never replaces an existing file */
	assert_int_equal(ft_crypto_identity_save(id, path, NULL), FT_EEXIST);

	/* public key files */
	assert_int_equal(ft_crypto_pk_save(ft_crypto_identity_pk(id), pkpath), FT_OK);
	assert_int_equal(ft_crypto_pk_save(ft_crypto_identity_pk(id), pkpath), FT_EEXIST);
	assert_int_equal(ft_crypto_pk_load(pkpath, pk, &err), FT_OK);
	assert_memory_equal(pk, ft_crypto_identity_pk(id), 32);
	/* no temporary files are left behind */
	snprintf(pkpath, sizeof(pkpath), "ls -A '%s' | wc -l | grep -qx 2", dir);
	assert_int_equal(system(pkpath), 0);

	ft_crypto_identity_free(id);
	ft_crypto_identity_free(back);
	ft_test_rmdir(dir);
}

static void test_keyfile_permissions(void **state)
{
	char dir[64], path[128];
	ft_crypto_identity *id = NULL, *back = NULL;
	ft_errmsg err;
	const mode_t bad_modes[] = { 0640, 0604, 0644, 0660, 0610, 0601 };

	(void)state;
	ft_test_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/node.key", dir);
	assert_int_equal(ft_crypto_identity_generate(&id), FT_OK);
	assert_int_equal(ft_crypto_identity_save(id, path, NULL), FT_OK);
	for (size_t i = 0; i < sizeof(bad_modes) / sizeof(bad_modes[0]); i++) {
		assert_int_equal(chmod(path, bad_modes[i]), 0);
		assert_int_equal(ft_crypto_identity_load(path, NULL, &back, &err), FT_EPERM);
		assert_null(back);
		assert_non_null(strstr(err.msg, "chmod 600"));
	}
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(ft_crypto_identity_load(path, NULL, &back, &err), FT_OK);
	ft_crypto_identity_free(back);
	back = NULL;
	snprintf(path, sizeof(path), "%s/missing.key", dir);
	assert_int_equal(ft_crypto_identity_load(path, NULL, &back, &err), FT_ENOTFOUND);
	snprintf(path, sizeof(path), "%s/no/such/dir.key", dir);
	assert_int_not_equal(ft_crypto_identity_save(id, path, NULL), FT_OK);
	ft_crypto_identity_free(id);
	ft_test_rmdir(dir);
}

static void test_keyfile_sealed(void **state)
{
	char dir[64], path[128], path2[128];
	ft_crypto_identity *id = NULL, *back = NULL;
	ft_errmsg err;
	char *text, *p;
	size_t n;
	FILE *f;

	(void)state;
	ft_test_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/node.key", dir);
	assert_int_equal(ft_crypto_identity_generate(&id), FT_OK);
	assert_int_equal(ft_crypto_identity_save(id, path, "correct horse"), FT_OK);
	text = slurp(path, &n);
	/* the limits and salt are in the file; the seed is not */
	assert_non_null(strstr(text, "kdf argon2id13 opslimit=2 memlimit=67108864 salt="));
	assert_null(strstr(text, "secret-seed"));

	assert_int_equal(ft_crypto_identity_load(path, "correct horse", &back, &err), FT_OK);
	assert_memory_equal(ft_crypto_identity_pk(back), ft_crypto_identity_pk(id), 32);
	ft_crypto_identity_free(back);
	back = NULL;
	assert_int_equal(ft_crypto_identity_load(path, "correct horsE", &back, &err), FT_ECRYPTO);
	assert_null(back);
	assert_int_equal(ft_crypto_identity_load(path, "", &back, &err), FT_ECRYPTO);
	assert_int_equal(ft_crypto_identity_load(path, NULL, &back, &err), FT_EINVAL);

	/* The header lines are bound to the sealed seed: change the public key
	 * (a valid one of another identity) or the opslimit and the right
	 * passphrase no longer opens it. */
	p = strstr(text, "opslimit=2");
	p[strlen("opslimit=")] = '3';
	assert_int_equal(ft_crypto_identity_decode((uint8_t *)text, n, "correct horse", &back, &err),
	                 FT_ECRYPTO);
	p[strlen("opslimit=")] = '2';
	p = strstr(text, "public-key ") + strlen("public-key ");
	p[0] = p[0] == 'a' ? 'b' : 'a';
	assert_int_equal(ft_crypto_identity_decode((uint8_t *)text, n, "correct horse", &back, &err),
	                 FT_ECRYPTO);
	p[0] = p[0] == 'a' ? 'b' : 'a';
	/* A hostile memlimit is refused before Argon2id runs. */
	snprintf(path2, sizeof(path2), "%s/huge.key", dir);
	p = strstr(text, "memlimit=67108864");
	memcpy(p, "memlimit=99999999999", 20);
	memmove(p + 20, p + 17, n - (size_t)(p + 17 - text) + 1);
	n += 3;
	f = fopen(path2, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, n, f), n);
	fclose(f);
	assert_int_equal(chmod(path2, 0600), 0);
	assert_int_equal(ft_crypto_identity_load(path2, "correct horse", &back, &err), FT_EFORMAT);
	assert_null(back);
	free(text);
	ft_crypto_identity_free(id);
	ft_test_rmdir(dir);
}

static void test_keyfile_truncated_and_garbled(void **state)
{
	const char *good = KAT_ED_KEYFILE;
	size_t n = strlen(good);
	char buf[512];
	ft_crypto_identity *id = NULL;
	ft_errmsg err;

	(void)state;
	assert_int_equal(ft_crypto_identity_decode((const uint8_t *)good, n, NULL, &id, &err),
	                 FT_OK);
	assert_memory_equal(ft_crypto_identity_pk(id), kat_ed_pk, 32);
	ft_crypto_identity_free(id);
	id = NULL;
	/* every truncation */
	for (size_t k = 0; k < n; k++) {
		assert_int_equal(ft_crypto_identity_decode((const uint8_t *)good, k, "pw", &id, &err),
		                 FT_EFORMAT);
		assert_null(id);
	}
	/* every single-byte change */
	for (size_t k = 0; k < n; k++) {
		memcpy(buf, good, n);
		buf[k] ^= 0x01;
		assert_int_not_equal(ft_crypto_identity_decode((uint8_t *)buf, n, NULL, &id, &err),
		                     FT_OK);
		assert_null(id);
	}
	/* trailing data, CRLF line ends */
	memcpy(buf, good, n);
	memcpy(buf + n, "x\n", 2);
	assert_int_equal(ft_crypto_identity_decode((uint8_t *)buf, n + 2, NULL, &id, &err),
	                 FT_EFORMAT);
	assert_int_equal(ft_crypto_identity_decode((const uint8_t *)"", 0, NULL, &id, &err),
	                 FT_EFORMAT);
	/* a seed that does not match the public key */
	memcpy(buf, good, n);
	buf[n - 2] = buf[n - 2] == '0' ? '1' : '0';
	assert_int_equal(ft_crypto_identity_decode((uint8_t *)buf, n, NULL, &id, &err), FT_EFORMAT);
	assert_non_null(strstr(err.msg, "does not match"));
	assert_null(strstr(err.msg, "9d61")); /* no key material in messages */
}

static void test_pk_file_rejects(void **state)
{
	char dir[64], path[128];
	uint8_t pk[32], keep[32];
	ft_errmsg err;
	const char *bad[] = { "", "\n", "d75a98", "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a\n\n",
		              " d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
		              "z75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a\n" };

	(void)state;
	ft_test_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/x.pub", dir);
	memset(pk, 0x33, sizeof(pk));
	memcpy(keep, pk, 32);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		FILE *f = fopen(path, "wb");

		assert_non_null(f);
		fputs(bad[i], f);
		fclose(f);
		assert_int_equal(ft_crypto_pk_load(path, pk, &err), FT_EFORMAT);
		assert_memory_equal(pk, keep, 32);
	}
	/* without the final newline is fine */
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fputs("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", f);
	fclose(f);
	assert_int_equal(ft_crypto_pk_load(path, pk, &err), FT_OK);
	assert_memory_equal(pk, kat_ed_pk, 32);
	ft_test_rmdir(dir);
}

/* Each allocation failing in turn: an error, never a crash or a leak
 * (ASan checks the leaks), and nothing returned. */
static void test_alloc_failures(void **state)
{
	ft_crypto_identity *id = NULL;
	ft_errmsg err;
	char dir[64], path[128];
	int ok = 0;

	(void)state;
	ft_test_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/a.key", dir);
	for (long k = 0; k < 4 && !ok; k++) {
		ft_alloc_fail_after(k);
		int rv = ft_crypto_identity_decode((const uint8_t *)KAT_ED_KEYFILE,
		                                   strlen(KAT_ED_KEYFILE), NULL, &id, &err);
		ft_alloc_fail_after(-1);
		if (rv == FT_OK) {
			ok = 1;
			break;
		}
		assert_int_equal(rv, FT_ENOMEM);
		assert_null(id);
	}
	assert_true(ok);
	ft_alloc_fail_after(0);
	assert_int_equal(ft_crypto_identity_save(id, path, NULL), FT_ENOMEM);
	ft_alloc_fail_after(-1);
	assert_int_equal(access(path, F_OK), -1); /* nothing written */
	assert_int_equal(ft_crypto_identity_save(id, path, NULL), FT_OK);
	ft_crypto_identity_free(id);
	ft_test_rmdir(dir);
}

/* The fuzz seed corpus doubles as a regression suite, and its sealed file,
 * written once by ft_crypto_identity_save (seed 0xc0..0xdf, passphrase
 * "fuzz"), pins the sealed format: files written today must load later. */
static void test_keyfile_corpus(void **state)
{
	static const struct {
		const char *name;
		int rv;
	} c[] = {
		{ "plain", FT_OK },        { "uppercase", FT_OK },     { "sealed", FT_EINVAL },
		{ "mismatch", FT_EFORMAT }, { "truncated", FT_EFORMAT },
	};
	const char *src = getenv("FT_SOURCE_DIR");
	char path[512];
	uint8_t seed[32];
	ft_crypto_identity *id = NULL, *want = NULL;
	ft_errmsg err;
	char *text;
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/keyfile/%s", src ? src : ".",
		         c[i].name);
		text = slurp(path, &n);
		assert_int_equal(ft_crypto_identity_decode((uint8_t *)text, n, NULL, &id, &err),
		                 c[i].rv);
		ft_crypto_identity_free(id);
		id = NULL;
		if (strcmp(c[i].name, "sealed") == 0) {
			for (int k = 0; k < 32; k++)
				seed[k] = (uint8_t)(0xc0 + k);
			assert_int_equal(ft_crypto_identity_from_seed(seed, &want), FT_OK);
			assert_int_equal(ft_crypto_identity_decode((uint8_t *)text, n, "fuzz", &id, &err),
			                 FT_OK);
			assert_memory_equal(ft_crypto_identity_pk(id), ft_crypto_identity_pk(want), 32);
			ft_crypto_identity_free(id);
			ft_crypto_identity_free(want);
			id = want = NULL;
		}
		free(text);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ed25519_rfc8032),
		cmocka_unit_test(test_fingerprint_kat),
		cmocka_unit_test(test_verify_rejects),
		cmocka_unit_test(test_keyfile_plain),
		cmocka_unit_test(test_keyfile_permissions),
		cmocka_unit_test(test_keyfile_sealed),
		cmocka_unit_test(test_keyfile_truncated_and_garbled),
		cmocka_unit_test(test_pk_file_rejects),
		cmocka_unit_test(test_keyfile_corpus),
		cmocka_unit_test(test_alloc_failures),
	};

	if (ft_crypto_init() != FT_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
