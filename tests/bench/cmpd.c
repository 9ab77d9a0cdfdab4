/*
 * Enrollment through cmpd with libcmpd-client: cmpd_enroll, then
 * cmpd_job_wait until the job is done, which cmpd reports only once the
 * certificate file is written and the store committed. One client
 * connection per thread.
 */
#include <cmpd/client.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "bench.h"
#include "testproc.h"

static void *
cmpd_thread_new(void *arg)
{
	const struct bench_world *w = arg;
	cmpd_client *c = NULL;

	if (cmpd_client_open(w->socket, &c) != CMPD_RESULT_OK) {
		fprintf(stderr, "cmpd-bench: cannot open a client: %s\n",
		    cmpd_client_last_error(NULL));
		return NULL;
	}
	cmpd_client_set_timeout(c, 120000);
	return c;
}

static void
cmpd_thread_free(void *st)
{
	cmpd_client_close(st);
}

static int
cmpd_job_check(cmpd_client *c, const cmpd_job *done)
{
	struct stat sb;
	const char *path = cmpd_job_cert_path(done);

	if (cmpd_job_state_get(done) != CMPD_JOB_STATE_DONE) {
		fprintf(stderr, "cmpd-bench: job %s %s: %s\n",
		    cmpd_job_id(done),
		    cmpd_job_state_name(cmpd_job_state_get(done)),
		    cmpd_job_error_text(done));
		return -1;
	}
	if (path[0] != '\0' && stat(path, &sb) != 0) {
		fprintf(stderr,
		    "cmpd-bench: job %s is done but %s is not "
		    "there\n",
		    cmpd_job_id(done), path);
		return -1;
	}
	(void)c;
	return 0;
}

/* Asks every 20 ms until the job waits for the CA (60 s at most). */
static int
cmpd_until_waiting(cmpd_client *c, const char *id)
{
	for (int i = 0; i < 3000; i++) {
		cmpd_job *now = NULL;
		cmpd_job_state st = CMPD_JOB_STATE_UNKNOWN;

		if (cmpd_job_get(c, id, &now) == CMPD_RESULT_OK)
			st = cmpd_job_state_get(now);
		cmpd_job_free(now);
		if (st == CMPD_JOB_STATE_WAITING)
			return 0;
		if (st == CMPD_JOB_STATE_DONE || st == CMPD_JOB_STATE_FAILED ||
		    st == CMPD_JOB_STATE_UNKNOWN)
			break;
		tp_sleep_ms(20);
	}
	fprintf(stderr, "cmpd-bench: job %s did not reach 'waiting'\n", id);
	return -1;
}

int
bench_cmpd_enroll_profile(
    cmpd_client *c, const char *profile, enum bench_wait wait)
{
	cmpd_job *job = NULL, *done = NULL;
	int rv = -1;

	if (cmpd_enroll(c, profile, NULL, &job) != CMPD_RESULT_OK)
		fprintf(stderr, "cmpd-bench: enroll: %s\n",
		    cmpd_client_last_error(c));
	else if (wait == BENCH_WAIT_NONE)
		rv = 0;
	else if (wait == BENCH_WAIT_WAITING)
		rv = cmpd_until_waiting(c, cmpd_job_id(job));
	else if (cmpd_job_wait(c, cmpd_job_id(job), 120000, &done) !=
	    CMPD_RESULT_OK)
		fprintf(stderr, "cmpd-bench: wait: %s\n",
		    cmpd_client_last_error(c));
	else
		rv = cmpd_job_check(c, done);
	cmpd_job_free(done);
	cmpd_job_free(job);
	return rv;
}

static int
cmpd_enroll_cb(void *st, size_t i)
{
	(void)i;
	return bench_cmpd_enroll_profile(st, "bench", BENCH_WAIT_DONE);
}

void
bench_cmpd_series(const struct bench_world *w, struct bench_series *s)
{
	*s = (struct bench_series){ .name = "cmpd",
		.thread_new = cmpd_thread_new,
		.thread_free = cmpd_thread_free,
		.enroll = cmpd_enroll_cb,
		.arg = (void *)w };
}

/* For scale.c: a thread's client, as the series makes them. */
void *
bench_cmpd_client(const struct bench_world *w)
{
	return cmpd_thread_new((void *)w);
}
