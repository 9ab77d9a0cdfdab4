#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"
#include "log.h"
#include "names.h"
#include "txn_int.h"

/* OpenSSL's own default for a message without a timeout. */
#define TXN_MSG_TIMEOUT_DEFAULT 120
#define TXN_MSG_TIMEOUT_MAX     86400
/* A year: the broker passes what is left of a job's deadline. */
#define TXN_TOTAL_TIMEOUT_MAX (366u * 86400u)

X509 *
nw_txn_cert_decode(OSSL_LIB_CTX *libctx, const ProtobufCBinaryData *d)
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

cmpd_err
nw_txn_certs_decode(OSSL_LIB_CTX *libctx, const ProtobufCBinaryData *d,
    size_t n, const char *what, STACK_OF(X509) * *out, char *why, size_t whylen)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	X509 *x;

	if (sk == NULL)
		return CMPD_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if ((x = nw_txn_cert_decode(libctx, &d[i])) == NULL) {
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

/*
 * The per-message and per-step timeouts. OpenSSL counts the total from
 * the first request of the step (and keeps counting across the polls of
 * later steps), so the broker's remaining deadline becomes the step's.
 */
static cmpd_err
txn_timeouts_set(
    struct nw_txn *t, const Cmpd__TxnStartReq *r, char *why, size_t whylen)
{
	uint32_t msg = r->msg_timeout;

	if (r->total_timeout > TXN_TOTAL_TIMEOUT_MAX) {
		WHY("total_timeout %u s is out of range (at most %u)",
		    r->total_timeout, TXN_TOTAL_TIMEOUT_MAX);
		return CMPD_EINVAL;
	}
	t->total_timeout = r->total_timeout;
	if (msg > TXN_MSG_TIMEOUT_MAX)
		msg = TXN_MSG_TIMEOUT_MAX;
	if ((msg > 0 &&
	        !OSSL_CMP_CTX_set_option(
	            t->ctx, OSSL_CMP_OPT_MSG_TIMEOUT, (int)msg)) ||
	    (r->no_keep_alive &&
	        !OSSL_CMP_CTX_set_option(t->ctx, OSSL_CMP_OPT_KEEP_ALIVE, 0)) ||
	    !OSSL_CMP_CTX_set_option(
	        t->ctx, OSSL_CMP_OPT_TOTAL_TIMEOUT, (int)r->total_timeout))
		return CMPD_ENOMEM;
	return CMPD_OK;
}

/* How long a proxy may take to open a tunnel: as long as a message. */
static int
txn_connect_timeout(const Cmpd__TxnStartReq *r)
{
	uint32_t s =
	    r->msg_timeout > 0 ? r->msg_timeout : TXN_MSG_TIMEOUT_DEFAULT;

	if (s > TXN_MSG_TIMEOUT_MAX)
		s = TXN_MSG_TIMEOUT_MAX;
	if (r->total_timeout > 0 && r->total_timeout < s)
		s = r->total_timeout;
	return (int)s;
}

/* The URL, the proxy and, for https, the TLS settings (transport.h). */
static cmpd_err
txn_transport_set(struct nw_txn *t, const Cmpd__TxnStartReq *r,
    EVP_PKEY *tls_key, char *why, size_t whylen)
{
	struct nw_transport_cfg cfg = { .libctx = t->libctx,
		.job = t->job,
		.url = r->server_url,
		.proxy = r->proxy,
		.no_proxy = r->no_proxy,
		.timeout = txn_connect_timeout(r),
		.tls_key = tls_key };
	cmpd_err rv;

	if ((rv = nw_txn_certs_decode(t->libctx, r->tls_trusted,
	         r->n_tls_trusted, "tls_trusted", &cfg.tls_trusted, why,
	         whylen)) != 0 ||
	    (rv = nw_txn_certs_decode(t->libctx, r->tls_certs, r->n_tls_certs,
	         "tls_certs", &cfg.tls_certs, why, whylen)) != 0 ||
	    (rv = nw_transport_new(&cfg, &t->transport, why, whylen)) != 0 ||
	    (rv = nw_transport_apply(t->transport, t->ctx)) != 0 ||
	    (rv = txn_timeouts_set(t, r, why, whylen)) != 0)
		goto out;
	log_info("job %s: CA at %s%s%s", t->job, t->url,
	    nw_transport_proxy(t->transport)[0] ? " through the proxy " : "",
	    nw_transport_proxy(t->transport));
out:
	sk_X509_pop_free(cfg.tls_trusted, X509_free);
	sk_X509_pop_free(cfg.tls_certs, X509_free);
	return rv;
}

cmpd_err
nw_txn_name_set(OSSL_CMP_CTX *ctx, const char *s, const char *what,
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

	if ((rv = nw_txn_certs_decode(libctx, r->trusted, r->n_trusted,
	         "trusted", &trusted, why, whylen)) != 0 ||
	    (rv = nw_txn_certs_decode(libctx, r->untrusted, r->n_untrusted,
	         "untrusted", &untrusted, why, whylen)) != 0)
		goto out;
	if (r->srv_cert.len > 0 &&
	    (srv = nw_txn_cert_decode(libctx, &r->srv_cert)) == NULL) {
		WHY("srv_cert is not a DER certificate");
		rv = CMPD_EINVAL;
		goto out;
	}
	if ((sk_X509_num(trusted) > 0 &&
	        (rv = txn_store_set(t->ctx, trusted)) != 0) ||
	    (rv = nw_txn_name_set(t->ctx, r->expected_sender, "expected sender",
	         OSSL_CMP_CTX_set1_expected_sender, why, whylen)) != 0 ||
	    (rv = nw_txn_name_set(t->ctx, r->recipient, "recipient",
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

	if ((rv = nw_txn_certs_decode(libctx, r->protection_certs,
	         r->n_protection_certs, "protection_certs", &certs, why,
	         whylen)) != 0)
		return rv;
	rv = CMPD_EINVAL;
	if ((cert = sk_X509_shift(certs)) == NULL) {
		WHY("signature protection needs the key's certificate");
		goto out;
	}
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
	    OSSL_CMP_CTX_set1_extraCertsOut(t->ctx, certs))
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

/*
 * The operation. KUR updates the certificate that protects the request (the
 * one whose key the keyworker holds), so it needs a signature; RR may be
 * protected as the profile says.
 */
static cmpd_err
txn_op_set(struct nw_txn *t, const Cmpd__TxnStartReq *r, EVP_PKEY *prot,
    char *why, size_t whylen)
{
	static const struct {
		Cmpd__CmpOp op;
		int req_type;
	} ops[] = {
		{ CMPD__CMP_OP__CMP_OP_IR, OSSL_CMP_IR },
		{ CMPD__CMP_OP__CMP_OP_CR, OSSL_CMP_CR },
		{ CMPD__CMP_OP__CMP_OP_KUR, OSSL_CMP_KUR },
		{ CMPD__CMP_OP__CMP_OP_P10CR, OSSL_CMP_P10CR },
		{ CMPD__CMP_OP__CMP_OP_RR, -1 },
		{ CMPD__CMP_OP__CMP_OP_GENM, -1 },
	};

	t->op = r->op;
	t->genm_type = r->genm_type;
	if (r->op == CMPD__CMP_OP__CMP_OP_KUR && prot == NULL) {
		WHY("a key update must be protected by the certificate's own "
		    "key, not a MAC");
		return CMPD_EINVAL;
	}
	for (size_t i = 0; i < CMPD_ARRAY_LEN(ops); i++) {
		if (ops[i].op == r->op) {
			t->req_type = ops[i].req_type;
			return CMPD_OK;
		}
	}
	WHY("CMP operation %d is not known", (int)r->op);
	return CMPD_EINVAL;
}

int
nw_txn_is_certreq(const struct nw_txn *t)
{
	return t->req_type >= 0;
}

static cmpd_err
txn_build(struct nw_txn *t, OSSL_LIB_CTX *libctx, const Cmpd__TxnStartReq *r,
    const struct nw_txn_keys *keys, char *why, size_t whylen)
{
	ASN1_OCTET_STRING *tid = NULL;
	cmpd_err rv;

	if ((rv = txn_op_set(t, r, keys->prot, why, whylen)) != 0)
		return rv;
	if ((nw_txn_is_certreq(t) && keys->new_key == NULL) ||
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
	if ((rv = txn_transport_set(t, r, keys->tls, why, whylen)) != 0 ||
	    (rv = txn_trust_set(t, libctx, r, why, whylen)) != 0 ||
	    (rv = txn_protection_set(t, libctx, r, keys->prot, why, whylen)) !=
	        0 ||
	    (rv = nw_txn_body_set(t, r, keys->new_key, why, whylen)) != 0 ||
	    (rv = nw_txn_replay_set(t, r)) != 0)
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
    const struct nw_txn_keys *keys, struct nw_txn **out, char *why,
    size_t whylen)
{
	struct nw_txn *t = NULL;
	cmpd_err rv;

	why[0] = '\0';
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return CMPD_ENOMEM;
	t->magic = NW_TXN_MAGIC;
	t->ca_status = -1;
	t->req_type = -1;
	cmpd_strlcpy(t->job, req->job_id, sizeof(t->job));
	rv = txn_build(t, libctx, req, keys, why, whylen);
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
	/* The context refers to the transport: free it first. */
	OSSL_CMP_CTX_free(t->ctx);
	nw_transport_free(t->transport);
	X509_free(t->old_root);
	sk_X509_pop_free(t->check.anchors, X509_free);
	sk_X509_pop_free(t->chain, X509_free);
	nw_txn_replay_free(t);
	OPENSSL_free(t->spki);
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
