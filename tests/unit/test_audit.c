/*
 * test_audit.c - the audit log as the daemons and an auditor use it:
 * canonical payloads (cross-checked with Python's json and hashlib), the
 * entry hash, creating and reopening a log, refusing a wrong key, a wrong
 * actor or a file that is not ours, append-only triggers, and failed
 * allocations at every point.
 */
#include "ft_test.h"
#include "ft_audit.h"
#include "audit_int.h"
#include "audit_fixture.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[64];
static char g_path[160];

static int setup(void **state)
{
	(void)state;
	assert_int_equal(ft_crypto_init(), FT_OK);
	ft_test_tmpdir(g_dir, sizeof(g_dir));
	snprintf(g_path, sizeof(g_path), "%s/a.audit", g_dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ft_alloc_fail_after(-1);
	ft_test_rmdir(g_dir);
	return 0;
}

static char *finish(ft_audit_json *j)
{
	char *s = NULL;
	size_t n = 0;

	assert_int_equal(ft_audit_json_finish(j, &s, &n), FT_OK);
	assert_int_equal(strlen(s), n);
	return s;
}

/* Expected texts from Python 3:
 *   json.dumps(obj, sort_keys=True, separators=(',', ':'), ensure_ascii=False)
 * and '%.17g' % v for doubles. */
static void test_json_canonical(void **state)
{
	static const char *arr[] = { "x", "y\n" };
	static const uint64_t nums[] = { 1, UINT64_MAX };
	ft_audit_json *j = NULL;
	audit_jobj o;
	char *s;
	uint64_t u = 0;

	(void)state;
	assert_int_equal(ft_audit_json_new(&j), FT_OK);
	assert_int_equal(ft_audit_json_str(j, "zeta", "tab\there \"q\" \\ back\x01\x1f \xc3\xa9/<"),
	                 FT_OK);
	assert_int_equal(ft_audit_json_i64(j, "alpha", -42), FT_OK);
	assert_int_equal(ft_audit_json_bool(j, "mid", 1), FT_OK);
	assert_int_equal(ft_audit_json_str_array(j, "arr", arr, 2), FT_OK);
	assert_int_equal(ft_audit_json_u64_array(j, "nums", nums, 2), FT_OK);
	assert_int_equal(ft_audit_json_bool(j, "b", 0), FT_OK);
	s = finish(j);
	assert_string_equal(s, "{\"alpha\":-42,\"arr\":[\"x\",\"y\\n\"],\"b\":false,\"mid\":true,"
	                       "\"nums\":[1,18446744073709551615],\"zeta\":\"tab\\there \\\"q\\\" "
	                       "\\\\ back\\u0001\\u001f \xc3\xa9/<\"}");
	/* The parser reads back exactly what was written. */
	assert_int_equal(audit_json_parse(s, strlen(s), &o, NULL), FT_OK);
	assert_int_equal(o.n, 6);
	assert_string_equal(audit_jobj_str(&o, "zeta"), "tab\there \"q\" \\ back\x01\x1f \xc3\xa9/<");
	assert_true(audit_jobj_num(&o, "alpha", 0) == -42.0);
	assert_int_equal(audit_jobj_get(&o, "arr")->n_items, 2);
	assert_string_equal(audit_jobj_get(&o, "arr")->items[1].str, "y\n");
	assert_int_equal(audit_jobj_get(&o, "mid")->boolean, 1);
	assert_int_equal(audit_jobj_u64(&o, "alpha", &u) != FT_OK, 1);
	assert_string_equal(audit_jobj_get(&o, "nums")->items[1].str, "18446744073709551615");
	audit_jobj_clear(&o);
	ft_free(s);
	ft_audit_json_free(j);

	assert_int_equal(ft_audit_json_new(&j), FT_OK);
	assert_int_equal(ft_audit_json_double(j, "a", 0.1), FT_OK);
	assert_int_equal(ft_audit_json_double(j, "b", 1e-5), FT_OK);
	assert_int_equal(ft_audit_json_double(j, "c", 3.0), FT_OK);
	assert_int_equal(ft_audit_json_double(j, "d", -2.5e300), FT_OK);
	assert_int_equal(ft_audit_json_double(j, "e", 1.0 / 3.0), FT_OK);
	assert_int_equal(ft_audit_json_double(j, "f", -0.0), FT_OK);
	s = finish(j);
	assert_string_equal(s, "{\"a\":0.10000000000000001,\"b\":1.0000000000000001e-05,\"c\":3,"
	                       "\"d\":-2.5000000000000001e+300,\"e\":0.33333333333333331,\"f\":0}");
	assert_int_equal(audit_json_parse(s, strlen(s), &o, NULL), FT_OK);
	assert_true(audit_jobj_num(&o, "a", 0) == 0.1);
	assert_true(audit_jobj_num(&o, "e", 0) == 1.0 / 3.0);
	audit_jobj_clear(&o);
	ft_free(s);
	ft_audit_json_free(j);
}

static void test_json_rejects(void **state)
{
	static const char *bad[] = {
		"", "{", "{} ", " {}", "[]", "{\"a\": 1}", "{\"b\":1,\"a\":2}", "{\"a\":1,\"a\":2}",
		"{\"a\":1.0}", "{\"a\":01}", "{\"a\":+1}", "{\"a\":1e5}", "{\"a\":-0}",
		"{\"a\":\"\\u00e9\"}", "{\"a\":\"\\u0041\"}", "{\"a\":\"\\/\"}", "{\"a\":\"\\u001F\"}",
		"{\"a\":\"\xc3\"}", "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xc0\xaf\"}",
		"{\"a\":{\"b\":1}}", "{\"a\":[[1]]}", "{\"a\":[1,]}", "{\"a\":tru}", "{\"a\":null}",
		"{\"A\":1}", "{\"\":1}", "{\"a\":\"x\"}x", "{\"a\":\"\t\"}", "{\"a\":1,}",
	};
	/* Found by fuzz_audit_payload: NUL bytes inside a number. */
	static const char nul_in_number[] = "{\"a\":1.5\0\0005}";
	ft_audit_json *j = NULL;
	audit_jobj o;
	ft_errmsg err;

	(void)state;
	assert_int_equal(audit_json_parse(nul_in_number, sizeof(nul_in_number) - 1, &o, &err),
	                 FT_EFORMAT);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rv = audit_json_parse(bad[i], strlen(bad[i]), &o, &err);

		if (rv != FT_EFORMAT)
			fail_msg("accepted non-canonical payload #%zu: %s", i, bad[i]);
	}
	assert_int_equal(ft_audit_json_new(&j), FT_OK);
	assert_int_equal(ft_audit_json_u64(j, "k", 1), FT_OK);
	assert_int_equal(ft_audit_json_u64(j, "k", 2), FT_EEXIST);
	assert_int_equal(ft_audit_json_u64(j, "Key", 2), FT_EINVAL);
	assert_int_equal(ft_audit_json_u64(j, "", 2), FT_EINVAL);
	assert_int_equal(ft_audit_json_str(j, "s", "bad \xff utf8"), FT_EINVAL);
	assert_int_equal(ft_audit_json_double(j, "d", NAN), FT_EINVAL);
	assert_int_equal(ft_audit_json_double(j, "d", INFINITY), FT_EINVAL);
	ft_audit_json_free(j);
	ft_audit_json_free(NULL);
}

/* Expected values from Python 3's hashlib.blake2b(digest_size=32) over the
 * encoding in docs/AUDIT.md ("Entry hash"). */
static void test_entry_hash_kat(void **state)
{
	uint8_t prev[32], h[32], zero[32] = { 0 };
	char hex[65];

	(void)state;
	for (int i = 0; i < 32; i++)
		prev[i] = (uint8_t)i;
	audit_entry_hash(prev, 7, 1764072000123LL, "site:3", 6, "msg.sent", 8, "{\"a\":1}", 7, h);
	ft_crypto_hex(hex, h, 32);
	assert_string_equal(hex, "554ec03457a2ea60404f9e5ac66af4c87a4cfe398e12d3b5722032b4a5a67815");
	audit_entry_hash(zero, 1, -5, "coordinator", 11, "log.genesis", 11, "{}", 2, h);
	ft_crypto_hex(hex, h, 32);
	assert_string_equal(hex, "f8a95309a33594a46100fb1d2a48ed340e07057d03c71ffc1716153e42c29165");
}

static int64_t query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void test_log_lifecycle(void **state)
{
	ft_crypto_identity *id = fx_identity(1);
	ft_audit_log *log = NULL;
	uint8_t head[32], head2[32], d[32] = { 0 };
	uint64_t seq = 0, seq2 = 0;
	ft_audit_verify_result r;
	struct stat sb;
	sqlite3 *db = NULL;
	char *text = NULL, pk_hex[65], want[200];
	ft_errmsg err;

	(void)state;
	assert_int_equal(ft_audit_open(g_path, id, "site:3", &log, &err), FT_OK);
	assert_int_equal(ft_audit_head(log, &seq, head), FT_OK);
	assert_int_equal(seq, 1);
	assert_int_equal(stat(g_path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(ft_audit_log_message(log, FT_AUDIT_SENT, "coordinator", "masked_update",
	                                      4096, d, "run-1", 2, &seq, head),
	                 FT_OK);
	assert_int_equal(seq, 2);
	assert_int_equal(ft_audit_head(log, &seq2, head2), FT_OK);
	assert_int_equal(seq2, 2);
	assert_memory_equal(head, head2, 32);
	ft_audit_close(log);

	/* Reopening continues the chain. */
	assert_int_equal(ft_audit_open(g_path, id, "site:3", &log, &err), FT_OK);
	assert_int_equal(ft_audit_head(log, &seq2, head2), FT_OK);
	assert_int_equal(seq2, 2);
	assert_memory_equal(head, head2, 32);
	assert_int_equal(ft_audit_append(log, "anchor", NULL, &seq, NULL), FT_OK);
	assert_int_equal(seq, 3);
	ft_audit_close(log);

	assert_int_equal(ft_audit_verify(g_path, ft_crypto_identity_pk(id), &r, &err), FT_OK);
	assert_int_equal(r.entries, 3);
	assert_int_equal(r.head_seq, 3);
	assert_string_equal(r.actor, "site:3");
	assert_memory_equal(r.pk, ft_crypto_identity_pk(id), 32);

	/* What an auditor sees with the sqlite3 shell. */
	assert_int_equal(sqlite3_open(g_path, &db), SQLITE_OK);
	assert_int_equal(query_int(db, "PRAGMA user_version"), FT_AUDIT_SCHEMA_VERSION);
	assert_int_equal(query_int(db, "PRAGMA application_id"), AUDIT_APPLICATION_ID);
	assert_int_equal(query_int(db, "SELECT count(*) FROM pragma_journal_mode "
	                               "WHERE journal_mode = 'wal'"),
	                 1);
	{
		sqlite3_stmt *st = NULL;

		assert_int_equal(sqlite3_prepare_v2(db, "SELECT payload FROM entries WHERE seq = 1",
		                                    -1, &st, NULL),
		                 SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		ft_crypto_hex(pk_hex, ft_crypto_identity_pk(id), 32);
		snprintf(want, sizeof(want), "{\"actor\":\"site:3\",\"format\":1,\"pk\":\"%s\"}",
		         pk_hex);
		assert_string_equal((const char *)sqlite3_column_text(st, 0), want);
		sqlite3_finalize(st);
	}
	/* Append-only: the triggers refuse UPDATE and DELETE. */
	assert_int_not_equal(sqlite3_exec(db, "UPDATE entries SET time_ms = 0 WHERE seq = 2", NULL,
	                                  NULL, &text),
	                     SQLITE_OK);
	assert_non_null(strstr(text, "append-only"));
	sqlite3_free(text);
	text = NULL;
	assert_int_not_equal(sqlite3_exec(db, "DELETE FROM entries WHERE seq = 3", NULL, NULL,
	                                  &text),
	                     SQLITE_OK);
	assert_non_null(strstr(text, "append-only"));
	sqlite3_free(text);
	assert_int_equal(query_int(db, "SELECT count(*) FROM entries"), 3);
	sqlite3_close(db);
	ft_crypto_identity_free(id);
}

static void test_open_wrong_key_or_actor(void **state)
{
	ft_crypto_identity *id = fx_identity(1), *other = fx_identity(2);
	ft_audit_log *log = NULL;
	ft_audit_verify_result r;
	char pkfile[200], *out = NULL, *errs = NULL;
	ft_errmsg err;

	(void)state;
	assert_int_equal(ft_audit_open(g_path, id, "site:3", &log, &err), FT_OK);
	ft_audit_close(log);
	log = NULL;
	assert_int_equal(ft_audit_open(g_path, other, "site:3", &log, &err), FT_EPERM);
	assert_null(log);
	assert_non_null(strstr(err.msg, "another key"));
	assert_int_equal(ft_audit_open(g_path, id, "site:4", &log, &err), FT_EPERM);
	assert_non_null(strstr(err.msg, "site:3"));
	assert_int_equal(ft_audit_open(g_path, id, "bad actor", &log, &err), FT_EINVAL);
	assert_int_equal(ft_audit_open(g_path, id, "", &log, &err), FT_EINVAL);
	/* Nothing was appended by the refused opens. */
	assert_int_equal(ft_audit_verify(g_path, NULL, &r, &err), FT_OK);
	assert_int_equal(r.entries, 1);
	/* The auditor's --key check. */
	assert_int_equal(ft_audit_verify(g_path, ft_crypto_identity_pk(other), &r, &err),
	                 FT_ECRYPTO);
	assert_int_equal(r.bad_seq, 1);
	snprintf(pkfile, sizeof(pkfile), "%s/other.pub", g_dir);
	assert_int_equal(ft_crypto_pk_save(ft_crypto_identity_pk(other), pkfile), FT_OK);
	assert_int_equal(fx_cli(&out, &errs, "verify", g_path, "--key", pkfile, NULL), 1);
	assert_non_null(strstr(errs, "entry 1: the log's key is not the expected key"));
	free(out);
	free(errs);
	snprintf(pkfile, sizeof(pkfile), "%s/mine.pub", g_dir);
	assert_int_equal(ft_crypto_pk_save(ft_crypto_identity_pk(id), pkfile), FT_OK);
	assert_int_equal(fx_cli(&out, &errs, "verify", g_path, "--key", pkfile, NULL), 0);
	assert_non_null(strstr(out, "verified 1 entries, actor site:3"));
	free(out);
	free(errs);
	ft_crypto_identity_free(id);
	ft_crypto_identity_free(other);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_open_not_ours(void **state)
{
	ft_crypto_identity *id = fx_identity(1);
	ft_audit_log *log = NULL;
	char path[200], link[200];
	sqlite3 *db = NULL;
	ft_errmsg err;

	(void)state;
	snprintf(path, sizeof(path), "%s/notes.txt", g_dir);
	write_file(path, "this is not a database, just some text that is long enough.\n", 0600);
	assert_int_equal(ft_audit_open(path, id, "site:1", &log, &err), FT_EFORMAT);
	assert_int_equal(ft_audit_verify(path, NULL, NULL, &err), FT_EFORMAT);

	snprintf(path, sizeof(path), "%s/other.db", g_dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE t (x); INSERT INTO t VALUES (1)", NULL, NULL,
	                              NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(ft_audit_open(path, id, "site:1", &log, &err), FT_EFORMAT);
	assert_non_null(strstr(err.msg, "not a fedtwin audit log"));
	assert_int_equal(ft_audit_verify(path, NULL, NULL, &err), FT_EFORMAT);

	/* A newer schema is left alone. */
	assert_int_equal(ft_audit_open(g_path, id, "site:1", &log, &err), FT_OK);
	ft_audit_close(log);
	log = NULL;
	assert_int_equal(sqlite3_open(g_path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 2", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(ft_audit_open(g_path, id, "site:1", &log, &err), FT_ESTATE);
	assert_int_equal(ft_audit_verify(g_path, NULL, NULL, &err), FT_ESTATE);

	/* Permissions and links. */
	snprintf(path, sizeof(path), "%s/open.audit", g_dir);
	write_file(path, "", 0644);
	assert_int_equal(ft_audit_open(path, id, "site:1", &log, &err), FT_EPERM);
	assert_non_null(strstr(err.msg, "chmod 600"));
	snprintf(link, sizeof(link), "%s/link.audit", g_dir);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(ft_audit_open(link, id, "site:1", &log, &err), FT_EPERM);
	assert_null(log);
	ft_crypto_identity_free(id);
}

static void test_append_rejects(void **state)
{
	ft_crypto_identity *id = fx_identity(1);
	ft_audit_log *log = NULL, *log2 = NULL;
	uint8_t head[32], h2[32], d[32] = { 0 };
	uint64_t seq, s2;
	ft_audit_privacy p = { .run = "r", .round = 1, .q = 0.1, .sigma = 1, .clip = 1, .steps = 1,
	                       .eps_round = 0.5, .eps_run = 0.4, .eps_total = 1, .delta = 1e-5,
	                       .max_eps_run = 1, .max_eps_total = 2 };
	ft_audit_training t = { .run = "r", .round = 1, .steps = 0, .q = 0.1, .clip = 1, .sigma = 1 };
	ft_errmsg err;

	(void)state;
	assert_int_equal(ft_audit_open(g_path, id, "site:1", &log, &err), FT_OK);
	assert_int_equal(ft_audit_head(log, &seq, head), FT_OK);
	assert_int_equal(ft_audit_append(log, "no.such.type", NULL, NULL, NULL), FT_EINVAL);
	assert_non_null(strstr(ft_audit_last_error(log), "unknown event type"));
	assert_int_equal(ft_audit_append(log, "log.genesis", NULL, NULL, NULL), FT_EINVAL);
	assert_int_equal(ft_audit_log_privacy(log, &p, NULL, NULL), FT_EINVAL); /* run < round */
	assert_non_null(strstr(ft_audit_last_error(log), "privacy.spend"));
	assert_int_equal(ft_audit_log_training(log, &t, NULL, NULL), FT_EINVAL); /* 0 steps */
	assert_int_equal(ft_audit_log_message(log, FT_AUDIT_SENT, "has space", "x", 1, d, NULL, 0,
	                                      NULL, NULL),
	                 FT_EINVAL);
	assert_int_equal(ft_audit_log_anchor(log, "coordinator", 0, d, NULL, NULL), FT_EINVAL);
	assert_int_equal(ft_audit_log_key(log, "key.rotate", "site:2", d, NULL, NULL, NULL),
	                 FT_EINVAL);
	assert_int_equal(ft_audit_log_policy(log, 2.0, 1.0, 1e-5, NULL, NULL), FT_EINVAL);
	assert_int_equal(ft_audit_log_consent(log, "p", 2, "op", NULL, NULL), FT_EINVAL);
	assert_int_equal(ft_audit_head(log, &s2, h2), FT_OK);
	assert_int_equal(s2, seq);
	assert_memory_equal(h2, head, 32);

	/* A second writer on the same file would fork the chain. */
	assert_int_equal(ft_audit_open(g_path, id, "site:1", &log2, &err), FT_OK);
	assert_int_equal(ft_audit_append(log2, "anchor", NULL, NULL, NULL), FT_OK);
	assert_int_equal(ft_audit_append(log, "anchor", NULL, NULL, NULL), FT_ESTATE);
	assert_non_null(strstr(ft_audit_last_error(log), "another writer"));
	ft_audit_close(log2);
	ft_audit_close(log);
	ft_audit_close(NULL);
	assert_int_equal(ft_audit_verify(g_path, NULL, NULL, &err), FT_OK);
	ft_crypto_identity_free(id);
}

/* A site that edits its last entry cannot keep appending to the log. */
static void test_open_detects_tampered_tail(void **state)
{
	ft_crypto_identity *id = fx_identity(1);
	ft_audit_log *log = NULL;
	sqlite3 *db = NULL;
	ft_errmsg err;

	(void)state;
	assert_int_equal(ft_audit_open(g_path, id, "site:1", &log, &err), FT_OK);
	assert_int_equal(ft_audit_log_policy(log, 1.0, 4.0, 1e-5, NULL, NULL), FT_OK);
	ft_audit_close(log);
	log = NULL;
	assert_int_equal(sqlite3_open(g_path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TRIGGER entries_no_update; UPDATE entries SET "
	                                  "payload = replace(payload, '4', '9') WHERE seq = 2",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(ft_audit_open(g_path, id, "site:1", &log, &err), FT_ECRYPTO);
	assert_null(log);
	assert_non_null(strstr(err.msg, "seq 2"));
	ft_crypto_identity_free(id);
}

/* Every allocation of open, the typed events, verify and the reports fails
 * in turn: each call fails cleanly with FT_ENOMEM (ASan checks for leaks),
 * and what was committed still verifies. Three sweeps, so that only
 * successful commits pay for an fsync. */
static void test_alloc_failures(void **state)
{
	ft_crypto_identity *id = fx_identity(1);
	static const char *sites[] = { "site:1", "site:2" };
	ft_audit_privacy p = { .run = "r", .round = 1, .q = 0.1, .sigma = 1, .clip = 1,
	                       .steps = 3, .eps_round = 0.5, .eps_run = 0.5, .eps_total = 1,
	                       .delta = 1e-5, .max_eps_run = 1, .max_eps_total = 2 };
	ft_audit_verify_result vr;
	ft_audit_log *log = NULL;
	uint8_t d[32] = { 1 };
	char path[200];
	const char *paths[1] = { path };
	ft_errmsg err;
	long n;
	int rv;

	(void)state;
	/* Opening (creating) a log. */
	for (n = 0; n < 1000; n++) {
		snprintf(path, sizeof(path), "%s/open%ld.audit", g_dir, n);
		ft_alloc_fail_after(n);
		rv = ft_audit_open(path, id, "site:1", &log, &err);
		ft_alloc_fail_after(-1);
		if (rv == FT_OK)
			break;
		assert_int_equal(rv, FT_ENOMEM);
		assert_null(log);
	}
	assert_int_equal(rv, FT_OK);
	ft_audit_close(log);
	log = NULL;
	assert_int_equal(ft_audit_verify(path, NULL, NULL, &err), FT_OK);

	/* Typed events on an open log. */
	assert_int_equal(ft_audit_open(g_path, id, "site:1", &log, &err), FT_OK);
	for (n = 0; n < 1000; n++) {
		int r1, r2, r3;

		ft_alloc_fail_after(n);
		r1 = ft_audit_log_privacy(log, &p, NULL, NULL);
		r2 = ft_audit_log_round_end(log, "r", 1, "aggregated", sites, 2, NULL, 0, NULL, NULL);
		r3 = ft_audit_log_message(log, FT_AUDIT_SENT, "coordinator", "update", 10, d, "r", 1,
		                          NULL, NULL);
		ft_alloc_fail_after(-1);
		assert_true(r1 == FT_OK || r1 == FT_ENOMEM);
		assert_true(r2 == FT_OK || r2 == FT_ENOMEM);
		assert_true(r3 == FT_OK || r3 == FT_ENOMEM);
		if (r1 == FT_OK && r2 == FT_OK && r3 == FT_OK)
			break;
	}
	assert_true(n < 1000);
	ft_audit_close(log);
	assert_int_equal(ft_audit_verify(g_path, NULL, &vr, &err), FT_OK);
	assert_true(vr.entries >= 4);

	/* Verify and the reports on a small log with every table filled. */
	assert_int_equal(ft_audit_open(path, id, "site:1", &log, &err), FT_OK);
	assert_int_equal(ft_audit_log_privacy(log, &p, NULL, NULL), FT_OK);
	assert_int_equal(ft_audit_log_round_end(log, "r", 1, "aggregated", sites, 2, NULL, 0, NULL,
	                                        NULL),
	                 FT_OK);
	assert_int_equal(ft_audit_log_message(log, FT_AUDIT_SENT, "coordinator", "update", 10, d,
	                                      "r", 1, NULL, NULL),
	                 FT_OK);
	assert_int_equal(ft_audit_log_refusal(log, "r", 2, "budget", 3, 2, NULL, NULL), FT_OK);
	{
		ft_audit_training t = { .run = "r", .round = 1, .patients = 5, .records = 9,
		                        .steps = 2, .q = 0.5, .clip = 1, .sigma = 1 };

		assert_int_equal(ft_audit_log_training(log, &t, NULL, NULL), FT_OK);
	}
	ft_audit_close(log);
	for (n = 0; n < 5000; n++) {
		ft_errmsg verr = { { 0 } };
		char *buf = NULL;
		size_t nbuf = 0;
		int vrv, r1, r2;
		FILE *f;

		ft_alloc_fail_after(n);
		vrv = ft_audit_verify(path, NULL, &vr, &verr);
		f = open_memstream(&buf, &nbuf);
		assert_non_null(f);
		r1 = audit_report_html(f, paths, 1, &vr, &vrv, &verr, &err);
		fclose(f);
		free(buf);
		buf = NULL;
		f = open_memstream(&buf, &nbuf);
		assert_non_null(f);
		r2 = audit_report_json(f, paths, 1, &vr, &vrv, &verr, &err);
		fclose(f);
		free(buf);
		ft_alloc_fail_after(-1);
		assert_true(vrv == FT_OK || vrv == FT_ENOMEM);
		assert_true(r1 == FT_OK || r1 == FT_ENOMEM);
		assert_true(r2 == FT_OK || r2 == FT_ENOMEM);
		if (vrv == FT_OK && r1 == FT_OK && r2 == FT_OK)
			break;
	}
	assert_true(n < 5000);
	print_message("allocation sweep: verify and reports survive %ld failure points\n", n);
	ft_crypto_identity_free(id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_canonical),
		cmocka_unit_test(test_json_rejects),
		cmocka_unit_test(test_entry_hash_kat),
		cmocka_unit_test_setup_teardown(test_log_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_wrong_key_or_actor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_not_ours, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_rejects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_detects_tampered_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alloc_failures, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
