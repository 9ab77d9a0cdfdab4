/*
 * The test CA driven in-process by OpenSSL's CMP client: a transfer
 * callback hands each request to tca_server_handle(). Covers what the
 * openssl CLI cannot easily provoke: unsupported keys, missing subjects,
 * unprotected requests, unknown references and serials, a restart between
 * enrollment and KUR, revoked signers, genm answers and the polling count.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <ftw.h>
#include <openssl/cmp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "issue.h"
#include "log.h"
#include "pki.h"
#include "server.h"

struct fixture {
	char dir[64];
	struct tca_server *srv;
	X509 *root;
	X509 *supplier;
	EVP_PKEY *supplier_key;
};

static const struct tca_serve_opts default_opts = {
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

static X509 *
load_cert(const struct fixture *f, const char *name)
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

static EVP_PKEY *
load_key(const struct fixture *f, const char *name)
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

static void
server_start(struct fixture *f, const struct tca_serve_opts *opts)
{
	tca_server_free(f->srv);
	f->srv = NULL;
	assert_int_equal(tca_server_new(f->dir, opts, &f->srv), CMPD_OK);
}

/* A client protected by cert and key (both NULL: unprotected). */
static OSSL_CMP_CTX *
client_new(struct fixture *f, X509 *cert, EVP_PKEY *key)
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

static void
client_new_key(OSSL_CMP_CTX *ctx, EVP_PKEY *key, const char *cn)
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

/* The PKI's MAC reference and secret. */
static void
mac_credentials(struct fixture *f, OSSL_CMP_CTX *ctx)
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

/* The client saw a rejection with failInfo bit and text in it. */
static void
assert_rejected(OSSL_CMP_CTX *ctx, int bit, const char *text)
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

/* An IR with the supplier certificate and a new P-256 key. */
static X509 *
enroll(struct fixture *f, EVP_PKEY **key_out)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	OSSL_CMP_CTX *ctx = client_new(f, f->supplier, f->supplier_key);
	X509 *cert;

	client_new_key(ctx, key, "enrolled");
	cert = OSSL_CMP_exec_IR_ses(ctx);
	assert_non_null(cert);
	assert_true(X509_up_ref(cert));
	OSSL_CMP_CTX_free(ctx);
	*key_out = key;
	return cert;
}

static void
test_ir_unsupported_curve(void **state)
{
	struct fixture *f = *state;
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	OSSL_CMP_CTX *ctx = client_new(f, f->supplier, f->supplier_key);

	client_new_key(ctx, key, "p521");
	assert_null(OSSL_CMP_exec_IR_ses(ctx));
	assert_rejected(ctx, OSSL_CMP_PKIFAILUREINFO_badAlg,
	    "unsupported EC curve secp521r1");
	OSSL_CMP_CTX_free(ctx);
	EVP_PKEY_free(key);
}

/* A CSR whose signature is fine (POPO) but whose subject is empty. */
static void
test_p10cr_without_subject(void **state)
{
	struct fixture *f = *state;
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	OSSL_CMP_CTX *ctx = client_new(f, NULL, NULL);
	X509_REQ *csr = X509_REQ_new();

	assert_true(X509_REQ_set_version(csr, X509_REQ_VERSION_1));
	assert_true(X509_REQ_set_pubkey(csr, key));
	assert_true(X509_REQ_sign(csr, key, EVP_sha256()) > 0);
	/* p10cr is not for supplier certificates: the MAC protects it. */
	assert_true(OSSL_CMP_CTX_set1_p10CSR(ctx, csr));
	mac_credentials(f, ctx);
	assert_null(OSSL_CMP_exec_P10CR_ses(ctx));
	assert_rejected(
	    ctx, OSSL_CMP_PKIFAILUREINFO_badCertTemplate, "without a subject");
	OSSL_CMP_CTX_free(ctx);
	X509_REQ_free(csr);
	EVP_PKEY_free(key);
}

static void
test_ir_unprotected(void **state)
{
	struct fixture *f = *state;
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	OSSL_CMP_CTX *ctx = client_new(f, NULL, NULL);

	client_new_key(ctx, key, "unprotected");
	assert_true(
	    OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_UNPROTECTED_SEND, 1));
	assert_null(OSSL_CMP_exec_IR_ses(ctx));
	assert_rejected(ctx, OSSL_CMP_PKIFAILUREINFO_badMessageCheck,
	    "request is not protected");
	OSSL_CMP_CTX_free(ctx);
	EVP_PKEY_free(key);
}

static void
test_ir_unknown_mac_reference(void **state)
{
	struct fixture *f = *state;
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	OSSL_CMP_CTX *ctx = client_new(f, NULL, NULL);

	client_new_key(ctx, key, "mac");
	assert_true(OSSL_CMP_CTX_set1_referenceValue(
	    ctx, (const unsigned char *)"device-9999", 11));
	assert_true(OSSL_CMP_CTX_set1_secretValue(
	    ctx, (const unsigned char *)"guess", 5));
	/* The refusal is unprotected: our MAC would not verify for it. */
	assert_true(
	    OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_UNPROTECTED_ERRORS, 1));
	assert_null(OSSL_CMP_exec_IR_ses(ctx));
	assert_rejected(ctx, OSSL_CMP_PKIFAILUREINFO_badMessageCheck,
	    "MAC reference \"device-9999\" not known");
	OSSL_CMP_CTX_free(ctx);
	EVP_PKEY_free(key);
}

/* A certificate with this CA's name and key that the CA never issued. */
static X509 *
forge_unknown(struct fixture *f, EVP_PKEY *pub)
{
	X509 *ca = load_cert(f, "ca.pem");
	EVP_PKEY *ca_key = load_key(f, "ca.key");
	X509_NAME *name = X509_NAME_new();
	X509 *cert = NULL;

	assert_true(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"never issued", -1, -1, 0));
	assert_int_equal(tca_cert_new(name, pub, ca, 30, &cert), CMPD_OK);
	assert_int_equal(tca_cert_sign(cert, ca_key), CMPD_OK);
	X509_NAME_free(name);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	return cert;
}

static void
test_rr_refusals(void **state)
{
	struct fixture *f = *state;
	EVP_PKEY *key = NULL;
	X509 *cert = enroll(f, &key);
	X509 *unknown = forge_unknown(f, key);
	OSSL_CMP_CTX *ctx = client_new(f, cert, key);

	assert_true(OSSL_CMP_CTX_set1_oldCert(ctx, unknown));
	assert_int_equal(OSSL_CMP_exec_RR_ses(ctx), 0);
	assert_rejected(ctx, OSSL_CMP_PKIFAILUREINFO_badCertId,
	    "unknown certificate serial");
	OSSL_CMP_CTX_free(ctx);
	ctx = client_new(f, cert, key);
	assert_true(OSSL_CMP_CTX_set1_oldCert(ctx, f->supplier));
	assert_int_equal(OSSL_CMP_exec_RR_ses(ctx), 0);
	assert_rejected(ctx, OSSL_CMP_PKIFAILUREINFO_badCertId,
	    "was not issued by this CA");
	OSSL_CMP_CTX_free(ctx);
	X509_free(unknown);
	X509_free(cert);
	EVP_PKEY_free(key);
}

/* issued.txt is read back: KUR works after a restart; after RR the
 * certificate no longer protects requests. */
static void
test_restart_kur_then_revoked(void **state)
{
	struct fixture *f = *state;
	EVP_PKEY *key = NULL;
	EVP_PKEY *next = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	X509 *cert = enroll(f, &key);
	OSSL_CMP_CTX *ctx;

	server_start(f, &default_opts);
	ctx = client_new(f, cert, key);
	client_new_key(ctx, next, NULL);
	assert_non_null(OSSL_CMP_exec_KUR_ses(ctx));
	OSSL_CMP_CTX_free(ctx);

	ctx = client_new(f, cert, key);
	assert_true(OSSL_CMP_CTX_set1_oldCert(ctx, cert));
	assert_int_equal(OSSL_CMP_exec_RR_ses(ctx), 1);
	OSSL_CMP_CTX_free(ctx);
	server_start(f, &default_opts);
	ctx = client_new(f, cert, key);
	client_new_key(ctx, next, NULL);
	assert_null(OSSL_CMP_exec_KUR_ses(ctx));
	assert_rejected(ctx, OSSL_CMP_PKIFAILUREINFO_signerNotTrusted,
	    "certificate revoked");
	OSSL_CMP_CTX_free(ctx);
	X509_free(cert);
	EVP_PKEY_free(key);
	EVP_PKEY_free(next);
}

static void
test_genm(void **state)
{
	struct fixture *f = *state;
	OSSL_CMP_CTX *ctx = client_new(f, f->supplier, f->supplier_key);
	STACK_OF(OSSL_CMP_ITAV) * itavs;
	X509 *ca = load_cert(f, "ca.pem");
	const ASN1_TYPE *v;
	const unsigned char *p;
	long len;
	X509 *c1, *c2;

	assert_true(OSSL_CMP_CTX_push0_genm_ITAV(
	    ctx, OSSL_CMP_ITAV_create(OBJ_nid2obj(NID_id_it_caCerts), NULL)));
	assert_true(OSSL_CMP_CTX_push0_genm_ITAV(ctx,
	    OSSL_CMP_ITAV_create(OBJ_txt2obj("1.3.6.1.5.5.7.4.20", 1), NULL)));
	itavs = OSSL_CMP_exec_GENM_ses(ctx);
	assert_int_equal(sk_OSSL_CMP_ITAV_num(itavs), 2);
	v = OSSL_CMP_ITAV_get0_value(sk_OSSL_CMP_ITAV_value(itavs, 0));
	assert_non_null(v);
	assert_int_equal(ASN1_TYPE_get(v), V_ASN1_SEQUENCE);
	/* SEQUENCE OF Certificate: skip its header, then ca, then root. */
	p = ASN1_STRING_get0_data(v->value.sequence);
	len = ASN1_STRING_length(v->value.sequence);
	assert_true(len > 4 && p[0] == 0x30 && p[1] == 0x82);
	p += 4;
	c1 = d2i_X509(NULL, &p, len - 4);
	c2 = d2i_X509(NULL, &p, len - 4);
	assert_int_equal(X509_cmp(c1, ca), 0);
	assert_int_equal(X509_cmp(c2, f->root), 0);
	assert_null(OSSL_CMP_ITAV_get0_value(sk_OSSL_CMP_ITAV_value(itavs, 1)));
	X509_free(c1);
	X509_free(c2);
	X509_free(ca);
	sk_OSSL_CMP_ITAV_pop_free(itavs, OSSL_CMP_ITAV_free);
	OSSL_CMP_CTX_free(ctx);
}

/* --poll 2: ip 'waiting', an immediate pollReq answered by a pollRep
 * (try_certreq returns -1 once), then the certificate. */
static void
test_polling_count(void **state)
{
	struct fixture *f = *state;
	struct tca_serve_opts opts = default_opts;
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	OSSL_CMP_CTX *ctx;
	int check_after = -1, rv, waits = 0;

	opts.poll = 2;
	opts.check_after = 7;
	server_start(f, &opts);
	ctx = client_new(f, f->supplier, f->supplier_key);
	client_new_key(ctx, key, "polled");
	while ((rv = OSSL_CMP_try_certreq(
	            ctx, OSSL_CMP_IR, NULL, &check_after)) == -1) {
		assert_int_equal(check_after, 7);
		waits++;
	}
	assert_int_equal(rv, 1);
	assert_int_equal(waits, 1);
	assert_non_null(OSSL_CMP_CTX_get0_newCert(ctx));
	OSSL_CMP_CTX_free(ctx);
	EVP_PKEY_free(key);
	server_start(f, &default_opts);
}

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	cmpd_log_init(
	    "test_testca", getenv("TCA_DEBUG") ? CMPD_LOG_DEBUG : CMPD_LOG_ERR);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_testca.XXXXXX");
	if (mkdtemp(f->dir) == NULL || tca_pki_init(f->dir) != CMPD_OK)
		return -1;
	f->root = load_cert(f, "root.pem");
	f->supplier = load_cert(f, "supplier.pem");
	f->supplier_key = load_key(f, "supplier.key");
	server_start(f, &default_opts);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	tca_server_free(f->srv);
	X509_free(f->root);
	X509_free(f->supplier);
	EVP_PKEY_free(f->supplier_key);
	nftw(f->dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ir_unsupported_curve),
		cmocka_unit_test(test_p10cr_without_subject),
		cmocka_unit_test(test_ir_unprotected),
		cmocka_unit_test(test_ir_unknown_mac_reference),
		cmocka_unit_test(test_rr_refusals),
		cmocka_unit_test(test_restart_kur_then_revoked),
		cmocka_unit_test(test_genm),
		cmocka_unit_test(test_polling_count),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
