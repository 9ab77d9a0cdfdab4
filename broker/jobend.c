/*
 * What a finished job changes. An enrollment makes a tracked certificate
 * (and supersedes its profile's previous one); a renewal replaces the
 * tracked certificate's certificate and key; a revocation marks it; a genm
 * keeps its answer (and a checked root CA update becomes a trust anchor).
 * The certificate files are written first, the store after: a crash in
 * between leaves a running job whose certificate is on disk, never a done
 * job without its files. Then the profile's reload command runs.
 */
#include <stdlib.h>
#include <string.h>

#include "anchor.h"
#include "api.h"
#include "event.h"
#include "hook.h"
#include "job_int.h"
#include "keyid.h"
#include "log.h"
#include "output.h"
#include "record.h"
#include "track.h"
#include "util.h"

/* The job's certificate and chain, from the networker's answer. */
static cmpd_err
job_take_cert(struct job *job, const Cmpd__TxnRep *r)
{
	const struct profile *pr = job_profile(job);
	Cmpd__Job *rec = job->rec;

	if (rec_set_bytes(&rec->cert, r->cert.data, r->cert.len) != CMPD_OK ||
	    rec_set_bytes_list(
	        &rec->chain, &rec->n_chain, r->chain, r->n_chain) != CMPD_OK ||
	    rec_set_str(&rec->cert_path, pr->cert_file) != CMPD_OK ||
	    rec_set_str(&rec->chain_path, pr->chain_file) != CMPD_OK)
		return CMPD_ENOMEM;
	return CMPD_OK;
}

/* Fills a tracked record from the job's certificate (a new one or KUR). */
static cmpd_err
cert_refresh(Cmpd__CertRecord *c, const struct job *job)
{
	const struct profile *pr = job_profile(job);
	const Cmpd__Job *rec = job->rec;
	cmpd_err rv;

	if ((rv = rec_cert_fill(c, rec)) != CMPD_OK ||
	    (rv = rec_set_bytes_list(&c->chain, &c->n_chain, rec->chain,
	         rec->n_chain)) != CMPD_OK ||
	    (rv = rec_set_str(&c->chain_path, pr->chain_file)) != CMPD_OK ||
	    (rv = rec_set_str(&c->last_error, "")) != CMPD_OK ||
	    (rv = rec_set_str(&c->renewing_job, "")) != CMPD_OK)
		return rv;
	c->key_type = rec->key_type;
	c->state = CMPD__CERT_STATE__CERT_ACTIVE;
	c->failures = 0;
	c->next_renewal = pr->auto_renew
	    ? track_renewal_time(pr, c->not_before, c->not_after,
	          cmpd_time_now(), track_random())
	    : 0;
	return CMPD_OK;
}

/*
 * Writes the profile's files (unless the certificate is no longer the
 * profile's current one), then commits the job and the records it changed.
 */
static cmpd_err
job_commit(struct job *job, Cmpd__CertRecord **certs, size_t n, int files)
{
	const struct profile *pr = job_profile(job);
	cmpd_err rv;

	if (files && job->rec->cert.len > 0 &&
	    (rv = output_write(pr, job->rec)) != CMPD_OK) {
		job_fail(job, rv, NULL, "cannot write %s: %s", pr->cert_file,
		    cmpd_strerror(rv));
		return rv;
	}
	job_transition(job, S(DONE));
	/* A finished job resumes nothing: its kept answers (kilobytes of
	 * CA messages) need not be written again, nor kept. */
	rec_set_bytes_list(
	    &job->rec->txn_messages, &job->rec->n_txn_messages, NULL, 0);
	rv = store_job_finish(
	    job->b->store, job->rec, (const Cmpd__CertRecord *const *)certs, n);
	if (rv != CMPD_OK) {
		job->rec->state = S(RUNNING);
		job_fail(job, rv, NULL, "cannot store the result: %s",
		    store_strerror(job->b->store));
		return rv;
	}
	for (size_t i = 0; i < n; i++)
		track_changed(job->b, certs[i]);
	api_job_changed(job->b->api, job->rec);
	return CMPD_OK;
}

/*
 * Whether the profile's file holds something else than prev, the
 * certificate cmpd wrote there last (outcheck.c): then it is left alone,
 * and the new certificate's record says so (FILE_FOREIGN_TEXT).
 */
#define FILE_FOREIGN_TEXT \
	"its certificate file was replaced by someone else; not overwritten"

static int
file_foreign(struct job *job, const ProtobufCBinaryData *prev)
{
	const struct profile *pr = job_profile(job);

	if (prev == NULL || prev->len == 0 ||
	    output_state(pr, prev) != OUTPUT_FOREIGN)
		return 0;
	log_warn("job %s: %s was replaced by someone else; not overwritten "
	         "(remove it to have the new certificate written)",
	    job->rec->id, pr->cert_file);
	return 1;
}

/* IR, CR, P10CR: a new tracked certificate, the profile's current one. */
static void
done_enroll(struct job *job)
{
	Cmpd__CertRecord *certs[2] = { NULL, NULL };
	size_t n = 1;
	int foreign;

	if ((certs[0] = rec_cert_new()) == NULL ||
	    rec_set_str(&certs[0]->id, job->rec->id) != CMPD_OK ||
	    rec_set_str(&job->rec->cert_id, job->rec->id) != CMPD_OK ||
	    cert_refresh(certs[0], job) != CMPD_OK) {
		job_fail(job, CMPD_ENOMEM, NULL, "out of memory");
		goto out;
	}
	if (store_cert_active(job->b->store, job->rec->profile, &certs[1]) ==
	    CMPD_OK) {
		certs[1]->state = CMPD__CERT_STATE__CERT_SUPERSEDED;
		certs[1]->next_renewal = 0;
		rec_set_str(&certs[1]->renewing_job, "");
		n = 2;
	}
	foreign = file_foreign(job, n == 2 ? &certs[1]->cert : NULL);
	if (foreign)
		rec_set_str(&certs[0]->last_error, FILE_FOREIGN_TEXT);
	if (job_commit(job, certs, n, !foreign) != CMPD_OK)
		goto out;
	log_info("job %s: certificate %s enrolled, written to %s", job->rec->id,
	    certs[0]->id, certs[0]->cert_path);
	hook_run(job->b, job_profile(job), "enrolled", certs[0]->id);
	event_emit(job->b, EV(ENROLLED), job->rec, certs[0]);
	job_cleanup(job, 0);
	job_release(job);
out:
	for (size_t i = 0; i < 2; i++)
		if (certs[i] != NULL)
			cmpd__cert_record__free_unpacked(certs[i], NULL);
}

/*
 * Whether an enrollment superseded the job's certificate while the job
 * ran (job->target is the record as the job began).
 */
static int
target_superseded(struct job *job)
{
	Cmpd__CertRecord *now = NULL;
	int superseded = 0;

	if (store_cert_get(job->b->store, job->target->id, &now) == CMPD_OK) {
		superseded = now->state == CMPD__CERT_STATE__CERT_SUPERSEDED;
		cmpd__cert_record__free_unpacked(now, NULL);
	}
	return superseded;
}

/*
 * KUR: the tracked certificate carries the new certificate and key. One
 * that a newer enrollment superseded meanwhile stays superseded, and the
 * profile's files stay the newer certificate's.
 */
static void
done_renew(struct job *job)
{
	Cmpd__CertRecord *cert = job->target;
	char old_key[CMPD_KEY_ID_LEN + 1];
	int retire, current = !target_superseded(job), foreign;

	cmpd_strlcpy(old_key, job->rec->old_key_id, sizeof(old_key));
	retire = !job->rec->keep_key && strcmp(old_key, job->rec->key_id) != 0;
	foreign = current && file_foreign(job, &cert->cert);
	if (cert_refresh(cert, job) != CMPD_OK ||
	    (foreign &&
	        rec_set_str(&cert->last_error, FILE_FOREIGN_TEXT) != CMPD_OK)) {
		job_fail(job, CMPD_ENOMEM, NULL, "out of memory");
		return;
	}
	cert->renewed = cmpd_time_now();
	if (!current) {
		cert->state = CMPD__CERT_STATE__CERT_SUPERSEDED;
		cert->next_renewal = 0;
		log_notice("job %s: certificate %s was superseded while it "
		           "was renewed; the profile's files stay as they are",
		    job->rec->id, cert->id);
	}
	if (job_commit(job, &cert, 1, current && !foreign) != CMPD_OK)
		return;
	log_info("job %s: certificate %s renewed, serial %s", job->rec->id,
	    cert->id, cert->serial);
	hook_run(job->b, job_profile(job), "renewed", cert->id);
	event_emit(job->b, EV(RENEWED), job->rec, cert);
	/*
	 * The old key goes only now that the new certificate is confirmed,
	 * after the grant that let it sign the request has ended.
	 */
	job_cleanup(job, 0);
	if (retire && cmpd_str_set(old_key))
		job_key_delete(job->b, old_key);
	job_release(job);
}

/* RR: the tracked certificate is revoked and never renewed again. */
static void
done_revoke(struct job *job)
{
	Cmpd__CertRecord *cert = job->target;

	cert->state = CMPD__CERT_STATE__CERT_REVOKED;
	cert->revocation_reason = job->rec->revocation_reason;
	cert->next_renewal = 0;
	if (rec_set_str(&cert->renewing_job, "") != CMPD_OK) {
		job_fail(job, CMPD_ENOMEM, NULL, "out of memory");
		return;
	}
	if (job_commit(job, &cert, 1, 1) != CMPD_OK)
		return;
	log_notice("job %s: certificate %s (serial %s) revoked", job->rec->id,
	    cert->id, cert->serial);
	event_emit(job->b, EV(REVOKED), job->rec, cert);
	job_cleanup(job, 0);
	job_release(job);
}

/* genm: the answer; a checked root CA update becomes a trust anchor. */
static void
done_genm(struct job *job, const Cmpd__TxnRep *r)
{
	const Cmpd__GenmResult *g = r->genm;
	cmpd_err rv;

	if (g == NULL || g->type != job->rec->genm->type) {
		job_fail(job, CMPD_EPROTO, NULL, "networker: no genm answer");
		return;
	}
	if ((rv = rec_set_genm(&job->rec->genm, g)) != CMPD_OK) {
		job_fail(job, rv, NULL, "out of memory");
		return;
	}
	if (g->type == CMPD__GENM_TYPE__GENM_ROOT_CA_KEY_UPDATE && !g->empty &&
	    (rv = anchor_add(job->b, job->rec->profile, &g->new_root)) !=
	        CMPD_OK) {
		job_fail(job, rv, NULL, "cannot keep the new root CA");
		return;
	}
	if (job_commit(job, NULL, 0, 1) != CMPD_OK)
		return;
	job_cleanup(job, 0);
	job_release(job);
}

void
job_done(struct job *job, const Cmpd__TxnRep *r)
{
	switch (job->rec->op) {
	case OP(IR):
	case OP(CR):
	case OP(P10CR):
	case OP(KUR):
		if (job_take_cert(job, r) != CMPD_OK) {
			job_fail(job, CMPD_ENOMEM, NULL, "out of memory");
			return;
		}
		if (job->rec->op == OP(KUR))
			done_renew(job);
		else
			done_enroll(job);
		return;
	case OP(RR):
		done_revoke(job);
		return;
	case OP(GENM):
		done_genm(job, r);
		return;
	default:
		log_err(
		    "job %s: unknown operation %d", job->rec->id, job->rec->op);
		abort();
	}
}

/*
 * A failed renewal (KUR, or IR after expiry) is tried again later, each
 * time later; the certificate remembers why it failed. Any failed job
 * lets go of its certificate.
 */
void
job_failed_effects(struct job *job)
{
	const struct profile *pr = job_profile(job);
	Cmpd__CertRecord *cert = NULL;
	int renewal = job->rec->op == OP(KUR) || job->rec->automatic;

	event_emit(job->b, EV(JOB_FAILED), job->rec, NULL);
	if (!cmpd_str_set(job->rec->cert_id) ||
	    store_cert_get(job->b->store, job->rec->cert_id, &cert) != CMPD_OK)
		return;
	if (strcmp(cert->renewing_job, job->rec->id) == 0)
		rec_set_str(&cert->renewing_job, "");
	if (renewal && cert->state == CMPD__CERT_STATE__CERT_ACTIVE) {
		cert->failures++;
		rec_set_str(&cert->last_error, job->rec->error_text);
		if (pr != NULL)
			cert->next_renewal = track_retry_time(pr,
			    cert->failures, cmpd_time_now(), track_random());
		log_warn("certificate %s: renewal failed (%u in a row); next "
		         "attempt in %llds",
		    cert->id, cert->failures,
		    (long long)(cert->next_renewal - cmpd_time_now()));
		event_emit(job->b, EV(RENEWAL_FAILED), job->rec, cert);
	}
	if (store_cert_put(job->b->store, cert) != CMPD_OK)
		log_err("certificate %s: cannot store the failure", cert->id);
	track_changed(job->b, cert);
	cmpd__cert_record__free_unpacked(cert, NULL);
}
