/*
 * Internals of the remote-key provider, shared by its three files:
 * rkprov.c (the provider, loading, key handles), rkprov_keymgmt.c (the key
 * objects) and rkprov_sig.c (the signature operations).
 *
 * Functions in the OSSL_DISPATCH tables end in _cb and follow OpenSSL's
 * convention (1 or a pointer for success); the helpers behind them return
 * cmpd_err. Errors for OpenSSL's caller are raised on the thread's error
 * queue, where the networker drains them into its log with the job id.
 */
#pragma once

#include <openssl/core.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "rkprov.h"

#define RKPROV_NAME  "cmpd-remote"
#define RKPROV_PROPS "provider=cmpd-remote"
/* Where the public halves and the digests live. */
#define RKPROV_DEFAULT_PROPQ "provider=default"

/* The only parameters a key of this provider is made from. */
#define RKPROV_PARAM_KEY_ID "cmpd-key-id"
#define RKPROV_PARAM_JOB_ID "cmpd-job-id"
#define RKPROV_PARAM_SPKI   "cmpd-spki"

#define RKPROV_CTX_MAGIC 0x726b7063u /* "rkpc" */
#define RKPROV_KEY_MAGIC 0x726b6b79u /* "rkky" */
#define RKPROV_SIG_MAGIC 0x726b7367u /* "rksg" */

/* The key families the keyworker holds. */
enum rkprov_alg {
	RKPROV_ALG_RSA,
	RKPROV_ALG_EC,
	RKPROV_ALG_ED25519,
	RKPROV_ALG_MAX
};

/*
 * How many parsed public halves the provider keeps. Parsing a
 * SubjectPublicKeyInfo costs OpenSSL 3.0 a decoder context (about 0.1 ms);
 * the protection and TLS keys come back in every transaction.
 */
#define RKPROV_PUB_CACHE_N 8

/* A parsed public half and the DER it came from. */
struct rkprov_pub {
	unsigned char *der;
	size_t len;
	EVP_PKEY *pub;
};

/*
 * The provider context: immutable after the provider's init, except the
 * cache of public halves, which has its own lock.
 */
struct rkprov_ctx {
	uint32_t magic;
	OSSL_LIB_CTX *libctx;
	cmpd_rk_sign_fn sign;
	void *arg;
	pthread_mutex_t pub_lock;
	struct rkprov_pub pubs[RKPROV_PUB_CACHE_N];
	size_t pub_next; /* the slot the next new key replaces */
};

/*
 * A key handle: which keyworker key to ask, for which job, and the public
 * half as a key of the default provider (for verification, comparison and
 * export of the public key). Immutable once imported, so it is shared by
 * reference count between EVP_PKEY copies and signature contexts, from any
 * thread.
 */
struct rkprov_key {
	uint32_t magic;
	atomic_int refs;
	struct rkprov_ctx *prov;
	enum rkprov_alg alg;
	char *key_id; /* NULL until imported */
	char *job_id;
	EVP_PKEY *pub; /* NULL until imported */
};

extern const OSSL_DISPATCH rkprov_keymgmt_rsa[];
extern const OSSL_DISPATCH rkprov_keymgmt_ec[];
extern const OSSL_DISPATCH rkprov_keymgmt_ed25519[];
extern const OSSL_DISPATCH rkprov_sig_rsa[];
extern const OSSL_DISPATCH rkprov_sig_ec[];
extern const OSSL_DISPATCH rkprov_sig_ed25519[];

/*
 * The public half of the SubjectPublicKeyInfo der, parsed by the default
 * provider, from the cache or parsed now (and cached). All of der must be
 * one SubjectPublicKeyInfo. The caller owns a reference to *out.
 */
cmpd_err rkprov_pub_get(struct rkprov_ctx *ctx, const unsigned char *der,
    size_t len, EVP_PKEY **out);

/* Frees the cache of public halves (at the provider's teardown). */
void rkprov_pub_cache_free(struct rkprov_ctx *ctx);

/* OpenSSL's key type name of alg: "RSA", "EC" or "ED25519". */
const char *rkprov_alg_name(enum rkprov_alg alg);

/* Takes one more reference to key and returns it. */
struct rkprov_key *rkprov_key_ref(struct rkprov_key *key);

/* Drops a reference; the last one frees the key. NULL is ignored. */
void rkprov_key_unref(struct rkprov_key *key);
