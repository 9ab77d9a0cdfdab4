/*
 * Key files and key descriptions. A key lives in one file, an unencrypted
 * PKCS#8 PrivateKeyInfo in PEM, mode 0600, in a directory only the
 * keyworker can enter. A key is named by its public key (common/keyid.h)
 * and described by its type, its DER SubjectPublicKeyInfo and its age.
 */
#pragma once

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "cmpd.pb-c.h"
#include "err.h"
#include "keyid.h"

/* Largest key file read; an RSA-4096 key is about 3.3 KiB of PEM. */
#define KW_KEYFILE_MAX (64u << 10)

/* A reason a person can act on, filled by a function that fails. */
struct kw_why {
	char text[256];
};

void kw_why_set(struct kw_why *why, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The public description of a key; spki is malloc'd and owned. */
struct kw_key {
	char id[CMPD_KEY_ID_LEN + 1];
	Cmpd__KeyType type;
	int64_t created;
	uint8_t *spki;
	size_t spki_len;
};

void kw_key_fini(struct kw_key *key);

/* "EC P-256", "RSA 2048", "Ed25519"...; "unknown" for anything else. */
const char *kw_key_type_name(Cmpd__KeyType type);

/* 1 if cmpd can generate and use keys of type. */
int kw_key_type_valid(Cmpd__KeyType type);

/*
 * Describes pkey: its type (refusing every type cmpd does not support,
 * with the reason in why), SPKI and id. created is left 0. Thread-safe.
 */
cmpd_err kw_key_describe(
    EVP_PKEY *pkey, struct kw_key *out, struct kw_why *why);

/*
 * Generates a new key pair of a supported type; OpenSSL's errors are
 * logged with job (a job id, or what the key is for). Thread-safe.
 */
cmpd_err kw_key_generate(
    Cmpd__KeyType type, const char *job, EVP_PKEY **out, struct kw_why *why);

/*
 * A PKCS#8 decoder. Setting one up costs a millisecond, decoding with it
 * tens of microseconds, so the store keeps one for its whole life. Not
 * thread-safe: one thread uses one decoder.
 */
struct kw_keydec;

cmpd_err kw_keydec_new(struct kw_keydec **out);
void kw_keydec_free(struct kw_keydec *dec);

/* Decodes a DER PrivateKeyInfo that must fill all len bytes. */
cmpd_err kw_keydec_der(struct kw_keydec *dec, const uint8_t *der, size_t len,
    EVP_PKEY **out, struct kw_why *why);

/*
 * Reads the key file name in directory dir: it must be a regular file (not
 * a symbolic link) of this process's user with no group or other
 * permission, holding one PEM "PRIVATE KEY". *mtime gets its modification
 * time. On failure why names the file and the reason.
 */
cmpd_err kw_keyfile_read(struct kw_keydec *dec, const char *dir,
    const char *name, EVP_PKEY **out, int64_t *mtime, struct kw_why *why);

/*
 * Writes pkey as PKCS#8 PEM to path, mode 0600, atomically and durably.
 * The plaintext passes only through OpenSSL's secure heap. Thread-safe.
 */
cmpd_err kw_keyfile_write(const char *path, EVP_PKEY *pkey, struct kw_why *why);
