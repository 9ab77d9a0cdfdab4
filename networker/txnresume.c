/*
 * Transactions that survive a restart. OpenSSL's CMP context cannot be
 * saved, and 3.0 has no setter for the state a waiting transaction is in
 * (recipNonce, status "waiting"). So every answer the transaction will
 * need later is kept in the broker's store before OpenSSL acts on it, and
 * a new context is brought back to the same point by replaying them: it
 * builds its requests again (same transactionID, signed again by the
 * keyworker) and the transfer callback answers each one with the kept
 * answer instead of sending it. Before an answer goes in, the context's
 * senderNonce is set to the answer's recipNonce, which is the public way
 * to make OpenSSL accept an answer to a request it did not send itself.
 *
 * What is kept: the first answer to the certificate request, the latest
 * answer to a pollReq (a newer one replaces it) and the pkiconf. That is
 * enough: OpenSSL 3.0 sends its first pollReq in the same step as the
 * request, and after the latest pollRep the next pollReq needs only that
 * answer's senderNonce. An answer with the certificate is kept before
 * the certConf goes out, and the CA's pkiconf before the job is done, so
 * a crash anywhere after the CA's answer neither loses the certificate
 * nor confirms it twice.
 */
#include <limits.h>
#include <openssl/cmp.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "txn_int.h"

#define RESUME_WHY(...) \
	snprintf(t->resume_text, sizeof(t->resume_text), __VA_ARGS__)

void
nw_txn_saver_set(struct nw_txn *t, nw_txn_save_fn fn, void *arg)
{
	CMPD_MAGIC_CHECK(t, NW_TXN_MAGIC);
	t->save = fn;
	t->save_arg = arg;
}

cmpd_err
nw_txn_replay_set(struct nw_txn *t, const Cmpd__TxnStartReq *r)
{
	if (r->n_resume == 0)
		return CMPD_OK;
	if ((t->replay = calloc(r->n_resume, sizeof(*t->replay))) == NULL)
		return CMPD_ENOMEM;
	for (size_t i = 0; i < r->n_resume; i++) {
		if ((t->replay[i].der = malloc(r->resume[i].len)) == NULL)
			return CMPD_ENOMEM;
		memcpy(t->replay[i].der, r->resume[i].data, r->resume[i].len);
		t->replay[i].len = r->resume[i].len;
		t->n_replay++;
	}
	t->n_kept = t->n_replay;
	log_info("job %s: resuming the transaction from %zu kept answer%s",
	    t->job, t->n_replay, t->n_replay == 1 ? "" : "s");
	return CMPD_OK;
}

int
nw_txn_replaying(const struct nw_txn *t)
{
	return t->next_replay < t->n_replay;
}

void
nw_txn_replay_free(struct nw_txn *t)
{
	for (size_t i = 0; i < t->n_replay; i++)
		free(t->replay[i].der);
	free(t->replay);
	t->replay = NULL;
	t->n_replay = t->next_replay = 0;
}

static int
is_cert_rep(int type)
{
	return type == NW_BODY_IP || type == NW_BODY_CP || type == NW_BODY_KUP;
}

/* The answer a request of type req_type could have had. */
static int
answer_fits(int req_type, int rep_type)
{
	switch (req_type) {
	case NW_BODY_IR:
		return rep_type == NW_BODY_IP;
	case NW_BODY_CR:
	case NW_BODY_P10CR:
		return rep_type == NW_BODY_CP;
	case NW_BODY_KUR:
		return rep_type == NW_BODY_KUP;
	case NW_BODY_POLLREQ:
		return rep_type == NW_BODY_POLLREP || is_cert_rep(rep_type);
	case NW_BODY_CERTCONF:
		return rep_type == NW_BODY_PKICONF;
	default:
		return 0;
	}
}

static int
same_tid(const struct nw_txn *t, const OSSL_CMP_MSG *m)
{
	const ASN1_OCTET_STRING *tid =
	    OSSL_CMP_HDR_get0_transactionID(OSSL_CMP_MSG_get0_header(m));

	return tid != NULL && ASN1_STRING_length(tid) == NW_TID_LEN &&
	    memcmp(ASN1_STRING_get0_data(tid), t->tid, NW_TID_LEN) == 0;
}

static OSSL_CMP_MSG *
replay_decode(const struct nw_txn_kept *k)
{
	const unsigned char *p = k->der;
	OSSL_CMP_MSG *m;

	if (k->len > LONG_MAX)
		return NULL;
	m = d2i_OSSL_CMP_MSG(NULL, &p, (long)k->len);
	if (m != NULL && p != k->der + k->len) {
		OSSL_CMP_MSG_free(m);
		return NULL;
	}
	return m;
}

OSSL_CMP_MSG *
nw_txn_replay_answer(struct nw_txn *t, const OSSL_CMP_MSG *req)
{
	int req_type = OSSL_CMP_MSG_get_bodytype(req);
	const struct nw_txn_kept *k = &t->replay[t->next_replay];
	OSSL_CMP_MSG *rep = replay_decode(k);
	ASN1_OCTET_STRING *nonce;

	if (rep == NULL || !same_tid(t, rep)) {
		RESUME_WHY("kept answer %zu of %zu is %s", t->next_replay + 1,
		    t->n_replay,
		    rep == NULL ? "no PKIMessage" : "of another transaction");
		goto broken;
	}
	if (!answer_fits(req_type, OSSL_CMP_MSG_get_bodytype(rep))) {
		RESUME_WHY("kept answer %zu of %zu (body %d) does not answer "
		           "our %.20s",
		    t->next_replay + 1, t->n_replay,
		    OSSL_CMP_MSG_get_bodytype(rep), t->sending);
		goto broken;
	}
	nonce = OSSL_CMP_HDR_get0_recipNonce(OSSL_CMP_MSG_get0_header(rep));
	if (nonce == NULL || !OSSL_CMP_CTX_set1_senderNonce(t->ctx, nonce)) {
		RESUME_WHY(
		    "kept answer %zu has no recipNonce", t->next_replay + 1);
		goto broken;
	}
	t->next_replay++;
	log_info("job %s: %s answered from kept answer %zu of %zu", t->job,
	    t->sending, t->next_replay, t->n_replay);
	return rep;
broken:
	OSSL_CMP_MSG_free(rep);
	t->replay_broken = 1;
	log_warn("job %s: %s", t->job, t->resume_text);
	return NULL;
}

/*
 * Only what rebuilds a certificate request: answers to the request itself
 * and to pollReqs that carry a certificate response or a pollRep. A
 * rejection or an error ends the transaction anyway.
 */
static int
keep_needed(const struct nw_txn *t, int req_type, int rep_type)
{
	return t->save != NULL && nw_txn_is_certreq(t) &&
	    answer_fits(req_type, rep_type);
}

int
nw_txn_keep(struct nw_txn *t, const OSSL_CMP_MSG *req, const OSSL_CMP_MSG *rep)
{
	int req_type = OSSL_CMP_MSG_get_bodytype(req);
	int replaces = req_type == NW_BODY_POLLREQ && t->n_kept >= 2;
	unsigned char *der = NULL;
	char why[256] = "";
	cmpd_err rv;
	int len;

	if (!keep_needed(t, req_type, OSSL_CMP_MSG_get_bodytype(rep)))
		return 1;
	if ((len = i2d_OSSL_CMP_MSG(rep, &der)) <= 0) {
		RESUME_WHY("cannot encode the CA's answer to keep it");
		t->save_failed = 1;
		return 0;
	}
	rv = t->save(
	    t->save_arg, t->job, der, (size_t)len, replaces, why, sizeof(why));
	OPENSSL_free(der);
	if (rv != CMPD_OK) {
		RESUME_WHY("cannot keep the CA's answer to our %.20s, so the "
		           "transaction stops here: %.250s",
		    t->sending, why[0] ? why : cmpd_strerror(rv));
		t->save_failed = 1;
		return 0;
	}
	if (!replaces)
		t->n_kept++;
	return 1;
}
