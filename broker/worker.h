/*
 * The broker's side of a worker: the process (started by fork+exec through
 * libuv, restarted with backoff when it dies) and its pair0 link, over
 * which the broker sends requests and receives replies matched by envelope
 * id. A request made while the worker is down waits in the link and goes
 * out when the next instance connects; one the link has no room for yet
 * (a burst larger than its send buffer) waits too, and a timer offers it
 * again. Requests go out in the order made. A request the dead instance
 * had received fails with CMPD_EUNAVAIL.
 */
#pragma once

#include <nng/nng.h>
#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "ipc.h"
#include "ipcwatch.h"

#define WORKER_MAGIC 0x776b7231u /* "wkr1" */

/*
 * A reply arrived (err CMPD_OK, rep is the reply, which may be an Error
 * body) or the request failed (rep NULL). rep is freed after the call.
 */
typedef void (*worker_reply_cb)(void *arg, cmpd_err err, const cmpd_env *rep);

struct pending;

struct worker {
	uint32_t magic;
	const char *name; /* "keyworker", "networker" */
	uv_loop_t *loop;
	char *path;      /* the executable */
	char *url;       /* where the link listens */
	int relinking;   /* the link is being renewed for the next instance */
	char **argv;     /* its arguments, NULL-terminated */
	nng_socket sock; /* pair0, listening */
	struct cmpd_ipc_watch watch;
	uv_async_t pipe_async; /* nng pipe events, to the loop thread */
	atomic_int pipe_events;
	int connected;
	uv_process_t proc;
	int running;
	int stopping;
	uv_timer_t restart_timer;
	uv_timer_t send_timer; /* offers unsent requests again (link full) */
	uint64_t started_ms;
	unsigned backoff_ms;
	unsigned crashes; /* consecutive abnormal exits */
	struct pending *pending;
	uint64_t next_id;
	/* Body types this worker may send; anything else ends it. */
	const Cmpd__Envelope__BodyCase *may_send;
	/* Called on the loop when a new instance has connected. */
	void (*up_cb)(struct worker *w, void *arg);
	void *up_arg;
	unsigned generation; /* instances that have connected so far */
	/*
	 * Requests the worker may make (ending with NOT_SET), and who
	 * answers them with worker_reply.
	 */
	const Cmpd__Envelope__BodyCase *may_ask;
	void (*request_cb)(void *arg, const cmpd_env *req);
	void *request_arg;
};

/*
 * Opens the link (listening on url, mode 0600) and prepares to run path
 * with argv (copied). Nothing starts until worker_start.
 */
cmpd_err worker_init(struct worker *w, uv_loop_t *loop, const char *name,
    const char *url, const char *path, char *const argv[],
    const Cmpd__Envelope__BodyCase *may_send);

/* Starts the process; it is restarted whenever it exits, until stop. */
cmpd_err worker_start(struct worker *w);

/* Sends SIGTERM, stops restarting and fails every pending request. */
void worker_stop(struct worker *w);

/* Whether the process is gone and every handle closed (after stop). */
int worker_stopped(const struct worker *w);

/* Closes the libuv handles (after stop, once the process is gone). */
void worker_close(struct worker *w);

/* Closes the link and frees the rest, after the loop closed the handles. */
void worker_fini(struct worker *w);

/*
 * Sends env (its id is set here) and calls cb with the reply. The request
 * belongs to owner, which worker_cancel uses.
 */
cmpd_err worker_request(
    struct worker *w, cmpd_env *env, worker_reply_cb cb, void *owner);

/* Answers a request the worker made (the reply takes req's id). */
void worker_reply(struct worker *w, const cmpd_env *req, cmpd_env *rep);

/* Forgets every pending request of owner: its callback will not run. */
void worker_cancel(struct worker *w, void *owner);
