/*
 * cmpctl --json: the objects cmpctl prints for programs. Their shapes are
 * documented in cmpctl.md and must only grow: keys in snake_case, times as
 * RFC 3339 UTC strings, unset values as null.
 */
#include <stdlib.h>
#include <string.h>

#include "cmpctl.h"

/*
 * A JSON string of s. JSON needs UTF-8; text from a CA that is not valid
 * UTF-8 is shown with '?' for every byte outside ASCII.
 */
static json_t *
jstr(const char *s)
{
	json_t *v = json_string(s);
	char *copy;

	if (v != NULL || (copy = strdup(s)) == NULL)
		return v;
	for (char *p = copy; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	v = json_string(copy);
	free(copy);
	return v;
}

static json_t *
jstr_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? jstr(s) : json_null();
}

static json_t *
jtime(int64_t t)
{
	char buf[32];

	if (t <= 0)
		return json_null();
	show_time(t, buf);
	return json_string(buf);
}

static json_t *
job_sans(const cmpd_job *job)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < cmpd_job_san_count(job); i++)
		json_array_append_new(a, jstr(cmpd_job_san(job, i)));
	return a;
}

static json_t *
job_certificate(const cmpd_job *job)
{
	size_t len = 0;

	if (cmpd_job_cert_der(job, &len) == NULL)
		return json_null();
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "subject",
	    jstr_or_null(cmpd_job_cert_subject(job)), "issuer",
	    jstr_or_null(cmpd_job_cert_issuer(job)), "serial",
	    jstr_or_null(cmpd_job_cert_serial(job)), "key_type",
	    jstr_or_null(cmpd_job_cert_key_type(job)), "not_before",
	    jtime(cmpd_job_cert_not_before(job)), "not_after",
	    jtime(cmpd_job_cert_not_after(job)));
}

static json_t *
job_failure(const cmpd_job *job)
{
	const char *text = cmpd_job_error_text(job);

	if (cmpd_job_state_get(job) != CMPD_JOB_STATE_FAILED)
		return json_null();
	return json_pack("{s:s, s:o}", "code",
	    cmpd_result_name(cmpd_job_error(job)), "message",
	    jstr(text[0] ? text : cmpd_result_str(cmpd_job_error(job))));
}

static json_t *
job_ca_status(const cmpd_job *job)
{
	int status = cmpd_job_pki_status(job);
	uint32_t bits = cmpd_job_pki_fail_info(job);
	json_t *fail = json_array(), *text = json_array();
	char name[16];

	if (status < 0 || fail == NULL || text == NULL) {
		json_decref(fail);
		json_decref(text);
		return json_null();
	}
	for (unsigned b = 0; b < 32; b++) {
		if ((bits & (1u << b)) == 0)
			continue;
		snprintf(name, sizeof(name), "bit%u", b);
		json_array_append_new(fail,
		    json_string(cmpd_pki_failure_name(b)
		            ? cmpd_pki_failure_name(b)
		            : name));
	}
	for (size_t i = 0; i < cmpd_job_pki_text_count(job); i++)
		json_array_append_new(text, jstr(cmpd_job_pki_text(job, i)));
	return json_pack("{s:o, s:i, s:o, s:I, s:o}", "status",
	    jstr_or_null(cmpd_pki_status_name(status)), "status_code", status,
	    "fail_info", fail, "fail_info_code", (json_int_t)bits, "text",
	    text);
}

json_t *
jsonout_job(const cmpd_job *job)
{
	json_t *o = json_pack("{s:o, s:o, s:o, s:s, s:o, s:o, s:o, s:o}", "id",
	    jstr(cmpd_job_id(job)), "profile", jstr(cmpd_job_profile(job)),
	    "op", jstr_or_null(cmpd_job_op(job)), "state",
	    cmpd_job_state_name(cmpd_job_state_get(job)), "key_type",
	    jstr_or_null(cmpd_job_key_type(job)), "key_id",
	    jstr_or_null(cmpd_job_key_id(job)), "subject",
	    jstr_or_null(cmpd_job_subject(job)), "sans", job_sans(job));

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "created", jtime(cmpd_job_created(job)));
	json_object_set_new(o, "updated", jtime(cmpd_job_updated(job)));
	json_object_set_new(o, "next_poll", jtime(cmpd_job_next_poll(job)));
	json_object_set_new(o, "certificate", job_certificate(job));
	json_object_set_new(
	    o, "cert_pem", jstr_or_null(cmpd_job_cert_pem(job)));
	json_object_set_new(
	    o, "cert_path", jstr_or_null(cmpd_job_cert_path(job)));
	json_object_set_new(
	    o, "chain_pem", jstr_or_null(cmpd_job_chain_pem(job)));
	json_object_set_new(
	    o, "chain_path", jstr_or_null(cmpd_job_chain_path(job)));
	json_object_set_new(o, "failure", job_failure(job));
	json_object_set_new(o, "ca_status", job_ca_status(job));
	return o;
}

json_t *
jsonout_jobs(const cmpd_job_array *jobs)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < cmpd_job_array_count(jobs); i++)
		json_array_append_new(
		    a, jsonout_job(cmpd_job_array_get(jobs, i)));
	return a;
}

static json_t *
cert_record(const cmpd_cert *c)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
	    "profile", jstr(cmpd_cert_profile(c)), "job_id",
	    jstr_or_null(cmpd_cert_job_id(c)), "subject",
	    jstr_or_null(cmpd_cert_subject(c)), "issuer",
	    jstr_or_null(cmpd_cert_issuer(c)), "serial",
	    jstr_or_null(cmpd_cert_serial(c)), "not_before",
	    jtime(cmpd_cert_not_before(c)), "not_after",
	    jtime(cmpd_cert_not_after(c)), "key_id",
	    jstr_or_null(cmpd_cert_key_id(c)), "cert_path",
	    jstr_or_null(cmpd_cert_path(c)), "pem",
	    jstr_or_null(cmpd_cert_pem(c)));
}

json_t *
jsonout_certs(const cmpd_cert_array *certs)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < cmpd_cert_array_count(certs); i++)
		json_array_append_new(
		    a, cert_record(cmpd_cert_array_get(certs, i)));
	return a;
}

json_t *
jsonout_key(const cmpd_key_info *key)
{
	return json_pack("{s:s, s:o, s:o, s:o}", "id", cmpd_key_info_id(key),
	    "type", jstr_or_null(cmpd_key_info_type(key)), "created",
	    jtime(cmpd_key_info_created(key)), "spki_pem",
	    jstr_or_null(cmpd_key_info_spki_pem(key)));
}

json_t *
jsonout_keys(const cmpd_key_array *keys)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < cmpd_key_array_count(keys); i++)
		json_array_append_new(
		    a, jsonout_key(cmpd_key_array_get(keys, i)));
	return a;
}

json_t *
jsonout_error(const char *code, const char *message, json_t *job)
{
	json_t *e =
	    json_pack("{s:s, s:o}", "code", code, "message", jstr(message));

	if (e != NULL && job != NULL)
		json_object_set_new(e, "job", job);
	else
		json_decref(job);
	return e != NULL ? json_pack("{s:o}", "error", e) : NULL;
}

int
jsonout_print(json_t *v)
{
	int rv = -1;

	if (v != NULL && json_dumpf(v, stdout, JSON_INDENT(2)) == 0 &&
	    fputc('\n', stdout) != EOF)
		rv = 0;
	json_decref(v);
	return rv;
}
