/*
 * Reloading and readiness: cmpd tells a notify socket (systemd's
 * NOTIFY_SOCKET protocol) that it is ready, reloading and stopping; on
 * SIGHUP it re-reads its configuration. A file with an error is refused
 * with a log line naming the file and line, and the old configuration
 * stays; a valid file adds profiles at once; a file that removes a profile
 * an unfinished job uses is refused. Jobs waiting at the CA survive every
 * reload and finish. Under journald (JOURNAL_STREAM naming its stderr)
 * every line carries its priority as a <N> prefix.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static struct harness h;
static int notify_fd = -1;

/* The messages cmpd sent to the notify socket since the last call. */
static int
notify_wait(const char *want, int seconds)
{
	char buf[512];

	for (int i = 0; i < seconds * 10; i++) {
		ssize_t n = recv(notify_fd, buf, sizeof(buf) - 1, 0);

		if (n > 0) {
			buf[n] = '\0';
			if (strstr(buf, want) != NULL)
				return 0;
		}
	}
	fprintf(stderr, "no '%s' on the notify socket\n", want);
	return -1;
}

static int
notify_open(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_usec = 100000 };

	/* The harness's directory is short: /tmp/cmpd-itest-NAME-XXXXXX. */
	if (strlen(h.dir) + sizeof("/notify") > sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, h.dir, strlen(h.dir));
	strcat(sa.sun_path, "/notify");
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (notify_fd < 0 ||
	    bind(notify_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    setsockopt(notify_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) !=
	        0)
		return -1;
	return setenv("NOTIFY_SOCKET", sa.sun_path, 1);
}

/* cmpd's log file (the harness appends to it) poses as journald's stream. */
static int
journal_pretend(void)
{
	char path[512], val[64];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/cmpd.log", h.dir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644)) < 0 ||
	    fstat(fd, &st) != 0)
		return -1;
	close(fd);
	snprintf(val, sizeof(val), "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino);
	return setenv("JOURNAL_STREAM", val, 1);
}

static int
setup(void **state)
{
	/* Every request waits at the CA for two polls, two seconds apart. */
	static const char *const ca_args[] = { "--poll", "2", "--check-after",
		"2", NULL };
	int rv;

	(void)state;
	if (harness_init(&h, "reload") != 0 || notify_open() != 0 ||
	    journal_pretend() != 0 || harness_start_ca(&h, ca_args) != 0)
		return -1;
	rv = harness_start_cmpd(&h, NULL);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("JOURNAL_STREAM");
	return rv;
}

static int
teardown(void **state)
{
	(void)state;
	kill(h.cmpd_pid, SIGTERM);
	assert_int_equal(notify_wait("STOPPING=1", 10), 0);
	harness_fini(&h);
	close(notify_fd);
	return 0;
}

static char *
file_read(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = calloc(1, 1 << 16);
	size_t n = 0;

	if (f != NULL && text != NULL) {
		n = fread(text, 1, (1 << 16) - 1, f);
		text[n] = '\0';
	}
	if (f != NULL)
		fclose(f);
	return text;
}

static int
file_lines(const char *path)
{
	char *text = file_read(path);
	int lines = 0;

	for (char *p = text; p != NULL && *p != '\0'; p++)
		lines += *p == '\n';
	free(text);
	return lines;
}

static void
conf_write(const char *text)
{
	FILE *f = fopen(h.conf, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void
conf_append(const char *fmt, ...)
{
	FILE *f = fopen(h.conf, "a");
	va_list ap;

	assert_non_null(f);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	assert_int_equal(fclose(f), 0);
}

/* Sends SIGHUP and waits for the reload to end (READY=1 again). */
static void
reload(void)
{
	assert_int_equal(kill(h.cmpd_pid, SIGHUP), 0);
	assert_int_equal(notify_wait("RELOADING=1", 10), 0);
	assert_int_equal(notify_wait("READY=1", 10), 0);
}

static int
log_has(const char *fmt, ...)
{
	char path[512], want[512], *text;
	va_list ap;
	int found;

	va_start(ap, fmt);
	vsnprintf(want, sizeof(want), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/cmpd.log", h.dir);
	text = file_read(path);
	found = text != NULL && strstr(text, want) != NULL;
	if (!found)
		fprintf(stderr, "not in cmpd's log: %s\n", want);
	free(text);
	return found;
}

/* Starts an enrollment that waits at the CA; returns its job. */
static cmpd_job *
enroll_start(cmpd_client *c, const char *profile)
{
	cmpd_job *job = NULL;

	assert_int_equal(cmpd_enroll(c, profile, NULL, &job), CMPD_RESULT_OK);
	return job;
}

static void
assert_job_done(cmpd_client *c, const cmpd_job *job)
{
	cmpd_job *done = NULL;

	assert_int_equal(
	    cmpd_job_wait(c, cmpd_job_id(job), 60000, &done), CMPD_RESULT_OK);
	assert_int_equal(cmpd_job_state_get(done), CMPD_JOB_STATE_DONE);
	cmpd_job_free(done);
}

static void
test_ready(void **state)
{
	(void)state;
	assert_int_equal(notify_wait("READY=1", 10), 0);
	/* A notice, with journald's priority 5 and no time stamp. */
	assert_true(log_has("<5>cmpd "));
	assert_true(log_has(" serving 5 profiles on "));
}

/* An error is refused with its line; the old profiles and jobs go on. */
static void
test_reload_refuses_errors(void **state)
{
	cmpd_client *c = harness_client(&h);
	cmpd_job *job = enroll_start(c, "mac"), *other = NULL;
	int line = file_lines(h.conf) + 2;

	(void)state;
	conf_append("[profile typo]\nserver http://127.0.0.1/\n");
	reload();
	assert_true(log_has("\n<3>reload: %s:%d: ", h.conf, line));
	assert_true(log_has("keeping the configuration in use"));
	assert_int_equal(
	    cmpd_enroll(c, "typo", NULL, &other), CMPD_RESULT_NOT_FOUND);
	assert_job_done(c, job);
	cmpd_job_free(job);
	cmpd_client_close(c);
}

/* A valid file adds a profile at once, and running jobs go on. */
static void
test_reload_adds_profile(void **state)
{
	cmpd_client *c = harness_client(&h);
	char *text = file_read(h.conf), *bad = strstr(text, "[profile typo]");
	cmpd_job *job = enroll_start(c, "mac"), *added = NULL;

	(void)state;
	*bad = '\0';
	conf_write(text);
	conf_append("[profile added]\n"
	            "server = http://127.0.0.1:%d/pkix/\n"
	            "protection = mac\n"
	            "mac_reference = device-0001\n"
	            "mac_secret = file:%s/mac-secret.txt\n"
	            "enroll_trusted = %s/root.pem\n"
	            "subject = /CN=added.example\n",
	    h.ca_port, h.pki, h.pki);
	reload();
	assert_true(log_has("reload: new profile added"));
	added = enroll_start(c, "added");
	assert_job_done(c, job);
	assert_job_done(c, added);
	cmpd_job_free(added);
	cmpd_job_free(job);
	free(text);
	cmpd_client_close(c);
}

/* A profile that an unfinished job uses cannot go away under it. */
static void
test_reload_keeps_used_profile(void **state)
{
	cmpd_client *c = harness_client(&h);
	char *text = file_read(h.conf), *sect = strstr(text, "[profile added]");
	cmpd_job *job = enroll_start(c, "added");

	(void)state;
	*sect = '\0';
	conf_write(text);
	reload();
	assert_true(log_has("profile added is gone but unfinished jobs use "
	                    "it; keeping the configuration in use"));
	assert_job_done(c, job);
	/* Once the job is over, the same file is taken. */
	reload();
	assert_true(log_has("reload: profile added removed"));
	cmpd_job_free(job);
	free(text);
	cmpd_client_close(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ready),
		cmocka_unit_test(test_reload_refuses_errors),
		cmocka_unit_test(test_reload_adds_profile),
		cmocka_unit_test(test_reload_keeps_used_profile),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
