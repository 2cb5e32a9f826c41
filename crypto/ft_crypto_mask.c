/*
 * ft_crypto_mask.c - expansion of a 32-byte seed into a mask over Z_2^bits
 * and its addition to (or subtraction from) a vector.
 *
 * Element i of the mask is the little-endian uint32 at byte 4*i of the
 * ChaCha20-IETF keystream for (seed, nonce 0), masked to `bits`; the 64-byte
 * ChaCha20 block b therefore holds elements 16b .. 16b+15, and the block
 * counter for element offset o is o / 16. Deriving the counter from the
 * offset is what makes chunked calls equal one call, and lets a caller start
 * anywhere (PROTOCOL.md, "Mask expansion").
 *
 * Speed matters here (every site expands one mask per neighbour over the
 * whole model every round), so the keystream is produced into a fixed stack
 * block sized to stay in L1 and the add loop is kept simple enough for the
 * compiler to vectorise.
 */
#include "crypto_int.h"

#include <string.h>

#include <sodium.h>

#define WORDS_PER_BLOCK 16u                 /* uint32 words per ChaCha20 block */
#define CHUNK_BLOCKS 128u                    /* 8 KiB of keystream per call */
#define CHUNK_WORDS (CHUNK_BLOCKS * WORDS_PER_BLOCK)
/* The IETF block counter is 32 bits: 2^32 blocks of 16 elements. */
#define MAX_ELEMENTS (UINT64_C(1) << 36)

_Static_assert(FT_CRYPTO_KEY_BYTES == crypto_stream_chacha20_ietf_KEYBYTES, "key size");

/* The keystream block as host-order words. On a little-endian host this is
 * a no-op, and it keeps the add loops below free of byte shuffling. */
static void words_from_le(uint32_t *w, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	(void)w;
	(void)n;
#else
	for (size_t i = 0; i < n; i++)
		w[i] = ft_get_le32((const uint8_t *)&w[i]);
#endif
}

/* Groups of 16 with a constant inner trip count: GCC vectorises that at -O2
 * (its cheap cost model refuses loops that would need a scalar epilogue). */
static void add_words(uint32_t *restrict acc, const uint32_t *restrict ks, size_t n, uint32_t m)
{
	size_t i = 0;

	for (; i + 16 <= n; i += 16)
		for (size_t j = 0; j < 16; j++)
			acc[i + j] = (acc[i + j] + ks[i + j]) & m;
	for (; i < n; i++)
		acc[i] = (acc[i] + ks[i]) & m;
}

static void sub_words(uint32_t *restrict acc, const uint32_t *restrict ks, size_t n, uint32_t m)
{
	size_t i = 0;

	for (; i + 16 <= n; i += 16)
		for (size_t j = 0; j < 16; j++)
			acc[i + j] = (acc[i + j] - ks[i + j]) & m;
	for (; i < n; i++)
		acc[i] = (acc[i] - ks[i]) & m;
}

int ft_crypto_mask_apply(const uint8_t seed[FT_CRYPTO_KEY_BYTES], uint32_t *acc, size_t n,
                         uint64_t offset, unsigned bits, int sign)
{
	static const uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES];
	static const uint8_t zeros[CHUNK_WORDS * 4];
	_Alignas(64) uint32_t ks[CHUNK_WORDS];
	uint32_t m;
	size_t done = 0, used = 0;

	if (seed == NULL || (acc == NULL && n > 0))
		return FT_EINVAL;
	if (bits < 16 || bits > 32 || (sign != 1 && sign != -1))
		return FT_EINVAL;
	if (offset > MAX_ELEMENTS || (uint64_t)n > MAX_ELEMENTS - offset)
		return FT_ERANGE;
	m = bits == 32 ? UINT32_MAX : ((UINT32_C(1) << bits) - 1);

	while (done < n) {
		uint64_t pos = offset + done;
		uint32_t block = (uint32_t)(pos / WORDS_PER_BLOCK);
		size_t skip = (size_t)(pos % WORDS_PER_BLOCK);
		size_t take = CHUNK_WORDS - skip;
		size_t nblocks;

		if (take > n - done)
			take = n - done;
		nblocks = (skip + take + WORDS_PER_BLOCK - 1) / WORDS_PER_BLOCK;
		/* Keystream = xor over a constant block of zeros; this saves
		 * the memset libsodium's own crypto_stream_chacha20_ietf does. */
		if (nblocks * 64 > used)
			used = nblocks * 64;
		crypto_stream_chacha20_ietf_xor_ic((uint8_t *)ks, zeros, nblocks * 64, nonce, block,
		                                   seed);
		words_from_le(ks + skip, take);
		if (sign > 0)
			add_words(acc + done, ks + skip, take, m);
		else
			sub_words(acc + done, ks + skip, take, m);
		done += take;
	}
	sodium_memzero(ks, used);
	return FT_OK;
}
