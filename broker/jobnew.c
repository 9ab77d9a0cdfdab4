/*
 * Making jobs: an enrollment (IR, CR, P10CR), a renewal (KUR), a
 * revocation (RR) or a question to the CA (genm), each stored before its
 * first step; and taking up the jobs a previous run left unfinished.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job_int.h"
#include "log.h"
#include "record.h"
#include "track.h"
#include "util.h"

#define FAIL(code, ...)                             \
	do {                                        \
		snprintf(err, errlen, __VA_ARGS__); \
		rv = (code);                        \
		goto out;                           \
	} while (0)

static const char *const op_names[] = {
	[OP(IR)] = "ir",
	[OP(CR)] = "cr",
	[OP(KUR)] = "kur",
	[OP(P10CR)] = "p10cr",
	[OP(RR)] = "rr",
	[OP(GENM)] = "genm",
};

/* A new record: ids, the transactionID, the deadline. */
static cmpd_err
record_new(
    const struct profile *pr, Cmpd__CmpOp op, uint32_t uid, Cmpd__Job **out)
{
	char id[CMPD_JOB_ID_LEN + 1];
	Cmpd__Job *rec = rec_job_new();
	cmpd_err rv = CMPD_ENOMEM;

	if (rec == NULL)
		return CMPD_ENOMEM;
	if ((rv = cmpd_job_id_new(id)) != CMPD_OK ||
	    (rv = rec_set_str(&rec->id, id)) != CMPD_OK ||
	    (rv = rec_set_str(&rec->profile, pr->name)) != CMPD_OK ||
	    (rv = rec_tid_new(rec)) != CMPD_OK) {
		cmpd__job__free_unpacked(rec, NULL);
		return rv;
	}
	rec->op = op;
	rec->state = S(QUEUED);
	rec->created = rec->updated = cmpd_time_now();
	rec->owner_uid = uid;
	rec->revocation_reason = -1;
	if (pr->total_timeout > 0)
		rec->deadline = rec->created + pr->total_timeout;
	*out = rec;
	return CMPD_OK;
}

/*
 * The certificates a job needs besides the profile's: the tracked one it
 * acts on, and for certificate protection the other profile's current one.
 */
static cmpd_err
job_load_refs(struct job *job, char *err, size_t errlen)
{
	const struct profile *pr = job_profile(job);
	Cmpd__Job *rec = job->rec;
	cmpd_err rv = CMPD_OK;

	if ((rec->op == OP(KUR) || rec->op == OP(RR)) && job->target == NULL &&
	    (rv = store_cert_get(job->b->store, rec->cert_id, &job->target)) !=
	        CMPD_OK)
		FAIL(rv, "no tracked certificate %s", rec->cert_id);
	if (pr->protection != PROTECTION_CERTIFICATE || job->signer != NULL ||
	    rec->op == OP(KUR) || rec->op == OP(RR))
		return CMPD_OK;
	if ((rv = store_cert_active(
	         job->b->store, pr->protect_with, &job->signer)) != CMPD_OK)
		FAIL(rv,
		    "profile %s is protected by profile %s's certificate, "
		    "which has none: enroll it first",
		    pr->name, pr->protect_with);
	if (rec_set_str(&rec->protection_cert_id, job->signer->id) != CMPD_OK)
		FAIL(CMPD_ENOMEM, "out of memory");
out:
	return rv;
}

/* A job that never started lets go of its tracked certificate. */
static void
cert_unclaim(struct broker *b, const char *id)
{
	Cmpd__CertRecord *cert = NULL;

	if (store_cert_get(b->store, id, &cert) != CMPD_OK)
		return;
	if (rec_set_str(&cert->renewing_job, "") == CMPD_OK &&
	    store_cert_put(b->store, cert) == CMPD_OK)
		track_changed(b, cert);
	cmpd__cert_record__free_unpacked(cert, NULL);
}

/* Stores rec, makes it a job and takes its first step. */
static cmpd_err
job_start(struct broker *b, Cmpd__Job *rec, Cmpd__CertRecord *target,
    const Cmpd__Job **out, char *err, size_t errlen)
{
	struct job *job = job_adopt(b, rec);
	cmpd_err rv;

	if (job == NULL) {
		cmpd__job__free_unpacked(rec, NULL);
		if (target != NULL)
			cmpd__cert_record__free_unpacked(target, NULL);
		snprintf(err, errlen, "out of memory");
		return CMPD_ENOMEM;
	}
	job->target = target;
	if ((rv = job_load_refs(job, err, errlen)) != CMPD_OK ||
	    (rv = store_job_put(b->store, rec)) != CMPD_OK) {
		if (err[0] == '\0')
			snprintf(err, errlen, "cannot store the job: %s",
			    store_strerror(b->store));
		if (cmpd_str_set(rec->cert_id))
			cert_unclaim(b, rec->cert_id);
		job_release(job); /* never stored: nothing else to undo */
		return rv;
	}
	log_info("job %s: %s with profile %s for uid %u%s", rec->id,
	    op_names[rec->op], rec->profile, rec->owner_uid,
	    rec->automatic ? " (automatic)" : "");
	*out = rec;
	job_run(job);
	return CMPD_OK;
}

static cmpd_err
enroll_fill(Cmpd__Job *rec, const struct job_request *req)
{
	const struct profile *pr = req->profile;
	const char *subject =
	    cmpd_str_set(req->subject) ? req->subject : pr->subject;

	rec->key_type = req->key_type ? req->key_type : pr->key_type;
	if (rec_set_str(&rec->subject, subject) != CMPD_OK ||
	    rec_set_str(&rec->key_id, req->key_id) != CMPD_OK)
		return CMPD_ENOMEM;
	if (req->n_sans > 0)
		return rec_set_str_list(
		    &rec->sans, &rec->n_sans, req->sans, req->n_sans);
	return rec_set_str_list(
	    &rec->sans, &rec->n_sans, pr->sans.v, pr->sans.n);
}

cmpd_err
job_enroll(struct broker *b, const struct job_request *req,
    const Cmpd__Job **out, char *err, size_t errlen)
{
	const struct profile *pr = req->profile;
	Cmpd__CmpOp op = req->op ? req->op : pr->op;
	Cmpd__Job *rec = NULL;
	cmpd_err rv;

	if (op == OP(CR) && pr->protection != PROTECTION_CERTIFICATE)
		FAIL(CMPD_EINVAL,
		    "a CR is protected by a certificate cmpd enrolled: "
		    "profile %s needs protection = certificate",
		    pr->name);
	if ((rv = record_new(pr, op, req->owner_uid, &rec)) != CMPD_OK ||
	    (rv = enroll_fill(rec, req)) != CMPD_OK)
		FAIL(rv, "%s", cmpd_strerror(rv));
	if (!cmpd_str_set(rec->subject))
		FAIL(CMPD_EINVAL, "profile %s has no subject: give one",
		    pr->name);
	rv = job_start(b, rec, NULL, out, err, errlen);
	rec = NULL;
out:
	if (rec != NULL)
		cmpd__job__free_unpacked(rec, NULL);
	return rv;
}

/* A tracked certificate gets at most one job at a time. */
static cmpd_err
cert_claim(struct broker *b, Cmpd__CertRecord *cert, const Cmpd__Job *rec,
    char *err, size_t errlen)
{
	if (cmpd_str_set(cert->renewing_job) &&
	    job_find(b, cert->renewing_job) != NULL) {
		snprintf(err, errlen,
		    "job %s is already at work on "
		    "certificate %s",
		    cert->renewing_job, cert->id);
		return CMPD_EEXIST;
	}
	if (rec_set_str(&cert->renewing_job, rec->id) != CMPD_OK ||
	    store_cert_put(b->store, cert) != CMPD_OK) {
		snprintf(err, errlen, "cannot store certificate %s: %s",
		    cert->id, store_strerror(b->store));
		return CMPD_EIO;
	}
	track_set_busy(b, cert->id, 1);
	return CMPD_OK;
}

/* A job that acts on a tracked certificate: KUR or RR. */
static cmpd_err
cert_job_new(struct broker *b, Cmpd__CertRecord *cert, Cmpd__CmpOp op,
    uint32_t uid, Cmpd__Job **out, char *err, size_t errlen)
{
	const struct profile *pr = config_profile(b->cfg, cert->profile);
	cmpd_err rv;

	if (pr == NULL) {
		snprintf(err, errlen, "profile %s of certificate %s is gone",
		    cert->profile, cert->id);
		return CMPD_ENOENT;
	}
	if ((rv = record_new(pr, op, uid, out)) != CMPD_OK ||
	    (rv = rec_set_str(&(*out)->cert_id, cert->id)) != CMPD_OK) {
		snprintf(err, errlen, "%s", cmpd_strerror(rv));
		return rv;
	}
	return CMPD_OK;
}

static cmpd_err
renew_start(struct broker *b, Cmpd__CertRecord *cert, int keep_key,
    Cmpd__KeyType type, uint32_t uid, int automatic, const Cmpd__Job **out,
    char *err, size_t errlen)
{
	Cmpd__Job *rec = NULL;
	cmpd_err rv;

	if ((rv = cert_job_new(b, cert, OP(KUR), uid, &rec, err, errlen)) !=
	    CMPD_OK)
		goto out;
	rec->keep_key = keep_key;
	rec->automatic = automatic;
	rec->key_type = type ? type : cert->key_type;
	if (rec_set_str(&rec->old_key_id, cert->key_id) != CMPD_OK ||
	    (keep_key && rec_set_str(&rec->key_id, cert->key_id) != CMPD_OK))
		FAIL(CMPD_ENOMEM, "out of memory");
	if ((rv = cert_claim(b, cert, rec, err, errlen)) != CMPD_OK)
		goto out;
	rv = job_start(b, rec, cert, out, err, errlen);
	return rv;
out:
	if (rec != NULL)
		cmpd__job__free_unpacked(rec, NULL);
	cmpd__cert_record__free_unpacked(cert, NULL);
	return rv;
}

cmpd_err
job_renew(struct broker *b, Cmpd__CertRecord *rec, int keep_key,
    Cmpd__KeyType type, uint32_t uid, const Cmpd__Job **out, char *err,
    size_t errlen)
{
	return renew_start(b, rec, keep_key, type, uid, 0, out, err, errlen);
}

cmpd_err
job_renew_auto(struct broker *b, const char *id, char *err, size_t errlen)
{
	Cmpd__CertRecord *cert = NULL;
	const struct profile *pr;
	const Cmpd__Job *job;

	if (store_cert_get(b->store, id, &cert) != CMPD_OK) {
		snprintf(err, errlen, "no tracked certificate %s", id);
		return CMPD_ENOENT;
	}
	pr = config_profile(b->cfg, cert->profile);
	return renew_start(b, cert, pr != NULL && pr->keep_key, 0,
	    (uint32_t)geteuid(), 1, &job, err, errlen);
}

cmpd_err
job_revoke(struct broker *b, Cmpd__CertRecord *cert, int32_t reason,
    uint32_t uid, const Cmpd__Job **out, char *err, size_t errlen)
{
	Cmpd__Job *rec = NULL;
	cmpd_err rv;

	if (cert->state == CMPD__CERT_STATE__CERT_REVOKED)
		FAIL(
		    CMPD_EINVAL, "certificate %s is revoked already", cert->id);
	if ((rv = cert_job_new(b, cert, OP(RR), uid, &rec, err, errlen)) !=
	    CMPD_OK)
		goto out;
	rec->revocation_reason = reason;
	if ((rv = cert_claim(b, cert, rec, err, errlen)) != CMPD_OK)
		goto out;
	return job_start(b, rec, cert, out, err, errlen);
out:
	if (rec != NULL)
		cmpd__job__free_unpacked(rec, NULL);
	cmpd__cert_record__free_unpacked(cert, NULL);
	return rv;
}

cmpd_err
job_genm(struct broker *b, const struct profile *pr, Cmpd__GenmType type,
    uint32_t uid, const Cmpd__Job **out, char *err, size_t errlen)
{
	Cmpd__Job *rec = NULL;
	cmpd_err rv;

	if ((rv = record_new(pr, OP(GENM), uid, &rec)) != CMPD_OK ||
	    (rec->genm = malloc(sizeof(*rec->genm))) == NULL) {
		if (rec != NULL)
			cmpd__job__free_unpacked(rec, NULL);
		snprintf(err, errlen, "out of memory");
		return CMPD_ENOMEM;
	}
	cmpd__genm_result__init(rec->genm);
	rec->genm->type = type;
	return job_start(b, rec, NULL, out, err, errlen);
}

/*
 * After expiry, where the profile allows it: enroll again as the expired
 * certificate was first enrolled (its job's subject, names and key type).
 */
cmpd_err
job_reenroll(struct broker *b, const char *id, char *err, size_t errlen)
{
	Cmpd__CertRecord *cert = NULL;
	Cmpd__Job *first = NULL, *rec = NULL;
	struct job_request req = { 0 };
	const Cmpd__Job *out;
	cmpd_err rv;

	if ((rv = store_cert_get(b->store, id, &cert)) != CMPD_OK ||
	    (rv = store_job_get(b->store, cert->job_id, &first)) != CMPD_OK)
		FAIL(rv, "certificate %s or its first job is gone", id);
	if ((req.profile = config_profile(b->cfg, cert->profile)) == NULL)
		FAIL(CMPD_ENOENT, "profile %s is gone", cert->profile);
	req.subject = first->subject;
	req.sans = first->sans;
	req.n_sans = first->n_sans;
	req.key_type = cert->key_type;
	req.owner_uid = first->owner_uid;
	req.op = req.profile->op == OP(P10CR) ? OP(P10CR) : OP(IR);
	if ((rv = record_new(req.profile, req.op, req.owner_uid, &rec)) !=
	        CMPD_OK ||
	    (rv = enroll_fill(rec, &req)) != CMPD_OK ||
	    (rv = rec_set_str(&rec->cert_id, cert->id)) != CMPD_OK)
		FAIL(rv, "%s", cmpd_strerror(rv));
	rec->automatic = 1;
	if ((rv = cert_claim(b, cert, rec, err, errlen)) != CMPD_OK)
		goto out;
	rv = job_start(b, rec, NULL, &out, err, errlen);
	rec = NULL;
out:
	if (rec != NULL)
		cmpd__job__free_unpacked(rec, NULL);
	if (cert != NULL)
		cmpd__cert_record__free_unpacked(cert, NULL);
	if (first != NULL)
		cmpd__job__free_unpacked(first, NULL);
	return rv;
}

/*
 * A job that was queued or generating its key starts again; one that was
 * in its transaction resumes it (jobresume.c).
 */
static int
job_resume_cb(void *arg, Cmpd__Job *rec)
{
	struct broker *b = arg;
	char err[256] = "";
	struct job *job;

	if (config_profile(b->cfg, rec->profile) == NULL) {
		log_warn("job %s: profile %s is gone", rec->id, rec->profile);
		rec->state = S(FAILED);
		rec_set_str(&rec->error_text, "the profile was removed");
		store_job_put(b->store, rec);
		cmpd__job__free_unpacked(rec, NULL);
		return 0;
	}
	if ((job = job_adopt(b, rec)) == NULL) {
		cmpd__job__free_unpacked(rec, NULL);
		return 1;
	}
	if (cmpd_str_set(rec->cert_id))
		track_set_busy(b, rec->cert_id, 1);
	if (job_load_refs(job, err, sizeof(err)) != CMPD_OK) {
		job_fail(job, CMPD_ENOENT, NULL, "%s", err);
		return 0;
	}
	if (rec->state == S(QUEUED) || rec->state == S(KEYGEN)) {
		log_info("job %s: resuming", rec->id);
		rec->state = S(QUEUED);
		job_run(job);
	} else {
		job_txn_rerun(job, 0, "cmpd restarted");
	}
	return 0;
}

cmpd_err
job_resume_all(struct broker *b)
{
	job_workers_watch(b);
	return store_job_each(b->store, 1, job_resume_cb, b);
}
