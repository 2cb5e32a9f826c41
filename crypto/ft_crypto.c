/*
 * ft_crypto.c - initialisation, randomness, constant-time helpers, hashing
 * hex encoding and guarded memory for secrets: the small pieces every other
 * part of the crypto core and the modules above it use. All primitives are
 * libsodium's.
 */
#include "ft_crypto.h"

#include <stdatomic.h>
#include <string.h>

#include <sodium.h>

_Static_assert(sizeof(ft_crypto_hash_state) >= sizeof(crypto_generichash_state),
               "ft_crypto_hash_state too small for libsodium's state");
_Static_assert(FT_CRYPTO_HASH_BYTES >= crypto_generichash_BYTES_MIN &&
               FT_CRYPTO_HASH_BYTES <= crypto_generichash_BYTES_MAX,
               "hash size");

int ft_crypto_init(void)
{
	return sodium_init() < 0 ? FT_ECRYPTO : FT_OK;
}

void ft_crypto_random(void *buf, size_t n)
{
	randombytes_buf(buf, n);
}

uint32_t ft_crypto_random_uniform(uint32_t upper)
{
	return randombytes_uniform(upper);
}

void ft_crypto_wipe(void *p, size_t n)
{
	sodium_memzero(p, n);
}

static atomic_size_t secure_blocks;

void *ft_crypto_secure_alloc(size_t n)
{
	const size_t align = 16;
	void *p;

	if (n == 0 || n > SIZE_MAX - align)
		return NULL;
	/* Counted like any allocation by ft_alloc_fail_after, so tests reach
	 * the callers' failure paths: a one-byte probe through ft_malloc. */
	p = ft_malloc(1);
	if (p == NULL)
		return NULL;
	ft_free(p);
	/* sodium_malloc ends the block at the guard page, so its start is only
	 * as aligned as its size: round the size up. */
	n = (n + align - 1) / align * align;
	p = sodium_malloc(n);
	if (p == NULL)
		return NULL;
	memset(p, 0, n); /* sodium_malloc fills with 0xdb */
	atomic_fetch_add(&secure_blocks, 1);
	return p;
}

void ft_crypto_secure_free(void *p)
{
	if (p == NULL)
		return;
	atomic_fetch_sub(&secure_blocks, 1);
	sodium_free(p); /* wipes */
}

size_t ft_crypto_secure_blocks(void)
{
	return atomic_load(&secure_blocks);
}

int ft_crypto_equal(const void *a, const void *b, size_t n)
{
	return sodium_memcmp(a, b, n) == 0;
}

void ft_crypto_hash(uint8_t out[FT_CRYPTO_HASH_BYTES], const void *in, size_t n)
{
	crypto_generichash(out, FT_CRYPTO_HASH_BYTES, in, n, NULL, 0);
}

void ft_crypto_hash_init(ft_crypto_hash_state *st)
{
	crypto_generichash_init((crypto_generichash_state *)(void *)st->opaque, NULL, 0,
	                        FT_CRYPTO_HASH_BYTES);
}

void ft_crypto_hash_update(ft_crypto_hash_state *st, const void *in, size_t n)
{
	crypto_generichash_update((crypto_generichash_state *)(void *)st->opaque, in, n);
}

void ft_crypto_hash_final(ft_crypto_hash_state *st, uint8_t out[FT_CRYPTO_HASH_BYTES])
{
	crypto_generichash_final((crypto_generichash_state *)(void *)st->opaque, out,
	                         FT_CRYPTO_HASH_BYTES);
	sodium_memzero(st, sizeof(*st));
}

void ft_crypto_hex(char *out, const uint8_t *in, size_t n)
{
	sodium_bin2hex(out, 2 * n + 1, in, n);
}

int ft_crypto_unhex(uint8_t *out, size_t n, const char *hex)
{
	size_t got = 0;
	const char *end = NULL;

	if (strlen(hex) != 2 * n)
		return FT_EFORMAT;
	if (sodium_hex2bin(out, n, hex, 2 * n, NULL, &got, &end) != 0 || got != n ||
	    *end != '\0')
		return FT_EFORMAT;
	return FT_OK;
}
