/*
 * ft_wire_manifest.c - the consortium manifest: the signed list of who may
 * speak (coordinator and sites, each with its identity key) that every
 * envelope's signature is checked against.
 *
 * The manifest is signed by the consortium key over its exact bytes, like
 * an envelope, and carries a serial that only rises, so an old manifest
 * (one with a site since removed) cannot be replayed to a node that has
 * seen a newer one. The consortium id, BLAKE2b-256(name || consortium public
 * key), binds every envelope and every derived key to this consortium.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wire_int.h"

#define MANIFEST_DOMAIN "fedtwin-manifest-v1"
#define MANIFEST_DOMAIN_LEN (sizeof(MANIFEST_DOMAIN) - 1)

static void manifest_id(const char *name, const uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES],
                        uint8_t id[FT_CRYPTO_ID_BYTES])
{
	ft_crypto_hash_state st;

	ft_crypto_hash_init(&st);
	ft_crypto_hash_update(&st, name, strlen(name));
	ft_crypto_hash_update(&st, pk, FT_CRYPTO_SIGN_PK_BYTES);
	ft_crypto_hash_final(&st, id);
}

static int endpoint_ok(const char *s)
{
	return wire_cstr_ok(s, 4, FT_WIRE_URL_MAX) && strstr(s, "://") != NULL &&
	       strchr(s, ' ') == NULL;
}

int ft_wire_manifest_new(const char *name, const uint8_t consortium_pk[FT_CRYPTO_SIGN_PK_BYTES],
                         const char *coord_name, const uint8_t coord_pk[FT_CRYPTO_SIGN_PK_BYTES],
                         const char *endpoint, ft_wire_manifest **out)
{
	ft_wire_manifest *m;

	if (out == NULL || consortium_pk == NULL || coord_pk == NULL ||
	    !wire_cstr_ok(name, 1, FT_WIRE_NAME_MAX) || !wire_cstr_ok(coord_name, 1, FT_WIRE_NAME_MAX) ||
	    !endpoint_ok(endpoint))
		return FT_EINVAL;
	if (memcmp(consortium_pk, coord_pk, FT_CRYPTO_SIGN_PK_BYTES) == 0)
		return FT_EEXIST;
	m = ft_calloc(1, sizeof(*m));
	if (m == NULL)
		return FT_ENOMEM;
	memcpy(m->name, name, strlen(name) + 1);
	memcpy(m->consortium_pk, consortium_pk, FT_CRYPTO_SIGN_PK_BYTES);
	manifest_id(m->name, m->consortium_pk, m->id);
	m->serial = 1;
	m->created_ms = ft_wire_time_ms();
	memcpy(m->coord_name, coord_name, strlen(coord_name) + 1);
	memcpy(m->coord_pk, coord_pk, FT_CRYPTO_SIGN_PK_BYTES);
	memcpy(m->endpoint, endpoint, strlen(endpoint) + 1);
	*out = m;
	return FT_OK;
}

void ft_wire_manifest_free(ft_wire_manifest *m)
{
	if (m == NULL)
		return;
	ft_free(m->sites);
	ft_free(m);
}

/* 1 if pk is already the consortium's, the coordinator's or a site's. */
static int key_used(const ft_wire_manifest *m, const uint8_t *pk)
{
	if (memcmp(pk, m->consortium_pk, FT_CRYPTO_SIGN_PK_BYTES) == 0 ||
	    memcmp(pk, m->coord_pk, FT_CRYPTO_SIGN_PK_BYTES) == 0)
		return 1;
	for (uint32_t i = 0; i < m->n_sites; i++)
		if (memcmp(pk, m->sites[i].pk, FT_CRYPTO_SIGN_PK_BYTES) == 0)
			return 1;
	return 0;
}

int ft_wire_manifest_add_site(ft_wire_manifest *m, uint32_t id, const char *name,
                              const uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES])
{
	ft_wire_site *ns;
	uint32_t pos = 0;

	if (m == NULL || pk == NULL || id < 1 || id > FT_WIRE_SITE_ID_MAX ||
	    !wire_cstr_ok(name, 1, FT_WIRE_NAME_MAX))
		return FT_EINVAL;
	if (m->n_sites >= FT_WIRE_MAX_SITES)
		return FT_ERANGE;
	if (ft_wire_manifest_site(m, id) != NULL || key_used(m, pk))
		return FT_EEXIST;
	ns = ft_reallocarray(m->sites, m->n_sites + 1, sizeof(*ns));
	if (ns == NULL)
		return FT_ENOMEM;
	m->sites = ns;
	while (pos < m->n_sites && m->sites[pos].id < id)
		pos++;
	memmove(&m->sites[pos + 1], &m->sites[pos], (m->n_sites - pos) * sizeof(*ns));
	memset(&m->sites[pos], 0, sizeof(*ns));
	m->sites[pos].id = id;
	memcpy(m->sites[pos].name, name, strlen(name) + 1);
	memcpy(m->sites[pos].pk, pk, FT_CRYPTO_SIGN_PK_BYTES);
	m->n_sites++;
	return FT_OK;
}

const ft_wire_site *ft_wire_manifest_site(const ft_wire_manifest *m, uint32_t id)
{
	size_t lo = 0, hi;

	if (m == NULL)
		return NULL;
	hi = m->n_sites;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->sites[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->n_sites && m->sites[lo].id == id ? &m->sites[lo] : NULL;
}

int ft_wire_manifest_lookup(void *manifest, uint32_t sender, uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES])
{
	const ft_wire_manifest *m = manifest;
	const ft_wire_site *s;

	if (m == NULL || pk == NULL)
		return FT_EINVAL;
	if (sender == FT_WIRE_COORDINATOR_ID) {
		memcpy(pk, m->coord_pk, FT_CRYPTO_SIGN_PK_BYTES);
		return FT_OK;
	}
	s = ft_wire_manifest_site(m, sender);
	if (s == NULL)
		return FT_ENOTFOUND;
	memcpy(pk, s->pk, FT_CRYPTO_SIGN_PK_BYTES);
	return FT_OK;
}

int ft_wire_manifest_sign(const ft_wire_manifest *m, const ft_crypto_identity *consortium_key,
                          uint8_t **out, size_t *len)
{
	wire_wr w;
	uint8_t sig[FT_CRYPTO_SIG_BYTES], *doc = NULL;
	size_t doc_len = 0;
	int rv;

	if (m == NULL || consortium_key == NULL || out == NULL || len == NULL)
		return FT_EINVAL;
	if (memcmp(ft_crypto_identity_pk(consortium_key), m->consortium_pk,
	           FT_CRYPTO_SIGN_PK_BYTES) != 0)
		return FT_EINVAL;
	wire_wr_init(&w, FT_WIRE_MANIFEST_MAX_BYTES);
	wire_wr_raw(&w, MANIFEST_DOMAIN, MANIFEST_DOMAIN_LEN);
	wire_wr_map(&w, 8);
	wire_wr_cstr(&w, "format");
	wire_wr_uint(&w, FT_WIRE_MANIFEST_VERSION);
	wire_wr_cstr(&w, "name");
	wire_wr_cstr(&w, m->name);
	wire_wr_cstr(&w, "consortium_pk");
	wire_wr_bin(&w, m->consortium_pk, FT_CRYPTO_SIGN_PK_BYTES);
	wire_wr_cstr(&w, "id");
	wire_wr_bin(&w, m->id, FT_CRYPTO_ID_BYTES);
	wire_wr_cstr(&w, "serial");
	wire_wr_uint(&w, m->serial);
	wire_wr_cstr(&w, "created_ms");
	wire_wr_uint(&w, m->created_ms);
	wire_wr_cstr(&w, "coordinator");
	wire_wr_map(&w, 3);
	wire_wr_cstr(&w, "name");
	wire_wr_cstr(&w, m->coord_name);
	wire_wr_cstr(&w, "pk");
	wire_wr_bin(&w, m->coord_pk, FT_CRYPTO_SIGN_PK_BYTES);
	wire_wr_cstr(&w, "endpoint");
	wire_wr_cstr(&w, m->endpoint);
	wire_wr_cstr(&w, "sites");
	wire_wr_array(&w, m->n_sites);
	for (uint32_t i = 0; i < m->n_sites; i++) {
		wire_wr_array(&w, 3);
		wire_wr_uint(&w, m->sites[i].id);
		wire_wr_cstr(&w, m->sites[i].name);
		wire_wr_bin(&w, m->sites[i].pk, FT_CRYPTO_SIGN_PK_BYTES);
	}
	rv = wire_wr_finish(&w, &doc, &doc_len);
	if (rv != FT_OK)
		return rv;
	rv = ft_crypto_identity_sign(consortium_key, doc, doc_len, sig);
	if (rv != FT_OK)
		goto out;
	wire_wr_init(&w, FT_WIRE_MANIFEST_MAX_BYTES);
	wire_wr_array(&w, 2);
	wire_wr_bin(&w, doc + MANIFEST_DOMAIN_LEN, doc_len - MANIFEST_DOMAIN_LEN);
	wire_wr_bin(&w, sig, sizeof(sig));
	rv = wire_wr_finish(&w, out, len);
out:
	ft_free(doc);
	return rv;
}

/* Reads the document into m (sites allocated); structural errors only. */
static int manifest_read(wire_rd *r, ft_wire_manifest *m, ft_errmsg *err)
{
	uint64_t fmt;
	uint32_t n, k;
	int rv;

#define RD(expr, what)                                                                 \
	do {                                                                           \
		rv = (expr);                                                           \
		if (rv != FT_OK)                                                       \
			return ft_errmsg_set(err, FT_EFORMAT, "manifest: bad %s", what); \
	} while (0)
	RD(wire_rd_map_n(r, 8), "document map");
	RD(wire_rd_key(r, "format"), "key 'format'");
	RD(wire_rd_uint(r, 0, UINT64_MAX, &fmt), "format");
	if (fmt != FT_WIRE_MANIFEST_VERSION)
		return ft_errmsg_set(err, FT_EFORMAT, "manifest: format %llu not supported",
		                     (unsigned long long)fmt);
	RD(wire_rd_key(r, "name"), "key 'name'");
	RD(wire_rd_text(r, 1, FT_WIRE_NAME_MAX, m->name), "consortium name");
	RD(wire_rd_key(r, "consortium_pk"), "key 'consortium_pk'");
	RD(wire_rd_bin_fixed(r, m->consortium_pk, FT_CRYPTO_SIGN_PK_BYTES), "consortium_pk");
	RD(wire_rd_key(r, "id"), "key 'id'");
	RD(wire_rd_bin_fixed(r, m->id, FT_CRYPTO_ID_BYTES), "id");
	RD(wire_rd_key(r, "serial"), "key 'serial'");
	RD(wire_rd_uint(r, 1, UINT64_MAX, &m->serial), "serial");
	RD(wire_rd_key(r, "created_ms"), "key 'created_ms'");
	RD(wire_rd_uint(r, 0, UINT64_MAX, &m->created_ms), "created_ms");
	RD(wire_rd_key(r, "coordinator"), "key 'coordinator'");
	RD(wire_rd_map_n(r, 3), "coordinator map");
	RD(wire_rd_key(r, "name"), "coordinator key 'name'");
	RD(wire_rd_text(r, 1, FT_WIRE_NAME_MAX, m->coord_name), "coordinator name");
	RD(wire_rd_key(r, "pk"), "coordinator key 'pk'");
	RD(wire_rd_bin_fixed(r, m->coord_pk, FT_CRYPTO_SIGN_PK_BYTES), "coordinator pk");
	RD(wire_rd_key(r, "endpoint"), "coordinator key 'endpoint'");
	RD(wire_rd_text(r, 1, FT_WIRE_URL_MAX, m->endpoint), "coordinator endpoint");
	if (!endpoint_ok(m->endpoint))
		return ft_errmsg_set(err, FT_EFORMAT, "manifest: bad coordinator endpoint");
	RD(wire_rd_key(r, "sites"), "key 'sites'");
	RD(wire_rd_array(r, &n), "site list");
	if (n > FT_WIRE_MAX_SITES)
		return ft_errmsg_set(err, FT_ERANGE, "manifest: %u sites, at most %u", n,
		                     FT_WIRE_MAX_SITES);
	if (n > 0) {
		m->sites = ft_calloc(n, sizeof(*m->sites));
		if (m->sites == NULL)
			return ft_errmsg_set(err, FT_ENOMEM, "out of memory");
	}
	for (uint32_t i = 0; i < n; i++) {
		ft_wire_site *s = &m->sites[i];

		RD(wire_rd_array(r, &k), "site entry");
		if (k != 3)
			return ft_errmsg_set(err, FT_EFORMAT, "manifest: site %u: bad entry", i);
		RD(wire_rd_u32(r, 1, FT_WIRE_SITE_ID_MAX, &s->id), "site id");
		RD(wire_rd_text(r, 1, FT_WIRE_NAME_MAX, s->name), "site name");
		RD(wire_rd_bin_fixed(r, s->pk, FT_CRYPTO_SIGN_PK_BYTES), "site key");
		if (i > 0 && s->id <= m->sites[i - 1].id)
			return ft_errmsg_set(err, FT_EEXIST,
			                     "manifest: site ids not strictly increasing at id %u",
			                     s->id);
		/* m->n_sites counts the sites checked so far */
		if (key_used(m, s->pk))
			return ft_errmsg_set(err, FT_EEXIST, "manifest: site %u reuses a key", s->id);
		m->n_sites = i + 1;
	}
#undef RD
	if (memcmp(m->consortium_pk, m->coord_pk, FT_CRYPTO_SIGN_PK_BYTES) == 0)
		return ft_errmsg_set(err, FT_EEXIST, "manifest: coordinator uses the consortium key");
	return FT_OK;
}

int ft_wire_manifest_verify(const uint8_t *buf, size_t len,
                            const uint8_t pin[FT_CRYPTO_SIGN_PK_BYTES], ft_wire_manifest **out,
                            ft_errmsg *err)
{
	wire_rd r, rd;
	const uint8_t *doc, *sig;
	size_t doc_len, sig_len;
	uint8_t *signed_msg = NULL, id[FT_CRYPTO_ID_BYTES];
	ft_wire_manifest *m = NULL;
	uint32_t n;
	int rv;

	if (buf == NULL || out == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "manifest: no input");
	if (len > FT_WIRE_MANIFEST_MAX_BYTES)
		return ft_errmsg_set(err, FT_ERANGE, "manifest: %zu bytes, at most %u", len,
		                     FT_WIRE_MANIFEST_MAX_BYTES);
	if (wire_rd_init(&r, buf, len, 2, 3) != FT_OK || wire_rd_array(&r, &n) != FT_OK || n != 2 ||
	    wire_rd_bin(&r, len, &doc, &doc_len) != FT_OK ||
	    wire_rd_bin(&r, FT_CRYPTO_SIG_BYTES, &sig, &sig_len) != FT_OK ||
	    sig_len != FT_CRYPTO_SIG_BYTES)
		return ft_errmsg_set(err, FT_EFORMAT, "manifest: not a signed manifest");
	rv = wire_rd_init(&rd, doc, doc_len, 4, 32 + 4 * (size_t)FT_WIRE_MAX_SITES);
	if (rv != FT_OK)
		return ft_errmsg_set(err, FT_EFORMAT, "manifest: malformed document");
	m = ft_calloc(1, sizeof(*m));
	if (m == NULL)
		return ft_errmsg_set(err, FT_ENOMEM, "out of memory");
	rv = manifest_read(&rd, m, err);
	if (rv != FT_OK)
		goto out;
	if (pin != NULL && !ft_crypto_equal(pin, m->consortium_pk, FT_CRYPTO_SIGN_PK_BYTES)) {
		rv = ft_errmsg_set(err, FT_ECRYPTO,
		                   "manifest: signed for another consortium key than the pinned one");
		goto out;
	}
	signed_msg = ft_malloc(MANIFEST_DOMAIN_LEN + doc_len);
	if (signed_msg == NULL) {
		rv = ft_errmsg_set(err, FT_ENOMEM, "out of memory");
		goto out;
	}
	memcpy(signed_msg, MANIFEST_DOMAIN, MANIFEST_DOMAIN_LEN);
	memcpy(signed_msg + MANIFEST_DOMAIN_LEN, doc, doc_len);
	if (ft_crypto_verify(m->consortium_pk, signed_msg, MANIFEST_DOMAIN_LEN + doc_len, sig) !=
	    FT_OK) {
		rv = ft_errmsg_set(err, FT_ECRYPTO, "manifest: bad signature");
		goto out;
	}
	manifest_id(m->name, m->consortium_pk, id);
	if (!ft_crypto_equal(id, m->id, sizeof(id))) {
		rv = ft_errmsg_set(err, FT_EFORMAT, "manifest: consortium id does not match its name and key");
		goto out;
	}
	*out = m;
	m = NULL;
	rv = FT_OK;
out:
	ft_free(signed_msg);
	ft_wire_manifest_free(m);
	return rv;
}

int ft_wire_manifest_check_update(const ft_wire_manifest *cur, const ft_wire_manifest *next)
{
	if (cur == NULL || next == NULL)
		return FT_EINVAL;
	if (!ft_crypto_equal(cur->id, next->id, FT_CRYPTO_ID_BYTES))
		return FT_EPERM;
	return next->serial > cur->serial ? FT_OK : FT_EREPLAY;
}

/* ---- Files ------------------------------------------------------------------ */

int ft_wire_manifest_save(const uint8_t *buf, size_t len, const char *path, ft_errmsg *err)
{
	char *tmp = NULL, *dir = NULL, *slash;
	size_t plen, off = 0;
	int fd = -1, dfd, rv = FT_EIO;

	if (buf == NULL || path == NULL || len == 0)
		return ft_errmsg_set(err, FT_EINVAL, "manifest: nothing to save");
	plen = strlen(path);
	tmp = ft_malloc(plen + 16);
	dir = ft_malloc(plen + 2);
	if (tmp == NULL || dir == NULL) {
		rv = ft_errmsg_set(err, FT_ENOMEM, "out of memory");
		goto out;
	}
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".tmp.XXXXXX", 12);
	fd = mkstemp(tmp);
	if (fd < 0) {
		rv = ft_errmsg_set(err, FT_EIO, "%s: cannot create a temporary file: %s", path,
		                   strerror(errno));
		goto out_nofile;
	}
	while (off < len) {
		ssize_t w = write(fd, buf + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rv = ft_errmsg_set(err, FT_EIO, "%s: write failed: %s", path, strerror(errno));
			goto out;
		}
		off += (size_t)w;
	}
	if (fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
		rv = ft_errmsg_set(err, FT_EIO, "%s: fsync failed: %s", path, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		rv = ft_errmsg_set(err, FT_EIO, "%s: close failed: %s", path, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		rv = ft_errmsg_set(err, FT_EIO, "%s: rename failed: %s", path, strerror(errno));
		goto out;
	}
	/* The rename is durable once the directory is synced. */
	memcpy(dir, path, plen + 1);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		memcpy(dir, ".", 2);
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	ft_free(tmp);
	ft_free(dir);
	return FT_OK;
out:
	if (fd >= 0)
		close(fd);
	if (tmp != NULL)
		unlink(tmp);
out_nofile:
	ft_free(tmp);
	ft_free(dir);
	return rv;
}

int ft_wire_manifest_load(const char *path, const uint8_t pin[FT_CRYPTO_SIGN_PK_BYTES],
                          ft_wire_manifest **out, ft_errmsg *err)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t off = 0;
	int fd, rv;

	if (path == NULL || out == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "manifest: no path");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ft_errmsg_set(err, errno == ENOENT ? FT_ENOTFOUND : FT_EIO,
		                     "%s: cannot open the manifest: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rv = ft_errmsg_set(err, FT_EIO, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_size <= 0 || (uint64_t)st.st_size > FT_WIRE_MANIFEST_MAX_BYTES) {
		rv = ft_errmsg_set(err, FT_ERANGE, "%s: %lld bytes, a manifest has 1..%u", path,
		                   (long long)st.st_size, FT_WIRE_MANIFEST_MAX_BYTES);
		goto out;
	}
	buf = ft_malloc((size_t)st.st_size);
	if (buf == NULL) {
		rv = ft_errmsg_set(err, FT_ENOMEM, "out of memory");
		goto out;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rv = ft_errmsg_set(err, FT_EIO, "%s: read failed", path);
			goto out;
		}
		off += (size_t)n;
	}
	rv = ft_wire_manifest_verify(buf, off, pin, out, err);
out:
	close(fd);
	ft_free(buf);
	return rv;
}
