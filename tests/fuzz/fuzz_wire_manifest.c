/*
 * fuzz_wire_manifest.c - libFuzzer target for the consortium manifest
 * decoder (ft_wire_manifest_verify, docs/PROTOCOL.md "Consortium
 * manifest"). An accepted manifest must hold sorted unique site ids and
 * unique keys, and every site must be found by its id.
 */
#include "wire_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const wf_world *w = wf_world_get();
	ft_wire_manifest *m = NULL;
	uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES];
	ft_errmsg err;

	/* pinned: only the real consortium key's signatures pass */
	if (ft_wire_manifest_verify(data, size, ft_crypto_identity_pk(w->consortium), &m, &err) ==
	    FT_OK)
		ft_wire_manifest_free(m);
	m = NULL;
	/* unpinned: any self-consistent manifest, so the checks after the
	 * signature are reached too */
	if (ft_wire_manifest_verify(data, size, NULL, &m, &err) != FT_OK)
		return 0;
	if (m->n_sites > FT_WIRE_MAX_SITES)
		abort();
	for (uint32_t i = 0; i < m->n_sites; i++) {
		if (i > 0 && m->sites[i - 1].id >= m->sites[i].id)
			abort();
		if (ft_wire_manifest_lookup(m, m->sites[i].id, pk) != FT_OK ||
		    memcmp(pk, m->sites[i].pk, sizeof(pk)) != 0)
			abort();
		for (uint32_t j = 0; j < i; j++)
			if (memcmp(m->sites[i].pk, m->sites[j].pk, sizeof(pk)) == 0)
				abort();
	}
	ft_wire_manifest_free(m);
	return 0;
}
