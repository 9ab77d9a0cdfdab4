/*
 * Jobs that outlive a process. A transaction's state is the CA's answers
 * the networker asked us to keep (TxnSaveReq, committed before the
 * networker acts on them): with them a new networker rebuilds the
 * transaction under the same transactionID (networker/txnresume.c);
 * without any, nothing the CA said was acted on and a new transaction
 * with a new transactionID starts instead. This file re-runs a job's
 * transaction after cmpd, the networker or the keyworker restarted, and
 * gives up after a few restarts so that a crash loop ends the job with a
 * reason rather than running it forever.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job_int.h"
#include "keysweep.h"
#include "log.h"
#include "record.h"
#include "util.h"

/* A kept answer is one PKIMessage; CAs send a few kilobytes. */
#define KEPT_ANSWER_MAX (256u << 10)

static void
resume_save_reply(
    struct broker *b, const cmpd_env *req, cmpd_err code, const char *text)
{
	Cmpd__Error err = CMPD__ERROR__INIT;
	Cmpd__Ok ok = CMPD__OK__INIT;
	cmpd_env rep;

	cmpd_env_init(&rep, req->id);
	if (code == CMPD_OK) {
		rep.body_case = CMPD__ENVELOPE__BODY_OK;
		rep.ok = &ok;
	} else {
		err.code = (Cmpd__ErrorCode)code;
		err.message = (char *)text;
		rep.body_case = CMPD__ENVELOPE__BODY_ERROR;
		rep.error = &err;
	}
	worker_reply(&b->networker, req, &rep);
}

/* Keeps r's answer in rec: appended, or in place of the last one. */
static cmpd_err
resume_keep(Cmpd__Job *rec, const Cmpd__TxnSaveReq *r)
{
	ProtobufCBinaryData *last;

	if (r->replaces_last && rec->n_txn_messages >= 2) {
		last = &rec->txn_messages[rec->n_txn_messages - 1];
		return rec_set_bytes(last, r->message.data, r->message.len);
	}
	if (rec->n_txn_messages >= 3)
		return CMPD_EINVAL;
	last = reallocarray(
	    rec->txn_messages, rec->n_txn_messages + 1, sizeof(*last));
	if (last == NULL)
		return CMPD_ENOMEM;
	rec->txn_messages = last;
	last = &rec->txn_messages[rec->n_txn_messages];
	memset(last, 0, sizeof(*last));
	if (rec_set_bytes(last, r->message.data, r->message.len) != CMPD_OK)
		return CMPD_ENOMEM;
	rec->n_txn_messages++;
	return CMPD_OK;
}

/*
 * The networker's TxnSaveReq: committed before the Ok goes back, because
 * the networker acts on the answer only then.
 */
static void
resume_save_cb(void *arg, const cmpd_env *req)
{
	struct broker *b = arg;
	const Cmpd__TxnSaveReq *r = req->txn_save_req;
	Cmpd__Job *copy = NULL;
	struct job *job;
	char text[160];
	cmpd_err rv;

	if (!cmpd_str_set(r->job_id) || r->message.len == 0 ||
	    r->message.len > KEPT_ANSWER_MAX) {
		resume_save_reply(b, req, CMPD_EINVAL, "bad answer to keep");
		return;
	}
	job = job_find(b, r->job_id);
	if (job == NULL || job->rec->state != S(RUNNING)) {
		snprintf(
		    text, sizeof(text), "job %.40s is not running", r->job_id);
		resume_save_reply(b, req, CMPD_ENOENT, text);
		return;
	}
	/* The record changes only once the store has the change. */
	copy = rec_job_dup(job->rec);
	if (copy == NULL || (rv = resume_keep(copy, r)) != CMPD_OK ||
	    (rv = store_job_put(b->store, copy)) != CMPD_OK) {
		rv = copy == NULL ? CMPD_ENOMEM : rv;
		snprintf(
		    text, sizeof(text), "the store: %s", cmpd_strerror(rv));
		log_err("job %s: cannot keep the CA's answer: %s", job->rec->id,
		    text);
		if (copy != NULL)
			cmpd__job__free_unpacked(copy, NULL);
		resume_save_reply(b, req, rv, text);
		return;
	}
	cmpd__job__free_unpacked(job->rec, NULL);
	job->rec = copy;
	log_debug("job %s: kept the CA's answer (%zu kept)", job->rec->id,
	    job->rec->n_txn_messages);
	resume_save_reply(b, req, CMPD_OK, NULL);
}

void
job_txn_rerun(struct job *job, int fresh, const char *fmt, ...)
{
	Cmpd__Job *rec = job->rec;
	char why[512];
	va_list ap;
	cmpd_err rv;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	uv_timer_stop(&job->timer);
	if (rec->restarts >= JOB_RESTARTS_MAX) {
		job_fail(job, CMPD_EUNAVAIL, NULL,
		    "gave up after %u restarts of its transaction; the last "
		    "because %s",
		    rec->restarts, why);
		return;
	}
	rec->restarts++;
	if ((fresh || rec->n_txn_messages == 0) &&
	    (rv = rec_tid_new(rec)) != CMPD_OK) {
		job_fail(job, rv, NULL, "cannot start a new transaction");
		return;
	}
	if (rec_set_str(&rec->restart_reason, why) != CMPD_OK ||
	    store_job_put(job->b->store, rec) != CMPD_OK) {
		job_fail(job, CMPD_EIO, NULL, "cannot store the job: %s",
		    store_strerror(job->b->store));
		return;
	}
	log_warn("job %s: %s; %s (restart %u of at most %u)", rec->id, why,
	    rec->n_txn_messages > 0 ? "resuming its transaction"
	                            : "starting a new transaction",
	    rec->restarts, JOB_RESTARTS_MAX);
	job->txn_lost = 1;
	if (rec->state == S(WAITING))
		job_wait_until(job, rec->next_poll);
	else
		job_txn_restart(job);
}

void
job_txn_restart(struct job *job)
{
	cmpd_err rv;

	if ((rv = job_send_grant(job, job_grant_cb)) != CMPD_OK)
		job_fail(job, rv, NULL, "cannot reach the keyworker");
}

static void
resume_regrant_cb(void *arg, cmpd_err err, const cmpd_env *rep)
{
	struct job *job = arg;

	CMPD_MAGIC_CHECK(job, JOB_MAGIC);
	if (err == CMPD_OK && rep->body_case == CMPD__ENVELOPE__BODY_OK)
		job->kw_gen = job->b->keyworker.generation;
	else
		log_warn("job %s: the new keyworker did not take the grant "
		         "again; the next step re-runs the transaction",
		    job->rec->id);
}

/*
 * A new keyworker knows no grants: give every job in a transaction its
 * grant again. Signatures refused in between fail the step, which the
 * job then re-runs (job_txn_cb).
 */
static void
resume_keyworker_up(struct worker *w, void *arg)
{
	struct broker *b = arg;

	keysweep_run(b);
	if (w->generation < 2)
		return;
	for (struct job *job = b->jobs; job != NULL; job = job->next) {
		Cmpd__JobState st = job->rec->state;

		if ((st == S(RUNNING) || st == S(WAITING)) && !job->txn_lost &&
		    job_send_grant(job, resume_regrant_cb) != CMPD_OK)
			log_err("job %s: cannot grant again", job->rec->id);
	}
}

/* A new networker knows no transactions: waiting ones resume at the poll. */
static void
resume_networker_up(struct worker *w, void *arg)
{
	struct broker *b = arg;

	if (w->generation < 2)
		return;
	for (struct job *job = b->jobs; job != NULL; job = job->next)
		if (job->rec->state == S(WAITING))
			job->txn_lost = 1;
}

static const Cmpd__Envelope__BodyCase networker_asks[] = {
	CMPD__ENVELOPE__BODY_TXN_SAVE_REQ,
	CMPD__ENVELOPE__BODY__NOT_SET,
};

void
job_workers_watch(struct broker *b)
{
	b->networker.may_ask = networker_asks;
	b->networker.request_cb = resume_save_cb;
	b->networker.request_arg = b;
	b->networker.up_cb = resume_networker_up;
	b->networker.up_arg = b;
	b->keyworker.up_cb = resume_keyworker_up;
	b->keyworker.up_arg = b;
}
