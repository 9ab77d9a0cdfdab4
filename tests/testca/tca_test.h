/*
 * What the in-process tests of the test CA share (test_testca*.c): a
 * fresh PKI per test group, the CA answering OpenSSL's CMP client through
 * a transfer callback, and checks of what the client saw. Include after
 * <cmocka.h>.
 */
#pragma once

#include <openssl/cmp.h>
#include <openssl/x509.h>

#include "server.h"

struct tca_fixture {
	char dir[64];
	struct tca_server *srv;
	X509 *root;
	X509 *supplier;
	EVP_PKEY *supplier_key;
};

/* The options `serve` has without any. */
extern const struct tca_serve_opts tca_test_default_opts;

/* cmocka group setup and teardown: a new PKI in a temporary directory,
 * served with tca_test_default_opts; *state is a struct tca_fixture. */
int tca_test_setup(void **state);
int tca_test_teardown(void **state);

/* (Re)starts the CA on the fixture's PKI with opts. */
void tca_test_server_start(
    struct tca_fixture *f, const struct tca_serve_opts *opts);

X509 *tca_test_load_cert(const struct tca_fixture *f, const char *name);
EVP_PKEY *tca_test_load_key(const struct tca_fixture *f, const char *name);

/* A client of the fixture's CA protected by cert and key (both NULL:
 * unprotected), trusting root.pem. */
OSSL_CMP_CTX *tca_test_client_new(
    struct tca_fixture *f, X509 *cert, EVP_PKEY *key);
/* Sets the new key and, unless cn is NULL, the subject CN=cn. */
void tca_test_client_new_key(OSSL_CMP_CTX *ctx, EVP_PKEY *key, const char *cn);
/* Protects the client's requests with the PKI's MAC reference and secret. */
void tca_test_mac_credentials(struct tca_fixture *f, OSSL_CMP_CTX *ctx);

/* The client saw a rejection with failInfo bit and text in its
 * statusString. */
void tca_test_assert_rejected(OSSL_CMP_CTX *ctx, int bit, const char *text);

/* An IR protected by the supplier certificate for a new P-256 key. */
X509 *tca_test_enroll(struct tca_fixture *f, EVP_PKEY **key_out);
