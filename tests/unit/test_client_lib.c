/*
 * libcmpd-client's connection to cmpd, against a canned responder: how it
 * finds the socket, how it reads errors and broken, late or oversized
 * replies, that a request is never sent twice, and that clients in
 * several threads do not mix their answers.
 */
/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <cmpd/client.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test_client_resp.h"

static struct resp resp;
static cmpd_client *cl;

static int
setup(void **state)
{
	(void)state;
	cl = NULL;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	cmpd_client_close(cl);
	cl = NULL;
	resp_stop(&resp);
	return 0;
}

static void
start(resp_fn fn, void *arg)
{
	assert_int_equal(resp_start(&resp, fn, arg), 0);
	assert_int_equal(cmpd_client_open(resp.path, &cl), CMPD_RESULT_OK);
}

/* ------------------------------------------------------------------ */

static void
test_open_unreachable(void **state)
{
	cmpd_client *c = NULL;

	(void)state;
	assert_int_equal(cmpd_client_open("/nonexistent/dir/cmpd.sock", &c),
	    CMPD_RESULT_UNAVAILABLE);
	assert_null(c);
	assert_non_null(
	    strstr(cmpd_client_last_error(NULL), "/nonexistent/dir/cmpd.sock"));
	/* Nothing to talk to: the test needs no responder. */
	assert_int_equal(resp_start(&resp, NULL, NULL), 0);
}

/* A NULL path means $CMPD_SOCKET. */
static void
test_open_env(void **state)
{
	struct tjob t;
	cmpd_job *job = NULL;

	(void)state;
	tjob_init(&t, "00000000000000aa", CMPD__JOB_STATE__JOB_QUEUED);
	assert_int_equal(resp_start(&resp, resp_job_cb, &t.job), 0);
	setenv("CMPD_SOCKET", resp.path, 1);
	assert_int_equal(cmpd_client_open(NULL, &cl), CMPD_RESULT_OK);
	unsetenv("CMPD_SOCKET");
	assert_int_equal(
	    cmpd_job_get(cl, "00000000000000aa", &job), CMPD_RESULT_OK);
	assert_string_equal(cmpd_job_id(job), "00000000000000aa");
	assert_int_equal(resp_count(&resp), 1);
	assert_string_equal(
	    resp_req(&resp, 0)->job_get_req->job_id, "00000000000000aa");
	assert_int_equal(resp_req(&resp, 0)->job_get_req->wait_ms, 0);
	cmpd_job_free(job);
}

/* Replies to every request with the Error in arg. */
static void
reply_error_cb(struct resp *r, const cmpd_env *req, nng_msg *raw, void *arg)
{
	const Cmpd__Error *e = arg;

	resp_reply_error(r, raw, req->id, e->code, e->message);
}

/* Every Error code becomes the same cmpd_result, with cmpd's text. */
static void
test_error_replies(void **state)
{
	Cmpd__Error e = CMPD__ERROR__INIT;
	cmpd_job *job = NULL;
	char text[64];

	(void)state;
	start(reply_error_cb, &e);
	for (int code = 1; code < CMPD_RESULT_MAX; code++) {
		snprintf(text, sizeof(text), "broker says %d", code);
		e.code = (Cmpd__ErrorCode)code;
		e.message = text;
		assert_int_equal(
		    cmpd_job_get(cl, "0123456789abcdef", &job), code);
		assert_null(job);
		assert_string_equal(cmpd_client_last_error(cl), text);
	}
	/* An Error without text shows the code's own sentence. */
	e.code = CMPD__ERROR_CODE__ERR_DENIED;
	e.message = "";
	assert_int_equal(
	    cmpd_enroll(cl, "web", NULL, &job), CMPD_RESULT_DENIED);
	assert_string_equal(
	    cmpd_client_last_error(cl), cmpd_result_str(CMPD_RESULT_DENIED));
	/* "Error: success" is no answer. */
	e.code = CMPD__ERROR_CODE__ERR_OK;
	assert_int_equal(
	    cmpd_job_get(cl, "0123456789abcdef", &job), CMPD_RESULT_PROTOCOL);
	assert_null(job);
}

enum bad_kind { BAD_BODY, BAD_JUNK, BAD_ID, BAD_VERSION, BAD_JOB_ID };

static void
reply_bad_cb(struct resp *r, const cmpd_env *req, nng_msg *raw, void *arg)
{
	Cmpd__JobRep rep = CMPD__JOB_REP__INIT;
	struct tjob t;
	cmpd_env env;

	tjob_init(&t, "0123456789abcdef", CMPD__JOB_STATE__JOB_QUEUED);
	cmpd_env_init(&env, req->id);
	rep.job = &t.job;
	env.body_case = CMPD__ENVELOPE__BODY_JOB_REP;
	env.job_rep = &rep;
	switch (*(enum bad_kind *)arg) {
	case BAD_BODY:
		cmpd_ipc_send_ok(r->sock, req->id, raw);
		return;
	case BAD_JUNK:
		resp_reply_junk(r, raw, 100);
		return;
	case BAD_ID:
		resp_reply(r, raw, req->id + 7, &env);
		return;
	case BAD_VERSION:
		env.version = 99;
		cmpd_ipc_send(r->sock, &env, raw);
		return;
	case BAD_JOB_ID:
		t.job.id = "../../etc";
		resp_reply(r, raw, req->id, &env);
		return;
	}
}

/* Replies that are not the answer asked for are refused. */
static void
test_bad_replies(void **state)
{
	enum bad_kind kind;
	cmpd_job *job = NULL;

	(void)state;
	start(reply_bad_cb, &kind);
	for (kind = BAD_BODY; kind <= BAD_JOB_ID; kind++) {
		assert_int_equal(cmpd_job_get(cl, "0123456789abcdef", &job),
		    CMPD_RESULT_PROTOCOL);
		assert_null(job);
		assert_true(cmpd_client_last_error(cl)[0] != '\0');
	}
	assert_int_equal(resp_count(&resp), BAD_JOB_ID + 1);
}

static void
reply_huge_cb(struct resp *r, const cmpd_env *req, nng_msg *raw, void *arg)
{
	int *n = arg;

	if ((*n)++ == 0)
		resp_reply_junk(r, raw, CMPD_IPC_MAX_CLIENT_REP + 1);
	else
		cmpd_ipc_send_error(
		    r->sock, req->id, CMPD_ENOENT, "no job", raw);
}

/*
 * A reply over the client's limit is refused by the transport before it
 * is read; the call fails, and the client works again afterwards.
 */
static void
test_oversized_reply(void **state)
{
	cmpd_job *job = NULL;
	int n = 0;

	(void)state;
	start(reply_huge_cb, &n);
	assert_int_equal(cmpd_job_get(cl, "0123456789abcdef", &job),
	    CMPD_RESULT_UNAVAILABLE);
	assert_null(job);
	assert_non_null(strstr(cmpd_client_last_error(cl), "over"));
	assert_int_equal(
	    cmpd_job_get(cl, "0123456789abcdef", &job), CMPD_RESULT_NOT_FOUND);
	assert_int_equal(resp_count(&resp), 2);
}

static void
reply_drop_first_cb(
    struct resp *r, const cmpd_env *req, nng_msg *raw, void *arg)
{
	int *n = arg;

	if ((*n)++ == 0)
		resp_close_pipe(raw);
	else
		cmpd_ipc_send_error(
		    r->sock, req->id, CMPD_ENOENT, "no job", raw);
}

/*
 * A connection that breaks under a request fails the call; req0 must not
 * send the request again when it reconnects (that could enroll twice).
 */
static void
test_no_resend_after_disconnect(void **state)
{
	cmpd_job *job = NULL;
	int n = 0;

	(void)state;
	start(reply_drop_first_cb, &n);
	assert_int_equal(
	    cmpd_enroll(cl, "web", NULL, &job), CMPD_RESULT_UNAVAILABLE);
	assert_null(job);
	assert_non_null(strstr(cmpd_client_last_error(cl), "broke"));
	/* Long enough for nng to reconnect (100 ms) and resend, if it did. */
	usleep(600000);
	assert_int_equal(resp_count(&resp), 1);
	assert_int_equal(
	    cmpd_job_get(cl, "0123456789abcdef", &job), CMPD_RESULT_NOT_FOUND);
	assert_int_equal(resp_count(&resp), 2);
}

struct held {
	nng_msg *raw;
	uint64_t id;
};

/* Holds the first request; answers it late, just before the second. */
static void
reply_late_cb(struct resp *r, const cmpd_env *req, nng_msg *raw, void *arg)
{
	struct held *h = arg;
	struct tjob stale, fresh;

	if (h->raw == NULL) {
		nng_msg_dup(&h->raw, raw);
		h->id = req->id;
		return;
	}
	tjob_init(&stale, "000000000000dead", CMPD__JOB_STATE__JOB_DONE);
	resp_reply_job(r, h->raw, h->id, &stale.job);
	tjob_init(
	    &fresh, req->job_get_req->job_id, CMPD__JOB_STATE__JOB_QUEUED);
	resp_reply_job(r, raw, req->id, &fresh.job);
}

/* A reply that comes after its request timed out is never taken. */
static void
test_late_reply_ignored(void **state)
{
	struct held h = { 0 };
	cmpd_job *job = NULL;
	uint64_t t0 = test_now_ms();

	(void)state;
	start(reply_late_cb, &h);
	assert_int_equal(cmpd_client_set_timeout(cl, 300), CMPD_RESULT_OK);
	assert_int_equal(cmpd_job_get(cl, "000000000000dead", &job),
	    CMPD_RESULT_UNAVAILABLE);
	assert_true(test_now_ms() - t0 < 10000);
	assert_non_null(strstr(cmpd_client_last_error(cl), "did not answer"));
	assert_int_equal(
	    cmpd_job_get(cl, "0000000000000002", &job), CMPD_RESULT_OK);
	assert_string_equal(cmpd_job_id(job), "0000000000000002");
	assert_int_equal(cmpd_job_state_get(job), CMPD_JOB_STATE_QUEUED);
	cmpd_job_free(job);
	nng_msg_free(h.raw);
}

#define THREADS 4
#define CALLS   25

struct thread_run {
	const char *path;
	int ok;
};

/* Each thread its own client: answers never cross between them. */
static void *
thread_main(void *arg)
{
	struct thread_run *t = arg;
	cmpd_client *c = NULL;
	char id[17];

	if (cmpd_client_open(t->path, &c) != CMPD_RESULT_OK)
		return NULL;
	for (int i = 0; i < CALLS; i++) {
		cmpd_job *job = NULL;

		snprintf(id, sizeof(id), "%08x%08x", (unsigned)(uintptr_t)t,
		    (unsigned)i);
		if (cmpd_job_get(c, id, &job) == CMPD_RESULT_OK &&
		    strcmp(cmpd_job_id(job), id) == 0)
			t->ok++;
		cmpd_job_free(job);
	}
	cmpd_client_close(c);
	return NULL;
}

/* Echoes the job id asked for. */
static void
reply_echo_cb(struct resp *r, const cmpd_env *req, nng_msg *raw, void *arg)
{
	struct tjob t;

	(void)arg;
	tjob_init(&t, req->job_get_req->job_id, CMPD__JOB_STATE__JOB_QUEUED);
	resp_reply_job(r, raw, req->id, &t.job);
}

static void
test_threads(void **state)
{
	struct thread_run runs[THREADS];
	pthread_t th[THREADS];

	(void)state;
	assert_int_equal(resp_start(&resp, reply_echo_cb, NULL), 0);
	for (int i = 0; i < THREADS; i++) {
		runs[i] = (struct thread_run){ resp.path, 0 };
		assert_int_equal(
		    pthread_create(&th[i], NULL, thread_main, &runs[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(runs[i].ok, CALLS);
	}
	assert_int_equal(resp_count(&resp), THREADS * CALLS);
}

/* Three pages: two records after 0, one after 2, none after 3. */
static void
reply_pages_cb(struct resp *r, const cmpd_env *req, nng_msg *raw, void *arg)
{
	static char *ids[] = { "c1", "c2", "c3" };
	static uint8_t der[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
	int64_t after = req->cert_list_req->after;
	size_t from = after == 0 ? 0 : after == 2 ? 2 : 3;
	size_t n = after == 0 ? 2 : after == 2 ? 1 : 0;
	Cmpd__CertRecord recs[2], *ptrs[2];
	Cmpd__CertListRep rep = CMPD__CERT_LIST_REP__INIT;
	cmpd_env env;

	(void)arg;
	for (size_t i = 0; i < n; i++) {
		cmpd__cert_record__init(&recs[i]);
		recs[i].id = ids[from + i];
		recs[i].cert.data = der;
		recs[i].cert.len = sizeof(der);
		ptrs[i] = &recs[i];
	}
	rep.certs = ptrs;
	rep.n_certs = n;
	rep.next = n > 0 ? (int64_t)(from + n) : 0;
	cmpd_env_init(&env, req->id);
	env.body_case = CMPD__ENVELOPE__BODY_CERT_LIST_REP;
	env.cert_list_rep = &rep;
	resp_reply(r, raw, req->id, &env);
}

/* A list comes a page at a time, asked for from where the last ended. */
static void
test_cert_list_pages(void **state)
{
	cmpd_cert_array *certs = NULL;

	(void)state;
	assert_int_equal(resp_start(&resp, reply_pages_cb, NULL), 0);
	assert_int_equal(cmpd_client_open(resp.path, &cl), CMPD_RESULT_OK);
	assert_int_equal(cmpd_cert_list(cl, NULL, &certs), CMPD_RESULT_OK);
	assert_int_equal(cmpd_cert_array_count(certs), 3);
	assert_string_equal(cmpd_cert_id(cmpd_cert_array_get(certs, 0)), "c1");
	assert_string_equal(cmpd_cert_id(cmpd_cert_array_get(certs, 2)), "c3");
	assert_non_null(strstr(
	    cmpd_cert_pem(cmpd_cert_array_get(certs, 1)), "BEGIN CERTIFICATE"));
	assert_null(cmpd_cert_array_get(certs, 3));
	assert_int_equal(resp_count(&resp), 3);
	assert_int_equal(resp_req(&resp, 0)->cert_list_req->after, 0);
	assert_true(resp_req(&resp, 0)->cert_list_req->limit > 0);
	assert_int_equal(resp_req(&resp, 1)->cert_list_req->after, 2);
	assert_int_equal(resp_req(&resp, 2)->cert_list_req->after, 3);
	cmpd_cert_array_free(certs);
}

static void
test_result_names(void **state)
{
	(void)state;
	assert_int_equal(resp_start(&resp, NULL, NULL), 0);
	assert_string_equal(cmpd_result_name(CMPD_RESULT_OK), "ok");
	assert_string_equal(
	    cmpd_result_name(CMPD_RESULT_NOT_FOUND), "not_found");
	assert_string_equal(cmpd_result_name(CMPD_RESULT_REFUSED), "refused");
	assert_string_equal(cmpd_result_name(CMPD_RESULT_MAX), "unknown");
	assert_string_equal(
	    cmpd_result_str(CMPD_RESULT_REFUSED), "refused by the CA");
	assert_string_equal(cmpd_result_str((cmpd_result)99), "unknown error");
	for (int r = 0; r < CMPD_RESULT_MAX; r++) {
		assert_true(strlen(cmpd_result_name((cmpd_result)r)) > 1);
		assert_null(strchr(cmpd_result_name((cmpd_result)r), ' '));
	}
	assert_string_equal(
	    cmpd_job_state_name(CMPD_JOB_STATE_WAITING), "waiting");
	assert_string_equal(cmpd_job_state_name(CMPD_JOB_STATE_MAX), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_open_unreachable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_env, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_error_replies, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_bad_replies, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_oversized_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_no_resend_after_disconnect, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_late_reply_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_cert_list_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_result_names, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
