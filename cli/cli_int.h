/*
 * cli_int.h - subcommand entry points of the fedtwin binary. Each takes the
 * arguments after "fedtwin" (argv[0] is the subcommand name) and returns the
 * process exit status: 0 success, 1 failure, 2 usage error.
 */
#ifndef FT_CLI_INT_H
#define FT_CLI_INT_H

int ft_cli_keygen_main(int argc, char **argv);
int ft_cli_fingerprint_main(int argc, char **argv);
int ft_cli_selfcheck_main(int argc, char **argv);
int ft_cli_version_main(int argc, char **argv);


#endif
