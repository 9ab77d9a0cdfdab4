#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "ipc.h"
#include "log.h"
#include "names.h"
#include "txn_int.h"

#define WHY(...) snprintf(why, whylen, __VA_ARGS__)

/* Decodes one DER certificate in libctx, refusing trailing bytes. */
static X509 *
txn_cert_decode(OSSL_LIB_CTX *libctx, const ProtobufCBinaryData *d)
{
	const unsigned char *p = d->data;
	X509 *x = X509_new_ex(libctx, NULL);

	if (x == NULL || d->len > LONG_MAX ||
	    d2i_X509(&x, &p, (long)d->len) == NULL || p != d->data + d->len) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* Decodes n DER certificates; what names them in an error. */
static cmpd_err
txn_certs_decode(OSSL_LIB_CTX *libctx, const ProtobufCBinaryData *d, size_t n,
    const char *what, STACK_OF(X509) * *out, char *why, size_t whylen)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	X509 *x;

	if (sk == NULL)
		return CMPD_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if ((x = txn_cert_decode(libctx, &d[i])) == NULL) {
			WHY("%s[%zu] is not a DER certificate", what, i);
			sk_X509_pop_free(sk, X509_free);
			return CMPD_EINVAL;
		}
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			sk_X509_pop_free(sk, X509_free);
			return CMPD_ENOMEM;
		}
	}
	*out = sk;
	return CMPD_OK;
}

/* Returns the part of url after the scheme, or NULL if it is not http. */
static const char *
txn_url_rest(const char *url, char *why, size_t whylen)
{
	if (strncasecmp(url, "https://", 8) == 0) {
		WHY("https is not supported yet: %s", url);
		return NULL;
	}
	if (strncasecmp(url, "http://", 7) != 0) {
		WHY("the CA URL must start with http://: %s", url);
		return NULL;
	}
	return url + 7;
}

/*
 * The server: http://host[:port]/path, parsed by OpenSSL's own URL parser
 * so that OpenSSL's HTTP client sees what it expects.
 */
static cmpd_err
txn_server_set(struct nw_txn *t, const char *url, char *why, size_t whylen)
{
	OSSL_CMP_CTX *ctx = t->ctx;
	char *user = NULL, *host = NULL, *path = NULL, *query = NULL;
	char *frag = NULL;
	int ssl = 0, port = 0, ok;
	cmpd_err rv = CMPD_EINVAL;

	if (txn_url_rest(url, why, whylen) == NULL)
		return CMPD_EINVAL;
	if (!OSSL_HTTP_parse_url(
	        url, &ssl, &user, &host, NULL, &port, &path, &query, &frag) ||
	    host[0] == '\0') {
		WHY("cannot parse the CA URL %s", url);
		goto out;
	}
	if (user[0] != '\0' || frag[0] != '\0' || query[0] != '\0') {
		WHY("the CA URL may not have user, query or fragment: %s", url);
		goto out;
	}
	ok = OSSL_CMP_CTX_set1_server(ctx, host) &&
	    OSSL_CMP_CTX_set_serverPort(ctx, port) &&
	    OSSL_CMP_CTX_set1_serverPath(ctx, path);
	rv = ok ? CMPD_OK : CMPD_ENOMEM;
	t->host = host;
	t->port = port;
	host = NULL;
out:
	OPENSSL_free(user);
	OPENSSL_free(host);
	OPENSSL_free(path);
	OPENSSL_free(query);
	OPENSSL_free(frag);
	return rv;
}

/*
 * Transport options. The broker owns time, so the whole transaction has
 * no deadline here. Proxies come only from the request: empty strings are
 * stored as "" (not NULL), so that OpenSSL does not fall back to the
 * environment's http_proxy and no_proxy.
 */
/*
 * OpenSSL's HTTP client writes a request's headers and its body apart. With
 * Nagle's algorithm the body then waits on a kept-alive connection for the
 * CA's delayed ACK of the headers, 40 ms on Linux: send without delay.
 */
static BIO *
txn_http_cb(BIO *bio, void *arg, int connect, int detail)
{
	int fd = -1, one = 1;

	(void)arg;
	(void)detail;
	if (connect && BIO_get_fd(bio, &fd) >= 0)
		(void)setsockopt(
		    fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return bio;
}

static cmpd_err
txn_transport_set(
    struct nw_txn *t, const Cmpd__TxnStartReq *req, char *why, size_t whylen)
{
	const char *proxy = req->proxy != NULL ? req->proxy : "";
	cmpd_err rv;

	if ((rv = txn_server_set(t, req->server_url, why, whylen)) != 0)
		return rv;
	t->proxied = cmpd_str_set(proxy);
	if (req->msg_timeout > 0 &&
	    !OSSL_CMP_CTX_set_option(t->ctx, OSSL_CMP_OPT_MSG_TIMEOUT,
	        (int)(req->msg_timeout > 86400 ? 86400 : req->msg_timeout)))
		return CMPD_ENOMEM;
	if (strncasecmp(proxy, "https://", 8) == 0) {
		WHY("an https proxy is not supported yet: %s", proxy);
		return CMPD_EINVAL;
	}
	if (!OSSL_CMP_CTX_set_option(t->ctx, OSSL_CMP_OPT_TOTAL_TIMEOUT, 0) ||
	    !OSSL_CMP_CTX_set_http_cb(t->ctx, txn_http_cb) ||
	    !OSSL_CMP_CTX_set1_proxy(t->ctx, proxy) ||
	    !OSSL_CMP_CTX_set1_no_proxy(
	        t->ctx, req->no_proxy != NULL ? req->no_proxy : ""))
		return CMPD_ENOMEM;
	return CMPD_OK;
}

static cmpd_err
txn_name_set(OSSL_CMP_CTX *ctx, const char *s, const char *what,
    int (*set)(OSSL_CMP_CTX *, const X509_NAME *), char *why, size_t whylen)
{
	X509_NAME *name = NULL;
	char reason[256];
	cmpd_err rv;

	if (!cmpd_str_set(s))
		return CMPD_OK;
	if ((rv = nw_name_parse(s, &name, reason, sizeof(reason))) != 0) {
		WHY("bad %s: %s", what, reason);
		return rv;
	}
	rv = set(ctx, name) ? CMPD_OK : CMPD_ENOMEM;
	X509_NAME_free(name);
	return rv;
}

static cmpd_err
txn_store_set(OSSL_CMP_CTX *ctx, STACK_OF(X509) * certs)
{
	X509_STORE *store = X509_STORE_new();

	if (store == NULL)
		return CMPD_ENOMEM;
	for (int i = 0; i < sk_X509_num(certs); i++)
		if (!X509_STORE_add_cert(store, sk_X509_value(certs, i)))
			goto fail;
	if (OSSL_CMP_CTX_set0_trustedStore(ctx, store))
		return CMPD_OK;
fail:
	X509_STORE_free(store);
	return CMPD_ENOMEM;
}

/* Whom the CA's messages must come from and be signed by. */
static cmpd_err
txn_trust_set(struct nw_txn *t, OSSL_LIB_CTX *libctx,
    const Cmpd__TxnStartReq *r, char *why, size_t whylen)
{
	STACK_OF(X509) *trusted = NULL, *untrusted = NULL;
	X509 *srv = NULL;
	cmpd_err rv;

	if ((rv = txn_certs_decode(libctx, r->trusted, r->n_trusted, "trusted",
	         &trusted, why, whylen)) != 0 ||
	    (rv = txn_certs_decode(libctx, r->untrusted, r->n_untrusted,
	         "untrusted", &untrusted, why, whylen)) != 0)
		goto out;
	if (r->srv_cert.len > 0 &&
	    (srv = txn_cert_decode(libctx, &r->srv_cert)) == NULL) {
		WHY("srv_cert is not a DER certificate");
		rv = CMPD_EINVAL;
		goto out;
	}
	if ((sk_X509_num(trusted) > 0 &&
	        (rv = txn_store_set(t->ctx, trusted)) != 0) ||
	    (rv = txn_name_set(t->ctx, r->expected_sender, "expected sender",
	         OSSL_CMP_CTX_set1_expected_sender, why, whylen)) != 0 ||
	    (rv = txn_name_set(t->ctx, r->recipient, "recipient",
	         OSSL_CMP_CTX_set1_recipient, why, whylen)) != 0)
		goto out;
	/*
	 * Only a non-empty list: in 3.0 an empty one leaves the context's
	 * untrusted stack NULL, and adding the response's extraCerts to it
	 * then fails ("passed a null parameter").
	 */
	if ((sk_X509_num(untrusted) > 0 &&
	        !OSSL_CMP_CTX_set1_untrusted(t->ctx, untrusted)) ||
	    (srv != NULL && !OSSL_CMP_CTX_set1_srvCert(t->ctx, srv)))
		rv = CMPD_ENOMEM;
out:
	sk_X509_pop_free(trusted, X509_free);
	sk_X509_pop_free(untrusted, X509_free);
	X509_free(srv);
	return rv;
}

/*
 * OpenSSL 3.0 picks the protection algorithm with OBJ_find_sigid_by_algs,
 * which knows no Ed25519 and no RSA-PSS: such a key fails only after the
 * request is built (openssl#21564). Refuse it before anything is sent.
 */
static const char *
txn_prot_key_unusable(EVP_PKEY *key)
{
	static const char *const bad[] = { "ED25519", "ED448", "RSA-PSS" };

	for (size_t i = 0; i < CMPD_ARRAY_LEN(bad); i++)
		if (EVP_PKEY_is_a(key, bad[i]))
			return bad[i];
	return NULL;
}

static int
txn_spki_equal(X509 *cert, EVP_PKEY *key)
{
	unsigned char *a = NULL, *b = NULL;
	int la, lb, same;

	la = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &a);
	lb = i2d_PUBKEY(key, &b);
	same = la > 0 && la == lb && memcmp(a, b, (size_t)la) == 0;
	OPENSSL_free(a);
	OPENSSL_free(b);
	return same;
}

/* Signature protection: the key, its certificate and that one's chain. */
static cmpd_err
txn_sig_set(struct nw_txn *t, OSSL_LIB_CTX *libctx, const Cmpd__TxnStartReq *r,
    EVP_PKEY *key, char *why, size_t whylen)
{
	STACK_OF(X509) *certs = NULL;
	const char *bad;
	X509 *cert;
	cmpd_err rv;

	if ((rv = txn_certs_decode(libctx, r->protection_certs,
	         r->n_protection_certs, "protection_certs", &certs, why,
	         whylen)) != 0)
		return rv;
	rv = CMPD_EINVAL;
	cert = sk_X509_shift(certs);
	if ((bad = txn_prot_key_unusable(key)) != NULL ||
	    (bad = txn_prot_key_unusable(X509_get0_pubkey(cert))) != NULL) {
		WHY("%s keys cannot protect CMP messages with OpenSSL 3.0; "
		    "use an EC or RSA (PKCS#1) key",
		    bad);
		goto out;
	}
	if (!txn_spki_equal(cert, key)) {
		WHY("the protection key is not the key of its certificate");
		goto out;
	}
	rv = CMPD_ENOMEM;
	if (OSSL_CMP_CTX_set1_cert(t->ctx, cert) &&
	    OSSL_CMP_CTX_set1_pkey(t->ctx, key) &&
	    OSSL_CMP_CTX_set1_extraCertsOut(t->ctx, certs) &&
	    (t->op != CMPD__CMP_OP__CMP_OP_RR ||
	        OSSL_CMP_CTX_set1_oldCert(t->ctx, cert)))
		rv = CMPD_OK;
out:
	X509_free(cert);
	sk_X509_pop_free(certs, X509_free);
	return rv;
}

static cmpd_err
txn_protection_set(struct nw_txn *t, OSSL_LIB_CTX *libctx,
    const Cmpd__TxnStartReq *r, EVP_PKEY *key, char *why, size_t whylen)
{
	const char *ref = r->mac_reference;

	if (key != NULL)
		return txn_sig_set(t, libctx, r, key, why, whylen);
	if (r->mac_secret.len == 0 || !cmpd_str_set(ref)) {
		WHY("no protection: neither a key nor a MAC secret");
		return CMPD_EINVAL;
	}
	if (!OSSL_CMP_CTX_set1_secretValue(
	        t->ctx, r->mac_secret.data, (int)r->mac_secret.len) ||
	    !OSSL_CMP_CTX_set1_referenceValue(
	        t->ctx, (const unsigned char *)ref, (int)strlen(ref)))
		return CMPD_ENOMEM;
	return CMPD_OK;
}

static cmpd_err
txn_sans_set(
    OSSL_CMP_CTX *ctx, const Cmpd__TxnStartReq *r, char *why, size_t whylen)
{
	GENERAL_NAME *gn = NULL;
	char reason[256];
	int ok;

	for (size_t i = 0; i < r->n_sans; i++) {
		if (nw_san_parse(r->sans[i], &gn, reason, sizeof(reason))) {
			WHY("bad subjectAltName: %s", reason);
			return CMPD_EINVAL;
		}
		ok = OSSL_CMP_CTX_push1_subjectAltName(ctx, gn);
		GENERAL_NAME_free(gn);
		if (!ok)
			return CMPD_ENOMEM;
	}
	return CMPD_OK;
}

/*
 * The certificate template. IR and CR carry exactly the names asked for:
 * OpenSSL would otherwise copy the protection (supplier) certificate's
 * subjectAltNames into the request. KUR keeps OpenSSL's default of the
 * old certificate's names when none are given.
 */
static cmpd_err
txn_template_set(struct nw_txn *t, const Cmpd__TxnStartReq *r,
    EVP_PKEY *new_key, char *why, size_t whylen)
{
	int len, nodefault = t->req_type != OSSL_CMP_KUR || r->n_sans > 0;
	cmpd_err rv;

	if ((len = i2d_PUBKEY(new_key, &t->spki)) <= 0) {
		WHY("cannot encode the new key");
		return CMPD_ECRYPTO;
	}
	t->check.spki = t->spki;
	t->check.spki_len = (size_t)len;
	if (!EVP_PKEY_up_ref(new_key))
		return CMPD_ENOMEM;
	if (!OSSL_CMP_CTX_set0_newPkey(t->ctx, 1, new_key)) {
		EVP_PKEY_free(new_key);
		return CMPD_ENOMEM;
	}
	if (r->validity_days > 36500) {
		WHY("validity_days %u is out of range", r->validity_days);
		return CMPD_EINVAL;
	}
	if ((rv = txn_name_set(t->ctx, r->subject, "subject",
	         OSSL_CMP_CTX_set1_subjectName, why, whylen)) != 0 ||
	    (rv = txn_sans_set(t->ctx, r, why, whylen)) != 0)
		return rv;
	if (!OSSL_CMP_CTX_set_option(
	        t->ctx, OSSL_CMP_OPT_SUBJECTALTNAME_NODEFAULT, nodefault) ||
	    !OSSL_CMP_CTX_set_option(t->ctx, OSSL_CMP_OPT_IMPLICIT_CONFIRM,
	        r->implicit_confirm ? 1 : 0) ||
	    (r->validity_days > 0 &&
	        !OSSL_CMP_CTX_set_option(
	            t->ctx, OSSL_CMP_OPT_VALIDITY_DAYS, (int)r->validity_days)))
		return CMPD_ENOMEM;
	return CMPD_OK;
}

/* The anchors the new certificate must reach (certcheck.c). */
static cmpd_err
txn_check_set(struct nw_txn *t, OSSL_LIB_CTX *libctx,
    const Cmpd__TxnStartReq *r, char *why, size_t whylen)
{
	cmpd_err rv;

	rv = txn_certs_decode(libctx, r->enroll_trusted, r->n_enroll_trusted,
	    "enroll_trusted", &t->check.anchors, why, whylen);
	t->check.libctx = libctx;
	t->check.trust_capubs = r->trust_capubs;
	return rv;
}

/*
 * The operation. KUR updates, and RR revokes, the certificate that
 * protects the request (the one whose key the keyworker holds); GENM asks
 * for the CA certificates.
 */
static cmpd_err
txn_op_set(struct nw_txn *t, const Cmpd__TxnStartReq *r, EVP_PKEY *prot,
    char *why, size_t whylen)
{
	t->op = r->op;
	switch (r->op) {
	case CMPD__CMP_OP__CMP_OP_IR:
		t->req_type = OSSL_CMP_IR;
		return CMPD_OK;
	case CMPD__CMP_OP__CMP_OP_CR:
		t->req_type = OSSL_CMP_CR;
		return CMPD_OK;
	case CMPD__CMP_OP__CMP_OP_KUR:
		t->req_type = OSSL_CMP_KUR;
		/* fall through */
	case CMPD__CMP_OP__CMP_OP_RR:
		if (prot != NULL)
			return CMPD_OK;
		WHY("a key update or revocation must be protected by the "
		    "certificate's own key, not a MAC");
		return CMPD_EINVAL;
	case CMPD__CMP_OP__CMP_OP_GENM:
		return CMPD_OK;
	default:
		WHY("CMP operation %d (P10CR) is not supported yet",
		    (int)r->op);
		return CMPD_EINVAL;
	}
}

static int
txn_is_certreq(const struct nw_txn *t)
{
	return t->op == CMPD__CMP_OP__CMP_OP_IR ||
	    t->op == CMPD__CMP_OP__CMP_OP_CR ||
	    t->op == CMPD__CMP_OP__CMP_OP_KUR;
}

/* What the operation sends besides the header. */
static cmpd_err
txn_body_set(struct nw_txn *t, OSSL_LIB_CTX *libctx, const Cmpd__TxnStartReq *r,
    EVP_PKEY *new_key, char *why, size_t whylen)
{
	OSSL_CMP_ITAV *itav;
	ASN1_OBJECT *type;
	cmpd_err rv;

	if (txn_is_certreq(t)) {
		if ((rv = txn_template_set(t, r, new_key, why, whylen)) != 0)
			return rv;
		return txn_check_set(t, libctx, r, why, whylen);
	}
	if (t->op == CMPD__CMP_OP__CMP_OP_RR)
		return CMPD_OK; /* txn_sig_set named the certificate */
	if ((type = OBJ_txt2obj(NW_OID_IT_CACERTS, 1)) == NULL)
		return CMPD_ENOMEM;
	if ((itav = OSSL_CMP_ITAV_create(type, NULL)) == NULL) {
		ASN1_OBJECT_free(type);
		return CMPD_ENOMEM;
	}
	if (!OSSL_CMP_CTX_push0_genm_ITAV(t->ctx, itav)) {
		OSSL_CMP_ITAV_free(itav);
		return CMPD_ENOMEM;
	}
	return CMPD_OK;
}

static cmpd_err
txn_build(struct nw_txn *t, OSSL_LIB_CTX *libctx, const Cmpd__TxnStartReq *r,
    EVP_PKEY *prot, EVP_PKEY *new_key, char *why, size_t whylen)
{
	ASN1_OCTET_STRING *tid = NULL;
	cmpd_err rv;

	if ((rv = txn_op_set(t, r, prot, why, whylen)) != 0)
		return rv;
	if ((txn_is_certreq(t) && new_key == NULL) ||
	    r->transaction_id.len != NW_TID_LEN) {
		WHY("a certificate request needs a new key, and every "
		    "transaction a 16-byte transactionID");
		return CMPD_EINVAL;
	}
	memcpy(t->tid, r->transaction_id.data, NW_TID_LEN);
	t->libctx = libctx;
	if ((t->url = strdup(r->server_url)) == NULL ||
	    (t->ctx = OSSL_CMP_CTX_new(libctx, NULL)) == NULL)
		return CMPD_ENOMEM;
	if ((rv = txn_transport_set(t, r, why, whylen)) != 0 ||
	    (rv = txn_trust_set(t, libctx, r, why, whylen)) != 0 ||
	    (rv = txn_protection_set(t, libctx, r, prot, why, whylen)) != 0 ||
	    (rv = txn_body_set(t, libctx, r, new_key, why, whylen)) != 0)
		return rv;
	/*
	 * The broker's transactionID: the keyworker signs only messages of
	 * the transaction it granted. OpenSSL 3.0 keeps a preset ID for the
	 * first request (it generates one only when none is set); the
	 * transfer callback checks every message anyway.
	 */
	if ((tid = ASN1_OCTET_STRING_new()) == NULL ||
	    !ASN1_OCTET_STRING_set(tid, t->tid, NW_TID_LEN) ||
	    !OSSL_CMP_CTX_set1_transactionID(t->ctx, tid) ||
	    !nw_txn_callbacks_set(t))
		rv = CMPD_ENOMEM;
	ASN1_OCTET_STRING_free(tid);
	return rv;
}

cmpd_err
nw_txn_new(OSSL_LIB_CTX *libctx, const Cmpd__TxnStartReq *req,
    EVP_PKEY *prot_key, EVP_PKEY *new_key, struct nw_txn **out, char *why,
    size_t whylen)
{
	struct nw_txn *t = NULL;
	cmpd_err rv;

	why[0] = '\0';
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return CMPD_ENOMEM;
	t->magic = NW_TXN_MAGIC;
	t->ca_status = -1;
	cmpd_strlcpy(t->job, req->job_id, sizeof(t->job));
	rv = txn_build(t, libctx, req, prot_key, new_key, why, whylen);
	if (rv != CMPD_OK) {
		if (why[0] == '\0')
			WHY("cannot prepare the transaction: %s",
			    cmpd_strerror(rv));
		cmpd_log_openssl(CMPD_LOG_DEBUG, t->job);
		nw_txn_free(t);
		return rv;
	}
	log_info("job %s: transaction prepared for %s", t->job, t->url);
	*out = t;
	return CMPD_OK;
}

void
nw_txn_free(struct nw_txn *t)
{
	if (t == NULL)
		return;
	CMPD_MAGIC_CHECK(t, NW_TXN_MAGIC);
	OSSL_CMP_CTX_free(t->ctx);
	sk_X509_pop_free(t->check.anchors, X509_free);
	sk_X509_pop_free(t->chain, X509_free);
	OPENSSL_free(t->spki);
	OPENSSL_free(t->host);
	free(t->url);
	t->magic = 0;
	free(t);
}

const char *
nw_txn_job(const struct nw_txn *t)
{
	CMPD_MAGIC_CHECK(t, NW_TXN_MAGIC);
	return t->job;
}

int
nw_txn_waiting(const struct nw_txn *t)
{
	CMPD_MAGIC_CHECK(t, NW_TXN_MAGIC);
	return t->waiting;
}
