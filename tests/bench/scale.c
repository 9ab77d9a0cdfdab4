/*
 * The --scale mode: cmpd with many tracked certificates and many jobs
 * waiting for the CA. The certificates come from real enrollments at a
 * high concurrency (the store, the key store and the files are then what
 * a long-lived cmpd has); the waiting jobs from a second test CA that
 * answers every request with "waiting" and a checkAfter of ten minutes.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "testproc.h"

struct fill {
	const struct bench_world *w;
	const char *profile;
	enum bench_wait wait;
	size_t n;
	atomic_size_t next;
	atomic_size_t failed;
};

static void *
fill_thread(void *arg)
{
	struct fill *f = arg;
	cmpd_client *c = bench_cmpd_client(f->w);

	while (atomic_fetch_add(&f->next, 1) < f->n)
		if (c == NULL ||
		    bench_cmpd_enroll_profile(c, f->profile, f->wait) != 0)
			atomic_fetch_add(&f->failed, 1);
	cmpd_client_close(c);
	return NULL;
}

/* n enrollments of profile by conc threads, each waiting as wait says. */
static int
fill(const struct bench_world *w, const char *profile, enum bench_wait wait,
    size_t n, unsigned conc)
{
	struct fill f = { .w = w, .profile = profile, .wait = wait, .n = n };
	pthread_t *th = calloc(conc, sizeof(*th));
	unsigned started = 0;

	if (th == NULL)
		return -1;
	for (; started < conc; started++)
		if (pthread_create(&th[started], NULL, fill_thread, &f) != 0)
			break;
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	free(th);
	return started == conc && atomic_load(&f.failed) == 0 ? 0 : -1;
}

/* The largest RSS seen by procs_print, per process (KiB). */
static long rss_max[BENCH_CA];

/* Prints each process's figures; returns their threads in all. */
static long
procs_print(const struct bench_world *w, const char *when)
{
	static const char *const names[] = { "broker", "keyworker",
		"networker" };
	long threads = 0;

	for (int i = 0; i < BENCH_CA; i++) {
		long rss = bench_proc_status(w->pid[i], "VmRSS");
		long n = bench_proc_status(w->pid[i], "Threads");

		printf("SCALE %s %s: VmRSS %ld KiB, VmHWM %ld KiB, threads "
		       "%ld\n",
		    when, names[i], rss, bench_proc_status(w->pid[i], "VmHWM"),
		    n);
		if (rss > rss_max[i])
			rss_max[i] = rss;
		threads += n;
	}
	return threads;
}

static void
target(const char *name, double value, double limit)
{
	printf("TARGET %s: %.2f <= %.2f: %s\n", name, value, limit,
	    value <= limit ? "MET" : "MISSED");
}

static long
files_count(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t sl = strlen(suffix);
	long n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);

		n += l > sl && strcmp(de->d_name + l - sl, suffix) == 0;
	}
	closedir(d);
	return n;
}

/* Times `cmpctl list --json` (its output is read and thrown away). */
static double
list_time(const struct bench_world *w)
{
	char prog[512];
	const char *argv[] = { prog, "--json", "list", NULL };
	double t0;

	snprintf(prog, sizeof(prog), "%s/cmpctl", w->bin);
	setenv("CMPD_SOCKET", w->socket, 1);
	t0 = bench_now();
	if (bench_run_quiet(argv) != 0)
		return -1;
	return bench_now() - t0;
}

static long
certs_count(const struct bench_world *w)
{
	cmpd_client *c = bench_cmpd_client(w);
	cmpd_cert_array *certs = NULL;
	long n = -1;

	if (c != NULL && cmpd_cert_list(c, NULL, &certs) == CMPD_RESULT_OK)
		n = (long)cmpd_cert_array_count(certs);
	else if (c != NULL)
		fprintf(stderr, "cmpd-bench: cert list: %s\n",
		    cmpd_client_last_error(c));
	cmpd_cert_array_free(certs);
	cmpd_client_close(c);
	return n;
}

static int
scale_tracked(struct bench_world *w, size_t tracked, unsigned conc)
{
	char keys[400];
	double t0 = bench_now(), secs, first, list1, list2;

	if (fill(w, "bench", BENCH_WAIT_DONE, tracked, conc) != 0) {
		fprintf(stderr, "cmpd-bench: enrollments failed\n");
		return -1;
	}
	secs = bench_now() - t0;
	snprintf(keys, sizeof(keys), "%s/state/keys", w->dir);
	printf("SCALE enrolled %zu certificates at concurrency %u in %.1f s "
	       "(%.1f/s)\n",
	    tracked, conc, secs, (double)tracked / secs);
	printf("SCALE tracked certificates %ld, key files %ld\n",
	    certs_count(w), files_count(keys, ".key"));
	procs_print(w, "after enrolling");
	list1 = list_time(w);
	printf("SCALE cmpctl list --json: %.3f s\n", list1);
	if (bench_world_stop_cmpd(w) != 0)
		return -1;
	t0 = bench_now();
	if (bench_world_start_cmpd(w) != 0)
		return -1;
	printf("SCALE startup with %zu tracked certificates: %.3f s\n", tracked,
	    w->startup_secs);
	/* Answering is not all: the first enrollment needs the keyworker
	 * and the networker too. */
	if (fill(w, "bench", BENCH_WAIT_DONE, 1, 1) != 0) {
		fprintf(
		    stderr, "cmpd-bench: enrollment after restart failed\n");
		return -1;
	}
	first = bench_now() - t0;
	printf("SCALE first enrollment after restart done %.3f s after "
	       "the start\n",
	    first);
	procs_print(w, "after restart");
	list2 = list_time(w);
	printf("SCALE cmpctl list --json after restart: %.3f s\n", list2);
	procs_print(w, "after list");
	printf("\n");
	target("broker RSS with the tracked certificates, MiB (largest "
	       "seen)",
	    (double)rss_max[BENCH_BROKER] / 1024.0, 32);
	target("keyworker RSS with their keys, MiB (largest seen)",
	    (double)rss_max[BENCH_KEYWORKER] / 1024.0, 16);
	target("startup until the first enrollment is done, s", first, 1.0);
	target("cmpctl list --json, s (slower of two)",
	    list1 > list2 ? list1 : list2, 0.5);
	return 0;
}

/* Counts the jobs in state st; -1 if cmpd does not answer. */
static long
jobs_in(const struct bench_world *w, cmpd_job_state st)
{
	cmpd_client *c = bench_cmpd_client(w);
	cmpd_job_array *jobs = NULL;
	long n = -1;

	if (c != NULL && cmpd_job_list(c, "poll", &jobs) == CMPD_RESULT_OK) {
		n = 0;
		for (size_t i = 0; i < cmpd_job_array_count(jobs); i++)
			n += cmpd_job_state_get(cmpd_job_array_get(jobs, i)) ==
			    st;
	}
	cmpd_job_array_free(jobs);
	cmpd_client_close(c);
	return n;
}

static int
scale_waiting(struct bench_world *w, size_t waiting, unsigned conc)
{
	double t0 = bench_now();
	long n = 0, before = procs_print(w, "before waiting"), after;

	if (fill(w, "poll", BENCH_WAIT_WAITING, waiting, conc) != 0) {
		fprintf(stderr, "cmpd-bench: enrollments failed\n");
		return -1;
	}
	while (bench_now() - t0 < 300 &&
	    (n = jobs_in(w, CMPD_JOB_STATE_WAITING)) < (long)waiting)
		tp_sleep_ms(200);
	printf("SCALE %ld jobs waiting for the CA after %.1f s\n", n,
	    bench_now() - t0);
	after = procs_print(w, "jobs waiting");
	printf("\n");
	/* No thread per job: far fewer new threads than waiting jobs. */
	target("threads added while the jobs wait, per 10 jobs",
	    (double)(after - before) * 10.0 / (double)waiting, 1.0);
	return n == (long)waiting ? 0 : -1;
}

int
bench_scale(
    struct bench_world *w, size_t waiting, size_t tracked, unsigned conc)
{
	if (bench_world_start_ca(w, 0) != 0 ||
	    bench_world_start_ca(w, 1000) != 0 ||
	    bench_world_start_cmpd(w) != 0)
		return -1;
	printf("cmpd-bench --scale: %zu tracked certificates, %zu waiting "
	       "jobs, concurrency %u, cmpd started in %.3f s\n",
	    tracked, waiting, conc, w->startup_secs);
	procs_print(w, "at start");
	if (tracked > 0 && scale_tracked(w, tracked, conc) != 0)
		return -1;
	if (waiting > 0 && scale_waiting(w, waiting, conc) != 0)
		return -1;
	return 0;
}
