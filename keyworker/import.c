#include "import.h"

#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "keystore.h"
#include "log.h"
#include "util.h"

#define IMPORT_SUBJECT "cmpd keyworker import"
/* RFC 5280 4.1.2.5: "no well-defined expiration date". */
#define IMPORT_NOT_AFTER "99991231235959Z"

struct kw_importer {
	EVP_PKEY *key;
	X509 *cert;
	uint8_t *cert_der;
	size_t cert_len;
	struct kw_keydec *dec;
};

static int
cert_add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	ok = ext != NULL && X509_add_ext(x, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok;
}

static int
cert_set_serial(X509 *x)
{
	uint8_t raw[16];
	BIGNUM *bn = NULL;
	int ok;

	if (cmpd_random(raw, sizeof(raw)) != CMPD_OK)
		return 0;
	raw[0] = (uint8_t)((raw[0] & 0x7f) | 0x40); /* positive, 16 bytes */
	bn = BN_bin2bn(raw, sizeof(raw), NULL);
	ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	return ok != 0;
}

/*
 * The self-signed import certificate: only for CMS key agreement, never a
 * CA, and valid for ever (clients fetch it when they import).
 */
static cmpd_err
cert_make(EVP_PKEY *key, X509 **out)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	int ok;

	ok = x != NULL && name != NULL && X509_set_version(x, X509_VERSION_3) &&
	    cert_set_serial(x) &&
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	        (const unsigned char *)IMPORT_SUBJECT, -1, -1, 0) &&
	    X509_set_subject_name(x, name) && X509_set_issuer_name(x, name) &&
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) != NULL &&
	    ASN1_TIME_set_string(X509_getm_notAfter(x), IMPORT_NOT_AFTER) &&
	    X509_set_pubkey(x, key) &&
	    cert_add_ext(x, NID_basic_constraints, "critical,CA:FALSE") &&
	    cert_add_ext(x, NID_key_usage, "critical,keyAgreement") &&
	    cert_add_ext(x, NID_subject_key_identifier, "hash") &&
	    X509_sign(x, key, EVP_sha256()) > 0;
	X509_NAME_free(name);
	if (!ok) {
		cmpd_log_openssl(CMPD_LOG_ERR, "import certificate");
		X509_free(x);
		return CMPD_ECRYPTO;
	}
	*out = x;
	return CMPD_OK;
}

static cmpd_err
cert_write(const char *dir, X509 *x)
{
	char path[4096];
	BIO *bio = BIO_new(BIO_s_mem());
	BUF_MEM *mem = NULL;
	cmpd_err rv = CMPD_ECRYPTO;

	if (bio == NULL)
		return CMPD_ENOMEM;
	snprintf(path, sizeof(path), "%s/" KW_IMPORT_CERT_NAME, dir);
	if (PEM_write_bio_X509(bio, x) == 1 && BIO_get_mem_ptr(bio, &mem) == 1)
		rv = cmpd_file_write_atomic(
		    path, mem->data, mem->length, 0644, (uid_t)-1, (gid_t)-1);
	BIO_free(bio);
	return rv;
}

static cmpd_err
cert_read(const char *dir, X509 **out)
{
	char path[4096];
	uint8_t *buf = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	X509 *x = NULL;
	cmpd_err rv;

	snprintf(path, sizeof(path), "%s/" KW_IMPORT_CERT_NAME, dir);
	rv = cmpd_file_read(path, 64u << 10, 1, &buf, &len);
	if (rv != CMPD_OK)
		return rv;
	bio = BIO_new_mem_buf(buf, (int)len);
	if (bio != NULL)
		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	cmpd_file_free(buf, len);
	if (x == NULL) {
		ERR_clear_error();
		return CMPD_EINVAL;
	}
	*out = x;
	return CMPD_OK;
}

/* Loads an existing import key; makes a certificate for it if needed. */
static cmpd_err
importer_load(struct kw_importer *imp, const char *dir, struct kw_why *why)
{
	struct kw_key info = { .type = CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED };
	int64_t mtime;
	cmpd_err rv;

	rv = kw_keyfile_read(
	    imp->dec, dir, KW_IMPORT_KEY_NAME, &imp->key, &mtime, why);
	if (rv != CMPD_OK)
		return rv;
	rv = kw_key_describe(imp->key, &info, why);
	if (rv == CMPD_OK && info.type != CMPD__KEY_TYPE__KEY_EC_P256) {
		kw_why_set(why,
		    "%s/" KW_IMPORT_KEY_NAME " is not an EC P-256 "
		    "key",
		    dir);
		rv = CMPD_EINVAL;
	}
	kw_key_fini(&info);
	if (rv != CMPD_OK)
		return rv;
	if (cert_read(dir, &imp->cert) == CMPD_OK &&
	    X509_check_private_key(imp->cert, imp->key) == 1)
		return CMPD_OK;
	ERR_clear_error();
	X509_free(imp->cert);
	imp->cert = NULL;
	log_notice("making a new import certificate in %s", dir);
	if ((rv = cert_make(imp->key, &imp->cert)) != CMPD_OK ||
	    (rv = cert_write(dir, imp->cert)) != CMPD_OK)
		kw_why_set(why, "cannot make %s/" KW_IMPORT_CERT_NAME, dir);
	return rv;
}

/* Makes a new import key and certificate; the key is written first. */
static cmpd_err
importer_create(struct kw_importer *imp, const char *dir, struct kw_why *why)
{
	char path[4096];
	cmpd_err rv;

	EVP_PKEY_free(imp->key);
	imp->key = NULL;
	X509_free(imp->cert);
	imp->cert = NULL;
	snprintf(path, sizeof(path), "%s/" KW_IMPORT_KEY_NAME, dir);
	if ((rv = kw_key_generate(CMPD__KEY_TYPE__KEY_EC_P256, "import key",
	         &imp->key, why)) != CMPD_OK ||
	    (rv = kw_keyfile_write(path, imp->key, why)) != CMPD_OK)
		return rv;
	if ((rv = cert_make(imp->key, &imp->cert)) != CMPD_OK ||
	    (rv = cert_write(dir, imp->cert)) != CMPD_OK) {
		kw_why_set(why, "cannot make %s/" KW_IMPORT_CERT_NAME, dir);
		return rv;
	}
	log_notice("made a new import key and certificate in %s", dir);
	return CMPD_OK;
}

static cmpd_err
importer_encode_cert(struct kw_importer *imp)
{
	unsigned char *der = NULL;
	int len = i2d_X509(imp->cert, &der);

	if (len <= 0) {
		cmpd_log_openssl(CMPD_LOG_ERR, "import certificate");
		return CMPD_ECRYPTO;
	}
	imp->cert_der = malloc((size_t)len);
	if (imp->cert_der == NULL) {
		OPENSSL_free(der);
		return CMPD_ENOMEM;
	}
	memcpy(imp->cert_der, der, (size_t)len);
	imp->cert_len = (size_t)len;
	OPENSSL_free(der);
	return CMPD_OK;
}

cmpd_err
kw_importer_open(const char *dir, struct kw_importer **out)
{
	struct kw_importer *imp = calloc(1, sizeof(*imp));
	struct kw_why why;
	cmpd_err rv;

	if (imp == NULL)
		return CMPD_ENOMEM;
	if ((rv = kw_keydec_new(&imp->dec)) != CMPD_OK)
		goto out;
	rv = importer_load(imp, dir, &why);
	if (rv != CMPD_OK && rv != CMPD_ENOENT)
		log_warn("import key unusable, replacing it: %s", why.text);
	/* An old import key protects nothing stored: replacing it only
	 * means clients encrypt to the new certificate. */
	if (rv != CMPD_OK && (rv = importer_create(imp, dir, &why)) != CMPD_OK)
		log_err("cannot make the import key: %s", why.text);
	if (rv == CMPD_OK)
		rv = importer_encode_cert(imp);
	if (rv == CMPD_OK) {
		*out = imp;
		imp = NULL;
	}
out:
	kw_importer_free(imp);
	return rv;
}

void
kw_importer_free(struct kw_importer *imp)
{
	if (imp == NULL)
		return;
	EVP_PKEY_free(imp->key);
	X509_free(imp->cert);
	free(imp->cert_der);
	kw_keydec_free(imp->dec);
	free(imp);
}

const uint8_t *
kw_importer_cert(const struct kw_importer *imp, size_t *len)
{
	*len = imp->cert_len;
	return imp->cert_der;
}

static cmpd_err
envelope_parse(
    const uint8_t *der, size_t len, CMS_ContentInfo **out, struct kw_why *why)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms = NULL;
	int nid;

	if (len == 0 || len > KW_IMPORT_ENVELOPE_MAX) {
		kw_why_set(why,
		    "the import envelope is empty or larger than "
		    "64 KiB");
		return CMPD_EINVAL;
	}
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	if (cms == NULL || p != der + len) {
		cmpd_log_openssl(CMPD_LOG_DEBUG, "import envelope");
		CMS_ContentInfo_free(cms);
		kw_why_set(why,
		    "the import envelope is not one DER CMS "
		    "ContentInfo");
		return CMPD_EINVAL;
	}
	nid = OBJ_obj2nid(CMS_get0_type(cms));
	if (nid != NID_id_smime_ct_authEnvelopedData &&
	    nid != NID_pkcs7_enveloped) {
		kw_why_set(why,
		    "the import envelope is CMS %s, not "
		    "AuthEnvelopedData or EnvelopedData",
		    OBJ_nid2sn(nid));
		CMS_ContentInfo_free(cms);
		return CMPD_EINVAL;
	}
	*out = cms;
	return CMPD_OK;
}

/* Refuses key types cmpd does not use and keys whose halves disagree. */
static cmpd_err
imported_key_check(EVP_PKEY *pkey, struct kw_why *why)
{
	struct kw_key info = { .type = CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED };
	EVP_PKEY_CTX *ctx = NULL;
	cmpd_err rv;

	rv = kw_key_describe(pkey, &info, why);
	kw_key_fini(&info);
	if (rv != CMPD_OK)
		return rv;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (ctx == NULL || EVP_PKEY_pairwise_check(ctx) != 1) {
		cmpd_log_openssl(CMPD_LOG_DEBUG, "imported key check");
		kw_why_set(why,
		    "the imported key is inconsistent: its "
		    "private and public parts do not match");
		rv = CMPD_EINVAL;
	}
	EVP_PKEY_CTX_free(ctx);
	return rv;
}

cmpd_err
kw_importer_unwrap(struct kw_importer *imp, const uint8_t *envelope, size_t len,
    EVP_PKEY **out, struct kw_why *why)
{
	CMS_ContentInfo *cms = NULL;
	BIO *plain = NULL;
	BUF_MEM *mem = NULL;
	EVP_PKEY *pkey = NULL;
	struct kw_why inner;
	char err[160];
	cmpd_err rv;

	if ((rv = envelope_parse(envelope, len, &cms, why)) != CMPD_OK)
		return rv;
	/* The plaintext goes to the secure heap and is wiped on free. */
	plain = BIO_new(BIO_s_secmem());
	rv = CMPD_ECRYPTO;
	if (plain == NULL ||
	    CMS_decrypt(cms, imp->key, imp->cert, NULL, plain, CMS_BINARY) !=
	        1 ||
	    BIO_get_mem_ptr(plain, &mem) != 1 || mem == NULL) {
		kw_why_set(why,
		    "the import envelope cannot be decrypted with "
		    "this keyworker's import key (%s)",
		    cmpd_openssl_errstr(err, sizeof(err)));
		goto out;
	}
	rv = kw_keydec_der(
	    imp->dec, (const uint8_t *)mem->data, mem->length, &pkey, &inner);
	if (rv != CMPD_OK) {
		kw_why_set(
		    why, "the import envelope's content: %s", inner.text);
		goto out;
	}
	if ((rv = imported_key_check(pkey, why)) != CMPD_OK)
		goto out;
	*out = pkey;
	pkey = NULL;
out:
	EVP_PKEY_free(pkey);
	BIO_free(plain);
	CMS_ContentInfo_free(cms);
	return rv;
}
