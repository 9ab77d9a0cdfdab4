#include "serve.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "ipc.h"
#include "keep.h"
#include "log.h"
#include "startcheck.h"
#include "txn.h"
#include "util.h"

#define NW_SERVE_MAGIC 0x6e777376u /* "nwsv" */
#define NW_JOB_MAGIC   0x6e776a62u /* "nwjb" */

/*
 * A job's transaction: RUNNING while a step is on the pool, WAITING for
 * the broker's TxnContinueReq after the CA said "waiting", ABORTING when
 * the broker gave it up and a step (or the notice to the CA) still runs.
 * A job leaves the table when its last step ends.
 */
enum nw_job_state {
	NW_JOB_RUNNING,
	NW_JOB_WAITING,
	NW_JOB_ABORTING,
	NW_JOB_STATE_MAX
};

static const char *const job_state_names[NW_JOB_STATE_MAX] = { "running",
	"waiting", "aborting" };

static const unsigned char job_moves[NW_JOB_STATE_MAX][NW_JOB_STATE_MAX] = {
	[NW_JOB_RUNNING] = { [NW_JOB_WAITING] = 1, [NW_JOB_ABORTING] = 1 },
	[NW_JOB_WAITING] = { [NW_JOB_RUNNING] = 1, [NW_JOB_ABORTING] = 1 },
};

/* What the pool does for the job; set before the work is queued. */
enum nw_work { NW_WORK_STEP, NW_WORK_ABORT };

struct nw_job {
	uint32_t magic;
	TAILQ_ENTRY(nw_job) link;
	struct nw_serve *serve;
	char id[CMPD_JOB_ID_LEN + 1];
	enum nw_job_state state;
	enum nw_work work_kind;
	uint64_t req_id; /* the request the next TxnRep answers */
	struct nw_txn *txn;
	uv_work_t work;
	struct nw_txn_result res;
};

/* A reply the broker link could not take yet. */
struct serve_out {
	STAILQ_ENTRY(serve_out) link;
	nng_msg *msg;
};

struct nw_serve {
	uint32_t magic;
	struct nw_serve_cfg cfg;
	TAILQ_HEAD(, nw_job) jobs;
	size_t n_jobs;
	STAILQ_HEAD(, serve_out) outbox;
	uv_timer_t retry;
	struct nw_keep *keep; /* the CA's answers, kept by the broker */
	int stopped;
};

typedef int (*serve_fn)(
    struct nw_serve *s, const cmpd_env *env, char *why, size_t whylen);

static int serve_start(struct nw_serve *, const cmpd_env *, char *, size_t);
static int serve_continue(struct nw_serve *, const cmpd_env *, char *, size_t);
static int serve_abort(struct nw_serve *, const cmpd_env *, char *, size_t);

/* What the broker may ask. Anything else ends the networker. */
static const struct serve_entry {
	Cmpd__Envelope__BodyCase body;
	serve_fn fn;
} serve_table[] = {
	{ CMPD__ENVELOPE__BODY_TXN_START_REQ, serve_start },
	{ CMPD__ENVELOPE__BODY_TXN_CONTINUE_REQ, serve_continue },
	{ CMPD__ENVELOPE__BODY_TXN_ABORT_REQ, serve_abort },
};

#define WHY(...) (snprintf(why, whylen, __VA_ARGS__), -1)

static void
job_state_set(struct nw_job *j, enum nw_job_state to)
{
	CMPD_MAGIC_CHECK(j, NW_JOB_MAGIC);
	if (!job_moves[j->state][to]) {
		log_err("job %s: illegal move %s -> %s", j->id,
		    job_state_names[j->state], job_state_names[to]);
		abort();
	}
	j->state = to;
}

static struct nw_job *
serve_job_find(struct nw_serve *s, const char *id)
{
	struct nw_job *j;

	TAILQ_FOREACH(j, &s->jobs, link)
	if (strcmp(j->id, id) == 0)
		return j;
	return NULL;
}

static struct nw_job *
job_new(struct nw_serve *s, const char *id, uint64_t req_id)
{
	struct nw_job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->magic = NW_JOB_MAGIC;
	j->serve = s;
	j->state = NW_JOB_RUNNING;
	j->req_id = req_id;
	j->work.data = j;
	cmpd_strlcpy(j->id, id, sizeof(j->id));
	nw_txn_result_init(&j->res);
	TAILQ_INSERT_TAIL(&s->jobs, j, link);
	s->n_jobs++;
	return j;
}

static void
job_free(struct nw_job *j)
{
	CMPD_MAGIC_CHECK(j, NW_JOB_MAGIC);
	TAILQ_REMOVE(&j->serve->jobs, j, link);
	j->serve->n_jobs--;
	nw_txn_free(j->txn);
	nw_txn_result_fini(&j->res);
	j->magic = 0;
	free(j);
}

#define SERVE_RETRY_MS 20

static void serve_retry_cb(uv_timer_t *t);

/* Sends queued replies in order until the link is full again. */
static void
serve_outbox_flush(struct nw_serve *s)
{
	struct serve_out *o;
	int rv;

	while ((o = STAILQ_FIRST(&s->outbox)) != NULL) {
		rv = nng_sendmsg(s->cfg.broker, o->msg, NNG_FLAG_NONBLOCK);
		if (rv == NNG_EAGAIN) {
			uv_timer_start(
			    &s->retry, serve_retry_cb, SERVE_RETRY_MS, 0);
			return;
		}
		if (rv != 0) {
			log_err(
			    "cannot send to the broker: %s", nng_strerror(rv));
			nng_msg_free(o->msg);
		}
		STAILQ_REMOVE_HEAD(&s->outbox, link);
		free(o);
	}
}

static void
serve_retry_cb(uv_timer_t *t)
{
	serve_outbox_flush(t->data);
}

/*
 * Replies go out without blocking the loop. A reply the link cannot take
 * now (the broker reads slowly) waits in the outbox and is retried, so
 * that no result is lost and the order stays.
 */
static void
serve_send(struct nw_serve *s, const cmpd_env *env)
{
	struct serve_out *o;
	nng_msg *msg = NULL;

	if (cmpd_ipc_pack(env, &msg) != CMPD_OK ||
	    (o = calloc(1, sizeof(*o))) == NULL) {
		log_err("cannot send %s to the broker: out of memory",
		    cmpd_env_body_name(env));
		nng_msg_free(msg);
		return;
	}
	o->msg = msg;
	STAILQ_INSERT_TAIL(&s->outbox, o, link);
	serve_outbox_flush(s);
}

static void
serve_ok_send(struct nw_serve *s, uint64_t id)
{
	Cmpd__Ok ok = CMPD__OK__INIT;
	cmpd_env env;

	cmpd_env_init(&env, id);
	env.body_case = CMPD__ENVELOPE__BODY_OK;
	env.ok = &ok;
	serve_send(s, &env);
}

/* DER of each certificate, for a repeated bytes field. */
static cmpd_err
serve_der_list(STACK_OF(X509) * certs, ProtobufCBinaryData **out, size_t *n)
{
	int count = sk_X509_num(certs);
	ProtobufCBinaryData *d;
	int len;

	*n = 0;
	*out = NULL;
	if (count <= 0)
		return CMPD_OK;
	if ((d = calloc((size_t)count, sizeof(*d))) == NULL)
		return CMPD_ENOMEM;
	*out = d;
	for (int i = 0; i < count; i++) {
		if ((len = i2d_X509(sk_X509_value(certs, i), &d[i].data)) <= 0)
			return CMPD_ENOMEM;
		d[i].len = (size_t)len;
		(*n)++;
	}
	return CMPD_OK;
}

static void
serve_der_free(ProtobufCBinaryData *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		OPENSSL_free(d[i].data);
	free(d);
}

/* The DER parts of a TxnRep, which serve_rep_send frees. */
struct rep_der {
	ProtobufCBinaryData cert, *chain, *ca_pubs;
	size_t n_chain, n_ca_pubs;
	ProtobufCBinaryData new_root, new_with_old, old_with_new;
	ProtobufCBinaryData *ca_certs;
	size_t n_ca_certs;
};

static cmpd_err
serve_der_one(X509 *x, ProtobufCBinaryData *d)
{
	int len;

	if (x == NULL)
		return CMPD_OK;
	if ((len = i2d_X509(x, &d->data)) <= 0)
		return CMPD_ENOMEM;
	d->len = (size_t)len;
	return CMPD_OK;
}

/* A GENM's checked answer, as its GenmResult. */
static cmpd_err
serve_genm_fill(
    const struct nw_genm_result *g, struct rep_der *d, Cmpd__GenmResult *out)
{
	if (serve_der_list(g->ca_certs, &d->ca_certs, &d->n_ca_certs) != 0 ||
	    serve_der_one(g->new_root, &d->new_root) != 0 ||
	    serve_der_one(g->new_with_old, &d->new_with_old) != 0 ||
	    serve_der_one(g->old_with_new, &d->old_with_new) != 0)
		return CMPD_ENOMEM;
	out->type = g->type;
	out->empty = g->empty;
	out->ca_certs = d->ca_certs;
	out->n_ca_certs = d->n_ca_certs;
	out->new_root = d->new_root;
	out->new_with_old = d->new_with_old;
	out->old_with_new = d->old_with_new;
	out->cert_template.data = g->cert_template;
	out->cert_template.len = g->cert_template_len;
	out->key_spec.data = g->key_spec;
	out->key_spec.len = g->key_spec_len;
	return CMPD_OK;
}

static void
serve_rep_der_free(struct rep_der *d)
{
	OPENSSL_free(d->cert.data);
	serve_der_free(d->chain, d->n_chain);
	serve_der_free(d->ca_pubs, d->n_ca_pubs);
	serve_der_free(d->ca_certs, d->n_ca_certs);
	OPENSSL_free(d->new_root.data);
	OPENSSL_free(d->new_with_old.data);
	OPENSSL_free(d->old_with_new.data);
}

static cmpd_err
serve_rep_der(const struct nw_txn_result *res, struct rep_der *d)
{
	int len;

	if (res->cert != NULL) {
		if ((len = i2d_X509(res->cert, &d->cert.data)) <= 0)
			return CMPD_ENOMEM;
		d->cert.len = (size_t)len;
	}
	if (serve_der_list(res->chain, &d->chain, &d->n_chain) != 0 ||
	    serve_der_list(res->ca_pubs, &d->ca_pubs, &d->n_ca_pubs) != 0)
		return CMPD_ENOMEM;
	return CMPD_OK;
}

static void serve_fail_send(struct nw_serve *s, uint64_t id, const char *job,
    cmpd_err code, const char *text);

/* Sends the TxnRep of one step to the broker. */
static void
serve_rep_send(struct nw_serve *s, uint64_t id, const char *job,
    const struct nw_txn_result *res)
{
	Cmpd__TxnRep rep = CMPD__TXN_REP__INIT;
	Cmpd__PkiStatus pki = CMPD__PKI_STATUS__INIT;
	Cmpd__GenmResult genm = CMPD__GENM_RESULT__INIT;
	struct rep_der d = { 0 };
	cmpd_env env;

	if (serve_rep_der(res, &d) != CMPD_OK ||
	    (res->has_genm && serve_genm_fill(&res->genm, &d, &genm) != 0)) {
		serve_fail_send(s, id, job, CMPD_ENOMEM,
		    "cannot encode the new certificate");
		goto out;
	}
	rep.job_id = (char *)job;
	rep.result = res->result;
	rep.check_after = res->check_after;
	rep.cert = d.cert;
	rep.chain = d.chain;
	rep.n_chain = d.n_chain;
	rep.ca_pubs = d.ca_pubs;
	rep.n_ca_pubs = d.n_ca_pubs;
	pki.status = res->pki_status;
	pki.fail_info = res->fail_info;
	pki.text = res->texts;
	pki.n_text = res->n_texts;
	rep.pki = &pki;
	rep.error = (Cmpd__ErrorCode)res->error;
	rep.error_text = (char *)res->error_text;
	rep.genm = res->has_genm ? &genm : NULL;
	rep.restart = res->restart;
	cmpd_env_init(&env, id);
	env.body_case = CMPD__ENVELOPE__BODY_TXN_REP;
	env.txn_rep = &rep;
	serve_send(s, &env);
out:
	serve_rep_der_free(&d);
}

/* A TxnRep saying the transaction failed before any step ran. */
static void
serve_fail_send(struct nw_serve *s, uint64_t id, const char *job, cmpd_err code,
    const char *text)
{
	struct nw_txn_result res;

	nw_txn_result_init(&res);
	res.result = CMPD__TXN_RESULT__TXN_FAILED;
	res.error = code;
	cmpd_strlcpy(res.error_text, text, sizeof(res.error_text));
	log_err("job %s: %s", job, text);
	serve_rep_send(s, id, job, &res);
}

static void
job_work_cb(uv_work_t *w)
{
	struct nw_job *j = w->data;

	if (j->work_kind == NW_WORK_ABORT)
		nw_txn_abort(j->txn);
	else
		nw_txn_step(j->txn, &j->res);
}

/* On the loop thread, when a step ended (or was cancelled by a stop). */
static void
job_after_work_cb(uv_work_t *w, int status)
{
	struct nw_job *j = w->data;
	struct nw_serve *s = j->serve;

	CMPD_MAGIC_CHECK(j, NW_JOB_MAGIC);
	switch (j->state) {
	case NW_JOB_RUNNING:
		if (status == UV_ECANCELED) {
			job_free(j);
			break;
		}
		serve_rep_send(s, j->req_id, j->id, &j->res);
		if (j->res.result != CMPD__TXN_RESULT__TXN_WAITING ||
		    s->stopped) {
			job_free(j);
			break;
		}
		nw_txn_result_fini(&j->res);
		job_state_set(j, NW_JOB_WAITING);
		break;
	case NW_JOB_ABORTING:
		log_info("job %s: transaction dropped", j->id);
		job_free(j);
		break;
	default:
		log_err("job %s: step ended in state %s", j->id,
		    job_state_names[j->state]);
		abort();
	}
}

static cmpd_err
job_queue(struct nw_job *j, enum nw_work kind)
{
	int rv;

	j->work_kind = kind;
	rv = uv_queue_work(
	    j->serve->cfg.loop, &j->work, job_work_cb, job_after_work_cb);
	if (rv != 0) {
		log_err(
		    "job %s: cannot queue work: %s", j->id, uv_strerror(rv));
		return CMPD_EINTERNAL;
	}
	return CMPD_OK;
}

/*
 * The keys the operation uses, as EVP_PKEYs through main's key factory:
 * the protection key, the new key of a certificate request and the TLS
 * client key of an https CA.
 */
static cmpd_err
serve_keys_new(
    struct nw_serve *s, const Cmpd__TxnStartReq *r, struct nw_txn_keys *k)
{
	cmpd_err rv = CMPD_OK;

	if (r->protection_key != NULL)
		rv = s->cfg.key_new(s->cfg.key_arg, s->cfg.libctx, r->job_id,
		    r->protection_key, &k->prot);
	if (rv == CMPD_OK && nw_op_has_new_key(r->op))
		rv = s->cfg.key_new(s->cfg.key_arg, s->cfg.libctx, r->job_id,
		    r->new_key, &k->new_key);
	if (rv == CMPD_OK && r->tls_key != NULL &&
	    nw_url_is_https(r->server_url))
		rv = s->cfg.key_new(s->cfg.key_arg, s->cfg.libctx, r->job_id,
		    r->tls_key, &k->tls);
	return rv;
}

/* Prepares the job's transaction; on failure tells the broker why. */
static cmpd_err
serve_txn_prepare(
    struct nw_serve *s, struct nw_job *j, const Cmpd__TxnStartReq *r)
{
	struct nw_txn_keys keys = { NULL, NULL, NULL };
	char why[512];
	cmpd_err rv;

	if ((rv = serve_keys_new(s, r, &keys)) != CMPD_OK) {
		snprintf(why, sizeof(why),
		    "cannot use the keyworker's keys: %s", cmpd_strerror(rv));
		cmpd_log_openssl(CMPD_LOG_DEBUG, j->id);
	} else {
		rv = nw_txn_new(
		    s->cfg.libctx, r, &keys, &j->txn, why, sizeof(why));
	}
	EVP_PKEY_free(keys.prot);
	EVP_PKEY_free(keys.new_key);
	EVP_PKEY_free(keys.tls);
	if (rv == CMPD_OK) {
		nw_txn_saver_set(j->txn, nw_keep_save, s->keep);
		rv = job_queue(j, NW_WORK_STEP);
	} else
		serve_fail_send(s, j->req_id, j->id, rv, why);
	return rv;
}

static int
serve_start(struct nw_serve *s, const cmpd_env *env, char *why, size_t whylen)
{
	const Cmpd__TxnStartReq *r = env->txn_start_req;
	struct nw_job *j;

	if (nw_check_start(r, why, whylen) != 0)
		return -1;
	if (serve_job_find(s, r->job_id) != NULL)
		return WHY("job %s already has a transaction", r->job_id);
	log_info("job %s: starting CMP operation %d with %s", r->job_id,
	    (int)r->op, r->server_url);
	if ((j = job_new(s, r->job_id, env->id)) == NULL) {
		serve_fail_send(
		    s, env->id, r->job_id, CMPD_ENOMEM, "out of memory");
		return 0;
	}
	if (serve_txn_prepare(s, j, r) != CMPD_OK)
		job_free(j);
	return 0;
}

static int
serve_continue(
    struct nw_serve *s, const cmpd_env *env, char *why, size_t whylen)
{
	const char *id = env->txn_continue_req->job_id;
	char text[128];
	struct nw_job *j;

	if (!nw_check_job_id(id))
		return WHY("bad job id");
	if ((j = serve_job_find(s, id)) == NULL) {
		snprintf(text, sizeof(text),
		    "no transaction for job %s here "
		    "(the networker may have restarted)",
		    id);
		serve_fail_send(s, env->id, id, CMPD_ENOENT, text);
		return 0;
	}
	if (j->state != NW_JOB_WAITING)
		return WHY(
		    "job %s: continue while %s", id, job_state_names[j->state]);
	log_info("job %s: polling the CA", id);
	j->req_id = env->id;
	job_state_set(j, NW_JOB_RUNNING);
	if (job_queue(j, NW_WORK_STEP) != CMPD_OK) {
		serve_fail_send(
		    s, env->id, id, CMPD_EINTERNAL, "cannot run the poll");
		job_free(j);
	}
	return 0;
}

static int
serve_abort(struct nw_serve *s, const cmpd_env *env, char *why, size_t whylen)
{
	const char *id = env->txn_abort_req->job_id;
	struct nw_job *j;

	if (!nw_check_job_id(id))
		return WHY("bad job id");
	serve_ok_send(s, env->id);
	if ((j = serve_job_find(s, id)) == NULL)
		return 0;
	log_info("job %s: abort while %s", id, job_state_names[j->state]);
	switch (j->state) {
	case NW_JOB_RUNNING:
		/* The step runs on; its result is dropped when it ends. */
		job_state_set(j, NW_JOB_ABORTING);
		break;
	case NW_JOB_WAITING:
		job_state_set(j, NW_JOB_ABORTING);
		if (job_queue(j, NW_WORK_ABORT) != CMPD_OK)
			job_free(j);
		break;
	case NW_JOB_ABORTING:
		break;
	default:
		abort();
	}
	return 0;
}

static void
serve_violation(struct nw_serve *s, const char *what)
{
	log_err("protocol violation by the broker: %s", what);
	s->stopped = 1;
	s->cfg.fatal(s->cfg.fatal_arg);
}

static void
serve_dispatch(struct nw_serve *s, const cmpd_env *env)
{
	char why[256];

	for (size_t i = 0; i < CMPD_ARRAY_LEN(serve_table); i++) {
		if (serve_table[i].body != env->body_case)
			continue;
		why[0] = '\0';
		if (serve_table[i].fn(s, env, why, sizeof(why)) != 0)
			serve_violation(s, why);
		return;
	}
	snprintf(why, sizeof(why), "unexpected %s", cmpd_env_body_name(env));
	serve_violation(s, why);
}

void
nw_serve_recv_cb(void *arg, nng_msg *msg)
{
	struct nw_serve *s = arg;
	cmpd_env *env = NULL;
	cmpd_err rv;

	CMPD_MAGIC_CHECK(s, NW_SERVE_MAGIC);
	if (s->stopped) {
		nng_msg_free(msg);
		return;
	}
	rv = cmpd_ipc_unpack(msg, CMPD_IPC_MAX_WORKER, &env);
	nng_msg_free(msg);
	if (rv != CMPD_OK) {
		serve_violation(s, "undecodable or out-of-limits message");
		return;
	}
	if (!nw_keep_reply(s->keep, env))
		serve_dispatch(s, env);
	cmpd_ipc_free(env);
}

cmpd_err
nw_serve_new(const struct nw_serve_cfg *cfg, struct nw_serve **out)
{
	struct nw_serve *s;

	if (cfg->loop == NULL || cfg->key_new == NULL || cfg->fatal == NULL)
		return CMPD_EINVAL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return CMPD_ENOMEM;
	s->magic = NW_SERVE_MAGIC;
	s->cfg = *cfg;
	TAILQ_INIT(&s->jobs);
	STAILQ_INIT(&s->outbox);
	if (nw_keep_new(cfg->broker, &s->keep) != CMPD_OK) {
		free(s);
		return CMPD_ENOMEM;
	}
	if (uv_timer_init(cfg->loop, &s->retry) != 0) {
		nw_keep_free(s->keep);
		free(s);
		return CMPD_EINTERNAL;
	}
	s->retry.data = s;
	/* Only pending work keeps the loop alive, not a broker gone deaf. */
	uv_unref((uv_handle_t *)&s->retry);
	*out = s;
	return CMPD_OK;
}

void
nw_serve_stop(struct nw_serve *s)
{
	struct nw_job *j, *next;

	CMPD_MAGIC_CHECK(s, NW_SERVE_MAGIC);
	s->stopped = 1;
	nw_keep_stop(s->keep);
	for (j = TAILQ_FIRST(&s->jobs); j != NULL; j = next) {
		next = TAILQ_NEXT(j, link);
		if (j->state == NW_JOB_WAITING)
			job_free(j);
		else
			uv_cancel((uv_req_t *)&j->work);
	}
}

size_t
nw_serve_jobs(const struct nw_serve *s)
{
	CMPD_MAGIC_CHECK(s, NW_SERVE_MAGIC);
	return s->n_jobs;
}

void
nw_serve_close(struct nw_serve *s)
{
	CMPD_MAGIC_CHECK(s, NW_SERVE_MAGIC);
	assert(TAILQ_EMPTY(&s->jobs));
	serve_outbox_flush(s);
	if (!STAILQ_EMPTY(&s->outbox))
		log_warn("replies the broker did not take are dropped");
	uv_close((uv_handle_t *)&s->retry, NULL);
}

void
nw_serve_free(struct nw_serve *s)
{
	struct serve_out *o;

	if (s == NULL)
		return;
	CMPD_MAGIC_CHECK(s, NW_SERVE_MAGIC);
	while ((o = STAILQ_FIRST(&s->outbox)) != NULL) {
		STAILQ_REMOVE_HEAD(&s->outbox, link);
		nng_msg_free(o->msg);
		free(o);
	}
	nw_keep_free(s->keep);
	s->magic = 0;
	free(s);
}
