/*
 * The certificates cmpd enrolled and tracks (CertListReq) and their
 * accessors.
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "keyid.h"

/* Certificates asked for at a time: a page of records is a few MB. */
#define CERT_PAGE 500

/* Adds the records of page rep (the array owns it from now on). */
static cmpd_result
cert_array_add(cmpd_client *c, cmpd_cert_array *arr, cmpd_env *rep)
{
	const Cmpd__CertListRep *l = rep->cert_list_rep;
	cmpd_env **pages;
	struct cmpd_cert *certs;

	pages = reallocarray(arr->pages, arr->n_pages + 1, sizeof(*pages));
	if (pages == NULL) {
		cmpd_ipc_free(rep);
		return client_fail(c, CMPD_RESULT_NOMEM, "out of memory");
	}
	arr->pages = pages;
	arr->pages[arr->n_pages++] = rep;
	/* One spare entry: cmpd_cert_array_free looks one past count. */
	certs = reallocarray(
	    arr->certs, arr->count + l->n_certs + 1, sizeof(*certs));
	if (certs == NULL)
		return client_fail(c, CMPD_RESULT_NOMEM, "out of memory");
	arr->certs = certs;
	memset(&certs[arr->count], 0, (l->n_certs + 1) * sizeof(*certs));
	for (size_t i = 0; i < l->n_certs; i++, arr->count++) {
		const Cmpd__CertRecord *pb = l->certs[i];
		struct cmpd_cert *cert = &arr->certs[arr->count];

		if (pb == NULL)
			return client_fail(c, CMPD_RESULT_PROTOCOL,
			    "cmpd sent an empty certificate record");
		cert->pb = pb;
		cert->pem =
		    pem_encode("CERTIFICATE", pb->cert.data, pb->cert.len);
		cert->chain_pem = pem_encode_all(pb->chain, pb->n_chain);
		if (cert->pem == NULL || cert->chain_pem == NULL)
			return client_fail(
			    c, CMPD_RESULT_NOMEM, "out of memory");
	}
	return CMPD_RESULT_OK;
}

cmpd_result
cmpd_cert_list(cmpd_client *client, const char *profile, cmpd_cert_array **out)
{
	Cmpd__CertListReq list = CMPD__CERT_LIST_REQ__INIT;
	cmpd_cert_array *arr = NULL;
	cmpd_env req, *rep = NULL;
	cmpd_result rv;

	if (client_check(client) != CMPD_RESULT_OK)
		return CMPD_RESULT_INVALID;
	if (out == NULL || (profile != NULL && !client_text_ok(profile, 256)))
		return client_fail(client, CMPD_RESULT_INVALID,
		    "invalid profile name or output");
	if ((arr = calloc(1, sizeof(*arr))) == NULL)
		return client_fail(client, CMPD_RESULT_NOMEM, "out of memory");
	list.profile = (char *)(profile != NULL ? profile : "");
	list.limit = CERT_PAGE;
	do {
		cmpd_env_init(&req, 0);
		req.body_case = CMPD__ENVELOPE__BODY_CERT_LIST_REQ;
		req.cert_list_req = &list;
		rv = client_call(
		    client, &req, CMPD__ENVELOPE__BODY_CERT_LIST_REP, 0, &rep);
		if (rv == CMPD_RESULT_OK) {
			/* A cmpd that does not page sends all with next 0. */
			list.after = rep->cert_list_rep->next;
			rv = cert_array_add(client, arr, rep);
		}
	} while (rv == CMPD_RESULT_OK && list.after > 0);
	if (rv != CMPD_RESULT_OK) {
		cmpd_cert_array_free(arr);
		return rv;
	}
	*out = arr;
	return CMPD_RESULT_OK;
}

size_t
cmpd_cert_array_count(const cmpd_cert_array *certs)
{
	return certs->count;
}

const cmpd_cert *
cmpd_cert_array_get(const cmpd_cert_array *certs, size_t i)
{
	return i < certs->count ? &certs->certs[i] : NULL;
}

void
cmpd_cert_array_free(cmpd_cert_array *certs)
{
	if (certs == NULL)
		return;
	/* count stops at a record that failed: it may hold a PEM too. */
	for (size_t i = 0; i <= certs->count && certs->certs != NULL; i++) {
		free(certs->certs[i].pem);
		free(certs->certs[i].chain_pem);
	}
	free(certs->certs);
	for (size_t i = 0; i < certs->n_pages; i++)
		cmpd_ipc_free(certs->pages[i]);
	free(certs->pages);
	free(certs);
}

const char *
cmpd_cert_profile(const cmpd_cert *cert)
{
	return cert->pb->profile;
}

const char *
cmpd_cert_job_id(const cmpd_cert *cert)
{
	return cert->pb->job_id;
}

const char *
cmpd_cert_subject(const cmpd_cert *cert)
{
	return cert->pb->subject;
}

const char *
cmpd_cert_issuer(const cmpd_cert *cert)
{
	return cert->pb->issuer;
}

const char *
cmpd_cert_serial(const cmpd_cert *cert)
{
	return cert->pb->serial;
}

int64_t
cmpd_cert_not_before(const cmpd_cert *cert)
{
	return cert->pb->not_before;
}

int64_t
cmpd_cert_not_after(const cmpd_cert *cert)
{
	return cert->pb->not_after;
}

const char *
cmpd_cert_key_id(const cmpd_cert *cert)
{
	return cert->pb->key_id;
}

const char *
cmpd_cert_path(const cmpd_cert *cert)
{
	return cert->pb->cert_path;
}

const uint8_t *
cmpd_cert_der(const cmpd_cert *cert, size_t *len)
{
	*len = cert->pb->cert.len;
	return cert->pb->cert.len > 0 ? cert->pb->cert.data : NULL;
}

const char *
cmpd_cert_pem(const cmpd_cert *cert)
{
	return cert->pem;
}

const char *
cmpd_cert_id(const cmpd_cert *cert)
{
	return cert->pb->id;
}

cmpd_cert_state
cmpd_cert_state_get(const cmpd_cert *cert)
{
	unsigned s = (unsigned)cert->pb->state;

	return s < CMPD_CERT_STATE_MAX ? (cmpd_cert_state)s
	                               : CMPD_CERT_STATE_UNKNOWN;
}

const char *
cmpd_cert_key_type(const cmpd_cert *cert)
{
	return cmpd_key_type_name(cert->pb->key_type);
}

int64_t
cmpd_cert_next_renewal(const cmpd_cert *cert)
{
	return cert->pb->next_renewal;
}

int64_t
cmpd_cert_renewed(const cmpd_cert *cert)
{
	return cert->pb->renewed;
}

uint32_t
cmpd_cert_failures(const cmpd_cert *cert)
{
	return cert->pb->failures;
}

const char *
cmpd_cert_last_error(const cmpd_cert *cert)
{
	return cert->pb->last_error;
}

const char *
cmpd_cert_renewing_job(const cmpd_cert *cert)
{
	return cert->pb->renewing_job;
}

const char *
cmpd_cert_chain_pem(const cmpd_cert *cert)
{
	return cert->chain_pem;
}

const char *
cmpd_cert_chain_path(const cmpd_cert *cert)
{
	return cert->pb->chain_path;
}

/* Only a revoked certificate has a reason: 0 is proto3's default. */
int
cmpd_cert_revocation_reason(const cmpd_cert *cert)
{
	if (cert->pb->state != CMPD__CERT_STATE__CERT_REVOKED ||
	    cmpd_crl_reason_name(cert->pb->revocation_reason) == NULL)
		return -1;
	return cert->pb->revocation_reason;
}
