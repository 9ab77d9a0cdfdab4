/* What /proc says about the processes of the run. */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"

/* utime + stime of pid in clock ticks (fields 14 and 15 of stat). */
uint64_t
bench_proc_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;
	size_t n;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: skip past the
	 * last ')' to field 3. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2,
	        "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
	        &st) != 2)
		return 0;
	return ut + st;
}

/* A "Field:   N" line of /proc/PID/status (VmHWM, VmRSS in KiB,
 * Threads); -1 if the process or the field is not there. */
long
bench_proc_status(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t len = strlen(field);
	long v = -1;
	FILE *f;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, len) == 0 && line[len] == ':') {
			sscanf(line + len + 1, "%ld", &v);
			break;
		}
	fclose(f);
	return v;
}

static uint64_t
rusage_us(int who)
{
	struct rusage ru;

	if (getrusage(who, &ru) != 0)
		return 0;
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
	    (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

void
bench_cpu_read(const struct bench_world *w, struct bench_cpu *c)
{
	for (int i = 0; i < BENCH_PROC_MAX; i++)
		c->ticks[i] = bench_proc_ticks(w->pid[i]);
	/* Children: the openssl processes the CLI series waited for (cmpd
	 * and the CA are waited for only when they end). */
	c->self_us = rusage_us(RUSAGE_SELF) + rusage_us(RUSAGE_CHILDREN);
}

/*
 * Resets the peak RSS (VmHWM) of each cmpd process, so that a series
 * reports its own peak. The keyworker is not dumpable, so its /proc files
 * belong to root: without root its peak stays the one since it started.
 */
void
bench_hwm_reset(const struct bench_world *w)
{
	for (int i = 0; i < BENCH_PROC_MAX; i++) {
		char path[64];
		FILE *f;

		if (w->pid[i] <= 0)
			continue;
		snprintf(
		    path, sizeof(path), "/proc/%d/clear_refs", (int)w->pid[i]);
		if ((f = fopen(path, "w")) == NULL)
			continue;
		fputs("5", f);
		fclose(f);
	}
}
