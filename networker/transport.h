/*
 * How a transaction reaches its CA: the URL split for OpenSSL's HTTP
 * client, the proxy (if the URL's host is not in no_proxy), and for https
 * a TLS client context: the CA's TLS anchors only, its host name or IP
 * address checked, and an optional client certificate whose key is a
 * keyworker key (TLS 1.3 only then).
 *
 * OpenSSL 3.0's CMP client decides that TLS is used when the HTTP callback
 * has an argument (crypto/cmp/cmp_http.c: tls_used = http_cb_arg != NULL),
 * so a plain http transport installs the callback without one. OpenSSL's
 * HTTP client does not send the proxy a CONNECT for https either
 * (OSSL_HTTP_open connects to the proxy and hands the socket to the
 * callback); the callback does that before its TLS handshake.
 *
 * One transport per transaction, used by the one thread that runs a step.
 */
#pragma once

#include <openssl/cmp.h>
#include <openssl/x509.h>
#include <stddef.h>

#include "err.h"

struct nw_transport;

struct nw_transport_cfg {
	OSSL_LIB_CTX *libctx;
	const char *job;
	const char *url;      /* http:// or https:// */
	const char *proxy;    /* "" or http://host[:port] */
	const char *no_proxy; /* "" or hosts separated by commas or spaces */
	int timeout;          /* seconds for a proxy's CONNECT; > 0 */
	STACK_OF(X509) * tls_trusted; /* https: the anchors of the CA's TLS */
	STACK_OF(X509) * tls_certs;   /* https: client certificate, chain */
	EVP_PKEY *tls_key;            /* https: its key, or NULL */
};

/*
 * Checks and prepares cfg (only referenced during the call; the key and
 * certificates are up-referenced). Returns CMPD_EINVAL with a sentence in
 * why for a URL, proxy or TLS setting that cannot work (an https URL
 * without anchors, a client key that is not EC or not the certificate's).
 */
cmpd_err nw_transport_new(const struct nw_transport_cfg *cfg,
    struct nw_transport **out, char *why, size_t whylen);
void nw_transport_free(struct nw_transport *tr);

/* Sets server, port, path, proxy, no_proxy and the HTTP callback. */
cmpd_err nw_transport_apply(struct nw_transport *tr, OSSL_CMP_CTX *ctx);

/*
 * The CA's host and port, and the proxy in use: "host:port", or "" when
 * none is (then its host is "" and its port 0).
 */
const char *nw_transport_host(const struct nw_transport *tr);
int nw_transport_port(const struct nw_transport *tr);
const char *nw_transport_proxy(const struct nw_transport *tr);
const char *nw_transport_proxy_host(const struct nw_transport *tr);
int nw_transport_proxy_port(const struct nw_transport *tr);
int nw_transport_is_tls(const struct nw_transport *tr);

/*
 * What went wrong in the last connection of an https transport ("": nothing
 * known): the proxy's refusal of the tunnel, or the TLS handshake's failure
 * with the certificate verification's reason or a client certificate the
 * CA asked for. *open is set when the text ends where TLS's own reason
 * (from OpenSSL's error queue) belongs. Cleared by nw_transport_reset,
 * which a step calls before it starts.
 */
const char *nw_transport_failure(const struct nw_transport *tr, int *open);
void nw_transport_reset(struct nw_transport *tr);
