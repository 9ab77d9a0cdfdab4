/*
 * The workers' jails (common/jail.c, common/jailtab.c): each allow-list is
 * loaded in a forked child, which then makes calls its worker needs (they
 * must work) and calls it must not make (they must kill it with SIGSYS, or
 * fail with the errno the table gives).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "jail.h"

static char tmpdir[64];

/* A child's function returns 0, or the number of the step that failed. */
typedef int (*child_fn)(void);

/* Runs fn in a child under policy; returns the child's wait status. */
static int
run_jailed(const struct cmpd_jail_policy *policy, child_fn fn)
{
	int st = 0;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
		    cmpd_jail_filter_load(policy) != CMPD_OK)
			_exit(100);
		_exit(fn());
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void
assert_exited_ok(int st)
{
	if (WIFSIGNALED(st))
		fail_msg("the child died of signal %d", WTERMSIG(st));
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) != 0)
		fail_msg("the child failed at step %d", WEXITSTATUS(st));
}

static void
assert_sigsys(int st)
{
	if (WIFEXITED(st))
		fail_msg("the child exited with %d instead of dying",
		    WEXITSTATUS(st));
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSYS);
}

static void *
thread_fn(void *arg)
{
	*(int *)arg = 42;
	return arg;
}

/* Threads (clone with CLONE_THREAD after clone3's ENOSYS) work. */
static int
thread_works(void)
{
	pthread_t t;
	int v = 0;
	void *res;

	return pthread_create(&t, NULL, thread_fn, &v) != 0 ||
	    pthread_join(t, &res) != 0 || v != 42;
}

/* What the keyworker does with its key store and its sockets. */
static int
keyworker_allowed(void)
{
	char path[128], dest[128];
	struct stat st;
	int fd, sv;

	snprintf(path, sizeof(path), "%s/k.key.tmp", tmpdir);
	snprintf(dest, sizeof(dest), "%s/k.key", tmpdir);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, "key", 3) != 3 || fsync(fd) != 0 ||
	    close(fd) != 0)
		return 1;
	if (rename(path, dest) != 0 || chmod(dest, 0600) != 0)
		return 2;
	if ((fd = open(dest, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
	    close(fd) != 0 || unlink(dest) != 0)
		return 3;
	if ((sv = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    close(sv) != 0)
		return 4;
	if (thread_works())
		return 5;
	/* The key store never truncates: refused, not fatal. */
	if (open(dest, O_WRONLY | O_CREAT | O_TRUNC, 0600) != -1 ||
	    errno != EACCES || stat(dest, &st) == 0)
		return 6;
	if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
		return 7;
	if (getpid() <= 0 || geteuid() == (uid_t)-1)
		return 8;
	return 0;
}

static int
keyworker_inet(void)
{
	socket(AF_INET, SOCK_STREAM, 0);
	return 1;
}

static int
keyworker_exec(void)
{
	char *const argv[] = { "true", NULL };

	execve("/bin/true", argv, argv + 1);
	return 1;
}

static int
keyworker_signal_other(void)
{
	/* The parent: signals reach only ourselves. */
	kill(getppid(), 0);
	return 1;
}

static int
networker_allowed(void)
{
	char path[128];
	void *p;
	int fd;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 || close(fd) != 0)
		return 1;
	if ((fd = socket(AF_INET6, SOCK_DGRAM, 0)) < 0 || close(fd) != 0)
		return 2;
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 || close(fd) != 0)
		return 3;
	if ((fd = open("/etc/hosts", O_RDONLY | O_CLOEXEC)) < 0 ||
	    close(fd) != 0)
		return 4;
	snprintf(path, sizeof(path), "%s/written", tmpdir);
	if (open(path, O_WRONLY | O_CREAT, 0600) != -1 || errno != EACCES)
		return 5;
	if (open("/etc/hosts", O_RDWR) != -1 || errno != EACCES)
		return 6;
	p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
	    -1, 0);
	if (p != MAP_FAILED || errno != EPERM)
		return 7;
	if (thread_works())
		return 8;
	return 0;
}

static int
networker_exec(void)
{
	char *const argv[] = { "true", NULL };

	execve("/bin/true", argv, argv + 1);
	return 1;
}

static int
networker_packet(void)
{
	socket(AF_PACKET, SOCK_RAW, 0);
	return 1;
}

static int
networker_unlink(void)
{
	unlink("/nonexistent-cmpd-test");
	return 1;
}

#ifndef CMPD_SANITIZE
static int
any_fork(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	return 1;
}
#endif

static void
test_keyworker_allows_its_calls(void **state)
{
	(void)state;
	assert_exited_ok(run_jailed(&cmpd_jail_keyworker, keyworker_allowed));
}

static void
test_keyworker_forbidden_calls_kill(void **state)
{
	(void)state;
	assert_sigsys(run_jailed(&cmpd_jail_keyworker, keyworker_inet));
	assert_sigsys(run_jailed(&cmpd_jail_keyworker, keyworker_exec));
#ifndef CMPD_SANITIZE
	/* The sanitizer's leak check needs fork-like clones and kill. */
	assert_sigsys(run_jailed(&cmpd_jail_keyworker, any_fork));
	assert_sigsys(run_jailed(&cmpd_jail_keyworker, keyworker_signal_other));
#else
	(void)keyworker_signal_other;
	print_message("sanitizer build: fork and kill are allowed\n");
#endif
}

static void
test_networker_allows_its_calls(void **state)
{
	char path[128];

	(void)state;
	assert_exited_ok(run_jailed(&cmpd_jail_networker, networker_allowed));
	snprintf(path, sizeof(path), "%s/written", tmpdir);
	assert_int_equal(access(path, F_OK), -1);
}

static void
test_networker_forbidden_calls_kill(void **state)
{
	(void)state;
	assert_sigsys(run_jailed(&cmpd_jail_networker, networker_exec));
	assert_sigsys(run_jailed(&cmpd_jail_networker, networker_packet));
	assert_sigsys(run_jailed(&cmpd_jail_networker, networker_unlink));
#ifndef CMPD_SANITIZE
	assert_sigsys(run_jailed(&cmpd_jail_networker, any_fork));
#endif
}

static int tsync_pipe[2];

static void *
late_socket_fn(void *arg)
{
	char c;

	(void)arg;
	if (read(tsync_pipe[0], &c, 1) == 1)
		socket(AF_INET, SOCK_STREAM, 0);
	return NULL;
}

/* A thread that existed before the filter is filtered too (TSYNC). */
static void
test_filter_covers_earlier_threads(void **state)
{
	int st = 0;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(tsync_pipe), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pthread_t t;

		if (pthread_create(&t, NULL, late_socket_fn, NULL) != 0 ||
		    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
		    cmpd_jail_filter_load(&cmpd_jail_keyworker) != CMPD_OK)
			_exit(100);
		if (write(tsync_pipe[1], "x", 1) != 1)
			_exit(101);
		pthread_join(t, NULL);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	close(tsync_pipe[0]);
	close(tsync_pipe[1]);
	assert_sigsys(st);
}

static void
test_user_find(void **state)
{
	struct cmpd_jail_user u;

	(void)state;
	assert_int_equal(
	    cmpd_jail_user_find("no-such-user-cmpd-jail", &u), CMPD_ENOENT);
	assert_int_equal(cmpd_jail_user_find("root", &u), CMPD_EINVAL);
	assert_int_equal(cmpd_jail_user_find("nobody", &u), CMPD_OK);
	assert_int_equal(u.uid, 65534);
	assert_string_equal(u.name, "nobody");
}

static void
test_ipc_path(void **state)
{
	(void)state;
	assert_string_equal(cmpd_jail_ipc_path("ipc:///run/cmpd/signer.ipc"),
	    "/run/cmpd/signer.ipc");
	assert_null(cmpd_jail_ipc_path("tcp://127.0.0.1:1"));
	assert_null(cmpd_jail_ipc_path("ipc://"));
	assert_null(cmpd_jail_ipc_path(NULL));
}

/* The line "Name:\tvalue" of /proc/self/status, in buf. */
static int
status_field(const char *name, char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/status", "r");
	size_t n = strlen(name);
	char line[256];
	int found = 0;

	if (f == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, name, n) == 0 && line[n] == ':') {
			snprintf(buf, len, "%s", line + n + 1);
			buf[strcspn(buf, "\n")] = '\0';
			found = 1;
		}
	fclose(f);
	return found;
}

static int
field_is(const char *name, const char *want)
{
	char v[128];

	return status_field(name, v, sizeof(v)) &&
	    strcmp(v + strspn(v, " \t"), want) == 0;
}

/* The whole jail, as root: becomes nobody for good, no capabilities. */
static int
enter_as_nobody(void)
{
	struct cmpd_jail_user u;
	struct stat st;
	struct cmpd_jail j = { .policy = &cmpd_jail_keyworker, .new_netns = 1 };

	if (cmpd_jail_user_find("nobody", &u) != CMPD_OK)
		return 1;
	j.user = &u;
	if (cmpd_jail_enter(&j) != CMPD_OK)
		return 2;
	if (getuid() != 65534 || geteuid() != 65534 || getgid() != u.gid)
		return 3;
	/* (cmpd_jail_enter checked that root cannot come back: setuid is
	 * not on the allow-list, so it would now kill us.) */
	if (!field_is("Seccomp", "2") || !field_is("NoNewPrivs", "1"))
		return 5;
	if (!field_is("CapEff", "0000000000000000") ||
	    !field_is("CapPrm", "0000000000000000") ||
	    !field_is("CapBnd", "0000000000000000"))
		return 6;
	/* Not dumpable: our /proc entries belong to root, not to us. */
	if (stat("/proc/self/status", &st) != 0 || st.st_uid != 0)
		return 7;
	return 0;
}

static void
test_enter_as_root(void **state)
{
	int st = 0;
	pid_t pid;

	(void)state;
	if (geteuid() != 0) {
		print_message("skipped: switching users needs root\n");
		skip();
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(enter_as_nobody());
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_exited_ok(st);
}

/* Not root: asking for another user is refused, not ignored. */
static int
enter_other_user_unprivileged(void)
{
	struct cmpd_jail_user u = { .uid = 12345, .gid = 12345 };
	struct cmpd_jail j = { .policy = &cmpd_jail_networker, .user = &u };

	snprintf(u.name, sizeof(u.name), "someone");
	if (geteuid() == 0 && setresuid(65534, 65534, 65534) != 0)
		return 1;
	return cmpd_jail_enter(&j) == CMPD_EPERM ? 0 : 2;
}

static void
test_enter_refuses_without_root(void **state)
{
	int st = 0;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(enter_other_user_unprivileged());
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_exited_ok(st);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cmpd-jail.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keyworker_allows_its_calls),
		cmocka_unit_test(test_keyworker_forbidden_calls_kill),
		cmocka_unit_test(test_networker_allows_its_calls),
		cmocka_unit_test(test_networker_forbidden_calls_kill),
		cmocka_unit_test(test_filter_covers_earlier_threads),
		cmocka_unit_test(test_user_find),
		cmocka_unit_test(test_ipc_path),
		cmocka_unit_test(test_enter_as_root),
		cmocka_unit_test(test_enter_refuses_without_root),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
