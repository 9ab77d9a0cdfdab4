/* The in-process test fixture of the test CA (see tca_test.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <ftw.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "log.h"
#include "pki.h"
#include "tca_test.h"

const struct tca_serve_opts tca_test_default_opts = {
	.check_after = 1,
	.validity_days = 30,
	.idle_seconds = 300,
};

static OSSL_CMP_MSG *
transfer_cb(OSSL_CMP_CTX *ctx, const OSSL_CMP_MSG *req)
{
	struct tca_server *srv = OSSL_CMP_CTX_get_transfer_cb_arg(ctx);
	unsigned char *der = NULL;
	uint8_t *out = NULL;
	size_t out_len = 0;
	OSSL_CMP_MSG *rsp = NULL;
	int n = i2d_OSSL_CMP_MSG(req, &der);

	if (n > 0 &&
	    tca_server_handle(srv, der, (size_t)n, &out, &out_len) == CMPD_OK) {
		const unsigned char *p = out;

		rsp = d2i_OSSL_CMP_MSG(NULL, &p, (long)out_len);
	}
	OPENSSL_free(der);
	OPENSSL_free(out);
	return rsp;
}

static int
quiet_log_cb(const char *func, const char *file, int line,
    OSSL_CMP_severity level, const char *msg)
{
	(void)func;
	(void)file;
	(void)line;
	(void)level;
	(void)msg;
	return 1;
}

X509 *
tca_test_load_cert(const struct tca_fixture *f, const char *name)
{
	char path[128];
	BIO *bio;
	X509 *cert;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	bio = BIO_new_file(path, "r");
	assert_non_null(bio);
	cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(cert);
	return cert;
}

EVP_PKEY *
tca_test_load_key(const struct tca_fixture *f, const char *name)
{
	char path[128];
	BIO *bio;
	EVP_PKEY *key;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	bio = BIO_new_file(path, "r");
	assert_non_null(bio);
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(key);
	return key;
}

void
tca_test_server_start(struct tca_fixture *f, const struct tca_serve_opts *opts)
{
	tca_server_free(f->srv);
	f->srv = NULL;
	assert_int_equal(tca_server_new(f->dir, opts, &f->srv), CMPD_OK);
}

OSSL_CMP_CTX *
tca_test_client_new(struct tca_fixture *f, X509 *cert, EVP_PKEY *key)
{
	OSSL_CMP_CTX *ctx = OSSL_CMP_CTX_new(NULL, NULL);
	X509_STORE *ts = X509_STORE_new();
	X509_NAME *rcpt = X509_NAME_new();

	assert_non_null(ctx);
	assert_non_null(ts);
	assert_true(X509_STORE_add_cert(ts, f->root));
	assert_true(OSSL_CMP_CTX_set0_trustedStore(ctx, ts));
	assert_true(OSSL_CMP_CTX_set_log_cb(ctx, quiet_log_cb));
	assert_true(OSSL_CMP_CTX_set_transfer_cb(ctx, transfer_cb));
	assert_true(OSSL_CMP_CTX_set_transfer_cb_arg(ctx, f->srv));
	assert_true(X509_NAME_add_entry_by_txt(rcpt, "CN", MBSTRING_ASC,
	    (const unsigned char *)"cmpd Test CMP Server", -1, -1, 0));
	assert_true(OSSL_CMP_CTX_set1_recipient(ctx, rcpt));
	X509_NAME_free(rcpt);
	if (cert != NULL) {
		assert_true(OSSL_CMP_CTX_set1_cert(ctx, cert));
		assert_true(OSSL_CMP_CTX_set1_pkey(ctx, key));
	}
	return ctx;
}

void
tca_test_client_new_key(OSSL_CMP_CTX *ctx, EVP_PKEY *key, const char *cn)
{
	X509_NAME *name = NULL;

	assert_true(EVP_PKEY_up_ref(key));
	assert_true(OSSL_CMP_CTX_set0_newPkey(ctx, 1, key));
	if (cn == NULL)
		return;
	name = X509_NAME_new();
	assert_true(X509_NAME_add_entry_by_txt(
	    name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0));
	assert_true(OSSL_CMP_CTX_set1_subjectName(ctx, name));
	X509_NAME_free(name);
}

void
tca_test_mac_credentials(struct tca_fixture *f, OSSL_CMP_CTX *ctx)
{
	char path[128];
	uint8_t *ref = NULL, *secret = NULL;
	size_t ref_len = 0, secret_len = 0;

	snprintf(path, sizeof(path), "%s/mac-ref.txt", f->dir);
	assert_int_equal(cmpd_file_read(path, 100, 1, &ref, &ref_len), CMPD_OK);
	snprintf(path, sizeof(path), "%s/mac-secret.txt", f->dir);
	assert_int_equal(
	    cmpd_file_read(path, 100, 1, &secret, &secret_len), CMPD_OK);
	assert_true(ref_len > 1 && secret_len > 1);
	assert_true(OSSL_CMP_CTX_set1_referenceValue(ctx, ref, ref_len - 1));
	assert_true(
	    OSSL_CMP_CTX_set1_secretValue(ctx, secret, (int)secret_len - 1));
	cmpd_file_free(ref, ref_len);
	cmpd_file_free(secret, secret_len);
}

void
tca_test_assert_rejected(OSSL_CMP_CTX *ctx, int bit, const char *text)
{
	OSSL_CMP_PKIFREETEXT *ss = OSSL_CMP_CTX_get0_statusString(ctx);
	const ASN1_UTF8STRING *s = sk_ASN1_UTF8STRING_value(ss, 0);

	assert_int_equal(
	    OSSL_CMP_CTX_get_status(ctx), OSSL_CMP_PKISTATUS_rejection);
	assert_true((OSSL_CMP_CTX_get_failInfoCode(ctx) & (1 << bit)) != 0);
	assert_non_null(s);
	assert_non_null(strstr((const char *)ASN1_STRING_get0_data(s), text));
	ERR_clear_error();
}

X509 *
tca_test_enroll(struct tca_fixture *f, EVP_PKEY **key_out)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	OSSL_CMP_CTX *ctx =
	    tca_test_client_new(f, f->supplier, f->supplier_key);
	X509 *cert;

	tca_test_client_new_key(ctx, key, "enrolled");
	cert = OSSL_CMP_exec_IR_ses(ctx);
	assert_non_null(cert);
	assert_true(X509_up_ref(cert));
	OSSL_CMP_CTX_free(ctx);
	*key_out = key;
	return cert;
}

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
tca_test_setup(void **state)
{
	struct tca_fixture *f = calloc(1, sizeof(*f));

	cmpd_log_init(
	    "test_testca", getenv("TCA_DEBUG") ? CMPD_LOG_DEBUG : CMPD_LOG_ERR);
	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_testca.XXXXXX");
	if (mkdtemp(f->dir) == NULL || tca_pki_init(f->dir) != CMPD_OK) {
		free(f);
		return -1;
	}
	f->root = tca_test_load_cert(f, "root.pem");
	f->supplier = tca_test_load_cert(f, "supplier.pem");
	f->supplier_key = tca_test_load_key(f, "supplier.key");
	tca_test_server_start(f, &tca_test_default_opts);
	*state = f;
	return 0;
}

int
tca_test_teardown(void **state)
{
	struct tca_fixture *f = *state;

	tca_server_free(f->srv);
	X509_free(f->root);
	X509_free(f->supplier);
	EVP_PKEY_free(f->supplier_key);
	nftw(f->dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}
