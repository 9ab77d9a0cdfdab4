/*
 * cmpd-hostile: a CMP server for tests that misbehaves on purpose. It
 * listens on 127.0.0.1 only; the first segment of each request's path
 * picks what it does (see modes[] and README.md), so one server serves
 * every case:
 *
 *     cmpd-hostile PKI_DIR UPSTREAM_PORT PORT_FILE
 *
 * PKI_DIR is a cmpd-testca PKI (srv.pem, srv.key), UPSTREAM_PORT the port
 * of the real test CA serving it, PORT_FILE where the chosen port is
 * written (atomically, with a newline) once connections are accepted.
 *
 * The HTTP side is written by hand because the cases need byte-level
 * control of the answer (never answering, trickling, lying about the
 * length) that a server library hides; it reads one request per
 * connection and closes it after the answer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/cmp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "tamper.h"

#define HOSTILE_HDR_MAX  16384u
#define HOSTILE_BODY_MAX (1u << 20)
#define HOSTILE_HUGE     (8u << 20) /* what "oversized" announces */
#define CMP_CTYPE        "application/pkixcmp"

struct hostile {
	int upstream;
	struct tamper_keys keys;
};

struct conn {
	int fd;
	const struct hostile *h;
	char path[256];
	unsigned char *body;
	size_t len;
};

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int
send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads the header block; returns its length, or 0. */
static size_t
read_headers(int fd, char *buf, size_t cap, size_t *got)
{
	char *end;
	ssize_t n;

	*got = 0;
	while (*got + 1 < cap) {
		n = recv(fd, buf + *got, cap - 1 - *got, 0);
		if (n <= 0)
			return 0;
		*got += (size_t)n;
		buf[*got] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")) != NULL)
			return (size_t)(end - buf) + 4;
	}
	return 0;
}

static long
content_length(const char *hdrs)
{
	const char *p = strcasestr(hdrs, "\r\ncontent-length:");

	return p != NULL ? strtol(p + 17, NULL, 10) : -1;
}

/* One POST request: its path and body. */
static int
conn_read(struct conn *c)
{
	char hdr[HOSTILE_HDR_MAX];
	size_t got, hlen = read_headers(c->fd, hdr, sizeof(hdr), &got);
	long clen;
	ssize_t n;

	if (hlen == 0 || sscanf(hdr, "POST %255s", c->path) != 1)
		return -1;
	clen = content_length(hdr);
	if (clen <= 0 || clen > (long)HOSTILE_BODY_MAX ||
	    (c->body = malloc((size_t)clen)) == NULL)
		return -1;
	c->len = got - hlen;
	if (c->len > (size_t)clen)
		c->len = (size_t)clen;
	memcpy(c->body, hdr + hlen, c->len);
	while (c->len < (size_t)clen) {
		n = recv(c->fd, c->body + c->len, (size_t)clen - c->len, 0);
		if (n <= 0)
			return -1;
		c->len += (size_t)n;
	}
	return 0;
}

static int
reply(struct conn *c, const char *status, const char *ctype, const char *extra,
    const void *body, size_t len)
{
	char hdr[512];
	int n = snprintf(hdr, sizeof(hdr),
	    "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	    "%sConnection: close\r\n\r\n",
	    status, ctype, len, extra);

	return send_all(c->fd, hdr, (size_t)n) == 0 &&
	        send_all(c->fd, body, len) == 0
	    ? 0
	    : -1;
}

/* The test CA's answer to the request, as DER; NULL if there is none. */
static unsigned char *
upstream_answer(struct conn *c, enum tamper_kind kind, int *len)
{
	const unsigned char *p = c->body;
	OSSL_CMP_MSG *req = d2i_OSSL_CMP_MSG(NULL, &p, (long)c->len);
	OSSL_CMP_MSG *rep = NULL;
	unsigned char *der = NULL;

	*len = 0;
	if (req != NULL &&
	    (rep = tamper_forward(c->h->upstream, req)) != NULL &&
	    (kind == TAMPER_MAX ||
	        tamper_apply(&c->h->keys, kind, &rep) == CMPD_OK))
		*len = i2d_OSSL_CMP_MSG(rep, &der);
	OSSL_CMP_MSG_free(req);
	OSSL_CMP_MSG_free(rep);
	if (*len <= 0) {
		log_err("%s: no answer from the test CA to pass on", c->path);
		OPENSSL_free(der);
		return NULL;
	}
	return der;
}

/* Passes the test CA's answer on, changed as kind says (MAX: as it is). */
static void
mode_proxy(struct conn *c, enum tamper_kind kind, const char *ctype)
{
	int len;
	unsigned char *der = upstream_answer(c, kind, &len);

	if (der == NULL) {
		reply(c, "502 Bad Gateway", "text/plain", "", "", 0);
		return;
	}
	reply(c, "200 OK", ctype, "", der, (size_t)len);
	OPENSSL_free(der);
}

static void
mode_ok(struct conn *c)
{
	mode_proxy(c, TAMPER_MAX, CMP_CTYPE);
}

static void
mode_tid(struct conn *c)
{
	mode_proxy(c, TAMPER_TID, CMP_CTYPE);
}

static void
mode_nonce(struct conn *c)
{
	mode_proxy(c, TAMPER_NONCE, CMP_CTYPE);
}

static void
mode_unprotected(struct conn *c)
{
	mode_proxy(c, TAMPER_UNPROTECTED, CMP_CTYPE);
}

static void
mode_untrusted(struct conn *c)
{
	mode_proxy(c, TAMPER_UNTRUSTED, CMP_CTYPE);
}

static void
mode_badmac(struct conn *c)
{
	mode_proxy(c, TAMPER_BADMAC, CMP_CTYPE);
}

static void
mode_ctype(struct conn *c)
{
	mode_proxy(c, TAMPER_MAX, "text/html");
}

static void
mode_garbage(struct conn *c)
{
	static const char junk[] = "<html><body>no CMP here</body></html>\n";

	reply(c, "200 OK", CMP_CTYPE, "", junk, sizeof(junk) - 1);
}

/* A real answer cut in half: the DER's lengths promise more. */
static void
mode_truncated(struct conn *c)
{
	int len;
	unsigned char *der = upstream_answer(c, TAMPER_MAX, &len);

	if (der != NULL)
		reply(c, "200 OK", CMP_CTYPE, "", der, (size_t)len / 2);
	OPENSSL_free(der);
}

/* Announces 8 MiB and sends zeros until the client hangs up. */
static void
mode_oversized(struct conn *c)
{
	static const unsigned char start[] = { 0x30, 0x83, 0x7f, 0xff, 0xf0 };
	unsigned char zeros[4096] = { 0 };
	char hdr[256];
	int n = snprintf(hdr, sizeof(hdr),
	    "HTTP/1.1 200 OK\r\nContent-Type: " CMP_CTYPE
	    "\r\nContent-Length: %u\r\nConnection: close\r\n\r\n",
	    HOSTILE_HUGE);
	size_t sent = sizeof(start);

	if (send_all(c->fd, hdr, (size_t)n) != 0 ||
	    send_all(c->fd, start, sizeof(start)) != 0)
		return;
	while (
	    sent < HOSTILE_HUGE && send_all(c->fd, zeros, sizeof(zeros)) == 0)
		sent += sizeof(zeros);
}

static void
mode_http500(struct conn *c)
{
	reply(c, "500 Internal Server Error", "text/plain", "", "oops\n", 5);
}

static void
mode_http404(struct conn *c)
{
	reply(c, "404 Not Found", "text/plain", "", "no such CA\n", 11);
}

/* Sends the client to the real CA: CMP clients must not follow. */
static void
mode_redirect(struct conn *c)
{
	char loc[128];

	snprintf(loc, sizeof(loc), "Location: http://127.0.0.1:%d/pkix/\r\n",
	    c->h->upstream);
	reply(c, "302 Found", "text/plain", loc, "", 0);
}

/* Keeps the connection open and silent until the client gives up. */
static void
mode_silent(struct conn *c)
{
	char buf[256];

	while (recv(c->fd, buf, sizeof(buf), 0) > 0)
		;
}

/* A valid answer, one byte a second. */
static void
mode_trickle(struct conn *c)
{
	int len;
	unsigned char *der = upstream_answer(c, TAMPER_MAX, &len);
	char hdr[256];
	int n;

	if (der == NULL)
		return;
	n = snprintf(hdr, sizeof(hdr),
	    "HTTP/1.1 200 OK\r\nContent-Type: " CMP_CTYPE
	    "\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
	    len);
	for (int i = 0; i < n + len; i++) {
		unsigned char b = i < n ? (unsigned char)hdr[i] : der[i - n];

		if (send_all(c->fd, &b, 1) != 0)
			break;
		sleep_ms(1000);
	}
	OPENSSL_free(der);
}

static const struct {
	const char *name;
	void (*serve)(struct conn *c);
} modes[] = {
	{ "ok", mode_ok },
	{ "tid", mode_tid },
	{ "nonce", mode_nonce },
	{ "unprotected", mode_unprotected },
	{ "untrusted", mode_untrusted },
	{ "badmac", mode_badmac },
	{ "garbage", mode_garbage },
	{ "truncated", mode_truncated },
	{ "oversized", mode_oversized },
	{ "http500", mode_http500 },
	{ "http404", mode_http404 },
	{ "redirect", mode_redirect },
	{ "ctype", mode_ctype },
	{ "silent", mode_silent },
	{ "trickle", mode_trickle },
};

static void
conn_serve(struct conn *c)
{
	size_t n;

	if (conn_read(c) != 0) {
		log_warn("unreadable request");
		return;
	}
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		n = strlen(modes[i].name);
		if (strncmp(c->path + 1, modes[i].name, n) == 0 &&
		    (c->path[n + 1] == '/' || c->path[n + 1] == '\0')) {
			log_info("%s: %zu bytes, mode %s", c->path, c->len,
			    modes[i].name);
			modes[i].serve(c);
			return;
		}
	}
	log_warn("%s: no such mode", c->path);
	mode_http404(c);
}

static void *
conn_thread(void *arg)
{
	struct conn *c = arg;

	conn_serve(c);
	close(c->fd);
	free(c->body);
	free(c);
	return NULL;
}

static int
listen_local(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(s, 64) != 0 ||
	    getsockname(s, (struct sockaddr *)&a, &alen) != 0) {
		log_err("cannot listen on 127.0.0.1: %s", strerror(errno));
		if (s >= 0)
			close(s);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return s;
}

static void
serve(int s, const struct hostile *h)
{
	pthread_attr_t attr;
	pthread_t tid;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		struct conn *c;
		int fd = accept4(s, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			log_err("accept: %s", strerror(errno));
			return;
		}
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->h = h;
		if (pthread_create(&tid, &attr, conn_thread, c) != 0) {
			close(fd);
			free(c);
		}
	}
}

int
main(int argc, char **argv)
{
	struct hostile h = { 0 };
	char line[32];
	int s, port;

	cmpd_log_init("cmpd-hostile", CMPD_LOG_INFO);
	if (argc != 4 || (h.upstream = atoi(argv[2])) <= 0) {
		fprintf(stderr,
		    "usage: cmpd-hostile PKI_DIR UPSTREAM_PORT PORT_FILE\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (tamper_keys_load(&h.keys, argv[1]) != CMPD_OK ||
	    (s = listen_local(&port)) < 0)
		return 1;
	snprintf(line, sizeof(line), "%d\n", port);
	if (cmpd_file_write_atomic(argv[3], line, strlen(line), 0644, (uid_t)-1,
	        (gid_t)-1) != CMPD_OK)
		return 1;
	log_info("listening on 127.0.0.1:%d, test CA at 127.0.0.1:%d", port,
	    h.upstream);
	serve(s, &h);
	tamper_keys_fini(&h.keys);
	return 1;
}
