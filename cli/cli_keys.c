/*
 * cli_keys.c - `fedtwin keygen`, `fedtwin fingerprint` and `fedtwin version`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ft_base.h"
#include "ft_crypto.h"
#include "cli_int.h"

int ft_cli_keygen_main(int argc, char **argv)
{
	const char *out = NULL, *pfile = NULL;
	int plain = 0, rv, status = 1;
	char *pass = NULL;
	char pub[4096];
	char fpr[FT_CRYPTO_FPR_CHARS + 1];
	ft_crypto_identity *id = NULL;
	ft_errmsg err = {{0}};

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
			out = argv[++i];
		} else if (strcmp(argv[i], "--passphrase-file") == 0 && i + 1 < argc) {
			pfile = argv[++i];
		} else if (strcmp(argv[i], "--no-passphrase") == 0) {
			plain = 1;
		} else if (strcmp(argv[i], "--help") == 0) {
			printf("usage: fedtwin keygen --out KEYFILE [--passphrase-file FILE | --no-passphrase]\n"
			       "Writes KEYFILE (secret, mode 0600) and KEYFILE.pub, and prints the fingerprint.\n"
			       "The secret key is sealed with the passphrase from FILE or from the\n"
			       "FEDTWIN_PASSPHRASE environment variable; --no-passphrase stores it unsealed.\n");
			return 0;
		} else {
			fprintf(stderr, "fedtwin keygen: unknown or incomplete option '%s'\n", argv[i]);
			return 2;
		}
	}
	if (out == NULL) {
		fprintf(stderr, "fedtwin keygen: --out KEYFILE is required\n");
		return 2;
	}
	if ((size_t)snprintf(pub, sizeof(pub), "%s.pub", out) >= sizeof(pub)) {
		fprintf(stderr, "fedtwin keygen: path too long\n");
		return 2;
	}
	rv = ft_crypto_passphrase_read(pfile, &pass, &err);
	if (rv != FT_OK) {
		fprintf(stderr, "fedtwin keygen: %s\n", err.msg);
		goto out;
	}
	if (pass == NULL && !plain) {
		fprintf(stderr, "fedtwin keygen: no passphrase: give --passphrase-file FILE, set "
		                "FEDTWIN_PASSPHRASE, or say --no-passphrase\n");
		status = 2;
		goto out;
	}
	rv = ft_crypto_identity_generate(&id);
	if (rv == FT_OK)
		rv = ft_crypto_identity_save(id, out, pass);
	if (rv != FT_OK) {
		fprintf(stderr, "fedtwin keygen: cannot write '%s': %s\n", out, ft_strerror(rv));
		goto out;
	}
	rv = ft_crypto_pk_save(ft_crypto_identity_pk(id), pub);
	if (rv != FT_OK) {
		fprintf(stderr, "fedtwin keygen: cannot write '%s': %s\n", pub, ft_strerror(rv));
		goto out;
	}
	ft_crypto_fingerprint(ft_crypto_identity_pk(id), fpr);
	printf("secret_key=%s public_key=%s fingerprint=%s sealed=%s\n", out, pub, fpr,
	       pass != NULL ? "yes" : "no");
	status = 0;
out:
	ft_crypto_identity_free(id);
	ft_crypto_passphrase_free(pass);
	return status;
}

int ft_cli_fingerprint_main(int argc, char **argv)
{
	uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES];
	char fpr[FT_CRYPTO_FPR_CHARS + 1];
	ft_errmsg err = {{0}};
	int rv;

	if (argc != 2 || strcmp(argv[1], "--help") == 0) {
		fprintf(argc == 2 ? stdout : stderr, "usage: fedtwin fingerprint PUBLIC_KEY_FILE\n");
		return argc == 2 ? 0 : 2;
	}
	rv = ft_crypto_pk_load(argv[1], pk, &err);
	if (rv != FT_OK) {
		fprintf(stderr, "fedtwin fingerprint: '%s': %s%s%s\n", argv[1], ft_strerror(rv),
		        err.msg[0] ? ": " : "", err.msg);
		return 1;
	}
	ft_crypto_fingerprint(pk, fpr);
	printf("%s\n", fpr);
	return 0;
}

int ft_cli_version_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("fedtwin %s (libsodium %s)\n", FT_VERSION, sodium_version_string());
	return 0;
}
