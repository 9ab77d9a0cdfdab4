/*
 * Reloading the configuration (SIGHUP): the file is read again and, if it
 * is valid, replaces the one in use. Profiles may be added, changed and
 * removed; jobs keep running and use their profile's new settings from
 * their next step on. What the running processes were built from (paths,
 * sockets, the workers) needs a restart and keeps its old value.
 */
#pragma once

#include "broker.h"

/*
 * Reads b->cfg->path again and applies it. A configuration with an error,
 * or one that removes a profile that unfinished jobs still use, is refused
 * with a log line that says why (naming the file and line) and the old one
 * stays. log_level_fixed >= 0 means --log-level was given: the file's
 * log_level is then ignored as at start.
 */
cmpd_err reload_config(struct broker *b, int log_level_fixed);
