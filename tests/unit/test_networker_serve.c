/*
 * The broker link (networker/serve.c): a test "broker" on a pair0 socket
 * sends requests; the networker side runs on a libuv loop in this thread
 * with software keys, against the `openssl cmp -port` mock server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/pair0/pair.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "ipcwatch.h"
#include "keyid.h"
#include "log.h"
#include "serve.h"
#include "test_networker_util.h"
#include "util.h"

#define MOCK_FULL                                                   \
	"-srv_cert srv.crt -srv_key srv.key -srv_trusted root.crt " \
	"-rsp_cert rsp.crt -rsp_extracerts root.crt -rsp_capubs root.crt "

/* The key id of sup.crt's key, the protection key (keyid.h). */
static char prot_id[CMPD_KEY_ID_LEN + 1];

struct fx {
	uv_loop_t loop;
	nng_socket broker, nw;
	struct cmpd_ipc_watch watch;
	struct nw_serve *serve;
	int fatal;
	int key_fail;
	pid_t mock;
	int port;
	char url[128];
	int saves; /* the CA's answers the networker asked us to keep */
};

static char sock_dir[64];
static int sock_seq;

/* The software keys stand for the keyworker's: id -> PEM file. */
static cmpd_err
fx_key_new(void *arg, OSSL_LIB_CTX *libctx, const char *job_id,
    const Cmpd__KeyInfo *key, EVP_PKEY **out)
{
	struct fx *f = arg;

	(void)libctx;
	(void)job_id;
	if (f->key_fail)
		return CMPD_EINVAL;
	*out =
	    nwt_key_load(strcmp(key->id, prot_id) == 0 ? "sup.key" : "rsp.key");
	return *out != NULL ? CMPD_OK : CMPD_EIO;
}

static void
fx_fatal(void *arg)
{
	((struct fx *)arg)->fatal++;
}

static struct fx *
fx_new(const char *mock_args)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct nw_serve_cfg cfg;

	assert_non_null(f);
	snprintf(
	    f->url, sizeof(f->url), "ipc://%s/nw%d.ipc", sock_dir, sock_seq++);
	assert_int_equal(nng_pair0_open(&f->broker), 0);
	assert_int_equal(nng_pair0_open(&f->nw), 0);
	assert_int_equal(
	    nng_socket_set_ms(f->broker, NNG_OPT_RECVTIMEO, 10), 0);
	assert_int_equal(
	    cmpd_ipc_listen(f->broker, f->url, CMPD_IPC_MAX_WORKER, 0600), 0);
	assert_int_equal(cmpd_ipc_dial(f->nw, f->url, CMPD_IPC_MAX_WORKER), 0);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	cfg = (struct nw_serve_cfg){ &f->loop, f->nw, NULL, fx_key_new, f,
		fx_fatal, f };
	assert_int_equal(nw_serve_new(&cfg, &f->serve), CMPD_OK);
	assert_int_equal(cmpd_ipc_watch_start(&f->loop, &f->watch, f->nw,
	                     nw_serve_recv_cb, f->serve),
	    CMPD_OK);
	f->port = 1;
	if (mock_args != NULL) {
		f->port = nwt_mock_start(mock_args, &f->mock);
		assert_true(f->port > 0);
	}
	return f;
}

static void
fx_free(struct fx *f)
{
	nw_serve_stop(f->serve);
	cmpd_ipc_watch_stop(&f->watch, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(nw_serve_jobs(f->serve), 0);
	nw_serve_close(f->serve);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	nw_serve_free(f->serve);
	nng_close(f->nw);
	nng_close(f->broker);
	if (f->mock > 0)
		nwt_mock_stop(f->mock);
	free(f);
}

static void
fx_send(struct fx *f, cmpd_env *env)
{
	nng_msg *msg = NULL;

	assert_int_equal(cmpd_ipc_pack(env, &msg), CMPD_OK);
	assert_int_equal(nng_sendmsg(f->broker, msg, 0), 0);
}

/* As the broker does: an answer to keep is kept, and said so. */
static void
fx_keep(struct fx *f, const cmpd_env *req)
{
	Cmpd__Ok ok = CMPD__OK__INIT;
	cmpd_env env;

	assert_true(req->txn_save_req->message.len > 0);
	f->saves++;
	cmpd_env_init(&env, req->id);
	env.body_case = CMPD__ENVELOPE__BODY_OK;
	env.ok = &ok;
	fx_send(f, &env);
}

/*
 * Runs the loop until the broker side receives a message other than an
 * answer to keep (10 s).
 */
static cmpd_env *
fx_reply(struct fx *f)
{
	cmpd_env *env = NULL;
	nng_msg *msg;

	for (int i = 0; i < 1000; i++) {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		if (nng_recvmsg(f->broker, &msg, 0) != 0)
			continue;
		assert_int_equal(
		    cmpd_ipc_unpack(msg, CMPD_IPC_MAX_WORKER, &env), CMPD_OK);
		nng_msg_free(msg);
		if (env->body_case != CMPD__ENVELOPE__BODY_TXN_SAVE_REQ)
			return env;
		fx_keep(f, env);
		cmpd_ipc_free(env);
		i = 0;
	}
	fail_msg("no reply from the networker");
	return NULL;
}

/* Runs the loop for about ms milliseconds, expecting no reply. */
static void
fx_quiet(struct fx *f, int ms)
{
	nng_msg *msg;

	for (int i = 0; i < ms / 10; i++) {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		if (nng_recvmsg(f->broker, &msg, 0) == 0)
			fail_msg("unexpected reply");
	}
}

/* The KeyInfo of a certificate's key, named as the keyworker names it. */
static Cmpd__KeyInfo *
key_info_new(const char *cert)
{
	Cmpd__KeyInfo *k = malloc(sizeof(*k));
	X509 *x = nwt_cert_load(cert);
	char id[CMPD_KEY_ID_LEN + 1];

	cmpd__key_info__init(k);
	k->type = CMPD__KEY_TYPE__KEY_EC_P256;
	k->spki.len =
	    (size_t)i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &k->spki.data);
	X509_free(x);
	assert_int_equal(
	    cmpd_key_id_from_spki(k->spki.data, k->spki.len, id), CMPD_OK);
	k->id = strdup(id);
	return k;
}

static Cmpd__TxnStartReq *
start_req_new(struct fx *f)
{
	Cmpd__TxnStartReq *r = nwt_req_new(f->port);

	r->protection_key = key_info_new("sup.crt");
	r->new_key = key_info_new("rsp.crt");
	snprintf(prot_id, sizeof(prot_id), "%s", r->protection_key->id);
	return r;
}

static void
send_start(struct fx *f, Cmpd__TxnStartReq *r, uint64_t id)
{
	cmpd_env env;

	cmpd_env_init(&env, id);
	env.body_case = CMPD__ENVELOPE__BODY_TXN_START_REQ;
	env.txn_start_req = r;
	fx_send(f, &env);
}

static void
send_job_msg(
    struct fx *f, Cmpd__Envelope__BodyCase body, const char *job, uint64_t id)
{
	Cmpd__TxnContinueReq c = CMPD__TXN_CONTINUE_REQ__INIT;
	Cmpd__TxnAbortReq a = CMPD__TXN_ABORT_REQ__INIT;
	cmpd_env env;

	cmpd_env_init(&env, id);
	env.body_case = body;
	c.job_id = a.job_id = (char *)job;
	if (body == CMPD__ENVELOPE__BODY_TXN_CONTINUE_REQ)
		env.txn_continue_req = &c;
	else
		env.txn_abort_req = &a;
	fx_send(f, &env);
}

/* Checks that env is the TxnRep answering id, and returns it. */
static const Cmpd__TxnRep *
rep_check(const cmpd_env *env, uint64_t id, Cmpd__TxnResult result)
{
	assert_int_equal(env->id, id);
	assert_int_equal(env->body_case, CMPD__ENVELOPE__BODY_TXN_REP);
	assert_string_equal(env->txn_rep->job_id, "0123456789abcdef");
	if (env->txn_rep->result != result)
		fail_msg("result %d (%s)", env->txn_rep->result,
		    env->txn_rep->error_text);
	return env->txn_rep;
}

static void
test_start_done(void **state)
{
	struct fx *f = fx_new(MOCK_FULL "-max_msgs 2");
	Cmpd__TxnStartReq *r = start_req_new(f);
	ProtobufCBinaryData rsp = nwt_der_load("rsp.crt");
	ProtobufCBinaryData root = nwt_der_load("root.crt");
	const Cmpd__TxnRep *rep;
	cmpd_env *env;

	(void)state;
	send_start(f, r, 41);
	env = fx_reply(f);
	rep = rep_check(env, 41, CMPD__TXN_RESULT__TXN_DONE);
	assert_int_equal(rep->cert.len, rsp.len);
	assert_memory_equal(rep->cert.data, rsp.data, rsp.len);
	assert_int_equal(rep->n_chain, 1);
	assert_memory_equal(rep->chain[0].data, root.data, root.len);
	assert_int_equal(rep->n_ca_pubs, 1);
	assert_int_equal(rep->pki->status, 0);
	/* The ip before the certConf went out, the pkiconf before done. */
	assert_int_equal(f->saves, 2);
	assert_int_equal(nw_serve_jobs(f->serve), 0);
	assert_int_equal(f->fatal, 0);
	cmpd_ipc_free(env);
	free(rsp.data);
	free(root.data);
	nwt_req_free(r);
	fx_free(f);
}

static void
test_polling_continue(void **state)
{
	struct fx *f = fx_new(MOCK_FULL "-poll_count 2 -check_after 1 "
	                                "-max_msgs 4");
	Cmpd__TxnStartReq *r = start_req_new(f);
	cmpd_env *env;

	(void)state;
	send_start(f, r, 5);
	env = fx_reply(f);
	assert_int_equal(
	    rep_check(env, 5, CMPD__TXN_RESULT__TXN_WAITING)->check_after, 1);
	cmpd_ipc_free(env);
	assert_int_equal(f->saves, 2); /* ip "waiting", pollRep */
	assert_int_equal(nw_serve_jobs(f->serve), 1);
	sleep(1);
	send_job_msg(
	    f, CMPD__ENVELOPE__BODY_TXN_CONTINUE_REQ, "0123456789abcdef", 6);
	env = fx_reply(f);
	rep_check(env, 6, CMPD__TXN_RESULT__TXN_DONE);
	assert_int_equal(nw_serve_jobs(f->serve), 0);
	cmpd_ipc_free(env);
	nwt_req_free(r);
	fx_free(f);
}

static void
test_abort_waiting(void **state)
{
	struct fx *f = fx_new(MOCK_FULL "-poll_count 5 -check_after 1");
	Cmpd__TxnStartReq *r = start_req_new(f);
	cmpd_env *env;

	(void)state;
	send_start(f, r, 5);
	env = fx_reply(f);
	rep_check(env, 5, CMPD__TXN_RESULT__TXN_WAITING);
	cmpd_ipc_free(env);
	send_job_msg(
	    f, CMPD__ENVELOPE__BODY_TXN_ABORT_REQ, "0123456789abcdef", 9);
	env = fx_reply(f);
	assert_int_equal(env->id, 9);
	assert_int_equal(env->body_case, CMPD__ENVELOPE__BODY_OK);
	cmpd_ipc_free(env);
	/* The CA hears of it; then the job is gone. */
	for (int i = 0; i < 500 && nw_serve_jobs(f->serve) > 0; i++) {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		usleep(10000);
	}
	assert_int_equal(nw_serve_jobs(f->serve), 0);
	assert_true(nwt_mock_log_has("received error"));
	nwt_req_free(r);
	fx_free(f);
}

static void
test_unknown_jobs(void **state)
{
	struct fx *f = fx_new(NULL);
	cmpd_env *env;

	(void)state;
	send_job_msg(
	    f, CMPD__ENVELOPE__BODY_TXN_CONTINUE_REQ, "0123456789abcdef", 3);
	env = fx_reply(f);
	assert_int_equal(rep_check(env, 3, CMPD__TXN_RESULT__TXN_FAILED)->error,
	    CMPD__ERROR_CODE__ERR_NOT_FOUND);
	cmpd_ipc_free(env);
	send_job_msg(
	    f, CMPD__ENVELOPE__BODY_TXN_ABORT_REQ, "0123456789abcdef", 4);
	env = fx_reply(f);
	assert_int_equal(env->id, 4);
	assert_int_equal(env->body_case, CMPD__ENVELOPE__BODY_OK);
	cmpd_ipc_free(env);
	assert_int_equal(f->fatal, 0);
	fx_free(f);
}

/*
 * Replies the link cannot take at once (the broker reads late) wait and
 * go out in order; none is lost.
 */
static void
test_replies_kept_in_order(void **state)
{
	struct fx *f = fx_new(NULL);
	cmpd_env *env;

	(void)state;
	/* Aborts get Ok, continues of unknown jobs a failed TxnRep. */
	for (uint64_t id = 100; id < 150; id++)
		send_job_msg(f,
		    id % 2 ? CMPD__ENVELOPE__BODY_TXN_ABORT_REQ
		           : CMPD__ENVELOPE__BODY_TXN_CONTINUE_REQ,
		    "0123456789abcdef", id);
	for (int i = 0; i < 20; i++)
		uv_run(&f->loop, UV_RUN_NOWAIT);
	for (uint64_t id = 100; id < 150; id++) {
		env = fx_reply(f);
		assert_int_equal(env->id, id);
		assert_int_equal(env->body_case,
		    id % 2 ? CMPD__ENVELOPE__BODY_OK
		           : CMPD__ENVELOPE__BODY_TXN_REP);
		cmpd_ipc_free(env);
	}
	fx_free(f);
}

/* Requests that are well-formed but cannot run fail the job only. */
static void
test_start_fails_job(void **state)
{
	struct fx *f = fx_new(NULL);
	Cmpd__TxnStartReq *r = start_req_new(f);
	const Cmpd__TxnRep *rep;
	cmpd_env *env;

	(void)state;
	free(r->server_url);
	r->server_url = strdup("https://ca.example/pkix/");
	send_start(f, r, 11);
	env = fx_reply(f);
	rep = rep_check(env, 11, CMPD__TXN_RESULT__TXN_FAILED);
	assert_int_equal(rep->error, CMPD__ERROR_CODE__ERR_INVALID);
	assert_non_null(strstr(rep->error_text, "needs TLS trust anchors"));
	cmpd_ipc_free(env);
	f->key_fail = 1;
	send_start(f, r, 12);
	env = fx_reply(f);
	rep = rep_check(env, 12, CMPD__TXN_RESULT__TXN_FAILED);
	assert_non_null(strstr(rep->error_text, "keyworker's keys"));
	cmpd_ipc_free(env);
	assert_int_equal(nw_serve_jobs(f->serve), 0);
	assert_int_equal(f->fatal, 0);
	nwt_req_free(r);
	fx_free(f);
}

/* A start request broken in one way; the networker must give up. */
static void
violation_check(void (*breaker)(Cmpd__TxnStartReq *))
{
	struct fx *f = fx_new(NULL);
	Cmpd__TxnStartReq *r = start_req_new(f);

	breaker(r);
	send_start(f, r, 1);
	fx_quiet(f, 100);
	assert_int_equal(f->fatal, 1);
	/* Nothing more is served after a violation. */
	send_job_msg(
	    f, CMPD__ENVELOPE__BODY_TXN_ABORT_REQ, "0123456789abcdef", 2);
	fx_quiet(f, 100);
	nwt_req_free(r);
	fx_free(f);
}

static void
break_job_id(Cmpd__TxnStartReq *r)
{
	r->job_id[3] = 'X';
}

static void
break_tid(Cmpd__TxnStartReq *r)
{
	r->transaction_id.len = 15;
}

static void
break_op(Cmpd__TxnStartReq *r)
{
	r->op = CMPD__CMP_OP__CMP_OP_UNSPECIFIED;
}

static void
break_url(Cmpd__TxnStartReq *r)
{
	r->server_url[0] = '\0';
}

static void
break_two_protections(Cmpd__TxnStartReq *r)
{
	nwt_req_mac_set(r, "secret", "ref");
}

static void
break_no_cert(Cmpd__TxnStartReq *r)
{
	nwt_req_certs_set(
	    &r->protection_certs, &r->n_protection_certs, NULL, 0);
}

static void
break_new_key(Cmpd__TxnStartReq *r)
{
	r->new_key->id[0] = 'Z';
}

/* A key id that is not its SPKI's. */
static void
break_key_id(Cmpd__TxnStartReq *r)
{
	r->protection_key->id[0] = r->protection_key->id[0] == 'a' ? 'b' : 'a';
}

static void
break_kur_no_old_cert(Cmpd__TxnStartReq *r)
{
	r->op = CMPD__CMP_OP__CMP_OP_KUR;
}

/* KUR's old certificate must be the one that protects it. */
static void
break_kur_other_cert(Cmpd__TxnStartReq *r)
{
	r->op = CMPD__CMP_OP__CMP_OP_KUR;
	r->old_cert = nwt_der_load("rsp.crt");
}

static void
break_rr_reason(Cmpd__TxnStartReq *r)
{
	r->op = CMPD__CMP_OP__CMP_OP_RR;
	r->old_cert = nwt_der_load("rsp.crt");
	r->revocation_reason = 7; /* unused in CRLReason */
}

static void
break_genm_type(Cmpd__TxnStartReq *r)
{
	r->op = CMPD__CMP_OP__CMP_OP_GENM;
	r->genm_type = CMPD__GENM_TYPE__GENM_TYPE_UNSPECIFIED;
}

static void
break_p10cr_flag(Cmpd__TxnStartReq *r)
{
	r->p10cr = 1;
}

static void
break_rr_reason_low(Cmpd__TxnStartReq *r)
{
	r->op = CMPD__CMP_OP__CMP_OP_RR;
	r->old_cert = nwt_der_load("rsp.crt");
	r->revocation_reason = -2;
}

/* An https CA: a TLS client key without its certificate. */
static void
break_tls_key_alone(Cmpd__TxnStartReq *r)
{
	free(r->server_url);
	r->server_url = strdup("https://127.0.0.1:1/pkix/");
	r->tls_key = key_info_new("rsp.crt");
}

static void
test_violations(void **state)
{
	(void)state;
	violation_check(break_job_id);
	violation_check(break_tid);
	violation_check(break_op);
	violation_check(break_url);
	violation_check(break_two_protections);
	violation_check(break_no_cert);
	violation_check(break_new_key);
	violation_check(break_key_id);
	violation_check(break_kur_no_old_cert);
	violation_check(break_kur_other_cert);
	violation_check(break_rr_reason);
	violation_check(break_genm_type);
	violation_check(break_p10cr_flag);
	violation_check(break_rr_reason_low);
	violation_check(break_tls_key_alone);
}

/* A GENM's answer reaches the broker as the TxnRep's GenmResult. */
static void
test_genm_result(void **state)
{
	struct fx *f = fx_new(MOCK_FULL "-max_msgs 1");
	Cmpd__TxnStartReq *r = start_req_new(f);
	const Cmpd__TxnRep *rep;
	cmpd_env *env;

	(void)state;
	r->op = CMPD__CMP_OP__CMP_OP_GENM;
	r->genm_type = CMPD__GENM_TYPE__GENM_CA_CERTS;
	send_start(f, r, 51);
	env = fx_reply(f);
	rep = rep_check(env, 51, CMPD__TXN_RESULT__TXN_DONE);
	assert_non_null(rep->genm);
	assert_int_equal(rep->genm->type, CMPD__GENM_TYPE__GENM_CA_CERTS);
	assert_true(rep->genm->empty);
	assert_int_equal(rep->genm->n_ca_certs, 0);
	assert_int_equal(rep->cert.len, 0);
	cmpd_ipc_free(env);
	nwt_req_free(r);
	fx_free(f);
}

/* A message not in the table, and bytes that do not decode. */
static void
test_violation_unexpected(void **state)
{
	Cmpd__SignReq sr = CMPD__SIGN_REQ__INIT;
	struct fx *f = fx_new(NULL);
	nng_msg *msg = NULL;
	cmpd_env env;

	(void)state;
	cmpd_env_init(&env, 1);
	env.body_case = CMPD__ENVELOPE__BODY_SIGN_REQ;
	env.sign_req = &sr;
	fx_send(f, &env);
	fx_quiet(f, 100);
	assert_int_equal(f->fatal, 1);
	fx_free(f);

	f = fx_new(NULL);
	assert_int_equal(nng_msg_alloc(&msg, 0), 0);
	assert_int_equal(nng_msg_append(msg, "\xff\xff\xff\xff", 4), 0);
	assert_int_equal(nng_sendmsg(f->broker, msg, 0), 0);
	fx_quiet(f, 100);
	assert_int_equal(f->fatal, 1);
	fx_free(f);
}

/* A second start for a job that runs, or a continue while it runs. */
static void
test_violation_state(void **state)
{
	struct fx *f = fx_new(MOCK_FULL "-poll_count 5 -check_after 1");
	Cmpd__TxnStartReq *r = start_req_new(f);
	cmpd_env *env;

	(void)state;
	send_start(f, r, 5);
	env = fx_reply(f);
	rep_check(env, 5, CMPD__TXN_RESULT__TXN_WAITING);
	cmpd_ipc_free(env);
	send_start(f, r, 6);
	fx_quiet(f, 100);
	assert_int_equal(f->fatal, 1);
	nwt_req_free(r);
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_done),
		cmocka_unit_test(test_polling_continue),
		cmocka_unit_test(test_abort_waiting),
		cmocka_unit_test(test_unknown_jobs),
		cmocka_unit_test(test_replies_kept_in_order),
		cmocka_unit_test(test_start_fails_job),
		cmocka_unit_test(test_violations),
		cmocka_unit_test(test_genm_result),
		cmocka_unit_test(test_violation_unexpected),
		cmocka_unit_test(test_violation_state),
	};
	int rv;

	cmpd_log_init("test_networker_serve", CMPD_LOG_DEBUG);
	nwt_netns_enter();
	strcpy(sock_dir, "/tmp/cmpd-nwserve.XXXXXX");
	if (mkdtemp(sock_dir) == NULL || nwt_pki_make() == NULL)
		return 1;
	rv = cmocka_run_group_tests(tests, NULL, NULL);
	nwt_pki_remove();
	for (int i = 0; i < sock_seq; i++) {
		char p[128];

		snprintf(p, sizeof(p), "%s/nw%d.ipc", sock_dir, i);
		unlink(p);
	}
	rmdir(sock_dir);
	return rv;
}
