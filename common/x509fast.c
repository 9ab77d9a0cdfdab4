#include "x509fast.h"

#include <openssl/err.h>
#include <openssl/provider.h>
#include <pthread.h>

static OSSL_LIB_CTX *fields_ctx;
static pthread_once_t fields_once = PTHREAD_ONCE_INIT;

/* A library context with only the "null" provider: no key decoder is
 * found, so none is set up, and the key stays as its DER. */
static void
fields_init(void)
{
	OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();

	if (ctx != NULL && OSSL_PROVIDER_load(ctx, "null") != NULL)
		fields_ctx = ctx;
	else
		OSSL_LIB_CTX_free(ctx);
}

OSSL_LIB_CTX *
cmpd_null_libctx(void)
{
	if (pthread_once(&fields_once, fields_init) != 0)
		return NULL;
	return fields_ctx;
}

X509 *
cmpd_x509_fields(const uint8_t *der, size_t len)
{
	OSSL_LIB_CTX *ctx = cmpd_null_libctx();
	const unsigned char *p = der;
	X509 *x;

	if (ctx == NULL)
		return NULL;
	x = X509_new_ex(ctx, NULL);
	if (x == NULL)
		return NULL;
	ERR_set_mark();
	if (d2i_X509(&x, &p, (long)len) == NULL || p != der + len) {
		ERR_clear_last_mark();
		X509_free(x);
		return NULL;
	}
	/* The key's decoder was not found, as intended. */
	ERR_pop_to_mark();
	return x;
}
