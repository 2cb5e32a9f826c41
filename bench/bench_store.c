/*
 * bench_store.c - times the site store on a synthetic table: CSV parsing
 * alone, import into SQLite (one transaction), and the consent-aware
 * training load.
 *
 *   bench_store [ROWS] [FEATURES]     (defaults 100000 and 10)
 *
 * Patients have 3 records each; every 10th patient has withdrawn consent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ft_store.h"

/* Wall and CPU time since a mark: the machine may be shared, so CPU time
 * is the steadier figure; wall time includes waiting for fsync. */
typedef struct mark {
	uint64_t wall_ms;
	double cpu;
} mark;

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static mark mark_now(void)
{
	mark m = { ft_now_ms(), cpu_now() };

	return m;
}

static void report(const char *what, mark m, double mib)
{
	double wall = (double)(ft_now_ms() - m.wall_ms) / 1000.0;
	double cpu = cpu_now() - m.cpu;

	printf("%s: wall %.3f s, cpu %.3f s", what, wall, cpu);
	if (mib > 0 && cpu > 0)
		printf(" (%.1f MiB/s of cpu)", mib / cpu);
	putchar('\n');
}

int main(int argc, char **argv)
{
	uint64_t rows = 100000, nf = 10;
	mark t0;
	char dir[] = "/tmp/fedtwin-bench-XXXXXX";
	char csv[128], db[128], cmd[160];
	ft_store_import_opts o = { .target = "y", .patient_id = "pid", .consent = "consent",
		                   .dataset = "bench" };
	ft_store_import_result r;
	ft_store_load_stats st;
	ft_model_dataset *ds = NULL;
	ft_store_csv *c = NULL;
	ft_store *s = NULL;
	ft_errmsg e;
	FILE *f;
	int has = 1, rv = 1;
	long size;

	if ((argc > 1 && ft_parse_u64(argv[1], 100000000, &rows) != FT_OK) ||
	    (argc > 2 && ft_parse_u64(argv[2], 4000, &nf) != FT_OK) || rows == 0 || nf == 0) {
		fprintf(stderr, "usage: bench_store [ROWS] [FEATURES]\n");
		return 2;
	}
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(csv, sizeof(csv), "%s/bench.csv", dir);
	snprintf(db, sizeof(db), "%s/site.db", dir);
	f = fopen(csv, "w");
	if (f == NULL)
		return 1;
	fprintf(f, "pid,consent,y");
	for (uint64_t j = 0; j < nf; j++)
		fprintf(f, ",f%llu", (unsigned long long)j);
	fputc('\n', f);
	for (uint64_t i = 0; i < rows; i++) {
		uint64_t p = i / 3;

		fprintf(f, "p%llu,%d,%d", (unsigned long long)p, p % 10 != 0, (int)(i % 2));
		for (uint64_t j = 0; j < nf; j++)
			fprintf(f, ",%.4f", (double)((i * 31 + j * 7) % 1000) / 7.0);
		fputc('\n', f);
	}
	size = ftell(f);
	fclose(f);
	printf("table: %llu rows, %llu features, %.1f MiB\n", (unsigned long long)rows,
	       (unsigned long long)nf, (double)size / 1048576.0);

	t0 = mark_now();
	if (ft_store_csv_open(csv, NULL, &c, &e) != FT_OK)
		goto fail;
	while (has) {
		if (ft_store_csv_next(c, &has, &e) != FT_OK)
			goto fail;
		for (size_t j = 0; has && j < ft_store_csv_columns(c); j++) {
			double v;
			int na;

			if (j > 0 && ft_store_csv_number(c, j, &v, &na, &e) != FT_OK)
				goto fail;
		}
	}
	report("csv parse + numbers", t0, (double)size / 1048576.0);

	if (ft_store_open(db, &s, &e) != FT_OK)
		goto fail;
	t0 = mark_now();
	if (ft_store_import_csv(s, csv, &o, &r, &e) != FT_OK)
		goto fail;
	report("import", t0, (double)size / 1048576.0);
	printf("  %zu rows, %zu patients\n", r.rows, r.patients);
	t0 = mark_now();
	if (ft_store_load_training(s, "bench", &ds, &st, &e) != FT_OK)
		goto fail;
	report("load_training", t0, 0);
	printf("  %zu records of %zu patients, %zu excluded\n", st.records_used, st.patients_used,
	       st.patients_excluded);
	t0 = mark_now();
	if (ft_store_consent_set(s, "p1", 0, "bench", &e) != FT_OK)
		goto fail;
	report("consent revoke", t0, 0);
	rv = 0;
	goto out;
fail:
	fprintf(stderr, "bench_store: %s\n", e.msg);
out:
	ft_model_dataset_free(ds);
	ft_store_close(s);
	ft_store_csv_close(c);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		rv = 1;
	return rv;
}
