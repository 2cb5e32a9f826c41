/*
 * ft_audit_verify.c - the auditor's checks on a log file: every entry's
 * seq, prev link, hash and signature from the genesis entry on, plus the
 * lookups that recorded heads and cross-anchors need (truncation).
 *
 * The checks trust nothing in the file: column types, hex spelling and
 * payload form are all checked, so that a value which verifies has exactly
 * one stored representation (a tamperer cannot, say, upper-case a hash).
 */
#include "ft_audit.h"
#include "audit_int.h"

#include <string.h>

#define HEX_HASH (2 * FT_CRYPTO_HASH_BYTES)
#define HEX_SIG (2 * FT_CRYPTO_SIG_BYTES)

int audit_db_open_ro(const char *path, sqlite3 **out, ft_errmsg *err)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t app_id = 0, version = 0;
	int rv = FT_OK, rc;

	if (path == NULL || out == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "invalid argument");
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		rv = db != NULL ? ft_errmsg_set(err, FT_EIO, "%.96s: cannot open: %s", path,
		                                sqlite3_errmsg(db))
		                : ft_errmsg_set(err, FT_ENOMEM, "out of memory");
		goto out;
	}
	(void)sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	(void)sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db, "SELECT * FROM pragma_application_id, pragma_user_version", -1,
	                       &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rv = (sqlite3_errcode(db) & 0xff) == SQLITE_NOTADB
		             ? ft_errmsg_set(err, FT_EFORMAT, "%.96s: not an SQLite database", path)
		             : ft_errmsg_set(err, FT_EDB, "%.96s: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	app_id = sqlite3_column_int64(st, 0);
	version = sqlite3_column_int64(st, 1);
	if (app_id != AUDIT_APPLICATION_ID) {
		rv = ft_errmsg_set(err, FT_EFORMAT, "%.96s: not a fedtwin audit log", path);
		goto out;
	}
	if (version != FT_AUDIT_SCHEMA_VERSION) {
		rv = ft_errmsg_set(err, version > FT_AUDIT_SCHEMA_VERSION ? FT_ESTATE : FT_EFORMAT,
		                   "%.96s: audit log schema version %lld; this fedtwin supports %d",
		                   path, (long long)version, FT_AUDIT_SCHEMA_VERSION);
		goto out;
	}
out:
	sqlite3_finalize(st);
	if (rv != FT_OK) {
		sqlite3_close(db);
		return rv;
	}
	*out = db;
	return FT_OK;
}

/* A TEXT column without NUL bytes. */
static int text_col(sqlite3_stmt *st, int i, const char **s, size_t *n)
{
	const unsigned char *p;
	int len;

	if (sqlite3_column_type(st, i) != SQLITE_TEXT)
		return 0;
	p = sqlite3_column_text(st, i);
	len = sqlite3_column_bytes(st, i);
	if (p == NULL || len < 0 || memchr(p, '\0', (size_t)len) != NULL)
		return 0;
	*s = (const char *)p;
	*n = (size_t)len;
	return 1;
}

int audit_db_next(sqlite3_stmt *st, audit_entry *e, ft_errmsg *err)
{
	size_t n_prev = 0, n_hash = 0, n_sig = 0;
	int64_t seq;
	int rc = sqlite3_step(st);

	if (rc == SQLITE_DONE)
		return SQLITE_DONE;
	if (rc != SQLITE_ROW)
		return ft_errmsg_set(err, FT_EDB, "cannot read the log: %s",
		                     sqlite3_errmsg(sqlite3_db_handle(st)));
	memset(e, 0, sizeof(*e));
	seq = sqlite3_column_int64(st, 0);
	if (sqlite3_column_type(st, 0) != SQLITE_INTEGER ||
	    sqlite3_column_type(st, 1) != SQLITE_INTEGER || seq < 1 ||
	    (uint64_t)seq >= AUDIT_SEQ_MAX) {
		return ft_errmsg_set(err, FT_EFORMAT, "entry with seq %lld: bad seq or time column",
		                     (long long)seq);
	}
	e->seq = (uint64_t)seq;
	e->time_ms = sqlite3_column_int64(st, 1);
	if (!text_col(st, 2, &e->actor, &e->actor_len) || !text_col(st, 3, &e->type, &e->type_len) ||
	    !text_col(st, 4, &e->payload, &e->payload_len) ||
	    !text_col(st, 5, &e->prev_hex, &n_prev) || !text_col(st, 6, &e->hash_hex, &n_hash) ||
	    !text_col(st, 7, &e->sig_hex, &n_sig))
		return ft_errmsg_set(err, FT_EFORMAT, "entry %llu: a column is not text",
		                     (unsigned long long)e->seq);
	if (n_prev != HEX_HASH || n_hash != HEX_HASH || n_sig != HEX_SIG)
		return ft_errmsg_set(err, FT_EFORMAT, "entry %llu: a hash or signature has the wrong length",
		                     (unsigned long long)e->seq);
	return SQLITE_ROW;
}

/* Decodes lower-case hex exactly as the writer spells it. */
static int canon_unhex(uint8_t *out, size_t n, const char *hex)
{
	char again[HEX_SIG + 1];

	if (n > FT_CRYPTO_SIG_BYTES || ft_crypto_unhex(out, n, hex) != FT_OK)
		return 0;
	ft_crypto_hex(again, out, n);
	return memcmp(again, hex, 2 * n) == 0;
}

static int eq_str(const char *a, size_t an, const char *b)
{
	return an == strlen(b) && memcmp(a, b, an) == 0;
}

/* Checks one entry against the chain so far; sets *what on failure. */
static int verify_entry(const audit_entry *e, uint64_t expect_seq,
                        const uint8_t prev_hash[FT_CRYPTO_HASH_BYTES], int64_t prev_time,
                        const uint8_t *expect_pk, ft_audit_verify_result *r,
                        uint8_t hash_out[FT_CRYPTO_HASH_BYTES], ft_errmsg *err)
{
	uint8_t prev[FT_CRYPTO_HASH_BYTES], stored[FT_CRYPTO_HASH_BYTES], hash[FT_CRYPTO_HASH_BYTES];
	uint8_t sig[FT_CRYPTO_SIG_BYTES];
	unsigned long long s = (unsigned long long)expect_seq;
	audit_jobj o;
	int rv;

	memset(&o, 0, sizeof(o));
	if (e->seq != expect_seq)
		return ft_errmsg_set(err, FT_ECRYPTO,
		                     "entry %llu: missing (the next entry has seq %llu): entries were "
		                     "deleted or renumbered",
		                     s, (unsigned long long)e->seq);
	if (!canon_unhex(prev, sizeof(prev), e->prev_hex) ||
	    !canon_unhex(stored, sizeof(stored), e->hash_hex) ||
	    !canon_unhex(sig, sizeof(sig), e->sig_hex))
		return ft_errmsg_set(err, FT_EFORMAT, "entry %llu: a hash or signature is not lower-case hex", s);
	if (!ft_crypto_equal(prev, prev_hash, sizeof(prev)))
		return ft_errmsg_set(err, FT_ECRYPTO,
		                     "entry %llu: prev hash does not match the previous entry's hash: "
		                     "entries were inserted, removed, reordered or modified",
		                     s);
	audit_entry_hash(prev, e->seq, e->time_ms, e->actor, e->actor_len, e->type, e->type_len,
	                 e->payload, e->payload_len, hash);
	if (!ft_crypto_equal(hash, stored, sizeof(hash)))
		return ft_errmsg_set(err, FT_ECRYPTO,
		                     "entry %llu: hash mismatch: the entry was modified after it was "
		                     "written",
		                     s);
	if (expect_seq == 1) {
		const char *pk_hex, *actor;

		if (!eq_str(e->type, e->type_len, AUDIT_GENESIS))
			return ft_errmsg_set(err, FT_EFORMAT, "entry 1: not a genesis entry");
		rv = audit_json_parse(e->payload, e->payload_len, &o, NULL);
		if (rv == FT_ENOMEM)
			return ft_errmsg_set(err, FT_ENOMEM, "out of memory");
		pk_hex = rv == FT_OK ? audit_jobj_str(&o, "pk") : NULL;
		actor = rv == FT_OK ? audit_jobj_str(&o, "actor") : NULL;
		if (pk_hex == NULL || actor == NULL || !canon_unhex(r->pk, sizeof(r->pk), pk_hex) ||
		    !eq_str(e->actor, e->actor_len, actor) || !audit_valid_id(actor, strlen(actor))) {
			audit_jobj_clear(&o);
			return ft_errmsg_set(err, FT_EFORMAT, "entry 1: malformed genesis entry");
		}
		memcpy(r->actor, actor, strlen(actor) + 1);
		audit_jobj_clear(&o);
		if (expect_pk != NULL && !ft_crypto_equal(expect_pk, r->pk, sizeof(r->pk)))
			return ft_errmsg_set(err, FT_ECRYPTO,
			                     "entry 1: the log's key is not the expected key");
	} else {
		if (eq_str(e->type, e->type_len, AUDIT_GENESIS))
			return ft_errmsg_set(err, FT_EFORMAT, "entry %llu: a second genesis entry", s);
		if (!eq_str(e->actor, e->actor_len, r->actor))
			return ft_errmsg_set(err, FT_EFORMAT, "entry %llu: another actor than the log's",
			                     s);
	}
	if (ft_crypto_verify(r->pk, hash, sizeof(hash), sig) != FT_OK)
		return ft_errmsg_set(err, FT_ECRYPTO,
		                     "entry %llu: bad signature: not signed by the log's key", s);
	/* Semantic checks last: they only matter once origin is established. */
	{
		char type[FT_AUDIT_ID_MAX + 1];

		if (!audit_valid_id(e->type, e->type_len))
			return ft_errmsg_set(err, FT_EFORMAT, "entry %llu: bad event type", s);
		memcpy(type, e->type, e->type_len);
		type[e->type_len] = '\0';
		if (!audit_known_type(type))
			return ft_errmsg_set(err, FT_EFORMAT, "entry %llu: unknown event type '%.64s'", s,
			                     type);
	}
	if (e->time_ms < prev_time)
		return ft_errmsg_set(err, FT_EFORMAT, "entry %llu: time goes backwards", s);
	rv = audit_json_parse(e->payload, e->payload_len, &o, NULL);
	if (rv != FT_OK)
		return ft_errmsg_set(err, rv == FT_ENOMEM ? FT_ENOMEM : FT_EFORMAT,
		                     "entry %llu: payload is not canonical JSON", s);
	audit_jobj_clear(&o);
	memcpy(hash_out, hash, sizeof(hash));
	return FT_OK;
}

int audit_verify_db(sqlite3 *db, const uint8_t *expect_pk, ft_audit_verify_result *res,
                    ft_errmsg *err)
{
	ft_audit_verify_result r;
	sqlite3_stmt *st = NULL;
	uint8_t prev[FT_CRYPTO_HASH_BYTES] = { 0 }, hash[FT_CRYPTO_HASH_BYTES];
	int64_t prev_time = INT64_MIN;
	audit_entry e;
	int rv = FT_OK, rc;

	memset(&r, 0, sizeof(r));
	if (sqlite3_prepare_v2(db, "SELECT " AUDIT_ENTRY_COLUMNS " FROM entries ORDER BY seq", -1,
	                       &st, NULL) != SQLITE_OK) {
		rv = ft_errmsg_set(err, FT_EFORMAT, "not a fedtwin audit log: %s", sqlite3_errmsg(db));
		goto out;
	}
	for (;;) {
		rc = audit_db_next(st, &e, err);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			rv = rc;
			r.bad_seq = r.entries + 1;
			goto out;
		}
		rv = verify_entry(&e, r.entries + 1, prev, prev_time, expect_pk, &r, hash, err);
		if (rv != FT_OK) {
			r.bad_seq = r.entries + 1;
			goto out;
		}
		r.entries++;
		r.head_seq = e.seq;
		memcpy(r.head, hash, sizeof(hash));
		memcpy(prev, hash, sizeof(hash));
		prev_time = e.time_ms;
	}
	if (r.entries == 0)
		rv = ft_errmsg_set(err, FT_EFORMAT, "the log has no entries");
out:
	sqlite3_finalize(st);
	if (res != NULL)
		*res = r;
	return rv;
}

int ft_audit_verify(const char *path, const uint8_t *expect_pk, ft_audit_verify_result *res,
                    ft_errmsg *err)
{
	sqlite3 *db = NULL;
	int rv;

	if (res != NULL)
		memset(res, 0, sizeof(*res));
	rv = ft_crypto_init();
	if (rv != FT_OK)
		return ft_errmsg_set(err, rv, "cannot initialise libsodium");
	rv = audit_db_open_ro(path, &db, err);
	if (rv != FT_OK)
		return rv;
	rv = audit_verify_db(db, expect_pk, res, err);
	sqlite3_close(db);
	return rv;
}

int audit_db_has_entry(sqlite3 *db, uint64_t seq, const uint8_t hash[FT_CRYPTO_HASH_BYTES],
                       uint64_t *found_seq, ft_errmsg *err)
{
	char hex[HEX_HASH + 1];
	sqlite3_stmt *st = NULL;
	uint8_t stored[FT_CRYPTO_HASH_BYTES];
	const char *sql = seq > 0 ? "SELECT seq, hash FROM entries WHERE seq = ?"
	                          : "SELECT seq, hash FROM entries WHERE hash = ?";
	int rv = FT_OK, rc;

	ft_crypto_hex(hex, hash, FT_CRYPTO_HASH_BYTES);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return ft_errmsg_set(err, FT_EDB, "%s", sqlite3_errmsg(db));
	if (seq > 0)
		rc = sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
	else
		rc = sqlite3_bind_text(st, 1, hex, -1, SQLITE_STATIC);
	if (rc != SQLITE_OK) {
		rv = ft_errmsg_set(err, FT_EDB, "%s", sqlite3_errmsg(db));
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		rv = seq > 0 ? ft_errmsg_set(err, FT_ENOTFOUND,
		                             "entry %llu is missing: the log was truncated",
		                             (unsigned long long)seq)
		             : ft_errmsg_set(err, FT_ENOTFOUND,
		                             "no entry has hash %.16s...: the log was truncated or "
		                             "rewritten",
		                             hex);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		rv = ft_errmsg_set(err, FT_EDB, "%s", sqlite3_errmsg(db));
		goto out;
	}
	if (sqlite3_column_type(st, 1) != SQLITE_TEXT || sqlite3_column_bytes(st, 1) != HEX_HASH ||
	    !canon_unhex(stored, sizeof(stored), (const char *)sqlite3_column_text(st, 1)) ||
	    !ft_crypto_equal(stored, hash, sizeof(stored))) {
		rv = ft_errmsg_set(err, FT_ECRYPTO,
		                   "entry %llu has another hash than recorded: the log was rewritten",
		                   (unsigned long long)seq);
		goto out;
	}
	if (found_seq != NULL)
		*found_seq = (uint64_t)sqlite3_column_int64(st, 0);
out:
	sqlite3_finalize(st);
	return rv;
}
