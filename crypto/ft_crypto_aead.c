/*
 * ft_crypto_aead.c - share encryption: XChaCha20-Poly1305 (IETF) with a
 * random 24-byte nonce, and associated data that binds every ciphertext to
 * its round context, sender and recipient.
 *
 * The nonce is random because keys are reused across many shares of one
 * round and XChaCha20's 192-bit nonce makes random collisions negligible.
 * Binding sender and recipient means a coordinator that relays a ciphertext
 * to the wrong site, or replays one from another round, gets a MAC failure
 * rather than a silently accepted share.
 */
#include "crypto_int.h"

#include <string.h>

#include <sodium.h>

_Static_assert(FT_CRYPTO_AEAD_NONCE_BYTES == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
               "nonce size");
_Static_assert(FT_CRYPTO_AEAD_TAG_BYTES == crypto_aead_xchacha20poly1305_ietf_ABYTES,
               "tag size");
_Static_assert(FT_CRYPTO_KEY_BYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key size");
_Static_assert(sizeof(FT_CRYPTO_AD_LABEL) - 1 == 16, "AD label is 16 bytes");

void ft_crypto_ad_encode(uint8_t ad[FT_CRYPTO_AD_BYTES], const ft_crypto_ctx *ctx,
                         uint32_t sender, uint32_t recipient)
{
	uint8_t *p = ad;

	memcpy(p, FT_CRYPTO_AD_LABEL, 16), p += 16;
	memcpy(p, ctx->consortium, FT_CRYPTO_ID_BYTES), p += FT_CRYPTO_ID_BYTES;
	ft_put_le64(p, ctx->run), p += 8;
	ft_put_le64(p, ctx->round), p += 8;
	ft_put_le32(p, ctx->attempt), p += 4;
	ft_put_le32(p, sender), p += 4;
	ft_put_le32(p, recipient);
}

int ft_crypto_seal_with_nonce(const uint8_t key[FT_CRYPTO_KEY_BYTES], const ft_crypto_ctx *ctx,
                              uint32_t sender, uint32_t recipient, const void *pt, size_t n,
                              const uint8_t nonce[FT_CRYPTO_AEAD_NONCE_BYTES], uint8_t *out)
{
	uint8_t ad[FT_CRYPTO_AD_BYTES];
	unsigned long long clen = 0;

	if (key == NULL || ctx == NULL || nonce == NULL || out == NULL || (pt == NULL && n > 0))
		return FT_EINVAL;
	if (n > crypto_aead_xchacha20poly1305_ietf_MESSAGEBYTES_MAX ||
	    n > SIZE_MAX - FT_CRYPTO_AEAD_OVERHEAD)
		return FT_ERANGE;
	ft_crypto_ad_encode(ad, ctx, sender, recipient);
	memmove(out, nonce, FT_CRYPTO_AEAD_NONCE_BYTES);
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(out + FT_CRYPTO_AEAD_NONCE_BYTES, &clen, pt,
	                                               n, ad, sizeof(ad), NULL, nonce, key) != 0)
		return FT_ECRYPTO;
	return FT_OK;
}

int ft_crypto_seal(const uint8_t key[FT_CRYPTO_KEY_BYTES], const ft_crypto_ctx *ctx,
                   uint32_t sender, uint32_t recipient, const void *pt, size_t n, uint8_t *out)
{
	uint8_t nonce[FT_CRYPTO_AEAD_NONCE_BYTES];

	randombytes_buf(nonce, sizeof(nonce));
	return ft_crypto_seal_with_nonce(key, ctx, sender, recipient, pt, n, nonce, out);
}

int ft_crypto_open(const uint8_t key[FT_CRYPTO_KEY_BYTES], const ft_crypto_ctx *ctx,
                   uint32_t sender, uint32_t recipient, const uint8_t *ct, size_t n, void *pt)
{
	uint8_t ad[FT_CRYPTO_AD_BYTES];
	unsigned long long mlen = 0;
	size_t ptlen;

	if (key == NULL || ctx == NULL || ct == NULL)
		return FT_EINVAL;
	if (n < FT_CRYPTO_AEAD_OVERHEAD)
		return FT_ECRYPTO;
	if (pt == NULL && n > FT_CRYPTO_AEAD_OVERHEAD)
		return FT_EINVAL;
	ptlen = n - FT_CRYPTO_AEAD_OVERHEAD;
	ft_crypto_ad_encode(ad, ctx, sender, recipient);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
	            pt, &mlen, NULL, ct + FT_CRYPTO_AEAD_NONCE_BYTES, n - FT_CRYPTO_AEAD_NONCE_BYTES,
	            ad, sizeof(ad), ct, key) != 0 ||
	    mlen != ptlen) {
		sodium_memzero(pt, ptlen);
		return FT_ECRYPTO;
	}
	return FT_OK;
}
