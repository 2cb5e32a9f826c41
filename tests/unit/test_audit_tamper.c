/*
 * test_audit_tamper.c - an auditor must detect any edit of a log: a
 * thousand random tamperings of real logs (a byte flipped in any field of
 * any row, rows deleted, forged, duplicated, swapped, the tail truncated)
 * are each detected, and the first bad entry is named; truncation is caught
 * with a recorded head or the other side's anchors; raw byte flips in the
 * file either fail verification or leave the content unchanged.
 */
#include "ft_test.h"
#include "ft_audit.h"
#include "audit_int.h"
#include "audit_fixture.h"

#include <inttypes.h>
#include <unistd.h>

static fx_consortium g_c;

static int setup(void **state)
{
	(void)state;
	fx_build(&g_c, 5, 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fx_free(&g_c);
	return 0;
}

/* splitmix64: reproducible tampering; the seed is printed on failure. */
static uint64_t g_rng;
static uint64_t rnd(void)
{
	uint64_t z = (g_rng += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}
static uint64_t rnd_below(uint64_t n)
{
	return rnd() % n;
}

static void exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg != NULL ? msg : "?");
}

/* An in-memory copy of the log without its append-only triggers and
 * constraints. */
static sqlite3 *load_copy(const char *path)
{
	sqlite3 *file = NULL, *mem = NULL;
	sqlite3_backup *b;

	assert_int_equal(sqlite3_open_v2(path, &file, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_open(":memory:", &mem), SQLITE_OK);
	b = sqlite3_backup_init(mem, "main", file, "main");
	assert_non_null(b);
	assert_int_equal(sqlite3_backup_step(b, -1), SQLITE_DONE);
	assert_int_equal(sqlite3_backup_finish(b), SQLITE_OK);
	sqlite3_close(file);
	/* A tamperer rebuilds the table without triggers or constraints. */
	exec(mem, "CREATE TABLE loose AS SELECT * FROM entries; DROP TABLE entries; "
	          "ALTER TABLE loose RENAME TO entries");
	return mem;
}

static int64_t max_seq(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(db, "SELECT max(seq) FROM entries", -1, &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static const char *const g_cols[8] = { "seq", "time_ms", "actor", "type",
	                               "payload", "prev_hash", "hash", "sig" };

/* Flips one byte (XOR a non-zero value) of text column c of row k. */
static void flip_text(sqlite3 *db, int64_t k, int c)
{
	sqlite3_stmt *st = NULL;
	char sql[128];
	unsigned char *buf;
	int n;

	snprintf(sql, sizeof(sql), "SELECT %s FROM entries WHERE seq = ?", g_cols[c]);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, k);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_bytes(st, 0);
	assert_true(n > 0);
	buf = malloc((size_t)n);
	assert_non_null(buf);
	memcpy(buf, sqlite3_column_text(st, 0), (size_t)n);
	sqlite3_finalize(st);
	buf[rnd_below((uint64_t)n)] ^= (unsigned char)(1 + rnd_below(255));
	snprintf(sql, sizeof(sql), "UPDATE entries SET %s = ? WHERE seq = ?", g_cols[c]);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, (const char *)buf, n, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, k);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	free(buf);
}

static void exec_f(sqlite3 *db, const char *fmt, ...) FT_PRINTF(2, 3);
static void exec_f(sqlite3 *db, const char *fmt, ...)
{
	char sql[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	exec(db, sql);
}

/* A forged entry at seq n + 1: what someone without the key can write. The
 * hash is computed correctly (the format is public), the signature cannot
 * be: it is copied from another entry or random. */
static void forge(sqlite3 *db, int64_t n, int64_t from, int recompute)
{
	sqlite3_stmt *st = NULL;
	audit_entry e;
	uint8_t prev[32], hash[32], sig[64];
	char prev_hex[65], hash_hex[65], sig_hex[129];
	char *actor, *type, *payload;
	ft_errmsg err;

	assert_int_equal(sqlite3_prepare_v2(db, "SELECT " AUDIT_ENTRY_COLUMNS " FROM entries "
	                                        "WHERE seq = ? OR seq = ? ORDER BY seq DESC",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_int64(st, 1, n);
	sqlite3_bind_int64(st, 2, from);
	assert_int_equal(audit_db_next(st, &e, &err), SQLITE_ROW); /* row n: the head */
	assert_int_equal(ft_crypto_unhex(prev, 32, e.hash_hex), FT_OK);
	memcpy(prev_hex, e.hash_hex, 65);
	if (from != n)
		assert_int_equal(audit_db_next(st, &e, &err), SQLITE_ROW); /* row `from` */
	actor = strndup(e.actor, e.actor_len);
	type = strndup(e.type, e.type_len);
	payload = strndup(e.payload, e.payload_len);
	memcpy(sig_hex, e.sig_hex, 129);
	memcpy(hash_hex, e.hash_hex, 65);
	sqlite3_finalize(st);
	if (recompute) {
		audit_entry_hash(prev, (uint64_t)n + 1, e.time_ms + 5, actor, strlen(actor), type,
		                 strlen(type), payload, strlen(payload), hash);
		ft_crypto_hex(hash_hex, hash, 32);
		if (rnd() & 1) {
			ft_crypto_random(sig, sizeof(sig));
			ft_crypto_hex(sig_hex, sig, sizeof(sig));
		}
	}
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO entries (" AUDIT_ENTRY_COLUMNS
	                                        ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_int64(st, 1, n + 1);
	sqlite3_bind_int64(st, 2, e.time_ms + 5);
	sqlite3_bind_text(st, 3, actor, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, type, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, payload, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, prev_hex, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 7, hash_hex, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 8, sig_hex, -1, SQLITE_TRANSIENT);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	free(actor);
	free(type);
	free(payload);
}

enum { T_FLIP, T_DELETE, T_FORGE, T_DUP, T_SWAP, T_TRUNC, T_KINDS };

/* Applies one random tampering to db (N entries, head hash `head`);
 * returns the seq verification must name, or 0 for a truncation that only
 * a recorded head can reveal. */
static int64_t tamper(sqlite3 *db, int64_t n, int *kind_out)
{
	uint64_t r = rnd_below(100);
	int kind = r < 55 ? T_FLIP : r < 65 ? T_DELETE : r < 75 ? T_FORGE : r < 84 ? T_DUP
	         : r < 94 ? T_SWAP : T_TRUNC;
	int64_t k = 1 + (int64_t)rnd_below((uint64_t)n);

	*kind_out = kind;
	switch (kind) {
	case T_FLIP: {
		int c = (int)rnd_below(8);

		if (c == 0) /* renumber the row to a seq that does not exist */
			exec_f(db, "UPDATE entries SET seq = %lld WHERE seq = %lld",
			       (long long)(n + 1 + (int64_t)rnd_below(1000)), (long long)k);
		else if (c == 1) {
			long long bit = 1ll << rnd_below(63);

			/* SQLite has no XOR operator: (a | b) - (a & b). */
			exec_f(db, "UPDATE entries SET time_ms = (time_ms | %lld) - (time_ms & %lld) "
			           "WHERE seq = %lld",
			       bit, bit, (long long)k);
		}
		else
			flip_text(db, k, c);
		return k;
	}
	case T_DELETE:
		exec_f(db, "DELETE FROM entries WHERE seq = %lld", (long long)k);
		return k == n ? 0 : k;
	case T_FORGE:
		forge(db, n, k, (int)(rnd() & 1));
		return n + 1;
	case T_DUP:
		exec_f(db, "UPDATE entries SET seq = seq + 1000000 WHERE seq > %lld", (long long)k);
		exec_f(db, "UPDATE entries SET seq = seq - 999999 WHERE seq > 1000000");
		exec_f(db, "INSERT INTO entries SELECT %lld, time_ms, actor, type, payload, prev_hash, "
		           "hash, sig FROM entries WHERE seq = %lld", (long long)(k + 1), (long long)k);
		return k + 1;
	case T_SWAP: {
		int64_t j = 1 + (int64_t)rnd_below((uint64_t)n);

		if (j == k)
			j = k == n ? k - 1 : k + 1;
		if (j < k) {
			int64_t t = j;

			j = k;
			k = t;
		}
		exec_f(db, "UPDATE entries SET seq = 999999999 WHERE seq = %lld", (long long)k);
		exec_f(db, "UPDATE entries SET seq = %lld WHERE seq = %lld", (long long)k, (long long)j);
		exec_f(db, "UPDATE entries SET seq = %lld WHERE seq = 999999999", (long long)j);
		return k;
	}
	default: /* T_TRUNC */
		k = 1 + (int64_t)rnd_below((uint64_t)n - 1);
		exec_f(db, "DELETE FROM entries WHERE seq > %lld", (long long)k);
		return 0;
	}
}

static void tamper_many(const char *path, unsigned count, unsigned *by_kind)
{
	sqlite3 *db = load_copy(path);
	ft_audit_verify_result r, orig;
	int64_t n = max_seq(db);
	ft_errmsg err;

	assert_int_equal(audit_verify_db(db, NULL, &orig, &err), FT_OK);
	assert_int_equal(orig.entries, (uint64_t)n);
	assert_true(n > 30);
	for (unsigned i = 0; i < count; i++) {
		int kind = 0, rv;
		int64_t want;

		exec(db, "SAVEPOINT t");
		want = tamper(db, n, &kind);
		rv = audit_verify_db(db, NULL, &r, &err);
		if (want > 0) {
			if (rv == FT_OK)
				fail_msg("tampering %u (kind %d, seq %lld) not detected", i, kind,
				         (long long)want);
			if (r.bad_seq != (uint64_t)want)
				fail_msg("tampering %u (kind %d): named entry %llu, not %lld: %s", i, kind,
				         (unsigned long long)r.bad_seq, (long long)want, err.msg);
			assert_int_equal(r.entries, (uint64_t)want - 1);
		} else {
			/* A truncation leaves a valid prefix; the head recorded
			 * before (by an auditor or in the other side's anchor) is
			 * gone. */
			assert_int_equal(rv, FT_OK);
			assert_true(r.entries < orig.entries);
			assert_int_equal(audit_db_has_entry(db, orig.head_seq, orig.head, NULL, &err),
			                 FT_ENOTFOUND);
			assert_int_equal(audit_db_has_entry(db, 0, orig.head, NULL, &err), FT_ENOTFOUND);
		}
		by_kind[kind]++;
		exec(db, "ROLLBACK TO t; RELEASE t");
		if (i % 100 == 0)
			assert_int_equal(audit_verify_db(db, NULL, NULL, &err), FT_OK);
	}
	sqlite3_close(db);
}

/* Number of event types of the registry present in the logs at paths. */
static int types_present(const char *const *paths, size_t n)
{
	static const char *const all[] = {
		"log.genesis", "key.enrol", "key.rotate", "key.revoke", "run.start", "run.end",
		"round.start", "round.end", "msg.sent", "msg.received", "train.local",
		"privacy.spend", "policy.set", "policy.refuse", "consent.change", "model.version",
		"anchor",
	};
	int found = 0;

	for (size_t t = 0; t < sizeof(all) / sizeof(all[0]); t++) {
		int here = 0;

		for (size_t i = 0; i < n && !here; i++) {
			sqlite3 *db = NULL;
			sqlite3_stmt *st = NULL;

			assert_int_equal(sqlite3_open_v2(paths[i], &db, SQLITE_OPEN_READONLY, NULL),
			                 SQLITE_OK);
			assert_int_equal(sqlite3_prepare_v2(db, "SELECT 1 FROM entries WHERE type = ?", -1,
			                                    &st, NULL),
			                 SQLITE_OK);
			sqlite3_bind_text(st, 1, all[t], -1, SQLITE_STATIC);
			here = sqlite3_step(st) == SQLITE_ROW;
			sqlite3_finalize(st);
			sqlite3_close(db);
		}
		found += here;
	}
	return found;
}

static void test_thousand_tamperings(void **state)
{
	const char *const tampered[] = { g_c.coord_path, g_c.site_path[0], g_c.site_path[2] };

	const char *seed_env = getenv("FT_TEST_SEED");
	unsigned by_kind[T_KINDS] = { 0 };
	uint64_t seed = 20261125;

	(void)state;
	if (seed_env != NULL && ft_parse_u64(seed_env, UINT64_MAX, &seed) != FT_OK)
		fail_msg("bad FT_TEST_SEED");
	g_rng = seed;
	print_message("tampering seed %" PRIu64 " (set FT_TEST_SEED to vary)\n", seed);
	/* The tampered logs hold every event type of the registry. */
	assert_int_equal(types_present(tampered, 3), 17);
	tamper_many(g_c.coord_path, 500, by_kind);
	tamper_many(g_c.site_path[0], 250, by_kind);
	tamper_many(g_c.site_path[2], 250, by_kind);
	/* Every kind was exercised many times. */
	for (int k = 0; k < T_KINDS; k++)
		assert_true(by_kind[k] >= 40);
}

/* Copies a file, returning its bytes too. */
static unsigned char *read_all(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long len;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	assert_true(len > 0);
	rewind(f);
	buf = malloc((size_t)len);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	*n = (size_t)len;
	return buf;
}

static void write_all(const char *path, const unsigned char *buf, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, n, f), n);
	fclose(f);
}

/* BLAKE2b of every stored column of every row, in seq order; 1 if the
 * file could be read at all. */
static int content_digest(const char *path, uint8_t out[32])
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	ft_crypto_hash_state h;
	int ok = 0, rc;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		goto out;
	if (sqlite3_prepare_v2(db, "SELECT " AUDIT_ENTRY_COLUMNS " FROM entries ORDER BY seq", -1,
	                       &st, NULL) != SQLITE_OK)
		goto out;
	ft_crypto_hash_init(&h);
	for (rc = sqlite3_step(st); rc == SQLITE_ROW; rc = sqlite3_step(st))
		for (int c = 0; c < 8; c++) {
			int64_t v = sqlite3_column_int64(st, c);
			const unsigned char *t = sqlite3_column_text(st, c);

			ft_crypto_hash_update(&h, &v, sizeof(v));
			if (t != NULL)
				ft_crypto_hash_update(&h, t, (size_t)sqlite3_column_bytes(st, c));
		}
	ft_crypto_hash_final(&h, out);
	ok = rc == SQLITE_DONE;
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return ok;
}

static void test_raw_file_flips(void **state)
{
	char path[160];
	unsigned char *orig;
	size_t n;
	uint8_t want[32], got[32];
	unsigned detected = 0, harmless = 0;
	ft_errmsg err;

	(void)state;
	g_rng = 77;
	orig = read_all(g_c.site_path[1], &n);
	assert_true(content_digest(g_c.site_path[1], want));
	snprintf(path, sizeof(path), "%s/raw.audit", g_c.dir);
	for (int i = 0; i < 150; i++) {
		size_t at = (size_t)rnd_below(n);
		unsigned char old = orig[at];

		orig[at] ^= (unsigned char)(1 + rnd_below(255));
		write_all(path, orig, n);
		orig[at] = old;
		if (ft_audit_verify(path, NULL, NULL, &err) != FT_OK) {
			detected++;
		} else {
			/* Verification passed: then the log says exactly what it
			 * said before (the byte was in free or unused space). */
			if (!content_digest(path, got) || memcmp(got, want, 32) != 0)
				fail_msg("raw flip at byte %zu changed the content undetected", at);
			harmless++;
		}
	}
	print_message("raw flips: %u detected, %u in unused space\n", detected, harmless);
	assert_true(detected > 0);
	free(orig);
	unlink(path);
}

/* A tampered copy of a fixture log on disk (triggers dropped), through SQL. */
static void tampered_copy(const char *from, const char *to, const char *sql)
{
	size_t n;
	unsigned char *buf = read_all(from, &n);
	sqlite3 *db = NULL;

	write_all(to, buf, n);
	free(buf);
	assert_int_equal(sqlite3_open(to, &db), SQLITE_OK);
	exec(db, "DROP TRIGGER entries_no_update; DROP TRIGGER entries_no_delete");
	exec(db, sql);
	sqlite3_close(db);
}

static void test_cli_verify_and_truncation(void **state)
{
	char *out = NULL, *err = NULL, copy[160], head[128], sql[128];
	ft_audit_verify_result r;
	ft_errmsg e;
	char hex[65];

	(void)state;
	/* The untouched logs verify, and their anchors match both ways. */
	assert_int_equal(fx_cli(&out, &err, "verify", g_c.site_path[0], "--against",
	                        g_c.coord_path, NULL),
	                 0);
	assert_non_null(strstr(out, "verified"));
	assert_non_null(strstr(out, "anchors: 5 in"));
	free(out);
	free(err);
	assert_int_equal(fx_cli(&out, &err, "verify", g_c.coord_path, "--against",
	                        g_c.site_path[2], NULL),
	                 0);
	free(out);
	free(err);

	/* The head an auditor records today. */
	assert_int_equal(ft_audit_verify(g_c.site_path[0], NULL, &r, &e), FT_OK);
	ft_crypto_hex(hex, r.head, 32);
	snprintf(head, sizeof(head), "%" PRIu64 ":%s", r.head_seq, hex);
	assert_int_equal(fx_cli(&out, &err, "verify", g_c.site_path[0], "--head", head, NULL), 0);
	assert_non_null(strstr(out, "recorded head found"));
	free(out);
	free(err);

	/* The site truncates its log to before its third update left. */
	snprintf(copy, sizeof(copy), "%s/truncated.audit", g_c.dir);
	snprintf(sql, sizeof(sql), "DELETE FROM entries WHERE seq > %" PRIu64, r.head_seq - 12);
	tampered_copy(g_c.site_path[0], copy, sql);
	assert_int_equal(fx_cli(&out, &err, "verify", copy, NULL), 0); /* undetectable alone */
	free(out);
	free(err);
	assert_int_equal(fx_cli(&out, &err, "verify", copy, "--head", head, NULL), 1);
	assert_non_null(strstr(err, "truncated"));
	free(out);
	free(err);
	assert_int_equal(fx_cli(&out, &err, "verify", copy, "--head", head + 3, NULL), 1);
	free(out);
	free(err);
	assert_int_equal(fx_cli(&out, &err, "verify", copy, "--against", g_c.coord_path, NULL), 1);
	assert_non_null(strstr(err, "truncated"));
	free(out);
	free(err);

	/* An edited entry is named. */
	snprintf(copy, sizeof(copy), "%s/edited.audit", g_c.dir);
	tampered_copy(g_c.site_path[0], copy,
	              "UPDATE entries SET payload = replace(payload, '\"eps_round\":0.4', "
	              "'\"eps_round\":0.1') WHERE type = 'privacy.spend'");
	assert_int_equal(fx_cli(&out, &err, "verify", copy, NULL), 1);
	assert_non_null(strstr(err, "hash mismatch"));
	assert_non_null(strstr(err, "FAILED: entry "));
	free(out);
	free(err);

	/* A site rewrites its whole log consistently with a new key: it
	 * verifies alone, but neither --key nor the coordinator's anchors
	 * accept it. */
	{
		ft_crypto_identity *fake = fx_identity(0x99);
		ft_audit_log *log = NULL;
		char pkfile[160];

		snprintf(copy, sizeof(copy), "%s/rewritten.audit", g_c.dir);
		assert_int_equal(ft_audit_open(copy, fake, g_c.site_name[0], &log, &e), FT_OK);
		for (int i = 0; i < 40; i++)
			assert_int_equal(ft_audit_log_policy(log, 1, 2, 1e-5, NULL, NULL), FT_OK);
		ft_audit_close(log);
		assert_int_equal(fx_cli(&out, &err, "verify", copy, NULL), 0);
		free(out);
		free(err);
		snprintf(pkfile, sizeof(pkfile), "%s/site1.pub", g_c.dir);
		assert_int_equal(ft_crypto_pk_save(ft_crypto_identity_pk(g_c.site_id[0]), pkfile),
		                 FT_OK);
		assert_int_equal(fx_cli(&out, &err, "verify", copy, "--key", pkfile, NULL), 1);
		free(out);
		free(err);
		assert_int_equal(fx_cli(&out, &err, "verify", copy, "--against", g_c.coord_path, NULL),
		                 1);
		assert_non_null(strstr(err, "rewritten"));
		free(out);
		free(err);
		ft_crypto_identity_free(fake);
	}

	/* Two logs that never anchored each other prove nothing together. */
	assert_int_equal(fx_cli(&out, &err, "verify", g_c.site_path[0], "--against",
	                        g_c.site_path[1], NULL),
	                 1);
	assert_non_null(strstr(err, "no anchors"));
	free(out);
	free(err);

	/* Usage errors. */
	assert_int_equal(fx_cli(&out, &err, "verify", NULL), 2);
	free(out);
	free(err);
	assert_int_equal(fx_cli(&out, &err, "verify", g_c.coord_path, "--head", "zz", NULL), 2);
	free(out);
	free(err);
	assert_int_equal(fx_cli(&out, &err, "frobnicate", NULL), 2);
	free(out);
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_thousand_tamperings),
		cmocka_unit_test(test_raw_file_flips),
		cmocka_unit_test(test_cli_verify_and_truncation),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
