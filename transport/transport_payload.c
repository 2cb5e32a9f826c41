/*
 * transport_payload.c - fixed-size little-endian payloads of the round
 * frames (PROTOCOL.md, "Round protocol and transport"). Doubles travel as
 * their IEEE-754 bits; decoders reject non-finite or out-of-range values.
 */
#include <math.h>
#include <string.h>

#include "ft_transport.h"

static void put_f64(uint8_t *p, double v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof(u));
	ft_store_le64(p, u);
}

static double get_f64(const uint8_t *p)
{
	uint64_t u = ft_load_le64(p);
	double v;

	memcpy(&v, &u, sizeof(v));
	return v;
}

void ft_transport_announce_encode(const ft_transport_announce *a, uint8_t *out)
{
	ft_store_le64(out, a->model_version);
	memcpy(out + 8, a->model_hash, 32);
	put_f64(out + 40, a->lr);
	ft_store_le32(out + 48, a->epochs);
	ft_store_le32(out + 52, a->batch);
	put_f64(out + 56, a->dp_clip);
	put_f64(out + 64, a->epsilon);
	put_f64(out + 72, a->update_clip);
	ft_store_le32(out + 80, a->bits);
	ft_store_le32(out + 84, a->max_summands);
	ft_store_le32(out + 88, a->standardise);
}

int ft_transport_announce_decode(const uint8_t *p, size_t n, ft_transport_announce *a)
{
	ft_transport_announce x;

	if (p == NULL || a == NULL || n != FT_TRANSPORT_ANNOUNCE_BYTES)
		return FT_EPROTO;
	x.model_version = ft_load_le64(p);
	memcpy(x.model_hash, p + 8, 32);
	x.lr = get_f64(p + 40);
	x.epochs = ft_load_le32(p + 48);
	x.batch = ft_load_le32(p + 52);
	x.dp_clip = get_f64(p + 56);
	x.epsilon = get_f64(p + 64);
	x.update_clip = get_f64(p + 72);
	x.bits = ft_load_le32(p + 80);
	x.max_summands = ft_load_le32(p + 84);
	x.standardise = ft_load_le32(p + 88);
	if (!(isfinite(x.lr) && x.lr > 0 && x.lr <= 100) || x.epochs < 1 || x.epochs > 1000 ||
	    x.batch < 1 || !(isfinite(x.dp_clip) && x.dp_clip > 0) ||
	    !(isfinite(x.epsilon) && x.epsilon > 0) ||
	    !(isfinite(x.update_clip) && x.update_clip > 0) || x.bits < 16 || x.bits > 32 ||
	    x.max_summands < 2 || x.max_summands > FT_TRANSPORT_MAX_SITES || x.standardise > 1 ||
	    x.model_version == FT_TRANSPORT_NO_VERSION)
		return FT_EPROTO;
	*a = x;
	return FT_OK;
}

void ft_transport_result_encode(const ft_transport_result *r, uint8_t *out)
{
	ft_store_le64(out, r->model_version);
	memcpy(out + 8, r->model_hash, 32);
	memcpy(out + 40, r->model_sig, 64);
	ft_store_le32(out + 104, r->n_survivors);
	ft_store_le32(out + 108, r->run_complete);
}

int ft_transport_result_decode(const uint8_t *p, size_t n, ft_transport_result *r)
{
	ft_transport_result x;

	if (p == NULL || r == NULL || n != FT_TRANSPORT_RESULT_BYTES)
		return FT_EPROTO;
	x.model_version = ft_load_le64(p);
	memcpy(x.model_hash, p + 8, 32);
	memcpy(x.model_sig, p + 40, 64);
	x.n_survivors = ft_load_le32(p + 104);
	x.run_complete = ft_load_le32(p + 108);
	if (x.run_complete > 1 || x.n_survivors > FT_TRANSPORT_MAX_SITES ||
	    x.model_version == FT_TRANSPORT_NO_VERSION)
		return FT_EPROTO;
	*r = x;
	return FT_OK;
}

void ft_transport_chunk_encode(const ft_transport_chunk *c, uint8_t *out)
{
	ft_store_le64(out, c->model_version);
	memcpy(out + 8, c->model_hash, 32);
	ft_store_le32(out + 40, c->total);
	ft_store_le32(out + 44, c->offset);
	if (c->len > 0)
		memcpy(out + FT_TRANSPORT_CHUNK_HDR_BYTES, c->data, c->len);
}

int ft_transport_chunk_decode(const uint8_t *p, size_t n, ft_transport_chunk *c)
{
	ft_transport_chunk x;

	if (p == NULL || c == NULL || n < FT_TRANSPORT_CHUNK_HDR_BYTES)
		return FT_EPROTO;
	x.model_version = ft_load_le64(p);
	memcpy(x.model_hash, p + 8, 32);
	x.total = ft_load_le32(p + 40);
	x.offset = ft_load_le32(p + 44);
	x.data = p + FT_TRANSPORT_CHUNK_HDR_BYTES;
	x.len = (uint32_t)(n - FT_TRANSPORT_CHUNK_HDR_BYTES);
	if (x.total == 0 || x.total > (80u << 20) || x.len == 0 ||
	    x.len > FT_TRANSPORT_CHUNK_BYTES || x.offset > x.total || x.len > x.total - x.offset)
		return FT_EPROTO;
	*c = x;
	return FT_OK;
}

void ft_transport_model_tbs(const uint8_t consortium[FT_CRYPTO_ID_BYTES], uint64_t run,
                            uint64_t version, const uint8_t hash[FT_CRYPTO_HASH_BYTES],
                            uint8_t out[FT_TRANSPORT_MODEL_TBS_BYTES])
{
	memcpy(out, "fedtwin-model-v1", 16);
	memcpy(out + 16, consortium, FT_CRYPTO_ID_BYTES);
	ft_store_le64(out + 16 + FT_CRYPTO_ID_BYTES, run);
	ft_store_le64(out + 24 + FT_CRYPTO_ID_BYTES, version);
	memcpy(out + 32 + FT_CRYPTO_ID_BYTES, hash, FT_CRYPTO_HASH_BYTES);
}
