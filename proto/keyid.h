/*
 * KeyInfo conventions. Key ids: a key is named by its public key, the first 32
 * hex digits of the SHA-256 of its DER SubjectPublicKeyInfo. The broker derives
 * the id of a supplier certificate's key from the certificate alone; the
 * keyworker names its key files with it.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define CMPD_KEY_ID_LEN 32

cmpd_err cmpd_key_id_from_spki(
    const uint8_t *spki, size_t len, char out[CMPD_KEY_ID_LEN + 1]);

#include <openssl/evp.h>

#include "cmpd.pb-c.h"

/*
 * The cmpd key type of pkey (EC P-256/P-384, RSA 2048/3072/4096, Ed25519),
 * or CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED for anything else.
 */
Cmpd__KeyType cmpd_key_type_of(const EVP_PKEY *pkey);

/*
 * The names configurations, the CLI and the client library use for key
 * types: "ec-p256", "ec-p384", "rsa2048", "rsa3072", "rsa4096", "ed25519".
 * cmpd_key_type_name gives "" for another value; cmpd_key_type_parse gives
 * CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED for another name.
 */
const char *cmpd_key_type_name(Cmpd__KeyType type);
Cmpd__KeyType cmpd_key_type_parse(const char *name);

/*
 * The keyworker's key pool option, "TYPE:COUNT ..." (spaces or commas
 * between entries, e.g. "rsa2048:2 ec-p256:4"): how many pre-generated
 * keys of each type to keep. counts[type] gets each COUNT (0 for a type
 * not named); at most CMPD_KEY_POOL_MAX keys in all. Returns CMPD_EINVAL
 * with a reason in err for another form, an unknown type, a type named
 * twice or too many keys. "" is an empty pool.
 */
#define CMPD_KEY_POOL_MAX   256
#define CMPD_KEY_TYPE_COUNT (CMPD__KEY_TYPE__KEY_ED25519 + 1)
cmpd_err cmpd_key_pool_parse(const char *spec,
    unsigned counts[CMPD_KEY_TYPE_COUNT], char *err, size_t errlen);
