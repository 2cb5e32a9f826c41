/*
 * ft_model_file.c - model files: the canonical msgpack encoding of a model's
 * architecture, parameters and metadata, sealed with a BLAKE2b-256 hash
 * (docs/PROTOCOL.md, "Model files"), atomic saving, and a decoder that treats
 * its input as hostile.
 *
 * msgpack-c reserves memory for the element count a container header
 * declares before it has seen the elements, so the decoder first walks the
 * buffer itself (bounded depth, every count and length checked against the
 * bytes that remain) and only then lets msgpack-c unpack it.
 */
#include "model_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <msgpack.h>

#include "ft_crypto.h"

#define FILE_MAX_DEPTH 4       /* root map > spec map > hidden array */
#define FILE_MAX_OBJECTS 1024u /* far above the 5 + 12 + 8 + 2 * 64 a file uses */

static const char *const kind_names[] = { NULL, "logreg", "softmax", "linreg", "mlp" };
static const char *const act_names[] = { "none", "relu", "tanh" };

/* ---- Encoding ------------------------------------------------------------ */

static int pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);

	if (msgpack_pack_str(pk, n) != 0 || msgpack_pack_str_body(pk, s, n) != 0)
		return FT_ENOMEM;
	return FT_OK;
}

/* The four key/value pairs the hash covers, appended to pk. */
static int pack_body(msgpack_packer *pk, const ft_model *m, const ft_model_meta *meta)
{
	const ft_model_spec *s = &m->spec;
	uint8_t chunk[4096];
	size_t n_meta = meta != NULL ? meta->n : 0;
	int rv = FT_ENOMEM;

	if (pack_str(pk, "format") || msgpack_pack_uint32(pk, FT_MODEL_FILE_VERSION))
		goto out;
	if (pack_str(pk, "spec") || msgpack_pack_map(pk, 5))
		goto out;
	if (pack_str(pk, "kind") || pack_str(pk, kind_names[s->kind]))
		goto out;
	if (pack_str(pk, "n_features") || msgpack_pack_uint32(pk, s->n_features))
		goto out;
	if (pack_str(pk, "n_classes") || msgpack_pack_uint32(pk, s->n_classes))
		goto out;
	if (pack_str(pk, "hidden") || msgpack_pack_array(pk, s->n_hidden))
		goto out;
	for (uint32_t i = 0; i < s->n_hidden; i++)
		if (msgpack_pack_uint32(pk, s->hidden[i]))
			goto out;
	if (pack_str(pk, "activation") || pack_str(pk, act_names[s->activation]))
		goto out;
	if (pack_str(pk, "params") || msgpack_pack_bin(pk, m->n_params * 4))
		goto out;
	for (size_t p = 0; p < m->n_params;) {
		size_t n = m->n_params - p;

		if (n > sizeof(chunk) / 4)
			n = sizeof(chunk) / 4;
		for (size_t i = 0; i < n; i++) {
			uint32_t u;

			memcpy(&u, &m->params[p + i], 4);
			ft_put_le32(chunk + 4 * i, u);
		}
		if (msgpack_pack_bin_body(pk, chunk, n * 4))
			goto out;
		p += n;
	}
	if (pack_str(pk, "meta") || msgpack_pack_map(pk, n_meta))
		goto out;
	for (size_t i = 0; i < n_meta; i++) {
		const meta_entry *e = &meta->e[i];

		if (pack_str(pk, e->key))
			goto out;
		if (e->type == FT_MODEL_META_STR) {
			if (pack_str(pk, e->str))
				goto out;
		} else if (e->type == FT_MODEL_META_INT) {
			if (msgpack_pack_int64(pk, e->i))
				goto out;
		} else if (msgpack_pack_double(pk, e->d)) {
			goto out;
		}
	}
	rv = FT_OK;
out:
	return rv;
}

/* The whole file into a msgpack sbuffer (which the caller destroys). */
static int encode_sbuf(const ft_model *m, const ft_model_meta *meta, msgpack_sbuffer *sb)
{
	msgpack_packer pk;
	uint8_t hash[FT_CRYPTO_HASH_BYTES];
	int rv;

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	if (msgpack_pack_map(&pk, 5))
		return FT_ENOMEM;
	rv = pack_body(&pk, m, meta);
	if (rv != FT_OK)
		return rv;
	/* Everything after the 1-byte root map header. */
	ft_crypto_hash(hash, sb->data + 1, sb->size - 1);
	if (pack_str(&pk, "hash") || msgpack_pack_bin(&pk, sizeof(hash)) ||
	    msgpack_pack_bin_body(&pk, hash, sizeof(hash)))
		return FT_ENOMEM;
	return FT_OK;
}

int ft_model_encode(const ft_model *m, const ft_model_meta *meta, uint8_t **buf, size_t *len)
{
	msgpack_sbuffer sb;
	uint8_t *copy = NULL;
	int rv;

	if (m == NULL || buf == NULL || len == NULL)
		return FT_EINVAL;
	msgpack_sbuffer_init(&sb);
	rv = encode_sbuf(m, meta, &sb);
	if (rv != FT_OK)
		goto out;
	if (sb.size > FT_MODEL_FILE_MAX_BYTES) {
		rv = FT_ERANGE;
		goto out;
	}
	copy = ft_malloc(sb.size);
	if (copy == NULL) {
		rv = FT_ENOMEM;
		goto out;
	}
	memcpy(copy, sb.data, sb.size);
	*buf = copy;
	*len = sb.size;
	rv = FT_OK;
out:
	msgpack_sbuffer_destroy(&sb);
	return rv;
}

/* ---- Bounded pre-walk ------------------------------------------------------ */

typedef struct walker {
	const uint8_t *p;
	size_t len, pos, objects;
	ft_errmsg *err;
} walker;

static uint64_t be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Skips `n` bytes of payload after a header, if they are there. */
static int walk_skip(walker *w, uint64_t n, const char *what)
{
	if (n > w->len - w->pos)
		return ft_errmsg_set(w->err, FT_EFORMAT,
		                     "truncated: %s of %llu bytes at offset %zu, %zu bytes left", what,
		                     (unsigned long long)n, w->pos, w->len - w->pos);
	w->pos += (size_t)n;
	return FT_OK;
}

static int walk(walker *w, unsigned depth)
{
	uint8_t b;
	uint64_t count = 0;
	int per = 1, rv; /* objects per container entry: 2 for maps */

	if (depth > FILE_MAX_DEPTH)
		return ft_errmsg_set(w->err, FT_EFORMAT, "nesting deeper than %d at offset %zu",
		                     FILE_MAX_DEPTH, w->pos);
	if (++w->objects > FILE_MAX_OBJECTS)
		return ft_errmsg_set(w->err, FT_ERANGE, "more than %u msgpack objects",
		                     FILE_MAX_OBJECTS);
	if (w->pos >= w->len)
		return ft_errmsg_set(w->err, FT_EFORMAT, "truncated: value expected at offset %zu",
		                     w->pos);
	b = w->p[w->pos++];
	if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
		return FT_OK;
	if (b >= 0xa0 && b <= 0xbf)
		return walk_skip(w, b & 0x1fu, "string");
	if ((b >= 0x80 && b <= 0x8f) || (b >= 0x90 && b <= 0x9f)) {
		count = b & 0x0fu;
		per = b <= 0x8f ? 2 : 1;
	} else {
		static const struct { uint8_t tag; uint8_t hdr; uint8_t kind; } t[] = {
			/* kind: 0 fixed payload of hdr bytes, 1 string/bin with
			 * an hdr-byte length, 2 array, 3 map (hdr-byte count) */
			{ 0xc4, 1, 1 }, { 0xc5, 2, 1 }, { 0xc6, 4, 1 }, { 0xca, 4, 0 },
			{ 0xcb, 8, 0 }, { 0xcc, 1, 0 }, { 0xcd, 2, 0 }, { 0xce, 4, 0 },
			{ 0xcf, 8, 0 }, { 0xd0, 1, 0 }, { 0xd1, 2, 0 }, { 0xd2, 4, 0 },
			{ 0xd3, 8, 0 }, { 0xd9, 1, 1 }, { 0xda, 2, 1 }, { 0xdb, 4, 1 },
			{ 0xdc, 2, 2 }, { 0xdd, 4, 2 }, { 0xde, 2, 3 }, { 0xdf, 4, 3 },
		};
		size_t i;

		for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
			if (t[i].tag == b)
				break;
		if (i == sizeof(t) / sizeof(t[0]))
			return ft_errmsg_set(w->err, FT_EFORMAT,
			                     "unsupported msgpack type 0x%02x at offset %zu", b, w->pos - 1);
		if (t[i].hdr > w->len - w->pos)
			return ft_errmsg_set(w->err, FT_EFORMAT, "truncated header at offset %zu",
			                     w->pos - 1);
		if (t[i].kind == 0)
			return walk_skip(w, t[i].hdr, "number");
		count = be(w->p + w->pos, t[i].hdr);
		w->pos += t[i].hdr;
		if (t[i].kind == 1)
			return walk_skip(w, count, "string or binary");
		per = t[i].kind == 3 ? 2 : 1;
	}
	/* Each element takes at least one byte: a count beyond the remaining
	 * bytes is a lie, and is refused before msgpack-c reserves for it. */
	if (count > (w->len - w->pos) / (uint64_t)per)
		return ft_errmsg_set(w->err, FT_EFORMAT,
		                     "container at offset %zu declares %llu entries, only %zu bytes left",
		                     w->pos, (unsigned long long)count, w->len - w->pos);
	for (uint64_t i = 0; i < count * (uint64_t)per; i++) {
		rv = walk(w, depth + 1);
		if (rv != FT_OK)
			return rv;
	}
	return FT_OK;
}

/* ---- Decoding ---------------------------------------------------------------- */

static int key_is(const msgpack_object_kv *kv, const char *key)
{
	size_t n = strlen(key);

	return kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == n &&
	       memcmp(kv->key.via.str.ptr, key, n) == 0;
}

static int get_u32(const msgpack_object *o, uint32_t *out)
{
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > UINT32_MAX)
		return 0;
	*out = (uint32_t)o->via.u64;
	return 1;
}

/* Index of the string o in names[0..n), or -1. */
static int name_index(const msgpack_object *o, const char *const *names, int n)
{
	if (o->type != MSGPACK_OBJECT_STR)
		return -1;
	for (int i = 0; i < n; i++)
		if (names[i] != NULL && o->via.str.size == strlen(names[i]) &&
		    memcmp(o->via.str.ptr, names[i], o->via.str.size) == 0)
			return i;
	return -1;
}

static int decode_spec(const msgpack_object *o, ft_model_spec *s, ft_errmsg *err)
{
	static const char *const keys[] = { "kind", "n_features", "n_classes", "hidden",
	                                    "activation" };
	const msgpack_object_kv *kv;
	int k;

	memset(s, 0, sizeof(*s));
	if (o->type != MSGPACK_OBJECT_MAP || o->via.map.size != 5)
		return ft_errmsg_set(err, FT_EFORMAT, "spec: not a map of 5 entries");
	kv = o->via.map.ptr;
	for (int i = 0; i < 5; i++)
		if (!key_is(&kv[i], keys[i]))
			return ft_errmsg_set(err, FT_EFORMAT, "spec: entry %d is not '%s'", i, keys[i]);
	k = name_index(&kv[0].val, kind_names, 5);
	if (k < 1)
		return ft_errmsg_set(err, FT_EINVAL, "spec: unknown model kind");
	s->kind = (uint32_t)k;
	if (!get_u32(&kv[1].val, &s->n_features) || !get_u32(&kv[2].val, &s->n_classes))
		return ft_errmsg_set(err, FT_EFORMAT, "spec: n_features/n_classes not unsigned 32-bit");
	if (kv[3].val.type != MSGPACK_OBJECT_ARRAY || kv[3].val.via.array.size > FT_MODEL_MAX_HIDDEN)
		return ft_errmsg_set(err, FT_EFORMAT, "spec: hidden is not an array of at most %u widths",
		                     FT_MODEL_MAX_HIDDEN);
	s->n_hidden = kv[3].val.via.array.size;
	for (uint32_t i = 0; i < s->n_hidden; i++)
		if (!get_u32(&kv[3].val.via.array.ptr[i], &s->hidden[i]))
			return ft_errmsg_set(err, FT_EFORMAT, "spec: hidden[%u] not unsigned 32-bit", i);
	k = name_index(&kv[4].val, act_names, 3);
	if (k < 0)
		return ft_errmsg_set(err, FT_EINVAL, "spec: unknown activation");
	s->activation = (uint32_t)k;
	return ft_model_spec_check(s, NULL, err);
}

static int decode_meta(const msgpack_object *o, ft_model_meta *meta, ft_errmsg *err)
{
	char key[FT_MODEL_META_MAX_KEY + 1];
	char *str = NULL;
	int rv = FT_OK;

	if (o->type != MSGPACK_OBJECT_MAP || o->via.map.size > FT_MODEL_META_MAX_ENTRIES)
		return ft_errmsg_set(err, FT_EFORMAT, "meta: not a map of at most %u entries",
		                     FT_MODEL_META_MAX_ENTRIES);
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;

		if (k->type != MSGPACK_OBJECT_STR || k->via.str.size == 0 ||
		    k->via.str.size > FT_MODEL_META_MAX_KEY ||
		    memchr(k->via.str.ptr, 0, k->via.str.size) != NULL)
			return ft_errmsg_set(err, FT_EFORMAT, "meta: entry %u has a bad key", i);
		memcpy(key, k->via.str.ptr, k->via.str.size);
		key[k->via.str.size] = '\0';
		switch (v->type) {
		case MSGPACK_OBJECT_STR:
			if (v->via.str.size > FT_MODEL_META_MAX_STR ||
			    memchr(v->via.str.ptr, 0, v->via.str.size) != NULL)
				return ft_errmsg_set(err, FT_EFORMAT, "meta '%s': bad string value", key);
			str = ft_malloc(v->via.str.size + 1);
			if (str == NULL)
				return ft_errmsg_set(err, FT_ENOMEM, "out of memory");
			memcpy(str, v->via.str.ptr, v->via.str.size);
			str[v->via.str.size] = '\0';
			rv = ft_model_meta_set_str(meta, key, str);
			ft_free(str);
			str = NULL;
			break;
		case MSGPACK_OBJECT_POSITIVE_INTEGER:
			if (v->via.u64 > INT64_MAX)
				return ft_errmsg_set(err, FT_ERANGE, "meta '%s': integer over 2^63-1", key);
			rv = ft_model_meta_set_int(meta, key, (int64_t)v->via.u64);
			break;
		case MSGPACK_OBJECT_NEGATIVE_INTEGER:
			rv = ft_model_meta_set_int(meta, key, v->via.i64);
			break;
		case MSGPACK_OBJECT_FLOAT64:
			rv = ft_model_meta_set_double(meta, key, v->via.f64);
			break;
		default:
			return ft_errmsg_set(err, FT_EFORMAT, "meta '%s': value is not a string or number",
			                     key);
		}
		if (rv != FT_OK)
			return ft_errmsg_set(err, rv, "meta '%s': %s", key, ft_strerror(rv));
	}
	return FT_OK;
}

int ft_model_decode(const uint8_t *buf, size_t len, ft_model **out, ft_model_meta **meta_out,
                    ft_errmsg *err)
{
	static const char *const keys[] = { "format", "spec", "params", "meta", "hash" };
	walker w = { buf, len, 0, 0, err };
	msgpack_unpacked up;
	msgpack_sbuffer sb;
	const msgpack_object_kv *kv;
	ft_model_spec spec;
	ft_model *m = NULL;
	ft_model_meta *meta = NULL;
	size_t off = 0, n_params = 0;
	uint8_t hash[FT_CRYPTO_HASH_BYTES];
	int rv;

	msgpack_unpacked_init(&up);
	msgpack_sbuffer_init(&sb);
	if (buf == NULL || out == NULL) {
		rv = ft_errmsg_set(err, FT_EINVAL, "no input or output");
		goto out;
	}
	if (len == 0 || len > FT_MODEL_FILE_MAX_BYTES) {
		rv = ft_errmsg_set(err, len ? FT_ERANGE : FT_EFORMAT,
		                   "model file of %zu bytes (must be 1..%zu)", len,
		                   FT_MODEL_FILE_MAX_BYTES);
		goto out;
	}
	rv = walk(&w, 0);
	if (rv != FT_OK)
		goto out;
	if (w.pos != len) {
		rv = ft_errmsg_set(err, FT_EFORMAT, "%zu trailing bytes after the model", len - w.pos);
		goto out;
	}
	if (msgpack_unpack_next(&up, (const char *)buf, len, &off) != MSGPACK_UNPACK_SUCCESS ||
	    off != len) {
		rv = ft_errmsg_set(err, FT_EFORMAT, "msgpack decoding failed");
		goto out;
	}
	if (up.data.type != MSGPACK_OBJECT_MAP || up.data.via.map.size != 5) {
		rv = ft_errmsg_set(err, FT_EFORMAT, "not a model file: root is not a map of 5 entries");
		goto out;
	}
	kv = up.data.via.map.ptr;
	for (int i = 0; i < 5; i++)
		if (!key_is(&kv[i], keys[i])) {
			rv = ft_errmsg_set(err, FT_EFORMAT, "entry %d is not '%s'", i, keys[i]);
			goto out;
		}
	if (kv[0].val.type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    kv[0].val.via.u64 != FT_MODEL_FILE_VERSION) {
		rv = ft_errmsg_set(err, FT_EFORMAT, "unsupported model file format (want version %u)",
		                   FT_MODEL_FILE_VERSION);
		goto out;
	}
	rv = decode_spec(&kv[1].val, &spec, err);
	if (rv != FT_OK)
		goto out;
	rv = ft_model_spec_check(&spec, &n_params, err);
	if (rv != FT_OK)
		goto out;
	if (kv[2].val.type != MSGPACK_OBJECT_BIN || kv[2].val.via.bin.size / 4 != n_params ||
	    kv[2].val.via.bin.size % 4 != 0) {
		rv = ft_errmsg_set(err, FT_EFORMAT, "params: expected %zu bytes of float32 for this spec",
		                   n_params * 4);
		goto out;
	}
	if (kv[4].val.type != MSGPACK_OBJECT_BIN || kv[4].val.via.bin.size != FT_CRYPTO_HASH_BYTES) {
		rv = ft_errmsg_set(err, FT_EFORMAT, "hash: not %u bytes", FT_CRYPTO_HASH_BYTES);
		goto out;
	}
	rv = ft_model_alloc(&spec, &m, err);
	if (rv != FT_OK)
		goto out;
	for (size_t i = 0; i < n_params; i++) {
		uint32_t u = ft_get_le32((const uint8_t *)kv[2].val.via.bin.ptr + 4 * i);

		memcpy(&m->params[i], &u, 4);
		if (!isfinite(m->params[i])) {
			rv = ft_errmsg_set(err, FT_EFORMAT, "params: value %zu is not finite", i);
			goto out;
		}
	}
	rv = ft_model_meta_alloc(&meta);
	if (rv != FT_OK) {
		ft_errmsg_set(err, rv, "out of memory");
		goto out;
	}
	rv = decode_meta(&kv[3].val, meta, err);
	if (rv != FT_OK)
		goto out;
	/* One encoding per model: anything else (other integer widths, key
	 * order, duplicate keys) is refused, so the hash is over exactly what
	 * was decoded. The hash itself is the last 32 bytes. */
	rv = encode_sbuf(m, meta, &sb);
	if (rv != FT_OK) {
		ft_errmsg_set(err, rv, "out of memory");
		goto out;
	}
	if (sb.size != len || memcmp(sb.data, buf, len - FT_CRYPTO_HASH_BYTES) != 0) {
		rv = ft_errmsg_set(err, FT_EFORMAT, "model file is not in canonical encoding");
		goto out;
	}
	/* The canonical tail is fixstr "hash" (5 bytes), bin8 header (2) and
	 * the 32-byte hash; the hash covers everything between it and the
	 * root map header. */
	ft_crypto_hash(hash, buf + 1, len - 1 - (5 + 2 + FT_CRYPTO_HASH_BYTES));
	if (!ft_crypto_equal(hash, kv[4].val.via.bin.ptr, FT_CRYPTO_HASH_BYTES)) {
		rv = ft_errmsg_set(err, FT_ECRYPTO, "hash mismatch: the model file is corrupted");
		goto out;
	}
	*out = m;
	m = NULL;
	if (meta_out != NULL) {
		*meta_out = meta;
		meta = NULL;
	}
	rv = FT_OK;
out:
	msgpack_sbuffer_destroy(&sb);
	msgpack_unpacked_destroy(&up);
	ft_model_free(m);
	ft_model_meta_free(meta);
	return rv;
}

/* ---- Files ------------------------------------------------------------------- */

int ft_model_save(const ft_model *m, const ft_model_meta *meta, const char *path, ft_errmsg *err)
{
	uint8_t *buf = NULL;
	size_t len = 0, done = 0;
	char tmp[PATH_MAX], dir[PATH_MAX];
	const char *slash;
	int fd = -1, rv;

	if (m == NULL || path == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "no model or path");
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= sizeof(tmp))
		return ft_errmsg_set(err, FT_EINVAL, "path too long");
	rv = ft_model_encode(m, meta, &buf, &len);
	if (rv != FT_OK)
		return ft_errmsg_set(err, rv, "encoding the model: %s", ft_strerror(rv));
	fd = mkstemp(tmp);
	if (fd < 0) {
		rv = ft_errmsg_set(err, FT_EIO, "%s: cannot create temporary file: %s", path,
		                   strerror(errno));
		goto out;
	}
	while (done < len) {
		ssize_t n = write(fd, buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rv = ft_errmsg_set(err, FT_EIO, "%s: write failed: %s", tmp, strerror(errno));
			goto out_unlink;
		}
		done += (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		rv = ft_errmsg_set(err, FT_EIO, "%s: fsync/close failed: %s", tmp, strerror(errno));
		goto out_unlink;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		rv = ft_errmsg_set(err, FT_EIO, "%s: rename failed: %s", path, strerror(errno));
		goto out_unlink;
	}
	/* Make the rename itself durable. */
	slash = strrchr(path, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
		fd = -1;
	}
	rv = FT_OK;
	goto out;
out_unlink:
	if (fd >= 0)
		close(fd);
	fd = -1;
	unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	ft_free(buf);
	return rv;
}

int ft_model_load(const char *path, ft_model **out, ft_model_meta **meta_out, ft_errmsg *err)
{
	uint8_t *buf = NULL;
	struct stat st;
	size_t len, done = 0;
	int fd, rv;

	if (path == NULL || out == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "no path or output");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ft_errmsg_set(err, errno == ENOENT ? FT_ENOTFOUND : FT_EIO, "%s: %s", path,
		                     strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rv = ft_errmsg_set(err, FT_EIO, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_size <= 0 || (uint64_t)st.st_size > FT_MODEL_FILE_MAX_BYTES) {
		rv = ft_errmsg_set(err, st.st_size <= 0 ? FT_EFORMAT : FT_ERANGE,
		                   "%s: %lld bytes (a model file has 1..%zu)", path,
		                   (long long)st.st_size, FT_MODEL_FILE_MAX_BYTES);
		goto out;
	}
	len = (size_t)st.st_size;
	buf = ft_malloc(len);
	if (buf == NULL) {
		rv = ft_errmsg_set(err, FT_ENOMEM, "%s: out of memory", path);
		goto out;
	}
	while (done < len) {
		ssize_t n = read(fd, buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rv = ft_errmsg_set(err, FT_EIO, "%s: short read", path);
			goto out;
		}
		done += (size_t)n;
	}
	rv = ft_model_decode(buf, len, out, meta_out, err);
out:
	close(fd);
	ft_free(buf);
	return rv;
}
