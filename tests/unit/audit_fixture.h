/*
 * audit_fixture.h - builds the audit logs of a small consortium for the
 * audit tests: a coordinator and three sites running rounds, with every
 * event type, messages both ways and cross-anchors, as the daemons log them.
 */
#ifndef AUDIT_FIXTURE_H
#define AUDIT_FIXTURE_H

#include "ft_test.h"
#include "ft_audit.h"
#include "audit_int.h"

#include <math.h>

#define FX_SITES 3

typedef struct fx_consortium {
	char dir[64];
	char coord_path[128];
	char site_path[FX_SITES][128];
	char site_name[FX_SITES][32];
	ft_crypto_identity *coord_id;
	ft_crypto_identity *site_id[FX_SITES];
	uint64_t coord_entries;
	uint64_t site_entries[FX_SITES];
} fx_consortium;

static inline ft_crypto_identity *fx_identity(uint8_t tag)
{
	uint8_t seed[FT_CRYPTO_KEY_BYTES];
	ft_crypto_identity *id = NULL;

	memset(seed, tag, sizeof(seed));
	assert_int_equal(ft_crypto_identity_from_seed(seed, &id), FT_OK);
	return id;
}

/* A digest standing in for a real message's BLAKE2b-256. */
static inline void fx_digest(uint8_t out[FT_CRYPTO_HASH_BYTES], const char *what, uint64_t n)
{
	char buf[96];

	snprintf(buf, sizeof(buf), "%s/%llu", what, (unsigned long long)n);
	ft_crypto_hash(out, buf, strlen(buf));
}

/*
 * Runs `rounds` rounds. `hostile` puts HTML and quoting into the strings
 * that may carry them (site names, run id, reasons). In the last round
 * the last site refuses (budget) and drops out.
 */
static inline void fx_build(fx_consortium *c, unsigned rounds, int hostile)
{
	ft_audit_log *coord = NULL, *site[FX_SITES] = { NULL };
	const char *names[FX_SITES];
	const char *run = hostile ? "run-<b>\"x\"&'" : "run-2026-11";
	uint8_t head[FT_CRYPTO_HASH_BYTES], d[FT_CRYPTO_HASH_BYTES];
	double eps_total[FX_SITES] = { 0.3, 0.0, 1.1 };
	uint64_t seq;
	ft_errmsg err;

	memset(c, 0, sizeof(*c));
	assert_int_equal(ft_crypto_init(), FT_OK);
	ft_test_tmpdir(c->dir, sizeof(c->dir));
	snprintf(c->coord_path, sizeof(c->coord_path), "%s/coordinator.audit", c->dir);
	c->coord_id = fx_identity(0xC0);
	assert_int_equal(ft_audit_open(c->coord_path, c->coord_id, "coordinator", &coord, &err),
	                 FT_OK);
	for (int s = 0; s < FX_SITES; s++) {
		snprintf(c->site_name[s], sizeof(c->site_name[s]),
		         hostile ? "site:%d<script>alert(1)</script>" : "site:%d", s + 1);
		names[s] = c->site_name[s];
		snprintf(c->site_path[s], sizeof(c->site_path[s]), "%s/site%d.audit", c->dir, s + 1);
		c->site_id[s] = fx_identity((uint8_t)(0x10 + s));
		assert_int_equal(ft_audit_open(c->site_path[s], c->site_id[s], names[s], &site[s], &err),
		                 FT_OK);
		assert_int_equal(ft_audit_log_key(coord, "key.enrol", names[s],
		                                  ft_crypto_identity_pk(c->site_id[s]), NULL, NULL, NULL),
		                 FT_OK);
		assert_int_equal(ft_audit_log_key(site[s], "key.enrol", "coordinator",
		                                  ft_crypto_identity_pk(c->coord_id), NULL, NULL, NULL),
		                 FT_OK);
		assert_int_equal(ft_audit_log_policy(site[s], 3.0, 8.0, 1e-5, NULL, NULL), FT_OK);
		assert_int_equal(ft_audit_log_consent(site[s], "patient-17", 0,
		                                      hostile ? "operator<i>bob</i>" : "operator", NULL,
		                                      NULL),
		                 FT_OK);
		assert_int_equal(ft_audit_log_consent(site[s], "patient-17", 1, "operator", NULL, NULL),
		                 FT_OK);
	}
	{
		uint8_t old_pk[FT_CRYPTO_SIGN_PK_BYTES];

		memset(old_pk, 0x5a, sizeof(old_pk));
		assert_int_equal(ft_audit_log_key(coord, "key.rotate", names[0],
		                                  ft_crypto_identity_pk(c->site_id[0]), old_pk, NULL,
		                                  NULL),
		                 FT_OK);
		assert_int_equal(ft_audit_log_key(coord, "key.revoke", "site:99", old_pk, NULL, NULL,
		                                  NULL),
		                 FT_OK);
	}
	assert_int_equal(ft_audit_log_run_start(coord, run, rounds, names, FX_SITES, NULL, NULL),
	                 FT_OK);
	for (unsigned r = 1; r <= rounds; r++) {
		int last = r == rounds;
		const char *included[FX_SITES], *dropped[1];
		size_t n_inc = 0, n_drop = 0;

		assert_int_equal(ft_audit_log_round_start(coord, run, r, names, FX_SITES, 2, NULL,
		                                          NULL),
		                 FT_OK);
		for (int s = 0; s < FX_SITES; s++) {
			uint64_t cseq;

			/* The announcement carries the coordinator's head. */
			fx_digest(d, "announce", r * 10 + (unsigned)s);
			assert_int_equal(ft_audit_log_message(coord, FT_AUDIT_SENT, names[s],
			                                      "round.announce", 412 + (uint64_t)s, d, run,
			                                      r, &cseq, head),
			                 FT_OK);
			assert_int_equal(ft_audit_log_message(site[s], FT_AUDIT_RECEIVED, "coordinator",
			                                      "round.announce", 412 + (uint64_t)s, d, run,
			                                      r, NULL, NULL),
			                 FT_OK);
			assert_int_equal(ft_audit_log_anchor(site[s], "coordinator", cseq, head, NULL,
			                                     NULL),
			                 FT_OK);
		}
		for (int s = 0; s < FX_SITES; s++) {
			ft_audit_training t = { .run = run, .round = r, .dataset = "heart_disease",
			                        .patients = 200 + (uint64_t)s, .records = 230,
			                        .steps = 20, .q = 0.05, .clip = 1.0, .sigma = 1.1 };
			ft_audit_privacy p = { .run = run, .round = r, .q = 0.05, .sigma = 1.1,
			                       .clip = 1.0, .steps = 20, .delta = 1e-5,
			                       .max_eps_run = 3.0, .max_eps_total = 8.0 };

			if (last && s == FX_SITES - 1) {
				assert_int_equal(ft_audit_log_refusal(site[s], run, r,
				                                      hostile ? "budget <exceeded> & \"refused\""
				                                              : "privacy budget exceeded",
				                                      8.4, 8.0, NULL, NULL),
				                 FT_OK);
				dropped[n_drop++] = names[s];
				continue;
			}
			assert_int_equal(ft_audit_log_training(site[s], &t, NULL, NULL), FT_OK);
			p.eps_round = 0.4 + 0.05 * s;
			p.eps_run = p.eps_round * r;
			eps_total[s] += p.eps_round;
			p.eps_total = eps_total[s] > p.eps_run ? eps_total[s] : p.eps_run;
			assert_int_equal(ft_audit_log_privacy(site[s], &p, NULL, NULL), FT_OK);
			/* The masked update carries the site's head. */
			assert_int_equal(ft_audit_head(site[s], &seq, head), FT_OK);
			fx_digest(d, "update", r * 10 + (unsigned)s);
			assert_int_equal(ft_audit_log_message(site[s], FT_AUDIT_SENT, "coordinator",
			                                      "masked_update", 4136, d, run, r, NULL, NULL),
			                 FT_OK);
			assert_int_equal(ft_audit_log_message(coord, FT_AUDIT_RECEIVED, names[s],
			                                      "masked_update", 4136, d, run, r, NULL, NULL),
			                 FT_OK);
			assert_int_equal(ft_audit_log_anchor(coord, names[s], seq, head, NULL, NULL),
			                 FT_OK);
			fx_digest(d, "unmask", r * 10 + (unsigned)s);
			assert_int_equal(ft_audit_log_message(site[s], FT_AUDIT_SENT, "coordinator",
			                                      "unmask", 96 + 32 * (uint64_t)r, d, run, r,
			                                      NULL, NULL),
			                 FT_OK);
			included[n_inc++] = names[s];
		}
		assert_int_equal(ft_audit_log_round_end(coord, run, r, "aggregated", included, n_inc,
		                                        dropped, n_drop, NULL, NULL),
		                 FT_OK);
		fx_digest(d, "model", r);
		assert_int_equal(ft_audit_log_model(coord, run, r, d, ft_crypto_identity_pk(c->coord_id),
		                                    5210, NULL, NULL),
		                 FT_OK);
	}
	assert_int_equal(ft_audit_log_run_end(coord, run, "completed", rounds, NULL, NULL), FT_OK);
	assert_int_equal(ft_audit_head(coord, &c->coord_entries, head), FT_OK);
	for (int s = 0; s < FX_SITES; s++) {
		assert_int_equal(ft_audit_head(site[s], &c->site_entries[s], head), FT_OK);
		ft_audit_close(site[s]);
	}
	ft_audit_close(coord);
}

static inline void fx_free(fx_consortium *c)
{
	ft_crypto_identity_free(c->coord_id);
	for (int s = 0; s < FX_SITES; s++)
		ft_crypto_identity_free(c->site_id[s]);
	ft_test_rmdir(c->dir);
}

/* Runs the audit CLI (NULL-terminated words after "audit"), capturing its
 * output; the caller frees *out and *err. */
static inline int fx_cli(char **out, char **err, ...)
{
	char *argv[32];
	int argc = 0, status;
	size_t n_out = 0, n_err = 0;
	FILE *fo, *fe;
	va_list ap;
	char *a;

	argv[argc++] = "audit";
	va_start(ap, err);
	while ((a = va_arg(ap, char *)) != NULL && argc < 30)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	fo = open_memstream(out, &n_out);
	fe = open_memstream(err, &n_err);
	assert_non_null(fo);
	assert_non_null(fe);
	status = audit_cli_run(argc, argv, fo, fe);
	fclose(fo);
	fclose(fe);
	return status;
}

#endif
