/*
 * General messages (RFC 9483 section 4.3): the CA certificates
 * (id-it-caCerts), a root CA key update (id-it-rootCaCert with the current
 * root, answered by id-it-rootCaKeyUpdate) and the certificate request
 * template (id-it-certReqTemplate). Each answer may come without a value:
 * the CA has nothing to give.
 *
 * OpenSSL 3.0 knows these types only as object identifiers: its ITAV
 * decoder keeps their values as ASN1_TYPE. Here they are decoded with
 * ASN.1 templates of their RFC 9810 definitions. OpenSSL 3.2 added
 * OSSL_CMP_get1_caCerts and OSSL_CMP_get1_rootCaKeyUpdate, 3.4
 * OSSL_CMP_get1_certReqTemplate; built against those versions, this file
 * uses them instead (and its own decoders are not compiled). A new root is
 * checked here in every case before it is reported.
 */
#include <openssl/asn1t.h>
#include <openssl/cmperr.h>
#include <openssl/crmf.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "log.h"
#include "txn_int.h"

#define GENM_LIB_CACERTS  (OPENSSL_VERSION_NUMBER >= 0x30200000L)
#define GENM_LIB_TEMPLATE (OPENSSL_VERSION_NUMBER >= 0x30400000L)

/* The infoTypes: what a genm asks with, what its genp answers with. */
#define OID_IT_CACERTS    "1.3.6.1.5.5.7.4.17"
#define OID_IT_ROOTUPDATE "1.3.6.1.5.5.7.4.18"
#define OID_IT_TEMPLATE   "1.3.6.1.5.5.7.4.19"
#define OID_IT_ROOTCERT   "1.3.6.1.5.5.7.4.20"

static const struct genm_kind {
	Cmpd__GenmType type;
	const char *ask;    /* the genm's infoType */
	const char *answer; /* the genp's */
	const char *name;
} genm_kinds[] = {
	{ CMPD__GENM_TYPE__GENM_CA_CERTS, OID_IT_CACERTS, OID_IT_CACERTS,
	    "caCerts" },
	{ CMPD__GENM_TYPE__GENM_ROOT_CA_KEY_UPDATE, OID_IT_ROOTCERT,
	    OID_IT_ROOTUPDATE, "rootCaKeyUpdate" },
	{ CMPD__GENM_TYPE__GENM_CERT_REQ_TEMPLATE, OID_IT_TEMPLATE,
	    OID_IT_TEMPLATE, "certReqTemplate" },
};

static const struct genm_kind *
genm_kind(Cmpd__GenmType type)
{
	for (size_t i = 0; i < CMPD_ARRAY_LEN(genm_kinds); i++)
		if (genm_kinds[i].type == type)
			return &genm_kinds[i];
	return NULL;
}

/* ------------------------------------------------------------------ */
/* The checks of a root CA key update, whatever decoded it.            */

/* X509_cmp_current_time: -1 before now, 1 after, 0 on error. */
static const char *
genm_time_problem(const X509 *x)
{
	if (X509_cmp_current_time(X509_get0_notBefore(x)) >= 0)
		return "is not valid yet";
	if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0)
		return "has expired";
	return NULL;
}

/* newWithNew: a self-signed CA certificate. */
static cmpd_err
genm_new_root_check(X509 *nwn, char *why, size_t whylen)
{
	if (X509_check_ca(nwn) < 1) {
		WHY("newWithNew is not a CA certificate");
		return CMPD_EBADCERT;
	}
	if (X509_self_signed(nwn, 1) != 1) {
		WHY("newWithNew is not self-signed (it does not verify with "
		    "its own key)");
		return CMPD_EBADCERT;
	}
	return CMPD_OK;
}

/*
 * newWithOld: newWithNew's subject and key, issued and signed by the
 * current anchor, valid now. This is what ties the new root to the old.
 */
static cmpd_err
genm_new_with_old_check(
    X509 *old, X509 *nwn, X509 *nwo, char *why, size_t whylen)
{
	const char *when;
	int rc;

	if (nwo == NULL)
		WHY("the CA sent no newWithOld, so the new root cannot be "
		    "checked against the current one");
	else if (X509_NAME_cmp(X509_get_subject_name(nwo),
	             X509_get_subject_name(nwn)) != 0)
		WHY("newWithOld's subject is not newWithNew's");
	else if (EVP_PKEY_eq(X509_get0_pubkey(nwo), X509_get0_pubkey(nwn)) != 1)
		WHY("newWithOld does not carry newWithNew's public key");
	else if ((rc = X509_check_issued(old, nwo)) != X509_V_OK)
		WHY("newWithOld is not issued by the current root CA "
		    "(trusted[0]): %s",
		    X509_verify_cert_error_string(rc));
	else if (X509_verify(nwo, X509_get0_pubkey(old)) != 1)
		WHY("newWithOld's signature does not verify with the current "
		    "root CA's key (trusted[0])");
	else if ((when = genm_time_problem(nwo)) != NULL)
		WHY("newWithOld %s", when);
	else
		return CMPD_OK;
	return CMPD_EBADCERT;
}

/* oldWithNew, if sent: the current anchor's key, signed by the new one. */
static cmpd_err
genm_old_with_new_check(
    X509 *old, X509 *nwn, X509 *own, char *why, size_t whylen)
{
	if (own == NULL)
		return CMPD_OK;
	if (EVP_PKEY_eq(X509_get0_pubkey(own), X509_get0_pubkey(old)) != 1)
		WHY("oldWithNew does not carry the current root CA's key");
	else if (X509_verify(own, X509_get0_pubkey(nwn)) != 1)
		WHY("oldWithNew's signature does not verify with the new root "
		    "CA's key");
	else
		return CMPD_OK;
	return CMPD_EBADCERT;
}

/* Checks the update and, if it passes, keeps it in res (references). */
static cmpd_err
genm_root_update_take(const struct nw_txn *t, X509 *nwn, X509 *nwo, X509 *own,
    struct nw_genm_result *res, char *why, size_t whylen)
{
	char reason[400];
	cmpd_err rv;

	if ((rv = genm_new_root_check(nwn, reason, sizeof(reason))) != 0 ||
	    (rv = genm_new_with_old_check(
	         t->old_root, nwn, nwo, reason, sizeof(reason))) != 0 ||
	    (rv = genm_old_with_new_check(
	         t->old_root, nwn, own, reason, sizeof(reason))) != 0) {
		WHY("the root CA key update from %.200s is refused: %s", t->url,
		    reason);
		return rv;
	}
	if (!X509_up_ref(nwn) || !X509_up_ref(nwo) ||
	    (own != NULL && !X509_up_ref(own)))
		return CMPD_ENOMEM; /* cannot fail: reference counts */
	res->new_root = nwn;
	res->new_with_old = nwo;
	res->old_with_new = own;
	return CMPD_OK;
}

/* ------------------------------------------------------------------ */
/* OpenSSL 3.0 and 3.1: the questions and the answers' decoders.       */

#if !GENM_LIB_TEMPLATE
/* Pushes an ITAV of type oid with value (taken; NULL: none). */
static cmpd_err
genm_itav_push(OSSL_CMP_CTX *ctx, const char *oid, ASN1_TYPE *value)
{
	ASN1_OBJECT *type = OBJ_txt2obj(oid, 1);
	OSSL_CMP_ITAV *itav = NULL;

	if (type == NULL ||
	    (itav = OSSL_CMP_ITAV_create(type, value)) == NULL) {
		ASN1_OBJECT_free(type);
		ASN1_TYPE_free(value);
		return CMPD_ENOMEM;
	}
	if (!OSSL_CMP_CTX_push0_genm_ITAV(ctx, itav)) {
		OSSL_CMP_ITAV_free(itav);
		return CMPD_ENOMEM;
	}
	return CMPD_OK;
}

/*
 * The value of the genp's ITAV of type oid: *value NULL when the ITAV has
 * none. An answer without such an ITAV is unusable.
 */
static cmpd_err
genm_value_find(const struct nw_txn *t, STACK_OF(OSSL_CMP_ITAV) * itavs,
    const struct genm_kind *k, const ASN1_STRING **value, char *why,
    size_t whylen)
{
	ASN1_OBJECT *want = OBJ_txt2obj(k->answer, 1);
	int found = 0;

	*value = NULL;
	for (int i = 0; want != NULL && i < sk_OSSL_CMP_ITAV_num(itavs); i++) {
		OSSL_CMP_ITAV *itav = sk_OSSL_CMP_ITAV_value(itavs, i);
		ASN1_TYPE *v = OSSL_CMP_ITAV_get0_value(itav);

		if (OBJ_cmp(OSSL_CMP_ITAV_get0_type(itav), want) != 0)
			continue;
		found = 1;
		if (v != NULL && v->type == V_ASN1_SEQUENCE)
			*value = v->value.sequence;
		else if (v != NULL)
			found = -1;
		break;
	}
	ASN1_OBJECT_free(want);
	if (found > 0)
		return CMPD_OK;
	WHY("unusable answer from %.300s: %s", t->url,
	    found < 0 ? "its value is not a SEQUENCE"
	              : "it has no value of the type asked for");
	return CMPD_ETRANSPORT;
}

/* Decodes exactly the DER of value with item; NULL if that fails. */
static ASN1_VALUE *
genm_decode(const ASN1_STRING *value, const ASN1_ITEM *item)
{
	const unsigned char *p = ASN1_STRING_get0_data(value);
	long len = ASN1_STRING_length(value);
	ASN1_VALUE *v = ASN1_item_d2i(NULL, &p, len, item);

	if (v != NULL && p != ASN1_STRING_get0_data(value) + len) {
		ASN1_item_free(v, item);
		v = NULL;
	}
	return v;
}
#endif

#if !GENM_LIB_CACERTS
/*
 * OpenSSL's ASN.1 template macros end without semicolons, which
 * clang-format cannot lay out.
 */
/* clang-format off */

/* caCerts: SEQUENCE SIZE (1..MAX) OF CMPCertificate. */
typedef STACK_OF(X509) NW_CERTS;

ASN1_ITEM_TEMPLATE(NW_CERTS) =
	ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_SEQUENCE_OF, 0, NW_CERTS, X509)
static_ASN1_ITEM_TEMPLATE_END(NW_CERTS)

/*
 * RootCaKeyUpdateContent ::= SEQUENCE { newWithNew CMPCertificate,
 *   newWithOld [0] CMPCertificate OPTIONAL,
 *   oldWithNew [1] CMPCertificate OPTIONAL }
 * (explicit tags: the module has EXPLICIT TAGS).
 */
typedef struct {
	X509 *new_with_new;
	X509 *new_with_old;
	X509 *old_with_new;
} NW_ROOTCA_UPDATE;

ASN1_SEQUENCE(NW_ROOTCA_UPDATE) = {
	ASN1_SIMPLE(NW_ROOTCA_UPDATE, new_with_new, X509),
	ASN1_EXP_OPT(NW_ROOTCA_UPDATE, new_with_old, X509, 0),
	ASN1_EXP_OPT(NW_ROOTCA_UPDATE, old_with_new, X509, 1),
} static_ASN1_SEQUENCE_END(NW_ROOTCA_UPDATE)

/* clang-format on */

/* rootCaCert carries the current root, a Certificate. */
static cmpd_err
genm_root_cert_value(const X509 *root, ASN1_TYPE **out)
{
	ASN1_STRING *seq = ASN1_STRING_new();
	unsigned char *der = NULL;
	int len = i2d_X509(root, &der);

	if (seq == NULL || len <= 0 || (*out = ASN1_TYPE_new()) == NULL) {
		ASN1_STRING_free(seq);
		OPENSSL_free(der);
		return CMPD_ENOMEM;
	}
	ASN1_STRING_set0(seq, der, len);
	ASN1_TYPE_set(*out, V_ASN1_SEQUENCE, seq);
	return CMPD_OK;
}

static cmpd_err
genm_ask_own(struct nw_txn *t, const struct genm_kind *k)
{
	ASN1_TYPE *value = NULL;
	cmpd_err rv;

	if (k->type == CMPD__GENM_TYPE__GENM_ROOT_CA_KEY_UPDATE &&
	    (rv = genm_root_cert_value(t->old_root, &value)) != CMPD_OK)
		return rv;
	return genm_itav_push(t->ctx, k->ask, value);
}

static cmpd_err
genm_cacerts_own(const struct nw_txn *t, const ASN1_STRING *value,
    struct nw_genm_result *res, char *why, size_t whylen)
{
	NW_CERTS *certs =
	    (NW_CERTS *)genm_decode(value, ASN1_ITEM_rptr(NW_CERTS));

	if (certs == NULL || sk_X509_num(certs) == 0) {
		sk_X509_pop_free(certs, X509_free);
		WHY("unusable caCerts answer from %.300s: not a SEQUENCE OF "
		    "Certificate",
		    t->url);
		return CMPD_ETRANSPORT;
	}
	res->ca_certs = certs;
	return CMPD_OK;
}

static cmpd_err
genm_root_update_own(const struct nw_txn *t, const ASN1_STRING *value,
    struct nw_genm_result *res, char *why, size_t whylen)
{
	const ASN1_ITEM *item = ASN1_ITEM_rptr(NW_ROOTCA_UPDATE);
	NW_ROOTCA_UPDATE *u = (NW_ROOTCA_UPDATE *)genm_decode(value, item);
	cmpd_err rv;

	if (u == NULL) {
		WHY("unusable rootCaKeyUpdate answer from %.300s: not a "
		    "RootCaKeyUpdateContent",
		    t->url);
		return CMPD_ETRANSPORT;
	}
	rv = genm_root_update_take(t, u->new_with_new, u->new_with_old,
	    u->old_with_new, res, why, whylen);
	ASN1_item_free((ASN1_VALUE *)u, item);
	return rv;
}
#endif

#if !GENM_LIB_TEMPLATE
/* clang-format off */

/*
 * CertReqTemplateContent ::= SEQUENCE { certTemplate CertTemplate,
 *   keySpec Controls OPTIONAL }
 * Controls ::= SEQUENCE SIZE (1..MAX) OF AttributeTypeAndValue
 */
typedef struct {
	ASN1_OBJECT *type;
	ASN1_TYPE *value;
} NW_ATAV;

ASN1_SEQUENCE(NW_ATAV) = {
	ASN1_SIMPLE(NW_ATAV, type, ASN1_OBJECT),
	ASN1_SIMPLE(NW_ATAV, value, ASN1_ANY),
} static_ASN1_SEQUENCE_END(NW_ATAV)

DEFINE_STACK_OF(NW_ATAV)
typedef STACK_OF(NW_ATAV) NW_CONTROLS;

ASN1_ITEM_TEMPLATE(NW_CONTROLS) =
	ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_SEQUENCE_OF, 0, NW_CONTROLS, NW_ATAV)
static_ASN1_ITEM_TEMPLATE_END(NW_CONTROLS)

typedef struct {
	OSSL_CRMF_CERTTEMPLATE *tmpl;
	NW_CONTROLS *key_spec;
} NW_TEMPLATE;

ASN1_SEQUENCE(NW_TEMPLATE) = {
	ASN1_SIMPLE(NW_TEMPLATE, tmpl, OSSL_CRMF_CERTTEMPLATE),
	ASN1_OPT(NW_TEMPLATE, key_spec, NW_CONTROLS),
} static_ASN1_SEQUENCE_END(NW_TEMPLATE)

/* clang-format on */

/* Re-encodes what was decoded: DER, whatever the CA sent. */
static cmpd_err
genm_template_der(const NW_TEMPLATE *tp, struct nw_genm_result *res)
{
	int len;

	if ((len = i2d_OSSL_CRMF_CERTTEMPLATE(tp->tmpl, &res->cert_template)) <=
	    0)
		return CMPD_ENOMEM;
	res->cert_template_len = (size_t)len;
	if (tp->key_spec == NULL)
		return CMPD_OK;
	len = ASN1_item_i2d((ASN1_VALUE *)tp->key_spec, &res->key_spec,
	    ASN1_ITEM_rptr(NW_CONTROLS));
	if (len <= 0)
		return CMPD_ENOMEM;
	res->key_spec_len = (size_t)len;
	return CMPD_OK;
}

static cmpd_err
genm_template_own(const struct nw_txn *t, const ASN1_STRING *value,
    struct nw_genm_result *res, char *why, size_t whylen)
{
	const ASN1_ITEM *item = ASN1_ITEM_rptr(NW_TEMPLATE);
	NW_TEMPLATE *tp = (NW_TEMPLATE *)genm_decode(value, item);
	cmpd_err rv;

	if (tp == NULL ||
	    (tp->key_spec != NULL && sk_NW_ATAV_num(tp->key_spec) == 0)) {
		ASN1_item_free((ASN1_VALUE *)tp, item);
		WHY("unusable certReqTemplate answer from %.300s: not a "
		    "CertReqTemplateContent",
		    t->url);
		return CMPD_ETRANSPORT;
	}
	rv = genm_template_der(tp, res);
	ASN1_item_free((ASN1_VALUE *)tp, item);
	return rv;
}

/* One exchange with our own question; the answer by its decoder. */
static cmpd_err
genm_run_own(struct nw_txn *t, const struct genm_kind *k,
    struct nw_genm_result *res, char *why, size_t whylen)
{
	STACK_OF(OSSL_CMP_ITAV) *itavs = OSSL_CMP_exec_GENM_ses(t->ctx);
	const ASN1_STRING *value = NULL;
	cmpd_err rv;

	if (itavs == NULL)
		return CMPD_ETRANSPORT; /* why empty: the exchange failed */
	rv = genm_value_find(t, itavs, k, &value, why, whylen);
	if (rv == CMPD_OK && value == NULL)
		res->empty = 1;
	else if (rv == CMPD_OK &&
	    k->type == CMPD__GENM_TYPE__GENM_CERT_REQ_TEMPLATE)
		rv = genm_template_own(t, value, res, why, whylen);
#if !GENM_LIB_CACERTS
	else if (rv == CMPD_OK && k->type == CMPD__GENM_TYPE__GENM_CA_CERTS)
		rv = genm_cacerts_own(t, value, res, why, whylen);
	else if (rv == CMPD_OK)
		rv = genm_root_update_own(t, value, res, why, whylen);
#endif
	sk_OSSL_CMP_ITAV_pop_free(itavs, OSSL_CMP_ITAV_free);
	return rv;
}
#endif

/* ------------------------------------------------------------------ */
/* OpenSSL 3.2 and later: its own genm helpers.                        */

#if GENM_LIB_CACERTS
/*
 * The helpers fail alike whether the exchange or the answer was bad. A
 * root update that failed OpenSSL's validation says so; another failure
 * after a genp came is an unusable answer; anything else, the exchange.
 */
static cmpd_err
genm_lib_failed(
    const struct nw_txn *t, const struct genm_kind *k, char *why, size_t whylen)
{
	unsigned long e = ERR_peek_last_error();

	if (ERR_GET_LIB(e) == ERR_LIB_CMP &&
	    ERR_GET_REASON(e) == CMP_R_INVALID_ROOTCAKEYUPDATE) {
		WHY("the root CA key update from %.200s is refused: it does "
		    "not validate with the current root CA (trusted[0])",
		    t->url);
		return CMPD_EBADCERT;
	}
	if (ERR_GET_LIB(e) == ERR_LIB_CMP &&
	    ERR_GET_REASON(e) == CMP_R_INVALID_GENP) {
		WHY("unusable %s answer from %.300s", k->name, t->url);
		return CMPD_ETRANSPORT;
	}
	return CMPD_ETRANSPORT; /* why empty: the exchange failed */
}

static cmpd_err
genm_cacerts_lib(struct nw_txn *t, const struct genm_kind *k,
    struct nw_genm_result *res, char *why, size_t whylen)
{
	STACK_OF(X509) *certs = NULL;

	if (OSSL_CMP_get1_caCerts(t->ctx, &certs) != 1)
		return genm_lib_failed(t, k, why, whylen);
	res->empty = certs == NULL;
	res->ca_certs = certs;
	return CMPD_OK;
}

static cmpd_err
genm_root_update_lib(struct nw_txn *t, const struct genm_kind *k,
    struct nw_genm_result *res, char *why, size_t whylen)
{
	X509 *nwn = NULL, *nwo = NULL, *own = NULL;
	cmpd_err rv = CMPD_OK;

	if (OSSL_CMP_get1_rootCaKeyUpdate(
	        t->ctx, t->old_root, &nwn, &nwo, &own) != 1)
		return genm_lib_failed(t, k, why, whylen);
	if (nwn == NULL)
		res->empty = 1;
	else
		rv = genm_root_update_take(t, nwn, nwo, own, res, why, whylen);
	X509_free(nwn);
	X509_free(nwo);
	X509_free(own);
	return rv;
}
#endif

#if GENM_LIB_TEMPLATE
static cmpd_err
genm_template_lib(struct nw_txn *t, const struct genm_kind *k,
    struct nw_genm_result *res, char *why, size_t whylen)
{
	OSSL_CRMF_CERTTEMPLATE *tmpl = NULL;
	OSSL_CMP_ATAVS *spec = NULL;
	cmpd_err rv = CMPD_OK;
	int len;

	if (OSSL_CMP_get1_certReqTemplate(t->ctx, &tmpl, &spec) != 1)
		return genm_lib_failed(t, k, why, whylen);
	if (tmpl == NULL) {
		res->empty = 1;
	} else if ((len = i2d_OSSL_CRMF_CERTTEMPLATE(
	                tmpl, &res->cert_template)) <= 0) {
		rv = CMPD_ENOMEM;
	} else {
		res->cert_template_len = (size_t)len;
		if (spec != NULL &&
		    (len = i2d_OSSL_CMP_ATAVS(spec, &res->key_spec)) <= 0)
			rv = CMPD_ENOMEM;
		else if (spec != NULL)
			res->key_spec_len = (size_t)len;
	}
	OSSL_CRMF_CERTTEMPLATE_free(tmpl);
	OSSL_CMP_ATAVS_free(spec);
	return rv;
}
#endif

/* ------------------------------------------------------------------ */

/* rootCaKeyUpdate asks about the current root, the first anchor. */
static cmpd_err
genm_old_root_set(
    struct nw_txn *t, const Cmpd__TxnStartReq *r, char *why, size_t whylen)
{
	if (r->n_trusted == 0) {
		WHY("a root CA key update needs the current root CA "
		    "certificate as the first trust anchor (trusted[0])");
		return CMPD_EINVAL;
	}
	if ((t->old_root = nw_txn_cert_decode(t->libctx, &r->trusted[0])) ==
	    NULL) {
		WHY("trusted[0] is not a DER certificate");
		return CMPD_EINVAL;
	}
	return CMPD_OK;
}

cmpd_err
nw_genm_prepare(
    struct nw_txn *t, const Cmpd__TxnStartReq *r, char *why, size_t whylen)
{
	const struct genm_kind *k = genm_kind(r->genm_type);
	cmpd_err rv;

	if (k == NULL) {
		WHY("genm type %d is not known", (int)r->genm_type);
		return CMPD_EINVAL;
	}
	if (k->type == CMPD__GENM_TYPE__GENM_ROOT_CA_KEY_UPDATE &&
	    (rv = genm_old_root_set(t, r, why, whylen)) != CMPD_OK)
		return rv;
#if !GENM_LIB_CACERTS
	return genm_ask_own(t, k);
#elif !GENM_LIB_TEMPLATE
	if (k->type == CMPD__GENM_TYPE__GENM_CERT_REQ_TEMPLATE)
		return genm_itav_push(t->ctx, k->ask, NULL);
	return CMPD_OK;
#else
	return CMPD_OK;
#endif
}

cmpd_err
nw_genm_run(
    struct nw_txn *t, struct nw_genm_result *res, char *why, size_t whylen)
{
	const struct genm_kind *k = genm_kind(t->genm_type);

	why[0] = '\0';
	res->type = t->genm_type;
#if GENM_LIB_CACERTS
	if (k->type == CMPD__GENM_TYPE__GENM_CA_CERTS)
		return genm_cacerts_lib(t, k, res, why, whylen);
	if (k->type == CMPD__GENM_TYPE__GENM_ROOT_CA_KEY_UPDATE)
		return genm_root_update_lib(t, k, res, why, whylen);
#endif
#if GENM_LIB_TEMPLATE
	return genm_template_lib(t, k, res, why, whylen);
#else
	return genm_run_own(t, k, res, why, whylen);
#endif
}

void
nw_genm_result_fini(struct nw_genm_result *res)
{
	sk_X509_pop_free(res->ca_certs, X509_free);
	X509_free(res->new_root);
	X509_free(res->new_with_old);
	X509_free(res->old_with_new);
	OPENSSL_free(res->cert_template);
	OPENSSL_free(res->key_spec);
	memset(res, 0, sizeof(*res));
}
