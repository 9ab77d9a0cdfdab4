/*
 * cmpd against a CA that misbehaves on purpose: cmpd-hostile (tests/hostile)
 * passes the real test CA's answers on, changed in one way per mode, or
 * answers badly at the HTTP level. Each case must fail its job with a
 * reason a person can act on, write no certificate file, and leave cmpd
 * serving: after each case a job against the real test CA succeeds.
 */
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "checks.h"
#include "harness.h"

/* A hostile mode is short-lived: each message waits at most 4 s. */
#define HOSTILE_MSG_TIMEOUT "4s"
#define N_ELEMS(a)          (sizeof(a) / sizeof((a)[0]))

static struct harness h;
static pid_t hostile_pid;
static int hostile_port;

/* The modes with a profile each; badmac needs MAC protection. */
static const char *const sig_modes[] = { "ok", "tid", "nonce", "unprotected",
	"untrusted", "garbage", "truncated", "oversized", "http500", "http404",
	"redirect", "ctype", "silent", "trickle" };
static const char *const mac_modes[] = { "ok-mac", "badmac" };

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int
hostile_start(void)
{
	char path[512], portfile[512], log[512], port[16], *text;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/cmpd-hostile", h.bin);
	snprintf(portfile, sizeof(portfile), "%s/hostile.port", h.dir);
	snprintf(log, sizeof(log), "%s/hostile.log", h.dir);
	snprintf(port, sizeof(port), "%d", h.ca_port);
	if ((pid = fork()) == 0) {
		if (freopen(log, "a", stderr) == NULL)
			_exit(126);
		execl(
		    path, "cmpd-hostile", h.pki, port, portfile, (char *)NULL);
		_exit(127);
	}
	hostile_pid = pid;
	for (int i = 0; i < 400; i++) {
		if ((text = check_read_file(portfile)) != NULL) {
			hostile_port = atoi(text);
			free(text);
			return hostile_port > 0 ? 0 : -1;
		}
		sleep_ms(25);
	}
	return -1;
}

static void
conf_add(char *buf, size_t cap, const char *fmt, ...)
{
	size_t n = strlen(buf);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf + n, cap - n, fmt, ap);
	va_end(ap);
}

/*
 * One profile per mode, each with its own certificate file. The text is
 * itself a format for the harness (%1$s is the PKI); the directory and the
 * port are filled in here.
 */
static char *
hostile_conf(void)
{
	size_t cap = 16384;
	char *c = calloc(1, cap);

	for (size_t i = 0; c != NULL && i < N_ELEMS(sig_modes); i++)
		conf_add(c, cap,
		    "[profile h-%s]\n"
		    "server = http://127.0.0.1:%d/%s/\n"
		    "protection = signature\n"
		    "cert = %%1$s/supplier.pem\n"
		    "trusted = %%1$s/root.pem\n"
		    "subject = /CN=hostile-%s.example\n"
		    "msg_timeout = " HOSTILE_MSG_TIMEOUT "\n"
		    "total_timeout = 60s\n"
		    "cert_file = %s/out-%s.pem\n\n",
		    sig_modes[i], hostile_port, sig_modes[i], sig_modes[i],
		    h.dir, sig_modes[i]);
	for (size_t i = 0; c != NULL && i < N_ELEMS(mac_modes); i++)
		conf_add(c, cap,
		    "[profile h-%s]\n"
		    "server = http://127.0.0.1:%d/%s/\n"
		    "protection = mac\n"
		    "mac_reference = device-0001\n"
		    "mac_secret = file:%%1$s/mac-secret.txt\n"
		    "enroll_trusted = %%1$s/root.pem\n"
		    "subject = /CN=hostile-%s.example\n"
		    "msg_timeout = " HOSTILE_MSG_TIMEOUT "\n"
		    "total_timeout = 60s\n"
		    "cert_file = %s/out-%s.pem\n\n",
		    mac_modes[i], hostile_port,
		    strcmp(mac_modes[i], "ok-mac") == 0 ? "ok" : mac_modes[i],
		    mac_modes[i], h.dir, mac_modes[i]);
	return c;
}

static int
setup(void **state)
{
	char id[33], *conf;
	int rv;

	(void)state;
	if (harness_init(&h, "hostile") != 0 ||
	    harness_start_ca(&h, NULL) != 0 || hostile_start() != 0 ||
	    (conf = hostile_conf()) == NULL)
		return -1;
	rv = harness_start_cmpd(&h, conf);
	free(conf);
	if (rv != 0 || harness_import(&h, "supplier.key", id) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	int clean;

	(void)state;
	if (hostile_pid > 0) {
		kill(hostile_pid, SIGTERM);
		waitpid(hostile_pid, NULL, 0);
	}
	/* The hostile server itself must not have tripped a sanitizer. */
	clean = harness_sh("! grep -E 'Sanitizer|runtime error:' "
	                   "'%s/hostile.log' >&2",
	            h.dir) == 0;
	harness_fini(&h);
	return clean ? 0 : -1;
}

static cmpd_job *
enroll(const char *profile)
{
	cmpd_enroll_opts *o = NULL;
	cmpd_job *job;

	assert_int_equal(cmpd_enroll_opts_new(&o), CMPD_RESULT_OK);
	job = harness_enroll_wait(&h, profile, o);
	cmpd_enroll_opts_free(o);
	assert_non_null(job);
	return job;
}

static int
file_exists(const char *mode)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/out-%s.pem", h.dir, mode);
	return stat(path, &st) == 0;
}

/* cmpd still serves: a job against the real test CA succeeds. */
static void
check_still_serving(void)
{
	cmpd_job *job = enroll("sig");

	if (cmpd_job_state_get(job) != CMPD_JOB_STATE_DONE)
		fail_msg("after a hostile case, a good job is %s: %s",
		    cmpd_job_state_name(cmpd_job_state_get(job)),
		    cmpd_job_error_text(job));
	check_issued(&h, job);
	cmpd_job_free(job);
}

/*
 * Enrolls through mode's profile and asserts that the job failed with
 * error code and a text that has every one of the NULL-terminated
 * substrings, that no certificate file was written, and that cmpd serves
 * the next job.
 */
static void
expect_failure(const char *mode, cmpd_result code, ...)
{
	char profile[64], url[128];
	const char *want, *pem;
	cmpd_job *job;
	va_list ap;

	snprintf(profile, sizeof(profile), "h-%s", mode);
	job = enroll(profile);
	printf("# %s: %s: %s\n", mode,
	    cmpd_job_state_name(cmpd_job_state_get(job)),
	    cmpd_job_error_text(job));
	assert_int_equal(cmpd_job_state_get(job), CMPD_JOB_STATE_FAILED);
	assert_int_equal(cmpd_job_error(job), code);
	snprintf(
	    url, sizeof(url), "http://127.0.0.1:%d/%s/", hostile_port, mode);
	if (strstr(cmpd_job_error_text(job), url) == NULL)
		fail_msg("%s: the reason does not name %s", mode, url);
	va_start(ap, code);
	while ((want = va_arg(ap, const char *)) != NULL)
		if (strstr(cmpd_job_error_text(job), want) == NULL)
			fail_msg("%s: \"%s\" not in \"%s\"", mode, want,
			    cmpd_job_error_text(job));
	va_end(ap);
	pem = cmpd_job_cert_pem(job);
	assert_true(pem == NULL || pem[0] == '\0');
	assert_false(file_exists(mode));
	cmpd_job_free(job);
	check_still_serving();
}

/* The server passes answers on faithfully: the cases below fail because
 * of what each mode changes, and for no other reason. */
static void
test_hostile_control(void **state)
{
	static const char *const ok[] = { "ok", "ok-mac" };

	(void)state;
	for (size_t i = 0; i < N_ELEMS(ok); i++) {
		char profile[32];
		cmpd_job *job;

		snprintf(profile, sizeof(profile), "h-%s", ok[i]);
		job = enroll(profile);
		if (cmpd_job_state_get(job) != CMPD_JOB_STATE_DONE)
			fail_msg("%s through the faithful mode: %s", ok[i],
			    cmpd_job_error_text(job));
		check_issued(&h, job);
		assert_true(file_exists(ok[i]));
		cmpd_job_free(job);
	}
}

static void
test_hostile_tid(void **state)
{
	(void)state;
	expect_failure("tid", CMPD_RESULT_TRANSPORT,
	    "to our ir: ", "transactionid unmatched", NULL);
}

static void
test_hostile_nonce(void **state)
{
	(void)state;
	expect_failure("nonce", CMPD_RESULT_TRANSPORT,
	    "to our ir: ", "recipnonce unmatched", NULL);
}

static void
test_hostile_unprotected(void **state)
{
	(void)state;
	expect_failure("unprotected", CMPD_RESULT_TRANSPORT,
	    "to our ir: ", "missing protection", NULL);
}

static void
test_hostile_untrusted(void **state)
{
	(void)state;
	expect_failure("untrusted", CMPD_RESULT_TRANSPORT,
	    "to our ir: ", "no suitable sender cert", NULL);
}

static void
test_hostile_badmac(void **state)
{
	(void)state;
	expect_failure("badmac", CMPD_RESULT_TRANSPORT,
	    "to our ir: ", "wrong pbm value", NULL);
}

static void
test_hostile_garbage(void **state)
{
	(void)state;
	expect_failure("garbage", CMPD_RESULT_TRANSPORT,
	    "HTTP exchange of our ir", "missing asn1 encoding", NULL);
}

static void
test_hostile_truncated(void **state)
{
	(void)state;
	expect_failure("truncated", CMPD_RESULT_TRANSPORT,
	    "HTTP exchange of our ir", "inconsistent content length", NULL);
}

static void
test_hostile_oversized(void **state)
{
	(void)state;
	expect_failure("oversized", CMPD_RESULT_TRANSPORT,
	    "HTTP exchange of our ir",
	    "max resp len exceeded: length=8388608, max=102400", NULL);
}

static void
test_hostile_http_errors(void **state)
{
	(void)state;
	expect_failure("http500", CMPD_RESULT_TRANSPORT,
	    "HTTP exchange of our ir", "code=500", NULL);
	expect_failure("http404", CMPD_RESULT_TRANSPORT,
	    "HTTP exchange of our ir", "code=404", NULL);
}

static void
test_hostile_redirect(void **state)
{
	(void)state;
	expect_failure("redirect", CMPD_RESULT_TRANSPORT,
	    "HTTP exchange of our ir", "redirection not enabled", NULL);
}

static void
test_hostile_ctype(void **state)
{
	(void)state;
	expect_failure("ctype", CMPD_RESULT_TRANSPORT,
	    "HTTP exchange of our ir", "unexpected content type", "text/html",
	    NULL);
}

static void
test_hostile_silent(void **state)
{
	(void)state;
	expect_failure("silent", CMPD_RESULT_TRANSPORT, "no answer from",
	    "to our ir within 4 s", NULL);
}

static void
test_hostile_trickle(void **state)
{
	(void)state;
	expect_failure("trickle", CMPD_RESULT_TRANSPORT, "no answer from",
	    "to our ir within 4 s", NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hostile_control),
		cmocka_unit_test(test_hostile_tid),
		cmocka_unit_test(test_hostile_nonce),
		cmocka_unit_test(test_hostile_unprotected),
		cmocka_unit_test(test_hostile_untrusted),
		cmocka_unit_test(test_hostile_badmac),
		cmocka_unit_test(test_hostile_garbage),
		cmocka_unit_test(test_hostile_truncated),
		cmocka_unit_test(test_hostile_oversized),
		cmocka_unit_test(test_hostile_http_errors),
		cmocka_unit_test(test_hostile_redirect),
		cmocka_unit_test(test_hostile_ctype),
		cmocka_unit_test(test_hostile_silent),
		cmocka_unit_test(test_hostile_trickle),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
