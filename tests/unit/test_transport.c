/*
 * test_transport.c - the transport module: bodies of length-prefixed
 * envelopes (hostile lengths), and the request/reply endpoints in one
 * process, over
 * plain TCP and over mutual TLS with certificates from deploy/pki (a
 * certificate from another CA must not get through), encrypted keys, and
 * what a certificate says about itself (expiry, issuer).
 */
#include <time.h>
#include <unistd.h>

#include "ft_test.h"

#include "ft_crypto.h"
#include "ft_transport.h"

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
	ft_put_le32(b.buf, 0xFFFFFFFFu);
	off = 0;
	assert_int_equal(ft_transport_body_next(b.buf, b.len, &off, &fr, &n), FT_EPROTO);
	ft_transport_body_free(&b);
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
	st = (ft_transport_tls){.ca_file = ca, .cert_file = cc, .key_file = ck, .server_name = NULL};
	assert_int_equal(ft_transport_server_open("tls+tcp://127.0.0.1:0", &st, 4, &srv, &err),
	                 FT_OK);
	snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%d", ft_transport_server_port(srv));
	/* The consortium's site certificate: the exchange works. */
	ct = (ft_transport_tls){.ca_file = ca, .cert_file = sc, .key_file = sk, .server_name = "localhost"};
	assert_int_equal(ft_transport_client_open(url, &ct, &cli, &err), FT_OK);
	exchange(srv, cli, 0);
	/* A certificate from another CA: the handshake fails, nothing arrives. */
	ct = (ft_transport_tls){.ca_file = ca, .cert_file = rc, .key_file = rk, .server_name = "localhost"};
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
	ct = (ft_transport_tls){.ca_file = ca, .cert_file = sc, .key_file = sk, .server_name = "elsewhere.example"};
	assert_int_equal(ft_transport_client_open(url, &ct, &bad, &err), FT_OK);
	assert_int_equal(ft_transport_client_call(bad, (const uint8_t *)"x", 1, 1500, &reply, &rlen),
	                 FT_ETIMEDOUT);
	ft_transport_client_close(bad);
	/* A missing key file is reported, not ignored. */
	ct = (ft_transport_tls){.ca_file = ca, .cert_file = sc, .key_file = "/nonexistent/key", .server_name = "localhost"};
	assert_int_equal(ft_transport_client_open(url, &ct, &bad, &err), FT_EIO);
	ft_transport_client_close(cli);
	ft_transport_server_close(srv);
	ft_test_rmdir(dir);
}

/* The coordinator restarts while the node is between two calls: the next
 * call must fail at once (the node then starts a new session with HELLO),
 * not be delivered to the new coordinator as if the old session went on. */
static void test_call_after_restart(void **state)
{
	ft_transport_server *srv = NULL;
	ft_transport_client *cli = NULL;
	ft_transport_req *r = NULL;
	uint8_t *reply = NULL;
	size_t rlen;
	uint32_t closed;
	char url[64];
	int port;
	ft_errmsg err;

	(void)state;
	assert_int_equal(ft_transport_server_open("tcp://127.0.0.1:0", NULL, 4, &srv, &err), FT_OK);
	port = ft_transport_server_port(srv);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	assert_int_equal(ft_transport_client_open(url, NULL, &cli, &err), FT_OK);
	exchange(srv, cli, 0);
	ft_transport_server_close(srv);
	srv = NULL;
	usleep(300 * 1000); /* the client sees the connection go */
	assert_int_equal(ft_transport_server_open(url, NULL, 4, &srv, &err), FT_OK);
	usleep(500 * 1000); /* and redials the new server */
	assert_int_equal(ft_transport_client_call(cli, (const uint8_t *)"p", 1, 2000, &reply, &rlen),
	                 FT_ENET);
	/* Nothing reached the new server. */
	assert_int_equal(ft_transport_server_wait(srv, 300, &r, &closed), FT_ETIMEDOUT);
	/* A new client (what the node does next) talks to it normally. */
	ft_transport_client_close(cli);
	assert_int_equal(ft_transport_client_open(url, NULL, &cli, &err), FT_OK);
	exchange(srv, cli, 0);
	ft_transport_client_close(cli);
	ft_transport_server_close(srv);
}

/* An encrypted key (deploy/pki with FT_PKI_KEY_PASSFILE) opens with its
 * passphrase; without it, or with a wrong one, the endpoint is not opened
 * and the message says which file and what to do. */
static void test_encrypted_key(void **state)
{
	char dir[64], pf[128], cmd[1024], ca[128], cc[128], ck[128], sc[128], sk[128], url[64];
	const char *src = getenv("FT_SOURCE_DIR");
	ft_transport_server *srv = NULL;
	ft_transport_client *cli = NULL;
	ft_transport_tls st, ct;
	ft_errmsg err;
	FILE *f;

	(void)state;
	if (system("command -v openssl >/dev/null 2>&1") != 0)
		skip();
	ft_test_tmpdir(dir, sizeof(dir));
	snprintf(pf, sizeof(pf), "%s/pass", dir);
	f = fopen(pf, "w");
	assert_non_null(f);
	fputs("correct horse battery staple\n", f);
	fclose(f);
	assert_int_equal(pki(dir, "ca"), 0);
	snprintf(cmd, sizeof(cmd),
	         "FT_PKI_KEY_PASSFILE='%s' '%s/deploy/pki' coordinator '%s' >/dev/null 2>&1 && "
	         "FT_PKI_KEY_PASSFILE='%s' '%s/deploy/pki' site '%s' 1 >/dev/null 2>&1 && "
	         "grep -q ENCRYPTED '%s/site-1.key'",
	         pf, src != NULL ? src : ".", dir, pf, src != NULL ? src : ".", dir, dir);
	assert_int_equal(system(cmd), 0);
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	snprintf(cc, sizeof(cc), "%s/coordinator.crt", dir);
	snprintf(ck, sizeof(ck), "%s/coordinator.key", dir);
	snprintf(sc, sizeof(sc), "%s/site-1.crt", dir);
	snprintf(sk, sizeof(sk), "%s/site-1.key", dir);
	st = (ft_transport_tls){.ca_file = ca, .cert_file = cc, .key_file = ck};
	memset(&err, 0, sizeof(err));
	assert_int_equal(ft_transport_server_open("tls+tcp://127.0.0.1:0", &st, 4, &srv, &err),
	                 FT_EPERM);
	assert_non_null(strstr(err.msg, "key_passphrase_file"));
	st.key_passphrase = "wrong";
	memset(&err, 0, sizeof(err));
	assert_int_equal(ft_transport_server_open("tls+tcp://127.0.0.1:0", &st, 4, &srv, &err),
	                 FT_ECRYPTO);
	assert_non_null(strstr(err.msg, ck));
	st.key_passphrase = "correct horse battery staple";
	assert_int_equal(ft_transport_server_open("tls+tcp://127.0.0.1:0", &st, 4, &srv, &err),
	                 FT_OK);
	snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%d", ft_transport_server_port(srv));
	ct = (ft_transport_tls){.ca_file = ca, .cert_file = sc, .key_file = sk,
	                        .server_name = "localhost",
	                        .key_passphrase = "correct horse battery staple"};
	assert_int_equal(ft_transport_client_open(url, &ct, &cli, &err), FT_OK);
	exchange(srv, cli, 0);
	ft_transport_client_close(cli);
	ft_transport_server_close(srv);
	ft_test_rmdir(dir);
}

/* Certificate details for the expiry warnings and `node check`: the
 * subject, the CA that signed it (and not another), the days left. */
static void test_cert_info(void **state)
{
	char dir[64], rogue[96], ca[128], sc[128], rca[128], cmd[512];
	const char *src = getenv("FT_SOURCE_DIR");
	ft_transport_cert_info ci;
	ft_errmsg err;
	int64_t now = (int64_t)time(NULL);
	int days;

	(void)state;
	if (system("command -v openssl >/dev/null 2>&1") != 0)
		skip();
	ft_test_tmpdir(dir, sizeof(dir));
	snprintf(rogue, sizeof(rogue), "%s/rogue", dir);
	assert_int_equal(pki(dir, "ca"), 0);
	snprintf(cmd, sizeof(cmd), "FT_PKI_LEAF_DAYS=20 '%s/deploy/pki' site '%s' 7 >/dev/null 2>&1",
	         src != NULL ? src : ".", dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(pki(rogue, "ca"), 0);
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	snprintf(sc, sizeof(sc), "%s/site-7.crt", dir);
	snprintf(rca, sizeof(rca), "%s/ca.crt", rogue);
	memset(&err, 0, sizeof(err));
	assert_int_equal(ft_transport_cert_info_read(sc, ca, &ci, &err), FT_OK);
	assert_non_null(strstr(ci.subject, "CN=site-7"));
	assert_non_null(strstr(ci.issuer, "fedtwin consortium CA"));
	assert_true(ci.ca_checked && ci.ca_signed);
	assert_true(ci.not_before <= now + 5 && ci.not_before > now - 3600);
	days = ft_transport_cert_days_left(&ci, now);
	assert_true(days == 19 || days == 20);
	assert_true(days < FT_TRANSPORT_CERT_WARN_DAYS);
	/* 21 days from now it has expired for a day. */
	assert_int_equal(ft_transport_cert_days_left(&ci, ci.not_after + 86400), -2);
	assert_int_equal(ft_transport_cert_days_left(&ci, ci.not_after + 1), -1);
	/* Another consortium's CA did not sign it. */
	assert_int_equal(ft_transport_cert_info_read(sc, rca, &ci, &err), FT_OK);
	assert_true(ci.ca_checked && !ci.ca_signed);
	/* Not a certificate: named. */
	assert_int_equal(ft_transport_cert_info_read(sc, NULL, &ci, &err), FT_OK);
	assert_false(ci.ca_checked);
	snprintf(cmd, sizeof(cmd), "%s/site-7.key", dir);
	memset(&err, 0, sizeof(err));
	assert_int_equal(ft_transport_cert_info_read(cmd, NULL, &ci, &err), FT_EFORMAT);
	assert_non_null(strstr(err.msg, "site-7.key"));
	ft_test_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_endpoints_tcp),
		cmocka_unit_test(test_call_after_restart),
		cmocka_unit_test(test_endpoints_mutual_tls),
		cmocka_unit_test(test_encrypted_key),
		cmocka_unit_test(test_cert_info),
	};

	if (ft_crypto_init() != FT_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
