/*
 * test_transport.c - the transport module: signed frames (tampering,
 * truncation, wrong key), bodies of frames, the signed manifest, the round
 * payloads' limits, and the request/reply endpoints in one process, over
 * plain TCP and over mutual TLS with certificates from deploy/pki (a
 * certificate from another CA must not get through).
 */
#include <unistd.h>

#include "ft_test.h"

#include "ft_crypto.h"
#include "ft_transport.h"

static ft_crypto_identity *ident(void)
{
	ft_crypto_identity *id = NULL;

	assert_int_equal(ft_crypto_identity_generate(&id), FT_OK);
	return id;
}

static void sample_frame(ft_transport_frame *f, const uint8_t *payload, uint32_t n)
{
	memset(f, 0, sizeof(*f));
	f->type = FT_TRANSPORT_SECAGG;
	f->sender = 7;
	memset(f->session, 0x5a, sizeof(f->session));
	f->run = 3;
	f->round = 9;
	f->attempt = 2;
	f->seq = 41;
	f->payload = payload;
	f->payload_len = n;
}

static void test_frame_roundtrip(void **state)
{
	ft_crypto_identity *id = ident(), *other = ident();
	ft_transport_frame f, g;
	uint8_t payload[100], *buf = NULL;
	size_t len;

	(void)state;
	ft_crypto_random(payload, sizeof(payload));
	sample_frame(&f, payload, sizeof(payload));
	assert_int_equal(ft_transport_frame_seal(&f, id, &buf, &len), FT_OK);
	assert_int_equal(len, FT_TRANSPORT_FRAME_OVERHEAD + sizeof(payload));
	assert_int_equal(ft_transport_frame_parse(buf, len, &g), FT_OK);
	assert_int_equal(g.type, f.type);
	assert_int_equal(g.sender, 7);
	assert_memory_equal(g.session, f.session, sizeof(g.session));
	assert_true(g.run == 3 && g.round == 9 && g.attempt == 2 && g.seq == 41);
	assert_int_equal(g.payload_len, sizeof(payload));
	assert_memory_equal(g.payload, payload, sizeof(payload));
	assert_int_equal(ft_transport_frame_verify(buf, len, ft_crypto_identity_pk(id)), FT_OK);
	/* Another key, any flipped bit, a truncation: refused. */
	assert_int_equal(ft_transport_frame_verify(buf, len, ft_crypto_identity_pk(other)),
	                 FT_ECRYPTO);
	for (size_t i = 0; i < len; i += 7) {
		buf[i] ^= 0x01;
		assert_int_not_equal(ft_transport_frame_verify(buf, len, ft_crypto_identity_pk(id)),
		                     FT_OK);
		buf[i] ^= 0x01;
	}
	assert_int_equal(ft_transport_frame_parse(buf, len - 1, &g), FT_EPROTO);
	assert_int_equal(ft_transport_frame_parse(buf, FT_TRANSPORT_FRAME_OVERHEAD - 1, &g),
	                 FT_EPROTO);
	buf[4] = 0; /* type 0 */
	assert_int_equal(ft_transport_frame_parse(buf, len, &g), FT_EPROTO);
	buf[4] = FT_TRANSPORT_TYPE_MAX_ + 1;
	assert_int_equal(ft_transport_frame_parse(buf, len, &g), FT_EPROTO);
	buf[4] = FT_TRANSPORT_SECAGG;
	buf[3] = 2; /* another version */
	assert_int_equal(ft_transport_frame_parse(buf, len, &g), FT_EPROTO);
	ft_free(buf);
	ft_crypto_identity_free(id);
	ft_crypto_identity_free(other);
}

static void test_body(void **state)
{
	ft_transport_body b;
	const uint8_t *fr;
	size_t off = 0, n;
	uint8_t a[3] = {1, 2, 3}, c[1] = {9};

	(void)state;
	memset(&b, 0, sizeof(b));
	assert_int_equal(ft_transport_body_add(&b, a, sizeof(a)), FT_OK);
	assert_int_equal(ft_transport_body_add(&b, c, sizeof(c)), FT_OK);
	assert_int_equal(b.n_frames, 2);
	assert_int_equal(ft_transport_body_next(b.buf, b.len, &off, &fr, &n), FT_OK);
	assert_int_equal(n, 3);
	assert_memory_equal(fr, a, 3);
	assert_int_equal(ft_transport_body_next(b.buf, b.len, &off, &fr, &n), FT_OK);
	assert_int_equal(n, 1);
	assert_int_equal(fr[0], 9);
	assert_int_equal(ft_transport_body_next(b.buf, b.len, &off, &fr, &n), FT_ENOTFOUND);
	/* A length that runs past the body, or a cut-off length prefix. */
	off = 0;
	assert_int_equal(ft_transport_body_next(b.buf, b.len - 1, &off, &fr, &n), FT_OK);
	assert_int_equal(ft_transport_body_next(b.buf, b.len - 1, &off, &fr, &n), FT_EPROTO);
	off = 0;
	assert_int_equal(ft_transport_body_next(b.buf, 2, &off, &fr, &n), FT_EPROTO);
	ft_store_le32(b.buf, 0xFFFFFFFFu);
	off = 0;
	assert_int_equal(ft_transport_body_next(b.buf, b.len, &off, &fr, &n), FT_EPROTO);
	ft_transport_body_free(&b);
}

static void test_manifest(void **state)
{
	char dir[64], path[128], path2[128];
	ft_crypto_identity *cons = ident(), *other = ident();
	ft_transport_manifest_site sites[3];
	ft_transport_manifest *m = NULL;
	uint8_t coord[32], cid[32];
	ft_errmsg err;
	FILE *f;
	char text[4096];
	size_t n;

	(void)state;
	ft_test_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/manifest", dir);
	snprintf(path2, sizeof(path2), "%s/tampered", dir);
	ft_crypto_random(coord, sizeof(coord));
	memset(sites, 0, sizeof(sites));
	for (int i = 0; i < 3; i++) {
		sites[i].id = (uint32_t)(30 - 10 * i); /* written unsorted */
		ft_crypto_random(sites[i].pk, 32);
		snprintf(sites[i].name, sizeof(sites[i].name), "hospital-%d", i);
	}
	assert_int_equal(ft_transport_manifest_write(path, cons, coord, sites, 3, &err), FT_OK);
	assert_int_equal(ft_transport_manifest_write(path, cons, coord, sites, 3, &err), FT_EEXIST);
	assert_int_equal(ft_transport_manifest_load(path, ft_crypto_identity_pk(cons), &m, &err),
	                 FT_OK);
	ft_crypto_hash(cid, ft_crypto_identity_pk(cons), 32);
	assert_memory_equal(m->consortium, cid, 32);
	assert_memory_equal(m->coord_pk, coord, 32);
	assert_int_equal(m->n_sites, 3);
	assert_int_equal(m->sites[0].id, 10);
	assert_int_equal(m->sites[2].id, 30);
	assert_non_null(ft_transport_manifest_site_get(m, 20));
	assert_memory_equal(ft_transport_manifest_site_get(m, 20)->pk, sites[1].pk, 32);
	assert_string_equal(ft_transport_manifest_site_get(m, 30)->name, "hospital-0");
	assert_null(ft_transport_manifest_site_get(m, 21));
	ft_transport_manifest_free(m);
	m = NULL;
	/* Signed by another key than the consortium's: refused. */
	assert_int_equal(ft_transport_manifest_load(path, ft_crypto_identity_pk(other), &m, &err),
	                 FT_ECRYPTO);
	assert_null(m);
	/* One site's key changed after signing: refused. */
	f = fopen(path, "rb");
	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	{
		char *p = strstr(text, "\nsite 20 ");

		assert_non_null(p);
		p[10] = p[10] == 'a' ? 'b' : 'a';
	}
	f = fopen(path2, "wb");
	assert_non_null(f);
	fwrite(text, 1, n, f);
	fclose(f);
	assert_int_equal(ft_transport_manifest_load(path2, ft_crypto_identity_pk(cons), &m, &err),
	                 FT_ECRYPTO);
	/* Duplicate ids and bad names are refused when writing. */
	sites[1].id = 30;
	assert_int_equal(ft_transport_manifest_write(path2, cons, coord, sites, 3, &err), FT_EINVAL);
	sites[1].id = 20;
	snprintf(sites[1].name, sizeof(sites[1].name), "bad name");
	assert_int_equal(ft_transport_manifest_write(path2, cons, coord, sites, 3, &err), FT_EINVAL);
	ft_crypto_identity_free(cons);
	ft_crypto_identity_free(other);
	ft_test_rmdir(dir);
}

static void test_payloads(void **state)
{
	ft_transport_announce a, b;
	ft_transport_result r, s;
	ft_transport_chunk c, d;
	uint8_t buf[FT_TRANSPORT_ANNOUNCE_BYTES], rb[FT_TRANSPORT_RESULT_BYTES];
	uint8_t cb[FT_TRANSPORT_CHUNK_HDR_BYTES + 10], data[10];

	(void)state;
	memset(&a, 0, sizeof(a));
	a.model_version = 4;
	memset(a.model_hash, 0x11, 32);
	a.lr = 0.25;
	a.epochs = 2;
	a.batch = 16;
	a.dp_clip = 1.5;
	a.epsilon = 0.5;
	a.update_clip = 1.0;
	a.bits = 32;
	a.max_summands = 4;
	a.standardise = 1;
	ft_transport_announce_encode(&a, buf);
	assert_int_equal(ft_transport_announce_decode(buf, sizeof(buf), &b), FT_OK);
	assert_true(b.model_version == 4 && b.lr == 0.25 && b.epochs == 2 && b.batch == 16 &&
	            b.dp_clip == 1.5 && b.epsilon == 0.5 && b.update_clip == 1.0 && b.bits == 32 &&
	            b.max_summands == 4 && b.standardise == 1);
	assert_memory_equal(b.model_hash, a.model_hash, 32);
	assert_int_equal(ft_transport_announce_decode(buf, sizeof(buf) - 1, &b), FT_EPROTO);
	a.bits = 15;
	ft_transport_announce_encode(&a, buf);
	assert_int_equal(ft_transport_announce_decode(buf, sizeof(buf), &b), FT_EPROTO);
	a.bits = 32;
	a.epsilon = -1;
	ft_transport_announce_encode(&a, buf);
	assert_int_equal(ft_transport_announce_decode(buf, sizeof(buf), &b), FT_EPROTO);
	a.epsilon = 0.0 / 0.0; /* NaN */
	ft_transport_announce_encode(&a, buf);
	assert_int_equal(ft_transport_announce_decode(buf, sizeof(buf), &b), FT_EPROTO);

	memset(&r, 0, sizeof(r));
	r.model_version = 9;
	memset(r.model_hash, 0x22, 32);
	memset(r.model_sig, 0x33, 64);
	r.n_survivors = 3;
	r.run_complete = 1;
	ft_transport_result_encode(&r, rb);
	assert_int_equal(ft_transport_result_decode(rb, sizeof(rb), &s), FT_OK);
	assert_true(s.model_version == 9 && s.n_survivors == 3 && s.run_complete == 1);
	assert_memory_equal(s.model_hash, r.model_hash, 32);
	assert_memory_equal(s.model_sig, r.model_sig, 64);
	r.run_complete = 2;
	ft_transport_result_encode(&r, rb);
	assert_int_equal(ft_transport_result_decode(rb, sizeof(rb), &s), FT_EPROTO);

	memset(data, 0x44, sizeof(data));
	memset(&c, 0, sizeof(c));
	c.model_version = 1;
	c.total = 30;
	c.offset = 20;
	c.data = data;
	c.len = 10;
	ft_transport_chunk_encode(&c, cb);
	assert_int_equal(ft_transport_chunk_decode(cb, sizeof(cb), &d), FT_OK);
	assert_int_equal(d.offset, 20);
	assert_int_equal(d.len, 10);
	assert_memory_equal(d.data, data, 10);
	/* A chunk that would run past the model's end. */
	c.offset = 21;
	ft_transport_chunk_encode(&c, cb);
	assert_int_equal(ft_transport_chunk_decode(cb, sizeof(cb), &d), FT_EPROTO);
	assert_int_equal(ft_transport_chunk_decode(cb, FT_TRANSPORT_CHUNK_HDR_BYTES, &d), FT_EPROTO);
}

/* ---- Endpoints in one process ------------------------------------------------ */

#include <pthread.h>

typedef struct echo_ctx {
	ft_transport_server *srv;
	int n;          /* requests to answer */
	int hold_ms;    /* long poll: answer after this long */
	uint32_t pipe;
} echo_ctx;

/* Answers each request with its body reversed. */
static void *echo_thread(void *arg)
{
	echo_ctx *e = arg;

	for (int done = 0; done < e->n;) {
		ft_transport_req *r = NULL;
		uint32_t closed;
		const uint8_t *b;
		uint8_t out[64];
		size_t n;

		if (ft_transport_server_wait(e->srv, 2000, &r, &closed) != FT_OK || r == NULL)
			continue;
		b = ft_transport_req_body(r, &n);
		e->pipe = ft_transport_req_pipe(r);
		for (size_t i = 0; i < n && i < sizeof(out); i++)
			out[i] = b[n - 1 - i];
		if (e->hold_ms > 0)
			usleep((useconds_t)e->hold_ms * 1000);
		assert_int_equal(ft_transport_server_reply(e->srv, r, out, n < 64 ? n : 64), FT_OK);
		done++;
	}
	return NULL;
}

static void exchange(ft_transport_server *srv, ft_transport_client *cli, int hold_ms)
{
	echo_ctx e = {srv, 2, hold_ms, 0};
	pthread_t th;
	uint8_t *reply = NULL;
	size_t rlen;
	const uint8_t msg[4] = {1, 2, 3, 4};

	assert_int_equal(pthread_create(&th, NULL, echo_thread, &e), 0);
	assert_int_equal(ft_transport_client_call(cli, msg, 4, 5000, &reply, &rlen), FT_OK);
	assert_int_equal(rlen, 4);
	assert_int_equal(reply[0], 4);
	assert_int_equal(reply[3], 1);
	ft_free(reply);
	/* An empty request (a poll) gets an empty reply. */
	assert_int_equal(ft_transport_client_call(cli, NULL, 0, 5000, &reply, &rlen), FT_OK);
	assert_int_equal(rlen, 0);
	ft_free(reply);
	pthread_join(th, NULL);
	assert_int_not_equal(e.pipe, 0);
}

static void test_endpoints_tcp(void **state)
{
	ft_transport_server *srv = NULL;
	ft_transport_client *cli = NULL;
	char url[64];
	ft_errmsg err;

	(void)state;
	assert_int_equal(ft_transport_server_open("tcp://127.0.0.1:0", NULL, 4, &srv, &err), FT_OK);
	assert_true(ft_transport_server_port(srv) > 0);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", ft_transport_server_port(srv));
	assert_int_equal(ft_transport_client_open(url, NULL, &cli, &err), FT_OK);
	exchange(srv, cli, 0);
	exchange(srv, cli, 300); /* held like a long poll */
	ft_transport_client_close(cli);
	ft_transport_server_close(srv);
}

static int pki(const char *dir, const char *args)
{
	char cmd[512];
	const char *src = getenv("FT_SOURCE_DIR");

	snprintf(cmd, sizeof(cmd), "'%s/deploy/pki' %s '%s' >/dev/null 2>&1 %s",
	         src != NULL ? src : ".", strncmp(args, "site", 4) == 0 ? "site" : args, dir,
	         strncmp(args, "site", 4) == 0 ? args + 4 : "");
	return system(cmd);
}

static void test_endpoints_mutual_tls(void **state)
{
	char dir[64], rogue[96], ca[128], cc[128], ck[128], sc[128], sk[128], rc[128], rk[128];
	char url[64];
	ft_transport_server *srv = NULL;
	ft_transport_client *cli = NULL, *bad = NULL;
	ft_transport_tls st, ct;
	uint8_t *reply = NULL;
	size_t rlen;
	ft_errmsg err;

	(void)state;
	if (system("command -v openssl >/dev/null 2>&1") != 0)
		skip();
	ft_test_tmpdir(dir, sizeof(dir));
	snprintf(rogue, sizeof(rogue), "%s/rogue", dir);
	assert_int_equal(pki(dir, "ca"), 0);
	assert_int_equal(pki(dir, "coordinator"), 0);
	assert_int_equal(pki(dir, "site 1"), 0);
	assert_int_equal(pki(rogue, "ca"), 0);
	assert_int_equal(pki(rogue, "site 1"), 0);
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	snprintf(cc, sizeof(cc), "%s/coordinator.crt", dir);
	snprintf(ck, sizeof(ck), "%s/coordinator.key", dir);
	snprintf(sc, sizeof(sc), "%s/site-1.crt", dir);
	snprintf(sk, sizeof(sk), "%s/site-1.key", dir);
	snprintf(rc, sizeof(rc), "%s/site-1.crt", rogue);
	snprintf(rk, sizeof(rk), "%s/site-1.key", rogue);
	st = (ft_transport_tls){ca, cc, ck, NULL};
	assert_int_equal(ft_transport_server_open("tls+tcp://127.0.0.1:0", &st, 4, &srv, &err),
	                 FT_OK);
	snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%d", ft_transport_server_port(srv));
	/* The consortium's site certificate: the exchange works. */
	ct = (ft_transport_tls){ca, sc, sk, "localhost"};
	assert_int_equal(ft_transport_client_open(url, &ct, &cli, &err), FT_OK);
	exchange(srv, cli, 0);
	/* A certificate from another CA: the handshake fails, nothing arrives. */
	ct = (ft_transport_tls){ca, rc, rk, "localhost"};
	assert_int_equal(ft_transport_client_open(url, &ct, &bad, &err), FT_OK);
	assert_int_equal(ft_transport_client_call(bad, (const uint8_t *)"x", 1, 1500, &reply, &rlen),
	                 FT_ETIMEDOUT);
	{
		ft_transport_req *r = NULL;
		uint32_t closed = 0;

		assert_int_equal(ft_transport_server_wait(srv, 200, &r, &closed), FT_ETIMEDOUT);
	}
	ft_transport_client_close(bad);
	/* A server name the coordinator's certificate does not carry. */
	ct = (ft_transport_tls){ca, sc, sk, "elsewhere.example"};
	assert_int_equal(ft_transport_client_open(url, &ct, &bad, &err), FT_OK);
	assert_int_equal(ft_transport_client_call(bad, (const uint8_t *)"x", 1, 1500, &reply, &rlen),
	                 FT_ETIMEDOUT);
	ft_transport_client_close(bad);
	/* A missing key file is reported, not ignored. */
	ct = (ft_transport_tls){ca, sc, "/nonexistent/key", "localhost"};
	assert_int_equal(ft_transport_client_open(url, &ct, &bad, &err), FT_EIO);
	ft_transport_client_close(cli);
	ft_transport_server_close(srv);
	ft_test_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_roundtrip),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_manifest),
		cmocka_unit_test(test_payloads),
		cmocka_unit_test(test_endpoints_tcp),
		cmocka_unit_test(test_endpoints_mutual_tls),
	};

	if (ft_crypto_init() != FT_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
