/*
 * crypto_int.h - private to the crypto module: the layout of the opaque key
 * objects, the fixed context strings, and the deterministic entry points
 * that the known-answer tests use. Nothing outside crypto/ and its tests
 * includes this file.
 */
#ifndef FT_CRYPTO_INT_H
#define FT_CRYPTO_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ft_crypto.h"

/* Ed25519 identity: the 64-byte libsodium secret key (seed || pk) lives in
 * sodium_malloc memory; the public key is a plain copy. */
struct ft_crypto_identity {
	uint8_t *sk; /* sodium_malloc, 64 bytes */
	uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES];
};

/* X25519 round key. */
struct ft_crypto_kx {
	uint8_t *sk; /* sodium_malloc, 32 bytes */
	uint8_t pk[FT_CRYPTO_KX_PK_BYTES];
};

/* BLAKE2b personalisation strings (exactly 16 bytes each, PROTOCOL.md). */
#define FT_CRYPTO_PERS_KX_SK "fedtwin-kx-sk-v1"
#define FT_CRYPTO_PERS_MASK "fedtwin-maskseed"
#define FT_CRYPTO_PERS_ENC "fedtwin-shareenc"
#define FT_CRYPTO_PERS_SHAMIR_KAT "fedtwin-shamirkt"

/* Size of the KDF transcript: consortium, run, round, attempt, then the
 * lower id with its public key and the higher id with its public key. */
#define FT_CRYPTO_KDF_INPUT_BYTES (32u + 8u + 8u + 4u + 2u * (4u + 32u))

/* AEAD associated data: label, consortium, run, round, attempt, sender,
 * recipient. */
#define FT_CRYPTO_AD_LABEL "fedtwin-share-v1"
#define FT_CRYPTO_AD_BYTES (16u + 32u + 8u + 8u + 4u + 4u + 4u)

/* Encodes the associated data for ft_crypto_seal/open. */
void ft_crypto_ad_encode(uint8_t ad[FT_CRYPTO_AD_BYTES], const ft_crypto_ctx *ctx,
                         uint32_t sender, uint32_t recipient);

/*
 * ft_crypto_seal with a caller-chosen nonce. Tests only (known answers): a
 * repeated nonce under one key destroys confidentiality, so production code
 * calls ft_crypto_seal, which draws the nonce from the CSPRNG.
 */
int ft_crypto_seal_with_nonce(const uint8_t key[FT_CRYPTO_KEY_BYTES], const ft_crypto_ctx *ctx,
                              uint32_t sender, uint32_t recipient, const void *pt, size_t n,
                              const uint8_t nonce[FT_CRYPTO_AEAD_NONCE_BYTES],
                              uint8_t *out) FT_WARN_UNUSED;

/*
 * Shamir split whose polynomial coefficients come from `coef_seed` instead
 * of the CSPRNG: coefficient j (1..t-1) of half h (0 = bytes 0..15 of the
 * secret, 1 = bytes 16..31) is the reduction mod L of the keyed
 * BLAKE2b-512(key = coef_seed, personal = FT_CRYPTO_PERS_SHAMIR_KAT,
 * msg = LE32(h) || LE32(j)). Tests only (known answers): the coefficients
 * must be secret and fresh for every split.
 */
int ft_crypto_shamir_split_det(const uint8_t secret[FT_CRYPTO_SECRET_BYTES], uint32_t t,
                               uint32_t n, const uint8_t coef_seed[FT_CRYPTO_KEY_BYTES],
                               ft_crypto_share *out) FT_WARN_UNUSED;

#endif /* FT_CRYPTO_INT_H */
