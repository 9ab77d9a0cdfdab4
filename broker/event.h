/*
 * Events: what happened to jobs and tracked certificates (enrolled,
 * renewed, renewal failed, revoked, expiring, expired, job failed), for
 * clients that watch instead of polling files.
 *
 * nng's req/rep carries one reply per request, so watching is a long poll:
 * a client asks for the events after a cursor (the seq of the last one it
 * saw); the broker answers at once if there are any it may see, else holds
 * the request until one comes or the wait ends. The broker keeps the
 * latest EVENT_RING_SIZE events in memory only: a client that falls
 * further behind, or that watched a previous run of cmpd, is told that it
 * missed some. Sequence numbers start at the start time in microseconds,
 * so that a later run's are larger than an earlier run's.
 *
 * A client sees the events of its own jobs and the certificate events of
 * the profiles it may use, as the API shows it jobs and certificates;
 * administrators see all.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "broker.h"
#include "cmpd.pb-c.h"
#include "err.h"

#define EVENT_RING_SIZE 1024
#define EVENT_BATCH_MAX 256 /* events in one reply */

#define EV(x) CMPD__EVENT_TYPE__EVENT_##x

struct events;

/* Who asks for events or health, and what they asked to see. */
struct viewer {
	uint32_t uid, gid;
	int admin;
	char profile[65]; /* "": every profile they may see */
};

/* Whether v may use profile (name), as the API decides it. */
int viewer_may_use(
    const struct config *cfg, const struct viewer *v, const char *profile);

/* Whether v may see e (and asked for its profile). */
int event_visible(
    const struct config *cfg, const struct viewer *v, const Cmpd__Event *e);

/*
 * A ring of cap events whose first seq is first_seq, on b's loop (its
 * timers hold subscribers) and configuration (b->cfg, read when an event
 * is delivered, so a reloaded configuration applies).
 */
cmpd_err events_new(
    struct broker *b, size_t cap, uint64_t first_seq, struct events **out);

/* Answers every subscriber (as timed out) and frees the ring once the
 * loop has closed their timers; NULL is ignored. */
void events_free(struct events *ev);

/* The seq of the newest event (first_seq - 1 while there is none). */
uint64_t events_last(const struct events *ev);

/*
 * Adds e (taken over; seq and time are set here), dropping the oldest if
 * the ring is full, and wakes the subscribers that may see it.
 */
void events_add(struct events *ev, Cmpd__Event *e);

/* What a client gets: events borrowed from the ring until the next add. */
struct event_batch {
	const Cmpd__Event *v[EVENT_BATCH_MAX];
	size_t n;
	uint64_t last; /* the cursor to pass next */
	int missed;    /* events after the cursor were dropped */
};

/*
 * The events after cursor that v may see, at most max (0 or more than
 * EVENT_BATCH_MAX: EVENT_BATCH_MAX). cursor 0 means "from now on": no
 * events, and last is the newest seq.
 */
void events_collect(const struct events *ev, const struct viewer *v,
    uint64_t cursor, size_t max, struct event_batch *out);

/*
 * Called once when an event v may see comes after cursor, or when wait_ms
 * ran out (timed_out 1), or when the ring is freed (timed_out 1). The
 * subscriber is gone when it is called.
 */
typedef void (*event_wake_cb)(void *arg, int timed_out);

cmpd_err events_subscribe(struct events *ev, const struct viewer *v,
    uint64_t cursor, uint32_t wait_ms, event_wake_cb cb, void *arg);

/*
 * The broker's calls where things happen (jobend.c, track.c, health.c):
 * an event of job (may be NULL) about cert (may be NULL), added to the
 * ring of b's client API. Nothing happens while there is no API.
 */
void event_emit(struct broker *b, Cmpd__EventType type, const Cmpd__Job *job,
    const Cmpd__CertRecord *cert);

/* The name of an event type ("renewal_failed"), for logs and metrics. */
const char *event_type_name(Cmpd__EventType type);

/* Events emitted so far by type, since the start (for the metrics). */
uint64_t events_count(const struct events *ev, Cmpd__EventType type);
