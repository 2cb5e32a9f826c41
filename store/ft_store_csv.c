/*
 * ft_store_csv.c - the strict, streaming CSV reader: one record at a time
 * through a fixed read buffer, every limit checked before memory grows, and
 * every error naming the file, the line and the column.
 *
 * Clinical tables arrive from spreadsheets and hospital exports, so the
 * reader is deliberately unforgiving: a silently shifted column or a value
 * read as zero would train a model on the wrong patient data.
 */
#include "ft_store.h"
#include "store_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ft_crypto.h"

#define CSV_READ_CHUNK 65536u
#define CSV_INITIAL_RECORD 4096u
#define CSV_INITIAL_FIELDS 64u

/* How messages print names: bounded so that the line and column survive
 * the FT_ERRMSG_MAX truncation. */
#define CSV_NAME_FMT "%.96s"
#define CSV_COL_FMT "%.48s"

struct ft_store_csv {
	FILE *fp;                 /* NULL for in-memory input */
	char *name;               /* file name for messages */
	const uint8_t *in;        /* current input chunk */
	size_t in_len, in_pos;
	uint8_t *chunk;           /* read buffer (file input only) */
	int eof;
	ft_store_csv_limits lim;

	char *rec;                /* current record: NUL-terminated fields */
	size_t rec_len, rec_cap;
	size_t *off;              /* start of each field in rec */
	size_t n_fields, off_cap;

	char *header;             /* copy of the header record */
	char **names;             /* ncols pointers into header */
	size_t ncols;

	size_t line;              /* physical line being read, from 1 */
	size_t row_line;          /* line on which the current record starts */
	size_t rows;              /* data rows returned */
	int have_row;

	int err;                  /* sticky error */
	char errmsg[FT_ERRMSG_MAX];
	ft_crypto_hash_state hash;
};

/* Records the first error and copies it out; later calls repeat it. */
static int csv_fail(ft_store_csv *c, ft_errmsg *err, int code, const char *fmt, ...)
	FT_PRINTF(4, 5);

static int csv_fail(ft_store_csv *c, ft_errmsg *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (c->err == FT_OK) {
		va_start(ap, fmt);
		vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
		va_end(ap);
		c->err = code;
	}
	if (err != NULL)
		memcpy(err->msg, c->errmsg, sizeof(err->msg));
	return c->err;
}

/* Column label for messages: the header name once it is known. */
static void csv_col_label(const ft_store_csv *c, size_t col, char *buf, size_t n)
{
	if (c->names != NULL && col < c->ncols)
		snprintf(buf, n, "column '" CSV_COL_FMT "'", c->names[col]);
	else
		snprintf(buf, n, "column %zu", col + 1);
}

/* Next input byte, or -1 at the end of input, or -2 on a read error. */
static int csv_getc(ft_store_csv *c)
{
	size_t n;

	if (c->in_pos < c->in_len)
		return c->in[c->in_pos++];
	if (c->eof || c->fp == NULL) {
		c->eof = 1;
		return -1;
	}
	n = fread(c->chunk, 1, CSV_READ_CHUNK, c->fp);
	if (n == 0) {
		if (ferror(c->fp))
			return -2;
		c->eof = 1;
		return -1;
	}
	ft_crypto_hash_update(&c->hash, c->chunk, n);
	c->in = c->chunk;
	c->in_len = n;
	c->in_pos = 1;
	return c->in[0];
}

/* Looks at the next byte without consuming it (same codes as csv_getc). */
static int csv_peek(ft_store_csv *c)
{
	int ch = csv_getc(c);

	if (ch >= 0)
		c->in_pos--;
	return ch;
}

/* Strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
static int utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char b = s[i];
		size_t len;
		uint32_t cp;

		if (b < 0x80) {
			i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf) {
			len = 2;
			cp = b & 0x1fu;
		} else if (b >= 0xe0 && b <= 0xef) {
			len = 3;
			cp = b & 0x0fu;
		} else if (b >= 0xf0 && b <= 0xf4) {
			len = 4;
			cp = b & 0x07u;
		} else {
			return 0;
		}
		if (n - i < len)
			return 0;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0u) != 0x80u)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3fu);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

/* Appends one byte to the record, growing within max_record_bytes. */
static int csv_push(ft_store_csv *c, char ch, ft_errmsg *err)
{
	if (c->rec_len >= c->lim.max_record_bytes) {
		char col[80];

		csv_col_label(c, c->n_fields, col, sizeof(col));
		return csv_fail(c, err, FT_ERANGE,
		                CSV_NAME_FMT ": line %zu, %s: record longer than %zu bytes",
		                c->name, c->line, col, c->lim.max_record_bytes);
	}
	if (c->rec_len == c->rec_cap) {
		size_t cap = c->rec_cap * 2;
		char *p;

		if (cap > c->lim.max_record_bytes + 1)
			cap = c->lim.max_record_bytes + 1;
		p = ft_reallocarray(c->rec, cap, 1);
		if (p == NULL)
			return csv_fail(c, err, FT_ENOMEM, CSV_NAME_FMT ": out of memory", c->name);
		c->rec = p;
		c->rec_cap = cap;
	}
	c->rec[c->rec_len++] = ch;
	return FT_OK;
}

/*
 * Ends the field that began at `start`: checks the column count (for data
 * rows against the header, so memory never exceeds the header's width) and
 * the field's encoding, then NUL-terminates it.
 */
static int csv_end_field(ft_store_csv *c, size_t start, ft_errmsg *err)
{
	char col[80];
	int rv;

	if (c->names != NULL && c->n_fields >= c->ncols)
		return csv_fail(c, err, FT_EFORMAT,
		                CSV_NAME_FMT ": line %zu: more fields than the %zu header columns "
		                "(extra field after column '" CSV_COL_FMT "')",
		                c->name, c->line, c->ncols, c->names[c->ncols - 1]);
	if (c->n_fields >= c->lim.max_columns)
		return csv_fail(c, err, FT_ERANGE, CSV_NAME_FMT ": line %zu: more than %zu columns",
		                c->name, c->line, c->lim.max_columns);
	if (!utf8_valid((const unsigned char *)c->rec + start, c->rec_len - start)) {
		csv_col_label(c, c->n_fields, col, sizeof(col));
		return csv_fail(c, err, FT_EFORMAT, CSV_NAME_FMT ": line %zu, %s: invalid UTF-8",
		                c->name, c->line, col);
	}
	rv = csv_push(c, '\0', err);
	if (rv != FT_OK)
		return rv;
	if (c->n_fields == c->off_cap) {
		size_t cap = c->off_cap * 2;
		size_t *p;

		if (cap > c->lim.max_columns)
			cap = c->lim.max_columns;
		p = ft_reallocarray(c->off, cap, sizeof(*p));
		if (p == NULL)
			return csv_fail(c, err, FT_ENOMEM, CSV_NAME_FMT ": out of memory", c->name);
		c->off = p;
		c->off_cap = cap;
	}
	c->off[c->n_fields++] = start;
	return FT_OK;
}

/* After '\r' outside quotes only '\n' may follow. */
static int csv_crlf(ft_store_csv *c, ft_errmsg *err)
{
	char col[80];

	if (csv_peek(c) != '\n') {
		csv_col_label(c, c->n_fields, col, sizeof(col));
		return csv_fail(c, err, FT_EFORMAT,
		                CSV_NAME_FMT ": line %zu, %s: carriage return not followed by a "
		                "newline",
		                c->name, c->line, col);
	}
	(void)csv_getc(c);
	return FT_OK;
}

enum csv_state { ST_FIELD_START, ST_UNQUOTED, ST_QUOTED, ST_AFTER_QUOTE };

/*
 * Reads one record into rec/off. *got is 0 at the end of input. Completely
 * empty lines are skipped.
 */
static int csv_read_record(ft_store_csv *c, int *got, ft_errmsg *err)
{
	enum csv_state st;
	size_t start;
	int rv = FT_OK;
	char col[80];

	for (;;) {
		int any = 0; /* any byte of this record consumed */

		c->rec_len = 0;
		c->n_fields = 0;
		c->row_line = c->line;
		st = ST_FIELD_START;
		start = 0;
		for (;;) {
			int ch = csv_getc(c);

			if (ch == -2)
				return csv_fail(c, err, FT_EIO, CSV_NAME_FMT ": line %zu: read error: %s",
				                c->name, c->line, strerror(errno));
			if (ch == -1) {
				if (st == ST_QUOTED) {
					csv_col_label(c, c->n_fields, col, sizeof(col));
					return csv_fail(c, err, FT_EFORMAT,
					                CSV_NAME_FMT ": line %zu, %s: unterminated quoted field",
					                c->name, c->row_line, col);
				}
				if (!any) {
					*got = 0;
					return FT_OK;
				}
				rv = csv_end_field(c, start, err);
				if (rv != FT_OK)
					return rv;
				*got = 1;
				return FT_OK;
			}
			if (ch == '\0') {
				csv_col_label(c, c->n_fields, col, sizeof(col));
				return csv_fail(c, err, FT_EFORMAT, CSV_NAME_FMT ": line %zu, %s: NUL byte",
				                c->name, c->line, col);
			}
			if (ch == '\n' && st != ST_QUOTED && !any) {
				c->line++; /* an empty line: skipped */
				c->row_line = c->line;
				continue;
			}
			if (ch == '\r' && st != ST_QUOTED && !any && csv_peek(c) == '\n') {
				(void)csv_getc(c);
				c->line++;
				c->row_line = c->line;
				continue;
			}
			any = 1;
			switch (st) {
			case ST_FIELD_START:
			case ST_UNQUOTED:
			case ST_AFTER_QUOTE:
				if (ch == '"' && st == ST_FIELD_START) {
					st = ST_QUOTED;
					break;
				}
				if (ch == ',' || ch == '\n' || ch == '\r') {
					if (ch == '\r') {
						rv = csv_crlf(c, err);
						if (rv != FT_OK)
							return rv;
						ch = '\n';
					}
					rv = csv_end_field(c, start, err);
					if (rv != FT_OK)
						return rv;
					if (ch == '\n') {
						c->line++;
						*got = 1;
						return FT_OK;
					}
					start = c->rec_len;
					st = ST_FIELD_START;
					break;
				}
				if (st == ST_AFTER_QUOTE && ch == '"') {
					rv = csv_push(c, '"', err);
					if (rv != FT_OK)
						return rv;
					st = ST_QUOTED;
					break;
				}
				if (st == ST_AFTER_QUOTE || ch == '"') {
					csv_col_label(c, c->n_fields, col, sizeof(col));
					return csv_fail(c, err, FT_EFORMAT,
					                CSV_NAME_FMT ": line %zu, %s: %s", c->name, c->line,
					                col,
					                st == ST_AFTER_QUOTE ? "text after a closing quote"
					                                     : "quote inside an unquoted field");
				}
				rv = csv_push(c, (char)ch, err);
				if (rv != FT_OK)
					return rv;
				st = ST_UNQUOTED;
				break;
			case ST_QUOTED:
				if (ch == '"') {
					st = ST_AFTER_QUOTE;
					break;
				}
				if (ch == '\n')
					c->line++;
				rv = csv_push(c, (char)ch, err);
				if (rv != FT_OK)
					return rv;
				break;
			}
		}
	}
}

static int csv_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads and checks the header: non-empty, unique column names. */
static int csv_read_header(ft_store_csv *c, ft_errmsg *err)
{
	char **sorted = NULL;
	int got = 0;
	int rv;

	/* A UTF-8 byte-order mark, as spreadsheet exports write it. */
	if (csv_peek(c) == 0xef) {
		(void)csv_getc(c);
		if (csv_getc(c) != 0xbb || csv_getc(c) != 0xbf)
			return csv_fail(c, err, FT_EFORMAT, CSV_NAME_FMT ": line 1: invalid UTF-8",
			                c->name);
	}
	rv = csv_read_record(c, &got, err);
	if (rv != FT_OK)
		return rv;
	if (!got)
		return csv_fail(c, err, FT_EFORMAT, CSV_NAME_FMT ": empty file (no header row)",
		                c->name);
	c->header = ft_malloc(c->rec_len);
	c->names = ft_mallocarray(c->n_fields, sizeof(*c->names));
	sorted = ft_mallocarray(c->n_fields, sizeof(*sorted));
	if (c->header == NULL || c->names == NULL || sorted == NULL) {
		rv = csv_fail(c, err, FT_ENOMEM, CSV_NAME_FMT ": out of memory", c->name);
		goto out;
	}
	memcpy(c->header, c->rec, c->rec_len);
	c->ncols = c->n_fields;
	for (size_t i = 0; i < c->ncols; i++) {
		c->names[i] = c->header + c->off[i];
		sorted[i] = c->names[i];
		if (c->names[i][0] == '\0') {
			rv = csv_fail(c, err, FT_EFORMAT,
			              CSV_NAME_FMT ": line %zu, column %zu: empty column name", c->name,
			              c->row_line, i + 1);
			goto out;
		}
	}
	qsort(sorted, c->ncols, sizeof(*sorted), csv_name_cmp);
	for (size_t i = 1; i < c->ncols; i++) {
		size_t first = 0, second = 0;

		if (strcmp(sorted[i - 1], sorted[i]) != 0)
			continue;
		while (strcmp(c->names[first], sorted[i]) != 0)
			first++;
		second = first + 1;
		while (strcmp(c->names[second], sorted[i]) != 0)
			second++;
		rv = csv_fail(c, err, FT_EFORMAT,
		              CSV_NAME_FMT ": line %zu: duplicate column name '" CSV_COL_FMT
		              "' (columns %zu and %zu)",
		              c->name, c->row_line, sorted[i], first + 1, second + 1);
		goto out;
	}
	rv = FT_OK;
out:
	ft_free(sorted);
	return rv;
}

static int csv_alloc(const char *name, const ft_store_csv_limits *limits, ft_store_csv **out,
                     ft_errmsg *err)
{
	ft_store_csv *c = ft_calloc(1, sizeof(*c));

	if (c == NULL)
		return ft_errmsg_set(err, FT_ENOMEM, "out of memory");
	c->lim.max_record_bytes = FT_STORE_CSV_MAX_RECORD_BYTES;
	c->lim.max_columns = FT_STORE_CSV_MAX_COLUMNS;
	c->lim.max_rows = FT_STORE_CSV_MAX_ROWS;
	if (limits != NULL) {
		if (limits->max_record_bytes != 0)
			c->lim.max_record_bytes = limits->max_record_bytes;
		if (limits->max_columns != 0)
			c->lim.max_columns = limits->max_columns;
		if (limits->max_rows != 0)
			c->lim.max_rows = limits->max_rows;
	}
	c->line = 1;
	c->rec_cap = c->lim.max_record_bytes + 1 < CSV_INITIAL_RECORD
	                     ? c->lim.max_record_bytes + 1
	                     : CSV_INITIAL_RECORD;
	c->off_cap = c->lim.max_columns < CSV_INITIAL_FIELDS ? c->lim.max_columns
	                                                     : CSV_INITIAL_FIELDS;
	c->name = ft_strdup(store_tail(name));
	c->rec = ft_malloc(c->rec_cap);
	c->off = ft_mallocarray(c->off_cap, sizeof(*c->off));
	if (c->name == NULL || c->rec == NULL || c->off == NULL) {
		ft_store_csv_close(c);
		return ft_errmsg_set(err, FT_ENOMEM, "out of memory");
	}
	ft_crypto_hash_init(&c->hash);
	*out = c;
	return FT_OK;
}

int ft_store_csv_open_mem(const void *buf, size_t len, const char *name,
                          const ft_store_csv_limits *limits, ft_store_csv **out, ft_errmsg *err)
{
	ft_store_csv *c = NULL;
	int rv;

	if ((buf == NULL && len != 0) || out == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "invalid argument");
	rv = csv_alloc(name != NULL ? name : "(memory)", limits, &c, err);
	if (rv != FT_OK)
		return rv;
	c->in = buf;
	c->in_len = len;
	if (len != 0)
		ft_crypto_hash_update(&c->hash, buf, len);
	rv = csv_read_header(c, err);
	if (rv != FT_OK)
		goto out;
	*out = c;
	c = NULL;
out:
	ft_store_csv_close(c);
	return rv;
}

int ft_store_csv_open(const char *path, const ft_store_csv_limits *limits, ft_store_csv **out,
                      ft_errmsg *err)
{
	ft_store_csv *c = NULL;
	int rv;

	if (path == NULL || out == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "invalid argument");
	rv = csv_alloc(path, limits, &c, err);
	if (rv != FT_OK)
		return rv;
	c->chunk = ft_malloc(CSV_READ_CHUNK);
	if (c->chunk == NULL) {
		rv = ft_errmsg_set(err, FT_ENOMEM, CSV_NAME_FMT ": out of memory", store_tail(path));
		goto out;
	}
	c->fp = fopen(path, "rbe");
	if (c->fp == NULL) {
		rv = ft_errmsg_set(err, FT_EIO, CSV_NAME_FMT ": cannot open: %s", store_tail(path),
		                   strerror(errno));
		goto out;
	}
	rv = csv_read_header(c, err);
	if (rv != FT_OK)
		goto out;
	*out = c;
	c = NULL;
out:
	ft_store_csv_close(c);
	return rv;
}

void ft_store_csv_close(ft_store_csv *c)
{
	if (c == NULL)
		return;
	if (c->fp != NULL)
		fclose(c->fp);
	/* Records hold patient data: do not leave them in freed memory. */
	if (c->rec != NULL)
		ft_crypto_wipe(c->rec, c->rec_cap);
	if (c->chunk != NULL)
		ft_crypto_wipe(c->chunk, CSV_READ_CHUNK);
	ft_free(c->chunk);
	ft_free(c->rec);
	ft_free(c->off);
	ft_free(c->header);
	ft_free(c->names);
	ft_free(c->name);
	ft_free(c);
}

size_t ft_store_csv_columns(const ft_store_csv *c)
{
	return c->ncols;
}

const char *ft_store_csv_column_name(const ft_store_csv *c, size_t col)
{
	return col < c->ncols ? c->names[col] : NULL;
}

int ft_store_csv_find(const ft_store_csv *c, const char *name, size_t *col, ft_errmsg *err)
{
	char list[160];
	size_t used = 0;

	for (size_t i = 0; i < c->ncols; i++) {
		if (strcmp(c->names[i], name) == 0) {
			*col = i;
			return FT_OK;
		}
	}
	list[0] = '\0';
	for (size_t i = 0; i < c->ncols && used + 1 < sizeof(list); i++) {
		int n = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
		                 c->names[i]);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	return ft_errmsg_set(err, FT_ENOTFOUND,
	                     CSV_NAME_FMT ": unknown column '" CSV_COL_FMT "' (columns: %s)",
	                     c->name, name, list);
}

int ft_store_csv_next(ft_store_csv *c, int *has_row, ft_errmsg *err)
{
	int got = 0;
	int rv;

	if (c->err != FT_OK)
		return csv_fail(c, err, c->err, "%s", "");
	c->have_row = 0;
	rv = csv_read_record(c, &got, err);
	if (rv != FT_OK)
		return rv;
	if (!got) {
		if (c->rows == 0)
			return csv_fail(c, err, FT_EFORMAT,
			                CSV_NAME_FMT ": header only, no data rows", c->name);
		*has_row = 0;
		return FT_OK;
	}
	if (c->n_fields < c->ncols)
		return csv_fail(c, err, FT_EFORMAT,
		                CSV_NAME_FMT ": line %zu: %zu fields but the header has %zu columns "
		                "(missing column '" CSV_COL_FMT "')",
		                c->name, c->row_line, c->n_fields, c->ncols, c->names[c->n_fields]);
	if (c->rows >= c->lim.max_rows)
		return csv_fail(c, err, FT_ERANGE, CSV_NAME_FMT ": line %zu: more than %zu data rows",
		                c->name, c->row_line, c->lim.max_rows);
	c->rows++;
	c->have_row = 1;
	*has_row = 1;
	return FT_OK;
}

size_t ft_store_csv_line(const ft_store_csv *c)
{
	return c->row_line;
}

size_t ft_store_csv_rows(const ft_store_csv *c)
{
	return c->rows;
}

const char *ft_store_csv_field(const ft_store_csv *c, size_t col)
{
	if (!c->have_row || col >= c->n_fields)
		return NULL;
	return c->rec + c->off[col];
}

int ft_store_csv_is_na(const ft_store_csv *c, size_t col)
{
	const char *f = ft_store_csv_field(c, col);

	return f == NULL || f[0] == '\0' || strcmp(f, "NA") == 0;
}

/* Only plain decimal notation: strtod alone would also take leading spaces,
 * hexadecimal and "infinity". */
static int csv_plain_number(const char *s)
{
	for (; *s != '\0'; s++) {
		if (!((*s >= '0' && *s <= '9') || *s == '.' || *s == '-' || *s == '+' ||
		      *s == 'e' || *s == 'E'))
			return 0;
	}
	return 1;
}

int ft_store_csv_number(const ft_store_csv *c, size_t col, double *out, int *is_na,
                        ft_errmsg *err)
{
	const char *f = ft_store_csv_field(c, col);
	double v = 0;
	int rv;

	if (f == NULL)
		return ft_errmsg_set(err, FT_EINVAL, CSV_NAME_FMT ": no field %zu in the current row",
		                     c->name, col + 1);
	if (ft_store_csv_is_na(c, col)) {
		*is_na = 1;
		return FT_OK;
	}
	rv = csv_plain_number(f) ? ft_parse_double(f, &v) : FT_EFORMAT;
	if (rv != FT_OK)
		return ft_errmsg_set(err, rv,
		                     CSV_NAME_FMT ": line %zu, column '" CSV_COL_FMT
		                     "': '%.24s' is not %s",
		                     c->name, c->row_line, c->names[col], f,
		                     rv == FT_ERANGE ? "a finite number in range" : "a number");
	*is_na = 0;
	*out = v;
	return FT_OK;
}

void ft_store_csv_hash(const ft_store_csv *c, uint8_t out[32])
{
	ft_crypto_hash_state st = c->hash;

	ft_crypto_hash_final(&st, out);
}

const char *store_csv_name(const ft_store_csv *c)
{
	return c->name;
}
