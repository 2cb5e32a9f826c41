/*
 * ft_crypto.h - the cryptographic core of fedtwin: everything secure
 * aggregation, the wire protocol and the audit log need, on top of libsodium.
 *
 * Nothing here implements a primitive: Ed25519, X25519, BLAKE2b, ChaCha20,
 * XChaCha20-Poly1305 and Argon2id are libsodium's. This module composes them
 * (key files, the KDF, AEAD with bound associated data, Shamir sharing over a
 * field whose arithmetic is libsodium's constant-time scalar code, mask
 * expansion, fixed-point encoding) and documents every byte in
 * docs/PROTOCOL.md, section "Cryptographic core".
 *
 * Conventions: functions return FT_OK or an ft_err code; outputs are written
 * only on FT_OK; verification and decoding functions are FT_WARN_UNUSED.
 * Long-lived secret keys live in sodium_malloc() memory inside opaque objects
 * (ft_crypto_identity, ft_crypto_kx) and are wiped by their _free(); other
 * modules get the same memory from ft_crypto_secure_alloc().
 * Every function may be called from any thread once ft_crypto_init() has
 * returned FT_OK; objects are not internally locked.
 */
#ifndef FT_CRYPTO_H
#define FT_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "ft_base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FT_CRYPTO_SIGN_PK_BYTES 32u
#define FT_CRYPTO_SIG_BYTES 64u
#define FT_CRYPTO_KX_PK_BYTES 32u
#define FT_CRYPTO_KEY_BYTES 32u      /* symmetric keys and seeds */
#define FT_CRYPTO_HASH_BYTES 32u     /* BLAKE2b-256 */
#define FT_CRYPTO_ID_BYTES 32u       /* consortium id */
#define FT_CRYPTO_FPR_CHARS 19u      /* "xxxx-xxxx-xxxx-xxxx" */
#define FT_CRYPTO_AEAD_NONCE_BYTES 24u
#define FT_CRYPTO_AEAD_TAG_BYTES 16u
#define FT_CRYPTO_AEAD_OVERHEAD (FT_CRYPTO_AEAD_NONCE_BYTES + FT_CRYPTO_AEAD_TAG_BYTES)
#define FT_CRYPTO_SHAMIR_MAX_N 1000u
#define FT_CRYPTO_SECRET_BYTES 32u   /* Shamir secrets */
#define FT_CRYPTO_SHARE_BYTES 64u    /* one Shamir share value (see PROTOCOL.md) */

/*
 * Initialises libsodium. Both binaries call it first and stop unless it
 * returns FT_OK. Idempotent and thread-safe.
 */
int ft_crypto_init(void) FT_WARN_UNUSED;

/* Fills buf with n bytes from libsodium's CSPRNG. */
void ft_crypto_random(void *buf, size_t n);

/* Uniform integer in [0, upper) from the CSPRNG (upper > 0). */
uint32_t ft_crypto_random_uniform(uint32_t upper);

/* Wipes n bytes at p so the compiler cannot elide it. */
void ft_crypto_wipe(void *p, size_t n);

/* Constant-time equality of two n-byte buffers: 1 if equal, else 0. */
int ft_crypto_equal(const void *a, const void *b, size_t n) FT_WARN_UNUSED;

/* ---- Hashing: BLAKE2b-256 (unkeyed) ---------------------------------- */

void ft_crypto_hash(uint8_t out[FT_CRYPTO_HASH_BYTES], const void *in, size_t n);

/* Streaming BLAKE2b-256. The state is plain memory (no allocation). */
typedef struct ft_crypto_hash_state {
	_Alignas(64) uint8_t opaque[384];
} ft_crypto_hash_state;
void ft_crypto_hash_init(ft_crypto_hash_state *st);
void ft_crypto_hash_update(ft_crypto_hash_state *st, const void *in, size_t n);
void ft_crypto_hash_final(ft_crypto_hash_state *st, uint8_t out[FT_CRYPTO_HASH_BYTES]);

/* ---- Identity keys: Ed25519 ------------------------------------------- */

/* Opaque: the secret key sits in sodium_malloc memory. */
typedef struct ft_crypto_identity ft_crypto_identity;

/* Generates a fresh key pair. On FT_OK the caller owns *out
 * (free with ft_crypto_identity_free). */
int ft_crypto_identity_generate(ft_crypto_identity **out) FT_WARN_UNUSED;

/* Deterministic key pair from a 32-byte seed (tests, known answers; key
 * files store the seed). On FT_OK the caller owns *out. FT_ENOMEM. */
int ft_crypto_identity_from_seed(const uint8_t seed[FT_CRYPTO_KEY_BYTES],
                                 ft_crypto_identity **out) FT_WARN_UNUSED;

/* Wipes and frees; accepts NULL. */
void ft_crypto_identity_free(ft_crypto_identity *id);

/* The public key (32 bytes), valid as long as `id`. */
const uint8_t *ft_crypto_identity_pk(const ft_crypto_identity *id);

/* Detached Ed25519 signature over msg (n bytes; msg may be NULL if n is 0)
 * into the caller's sig. FT_OK, or FT_EINVAL for NULL arguments. */
int ft_crypto_identity_sign(const ft_crypto_identity *id, const void *msg, size_t n,
                            uint8_t sig[FT_CRYPTO_SIG_BYTES]);

/* FT_OK if sig is a valid signature of msg by pk, else FT_ECRYPTO. */
int ft_crypto_verify(const uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES], const void *msg, size_t n,
                     const uint8_t sig[FT_CRYPTO_SIG_BYTES]) FT_WARN_UNUSED;

/*
 * Key files (format in docs/PROTOCOL.md). ft_crypto_identity_save writes the
 * secret key file atomically (temporary file, fsync, rename) with mode 0600;
 * with a non-NULL passphrase the key is sealed with Argon2id +
 * XChaCha20-Poly1305. Refuses to overwrite an existing file (FT_EEXIST).
 * ft_crypto_identity_load returns FT_ECRYPTO for a wrong passphrase,
 * FT_EPERM if the file is readable by group/others, FT_EFORMAT for a bad file,
 * FT_EINVAL if the file is sealed and no passphrase was given.
 */
int ft_crypto_identity_save(const ft_crypto_identity *id, const char *path,
                            const char *passphrase) FT_WARN_UNUSED;
/* On FT_OK the caller owns *out (ft_crypto_identity_free); `err` (may be
 * NULL) says what is wrong, never showing key material. */
int ft_crypto_identity_load(const char *path, const char *passphrase,
                            ft_crypto_identity **out, ft_errmsg *err) FT_WARN_UNUSED;

/*
 * Decodes the bytes of a secret key file (PROTOCOL.md, "Key files") held in
 * memory: what ft_crypto_identity_load does after reading the file, without
 * the permission check. Same errors; at most 1024 bytes are accepted and the
 * Argon2id limits in the file are capped (opslimit <= 4, memlimit <= 1 GiB)
 * before any work. On FT_OK the caller owns *out. `buf` stays the caller's
 * (it holds the secret seed in a plain file: wipe it).
 */
int ft_crypto_identity_decode(const uint8_t *buf, size_t n, const char *passphrase,
                              ft_crypto_identity **out, ft_errmsg *err) FT_WARN_UNUSED;

/*
 * The passphrase that seals an identity key, read from the first line of
 * `file` (trailing CR/LF removed) or, when file is NULL, from the
 * FEDTWIN_PASSPHRASE environment variable; never from the command line,
 * where other users could read it. On FT_OK *out is a NUL-terminated copy in
 * guarded memory (free with ft_crypto_passphrase_free), or NULL when file is
 * NULL and the variable is unset or empty. FT_EIO if the file cannot be read,
 * FT_EFORMAT if its first line is empty, FT_ERANGE if the passphrase is
 * longer than FT_CRYPTO_PASSPHRASE_MAX bytes; the message names the file.
 */
#define FT_CRYPTO_PASSPHRASE_MAX 1023u
int ft_crypto_passphrase_read(const char *file, char **out, ft_errmsg *err) FT_WARN_UNUSED;

/* Wipes and frees a passphrase from ft_crypto_passphrase_read; accepts NULL. */
void ft_crypto_passphrase_free(char *p);

/* Public key files: one line of hex (mode 0644, written atomically, never
 * replacing an existing file: FT_EEXIST). The loader accepts the 64 hex
 * digits with or without the final newline, nothing else (FT_EFORMAT). */
int ft_crypto_pk_save(const uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES], const char *path) FT_WARN_UNUSED;
int ft_crypto_pk_load(const char *path, uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES],
                      ft_errmsg *err) FT_WARN_UNUSED;

/* Short printable fingerprint of a public key: first 8 bytes of
 * BLAKE2b-256("fedtwin-fpr" || pk) as "xxxx-xxxx-xxxx-xxxx" (NUL-terminated). */
void ft_crypto_fingerprint(const uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES],
                           char out[FT_CRYPTO_FPR_CHARS + 1]);

/* Lower-case hex of n bytes into out (2n+1 bytes); constant-time decode. */
void ft_crypto_hex(char *out, const uint8_t *in, size_t n);
int ft_crypto_unhex(uint8_t *out, size_t n, const char *hex) FT_WARN_UNUSED;

/* ---- Round context: what every derived key and AEAD is bound to ------- */

typedef struct ft_crypto_ctx {
	uint8_t consortium[FT_CRYPTO_ID_BYTES]; /* consortium id */
	uint64_t run;                           /* training run id */
	uint64_t round;                         /* round number */
	uint32_t attempt;                       /* retry of the same round */
} ft_crypto_ctx;

/* ---- Key agreement: X25519 round keys ---------------------------------- */

/* Opaque: the secret scalar sits in sodium_malloc memory. */
typedef struct ft_crypto_kx ft_crypto_kx;

/* A fresh round key, or one rebuilt from a 32-byte seed (deterministic: a
 * seed recovered with Shamir rebuilds the same key pair; the scalar is
 * BLAKE2b of the seed, PROTOCOL.md). On FT_OK the caller owns *out (free with
 * ft_crypto_kx_free). FT_ENOMEM, FT_EINVAL. */
int ft_crypto_kx_generate(ft_crypto_kx **out) FT_WARN_UNUSED;
int ft_crypto_kx_from_seed(const uint8_t seed[FT_CRYPTO_KEY_BYTES], ft_crypto_kx **out) FT_WARN_UNUSED;
/* Wipes and frees; accepts NULL. */
void ft_crypto_kx_free(ft_crypto_kx *kx);
/* The X25519 public key (32 bytes), valid as long as `kx`. */
const uint8_t *ft_crypto_kx_pk(const ft_crypto_kx *kx);

/*
 * Derives the pairwise keys between `self_id` (holding `kx`) and `peer_id`
 * (with public round key `peer_pk`): X25519, then keyed BLAKE2b with distinct
 * context strings for the mask seed and the share-encryption key, binding the
 * round context and both (ordered) party ids and public keys. Both parties get
 * the same two keys. FT_ECRYPTO if the shared point is degenerate,
 * FT_EINVAL if self_id == peer_id. The caller wipes the outputs.
 */
int ft_crypto_kx_derive(const ft_crypto_kx *kx, uint32_t self_id,
                        const uint8_t peer_pk[FT_CRYPTO_KX_PK_BYTES], uint32_t peer_id,
                        const ft_crypto_ctx *ctx, uint8_t mask_seed[FT_CRYPTO_KEY_BYTES],
                        uint8_t enc_key[FT_CRYPTO_KEY_BYTES]) FT_WARN_UNUSED;

/* ---- Share encryption: XChaCha20-Poly1305 ----------------------------- */

/*
 * Encrypts pt (n bytes) from `sender` to `recipient` with a random nonce.
 * out (the caller's) must hold n + FT_CRYPTO_AEAD_OVERHEAD bytes:
 * nonce || ciphertext || tag. The associated data binds ctx, sender and
 * recipient (PROTOCOL.md). FT_EINVAL for NULL arguments, FT_ERANGE if n is
 * too large.
 */
int ft_crypto_seal(const uint8_t key[FT_CRYPTO_KEY_BYTES], const ft_crypto_ctx *ctx,
                   uint32_t sender, uint32_t recipient, const void *pt, size_t n,
                   uint8_t *out) FT_WARN_UNUSED;

/* Opens ct (n bytes, n >= FT_CRYPTO_AEAD_OVERHEAD) into the caller's pt
 * (n - FT_CRYPTO_AEAD_OVERHEAD bytes; NULL allowed when that is 0).
 * FT_ECRYPTO on any tampering, truncation or misrouting; pt is zeroed then. */
int ft_crypto_open(const uint8_t key[FT_CRYPTO_KEY_BYTES], const ft_crypto_ctx *ctx,
                   uint32_t sender, uint32_t recipient, const uint8_t *ct, size_t n,
                   void *pt) FT_WARN_UNUSED;

/* ---- Shamir secret sharing of 32-byte secrets -------------------------- */

/*
 * One share: its evaluation point x in [1, FT_CRYPTO_SHAMIR_MAX_N] (the
 * holder's 1-based index) and the share value. Field and encoding in
 * PROTOCOL.md. Share values are secrets: wipe them.
 */
typedef struct ft_crypto_share {
	uint32_t x;
	uint8_t value[FT_CRYPTO_SHARE_BYTES];
} ft_crypto_share;

/* Splits `secret` into n shares (x = 1..n), any t of which reconstruct.
 * 1 <= t <= n <= FT_CRYPTO_SHAMIR_MAX_N (else FT_ERANGE); out has n entries
 * and is owned by the caller, who wipes it. Fresh CSPRNG coefficients on
 * every call. */
int ft_crypto_shamir_split(const uint8_t secret[FT_CRYPTO_SECRET_BYTES], uint32_t t,
                           uint32_t n, ft_crypto_share *out) FT_WARN_UNUSED;

/* Reconstructs from exactly `count` >= t shares (uses the first t; all
 * `count` are validated). FT_EINVAL for duplicate x, FT_ERANGE for x out of
 * range, FT_EINVAL if count < t, FT_EFORMAT for a non-canonical share value,
 * FT_ECRYPTO if the result is not a valid encoding (each 16-byte half must be
 * < 2^128): the shares are inconsistent, e.g. fewer than t genuine ones.
 * That check catches garbage, not a deliberate offset by a malicious share
 * holder: a caller that needs integrity compares the secret with a
 * commitment (e.g. the public key derived from a shared seed).
 * `secret` is written only on FT_OK; the caller wipes it. */
int ft_crypto_shamir_combine(const ft_crypto_share *shares, uint32_t count, uint32_t t,
                             uint8_t secret[FT_CRYPTO_SECRET_BYTES]) FT_WARN_UNUSED;

/*
 * Batched reconstruction: many secrets whose shares come from the same
 * holders (the same x, in the same order) share one set of Lagrange weights
 * at 0. Computing them is the costly part of a combine (about t^2 field
 * multiplications and one inversion); applying them is 2t multiplications
 * per secret. The weights depend on the x only and are public.
 */
typedef struct ft_crypto_shamir_weights ft_crypto_shamir_weights;

/* Computes the weights for the t points x[0..t). FT_EINVAL for NULL
 * arguments, t = 0 or a duplicate x; FT_ERANGE for t > FT_CRYPTO_SHAMIR_MAX_N
 * or an x outside [1, FT_CRYPTO_SHAMIR_MAX_N]; FT_ENOMEM. On FT_OK the
 * caller owns *out (free with ft_crypto_shamir_weights_free); x stays the
 * caller's. */
int ft_crypto_shamir_weights_alloc(const uint32_t *x, uint32_t t,
                                   ft_crypto_shamir_weights **out) FT_WARN_UNUSED;
/* Frees; accepts NULL. */
void ft_crypto_shamir_weights_free(ft_crypto_shamir_weights *w);
/* The number of points t of w (0 for NULL). */
uint32_t ft_crypto_shamir_weights_t(const ft_crypto_shamir_weights *w);
/* 1 if count >= t and shares[0..t) carry exactly w's points in w's order,
 * else 0: whether ft_crypto_shamir_combine_weighted can use w. Reads only
 * the public x. */
int ft_crypto_shamir_weights_match(const ft_crypto_shamir_weights *w,
                                   const ft_crypto_share *shares, uint32_t count);

/*
 * ft_crypto_shamir_combine with precomputed weights: the same result, the
 * same checks on all `count` shares and the same errors, plus FT_EINVAL if
 * shares[0..t) do not carry w's points in w's order. Constant-time in the
 * share values and the secret; allocates nothing. `secret` is written only
 * on FT_OK; the caller wipes it.
 */
int ft_crypto_shamir_combine_weighted(const ft_crypto_shamir_weights *w,
                                      const ft_crypto_share *shares, uint32_t count,
                                      uint8_t secret[FT_CRYPTO_SECRET_BYTES]) FT_WARN_UNUSED;

/* ---- Secure memory ----------------------------------------------------- */

/*
 * n bytes (n >= 1) of zeroed memory for secrets, from sodium_malloc: the
 * block sits right before an inaccessible guard page with another guard page
 * in front of its header, is locked into RAM (mlock) where RLIMIT_MEMLOCK
 * allows, and is wiped and unmapped by ft_crypto_secure_free. n is rounded up
 * to a multiple of 16 so the block is aligned for any object. Each call
 * costs several system calls and at least three pages of address space
 * plus the block rounded up to whole pages: use it for long-lived secrets
 * (keys, seeds, a round's shares, one block per object), never for bulk
 * data or per-message scratch. Returns NULL for n = 0, on overflow or when
 * out of memory; ft_alloc_fail_after counts it as one allocation. The
 * caller owns the
 * block and frees it with ft_crypto_secure_free; any thread.
 */
void *ft_crypto_secure_alloc(size_t n);

/* Wipes and frees a block from ft_crypto_secure_alloc; accepts NULL. A
 * pointer from anywhere else, or an overrun of the block, aborts the process
 * (libsodium's canary and guard pages). */
void ft_crypto_secure_free(void *p);

/* The number of ft_crypto_secure_alloc blocks not yet freed. LeakSanitizer
 * does not see sodium_malloc's mappings, so tests check this instead. */
size_t ft_crypto_secure_blocks(void);

/* ---- Mask expansion ---------------------------------------------------- */

/*
 * Adds (sign = +1) or subtracts (sign = -1) the mask expanded from `seed`
 * into acc[0..n), modulo 2^bits (16 <= bits <= 32), for mask elements
 * [offset, offset + n) of the stream. Element i of the stream is the
 * little-endian uint32 at byte 4*i of ChaCha20-IETF(seed, nonce 0), masked to
 * `bits`. Calling it over consecutive chunks equals one call over the whole
 * vector; it never allocates more than a fixed stack block. acc stays the
 * caller's. FT_EINVAL for bad bits/sign/NULL, FT_ERANGE if offset + n passes
 * 2^36 elements (the 32-bit ChaCha20-IETF block counter).
 */
int ft_crypto_mask_apply(const uint8_t seed[FT_CRYPTO_KEY_BYTES], uint32_t *acc, size_t n,
                         uint64_t offset, unsigned bits, int sign) FT_WARN_UNUSED;

/* ---- Fixed-point encoding into Z_2^bits -------------------------------- */

typedef struct ft_crypto_fxp {
	double clip;       /* values are clipped to [-clip, clip] */
	double scale;      /* integer units per 1.0 */
	unsigned bits;     /* ring Z_2^bits, 16..32 */
	uint32_t max_summands; /* the sum of this many vectors never wraps */
} ft_crypto_fxp;

/*
 * Chooses the largest power-of-two scale for which the sum of max_summands
 * encoded values in [-clip, clip] (after stochastic rounding) fits in
 * (-2^(bits-1), 2^(bits-1)). FT_ERANGE if not even scale 1 fits (the caller
 * must use more bits, a smaller clip or fewer summands).
 */
int ft_crypto_fxp_init(ft_crypto_fxp *p, double clip, unsigned bits,
                       uint32_t max_summands) FT_WARN_UNUSED;

/* Clips, scales and stochastically rounds (CSPRNG) n floats into Z_2^bits.
 * FT_EINVAL if any input is NaN or infinite (nothing written then);
 * FT_EINVAL/FT_ERANGE if *p is not what ft_crypto_fxp_init produces (a
 * scale that is not a power of two >= 1, or one that could wrap). */
int ft_crypto_fxp_encode(const ft_crypto_fxp *p, const float *in, size_t n,
                         uint32_t *out) FT_WARN_UNUSED;

/* Decodes a sum of `summands` encoded vectors into floats; FT_ERANGE if
 * summands > max_summands, if a value has bits above `bits`, or if a value
 * read as signed exceeds summands * ceil(clip * scale) (it cannot be such a
 * sum: a wrap or a corrupted input). FT_EINVAL if summands is 0. Nothing is
 * written unless FT_OK. The error of each decoded value is below
 * summands / scale (one rounding step per summand). */
int ft_crypto_fxp_decode(const ft_crypto_fxp *p, const uint32_t *in, size_t n,
                         uint32_t summands, float *out) FT_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif /* FT_CRYPTO_H */
