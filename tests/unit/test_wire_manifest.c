/*
 * test_wire_manifest.c - the consortium manifest: sign/verify round trip,
 * pinning to the consortium key, tampering, duplicates, serial updates,
 * atomic files, allocation failures, and `fedtwin consortium` end to end.
 */
#include "wire_test.h"
#include "wire_int.h"

#include <sys/stat.h>
#include <unistd.h>

static void test_sign_verify_round_trip(void **state)
{
	wt_world w;
	ft_wire_manifest *m = NULL;
	uint8_t *buf = NULL, pk[32];
	size_t len;
	ft_errmsg e;
	(void)state;
	wt_world_init(&w);
	assert_int_equal(ft_wire_manifest_sign(w.m, w.consortium, &buf, &len), FT_OK);
	assert_int_equal(ft_wire_manifest_verify(buf, len, ft_crypto_identity_pk(w.consortium), &m,
	                                         &e),
	                 FT_OK);
	assert_string_equal(m->name, "Test Consortium");
	assert_memory_equal(m->id, w.m->id, 32);
	assert_int_equal(m->serial, 1);
	assert_int_equal(m->created_ms, w.m->created_ms);
	assert_string_equal(m->endpoint, "tls+tcp://127.0.0.1:7000");
	assert_int_equal(m->n_sites, WT_SITES);
	for (uint32_t i = 0; i < WT_SITES; i++) {
		assert_int_equal(m->sites[i].id, i + 1);
		assert_memory_equal(m->sites[i].pk, ft_crypto_identity_pk(w.site[i]), 32);
	}
	/* the id is BLAKE2b-256(name || consortium public key) */
	{
		uint8_t cat[15 + 32], id[32];

		memcpy(cat, "Test Consortium", 15);
		memcpy(cat + 15, ft_crypto_identity_pk(w.consortium), 32);
		ft_crypto_hash(id, cat, sizeof(cat));
		assert_memory_equal(id, m->id, 32);
	}
	/* lookups, as the envelope's key callback */
	assert_int_equal(ft_wire_manifest_lookup(m, 3, pk), FT_OK);
	assert_memory_equal(pk, ft_crypto_identity_pk(w.site[2]), 32);
	assert_int_equal(ft_wire_manifest_lookup(m, FT_WIRE_COORDINATOR_ID, pk), FT_OK);
	assert_memory_equal(pk, ft_crypto_identity_pk(w.coord), 32);
	assert_int_equal(ft_wire_manifest_lookup(m, 5, pk), FT_ENOTFOUND);
	assert_int_equal(ft_wire_manifest_lookup(m, 0, pk), FT_ENOTFOUND);
	assert_null(ft_wire_manifest_site(m, 99));
	/* unpinned: integrity only, still verified */
	ft_wire_manifest_free(m);
	m = NULL;
	assert_int_equal(ft_wire_manifest_verify(buf, len, NULL, &m, &e), FT_OK);
	ft_wire_manifest_free(m);
	m = NULL;
	/* a key that did not sign it is refused both as signer and as pin */
	assert_int_equal(ft_wire_manifest_sign(w.m, w.coord, &buf, &len), FT_EINVAL);
	assert_int_equal(ft_wire_manifest_verify(buf, len, ft_crypto_identity_pk(w.coord), &m, &e),
	                 FT_ECRYPTO);
	assert_null(m);
	ft_free(buf);
	wt_world_free(&w);
}

static void test_tampering_and_wrong_consortium(void **state)
{
	wt_world w;
	ft_crypto_identity *rogue = wt_identity(0x66);
	ft_wire_manifest *m = NULL, *fake = NULL;
	uint8_t *buf = NULL;
	size_t len;
	ft_errmsg e;
	(void)state;
	wt_world_init(&w);
	assert_int_equal(ft_wire_manifest_sign(w.m, w.consortium, &buf, &len), FT_OK);
	/* every flipped byte is refused */
	for (size_t i = 0; i < len; i++) {
		buf[i] ^= 0x04;
		assert_int_not_equal(ft_wire_manifest_verify(buf, len, ft_crypto_identity_pk(w.consortium),
		                                             &m, &e),
		                     FT_OK);
		assert_null(m);
		buf[i] ^= 0x04;
	}
	ft_free(buf);
	/* a rogue consortium key signing the same sites: a self-consistent
	 * manifest, refused by the pin */
	assert_int_equal(ft_wire_manifest_new("Test Consortium", ft_crypto_identity_pk(rogue), "coord",
	                                      ft_crypto_identity_pk(w.coord), "tls+tcp://10.0.0.1:1",
	                                      &fake),
	                 FT_OK);
	assert_int_equal(ft_wire_manifest_sign(fake, rogue, &buf, &len), FT_OK);
	assert_int_equal(ft_wire_manifest_verify(buf, len, NULL, &m, &e), FT_OK);
	ft_wire_manifest_free(m);
	m = NULL;
	assert_int_equal(ft_wire_manifest_verify(buf, len, ft_crypto_identity_pk(w.consortium), &m,
	                                         &e),
	                 FT_ECRYPTO);
	assert_non_null(strstr(e.msg, "pinned"));
	/* and its id differs, so its envelopes do not bind to ours */
	assert_memory_not_equal(fake->id, w.m->id, 32);
	ft_free(buf);
	ft_wire_manifest_free(fake);
	ft_crypto_identity_free(rogue);
	wt_world_free(&w);
}

static void test_duplicates_and_limits(void **state)
{
	wt_world w;
	ft_wire_manifest *m = NULL;
	uint8_t pk[32];
	(void)state;
	wt_world_init(&w);
	memset(pk, 0x99, sizeof(pk));
	assert_int_equal(ft_wire_manifest_add_site(w.m, 2, "again", pk), FT_EEXIST);
	assert_int_equal(ft_wire_manifest_add_site(w.m, 9, "same key",
	                                           ft_crypto_identity_pk(w.site[0])),
	                 FT_EEXIST);
	assert_int_equal(ft_wire_manifest_add_site(w.m, 9, "coord key",
	                                           ft_crypto_identity_pk(w.coord)),
	                 FT_EEXIST);
	assert_int_equal(ft_wire_manifest_add_site(w.m, 9, "consortium key",
	                                           ft_crypto_identity_pk(w.consortium)),
	                 FT_EEXIST);
	assert_int_equal(ft_wire_manifest_add_site(w.m, 0, "zero", pk), FT_EINVAL);
	assert_int_equal(ft_wire_manifest_add_site(w.m, FT_WIRE_COORDINATOR_ID, "coord", pk),
	                 FT_EINVAL);
	assert_int_equal(ft_wire_manifest_add_site(w.m, 9, "bad\tname", pk), FT_EINVAL);
	assert_int_equal(w.m->n_sites, WT_SITES);
	/* sites stay sorted whatever the order they are added in */
	assert_int_equal(ft_wire_manifest_add_site(w.m, 9, "nine", pk), FT_OK);
	pk[0] = 1;
	assert_int_equal(ft_wire_manifest_add_site(w.m, 7, "seven", pk), FT_OK);
	for (uint32_t i = 1; i < w.m->n_sites; i++)
		assert_true(w.m->sites[i - 1].id < w.m->sites[i].id);
	/* 1000 sites at most */
	assert_int_equal(ft_wire_manifest_new("Big", ft_crypto_identity_pk(w.consortium), "c",
	                                      ft_crypto_identity_pk(w.coord), "tcp://x:1", &m),
	                 FT_OK);
	for (uint32_t i = 0; i < FT_WIRE_MAX_SITES; i++) {
		memset(pk, 0, sizeof(pk));
		ft_put_le32(pk, i + 1000);
		assert_int_equal(ft_wire_manifest_add_site(m, i + 1, "s", pk), FT_OK);
	}
	pk[31] = 1;
	assert_int_equal(ft_wire_manifest_add_site(m, 5000, "s", pk), FT_ERANGE);
	{
		uint8_t *buf = NULL;
		size_t len;
		ft_wire_manifest *m2 = NULL;
		ft_errmsg e;

		assert_int_equal(ft_wire_manifest_sign(m, w.consortium, &buf, &len), FT_OK);
		assert_int_equal(ft_wire_manifest_verify(buf, len, ft_crypto_identity_pk(w.consortium),
		                                         &m2, &e),
		                 FT_OK);
		assert_int_equal(m2->n_sites, FT_WIRE_MAX_SITES);
		ft_wire_manifest_free(m2);
		/* allocation failures while verifying: no leak, nothing out */
		for (long k = 0;; k++) {
			int rv;

			m2 = NULL;
			ft_alloc_fail_after(k);
			rv = ft_wire_manifest_verify(buf, len, NULL, &m2, &e);
			ft_alloc_fail_after(-1);
			if (rv == FT_OK)
				break;
			assert_int_equal(rv, FT_ENOMEM);
			assert_null(m2);
		}
		ft_wire_manifest_free(m2);
		ft_free(buf);
	}
	ft_wire_manifest_free(m);
	/* the coordinator key must differ from the consortium key */
	assert_int_equal(ft_wire_manifest_new("X", ft_crypto_identity_pk(w.consortium), "c",
	                                      ft_crypto_identity_pk(w.consortium), "tcp://x:1", &m),
	                 FT_EEXIST);
	assert_int_equal(ft_wire_manifest_new("X", ft_crypto_identity_pk(w.consortium), "c",
	                                      ft_crypto_identity_pk(w.coord), "no-scheme", &m),
	                 FT_EINVAL);
	wt_world_free(&w);
}

static void test_serial_updates(void **state)
{
	wt_world w;
	ft_wire_manifest *a = NULL, *b = NULL, *other = NULL;
	uint8_t *buf = NULL, pk[32];
	size_t len;
	ft_errmsg e;
	(void)state;
	wt_world_init(&w);
	assert_int_equal(ft_wire_manifest_sign(w.m, w.consortium, &buf, &len), FT_OK);
	assert_int_equal(ft_wire_manifest_verify(buf, len, NULL, &a, &e), FT_OK);
	ft_free(buf);
	memset(pk, 0x42, sizeof(pk));
	assert_int_equal(ft_wire_manifest_add_site(w.m, 50, "new", pk), FT_OK);
	w.m->serial++;
	assert_int_equal(ft_wire_manifest_sign(w.m, w.consortium, &buf, &len), FT_OK);
	assert_int_equal(ft_wire_manifest_verify(buf, len, NULL, &b, &e), FT_OK);
	ft_free(buf);
	assert_int_equal(ft_wire_manifest_check_update(a, b), FT_OK);
	assert_int_equal(ft_wire_manifest_check_update(b, a), FT_EREPLAY); /* rollback */
	assert_int_equal(ft_wire_manifest_check_update(b, b), FT_EREPLAY);
	assert_int_equal(ft_wire_manifest_new("Other", ft_crypto_identity_pk(w.consortium), "c",
	                                      ft_crypto_identity_pk(w.coord), "tcp://x:1", &other),
	                 FT_OK);
	other->serial = 100;
	assert_int_equal(ft_wire_manifest_check_update(b, other), FT_EPERM);
	ft_wire_manifest_free(a);
	ft_wire_manifest_free(b);
	ft_wire_manifest_free(other);
	wt_world_free(&w);
}

static void test_files(void **state)
{
	wt_world w;
	char dir[64], path[128];
	ft_wire_manifest *m = NULL;
	uint8_t *buf = NULL;
	size_t len;
	ft_errmsg e;
	FILE *f;
	(void)state;
	wt_world_init(&w);
	ft_test_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/manifest", dir);
	assert_int_equal(ft_wire_manifest_load(path, NULL, &m, &e), FT_ENOTFOUND);
	assert_non_null(strstr(e.msg, path));
	assert_int_equal(ft_wire_manifest_sign(w.m, w.consortium, &buf, &len), FT_OK);
	assert_int_equal(ft_wire_manifest_save(buf, len, path, &e), FT_OK);
	assert_int_equal(ft_wire_manifest_save(buf, len, path, &e), FT_OK); /* replaces */
	ft_free(buf);
	assert_int_equal(ft_wire_manifest_load(path, ft_crypto_identity_pk(w.consortium), &m, &e),
	                 FT_OK);
	assert_int_equal(m->n_sites, WT_SITES);
	ft_wire_manifest_free(m);
	m = NULL;
	/* no temporary file is left behind */
	{
		char cmd[200];

		snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) -eq 1", dir);
		assert_int_equal(system(cmd), 0);
	}
	/* a truncated file gives a clear error */
	assert_int_equal(truncate(path, 40), 0);
	assert_int_equal(ft_wire_manifest_load(path, NULL, &m, &e), FT_EFORMAT);
	assert_non_null(strstr(e.msg, "manifest"));
	/* an oversized file is refused before it is read */
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fseek(f, FT_WIRE_MANIFEST_MAX_BYTES, SEEK_SET), 0);
	fputc(0, f);
	fclose(f);
	assert_int_equal(ft_wire_manifest_load(path, NULL, &m, &e), FT_ERANGE);
	ft_test_rmdir(dir);
	wt_world_free(&w);
}

/* Runs the CLI with captured output; returns the exit status. */
static int cli(char *out, size_t n, const char *const *args)
{
	char *argv[32];
	int argc = 0, rc;
	FILE *o = tmpfile(), *e = tmpfile();
	size_t got;

	assert_non_null(o);
	assert_non_null(e);
	argv[argc++] = (char *)"consortium";
	while (args[argc - 1] != NULL) {
		argv[argc] = (char *)args[argc - 1];
		argc++;
	}
	argv[argc] = NULL;
	rc = wire_cli_run(argc, argv, o, e);
	fflush(o);
	fflush(e);
	rewind(o);
	rewind(e);
	got = fread(out, 1, n - 1, o);
	got += fread(out + got, 1, n - 1 - got, e);
	out[got] = '\0';
	fclose(o);
	fclose(e);
	return rc;
}

static void test_cli(void **state)
{
	char dir[64], ck[128], cpub[128], coord[128], s1[128], s2[128], man[128], pass[128];
	char out[8192], fpr[FT_CRYPTO_FPR_CHARS + 1];
	ft_crypto_identity *cons = wt_identity(0x01), *co = wt_identity(0x02);
	ft_crypto_identity *a = wt_identity(0x11), *b = wt_identity(0x12);
	ft_wire_manifest *m = NULL;
	ft_errmsg e;
	FILE *f;
	(void)state;
	assert_int_equal(ft_crypto_init(), FT_OK);
	ft_test_tmpdir(dir, sizeof(dir));
	snprintf(ck, sizeof(ck), "%s/consortium.key", dir);
	snprintf(cpub, sizeof(cpub), "%s/consortium.pub", dir);
	snprintf(coord, sizeof(coord), "%s/coord.pub", dir);
	snprintf(s1, sizeof(s1), "%s/s1.pub", dir);
	snprintf(s2, sizeof(s2), "%s/s2.pub", dir);
	snprintf(man, sizeof(man), "%s/consortium.manifest", dir);
	snprintf(pass, sizeof(pass), "%s/pass", dir);
	assert_int_equal(ft_crypto_identity_save(cons, ck, NULL), FT_OK);
	assert_int_equal(ft_crypto_pk_save(ft_crypto_identity_pk(cons), cpub), FT_OK);
	assert_int_equal(ft_crypto_pk_save(ft_crypto_identity_pk(co), coord), FT_OK);
	assert_int_equal(ft_crypto_pk_save(ft_crypto_identity_pk(a), s1), FT_OK);
	assert_int_equal(ft_crypto_pk_save(ft_crypto_identity_pk(b), s2), FT_OK);
	unsetenv("FEDTWIN_PASSPHRASE");

	assert_int_equal(cli(out, sizeof(out), (const char *[]){ "init", "--name", "Heart Study",
	                                                        "--key", ck, "--coordinator-key",
	                                                        coord, "--endpoint",
	                                                        "tls+tcp://coord.example:7443",
	                                                        "--out", man, NULL }),
	                 0);
	assert_non_null(strstr(out, "serial 1"));
	/* never overwritten by a second init */
	assert_int_equal(cli(out, sizeof(out), (const char *[]){ "init", "--name", "X", "--key", ck,
	                                                        "--coordinator-key", coord,
	                                                        "--endpoint", "tcp://x:1", "--out",
	                                                        man, NULL }),
	                 1);
	assert_int_equal(cli(out, sizeof(out), (const char *[]){ "add-site", "--manifest", man,
	                                                        "--key", ck, "--id", "1", "--name",
	                                                        "St Mary", "--site-key", s1, NULL }),
	                 0);
	assert_non_null(strstr(out, "serial 2"));
	assert_int_equal(cli(out, sizeof(out), (const char *[]){ "add-site", "--manifest", man,
	                                                        "--key", ck, "--id", "2", "--name",
	                                                        "General", "--site-key", s2, NULL }),
	                 0);
	/* duplicate id, duplicate key, bad id: refused, manifest unchanged */
	assert_int_equal(cli(out, sizeof(out), (const char *[]){ "add-site", "--manifest", man,
	                                                        "--key", ck, "--id", "2", "--name",
	                                                        "Dup", "--site-key", s1, NULL }),
	                 1);
	assert_non_null(strstr(out, "already enrolled"));
	assert_int_equal(cli(out, sizeof(out), (const char *[]){ "add-site", "--manifest", man,
	                                                        "--key", ck, "--id", "3x", "--name",
	                                                        "Bad", "--site-key", s1, NULL }),
	                 2);
	assert_int_equal(ft_wire_manifest_load(man, ft_crypto_identity_pk(cons), &m, &e), FT_OK);
	assert_int_equal(m->serial, 3);
	assert_int_equal(m->n_sites, 2);
	assert_string_equal(m->sites[0].name, "St Mary");
	assert_memory_equal(m->sites[1].pk, ft_crypto_identity_pk(b), 32);
	ft_wire_manifest_free(m);
	/* show, pinned and unpinned */
	assert_int_equal(cli(out, sizeof(out), (const char *[]){ "show", "--manifest", man,
	                                                        "--consortium-pub", cpub, NULL }),
	                 0);
	ft_crypto_fingerprint(ft_crypto_identity_pk(b), fpr);
	assert_non_null(strstr(out, fpr));
	assert_non_null(strstr(out, "General"));
	assert_non_null(strstr(out, "verified against"));
	assert_int_equal(cli(out, sizeof(out), (const char *[]){ "show", "--manifest", man, NULL }),
	                 0);
	assert_non_null(strstr(out, "NOT PINNED"));
	/* pinned to another key: refused */
	assert_int_equal(cli(out, sizeof(out), (const char *[]){ "show", "--manifest", man,
	                                                        "--consortium-pub", coord, NULL }),
	                 1);
	/* usage errors name the problem */
	assert_int_equal(cli(out, sizeof(out), (const char *[]){ "show", NULL }), 2);
	assert_int_equal(cli(out, sizeof(out), (const char *[]){ "show", "--manifest", man,
	                                                        "--manifest", man, NULL }),
	                 2);
	assert_non_null(strstr(out, "twice"));
	assert_int_equal(cli(out, sizeof(out), (const char *[]){ "frobnicate", NULL }), 2);
	/* a sealed consortium key, passphrase from a file */
	{
		char sealed[128];

		snprintf(sealed, sizeof(sealed), "%s/sealed.key", dir);
		f = fopen(pass, "w");
		assert_non_null(f);
		fputs("correct horse\n", f);
		fclose(f);
		assert_int_equal(ft_crypto_identity_save(cons, sealed, "correct horse"), FT_OK);
		assert_int_equal(cli(out, sizeof(out),
		                     (const char *[]){ "add-site", "--manifest", man, "--key", sealed,
		                                       "--id", "3", "--name", "Third", "--site-key",
		                                       cpub, NULL }),
		                 1); /* sealed, and no passphrase given */
		assert_non_null(strstr(out, "sealed.key"));
		assert_null(strstr(out, "already enrolled"));
		assert_int_equal(cli(out, sizeof(out),
		                     (const char *[]){ "add-site", "--manifest", man, "--key", sealed,
		                                       "--id", "3", "--name", "Third", "--site-key",
		                                       cpub, "--passphrase-file", pass, NULL }),
		                 1); /* unsealed; but the consortium key cannot be a site key */
		assert_non_null(strstr(out, "already enrolled"));
	}
	ft_test_rmdir(dir);
	ft_crypto_identity_free(cons);
	ft_crypto_identity_free(co);
	ft_crypto_identity_free(a);
	ft_crypto_identity_free(b);
}

static void test_manifest_alloc_failures(void **state)
{
	ft_crypto_identity *cons, *co;
	uint8_t pk[32], *buf = NULL;
	size_t len;
	int rv = -1;
	(void)state;
	assert_int_equal(ft_crypto_init(), FT_OK);
	cons = wt_identity(0x01);
	co = wt_identity(0x02);
	for (long k = 0; k < 200; k++) {
		ft_wire_manifest *m = NULL;

		ft_alloc_fail_after(k);
		rv = ft_wire_manifest_new("Sweep", ft_crypto_identity_pk(cons), "c",
		                          ft_crypto_identity_pk(co), "tcp://h:1", &m);
		for (uint32_t i = 0; rv == FT_OK && i < 20; i++) {
			memset(pk, 0x40, sizeof(pk));
			pk[0] = (uint8_t)i;
			rv = ft_wire_manifest_add_site(m, i + 1, "s", pk);
			if (rv == FT_OK)
				assert_int_equal(m->n_sites, i + 1);
		}
		if (rv == FT_OK)
			rv = ft_wire_manifest_sign(m, cons, &buf, &len);
		ft_alloc_fail_after(-1);
		if (rv != FT_OK) {
			assert_int_equal(rv, FT_ENOMEM);
			/* a failed add leaves the manifest as it was */
			if (m != NULL)
				for (uint32_t i = 0; i < m->n_sites; i++)
					assert_int_equal(m->sites[i].id, i + 1);
		}
		ft_wire_manifest_free(m);
		if (rv == FT_OK)
			break;
	}
	assert_int_equal(rv, FT_OK);
	ft_free(buf);
	ft_crypto_identity_free(cons);
	ft_crypto_identity_free(co);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_verify_round_trip),
		cmocka_unit_test(test_tampering_and_wrong_consortium),
		cmocka_unit_test(test_duplicates_and_limits),
		cmocka_unit_test(test_serial_updates),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_cli),
		cmocka_unit_test(test_manifest_alloc_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
