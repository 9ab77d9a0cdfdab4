/*
 * cmpd_key_import_file against a responder that plays the keyworker: the
 * envelope the library sends must be a CMS AuthEnvelopedData with
 * AES-256-GCM that decrypts, with the recipient's key, to the very PKCS#8
 * of the key in the file, and must not carry it in clear.
 */
/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <cmpd/client.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keyid.h"
#include "test_client_resp.h"

/* The keyworker's side: its import key and what it decrypted. */
struct importer {
	EVP_PKEY *rkey;
	X509 *rcert;
	int bad_cert;   /* send a certificate with an RSA key */
	uint8_t *plain; /* the decrypted content */
	size_t plain_len;
	int auth_enveloped; /* the envelope's content type */
	int gcm;            /* the envelope names AES-256-GCM */
	uint8_t *envelope;  /* as received */
	size_t envelope_len;
};

static struct resp resp;
static struct importer imp;
static cmpd_client *cl;
static char dir[64];

static void
reply_cert(struct resp *r, const cmpd_env *req, nng_msg *raw)
{
	Cmpd__KeyImportCertRep rep = CMPD__KEY_IMPORT_CERT_REP__INIT;
	EVP_PKEY *rsa = imp.bad_cert ? tkey_new("RSA") : NULL;
	X509 *other =
	    rsa ? tcert_new(rsa, NULL, NULL, 9, "CN", "x", NULL) : NULL;
	cmpd_env env;

	cmpd_env_init(&env, req->id);
	rep.cert.data = tcert_der(other ? other : imp.rcert, &rep.cert.len);
	env.body_case = CMPD__ENVELOPE__BODY_KEY_IMPORT_CERT_REP;
	env.key_import_cert_rep = &rep;
	resp_reply(r, raw, req->id, &env);
	free(rep.cert.data);
	X509_free(other);
	EVP_PKEY_free(rsa);
}

/* Decrypts the envelope as the keyworker would. */
static void
open_envelope(const uint8_t *der, size_t len)
{
	static const uint8_t aes256gcm_oid[] = { 0x06, 0x09, 0x60, 0x86, 0x48,
		0x01, 0x65, 0x03, 0x04, 0x01, 0x2e };
	const unsigned char *p = der;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	BIO *out = BIO_new(BIO_s_mem());
	char *data;
	long n;

	imp.envelope = malloc(len);
	memcpy(imp.envelope, der, len);
	imp.envelope_len = len;
	imp.gcm =
	    memmem(der, len, aes256gcm_oid, sizeof(aes256gcm_oid)) != NULL;
	if (cms != NULL)
		imp.auth_enveloped = OBJ_obj2nid(CMS_get0_type(cms)) ==
		    NID_id_smime_ct_authEnvelopedData;
	if (cms != NULL &&
	    CMS_decrypt(cms, imp.rkey, imp.rcert, NULL, out, CMS_BINARY) == 1) {
		n = BIO_get_mem_data(out, &data);
		imp.plain = malloc((size_t)n);
		memcpy(imp.plain, data, (size_t)n);
		imp.plain_len = (size_t)n;
	}
	ERR_print_errors_fp(stderr);
	BIO_free(out);
	CMS_ContentInfo_free(cms);
}

/* The KeyInfo the keyworker would answer for the key it decrypted. */
static void
reply_key(struct resp *r, const cmpd_env *req, nng_msg *raw)
{
	Cmpd__KeyImportRep rep = CMPD__KEY_IMPORT_REP__INIT;
	Cmpd__KeyInfo ki = CMPD__KEY_INFO__INIT;
	const unsigned char *p = imp.plain;
	PKCS8_PRIV_KEY_INFO *p8 = imp.plain
	    ? d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)imp.plain_len)
	    : NULL;
	EVP_PKEY *key = p8 ? EVP_PKCS82PKEY(p8) : NULL;
	unsigned char *spki = NULL;
	char id[CMPD_KEY_ID_LEN + 1];
	cmpd_env env;
	int n;

	if (key == NULL || (n = i2d_PUBKEY(key, &spki)) <= 0 ||
	    cmpd_key_id_from_spki(spki, (size_t)n, id) != CMPD_OK) {
		cmpd_ipc_send_error(r->sock, req->id, CMPD_ECRYPTO,
		    "cannot open the envelope", raw);
	} else {
		cmpd_env_init(&env, req->id);
		ki.id = id;
		ki.type = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA
		    ? CMPD__KEY_TYPE__KEY_RSA_2048
		    : CMPD__KEY_TYPE__KEY_EC_P256;
		ki.spki.data = spki;
		ki.spki.len = (size_t)n;
		ki.created = 1700000300;
		rep.key = &ki;
		env.body_case = CMPD__ENVELOPE__BODY_KEY_IMPORT_REP;
		env.key_import_rep = &rep;
		resp_reply(r, raw, req->id, &env);
	}
	OPENSSL_free(spki);
	EVP_PKEY_free(key);
	PKCS8_PRIV_KEY_INFO_free(p8);
}

static void
keyworker_cb(struct resp *r, const cmpd_env *req, nng_msg *raw, void *arg)
{
	(void)arg;
	if (req->body_case == CMPD__ENVELOPE__BODY_KEY_IMPORT_CERT_REQ) {
		reply_cert(r, req, raw);
	} else if (req->body_case == CMPD__ENVELOPE__BODY_KEY_IMPORT_REQ) {
		open_envelope(req->key_import_req->envelope.data,
		    req->key_import_req->envelope.len);
		reply_key(r, req, raw);
	} else {
		cmpd_ipc_send_error(r->sock, req->id, CMPD_EUNAVAIL,
		    "the keyworker is not available", raw);
	}
}

static int
setup(void **state)
{
	(void)state;
	memset(&imp, 0, sizeof(imp));
	imp.rkey = tkey_new("EC");
	imp.rcert =
	    tcert_new(imp.rkey, NULL, NULL, 5, "CN", "cmpd key import", NULL);
	snprintf(dir, sizeof(dir), "/tmp/cmpd-key-test-XXXXXX");
	if (imp.rcert == NULL || mkdtemp(dir) == NULL ||
	    resp_start(&resp, keyworker_cb, NULL) != 0 ||
	    cmpd_client_open(resp.path, &cl) != CMPD_RESULT_OK)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	cmpd_client_close(cl);
	resp_stop(&resp);
	EVP_PKEY_free(imp.rkey);
	X509_free(imp.rcert);
	free(imp.plain);
	free(imp.envelope);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* How write_key writes the key. */
enum form { PKCS8, TRADITIONAL, PKCS8_ENCRYPTED, TRADITIONAL_ENCRYPTED };

static char *
write_key(const char *name, EVP_PKEY *key, enum form form, const char *pass)
{
	char *path = malloc(strlen(dir) + strlen(name) + 2);
	const EVP_CIPHER *c =
	    form >= PKCS8_ENCRYPTED ? EVP_aes_256_cbc() : NULL;
	int plen = pass ? (int)strlen(pass) : 0;
	BIO *b;

	sprintf(path, "%s/%s", dir, name);
	b = BIO_new_file(path, "w");
	assert_non_null(b);
	if (form == PKCS8 || form == PKCS8_ENCRYPTED)
		assert_int_equal(PEM_write_bio_PKCS8PrivateKey(
		                     b, key, c, (char *)pass, plen, NULL, NULL),
		    1);
	else
		assert_int_equal(PEM_write_bio_PrivateKey_traditional(b, key, c,
		                     (unsigned char *)pass, plen, NULL, NULL),
		    1);
	BIO_free(b);
	return path;
}

/* The DER PKCS#8 of key, as the keyworker must receive it. */
static void
expect_pkcs8(EVP_PKEY *key)
{
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(key);
	unsigned char *der = NULL;
	int n = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);

	assert_true(n > 0);
	assert_non_null(imp.plain);
	assert_int_equal(imp.plain_len, (size_t)n);
	assert_memory_equal(imp.plain, der, (size_t)n);
	assert_true(imp.auth_enveloped);
	assert_true(imp.gcm);
	/* Not in clear anywhere in what crossed the socket. */
	assert_null(memmem(imp.envelope, imp.envelope_len, der, (size_t)n));
	OPENSSL_free(der);
	PKCS8_PRIV_KEY_INFO_free(p8);
}

static void
import_ok(EVP_PKEY *key, const char *path, const char *pass, const char *type)
{
	cmpd_key_info *info = NULL;
	unsigned char *spki = NULL;
	char id[CMPD_KEY_ID_LEN + 1];
	size_t len = 0;
	int n = i2d_PUBKEY(key, &spki);

	assert_int_equal(
	    cmpd_key_import_file(cl, path, pass, &info), CMPD_RESULT_OK);
	expect_pkcs8(key);
	assert_int_equal(cmpd_key_id_from_spki(spki, (size_t)n, id), CMPD_OK);
	assert_string_equal(cmpd_key_info_id(info), id);
	assert_memory_equal(cmpd_key_info_spki(info, &len), spki, (size_t)n);
	assert_int_equal(len, (size_t)n);
	assert_int_equal(cmpd_key_info_created(info), 1700000300);
	assert_string_equal(cmpd_key_info_type(info), type);
	cmpd_key_info_free(info);
	OPENSSL_free(spki);
}

static void
test_import_pkcs8_ec(void **state)
{
	EVP_PKEY *key = tkey_new("EC");
	char *path = write_key("ec.pem", key, PKCS8, NULL);

	(void)state;
	import_ok(key, path, NULL, "ec-p256");
	assert_int_equal(resp_count(&resp), 2);
	assert_int_equal(resp_req(&resp, 0)->body_case,
	    CMPD__ENVELOPE__BODY_KEY_IMPORT_CERT_REQ);
	assert_int_equal(
	    resp_req(&resp, 1)->body_case, CMPD__ENVELOPE__BODY_KEY_IMPORT_REQ);
	free(path);
	EVP_PKEY_free(key);
}

/* "BEGIN RSA PRIVATE KEY" is re-encoded as PKCS#8. */
static void
test_import_traditional_rsa(void **state)
{
	EVP_PKEY *key = tkey_new("RSA");
	char *path = write_key("rsa.pem", key, TRADITIONAL, NULL);

	(void)state;
	import_ok(key, path, NULL, "rsa2048");
	free(path);
	EVP_PKEY_free(key);
}

/* Passphrase-protected files, both PEM encryption forms. */
static void
test_import_encrypted(void **state)
{
	EVP_PKEY *key = tkey_new("EC");
	char *p8 = write_key("p8.pem", key, PKCS8_ENCRYPTED, "s3cret pass");
	char *trad = write_key("trad.pem", key, TRADITIONAL_ENCRYPTED, "pw2");
	cmpd_key_info *info = NULL;

	(void)state;
	/* Wrong or missing passphrases fail here, before cmpd is asked. */
	assert_int_equal(
	    cmpd_key_import_file(cl, p8, "wrong", &info), CMPD_RESULT_DENIED);
	assert_non_null(strstr(cmpd_client_last_error(cl), "wrong passphrase"));
	assert_int_equal(
	    cmpd_key_import_file(cl, p8, NULL, &info), CMPD_RESULT_DENIED);
	assert_non_null(strstr(cmpd_client_last_error(cl), "passphrase"));
	assert_int_equal(
	    cmpd_key_import_file(cl, trad, "pw3", &info), CMPD_RESULT_DENIED);
	assert_null(info);
	assert_int_equal(resp_count(&resp), 0);

	import_ok(key, p8, "s3cret pass", "ec-p256");
	free(imp.plain);
	free(imp.envelope);
	imp.plain = imp.envelope = NULL;
	import_ok(key, trad, "pw2", "ec-p256");
	free(p8);
	free(trad);
	EVP_PKEY_free(key);
}

static void
test_import_bad_files(void **state)
{
	EVP_PKEY *key = tkey_new("EC");
	X509 *x = tcert_new(key, NULL, NULL, 1, "CN", "c", NULL);
	cmpd_key_info *info = NULL;
	char path[128];
	BIO *b;

	(void)state;
	snprintf(path, sizeof(path), "%s/missing.pem", dir);
	assert_int_equal(
	    cmpd_key_import_file(cl, path, NULL, &info), CMPD_RESULT_NOT_FOUND);
	/* A certificate is no private key. */
	snprintf(path, sizeof(path), "%s/cert.pem", dir);
	b = BIO_new_file(path, "w");
	PEM_write_bio_X509(b, x);
	BIO_free(b);
	assert_int_equal(
	    cmpd_key_import_file(cl, path, NULL, &info), CMPD_RESULT_INVALID);
	assert_non_null(strstr(cmpd_client_last_error(cl), "no PEM private"));
	assert_int_equal(
	    cmpd_key_import_file(cl, dir, NULL, &info), CMPD_RESULT_IO);
	if (geteuid() != 0) {
		char *p = write_key("locked.pem", key, PKCS8, NULL);

		chmod(p, 0);
		assert_int_equal(cmpd_key_import_file(cl, p, NULL, &info),
		    CMPD_RESULT_DENIED);
		free(p);
	}
	assert_null(info);
	assert_int_equal(resp_count(&resp), 0);
	X509_free(x);
	EVP_PKEY_free(key);
}

/* An import certificate without an EC key is refused: nothing is sent. */
static void
test_import_bad_recipient(void **state)
{
	EVP_PKEY *key = tkey_new("EC");
	char *path = write_key("k.pem", key, PKCS8, NULL);
	cmpd_key_info *info = NULL;

	(void)state;
	imp.bad_cert = 1;
	assert_int_equal(
	    cmpd_key_import_file(cl, path, NULL, &info), CMPD_RESULT_PROTOCOL);
	assert_int_equal(resp_count(&resp), 1);
	assert_null(info);
	free(path);
	EVP_PKEY_free(key);
}

static void
test_key_list_error(void **state)
{
	cmpd_key_array *keys = NULL;

	(void)state;
	assert_int_equal(cmpd_key_list(cl, &keys), CMPD_RESULT_UNAVAILABLE);
	assert_string_equal(
	    cmpd_client_last_error(cl), "the keyworker is not available");
	assert_null(keys);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_import_pkcs8_ec, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_import_traditional_rsa, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_import_encrypted, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_import_bad_files, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_import_bad_recipient, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_key_list_error, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
