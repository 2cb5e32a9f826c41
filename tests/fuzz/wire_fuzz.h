/*
 * wire_fuzz.h - the fixed consortium the wire fuzz targets and their corpus
 * generator share: deterministic keys, so corpus envelopes verify.
 */
#ifndef WIRE_FUZZ_H
#define WIRE_FUZZ_H

#include <stdlib.h>
#include <string.h>

#include "ft_wire.h"

#define WF_SITES 3u

typedef struct wf_world {
	ft_crypto_identity *consortium, *coord, *site[WF_SITES];
	ft_wire_manifest *m;
} wf_world;

static inline ft_crypto_identity *wf_identity(uint8_t tag)
{
	uint8_t seed[FT_CRYPTO_KEY_BYTES];
	ft_crypto_identity *id = NULL;

	memset(seed, tag, sizeof(seed));
	if (ft_crypto_identity_from_seed(seed, &id) != FT_OK)
		abort();
	return id;
}

/* Built once per process and never freed (fuzz targets keep it). */
static inline const wf_world *wf_world_get(void)
{
	static wf_world w;
	static int ready;

	if (ready)
		return &w;
	if (ft_crypto_init() != FT_OK)
		abort();
	w.consortium = wf_identity(0x01);
	w.coord = wf_identity(0x02);
	if (ft_wire_manifest_new("Fuzz Consortium", ft_crypto_identity_pk(w.consortium), "coord",
	                         ft_crypto_identity_pk(w.coord), "tls+tcp://127.0.0.1:7000",
	                         &w.m) != FT_OK)
		abort();
	w.m->created_ms = 1700000000000ull;
	for (uint32_t i = 0; i < WF_SITES; i++) {
		w.site[i] = wf_identity((uint8_t)(0x11 + i));
		if (ft_wire_manifest_add_site(w.m, i + 1, "site", ft_crypto_identity_pk(w.site[i])) !=
		    FT_OK)
			abort();
	}
	ready = 1;
	return &w;
}

#endif
