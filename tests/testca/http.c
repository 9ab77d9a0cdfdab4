#include "http.h"

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fileio.h"
#include "log.h"

/* Bounds a request body; PKIMessages with certificate chains are a few
 * kilobytes. */
#define HTTP_MAX_BODY  (1u << 20)
#define HTTP_IDLE_SECS 60u
#define HTTP_BACKLOG   256u
#define HTTP_CMP_CTYPE "application/pkixcmp"
/* Bounds a PEM file given for TLS. */
#define HTTP_PEM_MAX  (1u << 20)
#define HTTP_OPTS_MAX 16

/* A PEM file's contents, NUL-terminated as libmicrohttpd wants them. */
struct http_pem {
	uint8_t *data;
	size_t len;
};

struct tca_http {
	struct MHD_Daemon *daemon;
	struct tca_server *srv;
	/* With TLS: kept until the daemon stops. */
	struct http_pem cert, key, client_ca;
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

/*
 * TLS client authentication. libmicrohttpd asks for a client certificate
 * when given trust anchors (GNUTLS_CERT_REQUEST) but leaves verifying it
 * to the application. We verify it inside the handshake, so that a client
 * without a good certificate never gets a connection, and say why in the
 * log. (GNUTLS_CERT_REQUIRE would end a handshake without a certificate
 * before our check runs, and so without a reason in the log.)
 */
static int
http_tls_verify(gnutls_session_t session, char *why, size_t len)
{
	gnutls_typed_vdata_st purpose = { .type = GNUTLS_DT_KEY_PURPOSE_OID,
		.data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT };
	gnutls_datum_t text = { NULL, 0 };
	unsigned int status = 0;
	int rv = gnutls_certificate_verify_peers(session, &purpose, 1, &status);

	if (rv == GNUTLS_E_SUCCESS && status == 0)
		return 0;
	if (rv != GNUTLS_E_SUCCESS)
		snprintf(why, len, "%s", gnutls_strerror(rv));
	else if (gnutls_certificate_verification_status_print(
	             status, GNUTLS_CRT_X509, &text, 0) == GNUTLS_E_SUCCESS)
		snprintf(why, len, "%s", (const char *)text.data);
	else
		snprintf(why, len, "verification status 0x%x", status);
	gnutls_free(text.data);
	/* GnuTLS ends its texts with a space. */
	for (size_t n = strlen(why); n > 0 && why[n - 1] == ' '; n--)
		why[n - 1] = '\0';
	return -1;
}

static int
http_tls_verify_cb(gnutls_session_t session)
{
	char why[256];

	if (http_tls_verify(session, why, sizeof(why)) == 0)
		return 0;
	log_warn("TLS: handshake refused: client certificate: %s", why);
	return GNUTLS_E_CERTIFICATE_ERROR;
}

/* Called before the handshake of each new connection, on its thread. */
static void
http_conn_cb(void *cls, struct MHD_Connection *c, void **socket_ctx,
    enum MHD_ConnectionNotificationCode code)
{
	const union MHD_ConnectionInfo *ci;

	(void)cls;
	(void)socket_ctx;
	if (code != MHD_CONNECTION_NOTIFY_STARTED)
		return;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci != NULL && ci->tls_session != NULL)
		gnutls_session_set_verify_function(
		    ci->tls_session, http_tls_verify_cb);
}

/* Belt and braces for the handshake's check, before each request. */
static int
http_tls_peer_verified(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	char why[256] = "no TLS session";

	if (ci != NULL && ci->tls_session != NULL &&
	    http_tls_verify(ci->tls_session, why, sizeof(why)) == 0)
		return 1;
	log_warn("TLS: request refused: client certificate: %s", why);
	return 0;
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
	if (r == NULL && http->client_ca.data != NULL &&
	    !http_tls_peer_verified(c))
		return MHD_NO; /* closes the connection */
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

static cmpd_err
http_pem_read(const char *path, struct http_pem *pem)
{
	cmpd_err rv = path != NULL
	    ? cmpd_file_read(path, HTTP_PEM_MAX, 0, &pem->data, &pem->len)
	    : CMPD_OK;

	if (rv != CMPD_OK)
		log_err("cannot read %s: %s", path, cmpd_strerror(rv));
	return rv;
}

static cmpd_err
http_tls_load(struct tca_http *http, const struct tca_http_tls *tls)
{
	cmpd_err rv;

	if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
		log_err("this libmicrohttpd has no TLS support");
		return CMPD_EUNAVAIL;
	}
	rv = http_pem_read(tls->cert, &http->cert);
	if (rv == CMPD_OK)
		rv = http_pem_read(tls->key, &http->key);
	if (rv == CMPD_OK)
		rv = http_pem_read(tls->client_ca, &http->client_ca);
	return rv;
}

/* The options of the daemon, ending with MHD_OPTION_END. */
static void
http_options(struct tca_http *http, const struct sockaddr_in *sa,
    unsigned threads, struct MHD_OptionItem *o)
{
	size_t n = 0;

	o[n++] = (struct MHD_OptionItem){ MHD_OPTION_SOCK_ADDR, 0, (void *)sa };
	o[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED,
		(intptr_t)http_done_cb, NULL };
	o[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT,
		HTTP_IDLE_SECS, NULL };
	o[n++] = (struct MHD_OptionItem){ MHD_OPTION_LISTEN_BACKLOG_SIZE,
		HTTP_BACKLOG, NULL };
	/* A pool of one is no pool: MHD wants the option left out. */
	if (threads > 1)
		o[n++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE,
			(intptr_t)threads, NULL };
	if (http->cert.data != NULL) {
		o[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0,
			http->cert.data };
		o[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0,
			http->key.data };
	}
	if (http->client_ca.data != NULL) {
		o[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_TRUST, 0,
			http->client_ca.data };
		o[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_CONNECTION,
			(intptr_t)http_conn_cb, NULL };
	}
	o[n] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
}

/*
 * libmicrohttpd sets SO_REUSEADDR on the socket it listens on (unless
 * MHD_OPTION_LISTENING_ADDRESS_REUSE says otherwise), so a fixed port is
 * free again as soon as the previous server stopped, even while its
 * connections linger in TIME_WAIT. We leave that option alone: its "1"
 * adds SO_REUSEPORT, which would let two CAs share a port.
 */
cmpd_err
tca_http_start(struct tca_server *srv, uint16_t port, unsigned threads,
    const struct tca_http_tls *tls, struct tca_http **out, uint16_t *bound)
{
	struct tca_http *http = calloc(1, sizeof(*http));
	struct sockaddr_in sa = { .sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct MHD_OptionItem opts[HTTP_OPTS_MAX];
	const union MHD_DaemonInfo *info;
	unsigned flags =
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;

	if (http == NULL)
		return CMPD_ENOMEM;
	http->srv = srv;
	if (tls != NULL && http_tls_load(http, tls) != CMPD_OK) {
		tca_http_stop(http);
		return CMPD_EINVAL;
	}
	if (tls != NULL)
		flags |= MHD_USE_TLS;
	http_options(http, &sa, threads, opts);
	http->daemon =
	    MHD_start_daemon(flags, port, NULL, NULL, http_access_cb, http,
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
	cmpd_file_free(http->cert.data, http->cert.len);
	cmpd_file_free(http->key.data, http->key.len);
	cmpd_file_free(http->client_ca.data, http->client_ca.len);
	free(http);
}
