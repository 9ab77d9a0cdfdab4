#include "log.h"

#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static const char *log_ident = "cmpd";
static int log_max = CMPD_LOG_INFO;
static int log_journal = -1;
static int log_syslog;

static const char *const level_names[] = {
	[CMPD_LOG_ERR] = "err",
	[CMPD_LOG_WARNING] = "warning",
	[CMPD_LOG_NOTICE] = "notice",
	[CMPD_LOG_INFO] = "info",
	[CMPD_LOG_DEBUG] = "debug",
};

/*
 * systemd sets JOURNAL_STREAM to the "DEV:INO" of the stream it connects
 * to journald; <N> priority prefixes are right only while stderr is still
 * that stream, not when a child of a service writes to a file.
 */
static int
log_stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2 ||
	    fstat(STDERR_FILENO, &st) != 0)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
cmpd_log_init(const char *ident, int max_level)
{
	log_ident = ident;
	log_max = max_level;
	log_journal = log_stderr_is_journal();
	/* A detached cmpd sets this for itself and the workers it starts. */
	if (getenv("CMPD_LOG_SYSLOG") != NULL) {
		openlog(ident, LOG_PID, LOG_DAEMON);
		log_syslog = 1;
	}
}

int
cmpd_log_level_parse(const char *name)
{
	for (int i = CMPD_LOG_ERR; i <= CMPD_LOG_DEBUG; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

const char *
cmpd_log_level_name(int level)
{
	if (level < CMPD_LOG_ERR || level > CMPD_LOG_DEBUG)
		return "info";
	return level_names[level];
}

static size_t
log_prefix(char *buf, size_t len, int level)
{
	struct timespec ts;
	struct tm tm;
	int n;

	if (log_journal > 0)
		return (size_t)snprintf(buf, len, "<%d>", level);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(buf, len,
	    "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%d]: %s: ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, ts.tv_nsec / 1000000, log_ident, (int)getpid(),
	    level_names[level]);
	return n < 0 ? 0 : (size_t)n;
}

void
cmpd_log(int level, const char *fmt, ...)
{
	char line[2048];
	size_t n;
	va_list ap;

	if (level < CMPD_LOG_ERR)
		level = CMPD_LOG_ERR;
	if (level > log_max || level > CMPD_LOG_DEBUG)
		return;
	if (log_syslog) {
		va_start(ap, fmt);
		vsyslog(level, fmt, ap);
		va_end(ap);
		return;
	}
	n = log_prefix(line, sizeof(line), level);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	n = strlen(line);
	line[n++] = '\n';
	/* One write per line, so lines of concurrent threads do not mix. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

void
cmpd_log_openssl(int level, const char *context)
{
	char buf[256];
	unsigned long e;

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		cmpd_log(level, "%s: %s", context, buf);
	}
}

char *
cmpd_openssl_errstr(char *buf, size_t len)
{
	const char *data;
	unsigned long e;
	size_t used = 0;
	int flags;

	buf[0] = '\0';
	while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
		const char *reason = ERR_reason_error_string(e);
		int n;

		if (reason == NULL)
			reason = "unknown OpenSSL error";
		if ((flags & ERR_TXT_STRING) == 0)
			data = "";
		log_debug("openssl: %s%s%s", reason, *data ? ": " : "", data);
		if (used >= len)
			continue;
		n = snprintf(buf + used, len - used, "%s%s%s%s",
		    used ? "; " : "", reason, *data ? ": " : "", data);
		if (n > 0)
			used += (size_t)n;
	}
	return buf;
}
