/*
 * ft_wire_body.c - encoding and decoding of every message body
 * (docs/PROTOCOL.md, "Wire protocol", "Messages").
 *
 * Each body is a msgpack map whose keys come in the documented order, each
 * exactly once. One validity check per body serves both directions: the
 * encoder refuses (FT_EINVAL) what the decoder would refuse (FT_EPROTO), so
 * a node can never send what a coordinator rejects.
 */
#include <math.h>
#include <string.h>

#include "wire_int.h"

#define DEADLINE_MAX_MS 86400000u /* one day */
#define MODEL_LEN_MAX (1ull << 40)
#define METRIC_NAME_MAX (FT_WIRE_TOKEN_MAX * 2)

/* Reads one field; on error leaves through the function's `fail` label
 * with rv set. */
#define TRY(expr)                \
	do {                     \
		rv = (expr);     \
		if (rv != FT_OK) \
			goto fail; \
	} while (0)

/* Finite and within (lo, hi] (lo_open) or [lo, hi]. */
static int dbl_in(double v, double lo, double hi, int lo_open)
{
	if (!isfinite(v) || v > hi)
		return 0;
	return lo_open ? v > lo : v >= lo;
}

/* Bytewise order of two strings of known length: <0, 0, >0. */
static int bytes_cmp(const char *a, size_t na, const char *b, size_t nb)
{
	int c = memcmp(a, b, na < nb ? na : nb);

	if (c != 0)
		return c;
	return na < nb ? -1 : na > nb ? 1 : 0;
}

/* Maps a reader error to the decoder's: size limits stay FT_ERANGE. */
static int dec_err(int rv)
{
	return rv == FT_ERANGE || rv == FT_ENOMEM ? rv : FT_EPROTO;
}

/* ---- Log-head anchors (optional trailing keys) ------------------------------------- */

/* No head (0) comes with an all-zero hash: one encoding per value. */
static int anchor_ok(uint64_t log_len, const uint8_t head[FT_CRYPTO_HASH_BYTES])
{
	static const uint8_t zero[FT_CRYPTO_HASH_BYTES];

	return log_len > 0 || memcmp(head, zero, FT_CRYPTO_HASH_BYTES) == 0;
}

/* Map entries the anchor adds: 2 when a head is sent, else none. */
static uint32_t anchor_keys(uint64_t log_len)
{
	return log_len > 0 ? 2u : 0u;
}

static void anchor_wr(wire_wr *w, uint64_t log_len, const uint8_t head[FT_CRYPTO_HASH_BYTES])
{
	if (log_len == 0)
		return;
	wire_wr_cstr(w, "log_len");
	wire_wr_uint(w, log_len);
	wire_wr_cstr(w, "log_head");
	wire_wr_bin(w, head, FT_CRYPTO_HASH_BYTES);
}

/* Reads the map header of a body with `base` mandatory keys and says
 * whether the anchor pair follows them. */
static int anchor_map(wire_rd *r, uint32_t base, int *has)
{
	uint32_t n;
	int rv = wire_rd_map(r, &n);

	if (rv != FT_OK)
		return rv;
	if (n != base && n != base + 2)
		return FT_EPROTO;
	*has = n == base + 2;
	return FT_OK;
}

static int anchor_rd(wire_rd *r, int has, uint64_t *log_len, uint8_t head[FT_CRYPTO_HASH_BYTES])
{
	int rv;

	if (!has)
		return FT_OK;
	rv = wire_rd_key(r, "log_len");
	if (rv == FT_OK)
		rv = wire_rd_uint(r, 1, UINT64_MAX, log_len);
	if (rv == FT_OK)
		rv = wire_rd_key(r, "log_head");
	if (rv == FT_OK)
		rv = wire_rd_bin_fixed(r, head, FT_CRYPTO_HASH_BYTES);
	return rv;
}

/* ---- HELLO -------------------------------------------------------------------- */

static int hello_ok(const ft_wire_hello *h)
{
	return h->site_id >= 1 && h->site_id <= FT_WIRE_SITE_ID_MAX &&
	       wire_cstr_ok(h->software, 1, FT_WIRE_NAME_MAX);
}

int ft_wire_hello_encode(const ft_wire_hello *in, uint8_t **out, size_t *len)
{
	wire_wr w;

	if (in == NULL || out == NULL || len == NULL || !hello_ok(in))
		return FT_EINVAL;
	wire_wr_init(&w, ft_wire_body_max(FT_WIRE_HELLO));
	wire_wr_map(&w, 6);
	wire_wr_cstr(&w, "site_id");
	wire_wr_uint(&w, in->site_id);
	wire_wr_cstr(&w, "software");
	wire_wr_cstr(&w, in->software);
	wire_wr_cstr(&w, "log_head");
	wire_wr_bin(&w, in->log_head, sizeof(in->log_head));
	wire_wr_cstr(&w, "log_len");
	wire_wr_uint(&w, in->log_len);
	wire_wr_cstr(&w, "caps");
	wire_wr_uint(&w, in->caps);
	wire_wr_cstr(&w, "recv_max");
	wire_wr_uint(&w, in->recv_max);
	return wire_wr_finish(&w, out, len);
}

int ft_wire_hello_decode(const uint8_t *body, size_t len, ft_wire_hello *out)
{
	wire_rd r;
	ft_wire_hello h;
	int rv;

	if (out == NULL)
		return FT_EINVAL;
	if (len > ft_wire_body_max(FT_WIRE_HELLO))
		return FT_ERANGE;
	rv = wire_rd_init(&r, body, len, 2, 16);
	if (rv != FT_OK)
		return rv;
	memset(&h, 0, sizeof(h));
	TRY(wire_rd_map_n(&r, 6));
	TRY(wire_rd_key(&r, "site_id"));
	TRY(wire_rd_u32(&r, 1, FT_WIRE_SITE_ID_MAX, &h.site_id));
	TRY(wire_rd_key(&r, "software"));
	TRY(wire_rd_text(&r, 1, FT_WIRE_NAME_MAX, h.software));
	TRY(wire_rd_key(&r, "log_head"));
	TRY(wire_rd_bin_fixed(&r, h.log_head, sizeof(h.log_head)));
	TRY(wire_rd_key(&r, "log_len"));
	TRY(wire_rd_uint(&r, 0, UINT64_MAX, &h.log_len));
	TRY(wire_rd_key(&r, "caps"));
	TRY(wire_rd_uint(&r, 0, UINT64_MAX, &h.caps));
	TRY(wire_rd_key(&r, "recv_max"));
	TRY(wire_rd_uint(&r, 0, UINT64_MAX, &h.recv_max));
	*out = h;
	return FT_OK;
fail:
	return dec_err(rv);
}

/* ---- WELCOME ------------------------------------------------------------------ */

int ft_wire_welcome_encode(const ft_wire_welcome *in, uint8_t **out, size_t *len)
{
	wire_wr w;

	if (in == NULL || out == NULL || len == NULL || in->manifest_serial == 0)
		return FT_EINVAL;
	wire_wr_init(&w, ft_wire_body_max(FT_WIRE_WELCOME));
	wire_wr_map(&w, 4);
	wire_wr_cstr(&w, "manifest_serial");
	wire_wr_uint(&w, in->manifest_serial);
	wire_wr_cstr(&w, "log_head");
	wire_wr_bin(&w, in->log_head, sizeof(in->log_head));
	wire_wr_cstr(&w, "log_len");
	wire_wr_uint(&w, in->log_len);
	wire_wr_cstr(&w, "server_time_ms");
	wire_wr_uint(&w, in->server_time_ms);
	return wire_wr_finish(&w, out, len);
}

int ft_wire_welcome_decode(const uint8_t *body, size_t len, ft_wire_welcome *out)
{
	wire_rd r;
	ft_wire_welcome h;
	int rv;

	if (out == NULL)
		return FT_EINVAL;
	memset(&h, 0, sizeof(h));
	if (len > ft_wire_body_max(FT_WIRE_WELCOME))
		return FT_ERANGE;
	rv = wire_rd_init(&r, body, len, 2, 16);
	if (rv != FT_OK)
		return rv;
	TRY(wire_rd_map_n(&r, 4));
	TRY(wire_rd_key(&r, "manifest_serial"));
	TRY(wire_rd_uint(&r, 1, UINT64_MAX, &h.manifest_serial));
	TRY(wire_rd_key(&r, "log_head"));
	TRY(wire_rd_bin_fixed(&r, h.log_head, sizeof(h.log_head)));
	TRY(wire_rd_key(&r, "log_len"));
	TRY(wire_rd_uint(&r, 0, UINT64_MAX, &h.log_len));
	TRY(wire_rd_key(&r, "server_time_ms"));
	TRY(wire_rd_uint(&r, 0, UINT64_MAX, &h.server_time_ms));
	*out = h;
	return FT_OK;
fail:
	return dec_err(rv);
}

/* ---- ROUND_ANNOUNCE ------------------------------------------------------------- */

static int ids_increasing(const uint32_t *ids, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (ids[i] < 1 || ids[i] > FT_WIRE_SITE_ID_MAX)
			return 0;
		if (i > 0 && ids[i] <= ids[i - 1])
			return 0;
	}
	return 1;
}

static int announce_ok(const ft_wire_announce *a)
{
	const uint64_t dl[] = { a->train_ms, a->advertise_ms, a->shares_ms,
		                a->upload_ms, a->check_ms, a->unmask_ms };

	if (!wire_cstr_ok(a->run_id, 1, FT_WIRE_NAME_MAX) || a->model_len < 1 ||
	    a->model_len > MODEL_LEN_MAX)
		return 0;
	if (!wire_token_ok(a->kind, FT_WIRE_TOKEN_MAX) ||
	    !wire_token_ok(a->activation, FT_WIRE_TOKEN_MAX) ||
	    !wire_token_ok(a->optimiser, FT_WIRE_TOKEN_MAX))
		return 0;
	if (a->n_features < 1 || a->n_features > 65536 || a->n_classes > 1024 ||
	    a->n_hidden > FT_WIRE_MAX_HIDDEN)
		return 0;
	for (uint32_t i = 0; i < a->n_hidden; i++)
		if (a->hidden[i] < 1 || a->hidden[i] > 16384)
			return 0;
	if (!dbl_in(a->lr, 0, 100, 1) || a->epochs < 1 || a->epochs > 1000 || a->batch < 1 ||
	    a->batch > (1u << 20))
		return 0;
	if (!dbl_in(a->dp_clip, 0, 1e6, 1) || !dbl_in(a->dp_noise, 0, 1e6, 0) ||
	    !dbl_in(a->dp_delta, 0, 1, 1) || a->dp_delta >= 1 ||
	    !dbl_in(a->dp_max_epsilon, 0, 1e6, 1))
		return 0;
	if (a->n_sites < 2 || a->n_sites > FT_WIRE_MAX_SITES || !ids_increasing(a->sites, a->n_sites))
		return 0;
	/* The secure-aggregation limits (ft_secagg_config_check). */
	if (a->k < 1 || a->k > a->n_sites - 1 || (a->k % 2 != 0 && a->k != a->n_sites - 1) ||
	    a->t <= a->k / 2 || a->t > a->k)
		return 0;
	if (a->bits < 16 || a->bits > 32 || !dbl_in(a->fxp_clip, 0, 1e6, 1) || a->d < 1 ||
	    a->d > (1u << 28) || a->chunk < 1 || a->chunk > (1u << 20))
		return 0;
	for (size_t i = 0; i < sizeof(dl) / sizeof(dl[0]); i++)
		if (dl[i] < 1 || dl[i] > DEADLINE_MAX_MS)
			return 0;
	return a->plain_sum <= 1;
}

int ft_wire_announce_encode(const ft_wire_announce *in, uint8_t **out, size_t *len)
{
	wire_wr w;

	if (in == NULL || out == NULL || len == NULL || !announce_ok(in))
		return FT_EINVAL;
	wire_wr_init(&w, ft_wire_body_max(FT_WIRE_ROUND_ANNOUNCE));
	wire_wr_map(&w, 11 + in->plain_sum);
	wire_wr_cstr(&w, "run_id");
	wire_wr_cstr(&w, in->run_id);
	wire_wr_cstr(&w, "round");
	wire_wr_uint(&w, in->round);
	wire_wr_cstr(&w, "attempt");
	wire_wr_uint(&w, in->attempt);
	wire_wr_cstr(&w, "model_version");
	wire_wr_uint(&w, in->model_version);
	wire_wr_cstr(&w, "model_hash");
	wire_wr_bin(&w, in->model_hash, sizeof(in->model_hash));
	wire_wr_cstr(&w, "model_len");
	wire_wr_uint(&w, in->model_len);
	wire_wr_cstr(&w, "spec");
	wire_wr_map(&w, 5);
	wire_wr_cstr(&w, "kind");
	wire_wr_cstr(&w, in->kind);
	wire_wr_cstr(&w, "n_features");
	wire_wr_uint(&w, in->n_features);
	wire_wr_cstr(&w, "n_classes");
	wire_wr_uint(&w, in->n_classes);
	wire_wr_cstr(&w, "hidden");
	wire_wr_array(&w, in->n_hidden);
	for (uint32_t i = 0; i < in->n_hidden; i++)
		wire_wr_uint(&w, in->hidden[i]);
	wire_wr_cstr(&w, "activation");
	wire_wr_cstr(&w, in->activation);
	wire_wr_cstr(&w, "train");
	wire_wr_map(&w, 4);
	wire_wr_cstr(&w, "lr");
	wire_wr_double(&w, in->lr);
	wire_wr_cstr(&w, "epochs");
	wire_wr_uint(&w, in->epochs);
	wire_wr_cstr(&w, "batch");
	wire_wr_uint(&w, in->batch);
	wire_wr_cstr(&w, "optimiser");
	wire_wr_cstr(&w, in->optimiser);
	wire_wr_cstr(&w, "dp");
	wire_wr_map(&w, 4);
	wire_wr_cstr(&w, "clip");
	wire_wr_double(&w, in->dp_clip);
	wire_wr_cstr(&w, "noise_multiplier");
	wire_wr_double(&w, in->dp_noise);
	wire_wr_cstr(&w, "delta");
	wire_wr_double(&w, in->dp_delta);
	wire_wr_cstr(&w, "max_epsilon");
	wire_wr_double(&w, in->dp_max_epsilon);
	wire_wr_cstr(&w, "secagg");
	wire_wr_map(&w, 8);
	wire_wr_cstr(&w, "sites");
	wire_wr_array(&w, in->n_sites);
	for (uint32_t i = 0; i < in->n_sites; i++)
		wire_wr_uint(&w, in->sites[i]);
	wire_wr_cstr(&w, "t");
	wire_wr_uint(&w, in->t);
	wire_wr_cstr(&w, "k");
	wire_wr_uint(&w, in->k);
	wire_wr_cstr(&w, "bits");
	wire_wr_uint(&w, in->bits);
	wire_wr_cstr(&w, "clip");
	wire_wr_double(&w, in->fxp_clip);
	wire_wr_cstr(&w, "seed");
	wire_wr_bin(&w, in->seed, sizeof(in->seed));
	wire_wr_cstr(&w, "d");
	wire_wr_uint(&w, in->d);
	wire_wr_cstr(&w, "chunk");
	wire_wr_uint(&w, in->chunk);
	wire_wr_cstr(&w, "deadlines");
	wire_wr_map(&w, 6);
	wire_wr_cstr(&w, "train_ms");
	wire_wr_uint(&w, in->train_ms);
	wire_wr_cstr(&w, "advertise_ms");
	wire_wr_uint(&w, in->advertise_ms);
	wire_wr_cstr(&w, "shares_ms");
	wire_wr_uint(&w, in->shares_ms);
	wire_wr_cstr(&w, "upload_ms");
	wire_wr_uint(&w, in->upload_ms);
	wire_wr_cstr(&w, "check_ms");
	wire_wr_uint(&w, in->check_ms);
	wire_wr_cstr(&w, "unmask_ms");
	wire_wr_uint(&w, in->unmask_ms);
	if (in->plain_sum) {
		wire_wr_cstr(&w, "plain_sum");
		wire_wr_bool(&w, 1);
	}
	return wire_wr_finish(&w, out, len);
}

static int rd_token(wire_rd *r, char *out)
{
	int rv = wire_rd_text(r, 1, FT_WIRE_TOKEN_MAX, out);

	if (rv != FT_OK)
		return rv;
	return wire_token_ok(out, FT_WIRE_TOKEN_MAX) ? FT_OK : FT_EPROTO;
}

static int announce_read(wire_rd *r, ft_wire_announce *a)
{
	uint32_t n;
	int rv, plain;

#define RD(expr)                      \
	do {                          \
		rv = (expr);          \
		if (rv != FT_OK)      \
			return rv;    \
	} while (0)
	/* 11 keys, or 12 with the optional trailing plain_sum. */
	RD(wire_rd_map(r, &n));
	if (n != 11 && n != 12)
		return FT_EPROTO;
	plain = n == 12;
	RD(wire_rd_key(r, "run_id"));
	RD(wire_rd_text(r, 1, FT_WIRE_NAME_MAX, a->run_id));
	RD(wire_rd_key(r, "round"));
	RD(wire_rd_uint(r, 0, UINT64_MAX, &a->round));
	RD(wire_rd_key(r, "attempt"));
	RD(wire_rd_u32(r, 0, UINT32_MAX, &a->attempt));
	RD(wire_rd_key(r, "model_version"));
	RD(wire_rd_uint(r, 0, UINT64_MAX, &a->model_version));
	RD(wire_rd_key(r, "model_hash"));
	RD(wire_rd_bin_fixed(r, a->model_hash, sizeof(a->model_hash)));
	RD(wire_rd_key(r, "model_len"));
	RD(wire_rd_uint(r, 1, MODEL_LEN_MAX, &a->model_len));
	RD(wire_rd_key(r, "spec"));
	RD(wire_rd_map_n(r, 5));
	RD(wire_rd_key(r, "kind"));
	RD(rd_token(r, a->kind));
	RD(wire_rd_key(r, "n_features"));
	RD(wire_rd_u32(r, 1, 65536, &a->n_features));
	RD(wire_rd_key(r, "n_classes"));
	RD(wire_rd_u32(r, 0, 1024, &a->n_classes));
	RD(wire_rd_key(r, "hidden"));
	RD(wire_rd_array(r, &n));
	if (n > FT_WIRE_MAX_HIDDEN)
		return FT_ERANGE;
	a->n_hidden = n;
	for (uint32_t i = 0; i < n; i++)
		RD(wire_rd_u32(r, 1, 16384, &a->hidden[i]));
	RD(wire_rd_key(r, "activation"));
	RD(rd_token(r, a->activation));
	RD(wire_rd_key(r, "train"));
	RD(wire_rd_map_n(r, 4));
	RD(wire_rd_key(r, "lr"));
	RD(wire_rd_double(r, &a->lr));
	RD(wire_rd_key(r, "epochs"));
	RD(wire_rd_u32(r, 1, 1000, &a->epochs));
	RD(wire_rd_key(r, "batch"));
	RD(wire_rd_u32(r, 1, 1u << 20, &a->batch));
	RD(wire_rd_key(r, "optimiser"));
	RD(rd_token(r, a->optimiser));
	RD(wire_rd_key(r, "dp"));
	RD(wire_rd_map_n(r, 4));
	RD(wire_rd_key(r, "clip"));
	RD(wire_rd_double(r, &a->dp_clip));
	RD(wire_rd_key(r, "noise_multiplier"));
	RD(wire_rd_double(r, &a->dp_noise));
	RD(wire_rd_key(r, "delta"));
	RD(wire_rd_double(r, &a->dp_delta));
	RD(wire_rd_key(r, "max_epsilon"));
	RD(wire_rd_double(r, &a->dp_max_epsilon));
	RD(wire_rd_key(r, "secagg"));
	RD(wire_rd_map_n(r, 8));
	RD(wire_rd_key(r, "sites"));
	RD(wire_rd_array(r, &n));
	if (n > FT_WIRE_MAX_SITES)
		return FT_ERANGE;
	a->n_sites = n;
	for (uint32_t i = 0; i < n; i++)
		RD(wire_rd_u32(r, 1, FT_WIRE_SITE_ID_MAX, &a->sites[i]));
	RD(wire_rd_key(r, "t"));
	RD(wire_rd_u32(r, 1, FT_WIRE_MAX_SITES, &a->t));
	RD(wire_rd_key(r, "k"));
	RD(wire_rd_u32(r, 1, FT_WIRE_MAX_SITES, &a->k));
	RD(wire_rd_key(r, "bits"));
	RD(wire_rd_u32(r, 16, 32, &a->bits));
	RD(wire_rd_key(r, "clip"));
	RD(wire_rd_double(r, &a->fxp_clip));
	RD(wire_rd_key(r, "seed"));
	RD(wire_rd_bin_fixed(r, a->seed, sizeof(a->seed)));
	RD(wire_rd_key(r, "d"));
	RD(wire_rd_u32(r, 1, 1u << 28, &a->d));
	RD(wire_rd_key(r, "chunk"));
	RD(wire_rd_u32(r, 1, 1u << 20, &a->chunk));
	RD(wire_rd_key(r, "deadlines"));
	RD(wire_rd_map_n(r, 6));
	RD(wire_rd_key(r, "train_ms"));
	RD(wire_rd_uint(r, 1, DEADLINE_MAX_MS, &a->train_ms));
	RD(wire_rd_key(r, "advertise_ms"));
	RD(wire_rd_uint(r, 1, DEADLINE_MAX_MS, &a->advertise_ms));
	RD(wire_rd_key(r, "shares_ms"));
	RD(wire_rd_uint(r, 1, DEADLINE_MAX_MS, &a->shares_ms));
	RD(wire_rd_key(r, "upload_ms"));
	RD(wire_rd_uint(r, 1, DEADLINE_MAX_MS, &a->upload_ms));
	RD(wire_rd_key(r, "check_ms"));
	RD(wire_rd_uint(r, 1, DEADLINE_MAX_MS, &a->check_ms));
	RD(wire_rd_key(r, "unmask_ms"));
	RD(wire_rd_uint(r, 1, DEADLINE_MAX_MS, &a->unmask_ms));
	if (plain) {
		int v;

		RD(wire_rd_key(r, "plain_sum"));
		RD(wire_rd_bool(r, &v));
		/* Only true is sent: false has one encoding, the key's absence. */
		if (!v)
			return FT_EPROTO;
		a->plain_sum = 1;
	}
#undef RD
	return announce_ok(a) ? FT_OK : FT_EPROTO;
}

int ft_wire_announce_decode(const uint8_t *body, size_t len, ft_wire_announce *out)
{
	wire_rd r;
	ft_wire_announce a;
	int rv;

	if (out == NULL)
		return FT_EINVAL;
	if (len > ft_wire_body_max(FT_WIRE_ROUND_ANNOUNCE))
		return FT_ERANGE;
	rv = wire_rd_init(&r, body, len, 4, 130 + 2 * FT_WIRE_MAX_SITES);
	if (rv != FT_OK)
		return rv;
	/* About 4 KiB on the stack: no allocation, *out written only on FT_OK. */
	memset(&a, 0, sizeof(a));
	rv = announce_read(&r, &a);
	if (rv != FT_OK)
		return dec_err(rv);
	*out = a;
	return FT_OK;
}

/* ---- ROUND_ACCEPT ---------------------------------------------------------------- */

int ft_wire_accept_encode(const ft_wire_accept *in, uint8_t **out, size_t *len)
{
	wire_wr w;

	if (in == NULL || out == NULL || len == NULL || !anchor_ok(in->log_len, in->log_head))
		return FT_EINVAL;
	wire_wr_init(&w, ft_wire_body_max(FT_WIRE_ROUND_ACCEPT));
	wire_wr_map(&w, 1 + anchor_keys(in->log_len));
	wire_wr_cstr(&w, "model_hash");
	wire_wr_bin(&w, in->model_hash, sizeof(in->model_hash));
	anchor_wr(&w, in->log_len, in->log_head);
	return wire_wr_finish(&w, out, len);
}

int ft_wire_accept_decode(const uint8_t *body, size_t len, ft_wire_accept *out)
{
	wire_rd r;
	ft_wire_accept a;
	int rv, has;

	if (out == NULL)
		return FT_EINVAL;
	memset(&a, 0, sizeof(a));
	if (len > ft_wire_body_max(FT_WIRE_ROUND_ACCEPT))
		return FT_ERANGE;
	rv = wire_rd_init(&r, body, len, 2, 8);
	if (rv != FT_OK)
		return rv;
	TRY(anchor_map(&r, 1, &has));
	TRY(wire_rd_key(&r, "model_hash"));
	TRY(wire_rd_bin_fixed(&r, a.model_hash, sizeof(a.model_hash)));
	TRY(anchor_rd(&r, has, &a.log_len, a.log_head));
	*out = a;
	return FT_OK;
fail:
	return dec_err(rv);
}

/* ---- ROUND_REFUSE, ERROR, BYE ----------------------------------------------------- */

int ft_wire_notice_encode(const ft_wire_notice *in, uint8_t **out, size_t *len)
{
	wire_wr w;

	if (in == NULL || out == NULL || len == NULL || !wire_cstr_ok(in->text, 0, FT_WIRE_TEXT_MAX) ||
	    !anchor_ok(in->log_len, in->log_head))
		return FT_EINVAL;
	wire_wr_init(&w, ft_wire_body_max(FT_WIRE_ERROR));
	wire_wr_map(&w, 2 + anchor_keys(in->log_len));
	wire_wr_cstr(&w, "code");
	wire_wr_uint(&w, in->code);
	wire_wr_cstr(&w, "text");
	wire_wr_cstr(&w, in->text);
	anchor_wr(&w, in->log_len, in->log_head);
	return wire_wr_finish(&w, out, len);
}

int ft_wire_notice_decode(const uint8_t *body, size_t len, ft_wire_notice *out)
{
	wire_rd r;
	ft_wire_notice n;
	int rv, has;

	if (out == NULL)
		return FT_EINVAL;
	memset(&n, 0, sizeof(n));
	if (len > ft_wire_body_max(FT_WIRE_ERROR))
		return FT_ERANGE;
	rv = wire_rd_init(&r, body, len, 2, 12);
	if (rv != FT_OK)
		return rv;
	TRY(anchor_map(&r, 2, &has));
	TRY(wire_rd_key(&r, "code"));
	TRY(wire_rd_u32(&r, 0, UINT32_MAX, &n.code));
	TRY(wire_rd_key(&r, "text"));
	TRY(wire_rd_text(&r, 0, FT_WIRE_TEXT_MAX, n.text));
	TRY(anchor_rd(&r, has, &n.log_len, n.log_head));
	*out = n;
	return FT_OK;
fail:
	return dec_err(rv);
}

/* ---- SECAGG -------------------------------------------------------------------- */

/* Room for the map, the keys and the anchor pair within the body limit. */
#define SECAGG_MSG_MAX (FT_WIRE_SECAGG_MAX - 96u)

int ft_wire_secagg_encode(const ft_wire_secagg *in, uint8_t **out, size_t *len)
{
	wire_wr w;

	if (in == NULL || out == NULL || len == NULL || in->msg == NULL || in->len < 1 ||
	    in->len > SECAGG_MSG_MAX || !anchor_ok(in->log_len, in->log_head))
		return FT_EINVAL;
	wire_wr_init(&w, ft_wire_body_max(FT_WIRE_SECAGG));
	wire_wr_map(&w, 1 + anchor_keys(in->log_len));
	wire_wr_cstr(&w, "msg");
	wire_wr_bin(&w, in->msg, in->len);
	anchor_wr(&w, in->log_len, in->log_head);
	return wire_wr_finish(&w, out, len);
}

int ft_wire_secagg_decode(const uint8_t *body, size_t len, ft_wire_secagg *out)
{
	wire_rd r;
	ft_wire_secagg s;
	int rv, has;

	if (out == NULL)
		return FT_EINVAL;
	memset(&s, 0, sizeof(s));
	if (len > ft_wire_body_max(FT_WIRE_SECAGG))
		return FT_ERANGE;
	rv = wire_rd_init(&r, body, len, 2, 8);
	if (rv != FT_OK)
		return rv;
	TRY(anchor_map(&r, 1, &has));
	TRY(wire_rd_key(&r, "msg"));
	TRY(wire_rd_bin(&r, SECAGG_MSG_MAX, &s.msg, &s.len));
	if (s.len < 1)
		return FT_EPROTO;
	TRY(anchor_rd(&r, has, &s.log_len, s.log_head));
	*out = s;
	return FT_OK;
fail:
	return dec_err(rv);
}

/* ---- MODEL_CHUNK ------------------------------------------------------------------ */

static int chunk_ok(const ft_wire_chunk *c)
{
	return c->data != NULL && c->len >= 1 && c->len <= FT_WIRE_CHUNK_MAX && c->total >= 1 &&
	       c->total <= MODEL_LEN_MAX && c->offset < c->total && c->len <= c->total - c->offset;
}

int ft_wire_chunk_encode(const ft_wire_chunk *in, uint8_t **out, size_t *len)
{
	wire_wr w;

	if (in == NULL || out == NULL || len == NULL || !chunk_ok(in))
		return FT_EINVAL;
	wire_wr_init(&w, ft_wire_body_max(FT_WIRE_MODEL_CHUNK));
	wire_wr_map(&w, 5);
	wire_wr_cstr(&w, "model_version");
	wire_wr_uint(&w, in->model_version);
	wire_wr_cstr(&w, "offset");
	wire_wr_uint(&w, in->offset);
	wire_wr_cstr(&w, "total");
	wire_wr_uint(&w, in->total);
	wire_wr_cstr(&w, "hash");
	wire_wr_bin(&w, in->hash, sizeof(in->hash));
	wire_wr_cstr(&w, "data");
	wire_wr_bin(&w, in->data, in->len);
	return wire_wr_finish(&w, out, len);
}

int ft_wire_chunk_decode(const uint8_t *body, size_t len, ft_wire_chunk *out)
{
	wire_rd r;
	ft_wire_chunk c;
	int rv;

	if (out == NULL)
		return FT_EINVAL;
	memset(&c, 0, sizeof(c));
	if (len > ft_wire_body_max(FT_WIRE_MODEL_CHUNK))
		return FT_ERANGE;
	rv = wire_rd_init(&r, body, len, 2, 16);
	if (rv != FT_OK)
		return rv;
	TRY(wire_rd_map_n(&r, 5));
	TRY(wire_rd_key(&r, "model_version"));
	TRY(wire_rd_uint(&r, 0, UINT64_MAX, &c.model_version));
	TRY(wire_rd_key(&r, "offset"));
	TRY(wire_rd_uint(&r, 0, MODEL_LEN_MAX - 1, &c.offset));
	TRY(wire_rd_key(&r, "total"));
	TRY(wire_rd_uint(&r, 1, MODEL_LEN_MAX, &c.total));
	TRY(wire_rd_key(&r, "hash"));
	TRY(wire_rd_bin_fixed(&r, c.hash, sizeof(c.hash)));
	TRY(wire_rd_key(&r, "data"));
	TRY(wire_rd_bin(&r, FT_WIRE_CHUNK_MAX, &c.data, &c.len));
	if (!chunk_ok(&c))
		return FT_EPROTO;
	*out = c;
	return FT_OK;
fail:
	return dec_err(rv);
}

/* ---- ROUND_RESULT ------------------------------------------------------------------ */

static int metric_name_ok(const char *s)
{
	return wire_token_ok(s, METRIC_NAME_MAX);
}

static int result_ok(const ft_wire_result *res)
{
	if (res->model_len < 1 || res->model_len > MODEL_LEN_MAX ||
	    res->n_survivors > FT_WIRE_MAX_SITES || !ids_increasing(res->survivors, res->n_survivors) ||
	    res->n_metrics > FT_WIRE_MAX_METRICS || !anchor_ok(res->log_len, res->log_head))
		return 0;
	for (uint32_t i = 0; i < res->n_metrics; i++) {
		const char *a = res->metrics[i].name;

		if (!metric_name_ok(a) || !isfinite(res->metrics[i].value))
			return 0;
		/* sorted and unique: one encoding per result */
		if (i > 0 && strcmp(res->metrics[i - 1].name, a) >= 0)
			return 0;
	}
	return 1;
}

int ft_wire_result_encode(const ft_wire_result *in, uint8_t **out, size_t *len)
{
	wire_wr w;

	if (in == NULL || out == NULL || len == NULL || !result_ok(in))
		return FT_EINVAL;
	wire_wr_init(&w, ft_wire_body_max(FT_WIRE_ROUND_RESULT));
	wire_wr_map(&w, 5 + anchor_keys(in->log_len));
	wire_wr_cstr(&w, "model_version");
	wire_wr_uint(&w, in->model_version);
	wire_wr_cstr(&w, "model_hash");
	wire_wr_bin(&w, in->model_hash, sizeof(in->model_hash));
	wire_wr_cstr(&w, "model_len");
	wire_wr_uint(&w, in->model_len);
	wire_wr_cstr(&w, "survivors");
	wire_wr_array(&w, in->n_survivors);
	for (uint32_t i = 0; i < in->n_survivors; i++)
		wire_wr_uint(&w, in->survivors[i]);
	wire_wr_cstr(&w, "metrics");
	wire_wr_map(&w, in->n_metrics);
	for (uint32_t i = 0; i < in->n_metrics; i++) {
		wire_wr_cstr(&w, in->metrics[i].name);
		wire_wr_double(&w, in->metrics[i].value);
	}
	anchor_wr(&w, in->log_len, in->log_head);
	return wire_wr_finish(&w, out, len);
}

static int result_read(wire_rd *r, ft_wire_result *res)
{
	uint32_t n;
	int rv, has;

	TRY(anchor_map(r, 5, &has));
	TRY(wire_rd_key(r, "model_version"));
	TRY(wire_rd_uint(r, 0, UINT64_MAX, &res->model_version));
	TRY(wire_rd_key(r, "model_hash"));
	TRY(wire_rd_bin_fixed(r, res->model_hash, sizeof(res->model_hash)));
	TRY(wire_rd_key(r, "model_len"));
	TRY(wire_rd_uint(r, 1, MODEL_LEN_MAX, &res->model_len));
	TRY(wire_rd_key(r, "survivors"));
	TRY(wire_rd_array(r, &n));
	if (n > FT_WIRE_MAX_SITES)
		return FT_ERANGE;
	res->n_survivors = n;
	for (uint32_t i = 0; i < n; i++) {
		rv = wire_rd_u32(r, 1, FT_WIRE_SITE_ID_MAX, &res->survivors[i]);
		if (rv != FT_OK)
			return rv;
	}
	TRY(wire_rd_key(r, "metrics"));
	TRY(wire_rd_map(r, &n));
	if (n > FT_WIRE_MAX_METRICS)
		return FT_ERANGE;
	res->n_metrics = n;
	for (uint32_t i = 0; i < n; i++) {
		rv = wire_rd_text(r, 1, METRIC_NAME_MAX, res->metrics[i].name);
		if (rv != FT_OK)
			return rv;
		rv = wire_rd_double(r, &res->metrics[i].value);
		if (rv != FT_OK)
			return rv;
	}
	TRY(anchor_rd(r, has, &res->log_len, res->log_head));
	return result_ok(res) ? FT_OK : FT_EPROTO;
fail:
	return rv;
}

int ft_wire_result_decode(const uint8_t *body, size_t len, ft_wire_result *out)
{
	wire_rd r;
	ft_wire_result res;
	int rv;

	if (out == NULL)
		return FT_EINVAL;
	if (len > ft_wire_body_max(FT_WIRE_ROUND_RESULT))
		return FT_ERANGE;
	rv = wire_rd_init(&r, body, len, 3, 20 + FT_WIRE_MAX_SITES + 2 * FT_WIRE_MAX_METRICS);
	if (rv != FT_OK)
		return rv;
	memset(&res, 0, sizeof(res));
	rv = result_read(&r, &res);
	if (rv != FT_OK)
		return dec_err(rv);
	*out = res;
	return FT_OK;
}

/* ---- STATS_REQUEST ----------------------------------------------------------------- */

static int names_unique(const char (*names)[FT_WIRE_NAME_MAX + 1], uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t j = 0; j < i; j++)
			if (strcmp(names[i], names[j]) == 0)
				return 0;
	return 1;
}

static int stats_request_ok(const ft_wire_stats_request *q)
{
	if (q->n_columns < 1 || q->n_columns > FT_WIRE_MAX_COLUMNS || q->max_levels < 1 ||
	    q->max_levels > FT_WIRE_MAX_LEVELS)
		return 0;
	for (uint32_t i = 0; i < q->n_columns; i++)
		if (!wire_cstr_ok(q->columns[i], 1, FT_WIRE_NAME_MAX))
			return 0;
	return names_unique(q->columns, q->n_columns);
}

int ft_wire_stats_request_encode(const ft_wire_stats_request *in, uint8_t **out, size_t *len)
{
	wire_wr w;

	if (in == NULL || out == NULL || len == NULL || !stats_request_ok(in))
		return FT_EINVAL;
	wire_wr_init(&w, ft_wire_body_max(FT_WIRE_STATS_REQUEST));
	wire_wr_map(&w, 2);
	wire_wr_cstr(&w, "columns");
	wire_wr_array(&w, in->n_columns);
	for (uint32_t i = 0; i < in->n_columns; i++)
		wire_wr_cstr(&w, in->columns[i]);
	wire_wr_cstr(&w, "max_levels");
	wire_wr_uint(&w, in->max_levels);
	return wire_wr_finish(&w, out, len);
}

int ft_wire_stats_request_decode(const uint8_t *body, size_t len, ft_wire_stats_request *out)
{
	wire_rd r;
	ft_wire_stats_request qs, *q = &qs;
	uint32_t n;
	int rv;

	if (out == NULL)
		return FT_EINVAL;
	if (len > ft_wire_body_max(FT_WIRE_STATS_REQUEST))
		return FT_ERANGE;
	rv = wire_rd_init(&r, body, len, 3, 8 + FT_WIRE_MAX_COLUMNS);
	if (rv != FT_OK)
		return rv;
	memset(&qs, 0, sizeof(qs));
	TRY(wire_rd_map_n(&r, 2));
	TRY(wire_rd_key(&r, "columns"));
	TRY(wire_rd_array(&r, &n));
	if (n > FT_WIRE_MAX_COLUMNS) {
		rv = FT_ERANGE;
		goto fail;
	}
	q->n_columns = n;
	for (uint32_t i = 0; i < n; i++) {
		rv = wire_rd_text(&r, 1, FT_WIRE_NAME_MAX, q->columns[i]);
		if (rv != FT_OK)
			goto fail;
	}
	TRY(wire_rd_key(&r, "max_levels"));
	TRY(wire_rd_u32(&r, 1, FT_WIRE_MAX_LEVELS, &q->max_levels));
	if (!stats_request_ok(q)) {
		rv = FT_EPROTO;
		goto fail;
	}
	*out = *q;
fail:
	return rv == FT_OK ? FT_OK : dec_err(rv);
}

/* ---- STATS ------------------------------------------------------------------------- */

/* Levels are sorted bytewise ascending and unique; names are printable. */
static int stats_ok(const ft_wire_stats *s)
{
	if (s->columns == NULL || s->n_columns < 1 || s->n_columns > FT_WIRE_MAX_COLUMNS)
		return 0;
	for (uint32_t i = 0; i < s->n_columns; i++) {
		const ft_wire_stats_column *c = &s->columns[i];

		if (!wire_cstr_ok(c->name, 1, FT_WIRE_NAME_MAX) || c->n_levels > FT_WIRE_MAX_LEVELS ||
		    (c->n_levels > 0 && c->levels == NULL))
			return 0;
		for (uint32_t j = 0; j < i; j++)
			if (strcmp(s->columns[j].name, c->name) == 0)
				return 0;
		for (uint32_t j = 0; j < c->n_levels; j++) {
			if (!wire_cstr_ok(c->levels[j], 1, FT_WIRE_NAME_MAX))
				return 0;
			if (j > 0 && strcmp(c->levels[j - 1], c->levels[j]) >= 0)
				return 0;
		}
	}
	return 1;
}

int ft_wire_stats_encode(const ft_wire_stats *in, uint8_t **out, size_t *len)
{
	wire_wr w;

	if (in == NULL || out == NULL || len == NULL || !stats_ok(in))
		return FT_EINVAL;
	wire_wr_init(&w, ft_wire_body_max(FT_WIRE_STATS));
	wire_wr_map(&w, 1);
	wire_wr_cstr(&w, "columns");
	wire_wr_array(&w, in->n_columns);
	for (uint32_t i = 0; i < in->n_columns; i++) {
		const ft_wire_stats_column *c = &in->columns[i];

		wire_wr_array(&w, 2);
		wire_wr_cstr(&w, c->name);
		wire_wr_array(&w, c->n_levels);
		for (uint32_t j = 0; j < c->n_levels; j++)
			wire_wr_cstr(&w, c->levels[j]);
	}
	return wire_wr_finish(&w, out, len);
}

/*
 * One pass over the columns. With `s` NULL it validates and sums the
 * sizes the decoded object needs; with `s` it fills the object laid out by
 * the sizes the first pass found.
 */
static int stats_pass(wire_rd *r, ft_wire_stats *s, size_t *n_levels_total, size_t *n_bytes)
{
	uint32_t n_cols, n;
	size_t levels_used = 0, bytes_used = 0;
	ft_wire_stats_column *cols = NULL;
	const char **lv = NULL;
	char *text = NULL;
	int rv;

	TRY(wire_rd_map_n(r, 1));
	TRY(wire_rd_key(r, "columns"));
	TRY(wire_rd_array(r, &n_cols));
	if (n_cols < 1)
		return FT_EPROTO;
	if (n_cols > FT_WIRE_MAX_COLUMNS)
		return FT_ERANGE;
	if (s != NULL) {
		cols = (ft_wire_stats_column *)(s + 1);
		lv = (const char **)(cols + n_cols);
		text = (char *)(lv + *n_levels_total);
		s->n_columns = n_cols;
		s->columns = cols;
	}
	for (uint32_t i = 0; i < n_cols; i++) {
		const char *str, *prev = NULL;
		size_t slen, prev_len = 0;

		TRY(wire_rd_array(r, &n));
		if (n != 2)
			return FT_EPROTO;
		TRY(wire_rd_str(r, FT_WIRE_NAME_MAX, &str, &slen));
		if (slen < 1 || !wire_text_ok(str, slen) || memchr(str, '\0', slen) != NULL)
			return FT_EPROTO;
		if (s != NULL) {
			memcpy(text + bytes_used, str, slen);
			text[bytes_used + slen] = '\0';
			cols[i].name = text + bytes_used;
			for (uint32_t j = 0; j < i; j++)
				if (strcmp(cols[j].name, cols[i].name) == 0)
					return FT_EPROTO;
		}
		bytes_used += slen + 1;
		TRY(wire_rd_array(r, &n));
		if (n > FT_WIRE_MAX_LEVELS)
			return FT_ERANGE;
		if (s != NULL) {
			cols[i].n_levels = n;
			cols[i].levels = lv + levels_used;
		}
		for (uint32_t j = 0; j < n; j++) {
			TRY(wire_rd_str(r, FT_WIRE_NAME_MAX, &str, &slen));
			if (slen < 1 || !wire_text_ok(str, slen))
				return FT_EPROTO;
			if (prev != NULL && bytes_cmp(prev, prev_len, str, slen) >= 0)
				return FT_EPROTO; /* not sorted or a duplicate */
			prev = str;
			prev_len = slen;
			if (s != NULL) {
				memcpy(text + bytes_used, str, slen);
				text[bytes_used + slen] = '\0';
				lv[levels_used] = text + bytes_used;
			}
			bytes_used += slen + 1;
			levels_used++;
		}
	}
	*n_levels_total = levels_used;
	*n_bytes = bytes_used;
	return FT_OK;
fail:
	return rv;
}

int ft_wire_stats_decode(const uint8_t *body, size_t len, ft_wire_stats **out)
{
	wire_rd r, r2;
	ft_wire_stats *s = NULL;
	size_t n_levels = 0, n_bytes = 0, size;
	uint32_t n_cols;
	int rv;

	if (out == NULL)
		return FT_EINVAL;
	if (len > ft_wire_body_max(FT_WIRE_STATS))
		return FT_ERANGE;
	rv = wire_rd_init(&r, body, len, 5,
	                  4 + FT_WIRE_MAX_COLUMNS * (4 + (size_t)FT_WIRE_MAX_LEVELS));
	if (rv != FT_OK)
		return rv;
	r2 = r;
	rv = stats_pass(&r, NULL, &n_levels, &n_bytes);
	if (rv != FT_OK)
		return dec_err(rv);
	/* Bounded by the limits above (64 columns, 256 levels of <= 64 bytes). */
	n_cols = 0;
	{
		wire_rd peek = r2;
		uint32_t m;

		if (wire_rd_map_n(&peek, 1) != FT_OK || wire_rd_key(&peek, "columns") != FT_OK ||
		    wire_rd_array(&peek, &m) != FT_OK)
			return FT_EINTERNAL;
		n_cols = m;
	}
	size = sizeof(ft_wire_stats) + n_cols * sizeof(ft_wire_stats_column) +
	       n_levels * sizeof(char *) + n_bytes;
	s = ft_calloc(1, size);
	if (s == NULL)
		return FT_ENOMEM;
	rv = stats_pass(&r2, s, &n_levels, &n_bytes);
	if (rv != FT_OK) {
		ft_free(s);
		return dec_err(rv);
	}
	*out = s;
	return FT_OK;
}

void ft_wire_stats_free(ft_wire_stats *s)
{
	ft_free(s);
}
