#include "job.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "keyid.h"
#include "log.h"
#include "output.h"
#include "record.h"
#include "util.h"

#define TRANSACTION_ID_LEN 16

#define S(x)   CMPD__JOB_STATE__JOB_##x
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

static void job_run(struct job *job);
static void job_txn_cb(void *arg, cmpd_err err, const cmpd_env *rep);

const char *
job_state_name(Cmpd__JobState s)
{
	if (s <= 0 || (size_t)s >= CMPD_ARRAY_LEN(state_names))
		return "unknown";
	return state_names[s];
}

static const struct profile *
job_profile(const struct job *job)
{
	return config_profile(job->b->cfg, job->rec->profile);
}

/*
 * Moves job to state and commits the record before anything depends on
 * the new state. A commit that fails leaves the job where it was.
 */
static cmpd_err
job_transition(struct job *job, Cmpd__JobState to)
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
		return CMPD_OK; /* committed with its certificate */
	if ((rv = store_job_put(job->b->store, job->rec)) != CMPD_OK) {
		job->rec->state = from;
		return rv;
	}
	log_info("job %s: %s", job->rec->id, job_state_name(to));
	api_job_changed(job->b->api, job->rec);
	return CMPD_OK;
}

static void
job_close_cb(uv_handle_t *h)
{
	struct job *job = h->data;

	cmpd__job__free_unpacked(job->rec, NULL);
	free(job);
}

/* Unlinks and frees job; its record is in the store. */
static void
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

static void
log_reply_cb(void *arg, cmpd_err err, const cmpd_env *rep)
{
	(void)arg;
	if (err == CMPD_OK && rep->body_case == CMPD__ENVELOPE__BODY_ERROR)
		log_warn("%s", rep->error->message);
	else if (err != CMPD_OK && err != CMPD_ECANCELED)
		log_warn("a cleanup request failed: %s", cmpd_strerror(err));
}

/* Voids the job's grant and deletes a key made for a job that failed. */
static void
job_cleanup(struct job *job, int delete_key)
{
	struct broker *b = job->b;
	Cmpd__GrantEndReq end = CMPD__GRANT_END_REQ__INIT;
	Cmpd__KeyDeleteReq del = CMPD__KEY_DELETE_REQ__INIT;
	cmpd_env env;

	cmpd_env_init(&env, 0);
	end.job_id = job->rec->id;
	env.body_case = CMPD__ENVELOPE__BODY_GRANT_END_REQ;
	env.grant_end_req = &end;
	worker_request(&b->keyworker, &env, log_reply_cb, b);
	if (!delete_key || !job->rec->key_generated ||
	    !cmpd_str_set(job->rec->key_id))
		return;
	cmpd_env_init(&env, 0);
	del.id = job->rec->key_id;
	env.body_case = CMPD__ENVELOPE__BODY_KEY_DELETE_REQ;
	env.key_delete_req = &del;
	worker_request(&b->keyworker, &env, log_reply_cb, b);
}

__attribute__((format(printf, 4, 5))) static void
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
	if (rec_set_str(&job->rec->error_text, text) != CMPD_OK ||
	    rec_set_pki(&job->rec->pki, pki) != CMPD_OK ||
	    job_transition(job, S(FAILED)) != CMPD_OK)
		log_err(
		    "job %s: the failure could not be stored", job->rec->id);
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
job_done(struct job *job, const Cmpd__TxnRep *r)
{
	Cmpd__Job *rec = job->rec;
	const struct profile *pr = job_profile(job);
	Cmpd__CertRecord *cert = NULL;
	cmpd_err rv;

	if (rec_set_bytes(&rec->cert, r->cert.data, r->cert.len) != CMPD_OK ||
	    rec_set_bytes_list(
	        &rec->chain, &rec->n_chain, r->chain, r->n_chain) != CMPD_OK ||
	    rec_set_str(&rec->cert_path, pr->cert_file) != CMPD_OK ||
	    rec_set_str(&rec->chain_path, pr->chain_file) != CMPD_OK ||
	    (rv = rec_cert_new(rec, &cert)) != CMPD_OK) {
		job_fail(job, CMPD_ENOMEM, NULL, "out of memory");
		return;
	}
	/*
	 * The files first: a crash after them leaves a RUNNING job whose
	 * certificate is on disk, never a DONE job without its files.
	 */
	if ((rv = output_write(pr, rec)) != CMPD_OK) {
		cmpd__cert_record__free_unpacked(cert, NULL);
		job_fail(job, rv, NULL, "cannot write %s: %s", pr->cert_file,
		    cmpd_strerror(rv));
		return;
	}
	job_transition(job, S(DONE));
	rv = store_job_finish(job->b->store, rec, cert);
	cmpd__cert_record__free_unpacked(cert, NULL);
	if (rv != CMPD_OK) {
		rec->state = S(RUNNING);
		job_fail(job, rv, NULL, "cannot store the certificate");
		return;
	}
	log_info(
	    "job %s: done; certificate written to %s", rec->id, pr->cert_file);
	api_job_changed(job->b->api, rec);
	job_cleanup(job, 0);
	job_release(job);
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
		job_fail(job, CMPD_EIO, NULL, "cannot store the job");
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

static void
job_wait(struct job *job, uint32_t check_after)
{
	/* A CA may ask for anything; poll at most hourly, at least 1 s. */
	uint32_t secs = check_after < 1 ? 1 : check_after;

	if (secs > 3600)
		secs = 3600;
	job->rec->next_poll = cmpd_time_now() + secs;
	if (job_transition(job, S(WAITING)) != CMPD_OK) {
		job_fail(job, CMPD_EIO, NULL, "cannot store the job");
		return;
	}
	log_info("job %s: the CA asks to wait %us", job->rec->id, secs);
	uv_timer_start(&job->timer, job_poll_cb, (uint64_t)secs * 1000, 0);
}

static void
job_txn_cb(void *arg, cmpd_err err, const cmpd_env *rep)
{
	struct job *job = arg;
	const Cmpd__TxnRep *r;
	cmpd_err code;

	CMPD_MAGIC_CHECK(job, JOB_MAGIC);
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
		job_fail(job, (cmpd_err)r->error, r->pki, "%s",
		    cmpd_str_set(r->error_text)
		        ? r->error_text
		        : cmpd_strerror((cmpd_err)r->error));
		break;
	default:
		job_fail(job, CMPD_EPROTO, NULL, "networker: bad result");
		break;
	}
}

/* The request for the networker: the profile's settings and the job's. */
static void
txn_request_fill(Cmpd__TxnStartReq *t, const struct profile *pr, Cmpd__Job *rec,
    Cmpd__KeyInfo *prot, Cmpd__KeyInfo *newkey)
{
	t->job_id = rec->id;
	t->op = rec->op;
	t->transaction_id = rec->transaction_id;
	t->server_url = pr->server;
	t->proxy = pr->proxy != NULL ? pr->proxy : "";
	t->no_proxy = pr->no_proxy != NULL ? pr->no_proxy : "";
	t->msg_timeout = pr->msg_timeout;
	t->n_trusted = pr->trusted.n;
	t->trusted = pr->trusted.der;
	t->n_untrusted = pr->untrusted.n;
	t->untrusted = pr->untrusted.der;
	t->n_enroll_trusted = pr->enroll_trusted.n;
	t->enroll_trusted = pr->enroll_trusted.der;
	t->trust_capubs = pr->trust_capubs;
	if (pr->srv_cert.n > 0)
		t->srv_cert = pr->srv_cert.der[0];
	if (pr->protection == PROTECTION_SIGNATURE) {
		prot->id = (char *)pr->cert.key_id;
		prot->type = pr->cert.key_type;
		prot->spki = pr->cert.spki;
		t->protection_key = prot;
		t->n_protection_certs = pr->cert.certs.n;
		t->protection_certs = pr->cert.certs.der;
	} else {
		t->mac_secret.data = pr->mac_secret.data;
		t->mac_secret.len = pr->mac_secret.len;
		t->mac_reference = pr->mac_reference;
	}
	newkey->id = rec->key_id;
	newkey->type = rec->key_type;
	newkey->spki = rec->key_spki;
	t->new_key = newkey;
	t->subject = rec->subject;
	t->n_sans = rec->n_sans;
	t->sans = rec->sans;
	t->recipient = pr->recipient != NULL ? pr->recipient : "";
	t->expected_sender =
	    pr->expected_sender != NULL ? pr->expected_sender : "";
	t->implicit_confirm = pr->implicit_confirm;
	t->validity_days = pr->validity_days;
}

static void
job_txn_start(struct job *job)
{
	Cmpd__TxnStartReq t = CMPD__TXN_START_REQ__INIT;
	Cmpd__KeyInfo prot = CMPD__KEY_INFO__INIT;
	Cmpd__KeyInfo newkey = CMPD__KEY_INFO__INIT;
	cmpd_env env;
	cmpd_err rv;

	txn_request_fill(&t, job_profile(job), job->rec, &prot, &newkey);
	cmpd_env_init(&env, 0);
	env.body_case = CMPD__ENVELOPE__BODY_TXN_START_REQ;
	env.txn_start_req = &t;
	rv = worker_request(&job->b->networker, &env, job_txn_cb, job);
	if (rv != CMPD_OK)
		job_fail(job, rv, NULL, "cannot reach the networker");
}

static void
job_grant_cb(void *arg, cmpd_err err, const cmpd_env *rep)
{
	struct job *job = arg;
	const struct profile *pr;
	cmpd_err code;
	const char *text;

	CMPD_MAGIC_CHECK(job, JOB_MAGIC);
	if (err == CMPD_OK && rep->body_case == CMPD__ENVELOPE__BODY_OK) {
		job_txn_start(job);
		return;
	}
	text = reply_text(err, rep, &code);
	pr = job_profile(job);
	if (code == CMPD_ENOENT && pr->protection == PROTECTION_SIGNATURE)
		job_fail(job, code, NULL,
		    "keyworker: %s (the key of profile %s's certificate has "
		    "id %s: import it with 'cmpctl key import')",
		    text, pr->name, pr->cert.key_id);
	else
		job_fail(job, code, NULL, "keyworker: %s", text);
}

/* Lets the networker sign this job's transaction with its keys. */
static void
job_grant(struct job *job)
{
	Cmpd__GrantReq g = CMPD__GRANT_REQ__INIT;
	const struct profile *pr = job_profile(job);
	cmpd_env env;
	cmpd_err rv;

	if (job_transition(job, S(RUNNING)) != CMPD_OK) {
		job_fail(job, CMPD_EIO, NULL, "cannot store the job");
		return;
	}
	g.job_id = job->rec->id;
	g.op = job->rec->op;
	g.transaction_id = job->rec->transaction_id;
	g.protection_key_id = pr->protection == PROTECTION_SIGNATURE
	    ? (char *)pr->cert.key_id
	    : "";
	g.new_key_id = job->rec->key_id;
	cmpd_env_init(&env, 0);
	env.body_case = CMPD__ENVELOPE__BODY_GRANT_REQ;
	env.grant_req = &g;
	rv = worker_request(&job->b->keyworker, &env, job_grant_cb, job);
	if (rv != CMPD_OK)
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

static void
job_keygen_cb(void *arg, cmpd_err err, const cmpd_env *rep)
{
	struct job *job = arg;
	cmpd_err code;

	CMPD_MAGIC_CHECK(job, JOB_MAGIC);
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
	job_grant(job);
}

/* An existing key: its type and public key come from the keyworker. */
static void
job_keyinfo_cb(void *arg, cmpd_err err, const cmpd_env *rep)
{
	struct job *job = arg;
	const Cmpd__KeyListRep *l;
	cmpd_err code;

	CMPD_MAGIC_CHECK(job, JOB_MAGIC);
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

static void
job_run(struct job *job)
{
	Cmpd__KeyGenerateReq gen = CMPD__KEY_GENERATE_REQ__INIT;
	Cmpd__KeyListReq find = CMPD__KEY_LIST_REQ__INIT;
	worker_reply_cb cb = job_keyinfo_cb;
	cmpd_env env;
	cmpd_err rv;

	cmpd_env_init(&env, 0);
	if (cmpd_str_set(job->rec->key_id)) {
		find.id = job->rec->key_id;
		env.body_case = CMPD__ENVELOPE__BODY_KEY_LIST_REQ;
		env.key_list_req = &find;
	} else {
		if (job_transition(job, S(KEYGEN)) != CMPD_OK) {
			job_fail(job, CMPD_EIO, NULL, "cannot store the job");
			return;
		}
		gen.type = job->rec->key_type;
		gen.job_id = job->rec->id;
		env.body_case = CMPD__ENVELOPE__BODY_KEY_GENERATE_REQ;
		env.key_generate_req = &gen;
		cb = job_keygen_cb;
	}
	rv = worker_request(&job->b->keyworker, &env, cb, job);
	if (rv != CMPD_OK)
		job_fail(job, rv, NULL, "cannot reach the keyworker");
}

static struct job *
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

static cmpd_err
job_record_fill(Cmpd__Job *rec, const struct job_request *req)
{
	const struct profile *pr = req->profile;
	uint8_t tid[TRANSACTION_ID_LEN];
	char id[CMPD_JOB_ID_LEN + 1];
	const char *subject =
	    cmpd_str_set(req->subject) ? req->subject : pr->subject;
	cmpd_err rv;

	if ((rv = cmpd_job_id_new(id)) != CMPD_OK ||
	    (rv = cmpd_random(tid, sizeof(tid))) != CMPD_OK)
		return rv;
	rec->op = CMPD__CMP_OP__CMP_OP_IR;
	rec->state = S(QUEUED);
	rec->created = rec->updated = cmpd_time_now();
	rec->owner_uid = req->owner_uid;
	rec->key_type = req->key_type ? req->key_type : pr->key_type;
	if (rec_set_str(&rec->id, id) != CMPD_OK ||
	    rec_set_str(&rec->profile, pr->name) != CMPD_OK ||
	    rec_set_str(&rec->subject, subject) != CMPD_OK ||
	    rec_set_str(&rec->key_id, req->key_id) != CMPD_OK ||
	    rec_set_bytes(&rec->transaction_id, tid, sizeof(tid)) != CMPD_OK)
		return CMPD_ENOMEM;
	if (req->n_sans > 0)
		return rec_set_str_list(
		    &rec->sans, &rec->n_sans, req->sans, req->n_sans);
	return rec_set_str_list(
	    &rec->sans, &rec->n_sans, pr->sans.v, pr->sans.n);
}

cmpd_err
job_enroll(struct broker *b, const struct job_request *req,
    const Cmpd__Job **out, char *err, size_t errlen)
{
	Cmpd__Job *rec = rec_job_new();
	struct job *job;
	cmpd_err rv = CMPD_ENOMEM;

	if (rec == NULL || (rv = job_record_fill(rec, req)) != CMPD_OK)
		goto fail;
	if (!cmpd_str_set(rec->subject)) {
		snprintf(err, errlen, "profile %s has no subject: give one",
		    req->profile->name);
		rv = CMPD_EINVAL;
		goto fail;
	}
	if ((rv = store_job_put(b->store, rec)) != CMPD_OK) {
		snprintf(err, errlen, "cannot store the job");
		goto fail;
	}
	if ((job = job_adopt(b, rec)) == NULL)
		goto fail;
	log_info("job %s: enroll with profile %s for uid %u, subject %s",
	    rec->id, rec->profile, rec->owner_uid, rec->subject);
	*out = rec;
	job_run(job);
	return CMPD_OK;
fail:
	if (rec != NULL)
		cmpd__job__free_unpacked(rec, NULL);
	if (err[0] == '\0')
		snprintf(err, errlen, "%s", cmpd_strerror(rv));
	return rv;
}

struct job *
job_find(struct broker *b, const char *id)
{
	for (struct job *job = b->jobs; job != NULL; job = job->next)
		if (strcmp(job->rec->id, id) == 0)
			return job;
	return NULL;
}

/*
 * A job that was queued or generating its key starts again. A transaction
 * that was under way cannot be resumed yet: its job fails with a reason,
 * and its grant and new key are cleaned up.
 */
static int
job_resume_cb(void *arg, Cmpd__Job *rec)
{
	struct broker *b = arg;
	struct job *job;

	if (config_profile(b->cfg, rec->profile) == NULL) {
		log_warn("job %s: profile %s is gone", rec->id, rec->profile);
		rec->state = S(FAILED);
		rec_set_str(&rec->error_text, "the profile was removed");
		store_job_put(b->store, rec);
		cmpd__job__free_unpacked(rec, NULL);
		return 0;
	}
	if ((job = job_adopt(b, rec)) == NULL) {
		cmpd__job__free_unpacked(rec, NULL);
		return 1;
	}
	switch (rec->state) {
	case S(QUEUED):
	case S(KEYGEN):
		log_info("job %s: resuming", rec->id);
		rec->state = S(QUEUED);
		job_run(job);
		break;
	case S(RUNNING):
	case S(WAITING):
		job_fail(job, CMPD_ECANCELED, NULL,
		    "interrupted by a restart of cmpd while talking to the CA; "
		    "enroll again");
		break;
	default:
		log_err("job %s: unexpected state %d", rec->id, rec->state);
		abort();
	}
	return 0;
}

cmpd_err
job_resume_all(struct broker *b)
{
	return store_job_each(b->store, 1, job_resume_cb, b);
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
