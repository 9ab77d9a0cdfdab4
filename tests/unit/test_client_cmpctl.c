/*
 * The built cmpctl against a canned responder: argument parsing, what it
 * sends, its exit codes, its text, its progress and the files it writes
 * (cmpctl.md).
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

/* ------------------------------------------------------------------ */

static void
test_usage(void **state)
{
	static const char *const cmds[] = { "enroll", "status", "jobs", "list",
		"renew", "revoke", "ca-certs", "root-update", "template", "key",
		"help" };
	static struct run r, all;
	char want[64];

	(void)state;
	RUN(&r, "--socket", resp.path);
	assert_int_equal(r.rc, 2);
	assert_non_null(strstr(r.err, "no command"));
	RUN(&r, "--socket", resp.path, "frobnicate");
	assert_int_equal(r.rc, 2);
	RUN(&r, "--bogus");
	assert_int_equal(r.rc, 2);
	RUN(&all, "help");
	assert_int_equal(all.rc, 0);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(*cmds); i++) {
		snprintf(want, sizeof(want), "  %-11s  ", cmds[i]);
		assert_non_null(strstr(all.out, want));
		snprintf(want, sizeof(want), "Usage: cmpctl %s", cmds[i]);
		RUN(&r, cmds[i], "--help");
		assert_int_equal(r.rc, 0);
		assert_non_null(strstr(r.out, want));
		RUN(&r, "help", cmds[i]);
		assert_int_equal(r.rc, 0);
		assert_non_null(strstr(r.out, want));
	}
	RUN(&r, "key", "import", "--help");
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "--passphrase-file"));
	RUN(&r, "help", "nope");
	assert_int_equal(r.rc, 2);
	RUN(&r, "--version");
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "cmpctl "));
	RUN(&r, "--help");
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "Exit codes"));
	assert_int_equal(resp_count(&resp), 0);
}

/* Usage errors exit 2 and never reach cmpd. */
static void
test_usage_errors(void **state)
{
	const char *s = resp.path;
	struct run r;

	(void)state;
	RUN(&r, "-s", s, "enroll");
	assert_int_equal(r.rc, 2);
	assert_non_null(strstr(r.err, "--profile is required"));
	RUN(&r, "-s", s, "enroll", "--profile", "web", "--san", "nope");
	assert_int_equal(r.rc, 2);
	assert_non_null(strstr(r.err, "nope"));
	RUN(&r, "-s", s, "enroll", "-p", "web", "--key-type", "dsa");
	assert_int_equal(r.rc, 2);
	RUN(&r, "-s", s, "enroll", "-p", "web", "--subject", "CN=x");
	assert_int_equal(r.rc, 2);
	RUN(&r, "-s", s, "enroll", "-p", "web", "--key-id", "12");
	assert_int_equal(r.rc, 2);
	RUN(&r, "-s", s, "enroll", "-p", "web", "--timeout", "-3");
	assert_int_equal(r.rc, 2);
	RUN(&r, "-s", s, "enroll", "-p", "web", "--timeout", "3x");
	assert_int_equal(r.rc, 2);
	RUN(&r, "-s", s, "enroll", "-p", "web", "stray");
	assert_int_equal(r.rc, 2);
	RUN(&r, "-s", s, "enroll", "-p", "web", "--frob");
	assert_int_equal(r.rc, 2);
	RUN(&r, "-s", s, "enroll", "-p", "web", "--key-type", "ec-p256",
	    "--key-id", "0123456789abcdef0123456789abcdef");
	assert_int_equal(r.rc, 2);
	RUN(&r, "-s", s, "enroll", "--profile");
	assert_int_equal(r.rc, 2);
	assert_non_null(strstr(r.err, "needs an argument"));
	RUN(&r, "-s", s, "status");
	assert_int_equal(r.rc, 2);
	RUN(&r, "-s", s, "status", "a", "b");
	assert_int_equal(r.rc, 2);
	RUN(&r, "-s", s, "status", "not-a-job");
	assert_int_equal(r.rc, 2);
	RUN(&r, "-s", s, "jobs", "extra");
	assert_int_equal(r.rc, 2);
	RUN(&r, "-s", s, "list", "--profile");
	assert_int_equal(r.rc, 2);
	RUN(&r, "-s", s, "key");
	assert_int_equal(r.rc, 2);
	RUN(&r, "-s", s, "key", "frob");
	assert_int_equal(r.rc, 2);
	RUN(&r, "-s", s, "key", "import");
	assert_int_equal(r.rc, 2);
	RUN(&r, "-s", s, "key", "list", "extra");
	assert_int_equal(r.rc, 2);
	RUN(&r, "-s", s, "--json", "enroll");
	assert_int_equal(r.rc, 2);
	expect_json_error(r.out, "usage");
	assert_int_equal(resp_count(&resp), 0);
}

static void
test_unreachable(void **state)
{
	struct run r;

	(void)state;
	RUN(&r, "--socket", "/nonexistent/cmpd.sock", "jobs");
	assert_int_equal(r.rc, 3);
	assert_non_null(strstr(r.err, "/nonexistent/cmpd.sock"));
	RUN(&r, "--json", "--socket", "/nonexistent/cmpd.sock", "status",
	    "0123456789abcdef");
	assert_int_equal(r.rc, 3);
	expect_json_error(r.out, "unavailable");
}

/* The options reach cmpd as fields; $CMPD_SOCKET names the socket. */
static void
test_enroll_sends(void **state)
{
	const Cmpd__EnrollReq *e;
	struct run r;

	(void)state;
	setenv("CMPD_SOCKET", resp.path, 1);
	RUN(&r, "enroll", "--profile", "web", "--subject", "/CN=h/O=Acme",
	    "--san", "DNS:h.example", "-a", "IP:192.0.2.9", "--key-type",
	    "rsa3072");
	unsetenv("CMPD_SOCKET");
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "0123456789abcdef"));
	assert_non_null(strstr(r.out, "queued"));
	assert_non_null(strstr(r.out, "/CN=web/O=Acme"));
	assert_int_equal(resp_count(&resp), 1);
	e = resp_req(&resp, 0)->enroll_req;
	assert_non_null(e);
	assert_string_equal(e->profile, "web");
	assert_string_equal(e->subject, "/CN=h/O=Acme");
	assert_int_equal(e->n_sans, 2);
	assert_string_equal(e->sans[1], "IP:192.0.2.9");
	assert_int_equal(e->key_type, CMPD__KEY_TYPE__KEY_RSA_3072);
}

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

/* --wait follows the job, shows progress, writes the files (0644). */
static void
test_enroll_wait_files(void **state)
{
	char cert[128], chain[128], buf[8192];
	char *want_cert = pem_of(fake.cert), *want_chain = pem_of(fake.ca);
	struct stat st;
	struct run r;
	mode_t old;

	(void)state;
	script(3, CMPD__JOB_STATE__JOB_RUNNING, CMPD__JOB_STATE__JOB_WAITING,
	    CMPD__JOB_STATE__JOB_DONE);
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(chain, sizeof(chain), "%s/chain.pem", dir);
	old = umask(077);
	RUN(&r, "-s", resp.path, "enroll", "-p", "web", "--wait", "--cert-out",
	    cert, "--chain-out", chain);
	umask(old);
	assert_int_equal(r.rc, 0);
	/* Not a terminal: one plain line per state. */
	assert_non_null(strstr(r.err, "job 0123456789abcdef: running"));
	assert_non_null(
	    strstr(r.err, "job 0123456789abcdef: waiting (next poll"));
	assert_non_null(strstr(r.err, "job 0123456789abcdef: done"));
	assert_non_null(strstr(r.out, "state:         done"));
	assert_non_null(strstr(r.out, "CN=web,O=Acme"));
	assert_non_null(strstr(r.out, "CN=Test CA"));
	assert_non_null(strstr(r.out, "0a1b"));
	assert_non_null(strstr(r.out, "ec-p256"));
	assert_non_null(strstr(r.out, "2027-01-15T08:00:00Z"));
	assert_non_null(strstr(r.out, "/var/lib/cmpd/web-chain.pem"));
	assert_int_equal(stat(cert, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	slurp(cert, buf, sizeof(buf));
	assert_string_equal(buf, want_cert);
	assert_int_equal(stat(chain, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	slurp(chain, buf, sizeof(buf));
	assert_string_equal(buf, want_chain);
	free(want_cert);
	free(want_chain);
}

/* On a terminal, progress is a sentence per state change. */
static void
test_wait_progress_tty(void **state)
{
	struct run r;

	(void)state;
	if (!cli_have_pty())
		skip();
	script(3, CMPD__JOB_STATE__JOB_KEYGEN, CMPD__JOB_STATE__JOB_WAITING,
	    CMPD__JOB_STATE__JOB_DONE);
	RUN_TTY(&r, "-s", resp.path, "status", "--wait", "0123456789abcdef");
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.err, "generating the key"));
	assert_non_null(strstr(r.err, "waiting for the CA, next poll in "));
	assert_non_null(strstr(r.err, "certificate issued"));
	assert_null(strstr(r.err, "job 0123456789abcdef:"));
	assert_non_null(strstr(r.out, "state:         done"));
}

/* A refused job: exit 1, the CA's status in words, no terminal escapes. */
static void
test_status_refused(void **state)
{
	struct run r;

	(void)state;
	script(1, CMPD__JOB_STATE__JOB_FAILED);
	RUN(&r, "-s", resp.path, "status", "0123456789abcdef");
	assert_int_equal(r.rc, 1);
	assert_non_null(strstr(r.out, "refused by the CA: the CA refused"));
	assert_non_null(strstr(r.out,
	    "CA status: rejection; failure: badMessageCheck, "
	    "signerNotTrusted; text: signer not trusted, ?[31mred"));
	assert_null(strchr(r.out, '\x1b'));
}

/* cmpd's Error replies become the documented exit codes. */
static void
test_exit_codes(void **state)
{
	static const struct {
		Cmpd__ErrorCode code;
		int rc;
		const char *name;
	} map[] = {
		{ CMPD__ERROR_CODE__ERR_NOT_FOUND, 5, "not_found" },
		{ CMPD__ERROR_CODE__ERR_DENIED, 4, "denied" },
		{ CMPD__ERROR_CODE__ERR_INTERNAL, 3, "internal" },
		{ CMPD__ERROR_CODE__ERR_UNAVAILABLE, 3, "unavailable" },
		{ CMPD__ERROR_CODE__ERR_INVALID, 2, "invalid" },
		{ CMPD__ERROR_CODE__ERR_REFUSED, 1, "refused" },
	};
	struct run r;

	(void)state;
	for (size_t i = 0; i < sizeof(map) / sizeof(*map); i++) {
		fake.error = map[i].code;
		RUN(&r, "-s", resp.path, "status", "0123456789abcdef");
		assert_int_equal(r.rc, map[i].rc);
		assert_non_null(strstr(r.err, "broker says no"));
		RUN(&r, "-s", resp.path, "--json", "enroll", "-p", "web");
		assert_int_equal(r.rc, map[i].rc);
		expect_json_error(r.out, map[i].name);
	}
}

static void
test_wait_timeout(void **state)
{
	struct run r;
	json_t *v, *job;

	(void)state;
	script(1, CMPD__JOB_STATE__JOB_RUNNING);
	fake.hold_ms = 60000;
	RUN(&r, "-s", resp.path, "status", "0123456789abcdef", "--wait",
	    "--timeout", "1");
	assert_int_equal(r.rc, 6);
	assert_non_null(strstr(r.out, "state:         running"));
	assert_non_null(strstr(r.err, "still running"));
	RUN(&r, "-s", resp.path, "--json", "status", "-w", "-t", "1",
	    "0123456789abcdef");
	assert_int_equal(r.rc, 6);
	expect_json_error(r.out, "timeout");
	v = parse(r.out);
	job = json_object_get(json_object_get(v, "error"), "job");
	assert_string_equal(
	    json_string_value(json_object_get(job, "state")), "running");
	json_decref(v);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* key import with a passphrase file; the passphrase's errors. */
static void
test_key_import(void **state)
{
	char key[128], pass[128], wrong[128];
	struct run r;
	json_t *v;
	BIO *b;

	(void)state;
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(pass, sizeof(pass), "%s/pass", dir);
	snprintf(wrong, sizeof(wrong), "%s/wrong", dir);
	b = BIO_new_file(key, "w");
	PEM_write_bio_PKCS8PrivateKey(
	    b, fake.key, EVP_aes_128_cbc(), NULL, 0, NULL, "pass phrase");
	BIO_free(b);
	write_file(pass, "pass phrase\n");
	write_file(wrong, "guess\n");

	RUN(&r, "-s", resp.path, "key", "import", key, "--passphrase-file",
	    pass);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "fedcba9876543210fedcba9876543210"));
	assert_int_equal(resp_count(&resp), 2);
	assert_true(resp_req(&resp, 1)->key_import_req->envelope.len > 100);

	RUN(&r, "-s", resp.path, "--json", "key", "import", "-P", pass, key);
	assert_int_equal(r.rc, 0);
	v = parse(r.out);
	jexpect_str(v, "id", "fedcba9876543210fedcba9876543210");
	jexpect_str(v, "type", "ec-p256");
	json_decref(v);

	RUN(&r, "-s", resp.path, "key", "import", key, "-P", wrong);
	assert_int_equal(r.rc, 4);
	RUN(&r, "-s", resp.path, "key", "import", key);
	assert_int_equal(r.rc, 4);
	RUN(&r, "-s", resp.path, "key", "import", key, "-P", "/nonexistent");
	assert_int_equal(r.rc, 5);
	RUN(&r, "-s", resp.path, "key", "import", "/nonexistent/key.pem");
	assert_int_equal(r.rc, 5);
	assert_int_equal(resp_count(&resp), 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_usage, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(
		    test_usage_errors, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(
		    test_unreachable, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enroll_sends, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(
		    test_enroll_wait_files, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(
		    test_wait_progress_tty, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(
		    test_status_refused, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(
		    test_exit_codes, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(
		    test_wait_timeout, cli_setup, cli_teardown),
		cmocka_unit_test_setup_teardown(
		    test_key_import, cli_setup, cli_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
