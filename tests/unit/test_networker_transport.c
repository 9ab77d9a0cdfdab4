/*
 * The transport of a transaction (networker/transport.c, hdrbio.c) and
 * what its failures say: a peer that never answers (the message timeout),
 * nothing listening, a server that sends its header lines in separate
 * TCP segments, https without anchors or to a server whose certificate
 * names another host (`openssl s_server`), and a plain-HTTP proxy
 * (Debian's tinyproxy) with no_proxy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "test_networker_fx.h"
#include "test_networker_util.h"
#include "txn.h"

/* A peer that accepts connections and never answers. */
static int
silent_listen(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/*
 * A server that sends its header lines in separate TCP segments, as
 * tinyproxy does, then a DER SEQUENCE that is no PKIMessage. OpenSSL 3.0
 * alone forgets the Content-Type it saw between segments ("missing content
 * type"); with the networker's header filter the exchange reaches the
 * CMP decoder.
 */
static void *
slow_headers_main(void *arg)
{
	static const char *const parts[] = { "HTTP/1.0 200 OK\r\n",
		"Content-Type: application/pkixcmp\r\n",
		"Content-Length: 5\r\n", "\r\n", "\x30\x03\x02\x01\x00" };
	int lfd = *(int *)arg, fd = accept(lfd, NULL, NULL);
	char buf[4096];

	if (fd < 0)
		return NULL;
	/* The request: enough that its headers and body were sent. */
	usleep(100000);
	if (read(fd, buf, sizeof(buf)) <= 0)
		goto out;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		usleep(50000);
		if (write(fd, parts[i], i == 4 ? 5 : strlen(parts[i])) < 0)
			break;
	}
out:
	usleep(100000);
	close(fd);
	return NULL;
}

static void
test_headers_in_pieces(void **state)
{
	struct fx *f = fx_new(NULL);
	char url[64];
	int port, fd = silent_listen(&port);
	pthread_t th;

	(void)state;
	assert_int_equal(pthread_create(&th, NULL, slow_headers_main, &fd), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/pkix/", port);
	free(f->req->server_url);
	f->req->server_url = strdup(url);
	fx_run(f);
	pthread_join(th, NULL);
	close(fd);
	assert_failed(f, CMPD_ETRANSPORT, "to our ir is not a CMP message");
	assert_null(strstr(f->res.error_text, "content type"));
	fx_free(f);
}

static void
test_msg_timeout(void **state)
{
	struct fx *f = fx_new(NULL);
	char url[64];
	int port, fd = silent_listen(&port);

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/pkix/", port);
	free(f->req->server_url);
	f->req->server_url = strdup(url);
	f->req->msg_timeout = 1;
	fx_run(f);
	assert_failed(f, CMPD_ETRANSPORT, "no answer from ");
	assert_non_null(strstr(f->res.error_text, url));
	assert_non_null(strstr(f->res.error_text, "to our ir within 1 s"));
	close(fd);
	fx_free(f);
}

static void
test_unreachable(void **state)
{
	struct fx *f = fx_new(NULL);

	(void)state;
	fx_run(f);
	assert_failed(f, CMPD_ETRANSPORT,
	    "cannot reach http://127.0.0.1:1/pkix/: Connection refused");
	assert_int_equal(f->res.pki_status, -1);
	fx_free(f);
}

/*
 * The TLS server's certificate chains to the anchor but names neither the
 * URL's address nor its host (`openssl s_server` with srv.crt, which has
 * no subjectAltName): the verification says which name did not match.
 */
static void
test_https_name_mismatch(void **state)
{
	static const char *const root[] = { "root.crt" };
	static const char *const hosts[] = { "127.0.0.1", "localhost" };
	static const char *const reasons[] = { "IP address mismatch",
		"hostname mismatch" };
	struct fx *f = fx_new(NULL);
	int port = nwt_free_port();
	char args[256], url[128];
	pid_t pid;

	(void)state;
	snprintf(args, sizeof(args),
	    "exec openssl s_server -accept 127.0.0.1:%d -cert srv.crt "
	    "-key srv.key -naccept 3 -quiet",
	    port);
	assert_int_equal(nwt_shell_start(args, port, &pid), 0);
	nwt_req_certs_set(
	    &f->req->tls_trusted, &f->req->n_tls_trusted, root, 1);
	for (int i = 0; i < 2; i++) {
		snprintf(
		    url, sizeof(url), "https://%s:%d/pkix/", hosts[i], port);
		free(f->req->server_url);
		f->req->server_url = strdup(url);
		nw_txn_free(f->txn);
		f->txn = NULL;
		fx_run(f);
		assert_failed(
		    f, CMPD_ETRANSPORT, "certificate verify failed: ");
		assert_non_null(strstr(f->res.error_text, reasons[i]));
	}
	nwt_mock_stop(pid);
	fx_free(f);
}

/* Plain HTTP through the proxy: OpenSSL sends it the absolute URL. */
static void
test_proxy_http(void **state)
{
	struct fx *f = fx_new(MOCK_FULL "-max_msgs 2");
	char proxy[64], line[128];
	pid_t pid;
	int port = nwt_proxy_start(NULL, &pid);

	(void)state;
	assert_true(port > 0);
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", port);
	f->req->proxy = strdup(proxy);
	fx_run(f);
	assert_done(f);
	snprintf(line, sizeof(line), "POST http://127.0.0.1:%d/pkix/", f->port);
	assert_true(nwt_proxy_log_has(line));
	nwt_proxy_stop(pid);
	fx_free(f);
}

/* No proxy listens; with the CA's host in no_proxy it is not used. */
static void
test_no_proxy(void **state)
{
	struct fx *f = fx_new(MOCK_FULL "-max_msgs 2");
	char proxy[64], want[160];
	int port = nwt_free_port();

	(void)state;
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", port);
	f->req->proxy = strdup(proxy);
	f->req->no_proxy = strdup("localhost, 127.0.0.1");
	fx_run(f);
	assert_done(f);
	nw_txn_free(f->txn);
	f->txn = NULL;
	free(f->req->no_proxy);
	f->req->no_proxy = strdup("ca.example");
	fx_run(f);
	snprintf(want, sizeof(want),
	    "through the proxy 127.0.0.1:%d: cannot connect to the proxy: "
	    "Connection refused",
	    port);
	assert_failed(f, CMPD_ETRANSPORT, want);
	assert_non_null(strstr(f->res.error_text, f->req->server_url));
	fx_free(f);
}

/* An https proxy (TLS to the proxy itself) is not offered. */
static void
test_https_proxy_refused(void **state)
{
	struct fx *f = fx_new(NULL);

	(void)state;
	f->req->proxy = strdup("https://127.0.0.1:3128");
	assert_int_equal(fx_prepare(f), CMPD_EINVAL);
	assert_non_null(strstr(f->why, "an https proxy is not supported"));
	fx_free(f);
}

/* An https URL without TLS anchors is refused before anything is sent. */
static void
test_https_needs_anchors(void **state)
{
	struct fx *f = fx_new(NULL);

	(void)state;
	free(f->req->server_url);
	f->req->server_url = strdup("https://127.0.0.1:1/pkix/");
	assert_int_equal(fx_prepare(f), CMPD_EINVAL);
	assert_non_null(strstr(f->why, "needs TLS trust anchors"));
	assert_null(f->txn);
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msg_timeout),
		cmocka_unit_test(test_headers_in_pieces),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_https_needs_anchors),
		cmocka_unit_test(test_https_name_mismatch),
		cmocka_unit_test(test_proxy_http),
		cmocka_unit_test(test_no_proxy),
		cmocka_unit_test(test_https_proxy_refused),
	};
	int isolated, rv;

	cmpd_log_init("test_networker_transport", CMPD_LOG_DEBUG);
	/* As cmpd-networker does: a peer's close fails a write (EPIPE). */
	signal(SIGPIPE, SIG_IGN);
	isolated = nwt_netns_enter();
	fprintf(stderr, "network namespace of its own: %s\n",
	    isolated ? "yes" : "no (the mock binds all interfaces)");
	if (nwt_pki_make() == NULL) {
		fprintf(stderr, "cannot make the test PKI\n");
		return 1;
	}
	rv = cmocka_run_group_tests(tests, NULL, NULL);
	nwt_pki_remove();
	return rv;
}
