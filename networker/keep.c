#include "keep.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "log.h"
#include "util.h"

/* The broker commits one record; a minute means it is stuck or gone. */
#define KEEP_WAIT_S 60

struct keep_wait {
	LIST_ENTRY(keep_wait) link;
	uint64_t id;
	int done;
	cmpd_err rv;
	char why[256];
};

struct nw_keep {
	nng_socket broker;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	LIST_HEAD(, keep_wait) waits;
	uint64_t next_id;
	int stopped;
};

cmpd_err
nw_keep_new(nng_socket broker, struct nw_keep **out)
{
	struct nw_keep *k = calloc(1, sizeof(*k));
	pthread_condattr_t ca;

	if (k == NULL)
		return CMPD_ENOMEM;
	k->broker = broker;
	pthread_mutex_init(&k->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&k->cv, &ca);
	pthread_condattr_destroy(&ca);
	LIST_INIT(&k->waits);
	*out = k;
	return CMPD_OK;
}

void
nw_keep_free(struct nw_keep *k)
{
	if (k == NULL)
		return;
	pthread_cond_destroy(&k->cv);
	pthread_mutex_destroy(&k->mu);
	free(k);
}

static cmpd_err
keep_send(struct nw_keep *k, uint64_t id, const char *job, const uint8_t *der,
    size_t len, int replaces_last)
{
	Cmpd__TxnSaveReq req = CMPD__TXN_SAVE_REQ__INIT;
	nng_msg *msg = NULL;
	cmpd_env env;
	cmpd_err rv;
	int nrv;

	cmpd_env_init(&env, id);
	req.job_id = (char *)job;
	req.message.data = (uint8_t *)der;
	req.message.len = len;
	req.replaces_last = replaces_last;
	env.body_case = CMPD__ENVELOPE__BODY_TXN_SAVE_REQ;
	env.txn_save_req = &req;
	if ((rv = cmpd_ipc_pack(&env, &msg)) != CMPD_OK)
		return rv;
	if ((nrv = nng_sendmsg(k->broker, msg, 0)) != 0) {
		nng_msg_free(msg);
		return cmpd_err_from_nng(nrv);
	}
	return CMPD_OK;
}

/* Waits for w's answer; with k->mu held. */
static void
keep_await(struct nw_keep *k, struct keep_wait *w)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += KEEP_WAIT_S;
	while (!w->done && !k->stopped) {
		if (pthread_cond_timedwait(&k->cv, &k->mu, &until) == ETIMEDOUT)
			break;
	}
	if (!w->done) {
		w->rv = k->stopped ? CMPD_EUNAVAIL : CMPD_ETIMEDOUT;
		snprintf(w->why, sizeof(w->why), "%s",
		    k->stopped ? "the broker link is gone"
		               : "the broker did not answer");
	}
}

cmpd_err
nw_keep_save(void *arg, const char *job, const uint8_t *der, size_t len,
    int replaces_last, char *why, size_t whylen)
{
	struct nw_keep *k = arg;
	struct keep_wait w = { .rv = CMPD_OK };
	cmpd_err rv;

	pthread_mutex_lock(&k->mu);
	w.id = NW_KEEP_ID_BIT | ++k->next_id;
	if (k->stopped) {
		pthread_mutex_unlock(&k->mu);
		snprintf(why, whylen, "the networker is stopping");
		return CMPD_EUNAVAIL;
	}
	LIST_INSERT_HEAD(&k->waits, &w, link);
	pthread_mutex_unlock(&k->mu);

	rv = keep_send(k, w.id, job, der, len, replaces_last);

	pthread_mutex_lock(&k->mu);
	if (rv == CMPD_OK)
		keep_await(k, &w);
	else
		snprintf(w.why, sizeof(w.why), "cannot send it to the broker");
	LIST_REMOVE(&w, link);
	pthread_mutex_unlock(&k->mu);
	if (rv == CMPD_OK)
		rv = w.rv;
	if (rv != CMPD_OK)
		snprintf(why, whylen, "%s", w.why);
	return rv;
}

int
nw_keep_reply(struct nw_keep *k, const cmpd_env *env)
{
	struct keep_wait *w;

	if ((env->id & NW_KEEP_ID_BIT) == 0 ||
	    (env->body_case != CMPD__ENVELOPE__BODY_OK &&
	        env->body_case != CMPD__ENVELOPE__BODY_ERROR))
		return 0;
	pthread_mutex_lock(&k->mu);
	LIST_FOREACH(w, &k->waits, link)
	if (w->id == env->id)
		break;
	if (w != NULL) {
		w->done = 1;
		if (env->body_case == CMPD__ENVELOPE__BODY_ERROR) {
			w->rv = (cmpd_err)env->error->code;
			snprintf(w->why, sizeof(w->why), "%s",
			    env->error->message ? env->error->message : "");
		}
		pthread_cond_broadcast(&k->cv);
	} else {
		log_debug("broker answered save %llu, which no step awaits",
		    (unsigned long long)(env->id & ~NW_KEEP_ID_BIT));
	}
	pthread_mutex_unlock(&k->mu);
	return 1;
}

void
nw_keep_stop(struct nw_keep *k)
{
	pthread_mutex_lock(&k->mu);
	k->stopped = 1;
	pthread_cond_broadcast(&k->cv);
	pthread_mutex_unlock(&k->mu);
}
