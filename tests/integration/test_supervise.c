/*
 * cmpd's processes look after each other: a worker killed with SIGKILL is
 * restarted and the next enrollment works; workers leave when the broker
 * is killed; SIGTERM stops everything cleanly (harness_fini asserts it).
 * And cmpd runs as an ordinary user with a state directory of its own.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "checks.h"
#include "harness.h"

#define NOBODY 65534

static struct harness h;

/* The pid of the process named comm whose parent is ppid, or -1. */
static pid_t
child_named(pid_t ppid, const char *comm)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	pid_t found = -1;

	while (d != NULL && (de = readdir(d)) != NULL && found < 0) {
		char path[300], buf[512], name[64], *p;
		FILE *f;
		int pp = 0;

		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) != NULL &&
		    (p = strrchr(buf, ')')) != NULL &&
		    sscanf(p + 2, "%*c %d", &pp) == 1 && pp == (int)ppid &&
		    sscanf(buf, "%*d (%63[^)])", name) == 1 &&
		    strcmp(name, comm) == 0)
			found = atoi(de->d_name);
		fclose(f);
	}
	if (d != NULL)
		closedir(d);
	return found;
}

/* Waits up to 10 s for a child comm of cmpd other than old. */
static pid_t
new_child(const char *comm, pid_t old)
{
	for (int i = 0; i < 400; i++) {
		pid_t p = child_named(h.cmpd_pid, comm);

		if (p > 0 && p != old)
			return p;
		usleep(25000);
	}
	return -1;
}

static int
start(uid_t uid)
{
	char id[33];

	if (harness_init(&h, "supervise") != 0 ||
	    harness_start_ca(&h, NULL) != 0)
		return -1;
	h.cmpd_uid = uid;
	if (uid != 0 &&
	    harness_sh("chown -R %u:%u '%s'", (unsigned)uid, (unsigned)uid,
	        h.dir) != 0)
		return -1;
	if (harness_start_cmpd(&h, NULL) != 0 ||
	    harness_import(&h, "supplier.key", id) != 0)
		return -1;
	return 0;
}

static int
setup(void **state)
{
	(void)state;
	return start(0);
}

static int
teardown(void **state)
{
	(void)state;
	harness_fini(&h);
	return 0;
}

static void
enroll_ok(void)
{
	cmpd_job *job = harness_enroll_wait(&h, "sig", NULL);

	assert_non_null(job);
	check_issued(&h, job);
	cmpd_job_free(job);
}

static void
kill_and_recover(const char *comm)
{
	pid_t old = new_child(comm, -1), now;

	assert_true(old > 0);
	assert_int_equal(kill(old, SIGKILL), 0);
	now = new_child(comm, old);
	assert_true(now > 0);
	enroll_ok();
	assert_int_equal(kill(h.cmpd_pid, 0), 0); /* the broker lives on */
}

static void
test_networker_restarted(void **state)
{
	(void)state;
	enroll_ok();
	kill_and_recover("cmpd-networker");
}

static void
test_keyworker_restarted(void **state)
{
	(void)state;
	kill_and_recover("cmpd-keyworker");
}

/* Killing the broker leaves no worker behind. */
static void
test_workers_follow_broker(void **state)
{
	pid_t kw = new_child("cmpd-keyworker", -1);
	pid_t nw = new_child("cmpd-networker", -1);
	int gone = 0;

	(void)state;
	assert_true(kw > 0 && nw > 0);
	assert_int_equal(kill(h.cmpd_pid, SIGKILL), 0);
	waitpid(h.cmpd_pid, NULL, 0);
	for (int i = 0; i < 200 && !gone; i++) {
		gone = kill(kw, 0) != 0 && errno == ESRCH && kill(nw, 0) != 0 &&
		    errno == ESRCH;
		usleep(25000);
	}
	assert_true(gone);
	/* Start again on the same state: the store and keys are there. */
	assert_int_equal(harness_start_cmpd(&h, NULL), 0);
	enroll_ok();
}

/* An ordinary user runs cmpd with its own state directory. */
static void
test_unprivileged(void **state)
{
	struct stat st;
	pid_t kw;
	char status[64], line[256];
	FILE *f;
	int uid = -1;

	(void)state;
	if (geteuid() != 0) {
		/* The whole suite already runs as an ordinary user. */
		enroll_ok();
		return;
	}
	harness_fini(&h);
	assert_int_equal(start(NOBODY), 0);
	enroll_ok();
	kw = new_child("cmpd-keyworker", -1);
	assert_true(kw > 0);
	snprintf(status, sizeof(status), "/proc/%d/status", (int)kw);
	assert_non_null(f = fopen(status, "r"));
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Uid: %d", &uid) == 1)
			break;
	fclose(f);
	assert_int_equal(uid, NOBODY);
	assert_int_equal(stat(h.keys, &st), 0);
	assert_int_equal(st.st_uid, NOBODY);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_networker_restarted),
		cmocka_unit_test(test_keyworker_restarted),
		cmocka_unit_test(test_workers_follow_broker),
		cmocka_unit_test(test_unprivileged),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
