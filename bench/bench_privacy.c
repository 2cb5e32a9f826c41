/*
 * bench_privacy.c - throughput of the discrete Gaussian sampler and of the
 * float noise DP-SGD adds, and the time of one accountant query.
 *
 * Usage: bench_privacy [samples]   (default 10000000)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "ft_base.h"
#include "ft_crypto.h"
#include "ft_privacy.h"

static double secs_since(uint64_t t0)
{
	return (double)(ft_now_ms() - t0) / 1000.0;
}

int main(int argc, char **argv)
{
	uint64_t n = 10000000, t0;
	size_t chunk = 100000;
	int64_t *z = NULL;
	float *v = NULL;
	int rv = 1;
	double s;

	if (argc > 1 && ft_parse_u64(argv[1], UINT64_MAX, &n) != FT_OK) {
		fprintf(stderr, "usage: bench_privacy [samples]\n");
		return 2;
	}
	if (ft_crypto_init() != FT_OK)
		return 1;
	z = ft_mallocarray(chunk, sizeof(*z));
	v = ft_calloc(chunk, sizeof(*v));
	if (z == NULL || v == NULL)
		goto out;
	{
		const uint64_t sig[] = {1, 1000, (uint64_t)1 << 20, FT_PRIVACY_DGAUSS_SIGMA_MAX};

		for (size_t k = 0; k < sizeof(sig) / sizeof(sig[0]); k++) {
			t0 = ft_now_ms();
			for (uint64_t done = 0; done < n; done += chunk) {
				if (ft_privacy_dgauss_fill(sig[k], z, chunk) != FT_OK)
					goto out;
			}
			s = secs_since(t0);
			printf("dgauss_fill sigma=%" PRIu64 ": %.2f M samples/s\n", sig[k],
			       (double)n / s / 1e6);
		}
	}
	t0 = ft_now_ms();
	for (uint64_t done = 0; done < n; done += chunk) {
		if (ft_privacy_noise_add(v, chunk, 0.01) != FT_OK)
			goto out;
	}
	s = secs_since(t0);
	printf("noise_add (float, 100k params per call): %.2f M samples/s\n", (double)n / s / 1e6);
	rv = 0;
out:
	ft_free(z);
	ft_free(v);
	return rv;
}
