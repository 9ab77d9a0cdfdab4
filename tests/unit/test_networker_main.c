/*
 * The cmpd-networker process itself: started with a stand-in broker (a
 * pair0 listener) and a stand-in keyworker (a rep0 listener that signs
 * with software keys), it runs an IR through the remote-key provider
 * against the `openssl cmp -port` mock, and ends as its contract says:
 * 0 on SIGTERM or when the broker link goes, 1 on a protocol violation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/pair0/pair.h>
#include <nng/protocol/reqrep0/rep.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc.h"
#include "keyid.h"
#include "log.h"
#include "test_networker_util.h"

#define MOCK_FULL                                                   \
	"-srv_cert srv.crt -srv_key srv.key -srv_trusted root.crt " \
	"-rsp_cert rsp.crt -rsp_extracerts root.crt -rsp_capubs root.crt "

static char dir[64], broker_url[128], signer_url[128];

/* The stand-in keyworker: signs whatever it is asked, by key id. */
static struct {
	nng_socket rep;
	pthread_t thread;
	atomic_int stop;
	atomic_int signed_count;
	char prot_id[CMPD_KEY_ID_LEN + 1], new_id[CMPD_KEY_ID_LEN + 1];
} kw;

static int
kw_sign(const Cmpd__SignReq *q, uint8_t *sig, size_t *len)
{
	const char *file = strcmp(q->key_id, kw.prot_id) == 0 ? "sup.key"
	    : strcmp(q->key_id, kw.new_id) == 0               ? "rsp.key"
	                                                      : NULL;
	EVP_PKEY *key = file != NULL ? nwt_key_load(file) : NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok;

	ok = key != NULL && md != NULL &&
	    EVP_DigestSignInit_ex(md, NULL, q->digest[0] ? q->digest : NULL,
	        NULL, NULL, key, NULL) == 1 &&
	    EVP_DigestSign(md, sig, len, q->tbs.data, q->tbs.len) == 1;
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	return ok;
}

static void
kw_answer(const cmpd_env *req)
{
	Cmpd__SignRep sr = CMPD__SIGN_REP__INIT;
	uint8_t sig[1024];
	size_t len = sizeof(sig);
	nng_msg *msg = NULL;
	cmpd_env rep;

	cmpd_env_init(&rep, req->id);
	if (!kw_sign(req->sign_req, sig, &len))
		return;
	sr.signature.data = sig;
	sr.signature.len = len;
	rep.body_case = CMPD__ENVELOPE__BODY_SIGN_REP;
	rep.sign_rep = &sr;
	if (cmpd_ipc_pack(&rep, &msg) == CMPD_OK &&
	    nng_sendmsg(kw.rep, msg, 0) != 0)
		nng_msg_free(msg);
	atomic_fetch_add(&kw.signed_count, 1);
}

static void *
kw_main(void *arg)
{
	cmpd_env *env;
	nng_msg *msg;

	(void)arg;
	while (!atomic_load(&kw.stop)) {
		if (nng_recvmsg(kw.rep, &msg, 0) != 0)
			continue;
		if (cmpd_ipc_unpack(msg, CMPD_IPC_MAX_SIGN, &env) == CMPD_OK) {
			if (env->body_case == CMPD__ENVELOPE__BODY_SIGN_REQ)
				kw_answer(env);
			cmpd_ipc_free(env);
		}
		nng_msg_free(msg);
	}
	return NULL;
}

struct proc {
	pid_t pid;
	nng_socket broker;
};

static void
proc_start(struct proc *p)
{
	char bin[512];
	const char *bindir = getenv("CMPD_BIN_DIR");

	snprintf(bin, sizeof(bin), "%s/cmpd-networker",
	    bindir != NULL ? bindir : "bin");
	assert_int_equal(nng_pair0_open(&p->broker), 0);
	assert_int_equal(
	    nng_socket_set_ms(p->broker, NNG_OPT_RECVTIMEO, 15000), 0);
	assert_int_equal(
	    cmpd_ipc_listen(p->broker, broker_url, CMPD_IPC_MAX_WORKER, 0600),
	    0);
	p->pid = fork();
	assert_true(p->pid >= 0);
	if (p->pid == 0) {
		execl(bin, "cmpd-networker", "--broker", broker_url, "--signer",
		    signer_url, "--log-level", "debug", "--threads", "4",
		    (char *)NULL);
		_exit(127);
	}
}

/* Waits for the process (10 s) and returns its exit status. */
static int
proc_wait(struct proc *p)
{
	int status = 0;

	for (int i = 0; i < 1000; i++) {
		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			nng_close(p->broker);
			if (!WIFEXITED(status))
				fail_msg("networker died: status %#x", status);
			return WEXITSTATUS(status);
		}
		usleep(10000);
	}
	kill(p->pid, SIGKILL);
	waitpid(p->pid, &status, 0);
	fail_msg("networker did not exit");
	return -1;
}

static Cmpd__KeyInfo *
key_info_new(const char *cert, char *id_out)
{
	Cmpd__KeyInfo *k = malloc(sizeof(*k));
	X509 *x = nwt_cert_load(cert);

	cmpd__key_info__init(k);
	k->type = CMPD__KEY_TYPE__KEY_EC_P256;
	k->spki.len =
	    (size_t)i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &k->spki.data);
	X509_free(x);
	assert_int_equal(
	    cmpd_key_id_from_spki(k->spki.data, k->spki.len, id_out), CMPD_OK);
	k->id = strdup(id_out);
	return k;
}

static void
broker_send(struct proc *p, const cmpd_env *env)
{
	nng_msg *msg = NULL;

	assert_int_equal(cmpd_ipc_pack(env, &msg), CMPD_OK);
	assert_int_equal(nng_sendmsg(p->broker, msg, 0), 0);
}

/* The next message other than an answer to keep, which is kept. */
static cmpd_env *
broker_recv(struct proc *p)
{
	Cmpd__Ok ok = CMPD__OK__INIT;
	cmpd_env *env = NULL, rep;
	nng_msg *msg;

	for (;;) {
		assert_int_equal(nng_recvmsg(p->broker, &msg, 0), 0);
		assert_int_equal(
		    cmpd_ipc_unpack(msg, CMPD_IPC_MAX_WORKER, &env), CMPD_OK);
		nng_msg_free(msg);
		if (env->body_case != CMPD__ENVELOPE__BODY_TXN_SAVE_REQ)
			return env;
		cmpd_env_init(&rep, env->id);
		rep.body_case = CMPD__ENVELOPE__BODY_OK;
		rep.ok = &ok;
		broker_send(p, &rep);
		cmpd_ipc_free(env);
	}
}

/* The whole path: broker -> networker -> provider -> keyworker, CA. */
static void
test_ir_through_process(void **state)
{
	struct proc p;
	pid_t mock;
	int port = nwt_mock_start(MOCK_FULL "-max_msgs 2", &mock);
	Cmpd__TxnStartReq *r;
	cmpd_env env, *rep;

	(void)state;
	assert_true(port > 0);
	r = nwt_req_new(port);
	r->protection_key = key_info_new("sup.crt", kw.prot_id);
	r->new_key = key_info_new("rsp.crt", kw.new_id);
	proc_start(&p);
	cmpd_env_init(&env, 77);
	env.body_case = CMPD__ENVELOPE__BODY_TXN_START_REQ;
	env.txn_start_req = r;
	broker_send(&p, &env);
	rep = broker_recv(&p);
	assert_int_equal(rep->id, 77);
	assert_int_equal(rep->body_case, CMPD__ENVELOPE__BODY_TXN_REP);
	if (rep->txn_rep->result != CMPD__TXN_RESULT__TXN_DONE)
		fail_msg("%s", rep->txn_rep->error_text);
	/* POPO and two protections (ir, certConf) went to the keyworker. */
	assert_true(atomic_load(&kw.signed_count) >= 3);
	cmpd_ipc_free(rep);
	kill(p.pid, SIGTERM);
	assert_int_equal(proc_wait(&p), 0);
	nwt_req_free(r);
	nwt_mock_stop(mock);
}

static void
test_exit_on_violation(void **state)
{
	Cmpd__SignRep sr = CMPD__SIGN_REP__INIT;
	struct proc p;
	cmpd_env env;

	(void)state;
	proc_start(&p);
	cmpd_env_init(&env, 1);
	env.body_case = CMPD__ENVELOPE__BODY_SIGN_REP;
	env.sign_rep = &sr;
	broker_send(&p, &env);
	assert_int_equal(proc_wait(&p), 1);
}

static void
test_exit_on_link_loss(void **state)
{
	Cmpd__TxnAbortReq a = CMPD__TXN_ABORT_REQ__INIT;
	struct proc p;
	cmpd_env env, *rep;

	(void)state;
	proc_start(&p);
	/* A round trip first, so the link is up before it goes. */
	cmpd_env_init(&env, 3);
	env.body_case = CMPD__ENVELOPE__BODY_TXN_ABORT_REQ;
	a.job_id = "0123456789abcdef";
	env.txn_abort_req = &a;
	broker_send(&p, &env);
	rep = broker_recv(&p);
	assert_int_equal(rep->body_case, CMPD__ENVELOPE__BODY_OK);
	cmpd_ipc_free(rep);
	nng_close(p.broker);
	assert_int_equal(proc_wait(&p), 0);
}

static void
test_usage(void **state)
{
	char cmd[600];
	const char *bindir = getenv("CMPD_BIN_DIR");

	(void)state;
	snprintf(cmd, sizeof(cmd), "%s/cmpd-networker --broker x 2>/dev/null",
	    bindir != NULL ? bindir : "bin");
	assert_int_equal(WEXITSTATUS(system(cmd)), 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ir_through_process),
		cmocka_unit_test(test_exit_on_violation),
		cmocka_unit_test(test_exit_on_link_loss),
		cmocka_unit_test(test_usage),
	};
	char path[128];
	int rv;

	cmpd_log_init("test_networker_main", CMPD_LOG_DEBUG);
	nwt_netns_enter();
	strcpy(dir, "/tmp/cmpd-nwmain.XXXXXX");
	if (mkdtemp(dir) == NULL || nwt_pki_make() == NULL)
		return 1;
	snprintf(broker_url, sizeof(broker_url), "ipc://%s/networker.ipc", dir);
	snprintf(signer_url, sizeof(signer_url), "ipc://%s/signer.ipc", dir);
	if (nng_rep0_open(&kw.rep) != 0 ||
	    nng_socket_set_ms(kw.rep, NNG_OPT_RECVTIMEO, 100) != 0 ||
	    cmpd_ipc_listen(kw.rep, signer_url, CMPD_IPC_MAX_SIGN, 0600) != 0 ||
	    pthread_create(&kw.thread, NULL, kw_main, NULL) != 0)
		return 1;
	rv = cmocka_run_group_tests(tests, NULL, NULL);
	atomic_store(&kw.stop, 1);
	pthread_join(kw.thread, NULL);
	nng_close(kw.rep);
	nwt_pki_remove();
	snprintf(path, sizeof(path), "%s/networker.ipc", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/signer.ipc", dir);
	unlink(path);
	rmdir(dir);
	return rv;
}
