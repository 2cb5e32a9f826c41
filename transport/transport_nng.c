/*
 * transport_nng.c - the two endpoints over nng: the coordinator's rep0
 * listener, driven asynchronously (one aio per request context, callbacks
 * that only queue), and the node's req0 dialer, driven synchronously from the
 * node's one thread. Mutual TLS on both (ft_transport.h explains why
 * request/reply and how identities are bound).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>

#include "transport_int.h"

static int nng_fail(ft_errmsg *err, const char *what, int nrv)
{
	return ft_errmsg_set(err, FT_ENET, "%s: %s", what, nng_strerror(nrv));
}

/* Reads a whole PEM file into a NUL-terminated buffer (nng wants strings). */
static int read_pem(const char *path, char **out, ft_errmsg *err)
{
	FILE *f = NULL;
	char *buf = NULL;
	size_t n;
	int rv = FT_OK;

	f = fopen(path, "rb");
	if (f == NULL)
		return ft_errmsg_set(err, FT_EIO, "%s: cannot open", path);
	buf = ft_malloc(65537);
	if (buf == NULL) {
		rv = FT_ENOMEM;
		goto out;
	}
	n = fread(buf, 1, 65537, f);
	if (ferror(f) || n == 0 || n > 65536) {
		rv = ft_errmsg_set(err, FT_EFORMAT, "%s: empty, unreadable or over 64 KiB", path);
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	buf = NULL;
out:
	if (buf != NULL) {
		ft_crypto_wipe(buf, 65537);
		ft_free(buf);
	}
	fclose(f);
	return rv;
}

static int tls_setup(const ft_transport_tls *t, int server, nng_tls_config **out, ft_errmsg *err)
{
	nng_tls_config *cfg = NULL;
	char *ca = NULL, *cert = NULL, *key = NULL;
	int rv, nrv;

	if (t->ca_file == NULL || t->cert_file == NULL || t->key_file == NULL)
		return ft_errmsg_set(err, FT_EINVAL, "TLS needs a CA, a certificate and a key");
	nrv = nng_tls_config_alloc(&cfg, server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT);
	if (nrv != 0)
		return nng_fail(err, "TLS configuration", nrv);
	rv = read_pem(t->ca_file, &ca, err);
	if (rv == FT_OK)
		rv = read_pem(t->cert_file, &cert, err);
	if (rv == FT_OK)
		rv = read_pem(t->key_file, &key, err);
	if (rv != FT_OK)
		goto out;
	nrv = nng_tls_config_ca_chain(cfg, ca, NULL);
	if (nrv != 0) {
		rv = nng_fail(err, t->ca_file, nrv);
		goto out;
	}
	nrv = nng_tls_config_own_cert(cfg, cert, key, t->key_passphrase);
	if (nrv != 0) {
		/* mbedTLS says only "crypto error" for a wrong passphrase. */
		if (t->key_passphrase != NULL && strstr(key, "ENCRYPTED") != NULL)
			rv = ft_errmsg_set(err, FT_ECRYPTO, "%s: cannot open the encrypted key (wrong"
			                   " passphrase, or a PKCS#8 encryption mbedTLS cannot read: use"
			                   " 'openssl ec -aes256'), or it does not match %s",
			                   t->key_file, t->cert_file);
		else if (t->key_passphrase == NULL && strstr(key, "ENCRYPTED") != NULL)
			rv = ft_errmsg_set(err, FT_EPERM, "%s is encrypted: set its passphrase"
			                   " (tls key_passphrase_file)", t->key_file);
		else
			rv = nng_fail(err, t->cert_file, nrv);
		goto out;
	}
	/* Both directions: a node without a consortium certificate never gets
	 * to send a byte of protocol. */
	nrv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
	if (nrv == 0 && !server && t->server_name != NULL)
		nrv = nng_tls_config_server_name(cfg, t->server_name);
	if (nrv == 0)
		nrv = nng_tls_config_version(cfg, NNG_TLS_1_2, NNG_TLS_1_3);
	if (nrv != 0) {
		rv = nng_fail(err, "TLS configuration", nrv);
		goto out;
	}
	*out = cfg;
	cfg = NULL;
out:
	if (key != NULL) {
		ft_crypto_wipe(key, strlen(key));
		ft_free(key);
	}
	ft_free(cert);
	ft_free(ca);
	if (cfg != NULL)
		nng_tls_config_free(cfg);
	return rv;
}

int ft_transport_tls_check(const ft_transport_tls *tls, int server, ft_errmsg *err)
{
	nng_tls_config *cfg = NULL;
	int rv;

	if (tls == NULL)
		return FT_EINVAL;
	rv = tls_setup(tls, server, &cfg, err);
	if (cfg != NULL)
		nng_tls_config_free(cfg);
	return rv;
}

/* ---- Server ----------------------------------------------------------------- */

static void ready_push(ft_transport_server *s, ft_transport_req *r)
{
	r->next = NULL;
	if (s->ready_tail != NULL)
		s->ready_tail->next = r;
	else
		s->ready_head = r;
	s->ready_tail = r;
	pthread_cond_signal(&s->cv);
}

/* Runs on an nng thread: only moves the slot between states and queues it. */
static void slot_cb(void *arg)
{
	ft_transport_req *r = arg;
	ft_transport_server *s = r->srv;
	int res = nng_aio_result(r->aio);

	pthread_mutex_lock(&s->mtx);
	if (r->state == SLOT_RECV) {
		if (res == 0) {
			r->msg = nng_aio_get_msg(r->aio);
			r->state = SLOT_HELD;
			ready_push(s, r);
			pthread_mutex_unlock(&s->mtx);
			return;
		}
		if (res == NNG_ECLOSED || s->closing) {
			r->state = SLOT_DEAD;
			pthread_mutex_unlock(&s->mtx);
			return;
		}
	} else if (r->state == SLOT_SEND) {
		if (res != 0) {
			/* The message is still ours when the send failed. */
			nng_msg *m = nng_aio_get_msg(r->aio);

			if (m != NULL)
				nng_msg_free(m);
			nng_aio_set_msg(r->aio, NULL);
		}
		if (res == NNG_ECLOSED || s->closing) {
			r->state = SLOT_DEAD;
			pthread_mutex_unlock(&s->mtx);
			return;
		}
	}
	r->state = SLOT_RECV;
	pthread_mutex_unlock(&s->mtx);
	nng_ctx_recv(r->ctx, r->aio);
}

static void pipe_removed(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	ft_transport_server *s = arg;

	(void)ev;
	pthread_mutex_lock(&s->mtx);
	if (s->n_closed < sizeof(s->closed) / sizeof(s->closed[0]))
		s->closed[s->n_closed++] = (uint32_t)nng_pipe_id(p);
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mtx);
}

int ft_transport_server_open(const char *url, const ft_transport_tls *tls, uint32_t slots,
                             ft_transport_server **out, ft_errmsg *err)
{
	ft_transport_server *s = NULL;
	int rv = FT_OK, nrv;

	if (url == NULL || out == NULL || slots == 0 || slots > 4096)
		return FT_EINVAL;
	s = ft_calloc(1, sizeof(*s));
	if (s == NULL)
		return FT_ENOMEM;
	pthread_mutex_init(&s->mtx, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->slots = ft_calloc(slots, sizeof(*s->slots));
	if (s->slots == NULL) {
		rv = FT_ENOMEM;
		goto out;
	}
	nrv = nng_rep0_open(&s->sock);
	if (nrv != 0) {
		rv = nng_fail(err, "rep0 socket", nrv);
		goto out;
	}
	s->sock_open = 1;
	nrv = nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, FT_TRANSPORT_MAX_MSG);
	if (nrv == 0)
		nrv = nng_pipe_notify(s->sock, NNG_PIPE_EV_REM_POST, pipe_removed, s);
	if (nrv != 0) {
		rv = nng_fail(err, "socket options", nrv);
		goto out;
	}
	for (uint32_t i = 0; i < slots; i++) {
		ft_transport_req *r = &s->slots[i];

		r->srv = s;
		nrv = nng_aio_alloc(&r->aio, slot_cb, r);
		if (nrv == 0)
			nrv = nng_ctx_open(&r->ctx, s->sock);
		if (nrv != 0) {
			rv = nng_fail(err, "request context", nrv);
			goto out;
		}
		s->n_slots = i + 1;
	}
	nrv = nng_listener_create(&s->listener, s->sock, url);
	if (nrv != 0) {
		rv = nng_fail(err, url, nrv);
		goto out;
	}
	if (tls != NULL) {
		rv = tls_setup(tls, 1, &s->tls, err);
		if (rv != FT_OK)
			goto out;
		nrv = nng_listener_set_ptr(s->listener, NNG_OPT_TLS_CONFIG, s->tls);
		if (nrv != 0) {
			rv = nng_fail(err, "TLS on the listener", nrv);
			goto out;
		}
	}
	nrv = nng_listener_set_size(s->listener, NNG_OPT_RECVMAXSZ, FT_TRANSPORT_MAX_MSG);
	if (nrv == 0)
		nrv = nng_listener_start(s->listener, 0);
	if (nrv != 0) {
		rv = nng_fail(err, url, nrv);
		goto out;
	}
	for (uint32_t i = 0; i < s->n_slots; i++) {
		s->slots[i].state = SLOT_RECV;
		nng_ctx_recv(s->slots[i].ctx, s->slots[i].aio);
	}
	*out = s;
	s = NULL;
out:
	ft_transport_server_close(s);
	return rv;
}

void ft_transport_server_close(ft_transport_server *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mtx);
	s->closing = 1;
	pthread_mutex_unlock(&s->mtx);
	/* Stop every aio before anything its callback touches is freed. */
	for (uint32_t i = 0; i < s->n_slots; i++)
		nng_aio_stop(s->slots[i].aio);
	for (uint32_t i = 0; i < s->n_slots; i++) {
		ft_transport_req *r = &s->slots[i];

		if (r->msg != NULL)
			nng_msg_free(r->msg);
		r->msg = NULL;
		nng_ctx_close(r->ctx);
	}
	if (s->sock_open)
		nng_close(s->sock);
	for (uint32_t i = 0; i < s->n_slots; i++) {
		nng_msg *m = nng_aio_get_msg(s->slots[i].aio);

		if (m != NULL && s->slots[i].state == SLOT_SEND)
			nng_msg_free(m);
		nng_aio_free(s->slots[i].aio);
	}
	if (s->tls != NULL)
		nng_tls_config_free(s->tls);
	ft_free(s->slots);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mtx);
	ft_free(s);
}

int ft_transport_server_port(const ft_transport_server *s)
{
	nng_sockaddr sa;

	if (s == NULL || nng_listener_get_addr(s->listener, NNG_OPT_LOCADDR, &sa) != 0)
		return 0;
	if (sa.s_family == NNG_AF_INET)
		return ((sa.s_in.sa_port & 0xff) << 8) | (sa.s_in.sa_port >> 8);
	if (sa.s_family == NNG_AF_INET6)
		return ((sa.s_in6.sa_port & 0xff) << 8) | (sa.s_in6.sa_port >> 8);
	return 0;
}

const uint8_t *ft_transport_req_body(const ft_transport_req *r, size_t *len)
{
	*len = nng_msg_len(r->msg);
	return nng_msg_body(r->msg);
}

uint32_t ft_transport_req_pipe(const ft_transport_req *r)
{
	return (uint32_t)nng_pipe_id(nng_msg_get_pipe(r->msg));
}

int ft_transport_server_wait(ft_transport_server *s, int timeout_ms, ft_transport_req **req,
                             uint32_t *closed_pipe)
{
	struct timespec ts;
	int rv = FT_ETIMEDOUT;

	if (s == NULL || req == NULL || closed_pipe == NULL)
		return FT_EINVAL;
	*req = NULL;
	*closed_pipe = 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->mtx);
	for (;;) {
		if (s->n_closed > 0) {
			*closed_pipe = s->closed[--s->n_closed];
			rv = FT_OK;
			break;
		}
		if (s->ready_head != NULL) {
			*req = s->ready_head;
			s->ready_head = s->ready_head->next;
			if (s->ready_head == NULL)
				s->ready_tail = NULL;
			rv = FT_OK;
			break;
		}
		if (timeout_ms <= 0 || pthread_cond_timedwait(&s->cv, &s->mtx, &ts) != 0)
			break;
	}
	pthread_mutex_unlock(&s->mtx);
	return rv;
}

int ft_transport_server_reply(ft_transport_server *s, ft_transport_req *r, const uint8_t *body,
                              size_t len)
{
	nng_msg *m = NULL;
	int rv = FT_OK;

	if (s == NULL || r == NULL || r->srv != s)
		return FT_EINVAL;
	if (nng_msg_alloc(&m, 0) != 0 || (len > 0 && nng_msg_append(m, body, len) != 0)) {
		if (m != NULL)
			nng_msg_free(m);
		m = NULL;
		rv = FT_ENOMEM;
	}
	nng_msg_free(r->msg);
	r->msg = NULL;
	if (m == NULL) {
		/* No reply: the node's request times out and it polls again. */
		pthread_mutex_lock(&s->mtx);
		r->state = SLOT_RECV;
		pthread_mutex_unlock(&s->mtx);
		nng_ctx_recv(r->ctx, r->aio);
		return rv;
	}
	pthread_mutex_lock(&s->mtx);
	r->state = SLOT_SEND;
	pthread_mutex_unlock(&s->mtx);
	nng_aio_set_msg(r->aio, m);
	nng_ctx_send(r->ctx, r->aio);
	return FT_OK;
}

void ft_transport_server_drop_pipe(ft_transport_server *s, uint32_t pipe)
{
	nng_pipe p = NNG_PIPE_INITIALIZER;

	(void)s;
	p.id = pipe;
	(void)nng_pipe_close(p);
}

/* ---- Client ------------------------------------------------------------------ */

/* Runs on an nng thread when the connection to the coordinator goes away:
 * a reply can no longer come on it, so the call in flight ends now instead
 * of at its timeout (nng_aio_cancel does not block). Between calls the loss
 * is remembered for the next call: req0 would otherwise send that request
 * on the next connection, to a coordinator that knows no session for it. */
static void client_pipe_removed(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	ft_transport_client *c = arg;

	(void)p;
	(void)ev;
	pthread_mutex_lock(&c->mtx);
	c->lost = 1;
	if (c->in_call)
		nng_aio_cancel(c->aio);
	pthread_mutex_unlock(&c->mtx);
}

int ft_transport_client_open(const char *url, const ft_transport_tls *tls,
                             ft_transport_client **out, ft_errmsg *err)
{
	ft_transport_client *c = NULL;
	int rv = FT_OK, nrv;

	if (url == NULL || out == NULL)
		return FT_EINVAL;
	c = ft_calloc(1, sizeof(*c));
	if (c == NULL)
		return FT_ENOMEM;
	pthread_mutex_init(&c->mtx, NULL);
	nrv = nng_aio_alloc(&c->aio, NULL, NULL);
	if (nrv != 0) {
		ft_free(c);
		return FT_ENOMEM;
	}
	nrv = nng_req0_open(&c->sock);
	if (nrv != 0) {
		rv = nng_fail(err, "req0 socket", nrv);
		goto out;
	}
	c->sock_open = 1;
	/* A request is never re-sent on a timer: the node's own call timeout
	 * decides, and every frame is sequence-numbered anyway. */
	nrv = nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	if (nrv == 0)
		nrv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, FT_TRANSPORT_MAX_MSG);
	if (nrv == 0)
		nrv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 100);
	if (nrv == 0)
		nrv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 5000);
	if (nrv == 0)
		nrv = nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, client_pipe_removed, c);
	if (nrv != 0) {
		rv = nng_fail(err, "socket options", nrv);
		goto out;
	}
	nrv = nng_dialer_create(&c->dialer, c->sock, url);
	if (nrv != 0) {
		rv = nng_fail(err, url, nrv);
		goto out;
	}
	if (tls != NULL) {
		rv = tls_setup(tls, 0, &c->tls, err);
		if (rv != FT_OK)
			goto out;
		nrv = nng_dialer_set_ptr(c->dialer, NNG_OPT_TLS_CONFIG, c->tls);
		if (nrv != 0) {
			rv = nng_fail(err, "TLS on the dialer", nrv);
			goto out;
		}
	}
	nrv = nng_dialer_set_size(c->dialer, NNG_OPT_RECVMAXSZ, FT_TRANSPORT_MAX_MSG);
	if (nrv == 0)
		nrv = nng_dialer_set_ms(c->dialer, NNG_OPT_RECONNMINT, 100);
	if (nrv == 0)
		nrv = nng_dialer_set_ms(c->dialer, NNG_OPT_RECONNMAXT, 5000);
	/* Non-blocking: the coordinator may not be up yet; nng keeps trying. */
	if (nrv == 0)
		nrv = nng_dialer_start(c->dialer, NNG_FLAG_NONBLOCK);
	if (nrv != 0) {
		rv = nng_fail(err, url, nrv);
		goto out;
	}
	*out = c;
	c = NULL;
out:
	ft_transport_client_close(c);
	return rv;
}

void ft_transport_fini(void)
{
	nng_fini();
}

void ft_transport_client_close(ft_transport_client *c)
{
	if (c == NULL)
		return;
	if (c->sock_open)
		nng_close(c->sock);
	/* After the close no callback can run: safe to free what it uses. */
	nng_aio_stop(c->aio);
	nng_aio_free(c->aio);
	if (c->tls != NULL)
		nng_tls_config_free(c->tls);
	pthread_mutex_destroy(&c->mtx);
	ft_free(c);
}

int ft_transport_client_call(ft_transport_client *c, const uint8_t *body, size_t len,
                             int timeout_ms, uint8_t **reply, size_t *reply_len)
{
	nng_msg *m = NULL;
	uint8_t *out = NULL;
	int nrv;

	if (c == NULL || reply == NULL || reply_len == NULL || (len > 0 && body == NULL))
		return FT_EINVAL;
	pthread_mutex_lock(&c->mtx);
	if (c->lost) {
		/* The connection of the session dropped since the last call. */
		c->lost = 0;
		pthread_mutex_unlock(&c->mtx);
		return FT_ENET;
	}
	pthread_mutex_unlock(&c->mtx);
	if (nng_msg_alloc(&m, 0) != 0)
		return FT_ENOMEM;
	if (len > 0 && nng_msg_append(m, body, len) != 0) {
		nng_msg_free(m);
		return FT_ENOMEM;
	}
	if (nng_socket_set_ms(c->sock, NNG_OPT_SENDTIMEO, timeout_ms) != 0) {
		nng_msg_free(m);
		return FT_ENET;
	}
	nrv = nng_sendmsg(c->sock, m, 0);
	if (nrv != 0) {
		nng_msg_free(m); /* still ours after a failed send */
		return nrv == NNG_ETIMEDOUT ? FT_ETIMEDOUT : FT_ENET;
	}
	m = NULL;
	pthread_mutex_lock(&c->mtx);
	c->in_call = 1;
	nng_aio_set_timeout(c->aio, timeout_ms);
	nng_recv_aio(c->sock, c->aio);
	pthread_mutex_unlock(&c->mtx);
	nng_aio_wait(c->aio);
	pthread_mutex_lock(&c->mtx);
	c->in_call = 0;
	nrv = nng_aio_result(c->aio);
	if (nrv != 0)
		c->lost = 0; /* a loss during the call is this call's error */
	pthread_mutex_unlock(&c->mtx);
	if (nrv != 0)
		return nrv == NNG_ETIMEDOUT ? FT_ETIMEDOUT : FT_ENET;
	m = nng_aio_get_msg(c->aio);
	nng_aio_set_msg(c->aio, NULL);
	out = ft_malloc(nng_msg_len(m) ? nng_msg_len(m) : 1);
	if (out == NULL) {
		nng_msg_free(m);
		return FT_ENOMEM;
	}
	memcpy(out, nng_msg_body(m), nng_msg_len(m));
	*reply_len = nng_msg_len(m);
	*reply = out;
	nng_msg_free(m);
	return FT_OK;
}
