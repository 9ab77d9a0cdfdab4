/*
 * What each operation sends besides the header: the certificate template
 * (IR, CR, KUR), the PKCS#10 request (P10CR), the certificate to update or
 * revoke with the revocation reason, and the genm's question.
 */
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "names.h"
#include "txn_int.h"

static cmpd_err
req_sans_parse(
    const Cmpd__TxnStartReq *r, GENERAL_NAMES **out, char *why, size_t whylen)
{
	GENERAL_NAMES *gns = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *gn = NULL;
	char reason[256];

	if (gns == NULL)
		return CMPD_ENOMEM;
	for (size_t i = 0; i < r->n_sans; i++) {
		if (nw_san_parse(r->sans[i], &gn, reason, sizeof(reason))) {
			WHY("bad subjectAltName: %s", reason);
			GENERAL_NAMES_free(gns);
			return CMPD_EINVAL;
		}
		if (!sk_GENERAL_NAME_push(gns, gn)) {
			GENERAL_NAME_free(gn);
			GENERAL_NAMES_free(gns);
			return CMPD_ENOMEM;
		}
	}
	*out = gns;
	return CMPD_OK;
}

static cmpd_err
req_sans_set(
    OSSL_CMP_CTX *ctx, const Cmpd__TxnStartReq *r, char *why, size_t whylen)
{
	GENERAL_NAMES *gns = NULL;
	cmpd_err rv;

	if ((rv = req_sans_parse(r, &gns, why, whylen)) != CMPD_OK)
		return rv;
	for (int i = 0; i < sk_GENERAL_NAME_num(gns) && rv == CMPD_OK; i++)
		if (!OSSL_CMP_CTX_push1_subjectAltName(
		        ctx, sk_GENERAL_NAME_value(gns, i)))
			rv = CMPD_ENOMEM;
	GENERAL_NAMES_free(gns);
	return rv;
}

/*
 * The key to certify: OpenSSL's own check of the new certificate compares
 * with it, and certcheck.c with its SPKI.
 */
static cmpd_err
req_new_key_set(struct nw_txn *t, EVP_PKEY *new_key, char *why, size_t whylen)
{
	int len;

	if ((len = i2d_PUBKEY(new_key, &t->spki)) <= 0) {
		WHY("cannot encode the new key");
		return CMPD_ECRYPTO;
	}
	t->check.spki = t->spki;
	t->check.spki_len = (size_t)len;
	if (!EVP_PKEY_up_ref(new_key))
		return CMPD_ENOMEM;
	if (!OSSL_CMP_CTX_set0_newPkey(t->ctx, 1, new_key)) {
		EVP_PKEY_free(new_key);
		return CMPD_ENOMEM;
	}
	return CMPD_OK;
}

/*
 * The certificate template. IR and CR carry exactly the names asked for:
 * OpenSSL would otherwise copy the protection (supplier) certificate's
 * subjectAltNames into the request. KUR keeps OpenSSL's default of the
 * old certificate's names when none are given.
 */
static cmpd_err
req_template_set(
    struct nw_txn *t, const Cmpd__TxnStartReq *r, char *why, size_t whylen)
{
	int nodefault = t->req_type != OSSL_CMP_KUR || r->n_sans > 0;
	cmpd_err rv;

	if (r->validity_days > 36500) {
		WHY("validity_days %u is out of range", r->validity_days);
		return CMPD_EINVAL;
	}
	if ((rv = nw_txn_name_set(t->ctx, r->subject, "subject",
	         OSSL_CMP_CTX_set1_subjectName, why, whylen)) != 0 ||
	    (rv = req_sans_set(t->ctx, r, why, whylen)) != 0)
		return rv;
	if (!OSSL_CMP_CTX_set_option(
	        t->ctx, OSSL_CMP_OPT_SUBJECTALTNAME_NODEFAULT, nodefault) ||
	    (r->validity_days > 0 &&
	        !OSSL_CMP_CTX_set_option(
	            t->ctx, OSSL_CMP_OPT_VALIDITY_DAYS, (int)r->validity_days)))
		return CMPD_ENOMEM;
	return CMPD_OK;
}

/* The SANs of a PKCS#10 request travel in its extensionRequest. */
static cmpd_err
req_p10_sans_add(
    X509_REQ *csr, const Cmpd__TxnStartReq *r, char *why, size_t whylen)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	GENERAL_NAMES *gns = NULL;
	cmpd_err rv;

	if (r->n_sans == 0)
		return CMPD_OK;
	if ((rv = req_sans_parse(r, &gns, why, whylen)) != CMPD_OK)
		return rv;
	rv = CMPD_ENOMEM;
	if (X509V3_add1_i2d(
	        &exts, NID_subject_alt_name, gns, 0, X509V3_ADD_DEFAULT) == 1 &&
	    X509_REQ_add_extensions(csr, exts))
		rv = CMPD_OK;
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(gns);
	return rv;
}

/*
 * The request's signature: SHA-384 for a P-384 key, none for Ed25519,
 * SHA-256 otherwise. The key is a keyworker handle, so this is one sign
 * request; the keyworker checks that the CertificationRequestInfo carries
 * the key's own public key.
 */
static cmpd_err
req_p10_sign(struct nw_txn *t, X509_REQ *csr, EVP_PKEY *key)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	const char *md = "SHA256";
	cmpd_err rv = CMPD_ECRYPTO;

	if (EVP_PKEY_is_a(key, "ED25519"))
		md = NULL;
	else if (EVP_PKEY_is_a(key, "EC") && EVP_PKEY_get_bits(key) == 384)
		md = "SHA384";
	if (mctx != NULL &&
	    EVP_DigestSignInit_ex(mctx, NULL, md, t->libctx, NULL, key, NULL) ==
	        1 &&
	    X509_REQ_sign_ctx(csr, mctx) > 0)
		rv = CMPD_OK;
	EVP_MD_CTX_free(mctx);
	return rv;
}

/* P10CR: a PKCS#10 request for new_key with the subject and SANs. */
static cmpd_err
req_p10_set(struct nw_txn *t, const Cmpd__TxnStartReq *r, EVP_PKEY *key,
    char *why, size_t whylen)
{
	X509_REQ *csr = X509_REQ_new_ex(t->libctx, NULL);
	X509_NAME *subject = NULL;
	char reason[256];
	cmpd_err rv = CMPD_ENOMEM;

	if (csr == NULL || !X509_REQ_set_version(csr, X509_REQ_VERSION_1) ||
	    !X509_REQ_set_pubkey(csr, key))
		goto out;
	if (cmpd_str_set(r->subject) &&
	    (rv = nw_name_parse(
	         r->subject, &subject, reason, sizeof(reason))) != CMPD_OK) {
		WHY("bad subject: %s", reason);
		goto out;
	}
	rv = CMPD_ENOMEM;
	if (subject != NULL && !X509_REQ_set_subject_name(csr, subject))
		goto out;
	if ((rv = req_p10_sans_add(csr, r, why, whylen)) != CMPD_OK)
		goto out;
	if ((rv = req_p10_sign(t, csr, key)) != CMPD_OK) {
		WHY("cannot sign the PKCS#10 request with the new key");
		goto out;
	}
	rv = OSSL_CMP_CTX_set1_p10CSR(t->ctx, csr) ? CMPD_OK : CMPD_ENOMEM;
out:
	X509_NAME_free(subject);
	X509_REQ_free(csr);
	return rv;
}

/* The anchors the new certificate must reach (certcheck.c). */
static cmpd_err
req_check_set(
    struct nw_txn *t, const Cmpd__TxnStartReq *r, char *why, size_t whylen)
{
	t->check.libctx = t->libctx;
	t->check.trust_capubs = r->trust_capubs;
	return nw_txn_certs_decode(t->libctx, r->enroll_trusted,
	    r->n_enroll_trusted, "enroll_trusted", &t->check.anchors, why,
	    whylen);
}

/*
 * The certificate KUR updates (its oldCertID) or RR revokes (its
 * template's issuer and serial number).
 */
static cmpd_err
req_old_cert_set(
    struct nw_txn *t, const Cmpd__TxnStartReq *r, char *why, size_t whylen)
{
	X509 *old = nw_txn_cert_decode(t->libctx, &r->old_cert);
	int ok;

	if (old == NULL) {
		WHY("old_cert is not a DER certificate");
		return CMPD_EINVAL;
	}
	ok = OSSL_CMP_CTX_set1_oldCert(t->ctx, old);
	X509_free(old);
	return ok ? CMPD_OK : CMPD_ENOMEM;
}

static cmpd_err
req_certreq_set(struct nw_txn *t, const Cmpd__TxnStartReq *r, EVP_PKEY *new_key,
    char *why, size_t whylen)
{
	cmpd_err rv;

	if ((rv = req_new_key_set(t, new_key, why, whylen)) != CMPD_OK ||
	    (rv = req_check_set(t, r, why, whylen)) != CMPD_OK)
		return rv;
	if (!OSSL_CMP_CTX_set_option(t->ctx, OSSL_CMP_OPT_IMPLICIT_CONFIRM,
	        r->implicit_confirm ? 1 : 0))
		return CMPD_ENOMEM;
	if (t->op == CMPD__CMP_OP__CMP_OP_P10CR)
		return req_p10_set(t, r, new_key, why, whylen);
	if (t->op == CMPD__CMP_OP__CMP_OP_KUR &&
	    (rv = req_old_cert_set(t, r, why, whylen)) != CMPD_OK)
		return rv;
	return req_template_set(t, r, why, whylen);
}

cmpd_err
nw_txn_body_set(struct nw_txn *t, const Cmpd__TxnStartReq *r, EVP_PKEY *new_key,
    char *why, size_t whylen)
{
	cmpd_err rv;

	if (nw_txn_is_certreq(t))
		return req_certreq_set(t, r, new_key, why, whylen);
	if (t->op == CMPD__CMP_OP__CMP_OP_GENM)
		return nw_genm_prepare(t, r, why, whylen);
	/* RR: -1 is "no reason code"; OpenSSL refuses values above 10. */
	if ((rv = req_old_cert_set(t, r, why, whylen)) != CMPD_OK)
		return rv;
	if (!OSSL_CMP_CTX_set_option(
	        t->ctx, OSSL_CMP_OPT_REVOCATION_REASON, r->revocation_reason)) {
		WHY("revocation reason %d is out of range",
		    (int)r->revocation_reason);
		return CMPD_EINVAL;
	}
	return CMPD_OK;
}
