/*
 * fuzz_transport_body.c - libFuzzer target for the walk over a request or
 * reply body (ft_transport_body_next): length-prefixed envelopes whose
 * lengths are hostile. Every envelope found must lie inside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ft_transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0, n;
	const uint8_t *f;
	ft_transport_body b = {0};
	int rv, complete = 1;

	while ((rv = ft_transport_body_next(data, size, &off, &f, &n)) == FT_OK) {
		if (f < data || f + n > data + size)
			abort();
		if (ft_transport_body_add(&b, f, n) != FT_OK) {
			complete = 0;
			break;
		}
	}
	/* A body walked to its end re-encodes to the same bytes. */
	if (complete && rv == FT_ENOTFOUND && size > 0 &&
	    (b.len != size || memcmp(b.buf, data, size) != 0))
		abort();
	ft_transport_body_free(&b);
	return 0;
}
