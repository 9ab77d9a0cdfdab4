#include "transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/http.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "hdrbio.h"
#include "log.h"
#include "util.h"

#define NW_TRANSPORT_MAGIC 0x6e777472u /* "nwtr" */

#define WHY(...) snprintf(why, whylen, __VA_ARGS__)

struct nw_transport {
	uint32_t magic;
	char job[CMPD_JOB_ID_LEN + 1];
	char *host; /* as OpenSSL parsed it: no brackets around IPv6 */
	char *port; /* as text, for a proxy's CONNECT */
	char *path;
	int port_num;
	int tls;
	char *proxy;    /* as configured, for OpenSSL */
	char *no_proxy; /* likewise */
	char *via;      /* the proxy in use for this host: "host:port", "" */
	char *via_host;
	int via_port;
	int timeout;
	SSL_CTX *ssl_ctx; /* https only */
	SSL *ssl;         /* the connection in progress (not owned) */
	int has_client_cert;
	int cert_requested; /* the CA asked for a client certificate */
	int failure_open;   /* TLS's own reason is still to be told */
	char failure[384];
};

/* Splits the URL with OpenSSL's own parser, as its HTTP client expects. */
static cmpd_err
tr_url_parse(struct nw_transport *tr, const char *url, char *why, size_t whylen)
{
	char *user = NULL, *query = NULL, *frag = NULL;
	cmpd_err rv = CMPD_EINVAL;

	if (strncasecmp(url, "http://", 7) != 0 &&
	    strncasecmp(url, "https://", 8) != 0) {
		WHY("the CA URL must start with http:// or https://: %s", url);
		return CMPD_EINVAL;
	}
	if (!OSSL_HTTP_parse_url(url, &tr->tls, &user, &tr->host, &tr->port,
	        &tr->port_num, &tr->path, &query, &frag) ||
	    tr->host[0] == '\0') {
		WHY("cannot parse the CA URL %s", url);
		goto out;
	}
	if (user[0] != '\0' || frag[0] != '\0' || query[0] != '\0') {
		WHY("the CA URL may not have user, query or fragment: %s", url);
		goto out;
	}
	rv = CMPD_OK;
out:
	OPENSSL_free(user);
	OPENSSL_free(query);
	OPENSSL_free(frag);
	return rv;
}

/* Where the proxy OpenSSL chose listens, for texts and for reach.h. */
static cmpd_err
tr_via_parse(struct nw_transport *tr, const char *via, char *why, size_t whylen)
{
	char url[512];
	int n;

	snprintf(url, sizeof(url), "%s%s",
	    strstr(via, "://") != NULL ? "" : "http://", via);
	if (!OSSL_HTTP_parse_url(url, NULL, NULL, &tr->via_host, NULL,
	        &tr->via_port, NULL, NULL, NULL) ||
	    tr->via_host[0] == '\0') {
		WHY("cannot parse the proxy %s", via);
		return CMPD_EINVAL;
	}
	n = snprintf(NULL, 0, "%s:%d", tr->via_host, tr->via_port);
	if ((tr->via = malloc((size_t)n + 1)) == NULL)
		return CMPD_ENOMEM;
	snprintf(tr->via, (size_t)n + 1, "%s:%d", tr->via_host, tr->via_port);
	return CMPD_OK;
}

/*
 * The proxy OpenSSL will use for this host: none when the host is in
 * no_proxy (OpenSSL's rule: the whole host name, as written in the URL).
 * Empty strings, not NULL, keep OpenSSL from reading the environment.
 */
static cmpd_err
tr_proxy_set(struct nw_transport *tr, const struct nw_transport_cfg *cfg,
    char *why, size_t whylen)
{
	const char *proxy = cfg->proxy != NULL ? cfg->proxy : "";
	const char *no_proxy = cfg->no_proxy != NULL ? cfg->no_proxy : "";
	const char *via;

	if (strncasecmp(proxy, "https://", 8) == 0) {
		WHY("an https proxy is not supported (use http://): %s", proxy);
		return CMPD_EINVAL;
	}
	if ((tr->proxy = strdup(proxy)) == NULL ||
	    (tr->no_proxy = strdup(no_proxy)) == NULL)
		return CMPD_ENOMEM;
	via = OSSL_HTTP_adapt_proxy(proxy, no_proxy, tr->host, tr->tls);
	if (via != NULL && via[0] != '\0')
		return tr_via_parse(tr, via, why, whylen);
	return (tr->via = strdup("")) != NULL ? CMPD_OK : CMPD_ENOMEM;
}

static int
tr_is_ip(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 ||
	    inet_pton(AF_INET6, host, buf) == 1;
}

/*
 * The CA's TLS certificate must chain to the configured anchors, nothing
 * else (no system store), any of which may be an intermediate, and must
 * name the URL's host (or IP address).
 */
static cmpd_err
tr_tls_trust_set(SSL_CTX *ctx, const char *host, STACK_OF(X509) * anchors)
{
	X509_STORE *store = X509_STORE_new();
	X509_VERIFY_PARAM *vpm = SSL_CTX_get0_param(ctx);
	int ok;

	if (store == NULL)
		return CMPD_ENOMEM;
	for (int i = 0; i < sk_X509_num(anchors); i++)
		if (!X509_STORE_add_cert(store, sk_X509_value(anchors, i))) {
			X509_STORE_free(store);
			return CMPD_ENOMEM;
		}
	X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
	SSL_CTX_set_cert_store(ctx, store);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	X509_VERIFY_PARAM_set_hostflags(
	    vpm, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (tr_is_ip(host))
		ok = X509_VERIFY_PARAM_set1_ip_asc(vpm, host);
	else
		ok = X509_VERIFY_PARAM_set1_host(vpm, host, 0);
	return ok ? CMPD_OK : CMPD_ENOMEM;
}

/*
 * OpenSSL asks for a client certificate only when the CA wants one and
 * none is set: note it, and send none.
 */
static int
tr_client_cert_cb(SSL *ssl, X509 **x509, EVP_PKEY **pkey)
{
	struct nw_transport *tr = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));

	(void)x509;
	(void)pkey;
	if (tr != NULL)
		tr->cert_requested = 1;
	return 0;
}

/*
 * The client certificate. Its key signs in the keyworker, which signs a
 * TLS 1.3 CertificateVerify only (no TLS 1.2 signature, whose content it
 * could not check) and only with a transcript hash as long as the key's
 * own digest: so TLS 1.3 only, with the cipher suites of that hash.
 */
static cmpd_err
tr_tls_client_set(SSL_CTX *ctx, STACK_OF(X509) * certs, EVP_PKEY *key,
    char *why, size_t whylen)
{
	int bits = EVP_PKEY_get_bits(key);
	const char *suites = bits == 256 ? "TLS_AES_128_GCM_SHA256:"
	                                   "TLS_CHACHA20_POLY1305_SHA256"
	                                 : "TLS_AES_256_GCM_SHA384";

	if (!EVP_PKEY_is_a(key, "EC") || (bits != 256 && bits != 384)) {
		WHY("the TLS client key must be an EC P-256 or P-384 key "
		    "(TLS 1.3 would need RSA-PSS for an RSA key)");
		return CMPD_EINVAL;
	}
	if (!SSL_CTX_use_certificate(ctx, sk_X509_value(certs, 0)) ||
	    !SSL_CTX_use_PrivateKey(ctx, key) ||
	    !SSL_CTX_check_private_key(ctx)) {
		WHY("the TLS client key is not the key of tls_certs[0]");
		return CMPD_EINVAL;
	}
	for (int i = 1; i < sk_X509_num(certs); i++)
		if (!SSL_CTX_add1_chain_cert(ctx, sk_X509_value(certs, i)))
			return CMPD_ENOMEM;
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(ctx, suites))
		return CMPD_ENOMEM;
	return CMPD_OK;
}

static cmpd_err
tr_tls_new(struct nw_transport *tr, const struct nw_transport_cfg *cfg,
    char *why, size_t whylen)
{
	cmpd_err rv;

	if (sk_X509_num(cfg->tls_trusted) <= 0) {
		WHY("the https CA URL %s needs TLS trust anchors "
		    "(tls_trusted); none are configured",
		    cfg->url);
		return CMPD_EINVAL;
	}
	tr->ssl_ctx = SSL_CTX_new_ex(cfg->libctx, NULL, TLS_client_method());
	if (tr->ssl_ctx == NULL ||
	    !SSL_CTX_set_min_proto_version(tr->ssl_ctx, TLS1_2_VERSION))
		return CMPD_ENOMEM;
	if ((rv = tr_tls_trust_set(tr->ssl_ctx, tr->host, cfg->tls_trusted)) !=
	    CMPD_OK)
		return rv;
	SSL_CTX_set_app_data(tr->ssl_ctx, tr);
	SSL_CTX_set_client_cert_cb(tr->ssl_ctx, tr_client_cert_cb);
	if (cfg->tls_key == NULL)
		return CMPD_OK;
	tr->has_client_cert = 1;
	if (sk_X509_num(cfg->tls_certs) <= 0) {
		WHY("a TLS client key needs its certificate (tls_certs)");
		return CMPD_EINVAL;
	}
	return tr_tls_client_set(
	    tr->ssl_ctx, cfg->tls_certs, cfg->tls_key, why, whylen);
}

cmpd_err
nw_transport_new(const struct nw_transport_cfg *cfg, struct nw_transport **out,
    char *why, size_t whylen)
{
	struct nw_transport *tr = calloc(1, sizeof(*tr));
	cmpd_err rv;

	if (tr == NULL)
		return CMPD_ENOMEM;
	tr->magic = NW_TRANSPORT_MAGIC;
	tr->timeout = cfg->timeout;
	cmpd_strlcpy(tr->job, cfg->job, sizeof(tr->job));
	if ((rv = tr_url_parse(tr, cfg->url, why, whylen)) != CMPD_OK ||
	    (rv = tr_proxy_set(tr, cfg, why, whylen)) != CMPD_OK ||
	    (tr->tls && (rv = tr_tls_new(tr, cfg, why, whylen)) != CMPD_OK)) {
		cmpd_log_openssl(CMPD_LOG_DEBUG, tr->job);
		nw_transport_free(tr);
		return rv;
	}
	*out = tr;
	return CMPD_OK;
}

void
nw_transport_free(struct nw_transport *tr)
{
	if (tr == NULL)
		return;
	CMPD_MAGIC_CHECK(tr, NW_TRANSPORT_MAGIC);
	SSL_CTX_free(tr->ssl_ctx);
	OPENSSL_free(tr->host);
	OPENSSL_free(tr->port);
	OPENSSL_free(tr->path);
	free(tr->proxy);
	free(tr->no_proxy);
	free(tr->via);
	OPENSSL_free(tr->via_host);
	tr->magic = 0;
	free(tr);
}

/*
 * A proxy's CONNECT for an https CA. OpenSSL writes the proxy's refusal
 * only to a BIO it is given; that text names what the proxy said.
 */
static int
tr_proxy_connect(struct nw_transport *tr, BIO *bio)
{
	BIO *err = BIO_new(BIO_s_mem());
	char *text = NULL, *reason;
	long len;
	int ok;

	ok = OSSL_HTTP_proxy_connect(
	    bio, tr->host, tr->port, NULL, NULL, tr->timeout, err, "proxy");
	if (ok)
		goto out;
	len = err != NULL ? BIO_get_mem_data(err, &text) : 0;
	if (len > 0 && (reason = strstr(text, "reason=")) != NULL) {
		text[len - 1] = '\0'; /* the newline */
		for (reason += 7; *reason == ' ';)
			reason++;
		snprintf(tr->failure, sizeof(tr->failure),
		    "the proxy %s refused the tunnel to %s:%s: %s", tr->via,
		    tr->host, tr->port, reason);
	} else {
		snprintf(tr->failure, sizeof(tr->failure),
		    "the proxy %s did not open a tunnel to %s:%s", tr->via,
		    tr->host, tr->port);
	}
out:
	BIO_free(err);
	return ok;
}

/* Puts a TLS client connection on top of bio (connected to the CA). */
static BIO *
tr_tls_push(struct nw_transport *tr, BIO *bio)
{
	BIO *sbio = BIO_new(BIO_f_ssl());
	SSL *ssl = NULL;

	if (sbio == NULL || (ssl = SSL_new(tr->ssl_ctx)) == NULL) {
		BIO_free(sbio);
		return NULL;
	}
	/* RFC 6066: the server name is a DNS name, never an address. */
	if (!tr_is_ip(tr->host) && !SSL_set_tlsext_host_name(ssl, tr->host)) {
		SSL_free(ssl);
		BIO_free(sbio);
		return NULL;
	}
	SSL_set_connect_state(ssl);
	BIO_set_ssl(sbio, ssl, BIO_CLOSE);
	tr->ssl = ssl;
	return BIO_push(sbio, bio);
}

/*
 * After a failed exchange: what the TLS layer knows about it. In TLS 1.3
 * the client's part of the handshake is over before the CA checks the
 * client certificate, so a missing one shows only as a failure later.
 */
static void
tr_tls_failure_note(struct nw_transport *tr)
{
	long res;

	if (tr->ssl == NULL || tr->failure[0] != '\0')
		return;
	res = SSL_get_verify_result(tr->ssl);
	if (tr->cert_requested && !tr->has_client_cert)
		snprintf(tr->failure, sizeof(tr->failure),
		    "TLS handshake with %s:%s failed: the CA asks for a TLS "
		    "client certificate and none is configured",
		    tr->host, tr->port);
	else if (res != X509_V_OK)
		snprintf(tr->failure, sizeof(tr->failure),
		    "TLS handshake with %s:%s failed: certificate verify "
		    "failed: %s",
		    tr->host, tr->port, X509_verify_cert_error_string(res));
	else if (!SSL_is_init_finished(tr->ssl)) {
		snprintf(tr->failure, sizeof(tr->failure),
		    "TLS handshake with %s:%s failed", tr->host, tr->port);
		tr->failure_open = 1;
	}
}

/*
 * A new connection to the CA (or the proxy): for https the proxy's tunnel
 * and TLS, then the header filter (hdrbio.h) on top.
 */
static BIO *
tr_connected(struct nw_transport *tr, BIO *bio)
{
	BIO *top = bio, *filtered;

	if (tr != NULL) {
		tr->ssl = NULL;
		if (tr->via[0] != '\0' && !tr_proxy_connect(tr, bio))
			return NULL;
		if ((top = tr_tls_push(tr, bio)) == NULL)
			return NULL;
	}
	if ((filtered = nw_hdrbio_push(top)) != NULL)
		return filtered;
	if (top != bio) {
		(void)BIO_pop(top);
		BIO_free(top);
		tr->ssl = NULL;
	}
	return NULL;
}

/*
 * OpenSSL's HTTP client calls this after connecting (connect = 1) and when
 * it is done with a connection (connect = 0, detail = success). arg is
 * the transport for https and NULL for plain http.
 *
 * OpenSSL's HTTP client writes a request's headers and its body apart.
 * With Nagle's algorithm the body then waits on a kept-alive connection
 * for the CA's delayed ACK of the headers, 40 ms on Linux: send without
 * delay.
 */
static BIO *
tr_http_cb(BIO *bio, void *arg, int connect, int detail)
{
	struct nw_transport *tr = arg;
	int fd = -1, one = 1;

	if (tr != NULL)
		CMPD_MAGIC_CHECK(tr, NW_TRANSPORT_MAGIC);
	if (connect) {
		if (BIO_get_fd(bio, &fd) >= 0)
			(void)setsockopt(
			    fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		return tr_connected(tr, bio);
	}
	if (tr != NULL) {
		if (!detail)
			tr_tls_failure_note(tr);
		tr->ssl = NULL;
	}
	return bio;
}

cmpd_err
nw_transport_apply(struct nw_transport *tr, OSSL_CMP_CTX *ctx)
{
	CMPD_MAGIC_CHECK(tr, NW_TRANSPORT_MAGIC);
	if (!OSSL_CMP_CTX_set1_server(ctx, tr->host) ||
	    !OSSL_CMP_CTX_set_serverPort(ctx, tr->port_num) ||
	    !OSSL_CMP_CTX_set1_serverPath(ctx, tr->path) ||
	    !OSSL_CMP_CTX_set1_proxy(ctx, tr->proxy) ||
	    !OSSL_CMP_CTX_set1_no_proxy(ctx, tr->no_proxy) ||
	    !OSSL_CMP_CTX_set_http_cb(ctx, tr_http_cb) ||
	    !OSSL_CMP_CTX_set_http_cb_arg(ctx, tr->tls ? tr : NULL))
		return CMPD_ENOMEM;
	return CMPD_OK;
}

const char *
nw_transport_host(const struct nw_transport *tr)
{
	CMPD_MAGIC_CHECK(tr, NW_TRANSPORT_MAGIC);
	return tr->host;
}

int
nw_transport_port(const struct nw_transport *tr)
{
	CMPD_MAGIC_CHECK(tr, NW_TRANSPORT_MAGIC);
	return tr->port_num;
}

const char *
nw_transport_proxy(const struct nw_transport *tr)
{
	CMPD_MAGIC_CHECK(tr, NW_TRANSPORT_MAGIC);
	return tr->via;
}

const char *
nw_transport_proxy_host(const struct nw_transport *tr)
{
	CMPD_MAGIC_CHECK(tr, NW_TRANSPORT_MAGIC);
	return tr->via_host != NULL ? tr->via_host : "";
}

int
nw_transport_proxy_port(const struct nw_transport *tr)
{
	CMPD_MAGIC_CHECK(tr, NW_TRANSPORT_MAGIC);
	return tr->via_port;
}

int
nw_transport_is_tls(const struct nw_transport *tr)
{
	CMPD_MAGIC_CHECK(tr, NW_TRANSPORT_MAGIC);
	return tr->tls;
}

const char *
nw_transport_failure(const struct nw_transport *tr, int *open)
{
	CMPD_MAGIC_CHECK(tr, NW_TRANSPORT_MAGIC);
	*open = tr->failure_open;
	return tr->failure;
}

void
nw_transport_reset(struct nw_transport *tr)
{
	CMPD_MAGIC_CHECK(tr, NW_TRANSPORT_MAGIC);
	tr->failure[0] = '\0';
	tr->failure_open = 0;
}
