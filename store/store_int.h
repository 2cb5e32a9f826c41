/*
 * store_int.h - private structures and helpers shared by the store's files.
 * Not installed; nothing outside store/ and its tests includes it.
 */
#ifndef FT_STORE_INT_H
#define FT_STORE_INT_H

#include <sqlite3.h>

#include "ft_store.h"

struct ft_store {
	sqlite3 *db;
	char *path;
};

/* The file name the CSV reader uses in its messages. */
const char *store_csv_name(const ft_store_csv *c);

#endif /* FT_STORE_INT_H */
