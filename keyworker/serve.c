#include "kw.h"

#include <nng/protocol/pair0/pair.h>
#include <nng/protocol/reqrep0/rep.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"
#include "log.h"
#include "util.h"

/*
 * Replies queued per socket. Replies are sent without blocking, and nng 1.5
 * fails such a send while the pipe is still busy with the previous message
 * unless the socket has a send buffer: a burst of replies to one peer lost
 * all but the first when measured. A burst larger than the buffer (1,000
 * enrollments at once) still outran it: replies to the broker that find
 * it full wait in the outbox below.
 */
#define KW_SENDBUF 256

/* How soon replies waiting for the broker link are offered again. */
#define KW_RETRY_MS 20

struct kw_out {
	STAILQ_ENTRY(kw_out) link;
	nng_msg *msg;
};

static void retry_cb(uv_timer_t *t);

/* The link is full: try again soon (not once stopping: the timer is
 * closed, and what waits then is dropped). */
static void
outbox_wait(struct kw *kw)
{
	if (!kw->outbox_waiting)
		log_info("the broker link is full: replies wait for it");
	kw->outbox_waiting = 1;
	if ((kw->handles & KW_H_RETRY) &&
	    !uv_is_active((uv_handle_t *)&kw->retry))
		uv_timer_start(&kw->retry, retry_cb, KW_RETRY_MS, 0);
}

/* Sends waiting replies, oldest first, until the link is full again. */
static void
outbox_flush(struct kw *kw)
{
	struct kw_out *o;
	int rv;

	while ((o = STAILQ_FIRST(&kw->outbox)) != NULL) {
		rv = nng_sendmsg(kw->broker, o->msg, NNG_FLAG_NONBLOCK);
		if (rv == NNG_EAGAIN) {
			outbox_wait(kw);
			return;
		}
		if (rv != 0) {
			log_err("cannot send a reply to the broker: %s",
			    nng_strerror(rv));
			nng_msg_free(o->msg);
		}
		STAILQ_REMOVE_HEAD(&kw->outbox, link);
		free(o);
	}
	if (kw->outbox_waiting)
		log_info("the broker link took every waiting reply");
	kw->outbox_waiting = 0;
}

static void
retry_cb(uv_timer_t *t)
{
	struct kw *kw = t->data;

	CMPD_MAGIC_CHECK(kw, KW_MAGIC);
	outbox_flush(kw);
}

/*
 * Drops what the broker never took, at exit. The broker stops the
 * keyworker only once it has failed its own pending requests (or it is
 * gone), so nobody waits for these.
 */
static void
outbox_free(struct kw *kw)
{
	struct kw_out *o;
	size_t n = 0;

	while ((o = STAILQ_FIRST(&kw->outbox)) != NULL) {
		STAILQ_REMOVE_HEAD(&kw->outbox, link);
		nng_msg_free(o->msg);
		free(o);
		n++;
	}
	if (n > 0)
		log_warn("%zu replies the broker did not take are dropped", n);
}

void
kw_broker_send(struct kw *kw, const cmpd_env *env)
{
	struct kw_out *o = NULL;
	nng_msg *msg = NULL;

	CMPD_MAGIC_CHECK(kw, KW_MAGIC);
	if (cmpd_ipc_pack(env, &msg) != CMPD_OK ||
	    (o = calloc(1, sizeof(*o))) == NULL) {
		log_err("cannot send %s %llu to the broker: out of memory",
		    cmpd_env_body_name(env), (unsigned long long)env->id);
		nng_msg_free(msg);
		return;
	}
	o->msg = msg;
	/* Behind every reply still waiting: the order stays. */
	STAILQ_INSERT_TAIL(&kw->outbox, o, link);
	outbox_flush(kw);
}

void
kw_broker_send_ok(struct kw *kw, uint64_t id)
{
	Cmpd__Ok ok = CMPD__OK__INIT;
	cmpd_env env;

	cmpd_env_init(&env, id);
	env.body_case = CMPD__ENVELOPE__BODY_OK;
	env.ok = &ok;
	kw_broker_send(kw, &env);
}

void
kw_broker_send_error(
    struct kw *kw, uint64_t id, cmpd_err code, const char *text)
{
	Cmpd__Error e = CMPD__ERROR__INIT;
	cmpd_env env;

	cmpd_env_init(&env, id);
	e.code = (Cmpd__ErrorCode)code;
	e.message = (char *)(text != NULL ? text : cmpd_strerror(code));
	env.body_case = CMPD__ENVELOPE__BODY_ERROR;
	env.error = &e;
	kw_broker_send(kw, &env);
}

/* On an nng thread: remember the broker's pipe, and wake the loop when
 * it goes. */
static void
broker_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct kw *kw = arg;

	uv_mutex_lock(&kw->wake_lock);
	if (ev == NNG_PIPE_EV_ADD_POST && kw->broker_pipe == 0) {
		kw->broker_pipe = nng_pipe_id(p);
		log_info("connected to the broker (pipe %d)", kw->broker_pipe);
	} else if (ev == NNG_PIPE_EV_REM_POST &&
	    nng_pipe_id(p) == kw->broker_pipe) {
		kw->broker_gone = 1;
		if (kw->wake_live)
			uv_async_send(&kw->wake);
	}
	uv_mutex_unlock(&kw->wake_lock);
}

static void
wake_cb(uv_async_t *h)
{
	struct kw *kw = h->data;
	int gone;

	CMPD_MAGIC_CHECK(kw, KW_MAGIC);
	uv_mutex_lock(&kw->wake_lock);
	gone = kw->broker_gone;
	uv_mutex_unlock(&kw->wake_lock);
	if (gone) {
		log_notice("the broker's link is gone: exiting");
		kw_stop(kw, KW_EXIT_OK);
	}
}

static void
signal_cb(uv_signal_t *h, int signum)
{
	struct kw *kw = h->data;

	CMPD_MAGIC_CHECK(kw, KW_MAGIC);
	log_notice("signal %d: exiting", signum);
	kw_stop(kw, KW_EXIT_OK);
}

cmpd_err
kw_init(struct kw *kw)
{
	memset(kw, 0, sizeof(*kw));
	kw->magic = KW_MAGIC;
	STAILQ_INIT(&kw->outbox);
	if (uv_loop_init(&kw->loop) != 0)
		return CMPD_EIO;
	kw->loop_live = 1;
	uv_mutex_init(&kw->wake_lock);
	if (uv_async_init(&kw->loop, &kw->wake, wake_cb) != 0)
		return CMPD_EIO;
	kw->wake.data = kw;
	kw->wake_live = 1;
	kw->handles |= KW_H_WAKE;
	if (uv_signal_init(&kw->loop, &kw->sigterm) != 0)
		return CMPD_EIO;
	kw->sigterm.data = kw;
	kw->handles |= KW_H_SIGTERM;
	if (uv_signal_init(&kw->loop, &kw->sigint) != 0)
		return CMPD_EIO;
	kw->sigint.data = kw;
	kw->handles |= KW_H_SIGINT;
	if (uv_timer_init(&kw->loop, &kw->retry) != 0)
		return CMPD_EIO;
	kw->retry.data = kw;
	kw->handles |= KW_H_RETRY;
	if (uv_idle_init(&kw->loop, &kw->check) != 0)
		return CMPD_EIO;
	kw->check.data = kw;
	kw->handles |= KW_H_CHECK;
	return kw_grants_new(&kw->grants);
}

static cmpd_err
nng_fail(const char *what, int rv)
{
	log_err("%s: %s", what, nng_strerror(rv));
	return cmpd_err_from_nng(rv);
}

cmpd_err
kw_sockets_open(struct kw *kw, const char *broker_url, const char *signer_url)
{
	int rv;

	if ((rv = nng_pair0_open(&kw->broker)) != 0)
		return nng_fail("broker socket", rv);
	kw->broker_open = 1;
	if ((rv = nng_socket_set_int(
	         kw->broker, NNG_OPT_SENDBUF, KW_SENDBUF)) != 0)
		return nng_fail("broker socket", rv);
	/* Set before dialling, so no pipe event is missed. */
	if ((rv = nng_pipe_notify(
	         kw->broker, NNG_PIPE_EV_ADD_POST, broker_pipe_cb, kw)) != 0 ||
	    (rv = nng_pipe_notify(
	         kw->broker, NNG_PIPE_EV_REM_POST, broker_pipe_cb, kw)) != 0)
		return nng_fail("broker socket", rv);
	if (cmpd_ipc_dial(kw->broker, broker_url, CMPD_IPC_MAX_WORKER) !=
	    CMPD_OK)
		return CMPD_EUNAVAIL;
	/* Raw: replies are routed by the request's header, so one socket
	 * serves every concurrent call of the networker. */
	if ((rv = nng_rep0_open_raw(&kw->signer)) != 0)
		return nng_fail("signer socket", rv);
	kw->signer_open = 1;
	if ((rv = nng_socket_set_int(
	         kw->signer, NNG_OPT_SENDBUF, KW_SENDBUF)) != 0)
		return nng_fail("signer socket", rv);
	return cmpd_ipc_listen(kw->signer, signer_url, CMPD_IPC_MAX_SIGN, 0600);
}

/* Each turn reads a millisecond or two of key files. */
#define KW_CHECK_BATCH 16

static void
check_cb(uv_idle_t *h)
{
	struct kw *kw = h->data;

	if (!kw_keystore_check(kw->ks, KW_CHECK_BATCH))
		uv_idle_stop(h);
}

int
kw_serve(struct kw *kw)
{
	CMPD_MAGIC_CHECK(kw, KW_MAGIC);
	if (cmpd_ipc_watch_start(&kw->loop, &kw->broker_watch, kw->broker,
	        kw_broker_recv_cb, kw) != CMPD_OK)
		return KW_EXIT_FAIL;
	kw->handles |= KW_H_BROKER_WATCH;
	if (cmpd_ipc_watch_start(&kw->loop, &kw->signer_watch, kw->signer,
	        kw_signer_recv_cb, kw) != CMPD_OK)
		return KW_EXIT_FAIL;
	kw->handles |= KW_H_SIGNER_WATCH;
	if (uv_signal_start(&kw->sigterm, signal_cb, SIGTERM) != 0 ||
	    uv_signal_start(&kw->sigint, signal_cb, SIGINT) != 0 ||
	    uv_idle_start(&kw->check, check_cb) != 0)
		return KW_EXIT_FAIL;
	/* The broker may have gone before the loop ran. */
	uv_async_send(&kw->wake);
	uv_run(&kw->loop, UV_RUN_DEFAULT);
	return kw->status;
}

/* Closes every handle still open; idempotent. */
static void
kw_handles_close(struct kw *kw)
{
	if (kw->handles & KW_H_BROKER_WATCH)
		cmpd_ipc_watch_stop(&kw->broker_watch, NULL);
	if (kw->handles & KW_H_SIGNER_WATCH)
		cmpd_ipc_watch_stop(&kw->signer_watch, NULL);
	if (kw->handles & KW_H_SIGTERM)
		uv_close((uv_handle_t *)&kw->sigterm, NULL);
	if (kw->handles & KW_H_SIGINT)
		uv_close((uv_handle_t *)&kw->sigint, NULL);
	if (kw->handles & KW_H_RETRY)
		uv_close((uv_handle_t *)&kw->retry, NULL);
	if (kw->handles & KW_H_CHECK)
		uv_close((uv_handle_t *)&kw->check, NULL);
	if (kw->handles & KW_H_WAKE) {
		/* After this no nng thread touches the handle. */
		uv_mutex_lock(&kw->wake_lock);
		kw->wake_live = 0;
		uv_mutex_unlock(&kw->wake_lock);
		uv_close((uv_handle_t *)&kw->wake, NULL);
	}
	kw->handles = 0;
}

void
kw_stop(struct kw *kw, int status)
{
	CMPD_MAGIC_CHECK(kw, KW_MAGIC);
	if (kw->stopping)
		return;
	kw->stopping = 1;
	kw->status = status;
	kw_pool_stop(kw->pool);
	kw_handles_close(kw);
}

void
kw_fini(struct kw *kw)
{
	if (kw->magic != KW_MAGIC)
		return;
	if (kw->loop_live) {
		kw_pool_stop(kw->pool);
		kw_handles_close(kw);
		/* Runs the close callbacks and any generation still queued. */
		uv_run(&kw->loop, UV_RUN_DEFAULT);
	}
	if (kw->broker_open)
		nng_close(kw->broker);
	outbox_free(kw);
	if (kw->signer_open)
		nng_close(kw->signer);
	if (kw->loop_live) {
		if (uv_loop_close(&kw->loop) != 0)
			log_err("the event loop still had handles at exit");
		uv_mutex_destroy(&kw->wake_lock);
	}
	kw_pool_free(kw->pool);
	kw_grants_free(kw->grants);
	kw_importer_free(kw->imp);
	kw_keystore_free(kw->ks);
	memset(kw, 0, sizeof(*kw));
}
