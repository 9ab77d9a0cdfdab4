/*
 * Private keys stay in the keyworker. While enrollments of every key type
 * wait for the CA (so the keyworker holds their keys for signing), and
 * again after they finished, the test reads the whole memory of the broker
 * and the networker through /proc/PID/mem and every file the broker wrote,
 * looking for the private numbers of every key in the key store (the
 * generated ones and the imported supplier keys), in big- and little-endian
 * byte order. As a control, the same search must find the keys in the
 * keyworker's memory while their grants are alive.
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>

#include "checks.h"
#include "harness.h"

#define MAX_NEEDLES 128
#define REGION_MAX  (256u << 20) /* skip sanitizer shadow mappings */

struct needles {
	uint8_t *v[MAX_NEEDLES];
	size_t len[MAX_NEEDLES];
	size_t n;
};

static struct harness h;

static void
needle_add(struct needles *n, const uint8_t *p, size_t len)
{
	assert_true(n->n + 2 <= MAX_NEEDLES);
	for (int rev = 0; rev < 2; rev++) {
		uint8_t *v = malloc(len);

		assert_non_null(v);
		for (size_t i = 0; i < len; i++)
			v[i] = rev ? p[len - 1 - i] : p[i];
		n->v[n->n] = v;
		n->len[n->n++] = len;
	}
}

static void
needle_bn(struct needles *n, const EVP_PKEY *k, const char *param)
{
	BIGNUM *bn = NULL;
	uint8_t buf[1024];
	int len;

	if (EVP_PKEY_get_bn_param(k, param, &bn) != 1)
		return;
	len = BN_bn2bin(bn, buf);
	assert_true(len >= 24);
	needle_add(n, buf, (size_t)len);
	BN_clear_free(bn);
}

/* The private numbers of every key file in the key store. */
static size_t
secrets_load(struct needles *n)
{
	DIR *d = opendir(h.keys);
	struct dirent *de;
	size_t keys = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		char path[600];
		FILE *f;
		EVP_PKEY *k;
		uint8_t raw[64];
		size_t rawlen = sizeof(raw);

		if (strstr(de->d_name, ".key") == NULL ||
		    strcmp(de->d_name, "import.key") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", h.keys, de->d_name);
		assert_non_null(f = fopen(path, "r"));
		k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
		assert_non_null(k);
		if (EVP_PKEY_is_a(k, "ED25519")) {
			assert_int_equal(
			    EVP_PKEY_get_raw_private_key(k, raw, &rawlen), 1);
			needle_add(n, raw, rawlen);
		}
		needle_bn(n, k, OSSL_PKEY_PARAM_PRIV_KEY);
		needle_bn(n, k, OSSL_PKEY_PARAM_RSA_D);
		needle_bn(n, k, OSSL_PKEY_PARAM_RSA_FACTOR1);
		needle_bn(n, k, OSSL_PKEY_PARAM_RSA_FACTOR2);
		EVP_PKEY_free(k);
		keys++;
	}
	closedir(d);
	return keys;
}

static size_t
search(const struct needles *n, const uint8_t *buf, size_t len)
{
	size_t hits = 0;

	for (size_t i = 0; i < n->n; i++)
		if (memmem(buf, len, n->v[i], n->len[i]) != NULL)
			hits++;
	return hits;
}

/* Reads every readable mapping of pid and counts the needles found. */
static size_t
scan_process(pid_t pid, const struct needles *n)
{
	char path[64], line[512];
	FILE *maps;
	int mem;
	size_t hits = 0;
	uint8_t *buf = malloc(REGION_MAX);

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	assert_non_null(maps = fopen(path, "r"));
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	mem = open(path, O_RDONLY);
	assert_true(mem >= 0);
	assert_non_null(buf);
	while (fgets(line, sizeof(line), maps) != NULL) {
		unsigned long lo, hi;
		char perms[8];
		ssize_t got;

		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 ||
		    perms[0] != 'r' || hi - lo > REGION_MAX ||
		    strstr(line, "[vvar]") != NULL)
			continue;
		got = pread(mem, buf, hi - lo, (off_t)lo);
		if (got > 0)
			hits += search(n, buf, (size_t)got);
	}
	free(buf);
	close(mem);
	fclose(maps);
	return hits;
}

static size_t
scan_files(const char *dir, const struct needles *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t hits = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char path[1024];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode) && strcmp(path, h.keys) != 0) {
			hits += scan_files(path, n);
		} else if (S_ISREG(st.st_mode)) {
			char *data = check_read_file(path);

			if (data != NULL)
				hits += search(
				    n, (uint8_t *)data, (size_t)st.st_size);
			free(data);
		}
	}
	closedir(d);
	return hits;
}

/* The pid of cmpd's child named comm. */
static pid_t
child_of_cmpd(const char *comm)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	pid_t found = -1;

	while ((de = readdir(d)) != NULL && found < 0) {
		char path[300], buf[512], *p;
		FILE *f;
		int ppid = 0;

		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) != NULL &&
		    (p = strrchr(buf, ')')) != NULL &&
		    sscanf(p + 2, "%*c %d", &ppid) == 1 &&
		    ppid == (int)h.cmpd_pid && strstr(buf, comm) != NULL)
			found = atoi(de->d_name);
		fclose(f);
	}
	closedir(d);
	return found;
}

static int
setup(void **state)
{
	/*
	 * Long waits: RSA-4096 keys take seconds to make, so the first jobs
	 * must still be waiting when the last one starts to.
	 */
	static const char *const ca_args[] = { "--poll", "2", "--check-after",
		"20", NULL };
	char id[33];

	(void)state;
	if (harness_init(&h, "secrets") != 0 ||
	    harness_start_ca(&h, ca_args) != 0 ||
	    harness_start_cmpd(&h, NULL) != 0 ||
	    harness_import(&h, "supplier.key", id) != 0 ||
	    harness_import(&h, "supplier-rsa.key", id) != 0)
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

static const char *const types[] = { "ec-p256", "ec-p384", "rsa2048", "rsa3072",
	"rsa4096", "ed25519" };
#define NTYPES (sizeof(types) / sizeof(types[0]))

static void
enroll_all(cmpd_client *c, cmpd_job **jobs)
{
	for (size_t i = 0; i < NTYPES; i++) {
		cmpd_enroll_opts *o = NULL;

		assert_int_equal(cmpd_enroll_opts_new(&o), CMPD_RESULT_OK);
		cmpd_enroll_opts_set_key_type(o, types[i]);
		assert_int_equal(
		    cmpd_enroll(c, i % 2 ? "sig" : "sig-rsa", o, &jobs[i]),
		    CMPD_RESULT_OK);
		cmpd_enroll_opts_free(o);
	}
}

/* Waits until every job waits for the CA: their grants are alive then. */
static void
wait_all_waiting(cmpd_client *c, cmpd_job **jobs)
{
	for (int round = 0; round < 1500; round++) {
		size_t waiting = 0;

		for (size_t i = 0; i < NTYPES; i++) {
			cmpd_job *j = NULL;

			assert_int_equal(
			    cmpd_job_get(c, cmpd_job_id(jobs[i]), &j),
			    CMPD_RESULT_OK);
			waiting +=
			    cmpd_job_state_get(j) == CMPD_JOB_STATE_WAITING;
			cmpd_job_free(j);
		}
		if (waiting == NTYPES)
			return;
		usleep(20000);
	}
	fail_msg("the jobs never all waited for the CA");
}

static void
needles_free(struct needles *n)
{
	for (size_t i = 0; i < n->n; i++)
		free(n->v[i]);
}

static void
test_keys_only_in_keyworker(void **state)
{
	cmpd_client *c = harness_client(&h);
	cmpd_job *jobs[NTYPES] = { NULL };
	struct needles n = { 0 };
	pid_t kw, nw;
	size_t keys;

	(void)state;
	assert_non_null(c);
	enroll_all(c, jobs);
	wait_all_waiting(c, jobs);
	keys = secrets_load(&n);
	assert_int_equal(keys, NTYPES + 2); /* and the two supplier keys */
	kw = child_of_cmpd("cmpd-keyworker");
	nw = child_of_cmpd("cmpd-networker");
	assert_true(kw > 0 && nw > 0);

	/* While the transactions are open. */
	assert_int_equal(scan_process(h.cmpd_pid, &n), 0);
	assert_int_equal(scan_process(nw, &n), 0);
	if (geteuid() == 0)
		assert_true(scan_process(kw, &n) > 0); /* the control */
	else
		fprintf(stderr, "not root: the keyworker control is skipped\n");

	/* And after they finished. */
	for (size_t i = 0; i < NTYPES; i++) {
		cmpd_job *done = NULL;

		assert_int_equal(
		    cmpd_job_wait(c, cmpd_job_id(jobs[i]), 60000, &done),
		    CMPD_RESULT_OK);
		check_issued(&h, done);
		cmpd_job_free(done);
		cmpd_job_free(jobs[i]);
	}
	assert_int_equal(scan_process(h.cmpd_pid, &n), 0);
	assert_int_equal(scan_process(nw, &n), 0);
	assert_int_equal(scan_files(h.dir, &n), 0);
	needles_free(&n);
	cmpd_client_close(c);
}

/* The key store: a 0700 directory of 0600 files. */
static void
test_keystore_modes(void **state)
{
	DIR *d = opendir(h.keys);
	struct dirent *de;
	struct stat st;

	(void)state;
	assert_non_null(d);
	assert_int_equal(stat(h.keys, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	while ((de = readdir(d)) != NULL) {
		char path[600];

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", h.keys, de->d_name);
		assert_int_equal(lstat(path, &st), 0);
		assert_true(S_ISREG(st.st_mode));
		if (strstr(de->d_name, ".key") != NULL)
			assert_int_equal(st.st_mode & 0777, 0600);
	}
	closedir(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys_only_in_keyworker),
		cmocka_unit_test(test_keystore_modes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
