/*
 * cmpd against an independent CMP server: OpenSSL's `openssl cmp -port`
 * mock server. It returns one fixed certificate whatever is asked, so the
 * test imports that certificate's key and enrolls it. The mock binds every
 * address, so the whole test runs in a network namespace of its own that
 * has nothing but loopback.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "checks.h"
#include "harness.h"

#define MOCK_PORT  18080 /* signature-protected answers */
#define POLL_PORT  18081 /* the same, answering "waiting" twice first */
#define MAC_PORT   18082 /* MAC-protected answers */
#define NO_PORT    18083 /* every request refused */
#define SLOW_PORT  18084 /* "waiting" three times, two seconds apart */
#define SLOW2_PORT 18085 /* the same, for a profile without keep-alive */
#define MOCKS      6

/* A profile signed with the supplier key, at the mock on port. */
#define SIG_PROFILE(name, port, extra)                     \
	"[profile " name "]\n"                             \
	"server = http://127.0.0.1:" port "/pkix/\n" extra \
	"protection = signature\n"                         \
	"cert = %1$s/supplier.pem\n"                       \
	"trusted = %1$s/root.pem\n"                        \
	"untrusted = %1$s/ca.pem\n"                        \
	"subject = /CN=cmpd mock test\n\n"

/* One profile per mock; the layout is the configuration's. */
/* clang-format off */
static const char mock_conf[] =
    SIG_PROFILE("mock", "18080", "")
    SIG_PROFILE("mock-poll", "18081", "")
    SIG_PROFILE("mock-slow", "18084", "")
    SIG_PROFILE("mock-slow-nka", "18085", "keep_alive = no\n")
    SIG_PROFILE("mock-no", "18083", "")
    "[profile mock-mac]\n"
    "server = http://127.0.0.1:18082/pkix/\n"
    "protection = mac\n"
    "mac_reference = device-0001\n"
    "mac_secret = pass:mock-secret-1234\n"
    "recipient = /CN=cmpd Test CMP Server\n"
    "enroll_trusted = %1$s/root.pem\n"
    "subject = /CN=cmpd mock test\n";
/* clang-format on */

static struct harness h;
static pid_t mocks[MOCKS];
static char fixed_id[33];

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int
port_open(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
		.sin_port = htons((uint16_t)port) };
	int s = socket(AF_INET, SOCK_STREAM, 0), ok;

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	ok = connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(s);
	return ok;
}

/* Starts `openssl cmp -port` with the PKI's server credentials. */
static pid_t
mock_start(int port, const char *extra)
{
	char cmd[2048];
	pid_t pid = fork();

	if (pid == 0) {
		snprintf(cmd, sizeof(cmd),
		    "cd '%s' && exec openssl cmp -port %d "
		    "-srv_trusted mock-trust.pem -rsp_cert fixed.pem "
		    "-rsp_extracerts ca.pem -rsp_capubs root.pem %s "
		    ">>'%s/mock-%d.log' 2>&1",
		    h.pki, port, extra, h.dir, port);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200 && !port_open(port); i++)
		sleep_ms(25);
	return pid;
}

static int
setup(void **state)
{
	char id[33];

	(void)state;
	if (harness_private_network() != 0) {
		fprintf(stderr, "no private network namespace here\n");
		return -1;
	}
	if (harness_init(&h, "mock") != 0 || harness_start_ca(&h, NULL) != 0 ||
	    harness_start_cmpd(&h, mock_conf) != 0)
		return -1;
	/* The mock trusts requests signed by supplier and by issued keys. */
	if (harness_sh("cd '%s' && cat supplier-root.pem root.pem "
	               ">mock-trust.pem",
	        h.pki) != 0)
		return -1;
	mocks[0] = mock_start(MOCK_PORT, "-srv_cert srv.pem -srv_key srv.key");
	mocks[1] = mock_start(POLL_PORT,
	    "-srv_cert srv.pem -srv_key srv.key -poll_count 2 "
	    "-check_after 1");
	mocks[2] = mock_start(MAC_PORT,
	    "-srv_ref device-0001 -srv_secret pass:mock-secret-1234 "
	    "-srv_cert srv.pem");
	mocks[3] = mock_start(NO_PORT,
	    "-srv_cert srv.pem -srv_key srv.key -pkistatus 2 -failure 9 "
	    "-statusstring 'not today'");
	mocks[4] = mock_start(SLOW_PORT,
	    "-srv_cert srv.pem -srv_key srv.key -poll_count 3 "
	    "-check_after 2");
	mocks[5] = mock_start(SLOW2_PORT,
	    "-srv_cert srv.pem -srv_key srv.key -poll_count 3 "
	    "-check_after 2");
	if (!port_open(MOCK_PORT) || !port_open(POLL_PORT) ||
	    !port_open(MAC_PORT) || !port_open(NO_PORT) ||
	    !port_open(SLOW_PORT) || !port_open(SLOW2_PORT))
		return -1;
	if (harness_import(&h, "supplier.key", id) != 0 ||
	    harness_import(&h, "fixed.key", fixed_id) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < MOCKS; i++) {
		if (mocks[i] > 0) {
			kill(mocks[i], SIGTERM);
			waitpid(mocks[i], NULL, 0);
		}
	}
	harness_fini(&h);
	return 0;
}

static cmpd_job *
enroll(const char *profile, const char *key_id)
{
	cmpd_enroll_opts *o = NULL;
	cmpd_job *job;

	assert_int_equal(cmpd_enroll_opts_new(&o), CMPD_RESULT_OK);
	if (key_id != NULL)
		assert_int_equal(
		    cmpd_enroll_opts_set_key_id(o, key_id), CMPD_RESULT_OK);
	job = harness_enroll_wait(&h, profile, o);
	cmpd_enroll_opts_free(o);
	assert_non_null(job);
	return job;
}

static void
check_fixed(const cmpd_job *job)
{
	char path[512];
	char *fixed;

	if (cmpd_job_state_get(job) != CMPD_JOB_STATE_DONE)
		fail_msg("job is %s: %s",
		    cmpd_job_state_name(cmpd_job_state_get(job)),
		    cmpd_job_error_text(job));
	snprintf(path, sizeof(path), "%s/fixed.pem", h.pki);
	fixed = check_read_file(path);
	assert_non_null(fixed);
	assert_non_null(strstr(fixed, cmpd_job_cert_pem(job)));
	free(fixed);
}

/* IR signed with the supplier key, enrolling the key of the mock's cert. */
static void
test_mock_ir(void **state)
{
	cmpd_job *job = enroll("mock", fixed_id);

	(void)state;
	check_fixed(job);
	check_issued(&h, job);
	cmpd_job_free(job);
}

/*
 * A fresh key gets the mock's fixed certificate, whose key is another: cmpd
 * must notice, reject it with certConf and fail the job saying why.
 */
static void
test_mock_wrong_key(void **state)
{
	cmpd_job *job = enroll("mock", NULL);

	(void)state;
	assert_int_equal(cmpd_job_state_get(job), CMPD_JOB_STATE_FAILED);
	assert_int_equal(cmpd_job_error(job), CMPD_RESULT_BAD_CERT);
	assert_non_null(strstr(cmpd_job_error_text(job), "key"));
	cmpd_job_free(job);
}

/* The mock answers "waiting" twice; cmpd polls on its timer. */
static void
test_mock_polling(void **state)
{
	cmpd_job *job = enroll("mock-poll", fixed_id);

	(void)state;
	check_fixed(job);
	cmpd_job_free(job);
}

/*
 * Enrolls with profile, kills cmpd (SIGKILL of the broker: its workers
 * follow) while the mock keeps the job waiting, starts cmpd again and
 * returns the job once it has ended, with the mock's log in *log.
 */
static cmpd_job *
enroll_through_crash(const char *profile, int port, char **log)
{
	cmpd_client *c = harness_client(&h);
	cmpd_enroll_opts *o = NULL;
	cmpd_job *job = NULL, *done = NULL;
	char path[600];

	assert_non_null(c);
	assert_int_equal(cmpd_enroll_opts_new(&o), CMPD_RESULT_OK);
	assert_int_equal(cmpd_enroll_opts_set_key_id(o, fixed_id), 0);
	assert_int_equal(cmpd_enroll(c, profile, o, &job), CMPD_RESULT_OK);
	cmpd_client_close(c);
	cmpd_enroll_opts_free(o);
	assert_int_equal(harness_wait_state(
	                     &h, cmpd_job_id(job), CMPD_JOB_STATE_WAITING, 30),
	    0);
	assert_int_equal(harness_kill_cmpd(&h), 0);
	assert_int_equal(harness_start_cmpd(&h, mock_conf), 0);
	c = harness_client(&h);
	assert_int_equal(
	    cmpd_job_wait(c, cmpd_job_id(job), 60000, &done), CMPD_RESULT_OK);
	cmpd_client_close(c);
	cmpd_job_free(job);
	snprintf(path, sizeof(path), "%s/mock-%d.log", h.dir, port);
	assert_non_null(*log = check_read_file(path));
	return done;
}

/* Whether cmpd's log has a line with the job's id and text. */
static int
cmpd_logged(const cmpd_job *job, const char *text)
{
	return harness_sh("grep -q 'job %s: .*%s' '%s/cmpd.log'",
	           cmpd_job_id(job), text, h.dir) == 0;
}

/*
 * Without keep-alive the mock keeps a transaction across connections, so
 * the next cmpd resumes it from the answers it kept: the mock sees the
 * ir, the pollReq before the crash, two more pollReqs and the certConf,
 * five requests in all, and refuses none.
 */
static void
test_mock_resume(void **state)
{
	char *log = NULL;
	cmpd_job *done =
	    enroll_through_crash("mock-slow-nka", SLOW2_PORT, &log);

	(void)state;
	check_fixed(done);
	assert_true(cmpd_logged(done, "resuming the transaction from 2"));
	assert_false(cmpd_logged(done, "starting a new transaction"));
	if (check_count(log, "Received request") != 5 ||
	    strstr(log, "CMP error") != NULL)
		fail_msg("the mock saw another exchange:\n%s", log);
	free(log);
	cmpd_job_free(done);
}

/*
 * With keep-alive the mock cancels a transaction whose connection drops
 * (apps/cmp.c: "on transmission error, cancel CMP transaction"), so the
 * resumed pollReq is refused: cmpd says so and enrolls with a new
 * transaction.
 */
static void
test_mock_resume_refused(void **state)
{
	char *log = NULL;
	cmpd_job *done = enroll_through_crash("mock-slow", SLOW_PORT, &log);

	(void)state;
	check_fixed(done);
	assert_true(cmpd_logged(done, "resuming the transaction from 2"));
	assert_true(cmpd_logged(done,
	    "refused our pollReq.*starting a new "
	    "transaction"));
	assert_non_null(strstr(log, "unexpected pkibody"));
	free(log);
	cmpd_job_free(done);
}

static void
test_mock_mac(void **state)
{
	cmpd_job *job = enroll("mock-mac", fixed_id);

	(void)state;
	check_fixed(job);
	cmpd_job_free(job);
}

/* RR of the mock's certificate, which is the one it accepts to revoke. */
static void
test_mock_rr(void **state)
{
	cmpd_job *job = enroll("mock", fixed_id), *rr = NULL, *done = NULL;
	cmpd_client *c = harness_client(&h);

	(void)state;
	check_fixed(job);
	assert_non_null(c);
	assert_int_equal(
	    cmpd_revoke(c, cmpd_job_cert_id(job), 4, &rr), CMPD_RESULT_OK);
	assert_int_equal(
	    cmpd_job_wait(c, cmpd_job_id(rr), 60000, &done), CMPD_RESULT_OK);
	if (cmpd_job_state_get(done) != CMPD_JOB_STATE_DONE)
		fail_msg("rr: %s", cmpd_job_error_text(done));
	assert_int_equal(cmpd_job_revocation_reason(done), 4);
	cmpd_job_free(job);
	cmpd_job_free(rr);
	cmpd_job_free(done);
	cmpd_client_close(c);
}

/* A refusal carries its status, failure bits by name and text. */
static void
test_mock_refusal(void **state)
{
	cmpd_job *job = enroll("mock-no", fixed_id);
	char out[8192];
	const char *args[] = { "status", NULL, NULL };

	(void)state;
	assert_int_equal(cmpd_job_state_get(job), CMPD_JOB_STATE_FAILED);
	assert_int_equal(cmpd_job_error(job), CMPD_RESULT_REFUSED);
	assert_int_equal(cmpd_job_pki_status(job), 2);
	assert_int_equal(cmpd_job_pki_fail_info(job), 1u << 9);
	assert_non_null(strstr(cmpd_job_error_text(job), "badPOP"));
	args[1] = cmpd_job_id(job);
	assert_int_equal(harness_run(&h, out, sizeof(out), "cmpctl", args), 1);
	assert_non_null(strstr(out, "failure: badPOP"));
	assert_non_null(strstr(out, "not today"));
	cmpd_job_free(job);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mock_ir),
		cmocka_unit_test(test_mock_wrong_key),
		cmocka_unit_test(test_mock_polling),
		cmocka_unit_test(test_mock_resume),
		cmocka_unit_test(test_mock_resume_refused),
		cmocka_unit_test(test_mock_mac),
		cmocka_unit_test(test_mock_rr),
		cmocka_unit_test(test_mock_refusal),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
