/*
 * Which requests the test CA accepts. A request must be protected by
 *  - a signature of a certificate that chains to root.pem (through ca.pem:
 *    certificates this CA issued) - any request;
 *  - a signature of a certificate that chains to supplier-root.pem (a
 *    device's IDevID) - ir and genm only;
 *  - a PBM MAC with the reference and secret of mac-ref.txt and
 *    mac-secret.txt - any request.
 * We check this ourselves before OpenSSL sees the request, so that a
 * refusal reaches the client as a PKIStatus rejection whose failInfo and
 * statusString say why (OpenSSL 3.0 answers a protection failure with a
 * generic badRequest error).
 */
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "der.h"
#include "log.h"
#include "srvint.h"

static pthread_once_t auth_once = PTHREAD_ONCE_INIT;
static int auth_store_idx = -1;

/*
 * Why the last path validation on this thread failed. OpenSSL 3.0's CMP
 * code drains the error queue into its log while it tries candidate
 * signer certificates, so the reason is kept here for the refusal text.
 */
static _Thread_local char auth_path_err[384];
/* Whether that failure was a certificate this CA revoked. */
static _Thread_local int auth_path_revoked;

static void
auth_index_init(void)
{
	auth_store_idx = X509_STORE_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* Whether cert is one this CA issued and then revoked, or that its
 * requester rejected. */
static const char *
auth_cert_withdrawn(struct tca_server *srv, X509 *cert)
{
	struct tca_cert_info info;
	char serial[TCA_SERIAL_HEX_MAX + 1];

	if (X509_NAME_cmp(X509_get_issuer_name(cert),
	        X509_get_subject_name(srv->issuer.cert)) != 0)
		return NULL;
	tca_serial_hex(X509_get_serialNumber(cert), serial);
	if (tca_registry_find(srv->reg, serial, &info) != CMPD_OK)
		return NULL;
	if (info.revoked) {
		auth_path_revoked = 1;
		return "certificate revoked";
	}
	if (info.rejected)
		return "certificate rejected by its requester";
	return NULL;
}

/*
 * Verification callback of our trust stores: puts the reason a path did not
 * validate into the error queue (OpenSSL 3.0's CMP code queues only
 * "potentially invalid certificate"), and refuses withdrawn certificates.
 */
static int
auth_verify_cb(int ok, X509_STORE_CTX *sctx)
{
	X509 *cert = X509_STORE_CTX_get_current_cert(sctx);
	struct tca_server *srv = X509_STORE_get_ex_data(
	    X509_STORE_CTX_get0_store(sctx), auth_store_idx);
	const char *withdrawn = NULL;
	char name[256] = "(no certificate)";

	if (cert != NULL)
		X509_NAME_oneline(
		    X509_get_subject_name(cert), name, sizeof(name));
	if (!ok) {
		snprintf(auth_path_err, sizeof(auth_path_err), "%s: %s", name,
		    X509_verify_cert_error_string(
		        X509_STORE_CTX_get_error(sctx)));
		ERR_raise_data(ERR_LIB_X509,
		    X509_R_CERTIFICATE_VERIFICATION_FAILED, "%s",
		    auth_path_err);
		return 0;
	}
	if (cert != NULL && srv != NULL)
		withdrawn = auth_cert_withdrawn(srv, cert);
	if (withdrawn != NULL) {
		X509_STORE_CTX_set_error(sctx, X509_V_ERR_CERT_REVOKED);
		snprintf(auth_path_err, sizeof(auth_path_err), "%s: %s", name,
		    withdrawn);
		ERR_raise_data(ERR_LIB_X509,
		    X509_R_CERTIFICATE_VERIFICATION_FAILED, "%s",
		    auth_path_err);
		return 0;
	}
	return 1;
}

cmpd_err
tca_auth_store_new(
    struct tca_server *srv, X509 *const *anchors, int n, X509_STORE **out)
{
	X509_STORE *store = X509_STORE_new();

	pthread_once(&auth_once, auth_index_init);
	if (store == NULL || auth_store_idx < 0 ||
	    !X509_STORE_set_ex_data(store, auth_store_idx, srv))
		goto fail;
	for (int i = 0; i < n; i++)
		if (!X509_STORE_add_cert(store, anchors[i]))
			goto fail;
	X509_STORE_set_verify_cb(store, auth_verify_cb);
	*out = store;
	return CMPD_OK;
fail:
	cmpd_log_openssl(CMPD_LOG_ERR, "making a trust store");
	X509_STORE_free(store);
	return CMPD_ECRYPTO;
}

static void auth_refuse(struct tca_txn *txn, int fail_info, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

static void
auth_refuse(struct tca_txn *txn, int fail_info, const char *fmt, ...)
{
	va_list ap;

	txn->refused = 1;
	txn->fail_info = fail_info;
	va_start(ap, fmt);
	vsnprintf(txn->why, sizeof(txn->why), fmt, ap);
	va_end(ap);
}

static enum tca_prot
auth_kind(int nid)
{
	if (nid == NID_undef)
		return TCA_PROT_NONE;
	if (nid == NID_id_PasswordBasedMAC)
		return TCA_PROT_MAC;
	if (nid > 0 && OBJ_find_sigid_algs(nid, NULL, NULL))
		return TCA_PROT_SIG;
	return TCA_PROT_OTHER;
}

/* Supplier certificates may protect only the start of an enrollment. */
static X509_STORE *
auth_store_for(const struct tca_txn *txn)
{
	if (txn->first_type == TCA_BODY_IR || txn->first_type == TCA_BODY_GENM)
		return txn->srv->store_supplier;
	return txn->srv->store_own;
}

/*
 * On the first request: MAC-protected transactions get the secret (and so
 * MAC-protected answers: the context protects with the secret whenever one
 * is set); signed ones get the trust store (and signed answers).
 */
static cmpd_err
auth_setup(struct tca_txn *txn, enum tca_prot prot)
{
	struct tca_server *srv = txn->srv;
	OSSL_CMP_CTX *ctx = OSSL_CMP_SRV_CTX_get0_cmp_ctx(txn->ctx);
	X509_STORE *store = auth_store_for(txn);

	txn->prot = prot;
	if (prot == TCA_PROT_MAC) {
		if (!OSSL_CMP_CTX_set1_secretValue(
		        ctx, srv->mac_secret->data, srv->mac_secret->length) ||
		    !OSSL_CMP_CTX_set1_referenceValue(
		        ctx, srv->mac_ref->data, srv->mac_ref->length))
			return CMPD_ECRYPTO;
		return CMPD_OK;
	}
	if (!X509_STORE_up_ref(store))
		return CMPD_ECRYPTO;
	if (!OSSL_CMP_CTX_set0_trustedStore(ctx, store)) {
		X509_STORE_free(store);
		return CMPD_ECRYPTO;
	}
	return CMPD_OK;
}

/* Validates req's protection with a scratch context. */
static int
auth_validates(const OSSL_CMP_MSG *req, X509_STORE *store,
    STACK_OF(X509) * untrusted, X509 *pinned)
{
	OSSL_CMP_CTX *ctx = OSSL_CMP_CTX_new(NULL, NULL);
	int ok = ctx != NULL && OSSL_CMP_CTX_set_log_cb(ctx, tca_cmp_log_cb);

	if (ok && store != NULL) {
		ok = X509_STORE_up_ref(store);
		if (ok && !OSSL_CMP_CTX_set0_trustedStore(ctx, store)) {
			X509_STORE_free(store);
			ok = 0;
		}
	}
	if (ok && untrusted != NULL)
		ok = OSSL_CMP_CTX_set1_untrusted(ctx, untrusted);
	if (ok && pinned != NULL)
		ok = OSSL_CMP_CTX_set1_srvCert(ctx, pinned);
	ok = ok && OSSL_CMP_validate_msg(ctx, req);
	OSSL_CMP_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}

int
tca_auth_signed_by(const OSSL_CMP_MSG *req, X509 *cert)
{
	return auth_validates(req, NULL, NULL, cert);
}

static void
auth_check_sig(struct tca_txn *txn, const OSSL_CMP_MSG *req)
{
	struct tca_server *srv = txn->srv;
	OSSL_CMP_CTX *ctx = OSSL_CMP_SRV_CTX_get0_cmp_ctx(txn->ctx);
	char errs[TCA_WHY_MAX - 64];

	auth_path_err[0] = '\0';
	auth_path_revoked = 0;
	if (OSSL_CMP_validate_msg(ctx, req))
		return;
	cmpd_openssl_errstr(errs, sizeof(errs));
	/* The path's failure says more than "no suitable sender cert". */
	if (auth_path_err[0] != '\0')
		cmpd_strlcpy(errs, auth_path_err, sizeof(errs));
	if (auth_store_for(txn) == srv->store_own &&
	    auth_validates(req, srv->store_supplier, srv->untrusted, NULL))
		auth_refuse(txn,
		    TCA_FAIL(signerNotTrusted) | TCA_FAIL(notAuthorized),
		    "request signer not trusted: a supplier certificate "
		    "(IDevID) may protect only ir and genm");
	else
		/* certRevoked says what a revoked signer needs: a new
		 * enrollment, not another trust anchor. */
		auth_refuse(txn,
		    TCA_FAIL(signerNotTrusted) | TCA_FAIL(badMessageCheck) |
		        (auth_path_revoked ? TCA_FAIL(certRevoked) : 0),
		    "request signer not trusted: %s", errs);
}

static void
auth_check_mac(
    struct tca_txn *txn, const OSSL_CMP_MSG *req, const ASN1_OCTET_STRING *kid)
{
	struct tca_server *srv = txn->srv;
	OSSL_CMP_CTX *ctx = OSSL_CMP_SRV_CTX_get0_cmp_ctx(txn->ctx);
	char ref[65] = "";
	char errs[TCA_WHY_MAX - 64];

	if (kid == NULL) {
		auth_refuse(txn, TCA_FAIL(badMessageCheck),
		    "MAC-protected request without a senderKID (reference)");
		return;
	}
	if (ASN1_OCTET_STRING_cmp(kid, srv->mac_ref) != 0) {
		/* Quoted in the refusal: printable ASCII only. */
		for (int i = 0; i < kid->length && i < 64; i++) {
			unsigned char ch = kid->data[i];

			ref[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
		}
		auth_refuse(txn,
		    TCA_FAIL(badMessageCheck) | TCA_FAIL(signerNotTrusted),
		    "MAC reference \"%s\" not known", ref);
		return;
	}
	if (!OSSL_CMP_validate_msg(ctx, req))
		auth_refuse(txn, TCA_FAIL(badMessageCheck),
		    "request MAC invalid (wrong shared secret?): %s",
		    cmpd_openssl_errstr(errs, sizeof(errs)));
}

void
tca_auth_check(struct tca_txn *txn, const OSSL_CMP_MSG *req)
{
	ASN1_OCTET_STRING *kid = NULL;
	int nid = NID_undef;
	enum tca_prot prot;

	txn->refused = 0;
	txn->fail_info = 0;
	txn->why[0] = '\0';
	if (tca_der_header_prot(txn->der, txn->der_len, &nid, &kid) !=
	    CMPD_OK) {
		auth_refuse(txn, TCA_FAIL(badDataFormat),
		    "cannot read the request's header");
		return;
	}
	prot = auth_kind(nid);
	if (txn->prot == TCA_PROT_UNSET && auth_setup(txn, prot) != CMPD_OK)
		auth_refuse(txn, TCA_FAIL(systemFailure),
		    "cannot set up the transaction");
	else if (prot != txn->prot)
		auth_refuse(txn, TCA_FAIL(badMessageCheck),
		    "request protected differently from the transaction's "
		    "first request");
	else if (prot == TCA_PROT_NONE)
		auth_refuse(txn, TCA_FAIL(badMessageCheck),
		    "request is not protected (a signature or MAC is "
		    "required)");
	else if (prot == TCA_PROT_OTHER)
		auth_refuse(txn, TCA_FAIL(badAlg),
		    "unsupported protection algorithm %s",
		    nid > 0 ? OBJ_nid2sn(nid) : "(unknown OID)");
	else if (prot == TCA_PROT_MAC)
		auth_check_mac(txn, req, kid);
	else
		auth_check_sig(txn, req);
	ASN1_OCTET_STRING_free(kid);
	ERR_clear_error();
}
