/*
 * Logging for every cmpd process: one line per event on stderr. Under
 * systemd (JOURNAL_STREAM set) each line starts with a "<N>" syslog
 * priority that journald reads; otherwise with a UTC timestamp, the
 * process name and the level. Safe to call from any thread.
 */
#pragma once

#include <stddef.h>

enum cmpd_log_level {
	CMPD_LOG_ERR = 3,
	CMPD_LOG_WARNING = 4,
	CMPD_LOG_NOTICE = 5,
	CMPD_LOG_INFO = 6,
	CMPD_LOG_DEBUG = 7,
};

/* Names this process in every line and sets the most verbose level shown. */
void cmpd_log_init(const char *ident, int max_level);

/* Parses "err", "warning", "notice", "info" or "debug"; -1 if unknown. */
int cmpd_log_level_parse(const char *name);
const char *cmpd_log_level_name(int level);

void cmpd_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_err(...)    cmpd_log(CMPD_LOG_ERR, __VA_ARGS__)
#define log_warn(...)   cmpd_log(CMPD_LOG_WARNING, __VA_ARGS__)
#define log_notice(...) cmpd_log(CMPD_LOG_NOTICE, __VA_ARGS__)
#define log_info(...)   cmpd_log(CMPD_LOG_INFO, __VA_ARGS__)
#define log_debug(...)  cmpd_log(CMPD_LOG_DEBUG, __VA_ARGS__)

/*
 * Drains this thread's OpenSSL error queue into the log at level, each line
 * prefixed with context (a job id, or what was being done).
 */
void cmpd_log_openssl(int level, const char *context);

/*
 * Drains this thread's OpenSSL error queue into buf as one line of the
 * reasons, most specific last, for an error message a person reads. The
 * queue is also logged at debug level. Returns buf.
 */
char *cmpd_openssl_errstr(char *buf, size_t len);
