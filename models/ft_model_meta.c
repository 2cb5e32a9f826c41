/*
 * ft_model_meta.c - the small string-keyed metadata map stored in model
 * files (run, round, creation time, ...). Entries stay sorted by key so the
 * file encoding is canonical without a sort at save time.
 */
#include "model_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int ft_model_meta_alloc(ft_model_meta **out)
{
	ft_model_meta *meta;

	if (out == NULL)
		return FT_EINVAL;
	meta = ft_calloc(1, sizeof(*meta));
	if (meta == NULL)
		return FT_ENOMEM;
	*out = meta;
	return FT_OK;
}

static void entry_clear(meta_entry *e)
{
	ft_free(e->key);
	ft_free(e->str);
	memset(e, 0, sizeof(*e));
}

void ft_model_meta_free(ft_model_meta *meta)
{
	if (meta == NULL)
		return;
	for (size_t i = 0; i < meta->n; i++)
		entry_clear(&meta->e[i]);
	ft_free(meta);
}

size_t ft_model_meta_count(const ft_model_meta *meta)
{
	return meta == NULL ? 0 : meta->n;
}

/* Index of key, or where it would be inserted (with *found = 0). */
static size_t find(const ft_model_meta *meta, const char *key, int *found)
{
	size_t lo = 0, hi = meta->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(meta->e[mid].key, key);

		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = 0;
	return lo;
}

/* Stores a prepared entry (taking its strings) under its key. */
static int put(ft_model_meta *meta, meta_entry *ne)
{
	int found;
	size_t at = find(meta, ne->key, &found);

	if (found) {
		entry_clear(&meta->e[at]);
		meta->e[at] = *ne;
		return FT_OK;
	}
	if (meta->n == FT_MODEL_META_MAX_ENTRIES)
		return FT_ERANGE;
	memmove(&meta->e[at + 1], &meta->e[at], (meta->n - at) * sizeof(meta->e[0]));
	meta->e[at] = *ne;
	meta->n++;
	return FT_OK;
}

static int check_key(const ft_model_meta *meta, const char *key)
{
	size_t n;

	if (meta == NULL || key == NULL)
		return FT_EINVAL;
	n = strnlen(key, FT_MODEL_META_MAX_KEY + 1);
	if (n == 0)
		return FT_EINVAL;
	if (n > FT_MODEL_META_MAX_KEY)
		return FT_ERANGE;
	return FT_OK;
}

static int set(ft_model_meta *meta, const char *key, meta_entry *ne)
{
	int rv = check_key(meta, key), found;

	if (rv != FT_OK)
		goto fail;
	(void)find(meta, key, &found);
	if (!found && meta->n == FT_MODEL_META_MAX_ENTRIES) {
		rv = FT_ERANGE;
		goto fail;
	}
	ne->key = ft_strdup(key);
	if (ne->key == NULL) {
		rv = FT_ENOMEM;
		goto fail;
	}
	return put(meta, ne);
fail:
	ft_free(ne->str);
	return rv;
}

int ft_model_meta_set_str(ft_model_meta *meta, const char *key, const char *value)
{
	meta_entry ne = { NULL, FT_MODEL_META_STR, NULL, 0, 0 };

	if (value == NULL)
		return FT_EINVAL;
	if (strnlen(value, FT_MODEL_META_MAX_STR + 1) > FT_MODEL_META_MAX_STR)
		return FT_ERANGE;
	ne.str = ft_strdup(value);
	if (ne.str == NULL)
		return FT_ENOMEM;
	return set(meta, key, &ne);
}

int ft_model_meta_set_int(ft_model_meta *meta, const char *key, int64_t value)
{
	meta_entry ne = { NULL, FT_MODEL_META_INT, NULL, value, 0 };

	return set(meta, key, &ne);
}

int ft_model_meta_set_double(ft_model_meta *meta, const char *key, double value)
{
	meta_entry ne = { NULL, FT_MODEL_META_DOUBLE, NULL, 0, value };

	if (!isfinite(value))
		return FT_EINVAL;
	return set(meta, key, &ne);
}

static const meta_entry *lookup(const ft_model_meta *meta, const char *key, int type, int *rv)
{
	int found;
	size_t at;

	if (meta == NULL || key == NULL) {
		*rv = FT_EINVAL;
		return NULL;
	}
	at = find(meta, key, &found);
	if (!found) {
		*rv = FT_ENOTFOUND;
		return NULL;
	}
	if (meta->e[at].type != type) {
		*rv = FT_EINVAL;
		return NULL;
	}
	*rv = FT_OK;
	return &meta->e[at];
}

int ft_model_meta_get_str(const ft_model_meta *meta, const char *key, const char **value)
{
	int rv;
	const meta_entry *e = lookup(meta, key, FT_MODEL_META_STR, &rv);

	if (e != NULL && value != NULL)
		*value = e->str;
	return value == NULL ? FT_EINVAL : rv;
}

int ft_model_meta_get_int(const ft_model_meta *meta, const char *key, int64_t *value)
{
	int rv;
	const meta_entry *e = lookup(meta, key, FT_MODEL_META_INT, &rv);

	if (e != NULL && value != NULL)
		*value = e->i;
	return value == NULL ? FT_EINVAL : rv;
}

int ft_model_meta_get_double(const ft_model_meta *meta, const char *key, double *value)
{
	int rv;
	const meta_entry *e = lookup(meta, key, FT_MODEL_META_DOUBLE, &rv);

	if (e != NULL && value != NULL)
		*value = e->d;
	return value == NULL ? FT_EINVAL : rv;
}

int ft_model_meta_set_vector(ft_model_meta *meta, const char *key, const double *v, size_t n)
{
	/* %.9g needs at most 16 bytes, plus the comma. */
	size_t cap = n * 17 + 1, used = 0;
	char *buf;
	int rv = FT_OK;

	if (meta == NULL || key == NULL || (n > 0 && v == NULL))
		return FT_EINVAL;
	if (n > FT_MODEL_META_MAX_STR / 2)
		return FT_ERANGE;
	buf = ft_malloc(cap);
	if (buf == NULL)
		return FT_ENOMEM;
	buf[0] = '\0';
	for (size_t i = 0; i < n && rv == FT_OK; i++) {
		int w = snprintf(buf + used, cap - used, "%s%.9g", i ? "," : "", v[i]);

		if (w < 0 || (size_t)w >= cap - used)
			rv = FT_EINTERNAL;
		else
			used += (size_t)w;
	}
	if (rv == FT_OK && used > FT_MODEL_META_MAX_STR)
		rv = FT_ERANGE;
	if (rv == FT_OK)
		rv = ft_model_meta_set_str(meta, key, buf);
	ft_free(buf);
	return rv;
}

int ft_model_meta_get_vector(const ft_model_meta *meta, const char *key, double *v, size_t n)
{
	const char *str;
	char *buf, *save = NULL, *tok;
	double *tmp;
	size_t i = 0, len;
	int rv;

	if (meta == NULL || key == NULL || (n > 0 && v == NULL))
		return FT_EINVAL;
	if (ft_model_meta_get_str(meta, key, &str) != FT_OK)
		return FT_ENOTFOUND;
	len = strlen(str);
	buf = ft_malloc(len + 1);
	tmp = ft_mallocarray(n ? n : 1, sizeof(double));
	if (buf == NULL || tmp == NULL) {
		rv = FT_ENOMEM;
		goto out;
	}
	memcpy(buf, str, len + 1);
	rv = FT_OK;
	for (tok = strtok_r(buf, ",", &save); tok != NULL && rv == FT_OK;
	     tok = strtok_r(NULL, ",", &save)) {
		if (i == n || ft_parse_double(tok, &tmp[i]) != FT_OK || !isfinite(tmp[i]))
			rv = FT_EFORMAT;
		else
			i++;
	}
	if (rv == FT_OK && i != n)
		rv = FT_EFORMAT;
	if (rv == FT_OK)
		memcpy(v, tmp, n * sizeof(double));
out:
	ft_free(buf);
	ft_free(tmp);
	return rv;
}
