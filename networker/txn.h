/*
 * One CMP transaction of one job, run with OpenSSL's CMP client. The keys
 * come in as ready EVP_PKEYs (in the networker, handles of the remote-key
 * provider; in tests, ordinary software keys), so this file never knows
 * where a signature is made.
 *
 * Operations (TxnStartReq.op):
 *  - IR and CR certify new_key (CR: protected by a cmpd certificate);
 *  - KUR certifies new_key (or the same key again) in place of old_cert,
 *    which protects the request (protection_certs[0]) and is named in
 *    oldCertID;
 *  - P10CR sends a PKCS#10 request for new_key, signed with that key;
 *  - RR revokes old_cert with its reason code;
 *  - GENM asks for the CA certificates, a root CA key update (checked
 *    against trusted[0] before it is reported) or the certificate request
 *    template (RFC 9483 4.3), answered in the result's genm part.
 * The CA URL may be https (transport.h), through an HTTP proxy.
 *
 * Threads: nw_txn_new and nw_txn_free run anywhere; nw_txn_step and
 * nw_txn_abort block on the network and run on a worker thread, one call
 * at a time per transaction.
 */
#pragma once

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "cmpd.pb-c.h"
#include "err.h"

struct nw_txn;

/* What a genm brought back, checked: the content of a GenmResult. */
struct nw_genm_result {
	Cmpd__GenmType type;
	int empty;                    /* the CA answered without a value */
	STACK_OF(X509) * ca_certs;    /* caCerts */
	X509 *new_root;               /* rootCaKeyUpdate: newWithNew */
	X509 *new_with_old;           /* checked against trusted[0] */
	X509 *old_with_new;           /* if the CA sent one */
	unsigned char *cert_template; /* certReqTemplate: DER CertTemplate */
	size_t cert_template_len;
	unsigned char *key_spec; /* DER Controls, if the CA sent them */
	size_t key_spec_len;
};

/* How one step ended: the content of a TxnRep. */
struct nw_txn_result {
	Cmpd__TxnResult result;   /* TXN_DONE, TXN_WAITING or TXN_FAILED */
	uint32_t check_after;     /* seconds, when waiting */
	X509 *cert;               /* when done */
	STACK_OF(X509) * chain;   /* when done: issuer first, to the anchor */
	STACK_OF(X509) * ca_pubs; /* when done, if the CA sent any */
	int pki_status;           /* the CA's PKIStatus; -1 when none */
	uint32_t fail_info;       /* the CA's PKIFailureInfo bits */
	char **texts;             /* the CA's statusString */
	size_t n_texts;
	cmpd_err error;       /* when failed */
	char error_text[768]; /* when failed: one line a person acts on */
	int has_genm;         /* GENM done: genm holds the answer */
	struct nw_genm_result genm;
	int restart; /* failed: the transaction cannot go on, a new one may */
};

/* The keys of a transaction; only referenced. */
struct nw_txn_keys {
	EVP_PKEY *prot;    /* signature protection; NULL with a MAC */
	EVP_PKEY *new_key; /* the key to certify; NULL for RR and GENM */
	EVP_PKEY *tls;     /* the TLS client key of an https CA, or NULL */
};

void nw_txn_result_init(struct nw_txn_result *res);
void nw_txn_result_fini(struct nw_txn_result *res);

/*
 * Prepares the transaction req describes, in libctx (NULL: the default),
 * with keys. On failure returns CMPD_EINVAL (a request this transaction
 * cannot run, such as an https URL without TLS anchors, a bad subject or
 * an Ed25519 protection key) or another code, with the reason in why.
 */
cmpd_err nw_txn_new(OSSL_LIB_CTX *libctx, const Cmpd__TxnStartReq *req,
    const struct nw_txn_keys *keys, struct nw_txn **out, char *why,
    size_t whylen);

/*
 * Runs the next step: the first request, or the next poll after the CA
 * said "waiting". Blocks for the network exchanges; fills res, which the
 * caller initialised and finalises.
 */
void nw_txn_step(struct nw_txn *t, struct nw_txn_result *res);

/*
 * Keeps an answer of the CA durably before the transaction acts on it
 * (the broker's store): der is the whole PKIMessage; replaces_last says
 * it takes the place of the previous answer to a pollReq. Returns CMPD_OK
 * once it is kept, or a code with the reason in why; the transaction then
 * stops there.
 */
typedef cmpd_err (*nw_txn_save_fn)(void *arg, const char *job,
    const uint8_t *der, size_t len, int replaces_last, char *why,
    size_t whylen);

/*
 * Certificate requests keep the CA's answers with fn from now on, so that
 * the transaction can be rebuilt after a restart (TxnStartReq.resume).
 */
void nw_txn_saver_set(struct nw_txn *t, nw_txn_save_fn fn, void *arg);

/* Whether the last step ended waiting for the CA. */
int nw_txn_waiting(const struct nw_txn *t);

/*
 * Tells the CA that a waiting transaction is given up (an error message),
 * best effort; does nothing for a transaction that is not waiting.
 */
void nw_txn_abort(struct nw_txn *t);

void nw_txn_free(struct nw_txn *t);

/* The job the transaction belongs to. */
const char *nw_txn_job(const struct nw_txn *t);
