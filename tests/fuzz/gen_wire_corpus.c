/*
 * gen_wire_corpus.c - writes the seed corpora of the wire fuzz targets
 * (tests/fuzz/corpus/wire_*): one valid encoding of every message body, an
 * envelope of every type signed by the fuzz consortium's keys, signed
 * manifests, and chunk sequences. Run: gen_wire_corpus tests/fuzz/corpus
 */
#include <stdio.h>
#include <sys/stat.h>

#include "wire_fuzz.h"

static const char *root;

static void put(const char *target, const char *name, const uint8_t *p, size_t n,
                const uint8_t *prefix, size_t np)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, target);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(prefix, 1, np, f) != np || fwrite(p, 1, n, f) != n || fclose(f) != 0)
		abort();
}

static void must(int rv)
{
	if (rv != FT_OK) {
		fprintf(stderr, "gen_wire_corpus: %s\n", ft_strerror(rv));
		abort();
	}
}

/* A body: into the bodies corpus (selector byte first) and, enveloped,
 * into the envelope corpus. */
static void body(const wf_world *w, const char *name, uint8_t selector, uint16_t type,
                 uint32_t sender, uint8_t *b, size_t n)
{
	ft_wire_hdr h;
	uint8_t *env = NULL;
	size_t elen = 0;
	const ft_crypto_identity *id = sender == FT_WIRE_COORDINATOR_ID ? w->coord
	                                                                 : w->site[sender - 1];

	put("wire_bodies", name, b, n, &selector, 1);
	memset(&h, 0, sizeof(h));
	h.type = type;
	memcpy(h.consortium, w->m->id, sizeof(h.consortium));
	h.run = 1;
	h.round = 2;
	h.attempt = 0;
	h.phase = type == FT_WIRE_SECAGG ? 3 : 0;
	h.sender = sender;
	h.recipient = sender == FT_WIRE_COORDINATOR_ID ? 1 : FT_WIRE_COORDINATOR_ID;
	h.seq = 1000 + type;
	h.sent_at_ms = 1700000000000ull;
	must(ft_wire_envelope_encode(&h, b, n, id, &env, &elen));
	put("wire_envelope", name, env, elen, NULL, 0);
	ft_free(env);
	ft_free(b);
}

int main(int argc, char **argv)
{
	const wf_world *w;
	uint8_t *b = NULL, *buf = NULL;
	size_t n = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_wire_corpus CORPUS_DIR\n");
		return 2;
	}
	root = argv[1];
	w = wf_world_get();
	{
		ft_wire_hello h = { 0 };

		h.site_id = 2;
		snprintf(h.software, sizeof(h.software), "fedtwin 0.1.0");
		memset(h.log_head, 0x21, 32);
		h.log_len = 300;
		h.caps = 15;
		h.recv_max = FT_WIRE_ENVELOPE_MAX;
		must(ft_wire_hello_encode(&h, &b, &n));
		body(w, "hello", 0, FT_WIRE_HELLO, 2, b, n);
	}
	{
		ft_wire_welcome we = { 0 };

		we.manifest_serial = 4;
		we.log_len = 77;
		we.server_time_ms = 1700000000001ull;
		must(ft_wire_welcome_encode(&we, &b, &n));
		body(w, "welcome", 1, FT_WIRE_WELCOME, FT_WIRE_COORDINATOR_ID, b, n);
	}
	{
		ft_wire_announce *a = calloc(1, sizeof(*a));

		if (a == NULL)
			abort();
		snprintf(a->run_id, sizeof(a->run_id), "heart-1");
		a->round = 2;
		a->model_version = 1;
		a->model_len = 4000;
		snprintf(a->kind, sizeof(a->kind), "logreg");
		a->n_features = 13;
		a->n_classes = 2;
		snprintf(a->activation, sizeof(a->activation), "none");
		a->lr = 0.1;
		a->epochs = 1;
		a->batch = 32;
		snprintf(a->optimiser, sizeof(a->optimiser), "sgd");
		a->dp_clip = 1;
		a->dp_noise = 1.2;
		a->dp_delta = 1e-5;
		a->dp_max_epsilon = 1;
		a->n_sites = 3;
		a->sites[0] = 1;
		a->sites[1] = 2;
		a->sites[2] = 3;
		a->k = 2;
		a->t = 2;
		a->bits = 24;
		a->fxp_clip = 1;
		a->d = 14;
		a->chunk = 14;
		a->train_ms = a->advertise_ms = a->shares_ms = 1000;
		a->upload_ms = a->check_ms = a->unmask_ms = 1000;
		must(ft_wire_announce_encode(a, &b, &n));
		body(w, "announce", 2, FT_WIRE_ROUND_ANNOUNCE, FT_WIRE_COORDINATOR_ID, b, n);
		a->plain_sum = 1;
		must(ft_wire_announce_encode(a, &b, &n));
		body(w, "announce_plain", 2, FT_WIRE_ROUND_ANNOUNCE, FT_WIRE_COORDINATOR_ID, b, n);
		free(a);
	}
	{
		ft_wire_accept ac;

		memset(&ac, 0x3c, sizeof(ac));
		must(ft_wire_accept_encode(&ac, &b, &n));
		body(w, "accept", 3, FT_WIRE_ROUND_ACCEPT, 1, b, n);
	}
	{
		ft_wire_notice no = { .code = FT_WIRE_REFUSE_POLICY, .text = "epsilon over the site limit" };

		no.log_len = 17;
		memset(no.log_head, 0x5a, sizeof(no.log_head));
		must(ft_wire_notice_encode(&no, &b, &n));
		body(w, "refuse", 4, FT_WIRE_ROUND_REFUSE, 3, b, n);
		no.log_len = 0;
		memset(no.log_head, 0, sizeof(no.log_head));
		no.code = FT_EPROTO;
		snprintf(no.text, sizeof(no.text), "bad message");
		must(ft_wire_notice_encode(&no, &b, &n));
		body(w, "error", 4, FT_WIRE_ERROR, FT_WIRE_COORDINATOR_ID, b, n);
		no.code = 0;
		no.text[0] = '\0';
		must(ft_wire_notice_encode(&no, &b, &n));
		body(w, "bye", 4, FT_WIRE_BYE, 2, b, n);
	}
	{
		static const uint8_t msg[64] = { 1, 0, 0, 0, 6 };
		ft_wire_secagg sa = { .msg = msg, .len = sizeof(msg) };

		must(ft_wire_secagg_encode(&sa, &b, &n));
		body(w, "secagg", 5, FT_WIRE_SECAGG, 1, b, n);
		sa.log_len = 23;
		memset(sa.log_head, 0x77, sizeof(sa.log_head));
		must(ft_wire_secagg_encode(&sa, &b, &n));
		body(w, "secagg_anchor", 5, FT_WIRE_SECAGG, 1, b, n);
	}
	{
		static const uint8_t data[50] = { 7, 7, 7 };
		ft_wire_chunk c = { 0 };

		c.model_version = 1;
		c.offset = 50;
		c.total = 100;
		c.data = data;
		c.len = sizeof(data);
		must(ft_wire_chunk_encode(&c, &b, &n));
		body(w, "chunk", 6, FT_WIRE_MODEL_CHUNK, FT_WIRE_COORDINATOR_ID, b, n);
		/* PLAIN_UPDATE: the same body, from a site */
		c.offset = 0;
		must(ft_wire_chunk_encode(&c, &b, &n));
		body(w, "plain_update", 6, FT_WIRE_PLAIN_UPDATE, 1, b, n);
	}
	{
		ft_wire_result *r = calloc(1, sizeof(*r));

		if (r == NULL)
			abort();
		r->model_version = 2;
		r->model_len = 4000;
		r->n_survivors = 2;
		r->survivors[0] = 1;
		r->survivors[1] = 3;
		r->n_metrics = 1;
		snprintf(r->metrics[0].name, sizeof(r->metrics[0].name), "accuracy");
		r->metrics[0].value = 0.75;
		r->log_len = 31;
		memset(r->log_head, 0x42, sizeof(r->log_head));
		must(ft_wire_result_encode(r, &b, &n));
		body(w, "result", 7, FT_WIRE_ROUND_RESULT, FT_WIRE_COORDINATOR_ID, b, n);
		free(r);
	}
	{
		ft_wire_stats_request *q = calloc(1, sizeof(*q));

		if (q == NULL)
			abort();
		q->n_columns = 2;
		snprintf(q->columns[0], sizeof(q->columns[0]), "sex");
		snprintf(q->columns[1], sizeof(q->columns[1]), "cp");
		q->max_levels = 8;
		must(ft_wire_stats_request_encode(q, &b, &n));
		body(w, "stats_request", 8, FT_WIRE_STATS_REQUEST, FT_WIRE_COORDINATOR_ID, b, n);
		free(q);
	}
	{
		static const char *const sex[] = { "F", "M" };
		static const char *const cp[] = { "1", "2", "3", "4" };
		ft_wire_stats_column cols[2] = { { "sex", 2, sex }, { "cp", 4, cp } };
		ft_wire_stats s = { 2, cols };

		must(ft_wire_stats_encode(&s, &b, &n));
		body(w, "stats", 9, FT_WIRE_STATS, 2, b, n);
	}
	/* manifests: the fuzz consortium, and an empty one */
	must(ft_wire_manifest_sign(w->m, w->consortium, &buf, &n));
	put("wire_manifest", "three_sites", buf, n, NULL, 0);
	ft_free(buf);
	{
		ft_wire_manifest *e = NULL;

		must(ft_wire_manifest_new("Empty", ft_crypto_identity_pk(w->consortium), "c",
		                          ft_crypto_identity_pk(w->coord), "tcp://127.0.0.1:1", &e));
		e->created_ms = 1;
		must(ft_wire_manifest_sign(e, w->consortium, &buf, &n));
		put("wire_manifest", "no_sites", buf, n, NULL, 0);
		ft_free(buf);
		ft_wire_manifest_free(e);
	}
	/* chunk sequences: a 300-byte payload in 4 chunks, shuffled */
	{
		uint8_t payload[300], seq[4096];
		uint8_t *bodies[4] = { 0 };
		size_t lens[4] = { 0 }, k = 0, pos = 0;
		static const int order[2][4] = { { 0, 1, 2, 3 }, { 2, 0, 3, 1 } };
		ft_wire_chunker ck;

		for (size_t i = 0; i < sizeof(payload); i++)
			payload[i] = (uint8_t)(i * 7);
		must(ft_wire_chunker_init(&ck, payload, sizeof(payload), 3, 80));
		while (k < 4 && ft_wire_chunker_next(&ck, &bodies[k], &lens[k]) == FT_OK)
			k++;
		for (int o = 0; o < 2; o++) {
			pos = 0;
			for (int i = 0; i < 4; i++) {
				size_t l = lens[order[o][i]];

				seq[pos++] = (uint8_t)l;
				seq[pos++] = (uint8_t)(l >> 8);
				memcpy(seq + pos, bodies[order[o][i]], l);
				pos += l;
			}
			put("wire_chunks", o == 0 ? "in_order" : "shuffled", seq, pos, NULL, 0);
		}
		for (int i = 0; i < 4; i++)
			ft_free(bodies[i]);
	}
	return 0;
}
