/* The broker's configuration: defaults, every check, and errors that name
 * the file and line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static char dir[] = "/tmp/cmpd-config-test.XXXXXX";
static char certpath[256], conf[256];

/* A self-signed P-256 certificate for the profiles to name. */
static int
setup(void **state)
{
	char cmd[1024];

	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(certpath, sizeof(certpath), "%s/ca.pem", dir);
	snprintf(conf, sizeof(conf), "%s/cmpd.conf", dir);
	snprintf(cmd, sizeof(cmd),
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
	    "-nodes -keyout %s/ca.key -subj /CN=t -days 2 -out %s "
	    ">/dev/null 2>&1 && "
	    "openssl req -x509 -newkey ed25519 -nodes -keyout %s/ed.key "
	    "-subj /CN=ed -days 2 -out %s/ed.pem >/dev/null 2>&1",
	    dir, certpath, dir, dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

#pragma GCC diagnostic ignored "-Wformat-nonliteral"

/* text is a printf format: %1$s the CA certificate, %2$s the directory. */
static cmpd_err
load(const char *text, struct config **cfg, char **err)
{
	FILE *f = fopen(conf, "w");

	assert_non_null(f);
	fprintf(f, text, certpath, dir);
	fclose(f);
	*cfg = NULL;
	*err = NULL;
	return config_load(conf, cfg, err);
}

static void
expect_error(const char *text, const char *where, const char *what)
{
	struct config *cfg;
	char *err;
	char want[512];

	assert_int_equal(load(text, &cfg, &err), CMPD_EINVAL);
	assert_null(cfg);
	assert_non_null(err);
	snprintf(want, sizeof(want), "%s%s", conf, where);
	if (strstr(err, want) == NULL || strstr(err, what) == NULL)
		fail_msg("error '%s' lacks '%s' or '%s'", err, want, what);
	free(err);
}

static void
test_defaults_and_profile(void **state)
{
	struct config *cfg;
	const struct profile *p;
	char *err;

	(void)state;
	assert_int_equal(load("[cmpd]\nstate_dir = %2$s/state\n"
	                      "run_dir = %2$s/run\n\n"
	                      "[profile a]\nserver = http://127.0.0.1:1/pkix/\n"
	                      "cert = %1$s\ntrusted = %1$s\n"
	                      "san = DNS:a.example\nsan = IP:192.0.2.1\n",
	                     &cfg, &err),
	    CMPD_OK);
	assert_int_equal(cfg->n_profiles, 1);
	p = config_profile(cfg, "a");
	assert_non_null(p);
	assert_null(config_profile(cfg, "b"));
	assert_int_equal(p->protection, PROTECTION_SIGNATURE);
	assert_int_equal(p->key_type, CMPD__KEY_TYPE__KEY_EC_P256);
	assert_int_equal(p->cert.key_type, CMPD__KEY_TYPE__KEY_EC_P256);
	assert_int_equal(strlen(p->cert.key_id), 32);
	assert_int_equal(p->sans.n, 2);
	assert_string_equal(p->sans.v[1], "IP:192.0.2.1");
	assert_int_equal(p->enroll_trusted.n, 1); /* defaults to trusted */
	assert_int_equal(p->msg_timeout, 30);
	assert_int_equal(p->file_mode, 0644);
	assert_non_null(strstr(p->cert_file, "/state/certs/a/cert.pem"));
	assert_non_null(strstr(cfg->socket, "/run/cmpd.sock"));
	assert_int_equal(strncmp(cfg->socket_url, "ipc://", 6), 0);
	config_free(cfg);
}

static void
test_mac_profile(void **state)
{
	struct config *cfg;
	char *err;

	(void)state;
	setenv("CMPD_TEST_SECRET", "s3cret", 1);
	assert_int_equal(load("[profile m]\nserver = http://h/p\n"
	                      "protection = mac\nmac_reference = ref\n"
	                      "mac_secret = env:CMPD_TEST_SECRET\n"
	                      "trust_capubs = yes\nkey_type = ed25519\n",
	                     &cfg, &err),
	    CMPD_OK);
	assert_int_equal(cfg->profiles[0].mac_secret.len, 6);
	assert_memory_equal(cfg->profiles[0].mac_secret.data, "s3cret", 6);
	assert_int_equal(
	    cfg->profiles[0].key_type, CMPD__KEY_TYPE__KEY_ED25519);
	config_free(cfg);
}

/* Renewal, timeouts, CR through another profile's certificate, files. */
static void
test_lifecycle_options(void **state)
{
	struct config *cfg;
	const struct profile *p, *dev;
	char *err;

	(void)state;
	assert_int_equal(load("[profile dev]\nserver = http://h/\n"
	                      "cert = %1$s\ntrusted = %1$s\n"
	                      "renew_before = 7d\nrenew_jitter = 2h\n"
	                      "renew_window = 02:00-05:30\nretry_min = 30s\n"
	                      "retry_max = 1h\ntotal_timeout = 15m\n"
	                      "reload_command = true\nreload_timeout = 5\n"
	                      "file_owner = 0\nfile_group = 0\n"
	                      "[profile extra]\nserver = http://h/\n"
	                      "protection = certificate\nprotect_with = dev\n"
	                      "op = cr\ntrusted = %1$s\nkeep_key = yes\n"
	                      "auto_renew = no\n",
	                     &cfg, &err),
	    CMPD_OK);
	dev = config_profile(cfg, "dev");
	p = config_profile(cfg, "extra");
	assert_int_equal(dev->renew_before, 7 * 86400);
	assert_int_equal(dev->renew_jitter, 7200);
	assert_int_equal(dev->window.start, 120);
	assert_int_equal(dev->window.end, 330);
	assert_int_equal(dev->retry_min, 30);
	assert_int_equal(dev->retry_max, 3600);
	assert_int_equal(dev->total_timeout, 900);
	assert_int_equal(dev->reload_timeout, 5);
	assert_string_equal(dev->reload_command, "true");
	assert_int_equal(dev->file_uid, 0);
	assert_int_equal(dev->file_gid, 0);
	assert_int_equal(dev->renew_at, 66); /* the default */
	assert_true(dev->auto_renew);
	assert_int_equal(p->protection, PROTECTION_CERTIFICATE);
	assert_string_equal(p->protect_with, "dev");
	assert_int_equal(p->op, CMPD__CMP_OP__CMP_OP_CR);
	assert_true(p->keep_key);
	assert_false(p->auto_renew);
	assert_int_equal(p->window.start, NO_WINDOW);
	assert_int_equal(p->renew_jitter, -1);
	config_free(cfg);
}

static void
test_errors_name_the_line(void **state)
{
	(void)state;
	expect_error("[cmpd]\n\nbogus = 1\n", ":3:", "unknown option 'bogus'");
	expect_error("[cmpd]\nlog_level = loud\n", ":2:", "unknown log level");
	expect_error("[weird]\nx = 1\n", ":2:", "unknown section [weird]");
	expect_error("[profile a]\nserver = http://h/\nkey_type = dsa\n",
	    ":3:", "unknown key type 'dsa'");
	expect_error("[profile a]\ntrusted = /nonexistent.pem\n",
	    ":2:", "cannot open /nonexistent.pem");
	expect_error("[profile a]\nprotection = magic\n",
	    ":2:", "signature, mac or certificate");
	expect_error(
	    "[profile a]\nrenew_before = 3 weeks\n", ":2:", "not a duration");
	expect_error(
	    "[profile a]\nrenew_at = 100\n", ":2:", "percentage from 1 to 99");
	expect_error(
	    "[profile a]\nrenew_window = 25:00-03:00\n", ":2:", "daily window");
	expect_error("[profile a]\nop = kur\n", ":2:", "ir, cr or p10cr");
	expect_error("[profile a]\nfile_owner = no-such-user-xyz\n",
	    ":2:", "unknown user");
	expect_error(
	    "[profile a]\nimplicit_confirm = maybe\n", ":2:", "not yes or no");
	expect_error(
	    "[profile bad/name]\nserver = http://h/\n", ":2:", "profile name");
	expect_error("[profile a]\nallowed_users = no-such-user-xyz\n",
	    ":2:", "unknown user");
	expect_error("[profile a]\nmac_secret = plain\n", ":2:", "pass:");
}

static void
test_profile_checks(void **state)
{
	(void)state;
	expect_error("[profile a]\ncert = %1$s\n", ":", "server must be");
	expect_error("[profile a]\nserver = http://h/\n", ":", "needs cert");
	expect_error("[profile a]\nserver = http://h/\ncert = %1$s\n", ":",
	    "set trusted");
	expect_error("[profile a]\nserver = http://h/\nprotection = mac\n", ":",
	    "mac_reference");
	expect_error("[profile a]\nserver = http://h/\nprotection = mac\n"
	             "mac_reference = r\nmac_secret = pass:x\n",
	    ":", "no trust anchor");
	expect_error("[profile a]\nserver = http://h/\nprotection = "
	             "certificate\nprotect_with = nobody\ntrusted = %1$s\n",
	    ":", "protect_with naming another profile");
	expect_error("[profile a]\nserver = http://h/\ncert = %1$s\n"
	             "trusted = %1$s\nop = cr\n",
	    ":", "op = cr needs protection = certificate");
	expect_error("[profile a]\nserver = https://h/\ncert = %1$s\n"
	             "trusted = %1$s\n",
	    ":", "needs tls_trusted");
	expect_error("[profile a]\nserver = http://h/\ncert = %1$s\n"
	             "trusted = %1$s\nretry_min = 2h\nretry_max = 1h\n",
	    ":", "retry_min");
	expect_error("[profile a]\nserver = http://h/\ncert = %2$s/ed.pem\n"
	             "trusted = %1$s\n",
	    ":", "cannot protect CMP messages");
	expect_error("[profile a]\nserver = http://h/\nprotection = mac\n"
	             "mac_reference = r\nmac_secret = pass:x\n"
	             "trust_capubs = yes\n[profile b]\nserver = http://h/\n"
	             "[profile a]\nkey_type = ec-p384\n",
	    ":10:", "defined twice");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_profile),
		cmocka_unit_test(test_mac_profile),
		cmocka_unit_test(test_lifecycle_options),
		cmocka_unit_test(test_errors_name_the_line),
		cmocka_unit_test(test_profile_checks),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
