/*
 * A stand-in keyworker for the remote-key provider tests: real software
 * keys in a library context of their own, a sign function with the shape
 * of cmpd_rk_sign_fn that signs with them, and a record of every call.
 * Also a few DER readers the tests use to check what was signed.
 */
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "keyid.h"
#include "rkprov.h"
#include "util.h"

#define KW_MAX_KEYS  16
#define KW_MAX_CALLS 64
#define KW_JOB_ID    "0123456789abcdef"

struct kw_key {
	char id[CMPD_KEY_ID_LEN + 1];
	Cmpd__KeyType type;
	EVP_PKEY *priv; /* in the keyworker's library context */
	uint8_t *spki;
	size_t spki_len;
};

struct kw_call {
	char job_id[CMPD_JOB_ID_LEN + 1];
	char key_id[CMPD_KEY_ID_LEN + 1];
	char digest[8];
	uint8_t *tbs;
	size_t tbs_len;
};

struct kw {
	OSSL_LIB_CTX *libctx;
	struct kw_key keys[KW_MAX_KEYS];
	size_t nkeys;
	pthread_mutex_t lock;
	struct kw_call calls[KW_MAX_CALLS]; /* the first KW_MAX_CALLS */
	size_t ncalls;
	cmpd_err fail;    /* returned by every call from fail_at on */
	size_t fail_at;   /* 0-based call number */
	size_t extra_sig; /* bytes appended to each signature */
	int corrupt;      /* flip a bit in each signature */
};

cmpd_err kw_init(struct kw *kw);
void kw_fini(struct kw *kw);

/* Generates a key of type in the keyworker; *out stays kw's. */
cmpd_err kw_key_add(struct kw *kw, Cmpd__KeyType type, struct kw_key **out);

/* Forgets the recorded calls and any planned failure. */
void kw_reset(struct kw *kw);

/* The sign function given to cmpd_rkprov_load (arg is the struct kw). */
cmpd_err kw_sign_cb(void *arg, const char *job_id, const char *key_id,
    const char *digest, const uint8_t *tbs, size_t tbslen, uint8_t **sig,
    size_t *siglen);

/* A handle of the provider in libctx for key k. */
EVP_PKEY *kw_handle(OSSL_LIB_CTX *libctx, const struct kw_key *k);

/* k's public key, decoded from its SPKI in libctx (default provider). */
EVP_PKEY *kw_pub(OSSL_LIB_CTX *libctx, const struct kw_key *k);

/* Verifies sig over tbs with the real key k (digest "" for Ed25519). */
int kw_verify(const struct kw *kw, const struct kw_key *k, const char *digest,
    const uint8_t *tbs, size_t tbslen, const uint8_t *sig, size_t siglen);

/*
 * DER readers. der_child reads the element at *p (at most *left bytes):
 * its tag, class, where it starts and ends; *p and *left move past it.
 * Returns 0 on malformed input.
 */
struct der_elem {
	const uint8_t *start; /* the identifier octet */
	const uint8_t *body;  /* the contents */
	long body_len;
	int tag;
	int cls;
};
int der_child(const uint8_t **p, long *left, struct der_elem *e);

/*
 * The body tag of a DER ProtectedPart (SEQUENCE { PKIHeader, [n] body }),
 * or -1 if tbs is not one.
 */
int der_protected_part_body(const uint8_t *tbs, size_t len);

/*
 * The publicKey [6] of a DER CertTemplate, retagged as a SEQUENCE: a new
 * SPKI the caller frees with OPENSSL_free. NULL if absent.
 */
uint8_t *der_template_spki(const uint8_t *tmpl, size_t len, size_t *spki_len);

/*
 * If tbs is a DER CertRequest (SEQUENCE { INTEGER, CertTemplate, ... }),
 * its template's SPKI as by der_template_spki; else NULL.
 */
uint8_t *der_certreq_spki(const uint8_t *tbs, size_t len, size_t *spki_len);
