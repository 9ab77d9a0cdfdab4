/*
 * The processes the integration tests and the benchmark start: the test
 * CA and cmpd, each with its output in a log, stopped as a service
 * manager would stop them.
 */
#pragma once

#include <sys/types.h>

void tp_sleep_ms(long ms);

/*
 * Starts path with argv (argv[0] its name), stdin from /dev/null, stdout
 * and stderr appended to log; as uid (and the group of the same number)
 * unless uid is 0. The child's pid, or -1.
 */
pid_t tp_spawn(
    const char *path, const char *const *argv, const char *log, uid_t uid);

/*
 * SIGTERM, then up to ten seconds for pid to exit, then SIGKILL. Its exit
 * status, or -1 if it did not exit by itself; 0 for no process (pid <= 0).
 */
int tp_stop(pid_t pid);

/* The port number written in file path; 0 if there is none (yet). */
int tp_read_port(const char *path);
