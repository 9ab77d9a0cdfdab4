/*
 * CMP over HTTP (RFC 9811) with libmicrohttpd: POST application/pkixcmp on
 * any path, answered application/pkixcmp; HTTP/1.1 keep-alive; a pool of
 * threads, each answering its connections' requests; optionally over TLS
 * (libmicrohttpd's GnuTLS backend), with client certificates required.
 * Loopback only.
 */
#pragma once

#include <stdint.h>

#include "err.h"
#include "server.h"

struct tca_http;

/* PEM files of an HTTPS server. */
struct tca_http_tls {
	const char *cert;      /* the server's certificate (and chain) */
	const char *key;       /* its private key */
	const char *client_ca; /* NULL, or the anchors a client certificate
	                          must chain to: then one is required */
};

/*
 * Listens on 127.0.0.1:port (0: any free port) with threads threads and
 * answers with srv; over TLS when tls is not NULL. *bound is the port
 * listened on. A fixed port can be taken again at once after a previous
 * server stopped (SO_REUSEADDR).
 */
cmpd_err tca_http_start(struct tca_server *srv, uint16_t port, unsigned threads,
    const struct tca_http_tls *tls, struct tca_http **out, uint16_t *bound);

/* Stops listening, waits for the threads, frees http. */
void tca_http_stop(struct tca_http *http);
