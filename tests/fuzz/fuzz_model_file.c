/*
 * fuzz_model_file.c - libFuzzer target for the model file decoder
 * (ft_model_decode, docs/PROTOCOL.md "Model files"). Any accepted input must
 * re-encode to exactly the same bytes: the format has one encoding per model.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ft_crypto.h"
#include "ft_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ft_model *m = NULL;
	ft_model_meta *meta = NULL;
	uint8_t *again = NULL;
	size_t len = 0;
	ft_errmsg err;

	if (ft_crypto_init() != FT_OK)
		abort();
	if (ft_model_decode(data, size, &m, &meta, &err) != FT_OK)
		return 0;
	if (ft_model_encode(m, meta, &again, &len) != FT_OK || len != size ||
	    memcmp(again, data, size) != 0)
		abort();
	ft_free(again);
	ft_model_meta_free(meta);
	ft_model_free(m);
	return 0;
}
