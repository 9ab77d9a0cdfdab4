/*
 * A filter BIO that hands OpenSSL's HTTP client each response's header
 * block in one piece.
 *
 * OpenSSL 3.0's OSSL_HTTP_REQ_CTX_nbio (crypto/http/http_client.c) keeps
 * "the expected Content-Type was seen" in a local variable, which starts at
 * 0 again whenever the socket has no more data for it and it returns to
 * wait. A server or proxy that sends its header lines in separate TCP
 * segments then fails at random with "missing content type" (tinyproxy
 * writes each header line with its own send). Below that code, this BIO
 * holds back what it reads until the blank line that ends the headers has
 * arrived (or 16 KiB, more than OpenSSL accepts anyway), then passes it on
 * in one read; the body is read through. Writing the next request on a
 * kept-alive connection starts over.
 */
#pragma once

#include <openssl/bio.h>

/*
 * Pushes the filter on top of next and returns the new chain, or NULL
 * (next is then untouched). Freeing the chain frees both.
 */
BIO *nw_hdrbio_push(BIO *next);
