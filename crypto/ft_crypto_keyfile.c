/*
 * ft_crypto_keyfile.c - identity key files and public key files on disk:
 * the text formats of PROTOCOL.md ("Key files"), their strict decoder, and
 * atomic, private writes.
 *
 * A secret key file is four lines: a version line, the public key, the KDF
 * line and the secret seed, either in hex (kdf none) or sealed with
 * XChaCha20-Poly1305 under a key derived from a passphrase by Argon2id. The
 * first three lines are the sealed seed's associated data, so neither the
 * public key nor the KDF parameters can be swapped without the passphrase.
 * The file is a decoder of untrusted input (tests/fuzz/fuzz_keyfile.c):
 * every field has a fixed length or a bounded range, and the Argon2id
 * parameters are capped before any work is done, so a hostile file cannot
 * make the loader allocate gigabytes.
 */
#define _GNU_SOURCE /* renameat2(RENAME_NOREPLACE) */
#include "crypto_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#define KF_MAGIC "fedtwin-identity v1"
#define KF_MAX_BYTES 1024u
#define PK_MAX_BYTES 128u
#define SALT_BYTES crypto_pwhash_argon2id_SALTBYTES
#define SEALED_BYTES \
	(FT_CRYPTO_AEAD_NONCE_BYTES + FT_CRYPTO_KEY_BYTES + FT_CRYPTO_AEAD_TAG_BYTES)
/* What ft_crypto_identity_save writes: libsodium's INTERACTIVE limits, so
 * that a node starts in well under a second. */
#define KF_OPSLIMIT crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE
#define KF_MEMLIMIT crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE
/* What the loader accepts: up to libsodium's SENSITIVE limits. */
#define KF_OPSLIMIT_MAX crypto_pwhash_argon2id_OPSLIMIT_SENSITIVE
#define KF_MEMLIMIT_MAX crypto_pwhash_argon2id_MEMLIMIT_SENSITIVE

_Static_assert(SALT_BYTES == 16, "salt size");

/* ---- small parsing helpers ---------------------------------------------- */

typedef struct span {
	const char *p;
	size_t n;
} span;

/* Takes the next '\n'-terminated line (without the '\n'). */
static int next_line(span *cur, span *line)
{
	const char *nl = memchr(cur->p, '\n', cur->n);

	if (nl == NULL)
		return FT_EFORMAT;
	line->p = cur->p;
	line->n = (size_t)(nl - cur->p);
	cur->n -= line->n + 1;
	cur->p = nl + 1;
	return FT_OK;
}

/* If `line` starts with `prefix`, strips it and returns 1. */
static int eat(span *line, const char *prefix)
{
	size_t k = strlen(prefix);

	if (line->n < k || memcmp(line->p, prefix, k) != 0)
		return 0;
	line->p += k;
	line->n -= k;
	return 1;
}

/* Exactly 2n hex digits (constant time in the digits: the seed is secret). */
static int hex_exact(uint8_t *out, size_t n, const char *hex, size_t hexlen)
{
	size_t got = 0;
	const char *end = NULL;

	if (hexlen != 2 * n)
		return FT_EFORMAT;
	if (sodium_hex2bin(out, n, hex, hexlen, NULL, &got, &end) != 0 || got != n ||
	    end != hex + hexlen)
		return FT_EFORMAT;
	return FT_OK;
}

/* A decimal "name=value" token terminated by a space or the line's end. */
static int eat_u64(span *line, const char *name, uint64_t min, uint64_t max, uint64_t *out)
{
	char num[24];
	size_t k = 0;
	uint64_t v;

	if (!eat(line, name))
		return FT_EFORMAT;
	while (k < line->n && line->p[k] != ' ')
		k++;
	if (k == 0 || k >= sizeof(num) || line->p[0] == '0')
		return FT_EFORMAT; /* no leading zeros: one spelling per value */
	memcpy(num, line->p, k);
	num[k] = '\0';
	if (ft_parse_u64(num, max, &v) != FT_OK)
		return FT_EFORMAT;
	if (v < min)
		return FT_ERANGE;
	line->p += k;
	line->n -= k;
	*out = v;
	return FT_OK;
}

/* ---- decoding ----------------------------------------------------------- */

int ft_crypto_identity_decode(const uint8_t *buf, size_t n, const char *passphrase,
                              ft_crypto_identity **out, ft_errmsg *err)
{
	span cur, line;
	uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES];
	uint8_t seed[FT_CRYPTO_KEY_BYTES];
	uint8_t salt[SALT_BYTES];
	uint8_t sealed[SEALED_BYTES];
	uint8_t key[FT_CRYPTO_KEY_BYTES];
	uint64_t ops = 0, mem = 0;
	size_t ad_len;
	int is_sealed;
	ft_crypto_identity *id = NULL;
	int rv;

	if (buf == NULL || out == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "key file: no input");
	if (n > KF_MAX_BYTES)
		return ft_errmsg_set(err, FT_EFORMAT, "key file: larger than %u bytes",
		                     KF_MAX_BYTES);
	cur.p = (const char *)buf;
	cur.n = n;

	if (next_line(&cur, &line) != FT_OK || line.n != strlen(KF_MAGIC) ||
	    memcmp(line.p, KF_MAGIC, line.n) != 0) {
		rv = ft_errmsg_set(err, FT_EFORMAT, "key file: not a fedtwin identity v1 file");
		goto out;
	}
	if (next_line(&cur, &line) != FT_OK || !eat(&line, "public-key ") ||
	    hex_exact(pk, sizeof(pk), line.p, line.n) != FT_OK) {
		rv = ft_errmsg_set(err, FT_EFORMAT, "key file: line 2: bad public-key");
		goto out;
	}
	if (next_line(&cur, &line) != FT_OK) {
		rv = ft_errmsg_set(err, FT_EFORMAT, "key file: line 3: missing kdf");
		goto out;
	}
	if (line.n == strlen("kdf none") && eat(&line, "kdf none")) {
		is_sealed = 0;
	} else if (eat(&line, "kdf argon2id13 ")) {
		is_sealed = 1;
		rv = eat_u64(&line, "opslimit=", crypto_pwhash_argon2id_OPSLIMIT_MIN,
		             KF_OPSLIMIT_MAX, &ops);
		if (rv == FT_OK && !eat(&line, " "))
			rv = FT_EFORMAT;
		if (rv == FT_OK)
			rv = eat_u64(&line, "memlimit=", crypto_pwhash_argon2id_MEMLIMIT_MIN,
			             KF_MEMLIMIT_MAX, &mem);
		if (rv == FT_OK && (!eat(&line, " salt=") ||
		                    hex_exact(salt, sizeof(salt), line.p, line.n) != FT_OK))
			rv = FT_EFORMAT;
		if (rv != FT_OK) {
			rv = ft_errmsg_set(err, FT_EFORMAT,
			                   "key file: line 3: bad kdf parameters (opslimit "
			                   "1..%u, memlimit %u..%u bytes)",
			                   (unsigned)KF_OPSLIMIT_MAX,
			                   (unsigned)crypto_pwhash_argon2id_MEMLIMIT_MIN,
			                   (unsigned)KF_MEMLIMIT_MAX);
			goto out;
		}
	} else {
		rv = ft_errmsg_set(err, FT_EFORMAT, "key file: line 3: unknown kdf");
		goto out;
	}
	ad_len = (size_t)(cur.p - (const char *)buf);
	if (next_line(&cur, &line) != FT_OK ||
	    !eat(&line, is_sealed ? "sealed-seed " : "secret-seed ") ||
	    (is_sealed ? hex_exact(sealed, sizeof(sealed), line.p, line.n)
	               : hex_exact(seed, sizeof(seed), line.p, line.n)) != FT_OK) {
		rv = ft_errmsg_set(err, FT_EFORMAT, "key file: line 4: bad %s",
		                   is_sealed ? "sealed-seed" : "secret-seed");
		goto out;
	}
	if (cur.n != 0) {
		rv = ft_errmsg_set(err, FT_EFORMAT, "key file: trailing data after line 4");
		goto out;
	}

	if (is_sealed) {
		unsigned long long mlen = 0;

		if (passphrase == NULL) {
			rv = ft_errmsg_set(err, FT_EINVAL, "key file is sealed: give its passphrase (passphrase_file in the"
			                   " daemon's config, --passphrase-file, or FEDTWIN_PASSPHRASE)");
			goto out;
		}
		if (crypto_pwhash(key, sizeof(key), passphrase, strlen(passphrase), salt, ops,
		                  (size_t)mem, crypto_pwhash_ALG_ARGON2ID13) != 0) {
			rv = ft_errmsg_set(err, FT_ENOMEM, "key file: Argon2id needs %llu bytes",
			                   (unsigned long long)mem);
			goto out;
		}
		if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		            seed, &mlen, NULL, sealed + FT_CRYPTO_AEAD_NONCE_BYTES,
		            sizeof(sealed) - FT_CRYPTO_AEAD_NONCE_BYTES, buf, ad_len, sealed,
		            key) != 0 ||
		    mlen != sizeof(seed)) {
			rv = ft_errmsg_set(err, FT_ECRYPTO,
			                   "key file: wrong passphrase or modified file");
			goto out;
		}
	}
	rv = ft_crypto_identity_from_seed(seed, &id);
	if (rv != FT_OK) {
		ft_errmsg_set(err, rv, "key file: cannot rebuild the key pair");
		goto out;
	}
	if (!ft_crypto_equal(id->pk, pk, sizeof(pk))) {
		rv = ft_errmsg_set(err, FT_EFORMAT,
		                   "key file: public key does not match the secret key");
		goto out;
	}
	*out = id;
	id = NULL;
	rv = FT_OK;
out:
	ft_crypto_identity_free(id);
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(key, sizeof(key));
	return rv;
}

/* The file text for `id` (PROTOCOL.md). Returns its length, 0 on failure. */
static size_t encode_keyfile(const ft_crypto_identity *id, const char *passphrase, char *out,
                             size_t cap)
{
	char pk_hex[2 * FT_CRYPTO_SIGN_PK_BYTES + 1];
	char salt_hex[2 * SALT_BYTES + 1];
	char sealed_hex[2 * SEALED_BYTES + 1];
	char seed_hex[2 * FT_CRYPTO_KEY_BYTES + 1];
	uint8_t salt[SALT_BYTES], sealed[SEALED_BYTES], key[FT_CRYPTO_KEY_BYTES];
	unsigned long long clen = 0;
	size_t len = 0;
	int k;

	ft_crypto_hex(pk_hex, id->pk, sizeof(id->pk));
	if (passphrase == NULL) {
		/* the seed is the first half of libsodium's secret key */
		ft_crypto_hex(seed_hex, id->sk, FT_CRYPTO_KEY_BYTES);
		k = snprintf(out, cap, "%s\npublic-key %s\nkdf none\nsecret-seed %s\n", KF_MAGIC,
		             pk_hex, seed_hex);
		if (k > 0 && (size_t)k < cap)
			len = (size_t)k;
		goto out;
	}
	randombytes_buf(salt, sizeof(salt));
	ft_crypto_hex(salt_hex, salt, sizeof(salt));
	k = snprintf(out, cap, "%s\npublic-key %s\nkdf argon2id13 opslimit=%u memlimit=%u salt=%s\n",
	             KF_MAGIC, pk_hex, (unsigned)KF_OPSLIMIT, (unsigned)KF_MEMLIMIT, salt_hex);
	if (k <= 0 || (size_t)k >= cap)
		goto out;
	if (crypto_pwhash(key, sizeof(key), passphrase, strlen(passphrase), salt, KF_OPSLIMIT,
	                  KF_MEMLIMIT, crypto_pwhash_ALG_ARGON2ID13) != 0)
		goto out;
	randombytes_buf(sealed, FT_CRYPTO_AEAD_NONCE_BYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(sealed + FT_CRYPTO_AEAD_NONCE_BYTES, &clen, id->sk,
	                                           FT_CRYPTO_KEY_BYTES, (const uint8_t *)out,
	                                           (size_t)k, NULL, sealed, key);
	ft_crypto_hex(sealed_hex, sealed, sizeof(sealed));
	len = (size_t)k;
	k = snprintf(out + len, cap - len, "sealed-seed %s\n", sealed_hex);
	if (k <= 0 || (size_t)k >= cap - len)
		len = 0;
	else
		len += (size_t)k;
out:
	sodium_memzero(seed_hex, sizeof(seed_hex));
	sodium_memzero(key, sizeof(key));
	return len;
}

/* ---- files -------------------------------------------------------------- */

/*
 * Writes `data` to `path` atomically and without replacing anything: a
 * private temporary file in the same directory, fsync, then rename with
 * RENAME_NOREPLACE (or link() where the file system lacks it), then fsync
 * of the directory so the new name survives a crash.
 */
static int write_atomic(const char *path, const void *data, size_t n, mode_t mode)
{
	struct stat st;
	char *tmp = NULL, *dir = NULL, *slash;
	size_t plen = strlen(path);
	int fd = -1, rv = FT_EIO, linked = 0;
	const uint8_t *p = data;
	size_t left = n;

	if (lstat(path, &st) == 0)
		return FT_EEXIST;
	tmp = ft_malloc(plen + sizeof(".tmp-XXXXXX"));
	dir = ft_strdup(path);
	if (tmp == NULL || dir == NULL) {
		rv = FT_ENOMEM;
		goto out;
	}
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".tmp-XXXXXX", sizeof(".tmp-XXXXXX"));
	fd = mkstemp(tmp); /* O_EXCL, mode 0600 */
	if (fd < 0) {
		rv = errno == ENOENT ? FT_ENOTFOUND : FT_EIO;
		tmp[0] = '\0';
		goto out;
	}
	if (fchmod(fd, mode) != 0)
		goto out;
	while (left > 0) {
		ssize_t w = write(fd, p, left);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto out;
		p += w;
		left -= (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0) {
		tmp[0] = '\0';
	} else if (errno == EEXIST) {
		rv = FT_EEXIST;
		goto out;
	} else if (errno == EINVAL || errno == ENOSYS) {
		if (link(tmp, path) != 0) {
			rv = errno == EEXIST ? FT_EEXIST : FT_EIO;
			goto out;
		}
		linked = 1;
	} else {
		goto out;
	}
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	fd = open(slash != NULL ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd); /* best effort: some file systems refuse it */
		close(fd);
		fd = -1;
	}
	rv = FT_OK;
out:
	if (fd >= 0)
		close(fd);
	if (tmp != NULL && (tmp[0] != '\0' || linked))
		unlink(tmp);
	ft_free(tmp);
	ft_free(dir);
	return rv;
}

/* Reads a whole small file; FT_EPERM if `private_only` and the mode lets
 * group or others in. `buf` has cap bytes; *n receives the length. */
static int read_small(const char *path, int private_only, uint8_t *buf, size_t cap, size_t *n,
                      ft_errmsg *err)
{
	struct stat st;
	size_t got = 0;
	int fd, rv;

	/* Symlinks are followed (secret stores mount keys through them); the
	 * mode that matters is that of the file actually opened. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ft_errmsg_set(err, errno == ENOENT ? FT_ENOTFOUND : FT_EIO, "%s: %s", path,
		                     strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rv = ft_errmsg_set(err, FT_EFORMAT, "%s: not a regular file", path);
		goto out;
	}
	if (private_only && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		rv = ft_errmsg_set(err, FT_EPERM,
		                   "%s: secret key file is accessible by group or others "
		                   "(mode %03o); run chmod 600",
		                   path, (unsigned)(st.st_mode & 0777));
		goto out;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > cap) {
		rv = ft_errmsg_set(err, FT_EFORMAT, "%s: larger than %zu bytes", path, cap);
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf + got, cap - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rv = ft_errmsg_set(err, FT_EIO, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
		if (got == cap) {
			rv = ft_errmsg_set(err, FT_EFORMAT, "%s: larger than %zu bytes", path,
			                   cap - 1);
			goto out;
		}
	}
	*n = got;
	rv = FT_OK;
out:
	close(fd);
	return rv;
}

int ft_crypto_identity_save(const ft_crypto_identity *id, const char *path,
                            const char *passphrase)
{
	char text[KF_MAX_BYTES];
	size_t len;
	int rv;

	if (id == NULL || path == NULL)
		return FT_EINVAL;
	len = encode_keyfile(id, passphrase, text, sizeof(text));
	if (len == 0) {
		rv = passphrase != NULL ? FT_ENOMEM : FT_EINTERNAL;
		goto out;
	}
	rv = write_atomic(path, text, len, 0600);
out:
	sodium_memzero(text, sizeof(text));
	return rv;
}

int ft_crypto_identity_load(const char *path, const char *passphrase, ft_crypto_identity **out,
                            ft_errmsg *err)
{
	uint8_t buf[KF_MAX_BYTES + 1];
	size_t n = 0;
	int rv;

	if (path == NULL || out == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "no key file path");
	rv = read_small(path, 1, buf, sizeof(buf), &n, err);
	if (rv == FT_OK) {
		ft_errmsg derr = {{0}};

		rv = ft_crypto_identity_decode(buf, n, passphrase, out, &derr);
		/* The decoder does not know the file: name it. */
		if (rv != FT_OK)
			ft_errmsg_set(err, rv, "%s: %s", path, derr.msg[0] ? derr.msg : ft_strerror(rv));
	}
	sodium_memzero(buf, sizeof(buf));
	return rv;
}

int ft_crypto_pk_save(const uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES], const char *path)
{
	char line[2 * FT_CRYPTO_SIGN_PK_BYTES + 2];

	if (pk == NULL || path == NULL)
		return FT_EINVAL;
	ft_crypto_hex(line, pk, FT_CRYPTO_SIGN_PK_BYTES);
	line[2 * FT_CRYPTO_SIGN_PK_BYTES] = '\n';
	line[2 * FT_CRYPTO_SIGN_PK_BYTES + 1] = '\0';
	return write_atomic(path, line, sizeof(line) - 1, 0644);
}

int ft_crypto_pk_load(const char *path, uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES], ft_errmsg *err)
{
	uint8_t buf[PK_MAX_BYTES];
	uint8_t tmp[FT_CRYPTO_SIGN_PK_BYTES];
	size_t n = 0;
	int rv;

	if (path == NULL || pk == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "no public key path");
	rv = read_small(path, 0, buf, sizeof(buf), &n, err);
	if (rv != FT_OK)
		return rv;
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (hex_exact(tmp, sizeof(tmp), (const char *)buf, n) != FT_OK)
		return ft_errmsg_set(err, FT_EFORMAT, "%s: not one line of %u hex digits", path,
		                     2 * FT_CRYPTO_SIGN_PK_BYTES);
	memcpy(pk, tmp, sizeof(tmp));
	return FT_OK;
}
