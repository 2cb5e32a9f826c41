/*
 * coord_gate.c - what the coordinator writes to its audit log for the
 * frames a site sends, without I/O: a per-site budget of frames the round
 * did not use (refused, late, repeated or unexpected), beyond which such
 * frames are dropped unrecorded, with one audit entry per window; and
 * the digest that sums up a masked upload's chunks in one entry. Every
 * audit entry is a durable commit, so a member site that could make the
 * coordinator write one per frame could slow every round down.
 */
#include <string.h>

#include "coord_int.h"

void coord_gate_init(coord_gate *g, uint32_t budget, uint64_t window_ms)
{
	memset(g, 0, sizeof(*g));
	g->budget = budget;
	g->window_ms = window_ms > 0 ? window_ms : 1;
}

static void gate_roll(coord_gate *g, uint64_t now_ms)
{
	if (g->started && now_ms >= g->start_ms && now_ms - g->start_ms < g->window_ms)
		return;
	/* A new window (or a clock that went back: start one). Drops not yet
	 * reported carry over to the next note. */
	g->started = 1;
	g->start_ms = now_ms;
	g->unused = 0;
	g->noted = 0;
}

int coord_gate_over(coord_gate *g, uint64_t now_ms)
{
	gate_roll(g, now_ms);
	return g->unused >= g->budget;
}

int coord_gate_drop(coord_gate *g)
{
	if (g->pending < UINT64_MAX)
		g->pending++;
	if (g->noted)
		return 0;
	g->noted = 1;
	return 1;
}

void coord_gate_unused(coord_gate *g, uint64_t now_ms)
{
	gate_roll(g, now_ms);
	if (g->unused < UINT32_MAX)
		g->unused++;
}

uint64_t coord_gate_take_dropped(coord_gate *g)
{
	uint64_t n = g->pending;

	g->pending = 0;
	return n;
}

/* ---- Masked uploads --------------------------------------------------------- */

void coord_upload_reset(coord_upload *u)
{
	memset(u, 0, sizeof(*u));
}

void coord_upload_add(coord_upload *u, uint64_t run, uint64_t round, const uint8_t *env,
                      size_t len, uint64_t log_len, const uint8_t head[FT_CRYPTO_HASH_BYTES])
{
	uint8_t d[FT_CRYPTO_HASH_BYTES];

	if (u->frames == 0) {
		ft_crypto_hash_init(&u->st);
		u->run = run;
		u->round = round;
	}
	ft_crypto_hash(d, env, len);
	if (u->frames == 0)
		memcpy(u->first, d, sizeof(d));
	ft_crypto_hash_update(&u->st, d, sizeof(d));
	u->frames++;
	u->size += len;
	/* The site's newest log head covers every earlier one (its log is a
	 * chain): one anchor per upload is as strong as one per chunk. */
	if (log_len > u->log_len) {
		u->log_len = log_len;
		memcpy(u->log_head, head, FT_CRYPTO_HASH_BYTES);
	}
}

int coord_upload_finish(coord_upload *u, uint8_t digest[FT_CRYPTO_HASH_BYTES])
{
	if (u->frames == 0)
		return FT_ENOTFOUND;
	ft_crypto_hash_final(&u->st, digest);
	return FT_OK;
}
