/*
 * The fixture of the transaction tests against the `openssl cmp -port`
 * mock server (test_networker_txn.c) and of the transport tests
 * (test_networker_transport.c): a request, software keys, one
 * transaction and its result.
 */
#pragma once

#include <sys/types.h>

#include "cmpd.pb-c.h"
#include "txn.h"

/* The mock's common arguments: signer, trust, fixed answer. */
#define MOCK_SIG                                                    \
	"-srv_cert srv.crt -srv_key srv.key -srv_trusted root.crt " \
	"-rsp_cert rsp.crt "
#define MOCK_FULL MOCK_SIG "-rsp_extracerts root.crt -rsp_capubs root.crt "

struct fx {
	pid_t mock;
	int port;
	Cmpd__TxnStartReq *req;
	EVP_PKEY *prot, *new_key;
	struct nw_txn *txn;
	struct nw_txn_result res;
	char why[512];
};

/*
 * A mock started with mock_args (NULL: none; the URL's port 1 is then
 * closed), an IR to it protected by sup, new key rsp's.
 */
struct fx *fx_new(const char *mock_args);
void fx_free(struct fx *f);

/* Prepares the transaction; its result code. */
cmpd_err fx_prepare(struct fx *f);

/* Prepares and runs one step. */
void fx_run(struct fx *f);

/* The step failed with code and a text that contains text. */
void assert_failed(struct fx *f, cmpd_err code, const char *text);

/* The step issued rsp.crt. */
void assert_done(struct fx *f);
