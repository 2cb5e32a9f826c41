/*
 * bench_sim.c - FLamby Fed-Heart-Disease through `fedtwin simulate`'s
 * engine: test accuracy after R rounds with FedAvg and FedAdam, without DP
 * and with DP at several per-site epsilons (delta 1e-5), over repeated runs
 * (DP noise and fixed-point rounding come from the CSPRNG, so runs differ),
 * and the time per round (wall, of which secure aggregation, and process CPU
 * time) with and without secure aggregation. Wall times on a shared
 * machine include waiting for a core; the CPU time does not.
 *
 * usage: bench_sim [REPEATS [ROUNDS]]   (defaults 10 and 20)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ft_crypto.h"
#include "ft_sim.h"

#ifndef FT_BENCH_DATA_DIR
#define FT_BENCH_DATA_DIR "data"
#endif

typedef struct acc_stats {
	double sum_ms, n_rounds, sec_ms;
} acc_stats;

static void on_round(void *user, const ft_sim_round_report *r)
{
	acc_stats *a = user;

	a->sum_ms += r->wall_ms;
	a->sec_ms += r->secagg_ms;
	a->n_rounds += 1;
}

static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void mean_sd(const double *x, int n, double *m, double *sd)
{
	double s = 0, q = 0;

	for (int i = 0; i < n; i++)
		s += x[i];
	*m = s / n;
	for (int i = 0; i < n; i++)
		q += (x[i] - *m) * (x[i] - *m);
	*sd = n > 1 ? sqrt(q / (n - 1)) : 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *opt;
		uint32_t kind;
	} opts[] = {{"fedavg", FT_MODEL_SERVER_FEDAVG}, {"fedadam", FT_MODEL_SERVER_FEDADAM}};
	static const double eps[] = {0, 1, 4, 10};
	char path[1024], ranges[1024];
	int64_t rep64 = 10, rnd64 = 20;
	int repeats, rounds;

	if (ft_crypto_init() != FT_OK ||
	    (argc > 1 && ft_parse_i64(argv[1], 1, 1000, &rep64) != FT_OK) ||
	    (argc > 2 && ft_parse_i64(argv[2], 1, 10000, &rnd64) != FT_OK)) {
		fprintf(stderr, "usage: bench_sim [REPEATS [ROUNDS]]\n");
		return 2;
	}
	repeats = (int)rep64;
	rounds = (int)rnd64;
	snprintf(path, sizeof(path), "%s/heart_disease_uci/heart_disease_flamby_split.csv",
	         FT_BENCH_DATA_DIR);
	snprintf(ranges, sizeof(ranges), "%s/heart_disease_uci/feature_ranges.txt",
	         FT_BENCH_DATA_DIR);
	printf("FLamby Fed-Heart-Disease, logreg, %d rounds, %d runs each\n", rounds, repeats);
	printf("%-8s %-8s %-7s %-17s %-17s %-9s %-9s %-9s\n", "server", "epsilon", "secagg",
	       "accuracy(pooled)", "accuracy(sites)", "wall-ms", "secagg-ms", "cpu-ms");
	for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
		for (size_t e = 0; e < sizeof(eps) / sizeof(eps[0]); e++) {
			for (int sa = 1; sa >= (eps[e] == 0 ? 0 : 1); sa--) {
				double *acc = calloc((size_t)repeats, sizeof(double));
				double *accs = calloc((size_t)repeats, sizeof(double));
				acc_stats st = {0, 0, 0};
				double m, sd, ms, ss, c0 = cpu_ms(), cpu;

				if (acc == NULL || accs == NULL)
					return 1;
				for (int r = 0; r < repeats; r++) {
					ft_sim_options o;
					ft_sim_summary s;
					ft_errmsg err;

					ft_sim_options_default(&o);
					o.data = path;
					o.target = "disease";
					o.exclude = "num";
					o.categorical = "cp,restecg";
					o.site_column = "site";
					o.split_column = "split";
					o.model = FT_MODEL_LOGREG;
					o.rounds = (uint32_t)rounds;
					o.server_opt = opts[k].kind;
					o.secagg = sa;
					o.seed = (uint64_t)r + 1;
					if (eps[e] > 0) {
						o.dp = 1;
						o.dp_epsilon = eps[e];
						o.dp_delta = 1e-5;
						/* DP covers the standardisation
						 * statistics too (a quarter of
						 * the budget by default). */
						o.feature_ranges = ranges;
					}
					if (ft_sim_run(&o, NULL, on_round, &st, &s, NULL, &err) != FT_OK) {
						fprintf(stderr, "bench_sim: %s\n", err.msg);
						return 1;
					}
					acc[r] = s.last.accuracy;
					accs[r] = s.last.accuracy_sites;
				}
				/* CPU time per round, data loading and standardisation included */
				cpu = (cpu_ms() - c0) / st.n_rounds;
				mean_sd(acc, repeats, &m, &sd);
				mean_sd(accs, repeats, &ms, &ss);
				printf("%-8s %-8s %-7s %.3f +- %.3f     %.3f +- %.3f     %-9.2f %-9.2f %-9.2f\n",
				       opts[k].opt, eps[e] == 0 ? "none" : (eps[e] == 1 ? "1" : eps[e] == 4 ? "4"
				                                                                    : "10"),
				       sa ? "on" : "off", m, sd, ms, ss, st.sum_ms / st.n_rounds,
				       st.sec_ms / st.n_rounds, cpu);
				fflush(stdout);
				free(acc);
				free(accs);
			}
		}
	}
	printf("reference: FLamby pooled 0.776, best federated 0.697\n");
	return 0;
}
