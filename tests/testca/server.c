/*
 * The CMP service: loads the PKI that `init` wrote, then answers each
 * request within its transaction (txn.c): protection check (auth.c), then
 * OpenSSL's OSSL_CMP_SRV_process_request with our callbacks (reqs.c).
 */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "log.h"
#include "srvint.h"

static const char *const body_names[TCA_BODY_MAX] = { "ir", "ip", "cr", "cp",
	"p10cr", "popdecc", "popdecr", "kur", "kup", "krr", "krp", "rr", "rp",
	"ccr", "ccp", "ckuann", "cann", "rann", "crlann", "pkiconf", "nested",
	"genm", "genp", "error", "certConf", "pollReq", "pollRep" };

const char *
tca_body_name(int type)
{
	return type >= 0 && type < TCA_BODY_MAX ? body_names[type] : "body?";
}

/* The requests --refuse may name: those that start a transaction. */
static const int refusable[] = { TCA_BODY_IR, TCA_BODY_CR, TCA_BODY_KUR,
	TCA_BODY_P10CR, TCA_BODY_RR, TCA_BODY_GENM };

cmpd_err
tca_serve_opts_refuse(struct tca_serve_opts *opts, const char *op)
{
	for (size_t i = 0; i < sizeof(refusable) / sizeof(refusable[0]); i++)
		if (strcmp(op, body_names[refusable[i]]) == 0) {
			opts->refuse |= 1u << refusable[i];
			return CMPD_OK;
		}
	return CMPD_EINVAL;
}

/*
 * The OpenSSL CMP log callback has no user argument, so the first error a
 * request produced is kept per thread (one request is answered by one
 * thread) for that request's log line.
 */
static _Thread_local char cmp_first_err[256];

int
tca_cmp_log_cb(const char *func, const char *file, int line,
    OSSL_CMP_severity level, const char *msg)
{
	(void)file;
	(void)line;
	if (level <= OSSL_CMP_LOG_ERR && cmp_first_err[0] == '\0')
		cmpd_strlcpy(cmp_first_err, msg, sizeof(cmp_first_err));
	log_debug("openssl cmp: %s: %s", func ? func : "?", msg);
	return 1;
}

cmpd_err
tca_load_cert(const char *dir, const char *file, X509 **out)
{
	char path[4096];
	BIO *bio;
	X509 *cert;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	bio = BIO_new_file(path, "r");
	cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (cert == NULL) {
		log_err("cannot read the certificate %s", path);
		cmpd_log_openssl(CMPD_LOG_ERR, path);
		return CMPD_EIO;
	}
	*out = cert;
	return CMPD_OK;
}

cmpd_err
tca_load_key(const char *dir, const char *file, X509 *cert, EVP_PKEY **out)
{
	char path[4096];
	BIO *bio;
	EVP_PKEY *key;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	bio = BIO_new_file(path, "r");
	key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (key == NULL || !X509_check_private_key(cert, key)) {
		log_err("cannot read %s, or it is not the key of its "
		        "certificate",
		    path);
		cmpd_log_openssl(CMPD_LOG_ERR, path);
		EVP_PKEY_free(key);
		return CMPD_EIO;
	}
	*out = key;
	return CMPD_OK;
}

/* A one-line text file without its line end. */
static cmpd_err
load_line(const char *dir, const char *file, ASN1_OCTET_STRING **out)
{
	char path[4096];
	uint8_t *buf = NULL;
	size_t len = 0, n;
	ASN1_OCTET_STRING *s = NULL;
	cmpd_err rv;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	rv = cmpd_file_read(path, 4096, 1, &buf, &len);
	if (rv != CMPD_OK) {
		log_err("cannot read %s: %s", path, cmpd_strerror(rv));
		return rv;
	}
	n = strcspn((char *)buf, "\r\n");
	s = ASN1_OCTET_STRING_new();
	if (n == 0 || s == NULL || !ASN1_OCTET_STRING_set(s, buf, (int)n)) {
		log_err("%s must hold one non-empty line", path);
		ASN1_OCTET_STRING_free(s);
		rv = CMPD_EINVAL;
	} else {
		*out = s;
	}
	cmpd_file_free(buf, len);
	return rv;
}

static cmpd_err
stack_of(X509 *a, X509 *b, STACK_OF(X509) * *out)
{
	STACK_OF(X509) *sk = sk_X509_new_null();

	if (sk == NULL || !X509_add_cert(sk, a, X509_ADD_FLAG_UP_REF) ||
	    (b != NULL && !X509_add_cert(sk, b, X509_ADD_FLAG_UP_REF))) {
		sk_X509_pop_free(sk, X509_free);
		return CMPD_ENOMEM;
	}
	*out = sk;
	return CMPD_OK;
}

static cmpd_err
server_load(struct tca_server *srv, const char *dir)
{
	X509 *ca = NULL;
	EVP_PKEY *ca_key = NULL;
	cmpd_err rv;

	rv = tca_load_cert(dir, "ca.pem", &ca);
	if (rv == CMPD_OK)
		rv = tca_load_key(dir, "ca.key", ca, &ca_key);
	if (rv == CMPD_OK)
		rv = tca_issuer_init(&srv->issuer, ca, ca_key,
		    srv->opts.validity_seconds > 0
		        ? srv->opts.validity_seconds
		        : srv->opts.validity_days * 86400L);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	if (rv == CMPD_OK)
		rv = tca_load_cert(dir, "root.pem", &srv->root);
	if (rv == CMPD_OK)
		rv = tca_load_cert(
		    dir, "supplier-root.pem", &srv->supplier_root);
	if (rv == CMPD_OK)
		rv = tca_load_cert(dir, "srv.pem", &srv->srv_cert);
	if (rv == CMPD_OK)
		rv = tca_load_key(dir, "srv.key", srv->srv_cert, &srv->srv_key);
	if (rv == CMPD_OK)
		rv = load_line(dir, "mac-ref.txt", &srv->mac_ref);
	if (rv == CMPD_OK)
		rv = load_line(dir, "mac-secret.txt", &srv->mac_secret);
	return rv;
}

static cmpd_err
server_prepare(struct tca_server *srv, const char *dir)
{
	X509 *both[2] = { srv->root, srv->supplier_root };
	cmpd_err rv;

	rv = stack_of(srv->issuer.cert, NULL, &srv->untrusted);
	if (rv == CMPD_OK)
		rv = stack_of(srv->issuer.cert, srv->root, &srv->extra);
	if (rv == CMPD_OK)
		rv = tca_auth_store_new(srv, both, 2, &srv->store_supplier);
	if (rv == CMPD_OK)
		rv = tca_auth_store_new(srv, both, 1, &srv->store_own);
	if (rv == CMPD_OK)
		rv = tca_genm_init(srv, dir);
	return rv;
}

cmpd_err
tca_server_new(
    const char *dir, const struct tca_serve_opts *opts, struct tca_server **out)
{
	struct tca_server *srv = calloc(1, sizeof(*srv));
	cmpd_err rv;

	if (srv == NULL)
		return CMPD_ENOMEM;
	srv->magic = TCA_SERVER_MAGIC;
	srv->opts = *opts;
	rv = server_load(srv, dir);
	if (rv == CMPD_OK)
		rv = server_prepare(srv, dir);
	if (rv == CMPD_OK)
		rv = tca_registry_open(dir, &srv->reg);
	if (rv == CMPD_OK)
		rv = tca_txn_table_new(&srv->txns);
	if (rv != CMPD_OK) {
		tca_server_free(srv);
		return rv;
	}
	*out = srv;
	return CMPD_OK;
}

void
tca_server_free(struct tca_server *srv)
{
	if (srv == NULL)
		return;
	tca_txn_table_free(srv->txns);
	tca_registry_free(srv->reg);
	tca_issuer_fini(&srv->issuer);
	X509_free(srv->root);
	X509_free(srv->supplier_root);
	X509_free(srv->srv_cert);
	EVP_PKEY_free(srv->srv_key);
	sk_X509_pop_free(srv->untrusted, X509_free);
	sk_X509_pop_free(srv->extra, X509_free);
	X509_STORE_free(srv->store_supplier);
	X509_STORE_free(srv->store_own);
	ASN1_OCTET_STRING_free(srv->mac_ref);
	ASN1_OCTET_STRING_free(srv->mac_secret);
	tca_genm_fini(srv);
	srv->magic = 0;
	free(srv);
}

void
tca_server_sweep(struct tca_server *srv)
{
	CMPD_MAGIC_CHECK(srv, TCA_SERVER_MAGIC);
	tca_txn_sweep(srv->txns, (uint64_t)srv->opts.idle_seconds * 1000u);
}

/* The context of a new transaction: our credentials and callbacks; the
 * trust or MAC secret follows from its first request (auth.c). */
static cmpd_err
txn_ctx_new(struct tca_server *srv, struct tca_txn *txn)
{
	OSSL_CMP_SRV_CTX *sctx = OSSL_CMP_SRV_CTX_new(NULL, NULL);
	OSSL_CMP_CTX *ctx = sctx ? OSSL_CMP_SRV_CTX_get0_cmp_ctx(sctx) : NULL;

	if (ctx == NULL || !tca_reqs_init(sctx, txn) ||
	    !OSSL_CMP_CTX_set_log_cb(ctx, tca_cmp_log_cb) ||
	    !OSSL_CMP_CTX_set_option(
	        ctx, OSSL_CMP_OPT_LOG_VERBOSITY, OSSL_CMP_LOG_WARNING) ||
	    !OSSL_CMP_CTX_set1_cert(ctx, srv->srv_cert) ||
	    !OSSL_CMP_CTX_set1_pkey(ctx, srv->srv_key) ||
	    !OSSL_CMP_CTX_set1_untrusted(ctx, srv->untrusted) ||
	    !OSSL_CMP_CTX_set1_extraCertsOut(ctx, srv->extra) ||
	    !OSSL_CMP_SRV_CTX_set_accept_raverified(sctx, 0) ||
	    !OSSL_CMP_SRV_CTX_set_grant_implicit_confirm(
	        sctx, srv->opts.grant_implicit_confirm)) {
		cmpd_log_openssl(CMPD_LOG_ERR, txn->tid);
		OSSL_CMP_SRV_CTX_free(sctx);
		return CMPD_ECRYPTO;
	}
	txn->ctx = sctx;
	return CMPD_OK;
}

static OSSL_CMP_MSG *
txn_answer(struct tca_server *srv, struct tca_txn *txn, const OSSL_CMP_MSG *req,
    const uint8_t *der, size_t len)
{
	OSSL_CMP_MSG *rsp;

	txn->der = der;
	txn->der_len = len;
	txn->outcome[0] = '\0';
	txn->cert_refused = 0;
	if (txn->ctx == NULL) {
		txn->first_type = OSSL_CMP_MSG_get_bodytype(req);
		if (txn_ctx_new(srv, txn) != CMPD_OK)
			return NULL;
	}
	tca_auth_check(txn, req);
	/* A refused request still reaches our callbacks, which answer with
	 * the reason; a MAC we cannot verify makes our MAC useless to the
	 * client, so such refusals go unprotected. */
	OSSL_CMP_SRV_CTX_set_accept_unprotected(txn->ctx, txn->refused);
	OSSL_CMP_SRV_CTX_set_send_unprotected_errors(
	    txn->ctx, txn->refused && txn->prot == TCA_PROT_MAC);
	cmp_first_err[0] = '\0';
	rsp = OSSL_CMP_SRV_process_request(txn->ctx, req);
	/* Our callbacks set the outcome; otherwise OpenSSL answered alone. */
	if (txn->outcome[0] == '\0' && cmp_first_err[0] != '\0')
		cmpd_strlcpy(txn->outcome, cmp_first_err, sizeof(txn->outcome));
	else if (txn->outcome[0] == '\0')
		cmpd_strlcpy(txn->outcome, rsp != NULL ? "ok" : "no response",
		    sizeof(txn->outcome));
	txn->der = NULL;
	txn->der_len = 0;
	ERR_clear_error();
	return rsp;
}

/* Mirrors when OpenSSL 3.0 closes a server transaction, and adds a
 * rejected certificate request, after which a client sends nothing. */
static int
txn_finished(struct tca_txn *txn, const OSSL_CMP_MSG *rsp)
{
	OSSL_CMP_CTX *ctx = OSSL_CMP_SRV_CTX_get0_cmp_ctx(txn->ctx);

	if (rsp == NULL || ctx == NULL)
		return 1;
	switch (OSSL_CMP_MSG_get_bodytype(rsp)) {
	case TCA_BODY_IP:
	case TCA_BODY_CP:
	case TCA_BODY_KUP:
		return txn->cert_refused ||
		    OSSL_CMP_CTX_get_option(
		        ctx, OSSL_CMP_OPT_IMPLICIT_CONFIRM) == 1;
	case TCA_BODY_RP:
	case TCA_BODY_PKICONF:
	case TCA_BODY_GENP:
	case TCA_BODY_ERROR:
		return 1;
	default:
		return 0;
	}
}

static cmpd_err
msg_tid_hex(const OSSL_CMP_MSG *msg, char out[2 * TCA_TID_MAX + 1])
{
	const ASN1_OCTET_STRING *tid =
	    OSSL_CMP_HDR_get0_transactionID(OSSL_CMP_MSG_get0_header(msg));

	if (tid == NULL || tid->length <= 0 || tid->length > TCA_TID_MAX)
		return CMPD_EPROTO;
	cmpd_hex(tid->data, (size_t)tid->length, out);
	return CMPD_OK;
}

cmpd_err
tca_server_handle(struct tca_server *srv, const uint8_t *der, size_t len,
    uint8_t **out, size_t *out_len)
{
	const unsigned char *p = der;
	char tid[2 * TCA_TID_MAX + 1];
	OSSL_CMP_MSG *req = NULL, *rsp = NULL;
	struct tca_txn *txn = NULL;
	unsigned char *buf = NULL;
	int n = 0;
	cmpd_err rv = CMPD_EPROTO;

	CMPD_MAGIC_CHECK(srv, TCA_SERVER_MAGIC);
	if (len > 0 && len <= (size_t)INT32_MAX)
		req = d2i_OSSL_CMP_MSG(NULL, &p, (long)len);
	if (req == NULL || p != der + len || msg_tid_hex(req, tid) != CMPD_OK)
		goto out;
	rv = tca_txn_acquire(srv->txns, srv, tid, &txn);
	if (rv != CMPD_OK)
		goto out;
	rsp = txn_answer(srv, txn, req, der, len);
	log_info("%s %s -> %s: %s", tid,
	    tca_body_name(OSSL_CMP_MSG_get_bodytype(req)),
	    rsp ? tca_body_name(OSSL_CMP_MSG_get_bodytype(rsp)) : "nothing",
	    txn->outcome);
	tca_txn_release(srv->txns, txn, txn_finished(txn, rsp));
	rv = CMPD_EINTERNAL;
	if (rsp == NULL || (n = i2d_OSSL_CMP_MSG(rsp, &buf)) <= 0)
		goto out;
	*out = buf;
	*out_len = (size_t)n;
	rv = CMPD_OK;
out:
	if (rv == CMPD_EPROTO)
		log_info("refused a request that is not a PKIMessage with a "
		         "transactionID (%zu bytes)",
		    len);
	ERR_clear_error();
	OSSL_CMP_MSG_free(req);
	OSSL_CMP_MSG_free(rsp);
	return rv;
}
