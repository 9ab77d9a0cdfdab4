/*
 * Key ids: a key is named by its public key, the first 32 hex digits of the
 * SHA-256 of its DER SubjectPublicKeyInfo. The broker derives the id of a
 * supplier certificate's key from the certificate alone; the keyworker names
 * its key files with it.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define CMPD_KEY_ID_LEN 32

cmpd_err cmpd_key_id_from_spki(const uint8_t *spki, size_t len,
    char out[CMPD_KEY_ID_LEN + 1]);
