/*
 * Health (HealthReq): what needs attention, and its accessors.
 */
#include <stdlib.h>

#include "client_int.h"

struct cmpd_health {
	cmpd_env *env;
	const Cmpd__HealthRep *pb;
};

static const char *const kind_names[] = {
	[CMPD__HEALTH_KIND__HEALTH_KIND_UNSPECIFIED] = "unknown",
	[CMPD__HEALTH_KIND__HEALTH_STUCK_JOB] = "stuck_job",
	[CMPD__HEALTH_KIND__HEALTH_RENEWAL_OVERDUE] = "renewal_overdue",
	[CMPD__HEALTH_KIND__HEALTH_EXPIRES_BEFORE_RETRY] =
	    "expires_before_retry",
	[CMPD__HEALTH_KIND__HEALTH_EXPIRING] = "expiring",
};

cmpd_result
cmpd_health_get(cmpd_client *client, const char *profile, cmpd_health **out)
{
	Cmpd__HealthReq q = CMPD__HEALTH_REQ__INIT;
	cmpd_env req, *rep = NULL;
	cmpd_health *h;
	cmpd_result rv;

	if (client_check(client) != CMPD_RESULT_OK)
		return CMPD_RESULT_INVALID;
	if (out == NULL || (profile != NULL && !client_target_ok(profile)))
		return client_fail(client, CMPD_RESULT_INVALID,
		    "out is NULL or profile is not a profile name");
	cmpd_env_init(&req, 0);
	q.profile = (char *)(profile != NULL ? profile : "");
	req.body_case = CMPD__ENVELOPE__BODY_HEALTH_REQ;
	req.health_req = &q;
	rv =
	    client_call(client, &req, CMPD__ENVELOPE__BODY_HEALTH_REP, 0, &rep);
	if (rv != CMPD_RESULT_OK)
		return rv;
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		cmpd_ipc_free(rep);
		return client_fail(client, CMPD_RESULT_NOMEM, "out of memory");
	}
	h->env = rep;
	h->pb = rep->health_rep;
	*out = h;
	return CMPD_RESULT_OK;
}

void
cmpd_health_free(cmpd_health *health)
{
	if (health == NULL)
		return;
	cmpd_ipc_free(health->env);
	free(health);
}

int64_t
cmpd_health_time(const cmpd_health *health)
{
	return health->pb->time;
}

uint32_t
cmpd_health_jobs_unfinished(const cmpd_health *health)
{
	return health->pb->jobs_unfinished;
}

uint32_t
cmpd_health_certs_active(const cmpd_health *health)
{
	return health->pb->certs_active;
}

uint32_t
cmpd_health_certs_expired(const cmpd_health *health)
{
	return health->pb->certs_expired;
}

uint32_t
cmpd_health_certs_revoked(const cmpd_health *health)
{
	return health->pb->certs_revoked;
}

size_t
cmpd_health_problem_count(const cmpd_health *health)
{
	return health->pb->n_problems;
}

static const Cmpd__HealthProblem *
problem(const cmpd_health *health, size_t i)
{
	return i < health->pb->n_problems ? health->pb->problems[i] : NULL;
}

const char *
cmpd_health_problem_kind(const cmpd_health *health, size_t i)
{
	const Cmpd__HealthProblem *p = problem(health, i);

	if (p == NULL)
		return NULL;
	if ((unsigned)p->kind >= sizeof(kind_names) / sizeof(kind_names[0]))
		return "unknown";
	return kind_names[p->kind];
}

const char *
cmpd_health_problem_profile(const cmpd_health *health, size_t i)
{
	const Cmpd__HealthProblem *p = problem(health, i);

	return p != NULL ? p->profile : NULL;
}

const char *
cmpd_health_problem_job_id(const cmpd_health *health, size_t i)
{
	const Cmpd__HealthProblem *p = problem(health, i);

	return p != NULL ? p->job_id : NULL;
}

const char *
cmpd_health_problem_cert_id(const cmpd_health *health, size_t i)
{
	const Cmpd__HealthProblem *p = problem(health, i);

	return p != NULL ? p->cert_id : NULL;
}

cmpd_job_state
cmpd_health_problem_job_state(const cmpd_health *health, size_t i)
{
	const Cmpd__HealthProblem *p = problem(health, i);

	if (p == NULL || (unsigned)p->job_state >= CMPD_JOB_STATE_MAX)
		return CMPD_JOB_STATE_UNKNOWN;
	return (cmpd_job_state)p->job_state;
}

int64_t
cmpd_health_problem_since(const cmpd_health *health, size_t i)
{
	const Cmpd__HealthProblem *p = problem(health, i);

	return p != NULL ? p->since : 0;
}

int64_t
cmpd_health_problem_due(const cmpd_health *health, size_t i)
{
	const Cmpd__HealthProblem *p = problem(health, i);

	return p != NULL ? p->due : 0;
}

const char *
cmpd_health_problem_detail(const cmpd_health *health, size_t i)
{
	const Cmpd__HealthProblem *p = problem(health, i);

	return p != NULL ? p->detail : NULL;
}

uint32_t
cmpd_health_problem_failures(const cmpd_health *health, size_t i)
{
	const Cmpd__HealthProblem *p = problem(health, i);

	return p != NULL ? p->failures : 0;
}

int64_t
cmpd_health_problem_next_attempt(const cmpd_health *health, size_t i)
{
	const Cmpd__HealthProblem *p = problem(health, i);

	return p != NULL ? p->next_attempt : 0;
}
