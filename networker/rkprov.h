/*
 * The remote-key provider: an in-process OpenSSL provider whose keys are
 * handles to keys held by the keyworker. OpenSSL's CMP client uses them as
 * ordinary EVP_PKEYs; each signature becomes one call of the sign function
 * given to cmpd_rkprov_load, which asks the keyworker (remote.c).
 *
 * The provider holds no private key material: export of a private part
 * fails, and it imports no key but its own handles, so OpenSSL never routes
 * a foreign key (the CA's, when verifying a response) through it.
 */
#pragma once

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "cmpd.pb-c.h"
#include "err.h"

/*
 * Signs tbs (the whole DER to-be-signed structure) with key key_id for job
 * job_id. digest is "SHA256", "SHA384", "SHA512", or "" for Ed25519. On
 * success the function stores an OPENSSL_malloc'd signature in *sig and its
 * length in *siglen and returns CMPD_OK. Called on the thread that signs.
 */
typedef cmpd_err (*cmpd_rk_sign_fn)(void *arg, const char *job_id,
    const char *key_id, const char *digest, const uint8_t *tbs,
    size_t tbslen, uint8_t **sig, size_t *siglen);

/*
 * Registers and loads the provider (and OpenSSL's default provider, which
 * does everything else) in libctx. Call once, before any other thread uses
 * libctx.
 */
cmpd_err cmpd_rkprov_load(OSSL_LIB_CTX *libctx, cmpd_rk_sign_fn sign,
    void *arg);

/*
 * Creates a handle for the keyworker's key key_id of type type, whose public
 * key is the DER SubjectPublicKeyInfo spki, to be used for job job_id.
 * The caller owns *out.
 */
cmpd_err cmpd_rkprov_key_new(OSSL_LIB_CTX *libctx, const char *job_id,
    const char *key_id, Cmpd__KeyType type, const uint8_t *spki,
    size_t spki_len, EVP_PKEY **out);
