/*
 * ft_wire_cli.c - `fedtwin consortium`: create the consortium manifest,
 * enrol sites into it (re-signed with a higher serial, written atomically)
 * and show a manifest after verifying it.
 *
 * Parsing is strict: each option once, every number fully parsed and in
 * range, every error names what is wrong (exit 2 for usage, 1 for failure).
 * Key material is never printed; public keys are shown as fingerprints.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "wire_int.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

static const char usage_text[] =
	"usage: fedtwin consortium init --name NAME --key CONSORTIUM_KEY\n"
	"                               --coordinator-key PUB --endpoint URL --out MANIFEST\n"
	"                               [--coordinator-name NAME] [--passphrase-file FILE]\n"
	"       fedtwin consortium add-site --manifest MANIFEST --key CONSORTIUM_KEY --id N\n"
	"                                   --name NAME --site-key PUB [--passphrase-file FILE]\n"
	"       fedtwin consortium show --manifest MANIFEST [--consortium-pub PUB]\n"
	"\n"
	"  init      create a manifest (serial 1, no sites) signed by the consortium key\n"
	"  add-site  enrol a site; the manifest is re-signed with serial + 1\n"
	"  show      verify a manifest and list its sites with key fingerprints;\n"
	"            without --consortium-pub only its integrity is checked\n"
	"\n"
	"The consortium key file's passphrase comes from --passphrase-file or the\n"
	"FEDTWIN_PASSPHRASE environment variable.\n";

struct opts {
	const char *name, *key, *coord_key, *coord_name, *endpoint, *out, *manifest, *site_key,
		*pub, *pass_file, *id;
};

static int fail(FILE *err, int code, const char *fmt, ...) FT_PRINTF(3, 4);
static int fail(FILE *err, int code, const char *fmt, ...)
{
	va_list ap;

	fputs("fedtwin consortium: ", err);
	va_start(ap, fmt);
	vfprintf(err, fmt, ap);
	va_end(ap);
	fputc('\n', err);
	return code;
}

static int parse(int argc, char **argv, struct opts *o, FILE *err)
{
	static const struct {
		const char *flag;
		size_t off;
	} table[] = {
		{ "--name", offsetof(struct opts, name) },
		{ "--key", offsetof(struct opts, key) },
		{ "--coordinator-key", offsetof(struct opts, coord_key) },
		{ "--coordinator-name", offsetof(struct opts, coord_name) },
		{ "--endpoint", offsetof(struct opts, endpoint) },
		{ "--out", offsetof(struct opts, out) },
		{ "--manifest", offsetof(struct opts, manifest) },
		{ "--site-key", offsetof(struct opts, site_key) },
		{ "--consortium-pub", offsetof(struct opts, pub) },
		{ "--passphrase-file", offsetof(struct opts, pass_file) },
		{ "--id", offsetof(struct opts, id) },
	};

	memset(o, 0, sizeof(*o));
	for (int i = 2; i < argc; i++) {
		size_t j;

		for (j = 0; j < sizeof(table) / sizeof(table[0]); j++)
			if (strcmp(argv[i], table[j].flag) == 0)
				break;
		if (j == sizeof(table) / sizeof(table[0]))
			return fail(err, EXIT_USAGE, "unknown option '%s'", argv[i]);
		if (i + 1 >= argc)
			return fail(err, EXIT_USAGE, "%s needs a value", argv[i]);
		{
			const char **slot = (const char **)((char *)o + table[j].off);

			if (*slot != NULL)
				return fail(err, EXIT_USAGE, "%s given twice", argv[i]);
			*slot = argv[++i];
		}
	}
	return 0;
}

/* Loads the consortium identity key, with the passphrase from the file or
 * FEDTWIN_PASSPHRASE. */
static int load_key(const struct opts *o, ft_crypto_identity **id, FILE *err)
{
	char *pass = NULL;
	ft_errmsg em;
	int rv;

	rv = ft_crypto_passphrase_read(o->pass_file, &pass, &em);
	if (rv != FT_OK)
		return fail(err, EXIT_FAIL, "%s", em.msg);
	rv = ft_crypto_identity_load(o->key, pass, id, &em);
	ft_crypto_passphrase_free(pass);
	if (rv != FT_OK)
		return fail(err, EXIT_FAIL, "%s: %s (%s)", o->key, em.msg, ft_strerror(rv));
	return 0;
}

static int load_pub(const char *path, uint8_t pk[FT_CRYPTO_SIGN_PK_BYTES], FILE *err)
{
	ft_errmsg em;
	int rv = ft_crypto_pk_load(path, pk, &em);

	if (rv != FT_OK)
		return fail(err, EXIT_FAIL, "%s: %s (%s)", path, em.msg, ft_strerror(rv));
	return 0;
}

static int sign_and_save(const ft_wire_manifest *m, const ft_crypto_identity *key,
                         const char *path, FILE *err)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	ft_errmsg em;
	int rv;

	rv = ft_wire_manifest_sign(m, key, &buf, &len);
	if (rv != FT_OK)
		return fail(err, EXIT_FAIL, "cannot sign the manifest: %s", ft_strerror(rv));
	rv = ft_wire_manifest_save(buf, len, path, &em);
	ft_free(buf);
	if (rv != FT_OK)
		return fail(err, EXIT_FAIL, "%s", em.msg);
	return 0;
}

static int cmd_init(const struct opts *o, FILE *out, FILE *err)
{
	ft_crypto_identity *key = NULL;
	ft_wire_manifest *m = NULL;
	uint8_t coord_pk[FT_CRYPTO_SIGN_PK_BYTES];
	struct stat st;
	int rc, rv;

	if (o->name == NULL || o->key == NULL || o->coord_key == NULL || o->endpoint == NULL ||
	    o->out == NULL)
		return fail(err, EXIT_USAGE,
		            "init needs --name, --key, --coordinator-key, --endpoint and --out");
	if (o->manifest != NULL || o->site_key != NULL || o->pub != NULL || o->id != NULL)
		return fail(err, EXIT_USAGE, "init takes no --manifest, --site-key, --consortium-pub or --id");
	if (stat(o->out, &st) == 0)
		return fail(err, EXIT_FAIL, "%s already exists; add sites with 'add-site'", o->out);
	rc = load_pub(o->coord_key, coord_pk, err);
	if (rc != 0)
		return rc;
	rc = load_key(o, &key, err);
	if (rc != 0)
		return rc;
	rv = ft_wire_manifest_new(o->name, ft_crypto_identity_pk(key),
	                          o->coord_name != NULL ? o->coord_name : "coordinator", coord_pk,
	                          o->endpoint, &m);
	if (rv == FT_EEXIST) {
		rc = fail(err, EXIT_FAIL, "the coordinator key must differ from the consortium key");
		goto out;
	}
	if (rv != FT_OK) {
		rc = fail(err, rv == FT_EINVAL ? EXIT_USAGE : EXIT_FAIL,
		          "bad --name, --coordinator-name or --endpoint (names 1..%u printable "
		          "bytes, endpoint a URL such as tls+tcp://host:port)",
		          FT_WIRE_NAME_MAX);
		goto out;
	}
	rc = sign_and_save(m, key, o->out, err);
	if (rc == 0) {
		char hex[2 * FT_CRYPTO_ID_BYTES + 1];

		ft_crypto_hex(hex, m->id, sizeof(m->id));
		fprintf(out, "manifest %s: consortium '%s', id %s, serial %llu\n", o->out, m->name,
		        hex, (unsigned long long)m->serial);
	}
out:
	ft_wire_manifest_free(m);
	ft_crypto_identity_free(key);
	return rc;
}

static int cmd_add_site(const struct opts *o, FILE *out, FILE *err)
{
	ft_crypto_identity *key = NULL;
	ft_wire_manifest *m = NULL;
	uint8_t site_pk[FT_CRYPTO_SIGN_PK_BYTES];
	uint64_t id;
	ft_errmsg em;
	int rc, rv;

	if (o->manifest == NULL || o->key == NULL || o->id == NULL || o->name == NULL ||
	    o->site_key == NULL)
		return fail(err, EXIT_USAGE, "add-site needs --manifest, --key, --id, --name and --site-key");
	if (o->out != NULL || o->coord_key != NULL || o->endpoint != NULL || o->pub != NULL ||
	    o->coord_name != NULL)
		return fail(err, EXIT_USAGE, "add-site takes no --out, --coordinator-*, --endpoint or "
		                             "--consortium-pub");
	if (ft_parse_u64(o->id, FT_WIRE_SITE_ID_MAX, &id) != FT_OK || id < 1)
		return fail(err, EXIT_USAGE, "--id '%s': not a site id in 1..%u", o->id,
		            FT_WIRE_SITE_ID_MAX);
	rc = load_pub(o->site_key, site_pk, err);
	if (rc != 0)
		return rc;
	rc = load_key(o, &key, err);
	if (rc != 0)
		return rc;
	/* The manifest must verify under the key that is about to re-sign it. */
	rv = ft_wire_manifest_load(o->manifest, ft_crypto_identity_pk(key), &m, &em);
	if (rv != FT_OK) {
		rc = fail(err, EXIT_FAIL, "%s", em.msg);
		goto out;
	}
	rv = ft_wire_manifest_add_site(m, (uint32_t)id, o->name, site_pk);
	if (rv != FT_OK) {
		rc = fail(err, rv == FT_EINVAL ? EXIT_USAGE : EXIT_FAIL, "cannot add site %llu: %s",
		          (unsigned long long)id,
		          rv == FT_EEXIST ? "its id or key is already enrolled"
		          : rv == FT_EINVAL ? "bad --name (1..64 printable bytes)"
		                            : ft_strerror(rv));
		goto out;
	}
	if (m->serial == UINT64_MAX) {
		rc = fail(err, EXIT_FAIL, "serial exhausted");
		goto out;
	}
	m->serial++;
	m->created_ms = ft_wire_time_ms();
	rc = sign_and_save(m, key, o->manifest, err);
	if (rc == 0) {
		char fpr[FT_CRYPTO_FPR_CHARS + 1];

		ft_crypto_fingerprint(site_pk, fpr);
		fprintf(out, "site %llu '%s' (%s) added; manifest serial %llu, %u sites\n",
		        (unsigned long long)id, o->name, fpr, (unsigned long long)m->serial,
		        m->n_sites);
	}
out:
	ft_wire_manifest_free(m);
	ft_crypto_identity_free(key);
	return rc;
}

static int cmd_show(const struct opts *o, FILE *out, FILE *err)
{
	ft_wire_manifest *m = NULL;
	uint8_t pin[FT_CRYPTO_SIGN_PK_BYTES];
	char hex[2 * FT_CRYPTO_ID_BYTES + 1], fpr[FT_CRYPTO_FPR_CHARS + 1];
	ft_errmsg em;
	int rc, rv;

	if (o->manifest == NULL)
		return fail(err, EXIT_USAGE, "show needs --manifest");
	if (o->key != NULL || o->out != NULL || o->id != NULL || o->name != NULL ||
	    o->site_key != NULL || o->coord_key != NULL || o->endpoint != NULL ||
	    o->coord_name != NULL || o->pass_file != NULL)
		return fail(err, EXIT_USAGE, "show takes only --manifest and --consortium-pub");
	if (o->pub != NULL) {
		rc = load_pub(o->pub, pin, err);
		if (rc != 0)
			return rc;
	}
	rv = ft_wire_manifest_load(o->manifest, o->pub != NULL ? pin : NULL, &m, &em);
	if (rv != FT_OK)
		return fail(err, EXIT_FAIL, "%s", em.msg);
	ft_crypto_hex(hex, m->id, sizeof(m->id));
	ft_crypto_fingerprint(m->consortium_pk, fpr);
	fprintf(out, "consortium   %s\nid           %s\nkey          %s (%s)\nserial       %llu\n"
	             "created_ms   %llu\n",
	        m->name, hex, fpr,
	        o->pub != NULL ? "verified against --consortium-pub"
	                       : "NOT PINNED: integrity only, give --consortium-pub to verify",
	        (unsigned long long)m->serial, (unsigned long long)m->created_ms);
	ft_crypto_fingerprint(m->coord_pk, fpr);
	fprintf(out, "coordinator  %s %s %s\nsites        %u\n", m->coord_name, fpr, m->endpoint,
	        m->n_sites);
	for (uint32_t i = 0; i < m->n_sites; i++) {
		ft_crypto_fingerprint(m->sites[i].pk, fpr);
		fprintf(out, "  %10u  %s  %s\n", m->sites[i].id, fpr, m->sites[i].name);
	}
	ft_wire_manifest_free(m);
	return 0;
}

int wire_cli_run(int argc, char **argv, FILE *out, FILE *err)
{
	struct opts o;
	int rc;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(usage_text, argc < 2 ? err : out);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	rc = parse(argc, argv, &o, err);
	if (rc != 0)
		return rc;
	if (strcmp(argv[1], "init") == 0)
		return cmd_init(&o, out, err);
	if (strcmp(argv[1], "add-site") == 0)
		return cmd_add_site(&o, out, err);
	if (strcmp(argv[1], "show") == 0)
		return cmd_show(&o, out, err);
	fail(err, EXIT_USAGE, "unknown subcommand '%s'", argv[1]);
	fputs(usage_text, err);
	return EXIT_USAGE;
}

int ft_wire_cli_main(int argc, char **argv)
{
	return wire_cli_run(argc, argv, stdout, stderr);
}
