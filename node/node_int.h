/*
 * node_int.h - private declarations shared by the node's source files.
 */
#ifndef NODE_INT_H
#define NODE_INT_H

#include <stddef.h>

/* `fedtwin node run --config FILE` (argv[0] is "run"): the site daemon
 * (ft_node_run.c). Returns the exit status. */
int ft_node_run_main(int argc, char **argv);

/* Exactly n comma-separated finite doubles from the metadata string `key`
 * (ft_node_run.c). FT_ENOTFOUND if absent, FT_EFORMAT if malformed. */
struct ft_model_meta;
int node_meta_vector_get(const struct ft_model_meta *meta, const char *key, double *v,
                         size_t n);

#endif
