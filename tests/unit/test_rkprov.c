/*
 * The remote-key provider with real signatures: each handle's sign calls
 * reach a stand-in keyworker (test_rkprov_kw.c) that signs with a software
 * key, and every signature is checked against that real key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/proverr.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <string.h>

#include "ipc.h"
#include "test_rkprov_kw.h"

struct key_case {
	Cmpd__KeyType type;
	int evp_id;
	int bits;
	const char *md; /* the digest to sign with, NULL for none */
	const char *wire_md;
	int sig_nid; /* of the signature's AlgorithmIdentifier */
};

static const struct key_case cases[] = {
	{ CMPD__KEY_TYPE__KEY_EC_P256, EVP_PKEY_EC, 256, "SHA256", "SHA256",
	    NID_ecdsa_with_SHA256 },
	{ CMPD__KEY_TYPE__KEY_EC_P384, EVP_PKEY_EC, 384, "SHA2-384", "SHA384",
	    NID_ecdsa_with_SHA384 },
	{ CMPD__KEY_TYPE__KEY_RSA_2048, EVP_PKEY_RSA, 2048, "SHA256", "SHA256",
	    NID_sha256WithRSAEncryption },
	{ CMPD__KEY_TYPE__KEY_RSA_3072, EVP_PKEY_RSA, 3072, "SHA512", "SHA512",
	    NID_sha512WithRSAEncryption },
	{ CMPD__KEY_TYPE__KEY_RSA_4096, EVP_PKEY_RSA, 4096, "SHA384", "SHA384",
	    NID_sha384WithRSAEncryption },
	{ CMPD__KEY_TYPE__KEY_ED25519, EVP_PKEY_ED25519, 256, NULL, "",
	    NID_ED25519 },
};

#define NCASES CMPD_ARRAY_LEN(cases)

static struct {
	OSSL_LIB_CTX *libctx;
	struct kw kw;
	struct kw_key *keys[NCASES];
	struct kw_key *others[NCASES]; /* a second key of each type */
} g;

static const uint8_t msg[] = "a to-be-signed structure, really DER";

static struct kw_key *
case_key(const struct key_case *c)
{
	return g.keys[c - cases];
}

static int
group_setup(void **state)
{
	size_t i;

	(void)state;
	if (kw_init(&g.kw) != CMPD_OK ||
	    (g.libctx = OSSL_LIB_CTX_new()) == NULL)
		return -1;
	if (cmpd_rkprov_load(g.libctx, kw_sign_cb, &g.kw) != CMPD_OK)
		return -1;
	for (i = 0; i < NCASES; i++) {
		if (kw_key_add(&g.kw, cases[i].type, &g.keys[i]) != CMPD_OK ||
		    kw_key_add(&g.kw, cases[i].type, &g.others[i]) != CMPD_OK)
			return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	cmpd_rkprov_unload(g.libctx);
	OSSL_LIB_CTX_free(g.libctx);
	kw_fini(&g.kw);
	return 0;
}

static int
test_setup(void **state)
{
	(void)state;
	kw_reset(&g.kw);
	ERR_clear_error();
	return 0;
}

/* Signs msg one-shot through the handle; returns the signature length. */
static size_t
handle_sign(EVP_PKEY *h, const char *md, uint8_t *sig, size_t size)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	size_t len = 0;

	assert_non_null(mctx);
	assert_int_equal(
	    EVP_DigestSignInit_ex(mctx, NULL, md, g.libctx, NULL, h, NULL), 1);
	assert_int_equal(EVP_DigestSign(mctx, NULL, &len, msg, sizeof(msg)), 1);
	assert_true(len <= size);
	len = size;
	if (EVP_DigestSign(mctx, sig, &len, msg, sizeof(msg)) != 1)
		len = 0;
	EVP_MD_CTX_free(mctx);
	return len;
}

/* Verifies sig over msg through the handle: 1 if it is good. */
static int
handle_verify(EVP_PKEY *h, const char *md, const uint8_t *sig, size_t len)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	int rv;

	assert_non_null(mctx);
	assert_int_equal(
	    EVP_DigestVerifyInit_ex(mctx, NULL, md, g.libctx, NULL, h, NULL),
	    1);
	rv = EVP_DigestVerify(mctx, sig, len, msg, sizeof(msg));
	EVP_MD_CTX_free(mctx);
	return rv;
}

static void
test_key_properties(void **state)
{
	const struct key_case *c = *state;
	struct kw_key *k = case_key(c);
	EVP_PKEY *h = kw_handle(g.libctx, k), *real = kw_pub(g.libctx, k);
	unsigned char *der = NULL;
	int len;

	assert_non_null(h);
	assert_non_null(real);
	assert_int_equal(EVP_PKEY_get_id(h), c->evp_id);
	assert_int_equal(EVP_PKEY_get_bits(h), c->bits);
	assert_int_equal(EVP_PKEY_get_size(h), EVP_PKEY_get_size(real));
	assert_int_equal(
	    EVP_PKEY_get_security_bits(h), EVP_PKEY_get_security_bits(real));
	assert_string_equal(
	    OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(h)), "cmpd-remote");
	len = i2d_PUBKEY(h, &der);
	assert_int_equal(len, (int)k->spki_len);
	assert_memory_equal(der, k->spki, k->spki_len);
	OPENSSL_free(der);
	EVP_PKEY_free(real);
	EVP_PKEY_free(h);
}

static void
test_digest_sign_oneshot(void **state)
{
	const struct key_case *c = *state;
	struct kw_key *k = case_key(c);
	EVP_PKEY *h = kw_handle(g.libctx, k);
	uint8_t sig[1024];
	size_t len;

	assert_non_null(h);
	len = handle_sign(h, c->md, sig, sizeof(sig));
	assert_true(len > 0);
	assert_true(
	    kw_verify(&g.kw, k, c->wire_md, msg, sizeof(msg), sig, len));
	/* One call, with the whole message and the digest's wire name. */
	assert_int_equal(g.kw.ncalls, 1);
	assert_string_equal(g.kw.calls[0].job_id, KW_JOB_ID);
	assert_string_equal(g.kw.calls[0].key_id, k->id);
	assert_string_equal(g.kw.calls[0].digest, c->wire_md);
	assert_int_equal(g.kw.calls[0].tbs_len, sizeof(msg));
	assert_memory_equal(g.kw.calls[0].tbs, msg, sizeof(msg));
	/* No stale error from OpenSSL's probing of our key is left behind. */
	assert_int_equal(ERR_peek_error(), 0);
	/* The handle verifies too, without asking the keyworker. */
	assert_int_equal(handle_verify(h, c->md, sig, len), 1);
	/* A wrong signature does not verify: the checks above mean it. */
	sig[len / 2] ^= 0x01;
	assert_false(
	    kw_verify(&g.kw, k, c->wire_md, msg, sizeof(msg), sig, len));
	assert_int_not_equal(handle_verify(h, c->md, sig, len), 1);
	assert_int_equal(g.kw.ncalls, 1);
	ERR_clear_error();
	EVP_PKEY_free(h);
}

/*
 * The AlgorithmIdentifier OpenSSL writes into what it signs: the
 * signature's OID, NULL parameters for RSA (RFC 4055) and none for ECDSA
 * and Ed25519 (RFC 5758, RFC 8410), whose OID OpenSSL 3.0 cannot look up.
 */
static void
test_algorithm_id(void **state)
{
	const struct key_case *c = *state;
	EVP_PKEY *h = kw_handle(g.libctx, case_key(c));
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char der[128];
	const unsigned char *p = der;
	OSSL_PARAM params[2];
	X509_ALGOR *algor;
	const ASN1_OBJECT *oid;
	int ptype;

	assert_int_equal(
	    EVP_DigestSignInit_ex(mctx, &pctx, c->md, g.libctx, NULL, h, NULL),
	    1);
	params[0] = OSSL_PARAM_construct_octet_string(
	    OSSL_SIGNATURE_PARAM_ALGORITHM_ID, der, sizeof(der));
	params[1] = OSSL_PARAM_construct_end();
	assert_int_equal(EVP_PKEY_CTX_get_params(pctx, params), 1);
	algor = d2i_X509_ALGOR(NULL, &p, (long)params[0].return_size);
	assert_non_null(algor);
	assert_ptr_equal(p, der + params[0].return_size);
	X509_ALGOR_get0(&oid, &ptype, NULL, algor);
	assert_int_equal(OBJ_obj2nid(oid), c->sig_nid);
	assert_int_equal(
	    ptype, c->evp_id == EVP_PKEY_RSA ? V_ASN1_NULL : V_ASN1_UNDEF);
	X509_ALGOR_free(algor);
	EVP_MD_CTX_free(mctx);
	EVP_PKEY_free(h);
}

/* init/update/final, twice final: the buffered data survives the dup. */
static void
test_digest_sign_streaming(void **state)
{
	const struct key_case *c = *state;
	struct kw_key *k = case_key(c);
	EVP_PKEY *h = kw_handle(g.libctx, k);
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	uint8_t sig[1024];
	size_t len, i;

	assert_non_null(h);
	assert_int_equal(
	    EVP_DigestSignInit_ex(mctx, NULL, c->md, g.libctx, NULL, h, NULL),
	    1);
	assert_int_equal(EVP_DigestSignUpdate(mctx, msg, 10), 1);
	assert_int_equal(EVP_DigestSignUpdate(mctx, msg + 10, 0), 1);
	assert_int_equal(
	    EVP_DigestSignUpdate(mctx, msg + 10, sizeof(msg) - 10), 1);
	for (i = 0; i < 2; i++) {
		assert_int_equal(EVP_DigestSignFinal(mctx, NULL, &len), 1);
		assert_int_equal(len, (size_t)EVP_PKEY_get_size(h));
		len = sizeof(sig);
		assert_int_equal(EVP_DigestSignFinal(mctx, sig, &len), 1);
		assert_true(kw_verify(
		    &g.kw, k, c->wire_md, msg, sizeof(msg), sig, len));
	}
	assert_int_equal(g.kw.ncalls, 2);
	assert_memory_equal(g.kw.calls[1].tbs, msg, sizeof(msg));
	EVP_MD_CTX_free(mctx);
	EVP_PKEY_free(h);
}

/* A CSR and a certificate signed through the handle (ASN1_item_sign). */
static void
test_x509_sign(void **state)
{
	const struct key_case *c = *state;
	struct kw_key *k = case_key(c);
	EVP_PKEY *h = kw_handle(g.libctx, k), *real = kw_pub(g.libctx, k);
	const EVP_MD *md = c->md == NULL ? NULL : EVP_get_digestbyname(c->md);
	X509_REQ *req = X509_REQ_new_ex(g.libctx, NULL);
	X509 *crt = X509_new_ex(g.libctx, NULL);
	X509_NAME *name = X509_NAME_new();

	assert_non_null(h);
	assert_true(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"device", -1, -1, 0));
	assert_true(X509_REQ_set_subject_name(req, name));
	assert_true(X509_REQ_set_pubkey(req, h));
	assert_true(X509_REQ_sign(req, h, md) > 0);
	assert_int_equal(X509_REQ_verify(req, real), 1);
	/* Verification through the handle goes to the default provider. */
	assert_int_equal(X509_REQ_verify(req, h), 1);

	assert_true(X509_set_version(crt, X509_VERSION_3));
	assert_true(ASN1_INTEGER_set(X509_get_serialNumber(crt), 7));
	assert_true(X509_set_subject_name(crt, name));
	assert_true(X509_set_issuer_name(crt, name));
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(crt), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(crt), 3600));
	assert_true(X509_set_pubkey(crt, h));
	assert_true(X509_sign(crt, h, md) > 0);
	assert_int_equal(X509_verify(crt, real), 1);
	assert_int_equal(X509_check_private_key(crt, h), 1);
	assert_int_equal(g.kw.ncalls, 2);
	assert_int_equal(ERR_peek_error(), 0);
	X509_NAME_free(name);
	X509_free(crt);
	X509_REQ_free(req);
	EVP_PKEY_free(real);
	EVP_PKEY_free(h);
}

/* A copy of k's private key in the provider's library context. */
static EVP_PKEY *
real_private(const struct kw_key *k)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	EVP_PKEY *priv = NULL;
	int len;

	if ((len = i2d_PrivateKey(k->priv, &der)) > 0) {
		p = der;
		priv = d2i_AutoPrivateKey_ex(NULL, &p, len, g.libctx, NULL);
	}
	OPENSSL_clear_free(der, len > 0 ? (size_t)len : 0);
	return priv;
}

/*
 * Handles compare by public key with handles and with the default
 * provider's keys, public or private, either way round; that is what
 * X509_check_private_key(cert, handle) in OpenSSL's CMP client relies on.
 */
static void
test_eq(void **state)
{
	const struct key_case *c = *state;
	struct kw_key *k = case_key(c), *o = g.others[c - cases];
	EVP_PKEY *h = kw_handle(g.libctx, k), *h2 = kw_handle(g.libctx, k);
	EVP_PKEY *pub = kw_pub(g.libctx, k), *priv = real_private(k);
	EVP_PKEY *other = kw_pub(g.libctx, o), *oh = kw_handle(g.libctx, o);
	EVP_PKEY *alien =
	    kw_pub(g.libctx, g.keys[c->evp_id == EVP_PKEY_EC ? 2 : 0]);

	assert_non_null(h);
	assert_non_null(priv);
	assert_int_equal(EVP_PKEY_eq(h, pub), 1);
	assert_int_equal(EVP_PKEY_eq(pub, h), 1);
	assert_int_equal(EVP_PKEY_eq(h, priv), 1);
	assert_int_equal(EVP_PKEY_eq(priv, h), 1);
	assert_int_equal(EVP_PKEY_eq(h, h2), 1);
	assert_int_equal(EVP_PKEY_eq(h, h), 1);
	assert_int_equal(EVP_PKEY_eq(h, other), 0);
	assert_int_equal(EVP_PKEY_eq(other, h), 0);
	assert_int_equal(EVP_PKEY_eq(h, oh), 0);
	/* Keys of another type are not the same key either. */
	assert_true(EVP_PKEY_eq(h, alien) < 0);
	ERR_clear_error();
	EVP_PKEY_free(alien);
	EVP_PKEY_free(oh);
	EVP_PKEY_free(other);
	EVP_PKEY_free(priv);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(h2);
	EVP_PKEY_free(h);
}

/* Nothing private comes out of a handle, by any route. */
static void
test_no_private_export(void **state)
{
	const struct key_case *c = *state;
	EVP_PKEY *h = kw_handle(g.libctx, case_key(c));
	OSSL_PARAM *params = NULL;
	unsigned char *der = NULL;
	BIO *bio = BIO_new(BIO_s_mem());
	BIGNUM *bn = NULL;
	uint8_t buf[512];
	size_t len = 0;

	assert_non_null(h);
	assert_int_equal(EVP_PKEY_todata(h, EVP_PKEY_KEYPAIR, &params), 0);
	assert_null(params);
	assert_true(i2d_PrivateKey(h, &der) <= 0);
	assert_null(der);
	assert_int_equal(
	    PEM_write_bio_PrivateKey(bio, h, NULL, NULL, 0, NULL, NULL), 0);
	assert_int_equal(
	    EVP_PKEY_get_bn_param(h, OSSL_PKEY_PARAM_PRIV_KEY, &bn), 0);
	assert_int_equal(
	    EVP_PKEY_get_bn_param(h, OSSL_PKEY_PARAM_RSA_D, &bn), 0);
	assert_int_equal(EVP_PKEY_get_octet_string_param(h,
	                     OSSL_PKEY_PARAM_PRIV_KEY, buf, sizeof(buf), &len),
	    0);
	/* The public half does come out. */
	assert_int_equal(EVP_PKEY_todata(h, EVP_PKEY_PUBLIC_KEY, &params), 1);
	assert_null(OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_PRIV_KEY));
	assert_null(OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_RSA_D));
	assert_non_null(OSSL_PARAM_locate(params,
	    c->evp_id == EVP_PKEY_RSA ? OSSL_PKEY_PARAM_RSA_N
	                              : OSSL_PKEY_PARAM_PUB_KEY));
	OSSL_PARAM_free(params);
	ERR_clear_error();
	BIO_free(bio);
	EVP_PKEY_free(h);
}

/*
 * EVP_PKEY_sign would hand the provider a hash, which the keyworker never
 * signs: it is not offered, and fails without a call.
 */
static void
test_raw_sign_refused(void **state)
{
	EVP_PKEY *h = kw_handle(g.libctx, g.keys[0]);
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(g.libctx, h, NULL);

	(void)state;
	assert_non_null(pctx);
	assert_true(EVP_PKEY_sign_init(pctx) <= 0);
	assert_int_equal(g.kw.ncalls, 0);
	ERR_clear_error();
	EVP_PKEY_CTX_free(pctx);
	EVP_PKEY_free(h);
}

/* A copy made by EVP_PKEY_dup is the same remote key. */
static void
test_dup(void **state)
{
	const struct key_case *c = *state;
	struct kw_key *k = case_key(c);
	EVP_PKEY *h = kw_handle(g.libctx, k), *d;
	uint8_t sig[1024];
	size_t len;

	assert_non_null(h);
	d = EVP_PKEY_dup(h);
	assert_non_null(d);
	EVP_PKEY_free(h);
	assert_int_equal(EVP_PKEY_get_id(d), c->evp_id);
	len = handle_sign(d, c->md, sig, sizeof(sig));
	assert_true(
	    kw_verify(&g.kw, k, c->wire_md, msg, sizeof(msg), sig, len));
	EVP_PKEY_free(d);
}

static void
test_key_new_rejects(void **state)
{
	struct kw_key *p256 = g.keys[0], *rsa2048 = g.keys[2];
	struct kw_key *ed = g.keys[5];
	uint8_t longer[1024];
	EVP_PKEY *h = NULL;

	(void)state;
	assert_int_equal(
	    cmpd_rkprov_key_new(g.libctx, KW_JOB_ID, p256->id,
	        CMPD__KEY_TYPE__KEY_EC_P384, p256->spki, p256->spki_len, &h),
	    CMPD_EINVAL);
	assert_int_equal(cmpd_rkprov_key_new(g.libctx, KW_JOB_ID, rsa2048->id,
	                     CMPD__KEY_TYPE__KEY_RSA_3072, rsa2048->spki,
	                     rsa2048->spki_len, &h),
	    CMPD_EINVAL);
	assert_int_equal(
	    cmpd_rkprov_key_new(g.libctx, KW_JOB_ID, ed->id,
	        CMPD__KEY_TYPE__KEY_EC_P256, ed->spki, ed->spki_len, &h),
	    CMPD_EINVAL);
	assert_int_equal(cmpd_rkprov_key_new(g.libctx, KW_JOB_ID, p256->id,
	                     CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED, p256->spki,
	                     p256->spki_len, &h),
	    CMPD_EINVAL);
	/* Trailing bytes after the SubjectPublicKeyInfo. */
	memcpy(longer, p256->spki, p256->spki_len);
	longer[p256->spki_len] = 0;
	assert_int_equal(
	    cmpd_rkprov_key_new(g.libctx, KW_JOB_ID, p256->id,
	        CMPD__KEY_TYPE__KEY_EC_P256, longer, p256->spki_len + 1, &h),
	    CMPD_EINVAL);
	/* Not DER at all. */
	assert_int_equal(cmpd_rkprov_key_new(g.libctx, KW_JOB_ID, p256->id,
	                     CMPD__KEY_TYPE__KEY_EC_P256, msg, sizeof(msg), &h),
	    CMPD_EINVAL);
	assert_int_equal(
	    cmpd_rkprov_key_new(g.libctx, "job/1", p256->id,
	        CMPD__KEY_TYPE__KEY_EC_P256, p256->spki, p256->spki_len, &h),
	    CMPD_EINVAL);
	assert_int_equal(
	    cmpd_rkprov_key_new(g.libctx, KW_JOB_ID, "../key",
	        CMPD__KEY_TYPE__KEY_EC_P256, p256->spki, p256->spki_len, &h),
	    CMPD_EINVAL);
	assert_null(h);
	assert_int_equal(ERR_peek_error(), 0);
	/* The same arguments with the right type do make a handle. */
	assert_int_equal(
	    cmpd_rkprov_key_new(g.libctx, KW_JOB_ID, p256->id,
	        CMPD__KEY_TYPE__KEY_EC_P256, p256->spki, p256->spki_len, &h),
	    CMPD_OK);
	assert_non_null(h);
	EVP_PKEY_free(h);
}

/* The key types refuse keys that are not handles of this provider. */
static void
test_foreign_import_refused(void **state)
{
	struct kw_key *p256 = g.keys[0];
	EVP_PKEY *real = kw_pub(g.libctx, p256), *pkey = NULL;
	EVP_PKEY_CTX *pctx;
	OSSL_PARAM *params = NULL, mixed[4];

	(void)state;
	assert_int_equal(
	    EVP_PKEY_todata(real, EVP_PKEY_PUBLIC_KEY, &params), 1);
	pctx =
	    EVP_PKEY_CTX_new_from_name(g.libctx, "EC", "provider=cmpd-remote");
	assert_non_null(pctx);
	assert_int_equal(EVP_PKEY_fromdata_init(pctx), 1);
	assert_true(
	    EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0);
	assert_null(pkey);
	EVP_PKEY_CTX_free(pctx);
	/* Our own parameters with an SPKI of another family. */
	mixed[0] = OSSL_PARAM_construct_utf8_string("cmpd-key-id", p256->id, 0);
	mixed[1] =
	    OSSL_PARAM_construct_utf8_string("cmpd-job-id", KW_JOB_ID, 0);
	mixed[2] = OSSL_PARAM_construct_octet_string(
	    "cmpd-spki", p256->spki, p256->spki_len);
	mixed[3] = OSSL_PARAM_construct_end();
	pctx =
	    EVP_PKEY_CTX_new_from_name(g.libctx, "RSA", "provider=cmpd-remote");
	assert_int_equal(EVP_PKEY_fromdata_init(pctx), 1);
	assert_true(
	    EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_KEYPAIR, mixed) <= 0);
	assert_null(pkey);
	ERR_clear_error();
	EVP_PKEY_CTX_free(pctx);
	OSSL_PARAM_free(params);
	EVP_PKEY_free(real);
}

static void
test_rsa_pss_refused(void **state)
{
	struct kw_key *k = g.keys[2];
	EVP_PKEY *h = kw_handle(g.libctx, k);
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	OSSL_PARAM pss[2];
	uint8_t sig[512];
	size_t len = sizeof(sig);

	(void)state;
	assert_int_equal(EVP_DigestSignInit_ex(
	                     mctx, &pctx, "SHA256", g.libctx, NULL, h, NULL),
	    1);
	assert_true(
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0);
	assert_int_equal(ERR_GET_REASON(ERR_peek_last_error()),
	    PROV_R_ILLEGAL_OR_UNSUPPORTED_PADDING_MODE);
	ERR_clear_error();
	assert_int_equal(
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING), 1);
	assert_int_equal(EVP_DigestSign(mctx, sig, &len, msg, sizeof(msg)), 1);
	assert_true(kw_verify(&g.kw, k, "SHA256", msg, sizeof(msg), sig, len));
	EVP_MD_CTX_free(mctx);
	/* Asked for at init, PSS fails the init. */
	mctx = EVP_MD_CTX_new();
	pss[0] = OSSL_PARAM_construct_utf8_string(
	    OSSL_SIGNATURE_PARAM_PAD_MODE, OSSL_PKEY_RSA_PAD_MODE_PSS, 0);
	pss[1] = OSSL_PARAM_construct_end();
	assert_int_not_equal(
	    EVP_DigestSignInit_ex(mctx, NULL, "SHA256", g.libctx, NULL, h, pss),
	    1);
	ERR_clear_error();
	EVP_MD_CTX_free(mctx);
	EVP_PKEY_free(h);
}

/* Digests the keyworker does not sign with fail at init, before a call. */
static void
test_digest_refused(void **state)
{
	EVP_PKEY *ec = kw_handle(g.libctx, g.keys[0]);
	EVP_PKEY *ed = kw_handle(g.libctx, g.keys[5]);
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();

	(void)state;
	assert_int_not_equal(
	    EVP_DigestSignInit_ex(mctx, NULL, "SHA1", g.libctx, NULL, ec, NULL),
	    1);
	EVP_MD_CTX_reset(mctx);
	assert_int_not_equal(EVP_DigestSignInit_ex(mctx, NULL, "SHA3-256",
	                         g.libctx, NULL, ec, NULL),
	    1);
	EVP_MD_CTX_reset(mctx);
	assert_int_not_equal(EVP_DigestSignInit_ex(mctx, NULL, "SHA256",
	                         g.libctx, NULL, ed, NULL),
	    1);
	assert_int_equal(g.kw.ncalls, 0);
	ERR_clear_error();
	EVP_MD_CTX_free(mctx);
	EVP_PKEY_free(ed);
	EVP_PKEY_free(ec);
}

/* A failing keyworker is a failed signature with the reason queued. */
static void
test_sign_failure(void **state)
{
	EVP_PKEY *h = kw_handle(g.libctx, g.keys[0]);
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	const char *data = NULL;
	uint8_t sig[256];
	size_t len = sizeof(sig);
	unsigned long e;
	int flags = 0;

	(void)state;
	g.kw.fail = CMPD_ETIMEDOUT;
	assert_int_equal(EVP_DigestSignInit_ex(
	                     mctx, NULL, "SHA256", g.libctx, NULL, h, NULL),
	    1);
	assert_int_not_equal(
	    EVP_DigestSign(mctx, sig, &len, msg, sizeof(msg)), 1);
	e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags);
	assert_int_equal(ERR_GET_REASON(e), PROV_R_FAILED_TO_SIGN);
	assert_non_null(strstr(data, "job " KW_JOB_ID));
	assert_non_null(strstr(data, cmpd_strerror(CMPD_ETIMEDOUT)));
	ERR_clear_error();
	EVP_MD_CTX_free(mctx);
	EVP_PKEY_free(h);
}

/*
 * More than a sign request can carry fails before the keyworker is asked,
 * streamed or one-shot.
 */
static void
test_tbs_too_long(void **state)
{
	EVP_PKEY *h = kw_handle(g.libctx, g.keys[0]);
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	size_t max = CMPD_IPC_MAX_SIGN, len;
	uint8_t *big = OPENSSL_zalloc(max + 1), sig[128];

	(void)state;
	assert_non_null(big);
	assert_int_equal(EVP_DigestSignInit_ex(
	                     mctx, NULL, "SHA256", g.libctx, NULL, h, NULL),
	    1);
	assert_int_equal(EVP_DigestSignUpdate(mctx, big, max), 1);
	assert_int_equal(EVP_DigestSignUpdate(mctx, big, 1), 0);
	assert_int_equal(
	    ERR_GET_REASON(ERR_peek_last_error()), PROV_R_INVALID_INPUT_LENGTH);
	len = sizeof(sig);
	assert_int_equal(EVP_DigestSignInit_ex(
	                     mctx, NULL, "SHA256", g.libctx, NULL, h, NULL),
	    1);
	assert_int_not_equal(EVP_DigestSign(mctx, sig, &len, big, max + 1), 1);
	assert_int_equal(
	    ERR_GET_REASON(ERR_peek_last_error()), PROV_R_INVALID_INPUT_LENGTH);
	assert_int_equal(g.kw.ncalls, 0);
	ERR_clear_error();
	OPENSSL_free(big);
	EVP_MD_CTX_free(mctx);
	EVP_PKEY_free(h);
}

/* A signature longer than the key's maximum is a keyworker fault. */
static void
test_signature_too_long(void **state)
{
	EVP_PKEY *h = kw_handle(g.libctx, g.keys[0]);
	uint8_t sig[1024];

	(void)state;
	g.kw.extra_sig = 100;
	assert_int_equal(handle_sign(h, "SHA256", sig, sizeof(sig)), 0);
	assert_int_equal(
	    ERR_GET_REASON(ERR_peek_last_error()), PROV_R_FAILED_TO_SIGN);
	ERR_clear_error();
	EVP_PKEY_free(h);
}

/*
 * Fetches that name no provider get the default provider's algorithms,
 * although ours carry the same names: keys made by name and signatures
 * with ordinary keys never reach the keyworker.
 */
static void
test_default_preferred(void **state)
{
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(g.libctx, NULL, "EC", "P-256");
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(g.libctx, NULL, "ED25519");
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	uint8_t sig[128];
	size_t len = sizeof(sig);

	(void)state;
	assert_non_null(ec);
	assert_non_null(ed);
	assert_string_equal(
	    OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(ec)), "default");
	assert_int_equal(EVP_DigestSignInit_ex(
	                     mctx, NULL, "SHA256", g.libctx, NULL, ec, NULL),
	    1);
	assert_int_equal(EVP_DigestSign(mctx, sig, &len, msg, sizeof(msg)), 1);
	EVP_MD_CTX_reset(mctx);
	assert_int_equal(EVP_DigestVerifyInit_ex(
	                     mctx, NULL, "SHA256", g.libctx, NULL, ec, NULL),
	    1);
	assert_int_equal(EVP_DigestVerify(mctx, sig, len, msg, sizeof(msg)), 1);
	EVP_MD_CTX_reset(mctx);
	len = sizeof(sig);
	assert_int_equal(
	    EVP_DigestSignInit_ex(mctx, NULL, NULL, g.libctx, NULL, ed, NULL),
	    1);
	assert_int_equal(EVP_DigestSign(mctx, sig, &len, msg, sizeof(msg)), 1);
	assert_int_equal(g.kw.ncalls, 0);
	assert_int_equal(ERR_peek_error(), 0);
	EVP_MD_CTX_free(mctx);
	EVP_PKEY_free(ed);
	EVP_PKEY_free(ec);
}

#define KEY_TEST(fn, i)                           \
	cmocka_unit_test_prestate_setup_teardown( \
	    fn, test_setup, NULL, (void *)&cases[i])
#define KEY_TESTS(fn)                                                       \
	KEY_TEST(fn, 0), KEY_TEST(fn, 1), KEY_TEST(fn, 2), KEY_TEST(fn, 3), \
	    KEY_TEST(fn, 4), KEY_TEST(fn, 5)
#define TEST(fn) cmocka_unit_test_setup_teardown(fn, test_setup, NULL)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		KEY_TESTS(test_key_properties),
		KEY_TESTS(test_digest_sign_oneshot),
		KEY_TESTS(test_algorithm_id),
		KEY_TESTS(test_digest_sign_streaming),
		KEY_TESTS(test_x509_sign),
		KEY_TESTS(test_eq),
		KEY_TESTS(test_no_private_export),
		KEY_TESTS(test_dup),
		TEST(test_raw_sign_refused),
		TEST(test_key_new_rejects),
		TEST(test_foreign_import_refused),
		TEST(test_rsa_pss_refused),
		TEST(test_digest_refused),
		TEST(test_sign_failure),
		TEST(test_signature_too_long),
		TEST(test_tbs_too_long),
		TEST(test_default_preferred),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
