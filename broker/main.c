/*
 * cmpd, the broker: reads the configuration, opens the store, starts and
 * supervises the keyworker and the networker, serves the client API and
 * drives every job. It never holds a private key and never parses a CA's
 * response.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "anchor.h"
#include "api.h"
#include "broker.h"
#include "cmpd_build.h"
#include "fileio.h"
#include "job.h"
#include "log.h"
#include "output.h"
#include "reload.h"
#include "track.h"
#include "util.h"

#define SHUTDOWN_GRACE_MS 5000u
#define SHUTDOWN_TICK_MS  50u

struct options {
	const char *config;
	int foreground;
	int check;
	int log_level;
};

static const char usage[] =
    "usage: cmpd [--foreground] [--config FILE] [--check-config]\n"
    "            [--log-level err|warning|notice|info|debug] [--version]\n";

static const Cmpd__Envelope__BodyCase keyworker_sends[] = {
	CMPD__ENVELOPE__BODY_KEY_GENERATE_REP,
	CMPD__ENVELOPE__BODY_KEY_IMPORT_CERT_REP,
	CMPD__ENVELOPE__BODY_KEY_IMPORT_REP,
	CMPD__ENVELOPE__BODY_KEY_LIST_REP,
	CMPD__ENVELOPE__BODY_OK,
	CMPD__ENVELOPE__BODY_ERROR,
	CMPD__ENVELOPE__BODY__NOT_SET,
};

static const Cmpd__Envelope__BodyCase networker_sends[] = {
	CMPD__ENVELOPE__BODY_TXN_REP,
	CMPD__ENVELOPE__BODY_OK,
	CMPD__ENVELOPE__BODY_ERROR,
	CMPD__ENVELOPE__BODY__NOT_SET,
};

static struct broker broker;
static uv_signal_t sig_term, sig_int, sig_hup;
static uv_timer_t prune_timer; /* old jobs */
static uv_timer_t shutdown_timer;
static uint64_t shutdown_deadline;
static int log_level_fixed = -1; /* --log-level, which a reload keeps */

static int
options_parse(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->config = CMPD_DEFAULT_CONFIG;
	o->log_level = -1;
	while (
	    (c = getopt_long(argc, argv, "c:fCl:Vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 'f':
			o->foreground = 1;
			break;
		case 'C':
			o->check = 1;
			break;
		case 'l':
			if ((o->log_level = cmpd_log_level_parse(optarg)) < 0)
				goto bad;
			break;
		case 'V':
			printf("cmpd %s\n", CMPD_VERSION);
			exit(0);
		case 'h':
			fputs(usage, stdout);
			exit(0);
		default:
			goto bad;
		}
	}
	if (optind == argc)
		return 0;
bad:
	fputs(usage, stderr);
	return -1;
}

/*
 * Detaching happens before any thread exists (nng starts threads when a
 * socket opens): the parent waits until the child reports that it is
 * serving, so "cmpd" returns 0 only for a daemon that works.
 */
static int
daemon_begin(void)
{
	int fds[2];
	char ok = 0;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) != 0 || (pid = fork()) < 0) {
		perror("cmpd: cannot detach");
		exit(1);
	}
	if (pid > 0) {
		close(fds[1]);
		if (read(fds[0], &ok, 1) != 1 || ok != 1)
			exit(1);
		exit(0);
	}
	close(fds[0]);
	setsid();
	setenv("CMPD_LOG_SYSLOG", "1", 1);
	return fds[1];
}

static void
daemon_ready(int fd)
{
	char ok = 1;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		close(null);
	}
	if (write(fd, &ok, 1) != 1)
		log_warn("cannot tell the parent process that cmpd is ready");
	close(fd);
}

/* The workers' executables: beside cmpd, else in the libexec directory. */
static char *
worker_path(const struct config *cfg, const char *name)
{
	char self[PATH_MAX], *path = NULL;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (cfg->libexec_dir != NULL) {
		if (asprintf(&path, "%s/%s", cfg->libexec_dir, name) < 0)
			return NULL;
		return path;
	}
	if (n > 0) {
		self[n] = '\0';
		*strrchr(self, '/') = '\0';
		if (asprintf(&path, "%s/%s", self, name) < 0)
			return NULL;
		if (access(path, X_OK) == 0)
			return path;
		free(path);
	}
	if (asprintf(&path, "%s/%s", CMPD_LIBEXECDIR, name) < 0)
		return NULL;
	return path;
}

static cmpd_err
workers_init(struct broker *b, const char *level)
{
	const struct config *cfg = b->cfg;
	char *kw = worker_path(cfg, "cmpd-keyworker");
	char *nw = worker_path(cfg, "cmpd-networker");
	char *kw_url = NULL, *nw_url = NULL, *sign_url = NULL, *keys = NULL;
	/* Workers change users only when cmpd can let them (as root). */
	int root = geteuid() == 0;
	char *kw_user = root && cfg->keyworker_user ? cfg->keyworker_user : "";
	char *nw_user = root && cfg->networker_user ? cfg->networker_user : "";
	/* A worker started after the broker died must know it: its parent
	 * would then be another process, and no death signal would come. */
	char pid[16];
	cmpd_err rv = CMPD_ENOMEM;

	snprintf(pid, sizeof(pid), "%d", (int)getpid());

	if (kw == NULL || nw == NULL ||
	    asprintf(&kw_url, "ipc://%s/keyworker.ipc", cfg->run_dir) < 0 ||
	    asprintf(&nw_url, "ipc://%s/networker.ipc", cfg->run_dir) < 0 ||
	    asprintf(&sign_url, "ipc://%s/signer.ipc", cfg->run_dir) < 0 ||
	    asprintf(&keys, "%s/keys", cfg->state_dir) < 0)
		goto out;
	{
		char *const kw_argv[] = { kw, "--keystore", keys, "--broker",
			kw_url, "--signer", sign_url, "--log-level",
			(char *)level, "--user", kw_user, "--signer-user",
			nw_user, "--broker-pid", pid,
			cfg->key_pool != NULL ? "--pool" : NULL, cfg->key_pool,
			NULL };
		char *const nw_argv[] = { nw, "--broker", nw_url, "--signer",
			sign_url, "--log-level", (char *)level, "--user",
			nw_user, "--broker-pid", pid, NULL };

		rv = worker_init(&b->keyworker, b->loop, "keyworker", kw_url,
		    kw, kw_argv, keyworker_sends);
		if (rv == CMPD_OK)
			rv = worker_init(&b->networker, b->loop, "networker",
			    nw_url, nw, nw_argv, networker_sends);
	}
out:
	free(kw);
	free(nw);
	free(kw_url);
	free(nw_url);
	free(sign_url);
	free(keys);
	return rv;
}

static void
close_if_open(uv_handle_t *h)
{
	if (h->loop != NULL && !uv_is_closing(h))
		uv_close(h, NULL);
}

/*
 * Shutting down waits for both workers to exit (SIGKILL after a grace
 * period), then closes every handle so the loop ends.
 */
static void
shutdown_tick_cb(uv_timer_t *t)
{
	struct broker *b = t->data;
	int done =
	    worker_stopped(&b->keyworker) && worker_stopped(&b->networker);

	if (!done && cmpd_clock_ms() < shutdown_deadline)
		return;
	if (!done) {
		log_warn("workers did not stop in time; killing them");
		if (!worker_stopped(&b->keyworker))
			uv_process_kill(&b->keyworker.proc, SIGKILL);
		if (!worker_stopped(&b->networker))
			uv_process_kill(&b->networker.proc, SIGKILL);
		shutdown_deadline = UINT64_MAX;
		return;
	}
	worker_close(&b->keyworker);
	worker_close(&b->networker);
	close_if_open((uv_handle_t *)&sig_term);
	close_if_open((uv_handle_t *)&sig_int);
	close_if_open((uv_handle_t *)&sig_hup);
	close_if_open((uv_handle_t *)&prune_timer);
	close_if_open((uv_handle_t *)t);
}

static void
signal_cb(uv_signal_t *h, int signum)
{
	struct broker *b = h->data;

	if (signum == SIGHUP) {
		if (b->stopping)
			return;
		/* systemd (Type=notify) shows "reloading" until READY=1. */
		sd_notify(0, "RELOADING=1");
		reload_config(b, log_level_fixed);
		sd_notifyf(0, "READY=1\nSTATUS=serving %zu profile%s",
		    b->cfg->n_profiles, b->cfg->n_profiles == 1 ? "" : "s");
		return;
	}
	if (b->stopping)
		return;
	log_notice("%s: stopping", strsignal(signum));
	sd_notify(0, "STOPPING=1");
	b->stopping = 1;
	api_stop(b->api);
	track_stop(b);
	job_free_all(b);
	worker_stop(&b->keyworker);
	worker_stop(&b->networker);
	shutdown_deadline = cmpd_clock_ms() + SHUTDOWN_GRACE_MS;
	shutdown_timer.data = b;
	uv_timer_init(b->loop, &shutdown_timer);
	uv_timer_start(&shutdown_timer, shutdown_tick_cb, SHUTDOWN_TICK_MS,
	    SHUTDOWN_TICK_MS);
}

/* Old finished jobs go, at startup and then every few hours. */
#define PRUNE_EVERY_MS (6 * 3600 * 1000)

static void
prune_cb(uv_timer_t *t)
{
	struct broker *b = t->data;
	int64_t before = cmpd_time_now() - (int64_t)b->cfg->job_retention;
	int n = 0;

	if (b->cfg->job_retention == 0)
		return;
	if (store_jobs_prune(b->store, before, &n) != CMPD_OK)
		log_warn(
		    "cannot delete old jobs: %s", store_strerror(b->store));
	else if (n > 0)
		log_info("deleted %d finished job%s older than job_retention",
		    n, n == 1 ? "" : "s");
}

static void
prune_start(struct broker *b)
{
	prune_timer.data = b;
	uv_timer_init(b->loop, &prune_timer);
	uv_timer_start(&prune_timer, prune_cb, 0, PRUNE_EVERY_MS);
}

static void
signals_init(struct broker *b)
{
	uv_signal_t *sigs[] = { &sig_term, &sig_int, &sig_hup };
	int nums[] = { SIGTERM, SIGINT, SIGHUP };

	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < CMPD_ARRAY_LEN(sigs); i++) {
		sigs[i]->data = b;
		uv_signal_init(b->loop, sigs[i]);
		uv_signal_start(sigs[i], signal_cb, nums[i]);
	}
}

static cmpd_err
dirs_init(const struct config *cfg)
{
	cmpd_err rv;

	if ((rv = cmpd_dir_ensure(cfg->state_dir, 0755)) != CMPD_OK ||
	    (rv = cmpd_dir_ensure(cfg->run_dir, 0755)) != CMPD_OK)
		return rv;
	return CMPD_OK;
}

/*
 * Each client connection is a descriptor: with systemd's default soft
 * limit of 1,024, a few users at the per-user limit (apiconn.c) would
 * leave none for the store and the files. Raise it to the hard limit.
 */
#define NOFILE_WANT 65536

static void
nofile_raise(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= NOFILE_WANT)
		return;
	rl.rlim_cur = rl.rlim_max < NOFILE_WANT ? rl.rlim_max : NOFILE_WANT;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		log_warn(
		    "cannot raise the open file limit: %s", strerror(errno));
}

static cmpd_err
store_init(struct broker *b)
{
	char *path = NULL;
	cmpd_err rv;

	if (asprintf(&path, "%s/cmpd.db", b->cfg->state_dir) < 0)
		return CMPD_ENOMEM;
	rv = store_open(path, &b->store);
	free(path);
	return rv;
}

static int
config_read(const struct options *o, struct config **cfg)
{
	char *err = NULL;

	if (config_load(o->config, cfg, &err) != CMPD_OK) {
		fprintf(stderr, "cmpd: %s\n", err ? err : "out of memory");
		free(err);
		return -1;
	}
	if (o->check) {
		printf("%s: OK (%zu profile%s)\n", o->config,
		    (*cfg)->n_profiles, (*cfg)->n_profiles == 1 ? "" : "s");
		config_free(*cfg);
		exit(0);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct options opt = { 0 };
	struct broker *b = &broker;
	int ready_fd = -1, status = 1;

	if (options_parse(argc, argv, &opt) != 0)
		return 2;
	cmpd_log_init("cmpd", CMPD_LOG_INFO);
	b->magic = BROKER_MAGIC;
	if (config_read(&opt, &b->cfg) != 0)
		return 1;
	log_level_fixed = opt.log_level;
	if (opt.log_level < 0)
		opt.log_level = b->cfg->log_level;
	if (!opt.foreground)
		ready_fd = daemon_begin();
	cmpd_log_init("cmpd", opt.log_level);

	/* Acquire: directories, the store, the loop, the sockets. */
	nofile_raise();
	b->loop = uv_default_loop();
	if (dirs_init(b->cfg) != CMPD_OK || store_init(b) != CMPD_OK ||
	    anchor_load(b) != CMPD_OK)
		goto out;
	signals_init(b);
	if (workers_init(b, cmpd_log_level_name(opt.log_level)) != CMPD_OK ||
	    api_start(b, &b->api) != CMPD_OK)
		goto out;

	/* Serve: start the workers, take up unfinished jobs, run. */
	worker_start(&b->keyworker);
	worker_start(&b->networker);
	if (track_start(b) != CMPD_OK || job_resume_all(b) != CMPD_OK)
		goto out;
	prune_start(b);
	output_check_all(b);
	log_notice("cmpd %s serving %zu profile%s on %s", CMPD_VERSION,
	    b->cfg->n_profiles, b->cfg->n_profiles == 1 ? "" : "s",
	    b->cfg->socket);
	if (ready_fd >= 0)
		daemon_ready(ready_fd);
	/* Under systemd (Type=notify, --foreground): ready now. */
	sd_notifyf(0, "READY=1\nSTATUS=serving %zu profile%s",
	    b->cfg->n_profiles, b->cfg->n_profiles == 1 ? "" : "s");
	uv_run(b->loop, UV_RUN_DEFAULT);
	status = 0;
out:
	worker_fini(&b->keyworker);
	worker_fini(&b->networker);
	api_free(b->api);
	store_close(b->store);
	config_free(b->cfg);
	if (uv_loop_close(b->loop) != 0 && status == 0)
		log_warn("handles left open at exit");
	log_info("stopped");
	return status;
}
