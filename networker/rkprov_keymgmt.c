/*
 * Key management of the remote-key provider: key objects that name a
 * keyworker key and carry its public half.
 *
 * Two rules keep OpenSSL 3.0 from routing the wrong key through us (both
 * found by running a prototype; see notes/openssl-cmp-3.0.md, 2(a)):
 * - export never hands out a private part. EVP_DigestSignInit first tries
 *   the default provider's signature and offers it our key through an
 *   export of everything; that must fail so that it falls back to our
 *   signature, which asks the keyworker.
 * - import accepts only our own handle parameters. Otherwise a foreign key
 *   (the CA's, when a response is verified) would be imported here and its
 *   operations routed to this provider.
 * Both refusals are silent: they are OpenSSL probing, not errors, and an
 * entry on the error queue would outlive a signature that succeeded.
 */
#include <limits.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/proverr.h>
#include <openssl/x509.h>
#include <string.h>

#include "rkprov_int.h"
#include "util.h"

const char *
rkprov_alg_name(enum rkprov_alg alg)
{
	static const char *const names[RKPROV_ALG_MAX] = {
		[RKPROV_ALG_RSA] = "RSA",
		[RKPROV_ALG_EC] = "EC",
		[RKPROV_ALG_ED25519] = "ED25519",
	};

	assert(alg < RKPROV_ALG_MAX);
	return names[alg];
}

struct rkprov_key *
rkprov_key_ref(struct rkprov_key *key)
{
	CMPD_MAGIC_CHECK(key, RKPROV_KEY_MAGIC);
	atomic_fetch_add(&key->refs, 1);
	return key;
}

void
rkprov_key_unref(struct rkprov_key *key)
{
	if (key == NULL)
		return;
	CMPD_MAGIC_CHECK(key, RKPROV_KEY_MAGIC);
	if (atomic_fetch_sub(&key->refs, 1) != 1)
		return;
	OPENSSL_free(key->key_id);
	OPENSSL_free(key->job_id);
	EVP_PKEY_free(key->pub);
	key->magic = 0;
	OPENSSL_free(key);
}

static struct rkprov_key *
km_key_new(void *provctx, enum rkprov_alg alg)
{
	struct rkprov_key *key;

	CMPD_MAGIC_CHECK((struct rkprov_ctx *)provctx, RKPROV_CTX_MAGIC);
	if ((key = OPENSSL_zalloc(sizeof(*key))) == NULL)
		return NULL;
	key->magic = RKPROV_KEY_MAGIC;
	atomic_init(&key->refs, 1);
	key->prov = provctx;
	key->alg = alg;
	return key;
}

static void *
km_rsa_new_cb(void *provctx)
{
	return km_key_new(provctx, RKPROV_ALG_RSA);
}

static void *
km_ec_new_cb(void *provctx)
{
	return km_key_new(provctx, RKPROV_ALG_EC);
}

static void *
km_ed25519_new_cb(void *provctx)
{
	return km_key_new(provctx, RKPROV_ALG_ED25519);
}

static void
km_free_cb(void *keydata)
{
	rkprov_key_unref(keydata);
}

/* Handles never change after import, so a duplicate is another reference. */
static void *
km_dup_cb(const void *keydata, int selection)
{
	(void)selection;
	if (keydata == NULL ||
	    ((const struct rkprov_key *)keydata)->pub == NULL)
		return NULL;
	return rkprov_key_ref((struct rkprov_key *)keydata);
}

/*
 * An imported handle has every part: parameters, the public key and, in
 * the keyworker, the private key.
 */
static int
km_has_cb(const void *keydata, int selection)
{
	const struct rkprov_key *key = keydata;

	if (key == NULL)
		return 0;
	if ((selection & OSSL_KEYMGMT_SELECT_ALL) == 0)
		return 1;
	return key->pub != NULL;
}

static int
km_match_cb(const void *keydata1, const void *keydata2, int selection)
{
	const struct rkprov_key *a = keydata1, *b = keydata2;

	if (a->pub == NULL || b->pub == NULL)
		return a->pub == b->pub;
	if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0)
		return EVP_PKEY_eq(a->pub, b->pub) == 1;
	if ((selection & OSSL_KEYMGMT_SELECT_ALL_PARAMETERS) != 0)
		return EVP_PKEY_parameters_eq(a->pub, b->pub) == 1;
	return 1;
}

/* The cached public half of der, with a new reference; NULL if none. */
static EVP_PKEY *
pub_cache_find(struct rkprov_ctx *ctx, const unsigned char *der, size_t len)
{
	EVP_PKEY *pub = NULL;

	pthread_mutex_lock(&ctx->pub_lock);
	for (size_t i = 0; pub == NULL && i < RKPROV_PUB_CACHE_N; i++) {
		const struct rkprov_pub *e = &ctx->pubs[i];

		if (e->pub != NULL && e->len == len &&
		    memcmp(e->der, der, len) == 0 && EVP_PKEY_up_ref(e->pub))
			pub = e->pub;
	}
	pthread_mutex_unlock(&ctx->pub_lock);
	return pub;
}

/* Keeps pub (another reference) for der, replacing the oldest entry. */
static void
pub_cache_put(
    struct rkprov_ctx *ctx, const unsigned char *der, size_t len, EVP_PKEY *pub)
{
	unsigned char *copy = OPENSSL_memdup(der, len);
	struct rkprov_pub *e;

	if (copy == NULL || !EVP_PKEY_up_ref(pub)) {
		OPENSSL_free(copy);
		return; /* only a cache: the key is still good */
	}
	pthread_mutex_lock(&ctx->pub_lock);
	e = &ctx->pubs[ctx->pub_next];
	ctx->pub_next = (ctx->pub_next + 1) % RKPROV_PUB_CACHE_N;
	OPENSSL_free(e->der);
	EVP_PKEY_free(e->pub);
	e->der = copy;
	e->len = len;
	e->pub = pub;
	pthread_mutex_unlock(&ctx->pub_lock);
}

cmpd_err
rkprov_pub_get(struct rkprov_ctx *ctx, const unsigned char *der, size_t len,
    EVP_PKEY **out)
{
	const unsigned char *q = der;
	EVP_PKEY *pub;

	CMPD_MAGIC_CHECK(ctx, RKPROV_CTX_MAGIC);
	if (len == 0 || len > LONG_MAX)
		return CMPD_EINVAL;
	if ((pub = pub_cache_find(ctx, der, len)) != NULL) {
		*out = pub;
		return CMPD_OK;
	}
	pub = d2i_PUBKEY_ex(
	    NULL, &q, (long)len, ctx->libctx, RKPROV_DEFAULT_PROPQ);
	if (pub == NULL || q != der + len) {
		EVP_PKEY_free(pub);
		return CMPD_EINVAL;
	}
	pub_cache_put(ctx, der, len, pub);
	*out = pub;
	return CMPD_OK;
}

void
rkprov_pub_cache_free(struct rkprov_ctx *ctx)
{
	for (size_t i = 0; i < RKPROV_PUB_CACHE_N; i++) {
		OPENSSL_free(ctx->pubs[i].der);
		EVP_PKEY_free(ctx->pubs[i].pub);
		memset(&ctx->pubs[i], 0, sizeof(ctx->pubs[i]));
	}
}

/*
 * Gives the handle the public half of its SubjectPublicKeyInfo DER. The
 * public half is shared with the cache and never changed: OpenSSL's keys
 * may be used by several threads as long as nobody modifies them.
 */
static cmpd_err
km_spki_parse(struct rkprov_key *key, const OSSL_PARAM *p)
{
	const unsigned char *der = NULL;
	size_t len = 0;
	EVP_PKEY *pub = NULL;

	if (!OSSL_PARAM_get_octet_string_ptr(p, (const void **)&der, &len) ||
	    rkprov_pub_get(key->prov, der, len, &pub) != CMPD_OK ||
	    !EVP_PKEY_is_a(pub, rkprov_alg_name(key->alg))) {
		EVP_PKEY_free(pub);
		ERR_raise_data(ERR_LIB_PROV, PROV_R_INVALID_KEY,
		    "%s: the public key is not a %s SubjectPublicKeyInfo",
		    RKPROV_NAME, rkprov_alg_name(key->alg));
		return CMPD_EINVAL;
	}
	key->pub = pub;
	return CMPD_OK;
}

static int
km_import_cb(void *keydata, int selection, const OSSL_PARAM params[])
{
	struct rkprov_key *key = keydata;
	const OSSL_PARAM *pid, *pjob, *pspki;
	const char *id = NULL, *job = NULL;

	if (key == NULL || key->pub != NULL ||
	    (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) == 0)
		return 0;
	pid = OSSL_PARAM_locate_const(params, RKPROV_PARAM_KEY_ID);
	pjob = OSSL_PARAM_locate_const(params, RKPROV_PARAM_JOB_ID);
	pspki = OSSL_PARAM_locate_const(params, RKPROV_PARAM_SPKI);
	if (pid == NULL || pjob == NULL || pspki == NULL)
		return 0; /* a foreign key: see the top of this file */
	if (!OSSL_PARAM_get_utf8_string_ptr(pid, &id) ||
	    !OSSL_PARAM_get_utf8_string_ptr(pjob, &job) || id[0] == '\0')
		return 0;
	if (km_spki_parse(key, pspki) != CMPD_OK)
		return 0;
	key->key_id = OPENSSL_strdup(id);
	key->job_id = OPENSSL_strdup(job);
	if (key->key_id == NULL || key->job_id == NULL) {
		OPENSSL_free(key->key_id);
		OPENSSL_free(key->job_id);
		EVP_PKEY_free(key->pub);
		key->key_id = key->job_id = NULL;
		key->pub = NULL;
		return 0;
	}
	return 1;
}

static const OSSL_PARAM km_import_params[] = {
	OSSL_PARAM_utf8_string(RKPROV_PARAM_KEY_ID, NULL, 0),
	OSSL_PARAM_utf8_string(RKPROV_PARAM_JOB_ID, NULL, 0),
	OSSL_PARAM_octet_string(RKPROV_PARAM_SPKI, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM *
km_import_types_cb(int selection)
{
	if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) == 0)
		return NULL;
	return km_import_params;
}

/*
 * Exports the public half through the default provider's own export, which
 * is what its encoders (SubjectPublicKeyInfo) and key comparison import.
 */
static int
km_export_cb(void *keydata, int selection, OSSL_CALLBACK *cb, void *cbarg)
{
	const struct rkprov_key *key = keydata;

	if (key == NULL || key->pub == NULL ||
	    (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0)
		return 0;
	return EVP_PKEY_export(key->pub, selection, cb, cbarg);
}

static const OSSL_PARAM km_rsa_export_params[] = {
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM km_ec_export_params[] = {
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
	OSSL_PARAM_utf8_string(
	    OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM km_ed25519_export_params[] = {
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM *
km_rsa_export_types_cb(int selection)
{
	(void)selection;
	return km_rsa_export_params;
}

static const OSSL_PARAM *
km_ec_export_types_cb(int selection)
{
	(void)selection;
	return km_ec_export_params;
}

static const OSSL_PARAM *
km_ed25519_export_types_cb(int selection)
{
	(void)selection;
	return km_ed25519_export_params;
}

/*
 * Sizes, the default digest and the group are those of the public half;
 * the default provider answers them (for Ed25519 the mandatory empty
 * digest that tells OpenSSL's CRMF code to sign without one).
 */
static int
km_get_params_cb(void *keydata, OSSL_PARAM params[])
{
	const struct rkprov_key *key = keydata;

	if (key == NULL || key->pub == NULL)
		return 0;
	return EVP_PKEY_get_params(key->pub, params);
}

static const OSSL_PARAM km_gettable_params[] = {
	OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_MANDATORY_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
	OSSL_PARAM_END,
};

static const OSSL_PARAM *
km_gettable_params_cb(void *provctx)
{
	(void)provctx;
	return km_gettable_params;
}

static const char *
km_rsa_query_cb(int operation_id)
{
	return operation_id == OSSL_OP_SIGNATURE ? "RSA" : NULL;
}

static const char *
km_ec_query_cb(int operation_id)
{
	return operation_id == OSSL_OP_SIGNATURE ? "ECDSA" : NULL;
}

static const char *
km_ed25519_query_cb(int operation_id)
{
	return operation_id == OSSL_OP_SIGNATURE ? "ED25519" : NULL;
}

/*
 * One table per key family; they differ in the constructor, the exported
 * parameters and the signature algorithm they name.
 */
#define KM_FN(id, fn)                      \
	{                                  \
		(id), (void (*)(void))(fn) \
	}

const OSSL_DISPATCH rkprov_keymgmt_rsa[] = {
	KM_FN(OSSL_FUNC_KEYMGMT_NEW, km_rsa_new_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_FREE, km_free_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_DUP, km_dup_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_HAS, km_has_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_MATCH, km_match_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_IMPORT, km_import_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_IMPORT_TYPES, km_import_types_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_EXPORT, km_export_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_EXPORT_TYPES, km_rsa_export_types_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_GET_PARAMS, km_get_params_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, km_gettable_params_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, km_rsa_query_cb),
	{ 0, NULL },
};

const OSSL_DISPATCH rkprov_keymgmt_ec[] = {
	KM_FN(OSSL_FUNC_KEYMGMT_NEW, km_ec_new_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_FREE, km_free_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_DUP, km_dup_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_HAS, km_has_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_MATCH, km_match_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_IMPORT, km_import_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_IMPORT_TYPES, km_import_types_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_EXPORT, km_export_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_EXPORT_TYPES, km_ec_export_types_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_GET_PARAMS, km_get_params_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, km_gettable_params_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, km_ec_query_cb),
	{ 0, NULL },
};

const OSSL_DISPATCH rkprov_keymgmt_ed25519[] = {
	KM_FN(OSSL_FUNC_KEYMGMT_NEW, km_ed25519_new_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_FREE, km_free_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_DUP, km_dup_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_HAS, km_has_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_MATCH, km_match_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_IMPORT, km_import_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_IMPORT_TYPES, km_import_types_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_EXPORT, km_export_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_EXPORT_TYPES, km_ed25519_export_types_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_GET_PARAMS, km_get_params_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, km_gettable_params_cb),
	KM_FN(OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, km_ed25519_query_cb),
	{ 0, NULL },
};
