/*
 * fuzz_wire_envelope.c - libFuzzer target for the envelope decoder
 * (ft_wire_envelope_decode, docs/PROTOCOL.md "Wire protocol", "Envelope")
 * and the replay filter behind it. An accepted envelope's body must lie
 * inside the input, and its header must pass the encoder's own checks.
 */
#include "wire_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const wf_world *w = wf_world_get();
	ft_wire_replay *r = NULL;
	ft_wire_hdr h;
	const uint8_t *body = NULL;
	size_t blen = 0;

	if (ft_wire_envelope_decode(data, size, FT_WIRE_ENVELOPE_MAX, w->m->id,
	                            ft_wire_manifest_lookup, w->m, &h, &body, &blen) != FT_OK)
		return 0;
	if (blen > 0 && (body < data || body + blen > data + size))
		abort();
	if (blen > ft_wire_body_max(h.type) || h.phase > FT_WIRE_PHASE_MAX)
		abort();
	if (ft_wire_replay_alloc(4, 1000, &r) != FT_OK)
		abort();
	if (ft_wire_replay_check(r, &h, h.sent_at_ms) != FT_OK ||
	    ft_wire_replay_check(r, &h, h.sent_at_ms) != FT_EREPLAY)
		abort();
	ft_wire_replay_free(r);
	return 0;
}
