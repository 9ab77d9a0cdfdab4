/*
 * Enrollment end to end: cmpd's three processes against the project's
 * issuing test CA, with every key type, both protection modes, implicit
 * confirmation, a refusal and several clients at once.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "checks.h"
#include "harness.h"

static struct harness h;

static int
setup(void **state)
{
	static const char *const ca_args[] = { "--grant-implicit-confirm",
		NULL };
	char id[33];

	(void)state;
	if (harness_init(&h, "enroll") != 0 ||
	    harness_start_ca(&h, ca_args) != 0 ||
	    harness_start_cmpd(&h, NULL) != 0 ||
	    harness_import(&h, "supplier.key", id) != 0 ||
	    harness_import(&h, "supplier-rsa.key", id) != 0 ||
	    harness_import(&h, "rogue.key", id) != 0)
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

static cmpd_job *
enroll_type(const char *profile, const char *type)
{
	cmpd_enroll_opts *o = NULL;
	cmpd_job *job;

	assert_int_equal(cmpd_enroll_opts_new(&o), CMPD_RESULT_OK);
	if (type != NULL)
		assert_int_equal(
		    cmpd_enroll_opts_set_key_type(o, type), CMPD_RESULT_OK);
	job = harness_enroll_wait(&h, profile, o);
	cmpd_enroll_opts_free(o);
	assert_non_null(job);
	return job;
}

static const char *const key_types[] = { "ec-p256", "ec-p384", "rsa2048",
	"rsa3072", "rsa4096", "ed25519" };

/* Signature protection with the supplier's P-256 key; every new key type. */
static void
test_every_key_type(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++) {
		cmpd_job *job = enroll_type("sig", key_types[i]);

		assert_string_equal(cmpd_job_key_type(job), key_types[i]);
		check_issued(&h, job);
		check_file(job);
		check_names(
		    job, "CN=itest.example,O=cmpd tests", "itest.example");
		cmpd_job_free(job);
	}
}

/* An RSA supplier key protects, over RFC 9811's well-known path. */
static void
test_rsa_supplier(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++) {
		cmpd_job *job = enroll_type("sig-rsa", key_types[i]);

		check_issued(&h, job);
		check_file(job);
		check_names(job, "CN=itest-rsa.example", NULL);
		cmpd_job_free(job);
	}
}

/* MAC (PBM) protection with a shared secret and reference. */
static void
test_mac(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++) {
		cmpd_job *job = enroll_type("mac", key_types[i]);

		assert_string_equal(cmpd_job_key_type(job), key_types[i]);
		check_issued(&h, job);
		check_names(job, "CN=itest-mac.example", NULL);
		cmpd_job_free(job);
	}
}

/*
 * The CA logs each certConf it receives: an implicitly confirmed
 * certificate has none, an ordinary one has its line.
 */
static int
ca_saw_confirm(const cmpd_job *job)
{
	return harness_sh("grep -q 'certificate %s confirmed' '%s/ca.log'",
	           cmpd_job_cert_serial(job), h.dir) == 0;
}

static void
test_implicit_confirm(void **state)
{
	cmpd_job *job = enroll_type("implicit", NULL);
	cmpd_job *plain = enroll_type("sig", NULL);

	(void)state;
	check_issued(&h, job);
	check_issued(&h, plain);
	assert_false(ca_saw_confirm(job));
	assert_true(ca_saw_confirm(plain));
	cmpd_job_free(job);
	cmpd_job_free(plain);
}

/* A subject and SANs given by the client replace the profile's. */
static void
test_client_names(void **state)
{
	cmpd_enroll_opts *o = NULL;
	cmpd_job *job;

	(void)state;
	assert_int_equal(cmpd_enroll_opts_new(&o), CMPD_RESULT_OK);
	assert_int_equal(cmpd_enroll_opts_set_subject(o, "/CN=web-7/O=Acme"),
	    CMPD_RESULT_OK);
	assert_int_equal(
	    cmpd_enroll_opts_add_san(o, "DNS:web-7.acme.test"), CMPD_RESULT_OK);
	assert_int_equal(
	    cmpd_enroll_opts_add_san(o, "IP:192.0.2.7"), CMPD_RESULT_OK);
	job = harness_enroll_wait(&h, "sig", o);
	cmpd_enroll_opts_free(o);
	assert_non_null(job);
	check_issued(&h, job);
	check_names(job, "CN=web-7,O=Acme", "web-7.acme.test");
	cmpd_job_free(job);
}

/*
 * A supplier certificate the CA does not trust: the CA refuses, and its
 * status, failure bits and text reach the client and cmpctl.
 */
static void
test_refused(void **state)
{
	char out[8192];
	const char *args[] = { "status", NULL, NULL };
	cmpd_job *job = enroll_type("rogue", NULL);
	int rc;

	(void)state;
	assert_int_equal(cmpd_job_state_get(job), CMPD_JOB_STATE_FAILED);
	assert_int_equal(cmpd_job_error(job), CMPD_RESULT_REFUSED);
	assert_int_equal(cmpd_job_pki_status(job), 2); /* rejection */
	assert_true(cmpd_job_pki_fail_info(job) != 0);
	assert_true(cmpd_job_pki_text_count(job) > 0);
	assert_non_null(strstr(cmpd_job_error_text(job), "trust"));
	args[1] = cmpd_job_id(job);
	rc = harness_run(&h, out, sizeof(out), "cmpctl", args);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(out, "rejection"));
	assert_non_null(strstr(out, cmpd_job_pki_text(job, 0)));
	cmpd_job_free(job);
}

/* A profile that does not exist, and a malformed key id, are refused. */
static void
test_bad_requests(void **state)
{
	cmpd_client *c = harness_client(&h);
	cmpd_job *job = NULL;

	(void)state;
	assert_non_null(c);
	assert_int_equal(cmpd_enroll(c, "no-such-profile", NULL, &job),
	    CMPD_RESULT_NOT_FOUND);
	assert_null(job);
	assert_non_null(strstr(cmpd_client_last_error(c), "no-such-profile"));
	assert_int_equal(
	    cmpd_job_get(c, "0123456789abcdef", &job), CMPD_RESULT_NOT_FOUND);
	cmpd_client_close(c);
}

#define CLIENTS    4
#define PER_CLIENT 3

struct worker_result {
	int index;
	char serials[PER_CLIENT][80];
	int done;
};

static void *
client_thread(void *arg)
{
	static const char *const profiles[] = { "sig", "mac", "sig-rsa" };
	static const char *const types[] = { "ec-p256", "ed25519", "rsa2048" };
	struct worker_result *r = arg;
	cmpd_client *c = harness_client(&h);
	cmpd_job *jobs[PER_CLIENT] = { NULL };

	if (c == NULL)
		return NULL;
	/* Start them all first, so they run at the same time. */
	for (int i = 0; i < PER_CLIENT; i++) {
		cmpd_enroll_opts *o = NULL;

		cmpd_enroll_opts_new(&o);
		cmpd_enroll_opts_set_key_type(o, types[(r->index + i) % 3]);
		cmpd_enroll(c, profiles[(r->index + i) % 3], o, &jobs[i]);
		cmpd_enroll_opts_free(o);
	}
	for (int i = 0; i < PER_CLIENT; i++) {
		cmpd_job *done = NULL;

		if (jobs[i] != NULL &&
		    cmpd_job_wait(c, cmpd_job_id(jobs[i]), 120000, &done) ==
		        CMPD_RESULT_OK &&
		    cmpd_job_state_get(done) == CMPD_JOB_STATE_DONE) {
			snprintf(r->serials[i], sizeof(r->serials[i]), "%s",
			    cmpd_job_cert_serial(done));
			r->done++;
		}
		cmpd_job_free(done);
		cmpd_job_free(jobs[i]);
	}
	cmpd_client_close(c);
	return NULL;
}

static void
test_concurrent_clients(void **state)
{
	pthread_t t[CLIENTS];
	struct worker_result r[CLIENTS];

	(void)state;
	memset(r, 0, sizeof(r));
	for (int i = 0; i < CLIENTS; i++) {
		r[i].index = i;
		assert_int_equal(
		    pthread_create(&t[i], NULL, client_thread, &r[i]), 0);
	}
	for (int i = 0; i < CLIENTS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < CLIENTS; i++) {
		assert_int_equal(r[i].done, PER_CLIENT);
		for (int j = 0; j < PER_CLIENT; j++)
			for (int k = 0; k < CLIENTS; k++)
				for (int l = 0; l < PER_CLIENT; l++)
					if (i != k || j != l)
						assert_string_not_equal(
						    r[i].serials[j],
						    r[k].serials[l]);
	}
}

/* cmpctl enroll --wait --json, as a script would use it. */
static void
test_cmpctl_enroll(void **state)
{
	char out[65536];
	const char *args[] = { "--json", "enroll", "--profile", "sig",
		"--key-type", "ec-p384", "--wait", NULL };
	int rc = harness_run(&h, out, sizeof(out), "cmpctl", args);

	(void)state;
	if (rc != 0)
		fail_msg("cmpctl exited %d: %s", rc, out);
	assert_non_null(strstr(out, "\"state\": \"done\""));
	assert_non_null(strstr(out, "-----BEGIN CERTIFICATE-----"));
	assert_non_null(strstr(out, "cmpd Test Issuing CA"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_key_type),
		cmocka_unit_test(test_rsa_supplier),
		cmocka_unit_test(test_mac),
		cmocka_unit_test(test_implicit_confirm),
		cmocka_unit_test(test_client_names),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_concurrent_clients),
		cmocka_unit_test(test_cmpctl_enroll),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
