#include "health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "job.h"
#include "log.h"
#include "record.h"
#include "track.h"
#include "util.h"

#define HEALTH_MAGIC   0x686c7431u /* "hlt1" */
#define HEALTH_SOON_MS 1000u       /* metrics after a change */
#define HEALTH_KINDS   (CMPD__HEALTH_KIND__HEALTH_EXPIRING + 1)
#define K(x)           CMPD__HEALTH_KIND__HEALTH_##x
#define JS(x)          CMPD__JOB_STATE__JOB_##x
#define CS(x)          CMPD__CERT_STATE__CERT_##x

/* A certificate already announced as expiring (until it changes). */
struct warned {
	char id[CMPD_JOB_ID_LEN + 1];
	int64_t not_after;
};

struct health {
	uint32_t magic;
	struct broker *b;
	struct events *ev;
	uv_timer_t timer;
	uint64_t due_ms; /* loop time of the next run */
	struct warned *warned;
	size_t n_warned, cap_warned;
};

/* What one scan of jobs and certificates found. */
struct scan {
	struct broker *b;
	const struct viewer *v;
	int64_t now;
	Cmpd__HealthRep *rep;
	Cmpd__CertRecord **active; /* kept when keep is set */
	size_t n_active, cap_active;
	int keep;
	cmpd_err rv;
};

static const char *const kind_names[] = {
	[K(KIND_UNSPECIFIED)] = "none",
	[K(STUCK_JOB)] = "stuck_job",
	[K(RENEWAL_OVERDUE)] = "renewal_overdue",
	[K(EXPIRES_BEFORE_RETRY)] = "expires_before_retry",
	[K(EXPIRING)] = "expiring",
};

const char *
health_kind_name(Cmpd__HealthKind kind)
{
	if ((unsigned)kind >= CMPD_ARRAY_LEN(kind_names))
		return "unknown";
	return kind_names[kind];
}

static Cmpd__HealthKind
problem_set(Cmpd__HealthProblem *p, Cmpd__HealthKind kind, int64_t since,
    int64_t due, const char *detail)
{
	p->kind = kind;
	p->since = since;
	p->due = due;
	if (rec_set_str(&p->detail, detail) != CMPD_OK)
		log_err("out of memory for a health report");
	return kind;
}

/* How long a step may take before it is stuck: its timeouts, generously. */
static int64_t
step_limit(const struct profile *pr)
{
	int64_t limit = pr != NULL ? 4 * (int64_t)pr->msg_timeout : 0;

	return limit > HEALTH_STUCK_MIN ? limit : HEALTH_STUCK_MIN;
}

static void
job_ids(Cmpd__HealthProblem *p, const Cmpd__Job *job)
{
	if (rec_set_str(&p->profile, job->profile) != CMPD_OK ||
	    rec_set_str(&p->job_id, job->id) != CMPD_OK ||
	    rec_set_str(&p->cert_id, job->cert_id) != CMPD_OK)
		log_err("out of memory for a health report");
	p->job_state = job->state;
}

Cmpd__HealthKind
health_job_check(const Cmpd__Job *job, const struct profile *pr, int64_t now,
    Cmpd__HealthProblem *p)
{
	if (job_state_ended(job->state))
		return K(KIND_UNSPECIFIED);
	job_ids(p, job);
	if (job->deadline > 0 && now > job->deadline + HEALTH_STUCK_GRACE)
		return problem_set(p, K(STUCK_JOB), job->created, job->deadline,
		    "unfinished past its deadline");
	if (job->state == JS(WAITING)) {
		if (job->next_poll > 0 &&
		    now > job->next_poll + HEALTH_STUCK_GRACE)
			return problem_set(p, K(STUCK_JOB), job->updated,
			    job->next_poll, "its poll of the CA is overdue");
		return K(KIND_UNSPECIFIED);
	}
	if (now - job->updated > step_limit(pr))
		return problem_set(p, K(STUCK_JOB), job->updated,
		    job->updated + step_limit(pr),
		    "in the same state far longer than its timeouts allow");
	return K(KIND_UNSPECIFIED);
}

int64_t
health_expiring_from(const Cmpd__CertRecord *c)
{
	int64_t margin = (c->not_after - c->not_before) / 5;

	if (margin > HEALTH_EXPIRING_MAX)
		margin = HEALTH_EXPIRING_MAX;
	return c->not_after - margin;
}

static void
cert_ids(Cmpd__HealthProblem *p, const Cmpd__CertRecord *c)
{
	if (rec_set_str(&p->profile, c->profile) != CMPD_OK ||
	    rec_set_str(&p->cert_id, c->id) != CMPD_OK ||
	    rec_set_str(&p->job_id, c->renewing_job) != CMPD_OK)
		log_err("out of memory for a health report");
	p->failures = c->failures;
	p->next_attempt = c->next_renewal;
}

/* Past the renewal point: failed, or never started (with some grace). */
static int
renewal_overdue(
    const Cmpd__CertRecord *c, const struct profile *pr, int64_t now)
{
	int64_t point;

	if (pr == NULL || !pr->auto_renew)
		return 0;
	point = track_renewal_time(pr, c->not_before, c->not_after, 0, 0.0);
	if (now < point)
		return 0;
	if (c->failures > 0)
		return 1;
	return !cmpd_str_set(c->renewing_job) && c->next_renewal > 0 &&
	    now > c->next_renewal + HEALTH_STUCK_GRACE;
}

/* Nothing renews c: no automatic renewal, or its renewals fail. */
static int
cert_unattended(const Cmpd__CertRecord *c, const struct profile *pr)
{
	return c->failures > 0 || pr == NULL || !pr->auto_renew;
}

Cmpd__HealthKind
health_cert_check(const Cmpd__CertRecord *c, const struct profile *pr,
    int64_t now, Cmpd__HealthProblem *p)
{
	int failing = cert_unattended(c, pr);

	if (c->state != CS(ACTIVE))
		return K(KIND_UNSPECIFIED);
	cert_ids(p, c);
	if (c->failures > 0 && c->next_renewal >= c->not_after)
		return problem_set(p, K(EXPIRES_BEFORE_RETRY), c->not_before,
		    c->not_after,
		    cmpd_str_set(c->last_error) ? c->last_error
		                                : "renewal failed");
	if (renewal_overdue(c, pr, now))
		return problem_set(p, K(RENEWAL_OVERDUE), c->next_renewal,
		    c->not_after,
		    cmpd_str_set(c->last_error) ? c->last_error
		                                : "the renewal did not start");
	if (failing && now >= health_expiring_from(c))
		return problem_set(p, K(EXPIRING), health_expiring_from(c),
		    c->not_after,
		    now >= c->not_after ? "expired"
		                        : "expires soon and nothing renews it");
	return K(KIND_UNSPECIFIED);
}

static int
problem_add(struct scan *s, Cmpd__HealthProblem *p)
{
	Cmpd__HealthRep *rep = s->rep;
	Cmpd__HealthProblem **grown =
	    realloc(rep->problems, (rep->n_problems + 1) * sizeof(*grown));

	if (grown == NULL) {
		cmpd__health_problem__free_unpacked(p, NULL);
		s->rv = CMPD_ENOMEM;
		return 0;
	}
	rep->problems = grown;
	rep->problems[rep->n_problems++] = p;
	return 1;
}

static Cmpd__HealthProblem *
problem_new(void)
{
	Cmpd__HealthProblem *p = calloc(1, sizeof(*p));

	if (p != NULL)
		cmpd__health_problem__init(p);
	return p;
}

static void
scan_jobs(struct scan *s)
{
	for (struct job *j = s->b->jobs; j != NULL && s->rv == CMPD_OK;
	     j = j->next) {
		const Cmpd__Job *rec = j->rec;
		Cmpd__HealthProblem *p;

		if ((!s->v->admin && rec->owner_uid != s->v->uid) ||
		    (s->v->profile[0] && strcmp(rec->profile, s->v->profile)))
			continue;
		s->rep->jobs_unfinished++;
		if ((p = problem_new()) == NULL) {
			s->rv = CMPD_ENOMEM;
			return;
		}
		if (health_job_check(rec,
		        config_profile(s->b->cfg, rec->profile), s->now,
		        p) == K(KIND_UNSPECIFIED))
			cmpd__health_problem__free_unpacked(p, NULL);
		else
			problem_add(s, p);
	}
}

static void
scan_count(Cmpd__HealthRep *rep, Cmpd__CertState state)
{
	if (state == CS(ACTIVE))
		rep->certs_active++;
	else if (state == CS(EXPIRED))
		rep->certs_expired++;
	else if (state == CS(REVOKED))
		rep->certs_revoked++;
}

static int
scan_keep(struct scan *s, Cmpd__CertRecord *c)
{
	if (s->n_active == s->cap_active) {
		size_t cap = s->cap_active ? s->cap_active * 2 : 32;
		Cmpd__CertRecord **grown =
		    realloc(s->active, cap * sizeof(*grown));

		if (grown == NULL)
			return 0;
		s->active = grown;
		s->cap_active = cap;
	}
	s->active[s->n_active++] = c;
	return 1;
}

static int
scan_cert_cb(void *arg, Cmpd__CertRecord *c)
{
	struct scan *s = arg;
	Cmpd__HealthProblem *p = NULL;

	if (!viewer_may_use(s->b->cfg, s->v, c->profile) ||
	    (s->v->profile[0] && strcmp(c->profile, s->v->profile) != 0))
		goto out;
	scan_count(s->rep, c->state);
	if ((p = problem_new()) == NULL) {
		s->rv = CMPD_ENOMEM;
		goto out;
	}
	if (health_cert_check(c, config_profile(s->b->cfg, c->profile), s->now,
	        p) != K(KIND_UNSPECIFIED)) {
		problem_add(s, p);
		p = NULL;
	}
	if (s->keep && c->state == CS(ACTIVE) && scan_keep(s, c))
		c = NULL;
out:
	if (p != NULL)
		cmpd__health_problem__free_unpacked(p, NULL);
	if (c != NULL)
		cmpd__cert_record__free_unpacked(c, NULL);
	return s->rv != CMPD_OK;
}

static void
scan_fini(struct scan *s)
{
	for (size_t i = 0; i < s->n_active; i++)
		cmpd__cert_record__free_unpacked(s->active[i], NULL);
	free(s->active);
	cmpd__health_rep__free_unpacked(s->rep, NULL);
}

static cmpd_err
scan_run(struct scan *s)
{
	cmpd_err rv;

	if ((s->rep = calloc(1, sizeof(*s->rep))) == NULL)
		return CMPD_ENOMEM;
	cmpd__health_rep__init(s->rep);
	s->rep->time = s->now;
	scan_jobs(s);
	if (s->rv == CMPD_OK &&
	    (rv = store_cert_each(s->b->store, scan_cert_cb, s)) != CMPD_OK &&
	    s->rv == CMPD_OK)
		s->rv = rv;
	return s->rv;
}

cmpd_err
health_report(struct broker *b, const struct viewer *v, int64_t now,
    Cmpd__HealthRep **out)
{
	struct scan s = { .b = b, .v = v, .now = now };

	if (scan_run(&s) != CMPD_OK) {
		scan_fini(&s);
		return s.rv;
	}
	*out = s.rep;
	s.rep = NULL;
	scan_fini(&s);
	return CMPD_OK;
}

/* A Prometheus label value: backslash, quote and line end escaped. */
static void
label_put(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void
metric_head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
metrics_summary(FILE *f, const Cmpd__HealthRep *rep)
{
	size_t by_kind[HEALTH_KINDS] = { 0 };

	for (size_t i = 0; i < rep->n_problems; i++)
		if ((unsigned)rep->problems[i]->kind < HEALTH_KINDS)
			by_kind[rep->problems[i]->kind]++;
	metric_head(f, "cmpd_health_problems", "gauge",
	    "Things that need attention, by kind.");
	for (unsigned k = 1; k < HEALTH_KINDS; k++)
		fprintf(f, "cmpd_health_problems{kind=\"%s\"} %zu\n",
		    kind_names[k], by_kind[k]);
	metric_head(
	    f, "cmpd_jobs_unfinished", "gauge", "Jobs that have not ended.");
	fprintf(f, "cmpd_jobs_unfinished %u\n", rep->jobs_unfinished);
	metric_head(
	    f, "cmpd_certificates", "gauge", "Tracked certificates by state.");
	fprintf(
	    f, "cmpd_certificates{state=\"active\"} %u\n", rep->certs_active);
	fprintf(
	    f, "cmpd_certificates{state=\"expired\"} %u\n", rep->certs_expired);
	fprintf(
	    f, "cmpd_certificates{state=\"revoked\"} %u\n", rep->certs_revoked);
}

static void
metrics_cert_series(FILE *f, Cmpd__CertRecord *const *certs, size_t n,
    const char *name, int which)
{
	for (size_t i = 0; i < n; i++) {
		const Cmpd__CertRecord *c = certs[i];
		int64_t v = which == 0 ? c->not_after
		    : which == 1       ? c->next_renewal
		                       : (int64_t)c->failures;

		fprintf(f, "%s{profile=\"", name);
		label_put(f, c->profile);
		fprintf(f, "\",id=\"");
		label_put(f, c->id);
		fprintf(f, "\"} %lld\n", (long long)v);
	}
}

static void
metrics_certs(FILE *f, Cmpd__CertRecord *const *certs, size_t n)
{
	metric_head(f, "cmpd_certificate_not_after_seconds", "gauge",
	    "When an active certificate expires (unix time).");
	metrics_cert_series(
	    f, certs, n, "cmpd_certificate_not_after_seconds", 0);
	metric_head(f, "cmpd_certificate_next_renewal_seconds", "gauge",
	    "When cmpd renews an active certificate next (unix time; 0: "
	    "not scheduled).");
	metrics_cert_series(
	    f, certs, n, "cmpd_certificate_next_renewal_seconds", 1);
	metric_head(f, "cmpd_certificate_renewal_failures", "gauge",
	    "Renewals of an active certificate that failed in a row.");
	metrics_cert_series(
	    f, certs, n, "cmpd_certificate_renewal_failures", 2);
}

static void
metrics_events(FILE *f, const struct events *ev)
{
	metric_head(f, "cmpd_events_total", "counter",
	    "Events since cmpd started, by type.");
	for (int t = EV(ENROLLED); t <= EV(EXPIRED); t++)
		fprintf(f, "cmpd_events_total{type=\"%s\"} %llu\n",
		    event_type_name((Cmpd__EventType)t),
		    (unsigned long long)(ev != NULL
		            ? events_count(ev, (Cmpd__EventType)t)
		            : 0));
}

cmpd_err
health_metrics_text(const Cmpd__HealthRep *rep, Cmpd__CertRecord *const *certs,
    size_t n, const struct events *ev, char **out)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		return CMPD_ENOMEM;
	metrics_summary(f, rep);
	metrics_certs(f, certs, n);
	metrics_events(f, ev);
	metric_head(f, "cmpd_health_time_seconds", "gauge",
	    "When these figures were taken (unix time).");
	fprintf(f, "cmpd_health_time_seconds %lld\n", (long long)rep->time);
	if (fclose(f) != 0) {
		free(text);
		return CMPD_ENOMEM;
	}
	*out = text;
	return CMPD_OK;
}

/* Whether c was announced as expiring already; else remembers it. */
static int
warned_before(struct health *h, const Cmpd__CertRecord *c)
{
	struct warned *w;

	for (size_t i = 0; i < h->n_warned; i++)
		if (strcmp(h->warned[i].id, c->id) == 0) {
			if (h->warned[i].not_after == c->not_after)
				return 1;
			h->warned[i].not_after = c->not_after;
			return 0;
		}
	if (h->n_warned == h->cap_warned) {
		size_t cap = h->cap_warned ? h->cap_warned * 2 : 16;

		if ((w = realloc(h->warned, cap * sizeof(*w))) == NULL)
			return 1; /* better silent than repeating */
		h->warned = w;
		h->cap_warned = cap;
	}
	w = &h->warned[h->n_warned++];
	cmpd_strlcpy(w->id, c->id, sizeof(w->id));
	w->not_after = c->not_after;
	return 0;
}

/*
 * The expiring events (whatever else is wrong with the certificate), and
 * when the next certificate may become one.
 */
static int64_t
health_expiring(struct health *h, const struct scan *s)
{
	int64_t next = s->now + HEALTH_PERIOD_S;

	for (size_t j = 0; j < s->n_active; j++) {
		const Cmpd__CertRecord *c = s->active[j];
		const struct profile *pr =
		    config_profile(h->b->cfg, c->profile);
		int64_t from = health_expiring_from(c);

		if (from > s->now && from < next)
			next = from;
		if (from <= s->now && cert_unattended(c, pr) &&
		    !warned_before(h, c))
			event_emit(h->b, EV(EXPIRING), NULL, c);
	}
	return next;
}

static void
health_write(struct health *h, const struct scan *s)
{
	const char *path = h->b->cfg->metrics_file;
	char *text = NULL;
	cmpd_err rv;

	if (path == NULL)
		return;
	rv = health_metrics_text(s->rep, s->active, s->n_active, h->ev, &text);
	if (rv == CMPD_OK)
		rv = cmpd_file_write_atomic(
		    path, text, strlen(text), 0644, (uid_t)-1, (gid_t)-1);
	if (rv != CMPD_OK)
		log_warn("cannot write the metrics file %s: %s", path,
		    cmpd_strerror(rv));
	free(text);
}

static void health_timer_cb(uv_timer_t *t);

static void
health_arm_cb(struct health *h, uint64_t ms)
{
	h->due_ms = uv_now(h->b->loop) + ms;
	uv_timer_start(&h->timer, health_timer_cb, ms, 0);
}

static void
health_timer_cb(uv_timer_t *t)
{
	struct health *h = t->data;
	struct viewer all = { .admin = 1 };
	struct scan s = { .b = h->b, .v = &all, .keep = 1 };
	int64_t next;

	CMPD_MAGIC_CHECK(h, HEALTH_MAGIC);
	s.now = cmpd_time_now();
	if (scan_run(&s) != CMPD_OK) {
		log_err("health: cannot read the jobs and certificates");
		scan_fini(&s);
		health_arm_cb(h, HEALTH_PERIOD_S * 1000u);
		return;
	}
	next = health_expiring(h, &s);
	health_write(h, &s);
	scan_fini(&s);
	health_arm_cb(h, (uint64_t)(next - s.now) * 1000u);
}

cmpd_err
health_start(struct broker *b, struct events *ev, struct health **out)
{
	struct health *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return CMPD_ENOMEM;
	h->magic = HEALTH_MAGIC;
	h->b = b;
	h->ev = ev;
	h->timer.data = h;
	uv_timer_init(b->loop, &h->timer);
	health_arm_cb(h, 0);
	*out = h;
	return CMPD_OK;
}

void
health_changed(struct health *h)
{
	if (h == NULL || h->magic != HEALTH_MAGIC)
		return;
	if (h->due_ms > uv_now(h->b->loop) + HEALTH_SOON_MS)
		health_arm_cb(h, HEALTH_SOON_MS);
}

static void
health_close_cb(uv_handle_t *handle)
{
	struct health *h = handle->data;

	free(h->warned);
	free(h);
}

void
health_stop(struct health *h)
{
	if (h == NULL)
		return;
	CMPD_MAGIC_CHECK(h, HEALTH_MAGIC);
	h->magic = 0;
	uv_close((uv_handle_t *)&h->timer, health_close_cb);
}
