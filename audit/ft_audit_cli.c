/*
 * ft_audit_cli.c - `fedtwin audit`: the auditor's commands (verify, report,
 * export). Offline: they read log files and write files, nothing else.
 *
 * Exit status: 0 success (verify: everything checked out), 1 failure (a
 * message names the first bad entry or what is missing), 2 usage error.
 */
#include "ft_audit.h"
#include "audit_int.h"

#include <inttypes.h>
#include <string.h>

#define CLI_LOGS_MAX 256

static const char cli_usage[] =
	"usage: fedtwin audit verify LOG [--key PUBKEY_FILE] [--against OTHERLOG]\n"
	"                            [--head [SEQ:]HASH]\n"
	"       fedtwin audit report LOG [LOG...] [--html FILE] [--json FILE]\n"
	"       fedtwin audit export LOG --jsonl [FILE]\n"
	"\n"
	"verify   recomputes every hash and signature of LOG; --key: the log must be\n"
	"         signed by this public key; --against: checks the anchors between\n"
	"         LOG and OTHERLOG both ways; --head: LOG must still contain an entry\n"
	"         recorded earlier (detects truncation). Prints the head to record.\n"
	"report   a self-contained HTML page and/or JSON with verification status,\n"
	"         the privacy ledger per site, rounds, and message sizes.\n"
	"export   one JSON object per entry (to FILE or standard output).\n";

static int usage_err(FILE *errf, const char *what)
{
	fprintf(errf, "fedtwin audit: %s\n\n%s", what, cli_usage);
	return 2;
}

/* Parses "[SEQ:]HASH". */
static int parse_head(const char *s, uint64_t *seq, uint8_t hash[FT_CRYPTO_HASH_BYTES])
{
	const char *colon = strchr(s, ':');
	char num[24];

	*seq = 0;
	if (colon != NULL) {
		size_t n = (size_t)(colon - s);

		if (n == 0 || n >= sizeof(num))
			return FT_EFORMAT;
		memcpy(num, s, n);
		num[n] = '\0';
		if (ft_parse_u64(num, AUDIT_SEQ_MAX - 1, seq) != FT_OK || *seq == 0)
			return FT_EFORMAT;
		s = colon + 1;
	}
	return ft_crypto_unhex(hash, FT_CRYPTO_HASH_BYTES, s);
}

/* Checks every anchor in `a` that names b's actor against `b`. */
static int check_anchors(sqlite3 *a, const char *a_name, sqlite3 *b, const char *b_name,
                         const char *b_actor, uint64_t limit, uint64_t *checked, FILE *errf)
{
	sqlite3_stmt *st = NULL;
	audit_entry e;
	audit_jobj o;
	ft_errmsg err = { { 0 } };
	int rv = FT_OK, rc;

	memset(&o, 0, sizeof(o));
	if (sqlite3_prepare_v2(a, "SELECT " AUDIT_ENTRY_COLUMNS
	                       " FROM entries WHERE type = 'anchor' AND seq <= ? ORDER BY seq",
	                       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, (sqlite3_int64)limit) != SQLITE_OK) {
		fprintf(errf, "fedtwin audit: %s: %s\n", a_name, sqlite3_errmsg(a));
		rv = FT_EDB;
		goto out;
	}
	for (;;) {
		const char *peer, *head_hex;
		uint8_t head[FT_CRYPTO_HASH_BYTES];
		uint64_t peer_seq = 0;

		rc = audit_db_next(st, &e, &err);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			fprintf(errf, "fedtwin audit: %s: %s\n", a_name, err.msg);
			rv = rc;
			goto out;
		}
		rv = audit_json_parse(e.payload, e.payload_len, &o, &err);
		if (rv != FT_OK) {
			fprintf(errf, "fedtwin audit: %s: entry %" PRIu64 ": %s\n", a_name, e.seq,
			        err.msg);
			goto out;
		}
		peer = audit_jobj_str(&o, "peer");
		head_hex = audit_jobj_str(&o, "peer_head");
		if (audit_jobj_u64(&o, "peer_seq", &peer_seq) != FT_OK)
			peer_seq = 0;
		if (peer == NULL || strcmp(peer, b_actor) != 0) {
			audit_jobj_clear(&o);
			continue;
		}
		if (head_hex == NULL || peer_seq == 0 ||
		    ft_crypto_unhex(head, sizeof(head), head_hex) != FT_OK) {
			fprintf(errf, "fedtwin audit: %s: entry %" PRIu64 ": malformed anchor\n", a_name,
			        e.seq);
			rv = FT_EFORMAT;
			goto out;
		}
		audit_jobj_clear(&o);
		rv = audit_db_has_entry(b, peer_seq, head, NULL, &err);
		if (rv != FT_OK) {
			fprintf(errf,
			        "fedtwin audit: anchor in %s (entry %" PRIu64 ") does not match %s: %s\n",
			        a_name, e.seq, b_name, err.msg);
			goto out;
		}
		(*checked)++;
	}
out:
	audit_jobj_clear(&o);
	sqlite3_finalize(st);
	return rv;
}

/* verify LOG against OTHER: both must verify, and every anchor either way
 * must name an entry the other log still has, with that hash. */
static int cli_against(const char *log, const ft_audit_verify_result *r, const char *other,
                       FILE *out, FILE *errf)
{
	ft_audit_verify_result ro;
	ft_errmsg err = { { 0 } };
	sqlite3 *a = NULL, *b = NULL;
	uint64_t ab = 0, ba = 0;
	int rv;

	rv = ft_audit_verify(other, NULL, &ro, &err);
	if (rv != FT_OK) {
		fprintf(errf, "fedtwin audit: %s: FAILED: %s\n", other, err.msg);
		return 1;
	}
	rv = audit_db_open_ro(log, &a, &err);
	if (rv == FT_OK)
		rv = audit_db_open_ro(other, &b, &err);
	if (rv != FT_OK) {
		fprintf(errf, "fedtwin audit: %s\n", err.msg);
		goto out;
	}
	rv = check_anchors(a, log, b, other, ro.actor, r->entries, &ab, errf);
	if (rv == FT_OK)
		rv = check_anchors(b, other, a, log, r->actor, ro.entries, &ba, errf);
	if (rv != FT_OK)
		goto out;
	if (ab + ba == 0) {
		fprintf(errf, "fedtwin audit: no anchors link %s (%s) and %s (%s): nothing to "
		              "cross-check\n",
		        log, r->actor, other, ro.actor);
		rv = FT_ENOTFOUND;
		goto out;
	}
	fprintf(out, "%s: verified %" PRIu64 " entries, actor %s\n", other, ro.entries, ro.actor);
	fprintf(out, "anchors: %" PRIu64 " in %s and %" PRIu64 " in %s match the other log\n", ab,
	        log, ba, other);
out:
	sqlite3_close(a);
	sqlite3_close(b);
	return rv == FT_OK ? 0 : 1;
}

static int cli_verify(int argc, char **argv, FILE *out, FILE *errf)
{
	const char *log = NULL, *key = NULL, *against = NULL, *head = NULL;
	uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES], want[FT_CRYPTO_HASH_BYTES];
	char fpr[FT_CRYPTO_FPR_CHARS + 1], hex[2 * FT_CRYPTO_HASH_BYTES + 1];
	ft_audit_verify_result r;
	ft_errmsg err = { { 0 } };
	uint64_t want_seq = 0, found = 0;
	sqlite3 *db = NULL;
	int rv;

	for (int i = 1; i < argc; i++) {
		const char **opt = NULL;

		if (strcmp(argv[i], "--key") == 0)
			opt = &key;
		else if (strcmp(argv[i], "--against") == 0)
			opt = &against;
		else if (strcmp(argv[i], "--head") == 0)
			opt = &head;
		if (opt != NULL) {
			if (i + 1 >= argc || *opt != NULL)
				return usage_err(errf, "an option is missing its value or repeated");
			*opt = argv[++i];
		} else if (argv[i][0] == '-' || log != NULL) {
			return usage_err(errf, "unexpected argument");
		} else {
			log = argv[i];
		}
	}
	if (log == NULL)
		return usage_err(errf, "verify needs a LOG");
	if (head != NULL && parse_head(head, &want_seq, want) != FT_OK)
		return usage_err(errf, "--head wants [SEQ:]HASH with 64 hex digits");
	if (key != NULL && ft_crypto_pk_load(key, pk, &err) != FT_OK) {
		fprintf(errf, "fedtwin audit: %s\n", err.msg);
		return 1;
	}
	rv = ft_audit_verify(log, key != NULL ? pk : NULL, &r, &err);
	if (rv != FT_OK) {
		fprintf(errf, "fedtwin audit: %s: FAILED: %s\n", log, err.msg);
		if (r.entries > 0)
			fprintf(errf, "fedtwin audit: %s: entries 1..%" PRIu64 " verified\n", log,
			        r.entries);
		return 1;
	}
	ft_crypto_fingerprint(r.pk, fpr);
	ft_crypto_hex(hex, r.head, FT_CRYPTO_HASH_BYTES);
	fprintf(out, "%s: verified %" PRIu64 " entries, actor %s, key %s\n", log, r.entries,
	        r.actor, fpr);
	fprintf(out, "head %" PRIu64 ":%s\n", r.head_seq, hex);
	if (head != NULL) {
		rv = audit_db_open_ro(log, &db, &err);
		if (rv == FT_OK)
			rv = audit_db_has_entry(db, want_seq, want, &found, &err);
		sqlite3_close(db);
		if (rv != FT_OK) {
			fprintf(errf, "fedtwin audit: %s: FAILED: recorded head: %s\n", log, err.msg);
			return 1;
		}
		fprintf(out, "recorded head found at entry %" PRIu64 "\n", found);
	}
	if (against != NULL)
		return cli_against(log, &r, against, out, errf);
	return 0;
}

static int cli_report(int argc, char **argv, FILE *out, FILE *errf)
{
	const char *paths[CLI_LOGS_MAX], *html = NULL, *json = NULL;
	ft_audit_verify_result *vres = NULL;
	ft_errmsg *verrs = NULL, err = { { 0 } };
	int *vrv = NULL, status = 0, rv;
	size_t n = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--html") == 0 || strcmp(argv[i], "--json") == 0) {
			const char **opt = argv[i][2] == 'h' ? &html : &json;

			if (i + 1 >= argc || *opt != NULL)
				return usage_err(errf, "an option is missing its value or repeated");
			*opt = argv[++i];
		} else if (argv[i][0] == '-') {
			return usage_err(errf, "unexpected option");
		} else {
			if (n >= CLI_LOGS_MAX)
				return usage_err(errf, "too many logs");
			paths[n++] = argv[i];
		}
	}
	if (n == 0 || (html == NULL && json == NULL))
		return usage_err(errf, "report needs a LOG and --html FILE or --json FILE");
	vres = ft_calloc(n, sizeof(*vres));
	verrs = ft_calloc(n, sizeof(*verrs));
	vrv = ft_calloc(n, sizeof(*vrv));
	if (vres == NULL || verrs == NULL || vrv == NULL) {
		fprintf(errf, "fedtwin audit: out of memory\n");
		status = 1;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		vrv[i] = ft_audit_verify(paths[i], NULL, &vres[i], &verrs[i]);
		if (vrv[i] != FT_OK) {
			fprintf(errf, "fedtwin audit: %s: FAILED: %s\n", paths[i], verrs[i].msg);
			status = 1;
		}
	}
	for (int k = 0; k < 2; k++) {
		const char *file = k == 0 ? html : json;
		FILE *f;

		if (file == NULL)
			continue;
		f = fopen(file, "w");
		if (f == NULL) {
			fprintf(errf, "fedtwin audit: cannot write %s\n", file);
			status = 1;
			goto out;
		}
		rv = k == 0 ? audit_report_html(f, paths, n, vres, vrv, verrs, &err)
		            : audit_report_json(f, paths, n, vres, vrv, verrs, &err);
		if (fclose(f) != 0 && rv == FT_OK)
			rv = ft_errmsg_set(&err, FT_EIO, "cannot write %.96s", file);
		if (rv != FT_OK) {
			fprintf(errf, "fedtwin audit: %s\n", err.msg);
			status = 1;
			goto out;
		}
		fprintf(out, "wrote %s\n", file);
	}
out:
	ft_free(vres);
	ft_free(verrs);
	ft_free(vrv);
	return status;
}

static int cli_export(int argc, char **argv, FILE *out, FILE *errf)
{
	const char *log = NULL, *file = NULL;
	ft_errmsg err = { { 0 } };
	int jsonl = 0, rv;
	FILE *f = out;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--jsonl") == 0 && !jsonl) {
			jsonl = 1;
			if (i + 1 < argc && argv[i + 1][0] != '-' && log != NULL)
				file = argv[++i];
		} else if (argv[i][0] == '-' || log != NULL) {
			return usage_err(errf, "unexpected argument");
		} else {
			log = argv[i];
		}
	}
	if (log == NULL || !jsonl)
		return usage_err(errf, "export needs a LOG and --jsonl");
	if (file != NULL) {
		f = fopen(file, "w");
		if (f == NULL) {
			fprintf(errf, "fedtwin audit: cannot write %s\n", file);
			return 1;
		}
	}
	rv = audit_export_jsonl(f, log, &err);
	if (file != NULL && fclose(f) != 0 && rv == FT_OK)
		rv = ft_errmsg_set(&err, FT_EIO, "cannot write %.96s", file);
	if (rv != FT_OK) {
		fprintf(errf, "fedtwin audit: %s\n", err.msg);
		return 1;
	}
	return 0;
}

int audit_cli_run(int argc, char **argv, FILE *out, FILE *errf)
{
	if (ft_crypto_init() != FT_OK) {
		fprintf(errf, "fedtwin audit: libsodium failed to initialise\n");
		return 1;
	}
	if (argc < 2)
		return usage_err(errf, "missing command");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(cli_usage, out);
		return 0;
	}
	if (strcmp(argv[1], "verify") == 0)
		return cli_verify(argc - 1, argv + 1, out, errf);
	if (strcmp(argv[1], "report") == 0)
		return cli_report(argc - 1, argv + 1, out, errf);
	if (strcmp(argv[1], "export") == 0)
		return cli_export(argc - 1, argv + 1, out, errf);
	return usage_err(errf, "unknown command");
}

int ft_audit_cli_main(int argc, char **argv)
{
	return audit_cli_run(argc, argv, stdout, stderr);
}
