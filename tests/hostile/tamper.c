#include "tamper.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

#define TAMPER_NONCE_LEN 16

static X509 *
pem_cert_read(const char *pki, const char *name)
{
	char path[512];
	FILE *f;
	X509 *x;

	snprintf(path, sizeof(path), "%s/%s", pki, name);
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

static EVP_PKEY *
pem_key_read(const char *pki, const char *name)
{
	char path[512];
	EVP_PKEY *k;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", pki, name);
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return k;
}

/*
 * A certificate with the subject and subjectKeyIdentifier of the real CMP
 * signer and digitalSignature, issued by the rogue root nobody trusts: the
 * client takes it for the sender's certificate, and only its chain is
 * wrong. (Not self-signed: OpenSSL leaves self-signed certificates out of
 * a message's extraCerts.)
 */
static X509 *
rogue_make(X509 *like, EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key)
{
	X509 *x = X509_new();
	X509_EXTENSION *ku = NULL;
	int skid = X509_get_ext_by_NID(like, NID_subject_key_identifier, -1);
	int ok;

	if (x == NULL)
		return NULL;
	ku = X509V3_EXT_conf_nid(
	    NULL, NULL, NID_key_usage, "critical,digitalSignature");
	ok = ku != NULL && skid >= 0 && X509_set_version(x, 2) &&
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 4242) &&
	    X509_set_subject_name(x, X509_get_subject_name(like)) &&
	    X509_set_issuer_name(x, X509_get_subject_name(ca)) &&
	    X509_gmtime_adj(X509_getm_notBefore(x), -300) &&
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400) &&
	    X509_set_pubkey(x, key) && X509_add_ext(x, ku, -1) &&
	    X509_add_ext(x, X509_get_ext(like, skid), -1) &&
	    X509_sign(x, ca_key, EVP_sha256()) > 0;
	X509_EXTENSION_free(ku);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

cmpd_err
tamper_keys_load(struct tamper_keys *k, const char *pki)
{
	X509 *ca = NULL;
	EVP_PKEY *ca_key = NULL;
	cmpd_err rv = CMPD_OK;

	memset(k, 0, sizeof(*k));
	if ((k->srv_cert = pem_cert_read(pki, "srv.pem")) == NULL ||
	    (k->srv_key = pem_key_read(pki, "srv.key")) == NULL ||
	    (ca = pem_cert_read(pki, "rogue-root.pem")) == NULL ||
	    (ca_key = pem_key_read(pki, "rogue-root.key")) == NULL) {
		log_err("cannot read srv.pem, srv.key, rogue-root.pem and "
		        "rogue-root.key in %s",
		    pki);
		rv = CMPD_EIO;
	} else if ((k->rogue_key = EVP_EC_gen("P-256")) == NULL ||
	    (k->rogue_cert = rogue_make(
	         k->srv_cert, k->rogue_key, ca, ca_key)) == NULL) {
		cmpd_log_openssl(CMPD_LOG_ERR, "rogue signer");
		rv = CMPD_ECRYPTO;
	}
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	if (rv != CMPD_OK)
		tamper_keys_fini(k);
	return rv;
}

void
tamper_keys_fini(struct tamper_keys *k)
{
	X509_free(k->srv_cert);
	EVP_PKEY_free(k->srv_key);
	X509_free(k->rogue_cert);
	EVP_PKEY_free(k->rogue_key);
	memset(k, 0, sizeof(*k));
}

/* The credentials that re-protect a message of kind. */
static int
ctx_creds_set(
    OSSL_CMP_CTX *ctx, const struct tamper_keys *k, enum tamper_kind kind)
{
	static const char wrong[] = "this is not the shared secret";
	static const char ref[] = "device-0001";

	switch (kind) {
	case TAMPER_UNPROTECTED:
		return OSSL_CMP_CTX_set_option(
		    ctx, OSSL_CMP_OPT_UNPROTECTED_SEND, 1);
	case TAMPER_BADMAC:
		return OSSL_CMP_CTX_set1_secretValue(ctx,
		           (const unsigned char *)wrong, sizeof(wrong) - 1) &&
		    OSSL_CMP_CTX_set1_referenceValue(
		        ctx, (const unsigned char *)ref, sizeof(ref) - 1);
	case TAMPER_UNTRUSTED:
		return OSSL_CMP_CTX_set1_cert(ctx, k->rogue_cert) &&
		    OSSL_CMP_CTX_set1_pkey(ctx, k->rogue_key);
	default:
		return OSSL_CMP_CTX_set1_cert(ctx, k->srv_cert) &&
		    OSSL_CMP_CTX_set1_pkey(ctx, k->srv_key);
	}
}

/*
 * Re-protects msg: OSSL_CMP_MSG_update_transactionID writes the context's
 * transactionID (the message's own, or a fresh one for TAMPER_TID) and
 * protects again with the context's credentials.
 */
static cmpd_err
reprotect(const struct tamper_keys *k, enum tamper_kind kind, OSSL_CMP_MSG *msg)
{
	OSSL_CMP_CTX *ctx = OSSL_CMP_CTX_new(NULL, NULL);
	ASN1_OCTET_STRING *tid = NULL;
	unsigned char fresh[TAMPER_NONCE_LEN];
	cmpd_err rv = CMPD_ECRYPTO;

	if (ctx == NULL || !ctx_creds_set(ctx, k, kind))
		goto out;
	if (kind == TAMPER_TID) {
		if ((tid = ASN1_OCTET_STRING_new()) == NULL ||
		    RAND_bytes(fresh, sizeof(fresh)) != 1 ||
		    !ASN1_OCTET_STRING_set(tid, fresh, sizeof(fresh)))
			goto out;
	} else {
		tid = ASN1_OCTET_STRING_dup(OSSL_CMP_HDR_get0_transactionID(
		    OSSL_CMP_MSG_get0_header(msg)));
		if (tid == NULL)
			goto out;
	}
	if (OSSL_CMP_CTX_set1_transactionID(ctx, tid) &&
	    OSSL_CMP_MSG_update_transactionID(ctx, msg))
		rv = CMPD_OK;
out:
	if (rv != CMPD_OK)
		cmpd_log_openssl(CMPD_LOG_ERR, "re-protect");
	ASN1_OCTET_STRING_free(tid);
	OSSL_CMP_CTX_free(ctx);
	return rv;
}

/*
 * OpenSSL 3.0 has no setter for a message's recipNonce: change its first
 * byte in the DER (16 random bytes occur once) and decode again.
 */
static cmpd_err
nonce_flip(OSSL_CMP_MSG **msg)
{
	const ASN1_OCTET_STRING *rn =
	    OSSL_CMP_HDR_get0_recipNonce(OSSL_CMP_MSG_get0_header(*msg));
	unsigned char *der = NULL, *hit;
	const unsigned char *p;
	OSSL_CMP_MSG *out = NULL;
	int len;

	if (rn == NULL || ASN1_STRING_length(rn) <= 0 ||
	    (len = i2d_OSSL_CMP_MSG(*msg, &der)) <= 0)
		return CMPD_EPROTO;
	hit = memmem(der, (size_t)len, ASN1_STRING_get0_data(rn),
	    (size_t)ASN1_STRING_length(rn));
	if (hit != NULL) {
		hit[0] ^= 0x5a;
		p = der;
		out = d2i_OSSL_CMP_MSG(NULL, &p, len);
	}
	OPENSSL_free(der);
	if (out == NULL)
		return CMPD_EPROTO;
	OSSL_CMP_MSG_free(*msg);
	*msg = out;
	return CMPD_OK;
}

/*
 * Drops the message's extraCerts ([1], the last element of a PKIMessage)
 * so that re-protection puts only the new signer's certificates there.
 */
static cmpd_err
extracerts_strip(OSSL_CMP_MSG **msg)
{
	unsigned char *der = NULL, *out = NULL, *w;
	const unsigned char *p, *q, *start, *end;
	OSSL_CMP_MSG *m = NULL;
	long len, l;
	int tag, cls, total = i2d_OSSL_CMP_MSG(*msg, &der), n;

	p = der;
	if (total <= 0 || (ASN1_get_object(&p, &len, &tag, &cls, total) & 0x80))
		goto out;
	end = p + len;
	/* After header and body (whose CHOICE tag may be [1] as well). */
	q = p;
	for (int i = 0; q < end; i++, q += l) {
		start = q;
		if (ASN1_get_object(&q, &l, &tag, &cls, end - q) & 0x80)
			goto out;
		if (i >= 2 && cls == V_ASN1_CONTEXT_SPECIFIC && tag == 1) {
			end = start;
			break;
		}
	}
	n = ASN1_object_size(1, end - p, V_ASN1_SEQUENCE);
	if (n <= 0 || (out = w = OPENSSL_malloc((size_t)n)) == NULL)
		goto out;
	ASN1_put_object(&w, 1, end - p, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
	memcpy(w, p, (size_t)(end - p));
	q = out;
	m = d2i_OSSL_CMP_MSG(NULL, &q, n);
out:
	OPENSSL_free(der);
	OPENSSL_free(out);
	if (m == NULL) {
		cmpd_log_openssl(CMPD_LOG_ERR, "dropping extraCerts");
		return CMPD_EPROTO;
	}
	OSSL_CMP_MSG_free(*msg);
	*msg = m;
	return CMPD_OK;
}

cmpd_err
tamper_apply(
    const struct tamper_keys *k, enum tamper_kind kind, OSSL_CMP_MSG **msg)
{
	cmpd_err rv;

	if (kind == TAMPER_NONCE && (rv = nonce_flip(msg)) != CMPD_OK)
		return rv;
	if (kind == TAMPER_UNTRUSTED && (rv = extracerts_strip(msg)) != CMPD_OK)
		return rv;
	return reprotect(k, kind, *msg);
}

OSSL_CMP_MSG *
tamper_forward(int port, const OSSL_CMP_MSG *req)
{
	OSSL_CMP_CTX *ctx = OSSL_CMP_CTX_new(NULL, NULL);
	OSSL_CMP_MSG *rep = NULL;

	/* Empty proxy settings keep OpenSSL from reading http_proxy. */
	if (ctx != NULL && OSSL_CMP_CTX_set1_server(ctx, "127.0.0.1") &&
	    OSSL_CMP_CTX_set_serverPort(ctx, port) &&
	    OSSL_CMP_CTX_set1_serverPath(ctx, "pkix/") &&
	    OSSL_CMP_CTX_set1_proxy(ctx, "") &&
	    OSSL_CMP_CTX_set1_no_proxy(ctx, "") &&
	    OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_KEEP_ALIVE, 0) &&
	    OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_MSG_TIMEOUT, 30))
		rep = OSSL_CMP_MSG_http_perform(ctx, req);
	if (rep == NULL)
		cmpd_log_openssl(CMPD_LOG_ERR, "forward to the test CA");
	OSSL_CMP_CTX_free(ctx);
	return rep;
}
