/*
 * fuzz_secagg_msg.c - libFuzzer target for every secure-aggregation decoder
 * (PROTOCOL.md, "Secure aggregation"). The first input byte picks the
 * receiver and its state, the rest is the message:
 *
 *   0        ft_secagg_hdr_decode and ft_secagg_config_decode alone
 *   1..5     the server in phase 1..5 (ADVERTISE .. UNMASK)
 *   6..11    site 0's client in phase 0..5 (CONFIG .. UNMASK)
 *
 * The state is reached by a real 3-site round (fixed context, identities
 * from fixed seeds) driven message by message, rebuilt for every input.
 * Beyond memory errors the target checks that a rejected message leaves the
 * phase unchanged (a client's FT_EPERM refusal excepted: it aborts).
 *
 * FT_SECAGG_WRITE_CORPUS=DIR writes a seed corpus (every message of one
 * round, prefixed with the selector that receives it) and exits.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ft_crypto.h"
#include "ft_secagg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define N 3
#define D 8

typedef struct fz {
	ft_secagg_site sites[N];
	ft_crypto_identity *ids[N];
	ft_secagg_config cfg;
	ft_secagg_server *srv;
	ft_secagg_client *cl[N];
	uint32_t x[N][D];
} fz;

static fz F;
static const char *corpus_dir;
static int corpus_n;

static void write_corpus(int sel, const uint8_t *msg, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/sel%02d-type%02u-%03d", corpus_dir, sel, msg[1], corpus_n++);
	f = fopen(path, "wb");
	if (f == NULL)
		abort();
	fputc(sel, f);
	fwrite(msg, 1, len, f);
	fclose(f);
}

static int reached(int sel)
{
	if (sel >= 1 && sel <= 5)
		return (int)ft_secagg_server_phase(F.srv) == sel;
	if (sel >= 6 && sel <= 11)
		return (int)ft_secagg_client_phase(F.cl[0]) == sel - 6;
	return 1;
}

/* Drives the round one message at a time until `sel`'s state is reached
 * (sel < 0: to the end). While reaching a state every message must be
 * accepted (strict); after a fuzzed message, rejections are expected. */
static void drive(int sel, int strict)
{
	for (int guard = 0; guard < 1000; guard++) {
		uint32_t to;
		uint8_t *buf;
		size_t len;
		int moved = 0;

		if (sel >= 0 && reached(sel))
			return;
		if (ft_secagg_server_next(F.srv, &to, &buf, &len) == FT_OK) {
			uint32_t i = to - 1;

			if (corpus_dir != NULL && i == 0)
				write_corpus(6 + (int)ft_secagg_client_phase(F.cl[0]), buf, len);
			if (corpus_dir != NULL && buf[1] == FT_SECAGG_MSG_CONFIG && i == 0)
				write_corpus(0, buf, len);
			if (ft_secagg_client_recv(F.cl[i], buf, len, 0) != FT_OK && strict)
				abort();
			ft_free(buf);
			continue;
		}
		for (uint32_t i = 0; i < N && !moved; i++) {
			int rv = ft_secagg_client_set_input(F.cl[i], F.x[i], D);

			(void)rv; /* FT_ESTATE before CONFIG and once set */
			if (ft_secagg_client_next(F.cl[i], &buf, &len) != FT_OK)
				continue;
			if (corpus_dir != NULL)
				write_corpus((int)ft_secagg_server_phase(F.srv), buf, len);
			if (ft_secagg_server_recv(F.srv, F.sites[i].id, buf, len, 0) != FT_OK && strict)
				abort();
			ft_free(buf);
			moved = 1;
		}
		if (!moved)
			return;
	}
}

static void setup(void)
{
	memset(F.cfg.ctx.consortium, 0x5A, sizeof(F.cfg.ctx.consortium));
	F.cfg.ctx.run = 1;
	F.cfg.ctx.round = 1;
	F.cfg.n = N;
	F.cfg.sites = F.sites;
	F.cfg.k = N - 1;
	F.cfg.t = 2;
	memset(F.cfg.seed, 0x11, sizeof(F.cfg.seed));
	F.cfg.d = D;
	F.cfg.bits = 24;
	F.cfg.chunk = 4;
	if (ft_secagg_server_alloc(&F.cfg, NULL, 0, &F.srv) != FT_OK)
		abort();
	for (uint32_t i = 0; i < N; i++) {
		for (uint32_t j = 0; j < D; j++)
			F.x[i][j] = i * 100 + j;
		if (ft_secagg_client_alloc(F.ids[i], F.sites[i].id, &F.cfg.ctx, NULL, 0, &F.cl[i]) !=
		    FT_OK)
			abort();
	}
}

static void teardown(void)
{
	ft_secagg_server_free(F.srv);
	F.srv = NULL;
	for (uint32_t i = 0; i < N; i++) {
		ft_secagg_client_free(F.cl[i]);
		F.cl[i] = NULL;
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (ft_crypto_init() != FT_OK)
		abort();
	for (uint32_t i = 0; i < N; i++) {
		uint8_t seed[FT_CRYPTO_KEY_BYTES];

		memset(seed, (int)(i + 1), sizeof(seed));
		if (ft_crypto_identity_from_seed(seed, &F.ids[i]) != FT_OK)
			abort();
		F.sites[i].id = i + 1;
		memcpy(F.sites[i].sign_pk, ft_crypto_identity_pk(F.ids[i]), FT_CRYPTO_SIGN_PK_BYTES);
	}
	corpus_dir = getenv("FT_SECAGG_WRITE_CORPUS");
	if (corpus_dir != NULL) {
		int done;

		setup();
		drive(-1, 1);
		done = ft_secagg_server_phase(F.srv) == FT_SECAGG_DONE;
		teardown();
		exit(done ? 0 : 1);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *msg = data + 1;
	size_t len = size - 1;
	int sel, rv;

	if (size < 1)
		return 0;
	sel = data[0] % 12;
	if (sel == 0) {
		ft_secagg_hdr h;
		ft_secagg_config cfg;
		ft_secagg_site *sites = NULL;

		rv = ft_secagg_hdr_decode(msg, len, &h);
		(void)rv;
		rv = ft_secagg_config_decode(msg, len, &cfg, &sites);
		if (rv == FT_OK && (sites == NULL || ft_secagg_config_check(&cfg) != FT_OK))
			abort();
		ft_free(sites);
		return 0;
	}
	setup();
	drive(sel, 1);
	if (sel <= 5) {
		ft_secagg_phase before = ft_secagg_server_phase(F.srv);
		uint32_t from = F.sites[0].id;
		ft_secagg_hdr h;

		if (ft_secagg_hdr_decode(msg, len, &h) == FT_OK)
			from = h.sender;
		rv = ft_secagg_server_recv(F.srv, from, msg, len, 0);
		if (rv != FT_OK && ft_secagg_server_phase(F.srv) != before)
			abort();
	} else {
		ft_secagg_phase before = ft_secagg_client_phase(F.cl[0]);

		rv = ft_secagg_client_recv(F.cl[0], msg, len, 0);
		if (rv != FT_OK && rv != FT_EPERM && ft_secagg_client_phase(F.cl[0]) != before)
			abort();
	}
	/* Whatever was accepted must keep the machines sound to the end. */
	drive(-1, 0);
	teardown();
	return 0;
}
