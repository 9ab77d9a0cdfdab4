#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "job_int.h"
#include "log.h"
#include "record.h"
#include "track.h"
#include "util.h"

#define BIT(x) (1u << S(x))

/* Where each state may go next; everything may fail. */
static const unsigned job_moves[] = {
	[S(QUEUED)] = BIT(KEYGEN) | BIT(RUNNING) | BIT(FAILED),
	[S(KEYGEN)] = BIT(RUNNING) | BIT(FAILED),
	[S(RUNNING)] = BIT(WAITING) | BIT(DONE) | BIT(FAILED),
	[S(WAITING)] = BIT(RUNNING) | BIT(FAILED),
	[S(DONE)] = 0,
	[S(FAILED)] = 0,
};

static const char *const state_names[] = {
	[S(QUEUED)] = "queued",
	[S(KEYGEN)] = "keygen",
	[S(RUNNING)] = "running",
	[S(WAITING)] = "waiting",
	[S(DONE)] = "done",
	[S(FAILED)] = "failed",
};

static void job_txn_cb(void *arg, cmpd_err err, const cmpd_env *rep);

const char *
job_state_name(Cmpd__JobState s)
{
	if (s <= 0 || (size_t)s >= CMPD_ARRAY_LEN(state_names))
		return "unknown";
	return state_names[s];
}

int
job_state_ended(Cmpd__JobState s)
{
	return s == S(DONE) || s == S(FAILED);
}

const struct profile *
job_profile(const struct job *job)
{
	return config_profile(job->b->cfg, job->rec->profile);
}

/*
 * Moves job to state and commits the record before anything depends on
 * the new state. A commit that fails leaves the job where it was.
 */
static cmpd_err
job_move(struct job *job, Cmpd__JobState to, int commit)
{
	Cmpd__JobState from = job->rec->state;
	cmpd_err rv;

	if (from <= 0 || (size_t)from >= CMPD_ARRAY_LEN(job_moves) ||
	    (job_moves[from] & (1u << to)) == 0) {
		log_err("job %s: illegal move %s -> %s", job->rec->id,
		    job_state_name(from), job_state_name(to));
		abort();
	}
	job->rec->state = to;
	job->rec->updated = cmpd_time_now();
	if (to == S(DONE))
		return CMPD_OK; /* committed with what the job changed */
	if (!commit) {
		log_info("job %s: %s", job->rec->id, job_state_name(to));
		api_job_changed(job->b->api, job->rec);
		return CMPD_OK;
	}
	if ((rv = store_job_put(job->b->store, job->rec)) != CMPD_OK) {
		job->rec->state = from;
		return rv;
	}
	log_info("job %s: %s", job->rec->id, job_state_name(to));
	api_job_changed(job->b->api, job->rec);
	return CMPD_OK;
}

cmpd_err
job_transition(struct job *job, Cmpd__JobState to)
{
	return job_move(job, to, 1);
}

/*
 * Moves job to state for the clients to see, leaving the commit to the
 * job's next one: for the moves a crash may forget, since the job then
 * starts from its stored state and comes the same way again (generating a
 * key, starting its transaction: the key sweep removes a key made for
 * nothing). An enrollment needs two commits fewer.
 */
static void
job_transition_soft(struct job *job, Cmpd__JobState to)
{
	job_move(job, to, 0);
}

static void
job_close_cb(uv_handle_t *h)
{
	struct job *job = h->data;

	cmpd__job__free_unpacked(job->rec, NULL);
	if (job->target != NULL)
		cmpd__cert_record__free_unpacked(job->target, NULL);
	if (job->signer != NULL)
		cmpd__cert_record__free_unpacked(job->signer, NULL);
	free(job);
}

void
job_release(struct job *job)
{
	struct broker *b = job->b;

	worker_cancel(&b->keyworker, job);
	worker_cancel(&b->networker, job);
	if (job->prev != NULL)
		job->prev->next = job->next;
	else
		b->jobs = job->next;
	if (job->next != NULL)
		job->next->prev = job->prev;
	job->magic = 0;
	uv_close((uv_handle_t *)&job->timer, job_close_cb);
}

struct job *
job_adopt(struct broker *b, Cmpd__Job *rec)
{
	struct job *job = calloc(1, sizeof(*job));

	if (job == NULL)
		return NULL;
	job->magic = JOB_MAGIC;
	job->b = b;
	job->rec = rec;
	job->timer.data = job;
	uv_timer_init(b->loop, &job->timer);
	job->next = b->jobs;
	if (b->jobs != NULL)
		b->jobs->prev = job;
	b->jobs = job;
	return job;
}

struct job *
job_find(struct broker *b, const char *id)
{
	for (struct job *job = b->jobs; job != NULL; job = job->next)
		if (strcmp(job->rec->id, id) == 0)
			return job;
	return NULL;
}

void
job_free_all(struct broker *b)
{
	while (b->jobs != NULL) {
		struct job *job = b->jobs;

		uv_timer_stop(&job->timer);
		job_release(job);
	}
}

static void
log_reply_cb(void *arg, cmpd_err err, const cmpd_env *rep)
{
	(void)arg;
	if (err == CMPD_OK && rep->body_case == CMPD__ENVELOPE__BODY_ERROR)
		log_warn("%s", rep->error->message);
	else if (err != CMPD_OK && err != CMPD_ECANCELED)
		log_warn("a cleanup request failed: %s", cmpd_strerror(err));
}

void
job_key_delete(struct broker *b, const char *key_id)
{
	Cmpd__KeyDeleteReq del = CMPD__KEY_DELETE_REQ__INIT;
	cmpd_env env;

	cmpd_env_init(&env, 0);
	del.id = (char *)key_id;
	env.body_case = CMPD__ENVELOPE__BODY_KEY_DELETE_REQ;
	env.key_delete_req = &del;
	worker_request(&b->keyworker, &env, log_reply_cb, b);
}

void
job_cleanup(struct job *job, int failed)
{
	struct broker *b = job->b;
	Cmpd__GrantEndReq end = CMPD__GRANT_END_REQ__INIT;
	cmpd_env env;

	cmpd_env_init(&env, 0);
	end.job_id = job->rec->id;
	env.body_case = CMPD__ENVELOPE__BODY_GRANT_END_REQ;
	env.grant_end_req = &end;
	worker_request(&b->keyworker, &env, log_reply_cb, b);
	if (failed && job->rec->key_generated && cmpd_str_set(job->rec->key_id))
		job_key_delete(b, job->rec->key_id);
}

void
job_fail(struct job *job, cmpd_err err, const Cmpd__PkiStatus *pki,
    const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	CMPD_MAGIC_CHECK(job, JOB_MAGIC);
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_warn("job %s failed: %s", job->rec->id, text);
	job->rec->error = (Cmpd__ErrorCode)err;
	/* The CA's answers matter no more once the job has ended. */
	rec_set_bytes_list(
	    &job->rec->txn_messages, &job->rec->n_txn_messages, NULL, 0);
	if (rec_set_str(&job->rec->error_text, text) != CMPD_OK ||
	    rec_set_pki(&job->rec->pki, pki) != CMPD_OK ||
	    job_transition(job, S(FAILED)) != CMPD_OK)
		log_err(
		    "job %s: the failure could not be stored", job->rec->id);
	job_failed_effects(job);
	job_cleanup(job, 1);
	job_release(job);
}

/* The text of a worker's reply that is not the expected body. */
static const char *
reply_text(cmpd_err err, const cmpd_env *rep, cmpd_err *code)
{
	if (err != CMPD_OK) {
		*code = err;
		return cmpd_strerror(err);
	}
	if (rep->body_case == CMPD__ENVELOPE__BODY_ERROR) {
		*code = (cmpd_err)rep->error->code;
		return rep->error->message;
	}
	*code = CMPD_EPROTO;
	return "unexpected reply";
}

static void
job_poll_cb(uv_timer_t *t)
{
	struct job *job = t->data;
	Cmpd__TxnContinueReq req = CMPD__TXN_CONTINUE_REQ__INIT;
	cmpd_env env;
	cmpd_err rv;

	CMPD_MAGIC_CHECK(job, JOB_MAGIC);
	if (job_transition(job, S(RUNNING)) != CMPD_OK) {
		job_fail(job, CMPD_EIO, NULL, "cannot store the job: %s",
		    store_strerror(job->b->store));
		return;
	}
	if (job->txn_lost) {
		job_txn_restart(job);
		return;
	}
	cmpd_env_init(&env, 0);
	req.job_id = job->rec->id;
	env.body_case = CMPD__ENVELOPE__BODY_TXN_CONTINUE_REQ;
	env.txn_continue_req = &req;
	rv = worker_request(&job->b->networker, &env, job_txn_cb, job);
	if (rv != CMPD_OK)
		job_fail(job, rv, NULL, "cannot reach the networker");
}

/* The CA said "waiting": poll when it asked, unless that is too late. */
static void
job_wait(struct job *job, uint32_t check_after)
{
	const struct profile *pr = job_profile(job);
	uint32_t secs = check_after < 1 ? 1 : check_after;
	int64_t next;

	/* A CA may ask for anything; poll at most hourly, at least 1 s. */
	if (secs > 3600)
		secs = 3600;
	next = cmpd_time_now() + secs;
	if (job->rec->deadline > 0 && next > job->rec->deadline) {
		job_fail(job, CMPD_ETIMEDOUT, NULL,
		    "the CA had not issued after %us (total_timeout of "
		    "profile %s); it asked to wait %us more",
		    pr->total_timeout, pr->name, check_after);
		return;
	}
	job->rec->next_poll = next;
	if (job_transition(job, S(WAITING)) != CMPD_OK) {
		job_fail(job, CMPD_EIO, NULL, "cannot store the job: %s",
		    store_strerror(job->b->store));
		return;
	}
	log_info("job %s: the CA asks to wait %us", job->rec->id, secs);
	uv_timer_start(&job->timer, job_poll_cb, (uint64_t)secs * 1000, 0);
}

void
job_wait_until(struct job *job, int64_t when)
{
	int64_t secs = when - cmpd_time_now();

	if (secs < 0)
		secs = 0;
	uv_timer_start(&job->timer, job_poll_cb, (uint64_t)secs * 1000, 0);
}

/*
 * The networker's reason, and the profile's limit when it was reached (the
 * networker counts from the start of its step, the deadline from the
 * job's creation, in whole seconds: a second of slack).
 */
static void
job_txn_failed(struct job *job, const Cmpd__TxnRep *r)
{
	const struct profile *pr = job_profile(job);
	const char *text = cmpd_str_set(r->error_text)
	    ? r->error_text
	    : cmpd_strerror((cmpd_err)r->error);

	if (r->restart) {
		job_txn_rerun(job, 1, "%s", text);
		return;
	}
	if (job->kw_gen != job->b->keyworker.generation) {
		job_txn_rerun(job, 0,
		    "the keyworker restarted during a step "
		    "(%s)",
		    text);
		return;
	}
	if (r->error == CMPD__ERROR_CODE__ERR_TIMEOUT &&
	    job->rec->deadline > 0 && cmpd_time_now() + 1 >= job->rec->deadline)
		job_fail(job, CMPD_ETIMEDOUT, r->pki,
		    "%s (the total_timeout of profile %s, %us, is over)", text,
		    pr->name, pr->total_timeout);
	else
		job_fail(job, (cmpd_err)r->error, r->pki, "%s", text);
}

static void
job_txn_cb(void *arg, cmpd_err err, const cmpd_env *rep)
{
	struct job *job = arg;
	const Cmpd__TxnRep *r;
	cmpd_err code;

	CMPD_MAGIC_CHECK(job, JOB_MAGIC);
	if (err == CMPD_EUNAVAIL ||
	    (err == CMPD_OK && rep->body_case == CMPD__ENVELOPE__BODY_TXN_REP &&
	        rep->txn_rep->result == CMPD__TXN_RESULT__TXN_FAILED &&
	        rep->txn_rep->error == CMPD__ERROR_CODE__ERR_NOT_FOUND)) {
		job_txn_rerun(job, 0, "the networker restarted");
		return;
	}
	if (err != CMPD_OK || rep->body_case != CMPD__ENVELOPE__BODY_TXN_REP ||
	    strcmp(rep->txn_rep->job_id, job->rec->id) != 0) {
		const char *text = reply_text(err, rep, &code);

		job_fail(job, code, NULL, "networker: %s", text);
		return;
	}
	r = rep->txn_rep;
	switch (r->result) {
	case CMPD__TXN_RESULT__TXN_DONE:
		job_done(job, r);
		break;
	case CMPD__TXN_RESULT__TXN_WAITING:
		job_wait(job, r->check_after);
		break;
	case CMPD__TXN_RESULT__TXN_FAILED:
		job_txn_failed(job, r);
		break;
	default:
		job_fail(job, CMPD_EPROTO, NULL, "networker: bad result");
		break;
	}
}

static void job_grant_refused(struct job *job, cmpd_err code, const char *text);

/* The keyworker will sign for the job: the transaction can start. */
static void
job_granted(struct job *job)
{
	cmpd_err rv;

	job->kw_gen = job->b->keyworker.generation;
	if ((rv = job_send_txn(job, job_txn_cb)) != CMPD_OK)
		job_fail(job, rv, NULL, "cannot reach the networker");
}

void
job_grant_cb(void *arg, cmpd_err err, const cmpd_env *rep)
{
	struct job *job = arg;
	cmpd_err code;
	const char *text;

	CMPD_MAGIC_CHECK(job, JOB_MAGIC);
	if (err == CMPD_EUNAVAIL) {
		job_txn_rerun(job, 0, "the keyworker stopped");
		return;
	}
	if (err == CMPD_OK && rep->body_case == CMPD__ENVELOPE__BODY_OK) {
		job_granted(job);
		return;
	}
	text = reply_text(err, rep, &code);
	job_grant_refused(job, code, text);
}

static void
job_grant_refused(struct job *job, cmpd_err code, const char *text)
{
	const struct profile *pr = job_profile(job);

	if (code == CMPD_ENOENT && pr->protection == PROTECTION_SIGNATURE)
		job_fail(job, code, NULL,
		    "keyworker: %s (the key of profile %s's certificate has "
		    "id %s: import it with 'cmpctl key import')",
		    text, pr->name, pr->cert.key_id);
	else
		job_fail(job, code, NULL, "keyworker: %s", text);
}

static void
job_grant(struct job *job)
{
	cmpd_err rv;

	/* Committed with the first answer the transaction keeps. */
	job_transition_soft(job, S(RUNNING));
	if ((rv = job_send_grant(job, job_grant_cb)) != CMPD_OK)
		job_fail(job, rv, NULL, "cannot reach the keyworker");
}

static cmpd_err
job_take_key(struct job *job, const Cmpd__KeyInfo *k)
{
	Cmpd__Job *rec = job->rec;

	rec->key_type = k->type;
	if (rec_set_str(&rec->key_id, k->id) != CMPD_OK ||
	    rec_set_bytes(&rec->key_spki, k->spki.data, k->spki.len) != CMPD_OK)
		return CMPD_ENOMEM;
	return CMPD_OK;
}

/*
 * The keyworker died before it answered: ask the next one, a few times.
 * A key it may have written for us is swept at the next start (orphans).
 */
static int
job_key_retry(struct job *job)
{
	if (job->rec->restarts >= JOB_RESTARTS_MAX)
		return 0;
	job->rec->restarts++;
	rec_set_str(&job->rec->restart_reason,
	    "the keyworker stopped while it made the key");
	log_warn(
	    "job %s: the keyworker stopped; asking it again", job->rec->id);
	job->rec->state = S(QUEUED);
	job_run(job);
	return 1;
}

static void
job_keygen_cb(void *arg, cmpd_err err, const cmpd_env *rep)
{
	struct job *job = arg;
	const Cmpd__Error *g;
	cmpd_err code;

	CMPD_MAGIC_CHECK(job, JOB_MAGIC);
	if (err == CMPD_EUNAVAIL && job_key_retry(job))
		return;
	if (err != CMPD_OK ||
	    rep->body_case != CMPD__ENVELOPE__BODY_KEY_GENERATE_REP ||
	    rep->key_generate_rep->key == NULL) {
		const char *text = reply_text(err, rep, &code);

		job_fail(job, code, NULL, "key generation: %s", text);
		return;
	}
	job->rec->key_generated = 1;
	if (job_take_key(job, rep->key_generate_rep->key) != CMPD_OK) {
		job_fail(job, CMPD_ENOMEM, NULL, "out of memory");
		return;
	}
	/* Committed with the first answer the transaction keeps. */
	job_transition_soft(job, S(RUNNING));
	g = rep->key_generate_rep->grant_error;
	if (g != NULL)
		job_grant_refused(job, (cmpd_err)g->code, g->message);
	else
		job_granted(job);
}

/* An existing key: its type and public key come from the keyworker. */
static void
job_keyinfo_cb(void *arg, cmpd_err err, const cmpd_env *rep)
{
	struct job *job = arg;
	const Cmpd__KeyListRep *l;
	cmpd_err code;

	CMPD_MAGIC_CHECK(job, JOB_MAGIC);
	if (err == CMPD_EUNAVAIL && job_key_retry(job))
		return;
	if (err != CMPD_OK ||
	    rep->body_case != CMPD__ENVELOPE__BODY_KEY_LIST_REP) {
		const char *text = reply_text(err, rep, &code);

		job_fail(job, code, NULL, "keyworker: %s", text);
		return;
	}
	l = rep->key_list_rep;
	if (l->n_keys != 1 || strcmp(l->keys[0]->id, job->rec->key_id) != 0) {
		job_fail(job, CMPD_ENOENT, NULL, "no key with id %s",
		    job->rec->key_id);
		return;
	}
	if (job_take_key(job, l->keys[0]) != CMPD_OK) {
		job_fail(job, CMPD_ENOMEM, NULL, "out of memory");
		return;
	}
	job_grant(job);
}

static int
op_has_new_key(Cmpd__CmpOp op)
{
	return op == OP(IR) || op == OP(CR) || op == OP(P10CR) || op == OP(KUR);
}

/*
 * The first step: a new key with the grant in one request, or the public
 * half of an existing key, then the grant. RR and genm certify no key.
 */
void
job_run(struct job *job)
{
	Cmpd__KeyListReq find = CMPD__KEY_LIST_REQ__INIT;
	cmpd_env env;
	cmpd_err rv;

	if (!op_has_new_key(job->rec->op) || job->rec->key_spki.len > 0) {
		job_grant(job);
		return;
	}
	if (!cmpd_str_set(job->rec->key_id)) {
		job_transition_soft(job, S(KEYGEN));
		if ((rv = job_send_keygen(job, job_keygen_cb)) != CMPD_OK)
			job_fail(job, rv, NULL, "cannot reach the keyworker");
		return;
	}
	cmpd_env_init(&env, 0);
	find.id = job->rec->key_id;
	env.body_case = CMPD__ENVELOPE__BODY_KEY_LIST_REQ;
	env.key_list_req = &find;
	rv = worker_request(&job->b->keyworker, &env, job_keyinfo_cb, job);
	if (rv != CMPD_OK)
		job_fail(job, rv, NULL, "cannot reach the keyworker");
}
