#include "certcache.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* A few profiles' anchors and chains. */
#define CERTCACHE_MAX 32
/* Larger ones are decoded each time; none of those is expected. */
#define CERTCACHE_DER_MAX 16384

struct cached {
	OSSL_LIB_CTX *libctx;
	uint8_t *der;
	size_t len;
	X509 *x;       /* NULL: free slot */
	uint64_t used; /* for evicting the least recently used */
};

static struct cached cache[CERTCACHE_MAX];
static uint64_t uses;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static X509 *
decode(OSSL_LIB_CTX *libctx, const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = X509_new_ex(libctx, NULL);

	if (x == NULL || len > LONG_MAX ||
	    d2i_X509(&x, &p, (long)len) == NULL || p != der + len) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static void
slot_clear(struct cached *c)
{
	X509_free(c->x);
	free(c->der);
	memset(c, 0, sizeof(*c));
}

/* Under lock: a new reference to the cached certificate, or NULL. */
static X509 *
lookup(OSSL_LIB_CTX *libctx, const uint8_t *der, size_t len)
{
	for (size_t i = 0; i < CERTCACHE_MAX; i++) {
		struct cached *c = &cache[i];

		if (c->x != NULL && c->libctx == libctx && c->len == len &&
		    memcmp(c->der, der, len) == 0 && X509_up_ref(c->x) == 1) {
			c->used = ++uses;
			return c->x;
		}
	}
	return NULL;
}

/* Under lock: keeps a reference to x, evicting the least recently used. */
static void
keep(OSSL_LIB_CTX *libctx, const uint8_t *der, size_t len, X509 *x)
{
	struct cached *slot = &cache[0];
	uint8_t *copy = malloc(len);

	if (copy == NULL)
		return;
	for (size_t i = 0; i < CERTCACHE_MAX && slot->x != NULL; i++)
		if (cache[i].x == NULL || cache[i].used < slot->used)
			slot = &cache[i];
	if (X509_up_ref(x) != 1) {
		free(copy);
		return;
	}
	slot_clear(slot);
	memcpy(copy, der, len);
	*slot = (struct cached){ libctx, copy, len, x, ++uses };
}

X509 *
nw_certcache_get(OSSL_LIB_CTX *libctx, const uint8_t *der, size_t len)
{
	X509 *x;

	if (len > CERTCACHE_DER_MAX)
		return decode(libctx, der, len);
	pthread_mutex_lock(&lock);
	x = lookup(libctx, der, len);
	pthread_mutex_unlock(&lock);
	if (x != NULL)
		return x;
	/* Decoded outside the lock; two threads may both decode one
	 * certificate, and both keep it: harmless. */
	if ((x = decode(libctx, der, len)) == NULL)
		return NULL;
	pthread_mutex_lock(&lock);
	keep(libctx, der, len, x);
	pthread_mutex_unlock(&lock);
	return x;
}

void
nw_certcache_clear(void)
{
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < CERTCACHE_MAX; i++)
		slot_clear(&cache[i]);
	pthread_mutex_unlock(&lock);
}
