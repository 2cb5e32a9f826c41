/*
 * fuzz_wire_chunks.c - libFuzzer target for chunk decoding and reassembly
 * (ft_wire_chunk_decode, ft_wire_reasm_*, docs/PROTOCOL.md "Chunked
 * transfer"). The input is a sequence of MODEL_CHUNK bodies, each preceded
 * by its length (2 bytes, little-endian). A payload handed over must hash
 * to the hash its chunks declared and be of their declared total.
 */
#include "wire_fuzz.h"

#define LIMIT (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ft_wire_reasm *r = NULL;
	ft_wire_chunk c;
	uint8_t hash[FT_CRYPTO_HASH_BYTES], h[FT_CRYPTO_HASH_BYTES];
	uint64_t total = 0;
	int have = 0;
	size_t pos = 0;

	(void)wf_world_get();
	if (ft_wire_reasm_alloc(LIMIT, &r) != FT_OK)
		abort();
	while (size - pos >= 2) {
		size_t n = (size_t)data[pos] | ((size_t)data[pos + 1] << 8);

		pos += 2;
		if (n > size - pos)
			n = size - pos;
		if (ft_wire_chunk_decode(data + pos, n, &c) == FT_OK &&
		    ft_wire_reasm_add(r, &c) == FT_OK) {
			memcpy(hash, c.hash, sizeof(hash));
			total = c.total;
			have = 1;
		}
		pos += n;
		if (ft_wire_reasm_complete(r)) {
			uint8_t *out = NULL;
			size_t len = 0;

			if (!have)
				abort();
			if (ft_wire_reasm_finish(r, &out, &len, NULL) == FT_OK) {
				ft_crypto_hash(h, out, len);
				if (len != total || memcmp(h, hash, sizeof(h)) != 0)
					abort();
				ft_free(out);
			}
			have = 0;
		}
	}
	ft_wire_reasm_free(r);
	return 0;
}
