/*
 * ft_base.c - error strings, allocation with failure injection, strict number
 * parsing and the monotonic clock shared by all modules.
 */
#include "ft_base.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const ft_err_names[FT_ERR_COUNT_] = {
	[FT_OK] = "success",
	[FT_ENOMEM] = "out of memory",
	[FT_EINVAL] = "invalid argument",
	[FT_EPROTO] = "protocol error",
	[FT_ECRYPTO] = "cryptographic verification failed",
	[FT_EIO] = "I/O error",
	[FT_ERANGE] = "value out of range",
	[FT_EFORMAT] = "bad input format",
	[FT_EPERM] = "refused by policy",
	[FT_ENOTFOUND] = "not found",
	[FT_EEXIST] = "already exists",
	[FT_ESTATE] = "not valid in the current state",
	[FT_EREPLAY] = "replayed or stale message",
	[FT_ETIMEDOUT] = "timed out",
	[FT_EDB] = "database error",
	[FT_ENET] = "network error",
	[FT_EABORT] = "aborted",
	[FT_EBUDGET] = "privacy budget exceeded",
	[FT_EINTERNAL] = "internal error",
};

const char *ft_strerror(int err)
{
	if (err < 0 || err >= FT_ERR_COUNT_ || ft_err_names[err] == NULL)
		return "unknown error";
	return ft_err_names[err];
}

int ft_errmsg_set(ft_errmsg *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return code;
}

/* Failure injection: -1 means "never fail". */
static long ft_alloc_budget = -1;

void ft_alloc_fail_after(long n)
{
	ft_alloc_budget = n < 0 ? -1 : n;
}

static int ft_alloc_should_fail(void)
{
	if (ft_alloc_budget < 0)
		return 0;
	if (ft_alloc_budget == 0)
		return 1;
	ft_alloc_budget--;
	return 0;
}

void *ft_malloc(size_t size)
{
	if (ft_alloc_should_fail())
		return NULL;
	return malloc(size == 0 ? 1 : size);
}

void *ft_calloc(size_t n, size_t size)
{
	if (ft_alloc_should_fail())
		return NULL;
	if (n == 0 || size == 0)
		return calloc(1, 1);
	return calloc(n, size);
}

void *ft_mallocarray(size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		return NULL;
	return ft_malloc(n * size);
}

void *ft_reallocarray(void *p, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		return NULL;
	if (ft_alloc_should_fail())
		return NULL;
	return realloc(p, n * size == 0 ? 1 : n * size);
}

char *ft_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = ft_malloc(n);

	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

void ft_free(void *p)
{
	free(p);
}

int ft_parse_double(const char *s, double *out)
{
	char *end = NULL;
	double v;

	if (s == NULL || *s == '\0')
		return FT_EFORMAT;
	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0')
		return FT_EFORMAT;
	if (errno == ERANGE || !isfinite(v))
		return FT_ERANGE;
	*out = v;
	return FT_OK;
}

int ft_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end = NULL;
	long long v;

	if (s == NULL || *s == '\0')
		return FT_EFORMAT;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || *end != '\0')
		return FT_EFORMAT;
	if (errno == ERANGE || v < min || v > max)
		return FT_ERANGE;
	*out = (int64_t)v;
	return FT_OK;
}

int ft_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	if (s == NULL || *s == '\0' || *s == '-' || *s == '+')
		return FT_EFORMAT;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (end == s || *end != '\0')
		return FT_EFORMAT;
	if (errno == ERANGE || v > max)
		return FT_ERANGE;
	*out = (uint64_t)v;
	return FT_OK;
}

uint64_t ft_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
