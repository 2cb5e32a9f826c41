/*
 * store_int.h - private structures and helpers shared by the store's files.
 * Not installed; nothing outside store/ and its tests includes it.
 */
#ifndef FT_STORE_INT_H
#define FT_STORE_INT_H

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "ft_store.h"

/* PRAGMA application_id of a fedtwin site store: "FTSS". */
#define STORE_APPLICATION_ID 0x46545353

/* Longest patient key and dataset name accepted, in bytes. */
#define STORE_KEY_MAX 256
#define STORE_NAME_MAX FT_STORE_DATASET_MAX

struct ft_store {
	sqlite3 *db;
	char *path;
	const char *label;  /* tail of path for messages (store_tail) */
	int schema_version;
};

/* The last 80 bytes of a path: messages keep the file's name when a long
 * directory would not fit FT_ERRMSG_MAX. */
static inline const char *store_tail(const char *path)
{
	size_t n = strlen(path);

	return n > 80 ? path + n - 80 : path;
}

/* The file name the CSV reader uses in its messages. */
const char *store_csv_name(const ft_store_csv *c);

/*
 * Opens the store and migrates it to `target_version` (not beyond), so that
 * tests can create an older schema and check the upgrade. ft_store_open is
 * store_open_at(path, FT_STORE_SCHEMA_VERSION, ...).
 */
int store_open_at(const char *path, int target_version, ft_store **out,
                  ft_errmsg *err) FT_WARN_UNUSED;

/* FT_EDB with "PATH: what: <sqlite message>". */
int store_db_fail(ft_store *s, ft_errmsg *err, const char *what);

/* Runs SQL with no result rows. */
int store_exec(ft_store *s, const char *sql, ft_errmsg *err) FT_WARN_UNUSED;

/* Prepares one statement. */
int store_prepare(ft_store *s, const char *sql, sqlite3_stmt **st, ft_errmsg *err) FT_WARN_UNUSED;

/* Transactions: "BEGIN IMMEDIATE" for writers (so the busy timeout applies
 * at the start, never half-way), plain BEGIN for consistent reads. */
int store_begin_write(ft_store *s, ft_errmsg *err) FT_WARN_UNUSED;
int store_begin_read(ft_store *s, ft_errmsg *err) FT_WARN_UNUSED;
int store_commit(ft_store *s, ft_errmsg *err) FT_WARN_UNUSED;
void store_rollback(ft_store *s);

/* Wall-clock time, Unix milliseconds (timestamps in the database). */
int64_t store_wall_ms(void);

/* ft_store_cli_main with the output streams given (tests capture them). */
int store_cli_run(int argc, char **argv, FILE *out, FILE *errf);

#endif /* FT_STORE_INT_H */
