/*
 * bench_models.c - speed and utility of the site's training:
 *   1. examples per CPU-second of DP-SGD against non-private training of the
 *      same model in the same run, and their ratio: logistic regression on
 *      WDBC, and an MLP 30-300-300-1 (99,901 parameters) on WDBC rows
 *      resampled (seeded, with replacement) to 16384 units, because DP-SGD
 *      adds noise to every parameter once per step and so needs batches of
 *      hundreds of units to amortise it, more than WDBC has;
 *   2. the privacy-utility curve of DP-SGD logistic regression on WDBC
 *      (standardised, seeded 75/25 split) for epsilon in {0.5, 1, 2, 4, 8},
 *      delta = 1e-5, over several runs each.
 * Usage: bench_models [runs-per-epsilon]   (data from $FT_DATA_DIR or the
 * source tree's data/). Results go to docs/BENCHMARKS.md by hand.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ft_crypto.h"
#include "ft_model.h"
#include "ft_privacy.h"
#include "model_csv.h"

#ifndef FT_BENCH_DATA_DIR
#define FT_BENCH_DATA_DIR "data"
#endif

static void load_wdbc(ft_model_dataset **train, ft_model_dataset **test)
{
	const char *dir = getenv("FT_DATA_DIR");
	char path[512];
	csv_table t;
	ft_model_dataset *all;

	snprintf(path, sizeof(path), "%s/wdbc_breast_cancer/wdbc_breast_cancer.csv",
	         dir != NULL ? dir : FT_BENCH_DATA_DIR);
	csv_load(path, &t);
	all = csv_dataset(&t, "malignant", NULL, NULL, NULL, NULL);
	csv_split(all, 0.75, 42, train, test);
	csv_standardise(*train, *test);
	ft_model_dataset_free(all);
	csv_free(&t);
}

/* n rows drawn with replacement from ds (splitmix64, fixed seed). */
static ft_model_dataset *resample(const ft_model_dataset *ds, size_t n)
{
	size_t *idx = malloc(n * sizeof(size_t));
	uint64_t s = 2024;
	ft_model_dataset *out;

	if (idx == NULL)
		exit(1);
	for (size_t i = 0; i < n; i++) {
		uint64_t z = (s += 0x9e3779b97f4a7c15ull);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		idx[i] = (size_t)((z ^ (z >> 31)) % ds->n_rows);
	}
	out = csv_subset(ds, idx, n);
	free(idx);
	return out;
}

static ft_model *new_model(const ft_model_spec *s)
{
	ft_model *m = NULL;
	uint8_t seed[32] = { 42 };
	ft_errmsg e;

	if (ft_model_alloc(s, &m, &e) != FT_OK || ft_model_init(m, seed) != FT_OK) {
		fprintf(stderr, "model: %s\n", e.msg);
		exit(1);
	}
	return m;
}

/* Process CPU time in seconds: on a shared machine it is disturbed far less
 * by other jobs than wall time. */
static double cpu_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Trains a fresh model; returns examples (rows of the units used) per
 * CPU-second. */
static double throughput(const ft_model_spec *s, const ft_model_dataset *ds,
                         const ft_model_train_config *c, double *secs)
{
	ft_model *m = new_model(s);
	ft_model_train_report rep;
	ft_errmsg e;
	double t0 = cpu_secs(), t1;

	if (ft_model_train(m, ds, c, &rep, &e) != FT_OK) {
		fprintf(stderr, "train: %s\n", e.msg);
		exit(1);
	}
	t1 = cpu_secs();
	ft_model_free(m);
	*secs = t1 - t0;
	return (double)rep.units_sampled / (*secs > 0 ? *secs : 1e-6);
}

/* Best of three interleaved runs of each: the machine is shared, and the
 * fastest run is the one least disturbed by other work. */
static void speed(const char *name, const ft_model_spec *s, const ft_model_dataset *ds,
                  uint32_t epochs, uint32_t batch)
{
	ft_model_train_config c, d, z;
	double plain = 0, dp = 0, clip_only = 0, ts;

	ft_model_train_config_default(&c);
	/* A learning rate so small that both runs stay near the initial
	 * model: the cost of a step depends on the parameters (tanh's cost
	 * depends on its argument, zero deltas are skipped), and the two
	 * trainings must do the same arithmetic for the ratio to measure
	 * DP-SGD's own overhead. */
	c.lr = 1e-6;
	c.epochs = epochs;
	c.batch_units = batch;
	d = c;
	d.dp.enabled = 1;
	d.dp.clip = 1.0;
	d.dp.sigma = 1.0;
	/* Sampling and clipping without the noise: DP-SGD's overhead in this
	 * module, apart from the noise sampler's. */
	z = d;
	z.dp.sigma = 0;
	for (int rep = 0; rep < 3; rep++) {
		plain = fmax(plain, throughput(s, ds, &c, &ts));
		dp = fmax(dp, throughput(s, ds, &d, &ts));
		clip_only = fmax(clip_only, throughput(s, ds, &z, &ts));
	}
	printf("%-26s batch %4u: non-private %9.0f ex/CPU-s, DP-SGD %9.0f ex/CPU-s, ratio %.2f"
	       " (without noise: %.2f)\n", name, batch, plain, dp, dp / plain, clip_only / plain);
}

int main(int argc, char **argv)
{
	ft_model_dataset *train = NULL, *test = NULL;
	ft_model_spec logreg = { FT_MODEL_LOGREG, 30, 2, 0, { 0 }, FT_MODEL_ACT_NONE };
	ft_model_spec mlp = { FT_MODEL_MLP, 30, 2, 2, { 300, 300 }, FT_MODEL_ACT_TANH };
	const double eps_list[] = { 0.5, 1, 2, 4, 8 };
	const uint32_t epochs = 15, batch = 64;
	int64_t runs = 10;

	if (argc > 1 && ft_parse_i64(argv[1], 1, 100000, &runs) != FT_OK) {
		fprintf(stderr, "usage: bench_models [runs-per-epsilon (1..100000)]\n");
		return 2;
	}
	if (ft_crypto_init() != FT_OK)
		return 1;
	load_wdbc(&train, &test);
	{
		/* The noise is a fixed cost per step: one call per step over
		 * every parameter. */
		static float v[99901];
		const size_t sizes[2] = { 31, 99901 };

		for (int k = 0; k < 2; k++) {
			int calls = k == 0 ? 20000 : 40;
			double t0 = cpu_secs();

			for (int i = 0; i < calls; i++)
				if (ft_privacy_noise_add(v, sizes[k], 1.0) != FT_OK)
					return 1;
			printf("ft_privacy_noise_add(%zu floats): %.1f CPU-us per call\n", sizes[k],
			       (cpu_secs() - t0) * 1e6 / calls);
			memset(v, 0, sizeof(v));
		}
	}
	printf("== throughput (WDBC train: %zu units, one row each) ==\n", train->n_units);
	speed("logreg (31 params)", &logreg, train, 3000, 64);
	speed("logreg (31 params)", &logreg, train, 3000, 256);
	{
		ft_model_dataset *big = resample(train, 16384);

		printf("== throughput, MLP on WDBC resampled to %zu units ==\n", big->n_units);
		speed("mlp 30-300-300-1 (99901)", &mlp, big, 1, 256);
		speed("mlp 30-300-300-1 (99901)", &mlp, big, 1, 1024);
		speed("mlp 30-300-300-1 (99901)", &mlp, big, 1, 2048);
		ft_model_dataset_free(big);
	}

	printf("\n== privacy-utility, DP-SGD logreg on WDBC (delta 1e-5, %u epochs, batch %u, C 1, lr 0.5, %d runs) ==\n",
	       epochs, batch, (int)runs);
	{
		ft_model *m = new_model(&logreg);
		ft_model_train_config c;
		ft_model_eval ev;

		ft_model_train_config_default(&c);
		c.lr = 0.5;
		c.epochs = epochs;
		c.batch_units = batch;
		if (ft_model_train(m, train, &c, NULL, NULL) != FT_OK ||
		    ft_model_evaluate(m, test, &ev, NULL) != FT_OK)
			return 1;
		printf("non-private (same settings): accuracy %.4f AUC %.4f\n", ev.accuracy, ev.auc);
		ft_model_free(m);
	}
	for (size_t k = 0; k < sizeof(eps_list) / sizeof(eps_list[0]); k++) {
		double q = (double)batch / (double)train->n_units, sigma = 0;
		uint64_t steps = (uint64_t)epochs * ((train->n_units + batch - 1) / batch);
		double sum = 0, sum2 = 0, lo = 1, hi = 0, auc = 0;

		if (ft_privacy_calibrate_sigma(eps_list[k], 1e-5, q, steps, NULL, 0, &sigma) != FT_OK)
			return 1;
		for (int r = 0; r < runs; r++) {
			ft_model *m = new_model(&logreg);
			ft_model_train_config c;
			ft_model_eval ev;

			ft_model_train_config_default(&c);
			c.lr = 0.5;
			c.epochs = epochs;
			c.batch_units = batch;
			c.dp.enabled = 1;
			c.dp.clip = 1.0;
			c.dp.sigma = sigma;
			if (ft_model_train(m, train, &c, NULL, NULL) != FT_OK ||
			    ft_model_evaluate(m, test, &ev, NULL) != FT_OK)
				return 1;
			sum += ev.accuracy;
			sum2 += ev.accuracy * ev.accuracy;
			auc += ev.auc / (double)runs;
			lo = fmin(lo, ev.accuracy);
			hi = fmax(hi, ev.accuracy);
			ft_model_free(m);
		}
		printf("eps %4.1f: sigma %.4f q %.4f steps %llu: accuracy mean %.4f sd %.4f min %.4f max %.4f, AUC mean %.4f\n",
		       eps_list[k], sigma, q, (unsigned long long)steps, sum / (double)runs,
		       sqrt(fmax(0, sum2 / (double)runs - (sum / (double)runs) * (sum / (double)runs))),
		       lo, hi, auc);
	}
	ft_model_dataset_free(train);
	ft_model_dataset_free(test);
	return 0;
}
