/*
 * fuzz_feature_ranges.c - libFuzzer target for the --feature-ranges parser
 * (ft_model_ranges_parse): any input either parses or fails with a
 * message, and what it accepts keeps the documented invariants (at least
 * one feature, names printable, unique and at most 64 bytes, LO < HI
 * finite).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ft_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ft_model_ranges *r = NULL;
	ft_errmsg e;

	if (ft_model_ranges_parse((const char *)data, size, &r, &e) != FT_OK) {
		if (r != NULL || e.msg[0] == '\0')
			abort();
		return 0;
	}
	if (r == NULL || r->n == 0)
		abort();
	for (size_t i = 0; i < r->n; i++) {
		size_t len = strlen(r->name[i]), k;

		if (len == 0 || len > FT_MODEL_RANGES_NAME_MAX)
			abort();
		for (size_t j = 0; j < len; j++)
			if ((unsigned char)r->name[i][j] <= 0x20 || (unsigned char)r->name[i][j] > 0x7e)
				abort();
		if (!isfinite(r->lo[i]) || !isfinite(r->hi[i]) || !(r->lo[i] < r->hi[i]))
			abort();
		if (ft_model_ranges_find(r, r->name[i], &k) != FT_OK || k != i)
			abort();
	}
	ft_model_ranges_free(r);
	return 0;
}
