/*
 * fuzz_privacy_accountant.c - libFuzzer target for the accountant decoder
 * (ft_privacy_accountant_decode, PRIVACY.md "Accountant encoding"). A
 * decoded accountant must re-encode to exactly the input (the format has one
 * encoding per value) and give an epsilon that is >= 0 or +inf.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ft_privacy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ft_privacy_accountant *acc = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	double eps = -1, order = 0;
	int rv;

	rv = ft_privacy_accountant_decode(data, size, &acc);
	if (rv != FT_OK) {
		if (acc != NULL)
			abort(); /* output written on failure */
		return 0;
	}
	buf = malloc(size);
	if (buf == NULL)
		abort();
	if (ft_privacy_accountant_encoded_size(acc) != size ||
	    ft_privacy_accountant_encode(acc, buf, size, &len) != FT_OK || len != size ||
	    memcmp(buf, data, size) != 0)
		abort();
	if (ft_privacy_accountant_epsilon(acc, 1e-5, &eps, &order) != FT_OK || isnan(eps) ||
	    eps < 0)
		abort();
	free(buf);
	ft_privacy_accountant_free(acc);
	return 0;
}
