/*
 * ft_crypto_identity.c - Ed25519 identity keys: generation, signing,
 * verification and the short fingerprint operators compare when they
 * enrol a site. Key files are in ft_crypto_keyfile.c.
 */
#include "crypto_int.h"

#include <string.h>

#include <sodium.h>

_Static_assert(FT_CRYPTO_SIGN_PK_BYTES == crypto_sign_PUBLICKEYBYTES, "pk size");
_Static_assert(FT_CRYPTO_SIG_BYTES == crypto_sign_BYTES, "signature size");
_Static_assert(FT_CRYPTO_KEY_BYTES == crypto_sign_SEEDBYTES, "seed size");

int ft_crypto_identity_from_seed(const uint8_t seed[FT_CRYPTO_KEY_BYTES],
                                 ft_crypto_identity **out)
{
	ft_crypto_identity *id = NULL;
	int rv = FT_ENOMEM;

	if (seed == NULL || out == NULL)
		return FT_EINVAL;
	id = ft_calloc(1, sizeof(*id));
	if (id == NULL)
		goto out;
	id->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	if (id->sk == NULL)
		goto out;
	if (crypto_sign_seed_keypair(id->pk, id->sk, seed) != 0) {
		rv = FT_ECRYPTO;
		goto out;
	}
	*out = id;
	id = NULL;
	rv = FT_OK;
out:
	ft_crypto_identity_free(id);
	return rv;
}

int ft_crypto_identity_generate(ft_crypto_identity **out)
{
	uint8_t seed[FT_CRYPTO_KEY_BYTES];
	int rv;

	randombytes_buf(seed, sizeof(seed));
	rv = ft_crypto_identity_from_seed(seed, out);
	sodium_memzero(seed, sizeof(seed));
	return rv;
}

void ft_crypto_identity_free(ft_crypto_identity *id)
{
	if (id == NULL)
		return;
	sodium_free(id->sk); /* wipes */
	ft_free(id);
}

const uint8_t *ft_crypto_identity_pk(const ft_crypto_identity *id)
{
	return id->pk;
}

int ft_crypto_identity_sign(const ft_crypto_identity *id, const void *msg, size_t n,
                            uint8_t sig[FT_CRYPTO_SIG_BYTES])
{
	if (id == NULL || sig == NULL || (msg == NULL && n > 0))
		return FT_EINVAL;
	if (crypto_sign_detached(sig, NULL, msg, n, id->sk) != 0)
		return FT_ECRYPTO;
	return FT_OK;
}

int ft_crypto_verify(const uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES], const void *msg, size_t n,
                     const uint8_t sig[FT_CRYPTO_SIG_BYTES])
{
	if (pk == NULL || sig == NULL || (msg == NULL && n > 0))
		return FT_EINVAL;
	/* libsodium 1.0.18 also rejects non-canonical signatures and
	 * small-order public keys, so a signature cannot be malleated. */
	if (crypto_sign_verify_detached(sig, msg, n, pk) != 0)
		return FT_ECRYPTO;
	return FT_OK;
}

void ft_crypto_fingerprint(const uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES],
                           char out[FT_CRYPTO_FPR_CHARS + 1])
{
	static const char label[] = "fedtwin-fpr";
	static const char digits[] = "0123456789abcdef";
	ft_crypto_hash_state st;
	uint8_t h[FT_CRYPTO_HASH_BYTES];
	size_t o = 0;

	ft_crypto_hash_init(&st);
	ft_crypto_hash_update(&st, label, sizeof(label) - 1);
	ft_crypto_hash_update(&st, pk, FT_CRYPTO_SIGN_PK_BYTES);
	ft_crypto_hash_final(&st, h);
	for (size_t i = 0; i < 8; i++) {
		if (i > 0 && i % 2 == 0)
			out[o++] = '-';
		out[o++] = digits[h[i] >> 4];
		out[o++] = digits[h[i] & 15];
	}
	out[o] = '\0';
}
