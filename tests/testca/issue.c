#include "issue.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util.h"

static cmpd_err
cert_set_serial(X509 *cert)
{
	uint8_t raw[16];
	BIGNUM *bn = NULL;
	ASN1_INTEGER *serial = NULL;
	cmpd_err rv = CMPD_ECRYPTO;

	do {
		if (cmpd_random(raw, sizeof(raw)) != CMPD_OK)
			return CMPD_ECRYPTO;
		BN_free(bn);
		bn = BN_bin2bn(raw, sizeof(raw), NULL);
	} while (bn != NULL && BN_is_zero(bn));
	if (bn == NULL || (serial = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    !X509_set_serialNumber(cert, serial))
		goto out;
	rv = CMPD_OK;
out:
	BN_free(bn);
	ASN1_INTEGER_free(serial);
	return rv;
}

/* Both times from one reading of the clock, so that the lifetime is exact. */
static int
cert_set_validity(X509 *cert, long seconds)
{
	time_t now = time(NULL);
	long back =
	    seconds < TCA_SHORT_LIFETIME_SECONDS ? 1 : TCA_BACKDATE_SECONDS;

	return X509_time_adj(X509_getm_notBefore(cert), -back, &now) != NULL &&
	    X509_time_adj(X509_getm_notAfter(cert), seconds, &now) != NULL;
}

cmpd_err
tca_cert_new(const X509_NAME *subject, EVP_PKEY *pub, X509 *issuer,
    long seconds, X509 **out)
{
	X509 *cert = X509_new();
	const X509_NAME *iname =
	    issuer ? X509_get_subject_name(issuer) : subject;

	if (cert == NULL || !X509_set_version(cert, X509_VERSION_3) ||
	    cert_set_serial(cert) != CMPD_OK ||
	    !X509_set_subject_name(cert, subject) ||
	    !X509_set_issuer_name(cert, iname) || !X509_set_pubkey(cert, pub) ||
	    !cert_set_validity(cert, seconds)) {
		cmpd_log_openssl(CMPD_LOG_ERR, "building a certificate");
		X509_free(cert);
		return CMPD_ECRYPTO;
	}
	*out = cert;
	return CMPD_OK;
}

static X509_EXTENSION *
ext_make(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;

	X509V3_set_ctx(&v3, issuer ? issuer : cert, cert, NULL, NULL, 0);
	return X509V3_EXT_nconf_nid(NULL, &v3, nid, value);
}

cmpd_err
tca_cert_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509_EXTENSION *ext = ext_make(cert, issuer, nid, value);
	int ok = ext != NULL && X509_add_ext(cert, ext, -1);

	X509_EXTENSION_free(ext);
	if (!ok) {
		log_err("cannot add extension %s = %s", OBJ_nid2sn(nid), value);
		cmpd_log_openssl(CMPD_LOG_ERR, "adding an extension");
		return CMPD_ECRYPTO;
	}
	return CMPD_OK;
}

cmpd_err
tca_cert_sign(X509 *cert, EVP_PKEY *key)
{
	const EVP_MD *md = EVP_PKEY_is_a(key, "ED25519") ? NULL : EVP_sha256();

	if (X509_sign(cert, key, md) <= 0) {
		cmpd_log_openssl(CMPD_LOG_ERR, "signing a certificate");
		return CMPD_ECRYPTO;
	}
	return CMPD_OK;
}

cmpd_err
tca_issuer_init(struct tca_issuer *iss, X509 *cert, EVP_PKEY *key, long seconds)
{
	memset(iss, 0, sizeof(*iss));
	if (!X509_up_ref(cert))
		return CMPD_ECRYPTO;
	iss->cert = cert;
	if (!EVP_PKEY_up_ref(key))
		return CMPD_ECRYPTO;
	iss->key = key;
	iss->validity_seconds = seconds;
	/* The subject certificate is not needed for these; AKI takes the
	 * key identifier from the CA certificate's SKI. */
	iss->bc =
	    ext_make(NULL, cert, NID_basic_constraints, "critical,CA:FALSE");
	iss->ku_sig =
	    ext_make(NULL, cert, NID_key_usage, "critical,digitalSignature");
	iss->ku_sig_enc = ext_make(NULL, cert, NID_key_usage,
	    "critical,digitalSignature,keyEncipherment");
	iss->eku =
	    ext_make(NULL, cert, NID_ext_key_usage, "clientAuth,serverAuth");
	iss->aki =
	    ext_make(NULL, cert, NID_authority_key_identifier, "keyid:always");
	if (iss->bc == NULL || iss->ku_sig == NULL || iss->ku_sig_enc == NULL ||
	    iss->eku == NULL || iss->aki == NULL) {
		cmpd_log_openssl(CMPD_LOG_ERR, "making the CA's extensions");
		return CMPD_ECRYPTO;
	}
	return CMPD_OK;
}

void
tca_issuer_fini(struct tca_issuer *iss)
{
	X509_free(iss->cert);
	EVP_PKEY_free(iss->key);
	X509_EXTENSION_free(iss->bc);
	X509_EXTENSION_free(iss->ku_sig);
	X509_EXTENSION_free(iss->ku_sig_enc);
	X509_EXTENSION_free(iss->eku);
	X509_EXTENSION_free(iss->aki);
	memset(iss, 0, sizeof(*iss));
}

static int
check_ec_group(EVP_PKEY *pub, char *why, size_t len)
{
	char group[64] = "";
	size_t glen = 0;

	if (!EVP_PKEY_get_utf8_string_param(
	        pub, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen)) {
		ERR_clear_error();
		snprintf(why, len, "EC key without a named curve");
		return 0;
	}
	if (strcmp(group, "prime256v1") == 0 || strcmp(group, "secp384r1") == 0)
		return 1;
	snprintf(
	    why, len, "unsupported EC curve %s (P-256 and P-384 are)", group);
	return 0;
}

cmpd_err
tca_issuer_check_key(EVP_PKEY *pub, char *why, size_t len)
{
	int bits = EVP_PKEY_get_bits(pub);
	int ok;

	if (EVP_PKEY_is_a(pub, "EC")) {
		ok = check_ec_group(pub, why, len);
	} else if (EVP_PKEY_is_a(pub, "RSA")) {
		ok = bits >= 2048 && bits <= 4096;
		if (!ok)
			snprintf(why, len,
			    "unsupported RSA key size %d (2048 to 4096 are)",
			    bits);
	} else {
		ok = EVP_PKEY_is_a(pub, "ED25519");
		if (!ok)
			snprintf(why, len, "unsupported key type %s",
			    EVP_PKEY_get0_type_name(pub)
			        ? EVP_PKEY_get0_type_name(pub)
			        : "unknown");
	}
	return ok ? CMPD_OK : CMPD_EINVAL;
}

static cmpd_err
issue_add_exts(const struct tca_issuer *iss, X509 *cert, EVP_PKEY *pub,
    const X509_EXTENSION *san)
{
	const X509_EXTENSION *ku =
	    EVP_PKEY_is_a(pub, "RSA") ? iss->ku_sig_enc : iss->ku_sig;

	if (!X509_add_ext(cert, iss->bc, -1) ||
	    !X509_add_ext(cert, (X509_EXTENSION *)ku, -1) ||
	    !X509_add_ext(cert, iss->eku, -1) ||
	    (san != NULL && !X509_add_ext(cert, (X509_EXTENSION *)san, -1)) ||
	    !X509_add_ext(cert, iss->aki, -1))
		return CMPD_ECRYPTO;
	return tca_cert_add_ext(
	    cert, iss->cert, NID_subject_key_identifier, "hash");
}

cmpd_err
tca_issuer_issue(const struct tca_issuer *iss, EVP_PKEY *pub,
    const X509_NAME *subject, const X509_EXTENSION *san, X509 **out)
{
	X509 *cert = NULL;
	cmpd_err rv;

	rv =
	    tca_cert_new(subject, pub, iss->cert, iss->validity_seconds, &cert);
	if (rv == CMPD_OK)
		rv = issue_add_exts(iss, cert, pub, san);
	if (rv == CMPD_OK)
		rv = tca_cert_sign(cert, iss->key);
	if (rv != CMPD_OK) {
		cmpd_log_openssl(CMPD_LOG_ERR, "issuing a certificate");
		X509_free(cert);
		return rv;
	}
	*out = cert;
	return CMPD_OK;
}

void
tca_serial_hex(const ASN1_INTEGER *serial, char out[TCA_SERIAL_HEX_MAX + 1])
{
	uint8_t raw[TCA_SERIAL_HEX_MAX / 2];
	BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
	int n = bn ? BN_num_bytes(bn) : -1;

	out[0] = '\0';
	if (n < 0 || (size_t)n > sizeof(raw)) {
		BN_free(bn);
		return;
	}
	if (n == 0) {
		raw[0] = 0;
		n = 1;
	} else {
		BN_bn2bin(bn, raw);
	}
	cmpd_hex(raw, (size_t)n, out);
	BN_free(bn);
}

cmpd_err
tca_spki_hex(X509 *cert, char out[TCA_SPKI_HEX_LEN + 1])
{
	unsigned char *der = NULL;
	unsigned char md[32];
	unsigned int mdlen = 0;
	int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	int ok = len > 0 &&
	    EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL) &&
	    mdlen == sizeof(md);

	OPENSSL_free(der);
	if (!ok)
		return CMPD_ECRYPTO;
	cmpd_hex(md, sizeof(md), out);
	return CMPD_OK;
}
