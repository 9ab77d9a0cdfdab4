/*
 * Health: what needs an operator's attention, for `cmpctl health` and for
 * a Prometheus text-format file.
 *
 * - a stuck job: unfinished past its deadline, a waiting job whose poll is
 *   long overdue, or a job that has stayed queued, generating its key or
 *   talking to the CA far longer than its profile's timeouts allow;
 * - a renewal overdue: an active certificate past its renewal point
 *   (without jitter) that failed to renew, or whose renewal never started;
 * - a certificate that expires before the next attempt to renew it;
 * - a certificate expiring: less than a fifth of its life (at most seven
 *   days) left while nothing renews it (no automatic renewal, or renewals
 *   failing); this also emits an "expiring" event, once per certificate.
 *
 * With metrics_file set in [cmpd], the same figures are written there
 * (atomically, mode 0644) every minute and soon after every event.
 */
#pragma once

#include <stdint.h>

#include "broker.h"
#include "cmpd.pb-c.h"
#include "config.h"
#include "err.h"
#include "event.h"

#define HEALTH_PERIOD_S     60
#define HEALTH_STUCK_GRACE  60  /* seconds past a deadline or poll */
#define HEALTH_STUCK_MIN    300 /* a step is never stuck sooner */
#define HEALTH_EXPIRING_MAX (7 * 86400)

struct health;

/* Starts the timer (the first run comes at once); *out is the caller's. */
cmpd_err health_start(struct broker *b, struct events *ev, struct health **out);

/* Stops the timer; the loop frees h once it closed it. NULL is ignored. */
void health_stop(struct health *h);

/* Something changed: the metrics are written again within a second. */
void health_changed(struct health *h);

/*
 * The report v may see at now: problems and counts. *out is the caller's
 * (cmpd__health_rep__free_unpacked(*out, NULL)).
 */
cmpd_err health_report(struct broker *b, const struct viewer *v, int64_t now,
    Cmpd__HealthRep **out);

/*
 * The checks, for one unfinished job and one certificate record under
 * their profile (NULL if it is gone). Each returns the kind of problem
 * (HEALTH_KIND_UNSPECIFIED: none) and fills p's fields (malloc'd strings,
 * as protobuf-c frees them) when there is one.
 */
Cmpd__HealthKind health_job_check(const Cmpd__Job *job,
    const struct profile *pr, int64_t now, Cmpd__HealthProblem *p);
Cmpd__HealthKind health_cert_check(const Cmpd__CertRecord *c,
    const struct profile *pr, int64_t now, Cmpd__HealthProblem *p);

/* When c, active, counts as expiring (its not_after minus the margin). */
int64_t health_expiring_from(const Cmpd__CertRecord *c);

/* "stuck_job", "renewal_overdue", "expires_before_retry", "expiring". */
const char *health_kind_name(Cmpd__HealthKind kind);

/*
 * The Prometheus text exposition of rep, of the active certificates in
 * certs (n of them), and of the event counts of ev (may be NULL), as a
 * new string (free()).
 */
cmpd_err health_metrics_text(const Cmpd__HealthRep *rep,
    Cmpd__CertRecord *const *certs, size_t n, const struct events *ev,
    char **out);
