/*
 * node_int.h - private declarations shared by the node's source files.
 */
#ifndef NODE_INT_H
#define NODE_INT_H

#include <stddef.h>

/* `fedtwin node run --config FILE` (argv[0] is "run"): the site daemon
 * (ft_node_run.c). Returns the exit status. */
int ft_node_run_main(int argc, char **argv);

/* `fedtwin node check --config FILE [--offline]` (argv[0] is "check"): the
 * preflight check of a node's configuration (ft_node_run.c). Exit status 0
 * when no check failed, 1 otherwise, 2 for a usage error. */
int ft_node_check_main(int argc, char **argv);

#endif
