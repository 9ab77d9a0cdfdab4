/*
 * The workers' jails in the real cmpd, started as root with a user for
 * each worker: every thread of both workers is under seccomp with
 * no_new_privs, runs as its user with no capabilities; the keyworker has a
 * network namespace of its own; the key store is the key user's and out
 * of the network user's reach; enrollment still works; and a forbidden
 * call (the test builds' SIGUSR2 trigger) ends each worker with SIGSYS,
 * after which the broker restarts it. Needs root; skipped otherwise.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "checks.h"
#include "harness.h"

#define KEY_USER "_cmpdt-key"
#define NET_USER "_cmpdt-net"

static struct harness h;
static int made_users;
static uid_t key_uid, net_uid;
static gid_t net_gid;

static const char users_conf[] = "\n[cmpd]\n"
                                 "keyworker_user = " KEY_USER "\n"
                                 "networker_user = " NET_USER "\n"
                                 "\n[profile for-net]\n"
                                 "server = http://127.0.0.1:%2$d/pkix/\n"
                                 "protection = signature\n"
                                 "cert = %1$s/supplier.pem\n"
                                 "trusted = %1$s/root.pem\n"
                                 "subject = /CN=for the net user\n"
                                 "allowed_users = " NET_USER "\n";

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Creates the two worker users unless they exist; 0 or -1. */
static int
users_make(void)
{
	struct passwd *pw;

	for (int i = 0; i < 2; i++) {
		const char *name = i == 0 ? KEY_USER : NET_USER;

		if (getpwnam(name) != NULL)
			continue;
		if (harness_sh("useradd --system --no-create-home --home-dir "
		               "/nonexistent --shell /usr/sbin/nologin %s",
		        name) != 0)
			return -1;
		made_users |= 1 << i;
	}
	if ((pw = getpwnam(KEY_USER)) == NULL)
		return -1;
	key_uid = pw->pw_uid;
	if ((pw = getpwnam(NET_USER)) == NULL)
		return -1;
	net_uid = pw->pw_uid;
	net_gid = pw->pw_gid;
	return 0;
}

static int
setup(void **state)
{
	char id[33];

	(void)state;
	if (geteuid() != 0) {
		print_message("skipped: the sandbox test starts cmpd as root "
		              "and needs users of its own\n");
		return 0;
	}
	if (users_make() != 0 || harness_init(&h, "sandbox") != 0)
		return -1;
	/* The workers' users pass through the test's directory (0700). */
	if (chmod(h.dir, 0711) != 0 || harness_start_ca(&h, NULL) != 0 ||
	    harness_start_cmpd(&h, users_conf) != 0 ||
	    harness_import(&h, "supplier.key", id) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	if (geteuid() != 0)
		return 0;
	harness_fini(&h);
	if (made_users & 1)
		harness_sh("userdel %s", KEY_USER);
	if (made_users & 2)
		harness_sh("userdel %s", NET_USER);
	return 0;
}

/* The pid of cmpd's child running comm, or 0. */
static pid_t
worker_pid(const char *comm)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	pid_t found = 0;

	assert_non_null(d);
	while (found == 0 && (de = readdir(d)) != NULL) {
		char path[300], buf[512], name[64];
		long ppid = 0;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) != NULL &&
		    sscanf(buf, "%*d (%63[^)]) %*c %ld", name, &ppid) == 2 &&
		    ppid == (long)h.cmpd_pid && strcmp(name, comm) == 0)
			found = (pid_t)atol(de->d_name);
		fclose(f);
	}
	closedir(d);
	return found;
}

/* Waits (10 s at most) for a worker other than old; its pid or 0. */
static pid_t
worker_wait(const char *comm, pid_t old)
{
	for (int i = 0; i < 400; i++) {
		pid_t pid = worker_pid(comm);

		if (pid != 0 && pid != old)
			return pid;
		sleep_ms(25);
	}
	return 0;
}

/* The value of "Name:" in a status file, without leading blanks. */
static void
status_get(const char *path, const char *name, char *out, size_t len)
{
	char line[256];
	size_t n = strlen(name);
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	out[0] = '\0';
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, name, n) == 0 && line[n] == ':') {
			snprintf(out, len, "%s",
			    line + n + 1 + strspn(line + n + 1, " \t"));
			out[strcspn(out, "\n")] = '\0';
		}
	fclose(f);
}

static int
thread_count(pid_t pid)
{
	char dir[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Every thread of pid: filtered, no new privileges, uid, no caps. */
static void
check_threads(pid_t pid, uid_t uid)
{
	char dir[64], path[400], v[128], ids[64];
	struct dirent *de;
	int threads = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	snprintf(ids, sizeof(ids), "%u\t%u\t%u\t%u", (unsigned)uid,
	    (unsigned)uid, (unsigned)uid, (unsigned)uid);
	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/status", dir, de->d_name);
		status_get(path, "Seccomp", v, sizeof(v));
		assert_string_equal(v, "2");
		status_get(path, "NoNewPrivs", v, sizeof(v));
		assert_string_equal(v, "1");
		status_get(path, "Uid", v, sizeof(v));
		assert_string_equal(v, ids);
		status_get(path, "CapEff", v, sizeof(v));
		assert_string_equal(v, "0000000000000000");
		status_get(path, "CapPrm", v, sizeof(v));
		assert_string_equal(v, "0000000000000000");
		status_get(path, "CapBnd", v, sizeof(v));
		assert_string_equal(v, "0000000000000000");
		threads++;
	}
	closedir(d);
	/* nng's threads run: the filter reached more than the main one. */
	assert_true(threads > 1);
}

static uid_t
stat_uid(pid_t pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	assert_int_equal(stat(path, &st), 0);
	return st.st_uid;
}

static void
netns_of(pid_t pid, char *out, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	n = readlink(path, out, len - 1);
	assert_true(n > 0);
	out[n] = '\0';
}

static void
test_workers_are_jailed(void **state)
{
	char broker_ns[64], kw_ns[64], nw_ns[64];
	pid_t kw, nw;

	(void)state;
	if (geteuid() != 0)
		skip();
	assert_true((kw = worker_wait("cmpd-keyworker", 0)) > 0);
	assert_true((nw = worker_wait("cmpd-networker", 0)) > 0);
	check_threads(kw, key_uid);
	check_threads(nw, net_uid);
	/*
	 * Not dumpable: their /proc entries belong to root. (Sanitizer
	 * builds do not ask for it, but the change of user does it too.)
	 */
	assert_int_equal(stat_uid(kw), 0);
	assert_int_equal(stat_uid(nw), 0);
	netns_of(h.cmpd_pid, broker_ns, sizeof(broker_ns));
	netns_of(kw, kw_ns, sizeof(kw_ns));
	netns_of(nw, nw_ns, sizeof(nw_ns));
	assert_string_not_equal(kw_ns, broker_ns);
	assert_string_equal(nw_ns, broker_ns);
}

/* As the networker's user: neither the key store nor the store opens. */
static void
test_networker_user_reaches_no_state(void **state)
{
	char keys[400], db[400];
	struct stat st;
	int status = 0;
	pid_t pid;

	(void)state;
	if (geteuid() != 0)
		skip();
	assert_int_equal(lstat(h.keys, &st), 0);
	assert_int_equal(st.st_uid, key_uid);
	assert_int_equal(st.st_mode & 07777, 0700);
	snprintf(keys, sizeof(keys), "%s/import.key", h.keys);
	snprintf(db, sizeof(db), "%s/state/cmpd.db", h.dir);
	assert_int_equal(lstat(keys, &st), 0);
	assert_int_equal(st.st_uid, key_uid);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) != 0 || setgid(net_gid) != 0 ||
		    setuid(net_uid) != 0)
			_exit(10);
		if (open(keys, O_RDONLY) != -1 || errno != EACCES)
			_exit(11);
		if (opendir(h.keys) != NULL || errno != EACCES)
			_exit(12);
		if (open(db, O_RDONLY) != -1 || errno != EACCES)
			_exit(13);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void
enroll_ok(void)
{
	cmpd_job *job = harness_enroll_wait(&h, "sig", NULL);

	assert_non_null(job);
	check_issued(&h, job);
	cmpd_job_free(job);
}

static void
test_enroll_in_jail(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	enroll_ok();
}

/* SIGUSR2 makes the worker break its jail; the broker starts another. */
static void
violation_restarts(const char *comm, uid_t uid)
{
	char path[400], *log;
	pid_t old, now;

	assert_true((old = worker_wait(comm, 0)) > 0);
	assert_int_equal(kill(old, SIGUSR2), 0);
	assert_true((now = worker_wait(comm, old)) > 0);
	snprintf(path, sizeof(path), "%s/cmpd.log", h.dir);
	assert_non_null(log = check_read_file(path));
	snprintf(path, sizeof(path), "(pid %d) killed by signal %d", (int)old,
	    SIGSYS);
	if (strstr(log, path) == NULL)
		fail_msg("cmpd's log lacks \"%s\"", path);
	assert_true(check_count(log, "sandbox violation") > 0);
	free(log);
	/* The new instance is jailed alike once its sockets are open. */
	for (int i = 0; i < 400 && thread_count(now) < 2; i++)
		sleep_ms(25);
	check_threads(now, uid);
}

static void
test_violations_end_workers(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	violation_restarts("cmpd-keyworker", key_uid);
	violation_restarts("cmpd-networker", net_uid);
	/* Both restarted workers serve: a second enrollment works. */
	enroll_ok();
}

/* Runs cmpctl args as the networker's test user; its exit status. */
static int
cmpctl_as_other(const char *args)
{
	return harness_sh("setpriv --reuid=%u --regid=%u --clear-groups "
	                  "env CMPD_SOCKET='%s' '%s/cmpctl' %s "
	                  ">'%s/other.out' 2>&1",
	    (unsigned)net_uid, (unsigned)net_gid, h.socket, h.bin, args, h.dir);
}

static int
other_said(const char *text)
{
	return harness_sh("grep -q \"%s\" '%s/other.out'", text, h.dir) == 0;
}

/*
 * Another local user is refused a profile it may not use and the jobs of
 * others, and may use the profile that names it.
 */
static void
test_other_user(void **state)
{
	cmpd_job *job;
	char args[128];

	(void)state;
	if (geteuid() != 0)
		skip();
	assert_int_not_equal(cmpctl_as_other("enroll --profile sig"), 0);
	if (!other_said("may not use profile 'sig'"))
		fail_msg("no clear refusal for profile sig");
	job = harness_enroll_wait(&h, "sig", NULL);
	assert_non_null(job);
	snprintf(args, sizeof(args), "status %s", cmpd_job_id(job));
	assert_int_not_equal(cmpctl_as_other(args), 0);
	assert_int_equal(cmpctl_as_other("enroll --profile for-net --wait"), 0);
	assert_true(other_said("done"));
	cmpd_job_free(job);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_workers_are_jailed),
		cmocka_unit_test(test_networker_user_reaches_no_state),
		cmocka_unit_test(test_enroll_in_jail),
		cmocka_unit_test(test_other_user),
		cmocka_unit_test(test_violations_end_workers),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
