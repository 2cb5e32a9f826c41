/*
 * ft_msgpack.c - bounded validation of one msgpack object before anything
 * unpacks it.
 *
 * msgpack-c 4.0.0 reserves memory for the element count that a container
 * header claims, so a 5-byte array header can make it reserve about 256 MiB.
 * Every decoder of untrusted msgpack calls ft_msgpack_check() first: it walks
 * the object with an explicit stack (no recursion, no allocation), refuses
 * any count or length that the remaining bytes cannot back, and bounds the
 * nesting depth and the number of objects. After it returns FT_OK, reading
 * the object cannot run past `consumed` bytes.
 */
#include "ft_base.h"

/* Deepest nesting ft_msgpack_check supports; callers ask for far less. */
#define MP_STACK_MAX 64u

static uint64_t load_be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/*
 * Decodes the header at buf[pos]: how many header bytes follow the tag
 * (`hdr`), how many payload bytes (`skip`) and how many child objects
 * (`children`) the object has. Returns FT_OK or FT_EFORMAT.
 */
static int mp_header(const uint8_t *buf, size_t len, size_t pos, size_t *hdr, uint64_t *skip,
                     uint64_t *children)
{
	uint8_t b = buf[pos];
	size_t left = len - pos - 1; /* bytes after the tag */
	unsigned n = 0;              /* bytes of length/count after the tag */
	int kind = 0;                /* 0 fixed payload, 1 str/bin, 2 ext, 3 array, 4 map */
	uint64_t fixed = 0;

	*hdr = 0;
	*skip = 0;
	*children = 0;
	if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
		return FT_OK;
	if (b >= 0xa0 && b <= 0xbf) {
		*skip = b & 0x1fu;
		return *skip <= left ? FT_OK : FT_EFORMAT;
	}
	if (b >= 0x80 && b <= 0x8f) {
		*children = 2u * (b & 0x0fu);
		return FT_OK;
	}
	if (b >= 0x90 && b <= 0x9f) {
		*children = b & 0x0fu;
		return FT_OK;
	}
	switch (b) {
	case 0xc4: n = 1; kind = 1; break; /* bin 8/16/32 */
	case 0xc5: n = 2; kind = 1; break;
	case 0xc6: n = 4; kind = 1; break;
	case 0xc7: n = 1; kind = 2; break; /* ext 8/16/32 */
	case 0xc8: n = 2; kind = 2; break;
	case 0xc9: n = 4; kind = 2; break;
	case 0xca: fixed = 4; break;       /* float 32/64 */
	case 0xcb: fixed = 8; break;
	case 0xcc: case 0xd0: fixed = 1; break;
	case 0xcd: case 0xd1: fixed = 2; break;
	case 0xce: case 0xd2: fixed = 4; break;
	case 0xcf: case 0xd3: fixed = 8; break;
	case 0xd4: fixed = 2; break;       /* fixext 1/2/4/8/16: type + data */
	case 0xd5: fixed = 3; break;
	case 0xd6: fixed = 5; break;
	case 0xd7: fixed = 9; break;
	case 0xd8: fixed = 17; break;
	case 0xd9: n = 1; kind = 1; break; /* str 8/16/32 */
	case 0xda: n = 2; kind = 1; break;
	case 0xdb: n = 4; kind = 1; break;
	case 0xdc: n = 2; kind = 3; break; /* array 16/32 */
	case 0xdd: n = 4; kind = 3; break;
	case 0xde: n = 2; kind = 4; break; /* map 16/32 */
	case 0xdf: n = 4; kind = 4; break;
	default:
		return FT_EFORMAT; /* 0xc1: never used */
	}
	if (n == 0) {
		*skip = fixed;
		return fixed <= left ? FT_OK : FT_EFORMAT;
	}
	if (n > left)
		return FT_EFORMAT;
	fixed = load_be(buf + pos + 1, n);
	left -= n;
	*hdr = n;
	switch (kind) {
	case 1:
		*skip = fixed;
		break;
	case 2: /* the type byte, then the data */
		if (fixed > UINT64_MAX - 1)
			return FT_EFORMAT;
		*skip = fixed + 1;
		break;
	case 3:
		*children = fixed;
		break;
	default:
		*children = 2 * fixed; /* fixed < 2^32: no overflow */
		break;
	}
	return *skip <= left ? FT_OK : FT_EFORMAT;
}

int ft_msgpack_check(const uint8_t *buf, size_t len, unsigned max_depth, size_t max_items,
                     size_t *consumed)
{
	/* remaining[d]: objects still to read in the container open at depth d
	 * (depth 0 is a virtual container holding the one top-level object). */
	uint64_t remaining[MP_STACK_MAX + 1];
	unsigned depth = 0;
	size_t pos = 0, items = 0;

	if (buf == NULL && len > 0)
		return FT_EINVAL;
	if (max_depth > MP_STACK_MAX)
		max_depth = MP_STACK_MAX;
	remaining[0] = 1;
	while (depth > 0 || remaining[0] > 0) {
		size_t hdr;
		uint64_t skip, children;
		int rv;

		if (remaining[depth] == 0) {
			depth--; /* this container is complete */
			continue;
		}
		remaining[depth]--;
		/* The object being read sits at depth + 1. */
		if (depth + 1 > max_depth)
			return FT_EFORMAT;
		items++;
		if (items > max_items)
			return FT_ERANGE;
		if (pos >= len)
			return FT_EFORMAT;
		rv = mp_header(buf, len, pos, &hdr, &skip, &children);
		if (rv != FT_OK)
			return rv;
		pos += 1 + hdr + (size_t)skip; /* checked against len by mp_header */
		if (children == 0)
			continue;
		/* Each child needs at least one byte: a count beyond the bytes
		 * left is a lie, refused before anything reserves for it. */
		if (children > len - pos)
			return FT_EFORMAT;
		if (children > max_items - items)
			return FT_ERANGE;
		depth++;
		remaining[depth] = children;
	}
	if (consumed != NULL)
		*consumed = pos;
	return FT_OK;
}
