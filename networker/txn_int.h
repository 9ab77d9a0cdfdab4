/*
 * What txn.c (building the CMP context from a request) and txnstep.c
 * (running it and reading the outcome) share.
 */
#pragma once

#include <openssl/cmp.h>

#include "certcheck.h"
#include "txn.h"
#include "util.h"

#define NW_TXN_MAGIC 0x6e777478u /* "nwtx" */
#define NW_TID_LEN   16

struct nw_txn {
	uint32_t magic;
	char job[CMPD_JOB_ID_LEN + 1];
	char *url;
	char *host; /* of url, and whether a proxy stands between */
	int port;
	int proxied;
	Cmpd__CmpOp op;
	int req_type; /* OSSL_CMP_IR, _CR or _KUR for certificate requests */
	uint8_t tid[NW_TID_LEN];
	OSSL_LIB_CTX *libctx;
	OSSL_CMP_CTX *ctx;

	/* The certConf decision: inputs, and what it found. */
	struct nw_certcheck check;
	uint8_t *spki;
	STACK_OF(X509) * chain;
	int rejected;
	int reject_bits; /* the PKIFailureInfo we answered with */
	int ca_status;
	char reject_text[512];

	/* What the transfer callback saw in the current step. */
	int transfer_failed;
	int tid_mismatch;
	int waiting;
};

/* Installs the callbacks of txnstep.c on t->ctx. */
int nw_txn_callbacks_set(struct nw_txn *t);

/* id-it-caCerts (RFC 9483 4.3.1), the genm this networker sends. */
#define NW_OID_IT_CACERTS "1.3.6.1.5.5.7.4.17"

/* The certificates of a caCerts answer in genp's ITAVs (txngenm.c). */
cmpd_err nw_txn_cacerts_take(const struct nw_txn *t,
    STACK_OF(OSSL_CMP_ITAV) * itavs, STACK_OF(X509) * *out);
