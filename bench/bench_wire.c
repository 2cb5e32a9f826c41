/*
 * bench_wire.c - times the wire layer without the network: sealing and
 * opening envelopes (sign/verify dominate small messages, copying large
 * ones), and moving a model file through MODEL_CHUNK bodies and the
 * reassembler (chunking, hashing at both ends).
 *
 *   bench_wire [MODEL_MIB] [CHUNK_KIB]     (defaults 64 and 1024)
 *
 * Figures are CPU time per operation (clock_gettime(CLOCK_PROCESS_CPUTIME_ID)),
 * so other load on a shared machine does not inflate them much.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ft_wire.h"

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static ft_crypto_identity *identity(uint8_t tag)
{
	uint8_t seed[FT_CRYPTO_KEY_BYTES];
	ft_crypto_identity *id = NULL;

	memset(seed, tag, sizeof(seed));
	if (ft_crypto_identity_from_seed(seed, &id) != FT_OK)
		exit(1);
	return id;
}

static void envelopes(const ft_wire_manifest *m, const ft_crypto_identity *site, size_t body_len,
                      int iters)
{
	ft_wire_hdr h, got;
	uint8_t *body = calloc(1, body_len ? body_len : 1), *env = NULL;
	const uint8_t *b;
	size_t elen = 0, blen;
	double t0, enc = 0, dec = 0;

	if (body == NULL)
		exit(1);
	memset(&h, 0, sizeof(h));
	h.type = FT_WIRE_SECAGG;
	memcpy(h.consortium, m->id, sizeof(h.consortium));
	h.sender = 1;
	h.recipient = FT_WIRE_COORDINATOR_ID;
	for (int i = 0; i < iters; i++) {
		h.seq = (uint64_t)i;
		t0 = cpu_s();
		if (ft_wire_envelope_encode(&h, body, body_len, site, &env, &elen) != FT_OK)
			exit(1);
		enc += cpu_s() - t0;
		t0 = cpu_s();
		if (ft_wire_envelope_decode(env, elen, FT_WIRE_ENVELOPE_MAX, m->id,
		                            ft_wire_manifest_lookup, (void *)m, &got, &b, &blen) != FT_OK)
			exit(1);
		dec += cpu_s() - t0;
		ft_free(env);
	}
	printf("envelope %8zu B body: seal %8.1f us, open %8.1f us (%6.0f MiB/s open)\n", body_len,
	       enc / iters * 1e6, dec / iters * 1e6,
	       body_len ? (double)body_len * iters / dec / 1048576.0 : 0.0);
	free(body);
}

int main(int argc, char **argv)
{
	uint64_t mib = 64, kib = 1024;
	ft_crypto_identity *cons, *coord, *site;
	ft_wire_manifest *m = NULL;
	ft_wire_chunker ck;
	ft_wire_reasm *r = NULL;
	ft_wire_chunk c;
	uint8_t *model, *body, *out = NULL;
	size_t model_len, blen, out_len, n_chunks = 0;
	double t0, t_send, t_recv = 0;

	if ((argc > 1 && (ft_parse_u64(argv[1], 4096, &mib) != FT_OK || mib == 0)) ||
	    (argc > 2 &&
	     (ft_parse_u64(argv[2], FT_WIRE_CHUNK_MAX / 1024, &kib) != FT_OK || kib == 0))) {
		fprintf(stderr, "usage: bench_wire [MODEL_MIB 1..4096] [CHUNK_KIB 1..4096]\n");
		return 2;
	}
	if (ft_crypto_init() != FT_OK)
		return 1;
	cons = identity(1);
	coord = identity(2);
	site = identity(3);
	if (ft_wire_manifest_new("Bench", ft_crypto_identity_pk(cons), "coord",
	                         ft_crypto_identity_pk(coord), "tls+tcp://127.0.0.1:1", &m) != FT_OK ||
	    ft_wire_manifest_add_site(m, 1, "site", ft_crypto_identity_pk(site)) != FT_OK)
		return 1;
	envelopes(m, site, 0, 2000);
	envelopes(m, site, 1024, 2000);
	envelopes(m, site, 65536, 500);
	envelopes(m, site, 1u << 20, 50);
	envelopes(m, site, 4u << 20, 20);

	model_len = (size_t)mib << 20;
	model = malloc(model_len);
	if (model == NULL)
		return 1;
	ft_crypto_random(model, model_len);
	if (ft_wire_reasm_alloc(model_len, &r) != FT_OK)
		return 1;
	t0 = cpu_s();
	if (ft_wire_chunker_init(&ck, model, model_len, 1, (size_t)kib << 10) != FT_OK)
		return 1;
	t_send = cpu_s() - t0;
	for (;;) {
		double t1 = cpu_s();
		int rv = ft_wire_chunker_next(&ck, &body, &blen);

		if (rv == FT_ENOTFOUND)
			break;
		if (rv != FT_OK)
			return 1;
		t_send += cpu_s() - t1;
		t1 = cpu_s();
		if (ft_wire_chunk_decode(body, blen, &c) != FT_OK || ft_wire_reasm_add(r, &c) != FT_OK)
			return 1;
		t_recv += cpu_s() - t1;
		ft_free(body);
		n_chunks++;
	}
	t0 = cpu_s();
	if (ft_wire_reasm_finish(r, &out, &out_len, NULL) != FT_OK || out_len != model_len ||
	    memcmp(out, model, model_len) != 0)
		return 1;
	t_recv += cpu_s() - t0;
	printf("model %llu MiB in %zu chunks of %llu KiB: send (hash + chunk) %.3f s (%.0f MiB/s), "
	       "receive (decode + reassemble + hash) %.3f s (%.0f MiB/s)\n",
	       (unsigned long long)mib, n_chunks, (unsigned long long)kib, t_send,
	       (double)mib / t_send, t_recv, (double)mib / t_recv);
	ft_free(out);
	free(model);
	ft_wire_reasm_free(r);
	ft_wire_manifest_free(m);
	ft_crypto_identity_free(cons);
	ft_crypto_identity_free(coord);
	ft_crypto_identity_free(site);
	return 0;
}
