#include "api_int.h"
#include "keysweep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "event.h"
#include "health.h"
#include "hook.h"
#include "ipc.h"
#include "job.h"
#include "keyid.h"
#include "log.h"
#include "record.h"
#include "util.h"

#define API_MAGIC 0x61706931u /* "api1" */
#define API_ADMIN 1u          /* only administrators may ask */
#define MAX_SANS  64

struct waiter {
	struct waiter *next;
	struct request *req;
	char job_id[CMPD_JOB_ID_LEN + 1];
	Cmpd__JobState seen;
	int until_end; /* answer on DONE or FAILED only, not on seen's end */
	uv_timer_t timer;
};

/* Whether waiter w has what it waits for in state s. */
static int
waiter_served(const struct waiter *w, Cmpd__JobState s)
{
	return w->until_end ? job_state_ended(s) : s != w->seen;
}

typedef cmpd_err (*api_handler_fn)(
    struct request *r, const cmpd_env *env, char *err, size_t errlen);

struct api_handler {
	Cmpd__Envelope__BodyCase body;
	api_handler_fn fn;
	unsigned flags;
};

static void
request_free(struct request *r)
{
	if (r == NULL)
		return;
	nng_msg_free(r->msg);
	api_conn_release(r->conn);
	free(r);
}

/* Sends env as the reply to r and frees r. */
void
api_reply(struct request *r, cmpd_env *env)
{
	nng_msg *msg = NULL;

	env->id = r->id;
	/* The reply repeats the request's backtrace before its body. */
	if (cmpd_ipc_pack(env, &msg) != CMPD_OK ||
	    nng_msg_header_append(
	        msg, nng_msg_header(r->msg), nng_msg_header_len(r->msg)) != 0) {
		log_warn(
		    "cannot send %s: out of memory", cmpd_env_body_name(env));
		nng_msg_free(msg);
	} else {
		api_conn_send(r->conn, msg);
	}
	request_free(r);
}

void
api_reply_error(struct request *r, cmpd_err code, const char *text)
{
	Cmpd__Error e = CMPD__ERROR__INIT;
	cmpd_env env;

	cmpd_env_init(&env, r->id);
	e.code = (Cmpd__ErrorCode)code;
	e.message = (char *)(text != NULL ? text : cmpd_strerror(code));
	env.body_case = CMPD__ENVELOPE__BODY_ERROR;
	env.error = &e;
	api_reply(r, &env);
}

/* A job as clients see it: without the CA answers kept for a restart. */
static void
job_for_client(Cmpd__Job *out, const Cmpd__Job *job)
{
	*out = *job;
	out->n_txn_messages = 0;
	out->txn_messages = NULL;
}

static void
api_reply_job(struct request *r, const Cmpd__Job *job)
{
	Cmpd__JobRep rep = CMPD__JOB_REP__INIT;
	Cmpd__Job shown;
	cmpd_env env;

	cmpd_env_init(&env, r->id);
	job_for_client(&shown, job);
	rep.job = &shown;
	env.body_case = CMPD__ENVELOPE__BODY_JOB_REP;
	env.job_rep = &rep;
	api_reply(r, &env);
}

static int
may_use_profile(const struct request *r, const struct profile *pr)
{
	return r->admin || config_ids_has_user(&pr->allowed_users, r->uid) ||
	    config_ids_has_group(&pr->allowed_groups, r->uid, r->gid);
}

static int
may_see_job(const struct request *r, const Cmpd__Job *job)
{
	return r->admin || job->owner_uid == r->uid;
}

static int
san_ok(const char *san)
{
	static const char *const prefixes[] = {
		"DNS:", "IP:", "URI:", "email:"
	};

	for (size_t i = 0; i < CMPD_ARRAY_LEN(prefixes); i++)
		if (strncmp(san, prefixes[i], strlen(prefixes[i])) == 0)
			return san[strlen(prefixes[i])] != '\0' &&
			    strlen(san) <= 256;
	return 0;
}

static cmpd_err
enroll_check(const Cmpd__EnrollReq *e, char *err, size_t errlen)
{
	if (e->n_sans > MAX_SANS) {
		snprintf(err, errlen, "at most %d subject alternative names",
		    MAX_SANS);
		return CMPD_EINVAL;
	}
	for (size_t i = 0; i < e->n_sans; i++)
		if (!san_ok(e->sans[i])) {
			snprintf(err, errlen,
			    "'%s' is not DNS:, IP:, URI: or email: followed "
			    "by a name",
			    e->sans[i]);
			return CMPD_EINVAL;
		}
	if (cmpd_str_set(e->subject) && e->subject[0] != '/') {
		snprintf(err, errlen, "a subject looks like /CN=name/O=org");
		return CMPD_EINVAL;
	}
	if (cmpd_str_set(e->key_id) &&
	    !cmpd_is_hex_id(e->key_id, CMPD_KEY_ID_LEN)) {
		snprintf(err, errlen, "'%s' is not a key id", e->key_id);
		return CMPD_EINVAL;
	}
	return CMPD_OK;
}

static cmpd_err
api_enroll(struct request *r, const cmpd_env *env, char *err, size_t errlen)
{
	const Cmpd__EnrollReq *e = env->enroll_req;
	const struct profile *pr = config_profile(r->api->b->cfg, e->profile);
	struct job_request jr = { 0 };
	const Cmpd__Job *job = NULL;
	cmpd_err rv;

	if (pr == NULL) {
		snprintf(err, errlen, "no profile '%s'", e->profile);
		return CMPD_ENOENT;
	}
	if (!may_use_profile(r, pr)) {
		snprintf(err, errlen, "uid %u may not use profile '%s'", r->uid,
		    pr->name);
		return CMPD_EPERM;
	}
	if ((rv = enroll_check(e, err, errlen)) != CMPD_OK)
		return rv;
	if (e->op != CMPD__CMP_OP__CMP_OP_UNSPECIFIED &&
	    e->op != CMPD__CMP_OP__CMP_OP_IR &&
	    e->op != CMPD__CMP_OP__CMP_OP_CR &&
	    e->op != CMPD__CMP_OP__CMP_OP_P10CR) {
		snprintf(err, errlen, "enroll with ir, cr or p10cr");
		return CMPD_EINVAL;
	}
	jr.profile = pr;
	jr.op = e->op;
	jr.subject = e->subject;
	jr.sans = e->sans;
	jr.n_sans = e->n_sans;
	jr.key_type = e->key_type;
	jr.key_id = e->key_id;
	jr.owner_uid = r->uid;
	if ((rv = job_enroll(r->api->b, &jr, &job, err, errlen)) != CMPD_OK)
		return rv;
	api_reply_job(r, job);
	return CMPD_OK;
}

/*
 * A tracked certificate by its id, or the current certificate of a
 * profile, if the caller may use its profile. *out is the caller's.
 */
static cmpd_err
api_cert_find(struct request *r, const char *ref, Cmpd__CertRecord **out,
    char *err, size_t errlen)
{
	struct broker *b = r->api->b;
	const struct profile *pr;
	cmpd_err rv;

	if (cmpd_is_hex_id(ref, CMPD_JOB_ID_LEN) &&
	    strlen(ref) == CMPD_JOB_ID_LEN)
		rv = store_cert_get(b->store, ref, out);
	else if (cmpd_str_ok_name(ref))
		rv = store_cert_active(b->store, ref, out);
	else
		rv = CMPD_EINVAL;
	if (rv != CMPD_OK) {
		snprintf(err, errlen,
		    "no certificate '%s' (give a certificate "
		    "id or a profile with a current one)",
		    ref);
		return rv == CMPD_EINVAL ? rv : CMPD_ENOENT;
	}
	pr = config_profile(b->cfg, (*out)->profile);
	if (pr == NULL || !may_use_profile(r, pr)) {
		cmpd__cert_record__free_unpacked(*out, NULL);
		*out = NULL;
		snprintf(err, errlen, "uid %u may not use certificate '%s'",
		    r->uid, ref);
		return CMPD_EPERM;
	}
	return CMPD_OK;
}

static cmpd_err
api_renew(struct request *r, const cmpd_env *env, char *err, size_t errlen)
{
	const Cmpd__RenewReq *q = env->renew_req;
	Cmpd__CertRecord *cert = NULL;
	const Cmpd__Job *job = NULL;
	cmpd_err rv;

	if ((rv = api_cert_find(r, q->cert, &cert, err, errlen)) != CMPD_OK)
		return rv;
	if (q->keep_key &&
	    q->key_type != CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED) {
		cmpd__cert_record__free_unpacked(cert, NULL);
		snprintf(err, errlen, "a kept key keeps its type");
		return CMPD_EINVAL;
	}
	rv = job_renew(r->api->b, cert, q->keep_key, q->key_type, r->uid, &job,
	    err, errlen);
	if (rv == CMPD_OK)
		api_reply_job(r, job);
	return rv;
}

/* RFC 5280 CRLReason values; 7 is not one. */
static int
reason_ok(int32_t reason)
{
	return reason == -1 || (reason >= 0 && reason <= 10 && reason != 7);
}

static cmpd_err
api_revoke(struct request *r, const cmpd_env *env, char *err, size_t errlen)
{
	const Cmpd__RevokeReq *q = env->revoke_req;
	Cmpd__CertRecord *cert = NULL;
	const Cmpd__Job *job = NULL;
	cmpd_err rv;

	if (!reason_ok(q->reason)) {
		snprintf(err, errlen, "%d is not a CRLReason", q->reason);
		return CMPD_EINVAL;
	}
	if ((rv = api_cert_find(r, q->cert, &cert, err, errlen)) != CMPD_OK)
		return rv;
	rv = job_revoke(r->api->b, cert, q->reason, r->uid, &job, err, errlen);
	if (rv == CMPD_OK)
		api_reply_job(r, job);
	return rv;
}

static cmpd_err
api_genm(struct request *r, const cmpd_env *env, char *err, size_t errlen)
{
	const Cmpd__GenmReq *q = env->genm_req;
	const struct profile *pr = config_profile(r->api->b->cfg, q->profile);
	const Cmpd__Job *job = NULL;
	cmpd_err rv;

	if (pr == NULL) {
		snprintf(err, errlen, "no profile '%s'", q->profile);
		return CMPD_ENOENT;
	}
	if (!may_use_profile(r, pr)) {
		snprintf(err, errlen, "uid %u may not use profile '%s'", r->uid,
		    pr->name);
		return CMPD_EPERM;
	}
	if (q->type == CMPD__GENM_TYPE__GENM_TYPE_UNSPECIFIED) {
		snprintf(err, errlen,
		    "which genm: ca-certs, root-update or "
		    "template");
		return CMPD_EINVAL;
	}
	rv = job_genm(r->api->b, pr, q->type, r->uid, &job, err, errlen);
	if (rv == CMPD_OK)
		api_reply_job(r, job);
	return rv;
}

static void
waiter_close_cb(uv_handle_t *h)
{
	free(h->data);
}

static void
waiter_remove(struct api *a, struct waiter *w)
{
	for (struct waiter **pp = &a->waiters; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	uv_close((uv_handle_t *)&w->timer, waiter_close_cb);
}

static void
waiter_timeout_cb(uv_timer_t *t)
{
	struct waiter *w = t->data;
	struct request *r = w->req;
	struct job *job = job_find(r->api->b, w->job_id);
	Cmpd__Job *stored = NULL;

	waiter_remove(r->api, w);
	if (job != NULL) {
		api_reply_job(r, job->rec);
	} else if (store_job_get(r->api->b->store, w->job_id, &stored) ==
	    CMPD_OK) {
		api_reply_job(r, stored);
		cmpd__job__free_unpacked(stored, NULL);
	} else {
		api_reply_error(r, CMPD_ENOENT, "the job is gone");
	}
}

static cmpd_err
api_wait(struct request *r, const Cmpd__JobGetReq *g)
{
	struct waiter *w = calloc(1, sizeof(*w));
	uint32_t ms = g->wait_ms > WAIT_MAX_MS ? WAIT_MAX_MS : g->wait_ms;

	if (w == NULL)
		return CMPD_ENOMEM;
	w->req = r;
	w->seen = g->seen_state;
	w->until_end = g->until_end;
	cmpd_strlcpy(w->job_id, g->job_id, sizeof(w->job_id));
	w->timer.data = w;
	uv_timer_init(r->api->b->loop, &w->timer);
	uv_timer_start(&w->timer, waiter_timeout_cb, ms, 0);
	w->next = r->api->waiters;
	r->api->waiters = w;
	return CMPD_OK;
}

/* A finished job is read from the store. */
static cmpd_err
api_job_get_stored(struct request *r, const char *id, char *err, size_t errlen)
{
	Cmpd__Job *stored = NULL;
	cmpd_err rv = store_job_get(r->api->b->store, id, &stored);

	if (rv == CMPD_OK && may_see_job(r, stored))
		api_reply_job(r, stored);
	else
		snprintf(err, errlen, "no job '%s'", id);
	if (stored != NULL)
		cmpd__job__free_unpacked(stored, NULL);
	return rv == CMPD_OK && err[0] == '\0' ? CMPD_OK : CMPD_ENOENT;
}

static cmpd_err
api_job_get(struct request *r, const cmpd_env *env, char *err, size_t errlen)
{
	const Cmpd__JobGetReq *g = env->job_get_req;
	struct job *job;

	if (!cmpd_is_hex_id(g->job_id, CMPD_JOB_ID_LEN)) {
		snprintf(err, errlen, "'%s' is not a job id", g->job_id);
		return CMPD_EINVAL;
	}
	job = job_find(r->api->b, g->job_id);
	if (job == NULL)
		return api_job_get_stored(r, g->job_id, err, errlen);
	if (!may_see_job(r, job->rec)) {
		snprintf(err, errlen, "no job '%s'", g->job_id);
		return CMPD_ENOENT;
	}
	if (g->wait_ms > 0 &&
	    (g->until_end ? !job_state_ended(job->rec->state)
	                  : job->rec->state == g->seen_state))
		return api_wait(r, g);
	api_reply_job(r, job->rec);
	return CMPD_OK;
}

/* Collects what a list request may see. */
struct list {
	const struct request *req;
	const char *profile;
	size_t limit; /* a page of at most limit; 0: all */
	void **items;
	size_t n, cap;
	cmpd_err rv;
};

static int
list_add(struct list *l, void *item)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		void **grown = realloc(l->items, cap * sizeof(*grown));

		if (grown == NULL) {
			l->rv = CMPD_ENOMEM;
			return 0;
		}
		l->items = grown;
		l->cap = cap;
	}
	l->items[l->n++] = item;
	return 1;
}

static int
list_job_cb(void *arg, Cmpd__Job *job)
{
	struct list *l = arg;

	if (may_see_job(l->req, job) &&
	    (!cmpd_str_set(l->profile) ||
	        strcmp(job->profile, l->profile) == 0) &&
	    list_add(l, job)) {
		/* Clients do not see the CA answers kept for a restart. */
		rec_set_bytes_list(
		    &job->txn_messages, &job->n_txn_messages, NULL, 0);
		return 0;
	}
	cmpd__job__free_unpacked(job, NULL);
	return l->rv != CMPD_OK;
}

static cmpd_err
api_job_list(struct request *r, const cmpd_env *env, char *err, size_t errlen)
{
	struct list l = { .req = r, .profile = env->job_list_req->profile };
	Cmpd__JobListRep rep = CMPD__JOB_LIST_REP__INIT;
	cmpd_env out;
	cmpd_err rv;

	if ((rv = store_job_each(r->api->b->store, 0, list_job_cb, &l)) ==
	    CMPD_OK)
		rv = l.rv;
	if (rv == CMPD_OK) {
		cmpd_env_init(&out, r->id);
		rep.n_jobs = l.n;
		rep.jobs = (Cmpd__Job **)l.items;
		out.body_case = CMPD__ENVELOPE__BODY_JOB_LIST_REP;
		out.job_list_rep = &rep;
		api_reply(r, &out);
	} else {
		snprintf(err, errlen, "cannot list jobs");
	}
	for (size_t i = 0; i < l.n; i++)
		cmpd__job__free_unpacked(l.items[i], NULL);
	free(l.items);
	return rv;
}

static int
list_cert_cb(void *arg, Cmpd__CertRecord *c)
{
	struct list *l = arg;
	const struct profile *pr =
	    config_profile(l->req->api->b->cfg, c->profile);

	if ((l->req->admin || (pr != NULL && may_use_profile(l->req, pr))) &&
	    (!cmpd_str_set(l->profile) ||
	        strcmp(c->profile, l->profile) == 0) &&
	    list_add(l, c))
		return l->limit > 0 && l->n >= l->limit; /* the page is full */
	cmpd__cert_record__free_unpacked(c, NULL);
	return l->rv != CMPD_OK;
}

static cmpd_err
api_cert_list(struct request *r, const cmpd_env *env, char *err, size_t errlen)
{
	const Cmpd__CertListReq *q = env->cert_list_req;
	struct list l = { .req = r, .profile = q->profile, .limit = q->limit };
	Cmpd__CertListRep rep = CMPD__CERT_LIST_REP__INIT;
	cmpd_env out;
	cmpd_err rv;

	if ((rv = store_cert_each_after(r->api->b->store, q->after,
	         list_cert_cb, &l, &rep.next)) == CMPD_OK)
		rv = l.rv;
	if (rv == CMPD_OK) {
		cmpd_env_init(&out, r->id);
		rep.n_certs = l.n;
		rep.certs = (Cmpd__CertRecord **)l.items;
		out.body_case = CMPD__ENVELOPE__BODY_CERT_LIST_REP;
		out.cert_list_rep = &rep;
		api_reply(r, &out);
	} else {
		snprintf(err, errlen, "cannot list certificates");
	}
	for (size_t i = 0; i < l.n; i++)
		cmpd__cert_record__free_unpacked(l.items[i], NULL);
	free(l.items);
	return rv;
}

/*
 * Key requests go to the keyworker as they are and its answer goes back:
 * the broker never opens them (an import is ciphertext for the keyworker).
 */
static void
api_forward_cb(void *arg, cmpd_err err, const cmpd_env *rep)
{
	struct request *r = arg;

	if (err != CMPD_OK) {
		api_reply_error(r, err, "the keyworker is not available");
		return;
	}
	if (rep->body_case == CMPD__ENVELOPE__BODY_KEY_IMPORT_REP &&
	    rep->key_import_rep->key != NULL)
		keysweep_keep(r->api->b, rep->key_import_rep->key->id);
	api_reply(r, (cmpd_env *)rep);
}

static cmpd_err
api_key_forward(
    struct request *r, const cmpd_env *env, char *err, size_t errlen)
{
	cmpd_env copy = *env;
	cmpd_err rv;

	if (env->body_case == CMPD__ENVELOPE__BODY_KEY_LIST_REQ &&
	    cmpd_str_set(env->key_list_req->id) &&
	    !cmpd_is_hex_id(env->key_list_req->id, CMPD_KEY_ID_LEN)) {
		snprintf(
		    err, errlen, "'%s' is not a key id", env->key_list_req->id);
		return CMPD_EINVAL;
	}
	rv = worker_request(&r->api->b->keyworker, &copy, api_forward_cb, r);
	if (rv != CMPD_OK)
		snprintf(err, errlen, "the keyworker is not available");
	return rv;
}

#define B(x) CMPD__ENVELOPE__BODY_##x
static const struct api_handler api_handlers[] = {
	{ B(ENROLL_REQ), api_enroll, 0 },
	{ B(JOB_GET_REQ), api_job_get, 0 },
	{ B(JOB_LIST_REQ), api_job_list, 0 },
	{ B(CERT_LIST_REQ), api_cert_list, 0 },
	{ B(RENEW_REQ), api_renew, 0 },
	{ B(REVOKE_REQ), api_revoke, 0 },
	{ B(GENM_REQ), api_genm, 0 },
	{ B(KEY_LIST_REQ), api_key_forward, API_ADMIN },
	{ B(KEY_IMPORT_CERT_REQ), api_key_forward, API_ADMIN },
	{ B(KEY_IMPORT_REQ), api_key_forward, API_ADMIN },
	{ B(EVENTS_REQ), api_events_req, 0 },
	{ B(HEALTH_REQ), api_health_req, 0 },
	{ B(HOOK_TEST_REQ), api_hook_test, API_ADMIN },
};

static const struct api_handler *
api_handler_find(Cmpd__Envelope__BodyCase body)
{
	for (size_t i = 0; i < CMPD_ARRAY_LEN(api_handlers); i++)
		if (api_handlers[i].body == body)
			return &api_handlers[i];
	return NULL;
}

static int
is_admin(const struct config *cfg, uint32_t uid)
{
	return uid == 0 || uid == (uint32_t)geteuid() ||
	    config_ids_has_user(&cfg->admin_users, uid);
}

/* A client that sends what it may not send loses its connection. */
static void
api_drop(struct api_conn *c, nng_msg *msg, uint32_t uid, const char *why)
{
	log_warn("client uid %u: %s; connection dropped", uid, why);
	api_conn_drop(c);
	nng_msg_free(msg);
}

static void
api_dispatch(
    struct request *r, const cmpd_env *env, const struct api_handler *h)
{
	char err[512] = "";
	cmpd_err rv;

	if ((h->flags & API_ADMIN) != 0 && !r->admin) {
		api_reply_error(
		    r, CMPD_EPERM, "only an administrator of cmpd may do this");
		return;
	}
	rv = h->fn(r, env, err, sizeof(err));
	if (rv != CMPD_OK)
		api_reply_error(r, rv, err[0] ? err : cmpd_strerror(rv));
}

void
api_request(
    struct api *a, struct api_conn *c, uint32_t uid, uint32_t gid, nng_msg *msg)
{
	const struct api_handler *h;
	struct request *r;
	cmpd_env *env = NULL;

	CMPD_MAGIC_CHECK(a, API_MAGIC);
	if (cmpd_ipc_unpack(msg, CMPD_IPC_MAX_CLIENT_REQ, &env) != CMPD_OK)
		return api_drop(c, msg, uid, "malformed request");
	if ((h = api_handler_find(env->body_case)) == NULL) {
		api_drop(c, msg, uid, cmpd_env_body_name(env));
		cmpd_ipc_free(env);
		return;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		nng_msg_free(msg);
		cmpd_ipc_free(env);
		return;
	}
	r->api = a;
	r->conn = c;
	api_conn_hold(c);
	r->msg = msg;
	r->id = env->id;
	r->uid = uid;
	r->gid = gid;
	r->admin = is_admin(a->b->cfg, uid);
	/* The routing header stays; the body is not needed any more. */
	nng_msg_clear(msg);
	api_dispatch(r, env, h);
	cmpd_ipc_free(env);
}

void
api_job_changed(struct api *a, const Cmpd__Job *job)
{
	struct waiter *w, *next;

	if (a == NULL)
		return;
	for (w = a->waiters; w != NULL; w = next) {
		next = w->next;
		if (strcmp(w->job_id, job->id) != 0 ||
		    !waiter_served(w, job->state))
			continue;
		api_reply_job(w->req, job);
		w->req = NULL;
		waiter_remove(a, w);
	}
}

cmpd_err
api_start(struct broker *b, struct api **out)
{
	struct api *a = calloc(1, sizeof(*a));
	cmpd_err rv;

	if (a == NULL)
		return CMPD_ENOMEM;
	a->magic = API_MAGIC;
	a->b = b;
	/* Sequence numbers of a later run are larger: see event.h. */
	if (events_new(b, EVENT_RING_SIZE, (uint64_t)cmpd_time_now() * 1000000u,
	        &a->events) != CMPD_OK ||
	    health_start(b, a->events, &a->health) != CMPD_OK) {
		log_err("out of memory for events");
		events_free(a->events);
		free(a);
		return CMPD_ENOMEM;
	}
	/* Clients that come before the loop runs wait in the backlog. */
	if ((rv = api_listen(a, b->cfg->socket, b->cfg->socket_mode)) !=
	    CMPD_OK) {
		health_stop(a->health);
		events_free(a->events);
		free(a);
		return rv;
	}
	*out = a;
	return CMPD_OK;
}

void
api_stop(struct api *a)
{
	while (a->waiters != NULL) {
		struct waiter *w = a->waiters;

		api_reply_error(w->req, CMPD_EUNAVAIL, "cmpd is stopping");
		waiter_remove(a, w);
	}
	health_stop(a->health);
	a->health = NULL;
	events_free(a->events);
	a->events = NULL;
	api_listen_stop(a);
}

struct events *
api_events(const struct api *a)
{
	return a->events;
}

struct health *
api_health(const struct api *a)
{
	return a->health;
}

void
api_free(struct api *a)
{
	if (a == NULL)
		return;
	free(a);
}
