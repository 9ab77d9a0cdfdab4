/*
 * libcmpd-client's events, health and reload-command test against a
 * canned responder: what the library asks, how it moves the cursor, and
 * what it makes of the answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cmpd/client.h"
#include "test_client_resp.h"

static void
reply_events(struct resp *r, nng_msg *raw, uint64_t id, Cmpd__Event *ev,
    uint64_t last, int missed)
{
	Cmpd__EventsRep rep = CMPD__EVENTS_REP__INIT;
	cmpd_env env;

	cmpd_env_init(&env, id);
	rep.n_events = ev != NULL;
	rep.events = &ev;
	rep.last = last;
	rep.missed = missed;
	env.body_case = CMPD__ENVELOPE__BODY_EVENTS_REP;
	env.events_rep = &rep;
	resp_reply(r, raw, id, &env);
}

/*
 * cursor 0: nothing, cmpd is at 100. 100: event 101. 101: events were
 * lost, cmpd is at 200. 200: event 201.
 */
static void
events_cb(struct resp *r, const cmpd_env *req, nng_msg *raw, void *arg)
{
	Cmpd__Event ev = CMPD__EVENT__INIT;
	uint64_t cursor = req->events_req->cursor;

	(void)arg;
	ev.profile = "web";
	ev.cert_id = "c0ffee0123456789";
	ev.job_id = "0123456789abcdef";
	ev.serial = "0a1b";
	ev.op = CMPD__CMP_OP__CMP_OP_KUR;
	ev.time = 1700000000;
	ev.not_after = 1800000000;
	if (cursor == 0) {
		reply_events(r, raw, req->id, NULL, 100, 0);
	} else if (cursor == 100) {
		ev.seq = 101;
		ev.type = CMPD__EVENT_TYPE__EVENT_RENEWAL_FAILED;
		ev.error = CMPD__ERROR_CODE__ERR_TRANSPORT;
		ev.error_text = "cannot reach the CA";
		ev.failures = 2;
		ev.next_attempt = 1700003600;
		ev.automatic = 1;
		reply_events(r, raw, req->id, &ev, 101, 0);
	} else if (cursor == 101) {
		reply_events(r, raw, req->id, NULL, 200, 1);
	} else {
		ev.seq = 201;
		ev.type = CMPD__EVENT_TYPE__EVENT_ENROLLED;
		reply_events(r, raw, req->id, &ev, 201, 0);
	}
}

static void
test_events_cursor(void **state)
{
	struct resp resp;
	cmpd_client *c = NULL;
	cmpd_event *ev = NULL;
	uint64_t cursor = 0;

	(void)state;
	assert_int_equal(resp_start(&resp, events_cb, NULL), 0);
	assert_int_equal(cmpd_client_open(resp.path, &c), CMPD_RESULT_OK);
	/* From now on, only looking: nothing, and the cursor is cmpd's. */
	assert_int_equal(
	    cmpd_events_next(c, NULL, &cursor, 0, &ev), CMPD_RESULT_TIMEOUT);
	assert_null(ev);
	assert_int_equal(cursor, 100);
	assert_int_equal(resp_req(&resp, 0)->events_req->cursor, 0);
	assert_int_equal(resp_req(&resp, 0)->events_req->wait_ms, 0);
	assert_int_equal(resp_req(&resp, 0)->events_req->max, 1);
	assert_string_equal(resp_req(&resp, 0)->events_req->profile, "");

	assert_int_equal(
	    cmpd_events_next(c, "web", &cursor, 5000, &ev), CMPD_RESULT_OK);
	assert_int_equal(cursor, 101);
	assert_string_equal(resp_req(&resp, 1)->events_req->profile, "web");
	assert_int_equal(cmpd_event_seq(ev), 101);
	assert_int_equal(cmpd_event_type_get(ev), CMPD_EVENT_RENEWAL_FAILED);
	assert_string_equal(
	    cmpd_event_type_name(cmpd_event_type_get(ev)), "renewal_failed");
	assert_string_equal(cmpd_event_profile(ev), "web");
	assert_string_equal(cmpd_event_op(ev), "kur");
	assert_string_equal(cmpd_event_serial(ev), "0a1b");
	assert_int_equal(cmpd_event_error(ev), CMPD_RESULT_TRANSPORT);
	assert_string_equal(cmpd_event_error_text(ev), "cannot reach the CA");
	assert_int_equal(cmpd_event_failures(ev), 2);
	assert_int_equal(cmpd_event_next_attempt(ev), 1700003600);
	assert_true(cmpd_event_automatic(ev));
	assert_false(cmpd_event_missed(ev));
	assert_string_equal(cmpd_event_cert_path(ev), "");
	cmpd_event_free(ev);

	/* Lost events: the next event that comes says so. */
	assert_int_equal(
	    cmpd_events_next(c, NULL, &cursor, 5000, &ev), CMPD_RESULT_OK);
	assert_int_equal(cursor, 201);
	assert_int_equal(cmpd_event_type_get(ev), CMPD_EVENT_ENROLLED);
	assert_true(cmpd_event_missed(ev));
	assert_int_equal(
	    resp_req(&resp, resp_count(&resp) - 1)->events_req->cursor, 200);
	cmpd_event_free(ev);

	/* A bad profile name is refused before cmpd is asked. */
	assert_int_equal(cmpd_events_next(c, "no name", &cursor, 0, &ev),
	    CMPD_RESULT_INVALID);
	assert_string_equal(cmpd_event_type_name(CMPD_EVENT_MAX), "unknown");
	cmpd_client_close(c);
	resp_stop(&resp);
}

static void
health_cb(struct resp *r, const cmpd_env *req, nng_msg *raw, void *arg)
{
	Cmpd__HealthRep rep = CMPD__HEALTH_REP__INIT;
	Cmpd__HealthProblem p = CMPD__HEALTH_PROBLEM__INIT;
	Cmpd__HealthProblem *ps[] = { &p };
	Cmpd__HookTestRep hook = CMPD__HOOK_TEST_REP__INIT;
	cmpd_env env;

	(void)arg;
	cmpd_env_init(&env, req->id);
	if (req->body_case == CMPD__ENVELOPE__BODY_HOOK_TEST_REQ) {
		const char *name = req->hook_test_req->profile;

		hook.exit_status = strcmp(name, "three") == 0 ? 3 : -1;
		hook.signal = strcmp(name, "killed") == 0 ? 9 : 0;
		hook.timed_out = strcmp(name, "slow") == 0;
		env.body_case = CMPD__ENVELOPE__BODY_HOOK_TEST_REP;
		env.hook_test_rep = &hook;
		resp_reply(r, raw, req->id, &env);
		return;
	}
	p.kind = CMPD__HEALTH_KIND__HEALTH_STUCK_JOB;
	p.profile = "web";
	p.job_id = "0123456789abcdef";
	p.job_state = CMPD__JOB_STATE__JOB_RUNNING;
	p.since = 1700000000;
	p.due = 1700000300;
	p.detail = "stuck";
	rep.time = 1700001000;
	rep.problems = ps;
	rep.n_problems = 1;
	rep.jobs_unfinished = 4;
	rep.certs_active = 2;
	rep.certs_revoked = 1;
	env.body_case = CMPD__ENVELOPE__BODY_HEALTH_REP;
	env.health_rep = &rep;
	resp_reply(r, raw, req->id, &env);
}

static void
test_health_and_hook(void **state)
{
	struct resp resp;
	cmpd_client *c = NULL;
	cmpd_health *h = NULL;
	int status = 0;

	(void)state;
	assert_int_equal(resp_start(&resp, health_cb, NULL), 0);
	assert_int_equal(cmpd_client_open(resp.path, &c), CMPD_RESULT_OK);
	assert_int_equal(cmpd_health_get(c, "web", &h), CMPD_RESULT_OK);
	assert_string_equal(resp_req(&resp, 0)->health_req->profile, "web");
	assert_int_equal(cmpd_health_time(h), 1700001000);
	assert_int_equal(cmpd_health_jobs_unfinished(h), 4);
	assert_int_equal(cmpd_health_certs_active(h), 2);
	assert_int_equal(cmpd_health_certs_expired(h), 0);
	assert_int_equal(cmpd_health_certs_revoked(h), 1);
	assert_int_equal(cmpd_health_problem_count(h), 1);
	assert_string_equal(cmpd_health_problem_kind(h, 0), "stuck_job");
	assert_string_equal(
	    cmpd_health_problem_job_id(h, 0), "0123456789abcdef");
	assert_string_equal(cmpd_health_problem_cert_id(h, 0), "");
	assert_int_equal(
	    cmpd_health_problem_job_state(h, 0), CMPD_JOB_STATE_RUNNING);
	assert_int_equal(cmpd_health_problem_since(h, 0), 1700000000);
	assert_int_equal(cmpd_health_problem_due(h, 0), 1700000300);
	assert_string_equal(cmpd_health_problem_detail(h, 0), "stuck");
	assert_null(cmpd_health_problem_kind(h, 1));
	assert_null(cmpd_health_problem_profile(h, 1));
	assert_int_equal(
	    cmpd_health_problem_job_state(h, 1), CMPD_JOB_STATE_UNKNOWN);
	cmpd_health_free(h);

	assert_int_equal(cmpd_hook_test(c, "three", &status), CMPD_RESULT_OK);
	assert_int_equal(status, 3);
	assert_string_equal(
	    resp_req(&resp, 1)->hook_test_req->profile, "three");
	assert_int_equal(cmpd_hook_test(c, "killed", &status), CMPD_RESULT_OK);
	assert_int_equal(status, 128 + 9);
	assert_int_equal(cmpd_hook_test(c, "slow", &status), CMPD_RESULT_OK);
	assert_int_equal(status, -1);
	assert_int_equal(
	    cmpd_hook_test(c, "../etc", &status), CMPD_RESULT_INVALID);
	assert_int_equal(resp_count(&resp), 4);
	cmpd_client_close(c);
	resp_stop(&resp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_events_cursor),
		cmocka_unit_test(test_health_and_hook),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
