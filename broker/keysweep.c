/*
 * Keys nobody uses. A job records the key the keyworker generated for it
 * only when the keyworker's answer arrives, so a crash in between leaves a
 * key file that no record names. Each time a keyworker connects, the
 * sweep deletes such keys. A key stays when a tracked certificate (in any
 * state), an unfinished job or a profile uses it, when it was imported
 * (store_key_keep), or when it may be the answer to a key generation
 * still under way. The first sweep of a new store adopts every key it
 * finds instead: those predate the store and may be anyone's.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "job_int.h"
#include "keysweep.h"
#include "log.h"
#include "store.h"
#include "util.h"

/* Key ids of the tracked certificates, sorted for bsearch. */
struct used {
	char **ids;
	size_t n, cap;
};

static int
used_add_cb(void *arg, Cmpd__CertRecord *c)
{
	struct used *u = arg;
	char **grown;
	int rv = 0;

	if (cmpd_str_set(c->key_id)) {
		if (u->n == u->cap) {
			u->cap = u->cap ? u->cap * 2 : 64;
			grown = reallocarray(u->ids, u->cap, sizeof(*grown));
			if (grown == NULL)
				rv = 1;
			else
				u->ids = grown;
		}
		if (rv == 0 && (u->ids[u->n] = strdup(c->key_id)) != NULL)
			u->n++;
	}
	cmpd__cert_record__free_unpacked(c, NULL);
	return rv;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
used_free(struct used *u)
{
	for (size_t i = 0; i < u->n; i++)
		free(u->ids[i]);
	free(u->ids);
}

static int
profile_uses(const struct config *cfg, const char *id)
{
	for (size_t i = 0; i < cfg->n_profiles; i++) {
		const struct profile *pr = &cfg->profiles[i];

		if (strcmp(pr->cert.key_id, id) == 0 ||
		    strcmp(pr->tls_client.key_id, id) == 0)
			return 1;
	}
	return 0;
}

static int
job_uses(const struct job *job, const char *id)
{
	const Cmpd__Job *r = job->rec;

	return (cmpd_str_set(r->key_id) && strcmp(r->key_id, id) == 0) ||
	    (cmpd_str_set(r->old_key_id) && strcmp(r->old_key_id, id) == 0);
}

/*
 * Whether key k is in use. A key made since the oldest job that is
 * generating one began may be that job's: it stays until the next sweep.
 */
static int
key_used(struct broker *b, const struct used *u, const Cmpd__KeyInfo *k)
{
	const char *id = k->id;

	if ((u->n > 0 &&
	        bsearch(&id, u->ids, u->n, sizeof(*u->ids), str_cmp) != NULL) ||
	    profile_uses(b->cfg, id) || store_key_kept(b->store, id))
		return 1;
	for (const struct job *job = b->jobs; job != NULL; job = job->next) {
		if (job_uses(job, id))
			return 1;
		if (job->rec->state == S(KEYGEN) &&
		    k->created >= job->rec->updated - 1)
			return 1;
	}
	return 0;
}

/* The first sweep of a store: every key there is someone's. */
static void
sweep_adopt(struct broker *b, const Cmpd__KeyListRep *l)
{
	for (size_t i = 0; i < l->n_keys; i++)
		if (store_key_keep(b->store, l->keys[i]->id) != CMPD_OK)
			return;
	if (store_keys_adopted_set(b->store) == CMPD_OK)
		log_info("keys: %zu key%s of the key store adopted", l->n_keys,
		    l->n_keys == 1 ? "" : "s");
}

static void
sweep_list_cb(void *arg, cmpd_err err, const cmpd_env *rep)
{
	struct broker *b = arg;
	const Cmpd__KeyListRep *l;
	struct used u = { 0 };
	size_t swept = 0;

	if (err != CMPD_OK ||
	    rep->body_case != CMPD__ENVELOPE__BODY_KEY_LIST_REP)
		return; /* the next keyworker sweeps */
	l = rep->key_list_rep;
	if (!store_keys_adopted(b->store)) {
		sweep_adopt(b, l);
		return;
	}
	if (store_cert_each(b->store, used_add_cb, &u) != CMPD_OK) {
		used_free(&u);
		return;
	}
	if (u.n > 1)
		qsort(u.ids, u.n, sizeof(*u.ids), str_cmp);
	for (size_t i = 0; i < l->n_keys; i++) {
		if (key_used(b, &u, l->keys[i]))
			continue;
		log_notice("keys: deleting key %s: no job or certificate "
		           "uses it (a key generation a crash interrupted)",
		    l->keys[i]->id);
		job_key_delete(b, l->keys[i]->id);
		swept++;
	}
	log_info("keys: %zu of %zu swept", swept, l->n_keys);
	used_free(&u);
}

void
keysweep_run(struct broker *b)
{
	Cmpd__KeyListReq req = CMPD__KEY_LIST_REQ__INIT;
	cmpd_env env;

	req.index_only = 1; /* ids and times are all the sweep needs */
	cmpd_env_init(&env, 0);
	env.body_case = CMPD__ENVELOPE__BODY_KEY_LIST_REQ;
	env.key_list_req = &req;
	if (worker_request(&b->keyworker, &env, sweep_list_cb, b) != CMPD_OK)
		log_warn("keys: cannot ask the keyworker for its keys");
}

void
keysweep_keep(struct broker *b, const char *id)
{
	if (store_key_keep(b->store, id) != CMPD_OK)
		log_err("keys: cannot note imported key %s; a later sweep may "
		        "delete it unless a profile or job uses it",
		    id);
}
