/*
 * secagg_int.h - private to the secagg module: wire constants, the outbox,
 * message (de)coding helpers shared by the client and the server.
 */
#ifndef SECAGG_INT_H
#define SECAGG_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ft_secagg.h"

/* Plaintext of one encrypted share pair: x u32 || b share || s-seed share. */
#define SECAGG_SHARE_PT_BYTES (4u + 2u * FT_CRYPTO_SHARE_BYTES)
#define SECAGG_SHARE_CT_BYTES (SECAGG_SHARE_PT_BYTES + FT_CRYPTO_AEAD_OVERHEAD)

/* List entry sizes (PROTOCOL.md tables). */
#define SECAGG_ADV_KEYS 96u /* c_pk || s_pk || b_commit */
#define SECAGG_KEYS_ENTRY (4u + SECAGG_ADV_KEYS + FT_CRYPTO_SIG_BYTES)
#define SECAGG_SHARES_ENTRY (4u + SECAGG_SHARE_CT_BYTES)
#define SECAGG_ID_ENTRY 4u
#define SECAGG_SIGS_ENTRY (4u + FT_CRYPTO_SIG_BYTES)
#define SECAGG_REQ_ENTRY 5u
#define SECAGG_UNMASK_ENTRY (4u + 1u + 4u + FT_CRYPTO_SHARE_BYTES)
#define SECAGG_ADV_BODY (SECAGG_ADV_KEYS + FT_CRYPTO_SIG_BYTES)
#define SECAGG_CONFIG_FIXED (4u * 4u + 1u + 4u + FT_CRYPTO_KEY_BYTES)
#define SECAGG_CONFIG_ENTRY (4u + FT_CRYPTO_SIGN_PK_BYTES)

/* Unmasking request kinds. */
#define SECAGG_KIND_SELF 1u    /* the share of the peer's self-mask seed b */
#define SECAGG_KIND_MASKKEY 2u /* the share of the peer's s key seed */

/* Domain-separation strings of the two signed statements. */
#define SECAGG_ADV_DOMAIN "fedtwin-secagg-v1-advertise"
#define SECAGG_CHECK_DOMAIN "fedtwin-secagg-v1-survivors"
#define SECAGG_BCOMMIT_DOMAIN "fedtwin-secagg-v1-bcommit"

/* ---- Outbox: FIFO of encoded messages --------------------------------- */

typedef struct secagg_out {
	uint32_t to;
	uint8_t *buf;          /* owned, or NULL: copy `shared` when popped */
	const uint8_t *shared; /* a message sent unchanged to many sites */
	size_t len;
} secagg_out;

typedef struct secagg_outbox {
	secagg_out *v;
	size_t head, len, cap;
} secagg_outbox;

/* Appends; takes ownership of buf on FT_OK only. */
int secagg_outbox_push(secagg_outbox *ob, uint32_t to, uint8_t *buf, size_t len);
/* Appends a message identical for many destinations: `shared` is borrowed
 * (it must outlive the outbox entry) and copied only when popped, so n
 * copies of an O(n) message never sit in memory together. */
int secagg_outbox_push_shared(secagg_outbox *ob, uint32_t to, const uint8_t *shared, size_t len);
/* Pops the oldest; the caller owns *buf. FT_ENOTFOUND if empty, FT_ENOMEM
 * (the entry stays queued). */
int secagg_outbox_pop(secagg_outbox *ob, uint32_t *to, uint8_t **buf, size_t *len);
void secagg_outbox_clear(secagg_outbox *ob);

/* ---- Encoding --------------------------------------------------------- */

/* Allocates a message of FT_SECAGG_HDR_BYTES + body bytes and writes its
 * header; *body points just past the header. */
int secagg_msg_alloc(uint8_t type, const ft_crypto_ctx *ctx, uint32_t sender, size_t body,
                     uint8_t **msg, uint8_t **bodyp);

/* BLAKE2b-256 of the encoded CONFIG body fields (binds every signature to
 * the exact round configuration). */
int secagg_config_hash(const ft_secagg_config *cfg, uint8_t out[FT_CRYPTO_HASH_BYTES]);

/* Builds the statement an ADVERTISE signature covers into out
 * (SECAGG_ADV_STMT_BYTES); keys = c_pk || s_pk || b_commit. */
#define SECAGG_ADV_STMT_BYTES (sizeof(SECAGG_ADV_DOMAIN) - 1 + 52 + 4 + 32 + SECAGG_ADV_KEYS)
void secagg_adv_statement(const ft_crypto_ctx *ctx, uint32_t sender,
                          const uint8_t cfg_hash[FT_CRYPTO_HASH_BYTES],
                          const uint8_t keys[SECAGG_ADV_KEYS], uint8_t *out);

/* The commitment to a site's self-mask seed b, signed in ADVERTISE, so the
 * server can tell a correct reconstruction of b from a shifted one. */
void secagg_b_commit(const ft_crypto_ctx *ctx, uint32_t site,
                     const uint8_t b[FT_CRYPTO_KEY_BYTES], uint8_t out[FT_CRYPTO_HASH_BYTES]);

/* Hashes the survivor-set statement that CHECK_SIG signs: domain, context,
 * signer, config hash and the U3 id list (m entries, little-endian u32s as on
 * the wire). */
void secagg_check_statement(const ft_crypto_ctx *ctx, uint32_t signer,
                            const uint8_t cfg_hash[FT_CRYPTO_HASH_BYTES], uint32_t m,
                            const uint8_t *ids_le, uint8_t out[FT_CRYPTO_HASH_BYTES]);

/* ---- Decoding --------------------------------------------------------- */

/* 1 if the two contexts are equal. */
int secagg_ctx_equal(const ft_crypto_ctx *a, const ft_crypto_ctx *b);

/*
 * Decodes a body that is a u32 count followed by exactly count entries of
 * `stride` bytes, count <= max. *entries points into body. FT_EPROTO if the
 * length does not match exactly or count > max.
 */
int secagg_list_decode(const uint8_t *body, size_t blen, size_t stride, uint32_t max,
                       uint32_t *count, const uint8_t **entries) FT_WARN_UNUSED;

/* Index of site `id` in cfg (binary search over the sorted ids), or -1. */
long secagg_site_index(const ft_secagg_config *cfg, uint32_t id);

/* Copies cfg and its sites into *dst / *sites (owned by the caller). */
int secagg_config_copy(const ft_secagg_config *cfg, ft_secagg_config *dst, ft_secagg_site **sites);

#endif /* SECAGG_INT_H */
