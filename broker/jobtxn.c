/*
 * What the keyworker is granted and what the networker is asked for a job:
 * the profile's settings, the job's own, and the certificate whose key
 * protects the request (the supplier's, a tracked certificate's for KUR
 * and RR, another profile's for CR).
 */
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "job_int.h"
#include "keyid.h"
#include "log.h"
#include "util.h"
#include "x509fast.h"

/* The key and certificates that sign a job's messages, if a key does. */
struct signer {
	int mac; /* protected by the profile's MAC */
	Cmpd__KeyInfo key;
	ProtobufCBinaryData *certs; /* the certificate, then its chain */
	size_t n_certs;
	ProtobufCBinaryData spki;   /* owned when taken from a record */
	ProtobufCBinaryData *owned; /* certs, when built here */
};

cmpd_err
job_cert_spki(const ProtobufCBinaryData *cert, ProtobufCBinaryData *out)
{
	X509 *x = cmpd_x509_fields(cert->data, cert->len);
	unsigned char *der = NULL;
	int len =
	    x != NULL ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der) : -1;

	X509_free(x);
	if (len <= 0)
		return CMPD_EBADCERT;
	out->data = malloc((size_t)len);
	if (out->data != NULL)
		memcpy(out->data, der, (size_t)len);
	out->len = (size_t)len;
	OPENSSL_free(der);
	return out->data != NULL ? CMPD_OK : CMPD_ENOMEM;
}

/* A tracked certificate signs: its certificate, its chain, its key. */
static cmpd_err
signer_from_record(struct signer *s, const Cmpd__CertRecord *rec)
{
	cmpd_err rv;

	if ((rv = job_cert_spki(&rec->cert, &s->spki)) != CMPD_OK)
		return rv;
	s->owned = calloc(rec->n_chain + 1, sizeof(*s->owned));
	if (s->owned == NULL)
		return CMPD_ENOMEM;
	s->owned[0] = rec->cert;
	memcpy(&s->owned[1], rec->chain, rec->n_chain * sizeof(*rec->chain));
	s->certs = s->owned;
	s->n_certs = rec->n_chain + 1;
	s->key.id = rec->key_id;
	s->key.type = rec->key_type;
	s->key.spki = s->spki;
	if (s->key.type == CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED) {
		const unsigned char *p = s->spki.data;
		EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)s->spki.len);

		/* Records of cmpd 0.1 did not say; the certificate does. */
		s->key.type = k != NULL ? cmpd_key_type_of(k) : s->key.type;
		EVP_PKEY_free(k);
	}
	return CMPD_OK;
}

static cmpd_err
signer_get(const struct job *job, struct signer *s)
{
	const struct profile *pr = job_profile(job);
	Cmpd__CmpOp op = job->rec->op;

	memset(s, 0, sizeof(*s));
	cmpd__key_info__init(&s->key);
	if (op == OP(KUR) || op == OP(RR))
		return signer_from_record(s, job->target);
	switch (pr->protection) {
	case PROTECTION_SIGNATURE:
		s->key.id = (char *)pr->cert.key_id;
		s->key.type = pr->cert.key_type;
		s->key.spki = pr->cert.spki;
		s->certs = pr->cert.certs.der;
		s->n_certs = pr->cert.certs.n;
		return CMPD_OK;
	case PROTECTION_CERTIFICATE:
		return signer_from_record(s, job->signer);
	default:
		s->mac = 1;
		return CMPD_OK;
	}
}

static void
signer_free(struct signer *s)
{
	free(s->spki.data);
	free(s->owned);
}

/* The grant alone, or (gen set) inside the request for the new key. */
static cmpd_err
grant_send(struct job *job, Cmpd__KeyGenerateReq *gen, worker_reply_cb cb)
{
	const struct profile *pr = job_profile(job);
	Cmpd__GrantReq g = CMPD__GRANT_REQ__INIT;
	struct signer s;
	cmpd_env env;
	cmpd_err rv;

	if ((rv = signer_get(job, &s)) != CMPD_OK)
		return rv;
	g.job_id = job->rec->id;
	g.op = job->rec->op;
	g.transaction_id = job->rec->transaction_id;
	g.protection_key_id = s.mac ? "" : s.key.id;
	g.new_key_id = gen != NULL ? "" : job->rec->key_id;
	g.tls_key_id =
	    pr->tls_client.certs.n > 0 ? (char *)pr->tls_client.key_id : "";
	cmpd_env_init(&env, 0);
	if (gen != NULL) {
		gen->grant = &g;
		env.body_case = CMPD__ENVELOPE__BODY_KEY_GENERATE_REQ;
		env.key_generate_req = gen;
	} else {
		env.body_case = CMPD__ENVELOPE__BODY_GRANT_REQ;
		env.grant_req = &g;
	}
	rv = worker_request(&job->b->keyworker, &env, cb, job);
	signer_free(&s);
	return rv;
}

cmpd_err
job_send_grant(struct job *job, worker_reply_cb cb)
{
	return grant_send(job, NULL, cb);
}

cmpd_err
job_send_keygen(struct job *job, worker_reply_cb cb)
{
	Cmpd__KeyGenerateReq gen = CMPD__KEY_GENERATE_REQ__INIT;

	gen.type = job->rec->key_type;
	gen.job_id = job->rec->id;
	return grant_send(job, &gen, cb);
}

static const char *
or_empty(const char *s)
{
	return s != NULL ? s : "";
}

/* The CA, how to trust it and how long to wait for it. */
static void
txn_fill_ca(Cmpd__TxnStartReq *t, const struct profile *pr,
    const Cmpd__Job *rec, Cmpd__KeyInfo *tls)
{
	int64_t left = rec->deadline - cmpd_time_now();

	t->server_url = pr->server;
	t->proxy = (char *)or_empty(pr->proxy);
	t->no_proxy = (char *)or_empty(pr->no_proxy);
	t->msg_timeout = pr->msg_timeout;
	t->no_keep_alive = !pr->keep_alive;
	if (rec->deadline > 0)
		t->total_timeout = left > 0 ? (uint32_t)left : 1;
	t->n_trusted = pr->trusted.n;
	t->trusted = pr->trusted.der;
	t->n_untrusted = pr->untrusted.n;
	t->untrusted = pr->untrusted.der;
	t->n_enroll_trusted = pr->enroll_trusted.n;
	t->enroll_trusted = pr->enroll_trusted.der;
	t->trust_capubs = pr->trust_capubs;
	if (pr->srv_cert.n > 0)
		t->srv_cert = pr->srv_cert.der[0];
	t->recipient = (char *)or_empty(pr->recipient);
	t->expected_sender = (char *)or_empty(pr->expected_sender);
	t->n_tls_trusted = pr->tls_trusted.n;
	t->tls_trusted = pr->tls_trusted.der;
	if (pr->tls_client.certs.n > 0) {
		tls->id = (char *)pr->tls_client.key_id;
		tls->type = pr->tls_client.key_type;
		tls->spki = pr->tls_client.spki;
		t->tls_key = tls;
		t->n_tls_certs = pr->tls_client.certs.n;
		t->tls_certs = pr->tls_client.certs.der;
	}
}

/* What is asked, by whom, with which keys. */
static void
txn_fill_request(Cmpd__TxnStartReq *t, const struct job *job, struct signer *s,
    Cmpd__KeyInfo *newkey)
{
	const struct profile *pr = job_profile(job);
	Cmpd__Job *rec = job->rec;

	t->job_id = rec->id;
	t->op = rec->op;
	t->transaction_id = rec->transaction_id;
	if (s->mac) {
		t->mac_secret.data = pr->mac_secret.data;
		t->mac_secret.len = pr->mac_secret.len;
		t->mac_reference = pr->mac_reference;
	} else {
		t->protection_key = &s->key;
		t->n_protection_certs = s->n_certs;
		t->protection_certs = s->certs;
	}
	if (cmpd_str_set(rec->key_id)) {
		newkey->id = rec->key_id;
		newkey->type = rec->key_type;
		newkey->spki = rec->key_spki;
		t->new_key = newkey;
	}
	t->subject = rec->subject;
	t->n_sans = rec->n_sans;
	t->sans = rec->sans;
	t->implicit_confirm = pr->implicit_confirm;
	t->validity_days = pr->validity_days;
	t->p10cr = rec->op == OP(P10CR);
	t->revocation_reason = rec->revocation_reason;
	if (job->target != NULL && (rec->op == OP(KUR) || rec->op == OP(RR)))
		t->old_cert = job->target->cert;
	if (rec->genm != NULL)
		t->genm_type = rec->genm->type;
	t->n_resume = rec->n_txn_messages;
	t->resume = rec->txn_messages;
}

cmpd_err
job_send_txn(struct job *job, worker_reply_cb cb)
{
	Cmpd__TxnStartReq t = CMPD__TXN_START_REQ__INIT;
	Cmpd__KeyInfo newkey = CMPD__KEY_INFO__INIT;
	Cmpd__KeyInfo tls = CMPD__KEY_INFO__INIT;
	struct signer s;
	cmpd_env env;
	cmpd_err rv;

	if ((rv = signer_get(job, &s)) != CMPD_OK)
		return rv;
	txn_fill_ca(&t, job_profile(job), job->rec, &tls);
	txn_fill_request(&t, job, &s, &newkey);
	cmpd_env_init(&env, 0);
	env.body_case = CMPD__ENVELOPE__BODY_TXN_START_REQ;
	env.txn_start_req = &t;
	rv = worker_request(&job->b->networker, &env, cb, job);
	if (rv == CMPD_OK)
		job->txn_lost = 0;
	signer_free(&s);
	return rv;
}
