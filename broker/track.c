#include "track.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event.h"
#include "job.h"
#include "log.h"
#include "util.h"

#define TRACK_MAGIC     0x74726b31u /* "trk1" */
#define MAX_SLEEP_S     3600        /* wake at least hourly (clock changes) */
#define MAX_STARTS      32          /* renewals started per wake-up */
#define JITTER_SHARE    50          /* automatic jitter: 2% of the lifetime */
#define MINUTES_PER_DAY 1440

struct track_entry {
	char id[CMPD_JOB_ID_LEN + 1];
	char profile[65];
	int64_t next; /* next renewal, unix time; 0: none */
	int64_t not_after;
	Cmpd__CertState state;
	int busy; /* a job acts on it */
};

struct tracker {
	uint32_t magic;
	struct broker *b;
	struct track_entry *v;
	size_t n, cap;
	uv_timer_t timer;
};

double
track_random(void)
{
	uint32_t x = 0;

	if (RAND_bytes((unsigned char *)&x, sizeof(x)) != 1)
		return 0.5;
	return x / 4294967296.0;
}

static int
window_holds(const struct window *w, int minute)
{
	if (w->start < w->end)
		return minute >= w->start && minute < w->end;
	return minute >= w->start || minute < w->end; /* across midnight */
}

/* The first moment at or after t inside the daily window (local time). */
static int64_t
window_next(const struct window *w, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	int minute, wait;

	if (localtime_r(&tt, &tm) == NULL)
		return t;
	minute = tm.tm_hour * 60 + tm.tm_min;
	if (window_holds(w, minute))
		return t;
	wait = (w->start - minute + MINUTES_PER_DAY) % MINUTES_PER_DAY;
	return t + (int64_t)wait * 60 - tm.tm_sec;
}

int64_t
track_renewal_time(const struct profile *pr, int64_t not_before,
    int64_t not_after, int64_t now, double r)
{
	int64_t life = not_after - not_before, point, jitter, windowed;

	if (life <= 0)
		return now;
	point = pr->renew_before > 0 ? not_after - pr->renew_before
	                             : not_before + life * pr->renew_at / 100;
	jitter = pr->renew_jitter >= 0 ? pr->renew_jitter : life / JITTER_SHARE;
	if (jitter > life / 4)
		jitter = life / 4;
	point -= (int64_t)((double)jitter * r);
	if (point < now)
		point = now;
	if (pr->window.start == NO_WINDOW)
		return point;
	/* A window that would let the certificate expire is not kept. */
	windowed = window_next(&pr->window, point);
	return windowed < not_after ? windowed : point;
}

int64_t
track_retry_time(
    const struct profile *pr, uint32_t failures, int64_t now, double r)
{
	uint64_t delay = pr->retry_min;

	for (uint32_t i = 1; i < failures && delay < pr->retry_max; i++)
		delay *= 2;
	if (delay > pr->retry_max)
		delay = pr->retry_max;
	/* Up to a tenth more, so that many certificates do not retry as one. */
	return now + (int64_t)delay + (int64_t)((double)delay / 10 * r);
}

static struct track_entry *
entry_find(struct tracker *tr, const char *id)
{
	for (size_t i = 0; i < tr->n; i++)
		if (strcmp(tr->v[i].id, id) == 0)
			return &tr->v[i];
	return NULL;
}

static struct track_entry *
entry_add(struct tracker *tr, const char *id)
{
	struct track_entry *e;

	if (tr->n == tr->cap) {
		size_t cap = tr->cap ? tr->cap * 2 : 64;
		struct track_entry *grown =
		    realloc(tr->v, cap * sizeof(*grown));

		if (grown == NULL)
			return NULL;
		tr->v = grown;
		tr->cap = cap;
	}
	e = &tr->v[tr->n++];
	memset(e, 0, sizeof(*e));
	cmpd_strlcpy(e->id, id, sizeof(e->id));
	return e;
}

static void
entry_set(struct track_entry *e, const Cmpd__CertRecord *rec)
{
	cmpd_strlcpy(e->profile, rec->profile, sizeof(e->profile));
	e->state = rec->state;
	e->next = rec->next_renewal;
	e->not_after = rec->not_after;
	e->busy = cmpd_str_set(rec->renewing_job);
}

static void track_timer_cb(uv_timer_t *t);

/* Sleeps until the earliest renewal that can start, at most an hour. */
static void
track_arm(struct tracker *tr)
{
	int64_t now = cmpd_time_now(), next = now + MAX_SLEEP_S;

	for (size_t i = 0; i < tr->n; i++) {
		const struct track_entry *e = &tr->v[i];

		if (e->state == CMPD__CERT_STATE__CERT_ACTIVE && !e->busy &&
		    e->next > 0 && e->next < next)
			next = e->next;
	}
	uv_timer_start(&tr->timer, track_timer_cb,
	    next > now ? (uint64_t)(next - now) * 1000 : 0, 0);
}

/* Marks a certificate that expired without renewal. */
static void
track_expire(struct tracker *tr, struct track_entry *e)
{
	Cmpd__CertRecord *rec = NULL;

	e->state = CMPD__CERT_STATE__CERT_EXPIRED;
	e->next = 0;
	if (store_cert_get(tr->b->store, e->id, &rec) != CMPD_OK)
		return;
	rec->state = CMPD__CERT_STATE__CERT_EXPIRED;
	rec->next_renewal = 0;
	if (store_cert_put(tr->b->store, rec) != CMPD_OK)
		log_err("certificate %s: cannot store its expiry", e->id);
	log_warn("certificate %s of profile %s expired without renewal: %s",
	    e->id, e->profile,
	    cmpd_str_set(rec->last_error) ? rec->last_error : "no attempt");
	event_emit(tr->b, EV(EXPIRED), NULL, rec);
	cmpd__cert_record__free_unpacked(rec, NULL);
}

/* A certificate's renewal point came: KUR, or IR after expiry. */
static void
track_due(struct tracker *tr, struct track_entry *e, const struct profile *pr,
    int64_t now)
{
	char err[256] = "";
	cmpd_err rv;

	if (now >= e->not_after && !pr->reenroll_after_expiry) {
		track_expire(tr, e);
		return;
	}
	rv = now >= e->not_after
	    ? job_reenroll(tr->b, e->id, err, sizeof(err))
	    : job_renew_auto(tr->b, e->id, err, sizeof(err));
	if (rv == CMPD_OK) {
		e->busy = 1;
		return;
	}
	log_warn("certificate %s: cannot start its renewal: %s", e->id, err);
	e->next = track_retry_time(pr, 1, now, track_random());
}

static void
track_timer_cb(uv_timer_t *t)
{
	struct tracker *tr = t->data;
	int64_t now = cmpd_time_now();
	int started = 0;

	CMPD_MAGIC_CHECK(tr, TRACK_MAGIC);
	for (size_t i = 0; i < tr->n && started < MAX_STARTS; i++) {
		struct track_entry *e = &tr->v[i];
		const struct profile *pr;

		if (e->state != CMPD__CERT_STATE__CERT_ACTIVE || e->busy ||
		    e->next == 0 || e->next > now)
			continue;
		pr = config_profile(tr->b->cfg, e->profile);
		if (pr == NULL || !pr->auto_renew) {
			e->next = 0;
			continue;
		}
		track_due(tr, e, pr, now);
		started++;
	}
	track_arm(tr);
}

/* A record without a renewal time gets one (its profile's policy). */
static void
track_plan(struct tracker *tr, Cmpd__CertRecord *rec)
{
	const struct profile *pr = config_profile(tr->b->cfg, rec->profile);

	if (rec->state != CMPD__CERT_STATE__CERT_ACTIVE ||
	    rec->next_renewal != 0 || pr == NULL || !pr->auto_renew)
		return;
	rec->next_renewal = track_renewal_time(pr, rec->not_before,
	    rec->not_after, cmpd_time_now(), track_random());
	if (store_cert_put(tr->b->store, rec) != CMPD_OK)
		log_err(
		    "certificate %s: cannot store its renewal time", rec->id);
}

static int
track_load_cb(void *arg, Cmpd__CertRecord *rec)
{
	struct tracker *tr = arg;
	struct track_entry *e = entry_add(tr, rec->id);

	if (e != NULL) {
		track_plan(tr, rec);
		entry_set(e, rec);
		e->busy = 0; /* job_resume_all marks those still at work */
	}
	cmpd__cert_record__free_unpacked(rec, NULL);
	return e == NULL;
}

cmpd_err
track_start(struct broker *b)
{
	struct tracker *tr = calloc(1, sizeof(*tr));
	cmpd_err rv;

	if (tr == NULL)
		return CMPD_ENOMEM;
	tr->magic = TRACK_MAGIC;
	tr->b = b;
	tr->timer.data = tr;
	uv_timer_init(b->loop, &tr->timer);
	b->tracker = tr;
	if ((rv = store_cert_each(b->store, track_load_cb, tr)) != CMPD_OK)
		return rv;
	log_info("tracking %zu certificate%s", tr->n, tr->n == 1 ? "" : "s");
	track_arm(tr);
	return CMPD_OK;
}

static void
track_close_cb(uv_handle_t *h)
{
	struct tracker *tr = h->data;

	free(tr->v);
	free(tr);
}

void
track_stop(struct broker *b)
{
	struct tracker *tr = b->tracker;

	if (tr == NULL)
		return;
	b->tracker = NULL;
	uv_close((uv_handle_t *)&tr->timer, track_close_cb);
}

void
track_changed(struct broker *b, const Cmpd__CertRecord *rec)
{
	struct tracker *tr = b->tracker;
	struct track_entry *e;

	if (tr == NULL)
		return;
	if ((e = entry_find(tr, rec->id)) == NULL &&
	    (e = entry_add(tr, rec->id)) == NULL) {
		log_err(
		    "certificate %s: out of memory for the scheduler", rec->id);
		return;
	}
	entry_set(e, rec);
	track_arm(tr);
}

void
track_set_busy(struct broker *b, const char *id, int busy)
{
	struct track_entry *e;

	if (b->tracker == NULL || (e = entry_find(b->tracker, id)) == NULL)
		return;
	e->busy = busy;
	track_arm(b->tracker);
}
