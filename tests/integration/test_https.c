/*
 * CMP over HTTPS: the test CA serves TLS and requires a client certificate
 * chained to its TLS root. cmpd enrolls with a TLS client certificate
 * whose key is in the keyworker; without one the handshake is refused, and
 * with the wrong anchors the CA's certificate is; each failure says which
 * URL and what failed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "checks.h"
#include "harness.h"

static const char https_conf[] =
    "[profile tls]\n"
    "server = https://127.0.0.1:%2$d/.well-known/cmp\n"
    "tls_trusted = %1$s/tls-root.pem\n"
    "tls_cert = %1$s/tls-client.pem\n"
    "cert = %1$s/supplier.pem\n"
    "trusted = %1$s/root.pem\n"
    "subject = /CN=tls.example\n"
    "\n"
    "[profile tls-name]\n"
    "server = https://localhost:%2$d/pkix/\n"
    "tls_trusted = %1$s/tls-root.pem\n"
    "tls_cert = %1$s/tls-client.pem\n"
    "protection = mac\n"
    "mac_reference = device-0001\n"
    "mac_secret = file:%1$s/mac-secret.txt\n"
    "enroll_trusted = %1$s/root.pem\n"
    "subject = /CN=tls-name.example\n"
    "\n"
    "[profile tls-anonymous]\n"
    "server = https://127.0.0.1:%2$d/pkix/\n"
    "tls_trusted = %1$s/tls-root.pem\n"
    "cert = %1$s/supplier.pem\n"
    "trusted = %1$s/root.pem\n"
    "subject = /CN=anonymous.example\n"
    "msg_timeout = 5s\n"
    "\n"
    "[profile tls-wrong]\n"
    "server = https://127.0.0.1:%2$d/pkix/\n"
    "tls_trusted = %1$s/root.pem\n"
    "tls_cert = %1$s/tls-client.pem\n"
    "cert = %1$s/supplier.pem\n"
    "trusted = %1$s/root.pem\n"
    "subject = /CN=wrong.example\n"
    "msg_timeout = 5s\n";

static struct harness h;

static int
setup(void **state)
{
	char id[33], ca_tls[3][600];
	const char *ca_args[] = { "--tls-cert", ca_tls[0], "--tls-key",
		ca_tls[1], "--tls-client-ca", ca_tls[2], NULL };

	(void)state;
	if (harness_init(&h, "https") != 0)
		return -1;
	snprintf(ca_tls[0], sizeof(ca_tls[0]), "%s/tls-server.pem", h.pki);
	snprintf(ca_tls[1], sizeof(ca_tls[1]), "%s/tls-server.key", h.pki);
	snprintf(ca_tls[2], sizeof(ca_tls[2]), "%s/tls-root.pem", h.pki);
	if (harness_start_ca(&h, ca_args) != 0 ||
	    harness_start_cmpd(&h, https_conf) != 0 ||
	    harness_import(&h, "supplier.key", id) != 0 ||
	    harness_import(&h, "tls-client.key", id) != 0)
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

static void
test_https_client_cert(void **state)
{
	cmpd_job *job = harness_enroll_wait(&h, "tls", NULL);

	(void)state;
	assert_non_null(job);
	check_issued(&h, job);
	cmpd_job_free(job);
}

/* The host name is checked against the CA's TLS certificate too. */
static void
test_https_by_name_with_mac(void **state)
{
	cmpd_job *job = harness_enroll_wait(&h, "tls-name", NULL);

	(void)state;
	assert_non_null(job);
	check_issued(&h, job);
	cmpd_job_free(job);
}

static void
expect_transport_failure(const char *profile, const char *what)
{
	cmpd_job *job = harness_enroll_wait(&h, profile, NULL);
	const char *text;

	assert_non_null(job);
	text = cmpd_job_error_text(job);
	assert_int_equal(cmpd_job_state_get(job), CMPD_JOB_STATE_FAILED);
	assert_int_equal(cmpd_job_error(job), CMPD_RESULT_TRANSPORT);
	if (strstr(text, "https://127.0.0.1:") == NULL ||
	    strstr(text, what) == NULL)
		fail_msg("%s: '%s' lacks the URL or '%s'", profile, text, what);
	cmpd_job_free(job);
}

/* No client certificate: the CA ends the handshake. */
static void
test_https_without_client_cert(void **state)
{
	(void)state;
	expect_transport_failure("tls-anonymous", "TLS");
}

/* The CA's TLS certificate does not chain to the configured anchors. */
static void
test_https_wrong_anchor(void **state)
{
	(void)state;
	expect_transport_failure("tls-wrong", "certificate verify failed");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_https_client_cert),
		cmocka_unit_test(test_https_by_name_with_mac),
		cmocka_unit_test(test_https_without_client_cert),
		cmocka_unit_test(test_https_wrong_anchor),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
