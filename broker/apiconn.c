/*
 * The client socket, served on the broker's loop.
 *
 * libcmpd-client talks nng's req0 over nng's ipc transport; the broker
 * answers in the same wire protocol, but from libuv rather than from an
 * nng rep0 socket. nng 1.5.2 (Debian 12) cannot serve a socket that any
 * local user may connect to:
 *  - a client that leaves before the listener has sent it the SP header
 *    stops the listener for good: the EPIPE of that send becomes
 *    NNG_ECLOSED, which the listener takes for its own close
 *    (sp/transport/ipc/ipc.c ipc_pipe_neg_cb, core/listener.c
 *    listener_accept_cb; nng #1518, fixed in 1.6.0). Later clients still
 *    connect and negotiate, but nobody reads their requests;
 *  - a connection that hangs up before nng ever armed it in the poller
 *    makes the poller spin: epoll reports EPOLLHUP for a descriptor
 *    registered with no events, and 1.5.2 drops that bit before the
 *    callback (posix_pollq_epoll.c; fixed only in nng 2.0).
 * One connect() and close() did both. Here a departed client costs its own
 * connection only, and clients that come while the broker starts wait in
 * the kernel's backlog until the loop runs.
 *
 * The wire protocol (nng's ipc transport with req/rep): each side first
 * sends 8 bytes, 0x00 'S' 'P' 0x00, its protocol number (16 bits,
 * big-endian: req0 0x30, rep0 0x31) and 0x00 0x00. Then every message is a
 * frame: the type 0x01, the message length (64 bits, big-endian), the
 * message. A request starts with its backtrace, 32-bit words up to the one
 * with the top bit set (the request id; a device in between adds words);
 * its reply repeats the backtrace before its own body.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api_int.h"
#include "ipc.h"
#include "log.h"
#include "util.h"

#define CONN_MAGIC     0x61636f6eu /* "acon" */
#define SP_HEAD_LEN    8
#define FRAME_HEAD_LEN 9
#define SP_TTL         8 /* the most backtrace words, as nng's rep0 */
#define LISTEN_BACKLOG 128
/*
 * Connections one user may hold at once: every thread of a busy
 * application may have its client, but no user may take all of cmpd's
 * file descriptors (RLIMIT_NOFILE) and leave it unable to write its
 * store and files.
 */
#define CONNS_PER_USER 256

/* A client that lets this much of its replies pile up is dropped. */
#define WRITE_QUEUE_MAX (2 * (size_t)CMPD_IPC_MAX_CLIENT_REP)

static const uint8_t sp_head_req0[SP_HEAD_LEN] = { 0, 'S', 'P', 0, 0, 0x30, 0,
	0 };
static const uint8_t sp_head_rep0[SP_HEAD_LEN] = { 0, 'S', 'P', 0, 0, 0x31, 0,
	0 };

enum conn_state {
	CONN_NEGOTIATING, /* reading the peer's SP header */
	CONN_FRAME_HEAD,  /* reading a frame's type and length */
	CONN_FRAME_BODY,  /* reading a frame's message into msg */
	CONN_CLOSED,      /* dropped; the handle is closing or closed */
};

struct api_conn {
	uint32_t magic;
	uv_pipe_t pipe;
	struct api *api;
	struct api_conn *prev, *next; /* the server's list, until closed */
	unsigned refs;                /* the handle's, and one per request */
	enum conn_state state;
	uint32_t uid, gid; /* the peer's, from SO_PEERCRED */
	uint8_t head[FRAME_HEAD_LEN];
	size_t got;   /* bytes of head, or of msg's body, read so far */
	nng_msg *msg; /* the message being read */
};

/* One write: the frame head lives here, the message until it is sent. */
struct conn_write {
	uv_write_t req;
	struct api_conn *conn;
	nng_msg *msg;
	uint8_t head[FRAME_HEAD_LEN];
};

void
api_conn_hold(struct api_conn *c)
{
	CMPD_MAGIC_CHECK(c, CONN_MAGIC);
	c->refs++;
}

void
api_conn_release(struct api_conn *c)
{
	CMPD_MAGIC_CHECK(c, CONN_MAGIC);
	if (--c->refs > 0)
		return;
	c->magic = 0;
	free(c);
}

static void
conn_close_cb(uv_handle_t *handle)
{
	struct api_conn *c = handle->data;
	struct api_server *s = &c->api->srv;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	nng_msg_free(c->msg);
	c->msg = NULL;
	api_conn_release(c);
}

void
api_conn_drop(struct api_conn *c)
{
	CMPD_MAGIC_CHECK(c, CONN_MAGIC);
	if (c->state == CONN_CLOSED)
		return;
	c->state = CONN_CLOSED;
	uv_close((uv_handle_t *)&c->pipe, conn_close_cb);
}

static void
conn_write_cb(uv_write_t *req, int status)
{
	struct conn_write *w = req->data;

	if (status < 0 && status != UV_ECANCELED)
		api_conn_drop(w->conn);
	nng_msg_free(w->msg);
	api_conn_release(w->conn);
	free(w);
}

/* Queues bufs (w's head and message); w is freed when written. */
static void
conn_write(struct api_conn *c, struct conn_write *w, uv_buf_t *bufs, unsigned n)
{
	int rv;

	w->req.data = w;
	w->conn = c;
	api_conn_hold(c);
	rv = uv_write(&w->req, (uv_stream_t *)&c->pipe, bufs, n, conn_write_cb);
	if (rv != 0) {
		api_conn_drop(c);
		conn_write_cb(&w->req, UV_ECANCELED);
	}
}

void
api_conn_send(struct api_conn *c, nng_msg *msg)
{
	uint64_t len = nng_msg_header_len(msg) + nng_msg_len(msg);
	struct conn_write *w = NULL;
	uv_buf_t bufs[3];

	CMPD_MAGIC_CHECK(c, CONN_MAGIC);
	if (c->state == CONN_CLOSED || (w = calloc(1, sizeof(*w))) == NULL) {
		nng_msg_free(msg);
		return;
	}
	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) >
	    WRITE_QUEUE_MAX) {
		log_warn("client uid %u reads no replies; connection dropped",
		    c->uid);
		api_conn_drop(c);
		nng_msg_free(msg);
		free(w);
		return;
	}
	w->msg = msg;
	w->head[0] = 1;
	for (int i = 0; i < 8; i++)
		w->head[1 + i] = (uint8_t)(len >> (56 - 8 * i));
	bufs[0] = uv_buf_init((char *)w->head, FRAME_HEAD_LEN);
	bufs[1] = uv_buf_init(nng_msg_header(msg), nng_msg_header_len(msg));
	bufs[2] = uv_buf_init(nng_msg_body(msg), nng_msg_len(msg));
	conn_write(c, w, bufs, 3);
}

/*
 * Moves the backtrace from the body to the header, as nng's rep0 does.
 * Returns 0, 1 if the message is to be ignored (too many hops), or -1 if
 * the peer speaks garbage.
 */
static int
conn_backtrace(nng_msg *msg)
{
	for (int hops = 1;; hops++) {
		const uint8_t *w = nng_msg_body(msg);
		int end;

		if (hops > SP_TTL)
			return 1;
		if (nng_msg_len(msg) < 4)
			return -1;
		end = (w[0] & 0x80u) != 0;
		if (nng_msg_header_append(msg, w, 4) != 0 ||
		    nng_msg_trim(msg, 4) != 0)
			return 1;
		if (end)
			return 0;
	}
}

/* A whole message came in: the request goes to api.c. */
static void
conn_message(struct api_conn *c)
{
	nng_msg *msg = c->msg;
	int rv;

	c->msg = NULL;
	c->state = CONN_FRAME_HEAD;
	if ((rv = conn_backtrace(msg)) != 0) {
		if (rv < 0)
			api_conn_drop(c);
		nng_msg_free(msg);
		return;
	}
	api_request(c->api, c, c->uid, c->gid, msg);
}

/* A frame's head: type 1 and a length the broker accepts. */
static void
conn_frame_head(struct api_conn *c)
{
	uint64_t len = 0;

	for (int i = 0; i < 8; i++)
		len = len << 8 | c->head[1 + i];
	if (c->head[0] != 1 || len < 4 || len > CMPD_IPC_MAX_CLIENT_REQ) {
		log_warn("client uid %u: a frame of type %u and %llu bytes; "
		         "connection dropped",
		    c->uid, c->head[0], (unsigned long long)len);
		api_conn_drop(c);
		return;
	}
	if (nng_msg_alloc(&c->msg, (size_t)len) != 0) {
		log_err("out of memory for a client request");
		api_conn_drop(c);
		return;
	}
	c->state = CONN_FRAME_BODY;
}

/* The state's bytes are all in: act on them. */
static void
conn_step(struct api_conn *c)
{
	switch (c->state) {
	case CONN_NEGOTIATING:
		if (memcmp(c->head, sp_head_req0, SP_HEAD_LEN) != 0) {
			log_info("client uid %u is not a cmpd client (SP "
			         "header); connection dropped",
			    c->uid);
			api_conn_drop(c);
			return;
		}
		c->state = CONN_FRAME_HEAD;
		return;
	case CONN_FRAME_HEAD:
		conn_frame_head(c);
		return;
	case CONN_FRAME_BODY:
		conn_message(c);
		return;
	default:
		abort();
	}
}

/* Copies what the current state still wants from p; returns how much. */
static size_t
conn_take(struct api_conn *c, const uint8_t *p, size_t n)
{
	uint8_t *dst;
	size_t want, k;

	switch (c->state) {
	case CONN_NEGOTIATING:
		dst = c->head;
		want = SP_HEAD_LEN;
		break;
	case CONN_FRAME_HEAD:
		dst = c->head;
		want = FRAME_HEAD_LEN;
		break;
	case CONN_FRAME_BODY:
		dst = nng_msg_body(c->msg);
		want = nng_msg_len(c->msg);
		break;
	default:
		abort();
	}
	k = want - c->got < n ? want - c->got : n;
	memcpy(dst + c->got, p, k);
	c->got += k;
	if (c->got == want) {
		c->got = 0;
		conn_step(c);
	}
	return k;
}

static void
conn_alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct api_conn *c = handle->data;

	(void)suggested;
	*buf = uv_buf_init((char *)c->api->srv.buf, sizeof(c->api->srv.buf));
}

static void
conn_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct api_conn *c = stream->data;
	const uint8_t *p = (const uint8_t *)buf->base;
	size_t n;

	CMPD_MAGIC_CHECK(c, CONN_MAGIC);
	if (nread < 0) {
		api_conn_drop(c);
		return;
	}
	/* Requests are handled as they come; a drop ends the reading. */
	for (n = (size_t)nread; n > 0 && c->state != CONN_CLOSED;) {
		size_t k = conn_take(c, p, n);

		p += k;
		n -= k;
	}
}

static int
conn_peer_cred(struct api_conn *c)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	uv_os_fd_t fd;

	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0)
		return -1;
	c->uid = (uint32_t)uc.uid;
	c->gid = (uint32_t)uc.gid;
	return 0;
}

/* Whether c's user already holds CONNS_PER_USER other connections. */
static int
conn_over_limit(const struct api_conn *c)
{
	unsigned n = 0;

	for (const struct api_conn *o = c->api->srv.conns; o != NULL;
	     o = o->next)
		if (o != c && o->state != CONN_CLOSED && o->uid == c->uid &&
		    ++n >= CONNS_PER_USER)
			return 1;
	return 0;
}

/* Says that uid was refused, at most once a minute. */
static void
conn_refused_log(uv_loop_t *loop, uint32_t uid)
{
	static uint64_t last;
	uint64_t now = uv_now(loop);

	if (last != 0 && now - last < 60000)
		return;
	last = now;
	log_warn("client socket: uid %u already holds %d connections; "
	         "refusing more",
	    uid, CONNS_PER_USER);
}

/* Sends the broker's SP header and starts reading the client's. */
static void
conn_start(struct api_conn *c)
{
	struct conn_write *w = calloc(1, sizeof(*w));
	uv_buf_t buf = uv_buf_init((char *)sp_head_rep0, SP_HEAD_LEN);

	if (w == NULL || conn_peer_cred(c) != 0) {
		free(w);
		api_conn_drop(c);
		return;
	}
	if (conn_over_limit(c)) {
		conn_refused_log(c->pipe.loop, c->uid);
		free(w);
		api_conn_drop(c);
		return;
	}
	if (uv_read_start(
	        (uv_stream_t *)&c->pipe, conn_alloc_cb, conn_read_cb) != 0) {
		free(w);
		api_conn_drop(c);
		return;
	}
	conn_write(c, w, &buf, 1);
}

static void server_connection_cb(uv_stream_t *server, int status);

static void
server_refused_cb(uv_handle_t *handle)
{
	struct api *a = handle->data;

	a->srv.refusing = 0;
	/* Another client came meanwhile: take it now. */
	if (a->srv.refuse_again &&
	    !uv_is_closing((uv_handle_t *)&a->srv.pipe)) {
		a->srv.refuse_again = 0;
		server_connection_cb((uv_stream_t *)&a->srv.pipe, 0);
	}
}

/*
 * Out of memory for a connection: libuv accepts nothing more until the
 * pending one is taken, so it is taken into a spare handle and closed.
 */
static void
server_refuse(struct api *a)
{
	struct api_server *s = &a->srv;

	if (s->refusing) {
		s->refuse_again = 1;
		return;
	}
	uv_pipe_init(s->pipe.loop, &s->refuse, 0);
	s->refuse.data = a;
	s->refusing = 1;
	(void)uv_accept((uv_stream_t *)&s->pipe, (uv_stream_t *)&s->refuse);
	uv_close((uv_handle_t *)&s->refuse, server_refused_cb);
}

static void
server_connection_cb(uv_stream_t *server, int status)
{
	struct api *a = server->data;
	struct api_conn *c;

	if (status < 0) {
		log_warn("client socket: %s", uv_strerror(status));
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_err("out of memory for a client connection");
		server_refuse(a);
		return;
	}
	c->magic = CONN_MAGIC;
	c->api = a;
	c->refs = 1;
	c->state = CONN_NEGOTIATING;
	uv_pipe_init(server->loop, &c->pipe, 0);
	c->pipe.data = c;
	c->next = a->srv.conns;
	if (c->next != NULL)
		c->next->prev = c;
	a->srv.conns = c;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) {
		api_conn_drop(c);
		return;
	}
	conn_start(c);
}

/*
 * Whether nothing listens on path (a broker that died left it): only then
 * may it be removed. The probe reads nothing and sends nothing.
 */
static int
server_path_stale(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int stale;

	if (fd < 0)
		return 0;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	stale = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 &&
	    errno == ECONNREFUSED;
	close(fd);
	return stale;
}

/* Binds path with mode before anyone can connect to it. */
static int
server_bind(struct api_server *s, const char *path, mode_t mode)
{
	int rv = uv_pipe_bind(&s->pipe, path);

	if (rv == UV_EADDRINUSE && server_path_stale(path)) {
		unlink(path);
		rv = uv_pipe_bind(&s->pipe, path);
	}
	if (rv == 0 && chmod(path, mode & 07777) != 0)
		rv = uv_translate_sys_error(errno);
	return rv;
}

cmpd_err
api_listen(struct api *a, const char *path, mode_t mode)
{
	struct api_server *s = &a->srv;
	int rv;

	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		log_err("client socket %s: the path is too long", path);
		return CMPD_EINVAL;
	}
	if ((rv = uv_pipe_init(a->b->loop, &s->pipe, 0)) != 0) {
		log_err("client socket: %s", uv_strerror(rv));
		return CMPD_EIO;
	}
	s->pipe.data = a;
	s->open = 1;
	if ((rv = server_bind(s, path, mode)) != 0 ||
	    (rv = uv_listen((uv_stream_t *)&s->pipe, LISTEN_BACKLOG,
	         server_connection_cb)) != 0) {
		log_err("cannot listen on %s: %s", path, uv_strerror(rv));
		api_listen_stop(a);
		return rv == UV_EADDRINUSE ? CMPD_EEXIST : CMPD_EIO;
	}
	return CMPD_OK;
}

void
api_listen_stop(struct api *a)
{
	struct api_server *s = &a->srv;

	/* libuv removes the socket file when it closes a bound pipe. */
	if (s->open && !uv_is_closing((uv_handle_t *)&s->pipe))
		uv_close((uv_handle_t *)&s->pipe, NULL);
	for (struct api_conn *c = s->conns; c != NULL; c = c->next)
		api_conn_drop(c);
}
