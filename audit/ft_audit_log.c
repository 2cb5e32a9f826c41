/*
 * ft_audit_log.c - the writer's side of the audit log: opening (schema,
 * genesis entry, key and actor checks), appending a hash-chained, signed
 * entry with a durable commit, and the entry hash itself.
 *
 * Each entry is signed on its own rather than through periodic signed
 * checkpoints: the log's promise is "committed before the update leaves",
 * and an unsigned tail between checkpoints is exactly the part a site could
 * still rewrite after the fact. An Ed25519 signature (~17 us) is small next
 * to the fsync of the synchronous commit (docs/BENCHMARKS.md).
 */
#include "ft_audit.h"
#include "audit_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char audit_schema[] =
	"CREATE TABLE entries ("
	"  seq INTEGER PRIMARY KEY CHECK (seq >= 1),"
	"  time_ms INTEGER NOT NULL,"
	"  actor TEXT NOT NULL,"
	"  type TEXT NOT NULL,"
	"  payload TEXT NOT NULL,"
	"  prev_hash TEXT NOT NULL CHECK (length(prev_hash) = 64),"
	"  hash TEXT NOT NULL UNIQUE CHECK (length(hash) = 64),"
	"  sig TEXT NOT NULL CHECK (length(sig) = 128)"
	") STRICT;"
	"CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries"
	"  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
	"CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries"
	"  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;";

/* The event registry (docs/AUDIT.md, "Event registry"). Append only. */
static const char *const audit_types[] = {
	AUDIT_GENESIS, "key.enrol",     "key.rotate",   "key.revoke",    "run.start",
	"run.end",     "round.start",   "round.end",    "msg.sent",      "msg.received",
	"train.local", "privacy.spend", "policy.set",   "policy.refuse", "consent.change",
	"model.version", "anchor",      "update.unmasked", "msg.dropped",
};

int audit_known_type(const char *type)
{
	for (size_t i = 0; i < sizeof(audit_types) / sizeof(audit_types[0]); i++)
		if (strcmp(type, audit_types[i]) == 0)
			return 1;
	return 0;
}

int audit_valid_id(const char *s, size_t n)
{
	if (s == NULL || n == 0 || n > FT_AUDIT_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return 0;
	return 1;
}

static void hash_lenstr(ft_crypto_hash_state *h, const char *s, size_t n)
{
	uint8_t len[4];

	ft_put_le32(len, (uint32_t)n);
	ft_crypto_hash_update(h, len, sizeof(len));
	ft_crypto_hash_update(h, s, n);
}

void audit_entry_hash(const uint8_t prev[FT_CRYPTO_HASH_BYTES], uint64_t seq, int64_t time_ms,
                      const char *actor, size_t actor_len, const char *type, size_t type_len,
                      const char *payload, size_t payload_len,
                      uint8_t out[FT_CRYPTO_HASH_BYTES])
{
	ft_crypto_hash_state h;
	uint8_t num[16];

	ft_crypto_hash_init(&h);
	ft_crypto_hash_update(&h, AUDIT_DOMAIN, strlen(AUDIT_DOMAIN));
	ft_crypto_hash_update(&h, prev, FT_CRYPTO_HASH_BYTES);
	ft_put_le64(num, seq);
	ft_put_le64(num + 8, (uint64_t)time_ms);
	ft_crypto_hash_update(&h, num, sizeof(num));
	hash_lenstr(&h, actor, actor_len);
	hash_lenstr(&h, type, type_len);
	hash_lenstr(&h, payload, payload_len);
	ft_crypto_hash_final(&h, out);
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + (int64_t)(ts.tv_nsec / 1000000);
}

static int log_db_fail(ft_audit_log *log, ft_errmsg *err, const char *what)
{
	return ft_errmsg_set(err, FT_EDB, "audit log: %s: %s", what, sqlite3_errmsg(log->db));
}

static void log_rollback(ft_audit_log *log)
{
	if (!sqlite3_get_autocommit(log->db))
		(void)sqlite3_exec(log->db, "ROLLBACK", NULL, NULL, NULL);
}

static int log_query_int(ft_audit_log *log, const char *sql, int64_t *out, ft_errmsg *err)
{
	sqlite3_stmt *st = NULL;
	int rv = FT_OK;

	if (sqlite3_prepare_v2(log->db, sql, -1, &st, NULL) != SQLITE_OK)
		return log_db_fail(log, err, "cannot prepare a statement");
	if (sqlite3_step(st) != SQLITE_ROW) {
		rv = log_db_fail(log, err, "database error");
		goto out;
	}
	*out = sqlite3_column_int64(st, 0);
out:
	sqlite3_finalize(st);
	return rv;
}

/* Hashes, signs and inserts entry seq = head + 1 inside the caller's write
 * transaction. On FT_OK the new head is in *new_seq / new_head / *new_time. */
static int log_insert(ft_audit_log *log, const char *type, const char *payload, size_t plen,
                      uint64_t *new_seq, uint8_t new_head[FT_CRYPTO_HASH_BYTES],
                      int64_t *new_time, ft_errmsg *err)
{
	uint8_t hash[FT_CRYPTO_HASH_BYTES], sig[FT_CRYPTO_SIG_BYTES];
	char prev_hex[2 * FT_CRYPTO_HASH_BYTES + 1], hash_hex[2 * FT_CRYPTO_HASH_BYTES + 1];
	char sig_hex[2 * FT_CRYPTO_SIG_BYTES + 1];
	uint64_t seq = log->seq + 1;
	int64_t now = wall_ms();
	sqlite3_stmt *st = log->insert;
	int rv;

	if (seq >= AUDIT_SEQ_MAX)
		return ft_errmsg_set(err, FT_ERANGE, "audit log: the log is full");
	if (now < log->time_ms)
		now = log->time_ms;
	audit_entry_hash(log->head, seq, now, log->actor, strlen(log->actor), type, strlen(type),
	                 payload, plen, hash);
	rv = ft_crypto_identity_sign(log->id, hash, sizeof(hash), sig);
	if (rv != FT_OK)
		return ft_errmsg_set(err, rv, "audit log: cannot sign the entry");
	ft_crypto_hex(prev_hex, log->head, FT_CRYPTO_HASH_BYTES);
	ft_crypto_hex(hash_hex, hash, FT_CRYPTO_HASH_BYTES);
	ft_crypto_hex(sig_hex, sig, FT_CRYPTO_SIG_BYTES);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (sqlite3_bind_int64(st, 1, (sqlite3_int64)seq) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, now) != SQLITE_OK ||
	    sqlite3_bind_text(st, 3, log->actor, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 4, type, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 5, payload, (int)plen, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 6, prev_hex, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 7, hash_hex, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 8, sig_hex, -1, SQLITE_STATIC) != SQLITE_OK) {
		rv = log_db_fail(log, err, "cannot bind the entry");
		goto out;
	}
	if (sqlite3_step(st) != SQLITE_DONE) {
		rv = log_db_fail(log, err, "cannot append the entry");
		goto out;
	}
	*new_seq = seq;
	memcpy(new_head, hash, sizeof(hash));
	*new_time = now;
out:
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rv;
}

/* Reads the last entry into the cached head, checking its hash and its
 * signature by `pk`. */
static int log_load_head(ft_audit_log *log, const uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES],
                         ft_errmsg *err)
{
	sqlite3_stmt *st = NULL;
	audit_entry e;
	uint8_t prev[FT_CRYPTO_HASH_BYTES], hash[FT_CRYPTO_HASH_BYTES], stored[FT_CRYPTO_HASH_BYTES];
	uint8_t sig[FT_CRYPTO_SIG_BYTES];
	int rv, r;

	if (sqlite3_prepare_v2(log->db,
	                       "SELECT " AUDIT_ENTRY_COLUMNS " FROM entries ORDER BY seq DESC LIMIT 1",
	                       -1, &st, NULL) != SQLITE_OK)
		return log_db_fail(log, err, "cannot prepare a statement");
	r = audit_db_next(st, &e, err);
	if (r == SQLITE_DONE) {
		rv = ft_errmsg_set(err, FT_EFORMAT, "audit log: no entries");
		goto out;
	}
	if (r != SQLITE_ROW) {
		rv = r;
		goto out;
	}
	if (ft_crypto_unhex(prev, sizeof(prev), e.prev_hex) != FT_OK ||
	    ft_crypto_unhex(stored, sizeof(stored), e.hash_hex) != FT_OK ||
	    ft_crypto_unhex(sig, sizeof(sig), e.sig_hex) != FT_OK) {
		rv = ft_errmsg_set(err, FT_EFORMAT, "audit log: entry %llu: bad hex",
		                   (unsigned long long)e.seq);
		goto out;
	}
	audit_entry_hash(prev, e.seq, e.time_ms, e.actor, e.actor_len, e.type, e.type_len,
	                 e.payload, e.payload_len, hash);
	if (!ft_crypto_equal(hash, stored, sizeof(hash)) ||
	    ft_crypto_verify(pk, hash, sizeof(hash), sig) != FT_OK) {
		rv = ft_errmsg_set(err, FT_ECRYPTO,
		                   "audit log: the last entry (seq %llu) does not verify: run "
		                   "'fedtwin audit verify'",
		                   (unsigned long long)e.seq);
		goto out;
	}
	log->seq = e.seq;
	log->time_ms = e.time_ms;
	memcpy(log->head, hash, sizeof(hash));
	rv = FT_OK;
out:
	sqlite3_finalize(st);
	return rv;
}

/* Checks that the genesis entry names our key and actor. */
static int log_check_genesis(ft_audit_log *log, ft_errmsg *err)
{
	sqlite3_stmt *st = NULL;
	audit_entry e;
	audit_jobj o;
	uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES];
	const char *pk_hex, *actor;
	int rv, r;

	memset(&o, 0, sizeof(o));
	if (sqlite3_prepare_v2(log->db,
	                       "SELECT " AUDIT_ENTRY_COLUMNS " FROM entries WHERE seq = 1", -1, &st,
	                       NULL) != SQLITE_OK)
		return log_db_fail(log, err, "cannot prepare a statement");
	r = audit_db_next(st, &e, err);
	if (r != SQLITE_ROW) {
		rv = r == SQLITE_DONE ? ft_errmsg_set(err, FT_EFORMAT, "audit log: no genesis entry")
		                      : r;
		goto out;
	}
	if (e.type_len != strlen(AUDIT_GENESIS) || memcmp(e.type, AUDIT_GENESIS, e.type_len) != 0) {
		rv = ft_errmsg_set(err, FT_EFORMAT, "audit log: entry 1 is not a genesis entry");
		goto out;
	}
	rv = audit_json_parse(e.payload, e.payload_len, &o, err);
	if (rv != FT_OK)
		goto out;
	pk_hex = audit_jobj_str(&o, "pk");
	actor = audit_jobj_str(&o, "actor");
	if (pk_hex == NULL || actor == NULL || ft_crypto_unhex(pk, sizeof(pk), pk_hex) != FT_OK) {
		rv = ft_errmsg_set(err, FT_EFORMAT, "audit log: malformed genesis entry");
		goto out;
	}
	if (!ft_crypto_equal(pk, ft_crypto_identity_pk(log->id), sizeof(pk))) {
		rv = ft_errmsg_set(err, FT_EPERM,
		                   "audit log: the log belongs to another key (genesis key differs "
		                   "from this identity)");
		goto out;
	}
	if (strcmp(actor, log->actor) != 0 || e.actor_len != strlen(log->actor) ||
	    memcmp(e.actor, log->actor, e.actor_len) != 0) {
		rv = ft_errmsg_set(err, FT_EPERM, "audit log: the log belongs to actor '%.64s', not '%.64s'",
		                   actor, log->actor);
		goto out;
	}
	rv = log_load_head(log, pk, err);
out:
	audit_jobj_clear(&o);
	sqlite3_finalize(st);
	return rv;
}

static int log_create(ft_audit_log *log, ft_errmsg *err)
{
	ft_audit_json *j = NULL;
	char *payload = NULL, sql[96];
	size_t plen = 0;
	uint64_t seq;
	uint8_t head[FT_CRYPTO_HASH_BYTES];
	int64_t t;
	int rv;

	if (sqlite3_exec(log->db, audit_schema, NULL, NULL, NULL) != SQLITE_OK)
		return log_db_fail(log, err, "cannot create the schema");
	snprintf(sql, sizeof(sql), "PRAGMA application_id = %d; PRAGMA user_version = %d",
	         AUDIT_APPLICATION_ID, FT_AUDIT_SCHEMA_VERSION);
	if (sqlite3_exec(log->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return log_db_fail(log, err, "cannot set the schema version");
	if (sqlite3_prepare_v2(log->db,
	                       "INSERT INTO entries (" AUDIT_ENTRY_COLUMNS
	                       ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
	                       -1, &log->insert, NULL) != SQLITE_OK)
		return log_db_fail(log, err, "cannot prepare a statement");
	rv = ft_audit_json_new(&j);
	if (rv == FT_OK)
		rv = ft_audit_json_str(j, "actor", log->actor);
	if (rv == FT_OK)
		rv = ft_audit_json_u64(j, "format", FT_AUDIT_SCHEMA_VERSION);
	if (rv == FT_OK)
		rv = ft_audit_json_hex(j, "pk", ft_crypto_identity_pk(log->id), FT_CRYPTO_SIGN_PK_BYTES);
	if (rv == FT_OK)
		rv = ft_audit_json_finish(j, &payload, &plen);
	if (rv != FT_OK) {
		rv = ft_errmsg_set(err, rv, "audit log: cannot build the genesis entry");
		goto out;
	}
	memset(log->head, 0, sizeof(log->head));
	log->seq = 0;
	log->time_ms = 0;
	rv = log_insert(log, AUDIT_GENESIS, payload, plen, &seq, head, &t, err);
	if (rv != FT_OK)
		goto out;
	log->seq = seq;
	log->time_ms = t;
	memcpy(log->head, head, sizeof(head));
out:
	ft_free(payload);
	ft_audit_json_free(j);
	return rv;
}

/* Creates the file with mode 0600 if missing and refuses one that others
 * may read or write, a symbolic link or something that is not a file. */
static int log_check_file(const char *path, ft_errmsg *err)
{
	struct stat sb;
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	int rv = FT_OK;

	if (fd < 0)
		return ft_errmsg_set(err, errno == ELOOP ? FT_EPERM : FT_EIO,
		                     "audit log %.96s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &sb) != 0)
		rv = ft_errmsg_set(err, FT_EIO, "audit log %.96s: %s", path, strerror(errno));
	else if (!S_ISREG(sb.st_mode))
		rv = ft_errmsg_set(err, FT_EIO, "audit log %.96s: not a regular file", path);
	else if ((sb.st_mode & 077) != 0)
		rv = ft_errmsg_set(err, FT_EPERM,
		                   "audit log %.96s: readable or writable by group/others (mode "
		                   "%04o): run chmod 600",
		                   path, (unsigned)(sb.st_mode & 07777));
	close(fd);
	return rv;
}

int ft_audit_open(const char *path, const ft_crypto_identity *identity, const char *actor,
                  ft_audit_log **out, ft_errmsg *err)
{
	ft_audit_log *log = NULL;
	int64_t app_id = 0, version = 0, objects = 0;
	int rv;

	if (path == NULL || *path == '\0' || identity == NULL || out == NULL || actor == NULL ||
	    !audit_valid_id(actor, strlen(actor)))
		return ft_errmsg_set(err, FT_EINVAL, "audit log: invalid argument");
	rv = ft_crypto_init();
	if (rv != FT_OK)
		return ft_errmsg_set(err, rv, "cannot initialise libsodium");
	rv = log_check_file(path, err);
	if (rv != FT_OK)
		return rv;
	log = ft_calloc(1, sizeof(*log));
	if (log == NULL)
		return ft_errmsg_set(err, FT_ENOMEM, "out of memory");
	log->id = identity;
	memcpy(log->actor, actor, strlen(actor) + 1);
	if (sqlite3_open_v2(path, &log->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL) !=
	    SQLITE_OK) {
		rv = log->db != NULL ? log_db_fail(log, err, "cannot open")
		                     : ft_errmsg_set(err, FT_ENOMEM, "out of memory");
		goto out;
	}
	sqlite3_extended_result_codes(log->db, 1);
	(void)sqlite3_db_config(log->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	(void)sqlite3_db_config(log->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	sqlite3_busy_timeout(log->db, 5000);
	if (sqlite3_exec(log->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL) != SQLITE_OK) {
		rv = (sqlite3_errcode(log->db) & 0xff) == SQLITE_NOTADB
		             ? ft_errmsg_set(err, FT_EFORMAT, "%.96s: not an SQLite database", path)
		             : log_db_fail(log, err, "cannot enable WAL");
		goto out;
	}
	if (sqlite3_exec(log->db, "PRAGMA synchronous = FULL; PRAGMA secure_delete = ON", NULL,
	                 NULL, NULL) != SQLITE_OK) {
		rv = log_db_fail(log, err, "cannot configure");
		goto out;
	}
	if (sqlite3_exec(log->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		rv = (sqlite3_errcode(log->db) & 0xff) == SQLITE_NOTADB
		             ? ft_errmsg_set(err, FT_EFORMAT, "%.96s: not an SQLite database", path)
		             : log_db_fail(log, err, "cannot begin");
		goto out;
	}
	rv = log_query_int(log, "PRAGMA application_id", &app_id, err);
	if (rv == FT_OK)
		rv = log_query_int(log, "PRAGMA user_version", &version, err);
	if (rv == FT_OK)
		rv = log_query_int(log, "SELECT count(*) FROM sqlite_schema", &objects, err);
	if (rv != FT_OK) {
		if ((sqlite3_errcode(log->db) & 0xff) == SQLITE_NOTADB)
			rv = ft_errmsg_set(err, FT_EFORMAT, "%.96s: not an SQLite database", path);
		goto out;
	}
	if (app_id == 0 && version == 0 && objects == 0) {
		rv = log_create(log, err);
	} else if (app_id != AUDIT_APPLICATION_ID) {
		rv = ft_errmsg_set(err, FT_EFORMAT,
		                   "%.96s: an SQLite database that is not a fedtwin audit log", path);
	} else if (version != FT_AUDIT_SCHEMA_VERSION) {
		rv = ft_errmsg_set(err, version > FT_AUDIT_SCHEMA_VERSION ? FT_ESTATE : FT_EFORMAT,
		                   "%.96s: audit log schema version %lld; this fedtwin supports %d",
		                   path, (long long)version, FT_AUDIT_SCHEMA_VERSION);
	} else {
		if (sqlite3_prepare_v2(log->db,
		                       "INSERT INTO entries (" AUDIT_ENTRY_COLUMNS
		                       ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		                       -1, &log->insert, NULL) != SQLITE_OK)
			rv = log_db_fail(log, err, "cannot prepare a statement");
		else
			rv = log_check_genesis(log, err);
	}
	if (rv != FT_OK)
		goto out;
	if (sqlite3_exec(log->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rv = log_db_fail(log, err, "cannot commit");
		goto out;
	}
	*out = log;
	log = NULL;
out:
	if (log != NULL && log->db != NULL)
		log_rollback(log);
	ft_audit_close(log);
	return rv;
}

void ft_audit_close(ft_audit_log *log)
{
	if (log == NULL)
		return;
	sqlite3_finalize(log->insert);
	sqlite3_close(log->db);
	ft_free(log);
}

/* Appends canonical payload text (already built). */
static int log_append_text(ft_audit_log *log, const char *type, const char *payload,
                           size_t plen, uint64_t *seq_out, uint8_t *head_out)
{
	ft_errmsg *err = &log->last;
	uint8_t head[FT_CRYPTO_HASH_BYTES];
	uint64_t seq = 0;
	int64_t t = 0;
	sqlite3_stmt *st = NULL;
	int rv;

	if (sqlite3_exec(log->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return log_db_fail(log, err, "cannot begin");
	/* Another writer on the same file would fork the chain: refuse. */
	if (sqlite3_prepare_v2(log->db, "SELECT max(seq) FROM entries", -1, &st, NULL) !=
	            SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rv = log_db_fail(log, err, "cannot read the head");
		goto out;
	}
	if ((uint64_t)sqlite3_column_int64(st, 0) != log->seq) {
		rv = ft_errmsg_set(err, FT_ESTATE,
		                   "audit log: another writer appended to this log; reopen it");
		goto out;
	}
	rv = log_insert(log, type, payload, plen, &seq, head, &t, err);
	if (rv != FT_OK)
		goto out;
	if (sqlite3_exec(log->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rv = log_db_fail(log, err, "cannot commit");
		goto out;
	}
	log->seq = seq;
	log->time_ms = t;
	memcpy(log->head, head, sizeof(head));
	if (seq_out != NULL)
		*seq_out = seq;
	if (head_out != NULL)
		memcpy(head_out, head, sizeof(head));
out:
	sqlite3_finalize(st);
	if (rv != FT_OK)
		log_rollback(log);
	return rv;
}

int ft_audit_append(ft_audit_log *log, const char *type, const ft_audit_json *payload,
                    uint64_t *seq, uint8_t head_out[FT_CRYPTO_HASH_BYTES])
{
	char *text = NULL;
	size_t len = 0;
	int rv;

	if (log == NULL)
		return FT_EINVAL;
	log->last.msg[0] = '\0';
	if (type == NULL || !audit_known_type(type) || strcmp(type, AUDIT_GENESIS) == 0)
		return ft_errmsg_set(&log->last, FT_EINVAL, "audit log: unknown event type '%.64s'",
		                     type != NULL ? type : "(null)");
	if (payload == NULL) {
		text = ft_strdup("{}");
		len = 2;
		rv = text != NULL ? FT_OK : FT_ENOMEM;
	} else {
		rv = ft_audit_json_finish(payload, &text, &len);
	}
	if (rv != FT_OK)
		return ft_errmsg_set(&log->last, rv, "audit log: cannot encode the payload");
	rv = log_append_text(log, type, text, len, seq, head_out);
	ft_free(text);
	return rv;
}

int ft_audit_head(const ft_audit_log *log, uint64_t *seq, uint8_t hash[FT_CRYPTO_HASH_BYTES])
{
	if (log == NULL || seq == NULL || hash == NULL)
		return FT_EINVAL;
	*seq = log->seq;
	memcpy(hash, log->head, FT_CRYPTO_HASH_BYTES);
	return FT_OK;
}

const char *ft_audit_last_error(const ft_audit_log *log)
{
	return log != NULL ? log->last.msg : "";
}
