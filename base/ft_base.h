/*
 * ft_base.h - the one error enum, bounded allocation and small helpers that
 * every fedtwin module shares.
 *
 * This module sits below everything else (even crypto) and knows nothing but
 * libc. It exists so that every module speaks the same error language
 * (FT_OK = 0, negative codes never used) and so that tests can make any
 * allocation fail (see ft_alloc_fail_after()).
 */
#ifndef FT_BASE_H
#define FT_BASE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FT_WARN_UNUSED __attribute__((warn_unused_result))
#define FT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define FT_WARN_UNUSED
#define FT_PRINTF(a, b)
#endif

/*
 * Result codes. 0 is success. Numbers are stable: they appear in logs and in
 * protocol error messages, so never renumber or reuse one; append only.
 */
typedef enum ft_err {
	FT_OK = 0,
	FT_ENOMEM = 1,    /* allocation failed */
	FT_EINVAL = 2,    /* caller passed an invalid argument */
	FT_EPROTO = 3,    /* malformed or out-of-order protocol message */
	FT_ECRYPTO = 4,   /* signature, MAC or decryption failure */
	FT_EIO = 5,       /* file or device I/O failure */
	FT_ERANGE = 6,    /* a value or size is outside its documented limit */
	FT_EFORMAT = 7,   /* bad input file (CSV, config, model file) */
	FT_EPERM = 8,     /* refused by policy (privacy budget, consent, ACL) */
	FT_ENOTFOUND = 9, /* no such key, patient, run or file */
	FT_EEXIST = 10,   /* already exists (duplicate id, duplicate share) */
	FT_ESTATE = 11,   /* operation not valid in the current state/phase */
	FT_EREPLAY = 12,  /* replayed or cross-round message */
	FT_ETIMEDOUT = 13,/* a deadline passed */
	FT_EDB = 14,      /* SQLite error */
	FT_ENET = 15,     /* network / nng error */
	FT_EABORT = 16,   /* protocol aborted (too few survivors, ...) */
	FT_EBUDGET = 17,  /* privacy budget would be exceeded */
	FT_EINTERNAL = 18,/* internal invariant broken: a bug */
	FT_ERR_COUNT_
} ft_err;

/* A static, human-readable description of an ft_err; never NULL. */
const char *ft_strerror(int err);

/*
 * A detail message that travels beside an error code so that the user is told
 * exactly what is wrong ("line 12, column 'age': not a number"). Functions
 * that take an `ft_errmsg *` accept NULL when the caller does not want it.
 */
#define FT_ERRMSG_MAX 256
typedef struct ft_errmsg {
	char msg[FT_ERRMSG_MAX];
} ft_errmsg;

/* Formats into `e` (if non-NULL) and returns `code`, so callers can write
 * `return ft_errmsg_set(e, FT_EFORMAT, "line %zu: ...", n);`. */
int ft_errmsg_set(ft_errmsg *e, int code, const char *fmt, ...) FT_PRINTF(3, 4);

/*
 * Allocation. All project code allocates through these so that tests can
 * inject failures. ft_mallocarray() checks n*size for overflow. All return
 * NULL on failure; ft_free(NULL) is a no-op.
 */
void *ft_malloc(size_t size);
void *ft_calloc(size_t n, size_t size);
void *ft_mallocarray(size_t n, size_t size);
void *ft_reallocarray(void *p, size_t n, size_t size);
char *ft_strdup(const char *s);
void ft_free(void *p);

/*
 * Test hook: after `n` more successful allocations, every allocation fails
 * until the hook is reset with n < 0. Not thread-safe; tests only.
 */
void ft_alloc_fail_after(long n);

/* Little-endian encoding helpers (wire and file formats are little-endian). */
static inline void ft_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}
static inline uint32_t ft_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}
static inline void ft_put_le64(uint8_t *p, uint64_t v)
{
	ft_put_le32(p, (uint32_t)v);
	ft_put_le32(p + 4, (uint32_t)(v >> 32));
}
static inline uint64_t ft_get_le64(const uint8_t *p)
{
	return (uint64_t)ft_get_le32(p) | ((uint64_t)ft_get_le32(p + 4) << 32);
}

/*
 * Strict number parsing (replaces atoi/strtod misuse): the whole string must
 * be a number, with no trailing garbage, and in range. Return FT_OK or
 * FT_EFORMAT / FT_ERANGE; `*out` is written only on success.
 */
int ft_parse_double(const char *s, double *out) FT_WARN_UNUSED;
int ft_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out) FT_WARN_UNUSED;
int ft_parse_u64(const char *s, uint64_t max, uint64_t *out) FT_WARN_UNUSED;

/*
 * Bounded msgpack validation, shared by every decoder of untrusted msgpack
 * (base/ft_msgpack.c). Walks exactly one msgpack object at buf[0..len)
 * without allocating and checks that msgpack-c (or any reader) may then walk
 * it safely: every str/bin/ext length fits in the bytes that remain, every
 * array/map count is backed by the remaining bytes (each element needs at
 * least one byte, a map pair two), containers nest at most `max_depth` deep
 * (a top-level scalar or container is at depth 1) and the object holds at
 * most `max_items` objects in total (a map pair counts 2). The never-used
 * byte 0xc1 is refused. On FT_OK writes *consumed (may be NULL) = the
 * object's length in bytes, which may be less than len. FT_EFORMAT for a
 * truncated, lying or too deep object, FT_ERANGE for more than max_items
 * objects, FT_EINVAL for a NULL buf with len > 0.
 */
int ft_msgpack_check(const uint8_t *buf, size_t len, unsigned max_depth, size_t max_items,
                     size_t *consumed) FT_WARN_UNUSED;

/* Monotonic clock in milliseconds (for deadlines). */
uint64_t ft_now_ms(void);

/*
 * Takes an exclusive advisory lock (flock) on `path`, creating it (0600)
 * if needed, and writes this process's pid into it. On FT_OK *fd_out holds
 * the lock until ft_lock_release or exit (the kernel releases it when the
 * process dies, so there are no stale locks). FT_EEXIST when another
 * process holds it (the message names the file and that process's pid),
 * FT_EIO when the file cannot be opened or locked.
 */
int ft_lock_acquire(const char *path, int *fd_out, ft_errmsg *err) FT_WARN_UNUSED;

/* Releases a lock from ft_lock_acquire; accepts -1. */
void ft_lock_release(int fd);

#ifdef __cplusplus
}
#endif
#endif /* FT_BASE_H */
