/*
 * transport_manifest.c - the consortium manifest: which site id holds which
 * Ed25519 identity key, and the coordinator's key, signed by the consortium
 * key (docs/PROTOCOL.md, "Consortium manifest"). A text file so that
 * operators can read what they sign; parsed strictly.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ft_transport.h"

#define MANIFEST_HEAD "fedtwin-manifest 1\n"

static int site_cmp(const void *a, const void *b)
{
	const ft_transport_manifest_site *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

void ft_transport_manifest_free(ft_transport_manifest *m)
{
	if (m == NULL)
		return;
	ft_free(m->sites);
	ft_free(m);
}

const ft_transport_manifest_site *ft_transport_manifest_site_get(const ft_transport_manifest *m,
                                                                 uint32_t id)
{
	ft_transport_manifest_site key;

	if (m == NULL || m->n_sites == 0)
		return NULL;
	key.id = id;
	return bsearch(&key, m->sites, m->n_sites, sizeof(key), site_cmp);
}

/* Reads a whole small file. */
static int read_file(const char *path, char **out, size_t *len, ft_errmsg *err)
{
	FILE *f = NULL;
	char *buf = NULL;
	size_t n;
	int rv = FT_OK;

	f = fopen(path, "rb");
	if (f == NULL)
		return ft_errmsg_set(err, FT_EIO, "%s: %s", path, strerror(errno));
	buf = ft_malloc(FT_TRANSPORT_MANIFEST_MAX_BYTES + 1);
	if (buf == NULL) {
		rv = FT_ENOMEM;
		goto out;
	}
	n = fread(buf, 1, FT_TRANSPORT_MANIFEST_MAX_BYTES + 1, f);
	if (ferror(f)) {
		rv = ft_errmsg_set(err, FT_EIO, "%s: read error", path);
		goto out;
	}
	if (n > FT_TRANSPORT_MANIFEST_MAX_BYTES) {
		rv = ft_errmsg_set(err, FT_ERANGE, "%s: larger than %zu bytes", path,
		                   FT_TRANSPORT_MANIFEST_MAX_BYTES);
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
out:
	ft_free(buf);
	fclose(f);
	return rv;
}

int ft_transport_manifest_load(const char *path, const uint8_t consortium_pk[FT_CRYPTO_SIGN_PK_BYTES],
                               ft_transport_manifest **out, ft_errmsg *err)
{
	ft_transport_manifest *m = NULL;
	char *text = NULL, *line, *save = NULL, *sigline;
	size_t len = 0, signed_len, cap = 0;
	uint8_t sig[FT_CRYPTO_SIG_BYTES], cid[FT_CRYPTO_ID_BYTES];
	int rv, have_c = 0, have_k = 0;
	unsigned lineno = 1;

	if (path == NULL || consortium_pk == NULL || out == NULL)
		return FT_EINVAL;
	rv = read_file(path, &text, &len, err);
	if (rv != FT_OK)
		return rv;
	if (strlen(text) != len || len < strlen(MANIFEST_HEAD) ||
	    memcmp(text, MANIFEST_HEAD, strlen(MANIFEST_HEAD)) != 0) {
		rv = ft_errmsg_set(err, FT_EFORMAT, "%s: not a fedtwin manifest (version 1)", path);
		goto out;
	}
	sigline = strstr(text, "\nsignature ");
	if (sigline == NULL) {
		rv = ft_errmsg_set(err, FT_EFORMAT, "%s: no signature line", path);
		goto out;
	}
	signed_len = (size_t)(sigline - text) + 1;
	if (strlen(sigline + 1) != strlen("signature ") + 2 * FT_CRYPTO_SIG_BYTES + 1 ||
	    sigline[strlen(sigline) - 1] != '\n') {
		rv = ft_errmsg_set(err, FT_EFORMAT, "%s: the signature line must be last", path);
		goto out;
	}
	sigline[strlen(sigline) - 1] = '\0';
	if (ft_crypto_unhex(sig, sizeof(sig), sigline + 1 + strlen("signature ")) != FT_OK) {
		rv = ft_errmsg_set(err, FT_EFORMAT, "%s: bad signature encoding", path);
		goto out;
	}
	if (ft_crypto_verify(consortium_pk, text, signed_len, sig) != FT_OK) {
		rv = ft_errmsg_set(err, FT_ECRYPTO,
		                   "%s: the signature is not the consortium key's: refusing it", path);
		goto out;
	}
	text[signed_len - 1] = '\0';
	m = ft_calloc(1, sizeof(*m));
	if (m == NULL) {
		rv = FT_ENOMEM;
		goto out;
	}
	ft_crypto_hash(cid, consortium_pk, FT_CRYPTO_SIGN_PK_BYTES);
	line = strtok_r(text + strlen(MANIFEST_HEAD), "\n", &save);
	for (; line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char kw[16], hex[2 * FT_CRYPTO_SIGN_PK_BYTES + 2], name[80];
		unsigned long long id;
		int used = 0;

		lineno++;
		name[0] = '\0';
		if (sscanf(line, "%15s", kw) != 1)
			goto bad_line;
		if (strcmp(kw, "consortium") == 0) {
			uint8_t c[FT_CRYPTO_ID_BYTES];

			if (have_c || sscanf(line, "consortium %65s%n", hex, &used) != 1 ||
			    line[used] != '\0' || ft_crypto_unhex(c, sizeof(c), hex) != FT_OK)
				goto bad_line;
			if (!ft_crypto_equal(c, cid, sizeof(c))) {
				rv = ft_errmsg_set(err, FT_ECRYPTO,
				                   "%s: names another consortium", path);
				goto out;
			}
			memcpy(m->consortium, c, sizeof(c));
			have_c = 1;
		} else if (strcmp(kw, "coordinator") == 0) {
			if (have_k || sscanf(line, "coordinator %65s%n", hex, &used) != 1 ||
			    line[used] != '\0' ||
			    ft_crypto_unhex(m->coord_pk, sizeof(m->coord_pk), hex) != FT_OK)
				goto bad_line;
			have_k = 1;
		} else if (strcmp(kw, "site") == 0) {
			ft_transport_manifest_site *s;

			if (sscanf(line, "site %llu %65s %79s%n", &id, hex, name, &used) != 3 ||
			    line[used] != '\0' || id >= FT_TRANSPORT_COORD_ID || !name_ok(name))
				goto bad_line;
			if (m->n_sites == FT_TRANSPORT_MAX_SITES) {
				rv = ft_errmsg_set(err, FT_ERANGE, "%s: more than %u sites", path,
				                   FT_TRANSPORT_MAX_SITES);
				goto out;
			}
			if (m->n_sites == cap) {
				size_t ncap = cap ? cap * 2 : 8;
				void *ns = ft_reallocarray(m->sites, ncap, sizeof(*m->sites));

				if (ns == NULL) {
					rv = FT_ENOMEM;
					goto out;
				}
				m->sites = ns;
				cap = ncap;
			}
			s = &m->sites[m->n_sites];
			memset(s, 0, sizeof(*s));
			s->id = (uint32_t)id;
			if (ft_crypto_unhex(s->pk, sizeof(s->pk), hex) != FT_OK)
				goto bad_line;
			memcpy(s->name, name, strlen(name) + 1);
			m->n_sites++;
		} else {
			goto bad_line;
		}
		continue;
bad_line:
		rv = ft_errmsg_set(err, FT_EFORMAT, "%s: line %u is malformed", path, lineno);
		goto out;
	}
	if (!have_c || !have_k) {
		rv = ft_errmsg_set(err, FT_EFORMAT, "%s: the consortium or coordinator line is missing",
		                   path);
		goto out;
	}
	if (m->n_sites > 0)
		qsort(m->sites, m->n_sites, sizeof(*m->sites), site_cmp);
	for (uint32_t i = 1; i < m->n_sites; i++) {
		if (m->sites[i].id == m->sites[i - 1].id) {
			rv = ft_errmsg_set(err, FT_EFORMAT, "%s: site %u is listed twice", path,
			                   m->sites[i].id);
			goto out;
		}
	}
	*out = m;
	m = NULL;
out:
	ft_transport_manifest_free(m);
	ft_free(text);
	return rv;
}

int ft_transport_manifest_write(const char *path, const ft_crypto_identity *consortium,
                                const uint8_t coord_pk[FT_CRYPTO_SIGN_PK_BYTES],
                                const ft_transport_manifest_site *sites, uint32_t n,
                                ft_errmsg *err)
{
	char *text = NULL, *tmp = NULL;
	size_t cap, len = 0;
	uint8_t cid[FT_CRYPTO_ID_BYTES], sig[FT_CRYPTO_SIG_BYTES];
	char hex[2 * FT_CRYPTO_SIG_BYTES + 1];
	int rv = FT_OK, fd = -1, w;

	if (path == NULL || consortium == NULL || coord_pk == NULL || (n > 0 && sites == NULL))
		return FT_EINVAL;
	if (n > FT_TRANSPORT_MAX_SITES)
		return ft_errmsg_set(err, FT_ERANGE, "more than %u sites", FT_TRANSPORT_MAX_SITES);
	for (uint32_t i = 0; i < n; i++) {
		if (sites[i].id >= FT_TRANSPORT_COORD_ID || !name_ok(sites[i].name))
			return ft_errmsg_set(err, FT_EINVAL, "site %u: bad id or name", sites[i].id);
		for (uint32_t j = 0; j < i; j++)
			if (sites[j].id == sites[i].id)
				return ft_errmsg_set(err, FT_EINVAL, "site %u is listed twice",
				                     sites[i].id);
	}
	cap = 512 + (size_t)n * 192;
	text = ft_malloc(cap);
	tmp = ft_malloc(strlen(path) + 16);
	if (text == NULL || tmp == NULL) {
		rv = FT_ENOMEM;
		goto out;
	}
	ft_crypto_hash(cid, ft_crypto_identity_pk(consortium), FT_CRYPTO_SIGN_PK_BYTES);
	ft_crypto_hex(hex, cid, sizeof(cid));
	w = snprintf(text, cap, MANIFEST_HEAD "consortium %s\n", hex);
	len = (size_t)w;
	ft_crypto_hex(hex, coord_pk, FT_CRYPTO_SIGN_PK_BYTES);
	w = snprintf(text + len, cap - len, "coordinator %s\n", hex);
	len += (size_t)w;
	for (uint32_t i = 0; i < n; i++) {
		ft_crypto_hex(hex, sites[i].pk, FT_CRYPTO_SIGN_PK_BYTES);
		w = snprintf(text + len, cap - len, "site %u %s %s\n", sites[i].id, hex,
		             sites[i].name);
		len += (size_t)w;
	}
	rv = ft_crypto_identity_sign(consortium, text, len, sig);
	if (rv != FT_OK)
		goto out;
	ft_crypto_hex(hex, sig, sizeof(sig));
	w = snprintf(text + len, cap - len, "signature %s\n", hex);
	len += (size_t)w;
	memcpy(tmp, path, strlen(path));
	memcpy(tmp + strlen(path), ".tmpXXXXXX", 11);
	fd = mkstemp(tmp);
	if (fd < 0) {
		rv = ft_errmsg_set(err, FT_EIO, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (fchmod(fd, 0644) != 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
		rv = ft_errmsg_set(err, FT_EIO, "%s: %s", tmp, strerror(errno));
		goto out_unlink;
	}
	/* link() refuses to replace an existing manifest, unlike rename(). */
	if (link(tmp, path) != 0) {
		rv = ft_errmsg_set(err, errno == EEXIST ? FT_EEXIST : FT_EIO, "%s: %s", path,
		                   strerror(errno));
		goto out_unlink;
	}
out_unlink:
	unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	ft_free(tmp);
	ft_free(text);
	return rv;
}
