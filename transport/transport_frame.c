/*
 * transport_frame.c - signed frames and length-prefixed bodies of frames
 * (docs/PROTOCOL.md, "Round protocol and transport"). Input is hostile: every
 * length is checked against what remains before anything is read.
 */
#include <string.h>

#include "ft_transport.h"

static const uint8_t frame_magic[4] = {'F', 'T', 'N', (uint8_t)FT_TRANSPORT_VERSION};

const char *ft_transport_type_name(unsigned type)
{
	static const char *const names[] = {
		"?", "HELLO", "WELCOME", "CHALLENGE", "ROUND_ANNOUNCE", "ROUND_ACCEPT",
		"ROUND_REFUSE", "SECAGG", "MODEL_CHUNK", "ROUND_RESULT", "ERROR", "BYE"};

	if (type > FT_TRANSPORT_TYPE_MAX_)
		return "?";
	return names[type];
}

int ft_transport_frame_seal(const ft_transport_frame *f, const ft_crypto_identity *id,
                            uint8_t **buf, size_t *len)
{
	uint8_t *b = NULL, *p;
	size_t n;
	int rv;

	if (f == NULL || id == NULL || buf == NULL || len == NULL ||
	    (f->payload_len > 0 && f->payload == NULL))
		return FT_EINVAL;
	if (f->type == 0 || f->type > FT_TRANSPORT_TYPE_MAX_)
		return FT_EINVAL;
	if (f->payload_len > FT_TRANSPORT_MAX_MSG - FT_TRANSPORT_FRAME_OVERHEAD - 4)
		return FT_ERANGE;
	n = FT_TRANSPORT_FRAME_OVERHEAD + f->payload_len;
	b = ft_malloc(n);
	if (b == NULL)
		return FT_ENOMEM;
	p = b;
	memcpy(p, frame_magic, 4);
	p[4] = f->type;
	p[5] = 0;
	p[6] = 0;
	p[7] = 0;
	ft_store_le32(p + 8, f->sender);
	memcpy(p + 12, f->session, FT_TRANSPORT_SESSION_BYTES);
	ft_store_le64(p + 28, f->run);
	ft_store_le64(p + 36, f->round);
	ft_store_le32(p + 44, f->attempt);
	ft_store_le64(p + 48, f->seq);
	ft_store_le32(p + 56, f->payload_len);
	if (f->payload_len > 0)
		memcpy(p + FT_TRANSPORT_HDR_BYTES, f->payload, f->payload_len);
	rv = ft_crypto_identity_sign(id, b, FT_TRANSPORT_HDR_BYTES + f->payload_len,
	                             b + FT_TRANSPORT_HDR_BYTES + f->payload_len);
	if (rv != FT_OK) {
		ft_free(b);
		return rv;
	}
	*buf = b;
	*len = n;
	return FT_OK;
}

int ft_transport_frame_parse(const uint8_t *buf, size_t len, ft_transport_frame *out)
{
	ft_transport_frame f;

	if (buf == NULL || out == NULL || len < FT_TRANSPORT_FRAME_OVERHEAD)
		return FT_EPROTO;
	if (memcmp(buf, frame_magic, 4) != 0 || buf[5] != 0 || buf[6] != 0 || buf[7] != 0)
		return FT_EPROTO;
	memset(&f, 0, sizeof(f));
	f.type = buf[4];
	if (f.type == 0 || f.type > FT_TRANSPORT_TYPE_MAX_)
		return FT_EPROTO;
	f.sender = ft_load_le32(buf + 8);
	memcpy(f.session, buf + 12, FT_TRANSPORT_SESSION_BYTES);
	f.run = ft_load_le64(buf + 28);
	f.round = ft_load_le64(buf + 36);
	f.attempt = ft_load_le32(buf + 44);
	f.seq = ft_load_le64(buf + 48);
	f.payload_len = ft_load_le32(buf + 56);
	if ((size_t)f.payload_len != len - FT_TRANSPORT_FRAME_OVERHEAD)
		return FT_EPROTO;
	f.payload = buf + FT_TRANSPORT_HDR_BYTES;
	*out = f;
	return FT_OK;
}

int ft_transport_frame_verify(const uint8_t *buf, size_t len,
                              const uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES])
{
	if (buf == NULL || pk == NULL || len < FT_TRANSPORT_FRAME_OVERHEAD)
		return FT_EPROTO;
	return ft_crypto_verify(pk, buf, len - FT_CRYPTO_SIG_BYTES,
	                        buf + len - FT_CRYPTO_SIG_BYTES) == FT_OK ? FT_OK : FT_ECRYPTO;
}

int ft_transport_body_next(const uint8_t *body, size_t len, size_t *off, const uint8_t **frame,
                           size_t *frame_len)
{
	uint32_t n;

	if (off == NULL || frame == NULL || frame_len == NULL || (body == NULL && len > 0))
		return FT_EINVAL;
	if (*off == len)
		return FT_ENOTFOUND;
	if (*off > len || len - *off < 4)
		return FT_EPROTO;
	n = ft_load_le32(body + *off);
	if (n > len - *off - 4)
		return FT_EPROTO;
	*frame = body + *off + 4;
	*frame_len = n;
	*off += 4 + (size_t)n;
	return FT_OK;
}

int ft_transport_body_add(ft_transport_body *b, const uint8_t *frame, size_t len)
{
	size_t need;

	if (b == NULL || frame == NULL)
		return FT_EINVAL;
	if (len > FT_TRANSPORT_MAX_MSG - 4 || b->len > FT_TRANSPORT_MAX_MSG - 4 - len ||
	    b->n_frames >= FT_TRANSPORT_MAX_FRAMES)
		return FT_ERANGE;
	need = b->len + 4 + len;
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *nb;

		while (cap < need)
			cap *= 2;
		if (cap > FT_TRANSPORT_MAX_MSG)
			cap = FT_TRANSPORT_MAX_MSG;
		nb = ft_reallocarray(b->buf, cap, 1);
		if (nb == NULL)
			return FT_ENOMEM;
		b->buf = nb;
		b->cap = cap;
	}
	ft_store_le32(b->buf + b->len, (uint32_t)len);
	memcpy(b->buf + b->len + 4, frame, len);
	b->len = need;
	b->n_frames++;
	return FT_OK;
}

void ft_transport_body_reset(ft_transport_body *b)
{
	if (b == NULL)
		return;
	b->len = 0;
	b->n_frames = 0;
}

void ft_transport_body_free(ft_transport_body *b)
{
	if (b == NULL)
		return;
	ft_free(b->buf);
	memset(b, 0, sizeof(*b));
}
