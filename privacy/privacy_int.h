/*
 * privacy_int.h - private structures of the privacy module.
 */
#ifndef FT_PRIVACY_INT_H
#define FT_PRIVACY_INT_H

#include <stddef.h>

#include "ft_privacy.h"

struct ft_privacy_accountant {
	size_t n;       /* number of orders */
	double *orders; /* n orders, each > 1 */
	double *rdp;    /* n accumulated RDP values, >= 0 or +INFINITY */
};

/* FT_OK if orders[0..n) is a valid order set (n >= 1, bounded, each order
 * valid), else FT_EINVAL. */
int ft_privacy_check_orders_(const double *orders, size_t n);

#endif
