/*
 * N enrollments at a concurrency: conc threads take the next enrollment
 * until N are done. The clock starts once every thread has set up its
 * state (a client connection, a CMP context), so a series measures only
 * enrollments.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench.h"

struct run {
	const struct bench_series *s;
	size_t n;
	atomic_size_t next;
	atomic_size_t failed;
	double *lat;             /* ms, per enrollment */
	pthread_barrier_t ready; /* every thread has its state */
	pthread_barrier_t start; /* the clock runs */
};

static void *
run_thread(void *arg)
{
	struct run *r = arg;
	void *st =
	    r->s->thread_new != NULL ? r->s->thread_new(r->s->arg) : r->s->arg;
	size_t i;

	pthread_barrier_wait(&r->ready);
	pthread_barrier_wait(&r->start);
	while ((i = atomic_fetch_add(&r->next, 1)) < r->n) {
		double t0 = bench_now();

		if (st == NULL || r->s->enroll(st, i) != 0)
			atomic_fetch_add(&r->failed, 1);
		r->lat[i] = (bench_now() - t0) * 1000.0;
	}
	if (r->s->thread_new != NULL && st != NULL)
		r->s->thread_free(st);
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The nearest-rank percentile of the sorted v. */
static double
pct(const double *v, size_t n, double p)
{
	size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);

	if (n == 0)
		return 0;
	return v[(k == 0 ? 1 : k > n ? n : k) - 1];
}

static void
figures(const struct bench_world *w, const struct bench_cpu *a,
    const struct bench_cpu *b, struct bench_result *res)
{
	double tick_ms = 1000.0 / (double)sysconf(_SC_CLK_TCK);
	double n = (double)res->n;

	for (int i = 0; i < BENCH_PROC_MAX; i++) {
		res->cpu_ms[i] =
		    (double)(b->ticks[i] - a->ticks[i]) * tick_ms / n;
		res->hwm_kib[i] = bench_proc_status(w->pid[i], "VmHWM");
	}
	res->client_cpu_ms = (double)(b->self_us - a->self_us) / 1000.0 / n;
}

int
bench_run(const struct bench_world *w, const struct bench_series *s, size_t n,
    unsigned conc, struct bench_result *res)
{
	struct run r = { .s = s, .n = n };
	pthread_t *th = calloc(conc, sizeof(*th));
	struct bench_cpu a, b;
	double t0;
	unsigned started = 0;

	r.lat = calloc(n, sizeof(*r.lat));
	if (th == NULL || r.lat == NULL) {
		free(th);
		free(r.lat);
		return -1;
	}
	pthread_barrier_init(&r.ready, NULL, conc + 1);
	pthread_barrier_init(&r.start, NULL, conc + 1);
	for (; started < conc; started++)
		if (pthread_create(&th[started], NULL, run_thread, &r) != 0)
			abort();
	pthread_barrier_wait(&r.ready);
	bench_hwm_reset(w);
	bench_cpu_read(w, &a);
	t0 = bench_now();
	pthread_barrier_wait(&r.start);
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	res->secs = bench_now() - t0;
	bench_cpu_read(w, &b);
	pthread_barrier_destroy(&r.ready);
	pthread_barrier_destroy(&r.start);

	*res = (struct bench_result){ .name = s->name,
		.conc = conc,
		.n = n,
		.failed = atomic_load(&r.failed),
		.secs = res->secs };
	res->rate = (double)n / res->secs;
	qsort(r.lat, n, sizeof(*r.lat), cmp_double);
	res->p50 = pct(r.lat, n, 50);
	res->p90 = pct(r.lat, n, 90);
	res->p99 = pct(r.lat, n, 99);
	figures(w, &a, &b, res);
	free(r.lat);
	free(th);
	return res->failed == 0 ? 0 : -1;
}
