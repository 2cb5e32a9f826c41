/*
 * fuzz_csv.c - libFuzzer target for the strict CSV reader: any input must
 * either parse or fail with a message, within the reader's limits, and
 * every accepted row must have exactly the header's width.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ft_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Small limits so that the fuzzer reaches them quickly. */
	ft_store_csv_limits lim = { .max_record_bytes = 4096, .max_columns = 64, .max_rows = 1000 };
	ft_store_csv *c = NULL;
	ft_errmsg e;
	int has = 1;
	size_t col = 0;
	uint8_t h[32];

	if (ft_store_csv_open_mem(data, size, "fuzz.csv", &lim, &c, &e) != FT_OK)
		return 0;
	if (ft_store_csv_find(c, "target", &col, &e) != FT_OK)
		col = 0;
	while (has) {
		if (ft_store_csv_next(c, &has, &e) != FT_OK || !has)
			break;
		for (size_t i = 0; i < ft_store_csv_columns(c); i++) {
			double v = 0;
			int na = 0;

			if (ft_store_csv_field(c, i) == NULL)
				abort();
			(void)ft_store_csv_number(c, i, &v, &na, &e);
		}
		if (ft_store_csv_field(c, ft_store_csv_columns(c)) != NULL)
			abort();
	}
	ft_store_csv_hash(c, h);
	ft_store_csv_close(c);
	return 0;
}
