/*
 * cmpctl --json: the shapes cmpctl.md documents, read back with jansson.
 */
/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_client_cli.h"

/* The --json job object, as cmpctl.md documents it. */
static void
test_json_job(void **state)
{
	json_t *v, *c, *f, *ca;
	struct run r;

	(void)state;
	script(1, CMPD__JOB_STATE__JOB_DONE);
	RUN(&r, "-s", resp.path, "--json", "status", "0123456789abcdef");
	assert_int_equal(r.rc, 0);
	v = parse(r.out);
	jexpect_str(v, "id", "0123456789abcdef");
	jexpect_str(v, "profile", "web");
	jexpect_str(v, "op", "ir");
	jexpect_str(v, "state", "done");
	jexpect_str(v, "key_type", "ec-p256");
	jexpect_str(v, "key_id", "0123456789abcdef0123456789abcdef");
	jexpect_str(v, "subject", "/CN=web/O=Acme");
	assert_int_equal(json_array_size(json_object_get(v, "sans")), 2);
	jexpect_str(v, "created", "2023-11-14T22:13:20Z");
	jexpect_str(v, "updated", "2023-11-14T22:15:00Z");
	jexpect_null(v, "next_poll");
	c = json_object_get(v, "certificate");
	jexpect_str(c, "subject", "CN=web,O=Acme");
	jexpect_str(c, "issuer", "CN=Test CA");
	jexpect_str(c, "serial", "0a1b");
	jexpect_str(c, "key_type", "ec-p256");
	jexpect_str(c, "not_before", "2023-11-14T22:13:20Z");
	jexpect_str(c, "not_after", "2027-01-15T08:00:00Z");
	jexpect_str(v, "cert_path", "/var/lib/cmpd/web.pem");
	jexpect_str(v, "chain_path", "/var/lib/cmpd/web-chain.pem");
	assert_non_null(
	    strstr(json_string_value(json_object_get(v, "cert_pem")),
	        "-----BEGIN CERTIFICATE-----\n"));
	jexpect_str(v, "chain_pem", NULL);
	jexpect_null(v, "failure");
	jexpect_null(v, "ca_status");
	json_decref(v);

	script(1, CMPD__JOB_STATE__JOB_FAILED);
	RUN(&r, "-s", resp.path, "--json", "status", "0123456789abcdef");
	assert_int_equal(r.rc, 1);
	v = parse(r.out);
	jexpect_str(v, "state", "failed");
	jexpect_null(v, "certificate");
	jexpect_null(v, "cert_pem");
	f = json_object_get(v, "failure");
	jexpect_str(f, "code", "refused");
	jexpect_str(f, "message", "the CA refused");
	ca = json_object_get(v, "ca_status");
	jexpect_str(ca, "status", "rejection");
	assert_int_equal(
	    json_integer_value(json_object_get(ca, "status_code")), 2);
	assert_string_equal(json_string_value(json_array_get(
	                        json_object_get(ca, "fail_info"), 1)),
	    "signerNotTrusted");
	assert_int_equal(
	    json_integer_value(json_object_get(ca, "fail_info_code")),
	    (1 << 1) | (1 << 20));
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(ca, "text"), 1)),
	    "\x1b[31mred");
	json_decref(v);
}

/* Lists are arrays of objects. */
static void
test_json_lists(void **state)
{
	json_t *v, *e;
	struct run r;

	(void)state;
	RUN(&r, "-s", resp.path, "--json", "jobs", "--profile", "web");
	assert_int_equal(r.rc, 0);
	assert_string_equal(resp_req(&resp, 0)->job_list_req->profile, "web");
	v = parse(r.out);
	assert_true(json_is_array(v));
	assert_int_equal(json_array_size(v), 2);
	jexpect_str(json_array_get(v, 1), "id", "0123456789abcdef");
	json_decref(v);

	RUN(&r, "-s", resp.path, "--json", "list");
	assert_int_equal(r.rc, 0);
	v = parse(r.out);
	assert_int_equal(json_array_size(v), 1);
	e = json_array_get(v, 0);
	jexpect_str(e, "profile", "web");
	jexpect_str(e, "job_id", "0123456789abcdef");
	jexpect_str(e, "subject", "CN=web,O=Acme");
	jexpect_str(e, "issuer", "CN=Test CA");
	jexpect_str(e, "serial", "0a1b");
	jexpect_str(e, "not_before", "2023-11-14T22:13:20Z");
	jexpect_str(e, "not_after", "2027-01-15T08:00:00Z");
	jexpect_str(e, "key_id", "0123456789abcdef0123456789abcdef");
	jexpect_str(e, "cert_path", "/var/lib/cmpd/web.pem");
	jexpect_str(e, "pem", NULL);
	json_decref(v);

	RUN(&r, "-s", resp.path, "--json", "key", "list");
	assert_int_equal(r.rc, 0);
	v = parse(r.out);
	e = json_array_get(v, 0);
	jexpect_str(e, "id", "0123456789abcdef0123456789abcdef");
	jexpect_str(e, "type", "ec-p256");
	jexpect_str(e, "created", "2023-11-14T22:16:40Z");
	assert_non_null(
	    strstr(json_string_value(json_object_get(e, "spki_pem")),
	        "BEGIN PUBLIC KEY"));
	json_decref(v);

	/* And the same as text. */
	RUN(&r, "-s", resp.path, "jobs");
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "JOB"));
	assert_non_null(strstr(r.out, "0123456789abcdef  web"));
	RUN(&r, "-s", resp.path, "list");
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "2027-01-15T08:00:00Z"));
	RUN(&r, "-s", resp.path, "key", "list");
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "0123456789abcdef0123456789abcdef"));
}

static void
jexpect_int(json_t *o, const char *key, json_int_t want)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		fail_msg("%s is not an integer", key);
	assert_int_equal(json_integer_value(v), want);
}

static void
jexpect_bool(json_t *o, const char *key, int want)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_boolean(v))
		fail_msg("%s is not a boolean", key);
	assert_int_equal(json_is_true(v), want);
}

/* list --json: every field of a tracked certificate. */
static void
test_json_list_fields(void **state)
{
	json_t *v, *e;
	struct run r;

	(void)state;
	RUN(&r, "-s", resp.path, "--json", "list");
	assert_int_equal(r.rc, 0);
	v = parse(r.out);
	e = json_array_get(v, 0);
	jexpect_str(e, "id", "c0ffee0123456789");
	jexpect_str(e, "state", "active");
	jexpect_str(e, "key_type", "ec-p256");
	jexpect_str(e, "next_renewal", "2025-10-09T08:53:20Z");
	jexpect_str(e, "renewed", "2025-06-15T15:06:40Z");
	jexpect_int(e, "failures", 2);
	jexpect_str(e, "last_error", "the CA could not be reached");
	jexpect_str(e, "renewing_job", "00000000000000aa");
	assert_non_null(
	    strstr(json_string_value(json_object_get(e, "chain_pem")),
	        "-----BEGIN CERTIFICATE-----\n"));
	jexpect_str(e, "chain_path", "/var/lib/cmpd/web-chain.pem");
	jexpect_null(e, "revocation_reason");
	jexpect_null(e, "revocation_reason_code");
	/* And those of before. */
	jexpect_str(e, "profile", "web");
	jexpect_str(e, "serial", "0a1b");
	json_decref(v);

	/* Revoked, never renewed, nothing failed: nulls and a reason. */
	fake.rec.state = CMPD__CERT_STATE__CERT_REVOKED;
	fake.rec.revocation_reason = 2;
	fake.rec.next_renewal = 0;
	fake.rec.renewed = 0;
	fake.rec.failures = 0;
	fake.rec.last_error = "";
	fake.rec.renewing_job = "";
	fake.rec.n_chain = 0;
	RUN(&r, "-s", resp.path, "--json", "list");
	v = parse(r.out);
	e = json_array_get(v, 0);
	jexpect_str(e, "state", "revoked");
	jexpect_str(e, "revocation_reason", "cACompromise");
	jexpect_int(e, "revocation_reason_code", 2);
	jexpect_null(e, "next_renewal");
	jexpect_null(e, "renewed");
	jexpect_int(e, "failures", 0);
	jexpect_null(e, "last_error");
	jexpect_null(e, "renewing_job");
	jexpect_null(e, "chain_pem");
	json_decref(v);
}

/* The job object's lifecycle members, for KUR and RR jobs. */
static void
test_json_lifecycle_job(void **state)
{
	struct run r;
	json_t *v;

	(void)state;
	script(1, CMPD__JOB_STATE__JOB_RUNNING);
	RUN(&r, "-s", resp.path, "--json", "status", "0123456789abcdef");
	v = parse(r.out);
	jexpect_null(v, "cert_id");
	jexpect_null(v, "protection_cert_id");
	jexpect_bool(v, "keep_key", 0);
	jexpect_null(v, "old_key_id");
	jexpect_null(v, "revocation_reason");
	jexpect_null(v, "revocation_reason_code");
	jexpect_bool(v, "automatic", 0);
	jexpect_null(v, "deadline");
	jexpect_null(v, "genm");
	json_decref(v);

	fake.tmpl.job.op = CMPD__CMP_OP__CMP_OP_KUR;
	fake.tmpl.job.cert_id = "c0ffee0123456789";
	fake.tmpl.job.protection_cert_id = "c0ffee0123456789";
	fake.tmpl.job.keep_key = 1;
	fake.tmpl.job.old_key_id = "fedcba9876543210fedcba9876543210";
	fake.tmpl.job.automatic = 1;
	fake.tmpl.job.deadline = 1700003600;
	RUN(&r, "-s", resp.path, "--json", "renew", "web", "--keep-key");
	assert_int_equal(r.rc, 0);
	v = parse(r.out);
	jexpect_str(v, "op", "kur");
	jexpect_str(v, "state", "queued");
	jexpect_str(v, "cert_id", "c0ffee0123456789");
	jexpect_str(v, "protection_cert_id", "c0ffee0123456789");
	jexpect_bool(v, "keep_key", 1);
	jexpect_str(v, "old_key_id", "fedcba9876543210fedcba9876543210");
	jexpect_bool(v, "automatic", 1);
	jexpect_str(v, "deadline", "2023-11-14T23:13:20Z");
	json_decref(v);

	fake.tmpl.job.op = CMPD__CMP_OP__CMP_OP_RR;
	fake.tmpl.job.revocation_reason = 10;
	RUN(&r, "-s", resp.path, "--json", "revoke", "web", "-r", "10");
	assert_int_equal(r.rc, 0);
	v = parse(r.out);
	jexpect_str(v, "op", "rr");
	jexpect_str(v, "revocation_reason", "aACompromise");
	jexpect_int(v, "revocation_reason_code", 10);
	json_decref(v);
}

/* The "genm" member for each kind of answer. */
static void
test_json_genm(void **state)
{
	json_t *v, *g, *a, *ru, *t;
	struct run r;

	(void)state;
	fake_genm(CMPD__GENM_TYPE__GENM_CA_CERTS, 0);
	script(1, CMPD__JOB_STATE__JOB_DONE);
	RUN(&r, "-s", resp.path, "--json", "ca-certs", "-p", "web");
	assert_int_equal(r.rc, 0);
	v = parse(r.out);
	jexpect_str(v, "op", "genm");
	g = json_object_get(v, "genm");
	jexpect_str(g, "type", "ca-certs");
	jexpect_bool(g, "empty", 0);
	a = json_object_get(g, "ca_certs");
	assert_int_equal(json_array_size(a), 2);
	jexpect_str(json_array_get(a, 1), "subject", "CN=Test CA");
	/* DER as hex: a SEQUENCE with a two-byte length. */
	assert_true(strncmp(json_string_value(json_object_get(
	                        json_array_get(a, 0), "der_hex")),
	                "3082", 4) == 0);
	jexpect_str(g, "ca_certs_pem", NULL);
	jexpect_null(g, "root_update");
	jexpect_null(g, "template");
	json_decref(v);

	fake_genm(CMPD__GENM_TYPE__GENM_ROOT_CA_KEY_UPDATE, 0);
	RUN(&r, "-s", resp.path, "--json", "root-update", "-p", "web");
	assert_int_equal(r.rc, 0);
	v = parse(r.out);
	g = json_object_get(v, "genm");
	jexpect_str(g, "type", "root-update");
	assert_int_equal(json_array_size(json_object_get(g, "ca_certs")), 0);
	jexpect_null(g, "ca_certs_pem");
	ru = json_object_get(g, "root_update");
	jexpect_str(json_object_get(ru, "new_root"), "subject", "CN=Test CA");
	jexpect_str(json_object_get(ru, "new_root"), "not_after",
	    "2027-01-15T08:00:00Z");
	assert_int_equal(
	    strlen(json_string_value(json_object_get(
	        json_object_get(ru, "new_root"), "fingerprint_sha256"))),
	    95);
	jexpect_str(json_object_get(ru, "new_root"), "pem", NULL);
	jexpect_str(ru, "new_with_old_pem", NULL);
	jexpect_bool(ru, "new_with_old_checked", 1);
	jexpect_null(ru, "old_with_new_pem");
	json_decref(v);

	fake_genm(CMPD__GENM_TYPE__GENM_CERT_REQ_TEMPLATE, 0);
	RUN(&r, "-s", resp.path, "--json", "template", "-p", "web");
	v = parse(r.out);
	t = json_object_get(json_object_get(v, "genm"), "template");
	assert_non_null(strstr(json_string_value(json_object_get(t, "text")),
	    "subject: O=cmpd test\n"));
	assert_true(
	    strncmp(json_string_value(json_object_get(t, "cert_template_hex")),
	        "30", 2) == 0);
	jexpect_str(t, "key_spec_hex", NULL);
	json_decref(v);

	fake_genm(CMPD__GENM_TYPE__GENM_CERT_REQ_TEMPLATE, 1);
	RUN(&r, "-s", resp.path, "--json", "template", "-p", "web");
	v = parse(r.out);
	g = json_object_get(v, "genm");
	jexpect_bool(g, "empty", 1);
	jexpect_null(g, "template");
	json_decref(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_json_job, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(
		    test_json_lists, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(
		    test_json_list_fields, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(
		    test_json_lifecycle_job, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(
		    test_json_genm, cli_setup, cli_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
