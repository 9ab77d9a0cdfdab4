/*
 * The form of the broker's TxnStartReq, checked before anything of it is
 * used: the ids, the operation and what it needs (a new key, the
 * certificate to update or revoke, a CRLReason, a genm type), exactly one
 * protection, keys whose ids are their SPKIs', TLS settings that go
 * together. What only a CA or OpenSSL can judge (a URL, a certificate's
 * DER) is left to nw_txn_new, which fails the job instead.
 */
#include "startcheck.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ipc.h"
#include "keyid.h"
#include "util.h"

#define WHY(...) (snprintf(why, whylen, __VA_ARGS__), -1)

int
nw_check_job_id(const char *id)
{
	return cmpd_is_hex_id(id, CMPD_JOB_ID_LEN) &&
	    strlen(id) == CMPD_JOB_ID_LEN;
}

/* A key: its id is the one its SubjectPublicKeyInfo names (keyid.h). */
static int
check_key(const Cmpd__KeyInfo *k)
{
	char id[CMPD_KEY_ID_LEN + 1];

	return k != NULL && cmpd_is_hex_id(k->id, 32) && strlen(k->id) == 32 &&
	    k->type != CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED &&
	    k->spki.len > 0 &&
	    cmpd_key_id_from_spki(k->spki.data, k->spki.len, id) == CMPD_OK &&
	    strcmp(id, k->id) == 0;
}

static int
check_der_list(const ProtobufCBinaryData *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (d[i].len == 0)
			return 0;
	return 1;
}

int
nw_op_has_new_key(Cmpd__CmpOp op)
{
	return op == CMPD__CMP_OP__CMP_OP_IR || op == CMPD__CMP_OP__CMP_OP_CR ||
	    op == CMPD__CMP_OP__CMP_OP_KUR || op == CMPD__CMP_OP__CMP_OP_P10CR;
}

int
nw_url_is_https(const char *url)
{
	return strncasecmp(url, "https://", 8) == 0;
}

/* The protection: exactly one of a signature key with its certificate
 * and a MAC secret with its reference. */
static int
check_protection(const Cmpd__TxnStartReq *r, char *why, size_t whylen)
{
	int sig = r->protection_key != NULL || r->n_protection_certs > 0;
	int mac = r->mac_secret.len > 0 || cmpd_str_set(r->mac_reference);

	if (sig == mac)
		return WHY("need exactly one of signature and MAC protection");
	if (sig &&
	    (!check_key(r->protection_key) || r->n_protection_certs == 0 ||
	        !check_der_list(r->protection_certs, r->n_protection_certs)))
		return WHY("signature protection needs a valid key and its "
		           "certificate");
	if (mac && (r->mac_secret.len == 0 || !cmpd_str_set(r->mac_reference)))
		return WHY("MAC protection needs a secret and a reference");
	return 0;
}

/*
 * KUR: the old certificate protects its own update, so it is the first
 * protection certificate; a kept key has the protection key's id.
 */
static int
check_kur(const Cmpd__TxnStartReq *r, char *why, size_t whylen)
{
	const ProtobufCBinaryData *own = &r->protection_certs[0];

	if (r->protection_key == NULL)
		return WHY(
		    "job %s: KUR without signature protection", r->job_id);
	if (own->len != r->old_cert.len ||
	    memcmp(own->data, r->old_cert.data, own->len) != 0)
		return WHY("job %s: KUR's old_cert is not protection_certs[0]",
		    r->job_id);
	if (strcmp(r->new_key->id, r->protection_key->id) == 0 &&
	    r->new_key->type != r->protection_key->type)
		return WHY("job %s: the kept key changed its type", r->job_id);
	return 0;
}

/* What each operation needs beyond the common fields. */
static int
check_op(const Cmpd__TxnStartReq *r, char *why, size_t whylen)
{
	int reason = r->revocation_reason;

	if ((r->op == CMPD__CMP_OP__CMP_OP_P10CR) != r->p10cr)
		return WHY(
		    "job %s: p10cr does not match the operation", r->job_id);
	if ((r->op == CMPD__CMP_OP__CMP_OP_KUR ||
	        r->op == CMPD__CMP_OP__CMP_OP_RR) &&
	    r->old_cert.len == 0)
		return WHY("job %s: KUR and RR need old_cert", r->job_id);
	if (r->op == CMPD__CMP_OP__CMP_OP_KUR)
		return check_kur(r, why, whylen);
	/* CRLReason (RFC 5280 5.3.1): 0-10 without 7; -1 for none. */
	if (r->op == CMPD__CMP_OP__CMP_OP_RR &&
	    (reason < -1 || reason > 10 || reason == 7))
		return WHY("job %s: revocation reason %d is not a CRLReason",
		    r->job_id, reason);
	if (r->op == CMPD__CMP_OP__CMP_OP_GENM &&
	    (r->genm_type <= CMPD__GENM_TYPE__GENM_TYPE_UNSPECIFIED ||
	        r->genm_type > CMPD__GENM_TYPE__GENM_CERT_REQ_TEMPLATE))
		return WHY("job %s: genm type %d is not known", r->job_id,
		    (int)r->genm_type);
	return 0;
}

/* An https CA: a TLS client key comes with its certificate. */
static int
check_tls(const Cmpd__TxnStartReq *r, char *why, size_t whylen)
{
	if (!nw_url_is_https(r->server_url))
		return 0;
	if ((r->tls_key != NULL) != (r->n_tls_certs > 0))
		return WHY("job %s: a TLS client key and its certificates "
		           "come together",
		    r->job_id);
	if (r->tls_key != NULL && !check_key(r->tls_key))
		return WHY("job %s: bad TLS client key", r->job_id);
	if (!check_der_list(r->tls_trusted, r->n_tls_trusted) ||
	    !check_der_list(r->tls_certs, r->n_tls_certs))
		return WHY(
		    "job %s: empty TLS certificate in a list", r->job_id);
	return 0;
}

int
nw_check_start(const Cmpd__TxnStartReq *r, char *why, size_t whylen)
{
	if (!nw_check_job_id(r->job_id))
		return WHY("bad job id");
	if (r->op <= CMPD__CMP_OP__CMP_OP_UNSPECIFIED ||
	    r->op > CMPD__CMP_OP__CMP_OP_GENM)
		return WHY("job %s: no operation", r->job_id);
	if (r->transaction_id.len != 16)
		return WHY("job %s: transaction_id is not 16 bytes", r->job_id);
	if (!cmpd_str_set(r->server_url))
		return WHY("job %s: no server URL", r->job_id);
	if (check_protection(r, why, whylen) != 0)
		return -1;
	if (nw_op_has_new_key(r->op) && !check_key(r->new_key))
		return WHY("job %s: no valid new key", r->job_id);
	if (check_op(r, why, whylen) != 0 || check_tls(r, why, whylen) != 0)
		return -1;
	if (!check_der_list(r->trusted, r->n_trusted) ||
	    !check_der_list(r->untrusted, r->n_untrusted) ||
	    !check_der_list(r->enroll_trusted, r->n_enroll_trusted))
		return WHY("job %s: empty certificate in a list", r->job_id);
	for (size_t i = 0; i < r->n_sans; i++)
		if (!cmpd_str_set(r->sans[i]))
			return WHY("job %s: empty subjectAltName", r->job_id);
	/* txnresume.c keeps at most three answers, of certificate requests. */
	if (r->n_resume > 3 || (r->n_resume > 0 && !nw_op_has_new_key(r->op)) ||
	    !check_der_list(r->resume, r->n_resume))
		return WHY("job %s: bad answers to resume from", r->job_id);
	return 0;
}
