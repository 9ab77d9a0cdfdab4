/*
 * What the hostile CA does to a real answer of the test CA: it takes the
 * PKIMessage cmpd-testca sent and changes exactly one thing, re-protecting
 * the result so that only that one thing is wrong (OpenSSL 3.0's public
 * API: OSSL_CMP_MSG_update_transactionID re-protects with a context's
 * credentials).
 */
#pragma once

#include <openssl/cmp.h>

#include "err.h"

enum tamper_kind {
	TAMPER_TID,         /* another transactionID, validly signed */
	TAMPER_NONCE,       /* another recipNonce, validly signed */
	TAMPER_UNPROTECTED, /* the protection removed */
	TAMPER_UNTRUSTED,   /* signed by a "CMP server" no anchor vouches for */
	TAMPER_BADMAC,      /* MAC-protected with a wrong secret */
	TAMPER_MAX
};

struct tamper_keys {
	X509 *srv_cert; /* the test CA's CMP signer (srv.pem) */
	EVP_PKEY *srv_key;
	X509 *rogue_cert; /* srv.pem's subject and SKID, from rogue-root */
	EVP_PKEY *rogue_key;
};

/*
 * Loads srv.pem and srv.key from the PKI directory and makes the rogue
 * signer with rogue-root.pem and rogue-root.key.
 */
cmpd_err tamper_keys_load(struct tamper_keys *k, const char *pki);
void tamper_keys_fini(struct tamper_keys *k);

/* Changes *msg as kind says; *msg may be replaced. */
cmpd_err tamper_apply(
    const struct tamper_keys *k, enum tamper_kind kind, OSSL_CMP_MSG **msg);

/* Sends req to the CMP server at 127.0.0.1:port; NULL on failure. */
OSSL_CMP_MSG *tamper_forward(int port, const OSSL_CMP_MSG *req);
