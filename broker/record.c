#include "record.h"

#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"
#include "x509fast.h"
#include "x509text.h"

static int
is_default_str(const char *s)
{
	return s == NULL || s == protobuf_c_empty_string;
}

cmpd_err
rec_set_str(char **field, const char *value)
{
	char *copy = NULL;

	if (value != NULL && value[0] != '\0' && (copy = strdup(value)) == NULL)
		return CMPD_ENOMEM;
	if (!is_default_str(*field))
		free(*field);
	*field = copy != NULL ? copy : (char *)protobuf_c_empty_string;
	return CMPD_OK;
}

cmpd_err
rec_set_bytes(ProtobufCBinaryData *field, const uint8_t *data, size_t len)
{
	uint8_t *copy = NULL;

	if (len > 0) {
		if ((copy = malloc(len)) == NULL)
			return CMPD_ENOMEM;
		memcpy(copy, data, len);
	}
	free(field->data);
	field->data = copy;
	field->len = len;
	return CMPD_OK;
}

cmpd_err
rec_set_str_list(char ***field, size_t *n, char *const *src, size_t n_src)
{
	char **copy = n_src ? calloc(n_src, sizeof(*copy)) : NULL;

	if (n_src > 0 && copy == NULL)
		return CMPD_ENOMEM;
	for (size_t i = 0; i < n_src; i++) {
		if ((copy[i] = strdup(src[i])) == NULL) {
			while (i > 0)
				free(copy[--i]);
			free(copy);
			return CMPD_ENOMEM;
		}
	}
	for (size_t i = 0; i < *n; i++)
		free((*field)[i]);
	free(*field);
	*field = copy;
	*n = n_src;
	return CMPD_OK;
}

cmpd_err
rec_set_bytes_list(ProtobufCBinaryData **field, size_t *n,
    const ProtobufCBinaryData *src, size_t n_src)
{
	ProtobufCBinaryData *copy = n_src ? calloc(n_src, sizeof(*copy)) : NULL;

	if (n_src > 0 && copy == NULL)
		return CMPD_ENOMEM;
	for (size_t i = 0; i < n_src; i++) {
		if (rec_set_bytes(&copy[i], src[i].data, src[i].len) !=
		    CMPD_OK) {
			while (i > 0)
				free(copy[--i].data);
			free(copy);
			return CMPD_ENOMEM;
		}
	}
	for (size_t i = 0; i < *n; i++)
		free((*field)[i].data);
	free(*field);
	*field = copy;
	*n = n_src;
	return CMPD_OK;
}

/* A deep copy through the wire format: simple, and exactly right. */
cmpd_err
rec_set_pki(Cmpd__PkiStatus **field, const Cmpd__PkiStatus *src)
{
	Cmpd__PkiStatus *copy = NULL;

	if (src != NULL) {
		size_t len = cmpd__pki_status__get_packed_size(src);
		uint8_t *buf = malloc(len ? len : 1);

		if (buf == NULL)
			return CMPD_ENOMEM;
		cmpd__pki_status__pack(src, buf);
		copy = cmpd__pki_status__unpack(NULL, len, buf);
		free(buf);
		if (copy == NULL)
			return CMPD_ENOMEM;
	}
	if (*field != NULL)
		cmpd__pki_status__free_unpacked(*field, NULL);
	*field = copy;
	return CMPD_OK;
}

Cmpd__Job *
rec_job_new(void)
{
	Cmpd__Job *job = malloc(sizeof(*job));

	if (job != NULL)
		cmpd__job__init(job);
	return job;
}

Cmpd__Job *
rec_job_dup(const Cmpd__Job *rec)
{
	size_t len = cmpd__job__get_packed_size(rec);
	uint8_t *buf = malloc(len > 0 ? len : 1);
	Cmpd__Job *copy = NULL;

	if (buf != NULL && cmpd__job__pack(rec, buf) == len)
		copy = cmpd__job__unpack(NULL, len, buf);
	free(buf);
	return copy;
}

Cmpd__CertRecord *
rec_cert_new(void)
{
	Cmpd__CertRecord *c = malloc(sizeof(*c));

	if (c != NULL)
		cmpd__cert_record__init(c);
	return c;
}

/* Replaces a string field with a new malloc'd one, or fails. */
static cmpd_err
take_str(char **field, char *value)
{
	if (value == NULL)
		return CMPD_ENOMEM;
	if (*field != NULL && *field != protobuf_c_empty_string)
		free(*field);
	*field = value;
	return CMPD_OK;
}

static cmpd_err
cert_fill(Cmpd__CertRecord *c, const Cmpd__Job *job, X509 *x)
{
	if (take_str(&c->subject,
	        cmpd_x509_name_text(X509_get_subject_name(x))) != CMPD_OK ||
	    take_str(&c->issuer,
	        cmpd_x509_name_text(X509_get_issuer_name(x))) != CMPD_OK ||
	    take_str(&c->serial,
	        cmpd_x509_serial_text(X509_get0_serialNumber(x))) != CMPD_OK)
		return CMPD_ENOMEM;
	c->not_before = cmpd_asn1_time_unix(X509_get0_notBefore(x));
	c->not_after = cmpd_asn1_time_unix(X509_get0_notAfter(x));
	/* job_id names the job that first enrolled the certificate. */
	if ((!cmpd_str_set(c->job_id) &&
	        rec_set_str(&c->job_id, job->id) != CMPD_OK) ||
	    rec_set_str(&c->profile, job->profile) != CMPD_OK ||
	    rec_set_str(&c->key_id, job->key_id) != CMPD_OK ||
	    rec_set_str(&c->cert_path, job->cert_path) != CMPD_OK ||
	    rec_set_bytes(&c->cert, job->cert.data, job->cert.len) != CMPD_OK)
		return CMPD_ENOMEM;
	return CMPD_OK;
}

cmpd_err
rec_cert_fill(Cmpd__CertRecord *c, const Cmpd__Job *job)
{
	X509 *x = cmpd_x509_fields(job->cert.data, job->cert.len);
	cmpd_err rv;

	if (x == NULL) {
		log_err("job %s: unreadable certificate", job->id);
		return CMPD_EBADCERT;
	}
	rv = cert_fill(c, job, x);
	X509_free(x);
	return rv;
}

/* A deep copy through the wire format, as for rec_set_pki. */
cmpd_err
rec_set_genm(Cmpd__GenmResult **field, const Cmpd__GenmResult *src)
{
	size_t len = cmpd__genm_result__get_packed_size(src);
	uint8_t *buf = malloc(len ? len : 1);
	Cmpd__GenmResult *copy;

	if (buf == NULL)
		return CMPD_ENOMEM;
	cmpd__genm_result__pack(src, buf);
	copy = cmpd__genm_result__unpack(NULL, len, buf);
	free(buf);
	if (copy == NULL)
		return CMPD_ENOMEM;
	if (*field != NULL)
		cmpd__genm_result__free_unpacked(*field, NULL);
	*field = copy;
	return CMPD_OK;
}

/* RFC 9483 4: 128 random bits. */
#define TRANSACTION_ID_LEN 16

cmpd_err
rec_tid_new(Cmpd__Job *rec)
{
	uint8_t tid[TRANSACTION_ID_LEN];
	cmpd_err rv;

	if ((rv = cmpd_random(tid, sizeof(tid))) != CMPD_OK ||
	    (rv = rec_set_bytes(&rec->transaction_id, tid, sizeof(tid))) !=
	        CMPD_OK)
		return rv;
	return rec_set_bytes_list(
	    &rec->txn_messages, &rec->n_txn_messages, NULL, 0);
}
