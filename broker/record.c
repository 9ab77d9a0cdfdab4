#include "record.h"

#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
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

static cmpd_err
cert_fill(Cmpd__CertRecord *c, const Cmpd__Job *job, X509 *x)
{
	if ((c->subject = cmpd_x509_name_text(X509_get_subject_name(x))) ==
	        NULL ||
	    (c->issuer = cmpd_x509_name_text(X509_get_issuer_name(x))) ==
	        NULL ||
	    (c->serial = cmpd_x509_serial_text(X509_get0_serialNumber(x))) ==
	        NULL)
		return CMPD_ENOMEM;
	c->not_before = cmpd_asn1_time_unix(X509_get0_notBefore(x));
	c->not_after = cmpd_asn1_time_unix(X509_get0_notAfter(x));
	if (rec_set_str(&c->profile, job->profile) != CMPD_OK ||
	    rec_set_str(&c->job_id, job->id) != CMPD_OK ||
	    rec_set_str(&c->key_id, job->key_id) != CMPD_OK ||
	    rec_set_str(&c->cert_path, job->cert_path) != CMPD_OK ||
	    rec_set_bytes(&c->cert, job->cert.data, job->cert.len) != CMPD_OK)
		return CMPD_ENOMEM;
	return CMPD_OK;
}

cmpd_err
rec_cert_new(const Cmpd__Job *job, Cmpd__CertRecord **out)
{
	const unsigned char *p = job->cert.data;
	X509 *x = d2i_X509(NULL, &p, (long)job->cert.len);
	Cmpd__CertRecord *c = malloc(sizeof(*c));
	cmpd_err rv = CMPD_ENOMEM;

	if (c != NULL) {
		cmpd__cert_record__init(c);
		c->subject = c->issuer = c->serial = NULL;
	}
	if (x == NULL) {
		log_err("job %s: unreadable certificate", job->id);
		rv = CMPD_EBADCERT;
	} else if (c != NULL) {
		rv = cert_fill(c, job, x);
	}
	if (rv == CMPD_OK) {
		*out = c;
		c = NULL;
	} else if (c != NULL) {
		cmpd__cert_record__free_unpacked(c, NULL);
	}
	X509_free(x);
	return rv;
}
