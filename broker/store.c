#include "store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "ipc.h"
#include "log.h"
#include "record.h"

struct store {
	sqlite3 *db;
	sqlite3_stmt *job_put;
	sqlite3_stmt *job_get;
	sqlite3_stmt *cert_put;
	sqlite3_stmt *cert_get;
	sqlite3_stmt *cert_active;
	char last_error[200]; /* SQLite's reason for the last failure */
};

#define STORE_VERSION 2

static const char schema[] =
    "PRAGMA locking_mode=EXCLUSIVE;"
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    /* A WAL that once filled the disk must not keep that space. */
    "PRAGMA journal_size_limit=4194304;"
    "CREATE TABLE IF NOT EXISTS jobs("
    " id TEXT PRIMARY KEY, profile TEXT NOT NULL, state INTEGER NOT NULL,"
    " created INTEGER NOT NULL, record BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);"
    "CREATE TABLE IF NOT EXISTS tracked("
    " id TEXT PRIMARY KEY, profile TEXT NOT NULL, state INTEGER NOT NULL,"
    " record BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS tracked_profile ON tracked(profile, state);"
    "CREATE TABLE IF NOT EXISTS kept_keys(id TEXT PRIMARY KEY);"
    "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT);";

/*
 * Version 1 kept one row per enrolled certificate in "certs"; they become
 * tracked certificates named by the job that enrolled them (the records'
 * id and state are filled in when read: see cert_unpack).
 */
static const char migrate_v1[] =
    "INSERT OR IGNORE INTO tracked(id, profile, state, record)"
    " SELECT job_id, profile, 1, record FROM certs;"
    "DROP TABLE certs;";

static cmpd_err
store_fail(struct store *st, const char *what)
{
	snprintf(st->last_error, sizeof(st->last_error), "%s",
	    sqlite3_errmsg(st->db));
	log_err("store: %s: %s", what, st->last_error);
	return CMPD_EIO;
}

static int
user_version(struct store *st)
{
	sqlite3_stmt *s = NULL;
	int v = -1;

	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) ==
	        SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return v;
}

static cmpd_err
store_migrate(struct store *st)
{
	char sql[64];
	int v = user_version(st);

	if (v == STORE_VERSION)
		return CMPD_OK;
	if (v > STORE_VERSION) {
		log_err("store: version %d is newer than this cmpd (%d)", v,
		    STORE_VERSION);
		return CMPD_EIO;
	}
	if (v == 1 &&
	    sqlite3_exec(st->db, migrate_v1, NULL, NULL, NULL) != SQLITE_OK)
		return store_fail(st, "upgrading from version 1");
	snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", STORE_VERSION);
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return store_fail(st, "upgrading");
	return CMPD_OK;
}

static cmpd_err
store_check(struct store *st, const char *path)
{
	sqlite3_stmt *s = NULL;
	cmpd_err rv = CMPD_EIO;

	if (sqlite3_prepare_v2(st->db, "PRAGMA quick_check", -1, &s, NULL) !=
	        SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW)
		goto out;
	if (sqlite3_stricmp((const char *)sqlite3_column_text(s, 0), "ok") !=
	    0) {
		log_err("store %s is damaged (%s); cmpd does not change it: "
		        "restore it from a backup, or move it away to start "
		        "with an empty store",
		    path, sqlite3_column_text(s, 0));
		goto out;
	}
	rv = CMPD_OK;
out:
	sqlite3_finalize(s);
	return rv;
}

static cmpd_err
store_prepare(struct store *st)
{
	const struct {
		sqlite3_stmt **stmt;
		const char *sql;
	} stmts[] = {
		{ &st->job_put,
		    "INSERT OR REPLACE INTO jobs(id, profile, state, created, "
		    "record) VALUES (?, ?, ?, ?, ?)" },
		{ &st->job_get, "SELECT record FROM jobs WHERE id = ?" },
		{ &st->cert_put,
		    "INSERT OR REPLACE INTO tracked(id, profile, state, "
		    "record) "
		    "VALUES (?, ?, ?, ?)" },
		{ &st->cert_get, "SELECT record FROM tracked WHERE id = ?" },
		{ &st->cert_active,
		    "SELECT record FROM tracked WHERE profile = ? AND state = "
		    "? "
		    "ORDER BY rowid DESC LIMIT 1" },
	};

	for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++)
		if (sqlite3_prepare_v2(st->db, stmts[i].sql, -1, stmts[i].stmt,
		        NULL) != SQLITE_OK)
			return store_fail(st, "prepare");
	return CMPD_OK;
}

cmpd_err
store_open(const char *path, struct store **out)
{
	struct store *st = calloc(1, sizeof(*st));
	mode_t old;
	int rc;

	if (st == NULL)
		return CMPD_ENOMEM;
	old = umask(077);
	rc = sqlite3_open_v2(path, &st->db,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	    NULL);
	umask(old);
	if (rc != SQLITE_OK) {
		log_err("store: cannot open %s: %s", path,
		    st->db ? sqlite3_errmsg(st->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(st->db, 1000);
	if (sqlite3_exec(st->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		log_err("store %s cannot be used: %s; cmpd does not change "
		        "it: restore it from a backup, or move it away to "
		        "start with an empty store",
		    path, sqlite3_errmsg(st->db));
		goto fail;
	}
	/* What a crash left in the WAL goes into the store proper now. */
	if (sqlite3_exec(st->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL,
	        NULL) != SQLITE_OK)
		log_warn("store %s: %s; going on with the WAL as it is", path,
		    sqlite3_errmsg(st->db));
	if (store_check(st, path) != CMPD_OK || store_migrate(st) != CMPD_OK)
		goto fail;
	if (store_prepare(st) != CMPD_OK)
		goto fail;
	*out = st;
	return CMPD_OK;
fail:
	store_close(st);
	return CMPD_EIO;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	sqlite3_finalize(st->job_put);
	sqlite3_finalize(st->job_get);
	sqlite3_finalize(st->cert_put);
	sqlite3_finalize(st->cert_get);
	sqlite3_finalize(st->cert_active);
	sqlite3_close(st->db);
	free(st);
}

/* Binds a packed message as a BLOB that SQLite frees. */
static int
bind_message(sqlite3_stmt *s, int col, const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len ? len : 1);

	if (buf == NULL)
		return SQLITE_NOMEM;
	protobuf_c_message_pack(m, buf);
	return sqlite3_bind_blob64(s, col, buf, len, free);
}

static int
job_bind(struct store *st, const Cmpd__Job *job)
{
	sqlite3_stmt *s = st->job_put;

	sqlite3_reset(s);
	if (sqlite3_bind_text(s, 1, job->id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 2, job->profile, -1, SQLITE_STATIC) !=
	        SQLITE_OK ||
	    sqlite3_bind_int(s, 3, job->state) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 4, job->created) != SQLITE_OK ||
	    bind_message(s, 5, &job->base) != SQLITE_OK)
		return 0;
	return sqlite3_step(s) == SQLITE_DONE;
}

cmpd_err
store_job_put(struct store *st, const Cmpd__Job *job)
{
	int ok = job_bind(st, job);

	sqlite3_reset(st->job_put);
	sqlite3_clear_bindings(st->job_put);
	return ok ? CMPD_OK : store_fail(st, "saving a job");
}

static int
cert_bind(struct store *st, const Cmpd__CertRecord *cert)
{
	sqlite3_stmt *s = st->cert_put;

	sqlite3_reset(s);
	if (sqlite3_bind_text(s, 1, cert->id, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(s, 2, cert->profile, -1, SQLITE_STATIC) !=
	        SQLITE_OK ||
	    sqlite3_bind_int(s, 3, cert->state) != SQLITE_OK ||
	    bind_message(s, 4, &cert->base) != SQLITE_OK)
		return 0;
	return sqlite3_step(s) == SQLITE_DONE;
}

cmpd_err
store_job_finish(struct store *st, const Cmpd__Job *job,
    const Cmpd__CertRecord *const *certs, size_t n)
{
	int ok;

	if (sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return store_fail(st, "begin");
	ok = job == NULL || job_bind(st, job);
	for (size_t i = 0; ok && i < n; i++)
		ok = cert_bind(st, certs[i]);
	sqlite3_reset(st->job_put);
	sqlite3_clear_bindings(st->job_put);
	sqlite3_reset(st->cert_put);
	sqlite3_clear_bindings(st->cert_put);
	if (!ok) {
		store_fail(st, "saving a job and its certificates");
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		return CMPD_EIO;
	}
	if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		store_fail(st, "commit");
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		return CMPD_EIO;
	}
	return CMPD_OK;
}

static Cmpd__Job *
job_unpack(sqlite3_stmt *s, int col)
{
	const void *blob = sqlite3_column_blob(s, col);
	int len = sqlite3_column_bytes(s, col);

	return cmpd__job__unpack(NULL, (size_t)len, blob);
}

cmpd_err
store_jobs_prune(struct store *st, int64_t before, int *n)
{
	sqlite3_stmt *s = NULL;
	int ok;

	ok = sqlite3_prepare_v2(st->db,
	         "DELETE FROM jobs WHERE state IN (?, ?) AND created < ?", -1,
	         &s, NULL) == SQLITE_OK &&
	    sqlite3_bind_int(s, 1, CMPD__JOB_STATE__JOB_DONE) == SQLITE_OK &&
	    sqlite3_bind_int(s, 2, CMPD__JOB_STATE__JOB_FAILED) == SQLITE_OK &&
	    sqlite3_bind_int64(s, 3, before) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_DONE;
	sqlite3_finalize(s);
	if (!ok)
		return store_fail(st, "deleting old jobs");
	*n = sqlite3_changes(st->db);
	return CMPD_OK;
}

cmpd_err
store_job_get(struct store *st, const char *id, Cmpd__Job **out)
{
	sqlite3_stmt *s = st->job_get;
	cmpd_err rv = CMPD_ENOENT;
	int rc;

	sqlite3_reset(s);
	if (sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC) != SQLITE_OK)
		return store_fail(st, "bind");
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*out = job_unpack(s, 0);
		rv = *out != NULL ? CMPD_OK : CMPD_EIO;
		if (rv != CMPD_OK)
			log_err("store: job %s: unreadable record", id);
	} else if (rc != SQLITE_DONE) {
		rv = store_fail(st, "reading a job");
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rv;
}

cmpd_err
store_job_each(struct store *st, int active, store_job_cb cb, void *arg)
{
	sqlite3_stmt *s = NULL;
	cmpd_err rv = CMPD_OK;
	int rc;

	if (sqlite3_prepare_v2(st->db,
	        active
	            ? "SELECT id, record FROM jobs WHERE state NOT IN (?, ?) "
	              "ORDER BY created"
	            : "SELECT id, record FROM jobs ORDER BY created",
	        -1, &s, NULL) != SQLITE_OK)
		return store_fail(st, "listing jobs");
	if (active) {
		sqlite3_bind_int(s, 1, CMPD__JOB_STATE__JOB_DONE);
		sqlite3_bind_int(s, 2, CMPD__JOB_STATE__JOB_FAILED);
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		Cmpd__Job *job = job_unpack(s, 1);

		if (job == NULL) {
			log_err("store: job %s: unreadable record, skipped",
			    sqlite3_column_text(s, 0));
			continue;
		}
		if (cb(arg, job) != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		rv = store_fail(st, "listing jobs");
	sqlite3_finalize(s);
	return rv;
}

/* A record of version 1 has no id and state: it is its job's, active. */
static Cmpd__CertRecord *
cert_unpack(sqlite3_stmt *s, int col)
{
	Cmpd__CertRecord *c = cmpd__cert_record__unpack(NULL,
	    (size_t)sqlite3_column_bytes(s, col), sqlite3_column_blob(s, col));

	if (c != NULL && !cmpd_str_set(c->id)) {
		if (rec_set_str(&c->id, c->job_id) != CMPD_OK) {
			cmpd__cert_record__free_unpacked(c, NULL);
			return NULL;
		}
		c->state = CMPD__CERT_STATE__CERT_ACTIVE;
	}
	return c;
}

cmpd_err
store_cert_put(struct store *st, const Cmpd__CertRecord *cert)
{
	return store_job_finish(st, NULL, &cert, 1);
}

static cmpd_err
cert_query(struct store *st, sqlite3_stmt *s, Cmpd__CertRecord **out)
{
	cmpd_err rv = CMPD_ENOENT;
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW) {
		*out = cert_unpack(s, 0);
		rv = *out != NULL ? CMPD_OK : CMPD_EIO;
		if (rv != CMPD_OK)
			log_err("store: unreadable certificate record");
	} else if (rc != SQLITE_DONE) {
		rv = store_fail(st, "reading a certificate");
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rv;
}

cmpd_err
store_cert_get(struct store *st, const char *id, Cmpd__CertRecord **out)
{
	sqlite3_reset(st->cert_get);
	if (sqlite3_bind_text(st->cert_get, 1, id, -1, SQLITE_STATIC) !=
	    SQLITE_OK)
		return store_fail(st, "bind");
	return cert_query(st, st->cert_get, out);
}

cmpd_err
store_cert_active(struct store *st, const char *profile, Cmpd__CertRecord **out)
{
	sqlite3_stmt *s = st->cert_active;

	sqlite3_reset(s);
	if (sqlite3_bind_text(s, 1, profile, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int(s, 2, CMPD__CERT_STATE__CERT_ACTIVE) != SQLITE_OK)
		return store_fail(st, "bind");
	return cert_query(st, s, out);
}

cmpd_err
store_cert_each(struct store *st, store_cert_cb cb, void *arg)
{
	int64_t stopped_at;

	return store_cert_each_after(st, 0, cb, arg, &stopped_at);
}

cmpd_err
store_cert_each_after(struct store *st, int64_t after, store_cert_cb cb,
    void *arg, int64_t *stopped_at)
{
	sqlite3_stmt *s = NULL;
	cmpd_err rv = CMPD_OK;
	int rc;

	*stopped_at = 0;
	if (sqlite3_prepare_v2(st->db,
	        "SELECT id, record, rowid FROM tracked WHERE rowid > ? "
	        "ORDER BY rowid",
	        -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 1, after) != SQLITE_OK) {
		sqlite3_finalize(s);
		return store_fail(st, "listing certificates");
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		Cmpd__CertRecord *c = cert_unpack(s, 1);

		if (c == NULL) {
			log_err("store: certificate %s: unreadable record, "
			        "skipped",
			    sqlite3_column_text(s, 0));
			continue;
		}
		if (cb(arg, c) != 0) {
			*stopped_at = sqlite3_column_int64(s, 2);
			break;
		}
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		rv = store_fail(st, "listing certificates");
	sqlite3_finalize(s);
	return rv;
}

/* Runs sql with one text parameter; *row says whether it gave a row. */
static cmpd_err
store_exec1(struct store *st, const char *sql, const char *arg, int *row)
{
	sqlite3_stmt *s = NULL;
	cmpd_err rv = CMPD_OK;
	int rc;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(s, 1, arg, -1, SQLITE_STATIC) != SQLITE_OK)
		rv = store_fail(st, "keys");
	else if ((rc = sqlite3_step(s)) != SQLITE_ROW && rc != SQLITE_DONE)
		rv = store_fail(st, "keys");
	else if (row != NULL)
		*row = rc == SQLITE_ROW;
	sqlite3_finalize(s);
	return rv;
}

cmpd_err
store_key_keep(struct store *st, const char *id)
{
	return store_exec1(
	    st, "INSERT OR IGNORE INTO kept_keys(id) VALUES(?)", id, NULL);
}

int
store_key_kept(struct store *st, const char *id)
{
	int row = 0;

	return store_exec1(st, "SELECT 1 FROM kept_keys WHERE id = ?", id,
	           &row) == CMPD_OK &&
	    row;
}

int
store_keys_adopted(struct store *st)
{
	int row = 0;

	return store_exec1(st, "SELECT 1 FROM meta WHERE name = ?",
	           "keys adopted", &row) == CMPD_OK &&
	    row;
}

cmpd_err
store_keys_adopted_set(struct store *st)
{
	return store_exec1(st,
	    "INSERT OR REPLACE INTO meta(name, value) VALUES(?, 'yes')",
	    "keys adopted", NULL);
}

const char *
store_strerror(struct store *st)
{
	return st->last_error[0] ? st->last_error : sqlite3_errmsg(st->db);
}
