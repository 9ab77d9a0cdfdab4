/*
 * What the test CA answers to a genm (RFC 9483 4.3): the CA certificates,
 * the root CA key update and the certificate request template. OpenSSL 3.0
 * knows none of these values, so they are described below with OpenSSL's
 * ASN.1 templates and sent as the ITAV's ANY value; the answers are made
 * once, when `serve` starts.
 */
#include <openssl/asn1t.h>
#include <openssl/crmf.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "log.h"
#include "srvint.h"

#define OID_IT_ROOT_CA_CERT  "1.3.6.1.5.5.7.4.20"
#define OID_REG_CTRL_ALG_ID  "1.3.6.1.5.5.7.5.1.11"
#define TCA_TEMPLATE_SUBJECT "cmpd test"

/*
 * RootCaKeyUpdateContent ::= SEQUENCE {
 *     newWithNew  CMPCertificate,
 *     newWithOld  [0] CMPCertificate OPTIONAL,
 *     oldWithNew  [1] CMPCertificate OPTIONAL }
 * (RFC 9810 5.3.19.15; the module's tags are EXPLICIT.)
 */
typedef struct {
	X509 *new_with_new;
	X509 *new_with_old;
	X509 *old_with_new;
} TCA_ROOT_UPDATE;

ASN1_SEQUENCE(TCA_ROOT_UPDATE) = {
	ASN1_SIMPLE(TCA_ROOT_UPDATE, new_with_new, X509),
	ASN1_EXP_OPT(TCA_ROOT_UPDATE, new_with_old, X509, 0),
	ASN1_EXP_OPT(TCA_ROOT_UPDATE, old_with_new, X509, 1),
} static_ASN1_SEQUENCE_END(TCA_ROOT_UPDATE)

/* AttributeTypeAndValue ::= SEQUENCE { type OID, value ANY } (RFC 4211) */
typedef struct {
	ASN1_OBJECT *type;
	ASN1_TYPE *value;
} TCA_ATAV;

DEFINE_STACK_OF(TCA_ATAV)

ASN1_SEQUENCE(TCA_ATAV) = {
	ASN1_SIMPLE(TCA_ATAV, type, ASN1_OBJECT),
	ASN1_SIMPLE(TCA_ATAV, value, ASN1_ANY),
} static_ASN1_SEQUENCE_END(TCA_ATAV)

/*
 * CertReqTemplateContent ::= SEQUENCE {
 *     certTemplate  CertTemplate,
 *     keySpec       Controls OPTIONAL }
 * Controls ::= SEQUENCE SIZE (1..MAX) OF AttributeTypeAndValue
 */
typedef struct {
	OSSL_CRMF_CERTTEMPLATE *cert_template;
	STACK_OF(TCA_ATAV) * key_spec;
} TCA_REQ_TEMPLATE;

ASN1_SEQUENCE(TCA_REQ_TEMPLATE) = {
	ASN1_SIMPLE(TCA_REQ_TEMPLATE, cert_template, OSSL_CRMF_CERTTEMPLATE),
	ASN1_SEQUENCE_OF_OPT(TCA_REQ_TEMPLATE, key_spec, TCA_ATAV),
} static_ASN1_SEQUENCE_END(TCA_REQ_TEMPLATE)

/* caCerts: SEQUENCE SIZE (1..MAX) OF CMPCertificate (RFC 9810 5.3.19.14) */
ASN1_ITEM_TEMPLATE(TCA_CERTS) = ASN1_EX_TEMPLATE_TYPE(
    ASN1_TFLG_SEQUENCE_OF, 0, TCA_CERTS, X509)
static_ASN1_ITEM_TEMPLATE_END(TCA_CERTS)

IMPLEMENT_STATIC_ASN1_ALLOC_FUNCTIONS(TCA_ATAV)
IMPLEMENT_STATIC_ASN1_ALLOC_FUNCTIONS(TCA_REQ_TEMPLATE)

/* The DER of val as the SEQUENCE contents of an ITAV's ANY value. */
static cmpd_err
genm_value(const ASN1_ITEM *it, const void *val, ASN1_STRING **out)
{
	unsigned char *der = NULL;
	int len = ASN1_item_i2d((const ASN1_VALUE *)val, &der, it);
	ASN1_STRING *s = len > 0 ? ASN1_STRING_type_new(V_ASN1_SEQUENCE) : NULL;

	if (s == NULL) {
		OPENSSL_free(der);
		return CMPD_ECRYPTO;
	}
	ASN1_STRING_set0(s, der, len);
	*out = s;
	return CMPD_OK;
}

/* The DER SEQUENCE OF Certificate answering caCerts: [ca, root]. */
static cmpd_err
genm_ca_certs(struct tca_server *srv)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	cmpd_err rv = CMPD_ENOMEM;

	if (sk != NULL && sk_X509_push(sk, srv->issuer.cert) > 0 &&
	    sk_X509_push(sk, srv->root) > 0)
		rv = genm_value(ASN1_ITEM_rptr(TCA_CERTS), sk, &srv->ca_certs);
	sk_X509_free(sk); /* the certificates stay the server's */
	return rv;
}

/* newwithold.pem signed by the new key instead of the current root's:
 * the names still chain, the signature does not. */
static cmpd_err
genm_forge_new_with_old(const char *dir, X509 *good, X509 **out)
{
	X509 *newroot = NULL, *bad = NULL;
	EVP_PKEY *key = NULL;
	cmpd_err rv;

	rv = tca_load_cert(dir, "newroot.pem", &newroot);
	if (rv == CMPD_OK)
		rv = tca_load_key(dir, "newroot.key", newroot, &key);
	if (rv == CMPD_OK && (bad = X509_dup(good)) == NULL)
		rv = CMPD_ENOMEM;
	if (rv == CMPD_OK)
		rv = tca_cert_sign(bad, key);
	if (rv == CMPD_OK) {
		*out = bad;
		bad = NULL;
	}
	X509_free(bad);
	X509_free(newroot);
	EVP_PKEY_free(key);
	return rv;
}

/* The RootCaKeyUpdateContent of newroot.pem, newwithold.pem and
 * oldwithnew.pem (with --bad-root-update, a forged newWithOld). */
static cmpd_err
genm_root_update(struct tca_server *srv, const char *dir)
{
	TCA_ROOT_UPDATE upd = { NULL, NULL, NULL };
	X509 *forged = NULL;
	cmpd_err rv;

	rv = tca_load_cert(dir, "newroot.pem", &upd.new_with_new);
	if (rv == CMPD_OK)
		rv = tca_load_cert(dir, "newwithold.pem", &upd.new_with_old);
	if (rv == CMPD_OK)
		rv = tca_load_cert(dir, "oldwithnew.pem", &upd.old_with_new);
	if (rv == CMPD_OK && srv->opts.root_update == TCA_ROOT_UPDATE_BAD) {
		rv = genm_forge_new_with_old(dir, upd.new_with_old, &forged);
		if (rv == CMPD_OK) {
			X509_free(upd.new_with_old);
			upd.new_with_old = forged;
		}
	}
	if (rv == CMPD_OK)
		rv = genm_value(
		    ASN1_ITEM_rptr(TCA_ROOT_UPDATE), &upd, &srv->root_update);
	X509_free(upd.new_with_new);
	X509_free(upd.new_with_old);
	X509_free(upd.old_with_new);
	return rv;
}

/* The certTemplate: subject O=cmpd test and a subjectAltName extension
 * with an empty extnValue, a placeholder for the names the EE supplies. */
static cmpd_err
genm_cert_template(OSSL_CRMF_CERTTEMPLATE **out)
{
	OSSL_CRMF_MSG *crm = OSSL_CRMF_MSG_new();
	X509_NAME *subject = X509_NAME_new();
	X509_EXTENSIONS *exts = sk_X509_EXTENSION_new_null();
	ASN1_OCTET_STRING *empty = ASN1_OCTET_STRING_new();
	X509_EXTENSION *san = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	int len = 0;

	if (crm != NULL && subject != NULL && exts != NULL && empty != NULL &&
	    X509_NAME_add_entry_by_NID(subject, NID_organizationName,
	        MBSTRING_UTF8, (const unsigned char *)TCA_TEMPLATE_SUBJECT, -1,
	        -1, 0) &&
	    OSSL_CRMF_CERTTEMPLATE_fill(
	        OSSL_CRMF_MSG_get0_tmpl(crm), NULL, subject, NULL, NULL) &&
	    (san = X509_EXTENSION_create_by_NID(
	         NULL, NID_subject_alt_name, 0, empty)) != NULL &&
	    sk_X509_EXTENSION_push(exts, san) > 0) {
		san = NULL;
		if (OSSL_CRMF_MSG_set0_extensions(crm, exts))
			exts = NULL;
		len = i2d_OSSL_CRMF_CERTTEMPLATE(
		    OSSL_CRMF_MSG_get0_tmpl(crm), &der);
	}
	p = der;
	*out = len > 0 ? d2i_OSSL_CRMF_CERTTEMPLATE(NULL, &p, len) : NULL;
	OPENSSL_free(der);
	X509_EXTENSION_free(san);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	ASN1_OCTET_STRING_free(empty);
	X509_NAME_free(subject);
	OSSL_CRMF_MSG_free(crm);
	return *out != NULL ? CMPD_OK : CMPD_ECRYPTO;
}

/* keySpec: one id-regCtrl-algId control naming an EC P-256 key. */
static cmpd_err
genm_key_spec(STACK_OF(TCA_ATAV) * *out)
{
	STACK_OF(TCA_ATAV) *sk = sk_TCA_ATAV_new_null();
	TCA_ATAV *atav = TCA_ATAV_new();
	X509_ALGOR *alg = X509_ALGOR_new();
	int ok = sk != NULL && atav != NULL && alg != NULL &&
	    X509_ALGOR_set0(alg, OBJ_nid2obj(NID_X9_62_id_ecPublicKey),
	        V_ASN1_OBJECT, OBJ_nid2obj(NID_X9_62_prime256v1)) &&
	    (atav->type = OBJ_txt2obj(OID_REG_CTRL_ALG_ID, 1)) != NULL &&
	    ASN1_TYPE_pack_sequence(
	        ASN1_ITEM_rptr(X509_ALGOR), alg, &atav->value) != NULL &&
	    sk_TCA_ATAV_push(sk, atav) > 0;

	X509_ALGOR_free(alg);
	if (!ok) {
		TCA_ATAV_free(atav);
		sk_TCA_ATAV_pop_free(sk, TCA_ATAV_free);
		return CMPD_ECRYPTO;
	}
	*out = sk;
	return CMPD_OK;
}

static cmpd_err
genm_req_template(struct tca_server *srv)
{
	TCA_REQ_TEMPLATE *t = TCA_REQ_TEMPLATE_new();
	cmpd_err rv = t != NULL ? CMPD_OK : CMPD_ENOMEM;

	/* TCA_REQ_TEMPLATE_new made an empty template: replace it. */
	if (rv == CMPD_OK) {
		OSSL_CRMF_CERTTEMPLATE_free(t->cert_template);
		t->cert_template = NULL;
		rv = genm_cert_template(&t->cert_template);
	}
	if (rv == CMPD_OK)
		rv = genm_key_spec(&t->key_spec);
	if (rv == CMPD_OK)
		rv = genm_value(
		    ASN1_ITEM_rptr(TCA_REQ_TEMPLATE), t, &srv->req_template);
	TCA_REQ_TEMPLATE_free(t);
	return rv;
}

cmpd_err
tca_genm_init(struct tca_server *srv, const char *dir)
{
	cmpd_err rv = genm_ca_certs(srv);

	srv->oid_root_ca_cert = OBJ_txt2obj(OID_IT_ROOT_CA_CERT, 1);
	if (srv->oid_root_ca_cert == NULL)
		rv = CMPD_ECRYPTO;
	if (rv == CMPD_OK && srv->opts.root_update != TCA_ROOT_UPDATE_NONE)
		rv = genm_root_update(srv, dir);
	if (rv == CMPD_OK && !srv->opts.no_template)
		rv = genm_req_template(srv);
	if (rv != CMPD_OK)
		cmpd_log_openssl(CMPD_LOG_ERR, "making the genm answers");
	return rv;
}

void
tca_genm_fini(struct tca_server *srv)
{
	ASN1_STRING_free(srv->ca_certs);
	ASN1_STRING_free(srv->root_update);
	ASN1_STRING_free(srv->req_template);
	ASN1_OBJECT_free(srv->oid_root_ca_cert);
	srv->ca_certs = srv->root_update = srv->req_template = NULL;
	srv->oid_root_ca_cert = NULL;
}

/*
 * Whether the rootCaCert value of a genm names our current root: an absent
 * value does (RFC 9483 4.3.2 lets the EE leave it out); a certificate that
 * is not root.pem does not, and gets no update.
 */
static int
genm_is_our_root(struct tca_server *srv, const OSSL_CMP_ITAV *in)
{
	const ASN1_TYPE *v = OSSL_CMP_ITAV_get0_value(in);
	const unsigned char *p;
	X509 *cert;
	int ours;

	if (v == NULL)
		return 1;
	if (ASN1_TYPE_get(v) != V_ASN1_SEQUENCE)
		return 0;
	p = ASN1_STRING_get0_data(v->value.sequence);
	cert = d2i_X509(NULL, &p, ASN1_STRING_length(v->value.sequence));
	ours = cert != NULL && X509_cmp(cert, srv->root) == 0;
	X509_free(cert);
	ERR_clear_error();
	return ours;
}

/* An ITAV of a copy of type carrying the SEQUENCE der (NULL: no value). */
static OSSL_CMP_ITAV *
genm_itav(const ASN1_OBJECT *type, const ASN1_STRING *der)
{
	ASN1_OBJECT *t = OBJ_dup(type);
	ASN1_TYPE *value = NULL;
	OSSL_CMP_ITAV *out = NULL;

	if (t == NULL ||
	    (der != NULL &&
	        ((value = ASN1_TYPE_new()) == NULL ||
	            !ASN1_TYPE_set1(value, V_ASN1_SEQUENCE, der))))
		goto out;
	out = OSSL_CMP_ITAV_create(t, value);
out:
	if (out == NULL) {
		ASN1_TYPE_free(value);
		ASN1_OBJECT_free(t);
	}
	return out;
}

OSSL_CMP_ITAV *
tca_genm_answer(
    struct tca_server *srv, const OSSL_CMP_ITAV *in, char *note, size_t len)
{
	const ASN1_OBJECT *type = OSSL_CMP_ITAV_get0_type(in);
	int nid = OBJ_obj2nid(type);
	const ASN1_STRING *value = NULL;

	OBJ_obj2txt(note, (int)len, type, 0);
	if (nid == NID_id_it_caCerts)
		return genm_itav(type, srv->ca_certs);
	if (nid == NID_id_it_certReqTemplate)
		return genm_itav(type, srv->req_template);
	/* rootCaCert is answered with rootCaKeyUpdate (RFC 9483 4.3.2); so
	 * is rootCaKeyUpdate itself, all OpenSSL 3.0's CLI can ask for. */
	if (OBJ_cmp(type, srv->oid_root_ca_cert) != 0 &&
	    nid != NID_id_it_rootCaKeyUpdate)
		return genm_itav(type, NULL); /* RFC 9483 allows no value */
	if (nid == NID_id_it_rootCaKeyUpdate || genm_is_our_root(srv, in))
		value = srv->root_update;
	else
		cmpd_strlcpy(note, "rootCaCert (not our root)", len);
	return genm_itav(OBJ_nid2obj(NID_id_it_rootCaKeyUpdate), value);
}
