#include <openssl/cmperr.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "reach.h"
#include "txn_int.h"

/* Limits on what the CA's statusString may put into a TxnRep. */
#define STEP_MAX_TEXTS    16
#define STEP_MAX_TEXT_LEN 1024

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
 * Every message goes through here: it must carry the broker's
 * transactionID (the keyworker signed it for that one), and each exchange
 * is logged with the job.
 */
static OSSL_CMP_MSG *
step_transfer_cb(OSSL_CMP_CTX *ctx, const OSSL_CMP_MSG *req)
{
	struct nw_txn *t = OSSL_CMP_CTX_get_transfer_cb_arg(ctx);
	OSSL_CMP_MSG *rep;

	CMPD_MAGIC_CHECK(t, NW_TXN_MAGIC);
	if (!step_tid_ok(t, req)) {
		t->tid_mismatch = 1;
		log_err("job %s: %s has another transactionID; not sent",
		    t->job, step_body_name(req));
		return NULL;
	}
	log_info(
	    "job %s: sending %s to %s", t->job, step_body_name(req), t->url);
	if ((rep = OSSL_CMP_MSG_http_perform(ctx, req)) == NULL) {
		t->transfer_failed = 1;
		return NULL;
	}
	log_info("job %s: received %s", t->job, step_body_name(rep));
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

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t
step_utf8_len(const unsigned char *s, size_t n)
{
	size_t len = s[0] < 0x80          ? 1
	    : s[0] >= 0xf0 && s[0] < 0xf5 ? 4
	    : s[0] >= 0xe0                ? 3
	    : s[0] >= 0xc2                ? 2
	                                  : 0;

	if (len == 0 || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/*
 * A copy of the CA's text safe for the IPC schema and for logs: valid
 * UTF-8 without control characters ('?' replaces anything else).
 */
static char *
step_text_dup(const ASN1_UTF8STRING *str)
{
	const unsigned char *s = ASN1_STRING_get0_data(str);
	size_t n = (size_t)ASN1_STRING_length(str), o = 0, k;
	char *out;

	if (n > STEP_MAX_TEXT_LEN)
		n = STEP_MAX_TEXT_LEN;
	if ((out = malloc(n + 1)) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i += k) {
		k = step_utf8_len(s + i, n - i);
		if (k == 0 || (k == 1 && (s[i] < 0x20 || s[i] == 0x7f))) {
			out[o++] = '?';
			k = 1;
			continue;
		}
		memcpy(out + o, s + i, k);
		o += k;
	}
	out[o] = '\0';
	return out;
}

/* The CA's PKIStatusInfo as the context kept it. */
static void
step_status_copy(const struct nw_txn *t, struct nw_txn_result *res)
{
	OSSL_CMP_PKIFREETEXT *ss = OSSL_CMP_CTX_get0_statusString(t->ctx);
	int st = OSSL_CMP_CTX_get_status(t->ctx);
	int fi = OSSL_CMP_CTX_get_failInfoCode(t->ctx);
	int n = sk_ASN1_UTF8STRING_num(ss);

	res->pki_status = st < 0 ? -1 : st;
	res->fail_info = fi < 0 || res->pki_status < 0 ? 0 : (uint32_t)fi;
	if (n <= 0 || res->pki_status < 0)
		return;
	if (n > STEP_MAX_TEXTS)
		n = STEP_MAX_TEXTS;
	if ((res->texts = calloc((size_t)n, sizeof(char *))) == NULL)
		return;
	for (int i = 0; i < n; i++) {
		char *s = step_text_dup(sk_ASN1_UTF8STRING_value(ss, i));

		if (s != NULL)
			res->texts[res->n_texts++] = s;
	}
}

/* Reasons that say our own message could not be built or signed. */
static int
step_reason_is_build(unsigned long e)
{
	static const int reasons[] = { CMP_R_ERROR_PROTECTING_MESSAGE,
		CMP_R_ERROR_CREATING_CERTREQ, CMP_R_ERROR_CREATING_CERTCONF,
		CMP_R_ERROR_CREATING_POLLREQ, CMP_R_ERROR_CREATING_ERROR,
		CMP_R_MISSING_KEY_INPUT_FOR_CREATING_PROTECTION };

	if (ERR_GET_LIB(e) != ERR_LIB_CMP)
		return 0;
	for (size_t i = 0; i < CMPD_ARRAY_LEN(reasons); i++)
		if (ERR_GET_REASON(e) == reasons[i])
			return 1;
	return 0;
}

/*
 * Drains the thread's OpenSSL errors into one line (reasons, oldest
 * first) and tells whether building or signing our own message failed.
 */
static int
step_errors_take(const struct nw_txn *t, char *buf, size_t len)
{
	const char *data, *reason;
	size_t used = 0;
	unsigned long e;
	int flags, n, build = 0;

	buf[0] = '\0';
	while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
		build |= step_reason_is_build(e);
		if ((reason = ERR_reason_error_string(e)) == NULL)
			reason = "unknown OpenSSL error";
		if ((flags & ERR_TXT_STRING) == 0)
			data = "";
		log_debug("job %s: openssl: %s%s%s", t->job, reason,
		    *data ? ": " : "", data);
		if (used >= len)
			continue;
		n = snprintf(buf + used, len - used, "%s%s%s%s",
		    used ? "; " : "", reason, *data ? ": " : "", data);
		if (n > 0)
			used += (size_t)n;
	}
	if (buf[0] == '\0')
		snprintf(buf, len, "no detail from OpenSSL");
	return build;
}

#define FAIL(code, ...)                                                     \
	do {                                                                \
		res->error = (code);                                        \
		snprintf(                                                   \
		    res->error_text, sizeof(res->error_text), __VA_ARGS__); \
	} while (0)

/* The names of PKIFailureInfo bits, as OpenSSL prints them. */
static const char *
step_bits_name(int bits, char *buf, size_t len)
{
	OSSL_CMP_PKISI *si;
	const char *p;

	si = OSSL_CMP_STATUSINFO_new(OSSL_CMP_PKISTATUS_rejection, bits, NULL);
	if (si == NULL ||
	    OSSL_CMP_snprint_PKIStatusInfo(si, buf, len) == NULL ||
	    (p = strstr(buf, "PKIFailureInfo: ")) == NULL)
		snprintf(buf, len, "failInfo %#x", (unsigned)bits);
	else
		memmove(buf, p + 16, strlen(p + 16) + 1);
	OSSL_CMP_PKISI_free(si);
	return buf;
}

/*
 * The CA was not reached or did not answer. Without a proxy, a direct
 * attempt tells why (reach.h); the CA may also have answered too late or
 * with something that is not HTTP, which OpenSSL's text then says.
 */
static void
step_unreachable(
    const struct nw_txn *t, struct nw_txn_result *res, const char *errs)
{
	char why[128];

	if (!t->proxied && strstr(errs, "connect") != NULL &&
	    nw_reach_why(t->host, t->port, 2000, why, sizeof(why)))
		FAIL(CMPD_ETRANSPORT, "cannot reach %.300s: %s", t->url, why);
	else if (t->proxied)
		FAIL(CMPD_ETRANSPORT,
		    "cannot reach %.200s through the proxy: "
		    "%s",
		    t->url, errs);
	else
		FAIL(CMPD_ETRANSPORT, "cannot reach %.300s: %s", t->url, errs);
}

/*
 * Sorts a failed step into the error a broker and a person can act on:
 * our rejection of the certificate, the CA's refusal, our own message
 * that could not be built or signed, or the CA not reached or answering
 * something unusable.
 */
static void
step_fail(struct nw_txn *t, struct nw_txn_result *res)
{
	char errs[400], st[OSSL_CMP_PKISI_BUFLEN];
	int build = step_errors_take(t, errs, sizeof(errs));

	res->result = CMPD__TXN_RESULT__TXN_FAILED;
	step_status_copy(t, res);
	if (t->rejected) {
		res->pki_status = t->ca_status < 0 ? -1 : t->ca_status;
		FAIL(CMPD_EBADCERT, "issued certificate rejected (%.100s): %s",
		    step_bits_name(t->reject_bits, st, sizeof(st)),
		    t->reject_text);
	} else if (t->tid_mismatch) {
		FAIL(CMPD_EINTERNAL,
		    "OpenSSL built a message with another "
		    "transactionID; nothing was sent");
	} else if (res->pki_status == OSSL_CMP_PKISTATUS_rejection) {
		if (OSSL_CMP_CTX_snprint_PKIStatus(t->ctx, st, sizeof(st)) ==
		    NULL)
			snprintf(st, sizeof(st), "rejection");
		FAIL(CMPD_EREFUSED, "CA refused the request: %.700s", st);
	} else if (build) {
		FAIL(CMPD_ECRYPTO, "cannot build or sign the CMP message: %s",
		    errs);
	} else if (t->transfer_failed) {
		step_unreachable(t, res, errs);
	} else {
		FAIL(CMPD_ETRANSPORT, "unusable response from %.300s: %s",
		    t->url, errs);
	}
	log_err("job %s: %s", t->job, res->error_text);
}

static void
step_done(struct nw_txn *t, struct nw_txn_result *res)
{
	X509 *cert = OSSL_CMP_CTX_get0_newCert(t->ctx);

	step_status_copy(t, res);
	res->result = CMPD__TXN_RESULT__TXN_DONE;
	res->ca_pubs = OSSL_CMP_CTX_get1_caPubs(t->ctx);
	res->chain = t->chain;
	t->chain = NULL;
	if (cert == NULL || (res->cert = X509_dup(cert)) == NULL ||
	    res->chain == NULL) {
		res->result = CMPD__TXN_RESULT__TXN_FAILED;
		FAIL(CMPD_ENOMEM, "cannot keep the new certificate");
		return;
	}
	log_info("job %s: certificate issued, chain of %d", t->job,
	    sk_X509_num(res->chain));
}

/*
 * RR and GENM: one blocking exchange each (OpenSSL 3.0 polls for neither).
 * An RR that succeeds has no certificate to return; a GENM returns the
 * CA certificates of its caCerts answer in ca_pubs.
 */
static void
step_other(struct nw_txn *t, struct nw_txn_result *res)
{
	STACK_OF(OSSL_CMP_ITAV) *itavs = NULL;
	cmpd_err rv;

	if (t->op == CMPD__CMP_OP__CMP_OP_RR) {
		if (OSSL_CMP_exec_RR_ses(t->ctx) != 1) {
			step_fail(t, res);
			return;
		}
		log_info("job %s: certificate revoked", t->job);
	} else {
		if ((itavs = OSSL_CMP_exec_GENM_ses(t->ctx)) == NULL) {
			step_fail(t, res);
			return;
		}
		rv = nw_txn_cacerts_take(t, itavs, &res->ca_pubs);
		sk_OSSL_CMP_ITAV_pop_free(itavs, OSSL_CMP_ITAV_free);
		if (rv != CMPD_OK) {
			res->result = CMPD__TXN_RESULT__TXN_FAILED;
			FAIL(rv, "unusable caCerts answer from %.300s", t->url);
			log_err("job %s: %s", t->job, res->error_text);
			return;
		}
		log_info("job %s: %d CA certificates received", t->job,
		    sk_X509_num(res->ca_pubs));
	}
	step_status_copy(t, res);
	res->result = CMPD__TXN_RESULT__TXN_DONE;
}

void
nw_txn_step(struct nw_txn *t, struct nw_txn_result *res)
{
	int check_after = 0, rv;

	CMPD_MAGIC_CHECK(t, NW_TXN_MAGIC);
	step_job = t->job;
	t->transfer_failed = 0;
	ERR_clear_error();
	if (t->op == CMPD__CMP_OP__CMP_OP_RR ||
	    t->op == CMPD__CMP_OP__CMP_OP_GENM) {
		step_other(t, res);
		step_job = NULL;
		return;
	}
	rv = OSSL_CMP_try_certreq(t->ctx, t->req_type, NULL, &check_after);
	t->waiting = rv == -1;
	if (rv == 1) {
		step_done(t, res);
	} else if (rv == -1) {
		step_status_copy(t, res);
		res->result = CMPD__TXN_RESULT__TXN_WAITING;
		res->check_after = check_after < 0 ? 0 : (uint32_t)check_after;
		log_info("job %s: CA says wait %d s", t->job, check_after);
	} else {
		step_fail(t, res);
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
		step_errors_take(t, errs, sizeof(errs));
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
	for (size_t i = 0; i < res->n_texts; i++)
		free(res->texts[i]);
	free(res->texts);
	nw_txn_result_init(res);
}
