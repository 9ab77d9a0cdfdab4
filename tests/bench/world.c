/*
 * The benchmark's world, like the integration tests' harness: a private
 * directory with a fresh test PKI, cmpd-testca serving it on 127.0.0.1
 * and the real cmpd (broker, keyworker, networker) with one profile.
 */
#include <cmpd/client.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "testproc.h"

double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs argv (a path first) with its output thrown away; its status. */
int
bench_run_quiet(const char *const *argv)
{
	pid_t pid = tp_spawn(argv[0], argv, "/dev/null", 0);
	int st;

	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int
bench_world_init(struct bench_world *w, const char *bin)
{
	const char *tmp = getenv("TMPDIR");
	char prog[512];
	const char *argv[] = { prog, "init", w->pki, NULL };

	w->bin = bin;
	snprintf(w->dir, sizeof(w->dir), "%s/cmpd-bench.XXXXXX",
	    tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(w->dir) == NULL) {
		perror("mkdtemp");
		return -1;
	}
	snprintf(w->pki, sizeof(w->pki), "%s/pki", w->dir);
	snprintf(w->socket, sizeof(w->socket), "%s/run/cmpd.sock", w->dir);
	snprintf(prog, sizeof(prog), "%s/cmpd-testca", bin);
	if (bench_run_quiet(argv) != 0) {
		fprintf(stderr, "cmpd-bench: %s init failed\n", prog);
		return -1;
	}
	return 0;
}

/* poll 0: the main CA; else a second CA that answers "waiting" poll times. */
int
bench_world_start_ca(struct bench_world *w, int poll)
{
	char prog[512], pf[512], log[512], threads[16], polls[16];
	const char *argv[] = { prog, "serve", w->pki, "--port", "0",
		"--port-file", pf, "--quiet", "--threads", threads,
		poll ? "--poll" : NULL, polls, "--check-after", "600", NULL };
	pid_t pid;
	int port = 0;

	snprintf(prog, sizeof(prog), "%s/cmpd-testca", w->bin);
	snprintf(pf, sizeof(pf), "%s/ca%d.port", w->dir, poll ? 2 : 1);
	snprintf(log, sizeof(log), "%s/ca%d.log", w->dir, poll ? 2 : 1);
	snprintf(threads, sizeof(threads), "%u", w->ca_threads);
	snprintf(polls, sizeof(polls), "%d", poll);
	pid = tp_spawn(argv[0], argv, log, 0);
	for (int i = 0; i < 400 && port == 0; i++) {
		tp_sleep_ms(25);
		port = tp_read_port(pf);
	}
	if (pid < 0 || port == 0) {
		fprintf(stderr, "cmpd-bench: the test CA did not start (%s)\n",
		    log);
		return -1;
	}
	if (poll) {
		w->poll_ca = pid;
		w->poll_port = port;
	} else {
		w->pid[BENCH_CA] = pid;
		w->port = port;
		snprintf(
		    w->url, sizeof(w->url), "http://127.0.0.1:%d/pkix/", port);
	}
	return 0;
}

static int
write_conf(const struct bench_world *w, const char *path)
{
	FILE *f = fopen(path, "w");
	const char *level = getenv("BENCH_LOG_LEVEL");

	if (f == NULL)
		return -1;
	fprintf(f, "[cmpd]\nstate_dir = %s/state\nrun_dir = %s/run\n", w->dir,
	    w->dir);
	fprintf(f, "socket = %s\nlog_level = %s\n", w->socket,
	    level != NULL ? level : "warning");
	if (w->key_pool != NULL && w->key_pool[0] != '\0')
		fprintf(f, "key_pool = %s\n", w->key_pool);
	fprintf(f,
	    "\n[profile bench]\nserver = %s\nprotection = signature\n"
	    "cert = %s/supplier.pem\ntrusted = %s/root.pem\n"
	    "subject = /CN=bench.example\nkey_type = %s\n",
	    w->url, w->pki, w->pki, w->key_type);
	if (w->poll_port != 0)
		fprintf(f,
		    "\n[profile poll]\nserver = http://127.0.0.1:%d/pkix/\n"
		    "protection = signature\ncert = %s/supplier.pem\n"
		    "trusted = %s/root.pem\nsubject = /CN=poll.example\n",
		    w->poll_port, w->pki, w->pki);
	return fclose(f);
}

/* The pid of cmpd's child named comm, 0 if there is none (yet). */
static pid_t
child_find(pid_t parent, const char *comm)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	pid_t found = 0;

	while (d != NULL && found == 0 && (de = readdir(d)) != NULL) {
		char path[300], name[64] = "", *end;
		long pid = strtol(de->d_name, &end, 10);
		FILE *f;
		int ppid = 0;

		if (*end != '\0' || pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fscanf(f, "%*d (%63[^)]) %*c %d", name, &ppid) == 2 &&
		    ppid == parent && strcmp(name, comm) == 0)
			found = (pid_t)pid;
		fclose(f);
	}
	if (d != NULL)
		closedir(d);
	return found;
}

/*
 * Whether cmpd answers a request: one that costs it nothing, since with
 * 10,000 jobs listing them all would measure the listing.
 */
static int
cmpd_answers(const struct bench_world *w)
{
	cmpd_client *c = NULL;
	cmpd_job *job = NULL;
	int ok = cmpd_client_open(w->socket, &c) == CMPD_RESULT_OK &&
	    cmpd_job_get(c, "0000000000000000", &job) == CMPD_RESULT_NOT_FOUND;

	cmpd_job_free(job);
	cmpd_client_close(c);
	return ok;
}

/* Imports the supplier key once (a restarted cmpd keeps it). */
static int
supplier_import(const struct bench_world *w)
{
	char path[512];
	cmpd_client *c = NULL;
	cmpd_key_info *k = NULL;
	int rv = -1;

	snprintf(path, sizeof(path), "%s/supplier.key", w->pki);
	if (cmpd_client_open(w->socket, &c) == CMPD_RESULT_OK &&
	    cmpd_key_import_file(c, path, NULL, &k) == CMPD_RESULT_OK)
		rv = 0;
	else
		fprintf(stderr, "cmpd-bench: cannot import %s: %s\n", path,
		    cmpd_client_last_error(c));
	cmpd_key_info_free(k);
	cmpd_client_close(c);
	return rv;
}

int
bench_world_start_cmpd(struct bench_world *w)
{
	char prog[512], conf[512], log[512];
	const char *argv[] = { prog, "--foreground", "--config", conf, NULL };
	double t0 = bench_now();
	pid_t pid;

	snprintf(prog, sizeof(prog), "%s/cmpd", w->bin);
	snprintf(conf, sizeof(conf), "%s/cmpd.conf", w->dir);
	snprintf(log, sizeof(log), "%s/cmpd.log", w->dir);
	if (write_conf(w, conf) != 0 ||
	    (pid = tp_spawn(argv[0], argv, log, 0)) < 0)
		return -1;
	w->pid[BENCH_BROKER] = pid;
	for (int i = 0; i < 2000; i++) {
		if (cmpd_answers(w)) {
			w->startup_secs = bench_now() - t0;
			w->pid[BENCH_KEYWORKER] =
			    child_find(pid, "cmpd-keyworker");
			w->pid[BENCH_NETWORKER] =
			    child_find(pid, "cmpd-networker");
			if (w->pid[BENCH_KEYWORKER] == 0 ||
			    w->pid[BENCH_NETWORKER] == 0)
				break;
			return supplier_import(w);
		}
		tp_sleep_ms(5);
	}
	fprintf(stderr, "cmpd-bench: cmpd did not come up (see %s)\n", log);
	return -1;
}

int
bench_world_stop_cmpd(struct bench_world *w)
{
	int rv = tp_stop(w->pid[BENCH_BROKER]);

	w->pid[BENCH_BROKER] = 0;
	w->pid[BENCH_KEYWORKER] = w->pid[BENCH_NETWORKER] = 0;
	return rv;
}

/* A sanitizer build reports into the logs: such a run did not succeed. */
static int
logs_clean(const struct bench_world *w)
{
	char cmd[1200];

	snprintf(cmd, sizeof(cmd),
	    "! grep -E -l 'Sanitizer|runtime error:' '%s'/cmpd.log "
	    "'%s'/ca*.log "
	    ">&2 2>/dev/null",
	    w->dir, w->dir);
	return system(cmd) == 0;
}

int
bench_world_fini(struct bench_world *w, int keep)
{
	char cmd[600];
	int rv = 0;

	if (bench_world_stop_cmpd(w) != 0) {
		fprintf(stderr, "cmpd-bench: cmpd did not exit cleanly\n");
		rv = -1;
	}
	tp_stop(w->pid[BENCH_CA]);
	tp_stop(w->poll_ca);
	if (!logs_clean(w)) {
		fprintf(stderr, "cmpd-bench: a sanitizer reported an error\n");
		rv = -1;
	}
	if (keep || rv != 0) {
		fprintf(stderr, "cmpd-bench: logs kept in %s\n", w->dir);
		return rv;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cmpd-bench: cannot remove %s\n", w->dir);
	return rv;
}
