/*
 * The certificate request template a CA sent (RFC 9483 section 4.3.3), as
 * a summary for people: its subject, key algorithm and extensions as
 * OpenSSL prints them, and its keySpec controls.
 *
 * OpenSSL 3.0 decodes a CertTemplate (d2i_OSSL_CRMF_CERTTEMPLATE) but has
 * no getter for its publicKey (OSSL_CRMF_CERTTEMPLATE_get0_publicKey came
 * in 3.2), and no public type for the keySpec's AttributeTypeAndValue.
 * Both are described here from RFC 4211's ASN.1 module with OpenSSL's own
 * template macros, so OpenSSL's decoder does the parsing.
 */
#include <openssl/asn1t.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "x509text.h"

#define OID_REGCTRL_ALGID     "1.3.6.1.5.5.7.5.1.11"
#define OID_REGCTRL_RSAKEYLEN "1.3.6.1.5.5.7.5.1.12"

/* OptionalValidity ::= SEQUENCE { notBefore [0] Time OPTIONAL, ... } */
typedef struct {
	ASN1_TIME *not_before;
	ASN1_TIME *not_after;
} TMPL_VALIDITY;

ASN1_SEQUENCE(TMPL_VALIDITY) = {
	ASN1_EXP_OPT(TMPL_VALIDITY, not_before, ASN1_TIME, 0),
	ASN1_EXP_OPT(TMPL_VALIDITY, not_after, ASN1_TIME, 1),
} static_ASN1_SEQUENCE_END(TMPL_VALIDITY)

/* CertTemplate (RFC 4211 section 5; its module uses IMPLICIT TAGS). */
typedef struct {
	ASN1_INTEGER *version;
	ASN1_INTEGER *serial;
	X509_ALGOR *signing_alg;
	X509_NAME *issuer;
	TMPL_VALIDITY *validity;
	X509_NAME *subject;
	X509_PUBKEY *public_key;
	ASN1_BIT_STRING *issuer_uid;
	ASN1_BIT_STRING *subject_uid;
	STACK_OF(X509_EXTENSION) * extensions;
} TMPL_CERT_TEMPLATE;

ASN1_SEQUENCE(TMPL_CERT_TEMPLATE) = {
	ASN1_IMP_OPT(TMPL_CERT_TEMPLATE, version, ASN1_INTEGER, 0),
	ASN1_IMP_OPT(TMPL_CERT_TEMPLATE, serial, ASN1_INTEGER, 1),
	ASN1_IMP_OPT(TMPL_CERT_TEMPLATE, signing_alg, X509_ALGOR, 2),
	/* Name is a CHOICE: its tag is explicit. */
	ASN1_EXP_OPT(TMPL_CERT_TEMPLATE, issuer, X509_NAME, 3),
	ASN1_IMP_OPT(TMPL_CERT_TEMPLATE, validity, TMPL_VALIDITY, 4),
	ASN1_EXP_OPT(TMPL_CERT_TEMPLATE, subject, X509_NAME, 5),
	ASN1_IMP_OPT(TMPL_CERT_TEMPLATE, public_key, X509_PUBKEY, 6),
	ASN1_IMP_OPT(TMPL_CERT_TEMPLATE, issuer_uid, ASN1_BIT_STRING, 7),
	ASN1_IMP_OPT(TMPL_CERT_TEMPLATE, subject_uid, ASN1_BIT_STRING, 8),
	ASN1_IMP_SEQUENCE_OF_OPT(
	    TMPL_CERT_TEMPLATE, extensions, X509_EXTENSION, 9),
} static_ASN1_SEQUENCE_END(TMPL_CERT_TEMPLATE)

/* AttributeTypeAndValue ::= SEQUENCE { type OID, value ANY } */
typedef struct {
	ASN1_OBJECT *type;
	ASN1_TYPE *value;
} TMPL_ATAV;

ASN1_SEQUENCE(TMPL_ATAV) = {
	ASN1_SIMPLE(TMPL_ATAV, type, ASN1_OBJECT),
	ASN1_SIMPLE(TMPL_ATAV, value, ASN1_ANY),
} static_ASN1_SEQUENCE_END(TMPL_ATAV)

DEFINE_STACK_OF(TMPL_ATAV)

/* Controls ::= SEQUENCE SIZE (1..MAX) OF AttributeTypeAndValue */
ASN1_ITEM_TEMPLATE(TMPL_CONTROLS) = ASN1_EX_TEMPLATE_TYPE(
    ASN1_TFLG_SEQUENCE_OF, 0, controls, TMPL_ATAV)
static_ASN1_ITEM_TEMPLATE_END(TMPL_CONTROLS)

/* DER of exactly len bytes as item, or NULL. */
static void *
tmpl_decode(const ProtobufCBinaryData *der, const ASN1_ITEM *item)
{
	const unsigned char *p = der->data;
	ASN1_VALUE *v;

	if (der->len == 0 || der->len > INT32_MAX)
		return NULL;
	v = ASN1_item_d2i(NULL, &p, (long)der->len, item);
	if (v != NULL && p != der->data + der->len) {
		ASN1_item_free(v, item);
		v = NULL;
	}
	return v;
}

/* "id-ecPublicKey (prime256v1)": the algorithm and a named parameter. */
static void
algor_print(BIO *b, const X509_ALGOR *alg)
{
	const ASN1_OBJECT *oid = NULL;
	const void *param = NULL;
	int ptype = V_ASN1_UNDEF;

	X509_ALGOR_get0(&oid, &ptype, &param, alg);
	i2a_ASN1_OBJECT(b, oid);
	if (ptype == V_ASN1_OBJECT) {
		BIO_puts(b, " (");
		i2a_ASN1_OBJECT(b, param);
		BIO_puts(b, ")");
	}
}

static void
name_print(BIO *b, const char *label, const X509_NAME *name)
{
	char *text = cmpd_x509_name_text(name);

	BIO_printf(b, "%s: %s\n", label, text != NULL ? text : "?");
	free(text);
}

static void
template_print(BIO *b, const TMPL_CERT_TEMPLATE *t)
{
	X509_ALGOR *alg = NULL;

	if (t->subject != NULL)
		name_print(b, "subject", t->subject);
	if (t->issuer != NULL)
		name_print(b, "issuer", t->issuer);
	if (t->validity != NULL && t->validity->not_before != NULL) {
		BIO_puts(b, "not before: ");
		ASN1_TIME_print(b, t->validity->not_before);
		BIO_puts(b, "\n");
	}
	if (t->validity != NULL && t->validity->not_after != NULL) {
		BIO_puts(b, "not after: ");
		ASN1_TIME_print(b, t->validity->not_after);
		BIO_puts(b, "\n");
	}
	if (t->public_key != NULL &&
	    X509_PUBKEY_get0_param(NULL, NULL, NULL, &alg, t->public_key) &&
	    alg != NULL) {
		BIO_puts(b, "key algorithm: ");
		algor_print(b, alg);
		BIO_puts(b, "\n");
	}
	X509V3_extensions_print(b, "extensions", t->extensions, 0, 0);
}

/* One control: "algId: .." and "rsaKeyLen: .." per RFC 9483 4.3.3. */
static void
control_print(BIO *b, const TMPL_ATAV *c)
{
	char oid[80];
	const ASN1_TYPE *v = c->value;
	X509_ALGOR *alg = NULL;
	const unsigned char *p;

	OBJ_obj2txt(oid, sizeof(oid), c->type, 1);
	if (strcmp(oid, OID_REGCTRL_ALGID) == 0 && v->type == V_ASN1_SEQUENCE) {
		p = ASN1_STRING_get0_data(v->value.sequence);
		alg = d2i_X509_ALGOR(
		    NULL, &p, ASN1_STRING_length(v->value.sequence));
	}
	if (alg != NULL) {
		BIO_puts(b, "    algId: ");
		algor_print(b, alg);
	} else if (strcmp(oid, OID_REGCTRL_RSAKEYLEN) == 0 &&
	    v->type == V_ASN1_INTEGER) {
		BIO_printf(b, "    rsaKeyLen: %ld",
		    ASN1_INTEGER_get(v->value.integer));
	} else {
		/* A control this library has no words for: its OID. */
		BIO_printf(b, "    ");
		i2a_ASN1_OBJECT(b, c->type);
	}
	BIO_puts(b, "\n");
	X509_ALGOR_free(alg);
}

static void
controls_print(BIO *b, const STACK_OF(TMPL_ATAV) * controls)
{
	if (sk_TMPL_ATAV_num(controls) <= 0)
		return;
	BIO_puts(b, "key spec:\n");
	for (int i = 0; i < sk_TMPL_ATAV_num(controls); i++)
		control_print(b, sk_TMPL_ATAV_value(controls, i));
}

/* The contents of b as a new string; NULL if out of memory. */
static char *
bio_text(BIO *b)
{
	char *data = NULL;
	long len = BIO_get_mem_data(b, &data);

	return len >= 0 ? strndup(data != NULL ? data : "", (size_t)len) : NULL;
}

char *
template_text(
    const ProtobufCBinaryData *tmpl, const ProtobufCBinaryData *key_spec)
{
	TMPL_CERT_TEMPLATE *t =
	    tmpl_decode(tmpl, ASN1_ITEM_rptr(TMPL_CERT_TEMPLATE));
	STACK_OF(TMPL_ATAV) *controls =
	    tmpl_decode(key_spec, ASN1_ITEM_rptr(TMPL_CONTROLS));
	BIO *b = NULL;
	char *s = NULL;

	/* No template, or one that does not parse, shows as nothing. */
	if (t == NULL) {
		s = strdup("");
		goto out;
	}
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		goto out;
	template_print(b, t);
	controls_print(b, controls);
	/* A template without fields is an answer too: say so. */
	if (BIO_pending(b) == 0)
		BIO_puts(b, "an empty template: the CA sets no field\n");
	s = bio_text(b);
out:
	BIO_free(b);
	ASN1_item_free((ASN1_VALUE *)t, ASN1_ITEM_rptr(TMPL_CERT_TEMPLATE));
	ASN1_item_free((ASN1_VALUE *)controls, ASN1_ITEM_rptr(TMPL_CONTROLS));
	ERR_clear_error();
	return s;
}
