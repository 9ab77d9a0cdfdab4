/*
 * CMP over HTTP (RFC 9811) with libmicrohttpd: POST application/pkixcmp on
 * any path, answered application/pkixcmp; HTTP/1.1 keep-alive; a pool of
 * threads, each answering its connections' requests. Loopback only.
 */
#pragma once

#include <stdint.h>

#include "err.h"
#include "server.h"

struct tca_http;

/*
 * Listens on 127.0.0.1:port (0: any free port) with threads threads and
 * answers with srv. *bound is the port listened on.
 */
cmpd_err tca_http_start(struct tca_server *srv, uint16_t port, unsigned threads,
    struct tca_http **out, uint16_t *bound);

/* Stops listening, waits for the threads, frees http. */
void tca_http_stop(struct tca_http *http);
