/*
 * ft_store_cli.c - the `fedtwin node` subcommands that manage the site
 * store: import, consent, policy, ledger and status. Output is plain
 * line-oriented text for operators and scripts; errors name the file, line,
 * column or option at fault. Exit status: 0 success, 1 error, 2 usage.
 */
#include "ft_store.h"
#include "store_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define CLI_OK 0
#define CLI_ERR 1
#define CLI_USAGE 2
#define CLI_MAX_ARGS 4

static const char usage_text[] =
	"usage: fedtwin node <command> [--store PATH] ...\n"
	"  import --csv FILE --target COL [--patient-id COL] [--consent COL]\n"
	"         [--features A,B,...] [--dataset NAME] [--na error|skip]\n"
	"  consent grant|revoke PATIENT [--actor NAME]\n"
	"  policy set --max-epsilon-run E --max-epsilon-total E --delta D\n"
	"  policy show\n"
	"  ledger show [--run ID]\n"
	"  status\n"
	"--store defaults to " FT_STORE_DEFAULT_PATH " in the current directory.\n";

/* Options a command accepts, and what the command line gave. */
typedef struct cli_opt {
	const char *name; /* without "--" */
	const char *value;
} cli_opt;

typedef struct cli {
	const char *cmd;
	FILE *out, *err;
	cli_opt *opts;
	size_t n_opts;
	const char *args[CLI_MAX_ARGS];
	size_t n_args;
} cli;

static int cli_usage(cli *c, const char *fmt, ...) FT_PRINTF(2, 3);

static int cli_usage(cli *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(c->err, "fedtwin node %s: ", c->cmd);
	va_start(ap, fmt);
	vfprintf(c->err, fmt, ap);
	va_end(ap);
	fprintf(c->err, "\n%s", usage_text);
	return CLI_USAGE;
}

static int cli_fail(cli *c, int rv, const ft_errmsg *e)
{
	fprintf(c->err, "fedtwin node %s: %s (%s)\n", c->cmd, e->msg, ft_strerror(rv));
	return CLI_ERR;
}

/* Splits argv into the options in c->opts and up to CLI_MAX_ARGS others. */
static int cli_parse(cli *c, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *eq;
		size_t len, k;

		if (strncmp(a, "--", 2) != 0) {
			if (c->n_args == CLI_MAX_ARGS)
				return cli_usage(c, "unexpected argument '%s'", a);
			c->args[c->n_args++] = a;
			continue;
		}
		a += 2;
		eq = strchr(a, '=');
		len = eq != NULL ? (size_t)(eq - a) : strlen(a);
		for (k = 0; k < c->n_opts; k++)
			if (strlen(c->opts[k].name) == len && strncmp(c->opts[k].name, a, len) == 0)
				break;
		if (k == c->n_opts)
			return cli_usage(c, "unknown option '%s'", argv[i]);
		if (c->opts[k].value != NULL)
			return cli_usage(c, "option --%s given twice", c->opts[k].name);
		if (eq != NULL) {
			c->opts[k].value = eq + 1;
		} else {
			/* "--target --store x" is a forgotten value, not a target. */
			if (i + 1 == argc || strncmp(argv[i + 1], "--", 2) == 0)
				return cli_usage(c, "option --%s needs a value", c->opts[k].name);
			c->opts[k].value = argv[++i];
		}
	}
	return CLI_OK;
}

static const char *cli_get(const cli *c, const char *name)
{
	for (size_t k = 0; k < c->n_opts; k++)
		if (strcmp(c->opts[k].name, name) == 0)
			return c->opts[k].value;
	return NULL;
}

/*
 * Opens the store. Commands that only read or change existing data do not
 * create one: a mistyped --store would otherwise yield an empty store.
 */
static int cli_open(cli *c, int create, ft_store **s)
{
	const char *path = cli_get(c, "store");
	struct stat sb;
	ft_errmsg e;
	int rv;

	if (path == NULL)
		path = FT_STORE_DEFAULT_PATH;
	if (!create && stat(path, &sb) != 0) {
		fprintf(c->err, "fedtwin node %s: no store at %s (%s); import data first or pass "
		        "--store PATH\n", c->cmd, path, strerror(errno));
		return CLI_ERR;
	}
	rv = ft_store_open(path, s, &e);
	if (rv != FT_OK)
		return cli_fail(c, rv, &e);
	return CLI_OK;
}

/* Splits "a,b,c" into a NULL-free list of pointers into `buf`. */
static int cli_split_features(cli *c, char *buf, const char ***list, size_t *n)
{
	size_t count = 1;
	const char **v;
	char *p;

	for (p = buf; *p != '\0'; p++)
		count += *p == ',';
	if (count > FT_STORE_CSV_MAX_COLUMNS)
		return cli_usage(c, "--features: more than %zu columns", FT_STORE_CSV_MAX_COLUMNS);
	v = ft_mallocarray(count, sizeof(*v));
	if (v == NULL) {
		fprintf(c->err, "fedtwin node %s: out of memory\n", c->cmd);
		return CLI_ERR;
	}
	p = buf;
	for (size_t i = 0; i < count; i++) {
		char *comma = strchr(p, ',');

		if (comma != NULL)
			*comma = '\0';
		if (*p == '\0') {
			ft_free(v);
			return cli_usage(c, "--features: empty column name in the list");
		}
		v[i] = p;
		p = comma != NULL ? comma + 1 : p + strlen(p);
	}
	*list = v;
	*n = count;
	return CLI_OK;
}

static int cmd_import(cli *c)
{
	ft_store_import_opts o = { 0 };
	ft_store_import_result r;
	const char **feats = NULL;
	const char *csv = cli_get(c, "csv");
	const char *na = cli_get(c, "na");
	const char *list = cli_get(c, "features");
	char *list_copy = NULL;
	ft_store *s = NULL;
	ft_errmsg e;
	int rv;

	if (c->n_args != 0)
		return cli_usage(c, "unexpected argument '%s'", c->args[0]);
	if (csv == NULL)
		return cli_usage(c, "--csv FILE is required");
	o.target = cli_get(c, "target");
	if (o.target == NULL)
		return cli_usage(c, "--target COL is required");
	o.patient_id = cli_get(c, "patient-id");
	o.consent = cli_get(c, "consent");
	o.dataset = cli_get(c, "dataset");
	if (na == NULL || strcmp(na, "error") == 0)
		o.na = FT_STORE_NA_ERROR;
	else if (strcmp(na, "skip") == 0)
		o.na = FT_STORE_NA_SKIP;
	else
		return cli_usage(c, "--na must be 'error' or 'skip', not '%s'", na);
	if (list != NULL) {
		list_copy = ft_strdup(list);
		if (list_copy == NULL) {
			fprintf(c->err, "fedtwin node %s: out of memory\n", c->cmd);
			return CLI_ERR;
		}
		rv = cli_split_features(c, list_copy, &feats, &o.n_features);
		if (rv != CLI_OK)
			goto out;
		o.features = feats;
	}
	rv = cli_open(c, 1, &s);
	if (rv != CLI_OK)
		goto out;
	rv = ft_store_import_csv(s, csv, &o, &r, &e);
	if (rv != FT_OK) {
		rv = cli_fail(c, rv, &e);
		goto out;
	}
	fprintf(c->out, "imported: %s\n", csv);
	fprintf(c->out, "dataset: %s (%s)\n", r.dataset, r.created_dataset ? "new" : "appended");
	fprintf(c->out, "rows: %zu\n", r.rows);
	fprintf(c->out, "patients: %zu (%zu new)\n", r.patients, r.new_patients);
	fprintf(c->out, "skipped rows with missing values: %zu\n", r.skipped);
	fprintf(c->out, "consent withdrawn by the file: %zu\n", r.revoked);
	rv = CLI_OK;
out:
	ft_store_close(s);
	ft_free(feats);
	ft_free(list_copy);
	return rv;
}

static int cmd_consent(cli *c)
{
	const char *actor = cli_get(c, "actor");
	ft_store *s = NULL;
	ft_errmsg e;
	int granted, rv;

	if (c->n_args != 2)
		return cli_usage(c, "expected grant|revoke PATIENT");
	if (strcmp(c->args[0], "grant") == 0)
		granted = 1;
	else if (strcmp(c->args[0], "revoke") == 0)
		granted = 0;
	else
		return cli_usage(c, "expected grant or revoke, not '%s'", c->args[0]);
	if (actor == NULL)
		actor = getenv("USER");
	if (actor == NULL || *actor == '\0')
		actor = "operator";
	rv = cli_open(c, 0, &s);
	if (rv != CLI_OK)
		return rv;
	rv = ft_store_consent_set(s, c->args[1], granted, actor, &e);
	if (rv != FT_OK) {
		rv = cli_fail(c, rv, &e);
		goto out;
	}
	fprintf(c->out, "consent %s: patient %s (by %s)\n", granted ? "granted" : "revoked",
	        c->args[1], actor);
	rv = CLI_OK;
out:
	ft_store_close(s);
	return rv;
}

/* A strictly parsed number for option `name`. */
static int cli_number(cli *c, const char *name, double *out)
{
	const char *v = cli_get(c, name);

	if (v == NULL)
		return cli_usage(c, "--%s is required", name);
	if (ft_parse_double(v, out) != FT_OK)
		return cli_usage(c, "--%s: '%s' is not a number", name, v);
	return CLI_OK;
}

static void cli_time(int64_t ms, char *buf, size_t n)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, n, "%lld ms", (long long)ms);
}

static int cmd_policy(cli *c)
{
	ft_store_policy p;
	ft_store *s = NULL;
	ft_errmsg e;
	char when[32];
	int rv;

	if (c->n_args != 1 || (strcmp(c->args[0], "set") != 0 && strcmp(c->args[0], "show") != 0))
		return cli_usage(c, "expected 'policy set' or 'policy show'");
	if (strcmp(c->args[0], "set") == 0) {
		double run = 0, total = 0, delta = 0;

		rv = cli_number(c, "max-epsilon-run", &run);
		if (rv == CLI_OK)
			rv = cli_number(c, "max-epsilon-total", &total);
		if (rv == CLI_OK)
			rv = cli_number(c, "delta", &delta);
		if (rv != CLI_OK)
			return rv;
		rv = cli_open(c, 1, &s);
		if (rv != CLI_OK)
			return rv;
		rv = ft_store_policy_set(s, run, total, delta, &e);
		if (rv != FT_OK) {
			rv = cli_fail(c, rv, &e);
			goto out;
		}
	} else {
		if (cli_get(c, "max-epsilon-run") != NULL || cli_get(c, "max-epsilon-total") != NULL ||
		    cli_get(c, "delta") != NULL)
			return cli_usage(c, "'policy show' takes no policy values");
		rv = cli_open(c, 0, &s);
		if (rv != CLI_OK)
			return rv;
	}
	rv = ft_store_policy_get(s, &p, &e);
	if (rv != FT_OK) {
		rv = cli_fail(c, rv, &e);
		goto out;
	}
	cli_time(p.set_at_ms, when, sizeof(when));
	fprintf(c->out, "max-epsilon-run: %.17g\n", p.max_eps_run);
	fprintf(c->out, "max-epsilon-total: %.17g\n", p.max_eps_total);
	fprintf(c->out, "delta: %.17g\n", p.delta);
	fprintf(c->out, "set-at: %s\n", when);
	rv = CLI_OK;
out:
	ft_store_close(s);
	return rv;
}

static int ledger_print(void *ctx, const ft_store_ledger_event *ev)
{
	cli *c = ctx;
	char when[32];

	cli_time(ev->at_ms, when, sizeof(when));
	fprintf(c->out, "%lld %s %llu q=%.17g sigma=%.17g steps=%llu delta=%.17g at=%s\n",
	        (long long)ev->seq, ev->run_id, (unsigned long long)ev->round, ev->q, ev->sigma,
	        (unsigned long long)ev->steps, ev->delta, when);
	return 0;
}

/* The ledger, one event per line, then what it adds up to. */
static int cmd_ledger(cli *c)
{
	const char *run = cli_get(c, "run");
	ft_store *s = NULL;
	ft_errmsg e;
	double spent = 0;
	int rv;

	if (c->n_args != 1 || strcmp(c->args[0], "show") != 0)
		return cli_usage(c, "expected 'ledger show'");
	rv = cli_open(c, 0, &s);
	if (rv != CLI_OK)
		return rv;
	fprintf(c->out, "# seq run-id round q sigma steps delta at\n");
	rv = ft_store_ledger_foreach(s, run, ledger_print, c, &e);
	if (rv != FT_OK) {
		rv = cli_fail(c, rv, &e);
		goto out;
	}
	rv = ft_store_privacy_spent(s, run, &spent, &e);
	if (rv == FT_OK)
		fprintf(c->out, "epsilon spent%s%s: %.6g\n", run != NULL ? " by run " : "",
		        run != NULL ? run : "", spent);
	else if (rv == FT_ENOTFOUND)
		fprintf(c->out, "epsilon spent: unknown until a privacy policy sets delta\n");
	else {
		rv = cli_fail(c, rv, &e);
		goto out;
	}
	rv = CLI_OK;
out:
	ft_store_close(s);
	return rv;
}

/* One line per dataset with its consent-aware counts. */
static int status_datasets(cli *c, ft_store *s)
{
	static const char sql[] =
		"SELECT d.name, d.target, d.n_features,"
		" (SELECT count(*) FROM records r WHERE r.dataset_id = d.id),"
		" (SELECT count(DISTINCT r.patient_id) FROM records r WHERE r.dataset_id = d.id),"
		" (SELECT count(DISTINCT r.patient_id) FROM records r JOIN patients p"
		"   ON p.id = r.patient_id WHERE r.dataset_id = d.id AND p.consent = 1)"
		" FROM datasets d ORDER BY d.name";
	sqlite3_stmt *st = NULL;
	ft_errmsg e;
	int rc;

	if (store_prepare(s, sql, &st, &e) != FT_OK)
		return cli_fail(c, FT_EDB, &e);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fprintf(c->out,
		        "dataset %s: target %s, %lld features, %lld records, %lld patients, "
		        "%lld consented\n",
		        (const char *)sqlite3_column_text(st, 0),
		        (const char *)sqlite3_column_text(st, 1),
		        (long long)sqlite3_column_int64(st, 2), (long long)sqlite3_column_int64(st, 3),
		        (long long)sqlite3_column_int64(st, 4), (long long)sqlite3_column_int64(st, 5));
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		store_db_fail(s, &e, "cannot list datasets");
		return cli_fail(c, FT_EDB, &e);
	}
	return CLI_OK;
}

static int cmd_status(cli *c)
{
	ft_store_counts n;
	ft_store_policy p;
	ft_store *s = NULL;
	ft_errmsg e;
	int rv;

	if (c->n_args != 0)
		return cli_usage(c, "unexpected argument '%s'", c->args[0]);
	rv = cli_open(c, 0, &s);
	if (rv != CLI_OK)
		return rv;
	rv = ft_store_counts_get(s, &n, &e);
	if (rv != FT_OK) {
		rv = cli_fail(c, rv, &e);
		goto out;
	}
	fprintf(c->out, "store: %s (schema %d)\n", s->path, ft_store_schema_version(s));
	fprintf(c->out, "datasets: %zu\n", n.datasets);
	rv = status_datasets(c, s);
	if (rv != CLI_OK)
		goto out;
	fprintf(c->out, "patients: %zu\n", n.patients);
	fprintf(c->out, "consented: %zu\n", n.consented);
	fprintf(c->out, "records: %zu\n", n.records);
	fprintf(c->out, "consent events: %zu\n", n.consent_events);
	rv = ft_store_policy_get(s, &p, &e);
	if (rv == FT_ENOTFOUND) {
		fprintf(c->out, "privacy policy: none; training is refused until one is set\n");
	} else if (rv != FT_OK) {
		rv = cli_fail(c, rv, &e);
		goto out;
	} else {
		double spent = 0;

		fprintf(c->out, "privacy policy: max-epsilon-run %g, max-epsilon-total %g, delta %g\n",
		        p.max_eps_run, p.max_eps_total, p.delta);
		rv = ft_store_privacy_spent(s, NULL, &spent, &e);
		if (rv != FT_OK) {
			rv = cli_fail(c, rv, &e);
			goto out;
		}
		fprintf(c->out, "privacy spent: epsilon %.4g of max-epsilon-total %g (delta %g)\n",
		        spent, p.max_eps_total, p.delta);
	}
	fprintf(c->out, "privacy ledger events: %zu\n", n.ledger_events);
	rv = CLI_OK;
out:
	ft_store_close(s);
	return rv;
}

int store_cli_run(int argc, char **argv, FILE *out, FILE *errf)
{
	cli_opt import_opts[] = { { "store", NULL },      { "csv", NULL },     { "target", NULL },
		                  { "patient-id", NULL }, { "consent", NULL }, { "features", NULL },
		                  { "dataset", NULL },    { "na", NULL } };
	cli_opt consent_opts[] = { { "store", NULL }, { "actor", NULL } };
	cli_opt policy_opts[] = { { "store", NULL },
		                  { "max-epsilon-run", NULL },
		                  { "max-epsilon-total", NULL },
		                  { "delta", NULL } };
	cli_opt status_opts[] = { { "store", NULL } };
	cli_opt ledger_opts[] = { { "store", NULL }, { "run", NULL } };
	cli c = { .out = out, .err = errf };
	int (*fn)(cli *) = NULL;
	int rv;

	if (argc < 1 || argv[0] == NULL) {
		fprintf(errf, "%s", usage_text);
		return CLI_USAGE;
	}
	c.cmd = argv[0];
	if (strcmp(c.cmd, "import") == 0) {
		c.opts = import_opts;
		c.n_opts = sizeof(import_opts) / sizeof(import_opts[0]);
		fn = cmd_import;
	} else if (strcmp(c.cmd, "consent") == 0) {
		c.opts = consent_opts;
		c.n_opts = sizeof(consent_opts) / sizeof(consent_opts[0]);
		fn = cmd_consent;
	} else if (strcmp(c.cmd, "policy") == 0) {
		c.opts = policy_opts;
		c.n_opts = sizeof(policy_opts) / sizeof(policy_opts[0]);
		fn = cmd_policy;
	} else if (strcmp(c.cmd, "status") == 0) {
		c.opts = status_opts;
		c.n_opts = sizeof(status_opts) / sizeof(status_opts[0]);
		fn = cmd_status;
	} else if (strcmp(c.cmd, "ledger") == 0) {
		c.opts = ledger_opts;
		c.n_opts = sizeof(ledger_opts) / sizeof(ledger_opts[0]);
		fn = cmd_ledger;
	} else if (strcmp(c.cmd, "help") == 0 || strcmp(c.cmd, "--help") == 0 ||
	           strcmp(c.cmd, "-h") == 0) {
		fprintf(out, "%s", usage_text);
		return CLI_OK;
	} else {
		fprintf(errf, "fedtwin node: unknown command '%s'\n%s", c.cmd, usage_text);
		return CLI_USAGE;
	}
	rv = cli_parse(&c, argc, argv);
	if (rv != CLI_OK)
		return rv;
	rv = fn(&c);
	fflush(out);
	return rv;
}

int ft_store_cli_main(int argc, char **argv)
{
	return store_cli_run(argc, argv, stdout, stderr);
}
