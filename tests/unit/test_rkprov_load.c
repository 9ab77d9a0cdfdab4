/*
 * Loading the remote-key provider, per library context and into OpenSSL's
 * default one, and signing from several threads at once. Signatures come
 * from the stand-in keyworker (test_rkprov_kw.c) and are checked against
 * its real keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <string.h>

#include "test_rkprov_kw.h"

static struct {
	OSSL_LIB_CTX *libctx;
	struct kw kw;
	struct kw_key *keys[3]; /* P-256, RSA-2048, Ed25519 */
} g;

static const uint8_t msg[] = "a to-be-signed structure";

static int
group_setup(void **state)
{
	static const Cmpd__KeyType types[] = { CMPD__KEY_TYPE__KEY_EC_P256,
		CMPD__KEY_TYPE__KEY_RSA_2048, CMPD__KEY_TYPE__KEY_ED25519 };
	size_t i;

	(void)state;
	if (kw_init(&g.kw) != CMPD_OK ||
	    (g.libctx = OSSL_LIB_CTX_new()) == NULL ||
	    cmpd_rkprov_load(g.libctx, kw_sign_cb, &g.kw) != CMPD_OK)
		return -1;
	for (i = 0; i < CMPD_ARRAY_LEN(types); i++) {
		if (kw_key_add(&g.kw, types[i], &g.keys[i]) != CMPD_OK)
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

/* Signs msg through handle h of libctx with SHA-256: the length, or 0. */
static size_t
sign_msg(OSSL_LIB_CTX *libctx, EVP_PKEY *h, uint8_t *sig, size_t size)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	size_t len = size;

	if (EVP_DigestSignInit_ex(
	        mctx, NULL, "SHA256", libctx, NULL, h, NULL) != 1 ||
	    EVP_DigestSign(mctx, sig, &len, msg, sizeof(msg)) != 1)
		len = 0;
	EVP_MD_CTX_free(mctx);
	return len;
}

#define NTHREADS 4
#define NROUNDS  25

struct thread_arg {
	EVP_PKEY *h[3];
	struct kw_key *k[3];
	const char *md[3];
	int id;
	int ok;
};

static void *
sign_thread(void *p)
{
	struct thread_arg *a = p;
	uint8_t data[64], sig[512];
	size_t len;
	int i, j;

	memset(data, a->id, sizeof(data));
	for (i = 0; i < NROUNDS; i++) {
		for (j = 0; j < 3; j++) {
			EVP_MD_CTX *mctx = EVP_MD_CTX_new();

			len = sizeof(sig);
			data[0] = (uint8_t)i;
			if (EVP_DigestSignInit_ex(mctx, NULL, a->md[j],
			        g.libctx, NULL, a->h[j], NULL) == 1 &&
			    EVP_DigestSign(
			        mctx, sig, &len, data, sizeof(data)) == 1 &&
			    kw_verify(&g.kw, a->k[j], a->md[j] ? a->md[j] : "",
			        data, sizeof(data), sig, len))
				a->ok++;
			EVP_MD_CTX_free(mctx);
		}
	}
	return NULL;
}

/* Transaction threads sign at once with shared and separate handles. */
static void
test_threads(void **state)
{
	struct thread_arg args[NTHREADS];
	pthread_t tid[NTHREADS];
	EVP_PKEY *shared = kw_handle(g.libctx, g.keys[0]);
	int i, j;

	(void)state;
	for (i = 0; i < NTHREADS; i++) {
		args[i] = (struct thread_arg){ .id = i };
		args[i].k[0] = g.keys[0];
		args[i].k[1] = g.keys[1];
		args[i].k[2] = g.keys[2];
		args[i].md[0] = "SHA256";
		args[i].md[1] = "SHA256";
		args[i].md[2] = NULL;
		args[i].h[0] = shared;
		args[i].h[1] = kw_handle(g.libctx, g.keys[1]);
		args[i].h[2] = kw_handle(g.libctx, g.keys[2]);
		assert_int_equal(
		    pthread_create(&tid[i], NULL, sign_thread, &args[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++) {
		assert_int_equal(pthread_join(tid[i], NULL), 0);
		assert_int_equal(args[i].ok, NROUNDS * 3);
		for (j = 1; j < 3; j++)
			EVP_PKEY_free(args[i].h[j]);
	}
	assert_int_equal(g.kw.ncalls, NTHREADS * NROUNDS * 3);
	EVP_PKEY_free(shared);
}

/* Counts the calls of a second sign function, then signs like kw's. */
static int other_calls;

static cmpd_err
other_sign_cb(void *arg, const char *job_id, const char *key_id,
    const char *digest, const uint8_t *tbs, size_t tbslen, uint8_t **sig,
    size_t *siglen)
{
	assert_ptr_equal(arg, &other_calls);
	other_calls++;
	return kw_sign_cb(
	    &g.kw, job_id, key_id, digest, tbs, tbslen, sig, siglen);
}

/*
 * Each library context has its own sign function; a second load into one
 * is refused, and unloading frees everything (the sanitizer build checks).
 */
static void
test_load_per_libctx(void **state)
{
	OSSL_LIB_CTX *ctx2 = OSSL_LIB_CTX_new();
	EVP_PKEY *h2 = NULL, *h = kw_handle(g.libctx, g.keys[0]);
	uint8_t sig[128];
	size_t len;

	(void)state;
	other_calls = 0;
	assert_int_equal(
	    cmpd_rkprov_load(g.libctx, other_sign_cb, &other_calls),
	    CMPD_EEXIST);
	cmpd_rkprov_unload(ctx2); /* nothing loaded there: no effect */
	assert_int_equal(
	    cmpd_rkprov_load(ctx2, other_sign_cb, &other_calls), CMPD_OK);
	assert_int_equal(
	    cmpd_rkprov_key_new(ctx2, KW_JOB_ID, g.keys[0]->id, g.keys[0]->type,
	        g.keys[0]->spki, g.keys[0]->spki_len, &h2),
	    CMPD_OK);
	len = sign_msg(ctx2, h2, sig, sizeof(sig));
	assert_true(
	    kw_verify(&g.kw, g.keys[0], "SHA256", msg, sizeof(msg), sig, len));
	assert_int_equal(other_calls, 1);
	assert_int_equal(g.kw.ncalls, 1);
	assert_true(sign_msg(g.libctx, h, sig, sizeof(sig)) > 0);
	assert_int_equal(other_calls, 1);
	assert_int_equal(g.kw.ncalls, 2);
	EVP_PKEY_free(h2);
	EVP_PKEY_free(h);
	cmpd_rkprov_unload(ctx2);
	OSSL_LIB_CTX_free(ctx2);
}

/*
 * OpenSSL's default library context (NULL) works the same way: the
 * networker may use it instead of one of its own.
 */
static void
test_load_default_libctx(void **state)
{
	EVP_PKEY *h = NULL;
	uint8_t sig[128];
	size_t len;

	(void)state;
	other_calls = 0;
	assert_int_equal(
	    cmpd_rkprov_load(NULL, other_sign_cb, &other_calls), CMPD_OK);
	assert_int_equal(
	    cmpd_rkprov_load(NULL, other_sign_cb, &other_calls), CMPD_EEXIST);
	assert_int_equal(
	    cmpd_rkprov_key_new(NULL, KW_JOB_ID, g.keys[0]->id, g.keys[0]->type,
	        g.keys[0]->spki, g.keys[0]->spki_len, &h),
	    CMPD_OK);
	len = sign_msg(NULL, h, sig, sizeof(sig));
	assert_true(
	    kw_verify(&g.kw, g.keys[0], "SHA256", msg, sizeof(msg), sig, len));
	assert_int_equal(other_calls, 1);
	EVP_PKEY_free(h);
	ERR_clear_error();
	cmpd_rkprov_unload(NULL);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, test_setup, NULL)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_threads),
		TEST(test_load_per_libctx),
		TEST(test_load_default_libctx),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
