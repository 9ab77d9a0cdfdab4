#include "testproc.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STOP_WAIT_MS 10000
#define STOP_TICK_MS 10

void
tp_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

pid_t
tp_spawn(const char *path, const char *const *argv, const char *log, uid_t uid)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int null = open("/dev/null", O_RDONLY);

		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		if (null >= 0)
			dup2(null, STDIN_FILENO);
		if (uid != 0 &&
		    (setgroups(0, NULL) != 0 || setgid((gid_t)uid) != 0 ||
		        setuid(uid) != 0))
			_exit(126);
		execv(path, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

int
tp_stop(pid_t pid)
{
	int st = 0;

	if (pid <= 0)
		return 0;
	kill(pid, SIGTERM);
	for (int i = 0; i < STOP_WAIT_MS / STOP_TICK_MS; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		tp_sleep_ms(STOP_TICK_MS);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

int
tp_read_port(const char *path)
{
	FILE *f = fopen(path, "r");
	int port = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%d", &port) != 1)
		port = 0;
	fclose(f);
	return port;
}
