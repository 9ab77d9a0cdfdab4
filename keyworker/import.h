/*
 * Key import. A private key reaches the keyworker only as CMS ciphertext:
 * the client encrypts a DER PKCS#8 PrivateKeyInfo (CMS_encrypt, AES-256-GCM
 * AuthEnvelopedData or EnvelopedData) to the keyworker's import
 * certificate, and the broker passes the envelope through. The import key
 * is an EC P-256 key in DIR/import.key with a self-signed certificate
 * "CN=cmpd keyworker import" in DIR/import.pem, both made on first start.
 */
#pragma once

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "keyfile.h"

/* Largest envelope accepted: a PKCS#8 RSA-4096 key is about 2.4 KiB. */
#define KW_IMPORT_ENVELOPE_MAX (64u << 10)

struct kw_importer;

/*
 * Loads the import key and certificate from dir, creating them if missing
 * and replacing them (with a warning) if unusable.
 */
cmpd_err kw_importer_open(const char *dir, struct kw_importer **out);
void kw_importer_free(struct kw_importer *imp);

/* The import certificate, DER; owned by imp. */
const uint8_t *kw_importer_cert(const struct kw_importer *imp, size_t *len);

/*
 * Decrypts envelope and returns the private key it carries after checking
 * that its type is supported and its public and private halves agree. The
 * plaintext lives only in OpenSSL's secure heap and is wiped. The caller
 * owns *out.
 */
cmpd_err kw_importer_unwrap(struct kw_importer *imp, const uint8_t *envelope,
    size_t len, EVP_PKEY **out, struct kw_why *why);
