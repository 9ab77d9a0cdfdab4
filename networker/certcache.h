/*
 * Certificates the broker sends with every transaction (trust anchors,
 * the protection certificate and its chain) decoded once. Decoding a
 * certificate sets up a key decoder, which in OpenSSL 3.0 costs more than
 * the rest of a transaction's certificate handling; the same few
 * certificates come again and again, so the last ones decoded are kept.
 */
#pragma once

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

/*
 * der (all len bytes) as a certificate of libctx: a new reference, from
 * the cache or decoded now (and kept). NULL if it is not one DER
 * certificate. Thread-safe.
 */
X509 *nw_certcache_get(OSSL_LIB_CTX *libctx, const uint8_t *der, size_t len);

/* Drops every certificate kept (at exit, for leak checkers). */
void nw_certcache_clear(void);
