/*
 * Certificates read for their fields only. OpenSSL 3.0's d2i_X509 also
 * decodes the public key, and setting up that decoder costs far more than
 * the rest of the parse (a third of the broker's CPU per enrollment went
 * there). Where only names, times, the serial or the encoded
 * SubjectPublicKeyInfo are needed, this parse skips it.
 */
#pragma once

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The process's library context with only OpenSSL's "null" provider: what
 * is parsed in it gets no key decoded and no algorithm fetched. Created on
 * the first call (call it before a sandbox forbids that); NULL if it
 * cannot be. Thread-safe.
 */
OSSL_LIB_CTX *cmpd_null_libctx(void);

/*
 * der (all len bytes) as a certificate whose public key is left encoded:
 * X509_get0_pubkey() is NULL, X509_get_X509_PUBKEY() and everything else
 * are as usual. Not for verifying signatures. NULL if it is not one DER
 * certificate. Thread-safe.
 */
X509 *cmpd_x509_fields(const uint8_t *der, size_t len);
