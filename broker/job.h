/*
 * Jobs: one client request (enroll, renew, revoke, ask the CA) or one
 * renewal the scheduler started, and its way through the workers. A job is
 * an explicit state machine (cmpd.JobState); job.c's transition function
 * refuses illegal moves, and every state change is committed to the store
 * before the next step depends on it.
 *
 *   QUEUED -> KEYGEN -> RUNNING <-> WAITING
 *      \________________/   \-> DONE | FAILED   (any state -> FAILED)
 *
 * job.c runs the steps every job shares (key, grant, transaction, polling,
 * failure); jobnew.c makes the jobs of each kind; jobtxn.c says what the
 * networker and keyworker are asked; jobend.c does what a finished job
 * changes (tracked certificates, files, reload commands, trust anchors).
 */
#pragma once

#include <uv.h>

#include "broker.h"
#include "cmpd.pb-c.h"

#define JOB_MAGIC 0x6a6f6231u /* "job1" */

struct job {
	uint32_t magic;
	struct job *next, *prev;
	struct broker *b;
	Cmpd__Job *rec;           /* the stored record, owned */
	Cmpd__CertRecord *target; /* KUR, RR, re-enrollment: its certificate */
	Cmpd__CertRecord *signer; /* CR: the certificate that protects it */
	uv_timer_t timer;         /* the poll timer while WAITING */
	unsigned kw_gen; /* the keyworker instance the step's grant is in */
	int txn_lost;    /* no networker holds the transaction: rebuild it */
};

/* What a client asked for, for the jobs that enroll. */
struct job_request {
	const struct profile *profile;
	Cmpd__CmpOp op;      /* 0: the profile's */
	const char *subject; /* NULL or empty: the profile's */
	char *const *sans;
	size_t n_sans; /* 0: the profile's */
	Cmpd__KeyType key_type;
	const char *key_id; /* NULL or empty: generate a new key */
	uint32_t owner_uid;
};

/*
 * Each maker creates, stores and starts a job. On success *out points to
 * the job's record, valid until the next turn of the loop; on failure err
 * says why in words for the client.
 */
cmpd_err job_enroll(struct broker *b, const struct job_request *req,
    const Cmpd__Job **out, char *err, size_t errlen);

/* KUR of the tracked certificate rec (loaded by the caller, taken over). */
cmpd_err job_renew(struct broker *b, Cmpd__CertRecord *rec, int keep_key,
    Cmpd__KeyType type, uint32_t uid, const Cmpd__Job **out, char *err,
    size_t errlen);

/* RR of the tracked certificate rec (taken over), with a CRLReason. */
cmpd_err job_revoke(struct broker *b, Cmpd__CertRecord *rec, int32_t reason,
    uint32_t uid, const Cmpd__Job **out, char *err, size_t errlen);

/* genm of type to profile's CA. */
cmpd_err job_genm(struct broker *b, const struct profile *pr,
    Cmpd__GenmType type, uint32_t uid, const Cmpd__Job **out, char *err,
    size_t errlen);

/* For the scheduler: renew the tracked certificate id (KUR). */
cmpd_err job_renew_auto(
    struct broker *b, const char *id, char *err, size_t errlen);

/* For the scheduler: enroll again (IR) for the expired certificate id. */
cmpd_err job_reenroll(
    struct broker *b, const char *id, char *err, size_t errlen);

/* The unfinished job with id, or NULL. */
struct job *job_find(struct broker *b, const char *id);

/*
 * Restarts or resumes the jobs a previous run left unfinished, and from
 * now on re-runs the transactions a worker restart interrupts.
 */
cmpd_err job_resume_all(struct broker *b);

/* Stops every job's timer and frees the jobs (at shutdown). */
void job_free_all(struct broker *b);

/* The name of a state, for logs. */
const char *job_state_name(Cmpd__JobState s);

/* Whether a job in state s has ended (done or failed). */
int job_state_ended(Cmpd__JobState s);
