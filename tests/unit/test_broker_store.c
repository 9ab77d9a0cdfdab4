/* The broker's store: jobs and certificates survive a reopen; a damaged
 * store is refused with an error, not a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "record.h"
#include "store.h"

static char dir[] = "/tmp/cmpd-store-test.XXXXXX";
static char path[256];

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/cmpd.db", dir);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static Cmpd__Job *
job_make(const char *id, Cmpd__JobState state, int64_t created)
{
	Cmpd__Job *j = rec_job_new();
	char *const sans[] = { "DNS:a.example", "IP:192.0.2.9" };

	assert_non_null(j);
	assert_int_equal(rec_set_str(&j->id, id), CMPD_OK);
	assert_int_equal(rec_set_str(&j->profile, "p"), CMPD_OK);
	assert_int_equal(rec_set_str(&j->subject, "/CN=x"), CMPD_OK);
	assert_int_equal(
	    rec_set_str_list(&j->sans, &j->n_sans, sans, 2), CMPD_OK);
	assert_int_equal(rec_set_bytes(&j->transaction_id,
	                     (const uint8_t *)"0123456789abcdef", 16),
	    CMPD_OK);
	j->state = state;
	j->created = created;
	return j;
}

static int
count_cb(void *arg, Cmpd__Job *job)
{
	int *n = arg;

	(*n)++;
	cmpd__job__free_unpacked(job, NULL);
	return 0;
}

static void
test_jobs_survive_reopen(void **state)
{
	struct store *st = NULL;
	Cmpd__Job *a =
	    job_make("aaaaaaaaaaaaaaaa", CMPD__JOB_STATE__JOB_QUEUED, 1);
	Cmpd__Job *b =
	    job_make("bbbbbbbbbbbbbbbb", CMPD__JOB_STATE__JOB_DONE, 2);
	Cmpd__Job *got = NULL;
	int all = 0, active = 0;

	(void)state;
	assert_int_equal(store_open(path, &st), CMPD_OK);
	assert_int_equal(store_job_put(st, a), CMPD_OK);
	assert_int_equal(store_job_put(st, b), CMPD_OK);
	a->state = CMPD__JOB_STATE__JOB_WAITING;
	assert_int_equal(store_job_put(st, a), CMPD_OK); /* replaces */
	store_close(st);

	assert_int_equal(store_open(path, &st), CMPD_OK);
	assert_int_equal(store_job_get(st, "aaaaaaaaaaaaaaaa", &got), CMPD_OK);
	assert_int_equal(got->state, CMPD__JOB_STATE__JOB_WAITING);
	assert_int_equal(got->n_sans, 2);
	assert_string_equal(got->sans[1], "IP:192.0.2.9");
	assert_memory_equal(got->transaction_id.data, "0123456789abcdef", 16);
	cmpd__job__free_unpacked(got, NULL);
	assert_int_equal(
	    store_job_get(st, "cccccccccccccccc", &got), CMPD_ENOENT);
	assert_int_equal(store_job_each(st, 0, count_cb, &all), CMPD_OK);
	assert_int_equal(store_job_each(st, 1, count_cb, &active), CMPD_OK);
	assert_int_equal(all, 2);
	assert_int_equal(active, 1);
	store_close(st);
	cmpd__job__free_unpacked(a, NULL);
	cmpd__job__free_unpacked(b, NULL);
}

/* Only finished jobs created before the limit go. */
static void
test_prune_old_finished_jobs(void **state)
{
	struct {
		const char *id;
		Cmpd__JobState state;
		int64_t created;
		int stays;
	} jobs[] = {
		{ "1111111111111111", CMPD__JOB_STATE__JOB_DONE, 100, 0 },
		{ "2222222222222222", CMPD__JOB_STATE__JOB_FAILED, 199, 0 },
		{ "3333333333333333", CMPD__JOB_STATE__JOB_WAITING, 100, 1 },
		{ "4444444444444444", CMPD__JOB_STATE__JOB_DONE, 200, 1 },
		{ "5555555555555555", CMPD__JOB_STATE__JOB_QUEUED, 50, 1 },
	};
	struct store *st = NULL;
	Cmpd__Job *got = NULL;
	char own[300];
	int n = -1;

	(void)state;
	snprintf(own, sizeof(own), "%s/prune.db", dir);
	assert_int_equal(store_open(own, &st), CMPD_OK);
	for (size_t i = 0; i < sizeof(jobs) / sizeof(jobs[0]); i++) {
		Cmpd__Job *j =
		    job_make(jobs[i].id, jobs[i].state, jobs[i].created);

		assert_int_equal(store_job_put(st, j), CMPD_OK);
		cmpd__job__free_unpacked(j, NULL);
	}
	assert_int_equal(store_jobs_prune(st, 200, &n), CMPD_OK);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < sizeof(jobs) / sizeof(jobs[0]); i++) {
		assert_int_equal(store_job_get(st, jobs[i].id, &got),
		    jobs[i].stays ? CMPD_OK : CMPD_ENOENT);
		if (got != NULL)
			cmpd__job__free_unpacked(got, NULL);
		got = NULL;
	}
	assert_int_equal(store_jobs_prune(st, 200, &n), CMPD_OK);
	assert_int_equal(n, 0);
	store_close(st);
}

static int
cert_cb(void *arg, Cmpd__CertRecord *c)
{
	char *serial = arg;

	strcpy(serial, c->serial);
	cmpd__cert_record__free_unpacked(c, NULL);
	return 0;
}

static void
test_finish_stores_job_and_cert(void **state)
{
	struct store *st = NULL;
	Cmpd__Job *j =
	    job_make("dddddddddddddddd", CMPD__JOB_STATE__JOB_DONE, 3);
	Cmpd__CertRecord c = CMPD__CERT_RECORD__INIT;
	char serial[64] = "";

	(void)state;
	c.profile = "p";
	c.job_id = j->id;
	c.serial = "0a0b";
	c.not_after = 12345;
	assert_int_equal(store_open(path, &st), CMPD_OK);
	const Cmpd__CertRecord *cp = &c;

	assert_int_equal(store_job_finish(st, j, &cp, 1), CMPD_OK);
	assert_int_equal(store_cert_each(st, cert_cb, serial), CMPD_OK);
	assert_string_equal(serial, "0a0b");
	store_close(st);
	cmpd__job__free_unpacked(j, NULL);
}

/* Garbage where the database should be: a clear refusal. */
static void
test_damaged_store_refused(void **state)
{
	char bad[300];
	struct store *st = NULL;
	FILE *f;

	(void)state;
	snprintf(bad, sizeof(bad), "%s/bad.db", dir);
	f = fopen(bad, "w");
	assert_non_null(f);
	for (int i = 0; i < 4096; i++)
		fputc(i * 7 % 251, f);
	fclose(f);
	assert_int_equal(store_open(bad, &st), CMPD_EIO);
	assert_null(st);
}

static void
test_second_broker_refused(void **state)
{
	struct store *a = NULL, *b = NULL;
	Cmpd__Job *j =
	    job_make("eeeeeeeeeeeeeeee", CMPD__JOB_STATE__JOB_QUEUED, 4);

	(void)state;
	assert_int_equal(store_open(path, &a), CMPD_OK);
	assert_int_equal(store_job_put(a, j), CMPD_OK);
	assert_int_equal(store_open(path, &b), CMPD_EIO);
	store_close(a);
	cmpd__job__free_unpacked(j, NULL);
}

static Cmpd__CertRecord *
cert_make(const char *id, const char *profile, Cmpd__CertState state)
{
	Cmpd__CertRecord *c = rec_cert_new();

	assert_non_null(c);
	assert_int_equal(rec_set_str(&c->id, id), CMPD_OK);
	assert_int_equal(rec_set_str(&c->profile, profile), CMPD_OK);
	assert_int_equal(rec_set_str(&c->serial, "01"), CMPD_OK);
	c->state = state;
	c->next_renewal = 42;
	return c;
}

/* Tracked certificates by id, and the active one of a profile. */
static void
test_tracked(void **state)
{
	struct store *st = NULL;
	Cmpd__CertRecord *a = cert_make(
	    "1111111111111111", "p", CMPD__CERT_STATE__CERT_SUPERSEDED);
	Cmpd__CertRecord *b =
	    cert_make("2222222222222222", "p", CMPD__CERT_STATE__CERT_ACTIVE);
	Cmpd__CertRecord *got = NULL;

	(void)state;
	assert_int_equal(store_open(path, &st), CMPD_OK);
	assert_int_equal(store_cert_put(st, a), CMPD_OK);
	assert_int_equal(store_cert_put(st, b), CMPD_OK);
	assert_int_equal(store_cert_active(st, "p", &got), CMPD_OK);
	assert_string_equal(got->id, "2222222222222222");
	assert_int_equal(got->next_renewal, 42);
	cmpd__cert_record__free_unpacked(got, NULL);
	assert_int_equal(store_cert_active(st, "q", &got), CMPD_ENOENT);
	b->state = CMPD__CERT_STATE__CERT_REVOKED;
	assert_int_equal(store_cert_put(st, b), CMPD_OK);
	assert_int_equal(store_cert_active(st, "p", &got), CMPD_ENOENT);
	assert_int_equal(store_cert_get(st, "2222222222222222", &got), CMPD_OK);
	assert_int_equal(got->state, CMPD__CERT_STATE__CERT_REVOKED);
	cmpd__cert_record__free_unpacked(got, NULL);
	store_close(st);
	cmpd__cert_record__free_unpacked(a, NULL);
	cmpd__cert_record__free_unpacked(b, NULL);
}

/* A store of cmpd 0.1 (user_version 1, table certs) is carried over. */
static void
test_migrates_version_1(void **state)
{
	static const char v1[] =
	    "CREATE TABLE jobs(id TEXT PRIMARY KEY, profile TEXT NOT NULL,"
	    " state INTEGER NOT NULL, created INTEGER NOT NULL,"
	    " record BLOB NOT NULL);"
	    "CREATE TABLE certs(job_id TEXT PRIMARY KEY, profile TEXT NOT NULL,"
	    " not_after INTEGER NOT NULL, record BLOB NOT NULL);"
	    "PRAGMA user_version=1;";
	Cmpd__CertRecord c = CMPD__CERT_RECORD__INIT, *got = NULL;
	char old[300];
	uint8_t blob[256];
	struct store *st = NULL;
	sqlite3 *db = NULL;
	sqlite3_stmt *ins = NULL;
	size_t len;

	(void)state;
	c.profile = "legacy";
	c.job_id = "3333333333333333";
	c.serial = "0c";
	len = cmpd__cert_record__pack(&c, blob);
	snprintf(old, sizeof(old), "%s/v1.db", dir);
	assert_int_equal(sqlite3_open(old, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, v1, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db,
	        "INSERT INTO certs VALUES(?, 'legacy', 99, ?)", -1, &ins, NULL),
	    SQLITE_OK);
	sqlite3_bind_text(ins, 1, c.job_id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(ins, 2, blob, (int)len, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
	sqlite3_finalize(ins);
	sqlite3_close(db);

	assert_int_equal(store_open(old, &st), CMPD_OK);
	assert_int_equal(store_cert_active(st, "legacy", &got), CMPD_OK);
	assert_string_equal(got->id, "3333333333333333");
	assert_string_equal(got->serial, "0c");
	assert_int_equal(got->state, CMPD__CERT_STATE__CERT_ACTIVE);
	cmpd__cert_record__free_unpacked(got, NULL);
	store_close(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jobs_survive_reopen),
		cmocka_unit_test(test_prune_old_finished_jobs),
		cmocka_unit_test(test_finish_stores_job_and_cert),
		cmocka_unit_test(test_damaged_store_refused),
		cmocka_unit_test(test_second_broker_refused),
		cmocka_unit_test(test_tracked),
		cmocka_unit_test(test_migrates_version_1),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
