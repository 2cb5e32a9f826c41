/*
 * fuzz_wire_bodies.c - libFuzzer target for every message body decoder
 * (docs/PROTOCOL.md "Wire protocol", "Messages"); the first input byte
 * chooses the decoder. Whatever a decoder accepts, the matching encoder must
 * accept too (one validity check serves both), and decoding the re-encoding
 * must give the same value.
 */
#include "wire_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ROUND_TRIP(type, enc, dec)                                          \
	do {                                                                \
		type *a = calloc(1, sizeof(type)), *b = calloc(1, sizeof(type)); \
		uint8_t *buf = NULL;                                        \
		size_t n = 0;                                               \
		if (a == NULL || b == NULL)                                 \
			abort();                                            \
		if (dec(body, len, a) == FT_OK) {                           \
			if (enc(a, &buf, &n) != FT_OK || dec(buf, n, b) != FT_OK) \
				abort();                                    \
			check_same_##type(a, b);                            \
			ft_free(buf);                                       \
		}                                                           \
		free(a);                                                    \
		free(b);                                                    \
	} while (0)

static void same(int ok)
{
	if (!ok)
		abort();
}

static void check_same_ft_wire_hello(const ft_wire_hello *a, const ft_wire_hello *b)
{
	same(a->site_id == b->site_id && strcmp(a->software, b->software) == 0 &&
	     memcmp(a->log_head, b->log_head, 32) == 0 && a->log_len == b->log_len &&
	     a->caps == b->caps && a->recv_max == b->recv_max);
}
static void check_same_ft_wire_welcome(const ft_wire_welcome *a, const ft_wire_welcome *b)
{
	same(a->manifest_serial == b->manifest_serial && memcmp(a->log_head, b->log_head, 32) == 0 &&
	     a->log_len == b->log_len && a->server_time_ms == b->server_time_ms);
}
static void check_same_ft_wire_announce(const ft_wire_announce *a, const ft_wire_announce *b)
{
	same(strcmp(a->run_id, b->run_id) == 0 && a->round == b->round && a->n_sites == b->n_sites &&
	     memcmp(a->sites, b->sites, a->n_sites * sizeof(uint32_t)) == 0 && a->t == b->t &&
	     a->k == b->k && a->lr == b->lr && a->dp_delta == b->dp_delta && a->d == b->d &&
	     a->n_hidden == b->n_hidden && strcmp(a->kind, b->kind) == 0 &&
	     a->unmask_ms == b->unmask_ms && a->plain_sum == b->plain_sum);
}
static void check_same_ft_wire_accept(const ft_wire_accept *a, const ft_wire_accept *b)
{
	same(memcmp(a->model_hash, b->model_hash, 32) == 0 && a->log_len == b->log_len &&
	     memcmp(a->log_head, b->log_head, 32) == 0);
}
static void check_same_ft_wire_notice(const ft_wire_notice *a, const ft_wire_notice *b)
{
	same(a->code == b->code && strcmp(a->text, b->text) == 0 && a->log_len == b->log_len &&
	     memcmp(a->log_head, b->log_head, 32) == 0);
}
static void check_same_ft_wire_secagg(const ft_wire_secagg *a, const ft_wire_secagg *b)
{
	same(a->len == b->len && memcmp(a->msg, b->msg, a->len) == 0 && a->log_len == b->log_len &&
	     memcmp(a->log_head, b->log_head, 32) == 0);
}
static void check_same_ft_wire_chunk(const ft_wire_chunk *a, const ft_wire_chunk *b)
{
	same(a->offset == b->offset && a->total == b->total && a->len == b->len &&
	     memcmp(a->data, b->data, a->len) == 0 && a->model_version == b->model_version);
}
static void check_same_ft_wire_result(const ft_wire_result *a, const ft_wire_result *b)
{
	same(a->n_survivors == b->n_survivors && a->n_metrics == b->n_metrics &&
	     a->model_len == b->model_len && a->log_len == b->log_len &&
	     memcmp(a->log_head, b->log_head, 32) == 0);
	for (uint32_t i = 0; i < a->n_metrics; i++)
		same(strcmp(a->metrics[i].name, b->metrics[i].name) == 0 &&
		     a->metrics[i].value == b->metrics[i].value);
}
static void check_same_ft_wire_stats_request(const ft_wire_stats_request *a,
                                             const ft_wire_stats_request *b)
{
	same(a->n_columns == b->n_columns && a->max_levels == b->max_levels);
	for (uint32_t i = 0; i < a->n_columns; i++)
		same(strcmp(a->columns[i], b->columns[i]) == 0);
}

static void stats(const uint8_t *body, size_t len)
{
	ft_wire_stats *a = NULL, *b = NULL;
	uint8_t *buf = NULL;
	size_t n = 0;

	if (ft_wire_stats_decode(body, len, &a) != FT_OK)
		return;
	if (ft_wire_stats_encode(a, &buf, &n) != FT_OK || ft_wire_stats_decode(buf, n, &b) != FT_OK)
		abort();
	same(a->n_columns == b->n_columns);
	for (uint32_t i = 0; i < a->n_columns; i++) {
		same(strcmp(a->columns[i].name, b->columns[i].name) == 0 &&
		     a->columns[i].n_levels == b->columns[i].n_levels);
		for (uint32_t j = 0; j < a->columns[i].n_levels; j++)
			same(strcmp(a->columns[i].levels[j], b->columns[i].levels[j]) == 0);
	}
	ft_free(buf);
	ft_wire_stats_free(a);
	ft_wire_stats_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *body;
	size_t len;

	if (size < 1)
		return 0;
	(void)wf_world_get(); /* ft_crypto_init */
	body = data + 1;
	len = size - 1;
	switch (data[0] % 10) {
	case 0:
		ROUND_TRIP(ft_wire_hello, ft_wire_hello_encode, ft_wire_hello_decode);
		break;
	case 1:
		ROUND_TRIP(ft_wire_welcome, ft_wire_welcome_encode, ft_wire_welcome_decode);
		break;
	case 2:
		ROUND_TRIP(ft_wire_announce, ft_wire_announce_encode, ft_wire_announce_decode);
		break;
	case 3:
		ROUND_TRIP(ft_wire_accept, ft_wire_accept_encode, ft_wire_accept_decode);
		break;
	case 4:
		ROUND_TRIP(ft_wire_notice, ft_wire_notice_encode, ft_wire_notice_decode);
		break;
	case 5:
		ROUND_TRIP(ft_wire_secagg, ft_wire_secagg_encode, ft_wire_secagg_decode);
		break;
	case 6:
		ROUND_TRIP(ft_wire_chunk, ft_wire_chunk_encode, ft_wire_chunk_decode);
		break;
	case 7:
		ROUND_TRIP(ft_wire_result, ft_wire_result_encode, ft_wire_result_decode);
		break;
	case 8:
		ROUND_TRIP(ft_wire_stats_request, ft_wire_stats_request_encode,
		           ft_wire_stats_request_decode);
		break;
	default:
		stats(body, len);
		break;
	}
	return 0;
}
