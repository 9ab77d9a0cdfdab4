/*
 * The built cmpctl's lifecycle commands against a canned responder:
 * enroll --op, renew, revoke, ca-certs, root-update, template, what
 * status shows of KUR, RR and genm jobs, and list (cmpctl.md).
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

static char *
pem_of(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *s;
	long n;

	PEM_write_bio_X509(b, x);
	n = BIO_get_mem_data(b, &data);
	s = strndup(data, (size_t)n);
	BIO_free(b);
	return s;
}

/* Runs cmpctl with args; expects a usage error with want on stderr. */
static void
usage_expect(const char *want, const char *const *args)
{
	const char *argv[40] = { "-s", resp.path };
	struct run r;
	size_t n = 2;

	for (; *args != NULL && n < 39; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	run_as(&r, 0, argv);
	assert_int_equal(r.rc, 2);
	if (strstr(r.err, want) == NULL)
		fail_msg("no '%s' in: %s", want, r.err);
}

#define USAGE(want, ...)                                        \
	do {                                                    \
		const char *const a_[] = { __VA_ARGS__, NULL }; \
		usage_expect(want, a_);                         \
	} while (0)

/* Usage errors exit 2 and never reach cmpd. */
static void
test_usage_errors(void **state)
{
	struct run r;

	(void)state;
	USAGE("give one certificate id or profile", "renew");
	USAGE("give one", "renew", "a", "b");
	USAGE(
	    "not both", "renew", "web", "--keep-key", "--key-type", "ec-p256");
	USAGE("not both", "renew", "web", "-k", "ec-p256", "--keep-key");
	USAGE("dsa", "renew", "web", "--key-type", "dsa");
	USAGE("unknown option", "renew", "web", "--frob");
	USAGE("seconds", "renew", "web", "--wait", "--timeout", "x");
	USAGE("needs an argument", "renew", "web", "--key-type");
	USAGE("../x", "renew", "../x");
	USAGE("give one", "revoke");
	USAGE("not a revocation reason: 7", "revoke", "web", "--reason", "7");
	USAGE("bogus", "revoke", "web", "-r", "bogus");
	USAGE("needs an argument", "revoke", "web", "--reason");
	USAGE("", "revoke", "web", "--cert-out", "f");
	USAGE("not a certificate id", "revoke", "a b");
	USAGE("--profile is required", "ca-certs");
	USAGE("unexpected argument", "ca-certs", "-p", "web", "extra");
	USAGE("needs an argument", "ca-certs", "-p", "web", "--out");
	USAGE("seconds", "root-update", "-p", "web", "--timeout", "-1");
	USAGE("--profile is required", "root-update", "--out", "f");
	USAGE("", "template", "-p", "web", "--out", "f");
	USAGE("", "template", "-p", "web", "-o", "f");
	USAGE("--profile is required", "template");
	USAGE("kur", "enroll", "-p", "web", "--op", "kur");
	USAGE("needs an argument", "enroll", "-p", "web", "--op");
	RUN(&r, "-s", resp.path, "--json", "revoke", "web", "--reason", "x");
	assert_int_equal(r.rc, 2);
	expect_json_error(r.out, "usage");
	assert_int_equal(resp_count(&resp), 0);
}

/* Each new command's help names its options. */
static void
test_help(void **state)
{
	static const char *const want[][2] = { { "renew", "--keep-key" },
		{ "revoke", "keyCompromise" }, { "ca-certs", "--out" },
		{ "root-update", "the CA has no root CA update" },
		{ "template", "the CA has no template" }, { "enroll", "--op" },
		{ "list", "next renewal" } };
	struct run r;

	(void)state;
	for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++) {
		RUN(&r, want[i][0], "--help");
		assert_int_equal(r.rc, 0);
		if (strstr(r.out, want[i][1]) == NULL)
			fail_msg("%s --help lacks %s", want[i][0], want[i][1]);
		RUN(&r, "help", want[i][0]);
		assert_non_null(strstr(r.out, want[i][1]));
	}
	assert_int_equal(resp_count(&resp), 0);
}

static void
test_enroll_op(void **state)
{
	struct run r;

	(void)state;
	RUN(&r, "-s", resp.path, "enroll", "-p", "web", "--op", "p10cr");
	assert_int_equal(r.rc, 0);
	assert_int_equal(
	    resp_req(&resp, 0)->enroll_req->op, CMPD__CMP_OP__CMP_OP_P10CR);
	RUN(&r, "-s", resp.path, "enroll", "-p", "web", "-o", "cr");
	assert_int_equal(r.rc, 0);
	assert_int_equal(
	    resp_req(&resp, 1)->enroll_req->op, CMPD__CMP_OP__CMP_OP_CR);
	RUN(&r, "-s", resp.path, "enroll", "-p", "web");
	assert_int_equal(resp_req(&resp, 2)->enroll_req->op,
	    CMPD__CMP_OP__CMP_OP_UNSPECIFIED);
}

/* renew sends its options and shows the KUR job it started. */
static void
test_renew(void **state)
{
	const Cmpd__RenewReq *q;
	char cert[128], buf[8192];
	char *want = pem_of(fake.cert);
	struct run r;

	(void)state;
	fake.tmpl.job.op = CMPD__CMP_OP__CMP_OP_KUR;
	fake.tmpl.job.cert_id = "c0ffee0123456789";
	fake.tmpl.job.old_key_id = "fedcba9876543210fedcba9876543210";
	RUN(&r, "-s", resp.path, "renew", "c0ffee0123456789", "--key-type",
	    "ec-p384");
	assert_int_equal(r.rc, 0);
	q = resp_req(&resp, 0)->renew_req;
	assert_string_equal(q->cert, "c0ffee0123456789");
	assert_int_equal(q->key_type, CMPD__KEY_TYPE__KEY_EC_P384);
	assert_false(q->keep_key);
	assert_non_null(strstr(r.out, "operation:     kur\n"));
	assert_non_null(strstr(r.out, "state:         queued\n"));
	assert_non_null(strstr(r.out, "tracked cert:  c0ffee0123456789\n"));
	assert_non_null(strstr(r.out, "keep key:      no\n"));
	assert_non_null(
	    strstr(r.out, "old key id:    fedcba9876543210fedcba9876543210\n"));

	/* --keep-key, followed to the end, the new certificate written. */
	fake.tmpl.job.keep_key = 1;
	script(2, CMPD__JOB_STATE__JOB_RUNNING, CMPD__JOB_STATE__JOB_DONE);
	snprintf(cert, sizeof(cert), "%s/new.pem", dir);
	RUN(&r, "-s", resp.path, "renew", "web", "--keep-key", "--cert-out",
	    cert);
	assert_int_equal(r.rc, 0);
	q = resp_req(&resp, 1)->renew_req;
	assert_string_equal(q->cert, "web");
	assert_true(q->keep_key);
	assert_non_null(strstr(r.err, "job 0123456789abcdef: running"));
	assert_non_null(strstr(r.out, "keep key:      yes\n"));
	assert_non_null(strstr(r.out, "result:        certificate renewed\n"));
	assert_non_null(strstr(r.out, "  subject:     CN=web,O=Acme\n"));
	slurp(cert, buf, sizeof(buf));
	assert_string_equal(buf, want);
	free(want);
}

/* revoke sends the reason by name or number, and shows the RR job. */
static void
test_revoke(void **state)
{
	struct run r;

	(void)state;
	fake.tmpl.job.op = CMPD__CMP_OP__CMP_OP_RR;
	fake.tmpl.job.cert_id = "c0ffee0123456789";
	fake.tmpl.job.revocation_reason = 1;
	RUN(&r, "-s", resp.path, "revoke", "web", "--reason", "keyCompromise");
	assert_int_equal(r.rc, 0);
	assert_string_equal(resp_req(&resp, 0)->revoke_req->cert, "web");
	assert_int_equal(resp_req(&resp, 0)->revoke_req->reason, 1);
	assert_non_null(strstr(r.out, "operation:     rr\n"));
	assert_non_null(strstr(r.out, "reason:        keyCompromise (1)\n"));
	/* An RR certifies no key: no key lines. */
	assert_null(strstr(r.out, "key type:"));
	RUN(&r, "-s", resp.path, "revoke", "c0ffee0123456789", "-r", "9");
	assert_int_equal(resp_req(&resp, 1)->revoke_req->reason, 9);
	RUN(&r, "-s", resp.path, "revoke", "web");
	assert_int_equal(resp_req(&resp, 2)->revoke_req->reason, -1);

	script(1, CMPD__JOB_STATE__JOB_DONE);
	RUN(&r, "-s", resp.path, "revoke", "web", "--wait");
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(
	    r.out, "result:        certificate c0ffee0123456789 revoked\n"));
	assert_null(strstr(r.out, "certificate:\n"));
	fake.tmpl.job.revocation_reason = -1;
	RUN(&r, "-s", resp.path, "status", "0123456789abcdef");
	assert_non_null(strstr(r.out, "reason:        none given\n"));
}

/* A refusal of RR, KUR or genm is exit 1, as an error or a failed job. */
static void
test_refused(void **state)
{
	struct run r;

	(void)state;
	fake.error = CMPD__ERROR_CODE__ERR_REFUSED;
	RUN(&r, "-s", resp.path, "revoke", "web");
	assert_int_equal(r.rc, 1);
	assert_non_null(strstr(r.err, "broker says no"));
	RUN(&r, "-s", resp.path, "renew", "web");
	assert_int_equal(r.rc, 1);
	RUN(&r, "-s", resp.path, "--json", "ca-certs", "-p", "web");
	assert_int_equal(r.rc, 1);
	expect_json_error(r.out, "refused");
	fake.error = CMPD__ERROR_CODE__ERR_NOT_FOUND;
	RUN(&r, "-s", resp.path, "revoke", "nosuch");
	assert_int_equal(r.rc, 5);
	fake.error = 0;

	/* The job failed: the CA's status, exit 1. */
	fake.tmpl.job.op = CMPD__CMP_OP__CMP_OP_RR;
	script(2, CMPD__JOB_STATE__JOB_RUNNING, CMPD__JOB_STATE__JOB_FAILED);
	RUN(&r, "-s", resp.path, "revoke", "web", "--wait");
	assert_int_equal(r.rc, 1);
	assert_non_null(strstr(r.out,
	    "CA status: rejection; failure: "
	    "badMessageCheck, signerNotTrusted"));
	fake_genm(CMPD__GENM_TYPE__GENM_ROOT_CA_KEY_UPDATE, 0);
	script(1, CMPD__JOB_STATE__JOB_FAILED);
	RUN(&r, "-s", resp.path, "root-update", "-p", "web");
	assert_int_equal(r.rc, 1);
	assert_non_null(strstr(r.out, "state:         failed\n"));
	assert_non_null(strstr(r.out, "refused by the CA: the CA refused"));
}

/* ca-certs: the subjects, or the PEM in a file; an empty answer. */
static void
test_ca_certs(void **state)
{
	char *p1 = pem_of(fake.cert), *p2 = pem_of(fake.ca);
	char path[128], buf[16384], want[16384];
	struct stat st;
	struct run r;

	(void)state;
	fake_genm(CMPD__GENM_TYPE__GENM_CA_CERTS, 0);
	script(2, CMPD__JOB_STATE__JOB_RUNNING, CMPD__JOB_STATE__JOB_DONE);
	RUN(&r, "-s", resp.path, "ca-certs", "--profile", "web");
	assert_int_equal(r.rc, 0);
	assert_string_equal(resp_req(&resp, 0)->genm_req->profile, "web");
	assert_int_equal(
	    resp_req(&resp, 0)->genm_req->type, CMPD__GENM_TYPE__GENM_CA_CERTS);
	assert_non_null(resp_req(&resp, 1)->job_get_req);
	assert_string_equal(
	    r.out, "2 CA certificates:\n  CN=web,O=Acme\n  CN=Test CA\n");
	assert_non_null(strstr(r.err, "job 0123456789abcdef: done"));

	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	script(1, CMPD__JOB_STATE__JOB_DONE);
	RUN(&r, "-s", resp.path, "ca-certs", "-p", "web", "--out", path);
	assert_int_equal(r.rc, 0);
	snprintf(want, sizeof(want), "wrote 2 CA certificates to %s\n", path);
	assert_string_equal(r.out, want);
	snprintf(want, sizeof(want), "%s%s", p1, p2);
	slurp(path, buf, sizeof(buf));
	assert_string_equal(buf, want);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	unlink(path);

	fake_genm(CMPD__GENM_TYPE__GENM_CA_CERTS, 1);
	RUN(&r, "-s", resp.path, "ca-certs", "-p", "web", "-o", path);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "the CA has no CA certificates to give\n");
	assert_int_not_equal(stat(path, &st), 0);
	free(p1);
	free(p2);
}

/* root-update: the new root, newWithOld checked; --out; none. */
static void
test_root_update(void **state)
{
	char *root = pem_of(fake.ca);
	char path[128], buf[8192];
	struct stat st;
	struct run r;

	(void)state;
	fake_genm(CMPD__GENM_TYPE__GENM_ROOT_CA_KEY_UPDATE, 0);
	script(1, CMPD__JOB_STATE__JOB_DONE);
	snprintf(path, sizeof(path), "%s/root.pem", dir);
	RUN(&r, "-s", resp.path, "root-update", "-p", "web", "--out", path);
	assert_int_equal(r.rc, 0);
	assert_int_equal(resp_req(&resp, 0)->genm_req->type,
	    CMPD__GENM_TYPE__GENM_ROOT_CA_KEY_UPDATE);
	assert_non_null(strstr(r.out, "new root CA:   CN=Test CA\n"));
	assert_non_null(strstr(r.out, "  not after:   2027-01-15T08:00:00Z\n"));
	assert_non_null(strstr(r.out, "  SHA-256:     "));
	assert_non_null(strstr(r.out,
	    "newWithOld:    checked: the current "
	    "trust anchor certifies"));
	assert_non_null(strstr(r.out, "oldWithNew:    not sent\n"));
	assert_non_null(strstr(r.out, "wrote the new root CA certificate"));
	slurp(path, buf, sizeof(buf));
	assert_string_equal(buf, root);
	unlink(path);

	/* Without newWithOld, nothing vouches for the new root. */
	fake.genm.new_with_old.len = 0;
	RUN(&r, "-s", resp.path, "root-update", "-p", "web");
	assert_non_null(strstr(r.out, "newWithOld:    not sent"));

	fake_genm(CMPD__GENM_TYPE__GENM_ROOT_CA_KEY_UPDATE, 1);
	RUN(&r, "-s", resp.path, "root-update", "-p", "web", "--out", path);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "the CA has no root CA update\n");
	assert_int_not_equal(stat(path, &st), 0);
	free(root);
}

/* template: the template and its key spec; none. */
static void
test_template(void **state)
{
	struct run r;

	(void)state;
	fake_genm(CMPD__GENM_TYPE__GENM_CERT_REQ_TEMPLATE, 0);
	script(1, CMPD__JOB_STATE__JOB_DONE);
	RUN(&r, "-s", resp.path, "template", "-p", "web");
	assert_int_equal(r.rc, 0);
	assert_int_equal(resp_req(&resp, 0)->genm_req->type,
	    CMPD__GENM_TYPE__GENM_CERT_REQ_TEMPLATE);
	assert_string_equal(r.out,
	    "subject: O=cmpd test\n"
	    "key algorithm: id-ecPublicKey (prime256v1)\n"
	    "extensions:\n"
	    "    X509v3 Subject Alternative Name: \n"
	    "        DNS:device.example\n"
	    "key spec:\n"
	    "    algId: id-ecPublicKey (prime256v1)\n");
	fake_genm(CMPD__GENM_TYPE__GENM_CERT_REQ_TEMPLATE, 1);
	RUN(&r, "-s", resp.path, "template", "-p", "web");
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "the CA has no template\n");
	/* Bytes that are no template. */
	fake_genm(CMPD__GENM_TYPE__GENM_CERT_REQ_TEMPLATE, 0);
	fake.genm.cert_template.len = 3;
	RUN(&r, "-s", resp.path, "template", "-p", "web");
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "cannot read (3 bytes)"));
}

/* A genm that runs out of time: exit 6, as --wait. */
static void
test_genm_timeout(void **state)
{
	struct run r;

	(void)state;
	fake_genm(CMPD__GENM_TYPE__GENM_CA_CERTS, 0);
	script(1, CMPD__JOB_STATE__JOB_RUNNING);
	fake.hold_ms = 60000;
	RUN(&r, "-s", resp.path, "ca-certs", "-p", "web", "--timeout", "1");
	assert_int_equal(r.rc, 6);
	assert_non_null(strstr(r.err, "still running"));
}

/* status of a genm job shows its answer; of any job, how it started. */
static void
test_status_shows(void **state)
{
	struct run r;

	(void)state;
	fake_genm(CMPD__GENM_TYPE__GENM_CA_CERTS, 0);
	script(1, CMPD__JOB_STATE__JOB_DONE);
	RUN(&r, "-s", resp.path, "status", "0123456789abcdef");
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "operation:     genm\n"));
	assert_non_null(strstr(r.out, "asked for:     ca-certs\n"));
	assert_non_null(strstr(r.out,
	    "answer:\n2 CA certificates:\n  CN=web,O=Acme\n  CN=Test CA\n"));
	assert_null(strstr(r.out, "subject:"));

	fake.tmpl.job.op = CMPD__CMP_OP__CMP_OP_KUR;
	fake.tmpl.job.genm = NULL;
	fake.tmpl.job.automatic = 1;
	fake.tmpl.job.deadline = 1700003600;
	fake.tmpl.job.protection_cert_id = "c0ffee0123456789";
	script(1, CMPD__JOB_STATE__JOB_RUNNING);
	RUN(&r, "-s", resp.path, "status", "0123456789abcdef");
	assert_int_equal(r.rc, 0);
	assert_non_null(
	    strstr(r.out, "started by:    the renewal scheduler\n"));
	assert_non_null(strstr(r.out, "deadline:      2023-11-14T23:13:20Z\n"));
	assert_non_null(strstr(r.out, "protected by:  c0ffee0123456789\n"));
	assert_non_null(strstr(r.out, "key type:      ec-p256\n"));
}

/* list: one line per tracked certificate. */
static void
test_list(void **state)
{
	struct run r;
	char *line;

	(void)state;
	RUN(&r, "-s", resp.path, "list", "-p", "web");
	assert_int_equal(r.rc, 0);
	assert_string_equal(resp_req(&resp, 0)->cert_list_req->profile, "web");
	assert_true(strncmp(r.out, "ID ", 3) == 0);
	assert_non_null(strstr(r.out, "NEXT RENEWAL"));
	assert_non_null(strstr(r.out, "LAST ERROR"));
	line = strchr(r.out, '\n') + 1;
	assert_string_equal(line,
	    "c0ffee0123456789  web           active      CN=web,O=Acme       "
	    "      2027-01-15T08:00:00Z  2025-10-09T08:53:20Z  the CA could "
	    "not be reached\n");

	/* Nothing scheduled, no error; control characters are shown as ?. */
	fake.rec.next_renewal = 0;
	fake.rec.last_error = "";
	fake.rec.state = CMPD__CERT_STATE__CERT_REVOKED;
	fake.rec.subject = "CN=\x1b[2Jx";
	RUN(&r, "-s", resp.path, "list");
	line = strchr(r.out, '\n') + 1;
	assert_string_equal(line,
	    "c0ffee0123456789  web           revoked     CN=?[2Jx            "
	    "      2027-01-15T08:00:00Z  -                     -\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_usage_errors, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(
		    test_help, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enroll_op, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(
		    test_renew, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(
		    test_revoke, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(
		    test_refused, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(
		    test_ca_certs, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(
		    test_root_update, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(
		    test_template, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(
		    test_genm_timeout, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(
		    test_status_shows, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(
		    test_list, cli_setup, cli_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
