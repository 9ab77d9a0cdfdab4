/*
 * cmpctl's output for people. Text that came from the CA or from cmpd is
 * printed with control characters replaced, so that a hostile status
 * text cannot drive the terminal.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cmpctl.h"

void
show_time(int64_t t, char buf[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, 32, "-");
}

/* s with C0 and C1 control characters as '?', but keep as it is. */
static void
put_filtered(FILE *f, const char *s, int keep)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p != '\0'; p++) {
		if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			fputc('?', f);
			p++;
		} else if (*p == keep) {
			fputc(*p, f);
		} else {
			fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, f);
		}
	}
}

void
show_safe(FILE *f, const char *s)
{
	put_filtered(f, s, -1);
}

void
show_text(FILE *f, const char *text)
{
	size_t len = strlen(text);

	put_filtered(f, text, '\n');
	if (len > 0 && text[len - 1] != '\n')
		fputc('\n', f);
}

/* "label:       value"; an empty value shows as "-". */
static void
field(FILE *f, const char *label, const char *value)
{
	fprintf(f, "%-14s ", label);
	show_safe(f, value != NULL && value[0] != '\0' ? value : "-");
	fputc('\n', f);
}

static void
field_time(FILE *f, const char *label, int64_t t)
{
	char buf[32];

	show_time(t, buf);
	field(f, label, buf);
}

static void
show_cert(FILE *f, const cmpd_job *job)
{
	fputs("certificate:\n", f);
	field(f, "  subject:", cmpd_job_cert_subject(job));
	field(f, "  issuer:", cmpd_job_cert_issuer(job));
	field(f, "  serial:", cmpd_job_cert_serial(job));
	field(f, "  key type:", cmpd_job_cert_key_type(job));
	field_time(f, "  not before:", cmpd_job_cert_not_before(job));
	field_time(f, "  not after:", cmpd_job_cert_not_after(job));
	if (cmpd_job_cert_path(job)[0] != '\0')
		field(f, "cert file:", cmpd_job_cert_path(job));
	if (cmpd_job_chain_path(job)[0] != '\0')
		field(f, "chain file:", cmpd_job_chain_path(job));
}

/* "CA status: rejection; failure: badPOP, badTime; text: t1, t2" */
static void
show_ca_status(FILE *f, const cmpd_job *job)
{
	const char *name = cmpd_pki_status_name(cmpd_job_pki_status(job));
	uint32_t bits = cmpd_job_pki_fail_info(job);
	const char *sep = "; failure: ";
	size_t n = cmpd_job_pki_text_count(job);

	if (name != NULL)
		fprintf(f, "CA status: %s", name);
	else
		fprintf(f, "CA status: %d", cmpd_job_pki_status(job));
	for (unsigned b = 0; b < 32; b++) {
		if ((bits & (1u << b)) == 0)
			continue;
		if (cmpd_pki_failure_name(b) != NULL)
			fprintf(f, "%s%s", sep, cmpd_pki_failure_name(b));
		else
			fprintf(f, "%sbit%u", sep, b);
		sep = ", ";
	}
	for (size_t i = 0; i < n; i++) {
		fputs(i == 0 ? "; text: " : ", ", f);
		show_safe(f, cmpd_job_pki_text(job, i));
	}
	fputc('\n', f);
}

static void
show_failure(FILE *f, const cmpd_job *job)
{
	char msg[1024];
	const char *text = cmpd_job_error_text(job);

	snprintf(msg, sizeof(msg), "%s%s%s",
	    cmpd_result_str(cmpd_job_error(job)), text[0] ? ": " : "", text);
	field(f, "error:", msg);
	if (cmpd_job_pki_status(job) >= 0)
		show_ca_status(f, job);
}

/* Whether op certifies a key: not rr or genm ("" is an older cmpd's). */
static int
op_has_key(const char *op)
{
	return strcmp(op, "rr") != 0 && strcmp(op, "genm") != 0;
}

static void
show_reason(FILE *f, int reason)
{
	char buf[64];

	if (reason < 0) {
		field(f, "reason:", "none given");
		return;
	}
	snprintf(
	    buf, sizeof(buf), "%s (%d)", cmpd_crl_reason_name(reason), reason);
	field(f, "reason:", buf);
}

/* The lines only some operations have. */
static void
show_op_fields(FILE *f, const cmpd_job *job)
{
	const char *op = cmpd_job_op(job);

	if (cmpd_job_cert_id(job)[0] != '\0')
		field(f, "tracked cert:", cmpd_job_cert_id(job));
	if (cmpd_job_protection_cert_id(job)[0] != '\0')
		field(f, "protected by:", cmpd_job_protection_cert_id(job));
	if (strcmp(op, "kur") == 0) {
		field(f, "keep key:", cmpd_job_keep_key(job) ? "yes" : "no");
		if (cmpd_job_old_key_id(job)[0] != '\0')
			field(f, "old key id:", cmpd_job_old_key_id(job));
	}
	if (strcmp(op, "rr") == 0)
		show_reason(f, cmpd_job_revocation_reason(job));
	if (cmpd_job_genm_type(job)[0] != '\0')
		field(f, "asked for:", cmpd_job_genm_type(job));
	if (cmpd_job_automatic(job))
		field(f, "started by:", "the renewal scheduler");
}

static void
show_key_fields(FILE *f, const cmpd_job *job)
{
	field(f, "key type:", cmpd_job_key_type(job));
	field(f, "key id:", cmpd_job_key_id(job));
	field(f, "subject:", cmpd_job_subject(job));
	for (size_t i = 0; i < cmpd_job_san_count(job); i++)
		field(f, "san:", cmpd_job_san(job, i));
}

/* What a done job did. */
static void
show_outcome(FILE *f, const cmpd_job *job)
{
	const char *op = cmpd_job_op(job);
	const char *id = cmpd_job_cert_id(job);
	char buf[256];
	size_t len = 0;

	if (strcmp(op, "rr") == 0) {
		snprintf(buf, sizeof(buf), "certificate %s revoked",
		    id[0] ? id : "(unnamed)");
		field(f, "result:", buf);
	} else if (strcmp(op, "genm") == 0) {
		fputs("answer:\n", f);
		show_genm(f, job, cmpd_job_genm_type(job));
	} else {
		if (strcmp(op, "kur") == 0)
			field(f, "result:", "certificate renewed");
		if (cmpd_job_cert_der(job, &len) != NULL)
			show_cert(f, job);
	}
}

void
show_job(FILE *f, const cmpd_job *job)
{
	cmpd_job_state state = cmpd_job_state_get(job);

	field(f, "job:", cmpd_job_id(job));
	field(f, "profile:", cmpd_job_profile(job));
	field(f, "operation:", cmpd_job_op(job));
	field(f, "state:", cmpd_job_state_name(state));
	show_op_fields(f, job);
	if (op_has_key(cmpd_job_op(job)))
		show_key_fields(f, job);
	field_time(f, "created:", cmpd_job_created(job));
	field_time(f, "updated:", cmpd_job_updated(job));
	if (cmpd_job_deadline(job) > 0 && state != CMPD_JOB_STATE_DONE &&
	    state != CMPD_JOB_STATE_FAILED)
		field_time(f, "deadline:", cmpd_job_deadline(job));
	if (state == CMPD_JOB_STATE_WAITING)
		field_time(f, "next poll:", cmpd_job_next_poll(job));
	if (cmpd_job_restarts(job) > 0) {
		char text[600];

		snprintf(text, sizeof(text), "%u, the last because %s",
		    cmpd_job_restarts(job), cmpd_job_restart_reason(job));
		field(f, "restarts:", text);
	}
	if (state == CMPD_JOB_STATE_DONE)
		show_outcome(f, job);
	if (state == CMPD_JOB_STATE_FAILED)
		show_failure(f, job);
}

/* Left-aligned in width columns, then two spaces. */
static void
column(FILE *f, const char *s, int width)
{
	int len = (int)strlen(s);

	show_safe(f, s[0] != '\0' ? s : "-");
	fprintf(f, "%*s", (len < width ? width - len : 0) + 2, "");
}

void
show_jobs(FILE *f, const cmpd_job_array *jobs)
{
	char t[32];

	if (cmpd_job_array_count(jobs) == 0) {
		fputs("no jobs\n", f);
		return;
	}
	fprintf(f, "%-16s  %-12s  %-8s  %-20s  %s\n", "JOB", "PROFILE", "STATE",
	    "UPDATED", "SUBJECT");
	for (size_t i = 0; i < cmpd_job_array_count(jobs); i++) {
		const cmpd_job *job = cmpd_job_array_get(jobs, i);

		column(f, cmpd_job_id(job), 16);
		column(f, cmpd_job_profile(job), 12);
		column(f, cmpd_job_state_name(cmpd_job_state_get(job)), 8);
		show_time(cmpd_job_updated(job), t);
		column(f, t, 20);
		show_safe(f, cmpd_job_subject(job));
		fputc('\n', f);
	}
}

void
show_certs(FILE *f, const cmpd_cert_array *certs)
{
	char t[32];

	if (cmpd_cert_array_count(certs) == 0) {
		fputs("no certificates\n", f);
		return;
	}
	fprintf(f, "%-16s  %-12s  %-10s  %-24s  %-20s  %-20s  %s\n", "ID",
	    "PROFILE", "STATE", "SUBJECT", "NOT AFTER", "NEXT RENEWAL",
	    "LAST ERROR");
	for (size_t i = 0; i < cmpd_cert_array_count(certs); i++) {
		const cmpd_cert *c = cmpd_cert_array_get(certs, i);

		column(f, cmpd_cert_id(c), 16);
		column(f, cmpd_cert_profile(c), 12);
		column(f, cmpd_cert_state_name(cmpd_cert_state_get(c)), 10);
		column(f, cmpd_cert_subject(c), 24);
		show_time(cmpd_cert_not_after(c), t);
		column(f, t, 20);
		show_time(cmpd_cert_next_renewal(c), t);
		column(f, t, 20);
		show_safe(f,
		    cmpd_cert_last_error(c)[0] ? cmpd_cert_last_error(c) : "-");
		fputc('\n', f);
	}
}

static void
show_ca_certs(FILE *f, const cmpd_job *job)
{
	size_t n = cmpd_job_genm_ca_cert_count(job);

	if (n == 0) {
		fputs("the CA has no CA certificates to give\n", f);
		return;
	}
	fprintf(f, "%zu CA certificate%s:\n", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		fputs("  ", f);
		show_safe(f, cmpd_job_genm_ca_cert_subject(job, i));
		fputc('\n', f);
	}
}

/*
 * The new root and how it links to the current one: cmpd checked
 * newWithOld against the current trust anchor before the job was done,
 * so without one a person has only the fingerprint to go by.
 */
static void
show_root_update(FILE *f, const cmpd_job *job)
{
	if (cmpd_job_genm_new_root_pem(job)[0] == '\0') {
		fputs("the CA has no root CA update\n", f);
		return;
	}
	field(f, "new root CA:", cmpd_job_genm_new_root_subject(job));
	field_time(f, "  not before:", cmpd_job_genm_new_root_not_before(job));
	field_time(f, "  not after:", cmpd_job_genm_new_root_not_after(job));
	field(f, "  SHA-256:", cmpd_job_genm_new_root_fingerprint(job));
	if (cmpd_job_genm_new_with_old_pem(job)[0] != '\0')
		field(f, "newWithOld:",
		    "checked: the current trust anchor certifies the new "
		    "root's key");
	else
		field(f, "newWithOld:",
		    "not sent: nothing links the new root to the current "
		    "one; compare its fingerprint with the CA's");
	field(f, "oldWithNew:",
	    cmpd_job_genm_old_with_new_pem(job)[0] != '\0'
	        ? "sent: the new root certifies the current root's key"
	        : "not sent");
}

static void
show_template(FILE *f, const cmpd_job *job)
{
	const char *text = cmpd_job_genm_template_text(job);
	size_t len = 0;

	if (cmpd_job_genm_template_der(job, &len) == NULL) {
		fputs("the CA has no template\n", f);
		return;
	}
	if (text[0] == '\0') {
		fprintf(f,
		    "the CA sent a template this cmpctl cannot read (%zu "
		    "bytes)\n",
		    len);
		return;
	}
	show_text(f, text);
}

void
show_genm(FILE *f, const cmpd_job *job, const char *type)
{
	if (strcmp(type, "ca-certs") == 0)
		show_ca_certs(f, job);
	else if (strcmp(type, "root-update") == 0)
		show_root_update(f, job);
	else if (strcmp(type, "template") == 0)
		show_template(f, job);
	else
		fputs("an answer of a kind this cmpctl does not know\n", f);
}

void
show_key(FILE *f, const cmpd_key_info *key)
{
	field(f, "key id:", cmpd_key_info_id(key));
	field(f, "type:", cmpd_key_info_type(key));
	field_time(f, "created:", cmpd_key_info_created(key));
}

void
show_keys(FILE *f, const cmpd_key_array *keys)
{
	char t[32];

	if (cmpd_key_array_count(keys) == 0) {
		fputs("no keys\n", f);
		return;
	}
	fprintf(f, "%-32s  %-8s  %s\n", "KEY ID", "TYPE", "CREATED");
	for (size_t i = 0; i < cmpd_key_array_count(keys); i++) {
		const cmpd_key_info *k = cmpd_key_array_get(keys, i);

		column(f, cmpd_key_info_id(k), 32);
		column(f, cmpd_key_info_type(k), 8);
		show_time(cmpd_key_info_created(k), t);
		fprintf(f, "%s\n", t);
	}
}

/* What a job in this state is doing, as a sentence. */
static void
progress_sentence(const cmpd_job *job, char *buf, size_t len)
{
	int64_t wait = cmpd_job_next_poll(job) - (int64_t)time(NULL);

	switch (cmpd_job_state_get(job)) {
	case CMPD_JOB_STATE_QUEUED:
		snprintf(buf, len, "queued");
		break;
	case CMPD_JOB_STATE_KEYGEN:
		snprintf(buf, len, "generating the key");
		break;
	case CMPD_JOB_STATE_RUNNING:
		snprintf(buf, len, "talking to the CA");
		break;
	case CMPD_JOB_STATE_WAITING:
		if (cmpd_job_next_poll(job) <= 0)
			snprintf(buf, len, "waiting for the CA");
		else
			snprintf(buf, len,
			    "waiting for the CA, next poll in %llds",
			    (long long)(wait > 0 ? wait : 0));
		break;
	case CMPD_JOB_STATE_DONE:
		snprintf(buf, len, "certificate issued");
		break;
	case CMPD_JOB_STATE_FAILED:
		snprintf(buf, len, "failed");
		break;
	default:
		snprintf(buf, len, "in an unknown state");
	}
}

/*
 * On a terminal, a sentence for the person watching; otherwise a plain
 * line for logs, with absolute times (a relative one means nothing when
 * read later).
 */
void
show_progress(FILE *f, const cmpd_job *job, int tty)
{
	char buf[128], t[32];

	if (tty) {
		progress_sentence(job, buf, sizeof(buf));
		fprintf(f, "%s\n", buf);
	} else if (cmpd_job_state_get(job) == CMPD_JOB_STATE_WAITING &&
	    cmpd_job_next_poll(job) > 0) {
		show_time(cmpd_job_next_poll(job), t);
		fprintf(
		    f, "job %s: waiting (next poll %s)\n", cmpd_job_id(job), t);
	} else {
		fprintf(f, "job %s: %s\n", cmpd_job_id(job),
		    cmpd_job_state_name(cmpd_job_state_get(job)));
	}
	fflush(f);
}
