#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

/* Bounds a request body; PKIMessages with certificate chains are a few
 * kilobytes. */
#define HTTP_MAX_BODY  (1u << 20)
#define HTTP_IDLE_SECS 60u
#define HTTP_BACKLOG   256u
#define HTTP_CMP_CTYPE "application/pkixcmp"

struct tca_http {
	struct MHD_Daemon *daemon;
	struct tca_server *srv;
};

/* One request: its body, or the HTTP error it gets. */
struct http_req {
	unsigned status; /* 0 while acceptable */
	const char *error;
	uint8_t *body;
	size_t len;
	size_t cap;
};

static void
http_log_cb(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	log_warn("http: %s", line);
}

static void
http_done_cb(void *cls, struct MHD_Connection *c, void **req_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct http_req *r = *req_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (r == NULL)
		return;
	free(r->body);
	free(r);
	*req_cls = NULL;
}

static void
http_free_der(void *p)
{
	OPENSSL_free(p);
}

static enum MHD_Result
http_queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *rsp,
    const char *ctype)
{
	enum MHD_Result ret;

	if (rsp == NULL)
		return MHD_NO;
	MHD_add_response_header(rsp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(rsp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(rsp, MHD_HTTP_HEADER_ALLOW, "POST");
	ret = MHD_queue_response(c, status, rsp);
	MHD_destroy_response(rsp);
	return ret;
}

static enum MHD_Result
http_reply_error(struct MHD_Connection *c, unsigned status, const char *text)
{
	char body[256];
	int n = snprintf(body, sizeof(body), "%u %s\n", status, text);

	return http_queue(c, status,
	    MHD_create_response_from_buffer(
	        (size_t)n, body, MHD_RESPMEM_MUST_COPY),
	    "text/plain");
}

/*
 * OpenSSL's HTTP client writes a request's headers and body separately
 * without TCP_NODELAY, so on a kept-alive connection its body waits for
 * our delayed ACK of the headers (40 ms on Linux). Setting TCP_QUICKACK
 * when the headers are in sends that ACK at once.
 */
static void
http_ack_now(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	int one = 1;

	if (ci != NULL)
		(void)setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_QUICKACK,
		    &one, sizeof(one));
}

/* Decides at the first call whether the request can be a CMP request. */
static struct http_req *
http_req_new(struct MHD_Connection *c, const char *method)
{
	struct http_req *r = calloc(1, sizeof(*r));
	const char *ctype = MHD_lookup_connection_value(
	    c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	size_t n = strlen(HTTP_CMP_CTYPE);

	if (r == NULL)
		return NULL;
	if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
		r->status = MHD_HTTP_METHOD_NOT_ALLOWED;
		r->error = "CMP requests are POSTed (RFC 9811)";
	} else if (ctype == NULL ||
	    strncasecmp(ctype, HTTP_CMP_CTYPE, n) != 0 ||
	    (ctype[n] != '\0' && ctype[n] != ';' && ctype[n] != ' ')) {
		r->status = MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
		r->error = "Content-Type must be " HTTP_CMP_CTYPE;
	}
	return r;
}

static void
http_req_append(struct http_req *r, const char *data, size_t len)
{
	uint8_t *grown;

	if (r->status != 0)
		return;
	if (len > HTTP_MAX_BODY - r->len) {
		r->status = MHD_HTTP_CONTENT_TOO_LARGE;
		r->error = "request body too large";
		return;
	}
	if (r->len + len > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;

		while (cap < r->len + len)
			cap *= 2;
		grown = realloc(r->body, cap);
		if (grown == NULL) {
			r->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
			r->error = "out of memory";
			return;
		}
		r->body = grown;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, len);
	r->len += len;
}

static enum MHD_Result
http_reply_cmp(
    struct tca_http *http, struct MHD_Connection *c, struct http_req *r)
{
	uint8_t *der = NULL;
	size_t len = 0;
	struct MHD_Response *rsp;
	cmpd_err rv;

	rv = tca_server_handle(http->srv, r->body, r->len, &der, &len);
	if (rv == CMPD_EPROTO)
		return http_reply_error(c, MHD_HTTP_BAD_REQUEST,
		    "the body is not a PKIMessage with a transactionID");
	if (rv != CMPD_OK)
		return http_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "the CA could not answer");
	rsp = MHD_create_response_from_buffer_with_free_callback(
	    len, der, http_free_der);
	if (rsp == NULL)
		OPENSSL_free(der);
	return http_queue(c, MHD_HTTP_OK, rsp, HTTP_CMP_CTYPE);
}

static enum MHD_Result
http_access_cb(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **req_cls)
{
	struct tca_http *http = cls;
	struct http_req *r = *req_cls;

	(void)url;
	(void)version;
	if (r == NULL) {
		http_ack_now(c);
		*req_cls = http_req_new(c, method);
		return *req_cls != NULL ? MHD_YES : MHD_NO;
	}
	if (*upload_data_size > 0) {
		http_req_append(r, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->status != 0)
		return http_reply_error(c, r->status, r->error);
	return http_reply_cmp(http, c, r);
}

cmpd_err
tca_http_start(struct tca_server *srv, uint16_t port, unsigned threads,
    struct tca_http **out, uint16_t *bound)
{
	struct tca_http *http = calloc(1, sizeof(*http));
	struct sockaddr_in sa = { .sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct MHD_OptionItem opts[] = {
		{ MHD_OPTION_SOCK_ADDR, 0, &sa },
		{ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)http_done_cb, NULL },
		{ MHD_OPTION_CONNECTION_TIMEOUT, HTTP_IDLE_SECS, NULL },
		{ MHD_OPTION_LISTEN_BACKLOG_SIZE, HTTP_BACKLOG, NULL },
		/* A pool of one is no pool: MHD wants the option left out. */
		{ threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END,
		    (intptr_t)threads, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};
	const union MHD_DaemonInfo *info;

	if (http == NULL)
		return CMPD_ENOMEM;
	http->srv = srv;
	http->daemon = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG,
	    port, NULL, NULL, http_access_cb, http,
	    /* First, so that MHD reports everything through it. */
	    MHD_OPTION_EXTERNAL_LOGGER, http_log_cb, NULL, MHD_OPTION_ARRAY,
	    opts, MHD_OPTION_END);
	info = http->daemon
	    ? MHD_get_daemon_info(http->daemon, MHD_DAEMON_INFO_BIND_PORT)
	    : NULL;
	if (info == NULL || info->port == 0) {
		log_err("cannot listen on 127.0.0.1:%u", (unsigned)port);
		tca_http_stop(http);
		return CMPD_EIO;
	}
	*bound = info->port;
	*out = http;
	return CMPD_OK;
}

void
tca_http_stop(struct tca_http *http)
{
	if (http == NULL)
		return;
	if (http->daemon != NULL)
		MHD_stop_daemon(http->daemon);
	free(http);
}
