/*
 * Polling: the test CA answers "waiting" twice before it issues. The job
 * must go to WAITING with the CA's checkAfter as its next poll time, come
 * back on the broker's timer in the same transaction, and finish.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "checks.h"
#include "harness.h"

static struct harness h;

static int
setup(void **state)
{
	static const char *const ca_args[] = { "--poll", "2", "--check-after",
		"1", NULL };
	char id[33];

	(void)state;
	if (harness_init(&h, "polling") != 0 ||
	    harness_start_ca(&h, ca_args) != 0 ||
	    harness_start_cmpd(&h, NULL) != 0 ||
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
	assert_true(s.waiting >= 1);
	assert_true(s.next_poll >= started);
	check_issued(&h, done);
	/*
	 * The ip says "waiting" and OpenSSL polls at once; the pollRep says
	 * "waiting" with checkAfter 1, which the broker's timer waits out.
	 */
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 +
	        (t1.tv_nsec - t0.tv_nsec) / 1000000 >=
	    950);
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_waiting_then_done),
		cmocka_unit_test(test_cmpctl_wait_progress),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
