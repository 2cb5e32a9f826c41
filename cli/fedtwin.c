/*
 * fedtwin.c - the one fedtwin binary: initialises libsodium, then dispatches
 * to the subcommand of each role. No protocol or training logic lives here.
 *
 * Exit status: 0 success, 1 the command failed (a message on stderr names
 * what), 2 usage error.
 */
#include <stdio.h>
#include <string.h>

#include "ft_audit.h"
#include "ft_base.h"
#include "ft_coord.h"
#include "ft_crypto.h"
#include "ft_node.h"
#include "ft_privacy.h"
#include "ft_wire.h"
#include "ft_sim.h"
#include "cli_int.h"

static const struct ft_cli_cmd {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *summary;
} ft_cli_cmds[] = {
	{"node", ft_node_cli_main, "site commands: import, consent, policy, status, train, run"},
	{"coordinator", ft_coord_cli_main, "consortium operator: run create|start|pause|stop|status, serve"},
	{"model", ft_node_model_cli_main, "evaluate a model file on a labelled CSV file"},
	{"simulate", ft_sim_cli_main, "federated training simulated in one process on a CSV file"},
	{"privacy", ft_privacy_cli_main, "plan a run: epsilon for given noise, or noise for an epsilon"},
	{"audit", ft_audit_cli_main, "auditor tools: verify, report, export a signed audit log"},
	{"consortium", ft_wire_cli_main, "consortium manifest: init, add-site, show"},
	{"keygen", ft_cli_keygen_main, "create an Ed25519 identity key pair"},
	{"fingerprint", ft_cli_fingerprint_main, "print the fingerprint of a public key file"},
	{"selfcheck", ft_cli_selfcheck_main, "run the cryptographic self-check"},
	{"version", ft_cli_version_main, "print the version"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: fedtwin COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(ft_cli_cmds) / sizeof(ft_cli_cmds[0]); i++)
		fprintf(f, "  %-12s %s\n", ft_cli_cmds[i].name, ft_cli_cmds[i].summary);
	fprintf(f, "\n'fedtwin COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv)
{
	if (ft_crypto_init() != FT_OK) {
		fprintf(stderr, "fedtwin: libsodium failed to initialise\n");
		return 1;
	}
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(ft_cli_cmds) / sizeof(ft_cli_cmds[0]); i++)
		if (strcmp(argv[1], ft_cli_cmds[i].name) == 0)
			return ft_cli_cmds[i].main(argc - 1, argv + 1);
	fprintf(stderr, "fedtwin: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
