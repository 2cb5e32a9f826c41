/*
 * bench_privacy.c - throughput of the discrete Gaussian sampler and of the
 * float noise DP-SGD adds, and the time of accountant queries.
 *
 * Usage: bench_privacy [samples]   (default 10000000)
 *
 * Rates are given per second of process CPU time, which the other jobs on a
 * shared machine disturb far less than wall time (both are printed).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ft_base.h"
#include "ft_crypto.h"
#include "ft_privacy.h"

struct stamp {
	uint64_t wall_ms;
	double cpu;
};

static struct stamp now(void)
{
	struct stamp t;
	struct timespec ts;

	t.wall_ms = ft_now_ms();
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	t.cpu = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	return t;
}

static void report(const char *what, double count, const char *unit, struct stamp t0)
{
	struct stamp t1 = now();
	double wall = (double)(t1.wall_ms - t0.wall_ms) / 1000.0;
	double cpu = t1.cpu - t0.cpu;

	printf("%-44s %10.3f %s per CPU-second (%.3f per wall-second)\n", what,
	       count / cpu / 1e6, unit, count / wall / 1e6);
}

static void report_ms(const char *what, int reps, struct stamp t0)
{
	struct stamp t1 = now();
	double wall = (double)(t1.wall_ms - t0.wall_ms);
	double cpu = (t1.cpu - t0.cpu) * 1000.0;

	printf("%-44s %10.3f CPU-ms per call (%.3f wall-ms)\n", what, cpu / reps, wall / reps);
}

static void report_us(const char *what, int reps, struct stamp t0)
{
	struct stamp t1 = now();
	double wall = (double)(t1.wall_ms - t0.wall_ms) * 1000.0;
	double cpu = (t1.cpu - t0.cpu) * 1e6;

	printf("%-44s %10.3f CPU-us per call (%.3f wall-us)\n", what, cpu / reps, wall / reps);
}

int main(int argc, char **argv)
{
	uint64_t n = 10000000;
	struct stamp t0;
	size_t chunk = 100000;
	int64_t *z = NULL;
	float *v = NULL;
	int rv = 1;

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
			char what[64];

			t0 = now();
			for (uint64_t done = 0; done < n; done += chunk) {
				if (ft_privacy_dgauss_fill(sig[k], z, chunk) != FT_OK)
					goto out;
			}
			snprintf(what, sizeof(what), "dgauss_fill sigma=%" PRIu64, sig[k]);
			report(what, (double)n, "M samples", t0);
		}
	}
	t0 = now();
	for (uint64_t done = 0; done < n; done += chunk) {
		if (ft_privacy_noise_add(v, chunk, 0.01) != FT_OK)
			goto out;
	}
	report("noise_add (float, 100k per call)", (double)n, "M samples", t0);
	{
		/* The fixed cost of a call: DP-SGD on a small model (logistic
		 * regression, 31 parameters) makes one call per step. */
		const size_t small[] = {1, 31};
		int reps = 200000;

		for (size_t k = 0; k < sizeof(small) / sizeof(small[0]); k++) {
			char what[64];

			t0 = now();
			for (int i = 0; i < reps; i++) {
				if (ft_privacy_noise_add(v, small[k], 1.0) != FT_OK)
					goto out;
			}
			snprintf(what, sizeof(what), "noise_add (float, %zu per call)", small[k]);
			report_us(what, reps, t0);
		}
	}
	{
		/* Accountant: epsilon over the default orders, and calibration,
		 * at a slowly converging setting (large q, small sigma). */
		double eps = 0, order = 0, sigma = 0;
		int reps = 20;

		t0 = now();
		for (int i = 0; i < reps; i++) {
			if (ft_privacy_epsilon(0.3, 1.0, 1000, 1e-5, NULL, 0, &eps, &order) != FT_OK)
				goto out;
		}
		report_ms("epsilon q=0.3 sigma=1 (default orders)", reps, t0);
		t0 = now();
		for (int i = 0; i < reps; i++) {
			if (ft_privacy_epsilon(0.01, 1.1, 10000, 1e-5, NULL, 0, &eps, &order) != FT_OK)
				goto out;
		}
		report_ms("epsilon q=0.01 sigma=1.1 (default orders)", reps, t0);
		t0 = now();
		if (ft_privacy_calibrate_sigma(1.0, 1e-5, 0.3, 1000, NULL, 0, &sigma) != FT_OK)
			goto out;
		report_ms("calibrate eps=1 q=0.3 T=1000", 1, t0);
	}
	rv = 0;
out:
	ft_free(z);
	ft_free(v);
	return rv;
}
