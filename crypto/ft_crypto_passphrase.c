/*
 * ft_crypto_passphrase.c - reading the passphrase that seals an identity
 * key from a file or the environment, into guarded memory. One place for
 * it, so every command treats passphrases alike.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ft_crypto.h"

int ft_crypto_passphrase_read(const char *file, char **out, ft_errmsg *err)
{
	char *p = NULL;
	const char *env = NULL;
	FILE *f = NULL;
	size_t n;
	int c, rv;

	*out = NULL;
	if (file == NULL) {
		env = getenv("FEDTWIN_PASSPHRASE");
		if (env == NULL || *env == '\0')
			return FT_OK;
		if (strlen(env) > FT_CRYPTO_PASSPHRASE_MAX)
			return ft_errmsg_set(err, FT_ERANGE,
			                     "FEDTWIN_PASSPHRASE is longer than %u bytes",
			                     FT_CRYPTO_PASSPHRASE_MAX);
	}
	p = ft_crypto_secure_alloc(FT_CRYPTO_PASSPHRASE_MAX + 2);
	if (p == NULL)
		return ft_errmsg_set(err, FT_ENOMEM, "out of memory");
	if (env != NULL) {
		memcpy(p, env, strlen(env) + 1);
		*out = p;
		return FT_OK;
	}
	f = fopen(file, "r");
	if (f == NULL || fgets(p, FT_CRYPTO_PASSPHRASE_MAX + 2, f) == NULL) {
		rv = ft_errmsg_set(err, FT_EIO, "cannot read passphrase file '%s'", file);
		goto fail;
	}
	n = strcspn(p, "\r\n");
	if (p[n] == '\0' && n > FT_CRYPTO_PASSPHRASE_MAX) {
		rv = ft_errmsg_set(err, FT_ERANGE, "passphrase file '%s': the first line is longer "
		                   "than %u bytes", file, FT_CRYPTO_PASSPHRASE_MAX);
		goto fail;
	}
	if (p[n] == '\0' && (c = fgetc(f)) != EOF && c != '\n' && c != '\r') {
		rv = ft_errmsg_set(err, FT_ERANGE, "passphrase file '%s': the first line is longer "
		                   "than %u bytes", file, FT_CRYPTO_PASSPHRASE_MAX);
		goto fail;
	}
	p[n] = '\0';
	if (n == 0) {
		rv = ft_errmsg_set(err, FT_EFORMAT, "passphrase file '%s' starts with an empty line",
		                   file);
		goto fail;
	}
	fclose(f);
	*out = p;
	return FT_OK;
fail:
	if (f != NULL)
		fclose(f);
	ft_crypto_secure_free(p);
	return rv;
}

void ft_crypto_passphrase_free(char *p)
{
	ft_crypto_secure_free(p);
}
