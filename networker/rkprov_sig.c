/*
 * Signature operations of the remote-key provider.
 *
 * Signing buffers the whole to-be-signed structure and hands it, with the
 * digest name, to the sign function in one call: the keyworker parses what
 * it signs, so it must never see a hash. Only the digest-sign operations
 * exist for that reason (EVP_PKEY_sign would give us a hash); OpenSSL's
 * X.509, CMP and CRMF code signs through EVP_DigestSign.
 *
 * Verification buffers the same way and is done by the default provider
 * with the key's public half (OSSL_CRMF_MSGS_verify_popo in the same
 * process meets our key inside the request's template).
 */
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/proverr.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <string.h>

#include "ipc.h"
#include "log.h"
#include "rkprov_int.h"
#include "util.h"

/*
 * The largest structure we buffer: a sign request cannot carry more to the
 * keyworker, and a CMP ProtectedPart or CertRequest is far smaller.
 */
#define SIG_TBS_MAX CMPD_IPC_MAX_SIGN

enum sig_op {
	SIG_OP_NONE,
	SIG_OP_SIGN,
	SIG_OP_VERIFY,
};

struct rkprov_sig {
	uint32_t magic;
	struct rkprov_ctx *prov;
	enum rkprov_alg alg;
	enum sig_op op;
	struct rkprov_key *key; /* a reference */
	char md[8]; /* "SHA256", "SHA384", "SHA512"; "" for Ed25519 */
	int md_nid;
	unsigned char *tbs;
	size_t tbs_len;
	size_t tbs_cap;
};

/* The digests the keyworker accepts, by their name on the wire. */
static const struct {
	const char *name;
	int nid;
} sig_digests[] = {
	{ "SHA256", NID_sha256 },
	{ "SHA384", NID_sha384 },
	{ "SHA512", NID_sha512 },
};

static struct rkprov_sig *
sig_new(void *provctx, enum rkprov_alg alg)
{
	struct rkprov_sig *s;

	CMPD_MAGIC_CHECK((struct rkprov_ctx *)provctx, RKPROV_CTX_MAGIC);
	if ((s = OPENSSL_zalloc(sizeof(*s))) == NULL)
		return NULL;
	s->magic = RKPROV_SIG_MAGIC;
	s->prov = provctx;
	s->alg = alg;
	return s;
}

static void *
sig_rsa_newctx_cb(void *provctx, const char *propq)
{
	(void)propq;
	return sig_new(provctx, RKPROV_ALG_RSA);
}

static void *
sig_ec_newctx_cb(void *provctx, const char *propq)
{
	(void)propq;
	return sig_new(provctx, RKPROV_ALG_EC);
}

static void *
sig_ed25519_newctx_cb(void *provctx, const char *propq)
{
	(void)propq;
	return sig_new(provctx, RKPROV_ALG_ED25519);
}

static void
sig_freectx_cb(void *ctx)
{
	struct rkprov_sig *s = ctx;

	if (s == NULL)
		return;
	CMPD_MAGIC_CHECK(s, RKPROV_SIG_MAGIC);
	rkprov_key_unref(s->key);
	OPENSSL_free(s->tbs);
	s->magic = 0;
	OPENSSL_free(s);
}

/*
 * EVP_DigestSignFinal signs a duplicate of the context, so the duplicate
 * needs its own copy of everything buffered so far.
 */
static void *
sig_dupctx_cb(void *ctx)
{
	const struct rkprov_sig *s = ctx;
	struct rkprov_sig *d;

	CMPD_MAGIC_CHECK(s, RKPROV_SIG_MAGIC);
	if ((d = OPENSSL_malloc(sizeof(*d))) == NULL)
		return NULL;
	*d = *s;
	d->tbs = NULL;
	d->tbs_cap = 0;
	if (s->tbs_len > 0) {
		if ((d->tbs = OPENSSL_memdup(s->tbs, s->tbs_len)) == NULL) {
			OPENSSL_free(d);
			return NULL;
		}
		d->tbs_cap = s->tbs_len;
	}
	if (d->key != NULL)
		rkprov_key_ref(d->key);
	return d;
}

/*
 * Accepts the digest OpenSSL names (any of its aliases: "SHA2-256",
 * "SHA256", an OID) if the keyworker signs with it, and keeps the name the
 * keyworker expects. RSA and ECDSA default to SHA-256, as OpenSSL's own
 * keys do; Ed25519 takes none.
 */
static cmpd_err
sig_digest_set(struct rkprov_sig *s, const char *mdname)
{
	EVP_MD *md = NULL;
	size_t i;

	if (s->alg == RKPROV_ALG_ED25519) {
		if (mdname != NULL && mdname[0] != '\0') {
			ERR_raise_data(ERR_LIB_PROV, PROV_R_DIGEST_NOT_ALLOWED,
			    "%s: Ed25519 signs without a digest (got %s)",
			    RKPROV_NAME, mdname);
			return CMPD_EINVAL;
		}
		s->md[0] = '\0';
		s->md_nid = NID_undef;
		return CMPD_OK;
	}
	if (mdname == NULL || mdname[0] == '\0')
		mdname = "SHA256";
	md = EVP_MD_fetch(s->prov->libctx, mdname, RKPROV_DEFAULT_PROPQ);
	for (i = 0; md != NULL && i < CMPD_ARRAY_LEN(sig_digests); i++) {
		if (EVP_MD_is_a(md, sig_digests[i].name))
			break;
	}
	EVP_MD_free(md);
	if (md == NULL || i == CMPD_ARRAY_LEN(sig_digests)) {
		ERR_raise_data(ERR_LIB_PROV, PROV_R_INVALID_DIGEST,
		    "%s: digest %s; the keyworker signs with SHA256, SHA384 "
		    "or SHA512",
		    RKPROV_NAME, mdname);
		return CMPD_EINVAL;
	}
	cmpd_strlcpy(s->md, sig_digests[i].name, sizeof(s->md));
	s->md_nid = sig_digests[i].nid;
	return CMPD_OK;
}

/* RSA signs with PKCS#1 v1.5 only: that is all the keyworker does. */
static cmpd_err
sig_padding_check(const struct rkprov_sig *s, const OSSL_PARAM *p)
{
	const char *name = NULL;
	int mode = 0;

	if (s->alg == RKPROV_ALG_RSA) {
		if (p->data_type == OSSL_PARAM_UTF8_STRING) {
			if (OSSL_PARAM_get_utf8_string_ptr(p, &name) &&
			    strcmp(name, OSSL_PKEY_RSA_PAD_MODE_PKCSV15) == 0)
				return CMPD_OK;
		} else if (OSSL_PARAM_get_int(p, &mode) &&
		    mode == RSA_PKCS1_PADDING) {
			return CMPD_OK;
		}
	}
	ERR_raise_data(ERR_LIB_PROV, PROV_R_ILLEGAL_OR_UNSUPPORTED_PADDING_MODE,
	    "%s: only RSA PKCS#1 v1.5 signatures are supported (no RSA-PSS)",
	    RKPROV_NAME);
	return CMPD_EINVAL;
}

static int
sig_set_ctx_params_cb(void *ctx, const OSSL_PARAM params[])
{
	struct rkprov_sig *s = ctx;
	const OSSL_PARAM *p;
	const char *mdname = NULL;

	CMPD_MAGIC_CHECK(s, RKPROV_SIG_MAGIC);
	if (params == NULL)
		return 1;
	p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_DIGEST);
	if (p != NULL) {
		/* The digest is fixed once data has been buffered. */
		if (!OSSL_PARAM_get_utf8_string_ptr(p, &mdname) ||
		    s->tbs_len > 0 || sig_digest_set(s, mdname) != CMPD_OK)
			return 0;
	}
	p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
	if (p != NULL && sig_padding_check(s, p) != CMPD_OK)
		return 0;
	return 1;
}

static const OSSL_PARAM sig_rsa_settable[] = {
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM sig_ec_settable[] = {
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM *
sig_settable_ctx_params_cb(void *ctx, void *provctx)
{
	const struct rkprov_sig *s = ctx;

	(void)provctx;
	if (s != NULL && s->alg == RKPROV_ALG_RSA)
		return sig_rsa_settable;
	return sig_ec_settable;
}

/*
 * The DER AlgorithmIdentifier of the signature. OBJ_find_sigid_by_algs
 * knows no Ed25519 signature in OpenSSL 3.0, so that one is written out.
 */
static cmpd_err
sig_algid_der(const struct rkprov_sig *s, unsigned char **der, int *len)
{
	X509_ALGOR *algor = NULL;
	int nid = NID_undef, ptype = V_ASN1_UNDEF;
	cmpd_err err = CMPD_ECRYPTO;

	if (s->alg == RKPROV_ALG_ED25519) {
		nid = NID_ED25519;
	} else if (s->alg == RKPROV_ALG_RSA) {
		ptype = V_ASN1_NULL; /* RFC 4055: the parameters are NULL */
		OBJ_find_sigid_by_algs(&nid, s->md_nid, NID_rsaEncryption);
	} else {
		OBJ_find_sigid_by_algs(
		    &nid, s->md_nid, NID_X9_62_id_ecPublicKey);
	}
	if (nid == NID_undef || (algor = X509_ALGOR_new()) == NULL ||
	    !X509_ALGOR_set0(algor, OBJ_nid2obj(nid), ptype, NULL))
		goto out;
	*der = NULL;
	if ((*len = i2d_X509_ALGOR(algor, der)) <= 0)
		goto out;
	err = CMPD_OK;
out:
	X509_ALGOR_free(algor);
	return err;
}

static int
sig_get_algid(const struct rkprov_sig *s, OSSL_PARAM *p)
{
	unsigned char *der = NULL;
	int len = 0, ok;

	if (s->key == NULL || sig_algid_der(s, &der, &len) != CMPD_OK)
		return 0;
	ok = OSSL_PARAM_set_octet_string(p, der, (size_t)len);
	OPENSSL_free(der);
	return ok;
}

static int
sig_get_ctx_params_cb(void *ctx, OSSL_PARAM params[])
{
	struct rkprov_sig *s = ctx;
	OSSL_PARAM *p;

	CMPD_MAGIC_CHECK(s, RKPROV_SIG_MAGIC);
	p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID);
	if (p != NULL && !sig_get_algid(s, p))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST);
	if (p != NULL && !OSSL_PARAM_set_utf8_string(p, s->md))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
	if (p != NULL && s->alg == RKPROV_ALG_RSA) {
		if (p->data_type == OSSL_PARAM_UTF8_STRING
		        ? !OSSL_PARAM_set_utf8_string(
		              p, OSSL_PKEY_RSA_PAD_MODE_PKCSV15)
		        : !OSSL_PARAM_set_int(p, RSA_PKCS1_PADDING))
			return 0;
	}
	return 1;
}

static const OSSL_PARAM sig_gettable[] = {
	OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM *
sig_gettable_ctx_params_cb(void *ctx, void *provctx)
{
	(void)ctx;
	(void)provctx;
	return sig_gettable;
}

/*
 * Starts an operation with key (NULL: the key of the previous one). Only
 * a handle, which names a keyworker key, can sign.
 */
static int
sig_init(struct rkprov_sig *s, enum sig_op op, const char *mdname,
    struct rkprov_key *key, const OSSL_PARAM params[])
{
	CMPD_MAGIC_CHECK(s, RKPROV_SIG_MAGIC);
	if (key == NULL)
		key = s->key;
	if (key == NULL || key->pub == NULL || key->alg != s->alg) {
		ERR_raise_data(ERR_LIB_PROV, PROV_R_NO_KEY_SET,
		    "%s: no %s key handle", RKPROV_NAME,
		    rkprov_alg_name(s->alg));
		return 0;
	}
	if (key != s->key) {
		rkprov_key_unref(s->key);
		s->key = rkprov_key_ref(key);
	}
	s->op = op;
	s->tbs_len = 0;
	if (sig_digest_set(s, mdname) != CMPD_OK)
		return 0;
	return sig_set_ctx_params_cb(s, params);
}

static int
sig_sign_init_cb(
    void *ctx, const char *mdname, void *provkey, const OSSL_PARAM params[])
{
	return sig_init(ctx, SIG_OP_SIGN, mdname, provkey, params);
}

static int
sig_verify_init_cb(
    void *ctx, const char *mdname, void *provkey, const OSSL_PARAM params[])
{
	return sig_init(ctx, SIG_OP_VERIFY, mdname, provkey, params);
}

static int
sig_update_cb(void *ctx, const unsigned char *data, size_t len)
{
	struct rkprov_sig *s = ctx;
	size_t cap;
	unsigned char *tbs;

	CMPD_MAGIC_CHECK(s, RKPROV_SIG_MAGIC);
	if (len == 0)
		return 1;
	if (s->op == SIG_OP_NONE || len > SIG_TBS_MAX - s->tbs_len) {
		ERR_raise_data(ERR_LIB_PROV, PROV_R_INVALID_INPUT_LENGTH,
		    "%s: more than %u bytes", RKPROV_NAME, SIG_TBS_MAX);
		return 0;
	}
	if (s->tbs_len + len > s->tbs_cap) {
		cap = s->tbs_cap == 0 ? 1024 : s->tbs_cap;
		while (cap < s->tbs_len + len)
			cap *= 2;
		if ((tbs = OPENSSL_realloc(s->tbs, cap)) == NULL)
			return 0;
		s->tbs = tbs;
		s->tbs_cap = cap;
	}
	memcpy(s->tbs + s->tbs_len, data, len);
	s->tbs_len += len;
	return 1;
}

/*
 * The one round trip to the keyworker. The signature it returns must fit
 * both the caller's buffer and the key's maximum size.
 */
static int
sig_remote(const struct rkprov_sig *s, const unsigned char *tbs, size_t len,
    unsigned char *sig, size_t *siglen, size_t sigsize)
{
	const struct rkprov_key *key = s->key;
	uint8_t *out = NULL;
	size_t outlen = 0, max = (size_t)EVP_PKEY_get_size(key->pub);
	cmpd_err err;

	if (max < sigsize)
		sigsize = max;
	if (s->op != SIG_OP_SIGN || key->key_id == NULL) {
		ERR_raise_data(ERR_LIB_PROV, PROV_R_NOT_A_PRIVATE_KEY,
		    "%s: not initialised for signing", RKPROV_NAME);
		return 0;
	}
	if (len > SIG_TBS_MAX) {
		ERR_raise_data(ERR_LIB_PROV, PROV_R_INVALID_INPUT_LENGTH,
		    "%s: more than %u bytes to sign", RKPROV_NAME, SIG_TBS_MAX);
		return 0;
	}
	err = s->prov->sign(s->prov->arg, key->job_id, key->key_id, s->md, tbs,
	    len, &out, &outlen);
	if (err == CMPD_OK && (outlen == 0 || outlen > sigsize)) {
		log_err("job %s: key %s: the keyworker returned a %zu-byte "
		        "signature (at most %zu expected)",
		    key->job_id, key->key_id, outlen, sigsize);
		err = CMPD_EPROTO;
	}
	if (err != CMPD_OK) {
		OPENSSL_free(out);
		ERR_raise_data(ERR_LIB_PROV, PROV_R_FAILED_TO_SIGN,
		    "%s: job %s key %s: %s", RKPROV_NAME, key->job_id,
		    key->key_id, cmpd_strerror(err));
		return 0;
	}
	memcpy(sig, out, outlen);
	*siglen = outlen;
	OPENSSL_free(out);
	return 1;
}

/* With sig NULL, the caller asks how large a signature can be. */
static int
sig_size(const struct rkprov_sig *s, size_t *siglen)
{
	int size;

	if (s->key == NULL || (size = EVP_PKEY_get_size(s->key->pub)) <= 0)
		return 0;
	*siglen = (size_t)size;
	return 1;
}

static int
sig_sign_final_cb(void *ctx, unsigned char *sig, size_t *siglen, size_t sigsize)
{
	struct rkprov_sig *s = ctx;

	CMPD_MAGIC_CHECK(s, RKPROV_SIG_MAGIC);
	if (sig == NULL)
		return sig_size(s, siglen);
	return sig_remote(s, s->tbs, s->tbs_len, sig, siglen, sigsize);
}

/* One-shot signing, the only way Ed25519 signs in OpenSSL. */
static int
sig_sign_cb(void *ctx, unsigned char *sig, size_t *siglen, size_t sigsize,
    const unsigned char *tbs, size_t tbslen)
{
	struct rkprov_sig *s = ctx;

	CMPD_MAGIC_CHECK(s, RKPROV_SIG_MAGIC);
	if (sig == NULL)
		return sig_size(s, siglen);
	if (s->tbs_len == 0)
		return sig_remote(s, tbs, tbslen, sig, siglen, sigsize);
	if (!sig_update_cb(s, tbs, tbslen))
		return 0;
	return sig_remote(s, s->tbs, s->tbs_len, sig, siglen, sigsize);
}

/* Verification by the default provider with the public half. */
static int
sig_verify_local(const struct rkprov_sig *s, const unsigned char *sig,
    size_t siglen, const unsigned char *tbs, size_t tbslen)
{
	EVP_MD_CTX *mctx = NULL;
	int rv = 0;

	if (s->op != SIG_OP_VERIFY || s->key == NULL)
		return 0;
	if ((mctx = EVP_MD_CTX_new()) == NULL)
		return 0;
	if (EVP_DigestVerifyInit_ex(mctx, NULL, s->md[0] ? s->md : NULL,
	        s->prov->libctx, RKPROV_DEFAULT_PROPQ, s->key->pub, NULL) == 1)
		rv = EVP_DigestVerify(mctx, sig, siglen, tbs, tbslen) == 1;
	EVP_MD_CTX_free(mctx);
	return rv;
}

static int
sig_verify_final_cb(void *ctx, const unsigned char *sig, size_t siglen)
{
	struct rkprov_sig *s = ctx;

	CMPD_MAGIC_CHECK(s, RKPROV_SIG_MAGIC);
	return sig_verify_local(s, sig, siglen, s->tbs, s->tbs_len);
}

static int
sig_verify_cb(void *ctx, const unsigned char *sig, size_t siglen,
    const unsigned char *tbs, size_t tbslen)
{
	struct rkprov_sig *s = ctx;

	CMPD_MAGIC_CHECK(s, RKPROV_SIG_MAGIC);
	if (s->tbs_len == 0)
		return sig_verify_local(s, sig, siglen, tbs, tbslen);
	if (!sig_update_cb(s, tbs, tbslen))
		return 0;
	return sig_verify_local(s, sig, siglen, s->tbs, s->tbs_len);
}

/* One table per algorithm; they differ only in the constructor. */
#define SIG_FN(id, fn)                     \
	{                                  \
		(id), (void (*)(void))(fn) \
	}
#define SIG_TABLE(newctx)                                                     \
	{                                                                     \
		SIG_FN(OSSL_FUNC_SIGNATURE_NEWCTX, newctx),                   \
		    SIG_FN(OSSL_FUNC_SIGNATURE_FREECTX, sig_freectx_cb),      \
		    SIG_FN(OSSL_FUNC_SIGNATURE_DUPCTX, sig_dupctx_cb),        \
		    SIG_FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT,              \
		        sig_sign_init_cb),                                    \
		    SIG_FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE,            \
		        sig_update_cb),                                       \
		    SIG_FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL,             \
		        sig_sign_final_cb),                                   \
		    SIG_FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN, sig_sign_cb),     \
		    SIG_FN(OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT,            \
		        sig_verify_init_cb),                                  \
		    SIG_FN(OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE,          \
		        sig_update_cb),                                       \
		    SIG_FN(OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL,           \
		        sig_verify_final_cb),                                 \
		    SIG_FN(OSSL_FUNC_SIGNATURE_DIGEST_VERIFY, sig_verify_cb), \
		    SIG_FN(OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS,                \
		        sig_get_ctx_params_cb),                               \
		    SIG_FN(OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS,           \
		        sig_gettable_ctx_params_cb),                          \
		    SIG_FN(OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS,                \
		        sig_set_ctx_params_cb),                               \
		    SIG_FN(OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS,           \
		        sig_settable_ctx_params_cb),                          \
		{                                                             \
			0, NULL                                               \
		}                                                             \
	}

const OSSL_DISPATCH rkprov_sig_rsa[] = SIG_TABLE(sig_rsa_newctx_cb);
const OSSL_DISPATCH rkprov_sig_ec[] = SIG_TABLE(sig_ec_newctx_cb);
const OSSL_DISPATCH rkprov_sig_ed25519[] = SIG_TABLE(sig_ed25519_newctx_cb);
