/*
 * libcmpd-client: the connection to cmpd, one synchronous request at a
 * time over an nng req0 socket, and the error record every call leaves.
 */
#include "client_int.h"

#include <nng/protocol/reqrep0/req.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmpd_build.h"
#include "log.h"
#include "util.h"

/* The public result codes are the wire's ErrorCode values. */
#define SAME_CODE(a, b) _Static_assert((int)(a) == (int)(b), #a)
SAME_CODE(CMPD_RESULT_OK, CMPD__ERROR_CODE__ERR_OK);
SAME_CODE(CMPD_RESULT_NOMEM, CMPD__ERROR_CODE__ERR_NOMEM);
SAME_CODE(CMPD_RESULT_INVALID, CMPD__ERROR_CODE__ERR_INVALID);
SAME_CODE(CMPD_RESULT_IO, CMPD__ERROR_CODE__ERR_IO);
SAME_CODE(CMPD_RESULT_CRYPTO, CMPD__ERROR_CODE__ERR_CRYPTO);
SAME_CODE(CMPD_RESULT_PROTOCOL, CMPD__ERROR_CODE__ERR_PROTOCOL);
SAME_CODE(CMPD_RESULT_NOT_FOUND, CMPD__ERROR_CODE__ERR_NOT_FOUND);
SAME_CODE(CMPD_RESULT_DENIED, CMPD__ERROR_CODE__ERR_DENIED);
SAME_CODE(CMPD_RESULT_TIMEOUT, CMPD__ERROR_CODE__ERR_TIMEOUT);
SAME_CODE(CMPD_RESULT_EXISTS, CMPD__ERROR_CODE__ERR_EXISTS);
SAME_CODE(CMPD_RESULT_UNAVAILABLE, CMPD__ERROR_CODE__ERR_UNAVAILABLE);
SAME_CODE(CMPD_RESULT_REFUSED, CMPD__ERROR_CODE__ERR_REFUSED);
SAME_CODE(CMPD_RESULT_TRANSPORT, CMPD__ERROR_CODE__ERR_TRANSPORT);
SAME_CODE(CMPD_RESULT_INTERNAL, CMPD__ERROR_CODE__ERR_INTERNAL);
SAME_CODE(CMPD_RESULT_BAD_CERT, CMPD__ERROR_CODE__ERR_BAD_CERT);
SAME_CODE(CMPD_RESULT_CANCELLED, CMPD__ERROR_CODE__ERR_CANCELLED);
SAME_CODE(CMPD_RESULT_MAX, CMPD_E_MAX);

static const struct {
	const char *name;
	const char *str;
} results[CMPD_RESULT_MAX] = {
	[CMPD_RESULT_OK] = { "ok", "success" },
	[CMPD_RESULT_NOMEM] = { "no_memory", "out of memory" },
	[CMPD_RESULT_INVALID] = { "invalid", "invalid argument" },
	[CMPD_RESULT_IO] = { "io", "input/output error" },
	[CMPD_RESULT_CRYPTO] = { "crypto", "cryptographic operation failed" },
	[CMPD_RESULT_PROTOCOL] = { "protocol", "unexpected answer from cmpd" },
	[CMPD_RESULT_NOT_FOUND] = { "not_found", "not found" },
	[CMPD_RESULT_DENIED] = { "denied", "permission denied" },
	[CMPD_RESULT_TIMEOUT] = { "timeout", "timed out" },
	[CMPD_RESULT_EXISTS] = { "exists", "already exists" },
	[CMPD_RESULT_UNAVAILABLE] = { "unavailable", "cmpd is not reachable" },
	[CMPD_RESULT_REFUSED] = { "refused", "refused by the CA" },
	[CMPD_RESULT_TRANSPORT] = { "transport",
	    "CA unreachable or transport error" },
	[CMPD_RESULT_INTERNAL] = { "internal", "internal error" },
	[CMPD_RESULT_BAD_CERT] = { "bad_cert", "issued certificate rejected" },
	[CMPD_RESULT_CANCELLED] = { "cancelled", "cancelled" },
};

const char *
cmpd_result_str(cmpd_result r)
{
	if ((unsigned)r >= CMPD_RESULT_MAX)
		return "unknown error";
	return results[r].str;
}

const char *
cmpd_result_name(cmpd_result r)
{
	if ((unsigned)r >= CMPD_RESULT_MAX)
		return "unknown";
	return results[r].name;
}

/* Failures of calls that have no client, per thread. */
static _Thread_local char thread_err[1024];

cmpd_result
client_fail(cmpd_client *c, cmpd_result r, const char *fmt, ...)
{
	char *buf = c != NULL ? c->err : thread_err;
	size_t len = c != NULL ? sizeof(c->err) : sizeof(thread_err);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return r;
}

cmpd_result
client_fail_openssl(cmpd_client *c, cmpd_result r, const char *what)
{
	char reasons[512];

	cmpd_openssl_errstr(reasons, sizeof(reasons));
	return client_fail(
	    c, r, "%s%s%s", what, reasons[0] ? ": " : "", reasons);
}

cmpd_result
client_check(const cmpd_client *c)
{
	return c != NULL && c->magic == CLIENT_MAGIC ? CMPD_RESULT_OK
	                                             : CMPD_RESULT_INVALID;
}

int
client_text_ok(const char *s, size_t max)
{
	size_t n = 0;

	if (s == NULL)
		return 0;
	for (; s[n] != '\0'; n++)
		if ((unsigned char)s[n] < 0x20 || s[n] == 0x7f || n >= max)
			return 0;
	return n > 0;
}

int
client_target_ok(const char *s)
{
	return s != NULL && cmpd_str_ok_name(s);
}

const char *
cmpd_client_last_error(const cmpd_client *client)
{
	return client != NULL ? client->err : thread_err;
}

static cmpd_result
dial_fail(int nrv, const char *path)
{
	switch (nrv) {
	case NNG_EPERM:
		return client_fail(NULL, CMPD_RESULT_DENIED,
		    "permission denied connecting to cmpd at %s", path);
	case NNG_ENOENT:
	case NNG_ECONNREFUSED:
		return client_fail(NULL, CMPD_RESULT_UNAVAILABLE,
		    "cmpd is not running: nothing listens at %s", path);
	case NNG_EADDRINVAL:
		return client_fail(NULL, CMPD_RESULT_INVALID,
		    "not a usable socket path: %s", path);
	case NNG_ENOMEM:
		return client_fail(NULL, CMPD_RESULT_NOMEM, "out of memory");
	default:
		return client_fail(NULL, CMPD_RESULT_UNAVAILABLE,
		    "cannot connect to cmpd at %s: %s", path,
		    nng_strerror(nrv));
	}
}

/*
 * A request must reach cmpd at most once: enrolling twice would ask the
 * CA twice. req0 resends a request whose reply is late (after
 * NNG_OPT_REQ_RESENDTIME, one minute by default, shorter than a long
 * poll) and when its connection breaks; an infinite resend time turns
 * both into an error for the caller instead. The dial is synchronous so
 * that a daemon that is not running is reported at once.
 */
static cmpd_result
client_connect(cmpd_client *c, const char *path)
{
	char url[4200];
	int nrv;

	snprintf(url, sizeof(url), "ipc://%s", path);
	if ((nrv = nng_req0_open(&c->sock)) != 0)
		return dial_fail(nrv, path);
	if ((nrv = nng_socket_set_size(
	         c->sock, NNG_OPT_RECVMAXSZ, CMPD_IPC_MAX_CLIENT_REP)) != 0 ||
	    (nrv = nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME,
	         NNG_DURATION_INFINITE)) != 0 ||
	    (nrv = nng_socket_set_ms(
	         c->sock, NNG_OPT_SENDTIMEO, CLIENT_SEND_TIMEOUT_MS)) != 0 ||
	    (nrv = nng_dial(c->sock, url, NULL, 0)) != 0) {
		nng_close(c->sock);
		return dial_fail(nrv, path);
	}
	return CMPD_RESULT_OK;
}

cmpd_result
cmpd_client_open(const char *socket_path, cmpd_client **out)
{
	const char *path = socket_path;
	cmpd_client *c = NULL;
	cmpd_result rv;

	if (out == NULL)
		return client_fail(NULL, CMPD_RESULT_INVALID, "out is NULL");
	if (path == NULL)
		path = secure_getenv("CMPD_SOCKET");
	if (path == NULL || path[0] == '\0')
		path = CMPD_DEFAULT_SOCKET;
	if (!client_text_ok(path, 4096))
		return client_fail(
		    NULL, CMPD_RESULT_INVALID, "not a usable socket path");
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return client_fail(NULL, CMPD_RESULT_NOMEM, "out of memory");
	c->magic = CLIENT_MAGIC;
	c->timeout_ms = CLIENT_TIMEOUT_MS;
	rv = client_connect(c, path);
	if (rv != CMPD_RESULT_OK) {
		free(c);
		return rv;
	}
	*out = c;
	return CMPD_RESULT_OK;
}

void
cmpd_client_close(cmpd_client *client)
{
	if (client_check(client) != CMPD_RESULT_OK)
		return;
	nng_close(client->sock);
	client->magic = 0;
	free(client);
}

cmpd_result
cmpd_client_set_timeout(cmpd_client *client, int64_t timeout_ms)
{
	if (client_check(client) != CMPD_RESULT_OK)
		return CMPD_RESULT_INVALID;
	if (timeout_ms <= 0 || timeout_ms > INT32_MAX / 2)
		return client_fail(client, CMPD_RESULT_INVALID,
		    "timeout out of range: %lld ms", (long long)timeout_ms);
	client->timeout_ms = timeout_ms;
	return CMPD_RESULT_OK;
}

static cmpd_result
call_send(cmpd_client *c, const cmpd_env *req)
{
	nng_msg *msg = NULL;
	int nrv;

	if (cmpd_ipc_pack(req, &msg) != CMPD_OK)
		return client_fail(c, CMPD_RESULT_NOMEM, "out of memory");
	/* cmpd drops a connection that sends more; say why instead. */
	if (nng_msg_len(msg) > CMPD_IPC_MAX_CLIENT_REQ) {
		nng_msg_free(msg);
		return client_fail(c, CMPD_RESULT_INVALID,
		    "request too large for cmpd (over %u bytes)",
		    CMPD_IPC_MAX_CLIENT_REQ);
	}
	if ((nrv = nng_sendmsg(c->sock, msg, 0)) != 0) {
		nng_msg_free(msg);
		if (nrv == NNG_ETIMEDOUT)
			return client_fail(c, CMPD_RESULT_UNAVAILABLE,
			    "not connected to cmpd (is it running?)");
		return client_fail(c, CMPD_RESULT_UNAVAILABLE,
		    "cannot send to cmpd: %s", nng_strerror(nrv));
	}
	return CMPD_RESULT_OK;
}

static cmpd_result
call_recv(cmpd_client *c, uint32_t extra_ms, nng_msg **out)
{
	int64_t wait = c->timeout_ms + (int64_t)extra_ms;
	int nrv;

	if (wait > INT32_MAX)
		wait = INT32_MAX;
	nrv = nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, (nng_duration)wait);
	if (nrv == 0)
		nrv = nng_recvmsg(c->sock, out, 0);
	switch (nrv) {
	case 0:
		return CMPD_RESULT_OK;
	case NNG_ETIMEDOUT:
		return client_fail(c, CMPD_RESULT_UNAVAILABLE,
		    "cmpd did not answer within %lld ms", (long long)wait);
	case NNG_ECONNRESET:
		return client_fail(c, CMPD_RESULT_UNAVAILABLE,
		    "the connection to cmpd broke before it answered (cmpd "
		    "stopped, or its reply was over %u bytes)",
		    CMPD_IPC_MAX_CLIENT_REP);
	default:
		return client_fail(c, CMPD_RESULT_UNAVAILABLE,
		    "cannot receive from cmpd: %s", nng_strerror(nrv));
	}
}

/* An Error reply: cmpd's code (if it is one) and cmpd's text. */
static cmpd_result
call_error(cmpd_client *c, const Cmpd__Error *e)
{
	cmpd_result r = CMPD_RESULT_PROTOCOL;

	if (e == NULL)
		return client_fail(c, r, "cmpd sent an empty error");
	if (e->code > CMPD__ERROR_CODE__ERR_OK && (int)e->code < CMPD_E_MAX)
		r = (cmpd_result)e->code;
	return client_fail(c, r, "%s",
	    cmpd_str_set(e->message) ? e->message : cmpd_result_str(r));
}

static cmpd_result
call_decode(cmpd_client *c, nng_msg *msg, uint64_t id,
    Cmpd__Envelope__BodyCase want, cmpd_env **out)
{
	cmpd_env *env = NULL;
	cmpd_result rv = CMPD_RESULT_OK;

	if (cmpd_ipc_unpack(msg, CMPD_IPC_MAX_CLIENT_REP, &env) != CMPD_OK)
		return client_fail(c, CMPD_RESULT_PROTOCOL,
		    "cmpd sent a reply this library cannot read");
	if (env->id != id)
		rv = client_fail(c, CMPD_RESULT_PROTOCOL,
		    "cmpd answered another request (id %llu, not %llu)",
		    (unsigned long long)env->id, (unsigned long long)id);
	else if (env->body_case == CMPD__ENVELOPE__BODY_ERROR)
		rv = call_error(c, env->error);
	else if (env->body_case != want)
		rv = client_fail(c, CMPD_RESULT_PROTOCOL,
		    "cmpd sent an unexpected %s", cmpd_env_body_name(env));
	if (rv != CMPD_RESULT_OK) {
		cmpd_ipc_free(env);
		return rv;
	}
	*out = env;
	return CMPD_RESULT_OK;
}

cmpd_result
client_call(cmpd_client *c, cmpd_env *req, Cmpd__Envelope__BodyCase want,
    uint32_t extra_ms, cmpd_env **rep)
{
	nng_msg *msg = NULL;
	cmpd_result rv;

	req->id = ++c->next_id;
	rv = call_send(c, req);
	if (rv == CMPD_RESULT_OK)
		rv = call_recv(c, extra_ms, &msg);
	if (rv != CMPD_RESULT_OK)
		return rv;
	rv = call_decode(c, msg, req->id, want, rep);
	nng_msg_free(msg);
	return rv;
}
