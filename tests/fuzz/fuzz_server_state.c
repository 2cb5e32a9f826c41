/*
 * fuzz_server_state.c - libFuzzer target for the server optimiser state
 * decoder (ft_model_server_decode, docs/PROTOCOL.md "Server optimiser
 * state"). Any accepted input must re-encode to exactly the same bytes, and
 * a step with a zero update must succeed or refuse cleanly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ft_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ft_model_server *s = NULL;
	uint8_t *again = NULL;
	float *x = NULL, *d = NULL;
	size_t len = 0, n;
	ft_errmsg err;
	int rv;

	if (ft_model_server_decode(data, size, &s, &err) != FT_OK)
		return 0;
	if (ft_model_server_encode(s, &again, &len) != FT_OK || len != size ||
	    memcmp(again, data, size) != 0)
		abort();
	n = ft_model_server_n_params(s);
	x = calloc(n, sizeof(float));
	d = calloc(n, sizeof(float));
	if (x == NULL || d == NULL)
		abort();
	rv = ft_model_server_step(s, x, n, d);
	if (rv != FT_OK && rv != FT_ERANGE)
		abort();
	free(x);
	free(d);
	ft_free(again);
	ft_model_server_free(s);
	return 0;
}
