/*
 * wire_mp.c - the msgpack writer and reader the wire module encodes and
 * decodes with.
 *
 * Writing: shortest encodings only, so each value has one encoding and the
 * signed bytes are reproducible. Reading: the bytes were validated by
 * ft_msgpack_check() first, so every header is backed by real bytes; each
 * read still checks its bounds so that a mistake here cannot read past the
 * buffer. Strings and binaries are returned as pointers into the input: no
 * allocation.
 */
#include <math.h>
#include <string.h>

#include "wire_int.h"

/* ---- Writer ---------------------------------------------------------------- */

void wire_wr_init(wire_wr *w, size_t max)
{
	w->p = NULL;
	w->len = 0;
	w->cap = 0;
	w->max = max;
	w->err = FT_OK;
}

void wire_wr_raw(wire_wr *w, const void *p, size_t n)
{
	if (w->err != FT_OK || n == 0)
		return;
	if (n > w->max - w->len) {
		w->err = FT_ERANGE;
		return;
	}
	if (n > w->cap - w->len) {
		size_t cap = w->cap < 256 ? 256 : w->cap;
		uint8_t *np;

		while (cap - w->len < n)
			cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
		if (cap > w->max)
			cap = w->max;
		np = ft_reallocarray(w->p, cap, 1);
		if (np == NULL) {
			w->err = FT_ENOMEM;
			return;
		}
		w->p = np;
		w->cap = cap;
	}
	memcpy(w->p + w->len, p, n);
	w->len += n;
}

/* tag followed by v in `n` big-endian bytes */
static void wr_tag(wire_wr *w, uint8_t tag, uint64_t v, unsigned n)
{
	uint8_t b[9];

	b[0] = tag;
	for (unsigned i = 0; i < n; i++)
		b[1 + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	wire_wr_raw(w, b, 1 + n);
}

void wire_wr_array(wire_wr *w, uint32_t n)
{
	if (n <= 15)
		wr_tag(w, (uint8_t)(0x90 | n), 0, 0);
	else if (n <= 0xffff)
		wr_tag(w, 0xdc, n, 2);
	else
		wr_tag(w, 0xdd, n, 4);
}

void wire_wr_map(wire_wr *w, uint32_t n)
{
	if (n <= 15)
		wr_tag(w, (uint8_t)(0x80 | n), 0, 0);
	else if (n <= 0xffff)
		wr_tag(w, 0xde, n, 2);
	else
		wr_tag(w, 0xdf, n, 4);
}

void wire_wr_uint(wire_wr *w, uint64_t v)
{
	if (v <= 0x7f)
		wr_tag(w, (uint8_t)v, 0, 0);
	else if (v <= 0xff)
		wr_tag(w, 0xcc, v, 1);
	else if (v <= 0xffff)
		wr_tag(w, 0xcd, v, 2);
	else if (v <= 0xffffffffu)
		wr_tag(w, 0xce, v, 4);
	else
		wr_tag(w, 0xcf, v, 8);
}

void wire_wr_bool(wire_wr *w, int v)
{
	uint8_t b = v ? 0xc3 : 0xc2;

	wire_wr_raw(w, &b, 1);
}

void wire_wr_double(wire_wr *w, double v)
{
	uint64_t bits;

	memcpy(&bits, &v, sizeof(bits));
	wr_tag(w, 0xcb, bits, 8);
}

void wire_wr_str(wire_wr *w, const char *s, size_t n)
{
	if (n <= 31)
		wr_tag(w, (uint8_t)(0xa0 | n), 0, 0);
	else if (n <= 0xff)
		wr_tag(w, 0xd9, n, 1);
	else if (n <= 0xffff)
		wr_tag(w, 0xda, n, 2);
	else if (n <= 0xffffffffu)
		wr_tag(w, 0xdb, n, 4);
	else if (w->err == FT_OK)
		w->err = FT_ERANGE;
	wire_wr_raw(w, s, n);
}

void wire_wr_cstr(wire_wr *w, const char *s)
{
	wire_wr_str(w, s, strlen(s));
}

void wire_wr_bin(wire_wr *w, const void *p, size_t n)
{
	if (n <= 0xff)
		wr_tag(w, 0xc4, n, 1);
	else if (n <= 0xffff)
		wr_tag(w, 0xc5, n, 2);
	else if (n <= 0xffffffffu)
		wr_tag(w, 0xc6, n, 4);
	else if (w->err == FT_OK)
		w->err = FT_ERANGE;
	wire_wr_raw(w, p, n);
}

int wire_wr_finish(wire_wr *w, uint8_t **out, size_t *len)
{
	int rv = w->err;

	if (rv == FT_OK && w->len == 0)
		rv = FT_EINTERNAL;
	if (rv != FT_OK) {
		wire_wr_discard(w);
		return rv;
	}
	*out = w->p;
	*len = w->len;
	w->p = NULL;
	w->len = w->cap = 0;
	return FT_OK;
}

void wire_wr_discard(wire_wr *w)
{
	ft_free(w->p);
	w->p = NULL;
	w->len = w->cap = 0;
}

/* ---- Reader ---------------------------------------------------------------- */

int wire_rd_init(wire_rd *r, const uint8_t *buf, size_t len, unsigned depth, size_t items)
{
	size_t used = 0;
	int rv;

	if (buf == NULL || len == 0)
		return FT_EPROTO;
	rv = ft_msgpack_check(buf, len, depth, items, &used);
	if (rv == FT_ERANGE)
		return FT_ERANGE;
	if (rv != FT_OK || used != len)
		return FT_EPROTO;
	r->p = buf;
	r->len = len;
	r->pos = 0;
	return FT_OK;
}

/* Reads a big-endian number of n bytes after the tag. */
static int rd_be(wire_rd *r, unsigned n, uint64_t *v)
{
	uint64_t x = 0;

	if (n > r->len - r->pos)
		return FT_EPROTO;
	for (unsigned i = 0; i < n; i++)
		x = (x << 8) | r->p[r->pos + i];
	r->pos += n;
	*v = x;
	return FT_OK;
}

static int rd_tag(wire_rd *r, uint8_t *b)
{
	if (r->pos >= r->len)
		return FT_EPROTO;
	*b = r->p[r->pos++];
	return FT_OK;
}

static int rd_container(wire_rd *r, int map, uint32_t *n)
{
	size_t save = r->pos;
	uint8_t b;
	uint64_t v;
	int rv;

	rv = rd_tag(r, &b);
	if (rv != FT_OK)
		return rv;
	if (b >= (map ? 0x80 : 0x90) && b <= (map ? 0x8f : 0x9f)) {
		*n = b & 0x0fu;
		return FT_OK;
	}
	if (b == (map ? 0xde : 0xdc))
		rv = rd_be(r, 2, &v);
	else if (b == (map ? 0xdf : 0xdd))
		rv = rd_be(r, 4, &v);
	else
		rv = FT_EPROTO;
	if (rv != FT_OK) {
		r->pos = save;
		return rv;
	}
	*n = (uint32_t)v;
	return FT_OK;
}

int wire_rd_array(wire_rd *r, uint32_t *n)
{
	return rd_container(r, 0, n);
}

int wire_rd_map(wire_rd *r, uint32_t *n)
{
	return rd_container(r, 1, n);
}

int wire_rd_map_n(wire_rd *r, uint32_t n)
{
	uint32_t got;
	int rv = wire_rd_map(r, &got);

	if (rv != FT_OK)
		return rv;
	return got == n ? FT_OK : FT_EPROTO;
}

int wire_rd_uint(wire_rd *r, uint64_t min, uint64_t max, uint64_t *v)
{
	uint8_t b;
	uint64_t x;
	int rv;

	rv = rd_tag(r, &b);
	if (rv != FT_OK)
		return rv;
	if (b <= 0x7f)
		x = b;
	else if (b >= 0xcc && b <= 0xcf)
		rv = rd_be(r, 1u << (b - 0xcc), &x);
	else
		rv = FT_EPROTO;
	if (rv != FT_OK)
		return rv;
	if (x < min || x > max)
		return FT_EPROTO;
	*v = x;
	return FT_OK;
}

int wire_rd_bool(wire_rd *r, int *v)
{
	uint8_t b;
	int rv = rd_tag(r, &b);

	if (rv != FT_OK)
		return rv;
	if (b != 0xc2 && b != 0xc3)
		return FT_EPROTO;
	*v = b == 0xc3;
	return FT_OK;
}

int wire_rd_u32(wire_rd *r, uint32_t min, uint32_t max, uint32_t *v)
{
	uint64_t x;
	int rv = wire_rd_uint(r, min, max, &x);

	if (rv == FT_OK)
		*v = (uint32_t)x;
	return rv;
}

int wire_rd_double(wire_rd *r, double *v)
{
	uint8_t b;
	uint64_t x;
	double d;
	int rv;

	rv = rd_tag(r, &b);
	if (rv != FT_OK)
		return rv;
	if (b == 0xcb) {
		rv = rd_be(r, 8, &x);
		if (rv != FT_OK)
			return rv;
		memcpy(&d, &x, sizeof(d));
	} else if (b == 0xca) {
		uint32_t x32;
		float f;

		rv = rd_be(r, 4, &x);
		if (rv != FT_OK)
			return rv;
		x32 = (uint32_t)x;
		memcpy(&f, &x32, sizeof(f));
		d = f;
	} else {
		return FT_EPROTO;
	}
	if (!isfinite(d))
		return FT_EPROTO;
	*v = d;
	return FT_OK;
}

/* A str or bin body: tag family chosen by `bin`. */
static int rd_bytes(wire_rd *r, int bin, size_t max, const uint8_t **p, size_t *n)
{
	uint8_t b;
	uint64_t x = 0;
	int rv;

	rv = rd_tag(r, &b);
	if (rv != FT_OK)
		return rv;
	if (!bin && b >= 0xa0 && b <= 0xbf)
		x = b & 0x1fu;
	else if (b == (bin ? 0xc4 : 0xd9))
		rv = rd_be(r, 1, &x);
	else if (b == (bin ? 0xc5 : 0xda))
		rv = rd_be(r, 2, &x);
	else if (b == (bin ? 0xc6 : 0xdb))
		rv = rd_be(r, 4, &x);
	else
		rv = FT_EPROTO;
	if (rv != FT_OK)
		return rv;
	if (x > r->len - r->pos)
		return FT_EPROTO;
	if (x > max)
		return FT_ERANGE;
	*p = r->p + r->pos;
	*n = (size_t)x;
	r->pos += (size_t)x;
	return FT_OK;
}

int wire_rd_str(wire_rd *r, size_t max, const char **s, size_t *n)
{
	const uint8_t *p;
	int rv = rd_bytes(r, 0, max, &p, n);

	if (rv == FT_OK)
		*s = (const char *)p;
	return rv;
}

int wire_rd_text(wire_rd *r, size_t min, size_t max, char *out)
{
	const char *s;
	size_t n;
	int rv = wire_rd_str(r, max, &s, &n);

	if (rv != FT_OK)
		return rv;
	if (n < min || !wire_text_ok(s, n))
		return FT_EPROTO;
	memcpy(out, s, n);
	out[n] = '\0';
	return FT_OK;
}

int wire_rd_bin(wire_rd *r, size_t max, const uint8_t **b, size_t *n)
{
	return rd_bytes(r, 1, max, b, n);
}

int wire_rd_bin_fixed(wire_rd *r, uint8_t *out, size_t n)
{
	const uint8_t *p;
	size_t got;
	int rv = rd_bytes(r, 1, n, &p, &got);

	if (rv == FT_ERANGE)
		return FT_EPROTO;
	if (rv != FT_OK)
		return rv;
	if (got != n)
		return FT_EPROTO;
	memcpy(out, p, n);
	return FT_OK;
}

int wire_rd_key(wire_rd *r, const char *key)
{
	const char *s;
	size_t n, want = strlen(key);
	int rv = wire_rd_str(r, want, &s, &n);

	if (rv != FT_OK)
		return FT_EPROTO;
	return n == want && memcmp(s, key, n) == 0 ? FT_OK : FT_EPROTO;
}

/* ---- Text checks ------------------------------------------------------------ */

int wire_text_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return 0;
	}
	return 1;
}

int wire_token_ok(const char *s, size_t max)
{
	size_t n = 0;

	if (s == NULL)
		return 0;
	for (; n <= max && s[n] != '\0'; n++) {
		char c = s[n];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return 0;
	}
	return n >= 1 && n <= max;
}

int wire_cstr_ok(const char *s, size_t min, size_t max)
{
	size_t n;

	if (s == NULL)
		return 0;
	n = strnlen(s, max + 1);
	return n >= min && n <= max && wire_text_ok(s, n);
}
