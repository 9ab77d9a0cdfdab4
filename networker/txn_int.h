/*
 * What the transaction files share: txn.c (building the CMP context from a
 * request), txnreq.c (what each operation sends), txngenm.c (general
 * messages), txnstep.c (running a step) and txnfail.c (what a failure
 * tells a person).
 */
#pragma once

#include <openssl/cmp.h>

#include "certcheck.h"
#include "transport.h"
#include "txn.h"
#include "util.h"

#define NW_TXN_MAGIC 0x6e777478u /* "nwtx" */

/* PKIBody choices (RFC 9810 5.1.2); OpenSSL 3.0 keeps its names private. */
enum nw_body {
	NW_BODY_IR = 0,
	NW_BODY_IP = 1,
	NW_BODY_CR = 2,
	NW_BODY_CP = 3,
	NW_BODY_P10CR = 4,
	NW_BODY_KUR = 7,
	NW_BODY_KUP = 8,
	NW_BODY_PKICONF = 19,
	NW_BODY_ERROR = 23,
	NW_BODY_CERTCONF = 24,
	NW_BODY_POLLREQ = 25,
	NW_BODY_POLLREP = 26,
};
#define NW_TID_LEN 16

struct nw_txn {
	uint32_t magic;
	char job[CMPD_JOB_ID_LEN + 1];
	char *url;
	struct nw_transport *transport;
	Cmpd__CmpOp op;
	int req_type; /* OSSL_CMP_IR, _CR, _P10CR or _KUR */
	Cmpd__GenmType genm_type;
	uint8_t tid[NW_TID_LEN];
	uint32_t total_timeout; /* seconds; 0: none */
	OSSL_LIB_CTX *libctx;
	OSSL_CMP_CTX *ctx;
	X509 *old_root; /* rootCaKeyUpdate: the current anchor, trusted[0] */

	/* The certConf decision: inputs, and what it found. */
	struct nw_certcheck check;
	uint8_t *spki;
	STACK_OF(X509) * chain;
	int rejected;
	int reject_bits; /* the PKIFailureInfo we answered with */
	int ca_status;
	char reject_text[512];

	/*
	 * Resuming (txnresume.c): the CA's kept answers, replayed in order
	 * to requests that are built again but not sent; then how many
	 * answers this transaction has kept, and where they go.
	 */
	struct nw_txn_kept {
		uint8_t *der;
		size_t len;
	} * replay;
	size_t n_replay, next_replay;
	size_t n_kept;
	nw_txn_save_fn save;
	void *save_arg;
	int replay_broken; /* a kept answer does not fit: start anew */
	int save_failed;
	char resume_text[512]; /* why either happened */
	int live_seen;         /* a live answer came after the replay */
	int restart_hint;      /* the CA refused the resumed transaction */

	/* What the transfer callback saw in the current step. */
	const char *sending; /* the body of the message in flight */
	int transfer_failed;
	int tid_mismatch;
	int waiting;
};

#define WHY(...) snprintf(why, whylen, __VA_ARGS__)

/* Decodes one DER certificate in libctx, refusing trailing bytes. */
X509 *nw_txn_cert_decode(OSSL_LIB_CTX *libctx, const ProtobufCBinaryData *d);

/* Decodes n DER certificates; what names them in an error. */
cmpd_err nw_txn_certs_decode(OSSL_LIB_CTX *libctx, const ProtobufCBinaryData *d,
    size_t n, const char *what, STACK_OF(X509) * *out, char *why,
    size_t whylen);

/* Sets the name s ("/CN=x", empty: nothing) with set (txn.c). */
cmpd_err nw_txn_name_set(OSSL_CMP_CTX *ctx, const char *s, const char *what,
    int (*set)(OSSL_CMP_CTX *, const X509_NAME *), char *why, size_t whylen);

/*
 * What the operation sends besides the header (txnreq.c): the template
 * or PKCS#10 request of new_key, the certificate to update or revoke, the
 * revocation reason, the genm's question.
 */
cmpd_err nw_txn_body_set(struct nw_txn *t, const Cmpd__TxnStartReq *r,
    EVP_PKEY *new_key, char *why, size_t whylen);

/* Whether the operation asks for a certificate (IR, CR, P10CR, KUR). */
int nw_txn_is_certreq(const struct nw_txn *t);

/*
 * Resuming (txnresume.c). nw_txn_replay_set copies the kept answers of
 * r; nw_txn_replay_answer answers req from them while any are left
 * (NULL when the next one does not fit req: replay_broken says so);
 * nw_txn_keep keeps the live answer rep to req when the transaction
 * needs it to be rebuilt later (0 when it could not be kept).
 */
cmpd_err nw_txn_replay_set(struct nw_txn *t, const Cmpd__TxnStartReq *r);
int nw_txn_replaying(const struct nw_txn *t);
OSSL_CMP_MSG *nw_txn_replay_answer(struct nw_txn *t, const OSSL_CMP_MSG *req);
int nw_txn_keep(
    struct nw_txn *t, const OSSL_CMP_MSG *req, const OSSL_CMP_MSG *rep);
void nw_txn_replay_free(struct nw_txn *t);

/* Installs the callbacks of txnstep.c on t->ctx. */
int nw_txn_callbacks_set(struct nw_txn *t);

/*
 * General messages (txngenm.c). nw_genm_prepare keeps what the question
 * needs (the current root for rootCaKeyUpdate) and, where OpenSSL has no
 * helper, puts the question on t->ctx.
 */
cmpd_err nw_genm_prepare(
    struct nw_txn *t, const Cmpd__TxnStartReq *r, char *why, size_t whylen);

/*
 * Runs the genm exchange and checks its answer into res. Returns CMPD_OK;
 * CMPD_ETRANSPORT with why empty when the exchange itself failed (the
 * OpenSSL error queue says why); or a code with a sentence in why:
 * CMPD_EBADCERT when a root CA update fails its checks, CMPD_ETRANSPORT
 * when the answer is unusable.
 */
cmpd_err nw_genm_run(
    struct nw_txn *t, struct nw_genm_result *res, char *why, size_t whylen);

void nw_genm_result_fini(struct nw_genm_result *res);

/*
 * Sorts a failed step into the error a broker and a person can act on and
 * fills res (txnfail.c); drains the thread's OpenSSL errors.
 */
void nw_txn_fail(struct nw_txn *t, struct nw_txn_result *res);

/* The CA's PKIStatusInfo as the context kept it, into res (txnfail.c). */
void nw_txn_status_copy(const struct nw_txn *t, struct nw_txn_result *res);

/*
 * Drains the thread's OpenSSL errors into the log and one line of text
 * (txnfail.c), for failures with no further classification.
 */
void nw_txn_errors_drain(const struct nw_txn *t, char *buf, size_t len);
