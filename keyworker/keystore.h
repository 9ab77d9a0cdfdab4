/*
 * The key store: a directory (mode 0700) of key files DIR/<id>.key and the
 * import key pair DIR/import.key, DIR/import.pem. In memory it keeps only
 * an index (id, type, SPKI, creation time) sorted by id; a private key is
 * read from its file when a grant needs it. Used on one thread (the loop),
 * except kw_keygen_run, which touches no index.
 */
#pragma once

#include <openssl/evp.h>
#include <stddef.h>

#include "keyfile.h"

#define KW_IMPORT_KEY_NAME  "import.key"
#define KW_IMPORT_CERT_NAME "import.pem"

struct kw_keystore;

/*
 * Creates or accepts dir (mode 0700), removes leftovers of interrupted
 * writes and indexes every key file by name. A misnamed file is logged and
 * left out at once; a file that is corrupt, truncated, a link, or readable
 * by others when it is first read (kw_keystore_find, _load, _check); the
 * other keys stay usable.
 */
cmpd_err kw_keystore_open(const char *dir, struct kw_keystore **out);

/* The same, naming the store name (its path) in messages. */
cmpd_err kw_keystore_open_named(
    const char *dir, const char *name, struct kw_keystore **out);
void kw_keystore_free(struct kw_keystore *ks);

const char *kw_keystore_dir(const struct kw_keystore *ks);

/*
 * The index, in id order. An entry's id and created are known from the
 * file's name and time; its type and SPKI (spki NULL until then) once the
 * file was read. Entries stay valid until the next find, add, store,
 * load, check or delete.
 */
size_t kw_keystore_count(const struct kw_keystore *ks);
const struct kw_key *kw_keystore_at(const struct kw_keystore *ks, size_t i);

/*
 * Key id, read from its file if it was not yet; NULL if the store has no
 * such key or its file turns out unusable (logged, and the key leaves the
 * index).
 */
const struct kw_key *kw_keystore_find(struct kw_keystore *ks, const char *id);

/* 1 if id is in the index (its file not read). */
int kw_keystore_has(const struct kw_keystore *ks, const char *id);

/*
 * Reads up to max key files not read yet, leaving out (and logging) the
 * unusable ones. Returns 1 while some remain. The keyworker calls it a
 * few keys at a time while idle after startup.
 */
int kw_keystore_check(struct kw_keystore *ks, size_t max);

/*
 * Adds a key whose file is written to the index. On success the index owns
 * key->spki and *key is cleared; CMPD_EEXIST if the id is present.
 */
cmpd_err kw_keystore_add(struct kw_keystore *ks, struct kw_key *key);

/*
 * The private key id: kept in memory, or read from its file, which must
 * still hold the key the index describes. The caller owns *out (a
 * reference).
 */
cmpd_err kw_keystore_load(
    struct kw_keystore *ks, const char *id, EVP_PKEY **out, struct kw_why *why);

/*
 * Keeps pkey (a reference), the private key of id, in memory so that
 * loading id needs no file: the key store keeps the keys used last. A
 * key read by kw_keystore_load is kept too.
 */
void kw_keystore_keep(struct kw_keystore *ks, const char *id, EVP_PKEY *pkey);

/*
 * Stores pkey (an imported key): writes its file and indexes it. A key
 * already present is not an error; *out is its entry either way.
 */
cmpd_err kw_keystore_store(struct kw_keystore *ks, EVP_PKEY *pkey,
    const struct kw_key **out, struct kw_why *why);

/* Removes key id's file and flushes the directory. */
cmpd_err kw_keystore_delete(
    struct kw_keystore *ks, const char *id, struct kw_why *why);

/*
 * Generates a key of type for job and writes DIR/<id>.key, describing it
 * in *out
 * (the caller then gives it to kw_keystore_add). Thread-safe: it runs on
 * libuv's thread pool so a slow RSA-4096 does not hold up signing.
 */
cmpd_err kw_keygen_run(const char *dir, Cmpd__KeyType type, const char *job,
    struct kw_key *out, struct kw_why *why);

/*
 * The second half of kw_keygen_run, for a key made earlier (the key
 * pool's): writes pkey (still the caller's) to DIR/<id>.key, atomically
 * and durably, and describes it in *out. Thread-safe.
 */
cmpd_err kw_keygen_store(
    const char *dir, EVP_PKEY *pkey, struct kw_key *out, struct kw_why *why);

/* kw_keygen_run and kw_keystore_add in one call, on the calling thread. */
cmpd_err kw_keystore_generate(struct kw_keystore *ks, Cmpd__KeyType type,
    const struct kw_key **out, struct kw_why *why);
