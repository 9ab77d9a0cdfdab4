/*
 * The reference: OpenSSL's CMP client in this process, without privilege
 * separation. One OSSL_CMP_CTX per thread, set up once (server, supplier
 * certificate and key, trust anchors) and reinitialised between
 * transactions; each enrollment is one OSSL_CMP_exec_IR_ses with a fresh
 * key. Like cmpd's networker it sends with TCP_NODELAY and checks that
 * the new certificate chains to the trust anchors before confirming it.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/cmp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bench.h"

struct bench_ossl {
	const struct bench_world *w;
	X509 *cert;
	STACK_OF(X509) * chain;
	EVP_PKEY *key;
	X509_STORE *trusted;
	X509_NAME *subject;
	EVP_PKEY **pregen; /* N keys made before the clock runs, or NULL */
	size_t n;
};

/* A fresh key of the world's type ("ec-p256", "rsa2048", "ed25519"). */
EVP_PKEY *
bench_key_new(const char *type)
{
	if (strcmp(type, "rsa2048") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (strcmp(type, "ed25519") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static void *
pem_read(const char *dir, const char *name, int key)
{
	char path[512];
	FILE *f;
	void *obj;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	obj = key ? (void *)PEM_read_PrivateKey(f, NULL, NULL, NULL)
	          : (void *)PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return obj;
}

static int
ossl_load(struct bench_ossl *o)
{
	const char *pki = o->w->pki;
	X509 *root = pem_read(pki, "root.pem", 0);
	int ok;

	o->cert = pem_read(pki, "supplier.pem", 0);
	o->key = pem_read(pki, "supplier.key", 1);
	o->trusted = X509_STORE_new();
	o->chain = sk_X509_new_null();
	o->subject = X509_NAME_new();
	ok = root != NULL && o->cert != NULL && o->key != NULL &&
	    o->trusted != NULL && o->chain != NULL && o->subject != NULL &&
	    X509_STORE_add_cert(o->trusted, root) &&
	    X509_NAME_add_entry_by_txt(o->subject, "CN", MBSTRING_ASC,
	        (const unsigned char *)"bench.example", -1, -1, 0) &&
	    /* Encoded once now: the threads copy the name at the same time,
	     * and a name whose encoding is not cached yet is encoded by
	     * each copy into the name itself (a race that leaked). */
	    i2d_X509_NAME(o->subject, NULL) > 0;
	X509_free(root);
	return ok ? 0 : -1;
}

int
bench_ossl_new(
    const struct bench_world *w, int pregen, size_t n, struct bench_ossl **out)
{
	struct bench_ossl *o = calloc(1, sizeof(*o));

	if (o == NULL)
		return -1;
	o->w = w;
	o->n = n;
	if (ossl_load(o) != 0)
		goto fail;
	if (pregen && (o->pregen = calloc(n, sizeof(*o->pregen))) == NULL)
		goto fail;
	for (size_t i = 0; pregen && i < n; i++)
		if ((o->pregen[i] = bench_key_new(w->key_type)) == NULL)
			goto fail;
	*out = o;
	return 0;
fail:
	ERR_print_errors_fp(stderr);
	bench_ossl_free(o);
	return -1;
}

void
bench_ossl_free(struct bench_ossl *o)
{
	if (o == NULL)
		return;
	for (size_t i = 0; o->pregen != NULL && i < o->n; i++)
		EVP_PKEY_free(o->pregen[i]);
	free(o->pregen);
	X509_free(o->cert);
	sk_X509_free(o->chain);
	EVP_PKEY_free(o->key);
	X509_STORE_free(o->trusted);
	X509_NAME_free(o->subject);
	free(o);
}

/* As cmpd's networker does: no Nagle delay on a kept-alive connection. */
static BIO *
ossl_http_cb(BIO *bio, void *arg, int connect, int detail)
{
	int fd = -1, one = 1;

	(void)arg;
	(void)detail;
	if (connect && BIO_get_fd(bio, &fd) >= 0)
		(void)setsockopt(
		    fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return bio;
}

struct ossl_thread {
	struct bench_ossl *o;
	OSSL_CMP_CTX *ctx;
};

static int
ctx_setup(struct bench_ossl *o, OSSL_CMP_CTX *ctx)
{
	if (!X509_STORE_up_ref(o->trusted))
		return -1;
	if (!OSSL_CMP_CTX_set0_trustedStore(ctx, o->trusted)) {
		X509_STORE_free(o->trusted);
		return -1;
	}
	return OSSL_CMP_CTX_set1_server(ctx, "127.0.0.1") &&
	        OSSL_CMP_CTX_set_serverPort(ctx, o->w->port) &&
	        OSSL_CMP_CTX_set1_serverPath(ctx, "/pkix/") &&
	        OSSL_CMP_CTX_set_http_cb(ctx, ossl_http_cb) &&
	        OSSL_CMP_CTX_set1_cert(ctx, o->cert) &&
	        OSSL_CMP_CTX_set1_pkey(ctx, o->key) &&
	        OSSL_CMP_CTX_set1_subjectName(ctx, o->subject) &&
	        OSSL_CMP_CTX_set_certConf_cb_arg(ctx, o->trusted) &&
	        OSSL_CMP_CTX_set_option(
	            ctx, OSSL_CMP_OPT_LOG_VERBOSITY, OSSL_CMP_LOG_ERR)
	    ? 0
	    : -1;
}

static void
ossl_thread_free(void *st)
{
	struct ossl_thread *t = st;

	OSSL_CMP_CTX_free(t->ctx);
	free(t);
	OPENSSL_thread_stop();
}

static void *
ossl_thread_new(void *arg)
{
	struct ossl_thread *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->o = arg;
	if ((t->ctx = OSSL_CMP_CTX_new(NULL, NULL)) == NULL ||
	    ctx_setup(t->o, t->ctx) != 0) {
		ERR_print_errors_fp(stderr);
		ossl_thread_free(t);
		return NULL;
	}
	return t;
}

static int
ossl_enroll(void *st, size_t i)
{
	struct ossl_thread *t = st;
	EVP_PKEY *pkey;
	X509 *cert;

	if (t->o->pregen != NULL) {
		pkey = t->o->pregen[i];
		t->o->pregen[i] = NULL;
	} else {
		pkey = bench_key_new(t->o->w->key_type);
	}
	if (pkey == NULL || !OSSL_CMP_CTX_reinit(t->ctx) ||
	    !OSSL_CMP_CTX_set0_newPkey(t->ctx, 1, pkey)) {
		EVP_PKEY_free(pkey);
		ERR_print_errors_fp(stderr);
		return -1;
	}
	cert = OSSL_CMP_exec_IR_ses(t->ctx);
	if (cert == NULL) {
		fprintf(stderr, "cmpd-bench: in-process IR failed\n");
		ERR_print_errors_fp(stderr);
		return -1;
	}
	ERR_clear_error();
	return 0;
}

void
bench_ossl_series(struct bench_ossl *o, struct bench_series *s)
{
	*s = (struct bench_series){ .name = "in-process",
		.thread_new = ossl_thread_new,
		.thread_free = ossl_thread_free,
		.enroll = ossl_enroll,
		.arg = o };
}
