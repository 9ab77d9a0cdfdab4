/*
 * Polling: the test CA answers "waiting" three times before it issues. The job
 * must go to WAITING with the CA's checkAfter as its next poll time, come
 * back on the broker's timer in the same transaction, and finish.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "checks.h"
#include "harness.h"

static struct harness h;

/* A profile whose jobs may take one second in all. */
static const char polling_conf[] = "[profile hasty]\n"
                                   "server = http://127.0.0.1:%2$d/pkix/\n"
                                   "cert = %1$s/supplier.pem\n"
                                   "trusted = %1$s/root.pem\n"
                                   "subject = /CN=hasty.example\n"
                                   "total_timeout = 1s\n";

static int
setup(void **state)
{
	static const char *const ca_args[] = { "--poll", "3", "--check-after",
		"2", "--threads", "8", NULL };
	char id[33];

	(void)state;
	if (harness_init(&h, "polling") != 0 ||
	    harness_start_ca(&h, ca_args) != 0 ||
	    harness_start_cmpd(&h, polling_conf) != 0 ||
	    harness_import(&h, "supplier.key", id) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	harness_fini(&h);
	return 0;
}

struct seen {
	int waiting;
	int64_t next_poll;
	int states;
};

static void
progress_cb(const cmpd_job *job, void *arg)
{
	struct seen *s = arg;

	s->states++;
	if (cmpd_job_state_get(job) == CMPD_JOB_STATE_WAITING) {
		s->waiting++;
		s->next_poll = cmpd_job_next_poll(job);
	}
}

static void
test_waiting_then_done(void **state)
{
	cmpd_client *c = harness_client(&h);
	cmpd_job *job = NULL, *done = NULL;
	struct seen s = { 0 };
	int64_t started = (int64_t)time(NULL);
	struct timespec t0, t1;

	(void)state;
	assert_non_null(c);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(cmpd_enroll(c, "mac", NULL, &job), CMPD_RESULT_OK);
	assert_int_equal(cmpd_job_wait_progress(c, cmpd_job_id(job), 60000,
	                     progress_cb, &s, &done),
	    CMPD_RESULT_OK);
	assert_true(s.waiting >= 2);
	assert_true(s.next_poll >= started);
	check_issued(&h, done);
	/*
	 * The ip says "waiting" and OpenSSL polls at once; two pollReps say
	 * "waiting" with checkAfter 2, which the broker's timer waits out:
	 * three pollReq in the one transaction.
	 */
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 +
	        (t1.tv_nsec - t0.tv_nsec) / 1000000 >=
	    3950);
	cmpd_job_free(job);
	cmpd_job_free(done);
	cmpd_client_close(c);
}

/* cmpctl shows the waiting state and the next poll while it waits. */
static void
test_cmpctl_wait_progress(void **state)
{
	char out[65536];
	const char *args[] = { "enroll", "--profile", "sig", "--wait", NULL };
	int rc = harness_run(&h, out, sizeof(out), "cmpctl", args);

	(void)state;
	if (rc != 0)
		fail_msg("cmpctl exited %d: %s", rc, out);
	assert_non_null(strstr(out, "waiting"));
	assert_non_null(strstr(out, "done"));
}

/* The CA asks to wait longer than the profile's total_timeout allows. */
static void
test_total_timeout(void **state)
{
	cmpd_job *job = harness_enroll_wait(&h, "hasty", NULL);

	(void)state;
	assert_non_null(job);
	assert_int_equal(cmpd_job_state_get(job), CMPD_JOB_STATE_FAILED);
	assert_int_equal(cmpd_job_error(job), CMPD_RESULT_TIMEOUT);
	if (strstr(cmpd_job_error_text(job), "total_timeout") == NULL)
		fail_msg("error: %s", cmpd_job_error_text(job));
	cmpd_job_free(job);
}

static int
threads_of(pid_t pid)
{
	char path[64], line[256];
	FILE *f;
	int n = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* The networker: the child of cmpd named cmpd-networker. */
static pid_t
networker_pid(void)
{
	char cmd[256], out[32] = "";
	FILE *p;

	snprintf(
	    cmd, sizeof(cmd), "pgrep -P %d -x cmpd-networker", (int)h.cmpd_pid);
	if ((p = popen(cmd, "r")) == NULL)
		return -1;
	if (fgets(out, sizeof(out), p) == NULL)
		out[0] = '\0';
	pclose(p);
	return (pid_t)atoi(out);
}

/*
 * Two hundred jobs wait for the CA at once; none holds a thread: the
 * networker's thread count stays that of an idle networker.
 */
#define MANY 200
static void
test_many_waiting(void **state)
{
	cmpd_client *c = harness_client(&h);
	cmpd_job *jobs[MANY];
	pid_t nw = networker_pid();
	int idle = threads_of(nw), waiting = 0, most = 0;

	(void)state;
	assert_true(nw > 0 && idle > 0);
	for (int i = 0; i < MANY; i++)
		assert_int_equal(
		    cmpd_enroll(c, "mac", NULL, &jobs[i]), CMPD_RESULT_OK);
	/* Jobs start over seconds (ASan, a busy machine): up to a minute. */
	for (int round = 0; round < 3000 && waiting < MANY / 2; round++) {
		cmpd_job_array *all = NULL;

		usleep(20000);
		assert_int_equal(cmpd_job_list(c, "mac", &all), CMPD_RESULT_OK);
		waiting = 0;
		for (size_t i = 0; i < cmpd_job_array_count(all); i++)
			waiting += cmpd_job_state_get(cmpd_job_array_get(
			               all, i)) == CMPD_JOB_STATE_WAITING;
		cmpd_job_array_free(all);
		if (threads_of(nw) > most)
			most = threads_of(nw);
	}
	assert_true(waiting >= MANY / 2);
	assert_true(threads_of(nw) <= idle);
	for (int i = 0; i < MANY; i++) {
		cmpd_job *done = NULL;

		assert_int_equal(
		    cmpd_job_wait(c, cmpd_job_id(jobs[i]), 120000, &done),
		    CMPD_RESULT_OK);
		assert_int_equal(cmpd_job_state_get(done), CMPD_JOB_STATE_DONE);
		cmpd_job_free(done);
		cmpd_job_free(jobs[i]);
	}
	fprintf(stderr,
	    "%d jobs waiting at once; networker threads: %d idle, "
	    "%d at most\n",
	    waiting, idle, most);
	cmpd_client_close(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_waiting_then_done),
		cmocka_unit_test(test_cmpctl_wait_progress),
		cmocka_unit_test(test_total_timeout),
		cmocka_unit_test(test_many_waiting),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
