#include "worker.h"

#include <libgen.h>
#include <nng/protocol/pair0/pair.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define BACKOFF_MIN_MS   250u
#define BACKOFF_MAX_MS   30000u
#define STABLE_UPTIME_MS 60000u
#define LINK_SENDBUF     1024
#define SEND_RETRY_MS    20

struct pending {
	struct pending *next;
	uint64_t id;
	worker_reply_cb cb;
	void *owner;
	nng_msg *unsent; /* packed, waiting for the worker to connect */
};

static void worker_spawn(struct worker *w);
static void worker_link_renew(struct worker *w);

static void
pending_fail(struct worker *w, int sent_only, cmpd_err err)
{
	struct pending **pp = &w->pending;

	while (*pp != NULL) {
		struct pending *p = *pp;

		if (sent_only && p->unsent != NULL) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		nng_msg_free(p->unsent);
		p->cb(p->owner, err, NULL);
		free(p);
	}
}

/* Sends p's request; on NNG_EAGAIN (the link is full) it stays unsent. */
static int
pending_send(struct worker *w, struct pending *p)
{
	int rv = nng_sendmsg(w->sock, p->unsent, NNG_FLAG_NONBLOCK);

	if (rv == 0)
		p->unsent = NULL; /* nng owns it now */
	else if (rv != NNG_EAGAIN)
		log_err("%s: cannot send request %llu: %s", w->name,
		    (unsigned long long)p->id, nng_strerror(rv));
	return rv;
}

static void worker_send_cb(uv_timer_t *t);

/* Unsent requests go out when the link has room: try again soon. */
static void
worker_send_later(struct worker *w)
{
	if (!w->stopping && !uv_is_active((uv_handle_t *)&w->send_timer))
		uv_timer_start(
		    &w->send_timer, worker_send_cb, SEND_RETRY_MS, 0);
}

/*
 * Pending requests are kept oldest first, so that unsent ones go out in
 * the order made: a request waits behind every one still unsent.
 */
cmpd_err
worker_request(struct worker *w, cmpd_env *env, worker_reply_cb cb, void *owner)
{
	struct pending *p = calloc(1, sizeof(*p)), **tail = &w->pending;
	int waiting = 0, rv = 0;
	cmpd_err err;

	CMPD_MAGIC_CHECK(w, WORKER_MAGIC);
	if (p == NULL)
		return CMPD_ENOMEM;
	if (w->stopping) {
		free(p);
		return CMPD_EUNAVAIL;
	}
	env->id = p->id = ++w->next_id;
	p->cb = cb;
	p->owner = owner;
	if ((err = cmpd_ipc_pack(env, &p->unsent)) != CMPD_OK) {
		free(p);
		return err;
	}
	for (; *tail != NULL; tail = &(*tail)->next)
		waiting |= (*tail)->unsent != NULL;
	if (w->connected && !waiting)
		rv = pending_send(w, p);
	if (rv != 0 && rv != NNG_EAGAIN) {
		nng_msg_free(p->unsent);
		free(p);
		return CMPD_EUNAVAIL;
	}
	*tail = p;
	if (p->unsent != NULL && w->connected)
		worker_send_later(w);
	return CMPD_OK;
}

void
worker_cancel(struct worker *w, void *owner)
{
	struct pending **pp = &w->pending;

	while (*pp != NULL) {
		struct pending *p = *pp;

		if (p->owner != owner) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		nng_msg_free(p->unsent);
		free(p);
	}
}

/*
 * Sends the unsent requests, oldest first, until the link is full: the
 * rest wait for the timer. One that cannot be sent for another reason
 * fails.
 */
static void
worker_flush(struct worker *w)
{
	struct pending **pp = &w->pending, *p;
	int rv = 0;

	while (w->connected && (p = *pp) != NULL) {
		if (p->unsent == NULL || (rv = pending_send(w, p)) == 0) {
			pp = &p->next;
			continue;
		}
		if (rv == NNG_EAGAIN) {
			worker_send_later(w);
			return;
		}
		*pp = p->next;
		nng_msg_free(p->unsent);
		p->cb(p->owner, CMPD_EUNAVAIL, NULL);
		free(p);
		/* The callback may have changed the list: walk it again. */
		pp = &w->pending;
	}
}

static void
worker_send_cb(uv_timer_t *t)
{
	struct worker *w = t->data;

	CMPD_MAGIC_CHECK(w, WORKER_MAGIC);
	worker_flush(w);
}

static int
body_listed(const Cmpd__Envelope__BodyCase *list, Cmpd__Envelope__BodyCase body)
{
	for (const Cmpd__Envelope__BodyCase *b = list;
	     b != NULL && *b != CMPD__ENVELOPE__BODY__NOT_SET; b++)
		if (*b == body)
			return 1;
	return 0;
}

void
worker_reply(struct worker *w, const cmpd_env *req, cmpd_env *rep)
{
	nng_msg *msg = NULL;
	int rv;

	CMPD_MAGIC_CHECK(w, WORKER_MAGIC);
	rep->id = req->id;
	if (cmpd_ipc_pack(rep, &msg) != CMPD_OK) {
		log_err("%s: cannot pack a reply", w->name);
		return;
	}
	if ((rv = nng_sendmsg(w->sock, msg, NNG_FLAG_NONBLOCK)) != 0) {
		log_err(
		    "%s: cannot send a reply: %s", w->name, nng_strerror(rv));
		nng_msg_free(msg);
	}
}

/* A worker that breaks the protocol is not trusted to go on: end it. */
static void
worker_violation(struct worker *w, const char *what)
{
	log_err("%s: protocol violation: %s; restarting it", w->name, what);
	if (w->running)
		uv_process_kill(&w->proc, SIGKILL);
}

static void
worker_recv_cb(void *arg, nng_msg *msg)
{
	struct worker *w = arg;
	struct pending **pp, *p;
	cmpd_env *env = NULL;

	CMPD_MAGIC_CHECK(w, WORKER_MAGIC);
	if (cmpd_ipc_unpack(msg, CMPD_IPC_MAX_WORKER, &env) != CMPD_OK) {
		nng_msg_free(msg);
		worker_violation(w, "malformed message");
		return;
	}
	nng_msg_free(msg);
	if (w->request_cb != NULL && body_listed(w->may_ask, env->body_case)) {
		w->request_cb(w->request_arg, env);
		cmpd_ipc_free(env);
		return;
	}
	if (!body_listed(w->may_send, env->body_case)) {
		worker_violation(w, cmpd_env_body_name(env));
		cmpd_ipc_free(env);
		return;
	}
	for (pp = &w->pending; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->id == env->id && (*pp)->unsent == NULL)
			break;
	if ((p = *pp) == NULL) {
		log_debug("%s: reply %llu to no pending request", w->name,
		    (unsigned long long)env->id);
		cmpd_ipc_free(env);
		return;
	}
	*pp = p->next;
	p->cb(p->owner, CMPD_OK, env);
	free(p);
	cmpd_ipc_free(env);
}

/*
 * Pipe events arrive on nng's threads; they are counted there and handled
 * here, on the loop. pair0 holds at most one pipe, so the link is up when
 * there was one more "added" than "removed".
 */
enum { PIPE_ADDED = 1, PIPE_REMOVED = 1 << 16 };

static void
worker_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct worker *w = arg;

	(void)p;
	atomic_fetch_add(&w->pipe_events,
	    ev == NNG_PIPE_EV_ADD_POST ? PIPE_ADDED : PIPE_REMOVED);
	uv_async_send(&w->pipe_async);
}

/* Only our own child may connect to a worker link. */
static void
worker_pipe_pre_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct worker *w = arg;
	char path[64], buf[512];
	uint64_t pid = 0;
	long ppid = -1;
	FILE *f;

	(void)ev;
	if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_PID, &pid) == 0) {
		snprintf(path, sizeof(path), "/proc/%llu/stat",
		    (unsigned long long)pid);
		if ((f = fopen(path, "r")) != NULL) {
			if (fgets(buf, sizeof(buf), f) != NULL &&
			    strrchr(buf, ')') != NULL)
				sscanf(strrchr(buf, ')') + 2, "%*c %ld", &ppid);
			fclose(f);
		}
	}
	if (ppid != (long)getpid()) {
		log_err("%s: refused a connection from pid %llu, not a child "
		        "of cmpd",
		    w->name, (unsigned long long)pid);
		nng_pipe_close(p);
	}
}

static void
worker_async_cb(uv_async_t *h)
{
	struct worker *w = h->data;
	int ev = atomic_exchange(&w->pipe_events, 0);
	int added = ev & 0xffff, removed = ev >> 16;
	int was = w->connected, up;

	CMPD_MAGIC_CHECK(w, WORKER_MAGIC);
	/* The link is up after these events if the last one was an add. */
	up = was ? added >= removed : added > removed;
	if (removed > 0 && was) {
		log_warn("%s: link closed", w->name);
		w->connected = 0;
		pending_fail(w, 1, CMPD_EUNAVAIL);
	}
	if (up && !w->connected) {
		w->connected = 1;
		w->generation++;
		log_info("%s: connected", w->name);
		worker_flush(w);
		if (w->up_cb != NULL)
			w->up_cb(w, w->up_arg);
	}
}

static void
worker_restart_cb(uv_timer_t *t)
{
	worker_spawn(t->data);
}

/* Starts the next instance later, each time later, up to a limit. */
static void
worker_retry(struct worker *w)
{
	uv_timer_start(&w->restart_timer, worker_restart_cb, w->backoff_ms, 0);
	w->backoff_ms = w->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
	                                                   : w->backoff_ms * 2;
}

static void
worker_exit_cb(uv_process_t *proc, int64_t status, int sig)
{
	struct worker *w = proc->data;
	uint64_t up = cmpd_clock_ms() - w->started_ms;

	CMPD_MAGIC_CHECK(w, WORKER_MAGIC);
	w->running = 0;
	uv_close((uv_handle_t *)proc, NULL);
	if (w->stopping) {
		log_info("%s (pid %d) exited", w->name, proc->pid);
		return;
	}
	if (sig != 0 || status != 0)
		w->crashes++;
	if (sig == SIGSYS)
		log_err("%s: sandbox violation: its seccomp filter killed it",
		    w->name);
	if (up >= STABLE_UPTIME_MS)
		w->backoff_ms = BACKOFF_MIN_MS;
	log_err("%s (pid %d) %s %d after %.1fs (%u crash%s in a row); "
	        "restarting in %.2fs",
	    w->name, proc->pid, sig ? "killed by signal" : "exited with status",
	    sig ? sig : (int)status, up / 1000.0, w->crashes,
	    w->crashes == 1 ? "" : "es", w->backoff_ms / 1000.0);
	worker_link_renew(w);
	worker_retry(w);
}

static cmpd_err worker_link_open(struct worker *w, const char *url);
static cmpd_err worker_link_give(struct worker *w, const char *url);

static void
worker_link_closed_cb(uv_handle_t *h)
{
	struct cmpd_ipc_watch *iw = h->data;
	struct worker *w = iw->arg;

	CMPD_MAGIC_CHECK(w, WORKER_MAGIC);
	nng_close(w->sock);
	/* nng_close has run the old pipes' callbacks: start counting anew. */
	atomic_store(&w->pipe_events, 0);
	w->relinking = 0;
	if (w->stopping)
		return;
	if (worker_link_open(w, w->url) != CMPD_OK ||
	    worker_link_give(w, w->url) != CMPD_OK ||
	    cmpd_ipc_watch_start(
	        w->loop, &w->watch, w->sock, worker_recv_cb, w) != CMPD_OK)
		log_err("%s: cannot listen for the next instance", w->name);
}

/*
 * A dead instance's link goes with it: requests it had fail now, and what
 * nng still queued for it is dropped with the old socket instead of
 * reaching the next instance after the broker has asked again. The next
 * instance connects to a new socket on the same path.
 */
static void
worker_link_renew(struct worker *w)
{
	w->connected = 0;
	pending_fail(w, 1, CMPD_EUNAVAIL);
	if (w->relinking || w->stopping)
		return;
	w->relinking = 1;
	cmpd_ipc_watch_stop(&w->watch, worker_link_closed_cb);
}

static void
worker_spawn(struct worker *w)
{
	uv_stdio_container_t stdio[3] = {
		{ .flags = UV_IGNORE },
		{ .flags = UV_INHERIT_FD, .data.fd = STDERR_FILENO },
		{ .flags = UV_INHERIT_FD, .data.fd = STDERR_FILENO },
	};
	uv_process_options_t o = {
		.exit_cb = worker_exit_cb,
		.file = w->path,
		.args = w->argv,
		.stdio_count = 3,
		.stdio = stdio,
	};
	int rv;

	if (w->stopping)
		return;
	w->proc.data = w;
	w->started_ms = cmpd_clock_ms();
	rv = uv_spawn(w->loop, &w->proc, &o);
	if (rv != 0) {
		log_err("%s: cannot start %s: %s; retrying in %.2fs", w->name,
		    w->path, uv_strerror(rv), w->backoff_ms / 1000.0);
		uv_close((uv_handle_t *)&w->proc, NULL);
		worker_retry(w);
		return;
	}
	w->running = 1;
	log_info("%s started (pid %d)", w->name, w->proc.pid);
}

static char **
argv_copy(char *const argv[])
{
	size_t n = 0;
	char **copy;

	while (argv[n] != NULL)
		n++;
	if ((copy = calloc(n + 1, sizeof(*copy))) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if ((copy[i] = strdup(argv[i])) == NULL)
			return copy; /* worker_fini frees the part made */
	return copy;
}

static cmpd_err
worker_link_open(struct worker *w, const char *url)
{
	int rv;

	if ((rv = nng_pair0_open(&w->sock)) != 0 ||
	    (rv = nng_socket_set_int(w->sock, NNG_OPT_SENDBUF, LINK_SENDBUF)) !=
	        0 ||
	    (rv = nng_pipe_notify(
	         w->sock, NNG_PIPE_EV_ADD_PRE, worker_pipe_pre_cb, w)) != 0 ||
	    (rv = nng_pipe_notify(
	         w->sock, NNG_PIPE_EV_ADD_POST, worker_pipe_cb, w)) != 0 ||
	    (rv = nng_pipe_notify(
	         w->sock, NNG_PIPE_EV_REM_POST, worker_pipe_cb, w)) != 0) {
		log_err("%s: %s", w->name, nng_strerror(rv));
		return CMPD_EIO;
	}
	return cmpd_ipc_listen(w->sock, url, CMPD_IPC_MAX_WORKER, 0600);
}

/* The value of option name on a worker's command line; NULL if empty. */
static const char *
argv_value(char *const *argv, const char *name)
{
	for (size_t i = 0; argv[i] != NULL && argv[i + 1] != NULL; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1][0] != '\0' ? argv[i + 1] : NULL;
	return NULL;
}

/*
 * The keyworker makes the signer socket in the run directory: its group
 * may add entries there, and the sticky bit keeps it from removing ours.
 * Everyone may pass through (the client socket is there too).
 */
static cmpd_err
worker_rundir_share(const char *sock, gid_t gid)
{
	char *copy = strdup(sock), *dir;
	struct stat st;
	cmpd_err rv = CMPD_OK;

	if (copy == NULL)
		return CMPD_ENOMEM;
	dir = dirname(copy);
	if (stat(dir, &st) != 0 || chown(dir, (uid_t)-1, gid) != 0 ||
	    chmod(dir, (st.st_mode & 07777) | S_ISVTX | S_IRWXG | S_IXOTH) !=
	        0) {
		log_err("cannot open %s to the keyworker: %s", dir,
		    strerror(errno));
		rv = CMPD_EIO;
	}
	free(copy);
	return rv;
}

/*
 * A worker with a user of its own (--user, which cmpd passes only as
 * root) must still reach its link, which we made 0600 for ourselves: the
 * socket becomes that user's. A missing user stops cmpd here, by name.
 */
static cmpd_err
worker_link_give(struct worker *w, const char *url)
{
	const char *user = argv_value(w->argv, "--user");
	const char *sock = strncmp(url, "ipc://", 6) == 0 ? url + 6 : NULL;
	struct passwd *pw;

	if (user == NULL || sock == NULL || geteuid() != 0)
		return CMPD_OK;
	if ((pw = getpwnam(user)) == NULL) {
		log_err("%s: user %s does not exist (create it, or change "
		        "%s_user in the configuration)",
		    w->name, user, w->name);
		return CMPD_ENOENT;
	}
	if (chown(sock, pw->pw_uid, pw->pw_gid) != 0) {
		log_err("%s: cannot give %s to %s: %s", w->name, sock, user,
		    strerror(errno));
		return CMPD_EIO;
	}
	if (argv_value(w->argv, "--keystore") != NULL)
		return worker_rundir_share(sock, pw->pw_gid);
	return CMPD_OK;
}

cmpd_err
worker_init(struct worker *w, uv_loop_t *loop, const char *name,
    const char *url, const char *path, char *const argv[],
    const Cmpd__Envelope__BodyCase *may_send_list)
{
	cmpd_err rv;

	memset(w, 0, sizeof(*w));
	w->magic = WORKER_MAGIC;
	w->name = name;
	w->loop = loop;
	w->may_send = may_send_list;
	w->backoff_ms = BACKOFF_MIN_MS;
	if ((w->path = strdup(path)) == NULL ||
	    (w->url = strdup(url)) == NULL ||
	    (w->argv = argv_copy(argv)) == NULL)
		return CMPD_ENOMEM;
	w->pipe_async.data = w;
	w->restart_timer.data = w;
	w->send_timer.data = w;
	if (uv_async_init(loop, &w->pipe_async, worker_async_cb) != 0 ||
	    uv_timer_init(loop, &w->restart_timer) != 0 ||
	    uv_timer_init(loop, &w->send_timer) != 0)
		return CMPD_EIO;
	if ((rv = worker_link_open(w, url)) != CMPD_OK ||
	    (rv = worker_link_give(w, url)) != CMPD_OK)
		return rv;
	return cmpd_ipc_watch_start(
	    loop, &w->watch, w->sock, worker_recv_cb, w);
}

cmpd_err
worker_start(struct worker *w)
{
	CMPD_MAGIC_CHECK(w, WORKER_MAGIC);
	worker_spawn(w);
	return CMPD_OK;
}

void
worker_stop(struct worker *w)
{
	CMPD_MAGIC_CHECK(w, WORKER_MAGIC);
	w->stopping = 1;
	uv_timer_stop(&w->restart_timer);
	uv_timer_stop(&w->send_timer);
	if (w->running)
		uv_process_kill(&w->proc, SIGTERM);
	pending_fail(w, 0, CMPD_ECANCELED);
}

int
worker_stopped(const struct worker *w)
{
	return !w->running;
}

void
worker_close(struct worker *w)
{
	CMPD_MAGIC_CHECK(w, WORKER_MAGIC);
	cmpd_ipc_watch_stop(&w->watch, NULL);
	if (!uv_is_closing((uv_handle_t *)&w->pipe_async))
		uv_close((uv_handle_t *)&w->pipe_async, NULL);
	if (!uv_is_closing((uv_handle_t *)&w->restart_timer))
		uv_close((uv_handle_t *)&w->restart_timer, NULL);
	if (!uv_is_closing((uv_handle_t *)&w->send_timer))
		uv_close((uv_handle_t *)&w->send_timer, NULL);
}

void
worker_fini(struct worker *w)
{
	if (w->magic != WORKER_MAGIC)
		return;
	nng_close(w->sock);
	for (size_t i = 0; w->argv != NULL && w->argv[i] != NULL; i++)
		free(w->argv[i]);
	free(w->argv);
	free(w->path);
	free(w->url);
	w->magic = 0;
}
