/*
 * transport_body.c - bodies of requests and replies: length-prefixed wire
 * envelopes, capped in size and count. Input is hostile: every length is
 * checked against what remains before anything is read.
 */
#include <string.h>

#include "ft_transport.h"

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
	n = ft_get_le32(body + *off);
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
	ft_put_le32(b->buf + b->len, (uint32_t)len);
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
