#include "keyfile.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "util.h"

void
kw_why_set(struct kw_why *why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why->text, sizeof(why->text), fmt, ap);
	va_end(ap);
}

void
kw_key_fini(struct kw_key *key)
{
	free(key->spki);
	memset(key, 0, sizeof(*key));
}

/* The key types cmpd supports, and how to make each. */
static const struct key_kind {
	Cmpd__KeyType type;
	const char *name;
	const char *alg;
	const char *curve;
	size_t bits;
} key_kinds[] = {
	{ CMPD__KEY_TYPE__KEY_EC_P256, "EC P-256", "EC", "P-256", 0 },
	{ CMPD__KEY_TYPE__KEY_EC_P384, "EC P-384", "EC", "P-384", 0 },
	{ CMPD__KEY_TYPE__KEY_RSA_2048, "RSA 2048", "RSA", NULL, 2048 },
	{ CMPD__KEY_TYPE__KEY_RSA_3072, "RSA 3072", "RSA", NULL, 3072 },
	{ CMPD__KEY_TYPE__KEY_RSA_4096, "RSA 4096", "RSA", NULL, 4096 },
	{ CMPD__KEY_TYPE__KEY_ED25519, "Ed25519", "ED25519", NULL, 0 },
};

static const struct key_kind *
key_kind_of(Cmpd__KeyType type)
{
	for (size_t i = 0; i < CMPD_ARRAY_LEN(key_kinds); i++)
		if (key_kinds[i].type == type)
			return &key_kinds[i];
	return NULL;
}

const char *
kw_key_type_name(Cmpd__KeyType type)
{
	const struct key_kind *k = key_kind_of(type);

	return k != NULL ? k->name : "unknown";
}

int
kw_key_type_valid(Cmpd__KeyType type)
{
	return key_kind_of(type) != NULL;
}

cmpd_err
kw_key_generate(
    Cmpd__KeyType type, const char *job, EVP_PKEY **out, struct kw_why *why)
{
	const struct key_kind *k = key_kind_of(type);
	EVP_PKEY *pkey = NULL;

	if (k == NULL) {
		kw_why_set(why, "key type %d cannot be generated", (int)type);
		return CMPD_EINVAL;
	}
	/* RSA keys get OpenSSL's default public exponent, 65537. */
	if (k->curve != NULL)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, k->alg, k->curve);
	else if (k->bits != 0)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, k->alg, k->bits);
	else
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, k->alg);
	if (pkey == NULL) {
		cmpd_log_openssl(CMPD_LOG_ERR, job);
		kw_why_set(why, "generating an %s key failed", k->name);
		return CMPD_ECRYPTO;
	}
	*out = pkey;
	return CMPD_OK;
}

/* Why cmpd_key_type_of found no cmpd key type for pkey, for a person. */
static void
explain_unsupported(EVP_PKEY *pkey, struct kw_why *why)
{
	const char *name = EVP_PKEY_get0_type_name(pkey);
	char group[64] = "";

	if (EVP_PKEY_is_a(pkey, "RSA"))
		kw_why_set(why,
		    "an RSA key of %d bits is not supported "
		    "(2048, 3072 or 4096)",
		    EVP_PKEY_get_bits(pkey));
	else if (EVP_PKEY_is_a(pkey, "EC") &&
	    EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
	        group, sizeof(group), NULL) == 1)
		kw_why_set(why,
		    "an EC key on curve %s is not supported "
		    "(P-256 or P-384)",
		    group);
	else
		kw_why_set(why,
		    "a key of type %s is not supported (EC P-256, "
		    "EC P-384, RSA 2048/3072/4096 or Ed25519)",
		    name != NULL ? name : "unknown");
	ERR_clear_error();
}

/* Explicit curve parameters would go into the SPKI the CA sees. */
static int
ec_explicit(EVP_PKEY *pkey)
{
	char enc[32] = "";

	return EVP_PKEY_is_a(pkey, "EC") &&
	    EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_ENCODING,
	        enc, sizeof(enc), NULL) == 1 &&
	    strcmp(enc, OSSL_PKEY_EC_ENCODING_GROUP) != 0;
}

static cmpd_err
classify(EVP_PKEY *pkey, Cmpd__KeyType *type, struct kw_why *why)
{
	if (ec_explicit(pkey)) {
		kw_why_set(why,
		    "an EC key with explicit curve parameters is "
		    "not supported (use a named curve)");
		return CMPD_EINVAL;
	}
	*type = cmpd_key_type_of(pkey);
	if (*type != CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED)
		return CMPD_OK;
	explain_unsupported(pkey, why);
	return CMPD_EINVAL;
}

cmpd_err
kw_key_describe(EVP_PKEY *pkey, struct kw_key *out, struct kw_why *why)
{
	struct kw_key k = { .type = CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED };
	unsigned char *der = NULL;
	int len;
	cmpd_err rv;

	rv = classify(pkey, &k.type, why);
	if (rv != CMPD_OK)
		return rv;
	len = i2d_PUBKEY(pkey, &der);
	if (len <= 0) {
		cmpd_log_openssl(CMPD_LOG_ERR, "key description");
		kw_why_set(why, "the public key cannot be encoded");
		return CMPD_ECRYPTO;
	}
	k.spki = malloc((size_t)len);
	if (k.spki == NULL) {
		rv = CMPD_ENOMEM;
		kw_why_set(why, "out of memory");
		goto out;
	}
	memcpy(k.spki, der, (size_t)len);
	k.spki_len = (size_t)len;
	rv = cmpd_key_id_from_spki(k.spki, k.spki_len, k.id);
	if (rv != CMPD_OK) {
		kw_why_set(why, "the key id cannot be computed");
		goto out;
	}
	*out = k;
	k.spki = NULL;
out:
	free(k.spki);
	OPENSSL_free(der);
	return rv;
}

struct kw_keydec {
	OSSL_DECODER_CTX *ctx;
	EVP_PKEY *pkey; /* where ctx puts each key it decodes */
};

cmpd_err
kw_keydec_new(struct kw_keydec **out)
{
	struct kw_keydec *dec = calloc(1, sizeof(*dec));

	if (dec == NULL)
		return CMPD_ENOMEM;
	dec->ctx = OSSL_DECODER_CTX_new_for_pkey(&dec->pkey, "DER",
	    "PrivateKeyInfo", NULL, EVP_PKEY_KEYPAIR, NULL, NULL);
	if (dec->ctx == NULL ||
	    OSSL_DECODER_CTX_get_num_decoders(dec->ctx) <= 0) {
		cmpd_log_openssl(CMPD_LOG_ERR, "PKCS#8 decoder");
		kw_keydec_free(dec);
		return CMPD_ECRYPTO;
	}
	*out = dec;
	return CMPD_OK;
}

void
kw_keydec_free(struct kw_keydec *dec)
{
	if (dec == NULL)
		return;
	OSSL_DECODER_CTX_free(dec->ctx);
	EVP_PKEY_free(dec->pkey);
	free(dec);
}

cmpd_err
kw_keydec_der(struct kw_keydec *dec, const uint8_t *der, size_t len,
    EVP_PKEY **out, struct kw_why *why)
{
	const unsigned char *p = der;
	size_t left = len;

	EVP_PKEY_free(dec->pkey);
	dec->pkey = NULL;
	if (OSSL_DECODER_from_data(dec->ctx, &p, &left) != 1 ||
	    dec->pkey == NULL) {
		cmpd_log_openssl(CMPD_LOG_DEBUG, "PKCS#8 decoding");
		kw_why_set(why, "not a readable PKCS#8 PrivateKeyInfo");
		return CMPD_EINVAL;
	}
	if (left != 0) {
		EVP_PKEY_free(dec->pkey);
		dec->pkey = NULL;
		kw_why_set(why, "%zu bytes follow the PrivateKeyInfo", left);
		return CMPD_EINVAL;
	}
	*out = dec->pkey;
	dec->pkey = NULL;
	return CMPD_OK;
}

/* Decodes one PEM "PRIVATE KEY" block of buf. */
static cmpd_err
keyfile_decode(struct kw_keydec *dec, const uint8_t *buf, size_t len,
    EVP_PKEY **out, struct kw_why *why)
{
	BIO *bio = BIO_new_mem_buf(buf, (int)len);
	char *name = NULL, *header = NULL;
	unsigned char *der = NULL;
	long derlen = 0;
	cmpd_err rv = CMPD_EINVAL;

	if (bio == NULL) {
		kw_why_set(why, "out of memory");
		return CMPD_ENOMEM;
	}
	/* PEM_FLAG_SECURE: the DER goes to the secure heap, not malloc. */
	if (PEM_read_bio_ex(bio, &name, &header, &der, &derlen,
	        PEM_FLAG_SECURE | PEM_FLAG_EAY_COMPATIBLE) != 1) {
		cmpd_log_openssl(CMPD_LOG_DEBUG, "key file");
		kw_why_set(why, "no complete PEM block (truncated or corrupt)");
		goto out;
	}
	if (strcmp(name, PEM_STRING_PKCS8INF) != 0 || header[0] != '\0') {
		kw_why_set(why,
		    "holds a PEM \"%s\"%s, not an unencrypted "
		    "\"PRIVATE KEY\"",
		    name, header[0] != '\0' ? " with headers" : "");
		goto out;
	}
	rv = kw_keydec_der(dec, der, (size_t)derlen, out, why);
out:
	OPENSSL_secure_free(name);
	OPENSSL_secure_free(header);
	OPENSSL_secure_clear_free(der, derlen > 0 ? (size_t)derlen : 0);
	BIO_free(bio);
	return rv;
}

static cmpd_err
keyfile_check_stat(const struct stat *st, struct kw_why *why)
{
	if (S_ISLNK(st->st_mode)) {
		kw_why_set(why, "is a symbolic link");
		return CMPD_EPERM;
	}
	if (!S_ISREG(st->st_mode)) {
		kw_why_set(why, "is not a regular file");
		return CMPD_EINVAL;
	}
	if (st->st_uid != geteuid()) {
		kw_why_set(why,
		    "is owned by uid %u, not by the keyworker's "
		    "uid %u",
		    (unsigned)st->st_uid, (unsigned)geteuid());
		return CMPD_EPERM;
	}
	if ((st->st_mode & 077) != 0) {
		kw_why_set(why, "has mode %04o; a key file must be 0600",
		    (unsigned)(st->st_mode & 07777));
		return CMPD_EPERM;
	}
	return CMPD_OK;
}

static cmpd_err
keyfile_read_path(struct kw_keydec *dec, const char *path, EVP_PKEY **out,
    int64_t *mtime, struct kw_why *why)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t len = 0;
	cmpd_err rv;

	if (lstat(path, &st) != 0) {
		int e = errno;

		kw_why_set(why, "cannot be examined: %s", strerror(e));
		return e == ENOENT ? CMPD_ENOENT : CMPD_EIO;
	}
	if ((rv = keyfile_check_stat(&st, why)) != CMPD_OK)
		return rv;
	/* nofollow: a link swapped in after lstat is refused too. */
	rv = cmpd_file_read(path, KW_KEYFILE_MAX, 1, &buf, &len);
	if (rv != CMPD_OK) {
		kw_why_set(why,
		    rv == CMPD_EINVAL ? "is larger than 64 KiB"
		                      : "cannot be read");
		return rv;
	}
	rv = keyfile_decode(dec, buf, len, out, why);
	cmpd_file_free(buf, len);
	if (rv == CMPD_OK)
		*mtime = (int64_t)st.st_mtime;
	return rv;
}

cmpd_err
kw_keyfile_read(struct kw_keydec *dec, const char *dir, const char *name,
    EVP_PKEY **out, int64_t *mtime, struct kw_why *why)
{
	char path[4096];
	struct kw_why reason;
	cmpd_err rv;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path)) {
		kw_why_set(why, "%s/%s: path too long", dir, name);
		return CMPD_EINVAL;
	}
	rv = keyfile_read_path(dec, path, out, mtime, &reason);
	if (rv != CMPD_OK)
		kw_why_set(why, "%s: %s", path, reason.text);
	return rv;
}

cmpd_err
kw_keyfile_write(const char *path, EVP_PKEY *pkey, struct kw_why *why)
{
	BIO *bio = BIO_new(BIO_s_secmem());
	BUF_MEM *mem = NULL;
	cmpd_err rv = CMPD_ECRYPTO;

	if (bio == NULL) {
		kw_why_set(why, "out of memory");
		return CMPD_ENOMEM;
	}
	/* PKCS#8 PrivateKeyInfo, unencrypted: the directory protects it. */
	if (PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) !=
	        1 ||
	    BIO_get_mem_ptr(bio, &mem) != 1 || mem == NULL) {
		cmpd_log_openssl(CMPD_LOG_ERR, path);
		kw_why_set(why, "the key cannot be encoded");
		goto out;
	}
	rv = cmpd_file_write_atomic(
	    path, mem->data, mem->length, 0600, (uid_t)-1, (gid_t)-1);
	if (rv != CMPD_OK)
		kw_why_set(why, "%s cannot be written (see the log)", path);
out:
	BIO_free(bio); /* a secmem BIO wipes its buffer when freed */
	return rv;
}
