/*
 * The key pool: a few pre-generated key pairs per key type, so that a job
 * asking for a slow key (RSA-2048 takes 50-600 ms) gets one at once. Keys
 * are generated on libuv's thread pool, one type at a time, and held only
 * in memory (their private numbers in OpenSSL's secure heap). A key leaves
 * the pool once, to one job, and is written to the key store only then;
 * a key still in the pool when the keyworker ends was never handed out
 * and is wiped with it. Used on the loop thread only.
 */
#pragma once

#include <openssl/evp.h>
#include <uv.h>

#include "cmpd.pb-c.h"
#include "err.h"

struct kw_pool;

/*
 * A pool for spec (cmpd_key_pool_parse's form, "rsa2048:2 ec-p256:4"),
 * starting to fill at once on loop. An empty spec gives an empty pool.
 * CMPD_EINVAL for a malformed spec (logged with the reason).
 */
cmpd_err kw_pool_new(uv_loop_t *loop, const char *spec, struct kw_pool **out);

/*
 * Takes a key of type out of the pool, the caller's from now on, and
 * starts making its replacement; NULL when the pool holds none (pool may
 * be NULL): the caller generates one itself.
 */
EVP_PKEY *kw_pool_take(struct kw_pool *pool, Cmpd__KeyType type);

/* Keys of type ready in the pool, and how many it keeps. */
unsigned kw_pool_count(const struct kw_pool *pool, Cmpd__KeyType type);
unsigned kw_pool_target(const struct kw_pool *pool, Cmpd__KeyType type);

/*
 * Stops refilling, closes the refill timer and cancels queued
 * generations; the loop ends once running ones finish. kw_pool_free only
 * after kw_pool_stop, once the loop has run the close (or has ended).
 */
void kw_pool_stop(struct kw_pool *pool);
void kw_pool_free(struct kw_pool *pool);
