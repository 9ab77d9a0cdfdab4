/*
 * Damage from outside: a key file truncated, a store overwritten, a disk
 * that fills up, a certificate file deleted or replaced by someone else. cmpd
 * names what is damaged, keeps everything else, never crashes, and works again
 * once the cause is gone.
 *
 * The state directory lives on a small tmpfs of this test's own mount
 * namespace, so the test needs root (it says so and skips otherwise).
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "checks.h"
#include "harness.h"

static struct harness h;
static char state_dir[600];

/* A private mount namespace with a 16 MiB tmpfs for cmpd's state. */
static int
state_on_tmpfs(void)
{
	snprintf(state_dir, sizeof(state_dir), "%s/state", h.dir);
	if (unshare(CLONE_NEWNS) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mkdir(state_dir, 0755) != 0 ||
	    mount("tmpfs", state_dir, "tmpfs", 0, "size=16m,mode=0755") != 0) {
		fprintf(stderr, "cannot mount a tmpfs: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int
setup(void **state)
{
	char id[33];

	(void)state;
	if (geteuid() != 0) {
		fprintf(stderr, "skipped: needs root for a tmpfs of its own\n");
		exit(77);
	}
	if (harness_init(&h, "damage") != 0 || state_on_tmpfs() != 0 ||
	    harness_start_ca(&h, NULL) != 0 ||
	    harness_start_cmpd(&h, "") != 0 ||
	    harness_import(&h, "supplier.key", id) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	/* cmpd first, then the tmpfs under it, then the directory. */
	harness_stop_cmpd(&h);
	umount2(state_dir, MNT_DETACH);
	harness_fini(&h);
	return 0;
}

static cmpd_job *
enroll_done(const char *profile)
{
	cmpd_job *job = harness_enroll_wait(&h, profile, NULL);

	assert_non_null(job);
	check_issued(&h, job);
	check_file(job);
	return job;
}

/* Runs cmpd in the foreground expecting it to refuse to start. */
static void
cmpd_refuses(const char *needle)
{
	int st = harness_sh("timeout 30 '%s/cmpd' --foreground --config '%s' "
	                    ">'%s/refused.log' 2>&1",
	    h.bin, h.conf, h.dir);

	if (st == 0 || st == 124)
		fail_msg("cmpd %s on a damaged store",
		    st ? "kept running" : "started");
	if (harness_sh("grep -q '%s' '%s/refused.log'", needle, h.dir) != 0)
		fail_msg("cmpd did not name %s", needle);
}

/*
 * A truncated key file is named in the log and left out; every other key
 * and certificate stays usable, and the certificate file stays as it was.
 */
static void
test_key_file_truncated(void **state)
{
	cmpd_job *a = enroll_done("sig"), *b = enroll_done("implicit");
	char path[700];
	cmpd_client *c;
	cmpd_key_array *keys = NULL;
	int found_a = 0, found_b = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/%s.key", h.keys, cmpd_job_key_id(a));
	assert_int_equal(harness_kill_cmpd(&h), 0);
	assert_int_equal(truncate(path, 40), 0);
	assert_int_equal(harness_start_cmpd(&h, ""), 0);
	c = harness_client(&h);
	assert_non_null(c);
	assert_int_equal(cmpd_key_list(c, &keys), CMPD_RESULT_OK);
	for (size_t i = 0; i < cmpd_key_array_count(keys); i++) {
		const char *id = cmpd_key_info_id(cmpd_key_array_get(keys, i));

		found_a |= strcmp(id, cmpd_job_key_id(a)) == 0;
		found_b |= strcmp(id, cmpd_job_key_id(b)) == 0;
	}
	assert_false(found_a);
	assert_true(found_b);
	assert_int_equal(
	    harness_sh("grep -q '%s' '%s/cmpd.log'", path, h.dir), 0);
	check_file(a);
	check_file(b);
	cmpd_key_array_free(keys);
	cmpd_client_close(c);
	cmpd_job_free(a);
	cmpd_job_free(b);
	cmpd_job_free(enroll_done("implicit"));
}

/*
 * A store whose header was overwritten: cmpd refuses to start, names the
 * file and leaves it as it is; the copy from before starts with all data.
 */
static void
test_store_overwritten(void **state)
{
	cmpd_client *c;
	cmpd_cert_array *certs = NULL;
	size_t before;

	(void)state;
	c = harness_client(&h);
	assert_non_null(c);
	assert_int_equal(cmpd_cert_list(c, NULL, &certs), CMPD_RESULT_OK);
	before = cmpd_cert_array_count(certs);
	assert_true(before >= 2);
	cmpd_cert_array_free(certs);
	cmpd_client_close(c);
	/* A clean stop writes everything into cmpd.db itself. */
	assert_int_equal(harness_stop_cmpd(&h), 0);
	assert_int_equal(
	    harness_sh("cd '%s' && mkdir -p ../keep && "
	               "cp -p cmpd.db* ../keep/ && "
	               "printf 'not a database at all, %%0100d' 0 "
	               "| dd of=cmpd.db conv=notrunc 2>/dev/null && "
	               "cp cmpd.db ../damaged.db",
	        state_dir),
	    0);
	cmpd_refuses("cmpd.db");
	assert_int_equal(
	    harness_sh("cmp -s '%1$s/cmpd.db' '%1$s/../damaged.db'", state_dir),
	    0);
	assert_int_equal(
	    harness_sh("cd '%s' && cp -p ../keep/cmpd.db* .", state_dir), 0);
	assert_int_equal(harness_start_cmpd(&h, ""), 0);
	c = harness_client(&h);
	assert_int_equal(cmpd_cert_list(c, NULL, &certs), CMPD_RESULT_OK);
	assert_int_equal(cmpd_cert_array_count(certs), before);
	cmpd_cert_array_free(certs);
	cmpd_client_close(c);
}

/*
 * The disk fills up: an enrollment fails with a reason that says so,
 * what was stored stays, cmpd starts again on the full disk, and works
 * once there is room.
 */
static void
test_disk_full(void **state)
{
	cmpd_job *old = enroll_done("sig"), *job = NULL, *done = NULL;
	cmpd_client *c = harness_client(&h);
	cmpd_result rv;
	const char *why;

	(void)state;
	assert_non_null(c);
	assert_int_not_equal(
	    harness_sh(
	        "dd if=/dev/zero of='%s/filler' bs=64k 2>/dev/null", state_dir),
	    0);
	rv = cmpd_enroll(c, "sig", NULL, &job);
	if (rv == CMPD_RESULT_OK) {
		assert_int_equal(
		    cmpd_job_wait(c, cmpd_job_id(job), 60000, &done),
		    CMPD_RESULT_OK);
		assert_int_equal(
		    cmpd_job_state_get(done), CMPD_JOB_STATE_FAILED);
		why = cmpd_job_error_text(done);
	} else {
		why = cmpd_client_last_error(c);
	}
	if (strstr(why, "full") == NULL && strstr(why, "space") == NULL)
		fail_msg("the reason does not say the disk is full: %s", why);
	print_message("on a full disk: %s\n", why);
	check_file(old);
	cmpd_job_free(job);
	cmpd_job_free(done);
	cmpd_client_close(c);
	/* A restart on the full disk, then room again. */
	assert_int_equal(harness_kill_cmpd(&h), 0);
	assert_int_equal(harness_start_cmpd(&h, ""), 0);
	check_file(old);
	assert_int_equal(harness_sh("rm '%s/filler'", state_dir), 0);
	cmpd_job_free(enroll_done("sig"));
	cmpd_job_free(old);
}

/* The active certificate of profile, from cmpd's list. */
static const cmpd_cert *
active_cert(const cmpd_cert_array *certs, const char *profile)
{
	for (size_t i = 0; i < cmpd_cert_array_count(certs); i++) {
		const cmpd_cert *c = cmpd_cert_array_get(certs, i);

		if (strcmp(cmpd_cert_profile(c), profile) == 0 &&
		    cmpd_cert_state_get(c) == CMPD_CERT_STATE_ACTIVE)
			return c;
	}
	fail_msg("profile %s has no active certificate", profile);
	return NULL;
}

static void
restart_cmpd(void)
{
	assert_int_equal(harness_kill_cmpd(&h), 0);
	assert_int_equal(harness_start_cmpd(&h, ""), 0);
}

/*
 * The certificate file is the applications': deleted, cmpd writes it
 * again at startup; replaced by someone else, cmpd leaves it alone at
 * startup and at a renewal, and the certificate's last error says so.
 */
static void
test_cert_file_outside(void **state)
{
	cmpd_job *job = enroll_done("implicit"), *renew = NULL, *done = NULL;
	static const char foreign[] = "a certificate from someone else\n";
	const char *path = cmpd_job_cert_path(job);
	cmpd_cert_array *certs = NULL;
	cmpd_client *c;
	char *text;

	(void)state;
	assert_int_equal(unlink(path), 0);
	restart_cmpd();
	check_file(job);
	assert_int_equal(harness_sh("printf '%s' >'%s'", foreign, path), 0);
	restart_cmpd();
	assert_int_equal(harness_sh("grep -q 'replaced by someone else' "
	                            "'%s/cmpd.log'",
	                     h.dir),
	    0);
	c = harness_client(&h);
	assert_non_null(c);
	assert_int_equal(cmpd_cert_list(c, NULL, &certs), CMPD_RESULT_OK);
	assert_non_null(
	    strstr(cmpd_cert_last_error(active_cert(certs, "implicit")),
	        "replaced by someone else"));
	cmpd_cert_array_free(certs);
	if (cmpd_renew(c, "implicit", NULL, &renew) != CMPD_RESULT_OK) {
		harness_sh("df %1$s >&2; ls -la %1$s >&2", state_dir);
		fail_msg("renew: %s", cmpd_client_last_error(c));
	}
	assert_int_equal(
	    cmpd_job_wait(c, cmpd_job_id(renew), 60000, &done), CMPD_RESULT_OK);
	if (cmpd_job_state_get(done) != CMPD_JOB_STATE_DONE)
		fail_msg("renewal: %s", cmpd_job_error_text(done));
	text = check_read_file(path);
	assert_string_equal(text, foreign);
	free(text);
	assert_int_equal(cmpd_cert_list(c, NULL, &certs), CMPD_RESULT_OK);
	assert_non_null(
	    strstr(cmpd_cert_last_error(active_cert(certs, "implicit")),
	        "not overwritten"));
	cmpd_cert_array_free(certs);
	cmpd_client_close(c);
	/* Moved away: the renewed certificate is written at the next start. */
	assert_int_equal(unlink(path), 0);
	restart_cmpd();
	check_file(done);
	cmpd_job_free(job);
	cmpd_job_free(renew);
	cmpd_job_free(done);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_file_truncated),
		cmocka_unit_test(test_store_overwritten),
		cmocka_unit_test(test_disk_full),
		cmocka_unit_test(test_cert_file_outside),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
