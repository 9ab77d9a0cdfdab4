/*
 * Jobs: reading one (JobGetReq), following one to its end with cmpd's long
 * poll, listing them (JobListReq), and the accessors of a decoded job.
 */
#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "util.h"

cmpd_result
job_init(cmpd_client *c, struct cmpd_job *job, const Cmpd__Job *pb)
{
	memset(job, 0, sizeof(*job));
	if (pb == NULL || !cmpd_is_hex_id(pb->id, CMPD_JOB_ID_LEN))
		return client_fail(c, CMPD_RESULT_PROTOCOL,
		    "cmpd sent a job without a valid id");
	job->pb = pb;
	job->cert_pem = pem_encode("CERTIFICATE", pb->cert.data, pb->cert.len);
	job->chain_pem = pem_encode_all(pb->chain, pb->n_chain);
	if (job->cert_pem == NULL || job->chain_pem == NULL ||
	    cert_details_read(&job->cert, pb->cert.data, pb->cert.len) != 0 ||
	    genm_info_init(&job->genm, pb->genm) != 0) {
		job_fini(job);
		return client_fail(c, CMPD_RESULT_NOMEM, "out of memory");
	}
	return CMPD_RESULT_OK;
}

void
job_fini(struct cmpd_job *job)
{
	free(job->cert_pem);
	free(job->chain_pem);
	cert_details_fini(&job->cert);
	genm_info_fini(&job->genm);
	memset(job, 0, sizeof(*job));
}

void
cmpd_job_free(cmpd_job *job)
{
	if (job == NULL)
		return;
	cmpd_ipc_free(job->env);
	job_fini(job);
	free(job);
}

/* A new job owning env, the JobRep that carries it. */
static cmpd_result
job_from_rep(cmpd_client *c, cmpd_env *env, cmpd_job **out)
{
	cmpd_job *job = calloc(1, sizeof(*job));
	cmpd_result rv;

	if (job == NULL) {
		cmpd_ipc_free(env);
		return client_fail(c, CMPD_RESULT_NOMEM, "out of memory");
	}
	rv = job_init(c, job, env->job_rep->job);
	if (rv != CMPD_RESULT_OK) {
		cmpd_ipc_free(env);
		free(job);
		return rv;
	}
	job->env = env;
	*out = job;
	return CMPD_RESULT_OK;
}

cmpd_result
client_job_call(
    cmpd_client *c, cmpd_env *req, uint32_t extra_ms, cmpd_job **out)
{
	cmpd_env *rep = NULL;
	cmpd_result rv;

	rv = client_call(c, req, CMPD__ENVELOPE__BODY_JOB_REP, extra_ms, &rep);
	if (rv != CMPD_RESULT_OK)
		return rv;
	return job_from_rep(c, rep, out);
}

static cmpd_result
job_id_check(cmpd_client *c, const char *job_id)
{
	if (client_check(c) != CMPD_RESULT_OK)
		return CMPD_RESULT_INVALID;
	if (job_id == NULL || !cmpd_is_hex_id(job_id, CMPD_JOB_ID_LEN))
		return client_fail(c, CMPD_RESULT_INVALID,
		    "not a job id (up to %d hex digits): %s", CMPD_JOB_ID_LEN,
		    job_id != NULL ? job_id : "(null)");
	return CMPD_RESULT_OK;
}

/*
 * One JobGetReq; with wait_ms, a long poll that ends on a state change
 * (until_end: on the job's end).
 */
static cmpd_result
job_get(cmpd_client *c, const char *job_id, uint32_t wait_ms,
    cmpd_job_state seen, int until_end, cmpd_job **out)
{
	Cmpd__JobGetReq get = CMPD__JOB_GET_REQ__INIT;
	cmpd_env req;

	cmpd_env_init(&req, 0);
	get.job_id = (char *)job_id;
	get.wait_ms = wait_ms;
	get.seen_state = (Cmpd__JobState)seen;
	get.until_end = until_end;
	req.body_case = CMPD__ENVELOPE__BODY_JOB_GET_REQ;
	req.job_get_req = &get;
	return client_job_call(c, &req, wait_ms, out);
}

cmpd_result
cmpd_job_get(cmpd_client *client, const char *job_id, cmpd_job **out)
{
	cmpd_result rv = job_id_check(client, job_id);

	if (rv != CMPD_RESULT_OK)
		return rv;
	if (out == NULL)
		return client_fail(client, CMPD_RESULT_INVALID, "out is NULL");
	return job_get(client, job_id, 0, CMPD_JOB_STATE_UNKNOWN, 0, out);
}

static int
job_finished(const cmpd_job *job)
{
	cmpd_job_state s = cmpd_job_state_get(job);

	return s == CMPD_JOB_STATE_DONE || s == CMPD_JOB_STATE_FAILED;
}

uint32_t
client_wait_slice(int64_t timeout_ms, uint64_t deadline)
{
	uint64_t now = cmpd_clock_ms();
	uint64_t left;

	if (timeout_ms < 0)
		return CLIENT_LONG_POLL_MAX_MS;
	left = deadline > now ? deadline - now : 0;
	return left > CLIENT_LONG_POLL_MAX_MS ? CLIENT_LONG_POLL_MAX_MS
	                                      : (uint32_t)left;
}

void
client_wait_pace(uint64_t asked, uint32_t slice)
{
	uint64_t took = cmpd_clock_ms() - asked;
	uint64_t pause =
	    slice < CLIENT_POLL_PACE_MS ? slice : CLIENT_POLL_PACE_MS;

	if (took < pause)
		nng_msleep((nng_duration)(pause - took));
}

/*
 * Each request tells cmpd the state already seen, so cmpd answers as soon
 * as the job leaves it or the slice ends; between answers nothing runs.
 * Without a progress callback only the end matters: cmpd answers then,
 * and a short enrollment costs one request.
 */
cmpd_result
cmpd_job_wait_progress(cmpd_client *client, const char *job_id,
    int64_t timeout_ms, cmpd_job_progress_cb progress, void *arg,
    cmpd_job **out)
{
	uint64_t deadline =
	    cmpd_clock_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	cmpd_job_state seen = CMPD_JOB_STATE_UNKNOWN;
	cmpd_job *job = NULL;
	cmpd_result rv = job_id_check(client, job_id);
	int until_end = progress == NULL;
	uint32_t slice =
	    until_end ? client_wait_slice(timeout_ms, deadline) : 0;

	if (rv == CMPD_RESULT_OK && out == NULL)
		rv = client_fail(client, CMPD_RESULT_INVALID, "out is NULL");
	while (rv == CMPD_RESULT_OK) {
		uint64_t asked = cmpd_clock_ms();

		rv = job_get(client, job_id, slice, seen, until_end, &job);
		if (rv != CMPD_RESULT_OK)
			break;
		if (cmpd_job_state_get(job) != seen && progress != NULL)
			progress(job, arg);
		else if (cmpd_job_state_get(job) == seen && slice > 0)
			client_wait_pace(asked, slice);
		seen = cmpd_job_state_get(job);
		if (job_finished(job)) {
			*out = job;
			return CMPD_RESULT_OK;
		}
		cmpd_job_free(job);
		job = NULL;
		slice = client_wait_slice(timeout_ms, deadline);
		if (slice == 0)
			rv = client_fail(client, CMPD_RESULT_TIMEOUT,
			    "job %s is still %s after %lld ms", job_id,
			    cmpd_job_state_name(seen), (long long)timeout_ms);
	}
	return rv;
}

cmpd_result
cmpd_job_wait(
    cmpd_client *client, const char *job_id, int64_t timeout_ms, cmpd_job **out)
{
	return cmpd_job_wait_progress(
	    client, job_id, timeout_ms, NULL, NULL, out);
}

cmpd_result
cmpd_job_list(cmpd_client *client, const char *profile, cmpd_job_array **out)
{
	Cmpd__JobListReq list = CMPD__JOB_LIST_REQ__INIT;
	cmpd_job_array *arr = NULL;
	cmpd_env req, *rep = NULL;
	cmpd_result rv;

	if (client_check(client) != CMPD_RESULT_OK)
		return CMPD_RESULT_INVALID;
	if (out == NULL || (profile != NULL && !client_text_ok(profile, 256)))
		return client_fail(client, CMPD_RESULT_INVALID,
		    "invalid profile name or output");
	cmpd_env_init(&req, 0);
	list.profile = (char *)(profile != NULL ? profile : "");
	req.body_case = CMPD__ENVELOPE__BODY_JOB_LIST_REQ;
	req.job_list_req = &list;
	rv = client_call(
	    client, &req, CMPD__ENVELOPE__BODY_JOB_LIST_REP, 0, &rep);
	if (rv != CMPD_RESULT_OK)
		return rv;
	if ((arr = calloc(1, sizeof(*arr))) == NULL ||
	    (arr->jobs = calloc(
	         rep->job_list_rep->n_jobs + 1, sizeof(*arr->jobs))) == NULL) {
		free(arr);
		cmpd_ipc_free(rep);
		return client_fail(client, CMPD_RESULT_NOMEM, "out of memory");
	}
	arr->env = rep;
	for (size_t i = 0; i < rep->job_list_rep->n_jobs; i++, arr->count++) {
		rv =
		    job_init(client, &arr->jobs[i], rep->job_list_rep->jobs[i]);
		if (rv != CMPD_RESULT_OK) {
			cmpd_job_array_free(arr);
			return rv;
		}
	}
	*out = arr;
	return CMPD_RESULT_OK;
}

size_t
cmpd_job_array_count(const cmpd_job_array *jobs)
{
	return jobs->count;
}

const cmpd_job *
cmpd_job_array_get(const cmpd_job_array *jobs, size_t i)
{
	return i < jobs->count ? &jobs->jobs[i] : NULL;
}

void
cmpd_job_array_free(cmpd_job_array *jobs)
{
	if (jobs == NULL)
		return;
	for (size_t i = 0; i < jobs->count; i++)
		job_fini(&jobs->jobs[i]);
	free(jobs->jobs);
	cmpd_ipc_free(jobs->env);
	free(jobs);
}
