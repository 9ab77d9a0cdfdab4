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
	int validity_days;
	/* Extensions every end-entity certificate carries, made once. */
	X509_EXTENSION *bc;
	X509_EXTENSION *ku_sig;
	X509_EXTENSION *ku_sig_enc;
	X509_EXTENSION *eku;
	X509_EXTENSION *aki;
};

/*
 * A new unsigned version 3 certificate for pub: random 128-bit serial,
 * subject, validity from 5 minutes ago to days from now, issuer name from
 * issuer (NULL: self-issued, the subject).
 */
cmpd_err tca_cert_new(const X509_NAME *subject, EVP_PKEY *pub, X509 *issuer,
    int days, X509 **out);

/*
 * Adds the extension nid made from an openssl.cnf style value, e.g.
 * "critical,CA:TRUE" or "hash"; issuer NULL means self-issued.
 */
cmpd_err tca_cert_add_ext(X509 *cert, X509 *issuer, int nid, const char *value);

/* Signs cert with key and SHA-256 (no digest for Ed25519 keys). */
cmpd_err tca_cert_sign(X509 *cert, EVP_PKEY *key);

/* Takes references to cert and key; days is the end-entity validity. */
cmpd_err tca_issuer_init(
    struct tca_issuer *iss, X509 *cert, EVP_PKEY *key, int days);
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
