/*
 * The edges of renewal, with certificates that live four seconds: a
 * certificate whose CA stays away until it expires is marked expired; one
 * whose profile allows it is enrolled again with IR once the CA is back; a
 * reload command that hangs is killed and reported; files get the
 * profile's owner (as root).
 */
#include <grp.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "checks.h"
#include "harness.h"

static const char expiry_conf[] = "[profile gone]\n"
                                  "server = http://127.0.0.1:%2$d/pkix/\n"
                                  "cert = %1$s/supplier.pem\n"
                                  "trusted = %1$s/root.pem\n"
                                  "subject = /CN=gone.example\n"
                                  "renew_at = 90\n"
                                  "renew_jitter = 0\n"
                                  "retry_min = 1s\n"
                                  "retry_max = 1s\n"
                                  "msg_timeout = 1s\n"
                                  "\n"
                                  "[profile again]\n"
                                  "server = http://127.0.0.1:%2$d/pkix/\n"
                                  "cert = %1$s/supplier.pem\n"
                                  "trusted = %1$s/root.pem\n"
                                  "subject = /CN=again.example\n"
                                  "renew_at = 90\n"
                                  "renew_jitter = 0\n"
                                  "retry_min = 1s\n"
                                  "retry_max = 1s\n"
                                  "msg_timeout = 1s\n"
                                  "reenroll_after_expiry = yes\n"
                                  "\n"
                                  "[profile hang]\n"
                                  "server = http://127.0.0.1:%2$d/pkix/\n"
                                  "cert = %1$s/supplier.pem\n"
                                  "trusted = %1$s/root.pem\n"
                                  "subject = /CN=hang.example\n"
                                  "auto_renew = no\n"
                                  "reload_command = sleep 30\n"
                                  "reload_timeout = 1s\n"
                                  "file_owner = %3$s\n"
                                  "file_group = %4$s\n";

static const char *const ca_args[] = { "--validity-seconds", "4", NULL };
static struct harness h;
static char owner[64], group[64];

/* The owner the files should get: nobody as root, else ourselves. */
static void
owner_pick(void)
{
	struct passwd *pw = getpwuid(geteuid() == 0 ? 65534 : geteuid());
	struct group *gr = getgrgid(geteuid() == 0 ? 65534 : getegid());

	snprintf(owner, sizeof(owner), "%s", pw != NULL ? pw->pw_name : "0");
	snprintf(group, sizeof(group), "%s", gr != NULL ? gr->gr_name : "0");
}

/* The configuration is a format whose arguments are fixed here. */
#pragma GCC diagnostic ignored "-Wformat-nonliteral"

static int
setup(void **state)
{
	char conf[4096], id[33];

	(void)state;
	owner_pick();
	if (harness_init(&h, "expiry") != 0 ||
	    harness_start_ca(&h, ca_args) != 0)
		return -1;
	/* %1$s and %2$d stay for the harness; the owner is filled in now. */
	snprintf(
	    conf, sizeof(conf), expiry_conf, "%1$s", h.ca_port, owner, group);
	if (harness_start_cmpd(&h, conf) != 0 ||
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
	cmpd_cert_state state;
	char last_error[512];
	int superseded_by_other;
	char active_id[17];
};

/* What cmpd lists about certificate id, and the profile's active one. */
static int
look(cmpd_client *c, const char *profile, const char *id, struct seen *s)
{
	cmpd_cert_array *certs = NULL;
	int found = 0;

	memset(s, 0, sizeof(*s));
	assert_int_equal(cmpd_cert_list(c, profile, &certs), CMPD_RESULT_OK);
	for (size_t i = 0; i < cmpd_cert_array_count(certs); i++) {
		const cmpd_cert *x = cmpd_cert_array_get(certs, i);

		if (cmpd_cert_state_get(x) == CMPD_CERT_STATE_ACTIVE)
			snprintf(s->active_id, sizeof(s->active_id), "%s",
			    cmpd_cert_id(x));
		if (strcmp(cmpd_cert_id(x), id) != 0)
			continue;
		found = 1;
		s->state = cmpd_cert_state_get(x);
		snprintf(s->last_error, sizeof(s->last_error), "%s",
		    cmpd_cert_last_error(x));
	}
	cmpd_cert_array_free(certs);
	return found;
}

static cmpd_job *
enroll(cmpd_client *c, const char *profile)
{
	cmpd_job *job = NULL, *done = NULL;

	assert_int_equal(cmpd_enroll(c, profile, NULL, &job), CMPD_RESULT_OK);
	assert_int_equal(
	    cmpd_job_wait(c, cmpd_job_id(job), 30000, &done), CMPD_RESULT_OK);
	cmpd_job_free(job);
	check_issued(&h, done);
	return done;
}

/*
 * Both enrolled while the CA is up; then it goes away until both have
 * expired. One is marked expired; the other, once the CA is back, is
 * replaced by a new enrollment.
 */
static void
test_expiry_and_reenrollment(void **state)
{
	cmpd_client *c = harness_client(&h);
	cmpd_job *gone = enroll(c, "gone"), *again = enroll(c, "again");
	struct seen s;

	(void)state;
	harness_stop_ca(&h);
	for (int i = 0; i < 150; i++) {
		usleep(100000);
		assert_true(look(c, "gone", cmpd_job_cert_id(gone), &s));
		if (s.state == CMPD_CERT_STATE_EXPIRED)
			break;
	}
	assert_int_equal(s.state, CMPD_CERT_STATE_EXPIRED);
	assert_non_null(strstr(s.last_error, "127.0.0.1"));
	assert_int_equal(harness_restart_ca(&h, ca_args), 0);
	for (int i = 0; i < 150; i++) {
		usleep(100000);
		assert_true(look(c, "again", cmpd_job_cert_id(again), &s));
		if (s.state == CMPD_CERT_STATE_SUPERSEDED)
			break;
	}
	assert_int_equal(s.state, CMPD_CERT_STATE_SUPERSEDED);
	assert_true(s.active_id[0] != '\0');
	assert_string_not_equal(s.active_id, cmpd_job_cert_id(again));
	/* The expired one stays expired: it had no re-enrollment. */
	assert_true(look(c, "gone", cmpd_job_cert_id(gone), &s));
	assert_int_equal(s.state, CMPD_CERT_STATE_EXPIRED);
	cmpd_job_free(gone);
	cmpd_job_free(again);
	cmpd_client_close(c);
}

/* A reload command that hangs is killed; the certificate says so. */
static void
test_reload_timeout_and_owner(void **state)
{
	cmpd_client *c = harness_client(&h);
	cmpd_job *job = enroll(c, "hang");
	struct passwd *pw = getpwnam(owner);
	struct stat st;
	struct seen s;

	(void)state;
	assert_int_equal(stat(cmpd_job_cert_path(job), &st), 0);
	assert_non_null(pw);
	assert_int_equal(st.st_uid, pw->pw_uid);
	for (int i = 0; i < 60; i++) {
		usleep(100000);
		assert_true(look(c, "hang", cmpd_job_cert_id(job), &s));
		if (s.last_error[0] != '\0')
			break;
	}
	assert_non_null(strstr(s.last_error, "killed after its timeout"));
	cmpd_job_free(job);
	cmpd_client_close(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reload_timeout_and_owner),
		cmocka_unit_test(test_expiry_and_reenrollment),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
