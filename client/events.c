/*
 * Events (EventsReq, a long poll for the events after a cursor) and the
 * test run of a profile's reload command (HookTestReq).
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "util.h"

/* A reload command may take up to its profile's reload_timeout. */
#define HOOK_TEST_EXTRA_MS 600000u

struct cmpd_event {
	cmpd_env *env;         /* the EventsRep that carries it */
	const Cmpd__Event *pb; /* its one event */
	int missed;
};

static const char *const event_names[] = {
	[CMPD_EVENT_UNKNOWN] = "unknown",
	[CMPD_EVENT_ENROLLED] = "enrolled",
	[CMPD_EVENT_RENEWED] = "renewed",
	[CMPD_EVENT_RENEWAL_FAILED] = "renewal_failed",
	[CMPD_EVENT_REVOKED] = "revoked",
	[CMPD_EVENT_EXPIRING] = "expiring",
	[CMPD_EVENT_JOB_FAILED] = "job_failed",
	[CMPD_EVENT_EXPIRED] = "expired",
};

const char *
cmpd_event_type_name(cmpd_event_type type)
{
	if ((unsigned)type >= CMPD_EVENT_MAX)
		return "unknown";
	return event_names[type];
}

void
cmpd_event_free(cmpd_event *event)
{
	if (event == NULL)
		return;
	cmpd_ipc_free(event->env);
	free(event);
}

/* One EventsReq: at most one event after cursor, held up to wait_ms. */
static cmpd_result
events_ask(cmpd_client *c, const char *profile, uint64_t cursor,
    uint32_t wait_ms, cmpd_env **rep)
{
	Cmpd__EventsReq q = CMPD__EVENTS_REQ__INIT;
	cmpd_env req;

	cmpd_env_init(&req, 0);
	q.cursor = cursor;
	q.wait_ms = wait_ms;
	q.profile = (char *)(profile != NULL ? profile : "");
	q.max = 1;
	req.body_case = CMPD__ENVELOPE__BODY_EVENTS_REQ;
	req.events_req = &q;
	return client_call(
	    c, &req, CMPD__ENVELOPE__BODY_EVENTS_REP, wait_ms, rep);
}

/* The event in rep (taken over), or CMPD_RESULT_TIMEOUT if none. */
static cmpd_result
events_take(cmpd_client *c, cmpd_env *rep, uint64_t *cursor, cmpd_event **out)
{
	const Cmpd__EventsRep *r = rep->events_rep;
	cmpd_event *ev;

	if (r->missed)
		c->events_missed = 1;
	if (r->n_events == 0 || (!r->missed && r->events[0]->seq <= *cursor)) {
		/* Past what cmpd has seen (a cursor never goes back). */
		if (r->last > *cursor || r->missed)
			*cursor = r->last;
		cmpd_ipc_free(rep);
		return CMPD_RESULT_TIMEOUT;
	}
	if ((ev = calloc(1, sizeof(*ev))) == NULL) {
		cmpd_ipc_free(rep);
		return client_fail(c, CMPD_RESULT_NOMEM, "out of memory");
	}
	ev->env = rep;
	ev->pb = r->events[0];
	ev->missed = c->events_missed;
	c->events_missed = 0;
	*cursor = ev->pb->seq;
	*out = ev;
	return CMPD_RESULT_OK;
}

static cmpd_result
events_check(
    cmpd_client *c, const char *profile, uint64_t *cursor, cmpd_event **out)
{
	if (client_check(c) != CMPD_RESULT_OK)
		return CMPD_RESULT_INVALID;
	if (cursor == NULL || out == NULL)
		return client_fail(
		    c, CMPD_RESULT_INVALID, "cursor or out is NULL");
	if (profile != NULL && !client_target_ok(profile))
		return client_fail(
		    c, CMPD_RESULT_INVALID, "not a profile name: %s", profile);
	return CMPD_RESULT_OK;
}

cmpd_result
cmpd_events_next(cmpd_client *client, const char *profile, uint64_t *cursor,
    int64_t timeout_ms, cmpd_event **out)
{
	uint64_t deadline =
	    cmpd_clock_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	cmpd_result rv = events_check(client, profile, cursor, out);
	uint32_t slice = 0;

	while (rv == CMPD_RESULT_OK) {
		uint64_t asked = cmpd_clock_ms();
		cmpd_env *rep = NULL;

		if ((rv = events_ask(client, profile, *cursor, slice, &rep)) !=
		    CMPD_RESULT_OK)
			return rv;
		if ((rv = events_take(client, rep, cursor, out)) !=
		    CMPD_RESULT_TIMEOUT)
			return rv;
		if (slice > 0)
			client_wait_pace(asked, slice);
		slice = client_wait_slice(timeout_ms, deadline);
		if (slice == 0 && timeout_ms >= 0)
			break;
		rv = CMPD_RESULT_OK;
	}
	return rv == CMPD_RESULT_OK ? CMPD_RESULT_TIMEOUT : rv;
}

uint64_t
cmpd_event_seq(const cmpd_event *event)
{
	return event->pb->seq;
}

cmpd_event_type
cmpd_event_type_get(const cmpd_event *event)
{
	unsigned t = (unsigned)event->pb->type;

	return t < CMPD_EVENT_MAX ? (cmpd_event_type)t : CMPD_EVENT_UNKNOWN;
}

int64_t
cmpd_event_time(const cmpd_event *event)
{
	return event->pb->time;
}

const char *
cmpd_event_profile(const cmpd_event *event)
{
	return event->pb->profile;
}

const char *
cmpd_event_job_id(const cmpd_event *event)
{
	return event->pb->job_id;
}

const char *
cmpd_event_op(const cmpd_event *event)
{
	return names_op(event->pb->op);
}

int
cmpd_event_automatic(const cmpd_event *event)
{
	return event->pb->automatic;
}

const char *
cmpd_event_cert_id(const cmpd_event *event)
{
	return event->pb->cert_id;
}

const char *
cmpd_event_serial(const cmpd_event *event)
{
	return event->pb->serial;
}

int64_t
cmpd_event_not_after(const cmpd_event *event)
{
	return event->pb->not_after;
}

const char *
cmpd_event_cert_path(const cmpd_event *event)
{
	return event->pb->cert_path;
}

cmpd_result
cmpd_event_error(const cmpd_event *event)
{
	unsigned e = (unsigned)event->pb->error;

	return e < CMPD_RESULT_MAX ? (cmpd_result)e : CMPD_RESULT_INTERNAL;
}

const char *
cmpd_event_error_text(const cmpd_event *event)
{
	return event->pb->error_text;
}

uint32_t
cmpd_event_failures(const cmpd_event *event)
{
	return event->pb->failures;
}

int64_t
cmpd_event_next_attempt(const cmpd_event *event)
{
	return event->pb->next_attempt;
}

int
cmpd_event_missed(const cmpd_event *event)
{
	return event->missed;
}

/* The shell's way to say how a command ended. */
static int
hook_status(const Cmpd__HookTestRep *r)
{
	if (r->timed_out)
		return -1;
	if (r->signal > 0)
		return 128 + r->signal;
	return r->exit_status >= 0 && r->exit_status <= 255
	    ? (int)r->exit_status
	    : -1;
}

cmpd_result
cmpd_hook_test(cmpd_client *client, const char *profile, int *status)
{
	Cmpd__HookTestReq q = CMPD__HOOK_TEST_REQ__INIT;
	cmpd_env req, *rep = NULL;
	cmpd_result rv;

	if (client_check(client) != CMPD_RESULT_OK)
		return CMPD_RESULT_INVALID;
	if (status == NULL || profile == NULL || !client_target_ok(profile))
		return client_fail(client, CMPD_RESULT_INVALID,
		    "give a profile name and a place for the status");
	cmpd_env_init(&req, 0);
	q.profile = (char *)profile;
	req.body_case = CMPD__ENVELOPE__BODY_HOOK_TEST_REQ;
	req.hook_test_req = &q;
	rv = client_call(client, &req, CMPD__ENVELOPE__BODY_HOOK_TEST_REP,
	    HOOK_TEST_EXTRA_MS, &rep);
	if (rv != CMPD_RESULT_OK)
		return rv;
	*status = hook_status(rep->hook_test_rep);
	cmpd_ipc_free(rep);
	return CMPD_RESULT_OK;
}
