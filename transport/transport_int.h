/*
 * transport_int.h - private structures of the transport module.
 */
#ifndef TRANSPORT_INT_H
#define TRANSPORT_INT_H

#include <pthread.h>

#include <nng/nng.h>

#include "ft_transport.h"

/* One rep0 context: a request slot. States move RECV -> HELD (the daemon
 * holds it) -> SEND -> RECV; the callback only moves RECV->HELD and
 * SEND->RECV and never blocks. */
enum { SLOT_RECV = 0, SLOT_HELD = 1, SLOT_SEND = 2, SLOT_DEAD = 3 };

struct ft_transport_req {
	ft_transport_server *srv;
	nng_ctx ctx;
	nng_aio *aio;
	int state;
	nng_msg *msg;            /* the request while HELD */
	ft_transport_req *next;  /* ready queue */
};

struct ft_transport_server {
	nng_socket sock;
	nng_listener listener;
	nng_tls_config *tls;
	int sock_open;
	uint32_t n_slots;
	ft_transport_req *slots;
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	ft_transport_req *ready_head, *ready_tail;
	uint32_t closed[64];     /* pipes closed since the last wait */
	uint32_t n_closed;
	int closing;
};

struct ft_transport_client {
	nng_socket sock;
	nng_dialer dialer;
	nng_tls_config *tls;
	int sock_open;
	nng_aio *aio;            /* the receive of the call in flight */
	pthread_mutex_t mtx;
	int in_call;
	int lost;                /* the connection dropped: the next call fails */
};

#endif
