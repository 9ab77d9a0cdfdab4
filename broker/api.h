/*
 * The client API: the client socket of the configuration, on which
 * libcmpd-client sends requests (nng's req0 wire protocol, served on the
 * loop by apiconn.c rather than by nng 1.5.2: see there). Each request's
 * caller is known by the uid and gid of its ipc connection (SO_PEERCRED)
 * and checked against the profile or job it names. What a client may ask is
 * the table in api.c; a malformed request drops that client's connection.
 */
#pragma once

#include "broker.h"
#include "cmpd.pb-c.h"
#include "err.h"

cmpd_err api_start(struct broker *b, struct api **out);

/* Stops serving: answers waiting long polls and closes the handles. */
void api_stop(struct api *a);

/* Closes the socket and frees a; the loop must have closed the handles. */
void api_free(struct api *a);

/* A job changed state: answers the clients waiting for that. */
void api_job_changed(struct api *a, const Cmpd__Job *job);

/* The event ring and the health timer the API serves (NULL once stopped). */
struct events *api_events(const struct api *a);
struct health *api_health(const struct api *a);
