/*
 * The answer to a caCerts genm (RFC 9483 section 4.3.1): an ITAV of type
 * id-it-caCerts whose value is SEQUENCE SIZE (1..MAX) OF CMPCertificate,
 * or absent when the CA has none to give. OpenSSL 3.0 returns the value as
 * an ASN1_TYPE and decodes it no further (its caCerts helpers came in
 * 3.2), so the sequence is walked here, one certificate at a time.
 */
#include <openssl/asn1.h>
#include <string.h>

#include "log.h"
#include "txn_int.h"

/* Decodes the DER SEQUENCE OF Certificate in der into certs. */
static cmpd_err
genm_certs_decode(OSSL_LIB_CTX *libctx, const unsigned char *der, long len,
    STACK_OF(X509) * certs)
{
	const unsigned char *p = der, *end;
	long inner;
	int tag, cls;
	X509 *x;

	if ((ASN1_get_object(&p, &inner, &tag, &cls, len) & 0x80) != 0 ||
	    tag != V_ASN1_SEQUENCE || cls != V_ASN1_UNIVERSAL ||
	    p + inner != der + len)
		return CMPD_EPROTO;
	for (end = p + inner; p < end;) {
		if ((x = X509_new_ex(libctx, NULL)) == NULL)
			return CMPD_ENOMEM;
		if (d2i_X509(&x, &p, end - p) == NULL) {
			X509_free(x);
			return CMPD_EPROTO;
		}
		if (!sk_X509_push(certs, x)) {
			X509_free(x);
			return CMPD_ENOMEM;
		}
	}
	return CMPD_OK;
}

cmpd_err
nw_txn_cacerts_take(const struct nw_txn *t, STACK_OF(OSSL_CMP_ITAV) * itavs,
    STACK_OF(X509) * *out)
{
	ASN1_OBJECT *want = OBJ_txt2obj(NW_OID_IT_CACERTS, 1);
	STACK_OF(X509) *certs = sk_X509_new_null();
	cmpd_err rv = CMPD_OK;

	if (want == NULL || certs == NULL) {
		rv = CMPD_ENOMEM;
		goto out;
	}
	for (int i = 0; i < sk_OSSL_CMP_ITAV_num(itavs) && rv == CMPD_OK; i++) {
		OSSL_CMP_ITAV *itav = sk_OSSL_CMP_ITAV_value(itavs, i);
		ASN1_TYPE *v = OSSL_CMP_ITAV_get0_value(itav);

		if (OBJ_cmp(OSSL_CMP_ITAV_get0_type(itav), want) != 0 ||
		    v == NULL || v->type == V_ASN1_NULL)
			continue;
		if (v->type != V_ASN1_SEQUENCE)
			rv = CMPD_EPROTO;
		else
			rv = genm_certs_decode(t->libctx,
			    ASN1_STRING_get0_data(v->value.sequence),
			    ASN1_STRING_length(v->value.sequence), certs);
	}
	if (rv == CMPD_OK) {
		*out = certs;
		certs = NULL;
	} else {
		log_err("job %s: bad caCerts value", t->job);
	}
out:
	sk_X509_pop_free(certs, X509_free);
	ASN1_OBJECT_free(want);
	return rv;
}
