/*
 * The signing client (networker/remote.c) against a stand-in keyworker: a
 * rep0 socket on an ipc path, answering as each test tells it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "remote.h"

enum kw_mode { KW_SIGN, KW_REFUSE, KW_SILENT, KW_WRONG_BODY, KW_WRONG_ID };

static struct kw {
	nng_socket rep;
	pthread_t thread;
	atomic_int mode;
	atomic_int stop;
	char last_job[32], last_key[64], last_digest[16];
	char dir[64], url[128];
} kw;

/* The stand-in's signature: "sig:" then the key id then the tbs. */
static void
kw_sign_reply(const cmpd_env *req, cmpd_env *rep, Cmpd__SignRep *sr,
    uint8_t *buf, size_t len)
{
	const Cmpd__SignReq *q = req->sign_req;
	int n = snprintf((char *)buf, len, "sig:%s:", q->key_id);

	memcpy(buf + n, q->tbs.data, q->tbs.len);
	sr->signature.data = buf;
	sr->signature.len = (size_t)n + q->tbs.len;
	rep->body_case = CMPD__ENVELOPE__BODY_SIGN_REP;
	rep->sign_rep = sr;
}

/* Blocking: the stand-in answers one request after the other. */
static void
kw_send(const cmpd_env *env)
{
	nng_msg *msg = NULL;

	if (cmpd_ipc_pack(env, &msg) == CMPD_OK &&
	    nng_sendmsg(kw.rep, msg, 0) != 0)
		nng_msg_free(msg);
}

static void
kw_answer(const cmpd_env *req)
{
	Cmpd__Error err = CMPD__ERROR__INIT;
	Cmpd__SignRep sr = CMPD__SIGN_REP__INIT;
	Cmpd__Ok ok = CMPD__OK__INIT;
	uint8_t buf[1024];
	cmpd_env rep;

	snprintf(kw.last_job, sizeof(kw.last_job), "%s", req->sign_req->job_id);
	snprintf(kw.last_key, sizeof(kw.last_key), "%s", req->sign_req->key_id);
	snprintf(kw.last_digest, sizeof(kw.last_digest), "%s",
	    req->sign_req->digest);
	cmpd_env_init(&rep, req->id);
	switch (atomic_load(&kw.mode)) {
	case KW_SIGN:
		kw_sign_reply(req, &rep, &sr, buf, sizeof(buf));
		break;
	case KW_REFUSE:
		err.code = CMPD__ERROR_CODE__ERR_DENIED;
		err.message = "no grant";
		rep.body_case = CMPD__ENVELOPE__BODY_ERROR;
		rep.error = &err;
		break;
	case KW_SILENT:
		return;
	case KW_WRONG_BODY:
		rep.body_case = CMPD__ENVELOPE__BODY_OK;
		rep.ok = &ok;
		break;
	case KW_WRONG_ID:
		kw_sign_reply(req, &rep, &sr, buf, sizeof(buf));
		rep.id = req->id + 1000;
		break;
	}
	kw_send(&rep);
}

static void *
kw_main(void *arg)
{
	nng_msg *msg;
	cmpd_env *env;

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

static int
group_setup(void **state)
{
	(void)state;
	strcpy(kw.dir, "/tmp/cmpd-nwremote.XXXXXX");
	if (mkdtemp(kw.dir) == NULL)
		return -1;
	snprintf(kw.url, sizeof(kw.url), "ipc://%s/signer.ipc", kw.dir);
	if (nng_rep0_open(&kw.rep) != 0 ||
	    nng_socket_set_ms(kw.rep, NNG_OPT_RECVTIMEO, 100) != 0 ||
	    cmpd_ipc_listen(kw.rep, kw.url, CMPD_IPC_MAX_SIGN, 0600) != 0)
		return -1;
	return pthread_create(&kw.thread, NULL, kw_main, NULL);
}

static int
group_teardown(void **state)
{
	char path[128];

	(void)state;
	atomic_store(&kw.stop, 1);
	pthread_join(kw.thread, NULL);
	nng_close(kw.rep);
	snprintf(path, sizeof(path), "%s/signer.ipc", kw.dir);
	unlink(path);
	rmdir(kw.dir);
	return 0;
}

struct client {
	nng_socket req;
	struct nw_remote *r;
};

static void
client_open(struct client *c, nng_duration timeout)
{
	assert_int_equal(nng_req0_open(&c->req), 0);
	assert_int_equal(cmpd_ipc_dial(c->req, kw.url, CMPD_IPC_MAX_SIGN), 0);
	assert_int_equal(nw_remote_new(c->req, timeout, &c->r), CMPD_OK);
}

static void
client_close(struct client *c)
{
	nw_remote_free(c->r);
	nng_close(c->req);
}

static void
test_sign_ok(void **state)
{
	static const uint8_t tbs[] = { 0x30, 0x03, 0x02, 0x01, 0x05 };
	static const uint8_t want[] = "sig:key1:\x30\x03\x02\x01\x05";
	struct client c;
	uint8_t *sig = NULL;
	size_t len = 0;

	(void)state;
	client_open(&c, NW_REMOTE_TIMEOUT_MS);
	atomic_store(&kw.mode, KW_SIGN);
	assert_int_equal(nw_remote_sign(c.r, "0123456789abcdef", "key1",
	                     "SHA256", tbs, sizeof(tbs), &sig, &len),
	    CMPD_OK);
	assert_int_equal(len, sizeof(want) - 1);
	assert_memory_equal(sig, want, len);
	assert_string_equal(kw.last_job, "0123456789abcdef");
	assert_string_equal(kw.last_digest, "SHA256");
	OPENSSL_free(sig);
	/* Ed25519: no digest at all. */
	assert_int_equal(nw_remote_sign(c.r, "0123456789abcdef", "key2", "",
	                     tbs, sizeof(tbs), &sig, &len),
	    CMPD_OK);
	assert_string_equal(kw.last_digest, "");
	assert_string_equal(kw.last_key, "key2");
	OPENSSL_free(sig);
	client_close(&c);
}

static void
test_sign_refused(void **state)
{
	struct client c;
	uint8_t *sig = NULL;
	size_t len = 0;

	(void)state;
	client_open(&c, NW_REMOTE_TIMEOUT_MS);
	atomic_store(&kw.mode, KW_REFUSE);
	assert_int_equal(nw_remote_sign(c.r, "0123456789abcdef", "key1",
	                     "SHA256", (const uint8_t *)"x", 1, &sig, &len),
	    CMPD_EPERM);
	assert_null(sig);
	client_close(&c);
}

static void
test_sign_timeout(void **state)
{
	struct client c;
	uint8_t *sig = NULL;
	size_t len = 0;

	(void)state;
	client_open(&c, 300);
	atomic_store(&kw.mode, KW_SILENT);
	assert_int_equal(nw_remote_sign(c.r, "0123456789abcdef", "key1",
	                     "SHA256", (const uint8_t *)"x", 1, &sig, &len),
	    CMPD_ETIMEDOUT);
	assert_null(sig);
	client_close(&c);
}

static void
test_sign_malformed(void **state)
{
	struct client c;
	uint8_t *sig = NULL;
	size_t len = 0;

	(void)state;
	client_open(&c, 1000);
	atomic_store(&kw.mode, KW_WRONG_BODY);
	assert_int_equal(nw_remote_sign(c.r, "0123456789abcdef", "key1",
	                     "SHA256", (const uint8_t *)"x", 1, &sig, &len),
	    CMPD_EPROTO);
	atomic_store(&kw.mode, KW_WRONG_ID);
	assert_int_equal(nw_remote_sign(c.r, "0123456789abcdef", "key1",
	                     "SHA256", (const uint8_t *)"x", 1, &sig, &len),
	    CMPD_EPROTO);
	assert_null(sig);
	client_close(&c);
}

/* Many threads at once: each gets the signature of its own request. */
#define N_THREADS 8
#define N_CALLS   20

static struct client shared;
static atomic_int failures;

static void *
signer_thread(void *arg)
{
	uintptr_t n = (uintptr_t)arg;
	uint8_t tbs[32], want[64], *sig;
	size_t len;

	for (int i = 0; i < N_CALLS; i++) {
		int tl = snprintf(
		    (char *)tbs, sizeof(tbs), "t%lu-%d", (unsigned long)n, i);
		int wl = snprintf((char *)want, sizeof(want), "sig:k:%s", tbs);

		sig = NULL;
		if (nw_remote_sign(shared.r, "0123456789abcdef", "k", "SHA256",
		        tbs, (size_t)tl, &sig, &len) != CMPD_OK ||
		    len != (size_t)wl || memcmp(sig, want, len) != 0)
			atomic_fetch_add(&failures, 1);
		OPENSSL_free(sig);
	}
	return NULL;
}

static void
test_sign_concurrent(void **state)
{
	pthread_t t[N_THREADS];

	(void)state;
	client_open(&shared, NW_REMOTE_TIMEOUT_MS);
	atomic_store(&kw.mode, KW_SIGN);
	for (uintptr_t i = 0; i < N_THREADS; i++)
		assert_int_equal(
		    pthread_create(&t[i], NULL, signer_thread, (void *)i), 0);
	for (int i = 0; i < N_THREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(atomic_load(&failures), 0);
	client_close(&shared);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_ok),
		cmocka_unit_test(test_sign_refused),
		cmocka_unit_test(test_sign_timeout),
		cmocka_unit_test(test_sign_malformed),
		cmocka_unit_test(test_sign_concurrent),
	};

	cmpd_log_init("test_networker_remote", CMPD_LOG_DEBUG);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
