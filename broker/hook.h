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
