/*
 * Certificate building for the test CA: the skeleton shared by `init` (the
 * test PKI) and `serve` (end-entity certificates for CMP requests).
 */
#pragma once

#include <openssl/x509.h>
#include <stddef.h>

#include "err.h"
#include "registry.h"

/* The issuing CA as `serve` uses it; read-only after tca_issuer_init. */
struct tca_issuer {
	X509 *cert;
	EVP_PKEY *key;
	long validity_seconds;
	/* Extensions every end-entity certificate carries, made once. */
	X509_EXTENSION *bc;
	X509_EXTENSION *ku_sig;
	X509_EXTENSION *ku_sig_enc;
	X509_EXTENSION *eku;
	X509_EXTENSION *aki;
};

/* Certificates start this long before they are made, for clocks a little
 * behind... */
#define TCA_BACKDATE_SECONDS 300
/* ...except when they live shorter than this: then they start 1 s before,
 * so that a percentage of a lifetime of seconds means what it says. */
#define TCA_SHORT_LIFETIME_SECONDS 86400L

/*
 * A new unsigned version 3 certificate for pub: random 128-bit serial,
 * subject, issuer name from issuer (NULL: self-issued, the subject),
 * notAfter = now + seconds and notBefore = now - TCA_BACKDATE_SECONDS, or
 * now - 1 when seconds < TCA_SHORT_LIFETIME_SECONDS.
 */
cmpd_err tca_cert_new(const X509_NAME *subject, EVP_PKEY *pub, X509 *issuer,
    long seconds, X509 **out);

/*
 * Adds the extension nid made from an openssl.cnf style value, e.g.
 * "critical,CA:TRUE" or "hash"; issuer NULL means self-issued.
 */
cmpd_err tca_cert_add_ext(X509 *cert, X509 *issuer, int nid, const char *value);

/* Signs cert with key and SHA-256 (no digest for Ed25519 keys). */
cmpd_err tca_cert_sign(X509 *cert, EVP_PKEY *key);

/* Takes references to cert and key; seconds is the end-entity lifetime
 * (see tca_cert_new). */
cmpd_err tca_issuer_init(
    struct tca_issuer *iss, X509 *cert, EVP_PKEY *key, long seconds);
void tca_issuer_fini(struct tca_issuer *iss);

/*
 * Accepts EC P-256 and P-384, RSA 2048 to 4096 bits and Ed25519 keys;
 * otherwise writes the reason to why and returns CMPD_EINVAL.
 */
cmpd_err tca_issuer_check_key(EVP_PKEY *pub, char *why, size_t len);

/*
 * Issues an end-entity certificate for pub: subject, optional
 * subjectAltName san, AKI/SKI, CA:FALSE, keyUsage digitalSignature (and
 * keyEncipherment for RSA), EKU clientAuth and serverAuth, signed by the CA
 * with SHA-256.
 */
cmpd_err tca_issuer_issue(const struct tca_issuer *iss, EVP_PKEY *pub,
    const X509_NAME *subject, const X509_EXTENSION *san, X509 **out);

/* serial as lowercase hex; "" if longer than TCA_SERIAL_HEX_MAX digits. */
void tca_serial_hex(
    const ASN1_INTEGER *serial, char out[TCA_SERIAL_HEX_MAX + 1]);

/* The SHA-256 of cert's DER SubjectPublicKeyInfo in hex. */
cmpd_err tca_spki_hex(X509 *cert, char out[TCA_SPKI_HEX_LEN + 1]);
