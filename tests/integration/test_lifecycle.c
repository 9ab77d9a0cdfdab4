/*
 * The end-entity lifecycle against the project's test CA, which issues
 * certificates valid for 20 seconds so that renewals come quickly: KUR
 * with a new and with the same key, CR protected by another profile's
 * certificate, P10CR, RR then a KUR the CA refuses, the three genm
 * questions, automatic renewal with its reload command, and backoff while
 * the CA is down followed by success when it returns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "checks.h"
#include "harness.h"

#define VALIDITY "20"

static const char lifecycle_conf[] =
    "[profile dev]\n"
    "server = http://127.0.0.1:%2$d/pkix/\n"
    "cert = %1$s/supplier.pem\n"
    "trusted = %1$s/root.pem\n"
    "subject = /CN=dev.example\n"
    "auto_renew = no\n"
    "\n"
    "[profile extra]\n"
    "server = http://127.0.0.1:%2$d/pkix/\n"
    "protection = certificate\n"
    "protect_with = dev\n"
    "op = cr\n"
    "trusted = %1$s/root.pem\n"
    "subject = /CN=extra.example\n"
    "auto_renew = no\n"
    "\n"
    "[profile p10]\n"
    "server = http://127.0.0.1:%2$d/pkix/\n"
    "protection = mac\n"
    "mac_reference = device-0001\n"
    "mac_secret = file:%1$s/mac-secret.txt\n"
    "enroll_trusted = %1$s/root.pem\n"
    "op = p10cr\n"
    "subject = /CN=p10.example\n"
    "san = DNS:p10.example\n"
    "auto_renew = no\n"
    "\n"
    "[profile auto]\n"
    "server = http://127.0.0.1:%2$d/pkix/\n"
    "cert = %1$s/supplier.pem\n"
    "trusted = %1$s/root.pem\n"
    "subject = /CN=auto.example\n"
    "renew_at = 25\n"
    "renew_jitter = 0\n"
    "retry_min = 1s\n"
    "retry_max = 2s\n"
    "file_mode = 0640\n"
    "reload_command = echo \"$CMPD_EVENT $CMPD_CERT_ID\" >> %1$s/../hook.log\n"
    "\n"
    "[profile flaky]\n"
    "server = http://127.0.0.1:%2$d/pkix/\n"
    "cert = %1$s/supplier.pem\n"
    "trusted = %1$s/root.pem\n"
    "subject = /CN=flaky.example\n"
    "renew_at = 10\n"
    "renew_jitter = 0\n"
    "retry_min = 1s\n"
    "retry_max = 1s\n"
    "msg_timeout = 2s\n";

static const char *const ca_args[] = { "--validity-seconds", VALIDITY, NULL };
static struct harness h;

static int
setup(void **state)
{
	char id[33];

	(void)state;
	if (harness_init(&h, "lifecycle") != 0 ||
	    harness_start_ca(&h, ca_args) != 0 ||
	    harness_start_cmpd(&h, lifecycle_conf) != 0 ||
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

static cmpd_job *
wait_job(cmpd_client *c, cmpd_job *job)
{
	cmpd_job *done = NULL;

	assert_non_null(job);
	assert_int_equal(
	    cmpd_job_wait(c, cmpd_job_id(job), 60000, &done), CMPD_RESULT_OK);
	cmpd_job_free(job);
	return done;
}

static cmpd_job *
enroll(cmpd_client *c, const char *profile)
{
	cmpd_job *job = NULL;

	assert_int_equal(cmpd_enroll(c, profile, NULL, &job), CMPD_RESULT_OK);
	job = wait_job(c, job);
	check_issued(&h, job);
	return job;
}

static cmpd_job *
renew(cmpd_client *c, const char *cert, int keep)
{
	cmpd_renew_opts *o = NULL;
	cmpd_job *job = NULL;

	assert_int_equal(cmpd_renew_opts_new(&o), CMPD_RESULT_OK);
	assert_int_equal(cmpd_renew_opts_set_keep_key(o, keep), CMPD_RESULT_OK);
	if (cmpd_renew(c, cert, o, &job) != CMPD_RESULT_OK)
		fail_msg("renew %s: %s", cert, cmpd_client_last_error(c));
	cmpd_renew_opts_free(o);
	return wait_job(c, job);
}

static int
has_key(cmpd_client *c, const char *id)
{
	cmpd_key_array *keys = NULL;
	int found = 0;

	assert_int_equal(cmpd_key_list(c, &keys), CMPD_RESULT_OK);
	for (size_t i = 0; i < cmpd_key_array_count(keys); i++)
		if (strcmp(cmpd_key_info_id(cmpd_key_array_get(keys, i)), id) ==
		    0)
			found = 1;
	cmpd_key_array_free(keys);
	return found;
}

/* The tracked certificate id, as the client lists it (a copy in out). */
static int
cert_get(cmpd_client *c, const char *id, char *serial, cmpd_cert_state *st,
    uint32_t *failures, int64_t *renewed)
{
	cmpd_cert_array *certs = NULL;
	int found = 0;

	assert_int_equal(cmpd_cert_list(c, NULL, &certs), CMPD_RESULT_OK);
	for (size_t i = 0; i < cmpd_cert_array_count(certs); i++) {
		const cmpd_cert *x = cmpd_cert_array_get(certs, i);

		if (strcmp(cmpd_cert_id(x), id) != 0)
			continue;
		found = 1;
		if (serial != NULL)
			snprintf(serial, 80, "%s", cmpd_cert_serial(x));
		if (st != NULL)
			*st = cmpd_cert_state_get(x);
		if (failures != NULL)
			*failures = cmpd_cert_failures(x);
		if (renewed != NULL)
			*renewed = cmpd_cert_renewed(x);
	}
	cmpd_cert_array_free(certs);
	return found;
}

/* KUR with a new key: same tracked certificate, new serial, old key gone. */
static void
test_kur_new_key(void **state)
{
	cmpd_client *c = harness_client(&h);
	cmpd_job *first = enroll(c, "dev"), *kur;
	char old_key[33], serial[80];

	(void)state;
	snprintf(old_key, sizeof(old_key), "%s", cmpd_job_key_id(first));
	kur = renew(c, cmpd_job_cert_id(first), 0);
	check_issued(&h, kur);
	check_file(kur);
	assert_string_equal(cmpd_job_op(kur), "kur");
	assert_string_equal(cmpd_job_cert_id(kur), cmpd_job_cert_id(first));
	assert_string_not_equal(cmpd_job_key_id(kur), old_key);
	assert_string_not_equal(
	    cmpd_job_cert_serial(kur), cmpd_job_cert_serial(first));
	assert_true(
	    cert_get(c, cmpd_job_cert_id(first), serial, NULL, NULL, NULL));
	assert_string_equal(serial, cmpd_job_cert_serial(kur));
	/* The old key goes once the new certificate is confirmed. */
	for (int i = 0; i < 100 && has_key(c, old_key); i++)
		usleep(20000);
	assert_false(has_key(c, old_key));
	assert_true(has_key(c, cmpd_job_key_id(kur)));
	cmpd_job_free(first);
	cmpd_job_free(kur);
	cmpd_client_close(c);
}

/* KUR keeping the key, named by the profile. */
static void
test_kur_keep_key(void **state)
{
	cmpd_client *c = harness_client(&h);
	cmpd_job *first = enroll(c, "dev"), *kur = renew(c, "dev", 1);

	(void)state;
	check_issued(&h, kur);
	assert_string_equal(cmpd_job_key_id(kur), cmpd_job_key_id(first));
	assert_string_not_equal(
	    cmpd_job_cert_serial(kur), cmpd_job_cert_serial(first));
	assert_true(has_key(c, cmpd_job_key_id(first)));
	cmpd_job_free(first);
	cmpd_job_free(kur);
	cmpd_client_close(c);
}

/* CR for an additional certificate, protected by dev's certificate. */
static void
test_cr(void **state)
{
	cmpd_client *c = harness_client(&h);
	cmpd_job *dev = enroll(c, "dev"), *cr = enroll(c, "extra");

	(void)state;
	assert_string_equal(cmpd_job_op(cr), "cr");
	assert_string_equal(
	    cmpd_job_protection_cert_id(cr), cmpd_job_cert_id(dev));
	check_names(cr, "CN=extra.example", NULL);
	cmpd_job_free(dev);
	cmpd_job_free(cr);
	cmpd_client_close(c);
}

/* P10CR: a PKCS#10 request the keyworker signed. */
static void
test_p10cr(void **state)
{
	cmpd_client *c = harness_client(&h);
	cmpd_job *job = enroll(c, "p10");

	(void)state;
	assert_string_equal(cmpd_job_op(job), "p10cr");
	check_names(job, "CN=p10.example", "p10.example");
	cmpd_job_free(job);
	cmpd_client_close(c);
}

/* RR with a reason; then the CA refuses a KUR of the revoked one. */
static void
test_rr_then_kur_refused(void **state)
{
	cmpd_client *c = harness_client(&h);
	cmpd_job *first = enroll(c, "dev"), *rr = NULL, *kur;
	cmpd_cert_state st = CMPD_CERT_STATE_UNKNOWN;
	char out[8192];
	const char *args[] = { "status", NULL, NULL };

	(void)state;
	assert_int_equal(
	    cmpd_revoke(c, cmpd_job_cert_id(first), 1, &rr), CMPD_RESULT_OK);
	rr = wait_job(c, rr);
	assert_int_equal(cmpd_job_state_get(rr), CMPD_JOB_STATE_DONE);
	assert_string_equal(cmpd_job_op(rr), "rr");
	assert_true(
	    cert_get(c, cmpd_job_cert_id(first), NULL, &st, NULL, NULL));
	assert_int_equal(st, CMPD_CERT_STATE_REVOKED);
	assert_int_equal(harness_sh("grep -qi '^%s' '%s/revoked.txt'",
	                     cmpd_job_cert_serial(first), h.pki),
	    0);
	kur = renew(c, cmpd_job_cert_id(first), 0);
	assert_int_equal(cmpd_job_state_get(kur), CMPD_JOB_STATE_FAILED);
	assert_int_equal(cmpd_job_error(kur), CMPD_RESULT_REFUSED);
	assert_int_equal(cmpd_job_pki_status(kur), 2);
	args[1] = cmpd_job_id(kur);
	assert_int_equal(harness_run(&h, out, sizeof(out), "cmpctl", args), 1);
	assert_non_null(strstr(out, "rejection"));
	cmpd_job_free(first);
	cmpd_job_free(rr);
	cmpd_job_free(kur);
	cmpd_client_close(c);
}

static cmpd_job *
genm(cmpd_client *c, const char *type)
{
	cmpd_job *job = NULL;

	if (cmpd_genm(c, "dev", type, &job) != CMPD_RESULT_OK)
		fail_msg("genm %s: %s", type, cmpd_client_last_error(c));
	job = wait_job(c, job);
	if (cmpd_job_state_get(job) != CMPD_JOB_STATE_DONE)
		fail_msg("genm %s: %s", type, cmpd_job_error_text(job));
	return job;
}

static void
test_genm(void **state)
{
	cmpd_client *c = harness_client(&h);
	cmpd_job *cas = genm(c, "ca-certs"), *root, *tmpl;
	char path[600];
	struct stat st;

	(void)state;
	assert_int_equal(cmpd_job_genm_ca_cert_count(cas), 2);
	assert_non_null(strstr(
	    cmpd_job_genm_ca_certs_pem(cas), "-----BEGIN CERTIFICATE-----"));
	root = genm(c, "root-update");
	assert_false(cmpd_job_genm_empty(root));
	assert_string_equal(
	    cmpd_job_genm_new_root_subject(root), "CN=cmpd Test Root CA 2");
	/* cmpd keeps the checked new root as a trust anchor. */
	snprintf(path, sizeof(path), "%s/state/anchors/dev.pem", h.dir);
	assert_int_equal(stat(path, &st), 0);
	tmpl = genm(c, "template");
	assert_false(cmpd_job_genm_empty(tmpl));
	assert_non_null(strstr(cmpd_job_genm_template_text(tmpl), "cmpd test"));
	cmpd_job_free(cas);
	cmpd_job_free(root);
	cmpd_job_free(tmpl);
	cmpd_client_close(c);
}

/* Renewed by itself at 25% of 20 s, files rewritten, reload command run. */
static void
test_automatic_renewal(void **state)
{
	cmpd_client *c = harness_client(&h);
	cmpd_job *first = enroll(c, "auto");
	char serial[80] = "", path[600];
	int64_t renewed = 0;
	struct stat st;

	(void)state;
	for (int i = 0; i < 200 && renewed == 0; i++) {
		usleep(100000);
		assert_true(cert_get(
		    c, cmpd_job_cert_id(first), serial, NULL, NULL, &renewed));
	}
	assert_true(renewed > 0);
	assert_string_not_equal(serial, cmpd_job_cert_serial(first));
	assert_int_equal(stat(cmpd_job_cert_path(first), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	snprintf(path, sizeof(path), "%s/hook.log", h.dir);
	for (int i = 0; i < 100 &&
	     harness_sh("grep -q 'renewed %s' '%s'", cmpd_job_cert_id(first),
	         path) != 0;
	     i++)
		usleep(50000);
	assert_int_equal(harness_sh("grep -q 'enrolled %s' '%s'",
	                     cmpd_job_cert_id(first), path),
	    0);
	assert_int_equal(harness_sh("grep -q 'renewed %s' '%s'",
	                     cmpd_job_cert_id(first), path),
	    0);
	cmpd_job_free(first);
	cmpd_client_close(c);
}

/*
 * The CA goes away right after an enrollment: renewals fail and are tried
 * again with backoff, the certificate showing why; when the CA is back the
 * next attempt succeeds and the failures are forgotten.
 */
static void
test_backoff_then_success(void **state)
{
	cmpd_client *c = harness_client(&h);
	cmpd_job *first = enroll(c, "flaky");
	uint32_t failures = 0;
	int64_t renewed = 0;

	(void)state;
	harness_stop_ca(&h);
	for (int i = 0; i < 150 && failures < 2; i++) {
		usleep(100000);
		assert_true(cert_get(
		    c, cmpd_job_cert_id(first), NULL, NULL, &failures, NULL));
	}
	assert_true(failures >= 2);
	assert_int_equal(harness_restart_ca(&h, ca_args), 0);
	for (int i = 0; i < 150 && (renewed == 0 || failures != 0); i++) {
		usleep(100000);
		assert_true(cert_get(c, cmpd_job_cert_id(first), NULL, NULL,
		    &failures, &renewed));
	}
	assert_true(renewed > 0);
	assert_int_equal(failures, 0);
	cmpd_job_free(first);
	cmpd_client_close(c);
}

/* cmpctl list shows expiry, next renewal and last error of each. */
static void
test_cmpctl_list(void **state)
{
	char out[65536];
	const char *args[] = { "--json", "list", NULL };
	int rc = harness_run(&h, out, sizeof(out), "cmpctl", args);

	(void)state;
	if (rc != 0)
		fail_msg("cmpctl exited %d: %s", rc, out);
	assert_non_null(strstr(out, "\"next_renewal\""));
	assert_non_null(strstr(out, "\"last_error\""));
	assert_non_null(strstr(out, "\"not_after\""));
	assert_non_null(strstr(out, "\"state\": \"revoked\""));
	assert_non_null(strstr(out, "\"state\": \"superseded\""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kur_new_key),
		cmocka_unit_test(test_kur_keep_key),
		cmocka_unit_test(test_cr),
		cmocka_unit_test(test_p10cr),
		cmocka_unit_test(test_rr_then_kur_refused),
		cmocka_unit_test(test_genm),
		cmocka_unit_test(test_automatic_renewal),
		cmocka_unit_test(test_backoff_then_success),
		cmocka_unit_test(test_cmpctl_list),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
