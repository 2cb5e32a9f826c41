/*
 * ft_model_ranges.c - public per-feature ranges (`--feature-ranges FILE`):
 * the clipping bounds of federated standardisation. They must come from
 * outside the data (a data dictionary, clinical reference ranges), because
 * the privacy guarantee of the statistics release assumes bounds that no
 * patient influenced. This file only parses them.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ft_model.h"

void ft_model_ranges_free(ft_model_ranges *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; r->name != NULL && i < r->n; i++)
		ft_free(r->name[i]);
	ft_free(r->name);
	ft_free(r->lo);
	ft_free(r->hi);
	ft_free(r);
}

int ft_model_ranges_find(const ft_model_ranges *r, const char *name, size_t *idx)
{
	if (r == NULL || name == NULL || idx == NULL)
		return FT_EINVAL;
	for (size_t i = 0; i < r->n; i++) {
		if (strcmp(r->name[i], name) == 0) {
			*idx = i;
			return FT_OK;
		}
	}
	return FT_ENOTFOUND;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Splits one line (comment already cut) into up to 4 fields; returns the
 * count (4 means too many). */
static size_t fields(char *line, char *f[4])
{
	size_t n = 0;
	char *p = line;

	while (*p != '\0') {
		while (is_space(*p))
			p++;
		if (*p == '\0')
			break;
		if (n == 4)
			return 4;
		f[n++] = p;
		while (*p != '\0' && !is_space(*p))
			p++;
		if (*p != '\0')
			*p++ = '\0';
	}
	return n;
}

int ft_model_ranges_parse(const char *text, size_t len, ft_model_ranges **out, ft_errmsg *err)
{
	ft_model_ranges *r = NULL;
	char *buf = NULL;
	size_t n_lines = 1, line_no = 0, at = 0;
	int rv;

	if (text == NULL || out == NULL)
		return FT_EINVAL;
	if (len > FT_MODEL_RANGES_MAX_BYTES)
		return ft_errmsg_set(err, FT_ERANGE, "feature ranges: more than %zu bytes",
		                     FT_MODEL_RANGES_MAX_BYTES);
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\0')
			return ft_errmsg_set(err, FT_EFORMAT, "feature ranges: a NUL byte");
		n_lines += text[i] == '\n';
	}
	if (n_lines > FT_MODEL_MAX_FEATURES * 4u)
		return ft_errmsg_set(err, FT_ERANGE, "feature ranges: too many lines");
	buf = ft_malloc(len + 1);
	r = ft_calloc(1, sizeof(*r));
	if (buf == NULL || r == NULL) {
		rv = FT_ENOMEM;
		goto out;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	/* At most one feature per line: size the arrays by the line count. */
	r->name = ft_calloc(n_lines, sizeof(char *));
	r->lo = ft_calloc(n_lines, sizeof(double));
	r->hi = ft_calloc(n_lines, sizeof(double));
	if (r->name == NULL || r->lo == NULL || r->hi == NULL) {
		rv = FT_ENOMEM;
		goto out;
	}
	while (at <= len) {
		char *line = buf + at, *nl = strchr(line, '\n'), *hash, *f[4];
		size_t nf, nlen, dummy;

		line_no++;
		if (nl != NULL)
			*nl = '\0';
		at = nl != NULL ? (size_t)(nl - buf) + 1 : len + 1;
		hash = strchr(line, '#');
		if (hash != NULL)
			*hash = '\0';
		nf = fields(line, f);
		if (nf == 0)
			continue;
		if (nf != 3) {
			rv = ft_errmsg_set(err, FT_EFORMAT, "feature ranges, line %zu: expected NAME LO HI",
			                   line_no);
			goto out;
		}
		nlen = strlen(f[0]);
		for (size_t i = 0; i < nlen; i++) {
			if ((unsigned char)f[0][i] < 0x21 || (unsigned char)f[0][i] > 0x7e) {
				rv = ft_errmsg_set(err, FT_EFORMAT,
				                   "feature ranges, line %zu: the name is not printable",
				                   line_no);
				goto out;
			}
		}
		if (nlen > FT_MODEL_RANGES_NAME_MAX) {
			rv = ft_errmsg_set(err, FT_EFORMAT, "feature ranges, line %zu: name over %u bytes",
			                   line_no, FT_MODEL_RANGES_NAME_MAX);
			goto out;
		}
		if (ft_model_ranges_find(r, f[0], &dummy) == FT_OK) {
			rv = ft_errmsg_set(err, FT_EFORMAT, "feature ranges, line %zu: '%s' again",
			                   line_no, f[0]);
			goto out;
		}
		if (r->n >= FT_MODEL_MAX_FEATURES) {
			rv = ft_errmsg_set(err, FT_ERANGE, "feature ranges: more than %u features",
			                   FT_MODEL_MAX_FEATURES);
			goto out;
		}
		if (ft_parse_double(f[1], &r->lo[r->n]) != FT_OK ||
		    ft_parse_double(f[2], &r->hi[r->n]) != FT_OK || !isfinite(r->lo[r->n]) ||
		    !isfinite(r->hi[r->n]) || !(r->lo[r->n] < r->hi[r->n])) {
			rv = ft_errmsg_set(err, FT_EFORMAT,
			                   "feature ranges, line %zu: LO and HI must be finite, LO < HI",
			                   line_no);
			goto out;
		}
		r->name[r->n] = ft_malloc(nlen + 1);
		if (r->name[r->n] == NULL) {
			rv = FT_ENOMEM;
			goto out;
		}
		memcpy(r->name[r->n], f[0], nlen + 1);
		r->n++;
	}
	if (r->n == 0) {
		rv = ft_errmsg_set(err, FT_EFORMAT, "feature ranges: no feature");
		goto out;
	}
	*out = r;
	r = NULL;
	rv = FT_OK;
out:
	if (rv == FT_ENOMEM)
		ft_errmsg_set(err, rv, "feature ranges: out of memory");
	ft_model_ranges_free(r);
	ft_free(buf);
	return rv;
}

int ft_model_ranges_load(const char *path, ft_model_ranges **out, ft_errmsg *err)
{
	FILE *fp;
	char *text = NULL;
	size_t len;
	int rv;

	if (path == NULL || out == NULL)
		return FT_EINVAL;
	fp = fopen(path, "rb");
	if (fp == NULL)
		return ft_errmsg_set(err, FT_EIO, "%s: %s", path, strerror(errno));
	text = ft_malloc(FT_MODEL_RANGES_MAX_BYTES + 1);
	if (text == NULL) {
		fclose(fp);
		return ft_errmsg_set(err, FT_ENOMEM, "out of memory");
	}
	len = fread(text, 1, FT_MODEL_RANGES_MAX_BYTES + 1, fp);
	if (ferror(fp))
		rv = ft_errmsg_set(err, FT_EIO, "%s: read error", path);
	else if (len > FT_MODEL_RANGES_MAX_BYTES)
		rv = ft_errmsg_set(err, FT_ERANGE, "%s: more than %zu bytes", path,
		                   FT_MODEL_RANGES_MAX_BYTES);
	else
		rv = ft_model_ranges_parse(text, len, out, err);
	fclose(fp);
	ft_free(text);
	return rv;
}
