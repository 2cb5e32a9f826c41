/*
 * fuzz_keyfile.c - libFuzzer target for the identity key file decoder
 * (ft_crypto_identity_decode, PROTOCOL.md "Key files"). No passphrase is
 * given, so sealed files are parsed in full and stop before Argon2id: the
 * fuzzer cannot forge a Poly1305 tag anyway, and an Argon2id run per input
 * would make fuzzing useless. A decoded identity must be usable: it signs,
 * and its own public key verifies the signature.
 */
#include <stdint.h>
#include <stdlib.h>

#include "ft_crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	ft_crypto_identity *id = NULL;
	ft_errmsg err;
	uint8_t sig[FT_CRYPTO_SIG_BYTES];
	int rv;

	if (!ready) {
		if (ft_crypto_init() != FT_OK)
			abort();
		ready = 1;
	}
	rv = ft_crypto_identity_decode(data, size, NULL, &id, &err);
	if (rv != FT_OK) {
		if (id != NULL)
			abort(); /* output written on failure */
		return 0;
	}
	if (id == NULL || ft_crypto_identity_sign(id, data, size, sig) != FT_OK ||
	    ft_crypto_verify(ft_crypto_identity_pk(id), data, size, sig) != FT_OK)
		abort();
	ft_crypto_identity_free(id);
	return 0;
}
