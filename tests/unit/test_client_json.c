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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_json_job, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(
		    test_json_lists, cli_setup, cli_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
