/*
 * The broker's event ring (who sees what, cursors, missed events, long-poll
 * subscribers) and the health checks and metrics text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "event.h"
#include "health.h"
#include "record.h"

#define UID_ADMIN 0
#define UID_ALICE 1001 /* may use profile "web" */
#define UID_BOB   1002 /* may use nothing */
#define FIRST     5000000

static uint32_t web_users[] = { UID_ALICE };
static struct profile profiles[2];
static struct config cfg;
static struct broker b;
static uv_loop_t loop;

static int
setup(void **state)
{
	(void)state;
	memset(profiles, 0, sizeof(profiles));
	profiles[0].name = "web";
	profiles[0].allowed_users.ids = web_users;
	profiles[0].allowed_users.n = 1;
	profiles[0].auto_renew = 1;
	profiles[0].renew_at = 50;
	profiles[0].window.start = profiles[0].window.end = NO_WINDOW;
	profiles[0].msg_timeout = 30;
	profiles[1].name = "db";
	profiles[1].window.start = profiles[1].window.end = NO_WINDOW;
	cfg.profiles = profiles;
	cfg.n_profiles = 2;
	memset(&b, 0, sizeof(b));
	b.magic = BROKER_MAGIC;
	b.cfg = &cfg;
	b.loop = &loop;
	return uv_loop_init(&loop);
}

static int
teardown(void **state)
{
	(void)state;
	uv_run(&loop, UV_RUN_DEFAULT);
	return uv_loop_close(&loop);
}

/* A new event as event_emit makes them. */
static Cmpd__Event *
ev_new(Cmpd__EventType type, const char *profile, const char *job_id,
    uint32_t owner)
{
	Cmpd__Event *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	cmpd__event__init(e);
	e->type = type;
	e->owner_uid = owner;
	assert_int_equal(rec_set_str(&e->profile, profile), CMPD_OK);
	assert_int_equal(rec_set_str(&e->job_id, job_id), CMPD_OK);
	return e;
}

static struct viewer
viewer(uint32_t uid, const char *profile)
{
	struct viewer v = { .uid = uid, .gid = 65534, .admin = uid == 0 };

	snprintf(v.profile, sizeof(v.profile), "%s", profile);
	return v;
}

static void
test_visibility(void **state)
{
	Cmpd__Event *renewed = ev_new(EV(RENEWED), "web", "", 0);
	Cmpd__Event *failed = ev_new(EV(JOB_FAILED), "web", "00aa", UID_BOB);
	struct viewer admin = viewer(UID_ADMIN, ""),
	              alice = viewer(UID_ALICE, "");
	struct viewer bob = viewer(UID_BOB, ""),
	              alice_db = viewer(UID_ALICE, "db");

	(void)state;
	assert_true(event_visible(&cfg, &admin, renewed));
	assert_true(event_visible(&cfg, &admin, failed));
	/* Certificate events: whoever may use the profile. */
	assert_true(event_visible(&cfg, &alice, renewed));
	assert_false(event_visible(&cfg, &bob, renewed));
	assert_false(event_visible(&cfg, &alice_db, renewed));
	/* A failed job: its owner only, even without the profile. */
	assert_false(event_visible(&cfg, &alice, failed));
	assert_true(event_visible(&cfg, &bob, failed));
	assert_true(viewer_may_use(&cfg, &alice, "web"));
	assert_false(viewer_may_use(&cfg, &alice, "db"));
	assert_false(viewer_may_use(&cfg, &alice, "nosuch"));
	assert_true(viewer_may_use(&cfg, &admin, "db"));
	cmpd__event__free_unpacked(renewed, NULL);
	cmpd__event__free_unpacked(failed, NULL);
}

static void
test_cursor_and_missed(void **state)
{
	struct events *ev = NULL;
	struct viewer admin = viewer(UID_ADMIN, ""), bob = viewer(UID_BOB, "");
	struct event_batch *batch = malloc(sizeof(*batch));

	(void)state;
	assert_non_null(batch);
	assert_int_equal(events_new(&b, 4, FIRST, &ev), CMPD_OK);
	assert_int_equal(events_last(ev), FIRST - 1);
	/* From now on: nothing, and where the ring is. */
	events_collect(ev, &admin, 0, 0, batch);
	assert_int_equal(batch->n, 0);
	assert_int_equal(batch->last, FIRST - 1);
	assert_false(batch->missed);
	for (int i = 0; i < 6; i++)
		events_add(ev,
		    ev_new(i == 4 ? EV(JOB_FAILED) : EV(RENEWED), "web", "",
		        UID_ADMIN));
	assert_int_equal(events_last(ev), FIRST + 5);
	assert_int_equal(events_count(ev, EV(RENEWED)), 5);
	assert_int_equal(events_count(ev, EV(JOB_FAILED)), 1);
	/* The first two fell out of the ring of four. */
	events_collect(ev, &admin, FIRST - 1, 0, batch);
	assert_true(batch->missed);
	assert_int_equal(batch->n, 4);
	assert_int_equal(batch->v[0]->seq, FIRST + 2);
	assert_int_equal(batch->last, FIRST + 5);
	/* Inside the ring: exactly what follows, at most max. */
	events_collect(ev, &admin, FIRST + 2, 2, batch);
	assert_false(batch->missed);
	assert_int_equal(batch->n, 2);
	assert_int_equal(batch->v[0]->seq, FIRST + 3);
	assert_int_equal(batch->v[1]->seq, FIRST + 4);
	assert_int_equal(batch->last, FIRST + 4);
	/* What bob may not see is skipped, but the cursor moves past it. */
	events_collect(ev, &bob, FIRST + 2, 0, batch);
	assert_int_equal(batch->n, 0);
	assert_int_equal(batch->last, FIRST + 5);
	/* A cursor of a later run (the clock went back) missed events. */
	events_collect(ev, &admin, FIRST + 100, 0, batch);
	assert_true(batch->missed);
	assert_int_equal(batch->n, 4);
	events_free(ev);
	free(batch);
}

struct woken {
	int calls;
	int timed_out;
};

static void
wake_cb(void *arg, int timed_out)
{
	struct woken *w = arg;

	w->calls++;
	w->timed_out = timed_out;
}

static void
test_subscribers(void **state)
{
	struct events *ev = NULL;
	struct viewer alice = viewer(UID_ALICE, "web");
	struct woken a = { 0 }, t = { 0 }, f = { 0 };

	(void)state;
	assert_int_equal(events_new(&b, 8, FIRST, &ev), CMPD_OK);
	assert_int_equal(
	    events_subscribe(ev, &alice, events_last(ev), 60000, wake_cb, &a),
	    CMPD_OK);
	assert_int_equal(
	    events_subscribe(ev, &alice, events_last(ev), 10, wake_cb, &t),
	    CMPD_OK);
	/* An event of another profile wakes nobody. */
	events_add(ev, ev_new(EV(RENEWED), "db", "", UID_ADMIN));
	assert_int_equal(a.calls, 0);
	events_add(ev, ev_new(EV(ENROLLED), "web", "", UID_ADMIN));
	assert_int_equal(a.calls, 1);
	assert_false(a.timed_out);
	assert_int_equal(t.calls, 1); /* woken by the event too */
	/* The next subscriber's wait runs out. */
	assert_int_equal(
	    events_subscribe(ev, &alice, events_last(ev), 10, wake_cb, &t),
	    CMPD_OK);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(t.calls, 2);
	assert_true(t.timed_out);
	/* Freeing the ring answers whoever still waits. */
	assert_int_equal(
	    events_subscribe(ev, &alice, events_last(ev), 60000, wake_cb, &f),
	    CMPD_OK);
	events_free(ev);
	assert_int_equal(f.calls, 1);
	assert_true(f.timed_out);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(a.calls, 1);
}

/* Without a client API, emitting is a no-op. */
static void
test_emit_without_api(void **state)
{
	Cmpd__CertRecord *c = rec_cert_new();

	(void)state;
	assert_non_null(c);
	event_emit(&b, EV(EXPIRED), NULL, c);
	cmpd__cert_record__free_unpacked(c, NULL);
	assert_string_equal(
	    event_type_name(EV(RENEWAL_FAILED)), "renewal_failed");
	assert_string_equal(event_type_name((Cmpd__EventType)99), "unknown");
}

static Cmpd__Job *
job_rec(Cmpd__JobState state, int64_t updated)
{
	Cmpd__Job *j = rec_job_new();

	assert_non_null(j);
	j->state = state;
	j->created = j->updated = updated;
	assert_int_equal(rec_set_str(&j->id, "0123456789abcdef"), CMPD_OK);
	assert_int_equal(rec_set_str(&j->profile, "web"), CMPD_OK);
	return j;
}

static Cmpd__HealthKind
job_check(const Cmpd__Job *j, int64_t now)
{
	Cmpd__HealthProblem *p = calloc(1, sizeof(*p));
	Cmpd__HealthKind k;

	assert_non_null(p);
	cmpd__health_problem__init(p);
	k = health_job_check(j, &profiles[0], now, p);
	if (k != CMPD__HEALTH_KIND__HEALTH_KIND_UNSPECIFIED) {
		assert_string_equal(p->job_id, "0123456789abcdef");
		assert_string_equal(p->profile, "web");
		assert_string_not_equal(p->detail, "");
	}
	cmpd__health_problem__free_unpacked(p, NULL);
	return k;
}

static void
test_stuck_jobs(void **state)
{
	const int64_t t = 1700000000;
	Cmpd__Job *j = job_rec(CMPD__JOB_STATE__JOB_RUNNING, t);

	(void)state;
	/* Running: stuck after four message timeouts, at least 300 s. */
	assert_int_equal(job_check(j, t + 299), 0);
	assert_int_equal(
	    job_check(j, t + 301), CMPD__HEALTH_KIND__HEALTH_STUCK_JOB);
	/* Past its deadline (with a minute's grace). */
	j->deadline = t + 100;
	assert_int_equal(job_check(j, t + 150), 0);
	assert_int_equal(
	    job_check(j, t + 161), CMPD__HEALTH_KIND__HEALTH_STUCK_JOB);
	j->deadline = 0;
	/* Waiting: only an overdue poll makes it stuck. */
	j->state = CMPD__JOB_STATE__JOB_WAITING;
	j->next_poll = t + 3600;
	assert_int_equal(job_check(j, t + 3000), 0);
	assert_int_equal(
	    job_check(j, t + 3661), CMPD__HEALTH_KIND__HEALTH_STUCK_JOB);
	j->state = CMPD__JOB_STATE__JOB_DONE;
	assert_int_equal(job_check(j, t + 99999), 0);
	cmpd__job__free_unpacked(j, NULL);
}

static Cmpd__CertRecord *
cert_rec(int64_t nb, int64_t na)
{
	Cmpd__CertRecord *c = rec_cert_new();

	assert_non_null(c);
	c->state = CMPD__CERT_STATE__CERT_ACTIVE;
	c->not_before = nb;
	c->not_after = na;
	assert_int_equal(rec_set_str(&c->id, "c0ffee0123456789"), CMPD_OK);
	assert_int_equal(rec_set_str(&c->profile, "web"), CMPD_OK);
	return c;
}

static Cmpd__HealthKind
cert_check(const Cmpd__CertRecord *c, const struct profile *pr, int64_t now)
{
	Cmpd__HealthProblem *p = calloc(1, sizeof(*p));
	Cmpd__HealthKind k;

	assert_non_null(p);
	cmpd__health_problem__init(p);
	k = health_cert_check(c, pr, now, p);
	cmpd__health_problem__free_unpacked(p, NULL);
	return k;
}

static void
test_cert_checks(void **state)
{
	const int64_t nb = 1700000000, na = nb + 1000;
	Cmpd__CertRecord *c = cert_rec(nb, na);

	(void)state;
	c->next_renewal = nb + 500;
	/* Before its renewal point, and at it with the renewal pending. */
	assert_int_equal(cert_check(c, &profiles[0], nb + 400), 0);
	assert_int_equal(cert_check(c, &profiles[0], nb + 510), 0);
	/* A renewal that never started. */
	assert_int_equal(cert_check(c, &profiles[0], nb + 561),
	    CMPD__HEALTH_KIND__HEALTH_RENEWAL_OVERDUE);
	/* One that failed, retried later: overdue. */
	c->failures = 1;
	c->next_renewal = nb + 700;
	assert_int_equal(cert_check(c, &profiles[0], nb + 600),
	    CMPD__HEALTH_KIND__HEALTH_RENEWAL_OVERDUE);
	/* A failed renewal whose next attempt comes after the expiry. */
	c->next_renewal = na + 10;
	assert_int_equal(cert_check(c, &profiles[0], nb + 600),
	    CMPD__HEALTH_KIND__HEALTH_EXPIRES_BEFORE_RETRY);
	/* Without automatic renewal: expiring in its last fifth. */
	c->failures = 0;
	c->next_renewal = 0;
	assert_int_equal(health_expiring_from(c), na - 200);
	assert_int_equal(cert_check(c, &profiles[1], nb + 700), 0);
	assert_int_equal(cert_check(c, &profiles[1], nb + 801),
	    CMPD__HEALTH_KIND__HEALTH_EXPIRING);
	/* Not active: nothing to say. */
	c->state = CMPD__CERT_STATE__CERT_REVOKED;
	assert_int_equal(cert_check(c, &profiles[1], nb + 999), 0);
	/* A long life: the margin is at most seven days. */
	c->not_after = nb + 365 * 86400;
	assert_int_equal(health_expiring_from(c), c->not_after - 7 * 86400);
	cmpd__cert_record__free_unpacked(c, NULL);
}

static void
test_metrics_text(void **state)
{
	Cmpd__HealthRep rep = CMPD__HEALTH_REP__INIT;
	Cmpd__HealthProblem p = CMPD__HEALTH_PROBLEM__INIT;
	Cmpd__HealthProblem *problems[] = { &p };
	Cmpd__CertRecord *c = cert_rec(1000, 2000);
	struct events *ev = NULL;
	char *text = NULL;

	(void)state;
	assert_int_equal(rec_set_str(&c->id, "a\"b\\c"), CMPD_OK);
	c->failures = 2;
	p.kind = CMPD__HEALTH_KIND__HEALTH_RENEWAL_OVERDUE;
	rep.problems = problems;
	rep.n_problems = 1;
	rep.certs_active = 1;
	rep.jobs_unfinished = 3;
	rep.time = 1700000000;
	assert_int_equal(events_new(&b, 4, FIRST, &ev), CMPD_OK);
	events_add(ev, ev_new(EV(REVOKED), "web", "", 0));
	assert_int_equal(health_metrics_text(&rep, &c, 1, ev, &text), CMPD_OK);
	assert_non_null(strstr(text, "# TYPE cmpd_health_problems gauge\n"));
	assert_non_null(
	    strstr(text, "cmpd_health_problems{kind=\"renewal_overdue\"} 1\n"));
	assert_non_null(
	    strstr(text, "cmpd_health_problems{kind=\"stuck_job\"} 0\n"));
	assert_non_null(strstr(text, "cmpd_jobs_unfinished 3\n"));
	assert_non_null(
	    strstr(text, "cmpd_certificates{state=\"active\"} 1\n"));
	/* Label values escape quotes and backslashes. */
	assert_non_null(strstr(text,
	    "cmpd_certificate_renewal_failures{profile=\"web\","
	    "id=\"a\\\"b\\\\c\"} 2\n"));
	assert_non_null(strstr(text,
	    "cmpd_certificate_not_after_seconds{profile=\"web\","
	    "id=\"a\\\"b\\\\c\"} 2000\n"));
	assert_non_null(strstr(text, "# TYPE cmpd_events_total counter\n"));
	assert_non_null(
	    strstr(text, "cmpd_events_total{type=\"revoked\"} 1\n"));
	assert_non_null(strstr(text, "cmpd_health_time_seconds 1700000000\n"));
	free(text);
	events_free(ev);
	cmpd__cert_record__free_unpacked(c, NULL);
	assert_string_equal(
	    health_kind_name(CMPD__HEALTH_KIND__HEALTH_EXPIRING), "expiring");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_visibility),
		cmocka_unit_test(test_cursor_and_missed),
		cmocka_unit_test(test_subscribers),
		cmocka_unit_test(test_emit_without_api),
		cmocka_unit_test(test_stuck_jobs),
		cmocka_unit_test(test_cert_checks),
		cmocka_unit_test(test_metrics_text),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
