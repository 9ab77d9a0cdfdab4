/*
 * The kill test: enrollments and renewals run against the test CA, which
 * makes every request wait and be polled, while SIGKILL hits a random cmpd
 * process at random moments: the broker (then cmpd is started again, as
 * systemd would), the keyworker or the networker (the broker restarts
 * those). Afterwards every job has ended exactly once and done, the CA
 * issued no certificate twice in one transaction, every certificate file
 * is whole and matches its private key, no temporary file is left and the
 * key store holds no key that nothing uses.
 *
 * The run is bounded (KILLS rounds) and reproducible: it prints its seed,
 * and CMPD_CRASH_SEED runs the same sequence again.
 */
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "checks.h"
#include "harness.h"

#define KILLS    12
#define PROFILES 4
#define MAX_JOBS (KILLS * 3)

/* Profile cN: signed with the supplier key, at the test CA. */
#define CRASH_PROFILE(n)                         \
	"[profile c" n "]\n"                     \
	"server = http://127.0.0.1:%2$d/pkix/\n" \
	"protection = signature\n"               \
	"cert = %1$s/supplier.pem\n"             \
	"trusted = %1$s/root.pem\n"              \
	"subject = /CN=crash " n "\n\n"

static const char crash_conf[] =
    CRASH_PROFILE("0") CRASH_PROFILE("1") CRASH_PROFILE("2") CRASH_PROFILE("3");

static struct harness h;
static char supplier_id[33];
static char *job_ids[MAX_JOBS];
static size_t n_jobs;
static unsigned kills[3];

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int
setup(void **state)
{
	const char *ca_args[] = { "--poll", "2", "--check-after", "1", NULL };

	(void)state;
	if (harness_init(&h, "crash") != 0 ||
	    harness_start_ca(&h, ca_args) != 0 ||
	    harness_start_cmpd(&h, crash_conf) != 0 ||
	    harness_import(&h, "supplier.key", supplier_id) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < n_jobs; i++)
		free(job_ids[i]);
	harness_fini(&h);
	return 0;
}

static void
job_note(const cmpd_job *job)
{
	assert_true(n_jobs < MAX_JOBS);
	job_ids[n_jobs++] = strdup(cmpd_job_id(job));
}

/* Starts an enrollment, or a renewal of the profile's certificate. */
static void
submit(cmpd_client *c, const char *profile, int renew)
{
	cmpd_job *job = NULL;
	cmpd_result rv;

	if (renew)
		rv = cmpd_renew(c, profile, NULL, &job);
	else
		rv = cmpd_enroll(c, profile, NULL, &job);
	/* A renewal of a profile with nothing enrolled yet is refused. */
	if (rv != CMPD_RESULT_OK) {
		assert_true(renew);
		return;
	}
	job_note(job);
	cmpd_job_free(job);
}

static pid_t
worker_pid(const char *pattern)
{
	char cmd[700];
	long pid = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "pgrep -f -- '%s' | head -1", pattern);
	if ((p = popen(cmd, "r")) != NULL) {
		if (fscanf(p, "%ld", &pid) != 1)
			pid = 0;
		pclose(p);
	}
	return (pid_t)pid;
}

/* SIGKILL to the broker (then cmpd starts again) or to a worker. */
static void
kill_one(int victim)
{
	char pattern[600];
	pid_t pid;

	kills[victim]++;
	if (victim == 0) {
		assert_int_equal(harness_kill_cmpd(&h), 0);
		assert_int_equal(harness_start_cmpd(&h, crash_conf), 0);
		return;
	}
	if (victim == 1)
		snprintf(pattern, sizeof(pattern),
		    "[c]mpd-keyworker --keystore %s", h.keys);
	else
		snprintf(pattern, sizeof(pattern),
		    "[c]mpd-networker --broker ipc://%s/run/", h.dir);
	/*
	 * Right after a kill the worker may not be up yet: the broker's
	 * backoff grows with each crash in a row (up to 30 s).
	 */
	for (int i = 0; i < 1600 && (pid = worker_pid(pattern)) <= 0; i++)
		sleep_ms(25);
	assert_true(pid > 0);
	assert_int_equal(kill(pid, SIGKILL), 0);
}

/*
 * Waits for every job to end; returns how many are done, and in *rerun
 * how many a crash interrupted (their status says so).
 */
static size_t
jobs_finish(size_t *rerun)
{
	cmpd_client *c = harness_client(&h);
	size_t done = 0;

	assert_non_null(c);
	for (size_t i = 0; i < n_jobs; i++) {
		cmpd_job *job = NULL;

		assert_int_equal(
		    cmpd_job_wait(c, job_ids[i], 120000, &job), CMPD_RESULT_OK);
		if (cmpd_job_state_get(job) == CMPD_JOB_STATE_DONE)
			done++;
		else
			print_message("job %s %s: %s\n", job_ids[i],
			    cmpd_job_state_name(cmpd_job_state_get(job)),
			    cmpd_job_error_text(job));
		if (cmpd_job_restarts(job) > 0) {
			(*rerun)++;
			assert_true(*cmpd_job_restart_reason(job) != '\0');
		}
		cmpd_job_free(job);
	}
	cmpd_client_close(c);
	return done;
}

/* Every transactionID the CA issued under appears once in issued.txt. */
static size_t
ca_issued_once(void)
{
	char path[600], serial[128], tid[128];
	char *seen[4 * MAX_JOBS];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/issued.txt", h.pki);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fscanf(f, "%127s %127s%*[^\n]", serial, tid) == 2) {
		for (size_t i = 0; i < n; i++)
			if (strcmp(seen[i], tid) == 0)
				fail_msg("the CA issued twice in transaction "
				         "%s",
				    tid);
		assert_true(n < 4 * MAX_JOBS);
		seen[n++] = strdup(tid);
	}
	fclose(f);
	for (size_t i = 0; i < n; i++)
		free(seen[i]);
	return n;
}

static EVP_PKEY *
key_file_read(const char *id)
{
	char path[600];
	EVP_PKEY *k = NULL;
	BIO *b;

	snprintf(path, sizeof(path), "%s/%s.key", h.keys, id);
	if ((b = BIO_new_file(path, "r")) == NULL)
		return NULL;
	k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	if (k == NULL && BIO_reset(b) == 0)
		k = d2i_PrivateKey_bio(b, NULL);
	BIO_free(b);
	return k;
}

/* The file of the profile's active certificate: whole, and its key's. */
static void
check_cert_file(const cmpd_cert *cert)
{
	char *file = check_read_file(cmpd_cert_path(cert));
	const uint8_t *der;
	EVP_PKEY *key;
	size_t len = 0;
	X509 *x;

	assert_non_null(file);
	assert_string_equal(file, cmpd_cert_pem(cert));
	der = cmpd_cert_der(cert, &len);
	x = d2i_X509(NULL, &der, (long)len);
	assert_non_null(x);
	key = key_file_read(cmpd_cert_key_id(cert));
	if (key == NULL)
		fail_msg("certificate %s: no key file %s", cmpd_cert_id(cert),
		    cmpd_cert_key_id(cert));
	assert_int_equal(X509_check_private_key(x, key), 1);
	EVP_PKEY_free(key);
	X509_free(x);
	free(file);
}

static int
key_used(const cmpd_cert_array *certs, const char *id)
{
	if (strcmp(id, supplier_id) == 0)
		return 1;
	for (size_t i = 0; i < cmpd_cert_array_count(certs); i++)
		if (strcmp(cmpd_cert_key_id(cmpd_cert_array_get(certs, i)),
		        id) == 0)
			return 1;
	return 0;
}

/* Files, keys and orphans, after a last clean start of cmpd. */
static void
check_state(void)
{
	cmpd_client *c = harness_client(&h);
	cmpd_cert_array *certs = NULL;
	cmpd_key_array *keys = NULL;
	size_t active = 0;

	assert_non_null(c);
	assert_int_equal(cmpd_cert_list(c, NULL, &certs), CMPD_RESULT_OK);
	for (size_t i = 0; i < cmpd_cert_array_count(certs); i++) {
		const cmpd_cert *cert = cmpd_cert_array_get(certs, i);

		if (cmpd_cert_state_get(cert) != CMPD_CERT_STATE_ACTIVE)
			continue;
		check_cert_file(cert);
		active++;
	}
	assert_int_equal(active, PROFILES);
	assert_int_equal(cmpd_key_list(c, &keys), CMPD_RESULT_OK);
	for (size_t i = 0; i < cmpd_key_array_count(keys); i++) {
		const char *id = cmpd_key_info_id(cmpd_key_array_get(keys, i));

		if (!key_used(certs, id))
			fail_msg("key %s is an orphan", id);
	}
	print_message("%zu keys, %zu certificates tracked\n",
	    cmpd_key_array_count(keys), cmpd_cert_array_count(certs));
	cmpd_key_array_free(keys);
	cmpd_cert_array_free(certs);
	cmpd_client_close(c);
	assert_int_equal(
	    harness_sh("! find '%s/state' -name '*.tmp*' | grep .", h.dir), 0);
}

static void
test_kill_loop(void **state)
{
	const char *env = getenv("CMPD_CRASH_SEED");
	unsigned seed = env ? (unsigned)strtoul(env, NULL, 10)
	                    : (unsigned)time(NULL) ^ (unsigned)getpid();
	size_t done, issued, rerun = 0;

	(void)state;
	print_message(
	    "seed %u (CMPD_CRASH_SEED=%u repeats this run)\n", seed, seed);
	srand(seed);
	for (int round = 0; round < KILLS; round++) {
		cmpd_client *c = harness_client(&h);
		char p[3][4];

		assert_non_null(c);
		for (int i = 0; i < 3; i++)
			snprintf(
			    p[i], sizeof(p[i]), "c%d", (round + i) % PROFILES);
		submit(c, p[0], 0);
		submit(c, p[1], 0);
		submit(c, p[2], 1);
		cmpd_client_close(c);
		sleep_ms(50 + rand() % 1500);
		kill_one(round < 3 ? round : rand() % 3);
	}
	done = jobs_finish(&rerun);
	print_message("%zu jobs, %zu done, %zu of them run again after a "
	              "crash; kills: broker %u, keyworker %u, networker %u\n",
	    n_jobs, done, rerun, kills[0], kills[1], kills[2]);
	assert_int_equal(done, n_jobs);
	issued = ca_issued_once();
	print_message("the CA issued %zu certificates, none twice in one "
	              "transaction\n",
	    issued);
	assert_true(issued >= n_jobs);
	/* A last clean start: the key sweep runs when the keyworker is up. */
	assert_int_equal(harness_kill_cmpd(&h), 0);
	assert_int_equal(harness_start_cmpd(&h, crash_conf), 0);
	sleep_ms(500);
	check_state();
	assert_int_equal(harness_sh("grep -c 'resuming its transaction' "
	                            "'%s/cmpd.log'",
	                     h.dir),
	    0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_loop),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
