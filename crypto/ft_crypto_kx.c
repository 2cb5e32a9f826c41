/*
 * ft_crypto_kx.c - X25519 round keys and the pairwise key derivation that
 * gives two sites the same mask seed and share-encryption key.
 *
 * The derivation (PROTOCOL.md, "Cryptographic core", KDF) is keyed BLAKE2b
 * over a fixed-layout transcript, with one personalisation string per
 * output, so the two keys are independent and a key derived for one round,
 * run, consortium or pair of sites is useless for any other.
 */
#include "crypto_int.h"

#include <string.h>

#include <sodium.h>

_Static_assert(crypto_scalarmult_BYTES == 32 && crypto_scalarmult_SCALARBYTES == 32,
               "X25519 sizes");
_Static_assert(sizeof(FT_CRYPTO_PERS_KX_SK) - 1 == crypto_generichash_blake2b_PERSONALBYTES &&
               sizeof(FT_CRYPTO_PERS_MASK) - 1 == crypto_generichash_blake2b_PERSONALBYTES &&
               sizeof(FT_CRYPTO_PERS_ENC) - 1 == crypto_generichash_blake2b_PERSONALBYTES,
               "personalisation strings are 16 bytes");

int ft_crypto_kx_from_seed(const uint8_t seed[FT_CRYPTO_KEY_BYTES], ft_crypto_kx **out)
{
	ft_crypto_kx *kx = NULL;
	int rv = FT_ENOMEM;

	if (seed == NULL || out == NULL)
		return FT_EINVAL;
	kx = ft_calloc(1, sizeof(*kx));
	if (kx == NULL)
		goto out;
	kx->sk = sodium_malloc(crypto_scalarmult_SCALARBYTES);
	if (kx->sk == NULL)
		goto out;
	/* Hashing the seed keeps a seed shared for dropout recovery from ever
	 * being used directly as a scalar anywhere else. */
	crypto_generichash_blake2b_salt_personal(kx->sk, crypto_scalarmult_SCALARBYTES, seed,
	                                         FT_CRYPTO_KEY_BYTES, NULL, 0, NULL,
	                                         (const unsigned char *)FT_CRYPTO_PERS_KX_SK);
	if (crypto_scalarmult_base(kx->pk, kx->sk) != 0) {
		rv = FT_ECRYPTO;
		goto out;
	}
	*out = kx;
	kx = NULL;
	rv = FT_OK;
out:
	ft_crypto_kx_free(kx);
	return rv;
}

int ft_crypto_kx_generate(ft_crypto_kx **out)
{
	uint8_t seed[FT_CRYPTO_KEY_BYTES];
	int rv;

	randombytes_buf(seed, sizeof(seed));
	rv = ft_crypto_kx_from_seed(seed, out);
	sodium_memzero(seed, sizeof(seed));
	return rv;
}

void ft_crypto_kx_free(ft_crypto_kx *kx)
{
	if (kx == NULL)
		return;
	sodium_free(kx->sk); /* wipes */
	ft_free(kx);
}

const uint8_t *ft_crypto_kx_pk(const ft_crypto_kx *kx)
{
	return kx->pk;
}

int ft_crypto_kx_derive(const ft_crypto_kx *kx, uint32_t self_id,
                        const uint8_t peer_pk[FT_CRYPTO_KX_PK_BYTES], uint32_t peer_id,
                        const ft_crypto_ctx *ctx, uint8_t mask_seed[FT_CRYPTO_KEY_BYTES],
                        uint8_t enc_key[FT_CRYPTO_KEY_BYTES])
{
	uint8_t shared[crypto_scalarmult_BYTES];
	uint8_t tr[FT_CRYPTO_KDF_INPUT_BYTES];
	uint8_t k_mask[FT_CRYPTO_KEY_BYTES], k_enc[FT_CRYPTO_KEY_BYTES];
	const uint8_t *pk_lo, *pk_hi;
	uint32_t id_lo, id_hi;
	uint8_t *p = tr;
	int rv = FT_ECRYPTO;

	if (kx == NULL || peer_pk == NULL || ctx == NULL || mask_seed == NULL || enc_key == NULL)
		return FT_EINVAL;
	if (self_id == peer_id)
		return FT_EINVAL;

	/* libsodium returns -1 for an all-zero result (a low-order peer key);
	 * the explicit check keeps that guarantee if the library changes. */
	if (crypto_scalarmult(shared, kx->sk, peer_pk) != 0 ||
	    sodium_is_zero(shared, sizeof(shared)))
		goto out;

	if (self_id < peer_id) {
		id_lo = self_id, pk_lo = kx->pk;
		id_hi = peer_id, pk_hi = peer_pk;
	} else {
		id_lo = peer_id, pk_lo = peer_pk;
		id_hi = self_id, pk_hi = kx->pk;
	}
	memcpy(p, ctx->consortium, FT_CRYPTO_ID_BYTES), p += FT_CRYPTO_ID_BYTES;
	ft_put_le64(p, ctx->run), p += 8;
	ft_put_le64(p, ctx->round), p += 8;
	ft_put_le32(p, ctx->attempt), p += 4;
	ft_put_le32(p, id_lo), p += 4;
	memcpy(p, pk_lo, FT_CRYPTO_KX_PK_BYTES), p += FT_CRYPTO_KX_PK_BYTES;
	ft_put_le32(p, id_hi), p += 4;
	memcpy(p, pk_hi, FT_CRYPTO_KX_PK_BYTES), p += FT_CRYPTO_KX_PK_BYTES;

	if (crypto_generichash_blake2b_salt_personal(k_mask, sizeof(k_mask), tr, sizeof(tr),
	                                             shared, sizeof(shared), NULL,
	                                             (const unsigned char *)FT_CRYPTO_PERS_MASK) != 0 ||
	    crypto_generichash_blake2b_salt_personal(k_enc, sizeof(k_enc), tr, sizeof(tr), shared,
	                                             sizeof(shared), NULL,
	                                             (const unsigned char *)FT_CRYPTO_PERS_ENC) != 0)
		goto out;
	memcpy(mask_seed, k_mask, sizeof(k_mask));
	memcpy(enc_key, k_enc, sizeof(k_enc));
	rv = FT_OK;
out:
	sodium_memzero(shared, sizeof(shared));
	sodium_memzero(k_mask, sizeof(k_mask));
	sodium_memzero(k_enc, sizeof(k_enc));
	return rv;
}
