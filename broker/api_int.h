/*
 * What the client API's files share: api.c (the socket, the requests
 * about jobs, certificates and keys) and apiwatch.c (events, health and
 * the reload command test).
 */
#pragma once

#include <uv.h>

#include "api.h"
#include "ipcwatch.h"
#include "job.h"

/* The longest a client's long poll waits. */
#define WAIT_MAX_MS 60000u

struct request {
	struct api *api;
	nng_msg *msg; /* the request as received: its header routes the reply */
	uint64_t id;
	uint32_t uid, gid;
	int admin;
};

struct waiter;

struct api {
	uint32_t magic;
	struct broker *b;
	nng_socket sock;
	struct cmpd_ipc_watch watch;
	struct waiter *waiters;
	struct events *events;
	struct health *health;
};

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
