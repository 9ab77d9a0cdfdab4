/*
 * The OSSL_CMP_SRV_CTX callbacks: what the CA answers to each body type.
 * OpenSSL has already checked the header, nonces and (for ir/cr/kur/p10cr)
 * the proof of possession; auth.c has decided whether the protection is
 * acceptable (txn->refused). Each callback records its outcome for the log
 * line in txn->outcome.
 */
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "der.h"
#include "log.h"
#include "srvint.h"

static struct tca_txn *
reqs_txn(OSSL_CMP_SRV_CTX *ctx)
{
	struct tca_txn *txn = OSSL_CMP_SRV_CTX_get0_custom_ctx(ctx);

	TCA_TXN_CHECK(txn);
	return txn;
}

static void reqs_outcome(struct tca_txn *txn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
reqs_outcome(struct tca_txn *txn, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(txn->outcome, sizeof(txn->outcome), fmt, ap);
	va_end(ap);
}

/* Records why a request is denied, for reqs_rejection(); returns -1. */
static int reqs_deny(struct tca_txn *txn, int fail_info, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
reqs_deny(struct tca_txn *txn, int fail_info, const char *fmt, ...)
{
	va_list ap;

	txn->fail_info = fail_info;
	va_start(ap, fmt);
	vsnprintf(txn->why, sizeof(txn->why), fmt, ap);
	va_end(ap);
	return -1;
}

/* The PKIStatus rejection carrying txn->fail_info and txn->why. */
static OSSL_CMP_PKISI *
reqs_rejection(struct tca_txn *txn)
{
	reqs_outcome(txn, "rejected: %s", txn->why);
	return OSSL_CMP_STATUSINFO_new(
	    OSSL_CMP_PKISTATUS_rejection, txn->fail_info, txn->why);
}

/* Fails a callback that has no PKIStatus to answer with: OpenSSL sends
 * an error message with our text as errorDetails. */
static int
reqs_fail(struct tca_txn *txn, int reason, const char *text)
{
	ERR_clear_error();
	ERR_raise_data(ERR_LIB_CMP, reason, "%s", text);
	reqs_outcome(txn, "error: %s", text);
	return 0;
}

/* The text of every --refuse refusal. */
#define REQS_REFUSED "refused by --refuse"

/* Whether --refuse names req's type; if so, records the denial. */
static int
reqs_refused_by_option(struct tca_txn *txn, const OSSL_CMP_MSG *req)
{
	int type = OSSL_CMP_MSG_get_bodytype(req);

	if (type < 0 || type >= 32 ||
	    (txn->srv->opts.refuse & (1u << type)) == 0)
		return 0;
	reqs_deny(txn, TCA_FAIL(badRequest), "%s", REQS_REFUSED);
	return 1;
}

/*
 * OpenSSL answers a failed genm with an error message whose statusString
 * is the reason string of the error raised and whose errorDetails is its
 * data; a reason of our own library makes the statusString ours.
 */
static int reqs_err_lib;
static ERR_STRING_DATA reqs_err_strings[] = {
	{ 1, REQS_REFUSED },
	{ 0, NULL },
};

static void
reqs_err_init(void)
{
	reqs_err_lib = ERR_get_next_error_library();
	ERR_load_strings(reqs_err_lib, reqs_err_strings);
}

static int
reqs_fail_refused(struct tca_txn *txn)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, reqs_err_init);
	ERR_clear_error();
	ERR_raise_data(reqs_err_lib, 1, "%s %s", tca_body_name(txn->first_type),
	    REQS_REFUSED);
	reqs_outcome(txn, "error: %s", REQS_REFUSED);
	return 0;
}

/* RFC 5280 CRLReason names; 7 is not used. */
static const char *
reqs_crl_reason_name(int code)
{
	static const char *const names[] = { "unspecified", "keyCompromise",
		"cACompromise", "affiliationChanged", "superseded",
		"cessationOfOperation", "certificateHold", "value 7",
		"removeFromCRL", "privilegeWithdrawn", "aACompromise" };

	if (code < 0)
		return "";
	return code < (int)(sizeof(names) / sizeof(names[0])) ? names[code]
	                                                      : "unknown";
}

/* What a certificate request asks for. */
struct certreq {
	EVP_PKEY *pub;
	const X509_NAME *subject;
	X509_EXTENSION *san;
};

static X509_EXTENSION *
reqs_find_san(const STACK_OF(X509_EXTENSION) * exts)
{
	int i = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1);

	return i < 0 ? NULL : X509_EXTENSION_dup(X509v3_get_ext(exts, i));
}

static int
certreq_from_crm(
    struct tca_txn *txn, const OSSL_CRMF_MSG *crm, struct certreq *cr)
{
	OSSL_CRMF_CERTTEMPLATE *tmpl = OSSL_CRMF_MSG_get0_tmpl(crm);
	cmpd_err rv;

	if (tmpl == NULL)
		return reqs_deny(txn, TCA_FAIL(badCertTemplate),
		    "request without a certificate template");
	rv = tca_der_template_pubkey(tmpl, &cr->pub);
	if (rv == CMPD_ENOENT)
		return reqs_deny(txn, TCA_FAIL(badCertTemplate),
		    "certificate template without a public key");
	if (rv != CMPD_OK)
		return reqs_deny(txn,
		    TCA_FAIL(badCertTemplate) | TCA_FAIL(badDataFormat),
		    "cannot decode the template's public key");
	cr->subject = OSSL_CRMF_CERTTEMPLATE_get0_subject(tmpl);
	cr->san = reqs_find_san(OSSL_CRMF_CERTTEMPLATE_get0_extensions(tmpl));
	return 0;
}

static int
certreq_from_p10(struct tca_txn *txn, const X509_REQ *p10, struct certreq *cr)
{
	STACK_OF(X509_EXTENSION) * exts;

	/* OpenSSL 3.0 takes these arguments without const. */
	cr->pub = X509_REQ_get_pubkey((X509_REQ *)p10);
	if (cr->pub == NULL)
		return reqs_deny(txn, TCA_FAIL(badCertTemplate),
		    "cannot decode the CSR's public key");
	cr->subject = X509_REQ_get_subject_name(p10);
	exts = X509_REQ_get_extensions((X509_REQ *)p10);
	cr->san = reqs_find_san(exts);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return 0;
}

static int
certreq_parse(struct tca_txn *txn, const OSSL_CRMF_MSG *crm,
    const X509_REQ *p10, struct certreq *cr)
{
	char why[200];

	if ((crm != NULL ? certreq_from_crm(txn, crm, cr)
	                 : certreq_from_p10(txn, p10, cr)) != 0)
		return -1;
	if (cr->subject == NULL || X509_NAME_entry_count(cr->subject) == 0)
		return reqs_deny(txn, TCA_FAIL(badCertTemplate),
		    "certificate template without a subject");
	if (tca_issuer_check_key(cr->pub, why, sizeof(why)) != CMPD_OK)
		return reqs_deny(txn,
		    TCA_FAIL(badAlg) | TCA_FAIL(badCertTemplate), "%s", why);
	return 0;
}

/* The certificate among those the client sent that is serial of ours. */
static X509 *
kur_find_old(struct tca_txn *txn, const char *serial, const char *spki)
{
	OSSL_CMP_CTX *ctx = OSSL_CMP_SRV_CTX_get0_cmp_ctx(txn->ctx);
	/* OpenSSL keeps the request's extraCerts among the untrusted. */
	STACK_OF(X509) *certs = OSSL_CMP_CTX_get0_untrusted(ctx);
	const X509_NAME *ca = X509_get_subject_name(txn->srv->issuer.cert);
	char s[TCA_SERIAL_HEX_MAX + 1], k[TCA_SPKI_HEX_LEN + 1];

	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *c = sk_X509_value(certs, i);

		if (X509_NAME_cmp(X509_get_issuer_name(c), ca) != 0)
			continue;
		tca_serial_hex(X509_get_serialNumber(c), s);
		if (strcmp(s, serial) == 0 && tca_spki_hex(c, k) == CMPD_OK &&
		    strcmp(k, spki) == 0)
			return c;
	}
	return NULL;
}

/* kur: oldCertID names a live certificate of ours that signed req. */
static int
kur_check(
    struct tca_txn *txn, const OSSL_CMP_MSG *req, const OSSL_CRMF_MSG *crm)
{
	OSSL_CRMF_CERTID *cid = OSSL_CRMF_MSG_get0_regCtrl_oldCertID(crm);
	const X509_NAME *issuer =
	    cid ? OSSL_CRMF_CERTID_get0_issuer(cid) : NULL;
	char serial[TCA_SERIAL_HEX_MAX + 1];
	struct tca_cert_info info;
	X509 *old;

	if (cid == NULL || issuer == NULL)
		return reqs_deny(
		    txn, TCA_FAIL(badCertId), "kur without oldCertID");
	tca_serial_hex(OSSL_CRMF_CERTID_get0_serialNumber(cid), serial);
	if (X509_NAME_cmp(
	        issuer, X509_get_subject_name(txn->srv->issuer.cert)) != 0 ||
	    tca_registry_find(txn->srv->reg, serial, &info) != CMPD_OK)
		return reqs_deny(txn, TCA_FAIL(badCertId),
		    "oldCertID (serial %s) names no certificate this CA "
		    "issued",
		    serial);
	if (info.revoked)
		return reqs_deny(txn, TCA_FAIL(certRevoked),
		    "certificate %s is revoked", serial);
	if (info.rejected)
		return reqs_deny(txn, TCA_FAIL(badCertId),
		    "certificate %s was rejected by its requester", serial);
	old = txn->prot == TCA_PROT_SIG ? kur_find_old(txn, serial, info.spki)
	                                : NULL;
	if (old == NULL || !tca_auth_signed_by(req, old))
		return reqs_deny(txn,
		    TCA_FAIL(notAuthorized) | TCA_FAIL(badMessageCheck),
		    "kur is not protected by certificate %s, which it "
		    "updates",
		    serial);
	return 0;
}

/* Signs the certificate and records it in issued.txt. */
static cmpd_err
certreq_issue(struct tca_txn *txn, const struct certreq *cr, X509 **out)
{
	struct tca_server *srv = txn->srv;
	char serial[TCA_SERIAL_HEX_MAX + 1], spki[TCA_SPKI_HEX_LEN + 1];
	char subject[512];
	X509 *cert = NULL;
	cmpd_err rv = CMPD_EEXIST;

	X509_NAME_oneline(cr->subject, subject, sizeof(subject));
	/* A serial taken twice is astronomically unlikely; try again. */
	for (int tries = 0; tries < 3 && rv == CMPD_EEXIST; tries++) {
		X509_free(cert);
		cert = NULL;
		rv = tca_issuer_issue(
		    &srv->issuer, cr->pub, cr->subject, cr->san, &cert);
		if (rv == CMPD_OK)
			rv = tca_spki_hex(cert, spki);
		if (rv != CMPD_OK)
			break;
		tca_serial_hex(X509_get_serialNumber(cert), serial);
		rv =
		    tca_registry_add(srv->reg, serial, txn->tid, subject, spki);
	}
	if (rv != CMPD_OK) {
		X509_free(cert);
		return rv;
	}
	reqs_outcome(txn, "issued %s to %s", serial, subject);
	*out = cert;
	return CMPD_OK;
}

/* Keeps req and answers 'waiting' the first time when --poll is set. */
static OSSL_CMP_PKISI *
certreq_delay(struct tca_txn *txn, const OSSL_CMP_MSG *req)
{
	txn->poll_req = OSSL_CMP_MSG_dup(req);
	if (txn->poll_req == NULL)
		return NULL;
	txn->poll = TCA_POLL_WAITING;
	txn->polls = 1;
	reqs_outcome(txn, "waiting (1 of %d)", txn->srv->opts.poll);
	return OSSL_CMP_STATUSINFO_new(OSSL_CMP_PKISTATUS_waiting, 0, NULL);
}

static cmpd_err
certreq_answer(struct tca_txn *txn, const OSSL_CMP_MSG *req, X509 *cert,
    X509 **certOut, STACK_OF(X509) * *caPubs)
{
	if (!X509_up_ref(cert))
		return CMPD_ECRYPTO;
	X509_free(txn->cert);
	txn->cert = cert;
	/* An ip carries the root the device should trust from now on. */
	if (OSSL_CMP_MSG_get_bodytype(req) == TCA_BODY_IR) {
		*caPubs = sk_X509_new_null();
		if (*caPubs == NULL || !X509_up_ref(txn->srv->root))
			return CMPD_ENOMEM;
		if (!sk_X509_push(*caPubs, txn->srv->root)) {
			X509_free(txn->srv->root);
			return CMPD_ENOMEM;
		}
	}
	*certOut = cert;
	return CMPD_OK;
}

static OSSL_CMP_PKISI *
cb_cert_request(OSSL_CMP_SRV_CTX *ctx, const OSSL_CMP_MSG *req, int certReqId,
    const OSSL_CRMF_MSG *crm, const X509_REQ *p10cr, X509 **certOut,
    STACK_OF(X509) * *chainOut, STACK_OF(X509) * *caPubs)
{
	struct tca_txn *txn = reqs_txn(ctx);
	struct certreq cr = { 0 };
	OSSL_CMP_PKISI *si = NULL;
	X509 *cert = NULL;

	(void)certReqId;
	*chainOut = NULL; /* the chain is in every response's extraCerts */
	if (txn->refused || reqs_refused_by_option(txn, req) ||
	    certreq_parse(txn, crm, p10cr, &cr) != 0 ||
	    (OSSL_CMP_MSG_get_bodytype(req) == TCA_BODY_KUR &&
	        kur_check(txn, req, crm) != 0)) {
		txn->cert_refused = 1;
		si = reqs_rejection(txn);
		goto out;
	}
	if (txn->srv->opts.poll > 0 && txn->poll == TCA_POLL_NONE) {
		si = certreq_delay(txn, req);
		goto out;
	}
	if (certreq_issue(txn, &cr, &cert) != CMPD_OK ||
	    certreq_answer(txn, req, cert, certOut, caPubs) != CMPD_OK) {
		reqs_deny(txn, TCA_FAIL(systemFailure),
		    "the CA could not issue the certificate");
		X509_free(cert);
		txn->cert_refused = 1;
		si = reqs_rejection(txn);
		goto out;
	}
	si = OSSL_CMP_STATUSINFO_new(OSSL_CMP_PKISTATUS_accepted, 0, NULL);
out:
	EVP_PKEY_free(cr.pub);
	X509_EXTENSION_free(cr.san);
	return si;
}

static OSSL_CMP_PKISI *
cb_rr(OSSL_CMP_SRV_CTX *ctx, const OSSL_CMP_MSG *req, const X509_NAME *issuer,
    const ASN1_INTEGER *serial)
{
	struct tca_txn *txn = reqs_txn(ctx);
	char hex[TCA_SERIAL_HEX_MAX + 1] = "";
	int reason = tca_der_rr_reason(txn->der, txn->der_len);
	cmpd_err rv;

	if (txn->refused || reqs_refused_by_option(txn, req))
		return reqs_rejection(txn);
	if (issuer == NULL || serial == NULL) {
		reqs_deny(txn, TCA_FAIL(badCertId),
		    "rr without issuer and serialNumber");
		return reqs_rejection(txn);
	}
	tca_serial_hex(serial, hex);
	if (X509_NAME_cmp(
	        issuer, X509_get_subject_name(txn->srv->issuer.cert)) != 0) {
		reqs_deny(txn, TCA_FAIL(badCertId),
		    "certificate %s was not issued by this CA", hex);
		return reqs_rejection(txn);
	}
	rv = tca_registry_revoke(txn->srv->reg, hex, reason);
	if (rv == CMPD_ENOENT)
		reqs_deny(txn, TCA_FAIL(badCertId),
		    "unknown certificate serial %s", hex);
	else if (rv == CMPD_EEXIST)
		reqs_deny(txn, TCA_FAIL(certRevoked),
		    "certificate %s is already revoked", hex);
	else if (rv != CMPD_OK)
		reqs_deny(txn, TCA_FAIL(systemFailure),
		    "cannot record the revocation of %s", hex);
	if (rv != CMPD_OK)
		return reqs_rejection(txn);
	reqs_outcome(txn, "revoked %s (reason %d%s%s)", hex, reason,
	    reason >= 0 ? " " : "", reqs_crl_reason_name(reason));
	return OSSL_CMP_STATUSINFO_new(OSSL_CMP_PKISTATUS_accepted, 0, NULL);
}

static int
cb_genm(OSSL_CMP_SRV_CTX *ctx, const OSSL_CMP_MSG *req,
    const STACK_OF(OSSL_CMP_ITAV) * in, STACK_OF(OSSL_CMP_ITAV) * *out)
{
	struct tca_txn *txn = reqs_txn(ctx);
	STACK_OF(OSSL_CMP_ITAV) *itavs = NULL;
	char names[TCA_WHY_MAX] = "";
	size_t used = 0;

	if (txn->refused)
		return reqs_fail(
		    txn, CMP_R_ERROR_VALIDATING_PROTECTION, txn->why);
	if (reqs_refused_by_option(txn, req))
		return reqs_fail_refused(txn);
	itavs = sk_OSSL_CMP_ITAV_new_null();
	for (int i = 0; itavs != NULL && i < sk_OSSL_CMP_ITAV_num(in); i++) {
		const OSSL_CMP_ITAV *q = sk_OSSL_CMP_ITAV_value(in, i);
		char name[80];
		OSSL_CMP_ITAV *a =
		    tca_genm_answer(txn->srv, q, name, sizeof(name));

		if (a == NULL || !sk_OSSL_CMP_ITAV_push(itavs, a)) {
			OSSL_CMP_ITAV_free(a);
			sk_OSSL_CMP_ITAV_pop_free(itavs, OSSL_CMP_ITAV_free);
			return reqs_fail(txn, CMP_R_ERROR_CREATING_GENP,
			    "cannot make the genp");
		}
		if (used < sizeof(names))
			used += (size_t)snprintf(
			    names + used, sizeof(names) - used, " %s", name);
	}
	if (itavs == NULL)
		return reqs_fail(txn, CMP_R_ERROR_CREATING_GENP, "no memory");
	reqs_outcome(txn, "answered infoTypes:%s", used ? names : " none");
	*out = itavs;
	return 1;
}

static void
cb_error(OSSL_CMP_SRV_CTX *ctx, const OSSL_CMP_MSG *req,
    const OSSL_CMP_PKISI *statusInfo, const ASN1_INTEGER *errorCode,
    const OSSL_CMP_PKIFREETEXT *errorDetails)
{
	struct tca_txn *txn = reqs_txn(ctx);
	char buf[OSSL_CMP_PKISI_BUFLEN] = "(no status)";

	(void)req;
	(void)errorCode;
	(void)errorDetails;
	if (statusInfo != NULL)
		OSSL_CMP_snprint_PKIStatusInfo(statusInfo, buf, sizeof(buf));
	/* A client that gives up while polling abandons its request. */
	OSSL_CMP_MSG_free(txn->poll_req);
	txn->poll_req = NULL;
	reqs_outcome(txn, "client reported an error: %s", buf);
}

static int
cb_certconf(OSSL_CMP_SRV_CTX *ctx, const OSSL_CMP_MSG *req, int certReqId,
    const ASN1_OCTET_STRING *certHash, const OSSL_CMP_PKISI *si)
{
	struct tca_txn *txn = reqs_txn(ctx);
	char serial[TCA_SERIAL_HEX_MAX + 1];
	char buf[OSSL_CMP_PKISI_BUFLEN];
	ASN1_OCTET_STRING *hash = NULL;
	int match;

	(void)req;
	(void)certReqId;
	if (txn->refused)
		return reqs_fail(
		    txn, CMP_R_ERROR_VALIDATING_PROTECTION, txn->why);
	if (txn->cert == NULL)
		return reqs_fail(txn, CMP_R_ERROR_UNEXPECTED_CERTCONF,
		    "certConf but no certificate was issued");
	tca_serial_hex(X509_get_serialNumber(txn->cert), serial);
	hash = X509_digest_sig(txn->cert, NULL, NULL);
	match = hash != NULL && certHash != NULL &&
	    ASN1_OCTET_STRING_cmp(hash, certHash) == 0;
	ASN1_OCTET_STRING_free(hash);
	if (!match)
		return reqs_fail(txn, CMP_R_CERTHASH_UNMATCHED,
		    "certHash does not match the certificate issued");
	if (si != NULL &&
	    tca_der_pkisi_status(si) != OSSL_CMP_PKISTATUS_accepted) {
		OSSL_CMP_snprint_PKIStatusInfo(si, buf, sizeof(buf));
		tca_registry_reject(txn->srv->reg, serial, txn->tid);
		reqs_outcome(txn, "certificate %s rejected by the client: %s",
		    serial, buf);
		return 1;
	}
	reqs_outcome(txn, "certificate %s confirmed", serial);
	return 1;
}

static int
cb_pollreq(OSSL_CMP_SRV_CTX *ctx, const OSSL_CMP_MSG *req, int certReqId,
    OSSL_CMP_MSG **certReq, int64_t *check_after)
{
	struct tca_txn *txn = reqs_txn(ctx);

	(void)req;
	(void)certReqId;
	*certReq = NULL;
	*check_after = 0;
	if (txn->refused)
		return reqs_fail(
		    txn, CMP_R_ERROR_VALIDATING_PROTECTION, txn->why);
	if (txn->poll != TCA_POLL_WAITING || txn->poll_req == NULL)
		return reqs_fail(txn, CMP_R_UNEXPECTED_PKIBODY,
		    "pollReq but no request is waiting");
	if (txn->polls < txn->srv->opts.poll) {
		txn->polls++;
		*check_after = txn->srv->opts.check_after;
		reqs_outcome(txn, "waiting (%d of %d), checkAfter %d s",
		    txn->polls, txn->srv->opts.poll,
		    txn->srv->opts.check_after);
		return 1;
	}
	/* OpenSSL now answers the kept request through cb_cert_request. */
	*certReq = txn->poll_req;
	txn->poll_req = NULL;
	txn->poll = TCA_POLL_RELEASED;
	return 1;
}

int
tca_reqs_init(OSSL_CMP_SRV_CTX *ctx, struct tca_txn *txn)
{
	return OSSL_CMP_SRV_CTX_init(ctx, txn, cb_cert_request, cb_rr, cb_genm,
	    cb_error, cb_certconf, cb_pollreq);
}
