/*
 * libFuzzer target: every IPC decoder. The input is one nng message body
 * as a peer would send it. It goes through cmpd_ipc_unpack (size bound,
 * memory budget, version, body, string, repeated and enum limits) and then
 * through the form checks its receiver runs before acting on it:
 *  - SignReq: the keyworker signer's kw_sign_req_check;
 *  - GrantReq: the keyworker's kw_grant_req_check;
 *  - TxnStartReq: the networker's nw_check_start, then (as the networker
 *    does when that passes) nw_txn_new, which decodes every certificate,
 *    name, URL and option of the transaction.
 * A message that decodes must encode again, and that encoding is stable.
 */
#include <nng/nng.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grant.h"
#include "ipc.h"
#include "log.h"
#include "sign.h"
#include "startcheck.h"
#include "txn.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *prot_key, *new_key, *tls_key;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	cmpd_log_init("fuzz-ipc", CMPD_LOG_ERR - 1);
	if ((prot_key = EVP_EC_gen("P-256")) == NULL ||
	    (new_key = EVP_EC_gen("P-256")) == NULL ||
	    (tls_key = EVP_EC_gen("P-256")) == NULL)
		abort();
	return 0;
}

/* The keys the networker would make for req (serve.c serve_keys_new). */
static void
txn_keys(const Cmpd__TxnStartReq *req, struct nw_txn_keys *keys)
{
	if (req->protection_key != NULL)
		keys->prot = prot_key;
	if (nw_op_has_new_key(req->op))
		keys->new_key = new_key;
	if (req->tls_key != NULL && nw_url_is_https(req->server_url))
		keys->tls = tls_key;
}

static void
txn_check(const Cmpd__TxnStartReq *req)
{
	struct nw_txn_keys keys = { 0 };
	struct nw_txn *t = NULL;
	char why[512];

	if (nw_check_start(req, why, sizeof(why)) != 0)
		return;
	txn_keys(req, &keys);
	if (nw_txn_new(NULL, req, &keys, &t, why, sizeof(why)) == CMPD_OK)
		nw_txn_free(t);
	else if (why[0] == '\0')
		abort(); /* a refusal always says why */
}

static void
receiver_check(const cmpd_env *env)
{
	struct kw_why why = { { 0 } };

	switch (env->body_case) {
	case CMPD__ENVELOPE__BODY_SIGN_REQ:
		(void)kw_sign_req_check(env->sign_req, &why);
		break;
	case CMPD__ENVELOPE__BODY_GRANT_REQ:
		(void)kw_grant_req_check(env->grant_req, &why);
		break;
	case CMPD__ENVELOPE__BODY_TXN_START_REQ:
		txn_check(env->txn_start_req);
		break;
	default:
		break;
	}
}

/* Packs env; decodes that; packs again: the same bytes. */
static void
roundtrip_check(const cmpd_env *env)
{
	nng_msg *a = NULL, *b = NULL;
	cmpd_env *again = NULL;

	if (cmpd_ipc_pack(env, &a) != CMPD_OK)
		abort();
	if (cmpd_ipc_unpack(a, CMPD_IPC_MAX_CLIENT_REP, &again) == CMPD_OK) {
		if (cmpd_ipc_pack(again, &b) != CMPD_OK ||
		    nng_msg_len(a) != nng_msg_len(b) ||
		    memcmp(nng_msg_body(a), nng_msg_body(b), nng_msg_len(a)) !=
		        0)
			abort();
		nng_msg_free(b);
		cmpd_ipc_free(again);
	}
	nng_msg_free(a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	nng_msg *msg = NULL;
	cmpd_env *env = NULL;

	if (nng_msg_alloc(&msg, size) != 0)
		return 0;
	if (size > 0)
		memcpy(nng_msg_body(msg), data, size);
	/* The smallest limit refuses what is longer, before decoding. */
	if (size > CMPD_IPC_MAX_SIGN &&
	    cmpd_ipc_unpack(msg, CMPD_IPC_MAX_SIGN, &env) != CMPD_EPROTO)
		abort();
	if (cmpd_ipc_unpack(msg, CMPD_IPC_MAX_CLIENT_REP, &env) == CMPD_OK) {
		if (cmpd_env_body_name(env) == NULL)
			abort();
		receiver_check(env);
		roundtrip_check(env);
		cmpd_ipc_free(env);
	}
	nng_msg_free(msg);
	return 0;
}
