/*
 * The broker's worker link (broker/worker.c) with the real cmpd-keyworker
 * as its worker: thousands of requests made at once, more than the link's
 * send buffer holds, whether made before the worker connected or while
 * it is connected, all wait their turn and are answered, in the order
 * made; none fails for want of room in the link.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "ipc.h"
#include "worker.h"

#define JOB "0123456789abcdef"
/* Well over LINK_SENDBUF (1024) requests at once. */
#define BURST 3000
/* Bounds each test's loop; the burst takes well under a second. */
#define DEADLINE_MS 40000

static const Cmpd__Envelope__BodyCase keyworker_sends[] = {
	CMPD__ENVELOPE__BODY_KEY_GENERATE_REP,
	CMPD__ENVELOPE__BODY_KEY_LIST_REP,
	CMPD__ENVELOPE__BODY_OK,
	CMPD__ENVELOPE__BODY_ERROR,
	CMPD__ENVELOPE__BODY__NOT_SET,
};

struct fx {
	char tmp[64];
	char url[128];
	uv_loop_t loop;
	struct worker w;
	uv_timer_t tick;  /* stops the worker once every reply is in */
	uint64_t started; /* uv_now at the start of the test */
	int burst_on_up;  /* make the burst when the worker connects */
	int made;         /* requests worker_request took */
	int answered;     /* replies received, in order */
	int failed;       /* callbacks with an error */
	int out_of_order;
	int stopping;
	cmpd_err first_err;
};

/* The owner of each request: its place in the burst. */
static struct req_owner {
	struct fx *fx;
	int n;
} owners[BURST];

static void
reply_cb(void *arg, cmpd_err err, const cmpd_env *rep)
{
	struct req_owner *o = arg;
	struct fx *fx = o->fx;

	if (err != CMPD_OK || rep->body_case != CMPD__ENVELOPE__BODY_OK) {
		if (fx->failed++ == 0)
			fx->first_err = err != CMPD_OK ? err : CMPD_EPROTO;
		return;
	}
	if (o->n != fx->answered)
		fx->out_of_order++;
	fx->answered++;
}

/* BURST grant ends (each answered Ok), made in one go on the loop. */
static void
burst_make(struct fx *fx)
{
	Cmpd__GrantEndReq end = CMPD__GRANT_END_REQ__INIT;
	cmpd_env env;
	cmpd_err rv;

	end.job_id = JOB;
	for (int i = 0; i < BURST; i++) {
		cmpd_env_init(&env, 0);
		env.body_case = CMPD__ENVELOPE__BODY_GRANT_END_REQ;
		env.grant_end_req = &end;
		owners[i].fx = fx;
		owners[i].n = i;
		rv = worker_request(&fx->w, &env, reply_cb, &owners[i]);
		if (rv != CMPD_OK) {
			print_error(
			    "request %d refused: %s\n", i, cmpd_strerror(rv));
			break;
		}
		fx->made++;
	}
}

static void
up_cb(struct worker *w, void *arg)
{
	struct fx *fx = arg;

	(void)w;
	if (fx->burst_on_up) {
		fx->burst_on_up = 0;
		burst_make(fx);
	}
}

/* Once every request is answered (or time is up), stops the worker;
 * once it has exited, closes every handle so the loop ends. */
static void
tick_cb(uv_timer_t *t)
{
	struct fx *fx = t->data;
	int done = fx->made > 0 && fx->answered + fx->failed >= fx->made;

	if (!fx->stopping &&
	    (done || uv_now(&fx->loop) - fx->started > DEADLINE_MS)) {
		fx->stopping = 1;
		worker_stop(&fx->w);
	}
	if (fx->stopping && worker_stopped(&fx->w)) {
		worker_close(&fx->w);
		uv_close((uv_handle_t *)t, NULL);
	}
}

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	const char *bin = getenv("CMPD_BIN_DIR");
	char path[4096], keys[128], signer[160];
	char *argv[] = { path, "--keystore", keys, "--broker", fx->url,
		"--signer", signer, "--log-level", "notice", NULL };

	assert_non_null(bin);
	snprintf(fx->tmp, sizeof(fx->tmp), "/tmp/brwtest.XXXXXX");
	assert_non_null(mkdtemp(fx->tmp));
	snprintf(path, sizeof(path), "%s/cmpd-keyworker", bin);
	snprintf(keys, sizeof(keys), "%s/keys", fx->tmp);
	snprintf(fx->url, sizeof(fx->url), "ipc://%s/kw.ipc", fx->tmp);
	snprintf(signer, sizeof(signer), "ipc://%s/signer.ipc", fx->tmp);
	assert_int_equal(uv_loop_init(&fx->loop), 0);
	assert_int_equal(worker_init(&fx->w, &fx->loop, "keyworker", fx->url,
	                     path, argv, keyworker_sends),
	    CMPD_OK);
	fx->w.up_cb = up_cb;
	fx->w.up_arg = fx;
	assert_int_equal(uv_timer_init(&fx->loop, &fx->tick), 0);
	fx->tick.data = fx;
	fx->started = uv_now(&fx->loop);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;
	char cmd[128];

	worker_fini(&fx->w);
	assert_int_equal(uv_loop_close(&fx->loop), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->tmp);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

/* Runs the loop to the end and checks every request was answered. */
static void
run_and_check(struct fx *fx)
{
	assert_int_equal(uv_timer_start(&fx->tick, tick_cb, 20, 20), 0);
	assert_int_equal(worker_start(&fx->w), CMPD_OK);
	uv_run(&fx->loop, UV_RUN_DEFAULT);
	if (fx->failed > 0)
		fail_msg("%d of %d requests failed, the first with %s",
		    fx->failed, fx->made, cmpd_strerror(fx->first_err));
	assert_int_equal(fx->made, BURST);
	assert_int_equal(fx->answered, BURST);
	assert_int_equal(fx->out_of_order, 0);
}

/* Made before the worker connects: they go out, in order, once it has. */
static void
test_burst_before_connect(void **state)
{
	struct fx *fx = *state;

	burst_make(fx);
	assert_int_equal(fx->made, BURST);
	run_and_check(fx);
}

/* Made at once while the worker is connected. */
static void
test_burst_while_connected(void **state)
{
	struct fx *fx = *state;

	fx->burst_on_up = 1;
	run_and_check(fx);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_burst_before_connect),
		T(test_burst_while_connected),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
