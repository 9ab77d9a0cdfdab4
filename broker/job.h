/*
 * Jobs: one client request (an enrollment) and its way through the
 * workers. A job is an explicit state machine (cmpd.JobState); job.c's
 * transition function refuses illegal moves, and every state change is
 * committed to the store before the next step depends on it.
 *
 *   QUEUED -> KEYGEN -> RUNNING <-> WAITING
 *      \________________/   \-> DONE | FAILED   (any state -> FAILED)
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
	Cmpd__Job *rec;   /* the stored record, owned */
	uv_timer_t timer; /* the poll timer while WAITING */
};

/* What a client asked for. */
struct job_request {
	const struct profile *profile;
	const char *subject; /* NULL or empty: the profile's */
	char *const *sans;
	size_t n_sans; /* 0: the profile's */
	Cmpd__KeyType key_type;
	const char *key_id; /* NULL or empty: generate a new key */
	uint32_t owner_uid;
};

/*
 * Creates, stores and starts an enrollment job. On success *out points to
 * the job's record, valid until the next turn of the loop.
 */
cmpd_err job_enroll(struct broker *b, const struct job_request *req,
    const Cmpd__Job **out, char *err, size_t errlen);

/* The unfinished job with id, or NULL. */
struct job *job_find(struct broker *b, const char *id);

/* Restarts or fails the jobs a previous run left unfinished. */
cmpd_err job_resume_all(struct broker *b);

/* Stops every job's timer and frees the jobs (at shutdown). */
void job_free_all(struct broker *b);

/* The name of a state, for logs. */
const char *job_state_name(Cmpd__JobState s);
