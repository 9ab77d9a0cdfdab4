#include "event.h"

#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "health.h"
#include "log.h"
#include "record.h"
#include "util.h"

#define EVENTS_MAGIC 0x65766e31u /* "evn1" */
#define SUB_MAGIC    0x73756231u /* "sub1" */
#define EVENT_TYPES  (EV(EXPIRED) + 1)

struct sub {
	uint32_t magic;
	struct sub *next;
	struct events *ev;
	struct viewer viewer;
	uint64_t cursor;
	event_wake_cb cb;
	void *arg;
	uv_timer_t timer;
};

struct events {
	uint32_t magic;
	struct broker *b;
	Cmpd__Event **ring; /* ring[seq % cap] */
	size_t cap;
	uint64_t first; /* seq of the first event ever added */
	uint64_t next;  /* seq the next event gets */
	struct sub *subs;
	size_t open_timers; /* sub timers not closed yet */
	uint64_t counts[EVENT_TYPES];
};

static const char *const type_names[] = {
	[EV(TYPE_UNSPECIFIED)] = "unknown",
	[EV(ENROLLED)] = "enrolled",
	[EV(RENEWED)] = "renewed",
	[EV(RENEWAL_FAILED)] = "renewal_failed",
	[EV(REVOKED)] = "revoked",
	[EV(EXPIRING)] = "expiring",
	[EV(JOB_FAILED)] = "job_failed",
	[EV(EXPIRED)] = "expired",
};

const char *
event_type_name(Cmpd__EventType type)
{
	if ((unsigned)type >= CMPD_ARRAY_LEN(type_names))
		return "unknown";
	return type_names[type];
}

int
viewer_may_use(
    const struct config *cfg, const struct viewer *v, const char *profile)
{
	const struct profile *pr = config_profile(cfg, profile);

	if (v->admin)
		return 1;
	return pr != NULL &&
	    (config_ids_has_user(&pr->allowed_users, v->uid) ||
	        config_ids_has_group(&pr->allowed_groups, v->uid, v->gid));
}

/*
 * A failed job is the business of its owner (as the job list shows it);
 * what happened to a certificate is the business of everyone who may use
 * its profile, and of the owner of the job that did it.
 */
int
event_visible(
    const struct config *cfg, const struct viewer *v, const Cmpd__Event *e)
{
	int own_job = cmpd_str_set(e->job_id) && e->owner_uid == v->uid;

	if (v->profile[0] != '\0' && strcmp(v->profile, e->profile) != 0)
		return 0;
	if (v->admin || own_job)
		return 1;
	if (e->type == EV(JOB_FAILED))
		return 0;
	return viewer_may_use(cfg, v, e->profile);
}

cmpd_err
events_new(
    struct broker *b, size_t cap, uint64_t first_seq, struct events **out)
{
	struct events *ev = calloc(1, sizeof(*ev));

	if (ev == NULL || cap == 0 ||
	    (ev->ring = calloc(cap, sizeof(*ev->ring))) == NULL) {
		free(ev);
		return CMPD_ENOMEM;
	}
	ev->magic = EVENTS_MAGIC;
	ev->b = b;
	ev->cap = cap;
	ev->first = ev->next = first_seq > 0 ? first_seq : 1;
	*out = ev;
	return CMPD_OK;
}

static void
ring_free(struct events *ev)
{
	for (size_t i = 0; i < ev->cap; i++)
		cmpd__event__free_unpacked(ev->ring[i], NULL);
	free(ev->ring);
	free(ev);
}

static void
sub_close_cb(uv_handle_t *h)
{
	struct sub *s = h->data;
	struct events *ev = s->ev;

	free(s);
	/* The last timer of a ring being freed frees the ring. */
	if (--ev->open_timers == 0 && ev->magic == 0)
		ring_free(ev);
}

/* Unlinks s, calls its callback and closes its timer. */
static void
sub_wake(struct sub *s, int timed_out)
{
	struct events *ev = s->ev;

	CMPD_MAGIC_CHECK(s, SUB_MAGIC);
	for (struct sub **pp = &ev->subs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	s->magic = 0;
	uv_timer_stop(&s->timer);
	s->cb(s->arg, timed_out);
	uv_close((uv_handle_t *)&s->timer, sub_close_cb);
}

void
events_free(struct events *ev)
{
	if (ev == NULL)
		return;
	CMPD_MAGIC_CHECK(ev, EVENTS_MAGIC);
	while (ev->subs != NULL)
		sub_wake(ev->subs, 1);
	ev->magic = 0;
	if (ev->open_timers == 0)
		ring_free(ev);
}

uint64_t
events_last(const struct events *ev)
{
	return ev->next - 1;
}

uint64_t
events_count(const struct events *ev, Cmpd__EventType type)
{
	if ((unsigned)type >= CMPD_ARRAY_LEN(ev->counts))
		return 0;
	return ev->counts[type];
}

/* The oldest seq still in the ring. */
static uint64_t
events_oldest(const struct events *ev)
{
	return ev->next - ev->first > ev->cap ? ev->next - ev->cap : ev->first;
}

void
events_collect(const struct events *ev, const struct viewer *v, uint64_t cursor,
    size_t max, struct event_batch *out)
{
	uint64_t oldest = events_oldest(ev), seq;

	out->n = 0;
	out->missed = 0;
	out->last = events_last(ev);
	if (max == 0 || max > EVENT_BATCH_MAX)
		max = EVENT_BATCH_MAX;
	if (cursor == 0)
		return;
	/* Behind the ring, or a cursor of another run: some are gone. */
	if (cursor + 1 < oldest || cursor > out->last) {
		out->missed = 1;
		cursor = oldest - 1;
	}
	for (seq = cursor + 1; seq < ev->next && out->n < max; seq++) {
		const Cmpd__Event *e = ev->ring[seq % ev->cap];

		if (event_visible(ev->b->cfg, v, e))
			out->v[out->n++] = e;
		out->last = seq;
	}
}

static void
sub_timeout_cb(uv_timer_t *t)
{
	sub_wake(t->data, 1);
}

cmpd_err
events_subscribe(struct events *ev, const struct viewer *v, uint64_t cursor,
    uint32_t wait_ms, event_wake_cb cb, void *arg)
{
	struct sub *s = calloc(1, sizeof(*s));

	CMPD_MAGIC_CHECK(ev, EVENTS_MAGIC);
	if (s == NULL)
		return CMPD_ENOMEM;
	s->magic = SUB_MAGIC;
	s->ev = ev;
	s->viewer = *v;
	s->cursor = cursor;
	s->cb = cb;
	s->arg = arg;
	s->timer.data = s;
	uv_timer_init(ev->b->loop, &s->timer);
	ev->open_timers++;
	uv_timer_start(&s->timer, sub_timeout_cb, wait_ms, 0);
	s->next = ev->subs;
	ev->subs = s;
	return CMPD_OK;
}

void
events_add(struct events *ev, Cmpd__Event *e)
{
	Cmpd__Event **slot = &ev->ring[ev->next % ev->cap];
	struct sub *s, *next;

	CMPD_MAGIC_CHECK(ev, EVENTS_MAGIC);
	cmpd__event__free_unpacked(*slot, NULL);
	e->seq = ev->next++;
	e->time = cmpd_time_now();
	*slot = e;
	if ((unsigned)e->type < CMPD_ARRAY_LEN(ev->counts))
		ev->counts[e->type]++;
	for (s = ev->subs; s != NULL; s = next) {
		next = s->next;
		if (e->seq > s->cursor &&
		    event_visible(ev->b->cfg, &s->viewer, e))
			sub_wake(s, 0);
	}
}

/* The job's part of an event. */
static cmpd_err
event_fill_job(Cmpd__Event *e, const Cmpd__Job *job)
{
	cmpd_err rv;

	if ((rv = rec_set_str(&e->job_id, job->id)) != CMPD_OK ||
	    (rv = rec_set_str(&e->profile, job->profile)) != CMPD_OK ||
	    (rv = rec_set_str(&e->cert_id, job->cert_id)) != CMPD_OK ||
	    (rv = rec_set_str(&e->error_text, job->error_text)) != CMPD_OK)
		return rv;
	e->op = job->op;
	e->owner_uid = job->owner_uid;
	e->automatic = job->automatic;
	e->error = job->error;
	return CMPD_OK;
}

/*
 * The certificate's part: it is the current word on profile and id. Its
 * last error says why renewals fail; a success event has none.
 */
static cmpd_err
event_fill_cert(Cmpd__Event *e, const Cmpd__CertRecord *c)
{
	int failure = e->type == EV(RENEWAL_FAILED) ||
	    e->type == EV(EXPIRING) || e->type == EV(EXPIRED);

	cmpd_err rv;

	if ((rv = rec_set_str(&e->profile, c->profile)) != CMPD_OK ||
	    (rv = rec_set_str(&e->cert_id, c->id)) != CMPD_OK ||
	    (rv = rec_set_str(&e->serial, c->serial)) != CMPD_OK ||
	    (rv = rec_set_str(&e->cert_path, c->cert_path)) != CMPD_OK)
		return rv;
	if (failure && !cmpd_str_set(e->error_text) &&
	    (rv = rec_set_str(&e->error_text, c->last_error)) != CMPD_OK)
		return rv;
	e->not_after = c->not_after;
	e->failures = c->failures;
	e->next_attempt = c->next_renewal;
	return CMPD_OK;
}

void
event_emit(struct broker *b, Cmpd__EventType type, const Cmpd__Job *job,
    const Cmpd__CertRecord *cert)
{
	struct events *ev = b->api != NULL ? api_events(b->api) : NULL;
	Cmpd__Event *e;

	if (ev == NULL)
		return;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		goto nomem;
	cmpd__event__init(e);
	e->type = type;
	if ((job != NULL && event_fill_job(e, job) != CMPD_OK) ||
	    (cert != NULL && event_fill_cert(e, cert) != CMPD_OK)) {
		cmpd__event__free_unpacked(e, NULL);
		goto nomem;
	}
	log_debug("event %s: profile %s, job %s, certificate %s",
	    event_type_name(type), e->profile, e->job_id, e->cert_id);
	events_add(ev, e);
	health_changed(api_health(b->api));
	return;
nomem:
	log_err("out of memory for a %s event", event_type_name(type));
}
