/*
 * The test CA's genm answers, asked by OpenSSL's CMP client in-process:
 * caCerts, the root CA key update (good, none, forged) and the certificate
 * request template (RFC 9483 4.3). The answers are decoded here with ASN.1
 * descriptions of our own, written from the RFCs, not with the CA's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <openssl/asn1t.h>
#include <openssl/cmp.h>
#include <openssl/crmf.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "tca_test.h"

#define OID_IT_ROOT_CA_CERT "1.3.6.1.5.5.7.4.20"
#define OID_REG_CTRL_ALG_ID "1.3.6.1.5.5.7.5.1.11"

/* RootCaKeyUpdateContent (RFC 9810 5.3.19.15, EXPLICIT tags). */
typedef struct {
	X509 *new_with_new;
	X509 *new_with_old;
	X509 *old_with_new;
} T_ROOT_UPDATE;

ASN1_SEQUENCE(T_ROOT_UPDATE) = {
	ASN1_SIMPLE(T_ROOT_UPDATE, new_with_new, X509),
	ASN1_EXP_OPT(T_ROOT_UPDATE, new_with_old, X509, 0),
	ASN1_EXP_OPT(T_ROOT_UPDATE, old_with_new, X509, 1),
} static_ASN1_SEQUENCE_END(T_ROOT_UPDATE)

/* AttributeTypeAndValue (RFC 4211). */
typedef struct {
	ASN1_OBJECT *type;
	ASN1_TYPE *value;
} T_ATAV;

DEFINE_STACK_OF(T_ATAV)

ASN1_SEQUENCE(T_ATAV) = {
	ASN1_SIMPLE(T_ATAV, type, ASN1_OBJECT),
	ASN1_SIMPLE(T_ATAV, value, ASN1_ANY),
} static_ASN1_SEQUENCE_END(T_ATAV)

/* CertReqTemplateContent (RFC 9810 5.3.19.16). */
typedef struct {
	OSSL_CRMF_CERTTEMPLATE *cert_template;
	STACK_OF(T_ATAV) * key_spec;
} T_REQ_TEMPLATE;

ASN1_SEQUENCE(T_REQ_TEMPLATE) = {
	ASN1_SIMPLE(T_REQ_TEMPLATE, cert_template, OSSL_CRMF_CERTTEMPLATE),
	ASN1_SEQUENCE_OF_OPT(T_REQ_TEMPLATE, key_spec, T_ATAV),
} static_ASN1_SEQUENCE_END(T_REQ_TEMPLATE)

/* caCerts: SEQUENCE OF Certificate. */
ASN1_ITEM_TEMPLATE(T_CERTS) = ASN1_EX_TEMPLATE_TYPE(
    ASN1_TFLG_SEQUENCE_OF, 0, T_CERTS, X509)
static_ASN1_ITEM_TEMPLATE_END(T_CERTS)

/* Sends a genm with the one ITAV q; returns the genp's only ITAV. */
static OSSL_CMP_ITAV *
genm_ask(struct tca_fixture *f, OSSL_CMP_ITAV *q)
{
	OSSL_CMP_CTX *ctx =
	    tca_test_client_new(f, f->supplier, f->supplier_key);
	STACK_OF(OSSL_CMP_ITAV) * itavs;
	OSSL_CMP_ITAV *a;

	assert_true(OSSL_CMP_CTX_push0_genm_ITAV(ctx, q));
	itavs = OSSL_CMP_exec_GENM_ses(ctx);
	assert_non_null(itavs);
	assert_int_equal(sk_OSSL_CMP_ITAV_num(itavs), 1);
	a = sk_OSSL_CMP_ITAV_pop(itavs);
	sk_OSSL_CMP_ITAV_free(itavs);
	OSSL_CMP_CTX_free(ctx);
	return a;
}

/* An ITAV of type oid whose value is cert, or no value. */
static OSSL_CMP_ITAV *
itav_new(const char *oid, X509 *cert)
{
	ASN1_TYPE *v = NULL;

	if (cert != NULL)
		assert_non_null(
		    ASN1_TYPE_pack_sequence(ASN1_ITEM_rptr(X509), cert, &v));
	return OSSL_CMP_ITAV_create(OBJ_txt2obj(oid, 1), v);
}

static void
assert_type(const OSSL_CMP_ITAV *a, int nid)
{
	assert_int_equal(OBJ_obj2nid(OSSL_CMP_ITAV_get0_type(a)), nid);
}

static void
test_genm_ca_certs(void **state)
{
	struct tca_fixture *f = *state;
	OSSL_CMP_ITAV *a = genm_ask(f, itav_new("1.3.6.1.5.5.7.4.17", NULL));
	X509 *ca = tca_test_load_cert(f, "ca.pem");
	STACK_OF(X509) * certs;

	assert_type(a, NID_id_it_caCerts);
	certs = ASN1_TYPE_unpack_sequence(
	    ASN1_ITEM_rptr(T_CERTS), OSSL_CMP_ITAV_get0_value(a));
	assert_non_null(certs);
	assert_int_equal(sk_X509_num(certs), 2);
	assert_int_equal(X509_cmp(sk_X509_value(certs, 0), ca), 0);
	assert_int_equal(X509_cmp(sk_X509_value(certs, 1), f->root), 0);
	sk_X509_pop_free(certs, X509_free);
	X509_free(ca);
	OSSL_CMP_ITAV_free(a);
}

/* Other infoTypes get their type back without a value. */
static void
test_genm_other_type(void **state)
{
	OSSL_CMP_ITAV *a =
	    genm_ask(*state, itav_new("1.3.6.1.5.5.7.4.2", NULL));

	assert_type(a, NID_id_it_signKeyPairTypes);
	assert_null(OSSL_CMP_ITAV_get0_value(a));
	OSSL_CMP_ITAV_free(a);
}

static T_ROOT_UPDATE *
root_update_of(const OSSL_CMP_ITAV *a)
{
	assert_type(a, NID_id_it_rootCaKeyUpdate);
	assert_non_null(OSSL_CMP_ITAV_get0_value(a));
	return ASN1_TYPE_unpack_sequence(
	    ASN1_ITEM_rptr(T_ROOT_UPDATE), OSSL_CMP_ITAV_get0_value(a));
}

static void
root_update_free(T_ROOT_UPDATE *u)
{
	ASN1_item_free((ASN1_VALUE *)u, ASN1_ITEM_rptr(T_ROOT_UPDATE));
}

/* The update chains: newWithOld verifies with the current root's key
 * and carries the new root's name and key; oldWithNew the reverse. */
static void
assert_good_update(struct tca_fixture *f, const T_ROOT_UPDATE *u)
{
	X509 *newroot = tca_test_load_cert(f, "newroot.pem");
	EVP_PKEY *old_key = X509_get0_pubkey(f->root);
	EVP_PKEY *new_key = X509_get0_pubkey(newroot);

	assert_int_equal(X509_cmp(u->new_with_new, newroot), 0);
	assert_non_null(u->new_with_old);
	assert_int_equal(X509_verify(u->new_with_old, old_key), 1);
	assert_int_equal(
	    EVP_PKEY_eq(X509_get0_pubkey(u->new_with_old), new_key), 1);
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(u->new_with_old),
	                     X509_get_subject_name(newroot)),
	    0);
	assert_int_equal(
	    X509_check_issued(f->root, u->new_with_old), X509_V_OK);
	assert_non_null(u->old_with_new);
	assert_int_equal(X509_verify(u->old_with_new, new_key), 1);
	assert_int_equal(
	    EVP_PKEY_eq(X509_get0_pubkey(u->old_with_new), old_key), 1);
	X509_free(newroot);
}

static void
test_genm_root_update(void **state)
{
	struct tca_fixture *f = *state;
	X509 *ca = tca_test_load_cert(f, "ca.pem");
	OSSL_CMP_ITAV *a;
	T_ROOT_UPDATE *u;

	/* rootCaCert with our root, without a value, and (OpenSSL 3.0's
	 * CLI) rootCaKeyUpdate itself. */
	const char *asks[] = { OID_IT_ROOT_CA_CERT, OID_IT_ROOT_CA_CERT,
		"1.3.6.1.5.5.7.4.18" };
	for (int i = 0; i < 3; i++) {
		a = genm_ask(f, itav_new(asks[i], i == 0 ? f->root : NULL));
		u = root_update_of(a);
		assert_non_null(u);
		assert_good_update(f, u);
		root_update_free(u);
		OSSL_CMP_ITAV_free(a);
	}
	/* A root that is not ours has no update. */
	a = genm_ask(f, itav_new(OID_IT_ROOT_CA_CERT, ca));
	assert_type(a, NID_id_it_rootCaKeyUpdate);
	assert_null(OSSL_CMP_ITAV_get0_value(a));
	OSSL_CMP_ITAV_free(a);
	X509_free(ca);
}

static void
test_genm_root_update_none(void **state)
{
	struct tca_fixture *f = *state;
	struct tca_serve_opts opts = tca_test_default_opts;
	OSSL_CMP_ITAV *a;

	opts.root_update = TCA_ROOT_UPDATE_NONE;
	tca_test_server_start(f, &opts);
	a = genm_ask(f, itav_new(OID_IT_ROOT_CA_CERT, f->root));
	assert_type(a, NID_id_it_rootCaKeyUpdate);
	assert_null(OSSL_CMP_ITAV_get0_value(a));
	OSSL_CMP_ITAV_free(a);
	tca_test_server_start(f, &tca_test_default_opts);
}

/* --bad-root-update: newWithOld names the current root as its issuer but
 * its signature is the new key's, so a client must refuse the update. */
static void
test_genm_root_update_bad(void **state)
{
	struct tca_fixture *f = *state;
	struct tca_serve_opts opts = tca_test_default_opts;
	X509 *newroot = tca_test_load_cert(f, "newroot.pem");
	OSSL_CMP_ITAV *a;
	T_ROOT_UPDATE *u;

	opts.root_update = TCA_ROOT_UPDATE_BAD;
	tca_test_server_start(f, &opts);
	a = genm_ask(f, itav_new(OID_IT_ROOT_CA_CERT, f->root));
	u = root_update_of(a);
	assert_non_null(u);
	assert_int_equal(X509_cmp(u->new_with_new, newroot), 0);
	assert_non_null(u->new_with_old);
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(u->new_with_old),
	                     X509_get_subject_name(f->root)),
	    0);
	assert_int_not_equal(
	    X509_verify(u->new_with_old, X509_get0_pubkey(f->root)), 1);
	assert_int_equal(
	    X509_verify(u->new_with_old, X509_get0_pubkey(newroot)), 1);
	ERR_clear_error();
	root_update_free(u);
	OSSL_CMP_ITAV_free(a);
	X509_free(newroot);
	tca_test_server_start(f, &tca_test_default_opts);
}

/* The certTemplate: subject O=cmpd test, an empty subjectAltName. */
static void
assert_cert_template(const OSSL_CRMF_CERTTEMPLATE *t)
{
	const STACK_OF(X509_EXTENSION) *exts =
	    OSSL_CRMF_CERTTEMPLATE_get0_extensions(t);
	X509_EXTENSION *san;
	char subject[64];

	X509_NAME_oneline(
	    OSSL_CRMF_CERTTEMPLATE_get0_subject(t), subject, sizeof(subject));
	assert_string_equal(subject, "/O=cmpd test");
	assert_int_equal(sk_X509_EXTENSION_num(exts), 1);
	san = sk_X509_EXTENSION_value(exts, 0);
	assert_int_equal(
	    OBJ_obj2nid(X509_EXTENSION_get_object(san)), NID_subject_alt_name);
	assert_int_equal(ASN1_STRING_length(X509_EXTENSION_get_data(san)), 0);
}

/* keySpec: one id-regCtrl-algId control, id-ecPublicKey on P-256. */
static void
assert_key_spec(const STACK_OF(T_ATAV) * spec)
{
	const T_ATAV *atav = sk_T_ATAV_value(spec, 0);
	const ASN1_OBJECT *oid = NULL;
	const void *param = NULL;
	int ptype = 0;
	X509_ALGOR *alg;
	char type[64];

	assert_int_equal(sk_T_ATAV_num(spec), 1);
	OBJ_obj2txt(type, sizeof(type), atav->type, 1);
	assert_string_equal(type, OID_REG_CTRL_ALG_ID);
	alg =
	    ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(X509_ALGOR), atav->value);
	assert_non_null(alg);
	X509_ALGOR_get0(&oid, &ptype, &param, alg);
	assert_int_equal(OBJ_obj2nid(oid), NID_X9_62_id_ecPublicKey);
	assert_int_equal(ptype, V_ASN1_OBJECT);
	assert_int_equal(OBJ_obj2nid(param), NID_X9_62_prime256v1);
	X509_ALGOR_free(alg);
}

static void
test_genm_template(void **state)
{
	OSSL_CMP_ITAV *a =
	    genm_ask(*state, itav_new("1.3.6.1.5.5.7.4.19", NULL));
	T_REQ_TEMPLATE *t;

	assert_type(a, NID_id_it_certReqTemplate);
	t = ASN1_TYPE_unpack_sequence(
	    ASN1_ITEM_rptr(T_REQ_TEMPLATE), OSSL_CMP_ITAV_get0_value(a));
	assert_non_null(t);
	assert_cert_template(t->cert_template);
	assert_key_spec(t->key_spec);
	ASN1_item_free((ASN1_VALUE *)t, ASN1_ITEM_rptr(T_REQ_TEMPLATE));
	OSSL_CMP_ITAV_free(a);
}

static void
test_genm_no_template(void **state)
{
	struct tca_fixture *f = *state;
	struct tca_serve_opts opts = tca_test_default_opts;
	OSSL_CMP_ITAV *a;

	opts.no_template = 1;
	tca_test_server_start(f, &opts);
	a = genm_ask(f, itav_new("1.3.6.1.5.5.7.4.19", NULL));
	assert_type(a, NID_id_it_certReqTemplate);
	assert_null(OSSL_CMP_ITAV_get0_value(a));
	OSSL_CMP_ITAV_free(a);
	tca_test_server_start(f, &tca_test_default_opts);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_genm_ca_certs),
		cmocka_unit_test(test_genm_other_type),
		cmocka_unit_test(test_genm_root_update),
		cmocka_unit_test(test_genm_root_update_none),
		cmocka_unit_test(test_genm_root_update_bad),
		cmocka_unit_test(test_genm_template),
		cmocka_unit_test(test_genm_no_template),
	};

	return cmocka_run_group_tests(tests, tca_test_setup, tca_test_teardown);
}
