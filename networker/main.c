/*
 * cmpd-networker: runs CMP transactions with OpenSSL's client for the
 * broker. It is the only process that parses bytes from the network; it
 * holds no private key (keys are handles whose signatures the keyworker
 * makes) and no durable state.
 *
 *   cmpd-networker --broker URL --signer URL [--log-level L] [--threads N]
 *                  [--user NAME]
 *
 * Started as root with --user (not empty), it becomes that user.
 */
#include <getopt.h>
#include <nng/nng.h>
#include <nng/protocol/pair0/pair.h>
#include <nng/protocol/reqrep0/req.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <uv.h>

#include "ipc.h"
#include "ipcwatch.h"
#include "jail.h"
#include "log.h"
#include "remote.h"
#include "rkprov.h"
#include "serve.h"

#define THREADS_DEFAULT 16
#define THREADS_MAX     1024 /* libuv's own ceiling */
#define STOP_GRACE_MS   15000

struct nw_opts {
	const char *broker_url;
	const char *signer_url;
	const char *user; /* NULL: stay as is */
	pid_t broker_pid; /* 0: the parent at startup */
	int log_level;
	int threads;
};

struct nw_main {
	uv_loop_t loop;
	uv_signal_t sigterm, sigint;
	uv_async_t link_lost; /* the broker pipe went away (nng thread) */
	uv_timer_t grace;
	struct cmpd_ipc_watch watch;
	struct nw_serve *serve;
	nng_socket broker, signer;
	struct nw_remote *remote;
	OSSL_LIB_CTX *libctx;
	int watching;
	int stopping;
	int exit_code;
};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: cmpd-networker --broker URL --signer URL "
	    "[--log-level L] [--threads N] [--user NAME] "
	    "[--broker-pid PID]\n");
	exit(2);
}

static void
opts_parse(int argc, char **argv, struct nw_opts *o)
{
	static const struct option longopts[] = {
		{ "broker", required_argument, NULL, 'b' },
		{ "signer", required_argument, NULL, 's' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "threads", required_argument, NULL, 't' },
		{ "user", required_argument, NULL, 'u' },
		{ "broker-pid", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	*o = (struct nw_opts){ .log_level = CMPD_LOG_INFO,
		.threads = THREADS_DEFAULT };
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			o->broker_url = optarg;
			break;
		case 's':
			o->signer_url = optarg;
			break;
		case 'l':
			if ((o->log_level = cmpd_log_level_parse(optarg)) < 0)
				usage();
			break;
		case 'u':
			o->user = *optarg != '\0' ? optarg : NULL;
			break;
		case 'P':
			if (cmpd_parent_parse(optarg, &o->broker_pid) != 0)
				usage();
			break;
		case 't':
			o->threads = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || o->threads < 1 ||
			    o->threads > THREADS_MAX)
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind != argc || o->broker_url == NULL || o->signer_url == NULL)
		usage();
}

/*
 * Its own user, no capabilities, no core dumps, the allow-list: sockets to
 * the CAs and to the IPC, files for reading only, no process.
 */
static cmpd_err
main_jail(const struct nw_opts *o)
{
	struct cmpd_jail_user user;
	struct cmpd_jail j = { .policy = &cmpd_jail_networker,
		.parent_death_signal = SIGTERM,
		.parent = o->broker_pid };

	if (o->user != NULL) {
		if (cmpd_jail_user_find(o->user, &user) != CMPD_OK)
			return CMPD_ENOENT;
		j.user = &user;
	}
	return cmpd_jail_enter(&j);
}

#ifdef CMPD_TEST_HOOKS
/*
 * Test builds only: SIGUSR2 makes the networker start a program, which
 * its jail must answer by killing it.
 */
static void
test_violation_cb(int sig)
{
	static char *const argv[] = { "true", NULL };

	(void)sig;
	syscall(SYS_execve, "/bin/true", argv, argv + 1);
}

static void
test_hooks_install(void)
{
	signal(SIGUSR2, test_violation_cb);
}
#else
static void
test_hooks_install(void)
{
}
#endif

/* The key factory serve.c uses: handles of the remote-key provider. */
static cmpd_err
main_key_new(void *arg, OSSL_LIB_CTX *libctx, const char *job_id,
    const Cmpd__KeyInfo *key, EVP_PKEY **out)
{
	(void)arg;
	return cmpd_rkprov_key_new(libctx, job_id, key->id, key->type,
	    key->spki.data, key->spki.len, out);
}

static void
main_grace_cb(uv_timer_t *t)
{
	struct nw_main *m = t->data;

	log_err("transaction steps still running; exiting without them");
	_exit(m->exit_code != 0 ? m->exit_code : 1);
}

/*
 * Stops serving. The loop then runs until the steps already on the pool
 * end (each is bounded by its message timeout); past the grace time the
 * process leaves without waiting for them.
 */
static void
main_stop(struct nw_main *m, int code)
{
	if (m->stopping)
		return;
	m->stopping = 1;
	m->exit_code = code;
	if (m->watching)
		cmpd_ipc_watch_stop(&m->watch, NULL);
	uv_close((uv_handle_t *)&m->sigterm, NULL);
	uv_close((uv_handle_t *)&m->sigint, NULL);
	if (m->serve == NULL)
		return;
	nw_serve_stop(m->serve);
	if (nw_serve_jobs(m->serve) > 0) {
		log_notice("waiting for %zu transaction steps to end",
		    nw_serve_jobs(m->serve));
		uv_timer_start(&m->grace, main_grace_cb, STOP_GRACE_MS, 0);
	}
}

static void
main_signal_cb(uv_signal_t *h, int signum)
{
	log_notice("signal %d: exiting", signum);
	main_stop(h->data, 0);
}

static void
main_link_lost_cb(uv_async_t *h)
{
	struct nw_main *m = h->data;

	if (!m->stopping)
		log_notice("the broker link is gone: exiting");
	main_stop(m, 0);
}

static void
main_fatal_cb(void *arg)
{
	main_stop(arg, 1);
}

/* On an nng thread: only the async handle may be touched here. */
static void
main_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct nw_main *m = arg;

	(void)p;
	(void)ev;
	uv_async_send(&m->link_lost);
}

/* The IPC links: pair0 to the broker, req0 to the keyworker's signer. */
static cmpd_err
main_links_open(struct nw_main *m, const struct nw_opts *o)
{
	cmpd_err rv;
	int nrv;

	if ((nrv = nng_req0_open(&m->signer)) != 0 ||
	    (nrv = nng_pair0_open(&m->broker)) != 0) {
		log_err("cannot open sockets: %s", nng_strerror(nrv));
		return cmpd_err_from_nng(nrv);
	}
	if ((rv = nw_remote_new(m->signer, NW_REMOTE_TIMEOUT_MS, &m->remote)) !=
	        CMPD_OK ||
	    (rv = cmpd_rkprov_load(m->libctx, nw_remote_sign, m->remote)) !=
	        CMPD_OK) {
		log_err("cannot load the remote-key provider: %s",
		    cmpd_strerror(rv));
		return rv;
	}
	/* Replies wait in a buffer if the broker reads slowly. */
	nng_socket_set_int(m->broker, NNG_OPT_SENDBUF, 256);
	nng_pipe_notify(m->broker, NNG_PIPE_EV_REM_POST, main_pipe_cb, m);
	if ((rv = cmpd_ipc_dial(
	         m->broker, o->broker_url, CMPD_IPC_MAX_WORKER)) != CMPD_OK ||
	    (rv = cmpd_ipc_dial(m->signer, o->signer_url, CMPD_IPC_MAX_SIGN)) !=
	        CMPD_OK)
		return rv;
	return CMPD_OK;
}

/*
 * The loop and the handles that nng's threads or a failure may touch
 * before serving starts: the broker pipe's callback may fire as soon as
 * the link is dialed.
 */
static cmpd_err
main_loop_init(struct nw_main *m)
{
	if (uv_loop_init(&m->loop) != 0)
		return CMPD_EINTERNAL;
	if (uv_async_init(&m->loop, &m->link_lost, main_link_lost_cb) != 0 ||
	    uv_timer_init(&m->loop, &m->grace) != 0 ||
	    uv_signal_init(&m->loop, &m->sigterm) != 0 ||
	    uv_signal_init(&m->loop, &m->sigint) != 0) {
		log_err("cannot set up the event loop");
		abort();
	}
	m->sigterm.data = m->sigint.data = m->link_lost.data = m;
	m->grace.data = m;
	/* Neither keeps the loop alive: it ends when the work is done. */
	uv_unref((uv_handle_t *)&m->link_lost);
	uv_unref((uv_handle_t *)&m->grace);
	return CMPD_OK;
}

/* Serving: signals, the broker's requests. */
static cmpd_err
main_serve_start(struct nw_main *m)
{
	struct nw_serve_cfg cfg = { &m->loop, m->broker, m->libctx,
		main_key_new, NULL, main_fatal_cb, m };

	if (uv_signal_start(&m->sigterm, main_signal_cb, SIGTERM) != 0 ||
	    uv_signal_start(&m->sigint, main_signal_cb, SIGINT) != 0 ||
	    nw_serve_new(&cfg, &m->serve) != CMPD_OK)
		return CMPD_EINTERNAL;
	if (cmpd_ipc_watch_start(&m->loop, &m->watch, m->broker,
	        nw_serve_recv_cb, m->serve) != CMPD_OK)
		return CMPD_EINTERNAL;
	m->watching = 1;
	return CMPD_OK;
}

/*
 * Everything goes in order: the last replies, the sockets (nng's threads
 * may still use the async handle until the broker socket is closed), the
 * handles, then the provider and its library context.
 */
static void
main_fini(struct nw_main *m, int loop_ready)
{
	/* A start that failed: stop what did start. */
	if (loop_ready && !m->stopping) {
		main_stop(m, 1);
		uv_run(&m->loop, UV_RUN_DEFAULT);
	}
	if (m->serve != NULL)
		nw_serve_close(m->serve);
	nng_close(m->broker);
	nng_close(m->signer);
	if (loop_ready) {
		uv_close((uv_handle_t *)&m->link_lost, NULL);
		uv_close((uv_handle_t *)&m->grace, NULL);
		uv_run(&m->loop, UV_RUN_DEFAULT);
		if (uv_loop_close(&m->loop) != 0)
			log_warn("the event loop did not close cleanly");
	}
	nw_serve_free(m->serve);
	cmpd_rkprov_unload(m->libctx);
	OSSL_LIB_CTX_free(m->libctx);
	nw_remote_free(m->remote);
}

int
main(int argc, char **argv)
{
	struct nw_main m = { .broker = NNG_SOCKET_INITIALIZER,
		.signer = NNG_SOCKET_INITIALIZER,
		.exit_code = 1 };
	struct nw_opts o;
	char threads[16];
	int loop_ready = 0;

	opts_parse(argc, argv, &o);
	cmpd_log_init("cmpd-networker", o.log_level);
	/* The broker forks us; when it dies we must not linger. */
	if (cmpd_parent_follow(o.broker_pid, SIGTERM) != CMPD_OK)
		exit(1);
	/*
	 * OpenSSL's HTTP and TLS code writes to sockets without MSG_NOSIGNAL:
	 * a CA that closes a connection we still write to (a TLS server
	 * refusing our client certificate, a dropped keep-alive) must fail
	 * the write with EPIPE, not end the process.
	 */
	signal(SIGPIPE, SIG_IGN);
	/* libuv reads this when the pool first starts, at the first step. */
	snprintf(threads, sizeof(threads), "%d", o.threads);
	setenv("UV_THREADPOOL_SIZE", threads, 1);

	/*
	 * ---- Jail boundary ----
	 * Before any thread starts (nng's with the first socket): from here
	 * on the networker needs only its two IPC links, outgoing HTTP to the
	 * CAs and name resolution.
	 */
	if (main_jail(&o) != CMPD_OK)
		return 1;
	test_hooks_install();

	if (main_loop_init(&m) != CMPD_OK)
		goto out;
	loop_ready = 1;
	if ((m.libctx = OSSL_LIB_CTX_new()) == NULL ||
	    main_links_open(&m, &o) != CMPD_OK)
		goto out;

	if (main_serve_start(&m) != CMPD_OK) {
		log_err("cannot start serving");
		goto out;
	}
	log_info("serving the broker at %s", o.broker_url);
	uv_run(&m.loop, UV_RUN_DEFAULT);
	log_info("exiting with status %d", m.exit_code);
out:
	main_fini(&m, loop_ready);
	return m.stopping ? m.exit_code : 1;
}
