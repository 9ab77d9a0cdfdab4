/*
 * The broker's durable store: one SQLite database holding every job and
 * every certificate cmpd enrolled, each as a packed protobuf record
 * (cmpd.Job, cmpd.CertRecord) beside the columns it is looked up by.
 *
 * SQLite in WAL mode with locking_mode=EXCLUSIVE and synchronous=FULL:
 * every call below is one committed transaction that survives a crash, a
 * second broker cannot open the same store, and the WAL index lives in
 * heap memory rather than a shared -shm mapping (which crashed with SIGBUS
 * when reopened on a full disk).
 */
#pragma once

#include "cmpd.pb-c.h"
#include "err.h"

struct store;

/* Opens (creating if needed, mode 0600) and checks the store at path. */
cmpd_err store_open(const char *path, struct store **out);
void store_close(struct store *st);

/* What the last failed call ran into ("database or disk is full"). */
const char *store_strerror(struct store *st);

/* Inserts or replaces job, committed before it returns. */
cmpd_err store_job_put(struct store *st, const Cmpd__Job *job);

/*
 * Stores a job (or none) and n certificate records in one transaction: a
 * finished job with the certificates it made or changed.
 */
cmpd_err store_job_finish(struct store *st, const Cmpd__Job *job,
    const Cmpd__CertRecord *const *certs, size_t n);

/* The job with id; CMPD_ENOENT if none. Free with cmpd__job__free_unpacked. */
/*
 * Deletes the finished (done or failed) jobs created before the unix time
 * before; *n gets how many.
 */
cmpd_err store_jobs_prune(struct store *st, int64_t before, int *n);

cmpd_err store_job_get(struct store *st, const char *id, Cmpd__Job **out);

/*
 * Calls cb for each job (only unfinished ones with active), oldest first;
 * cb owns the job. A non-zero return of cb stops the walk.
 */
typedef int (*store_job_cb)(void *arg, Cmpd__Job *job);
cmpd_err store_job_each(
    struct store *st, int active, store_job_cb cb, void *arg);

/* Inserts or replaces a tracked certificate (by its id). */
cmpd_err store_cert_put(struct store *st, const Cmpd__CertRecord *cert);

/* The tracked certificate id; CMPD_ENOENT if none. */
cmpd_err store_cert_get(
    struct store *st, const char *id, Cmpd__CertRecord **out);

/* The active tracked certificate of profile; CMPD_ENOENT if none. */
cmpd_err store_cert_active(
    struct store *st, const char *profile, Cmpd__CertRecord **out);

/*
 * Keys the broker must never sweep although no job or certificate uses
 * them: imported ones (keysweep.c). store_keys_adopted says whether the
 * keys the keyworker held when this store was new were adopted so.
 */
cmpd_err store_key_keep(struct store *st, const char *id);
int store_key_kept(struct store *st, const char *id);
int store_keys_adopted(struct store *st);
cmpd_err store_keys_adopted_set(struct store *st);

/* Calls cb for each certificate record, oldest first; cb owns it. */
typedef int (*store_cert_cb)(void *arg, Cmpd__CertRecord *cert);
cmpd_err store_cert_each(struct store *st, store_cert_cb cb, void *arg);

/*
 * The same, in the same order, from the certificate after position after
 * (0: the first); a callback that stops the walk leaves the position of
 * its certificate in *stopped_at (0 if the walk went to the end).
 */
cmpd_err store_cert_each_after(struct store *st, int64_t after,
    store_cert_cb cb, void *arg, int64_t *stopped_at);
