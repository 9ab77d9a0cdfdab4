/* What the job files share; see job.h. */
#pragma once

#include <stdarg.h>

#include "job.h"
#include "worker.h"

#define S(x)  CMPD__JOB_STATE__JOB_##x
#define OP(x) CMPD__CMP_OP__CMP_OP_##x

/* Restarts of a job's key or transaction step before it gives up. */
#define JOB_RESTARTS_MAX 5

/* job.c */
const struct profile *job_profile(const struct job *job);
cmpd_err job_transition(struct job *job, Cmpd__JobState to);
void job_fail(struct job *job, cmpd_err err, const Cmpd__PkiStatus *pki,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void job_release(struct job *job);
/* Voids the grant, and deletes a key generated for a job that failed. */
void job_cleanup(struct job *job, int failed);
/* Asks the keyworker to delete a key, without waiting for the answer. */
void job_key_delete(struct broker *b, const char *key_id);
/* Adds a job for rec (taken over) to the broker's list. */
struct job *job_adopt(struct broker *b, Cmpd__Job *rec);
/* Takes the first step of a stored job. */
void job_run(struct job *job);

/* The keyworker's answer to a grant: the transaction starts. */
void job_grant_cb(void *arg, cmpd_err err, const cmpd_env *rep);
/* Polls at unix time when (now if that has passed). */
void job_wait_until(struct job *job, int64_t when);

/*
 * jobresume.c. job_txn_rerun runs the job's transaction again after a
 * restart interrupted it (fresh: with a new transactionID even if
 * answers were kept), or fails the job after too many restarts;
 * job_txn_restart grants and sends the transaction (kept answers
 * included); job_workers_watch installs the worker hooks.
 */
void job_txn_rerun(struct job *job, int fresh, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void job_txn_restart(struct job *job);
void job_workers_watch(struct broker *b);

/* jobtxn.c: what the keyworker and the networker are asked. */
cmpd_err job_send_grant(struct job *job, worker_reply_cb cb);

/*
 * Asks the keyworker for the job's new key and, in the same request, for
 * the job's grant with it (KeyGenerateRep.grant_error if it is refused).
 */
cmpd_err job_send_keygen(struct job *job, worker_reply_cb cb);
cmpd_err job_send_txn(struct job *job, worker_reply_cb cb);
/* The public key of a DER certificate, as a new DER buffer (free()). */
cmpd_err job_cert_spki(
    const ProtobufCBinaryData *cert, ProtobufCBinaryData *out);

/* jobend.c: what a finished job changes. */
void job_done(struct job *job, const Cmpd__TxnRep *r);
/* A job that failed: what its tracked certificate learns from it. */
void job_failed_effects(struct job *job);
