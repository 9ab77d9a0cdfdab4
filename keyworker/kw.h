/*
 * The keyworker process: what it holds while it serves, and the two
 * tables of what its peers may ask (broker.c: the broker link; signer.c:
 * the networker's signer socket). Everything runs on the libuv loop
 * thread except key generation (thread pool) and nng's pipe callback,
 * which only wakes the loop.
 */
#pragma once

#include <nng/nng.h>
#include <stdint.h>
#include <sys/queue.h>
#include <uv.h>

#include "grant.h"
#include "import.h"
#include "ipc.h"
#include "ipcwatch.h"
#include "keystore.h"
#include "pool.h"

#define KW_MAGIC 0x6b776b72u /* "kwkr" */

/* Exit statuses of cmpd-keyworker. */
#define KW_EXIT_OK       0 /* signal, or the broker went away */
#define KW_EXIT_FAIL     1 /* could not start */
#define KW_EXIT_USAGE    2 /* bad command line */
#define KW_EXIT_PROTOCOL 3 /* the broker broke the protocol */

/* Handles kw has initialised (bits of struct kw.handles). */
enum kw_handle {
	KW_H_WAKE = 1 << 0,
	KW_H_SIGTERM = 1 << 1,
	KW_H_SIGINT = 1 << 2,
	KW_H_BROKER_WATCH = 1 << 3,
	KW_H_SIGNER_WATCH = 1 << 4,
	KW_H_RETRY = 1 << 5,
	KW_H_CHECK = 1 << 6,
};

/* A reply the broker link could not take yet (serve.c). */
struct kw_out;

struct kw {
	uint32_t magic;
	uv_loop_t loop;
	int loop_live;
	unsigned handles; /* enum kw_handle */
	struct kw_keystore *ks;
	struct kw_importer *imp;
	struct kw_grants *grants;
	struct kw_pool *pool; /* pre-generated keys; NULL: none */
	nng_socket broker;    /* pair0, dialled */
	nng_socket signer;    /* raw rep0, listening, 0600 */
	int broker_open;
	int signer_open;
	struct cmpd_ipc_watch broker_watch;
	struct cmpd_ipc_watch signer_watch;
	uv_signal_t sigterm;
	uv_signal_t sigint;
	/* nng's pipe callback runs on an nng thread; it only sets
	 * broker_gone and wakes the loop, under wake_lock. */
	uv_async_t wake;
	uv_mutex_t wake_lock;
	int wake_live;   /* wake may be sent */
	int broker_pipe; /* id of the broker link's pipe, 0: none yet */
	int broker_gone;
	/* Replies to the broker that wait for room in the link, oldest
	 * first, and the timer that offers them again. */
	STAILQ_HEAD(, kw_out) outbox;
	uv_timer_t retry;
	/* Reads the key files the store indexed by name, a few per turn
	 * of the loop while it has nothing else to do. */
	uv_idle_t check;
	int outbox_waiting; /* the link was full; logged once */
	int stopping;
	int status; /* exit status once stopping */
};

/* Zeroes kw and sets up the loop, its wake-up and the grants. */
cmpd_err kw_init(struct kw *kw);

/*
 * Dials the broker (pair0, exit when its pipe goes) and listens for the
 * networker (raw rep0, socket mode 0600), with their receive limits.
 */
cmpd_err kw_sockets_open(
    struct kw *kw, const char *broker_url, const char *signer_url);

/* Serves until kw_stop; returns the exit status. */
int kw_serve(struct kw *kw);

/*
 * Stops serving with an exit status (the first one wins): closes the
 * loop's handles; the loop returns once running generations finish.
 */
void kw_stop(struct kw *kw, int status);

/* Frees everything kw_init and the opens acquired. */
void kw_fini(struct kw *kw);

/*
 * Replies to the broker, in the order given. A reply the link cannot take
 * now (the broker reads slowly, or a burst outran the send buffer) waits
 * in the outbox and a timer offers it again: none is lost while the link
 * is up. What still waits when the keyworker stops is dropped.
 */
void kw_broker_send(struct kw *kw, const cmpd_env *env);
void kw_broker_send_ok(struct kw *kw, uint64_t id);
void kw_broker_send_error(
    struct kw *kw, uint64_t id, cmpd_err code, const char *text);

/* Receive callbacks of the two sockets (cmpd_ipc_watch). */
void kw_broker_recv_cb(void *arg, nng_msg *msg);
void kw_signer_recv_cb(void *arg, nng_msg *msg);
