/*
 * wire_int.h - private to wire/: a bounded msgpack writer and a reader that
 * walks bytes already validated by ft_msgpack_check().
 */
#ifndef WIRE_INT_H
#define WIRE_INT_H

#include <stdio.h>

#include "ft_wire.h"

/* Growable output buffer with a hard maximum; the first error sticks and
 * every later write is a no-op, so encoders check once at the end. */
typedef struct wire_wr {
	uint8_t *p;
	size_t len, cap, max;
	int err;
} wire_wr;

void wire_wr_init(wire_wr *w, size_t max);
void wire_wr_raw(wire_wr *w, const void *p, size_t n);
void wire_wr_array(wire_wr *w, uint32_t n);
void wire_wr_map(wire_wr *w, uint32_t n);
void wire_wr_uint(wire_wr *w, uint64_t v);
void wire_wr_double(wire_wr *w, double v);
void wire_wr_bool(wire_wr *w, int v);
void wire_wr_str(wire_wr *w, const char *s, size_t n);
void wire_wr_cstr(wire_wr *w, const char *s);
void wire_wr_bin(wire_wr *w, const void *p, size_t n);
/* On FT_OK hands the buffer over; on error frees it and returns the error. */
int wire_wr_finish(wire_wr *w, uint8_t **out, size_t *len);
void wire_wr_discard(wire_wr *w);

/* Reader over one validated msgpack object. Every read checks its type and
 * bounds and returns FT_EPROTO on mismatch. */
typedef struct wire_rd {
	const uint8_t *p;
	size_t len, pos;
} wire_rd;

/* Validates buf (depth, item budget) and requires it to be exactly one
 * object: FT_EPROTO (malformed, trailing bytes) or FT_ERANGE (too many
 * items). */
int wire_rd_init(wire_rd *r, const uint8_t *buf, size_t len, unsigned depth, size_t items);
int wire_rd_array(wire_rd *r, uint32_t *n);
int wire_rd_map(wire_rd *r, uint32_t *n);
int wire_rd_uint(wire_rd *r, uint64_t min, uint64_t max, uint64_t *v);
int wire_rd_u32(wire_rd *r, uint32_t min, uint32_t max, uint32_t *v);
int wire_rd_double(wire_rd *r, double *v);
/* A msgpack bool (true/false only; no other type stands in for one). */
int wire_rd_bool(wire_rd *r, int *v);
/* A str of at most max bytes, borrowed. */
int wire_rd_str(wire_rd *r, size_t max, const char **s, size_t *n);
/* A str of min..max bytes without control characters, copied into out
 * (room for max + 1). */
int wire_rd_text(wire_rd *r, size_t min, size_t max, char *out);
int wire_rd_bin(wire_rd *r, size_t max, const uint8_t **b, size_t *n);
int wire_rd_bin_fixed(wire_rd *r, uint8_t *out, size_t n);
/* The next object must be the str `key`. */
int wire_rd_key(wire_rd *r, const char *key);
/* A map of exactly n entries. */
int wire_rd_map_n(wire_rd *r, uint32_t n);

/* 1 if s[0..n) is printable text (no byte < 0x20, no 0x7f). */
int wire_text_ok(const char *s, size_t n);
/* 1 if s is a 1..max byte token of [a-z0-9_]. */
int wire_token_ok(const char *s, size_t max);
/* 1 if s is NUL-terminated within max + 1 bytes, min..max long, printable. */
int wire_cstr_ok(const char *s, size_t min, size_t max);

/* `fedtwin consortium` with output streams given (tests capture them). */
int wire_cli_run(int argc, char **argv, FILE *out, FILE *err);

#endif /* WIRE_INT_H */
