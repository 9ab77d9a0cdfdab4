#include "pool.h"

#include <assert.h>
#include <openssl/crypto.h>
#include <stdlib.h>

#include "keyfile.h"
#include "keyid.h"
#include "log.h"
#include "util.h"

#define KW_POOL_MAGIC 0x6b77706cu /* "kwpl" */

/*
 * Refilling waits until no key was taken for this long: an RSA key costs
 * a core for 50-600 ms, which would slow the enrollments of a burst down
 * more than a full pool speeds them up. An empty type refills at once.
 */
#define KW_POOL_REFILL_DELAY_MS 200

struct pool_gen;

/* The keys of one type: held, wanted, and the generation under way. */
struct pool_slot {
	EVP_PKEY **keys;
	unsigned n;
	unsigned want;
	struct pool_gen *gen; /* NULL: none running */
	int failed;           /* the last generation failed: wait for a take */
};

struct kw_pool {
	uint32_t magic;
	uv_loop_t *loop;
	uv_timer_t refill; /* KW_POOL_REFILL_DELAY_MS after the last take */
	int timer_live;    /* refill is initialised and not closed */
	int stopping;
	struct pool_slot slot[CMPD_KEY_TYPE_COUNT];
};

struct pool_gen {
	uv_work_t work;
	struct kw_pool *pool; /* NULL once the pool is freed */
	Cmpd__KeyType type;
	EVP_PKEY *pkey;
	cmpd_err rv;
	struct kw_why why;
};

static void pool_refill(struct kw_pool *pool, Cmpd__KeyType type);

static void
gen_work_cb(uv_work_t *w)
{
	struct pool_gen *g = w->data;

	g->rv = kw_key_generate(g->type, "key pool", &g->pkey, &g->why);
	/* As for every generation: libuv's threads never run OpenSSL's
	 * thread-exit cleanup, so free this thread's state now. */
	OPENSSL_thread_stop();
}

static void
gen_after_cb(uv_work_t *w, int status)
{
	struct pool_gen *g = w->data;
	struct kw_pool *pool = g->pool;
	struct pool_slot *s;
	Cmpd__KeyType type;

	if (pool == NULL || status != 0 || pool->stopping || g->rv != CMPD_OK) {
		if (pool != NULL && status == 0 && g->rv != CMPD_OK)
			log_err("key pool: cannot make a %s key: %s",
			    kw_key_type_name(g->type), g->why.text);
		if (pool != NULL) {
			pool->slot[g->type].gen = NULL;
			pool->slot[g->type].failed = g->rv != CMPD_OK;
		}
		EVP_PKEY_free(g->pkey);
		free(g);
		return;
	}
	CMPD_MAGIC_CHECK(pool, KW_POOL_MAGIC);
	type = g->type;
	s = &pool->slot[type];
	s->gen = NULL;
	s->keys[s->n++] = g->pkey;
	free(g);
	pool_refill(pool, type);
}

/* Starts one generation for type if it is short of keys. */
static void
pool_refill(struct kw_pool *pool, Cmpd__KeyType type)
{
	struct pool_slot *s = &pool->slot[type];
	struct pool_gen *g;

	if (pool->stopping || s->gen != NULL || s->failed || s->n >= s->want)
		return;
	if ((g = calloc(1, sizeof(*g))) == NULL) {
		log_err("key pool: out of memory");
		return;
	}
	g->work.data = g;
	g->pool = pool;
	g->type = type;
	if (uv_queue_work(pool->loop, &g->work, gen_work_cb, gen_after_cb) !=
	    0) {
		log_err("key pool: a generation cannot be queued");
		free(g);
		return;
	}
	s->gen = g;
}

static void
refill_timer_cb(uv_timer_t *t)
{
	struct kw_pool *pool = t->data;

	CMPD_MAGIC_CHECK(pool, KW_POOL_MAGIC);
	for (size_t type = 1; type < CMPD_KEY_TYPE_COUNT; type++)
		pool_refill(pool, (Cmpd__KeyType)type);
}

static cmpd_err
pool_slots_init(struct kw_pool *pool, const unsigned *counts)
{
	for (size_t t = 0; t < CMPD_KEY_TYPE_COUNT; t++) {
		struct pool_slot *s = &pool->slot[t];

		if (counts[t] == 0)
			continue;
		if (!kw_key_type_valid((Cmpd__KeyType)t)) {
			log_err("key pool: %s keys cannot be generated",
			    cmpd_key_type_name((Cmpd__KeyType)t));
			return CMPD_EINVAL;
		}
		s->keys = calloc(counts[t], sizeof(*s->keys));
		if (s->keys == NULL)
			return CMPD_ENOMEM;
		s->want = counts[t];
	}
	return CMPD_OK;
}

cmpd_err
kw_pool_new(uv_loop_t *loop, const char *spec, struct kw_pool **out)
{
	unsigned counts[CMPD_KEY_TYPE_COUNT];
	struct kw_pool *pool = NULL;
	char why[160];
	cmpd_err rv;

	if (cmpd_key_pool_parse(spec, counts, why, sizeof(why)) != CMPD_OK) {
		log_err("key pool \"%s\": %s", spec, why);
		return CMPD_EINVAL;
	}
	if ((pool = calloc(1, sizeof(*pool))) == NULL)
		return CMPD_ENOMEM;
	pool->magic = KW_POOL_MAGIC;
	pool->loop = loop;
	if ((rv = pool_slots_init(pool, counts)) != CMPD_OK ||
	    (rv = uv_timer_init(loop, &pool->refill) != 0
	            ? CMPD_EINTERNAL
	            : CMPD_OK) != CMPD_OK) {
		kw_pool_free(pool);
		return rv;
	}
	pool->refill.data = pool;
	pool->timer_live = 1;
	for (size_t t = 0; t < CMPD_KEY_TYPE_COUNT; t++)
		if (counts[t] != 0) {
			log_info("key pool: keeping %u %s keys", counts[t],
			    kw_key_type_name((Cmpd__KeyType)t));
			pool_refill(pool, (Cmpd__KeyType)t);
		}
	*out = pool;
	return CMPD_OK;
}

static int
type_ok(Cmpd__KeyType type)
{
	return type > 0 && (size_t)type < CMPD_KEY_TYPE_COUNT;
}

EVP_PKEY *
kw_pool_take(struct kw_pool *pool, Cmpd__KeyType type)
{
	struct pool_slot *s;
	EVP_PKEY *pkey = NULL;

	if (pool == NULL || !type_ok(type))
		return NULL;
	CMPD_MAGIC_CHECK(pool, KW_POOL_MAGIC);
	s = &pool->slot[type];
	if (s->n > 0) {
		/* The slot forgets the key: it can never be handed out twice.
		 */
		pkey = s->keys[--s->n];
		s->keys[s->n] = NULL;
	}
	s->failed = 0;
	if (s->n == 0)
		pool_refill(pool, type);
	else if (!pool->stopping)
		uv_timer_start(
		    &pool->refill, refill_timer_cb, KW_POOL_REFILL_DELAY_MS, 0);
	return pkey;
}

unsigned
kw_pool_count(const struct kw_pool *pool, Cmpd__KeyType type)
{
	return pool != NULL && type_ok(type) ? pool->slot[type].n : 0;
}

unsigned
kw_pool_target(const struct kw_pool *pool, Cmpd__KeyType type)
{
	return pool != NULL && type_ok(type) ? pool->slot[type].want : 0;
}

void
kw_pool_stop(struct kw_pool *pool)
{
	if (pool == NULL)
		return;
	CMPD_MAGIC_CHECK(pool, KW_POOL_MAGIC);
	pool->stopping = 1;
	if (pool->timer_live) {
		uv_close((uv_handle_t *)&pool->refill, NULL);
		pool->timer_live = 0;
	}
	/* A queued generation is cancelled (its callback frees it); one
	 * already running finishes and its key is wiped. */
	for (size_t t = 0; t < CMPD_KEY_TYPE_COUNT; t++)
		if (pool->slot[t].gen != NULL)
			(void)uv_cancel((uv_req_t *)&pool->slot[t].gen->work);
}

void
kw_pool_free(struct kw_pool *pool)
{
	if (pool == NULL)
		return;
	CMPD_MAGIC_CHECK(pool, KW_POOL_MAGIC);
	assert(!pool->timer_live);
	for (size_t t = 0; t < CMPD_KEY_TYPE_COUNT; t++) {
		struct pool_slot *s = &pool->slot[t];

		/* A generation still out (the loop did not run it to the
		 * end) must not touch the pool. */
		if (s->gen != NULL)
			s->gen->pool = NULL;
		for (unsigned i = 0; i < s->n; i++)
			EVP_PKEY_free(s->keys[i]);
		free(s->keys);
	}
	pool->magic = 0;
	free(pool);
}
