/*
 * The keyworker's key pool: the option's form, filling in the background,
 * keys that are distinct and never handed out twice, refilling, an empty
 * pool (the caller generates inline), stopping with generations under way,
 * and storing a pooled key in the key store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "keyid.h"
#include "keystore.h"
#include "pool.h"
#include "test_keyworker_util.h"

static void
test_parse_valid(void **state)
{
	unsigned c[CMPD_KEY_TYPE_COUNT];
	char err[160];

	(void)state;
	assert_int_equal(
	    cmpd_key_pool_parse("rsa2048:2 ec-p256:4", c, err, sizeof(err)),
	    CMPD_OK);
	assert_int_equal(c[CMPD__KEY_TYPE__KEY_RSA_2048], 2);
	assert_int_equal(c[CMPD__KEY_TYPE__KEY_EC_P256], 4);
	assert_int_equal(c[CMPD__KEY_TYPE__KEY_ED25519], 0);
	assert_int_equal(
	    cmpd_key_pool_parse(" ed25519:1,ec-p384:0 ", c, err, sizeof(err)),
	    CMPD_OK);
	assert_int_equal(c[CMPD__KEY_TYPE__KEY_ED25519], 1);
	assert_int_equal(c[CMPD__KEY_TYPE__KEY_EC_P384], 0);
	assert_int_equal(c[CMPD__KEY_TYPE__KEY_RSA_2048], 0);
	assert_int_equal(cmpd_key_pool_parse("", c, err, sizeof(err)), CMPD_OK);
	for (size_t i = 0; i < CMPD_KEY_TYPE_COUNT; i++)
		assert_int_equal(c[i], 0);
}

static void
test_parse_invalid(void **state)
{
	static const char *const bad[] = { "ec-p256", "ec-p256:", ":3", "dsa:1",
		"ec-p256:x", "ec-p256:-1", "ec-p256:1x", "ec-p256:1 ec-p256:2",
		"ec-p256:257", "ec-p256:200 ed25519:100",
		"averyveryverylongname:1" };
	unsigned c[CMPD_KEY_TYPE_COUNT] = { 7 };
	char err[160];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(
		    cmpd_key_pool_parse(bad[i], c, err, sizeof(err)),
		    CMPD_EINVAL);
		assert_true(err[0] != '\0');
	}
	/* Outputs are written only on success. */
	assert_int_equal(c[0], 7);
}

/* Runs the loop until the pool holds n keys of type (30 s at most). */
static void
fill_wait(uv_loop_t *loop, struct kw_pool *pool, Cmpd__KeyType type, unsigned n)
{
	struct timespec ms = { 0, 1000000 };

	for (int i = 0; i < 30000 && kw_pool_count(pool, type) < n; i++) {
		uv_run(loop, UV_RUN_NOWAIT);
		nanosleep(&ms, NULL);
	}
	assert_int_equal(kw_pool_count(pool, type), n);
}

static void
assert_all_distinct(EVP_PKEY **keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			assert_int_not_equal(EVP_PKEY_eq(keys[i], keys[j]), 1);
}

static void
test_take_refill_never_reused(void **state)
{
	const Cmpd__KeyType ec = CMPD__KEY_TYPE__KEY_EC_P256;
	EVP_PKEY *taken[6] = { NULL }, *ed;
	struct kw_pool *pool = NULL;
	uv_loop_t loop;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(
	    kw_pool_new(&loop, "ec-p256:3 ed25519:2", &pool), CMPD_OK);
	assert_int_equal(kw_pool_target(pool, ec), 3);
	fill_wait(&loop, pool, ec, 3);
	fill_wait(&loop, pool, CMPD__KEY_TYPE__KEY_ED25519, 2);

	for (int i = 0; i < 3; i++) {
		taken[i] = kw_pool_take(pool, ec);
		assert_non_null(taken[i]);
		assert_int_equal(kw_pool_count(pool, ec), 2 - i);
	}
	/* Empty until the loop runs a refill: the caller generates. */
	assert_null(kw_pool_take(pool, ec));
	/* Another type's keys are untouched. */
	assert_int_equal(kw_pool_count(pool, CMPD__KEY_TYPE__KEY_ED25519), 2);
	/* A type that still has keys refills only after a pause. */
	ed = kw_pool_take(pool, CMPD__KEY_TYPE__KEY_ED25519);
	assert_non_null(ed);
	uv_run(&loop, UV_RUN_NOWAIT);
	assert_int_equal(kw_pool_count(pool, CMPD__KEY_TYPE__KEY_ED25519), 1);
	fill_wait(&loop, pool, CMPD__KEY_TYPE__KEY_ED25519, 2);
	EVP_PKEY_free(ed);

	fill_wait(&loop, pool, ec, 3);
	for (int i = 3; i < 6; i++)
		assert_non_null(taken[i] = kw_pool_take(pool, ec));
	assert_all_distinct(taken, 6);

	kw_pool_stop(pool);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	kw_pool_free(pool);
	for (int i = 0; i < 6; i++)
		EVP_PKEY_free(taken[i]);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void
test_unconfigured_and_empty(void **state)
{
	struct kw_pool *pool = NULL;
	uv_loop_t loop;

	(void)state;
	assert_null(kw_pool_take(NULL, CMPD__KEY_TYPE__KEY_EC_P256));
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(kw_pool_new(&loop, "", &pool), CMPD_OK);
	assert_null(kw_pool_take(pool, CMPD__KEY_TYPE__KEY_EC_P256));
	assert_null(kw_pool_take(pool, CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED));
	assert_null(kw_pool_take(pool, (Cmpd__KeyType)99));
	/* Nothing was queued: once the timer is closed the loop is done. */
	kw_pool_stop(pool);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_run(&loop, UV_RUN_NOWAIT), 0);
	kw_pool_free(pool);
	assert_int_not_equal(kw_pool_new(&loop, "ec-p256:x", &pool), CMPD_OK);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* Stopping while RSA keys are being made: nothing leaks, nothing hangs. */
static void
test_stop_during_generation(void **state)
{
	struct kw_pool *pool = NULL;
	uv_loop_t loop;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(kw_pool_new(&loop, "rsa2048:2", &pool), CMPD_OK);
	kw_pool_stop(pool);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(kw_pool_count(pool, CMPD__KEY_TYPE__KEY_RSA_2048), 0);
	assert_null(kw_pool_take(pool, CMPD__KEY_TYPE__KEY_RSA_2048));
	assert_int_equal(uv_run(&loop, UV_RUN_NOWAIT), 0);
	kw_pool_free(pool);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/*
 * A pooled key reaches the key store only when handed out, and then as
 * any generated key: a file a fresh store indexes, beside one generated
 * inline (the empty-pool path).
 */
static void
test_pooled_key_stored(void **state)
{
	const Cmpd__KeyType ec = CMPD__KEY_TYPE__KEY_EC_P256;
	struct kw_key pooled = { 0 }, inline_key = { 0 };
	struct kw_keystore *ks = NULL;
	struct kw_pool *pool = NULL;
	char *dir = kwt_tmpdir();
	EVP_PKEY *pkey = NULL;
	struct kw_why why;
	uv_loop_t loop;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(kw_pool_new(&loop, "ec-p256:1", &pool), CMPD_OK);
	fill_wait(&loop, pool, ec, 1);
	assert_int_equal(kw_keystore_open(dir, &ks), CMPD_OK);
	assert_int_equal(kw_keystore_count(ks), 0);
	kw_keystore_free(ks);

	assert_non_null(pkey = kw_pool_take(pool, ec));
	assert_int_equal(kw_keygen_store(dir, pkey, &pooled, &why), CMPD_OK);
	assert_int_equal(pooled.type, ec);
	assert_int_equal(
	    kw_keygen_run(dir, ec, "test", &inline_key, &why), CMPD_OK);
	assert_string_not_equal(pooled.id, inline_key.id);

	assert_int_equal(kw_keystore_open(dir, &ks), CMPD_OK);
	assert_int_equal(kw_keystore_count(ks), 2);
	assert_non_null(kw_keystore_find(ks, pooled.id));
	assert_non_null(kw_keystore_find(ks, inline_key.id));
	kw_keystore_free(ks);

	kw_pool_stop(pool);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	kw_pool_free(pool);
	assert_int_equal(uv_loop_close(&loop), 0);
	EVP_PKEY_free(pkey);
	kw_key_fini(&pooled);
	kw_key_fini(&inline_key);
	kwt_rmtree(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_take_refill_never_reused),
		cmocka_unit_test(test_unconfigured_and_empty),
		cmocka_unit_test(test_stop_during_generation),
		cmocka_unit_test(test_pooled_key_stored),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
