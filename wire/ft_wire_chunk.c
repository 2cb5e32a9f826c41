/*
 * ft_wire_chunk.c - chunked transfer of payloads larger than one message
 * (model files, long vectors): a chunker that cuts a payload into
 * MODEL_CHUNK bodies, and a reassembler that accepts chunks in any order,
 * refuses overlaps and oversize totals before allocating, and verifies the
 * BLAKE2b-256 of the whole payload at the end. No single message bounds the
 * size of a model: only the receiver's declared limit does.
 */
#include <string.h>

#include "wire_int.h"

#define TOTAL_MAX (1ull << 40)
#define REASM_MAX_RANGES 65536u /* disjoint received ranges (holes bound this) */

int ft_wire_chunker_init(ft_wire_chunker *c, const uint8_t *data, uint64_t total,
                         uint64_t model_version, size_t chunk_size)
{
	if (c == NULL || data == NULL || total == 0 || total > TOTAL_MAX || total > SIZE_MAX ||
	    chunk_size == 0 || chunk_size > FT_WIRE_CHUNK_MAX)
		return FT_EINVAL;
	c->data = data;
	c->total = total;
	c->offset = 0;
	c->model_version = model_version;
	c->chunk_size = chunk_size;
	ft_crypto_hash(c->hash, data, (size_t)total);
	return FT_OK;
}

int ft_wire_chunker_next(ft_wire_chunker *c, uint8_t **body, size_t *len)
{
	ft_wire_chunk ch;
	int rv;

	if (c == NULL || body == NULL || len == NULL)
		return FT_EINVAL;
	if (c->offset >= c->total)
		return FT_ENOTFOUND;
	ch.model_version = c->model_version;
	ch.offset = c->offset;
	ch.total = c->total;
	memcpy(ch.hash, c->hash, sizeof(ch.hash));
	ch.data = c->data + c->offset;
	ch.len = c->total - c->offset < c->chunk_size ? (size_t)(c->total - c->offset)
	                                                : c->chunk_size;
	rv = ft_wire_chunk_encode(&ch, body, len);
	if (rv != FT_OK)
		return rv;
	c->offset += ch.len;
	return FT_OK;
}

/* A received range [start, end). */
typedef struct reasm_range {
	uint64_t start, end;
} reasm_range;

struct ft_wire_reasm {
	uint64_t max_total;
	int started;
	uint64_t version, total, received;
	uint8_t hash[FT_CRYPTO_HASH_BYTES];
	uint8_t *buf;
	reasm_range *ranges; /* sorted, disjoint, non-adjacent */
	size_t n_ranges, cap_ranges;
};

int ft_wire_reasm_alloc(uint64_t max_total, ft_wire_reasm **out)
{
	ft_wire_reasm *r;

	if (out == NULL || max_total == 0)
		return FT_EINVAL;
	r = ft_calloc(1, sizeof(*r));
	if (r == NULL)
		return FT_ENOMEM;
	r->max_total = max_total;
	*out = r;
	return FT_OK;
}

static void reasm_reset(ft_wire_reasm *r)
{
	ft_free(r->buf);
	ft_free(r->ranges);
	r->buf = NULL;
	r->ranges = NULL;
	r->n_ranges = r->cap_ranges = 0;
	r->started = 0;
	r->received = 0;
}

void ft_wire_reasm_free(ft_wire_reasm *r)
{
	if (r == NULL)
		return;
	reasm_reset(r);
	ft_free(r);
}

int ft_wire_reasm_add(ft_wire_reasm *r, const ft_wire_chunk *c)
{
	uint64_t start, end;
	size_t i, lo = 0, hi;
	int join_prev, join_next;

	if (r == NULL || c == NULL || c->data == NULL || c->len == 0)
		return FT_EINVAL;
	if (r->started && r->received == r->total)
		return FT_ESTATE;
	if (c->total == 0 || c->total > r->max_total || c->total > TOTAL_MAX ||
	    c->total > SIZE_MAX)
		return FT_ERANGE;
	if (c->offset >= c->total || c->len > c->total - c->offset)
		return FT_ERANGE;
	if (r->started &&
	    (c->model_version != r->version || c->total != r->total ||
	     !ft_crypto_equal(c->hash, r->hash, sizeof(r->hash))))
		return FT_EPROTO;
	start = c->offset;
	end = c->offset + c->len;
	/* First range whose end is after start. */
	hi = r->n_ranges;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->ranges[mid].end <= start)
			lo = mid + 1;
		else
			hi = mid;
	}
	i = lo;
	if (i < r->n_ranges && r->ranges[i].start < end)
		return FT_EEXIST;
	join_prev = i > 0 && r->ranges[i - 1].end == start;
	join_next = i < r->n_ranges && r->ranges[i].start == end;
	if (!join_prev && !join_next && r->n_ranges == r->cap_ranges) {
		size_t cap = r->cap_ranges == 0 ? 16 : r->cap_ranges * 2;
		reasm_range *nr;

		if (r->n_ranges >= REASM_MAX_RANGES)
			return FT_ERANGE;
		nr = ft_reallocarray(r->ranges, cap, sizeof(*nr));
		if (nr == NULL)
			return FT_ENOMEM;
		r->ranges = nr;
		r->cap_ranges = cap;
	}
	if (!r->started) {
		/* The declared total was checked against the limit above. */
		r->buf = ft_malloc((size_t)c->total);
		if (r->buf == NULL)
			return FT_ENOMEM;
		r->started = 1;
		r->version = c->model_version;
		r->total = c->total;
		memcpy(r->hash, c->hash, sizeof(r->hash));
	}
	memcpy(r->buf + start, c->data, c->len);
	r->received += c->len;
	if (join_prev && join_next) {
		r->ranges[i - 1].end = r->ranges[i].end;
		memmove(&r->ranges[i], &r->ranges[i + 1], (r->n_ranges - i - 1) * sizeof(*r->ranges));
		r->n_ranges--;
	} else if (join_prev) {
		r->ranges[i - 1].end = end;
	} else if (join_next) {
		r->ranges[i].start = start;
	} else {
		memmove(&r->ranges[i + 1], &r->ranges[i], (r->n_ranges - i) * sizeof(*r->ranges));
		r->ranges[i].start = start;
		r->ranges[i].end = end;
		r->n_ranges++;
	}
	return FT_OK;
}

int ft_wire_reasm_complete(const ft_wire_reasm *r)
{
	return r != NULL && r->started && r->received == r->total;
}

int ft_wire_reasm_finish(ft_wire_reasm *r, uint8_t **data, size_t *len, uint64_t *model_version)
{
	uint8_t h[FT_CRYPTO_HASH_BYTES];

	if (r == NULL || data == NULL || len == NULL)
		return FT_EINVAL;
	if (!ft_wire_reasm_complete(r))
		return FT_ESTATE;
	ft_crypto_hash(h, r->buf, (size_t)r->total);
	if (!ft_crypto_equal(h, r->hash, sizeof(h))) {
		reasm_reset(r);
		return FT_ECRYPTO;
	}
	*data = r->buf;
	*len = (size_t)r->total;
	if (model_version != NULL)
		*model_version = r->version;
	r->buf = NULL;
	reasm_reset(r);
	return FT_OK;
}
