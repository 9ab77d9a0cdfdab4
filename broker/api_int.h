/*
 * What the client API's files share: api.c (the requests about jobs,
 * certificates and keys), apiwatch.c (events, health and the reload
 * command test) and apiconn.c (the client socket and its connections).
 */
#pragma once

#include <nng/nng.h>
#include <sys/types.h>
#include <uv.h>

#include "api.h"
#include "job.h"

/* The longest a client's long poll waits. */
#define WAIT_MAX_MS 60000u

/* One client's connection (apiconn.c); a request holds a reference. */
struct api_conn;

struct request {
	struct api *api;
	struct api_conn *conn; /* where the reply goes */
	nng_msg *msg; /* the request as received: its header is the backtrace */
	uint64_t id;
	uint32_t uid, gid;
	int admin;
};

struct waiter;

/* The client socket and its connections (apiconn.c). */
struct api_server {
	uv_pipe_t pipe;
	int open;
	struct api_conn *conns;
	uv_pipe_t refuse; /* takes a client when memory is short */
	int refusing, refuse_again;
	uint8_t buf[64 << 10]; /* every read lands here, then is parsed */
};

struct api {
	uint32_t magic;
	struct broker *b;
	struct api_server srv;
	struct waiter *waiters;
	struct events *events;
	struct health *health;
};

/*
 * apiconn.c: serves path (mode mode) on the loop; each request goes to
 * api_request. api_listen_stop closes the socket and every connection.
 */
cmpd_err api_listen(struct api *a, const char *path, mode_t mode);
void api_listen_stop(struct api *a);

/* Sends msg (header, then body) to c as one message; takes msg. */
void api_conn_send(struct api_conn *c, nng_msg *msg);

/* Closes c's connection; what is sent to it later is discarded. */
void api_conn_drop(struct api_conn *c);

void api_conn_hold(struct api_conn *c);
void api_conn_release(struct api_conn *c);

/*
 * api.c: a request from c, whose peer is uid/gid; msg (taken) carries the
 * backtrace in its header and the envelope in its body.
 */
void api_request(struct api *a, struct api_conn *c, uint32_t uid, uint32_t gid,
    nng_msg *msg);

/* Sends env as the reply to r and frees r. */
void api_reply(struct request *r, cmpd_env *env);
void api_reply_error(struct request *r, cmpd_err code, const char *text);

/* apiwatch.c: the handlers of EventsReq, HealthReq and HookTestReq. */
cmpd_err api_events_req(
    struct request *r, const cmpd_env *env, char *err, size_t errlen);
cmpd_err api_health_req(
    struct request *r, const cmpd_env *env, char *err, size_t errlen);
cmpd_err api_hook_test(
    struct request *r, const cmpd_env *env, char *err, size_t errlen);
