/*
 * The accessors of a job. Strings come from the decoded message (protobuf-c
 * gives unset strings as ""), or from what job_init derived from it.
 */
#include "client_int.h"
#include "keyid.h"

const char *
cmpd_job_id(const cmpd_job *job)
{
	return job->pb->id;
}

const char *
cmpd_job_profile(const cmpd_job *job)
{
	return job->pb->profile;
}

const char *
cmpd_job_op(const cmpd_job *job)
{
	return names_op(job->pb->op);
}

cmpd_job_state
cmpd_job_state_get(const cmpd_job *job)
{
	unsigned s = (unsigned)job->pb->state;

	return s < CMPD_JOB_STATE_MAX ? (cmpd_job_state)s
	                              : CMPD_JOB_STATE_UNKNOWN;
}

const char *
cmpd_job_key_type(const cmpd_job *job)
{
	return cmpd_key_type_name(job->pb->key_type);
}

const char *
cmpd_job_key_id(const cmpd_job *job)
{
	return job->pb->key_id;
}

const char *
cmpd_job_subject(const cmpd_job *job)
{
	return job->pb->subject;
}

size_t
cmpd_job_san_count(const cmpd_job *job)
{
	return job->pb->n_sans;
}

const char *
cmpd_job_san(const cmpd_job *job, size_t i)
{
	return i < job->pb->n_sans ? job->pb->sans[i] : NULL;
}

int64_t
cmpd_job_created(const cmpd_job *job)
{
	return job->pb->created;
}

int64_t
cmpd_job_updated(const cmpd_job *job)
{
	return job->pb->updated;
}

int64_t
cmpd_job_next_poll(const cmpd_job *job)
{
	return job->pb->next_poll;
}

int64_t
cmpd_job_deadline(const cmpd_job *job)
{
	return job->pb->deadline;
}

uint32_t
cmpd_job_restarts(const cmpd_job *job)
{
	return job->pb->restarts;
}

const char *
cmpd_job_restart_reason(const cmpd_job *job)
{
	return job->pb->restart_reason != NULL ? job->pb->restart_reason : "";
}

const char *
cmpd_job_cert_id(const cmpd_job *job)
{
	return job->pb->cert_id;
}

int
cmpd_job_keep_key(const cmpd_job *job)
{
	return job->pb->keep_key;
}

const char *
cmpd_job_old_key_id(const cmpd_job *job)
{
	return job->pb->old_key_id;
}

/* Only an RR has a reason: 0 in another job is proto3's default. */
int
cmpd_job_revocation_reason(const cmpd_job *job)
{
	if (job->pb->op != CMPD__CMP_OP__CMP_OP_RR ||
	    cmpd_crl_reason_name(job->pb->revocation_reason) == NULL)
		return -1;
	return job->pb->revocation_reason;
}

int
cmpd_job_automatic(const cmpd_job *job)
{
	return job->pb->automatic;
}

const char *
cmpd_job_protection_cert_id(const cmpd_job *job)
{
	return job->pb->protection_cert_id;
}

const uint8_t *
cmpd_job_cert_der(const cmpd_job *job, size_t *len)
{
	*len = job->pb->cert.len;
	return job->pb->cert.len > 0 ? job->pb->cert.data : NULL;
}

const char *
cmpd_job_cert_pem(const cmpd_job *job)
{
	return job->cert_pem;
}

const char *
cmpd_job_chain_pem(const cmpd_job *job)
{
	return job->chain_pem;
}

const char *
cmpd_job_cert_path(const cmpd_job *job)
{
	return job->pb->cert_path;
}

const char *
cmpd_job_chain_path(const cmpd_job *job)
{
	return job->pb->chain_path;
}

const char *
cmpd_job_cert_subject(const cmpd_job *job)
{
	return job->cert.subject;
}

const char *
cmpd_job_cert_issuer(const cmpd_job *job)
{
	return job->cert.issuer;
}

const char *
cmpd_job_cert_serial(const cmpd_job *job)
{
	return job->cert.serial;
}

const char *
cmpd_job_cert_key_type(const cmpd_job *job)
{
	return job->cert.key_type;
}

int64_t
cmpd_job_cert_not_before(const cmpd_job *job)
{
	return job->cert.not_before;
}

int64_t
cmpd_job_cert_not_after(const cmpd_job *job)
{
	return job->cert.not_after;
}

cmpd_result
cmpd_job_error(const cmpd_job *job)
{
	unsigned e = (unsigned)job->pb->error;

	return e < CMPD_RESULT_MAX ? (cmpd_result)e : CMPD_RESULT_INTERNAL;
}

const char *
cmpd_job_error_text(const cmpd_job *job)
{
	return job->pb->error_text;
}

int
cmpd_job_pki_status(const cmpd_job *job)
{
	return job->pb->pki != NULL ? job->pb->pki->status : -1;
}

uint32_t
cmpd_job_pki_fail_info(const cmpd_job *job)
{
	return job->pb->pki != NULL ? job->pb->pki->fail_info : 0;
}

size_t
cmpd_job_pki_text_count(const cmpd_job *job)
{
	return job->pb->pki != NULL ? job->pb->pki->n_text : 0;
}

const char *
cmpd_job_pki_text(const cmpd_job *job, size_t i)
{
	if (i >= cmpd_job_pki_text_count(job))
		return NULL;
	return job->pb->pki->text[i];
}
