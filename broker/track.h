/*
 * Tracked certificates: every certificate cmpd enrolled for a profile.
 * cmpd renews the active one of each profile with KUR when a configured
 * point of its life is reached (a percentage of its lifetime or a time
 * before expiry, moved earlier by random jitter and into an optional daily
 * window), retries with exponential backoff while the CA is unreachable or
 * refuses, until expiry, and re-enrolls with IR after expiry where the
 * profile allows it.
 *
 * The store holds the records (cmpd.CertRecord); memory holds one small
 * entry per certificate for the scheduler, and one timer serves them all.
 */
#pragma once

#include <stdint.h>

#include "broker.h"
#include "cmpd.pb-c.h"
#include "config.h"

/* Loads the tracked certificates and starts the renewal timer. */
cmpd_err track_start(struct broker *b);

/* Stops the timer and frees the entries (at shutdown). */
void track_stop(struct broker *b);

/*
 * When a certificate valid from not_before to not_after should be renewed
 * under pr: the configured point, minus jitter * r (r in [0, 1)), moved
 * forward into the daily window (local time), and never before now.
 */
int64_t track_renewal_time(const struct profile *pr, int64_t not_before,
    int64_t not_after, int64_t now, double r);

/* When to try again after failures failed renewals in a row. */
int64_t track_retry_time(
    const struct profile *pr, uint32_t failures, int64_t now, double r);

/*
 * A job made or changed rec (committed to the store): the scheduler takes
 * its state and next renewal time.
 */
void track_changed(struct broker *b, const Cmpd__CertRecord *rec);

/* A job now acts on the certificate id (busy) or no longer does. */
void track_set_busy(struct broker *b, const char *id, int busy);

/* A uniformly random double in [0, 1). */
double track_random(void);
