/*
 * bench_audit.c - times the audit log as the daemons use it: appends of a
 * typed event (canonical JSON, BLAKE2b chain, Ed25519 signature, durable
 * synchronous=FULL commit) per second, and full verification (every hash
 * and signature) in entries per second.
 *
 *   bench_audit [APPENDS] [DIR]     (defaults 1000 and /tmp)
 *
 * DIR decides the file system, and so the cost of the fsync in each commit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ft_audit.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	uint64_t n = 1000, seq;
	const char *base = argc > 2 ? argv[2] : "/tmp";
	char dir[256], path[300], cmd[320];
	uint8_t seed[FT_CRYPTO_KEY_BYTES], d[FT_CRYPTO_HASH_BYTES], sig[FT_CRYPTO_SIG_BYTES];
	ft_crypto_identity *id = NULL;
	ft_audit_log *log = NULL;
	ft_audit_verify_result r;
	ft_errmsg e;
	double t0, t_app, t_ver = 1e9, t_sign;
	int rv = 1;

	if ((argc > 1 && ft_parse_u64(argv[1], 10000000, &n) != FT_OK) || n == 0) {
		fprintf(stderr, "usage: bench_audit [APPENDS] [DIR]\n");
		return 2;
	}
	if (ft_crypto_init() != FT_OK)
		return 1;
	snprintf(dir, sizeof(dir), "%s/fedtwin-bench-XXXXXX", base);
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/bench.audit", dir);
	memset(seed, 7, sizeof(seed));
	if (ft_crypto_identity_from_seed(seed, &id) != FT_OK ||
	    ft_audit_open(path, id, "site:1", &log, &e) != FT_OK) {
		fprintf(stderr, "open: %s\n", e.msg);
		goto out;
	}
	ft_crypto_hash(d, "update", 6);
	t0 = now_s();
	for (uint64_t i = 0; i < n; i++) {
		if (ft_audit_log_message(log, FT_AUDIT_SENT, "coordinator", "masked_update", 4136, d,
		                         "run-1", i, &seq, NULL) != FT_OK) {
			fprintf(stderr, "append: %s\n", ft_audit_last_error(log));
			goto out;
		}
	}
	t_app = now_s() - t0;
	ft_audit_close(log);
	log = NULL;

	/* The signature alone, for the share of the append it takes. */
	t0 = now_s();
	for (int i = 0; i < 2000; i++)
		(void)ft_crypto_identity_sign(id, d, sizeof(d), sig);
	t_sign = (now_s() - t0) / 2000;

	for (int k = 0; k < 5; k++) {
		t0 = now_s();
		if (ft_audit_verify(path, NULL, &r, &e) != FT_OK) {
			fprintf(stderr, "verify: %s\n", e.msg);
			goto out;
		}
		t0 = now_s() - t0;
		if (t0 < t_ver)
			t_ver = t0;
	}
	printf("append (typed msg.sent event, Ed25519 per entry, synchronous=FULL commit in %s):\n",
	       base);
	printf("  %llu appends in %.3f s: %.0f appends/s, %.3f ms per append\n",
	       (unsigned long long)n, t_app, (double)n / t_app, 1e3 * t_app / (double)n);
	printf("  of which Ed25519 sign: %.1f us\n", 1e6 * t_sign);
	printf("verify (%llu entries, every hash and signature, best of 5):\n",
	       (unsigned long long)r.entries);
	printf("  %.3f s: %.0f entries/s\n", t_ver, (double)r.entries / t_ver);
	rv = 0;
out:
	ft_audit_close(log);
	ft_crypto_identity_free(id);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		rv = 1;
	return rv;
}
