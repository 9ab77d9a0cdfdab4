#include "ipcwatch.h"

#include "log.h"

static void
watch_poll_cb(uv_poll_t *handle, int status, int events)
{
	struct cmpd_ipc_watch *w = handle->data;
	nng_msg *msg;
	int rv;

	(void)events;
	if (status < 0) {
		log_err("ipc watch: %s", uv_strerror(status));
		return;
	}
	/* The descriptor only says "something is waiting": drain it all. */
	while ((rv = nng_recvmsg(w->sock, &msg, NNG_FLAG_NONBLOCK)) == 0)
		w->cb(w->arg, msg);
	if (rv != NNG_EAGAIN && rv != NNG_ECLOSED)
		log_warn("ipc receive: %s", nng_strerror(rv));
}

cmpd_err
cmpd_ipc_watch_start(uv_loop_t *loop, struct cmpd_ipc_watch *w, nng_socket s,
    cmpd_ipc_recv_cb cb, void *arg)
{
	int fd;
	int rv;

	if ((rv = nng_socket_get_int(s, NNG_OPT_RECVFD, &fd)) != 0) {
		log_err("ipc watch: %s", nng_strerror(rv));
		return CMPD_EIO;
	}
	w->sock = s;
	w->cb = cb;
	w->arg = arg;
	w->poll.data = w;
	if ((rv = uv_poll_init(loop, &w->poll, fd)) != 0 ||
	    (rv = uv_poll_start(&w->poll, UV_READABLE, watch_poll_cb)) != 0) {
		log_err("ipc watch: %s", uv_strerror(rv));
		return CMPD_EIO;
	}
	return CMPD_OK;
}

void
cmpd_ipc_watch_stop(struct cmpd_ipc_watch *w, uv_close_cb close_cb)
{
	if (!uv_is_closing((uv_handle_t *)&w->poll))
		uv_close((uv_handle_t *)&w->poll, close_cb);
}
