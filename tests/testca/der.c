/*
 * A DER walker over ASN1_get_object(): OpenSSL 3.0's CMP structures are
 * opaque and lack getters for the fields below, so we step through their
 * encodings element by element instead of declaring copies of OpenSSL's
 * private ASN.1 templates.
 */
#include "der.h"

#include <limits.h>
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

/* One TLV: the whole encoding and its contents. */
struct der_elem {
	const uint8_t *tlv;
	long tlv_len;
	const uint8_t *val;
	long val_len;
	int tag;
	int cls;
	int constructed;
};

/* A cursor over the contents of a constructed element. */
struct der_cur {
	const uint8_t *p;
	long left;
};

/* Reads the next element at c and advances past it; 0 at the end or on
 * malformed input (indefinite lengths are not DER). */
static int
der_next(struct der_cur *c, struct der_elem *e)
{
	const unsigned char *q = c->p;
	long len;
	int tag, cls, ret;

	if (c->left <= 0)
		return 0;
	ret = ASN1_get_object(&q, &len, &tag, &cls, c->left);
	if ((ret & 0x80) != 0 || (ret & 0x01) != 0) {
		ERR_clear_error();
		return 0;
	}
	e->tlv = c->p;
	e->val = q;
	e->val_len = len;
	e->tlv_len = (long)(q - c->p) + len;
	e->tag = tag;
	e->cls = cls;
	e->constructed = (ret & V_ASN1_CONSTRUCTED) != 0;
	c->p += e->tlv_len;
	c->left -= e->tlv_len;
	return 1;
}

/* Reads the next element and requires a universal SEQUENCE. */
static int
der_next_seq(struct der_cur *c, struct der_elem *e)
{
	return der_next(c, e) && e->cls == V_ASN1_UNIVERSAL &&
	    e->tag == V_ASN1_SEQUENCE && e->constructed;
}

static struct der_cur
der_enter(const struct der_elem *e)
{
	struct der_cur c = { e->val, e->val_len };

	return c;
}

/* Positions *c inside the PKIMessage msg, at its header. */
static int
der_message_enter(const uint8_t *msg, size_t len, struct der_cur *c)
{
	struct der_cur top = { msg, (long)len };
	struct der_elem m;

	if (len == 0 || len > (size_t)LONG_MAX || !der_next_seq(&top, &m))
		return 0;
	*c = der_enter(&m);
	return 1;
}

cmpd_err
tca_der_header_prot(
    const uint8_t *msg, size_t len, int *nid, ASN1_OCTET_STRING **kid)
{
	struct der_cur c, h;
	struct der_elem hdr, e;
	X509_ALGOR *alg = NULL;
	const ASN1_OBJECT *oid = NULL;
	ASN1_OCTET_STRING *k = NULL;
	int n = NID_undef;
	cmpd_err rv = CMPD_EPROTO;

	if (!der_message_enter(msg, len, &c) || !der_next_seq(&c, &hdr))
		return CMPD_EPROTO;
	h = der_enter(&hdr);
	/* PKIHeader uses EXPLICIT tags: [1] protectionAlg, [2] senderKID. */
	while (der_next(&h, &e)) {
		const unsigned char *q = e.val;

		if (e.cls != V_ASN1_CONTEXT_SPECIFIC)
			continue;
		if (e.tag == 1 && alg == NULL) {
			alg = d2i_X509_ALGOR(NULL, &q, e.val_len);
			if (alg == NULL)
				goto out;
			X509_ALGOR_get0(&oid, NULL, NULL, alg);
			n = OBJ_obj2nid(oid);
			if (n == NID_undef)
				n = -1;
		} else if (e.tag == 2 && k == NULL) {
			k = d2i_ASN1_OCTET_STRING(NULL, &q, e.val_len);
			if (k == NULL)
				goto out;
		}
	}
	*nid = n;
	*kid = k;
	k = NULL;
	rv = CMPD_OK;
out:
	X509_ALGOR_free(alg);
	ASN1_OCTET_STRING_free(k);
	ERR_clear_error();
	return rv;
}

/* Decodes the [6] IMPLICIT SubjectPublicKeyInfo tlv by restoring its
 * SEQUENCE tag. */
static cmpd_err
der_implicit_spki(const struct der_elem *e, EVP_PKEY **out)
{
	unsigned char *copy = NULL;
	const unsigned char *q;
	EVP_PKEY *pkey;

	if (!e->constructed || e->tlv_len < 2)
		return CMPD_EPROTO;
	copy = malloc((size_t)e->tlv_len);
	if (copy == NULL)
		return CMPD_ENOMEM;
	memcpy(copy, e->tlv, (size_t)e->tlv_len);
	copy[0] = V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED;
	q = copy;
	pkey = d2i_PUBKEY(NULL, &q, e->tlv_len);
	free(copy);
	if (pkey == NULL)
		return CMPD_EPROTO;
	*out = pkey;
	return CMPD_OK;
}

cmpd_err
tca_der_template_pubkey(const OSSL_CRMF_CERTTEMPLATE *tmpl, EVP_PKEY **out)
{
	unsigned char *der = NULL;
	struct der_cur top, c;
	struct der_elem t, e;
	int len;
	cmpd_err rv = CMPD_ENOENT;

	len = i2d_OSSL_CRMF_CERTTEMPLATE(tmpl, &der);
	if (len <= 0)
		return CMPD_EPROTO;
	top.p = der;
	top.left = len;
	if (!der_next_seq(&top, &t)) {
		rv = CMPD_EPROTO;
		goto out;
	}
	c = der_enter(&t);
	/* CRMF uses IMPLICIT tags: publicKey is [6] over the SPKI's contents.
	 */
	while (der_next(&c, &e)) {
		if (e.cls == V_ASN1_CONTEXT_SPECIFIC && e.tag == 6) {
			rv = der_implicit_spki(&e, out);
			break;
		}
	}
out:
	OPENSSL_free(der);
	ERR_clear_error();
	return rv;
}

/* The reasonCode extension of a crlEntryDetails SEQUENCE, or -1. */
static int
der_reason_of_extensions(const struct der_elem *e)
{
	const unsigned char *q = e->tlv;
	STACK_OF(X509_EXTENSION) *exts =
	    d2i_X509_EXTENSIONS(NULL, &q, e->tlv_len);
	ASN1_ENUMERATED *reason;
	int code = -1;

	if (exts == NULL)
		return -1;
	reason = X509V3_get_d2i(exts, NID_crl_reason, NULL, NULL);
	if (reason != NULL)
		code = (int)ASN1_ENUMERATED_get(reason);
	ASN1_ENUMERATED_free(reason);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return code;
}

int
tca_der_rr_reason(const uint8_t *msg, size_t len)
{
	struct der_cur c, b, list, rd;
	struct der_elem hdr, body, content, details, tmpl, ext;
	int code = -1;

	/* PKIMessage { header, body [11] RevReqContent, ... };
	 * RevReqContent is SEQUENCE OF RevDetails { certDetails,
	 * crlEntryDetails Extensions OPTIONAL }. */
	if (!der_message_enter(msg, len, &c) || !der_next_seq(&c, &hdr) ||
	    !der_next(&c, &body) || body.cls != V_ASN1_CONTEXT_SPECIFIC ||
	    body.tag != 11)
		goto out;
	b = der_enter(&body);
	if (!der_next_seq(&b, &content))
		goto out;
	list = der_enter(&content);
	if (!der_next_seq(&list, &details))
		goto out;
	rd = der_enter(&details);
	if (!der_next_seq(&rd, &tmpl) || !der_next_seq(&rd, &ext))
		goto out;
	code = der_reason_of_extensions(&ext);
out:
	ERR_clear_error();
	return code;
}

int
tca_der_pkisi_status(const OSSL_CMP_PKISI *si)
{
	unsigned char *der = NULL;
	const unsigned char *q;
	struct der_cur top, c;
	struct der_elem s, e;
	ASN1_INTEGER *status = NULL;
	int len = i2d_OSSL_CMP_PKISI(si, &der);
	int value = -1;

	top.p = der;
	top.left = len;
	/* PKIStatusInfo ::= SEQUENCE { status PKIStatus, ... } */
	if (len <= 0 || !der_next_seq(&top, &s))
		goto out;
	c = der_enter(&s);
	if (!der_next(&c, &e) || e.cls != V_ASN1_UNIVERSAL ||
	    e.tag != V_ASN1_INTEGER)
		goto out;
	q = e.tlv;
	status = d2i_ASN1_INTEGER(NULL, &q, e.tlv_len);
	if (status != NULL)
		value = (int)ASN1_INTEGER_get(status);
out:
	ASN1_INTEGER_free(status);
	OPENSSL_free(der);
	ERR_clear_error();
	return value;
}
