/*
 * The client requests that watch rather than change: events (a long poll
 * after a cursor), health, and running a profile's reload command now.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "event.h"
#include "health.h"
#include "hook.h"
#include "log.h"
#include "util.h"

/*
 * Who asks, for events and health: a profile they name must exist and be
 * theirs to use.
 */
static cmpd_err
api_viewer(struct request *r, const char *profile, struct viewer *v, char *err,
    size_t errlen)
{
	memset(v, 0, sizeof(*v));
	v->uid = r->uid;
	v->gid = r->gid;
	v->admin = r->admin;
	if (!cmpd_str_set(profile))
		return CMPD_OK;
	if (config_profile(r->api->b->cfg, profile) == NULL) {
		snprintf(err, errlen, "no profile '%s'", profile);
		return CMPD_ENOENT;
	}
	if (!viewer_may_use(r->api->b->cfg, v, profile)) {
		snprintf(err, errlen, "uid %u may not use profile '%s'", r->uid,
		    profile);
		return CMPD_EPERM;
	}
	cmpd_strlcpy(v->profile, profile, sizeof(v->profile));
	return CMPD_OK;
}

/* A long poll for events: what it asked, kept while it waits. */
struct events_wait {
	struct request *req;
	struct viewer viewer;
	uint64_t cursor;
	uint32_t max;
};

static void
api_events_reply(struct request *r, const struct event_batch *batch)
{
	Cmpd__EventsRep rep = CMPD__EVENTS_REP__INIT;
	cmpd_env env;

	cmpd_env_init(&env, r->id);
	rep.n_events = batch->n;
	rep.events = (Cmpd__Event **)batch->v;
	rep.last = batch->last;
	rep.missed = batch->missed;
	env.body_case = CMPD__ENVELOPE__BODY_EVENTS_REP;
	env.events_rep = &rep;
	api_reply(r, &env);
}

static void
api_events_wake_cb(void *arg, int timed_out)
{
	struct events_wait *w = arg;
	struct event_batch *batch = malloc(sizeof(*batch));

	(void)timed_out;
	if (batch == NULL) {
		api_reply_error(w->req, CMPD_ENOMEM, "out of memory");
	} else {
		events_collect(
		    w->req->api->events, &w->viewer, w->cursor, w->max, batch);
		api_events_reply(w->req, batch);
	}
	free(batch);
	free(w);
}

cmpd_err
api_events_req(struct request *r, const cmpd_env *env, char *err, size_t errlen)
{
	const Cmpd__EventsReq *q = env->events_req;
	struct events *ev = r->api->events;
	struct events_wait *w = calloc(1, sizeof(*w));
	struct event_batch *batch = malloc(sizeof(*batch));
	cmpd_err rv = CMPD_ENOMEM;

	if (w == NULL || batch == NULL)
		goto out;
	if ((rv = api_viewer(r, q->profile, &w->viewer, err, errlen)) !=
	    CMPD_OK)
		goto out;
	w->req = r;
	w->max = q->max;
	/* "From now on" is the newest event when the request came. */
	w->cursor = q->cursor != 0 ? q->cursor : events_last(ev);
	events_collect(ev, &w->viewer, w->cursor, w->max, batch);
	if (batch->n > 0 || batch->missed || q->wait_ms == 0) {
		api_events_reply(r, batch);
	} else {
		w->cursor = batch->last;
		rv = events_subscribe(ev, &w->viewer, w->cursor,
		    q->wait_ms > WAIT_MAX_MS ? WAIT_MAX_MS : q->wait_ms,
		    api_events_wake_cb, w);
		if (rv == CMPD_OK)
			w = NULL;
		else
			snprintf(err, errlen, "out of memory");
		goto out;
	}
	rv = CMPD_OK;
out:
	free(batch);
	free(w);
	return rv;
}

cmpd_err
api_health_req(struct request *r, const cmpd_env *env, char *err, size_t errlen)
{
	Cmpd__HealthRep *rep = NULL;
	struct viewer v;
	cmpd_env out;
	cmpd_err rv;

	rv = api_viewer(r, env->health_req->profile, &v, err, errlen);
	if (rv != CMPD_OK)
		return rv;
	if ((rv = health_report(r->api->b, &v, cmpd_time_now(), &rep)) !=
	    CMPD_OK) {
		snprintf(err, errlen, "cannot read the jobs and certificates");
		return rv;
	}
	cmpd_env_init(&out, r->id);
	out.body_case = CMPD__ENVELOPE__BODY_HEALTH_REP;
	out.health_rep = rep;
	api_reply(r, &out);
	cmpd__health_rep__free_unpacked(rep, NULL);
	return CMPD_OK;
}

/* A reload command run for a client: its request and the certificate. */
struct hook_wait {
	struct request *req;
	char cert_id[CMPD_JOB_ID_LEN + 1];
};

static void
api_hook_done_cb(void *arg, int64_t status, int sig, int timed_out)
{
	struct hook_wait *w = arg;
	Cmpd__HookTestRep rep = CMPD__HOOK_TEST_REP__INIT;
	char text[160];
	cmpd_env env;

	if (timed_out)
		snprintf(text, sizeof(text), "killed after its timeout");
	else if (sig != 0)
		snprintf(text, sizeof(text), "killed by signal %d", sig);
	else
		snprintf(text, sizeof(text), "exited with status %lld",
		    (long long)status);
	cmpd_env_init(&env, w->req->id);
	rep.exit_status = timed_out || sig != 0 ? -1 : status;
	rep.signal = sig;
	rep.timed_out = timed_out;
	rep.cert_id = w->cert_id;
	rep.message = text;
	env.body_case = CMPD__ENVELOPE__BODY_HOOK_TEST_REP;
	env.hook_test_rep = &rep;
	api_reply(w->req, &env);
	free(w);
}

cmpd_err
api_hook_test(struct request *r, const cmpd_env *env, char *err, size_t errlen)
{
	const char *name = env->hook_test_req->profile;
	const struct profile *pr = config_profile(r->api->b->cfg, name);
	Cmpd__CertRecord *cert = NULL;
	struct hook_wait *w;
	cmpd_err rv;

	if (pr == NULL) {
		snprintf(err, errlen, "no profile '%s'", name);
		return CMPD_ENOENT;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return CMPD_ENOMEM;
	w->req = r;
	if (store_cert_active(r->api->b->store, pr->name, &cert) == CMPD_OK)
		cmpd_strlcpy(w->cert_id, cert->id, sizeof(w->cert_id));
	cmpd__cert_record__free_unpacked(cert, NULL);
	rv = hook_test(r->api->b, pr, w->cert_id, api_hook_done_cb, w);
	if (rv != CMPD_OK) {
		free(w);
		snprintf(err, errlen,
		    rv == CMPD_ENOENT ? "profile '%s' has no reload_command"
		                      : "the reload command of '%s' could not "
		                        "be started",
		    pr->name);
	}
	return rv;
}
