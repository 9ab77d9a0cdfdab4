/*
 * Reload commands: after a profile's certificate files changed, its
 * reload_command runs (through /bin/sh, with CMPD_EVENT, CMPD_PROFILE,
 * CMPD_CERT_ID, CMPD_CERT_FILE and CMPD_CHAIN_FILE in its environment),
 * killed after reload_timeout. A failure is logged and kept as the
 * certificate's last error; it does not undo the renewal.
 */
#pragma once

#include "broker.h"

/* Starts pr's reload command for event ("enrolled", "renewed"). */
void hook_run(struct broker *b, const struct profile *pr, const char *event,
    const char *cert_id);

/* How a reload command ended: exit status (-1 if none), signal, timeout. */
typedef void (*hook_done_cb)(void *arg, int64_t status, int sig, int timed_out);

/*
 * Runs pr's reload command as after a renewal, with CMPD_EVENT=test and
 * nothing renewed, and calls done (on the loop) when it ended; a failure
 * is not recorded on the certificate. CMPD_ENOENT: pr has no reload
 * command; CMPD_EIO: it could not be started (done is not called).
 */
cmpd_err hook_test(struct broker *b, const struct profile *pr,
    const char *cert_id, hook_done_cb done, void *arg);
