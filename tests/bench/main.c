/*
 * cmpd-bench: the figures of issue 7, from one run on this machine.
 *
 *   cmpd-bench [--n N] [--key ec-p256|rsa2048|ed25519] [--pool SPEC]
 *              [--ca-threads N] [--bin DIR] [--keep] [--cmpd-only]
 *   cmpd-bench --scale [--waiting N] [--tracked N] [--conc N] ...
 *
 * Starts a test PKI, cmpd-testca and cmpd in a private directory, then
 * runs N enrollments at concurrency 1 and 16 through cmpd, through
 * OpenSSL's CMP client in this process and as `openssl cmp` processes,
 * and prints a table, the ratios and the targets. Lines starting with
 * "RESULT" and "TARGET" are for programs (key=value). Exit status 0 when
 * every enrollment succeeded (whether targets are met or not), 1 when
 * one failed, 2 on a usage error.
 */
#include <getopt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "testproc.h"

struct args {
	size_t n;
	const char *key;
	const char *pool;
	const char *bin;
	unsigned ca_threads;
	int keep;
	int scale;
	int cmpd_only; /* only cmpd's series, without targets (profiling) */
	size_t waiting, tracked;
	unsigned conc;
};

static const char *const proc_names[BENCH_PROC_MAX] = { "broker", "keyworker",
	"networker", "CA" };

static void
usage(void)
{
	fprintf(stderr,
	    "usage: cmpd-bench [--n N] [--key ec-p256|rsa2048|ed25519] "
	    "[--pool SPEC] [--ca-threads N] [--bin DIR] [--keep]\n"
	    "                  [--cmpd-only]\n"
	    "       cmpd-bench --scale [--waiting N] [--tracked N] "
	    "[--conc N] [--bin DIR] [--keep]\n");
}

static int
key_ok(const char *k)
{
	return strcmp(k, "ec-p256") == 0 || strcmp(k, "rsa2048") == 0 ||
	    strcmp(k, "ed25519") == 0;
}

static int
args_parse(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = { { "n", 1, NULL, 'n' },
		{ "key", 1, NULL, 'k' }, { "pool", 1, NULL, 'p' },
		{ "bin", 1, NULL, 'b' }, { "ca-threads", 1, NULL, 't' },
		{ "keep", 0, NULL, 'K' }, { "scale", 0, NULL, 's' },
		{ "waiting", 1, NULL, 'w' }, { "tracked", 1, NULL, 'r' },
		{ "conc", 1, NULL, 'c' }, { "cmpd-only", 0, NULL, 'o' },
		{ NULL, 0, NULL, 0 } };
	int c;

	*a = (struct args){ .n = 200,
		.key = "ec-p256",
		.ca_threads = 8,
		.waiting = 1000,
		.tracked = 10000,
		.conc = 32 };
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'n')
			a->n = strtoul(optarg, NULL, 10);
		else if (c == 'k')
			a->key = optarg;
		else if (c == 'p')
			a->pool = optarg;
		else if (c == 'b')
			a->bin = optarg;
		else if (c == 't')
			a->ca_threads = (unsigned)strtoul(optarg, NULL, 10);
		else if (c == 'K')
			a->keep = 1;
		else if (c == 's')
			a->scale = 1;
		else if (c == 'w')
			a->waiting = strtoul(optarg, NULL, 10);
		else if (c == 'r')
			a->tracked = strtoul(optarg, NULL, 10);
		else if (c == 'c')
			a->conc = (unsigned)strtoul(optarg, NULL, 10);
		else if (c == 'o')
			a->cmpd_only = 1;
		else
			return -1;
	}
	return optind == argc && a->n > 0 && a->ca_threads > 0 && a->conc > 0 &&
	        key_ok(a->key)
	    ? 0
	    : -1;
}

/* The directory of this executable, where the build puts cmpd too. */
static char *
bin_dir(void)
{
	static char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return NULL;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) != NULL)
		*slash = '\0';
	return self;
}

static void
result_print(const struct bench_result *r, int cmpd)
{
	printf("%-12s %4u %5zu %8.1f %7.2f %7.2f %7.2f |", r->name, r->conc,
	    r->n, r->rate, r->p50, r->p90, r->p99);
	for (int i = 0; i < BENCH_PROC_MAX; i++)
		if (cmpd || i == BENCH_CA)
			printf(" %8.3f", r->cpu_ms[i]);
		else
			printf(" %8s", "-");
	printf(" %8.3f", r->client_cpu_ms);
	if (cmpd)
		printf(" | %6ld %6ld %6ld", r->hwm_kib[BENCH_BROKER],
		    r->hwm_kib[BENCH_KEYWORKER], r->hwm_kib[BENCH_NETWORKER]);
	printf("\n");
}

static void
result_machine(const struct bench_result *r)
{
	printf("RESULT series=%s conc=%u n=%zu failed=%zu secs=%.3f "
	       "rate=%.2f p50=%.3f p90=%.3f p99=%.3f",
	    r->name, r->conc, r->n, r->failed, r->secs, r->rate, r->p50, r->p90,
	    r->p99);
	for (int i = 0; i < BENCH_PROC_MAX; i++)
		printf(" cpu_%s=%.3f", proc_names[i], r->cpu_ms[i]);
	printf(" cpu_client=%.3f", r->client_cpu_ms);
	for (int i = 0; i < BENCH_CA; i++)
		printf(" hwm_%s=%ld", proc_names[i], r->hwm_kib[i]);
	printf("\n");
}

static void
target(const char *name, double value, const char *rel, double limit)
{
	int met = rel[0] == '>' ? value >= limit : value <= limit;

	printf("TARGET %s: %.2f %s %.2f: %s\n", name, value, rel, limit,
	    met ? "MET" : "MISSED");
}

/* r: cmpd c1, c16, in-process c1, c16, CLI c1, c16. */
static void
report(const struct args *a, const struct bench_result *r)
{
	printf("\n%-12s %4s %5s %8s %7s %7s %7s | CPU ms per enrollment:"
	       "                     | peak RSS KiB\n",
	    "series", "conc", "n", "enr/s", "p50 ms", "p90 ms", "p99 ms");
	printf("%-12s %4s %5s %8s %7s %7s %7s | %8s %8s %8s %8s %8s | %6s "
	       "%6s %6s\n",
	    "", "", "", "", "", "", "", "broker", "keywrkr", "netwrkr", "CA",
	    "client", "broker", "keywkr", "netwkr");
	for (int i = 0; i < 6; i++)
		result_print(&r[i], i < 2);
	printf("\n");
	for (int i = 0; i < 6; i++)
		result_machine(&r[i]);
	printf("\nratios (cmpd / in-process, cmpd / openssl CLI):\n");
	for (int c = 0; c < 2; c++)
		printf("  conc %2u: throughput %.2f, %.2f; p50 latency %.2f, "
		       "%.2f\n",
		    r[c].conc, r[c].rate / r[2 + c].rate,
		    r[c].rate / r[4 + c].rate, r[c].p50 / r[2 + c].p50,
		    r[c].p50 / r[4 + c].p50);
	printf("\n");
	if (strcmp(a->key, "ec-p256") == 0) {
		target("throughput c16 / in-process c16", r[1].rate / r[3].rate,
		    ">=", 0.8);
		target("throughput c16 / openssl CLI c16",
		    r[1].rate / r[5].rate, ">=", 3.0);
		target("latency p50 c1 / in-process p50 c1",
		    r[0].p50 / r[2].p50, "<=", 1.5);
	} else if (strcmp(a->key, "rsa2048") == 0) {
		target("latency p50 c1 / in-process p50 c1 (pre-generated "
		       "keys)",
		    r[0].p50 / r[2].p50, "<=", 2.0);
	}
}

/*
 * Waits until the keyworker has used no CPU for half a second: its key
 * pool is full again, so every series starts from the same state.
 */
static void
keyworker_settle(const struct bench_world *w)
{
	uint64_t last = bench_proc_ticks(w->pid[BENCH_KEYWORKER]);
	int quiet = 0;

	for (int i = 0; i < 1200 && quiet < 5; i++) {
		uint64_t now;

		tp_sleep_ms(100);
		now = bench_proc_ticks(w->pid[BENCH_KEYWORKER]);
		quiet = now == last ? quiet + 1 : 0;
		last = now;
	}
}

static int
series_cmpd(struct bench_world *w, const struct args *a, struct bench_result *r)
{
	struct bench_series s;
	cmpd_client *c = bench_cmpd_client(w);
	int rv = 0;

	/* One enrollment first: connections and caches warm up. */
	if (c == NULL ||
	    bench_cmpd_enroll_profile(c, "bench", BENCH_WAIT_DONE) != 0)
		rv = -1;
	cmpd_client_close(c);
	bench_cmpd_series(w, &s);
	for (int i = 0; rv == 0 && i < 2; i++) {
		keyworker_settle(w);
		rv = bench_run(w, &s, a->n, i == 0 ? 1 : 16, &r[i]);
	}
	return rv;
}

static int
series_ossl(struct bench_world *w, const struct args *a, struct bench_result *r)
{
	/* RSA keys take 50-600 ms to make: the reference gets its keys
	 * made in advance too, as cmpd's pool makes them. */
	int pregen = strcmp(a->key, "rsa2048") == 0;
	int rv = 0;

	for (int i = 0; rv == 0 && i < 2; i++) {
		struct bench_ossl *o = NULL;
		struct bench_series s;

		if (bench_ossl_new(w, pregen, a->n, &o) != 0)
			return -1;
		bench_ossl_series(o, &s);
		rv = bench_run(w, &s, a->n, i == 0 ? 1 : 16, &r[i]);
		bench_ossl_free(o);
	}
	return rv;
}

static int
series_cli(struct bench_world *w, const struct args *a, struct bench_result *r)
{
	int rv = 0;

	for (int i = 0; rv == 0 && i < 2; i++) {
		struct bench_cli *c = NULL;
		struct bench_series s;

		if (bench_cli_new(w, a->n, &c) != 0)
			return -1;
		bench_cli_series(c, &s);
		rv = bench_run(w, &s, a->n, i == 0 ? 1 : 16, &r[i]);
		bench_cli_free(c);
	}
	return rv;
}

static int
bench_main(struct bench_world *w, const struct args *a)
{
	struct bench_result r[6] = { 0 };
	char pool[64];

	if (a->pool == NULL) {
		snprintf(pool, sizeof(pool), "%s:%zu", a->key,
		    a->n < 256 ? a->n : 256);
		w->key_pool = pool;
	}
	if (bench_world_start_ca(w, 0) != 0 || bench_world_start_cmpd(w) != 0)
		return -1;
	printf("cmpd-bench: %zu enrollments per series, new keys %s, "
	       "cmpd key_pool \"%s\", test CA with %u threads, %ld CPUs, %s\n",
	    a->n, a->key, w->key_pool, w->ca_threads,
	    sysconf(_SC_NPROCESSORS_ONLN), OpenSSL_version(OPENSSL_VERSION));
	printf("in-process keys: %s; openssl CLI keys: made before the "
	       "clock runs\n",
	    strcmp(a->key, "rsa2048") == 0 ? "made before the clock runs"
	                                   : "fresh, timed");
	fflush(stdout);
	if (a->cmpd_only) {
		if (series_cmpd(w, a, &r[0]) != 0)
			return -1;
		for (int i = 0; i < 2; i++) {
			result_print(&r[i], 1);
			result_machine(&r[i]);
		}
		return 0;
	}
	if (series_cmpd(w, a, &r[0]) != 0 || series_ossl(w, a, &r[2]) != 0 ||
	    series_cli(w, a, &r[4]) != 0) {
		fprintf(stderr, "cmpd-bench: a series failed\n");
		return -1;
	}
	report(a, r);
	return 0;
}

int
main(int argc, char **argv)
{
	struct args a;
	struct bench_world w = { 0 };
	int rv;

	if (args_parse(argc, argv, &a) != 0) {
		usage();
		return 2;
	}
	if (a.bin == NULL && (a.bin = bin_dir()) == NULL)
		return 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	w.key_type = a.key;
	w.key_pool = a.pool != NULL ? a.pool : "";
	w.ca_threads = a.ca_threads;
	if (bench_world_init(&w, a.bin) != 0)
		return 1;
	if (a.scale)
		rv = bench_scale(&w, a.waiting, a.tracked, a.conc);
	else
		rv = bench_main(&w, &a);
	if (bench_world_fini(&w, a.keep || rv != 0) != 0)
		rv = -1;
	return rv == 0 ? 0 : 1;
}
