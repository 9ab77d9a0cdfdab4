#include <openssl/cmperr.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "txn_int.h"

/*
 * OpenSSL's CMP log callback has no argument; the job of the step that
 * runs on this thread names its lines.
 */
static _Thread_local const char *step_job;

/* PKIBody choices (RFC 9810), for logs; 3.0 keeps its names private. */
static const char *const step_body_names[] = { "ir", "ip", "cr", "cp", "p10cr",
	"popdecc", "popdecr", "kur", "kup", "krr", "krp", "rr", "rp", "ccr",
	"ccp", "ckuann", "cann", "rann", "crlann", "pkiconf", "nested", "genm",
	"genp", "error", "certConf", "pollReq", "pollRep" };

static const char *
step_body_name(const OSSL_CMP_MSG *m)
{
	int t = OSSL_CMP_MSG_get_bodytype(m);

	if (t < 0 || (size_t)t >= CMPD_ARRAY_LEN(step_body_names))
		return "unknown message";
	return step_body_names[t];
}

static int
step_log_cb(const char *func, const char *file, int line,
    OSSL_CMP_severity level, const char *msg)
{
	int lv = CMPD_LOG_DEBUG;

	(void)func;
	(void)file;
	(void)line;
	/* Failures reach the job's error text; here they are detail. */
	if (level <= OSSL_CMP_LOG_ERR)
		lv = CMPD_LOG_NOTICE;
	cmpd_log(lv, "job %s: openssl: %s", step_job ? step_job : "-", msg);
	return 1;
}

static int
step_tid_ok(const struct nw_txn *t, const OSSL_CMP_MSG *req)
{
	const ASN1_OCTET_STRING *tid;

	tid = OSSL_CMP_HDR_get0_transactionID(OSSL_CMP_MSG_get0_header(req));
	return tid != NULL && ASN1_STRING_length(tid) == NW_TID_LEN &&
	    memcmp(ASN1_STRING_get0_data(tid), t->tid, NW_TID_LEN) == 0;
}

/*
 * The first live answer after a replay: an error message there means the
 * CA no longer knows the transaction as we rebuilt it (it lost it, or an
 * answer we never kept moved it on), and a new transaction may do.
 */
static void
step_resumed_check(struct nw_txn *t, const OSSL_CMP_MSG *rep)
{
	if (t->n_replay == 0 || t->live_seen++ > 0)
		return;
	if (OSSL_CMP_MSG_get_bodytype(rep) == NW_BODY_ERROR)
		t->restart_hint = 1;
}

/*
 * Every message goes through here: it must carry the broker's
 * transactionID (the keyworker signed it for that one), and each exchange
 * is logged with the job.
 *
 * OpenSSL 3.2 and later read the transfer callback's argument in
 * OSSL_CMP_MSG_http_perform as BIOs of an existing connection; ours is
 * the transaction, so it is hidden for the call.
 */
static OSSL_CMP_MSG *
step_transfer_cb(OSSL_CMP_CTX *ctx, const OSSL_CMP_MSG *req)
{
	struct nw_txn *t = OSSL_CMP_CTX_get_transfer_cb_arg(ctx);
	OSSL_CMP_MSG *rep;

	CMPD_MAGIC_CHECK(t, NW_TXN_MAGIC);
	t->sending = step_body_name(req);
	if (!step_tid_ok(t, req)) {
		t->tid_mismatch = 1;
		log_err("job %s: %s has another transactionID; not sent",
		    t->job, t->sending);
		return NULL;
	}
	if (nw_txn_replaying(t))
		return nw_txn_replay_answer(t, req);
	log_info("job %s: sending %s to %s", t->job, t->sending, t->url);
	(void)OSSL_CMP_CTX_set_transfer_cb_arg(ctx, NULL);
	rep = OSSL_CMP_MSG_http_perform(ctx, req);
	(void)OSSL_CMP_CTX_set_transfer_cb_arg(ctx, t);
	if (rep == NULL) {
		t->transfer_failed = 1;
		return NULL;
	}
	log_info("job %s: received %s", t->job, step_body_name(rep));
	step_resumed_check(t, rep);
	if (!nw_txn_keep(t, req, rep)) {
		OSSL_CMP_MSG_free(rep);
		return NULL;
	}
	return rep;
}

/*
 * The certConf decision. OpenSSL's own finding (fail_info, *text: a key
 * mismatch) is never overruled; certcheck.c adds the chain check.
 */
static int
step_certconf_cb(
    OSSL_CMP_CTX *ctx, X509 *cert, int fail_info, const char **text)
{
	struct nw_txn *t = OSSL_CMP_CTX_get_certConf_cb_arg(ctx);
	STACK_OF(X509) *extra = OSSL_CMP_CTX_get1_extraCertsIn(ctx);
	STACK_OF(X509) *capubs = OSSL_CMP_CTX_get1_caPubs(ctx);
	STACK_OF(X509) *chain = NULL;
	int ours;

	CMPD_MAGIC_CHECK(t, NW_TXN_MAGIC);
	t->ca_status = OSSL_CMP_CTX_get_status(ctx);
	ours = nw_certcheck_run(&t->check, cert, extra, capubs, &chain,
	    t->reject_text, sizeof(t->reject_text));
	if (ours == 0 && fail_info != 0)
		snprintf(t->reject_text, sizeof(t->reject_text), "%s",
		    *text != NULL ? *text : "OpenSSL's checks failed");
	if ((fail_info |= ours) != 0) {
		t->rejected = 1;
		t->reject_bits = fail_info;
		*text = t->reject_text;
		log_err("job %s: rejecting the new certificate: %s", t->job,
		    t->reject_text);
		sk_X509_pop_free(chain, X509_free);
	} else {
		log_info("job %s: new certificate checked", t->job);
		sk_X509_pop_free(t->chain, X509_free);
		t->chain = chain;
	}
	sk_X509_pop_free(extra, X509_free);
	sk_X509_pop_free(capubs, X509_free);
	return fail_info;
}

int
nw_txn_callbacks_set(struct nw_txn *t)
{
	return OSSL_CMP_CTX_set_log_cb(t->ctx, step_log_cb) &&
	    OSSL_CMP_CTX_set_log_verbosity(t->ctx, OSSL_CMP_LOG_INFO) &&
	    OSSL_CMP_CTX_set_transfer_cb(t->ctx, step_transfer_cb) &&
	    OSSL_CMP_CTX_set_transfer_cb_arg(t->ctx, t) &&
	    OSSL_CMP_CTX_set_certConf_cb(t->ctx, step_certconf_cb) &&
	    OSSL_CMP_CTX_set_certConf_cb_arg(t->ctx, t);
}

#define FAIL(code, ...)                                                     \
	do {                                                                \
		res->error = (code);                                        \
		snprintf(                                                   \
		    res->error_text, sizeof(res->error_text), __VA_ARGS__); \
	} while (0)

static void
step_done(struct nw_txn *t, struct nw_txn_result *res)
{
	X509 *cert = OSSL_CMP_CTX_get0_newCert(t->ctx);

	nw_txn_status_copy(t, res);
	res->result = CMPD__TXN_RESULT__TXN_DONE;
	res->ca_pubs = OSSL_CMP_CTX_get1_caPubs(t->ctx);
	res->chain = t->chain;
	t->chain = NULL;
	/* A reference, not a copy: the certificate is never changed, and
	 * X509_dup would parse it again (a decoder context in 3.0). */
	if (cert == NULL || !X509_up_ref(cert) || (res->cert = cert) == NULL ||
	    res->chain == NULL) {
		res->result = CMPD__TXN_RESULT__TXN_FAILED;
		FAIL(CMPD_ENOMEM, "cannot keep the new certificate");
		return;
	}
	log_info("job %s: certificate issued, chain of %d", t->job,
	    sk_X509_num(res->chain));
}

/* RR: one exchange (OpenSSL 3.0 does not poll for it), no certificate. */
static void
step_rr(struct nw_txn *t, struct nw_txn_result *res)
{
	if (OSSL_CMP_exec_RR_ses(t->ctx) != 1) {
		nw_txn_fail(t, res);
		return;
	}
	log_info("job %s: certificate revoked", t->job);
	nw_txn_status_copy(t, res);
	res->result = CMPD__TXN_RESULT__TXN_DONE;
}

/* GENM: one exchange; the answer is checked before it is reported. */
static void
step_genm(struct nw_txn *t, struct nw_txn_result *res)
{
	char why[sizeof(res->error_text)], errs[400];
	cmpd_err rv = nw_genm_run(t, &res->genm, why, sizeof(why));

	if (rv != CMPD_OK && why[0] == '\0') {
		nw_txn_fail(t, res);
		return;
	}
	nw_txn_status_copy(t, res);
	if (rv != CMPD_OK) {
		nw_txn_errors_drain(t, errs, sizeof(errs));
		nw_genm_result_fini(&res->genm);
		res->result = CMPD__TXN_RESULT__TXN_FAILED;
		FAIL(rv, "%s", why);
		log_err("job %s: %s", t->job, res->error_text);
		log_debug("job %s: openssl: %s", t->job, errs);
		return;
	}
	res->has_genm = 1;
	res->result = CMPD__TXN_RESULT__TXN_DONE;
	log_info("job %s: genm answered%s", t->job,
	    res->genm.empty ? " without a value" : "");
}

void
nw_txn_step(struct nw_txn *t, struct nw_txn_result *res)
{
	int check_after = 0, rv;

	CMPD_MAGIC_CHECK(t, NW_TXN_MAGIC);
	step_job = t->job;
	t->transfer_failed = 0;
	t->sending = NULL;
	nw_transport_reset(t->transport);
	ERR_clear_error();
	if (!nw_txn_is_certreq(t)) {
		if (t->op == CMPD__CMP_OP__CMP_OP_RR)
			step_rr(t, res);
		else
			step_genm(t, res);
		step_job = NULL;
		return;
	}
	rv = OSSL_CMP_try_certreq(t->ctx, t->req_type, NULL, &check_after);
	/*
	 * Rebuilt from kept answers only: the poll that was due when the
	 * transaction was resumed goes out now.
	 */
	if (rv == -1 && t->n_replay > 0 && t->live_seen == 0)
		rv = OSSL_CMP_try_certreq(
		    t->ctx, t->req_type, NULL, &check_after);
	t->waiting = rv == -1;
	if (rv == 1) {
		step_done(t, res);
	} else if (rv == -1) {
		nw_txn_status_copy(t, res);
		res->result = CMPD__TXN_RESULT__TXN_WAITING;
		res->check_after = check_after < 0 ? 0 : (uint32_t)check_after;
		log_info("job %s: CA says wait %d s", t->job, check_after);
	} else {
		nw_txn_fail(t, res);
	}
	step_job = NULL;
}

void
nw_txn_abort(struct nw_txn *t)
{
	char errs[400];
	int check_after = 0;

	CMPD_MAGIC_CHECK(t, NW_TXN_MAGIC);
	if (!t->waiting)
		return;
	step_job = t->job;
	t->waiting = 0;
	ERR_clear_error();
	/* A negative request type makes OpenSSL send an error message. */
	if (OSSL_CMP_try_certreq(t->ctx, -1, NULL, &check_after) == 1) {
		log_info("job %s: told the CA the request is given up", t->job);
	} else {
		nw_txn_errors_drain(t, errs, sizeof(errs));
		log_notice("job %s: could not tell the CA the request is "
		           "given up: %s",
		    t->job, errs);
	}
	step_job = NULL;
}

void
nw_txn_result_init(struct nw_txn_result *res)
{
	memset(res, 0, sizeof(*res));
	res->result = CMPD__TXN_RESULT__TXN_RESULT_UNSPECIFIED;
	res->pki_status = -1;
}

void
nw_txn_result_fini(struct nw_txn_result *res)
{
	X509_free(res->cert);
	sk_X509_pop_free(res->chain, X509_free);
	sk_X509_pop_free(res->ca_pubs, X509_free);
	nw_genm_result_fini(&res->genm);
	for (size_t i = 0; i < res->n_texts; i++)
		free(res->texts[i]);
	free(res->texts);
	nw_txn_result_init(res);
}
