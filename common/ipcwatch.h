/*
 * Receives nng messages on a libuv loop: nng's NNG_OPT_RECVFD becomes
 * readable when a message waits, a uv_poll_t watches it, and every waiting
 * message is handed to the callback on the loop thread.
 */
#pragma once

#include <nng/nng.h>
#include <uv.h>

#include "err.h"

/* Called on the loop thread with a received message, which it owns. */
typedef void (*cmpd_ipc_recv_cb)(void *arg, nng_msg *msg);

struct cmpd_ipc_watch {
	uv_poll_t poll;
	nng_socket sock;
	cmpd_ipc_recv_cb cb;
	void *arg;
};

cmpd_err cmpd_ipc_watch_start(uv_loop_t *loop, struct cmpd_ipc_watch *w,
    nng_socket s, cmpd_ipc_recv_cb cb, void *arg);

/* Stops watching; close_cb (may be NULL) runs when the handle is closed. */
void cmpd_ipc_watch_stop(struct cmpd_ipc_watch *w, uv_close_cb close_cb);
