/*
 * audit_int.h - private structures and helpers shared by the audit module's
 * files and its tests. Not installed.
 */
#ifndef FT_AUDIT_INT_H
#define FT_AUDIT_INT_H

#include <sqlite3.h>
#include <stdio.h>

#include "ft_audit.h"

/* PRAGMA application_id of an audit log: "FTAL". */
#define AUDIT_APPLICATION_ID 0x4654414C
/* Domain separation of the entry hash (docs/AUDIT.md). */
#define AUDIT_DOMAIN "fedtwin-audit-v1"
#define AUDIT_GENESIS "log.genesis"
/* Largest seq accepted: far beyond any real log, and keeps int64 math safe. */
#define AUDIT_SEQ_MAX ((uint64_t)1 << 62)
/* Most members in one payload and items in one array. */
#define AUDIT_JSON_MEMBERS_MAX 64
#define AUDIT_JSON_ARRAY_MAX 4096

struct ft_audit_log {
	sqlite3 *db;
	const ft_crypto_identity *id; /* borrowed */
	char actor[FT_AUDIT_ID_MAX + 1];
	uint64_t seq;                 /* head */
	int64_t time_ms;              /* head's time */
	uint8_t head[FT_CRYPTO_HASH_BYTES];
	sqlite3_stmt *insert;
	ft_errmsg last;
};

/* One stored entry, as read from the database (strings owned by the
 * statement that produced them, valid until its next step). */
typedef struct audit_entry {
	uint64_t seq;
	int64_t time_ms;
	const char *actor;
	size_t actor_len;
	const char *type;
	size_t type_len;
	const char *payload;
	size_t payload_len;
	const char *prev_hex;   /* 64 hex digits (unchecked) */
	const char *hash_hex;
	const char *sig_hex;    /* 128 hex digits */
} audit_entry;

/* BLAKE2b-256(AUDIT_DOMAIN || prev || encoding of seq, time, actor, type,
 * payload): docs/AUDIT.md, "Entry hash". */
void audit_entry_hash(const uint8_t prev[FT_CRYPTO_HASH_BYTES], uint64_t seq, int64_t time_ms,
                      const char *actor, size_t actor_len, const char *type, size_t type_len,
                      const char *payload, size_t payload_len,
                      uint8_t out[FT_CRYPTO_HASH_BYTES]);

/* 1 if `s` (n bytes) is a valid id: 1..FT_AUDIT_ID_MAX bytes of printable
 * ASCII without spaces. */
int audit_valid_id(const char *s, size_t n);
/* 1 if `type` is in the event registry. */
int audit_known_type(const char *type);

/* ---- Parsing canonical payloads (for verify and the report) ----------- */

typedef enum audit_jkind {
	AUDIT_J_STR,
	AUDIT_J_NUM,
	AUDIT_J_BOOL,
	AUDIT_J_ARRAY
} audit_jkind;

typedef struct audit_jval {
	audit_jkind kind;
	char *str;         /* AUDIT_J_STR: decoded; AUDIT_J_NUM: the number text */
	int boolean;
	struct audit_jval *items; /* AUDIT_J_ARRAY: strings or numbers */
	size_t n_items;
} audit_jval;

typedef struct audit_jobj {
	size_t n;
	char *keys[AUDIT_JSON_MEMBERS_MAX];
	audit_jval vals[AUDIT_JSON_MEMBERS_MAX];
} audit_jobj;

/*
 * Parses a payload, strictly: exactly the canonical form that
 * ft_audit_json_finish produces (sorted unique keys, no whitespace, numbers
 * as that encoder writes them, minimal string escapes, valid UTF-8).
 * FT_EFORMAT otherwise (with a reason in err), FT_ENOMEM. On FT_OK the
 * caller frees *out with audit_jobj_clear.
 */
int audit_json_parse(const char *text, size_t n, audit_jobj *out, ft_errmsg *err) FT_WARN_UNUSED;
void audit_jobj_clear(audit_jobj *o);
const audit_jval *audit_jobj_get(const audit_jobj *o, const char *key);
/* Convenience getters: the value or NULL/`dflt` when absent or of another kind. */
const char *audit_jobj_str(const audit_jobj *o, const char *key);
double audit_jobj_num(const audit_jobj *o, const char *key, double dflt);
/* An unsigned integer member: FT_OK, FT_ENOTFOUND, or FT_EFORMAT/FT_ERANGE. */
int audit_jobj_u64(const audit_jobj *o, const char *key, uint64_t *out) FT_WARN_UNUSED;

/* Writes `s` (n bytes) as a JSON string literal (with quotes) to f. */
void audit_json_write_str(FILE *f, const char *s, size_t n);

/* ---- Reading and verifying a database ---------------------------------- */

/* Opens `path` read-only (no symbolic links) and checks it is an audit log.
 * FT_EFORMAT, FT_ESTATE, FT_EDB, FT_EIO; *db is the caller's on FT_OK. */
int audit_db_open_ro(const char *path, sqlite3 **db, ft_errmsg *err) FT_WARN_UNUSED;

/* Steps `st` (a "SELECT seq, time_ms, actor, type, payload, prev_hash,
 * hash, sig FROM entries ..." statement) and decodes the row into *e,
 * checking column types. Returns SQLITE_ROW / SQLITE_DONE, or an FT_ error
 * code (> 0 means error) with err set. */
int audit_db_next(sqlite3_stmt *st, audit_entry *e, ft_errmsg *err);
#define AUDIT_ENTRY_COLUMNS "seq, time_ms, actor, type, payload, prev_hash, hash, sig"

/* The whole verification over an open database handle (the tests run it on
 * tampered in-memory copies). Same contract as ft_audit_verify. */
int audit_verify_db(sqlite3 *db, const uint8_t *expect_pk, ft_audit_verify_result *res,
                    ft_errmsg *err) FT_WARN_UNUSED;

/* Checks that the entry `seq` exists with hash `hash` (what an anchor or a
 * recorded head claims). FT_OK, FT_ENOTFOUND (no such entry: truncated),
 * FT_ECRYPTO (another hash), FT_EDB. With seq 0, any entry with that hash. */
int audit_db_has_entry(sqlite3 *db, uint64_t seq, const uint8_t hash[FT_CRYPTO_HASH_BYTES],
                       uint64_t *found_seq, ft_errmsg *err) FT_WARN_UNUSED;

/* The CLI with its output streams (tests capture them). */
int audit_cli_run(int argc, char **argv, FILE *out, FILE *errf);

/* Reports (ft_audit_report.c). `paths` are n logs; `vres`/`vrv` their
 * verification results. */
int audit_report_html(FILE *f, const char *const *paths, size_t n,
                      const ft_audit_verify_result *vres, const int *vrv,
                      const ft_errmsg *verrs, ft_errmsg *err) FT_WARN_UNUSED;
int audit_report_json(FILE *f, const char *const *paths, size_t n,
                      const ft_audit_verify_result *vres, const int *vrv,
                      const ft_errmsg *verrs, ft_errmsg *err) FT_WARN_UNUSED;
int audit_export_jsonl(FILE *f, const char *path, ft_errmsg *err) FT_WARN_UNUSED;

#endif
