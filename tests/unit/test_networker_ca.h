/*
 * The project's test CA (`cmpd-testca serve`, tests/testca) as a peer of
 * the networker tests: started on 127.0.0.1 with its PKI in the test's
 * PKI directory (ca/), requests for it, and transactions run to their end.
 */
#pragma once

#include <sys/types.h>

#include "cmpd.pb-c.h"
#include "txn.h"

struct nwt_ca {
	pid_t pid;
	int port;
};

/* Makes the test PKI (nwt_pki_make) and the CA's in PKI/ca; 0 on success. */
int nwt_ca_init(void);

/* Starts `cmpd-testca serve PKI/ca --quiet OPTS` and waits for its port. */
void nwt_ca_start(struct nwt_ca *ca, const char *opts);
void nwt_ca_stop(struct nwt_ca *ca);

/*
 * An IR for the CA over http: protection by the supplier certificate,
 * root.pem as the anchor of its messages and of new certificates, the
 * issuing CA as recipient.
 */
Cmpd__TxnStartReq *nwt_ca_req_new(const struct nwt_ca *ca, const char *subject);

/* Replaces the URL with scheme://127.0.0.1:port path. */
void nwt_ca_url_set(Cmpd__TxnStartReq *r, const struct nwt_ca *ca,
    const char *scheme, const char *path);

/* Runs the transaction to its end, polling as the CA says (sleeping). */
void nwt_txn_run(Cmpd__TxnStartReq *r, OSSL_LIB_CTX *libctx,
    const struct nw_txn_keys *keys, struct nw_txn_result *res, int *waits);

/* The result is TXN_DONE with a certificate for key chaining ca -> root. */
void nwt_assert_issued(struct nw_txn_result *res, EVP_PKEY *key);

/* The result failed with code and a text that contains text. */
void nwt_assert_failed(
    const struct nw_txn_result *res, cmpd_err code, const char *text);
