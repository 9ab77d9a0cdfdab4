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

/* A nullable integer: -1 (none) is null. */
static json_t *
jint_or_null(int v)
{
	return v >= 0 ? json_integer(v) : json_null();
}

/* The hex of DER bytes (a JSON string must be text), or null. */
static json_t *
jhex(const uint8_t *der, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	json_t *v;
	char *s;

	if (der == NULL || len == 0 || (s = malloc(2 * len + 1)) == NULL)
		return json_null();
	for (size_t i = 0; i < len; i++) {
		s[2 * i] = digits[der[i] >> 4];
		s[2 * i + 1] = digits[der[i] & 0xf];
	}
	s[2 * len] = '\0';
	v = json_string(s);
	free(s);
	return v;
}

static json_t *
genm_ca_certs(const cmpd_job *job)
{
	json_t *a = json_array();
	size_t len = 0;

	for (size_t i = 0; a != NULL && i < cmpd_job_genm_ca_cert_count(job);
	     i++) {
		const uint8_t *der = cmpd_job_genm_ca_cert_der(job, i, &len);

		json_array_append_new(a,
		    json_pack("{s:o, s:o}", "subject",
		        jstr(cmpd_job_genm_ca_cert_subject(job, i)), "der_hex",
		        jhex(der, len)));
	}
	return a;
}

static json_t *
genm_root_update(const cmpd_job *job)
{
	const char *with_old = cmpd_job_genm_new_with_old_pem(job);
	json_t *root;

	if (cmpd_job_genm_new_root_pem(job)[0] == '\0')
		return json_null();
	root = json_pack("{s:o, s:o, s:o, s:o, s:o}", "subject",
	    jstr(cmpd_job_genm_new_root_subject(job)), "not_before",
	    jtime(cmpd_job_genm_new_root_not_before(job)), "not_after",
	    jtime(cmpd_job_genm_new_root_not_after(job)), "fingerprint_sha256",
	    jstr_or_null(cmpd_job_genm_new_root_fingerprint(job)), "pem",
	    jstr(cmpd_job_genm_new_root_pem(job)));
	return json_pack("{s:o, s:o, s:b, s:o}", "new_root", root,
	    "new_with_old_pem", jstr_or_null(with_old), "new_with_old_checked",
	    with_old[0] != '\0', "old_with_new_pem",
	    jstr_or_null(cmpd_job_genm_old_with_new_pem(job)));
}

static json_t *
genm_template(const cmpd_job *job)
{
	size_t tlen = 0, klen = 0;
	const uint8_t *tmpl = cmpd_job_genm_template_der(job, &tlen);
	const uint8_t *spec = cmpd_job_genm_key_spec_der(job, &klen);

	if (tmpl == NULL)
		return json_null();
	return json_pack("{s:o, s:o, s:o}", "text",
	    jstr_or_null(cmpd_job_genm_template_text(job)), "cert_template_hex",
	    jhex(tmpl, tlen), "key_spec_hex", jhex(spec, klen));
}

/* What a genm job brought back; null for another job. */
static json_t *
job_genm(const cmpd_job *job)
{
	if (cmpd_job_genm_type(job)[0] == '\0')
		return json_null();
	return json_pack("{s:s, s:b, s:o, s:o, s:o, s:o}", "type",
	    cmpd_job_genm_type(job), "empty", cmpd_job_genm_empty(job),
	    "ca_certs", genm_ca_certs(job), "ca_certs_pem",
	    jstr_or_null(cmpd_job_genm_ca_certs_pem(job)), "root_update",
	    genm_root_update(job), "template", genm_template(job));
}

/* The fields of kur, rr, genm and tracked certificates. */
static void
job_lifecycle(json_t *o, const cmpd_job *job)
{
	int reason = cmpd_job_revocation_reason(job);

	json_object_set_new(o, "cert_id", jstr_or_null(cmpd_job_cert_id(job)));
	json_object_set_new(o, "protection_cert_id",
	    jstr_or_null(cmpd_job_protection_cert_id(job)));
	json_object_set_new(
	    o, "keep_key", json_boolean(cmpd_job_keep_key(job)));
	json_object_set_new(
	    o, "old_key_id", jstr_or_null(cmpd_job_old_key_id(job)));
	json_object_set_new(o, "revocation_reason",
	    reason >= 0 ? json_string(cmpd_crl_reason_name(reason))
	                : json_null());
	json_object_set_new(o, "revocation_reason_code", jint_or_null(reason));
	json_object_set_new(
	    o, "automatic", json_boolean(cmpd_job_automatic(job)));
	json_object_set_new(o, "deadline", jtime(cmpd_job_deadline(job)));
	json_object_set_new(
	    o, "restarts", json_integer(cmpd_job_restarts(job)));
	json_object_set_new(o, "restart_reason",
	    jstr_or_null(*cmpd_job_restart_reason(job)
	            ? cmpd_job_restart_reason(job)
	            : NULL));
	json_object_set_new(o, "genm", job_genm(job));
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
	job_lifecycle(o, job);
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

/* What cmpd keeps of a tracked certificate, beside the certificate. */
static void
cert_tracking(json_t *o, const cmpd_cert *c)
{
	int reason = cmpd_cert_revocation_reason(c);

	json_object_set_new(o, "id", jstr_or_null(cmpd_cert_id(c)));
	json_object_set_new(o, "state",
	    json_string(cmpd_cert_state_name(cmpd_cert_state_get(c))));
	json_object_set_new(o, "key_type", jstr_or_null(cmpd_cert_key_type(c)));
	json_object_set_new(
	    o, "next_renewal", jtime(cmpd_cert_next_renewal(c)));
	json_object_set_new(o, "renewed", jtime(cmpd_cert_renewed(c)));
	json_object_set_new(
	    o, "failures", json_integer((json_int_t)cmpd_cert_failures(c)));
	json_object_set_new(
	    o, "last_error", jstr_or_null(cmpd_cert_last_error(c)));
	json_object_set_new(
	    o, "renewing_job", jstr_or_null(cmpd_cert_renewing_job(c)));
	json_object_set_new(
	    o, "chain_pem", jstr_or_null(cmpd_cert_chain_pem(c)));
	json_object_set_new(
	    o, "chain_path", jstr_or_null(cmpd_cert_chain_path(c)));
	json_object_set_new(o, "revocation_reason",
	    reason >= 0 ? json_string(cmpd_crl_reason_name(reason))
	                : json_null());
	json_object_set_new(o, "revocation_reason_code", jint_or_null(reason));
}

static json_t *
cert_record(const cmpd_cert *c)
{
	json_t *o =
	    json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
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

	if (o != NULL)
		cert_tracking(o, c);
	return o;
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

/* One compact line, for streams of objects (watch). */
int
jsonout_print_line(json_t *v)
{
	int rv = -1;

	if (v != NULL && json_dumpf(v, stdout, JSON_COMPACT) == 0 &&
	    fputc('\n', stdout) != EOF && fflush(stdout) == 0)
		rv = 0;
	json_decref(v);
	return rv;
}

static json_t *
event_error(const cmpd_event *ev)
{
	cmpd_result r = cmpd_event_error(ev);
	const char *text = cmpd_event_error_text(ev);

	if (r == CMPD_RESULT_OK && text[0] == '\0')
		return json_null();
	return json_pack("{s:o, s:o}", "code",
	    r != CMPD_RESULT_OK ? json_string(cmpd_result_name(r))
	                        : json_null(),
	    "message", jstr(text[0] ? text : cmpd_result_str(r)));
}

json_t *
jsonout_event(const cmpd_event *ev)
{
	return json_pack("{s:I, s:s, s:o, s:o, s:o, s:o, s:b, s:o, s:o, s:o, "
	                 "s:o, s:o, s:I, s:o, s:b}",
	    "seq", (json_int_t)cmpd_event_seq(ev), "type",
	    cmpd_event_type_name(cmpd_event_type_get(ev)), "time",
	    jtime(cmpd_event_time(ev)), "profile",
	    jstr_or_null(cmpd_event_profile(ev)), "job_id",
	    jstr_or_null(cmpd_event_job_id(ev)), "op",
	    jstr_or_null(cmpd_event_op(ev)), "automatic",
	    cmpd_event_automatic(ev), "cert_id",
	    jstr_or_null(cmpd_event_cert_id(ev)), "serial",
	    jstr_or_null(cmpd_event_serial(ev)), "not_after",
	    jtime(cmpd_event_not_after(ev)), "cert_path",
	    jstr_or_null(cmpd_event_cert_path(ev)), "error", event_error(ev),
	    "failures", (json_int_t)cmpd_event_failures(ev), "next_attempt",
	    jtime(cmpd_event_next_attempt(ev)), "missed",
	    cmpd_event_missed(ev));
}

static json_t *
health_problem(const cmpd_health *h, size_t i)
{
	cmpd_job_state s = cmpd_health_problem_job_state(h, i);

	return json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:o}",
	    "kind", cmpd_health_problem_kind(h, i), "profile",
	    jstr_or_null(cmpd_health_problem_profile(h, i)), "job_id",
	    jstr_or_null(cmpd_health_problem_job_id(h, i)), "cert_id",
	    jstr_or_null(cmpd_health_problem_cert_id(h, i)), "job_state",
	    s != CMPD_JOB_STATE_UNKNOWN ? json_string(cmpd_job_state_name(s))
	                                : json_null(),
	    "since", jtime(cmpd_health_problem_since(h, i)), "due",
	    jtime(cmpd_health_problem_due(h, i)), "detail",
	    jstr_or_null(cmpd_health_problem_detail(h, i)), "failures",
	    (json_int_t)cmpd_health_problem_failures(h, i), "next_attempt",
	    jtime(cmpd_health_problem_next_attempt(h, i)));
}

json_t *
jsonout_health(const cmpd_health *h)
{
	json_t *problems = json_array();

	for (size_t i = 0; problems != NULL && i < cmpd_health_problem_count(h);
	     i++)
		json_array_append_new(problems, health_problem(h, i));
	return json_pack("{s:b, s:o, s:I, s:{s:I, s:I, s:I}, s:o}", "ok",
	    cmpd_health_problem_count(h) == 0, "time",
	    jtime(cmpd_health_time(h)), "jobs_unfinished",
	    (json_int_t)cmpd_health_jobs_unfinished(h), "certificates",
	    "active", (json_int_t)cmpd_health_certs_active(h), "expired",
	    (json_int_t)cmpd_health_certs_expired(h), "revoked",
	    (json_int_t)cmpd_health_certs_revoked(h), "problems", problems);
}
