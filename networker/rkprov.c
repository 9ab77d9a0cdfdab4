/*
 * The remote-key provider ("cmpd-remote"): loading it into a library
 * context and making key handles. Its key management is in
 * rkprov_keymgmt.c and its signatures in rkprov_sig.c.
 *
 * OpenSSL's provider init takes no argument of ours, so the sign function
 * reaches it through a slot that cmpd_rkprov_load fills, under a lock, just
 * around the OSSL_PROVIDER_load that runs the init.
 */
#include <limits.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <string.h>

#include "cmpd_build.h"
#include "keyid.h"
#include "log.h"
#include "rkprov_int.h"
#include "util.h"

/* The names must be OpenSSL's own, so that the key types map (see below). */
#define RKPROV_NAMES_RSA     "RSA:rsaEncryption:1.2.840.113549.1.1.1"
#define RKPROV_NAMES_EC      "EC:id-ecPublicKey:1.2.840.10045.2.1"
#define RKPROV_NAMES_ED25519 "ED25519:1.3.101.112"

/*
 * Key types and signature algorithms carry OpenSSL's standard names: that
 * makes EVP_PKEY_get_id answer EVP_PKEY_RSA, EVP_PKEY_EC or
 * EVP_PKEY_ED25519 (CMP chooses its protection algorithm from it), lets the
 * default provider's SubjectPublicKeyInfo encoder take our public half, and
 * lets EVP_PKEY_eq compare our keys with the default provider's.
 */
static const OSSL_ALGORITHM rkprov_keymgmt_algs[] = {
	{ RKPROV_NAMES_RSA, RKPROV_PROPS, rkprov_keymgmt_rsa,
	    "cmpd keyworker RSA key" },
	{ RKPROV_NAMES_EC, RKPROV_PROPS, rkprov_keymgmt_ec,
	    "cmpd keyworker EC key" },
	{ RKPROV_NAMES_ED25519, RKPROV_PROPS, rkprov_keymgmt_ed25519,
	    "cmpd keyworker Ed25519 key" },
	{ NULL, NULL, NULL, NULL },
};

static const OSSL_ALGORITHM rkprov_sig_algs[] = {
	{ RKPROV_NAMES_RSA, RKPROV_PROPS, rkprov_sig_rsa,
	    "RSA PKCS#1 v1.5 signature by the cmpd keyworker" },
	{ "ECDSA", RKPROV_PROPS, rkprov_sig_ec,
	    "ECDSA signature by the cmpd keyworker" },
	{ RKPROV_NAMES_ED25519, RKPROV_PROPS, rkprov_sig_ed25519,
	    "Ed25519 signature by the cmpd keyworker" },
	{ NULL, NULL, NULL, NULL },
};

/*
 * The sign function for the provider init that OSSL_PROVIDER_load runs,
 * and the providers each library context holds loaded: OpenSSL frees a
 * loaded provider only when it is unloaded, even with its library context.
 * One networker uses one library context; tests use a few.
 */
static pthread_mutex_t rkprov_load_lock = PTHREAD_MUTEX_INITIALIZER;
static cmpd_rk_sign_fn rkprov_pending_sign;
static void *rkprov_pending_arg;
static struct rkprov_loaded {
	int used;
	OSSL_LIB_CTX *libctx;
	OSSL_PROVIDER *dflt;
	OSSL_PROVIDER *rk;
} rkprov_loaded[8];

static const OSSL_ALGORITHM *
rkprov_query_cb(void *provctx, int operation_id, int *no_store)
{
	(void)provctx;
	*no_store = 0;
	switch (operation_id) {
	case OSSL_OP_KEYMGMT:
		return rkprov_keymgmt_algs;
	case OSSL_OP_SIGNATURE:
		return rkprov_sig_algs;
	default:
		return NULL;
	}
}

static const OSSL_PARAM rkprov_gettable[] = {
	OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_NAME, NULL, 0),
	OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_VERSION, NULL, 0),
	OSSL_PARAM_int(OSSL_PROV_PARAM_STATUS, NULL),
	OSSL_PARAM_END,
};

static const OSSL_PARAM *
rkprov_gettable_params_cb(void *provctx)
{
	(void)provctx;
	return rkprov_gettable;
}

static int
rkprov_get_params_cb(void *provctx, OSSL_PARAM params[])
{
	OSSL_PARAM *p;

	(void)provctx;
	p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME);
	if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, RKPROV_NAME))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION);
	if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, CMPD_VERSION))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS);
	if (p != NULL && !OSSL_PARAM_set_int(p, 1))
		return 0;
	return 1;
}

static void
rkprov_teardown_cb(void *provctx)
{
	struct rkprov_ctx *ctx = provctx;

	CMPD_MAGIC_CHECK(ctx, RKPROV_CTX_MAGIC);
	rkprov_pub_cache_free(ctx);
	pthread_mutex_destroy(&ctx->pub_lock);
	ctx->magic = 0;
	OPENSSL_free(ctx);
}

static const OSSL_DISPATCH rkprov_dispatch[] = {
	{ OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))rkprov_teardown_cb },
	{ OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))rkprov_query_cb },
	{ OSSL_FUNC_PROVIDER_GETTABLE_PARAMS,
	    (void (*)(void))rkprov_gettable_params_cb },
	{ OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))rkprov_get_params_cb },
	{ 0, NULL },
};

/*
 * The provider's init, run by OSSL_PROVIDER_load inside cmpd_rkprov_load.
 * The core hands us our library context, where the public halves of our
 * keys are parsed and verified by the default provider.
 */
static int
rkprov_init_cb(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
    const OSSL_DISPATCH **out, void **provctx)
{
	OSSL_FUNC_core_get_libctx_fn *get_libctx = NULL;
	struct rkprov_ctx *ctx;

	for (; in->function_id != 0; in++) {
		if (in->function_id == OSSL_FUNC_CORE_GET_LIBCTX)
			get_libctx = OSSL_FUNC_core_get_libctx(in);
	}
	if (get_libctx == NULL || rkprov_pending_sign == NULL)
		return 0;
	if ((ctx = OPENSSL_zalloc(sizeof(*ctx))) == NULL)
		return 0;
	if (pthread_mutex_init(&ctx->pub_lock, NULL) != 0) {
		OPENSSL_free(ctx);
		return 0;
	}
	ctx->magic = RKPROV_CTX_MAGIC;
	ctx->libctx = (OSSL_LIB_CTX *)get_libctx(handle);
	ctx->sign = rkprov_pending_sign;
	ctx->arg = rkprov_pending_arg;
	*out = rkprov_dispatch;
	*provctx = ctx;
	return 1;
}

/*
 * Our algorithms carry OpenSSL's standard names, so a fetch that names no
 * provider could pick ours: TLS generating an ECDHE key, a caller making an
 * "EC" key by name. The library context therefore prefers the default
 * provider; our keys are made with an explicit "provider=cmpd-remote", and
 * OpenSSL reaches our signatures from them. Ours is loaded first on
 * purpose: OpenSSL would otherwise prefer the first provider loaded, and
 * the preference, not the order, must decide (test_default_preferred).
 */
static cmpd_err
rkprov_providers_load(struct rkprov_loaded *l)
{
	if (!OSSL_PROVIDER_add_builtin(l->libctx, RKPROV_NAME, rkprov_init_cb))
		return CMPD_ECRYPTO;
	if ((l->rk = OSSL_PROVIDER_load(l->libctx, RKPROV_NAME)) == NULL)
		return CMPD_ECRYPTO;
	if ((l->dflt = OSSL_PROVIDER_load(l->libctx, "default")) == NULL ||
	    !EVP_set_default_properties(l->libctx, "?provider=default")) {
		if (l->dflt != NULL)
			OSSL_PROVIDER_unload(l->dflt);
		OSSL_PROVIDER_unload(l->rk);
		l->rk = l->dflt = NULL;
		return CMPD_ECRYPTO;
	}
	return CMPD_OK;
}

/* The entry of libctx, or with want_free a free one; NULL if none. */
static struct rkprov_loaded *
rkprov_loaded_find(OSSL_LIB_CTX *libctx, int want_free)
{
	size_t i;

	for (i = 0; i < CMPD_ARRAY_LEN(rkprov_loaded); i++) {
		if (rkprov_loaded[i].used && rkprov_loaded[i].libctx == libctx)
			return want_free ? NULL : &rkprov_loaded[i];
	}
	for (i = 0; want_free && i < CMPD_ARRAY_LEN(rkprov_loaded); i++) {
		if (!rkprov_loaded[i].used)
			return &rkprov_loaded[i];
	}
	return NULL;
}

cmpd_err
cmpd_rkprov_load(OSSL_LIB_CTX *libctx, cmpd_rk_sign_fn sign, void *arg)
{
	struct rkprov_loaded *l;
	cmpd_err err = CMPD_EEXIST;

	assert(sign != NULL);
	pthread_mutex_lock(&rkprov_load_lock);
	if ((l = rkprov_loaded_find(libctx, 1)) != NULL) {
		rkprov_pending_sign = sign;
		rkprov_pending_arg = arg;
		l->libctx = libctx;
		if ((err = rkprov_providers_load(l)) == CMPD_OK)
			l->used = 1;
		rkprov_pending_sign = NULL;
		rkprov_pending_arg = NULL;
	}
	pthread_mutex_unlock(&rkprov_load_lock);
	if (err == CMPD_EEXIST)
		log_err("remote-key provider: loaded already, or into too many "
		        "library contexts");
	else if (err != CMPD_OK)
		cmpd_log_openssl(
		    CMPD_LOG_ERR, "loading the remote-key provider");
	return err;
}

void
cmpd_rkprov_unload(OSSL_LIB_CTX *libctx)
{
	struct rkprov_loaded *l;

	pthread_mutex_lock(&rkprov_load_lock);
	if ((l = rkprov_loaded_find(libctx, 0)) != NULL) {
		OSSL_PROVIDER_unload(l->rk);
		OSSL_PROVIDER_unload(l->dflt);
		memset(l, 0, sizeof(*l));
	}
	pthread_mutex_unlock(&rkprov_load_lock);
}

/* OpenSSL's name of the key management for a cmpd key type. */
static const char *
rkprov_type_name(Cmpd__KeyType type)
{
	switch (type) {
	case CMPD__KEY_TYPE__KEY_EC_P256:
	case CMPD__KEY_TYPE__KEY_EC_P384:
		return "EC";
	case CMPD__KEY_TYPE__KEY_RSA_2048:
	case CMPD__KEY_TYPE__KEY_RSA_3072:
	case CMPD__KEY_TYPE__KEY_RSA_4096:
		return "RSA";
	case CMPD__KEY_TYPE__KEY_ED25519:
		return "ED25519";
	default:
		return NULL;
	}
}

/* The schema's name of a key type, for the log. */
static const char *
rkprov_type_str(Cmpd__KeyType type)
{
	const ProtobufCEnumValue *v;

	v = protobuf_c_enum_descriptor_get_value(
	    &cmpd__key_type__descriptor, (int)type);
	return v != NULL ? v->name : "unknown";
}

static cmpd_err
rkprov_args_check(const char *job_id, const char *key_id, const char *name,
    const uint8_t *spki, size_t spki_len)
{
	if (job_id == NULL || !cmpd_is_hex_id(job_id, CMPD_JOB_ID_LEN)) {
		log_err("remote key: bad job id");
		return CMPD_EINVAL;
	}
	if (key_id == NULL || !cmpd_is_hex_id(key_id, CMPD_KEY_ID_LEN)) {
		log_err("job %s: remote key: bad key id", job_id);
		return CMPD_EINVAL;
	}
	if (name == NULL) {
		log_err("job %s: key %s: unknown key type", job_id, key_id);
		return CMPD_EINVAL;
	}
	if (spki == NULL || spki_len == 0 || spki_len > LONG_MAX) {
		log_err("job %s: key %s: no public key", job_id, key_id);
		return CMPD_EINVAL;
	}
	return CMPD_OK;
}

/*
 * Makes the handle, whose import parses spki with the default provider
 * (the key's family), then checks that it is a key of type: curve,
 * modulus size. One parse, shared with the provider's cache.
 */
cmpd_err
cmpd_rkprov_key_new(OSSL_LIB_CTX *libctx, const char *job_id,
    const char *key_id, Cmpd__KeyType type, const uint8_t *spki,
    size_t spki_len, EVP_PKEY **out)
{
	const char *name = rkprov_type_name(type);
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *pkey = NULL;
	OSSL_PARAM params[4];
	cmpd_err err;

	assert(out != NULL);
	if ((err = rkprov_args_check(job_id, key_id, name, spki, spki_len)))
		return err;
	params[0] = OSSL_PARAM_construct_utf8_string(
	    RKPROV_PARAM_KEY_ID, (char *)key_id, 0);
	params[1] = OSSL_PARAM_construct_utf8_string(
	    RKPROV_PARAM_JOB_ID, (char *)job_id, 0);
	params[2] = OSSL_PARAM_construct_octet_string(
	    RKPROV_PARAM_SPKI, (void *)spki, spki_len);
	params[3] = OSSL_PARAM_construct_end();
	if ((pctx = EVP_PKEY_CTX_new_from_name(libctx, name, RKPROV_PROPS)) ==
	        NULL ||
	    EVP_PKEY_fromdata_init(pctx) <= 0) {
		cmpd_log_openssl(CMPD_LOG_ERR, job_id);
		err = CMPD_ECRYPTO;
		goto out;
	}
	if (EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_KEYPAIR, params) <= 0 ||
	    cmpd_key_type_of(pkey) != type) {
		cmpd_log_openssl(CMPD_LOG_DEBUG, job_id);
		log_err("job %s: key %s: the public key is not a %s key",
		    job_id, key_id, rkprov_type_str(type));
		err = CMPD_EINVAL;
		goto out;
	}
	*out = pkey;
	pkey = NULL;
out:
	EVP_PKEY_CTX_free(pctx);
	EVP_PKEY_free(pkey);
	return err;
}
