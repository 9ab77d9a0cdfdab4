#include "harness.h"
#include "testproc.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The standard profiles every integration test may use. */
static const char base_conf[] =
    "[cmpd]\n"
    "state_dir = %1$s/state\n"
    "run_dir = %1$s/run\n"
    "socket = %1$s/run/cmpd.sock\n"
    "log_level = %3$s\n"
    "\n"
    "[profile sig]\n"
    "server = http://127.0.0.1:%2$d/pkix/\n"
    "protection = signature\n"
    "cert = %1$s/pki/supplier.pem\n"
    "trusted = %1$s/pki/root.pem\n"
    "subject = /CN=itest.example/O=cmpd tests\n"
    "san = DNS:itest.example\n"
    "\n"
    "[profile sig-rsa]\n"
    "server = http://127.0.0.1:%2$d/.well-known/cmp\n"
    "protection = signature\n"
    "cert = %1$s/pki/supplier-rsa.pem\n"
    "trusted = %1$s/pki/root.pem\n"
    "subject = /CN=itest-rsa.example\n"
    "\n"
    "[profile mac]\n"
    "server = http://127.0.0.1:%2$d/pkix/\n"
    "protection = mac\n"
    "mac_reference = device-0001\n"
    "mac_secret = file:%1$s/pki/mac-secret.txt\n"
    "enroll_trusted = %1$s/pki/root.pem\n"
    "subject = /CN=itest-mac.example\n"
    "\n"
    "[profile implicit]\n"
    "server = http://127.0.0.1:%2$d/pkix/\n"
    "protection = signature\n"
    "cert = %1$s/pki/supplier.pem\n"
    "trusted = %1$s/pki/root.pem\n"
    "implicit_confirm = yes\n"
    "subject = /CN=itest-implicit.example\n"
    "\n"
    "[profile rogue]\n"
    "server = http://127.0.0.1:%2$d/pkix/\n"
    "protection = signature\n"
    "cert = %1$s/pki/rogue.pem\n"
    "trusted = %1$s/pki/root.pem\n"
    "subject = /CN=itest-rogue.example\n"
    "\n";

int
harness_sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int
harness_init(struct harness *h, const char *name)
{
	const char *tmp = getenv("TMPDIR");

	memset(h, 0, sizeof(*h));
	h->bin = getenv("CMPD_BIN_DIR");
	if (h->bin == NULL) {
		fprintf(stderr, "harness: CMPD_BIN_DIR is not set\n");
		return -1;
	}
	snprintf(h->dir, sizeof(h->dir), "%s/cmpd-%s.XXXXXX",
	    tmp != NULL ? tmp : "/tmp", name);
	if (mkdtemp(h->dir) == NULL)
		return -1;
	snprintf(h->pki, sizeof(h->pki), "%s/pki", h->dir);
	snprintf(h->conf, sizeof(h->conf), "%s/cmpd.conf", h->dir);
	snprintf(h->socket, sizeof(h->socket), "%s/run/cmpd.sock", h->dir);
	snprintf(h->keys, sizeof(h->keys), "%s/state/keys", h->dir);
	return harness_sh("'%s/cmpd-testca' init '%s' >'%s/init.log' 2>&1",
	    h->bin, h->pki, h->dir);
}

static int
ca_spawn(struct harness *h, const char *const *args, int port)
{
	char path[512], portfile[512], log[512], portstr[16];
	const char *argv[32] = { "cmpd-testca", "serve", h->pki, "--port",
		portstr, "--port-file", portfile };
	size_t n = 7;

	snprintf(portstr, sizeof(portstr), "%d", port);
	snprintf(path, sizeof(path), "%s/cmpd-testca", h->bin);
	snprintf(portfile, sizeof(portfile), "%s/ca.port", h->dir);
	snprintf(log, sizeof(log), "%s/ca.log", h->dir);
	unlink(portfile);
	for (; args != NULL && *args != NULL && n < 30; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	h->ca_port = 0;
	h->ca_pid = tp_spawn(path, argv, log, 0);
	for (int i = 0; i < 200 && h->ca_port == 0; i++) {
		tp_sleep_ms(25);
		h->ca_port = tp_read_port(portfile);
	}
	return h->ca_port > 0 ? 0 : -1;
}

int
harness_start_ca(struct harness *h, const char *const *args)
{
	return ca_spawn(h, args, 0);
}

void
harness_stop_ca(struct harness *h)
{
	tp_stop(h->ca_pid);
	h->ca_pid = 0;
}

int
harness_restart_ca(struct harness *h, const char *const *args)
{
	int port = h->ca_port;

	harness_stop_ca(h);
	return ca_spawn(h, args, port) == 0 && h->ca_port == port ? 0 : -1;
}

/* The configuration text is a format whose arguments are fixed above. */
#pragma GCC diagnostic ignored "-Wformat-nonliteral"

static int
write_conf(const struct harness *h, const char *extra)
{
	FILE *f = fopen(h->conf, "w");
	const char *level = getenv("CMPD_TEST_LOG_LEVEL");

	if (f == NULL)
		return -1;
	fprintf(f, base_conf, h->dir, h->ca_port, level ? level : "info");
	if (extra != NULL)
		fprintf(f, extra, h->pki, h->ca_port);
	return fclose(f);
}

int
harness_start_cmpd(struct harness *h, const char *extra)
{
	char path[512], log[512];
	const char *argv[] = { "cmpd", "--foreground", "--config", h->conf,
		NULL };

	if (write_conf(h, extra) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/cmpd", h->bin);
	snprintf(log, sizeof(log), "%s/cmpd.log", h->dir);
	h->cmpd_pid = tp_spawn(path, argv, log, h->cmpd_uid);
	for (int i = 0; i < 400; i++) {
		cmpd_client *c = NULL;
		cmpd_job_array *jobs = NULL;
		int ok = cmpd_client_open(h->socket, &c) == CMPD_RESULT_OK &&
		    cmpd_job_list(c, NULL, &jobs) == CMPD_RESULT_OK;

		cmpd_job_array_free(jobs);
		cmpd_client_close(c);
		if (ok)
			return 0;
		tp_sleep_ms(25);
	}
	fprintf(stderr, "harness: cmpd did not come up (see %s)\n", log);
	return -1;
}

/* Whether a process other than ours names the key store (a worker). */
static int
workers_alive(const struct harness *h)
{
	/* [c]: the pattern must not match the shell that runs pgrep. */
	return harness_sh(
	           "pgrep -f -- '[c]mpd-keyworker --keystore %s' "
	           ">/dev/null || pgrep -f -- "
	           "'[c]mpd-networker --broker ipc://%s/run/' >/dev/null",
	           h->keys, h->dir) == 0;
}

int
harness_kill_cmpd(struct harness *h)
{
	if (h->cmpd_pid <= 0)
		return -1;
	kill(h->cmpd_pid, SIGKILL);
	waitpid(h->cmpd_pid, NULL, 0);
	h->cmpd_pid = 0;
	/* Workers end when their broker link goes away. */
	for (int i = 0; i < 400; i++) {
		if (!workers_alive(h))
			return 0;
		tp_sleep_ms(25);
	}
	fprintf(stderr, "harness: workers outlived their broker\n");
	return -1;
}

int
harness_stop_cmpd(struct harness *h)
{
	int st = tp_stop(h->cmpd_pid);

	h->cmpd_pid = 0;
	return st;
}

int
harness_wait_state(
    const struct harness *h, const char *job_id, int state, int secs)
{
	cmpd_client *c = harness_client(h);
	int got = -1;

	for (int i = 0; c != NULL && i < secs * 20; i++) {
		cmpd_job *job = NULL;

		if (cmpd_job_get(c, job_id, &job) == CMPD_RESULT_OK)
			got = (int)cmpd_job_state_get(job);
		cmpd_job_free(job);
		if (got == state)
			break;
		tp_sleep_ms(50);
	}
	cmpd_client_close(c);
	return got == state ? 0 : -1;
}

/*
 * The workers' stderr is cmpd's log, so a sanitizer report of any process
 * lands there, and also one from the test CA in its own log.
 */
static int
logs_clean(const struct harness *h)
{
	return harness_sh(
	           "! grep -E -l 'Sanitizer|runtime error:' '%s/cmpd.log' "
	           "'%s/ca.log' >&2",
	           h->dir, h->dir) == 0;
}

void
harness_fini(struct harness *h)
{
	int cmpd = tp_stop(h->cmpd_pid);

	tp_stop(h->ca_pid);
	if (cmpd == 0 && !logs_clean(h)) {
		fprintf(stderr, "harness: a sanitizer reported an error\n");
		cmpd = -2;
	}
	if (cmpd != 0 || getenv("CMPD_TEST_KEEP") != NULL) {
		fprintf(stderr,
		    "harness: cmpd exited with %d; logs kept in %s\n", cmpd,
		    h->dir);
		harness_sh("tail -n 40 '%s/cmpd.log' >&2", h->dir);
	} else {
		harness_sh("rm -rf '%s'", h->dir);
	}
	if (cmpd != 0) {
		fprintf(stderr, "harness: cmpd did not stop cleanly\n");
		abort();
	}
}

cmpd_client *
harness_client(const struct harness *h)
{
	cmpd_client *c = NULL;

	if (cmpd_client_open(h->socket, &c) != CMPD_RESULT_OK)
		return NULL;
	cmpd_client_set_timeout(c, 60000);
	return c;
}

int
harness_import(const struct harness *h, const char *name, char *id)
{
	char path[512];
	cmpd_client *c = harness_client(h);
	cmpd_key_info *k = NULL;
	int rv = -1;

	snprintf(path, sizeof(path), "%s/%s", h->pki, name);
	if (c != NULL &&
	    cmpd_key_import_file(c, path, NULL, &k) == CMPD_RESULT_OK) {
		snprintf(id, 33, "%s", cmpd_key_info_id(k));
		rv = 0;
	} else if (c != NULL) {
		fprintf(stderr, "harness: import %s: %s\n", name,
		    cmpd_client_last_error(c));
	}
	cmpd_key_info_free(k);
	cmpd_client_close(c);
	return rv;
}

int
harness_run(const struct harness *h, char *out, size_t outlen, const char *prog,
    const char *const *args)
{
	char path[512];
	const char *argv[64] = { prog };
	size_t n = 1, got = 0;
	int fds[2], st;
	pid_t pid;
	ssize_t r;

	snprintf(path, sizeof(path), "%s/%s", h->bin, prog);
	for (; args != NULL && *args != NULL && n < 62; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	if (pipe(fds) != 0)
		return -1;
	if ((pid = fork()) == 0) {
		close(fds[0]);
		dup2(fds[1], STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		setenv("CMPD_SOCKET", h->socket, 1);
		execv(path, (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	while (got + 1 < outlen &&
	    (r = read(fds[0], out + got, outlen - got - 1)) > 0)
		got += (size_t)r;
	out[got] = '\0';
	close(fds[0]);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

cmpd_job *
harness_enroll_wait(
    const struct harness *h, const char *profile, const cmpd_enroll_opts *opts)
{
	cmpd_client *c = harness_client(h);
	cmpd_job *job = NULL, *done = NULL;

	if (c == NULL)
		return NULL;
	if (cmpd_enroll(c, profile, opts, &job) != CMPD_RESULT_OK ||
	    cmpd_job_wait(c, cmpd_job_id(job), 60000, &done) != CMPD_RESULT_OK)
		fprintf(stderr, "harness: enroll %s: %s\n", profile,
		    cmpd_client_last_error(c));
	cmpd_job_free(job);
	cmpd_client_close(c);
	return done;
}

static int
write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Without root, a user namespace makes the network namespace possible. */
static int
unshare_net(void)
{
	char map[64];
	uid_t uid = getuid();
	gid_t gid = getgid();

	if (unshare(CLONE_NEWNET) == 0)
		return 0;
	if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0)
		return -1;
	snprintf(map, sizeof(map), "%u %u 1", (unsigned)uid, (unsigned)uid);
	if (write_file("/proc/self/uid_map", map) != 0 ||
	    write_file("/proc/self/setgroups", "deny") != 0)
		return -1;
	snprintf(map, sizeof(map), "%u %u 1", (unsigned)gid, (unsigned)gid);
	return write_file("/proc/self/gid_map", map);
}

int
harness_private_network(void)
{
	struct ifreq ifr = { 0 };
	int s, rv = -1;

	if (unshare_net() != 0)
		return -1;
	if ((s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		rv = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	close(s);
	return rv;
}
