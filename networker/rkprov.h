/*
 * The remote-key provider: an in-process OpenSSL provider whose keys are
 * handles to keys held by the keyworker. OpenSSL's CMP client uses them as
 * ordinary EVP_PKEYs; each signature becomes one call of the sign function
 * given to cmpd_rkprov_load, which asks the keyworker (remote.c).
 *
 * The provider holds no private key material: export of a private part
 * fails, and it imports no key but its own handles, so OpenSSL never routes
 * a foreign key (the CA's, when verifying a response) through it. Every
 * signature hands the whole to-be-signed structure to the sign function in
 * one call, never a hash, so the keyworker can check what it signs.
 *
 * Known OpenSSL 3.0 limit: an Ed25519 key cannot protect CMP messages (the
 * CMP client fails with "unsupported key type"); it can be the new key.
 */
#pragma once

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "cmpd.pb-c.h"
#include "err.h"

/*
 * Signs tbs (the whole DER to-be-signed structure) with key key_id for job
 * job_id. digest is "SHA256", "SHA384", "SHA512", or "" for Ed25519; RSA
 * signatures are PKCS#1 v1.5, ECDSA ones DER. On success the function
 * stores an OPENSSL_malloc'd signature in *sig and its length in *siglen and
 * returns CMPD_OK; a signature longer than the key's maximum is refused.
 * Called on the thread that signs, from many transaction threads at once,
 * so it must be thread-safe. Any other result fails the signature with
 * PROV_R_FAILED_TO_SIGN on that thread's OpenSSL error queue, its data
 * naming the job, the key and cmpd_strerror(result).
 */
typedef cmpd_err (*cmpd_rk_sign_fn)(void *arg, const char *job_id,
    const char *key_id, const char *digest, const uint8_t *tbs, size_t tbslen,
    uint8_t **sig, size_t *siglen);

/*
 * Registers and loads the provider (and OpenSSL's default provider, which
 * does everything else) in libctx (NULL: OpenSSL's default context). Call
 * once per library context, before any other thread uses it; CMPD_EEXIST if
 * it is loaded there already.
 *
 * The provider's algorithms carry OpenSSL's standard names ("EC", "RSA",
 * "ED25519", "ECDSA"), so this also sets libctx's default property query to
 * "?provider=default": any fetch that names no provider (TLS, keys made by
 * name, verification with a CA's key) gets the default provider, and only
 * handles made by cmpd_rkprov_key_new reach this one.
 */
cmpd_err cmpd_rkprov_load(
    OSSL_LIB_CTX *libctx, cmpd_rk_sign_fn sign, void *arg);

/*
 * Unloads what cmpd_rkprov_load loaded into libctx, when no thread uses it
 * any more and before OSSL_LIB_CTX_free: OpenSSL frees a loaded provider
 * only when it is unloaded, not with its library context. Does nothing if
 * nothing was loaded there.
 */
void cmpd_rkprov_unload(OSSL_LIB_CTX *libctx);

/*
 * Creates a handle for the keyworker's key key_id of type type, whose public
 * key is the DER SubjectPublicKeyInfo spki, to be used for job job_id (the
 * sign function gets both ids). job_id and key_id must be cmpd's lower-case
 * hex ids; the SPKI must be exactly one DER structure of the type's
 * algorithm, curve or modulus size. CMPD_EINVAL otherwise, logged with the
 * job id. On success the caller owns *out, an EVP_PKEY of libctx that
 * signs through the keyworker, verifies and compares with its public key,
 * and exports only that; it may be used from several threads at once.
 */
cmpd_err cmpd_rkprov_key_new(OSSL_LIB_CTX *libctx, const char *job_id,
    const char *key_id, Cmpd__KeyType type, const uint8_t *spki,
    size_t spki_len, EVP_PKEY **out);
