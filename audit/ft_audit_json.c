/*
 * ft_audit_json.c - canonical JSON for audit payloads: the builder that
 * writes the one text an entry's hash covers, and the strict parser that
 * verify and the report use to read it back.
 *
 * Why JSON and not msgpack: an auditor reads the log with the sqlite3 shell
 * and exports it as JSON lines; a payload that is already JSON is readable
 * as stored and is copied into the export unchanged, so the hashed bytes and
 * what the auditor sees are the same bytes. Canonical means one text per
 * value set: members sorted by key, no whitespace, fixed number forms and
 * minimal string escapes (docs/AUDIT.md, "Payload encoding").
 */
#include "ft_audit.h"
#include "audit_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_KEY_MAX 64
#define JSON_HEX_MAX 1024

struct ft_audit_json {
	size_t n;
	char *keys[AUDIT_JSON_MEMBERS_MAX];
	char *vals[AUDIT_JSON_MEMBERS_MAX]; /* encoded value text */
};

/* ---- A bounded growable buffer ----------------------------------------- */

typedef struct jbuf {
	char *p;
	size_t len, cap, max;
	int failed; /* FT_ENOMEM or FT_ERANGE once anything failed */
} jbuf;

static void jb_put(jbuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (n > b->max - b->len) {
		b->failed = FT_ERANGE;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		char *np;

		while (cap < b->len + n + 1)
			cap *= 2;
		np = ft_reallocarray(b->p, cap, 1);
		if (np == NULL) {
			b->failed = FT_ENOMEM;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void jb_puts(jbuf *b, const char *s)
{
	jb_put(b, s, strlen(s));
}

/* ---- Strings ------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. Rejects
 * overlong forms, surrogates and code points above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		len = 2;
		cp = s[0] & 0x1F;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		len = 3;
		cp = s[0] & 0x0F;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

/* 1 if s (n bytes) is valid UTF-8 without NUL. */
static int utf8_valid(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		size_t k;

		if (u[i] == 0)
			return 0;
		k = utf8_seq(u + i, n - i);
		if (k == 0)
			return 0;
		i += k;
	}
	return 1;
}

/* Canonical escape of one byte, or NULL when it is written as is. */
static const char *json_escape(unsigned char c, char tmp[8])
{
	switch (c) {
	case '"':
		return "\\\"";
	case '\\':
		return "\\\\";
	case '\b':
		return "\\b";
	case '\f':
		return "\\f";
	case '\n':
		return "\\n";
	case '\r':
		return "\\r";
	case '\t':
		return "\\t";
	default:
		break;
	}
	if (c < 0x20) {
		snprintf(tmp, 8, "\\u%04x", (unsigned)c);
		return tmp;
	}
	return NULL;
}

static void jb_str(jbuf *b, const char *s, size_t n)
{
	char tmp[8];
	size_t run = 0;

	jb_put(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		const char *e = json_escape((unsigned char)s[i], tmp);

		if (e == NULL)
			continue;
		jb_put(b, s + run, i - run);
		jb_puts(b, e);
		run = i + 1;
	}
	jb_put(b, s + run, n - run);
	jb_put(b, "\"", 1);
}

void audit_json_write_str(FILE *f, const char *s, size_t n)
{
	char tmp[8];

	fputc('"', f);
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		const char *e = json_escape(c, tmp);
		size_t k = utf8_seq((const unsigned char *)s + i, n - i);

		/* Export/report output also escapes '<' so that it can never close
		 * a script block, and replaces bytes that are not UTF-8. */
		if (e != NULL) {
			fputs(e, f);
			i++;
		} else if (c == '<') {
			fputs("\\u003c", f);
			i++;
		} else if (k == 0) {
			fputs("\\ufffd", f);
			i++;
		} else {
			fwrite(s + i, 1, k, f);
			i += k;
		}
	}
	fputc('"', f);
}

/* ---- Builder ------------------------------------------------------------ */

static int valid_key(const char *key)
{
	size_t n;

	if (key == NULL)
		return 0;
	n = strlen(key);
	if (n == 0 || n > JSON_KEY_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((key[i] >= 'a' && key[i] <= 'z') || (key[i] >= '0' && key[i] <= '9') ||
		      key[i] == '_'))
			return 0;
	return 1;
}

int ft_audit_json_new(ft_audit_json **out)
{
	ft_audit_json *j;

	if (out == NULL)
		return FT_EINVAL;
	j = ft_calloc(1, sizeof(*j));
	if (j == NULL)
		return FT_ENOMEM;
	*out = j;
	return FT_OK;
}

void ft_audit_json_free(ft_audit_json *j)
{
	if (j == NULL)
		return;
	for (size_t i = 0; i < j->n; i++) {
		ft_free(j->keys[i]);
		ft_free(j->vals[i]);
	}
	ft_free(j);
}

/* Adds key with the encoded value in b (taking b's buffer on success). */
static int json_add(ft_audit_json *j, const char *key, jbuf *b)
{
	char *k = NULL;
	int rv = FT_OK;

	if (b->failed) {
		rv = b->failed;
		goto out;
	}
	if (b->p == NULL) {
		rv = FT_EINTERNAL;
		goto out;
	}
	if (j->n >= AUDIT_JSON_MEMBERS_MAX) {
		rv = FT_ERANGE;
		goto out;
	}
	k = ft_strdup(key);
	if (k == NULL) {
		rv = FT_ENOMEM;
		goto out;
	}
	j->keys[j->n] = k;
	j->vals[j->n] = b->p;
	j->n++;
	b->p = NULL;
out:
	ft_free(b->p);
	b->p = NULL;
	return rv;
}

/* Common argument checks; FT_OK if key may be added. */
static int json_check(const ft_audit_json *j, const char *key)
{
	if (j == NULL || !valid_key(key))
		return FT_EINVAL;
	for (size_t i = 0; i < j->n; i++)
		if (strcmp(j->keys[i], key) == 0)
			return FT_EEXIST;
	return FT_OK;
}

int ft_audit_json_str(ft_audit_json *j, const char *key, const char *value)
{
	jbuf b = { .max = FT_AUDIT_PAYLOAD_MAX };
	int rv = json_check(j, key);
	size_t n;

	if (rv != FT_OK)
		return rv;
	if (value == NULL)
		return FT_EINVAL;
	n = strlen(value);
	if (n > FT_AUDIT_PAYLOAD_MAX || !utf8_valid(value, n))
		return n > FT_AUDIT_PAYLOAD_MAX ? FT_ERANGE : FT_EINVAL;
	jb_str(&b, value, n);
	return json_add(j, key, &b);
}

int ft_audit_json_i64(ft_audit_json *j, const char *key, int64_t value)
{
	jbuf b = { .max = 32 };
	char tmp[32];
	int rv = json_check(j, key);

	if (rv != FT_OK)
		return rv;
	snprintf(tmp, sizeof(tmp), "%" PRId64, value);
	jb_puts(&b, tmp);
	return json_add(j, key, &b);
}

int ft_audit_json_u64(ft_audit_json *j, const char *key, uint64_t value)
{
	jbuf b = { .max = 32 };
	char tmp[32];
	int rv = json_check(j, key);

	if (rv != FT_OK)
		return rv;
	snprintf(tmp, sizeof(tmp), "%" PRIu64, value);
	jb_puts(&b, tmp);
	return json_add(j, key, &b);
}

/* %.17g round-trips every double; -0 is written as 0 so that equal values
 * have one text. */
static void fmt_double(char tmp[40], double v)
{
	if (v == 0.0)
		v = 0.0;
	snprintf(tmp, 40, "%.17g", v);
}

int ft_audit_json_double(ft_audit_json *j, const char *key, double value)
{
	jbuf b = { .max = 40 };
	char tmp[40];
	int rv = json_check(j, key);

	if (rv != FT_OK)
		return rv;
	if (!isfinite(value))
		return FT_EINVAL;
	fmt_double(tmp, value);
	jb_puts(&b, tmp);
	return json_add(j, key, &b);
}

int ft_audit_json_bool(ft_audit_json *j, const char *key, int value)
{
	jbuf b = { .max = 8 };
	int rv = json_check(j, key);

	if (rv != FT_OK)
		return rv;
	jb_puts(&b, value ? "true" : "false");
	return json_add(j, key, &b);
}

int ft_audit_json_hex(ft_audit_json *j, const char *key, const uint8_t *bytes, size_t n)
{
	jbuf b = { .max = 2 * JSON_HEX_MAX + 8 };
	char *hex = NULL;
	int rv = json_check(j, key);

	if (rv != FT_OK)
		return rv;
	if ((bytes == NULL && n > 0) || n > JSON_HEX_MAX)
		return bytes == NULL ? FT_EINVAL : FT_ERANGE;
	hex = ft_malloc(2 * n + 1);
	if (hex == NULL)
		return FT_ENOMEM;
	ft_crypto_hex(hex, bytes, n);
	jb_str(&b, hex, 2 * n);
	ft_free(hex);
	return json_add(j, key, &b);
}

int ft_audit_json_str_array(ft_audit_json *j, const char *key, const char *const *values,
                            size_t n)
{
	jbuf b = { .max = FT_AUDIT_PAYLOAD_MAX };
	int rv = json_check(j, key);

	if (rv != FT_OK)
		return rv;
	if ((values == NULL && n > 0) || n > AUDIT_JSON_ARRAY_MAX)
		return values == NULL ? FT_EINVAL : FT_ERANGE;
	for (size_t i = 0; i < n; i++) {
		size_t len;

		if (values[i] == NULL)
			return FT_EINVAL;
		len = strlen(values[i]);
		if (len > FT_AUDIT_PAYLOAD_MAX)
			return FT_ERANGE;
		if (!utf8_valid(values[i], len))
			return FT_EINVAL;
	}
	jb_put(&b, "[", 1);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			jb_put(&b, ",", 1);
		jb_str(&b, values[i], strlen(values[i]));
	}
	jb_put(&b, "]", 1);
	return json_add(j, key, &b);
}

int ft_audit_json_u64_array(ft_audit_json *j, const char *key, const uint64_t *values,
                            size_t n)
{
	jbuf b = { .max = FT_AUDIT_PAYLOAD_MAX };
	char tmp[32];
	int rv = json_check(j, key);

	if (rv != FT_OK)
		return rv;
	if ((values == NULL && n > 0) || n > AUDIT_JSON_ARRAY_MAX)
		return values == NULL ? FT_EINVAL : FT_ERANGE;
	jb_put(&b, "[", 1);
	for (size_t i = 0; i < n; i++) {
		snprintf(tmp, sizeof(tmp), "%s%" PRIu64, i > 0 ? "," : "", values[i]);
		jb_puts(&b, tmp);
	}
	jb_put(&b, "]", 1);
	return json_add(j, key, &b);
}

int ft_audit_json_finish(const ft_audit_json *j, char **out, size_t *len)
{
	jbuf b = { .max = FT_AUDIT_PAYLOAD_MAX };
	size_t order[AUDIT_JSON_MEMBERS_MAX];

	if (j == NULL || out == NULL)
		return FT_EINVAL;
	/* Insertion sort by key: at most 64 members. */
	for (size_t i = 0; i < j->n; i++) {
		size_t k = i;

		while (k > 0 && strcmp(j->keys[order[k - 1]], j->keys[i]) > 0) {
			order[k] = order[k - 1];
			k--;
		}
		order[k] = i;
	}
	jb_put(&b, "{", 1);
	for (size_t i = 0; i < j->n; i++) {
		if (i > 0)
			jb_put(&b, ",", 1);
		jb_str(&b, j->keys[order[i]], strlen(j->keys[order[i]]));
		jb_put(&b, ":", 1);
		jb_puts(&b, j->vals[order[i]]);
	}
	jb_put(&b, "}", 1);
	if (b.failed) {
		ft_free(b.p);
		return b.failed;
	}
	*out = b.p;
	if (len != NULL)
		*len = b.len;
	return FT_OK;
}

/* ---- Strict parser -------------------------------------------------------- */

typedef struct jparse {
	const char *s;
	size_t n, i;
	ft_errmsg *err;
} jparse;

static int jp_fail(jparse *p, const char *what)
{
	return ft_errmsg_set(p->err, FT_EFORMAT, "payload byte %zu: %s", p->i, what);
}

/* A string literal at p->i, decoded into *out (caller frees), checked to be
 * in canonical form. */
static int jp_string(jparse *p, char **out)
{
	jbuf dec = { .max = FT_AUDIT_PAYLOAD_MAX };
	jbuf enc = { .max = FT_AUDIT_PAYLOAD_MAX };
	size_t start = p->i;
	int rv = FT_OK;

	if (p->i >= p->n || p->s[p->i] != '"')
		return jp_fail(p, "expected a string");
	p->i++;
	jb_put(&dec, "", 0);
	while (p->i < p->n && p->s[p->i] != '"') {
		char c = p->s[p->i];

		if (c == '\\') {
			char e;

			if (p->i + 1 >= p->n) {
				rv = jp_fail(p, "unterminated escape");
				goto out;
			}
			e = p->s[p->i + 1];
			p->i += 2;
			if (e == 'u') {
				unsigned v = 0;

				if (p->i + 4 > p->n) {
					rv = jp_fail(p, "short \\u escape");
					goto out;
				}
				for (int k = 0; k < 4; k++) {
					char h = p->s[p->i + (size_t)k];

					v <<= 4;
					if (h >= '0' && h <= '9')
						v |= (unsigned)(h - '0');
					else if (h >= 'a' && h <= 'f')
						v |= (unsigned)(h - 'a' + 10);
					else {
						rv = jp_fail(p, "bad \\u escape");
						goto out;
					}
				}
				p->i += 4;
				if (v == 0 || v >= 0x20) {
					rv = jp_fail(p, "non-canonical \\u escape");
					goto out;
				}
				c = (char)v;
			} else {
				switch (e) {
				case '"': c = '"'; break;
				case '\\': c = '\\'; break;
				case 'b': c = '\b'; break;
				case 'f': c = '\f'; break;
				case 'n': c = '\n'; break;
				case 'r': c = '\r'; break;
				case 't': c = '\t'; break;
				default:
					rv = jp_fail(p, "bad escape");
					goto out;
				}
			}
			jb_put(&dec, &c, 1);
			continue;
		}
		jb_put(&dec, &c, 1);
		p->i++;
	}
	if (p->i >= p->n) {
		rv = jp_fail(p, "unterminated string");
		goto out;
	}
	p->i++;
	if (dec.failed) {
		rv = dec.failed;
		goto out;
	}
	if (!utf8_valid(dec.p, dec.len)) {
		rv = jp_fail(p, "string is not valid UTF-8");
		goto out;
	}
	jb_str(&enc, dec.p, dec.len);
	if (enc.failed) {
		rv = enc.failed;
		goto out;
	}
	if (enc.len != p->i - start || memcmp(enc.p, p->s + start, enc.len) != 0) {
		rv = jp_fail(p, "string not in canonical form");
		goto out;
	}
	*out = dec.p;
	dec.p = NULL;
out:
	ft_free(dec.p);
	ft_free(enc.p);
	return rv;
}

/* A number at p->i: its text must be what the builder writes. */
static int jp_number(jparse *p, char **out)
{
	size_t start = p->i;
	char text[48], again[40];
	size_t len;
	int64_t i64;
	uint64_t u64;
	double d;

	/* strchr() would also match the terminating NUL: exclude it. */
	while (p->i < p->n && p->s[p->i] != '\0' && strchr("0123456789+-.eE", p->s[p->i]) != NULL)
		p->i++;
	len = p->i - start;
	if (len == 0 || len >= sizeof(text))
		return jp_fail(p, "bad number");
	memcpy(text, p->s + start, len);
	text[len] = '\0';
	if (ft_parse_i64(text, INT64_MIN, INT64_MAX, &i64) == FT_OK) {
		snprintf(again, sizeof(again), "%" PRId64, i64);
	} else if (ft_parse_u64(text, UINT64_MAX, &u64) == FT_OK) {
		snprintf(again, sizeof(again), "%" PRIu64, u64);
	} else if (ft_parse_double(text, &d) == FT_OK && isfinite(d)) {
		fmt_double(again, d);
	} else {
		return jp_fail(p, "bad number");
	}
	if (strcmp(again, text) != 0)
		return jp_fail(p, "number not in canonical form");
	*out = ft_strdup(text);
	return *out != NULL ? FT_OK : FT_ENOMEM;
}

static void jval_clear(audit_jval *v)
{
	ft_free(v->str);
	for (size_t i = 0; i < v->n_items; i++)
		ft_free(v->items[i].str);
	ft_free(v->items);
	memset(v, 0, sizeof(*v));
}

static int jp_scalar(jparse *p, audit_jval *v)
{
	char c = p->i < p->n ? p->s[p->i] : '\0';

	if (c == '"') {
		v->kind = AUDIT_J_STR;
		return jp_string(p, &v->str);
	}
	v->kind = AUDIT_J_NUM;
	return jp_number(p, &v->str);
}

static int jp_value(jparse *p, audit_jval *v)
{
	char c = p->i < p->n ? p->s[p->i] : '\0';
	int rv;

	memset(v, 0, sizeof(*v));
	if (c == 't' || c == 'f') {
		const char *w = c == 't' ? "true" : "false";
		size_t wl = strlen(w);

		if (p->n - p->i < wl || memcmp(p->s + p->i, w, wl) != 0)
			return jp_fail(p, "bad literal");
		p->i += wl;
		v->kind = AUDIT_J_BOOL;
		v->boolean = c == 't';
		return FT_OK;
	}
	if (c != '[')
		return jp_scalar(p, v);
	v->kind = AUDIT_J_ARRAY;
	p->i++;
	if (p->i < p->n && p->s[p->i] == ']') {
		p->i++;
		return FT_OK;
	}
	for (;;) {
		audit_jval *items;

		if (v->n_items >= AUDIT_JSON_ARRAY_MAX) {
			rv = jp_fail(p, "array too long");
			goto fail;
		}
		items = ft_reallocarray(v->items, v->n_items + 1, sizeof(*items));
		if (items == NULL) {
			rv = FT_ENOMEM;
			goto fail;
		}
		v->items = items;
		memset(&v->items[v->n_items], 0, sizeof(*items));
		v->n_items++;
		rv = jp_scalar(p, &v->items[v->n_items - 1]);
		if (rv != FT_OK)
			goto fail;
		if (p->i < p->n && p->s[p->i] == ',') {
			p->i++;
			continue;
		}
		if (p->i < p->n && p->s[p->i] == ']') {
			p->i++;
			return FT_OK;
		}
		rv = jp_fail(p, "expected ',' or ']'");
		goto fail;
	}
fail:
	jval_clear(v);
	return rv;
}

void audit_jobj_clear(audit_jobj *o)
{
	if (o == NULL)
		return;
	for (size_t i = 0; i < o->n; i++) {
		ft_free(o->keys[i]);
		jval_clear(&o->vals[i]);
	}
	o->n = 0;
}

int audit_json_parse(const char *text, size_t n, audit_jobj *out, ft_errmsg *err)
{
	jparse p = { .s = text, .n = n, .err = err };
	audit_jobj o;
	int rv = FT_OK;

	memset(&o, 0, sizeof(o));
	if (text == NULL || out == NULL)
		return FT_EINVAL;
	if (n > FT_AUDIT_PAYLOAD_MAX)
		return ft_errmsg_set(err, FT_EFORMAT, "payload longer than %d bytes",
		                     FT_AUDIT_PAYLOAD_MAX);
	if (n < 2 || text[0] != '{')
		return jp_fail(&p, "expected '{'");
	p.i = 1;
	if (text[1] == '}') {
		p.i = 2;
		goto end;
	}
	for (;;) {
		char *key = NULL;

		if (o.n >= AUDIT_JSON_MEMBERS_MAX) {
			rv = jp_fail(&p, "too many members");
			goto out;
		}
		rv = jp_string(&p, &key);
		if (rv != FT_OK)
			goto out;
		o.keys[o.n] = key;
		o.n++;
		if (!valid_key(key)) {
			rv = jp_fail(&p, "bad key");
			goto out;
		}
		if (o.n > 1 && strcmp(o.keys[o.n - 2], key) >= 0) {
			rv = jp_fail(&p, "keys not sorted or repeated");
			goto out;
		}
		if (p.i >= n || text[p.i] != ':') {
			rv = jp_fail(&p, "expected ':'");
			goto out;
		}
		p.i++;
		rv = jp_value(&p, &o.vals[o.n - 1]);
		if (rv != FT_OK)
			goto out;
		if (p.i < n && text[p.i] == ',') {
			p.i++;
			continue;
		}
		if (p.i < n && text[p.i] == '}') {
			p.i++;
			break;
		}
		rv = jp_fail(&p, "expected ',' or '}'");
		goto out;
	}
end:
	if (p.i != n) {
		rv = jp_fail(&p, "trailing bytes");
		goto out;
	}
	*out = o;
	return FT_OK;
out:
	audit_jobj_clear(&o);
	return rv;
}

const audit_jval *audit_jobj_get(const audit_jobj *o, const char *key)
{
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->keys[i], key) == 0)
			return &o->vals[i];
	return NULL;
}

const char *audit_jobj_str(const audit_jobj *o, const char *key)
{
	const audit_jval *v = audit_jobj_get(o, key);

	return v != NULL && v->kind == AUDIT_J_STR ? v->str : NULL;
}

double audit_jobj_num(const audit_jobj *o, const char *key, double dflt)
{
	const audit_jval *v = audit_jobj_get(o, key);
	double d;

	if (v == NULL || v->kind != AUDIT_J_NUM || ft_parse_double(v->str, &d) != FT_OK)
		return dflt;
	return d;
}

int audit_jobj_u64(const audit_jobj *o, const char *key, uint64_t *out)
{
	const audit_jval *v = audit_jobj_get(o, key);

	if (v == NULL || v->kind != AUDIT_J_NUM)
		return FT_ENOTFOUND;
	return ft_parse_u64(v->str, UINT64_MAX, out);
}
