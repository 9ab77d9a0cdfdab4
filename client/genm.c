/*
 * General messages: asking a profile's CA a question (GenmReq) and what
 * the finished job shows of the answer (GenmResult): the CA certificates,
 * the root CA key update, the certificate request template. The library
 * only presents the answer; cmpd's networker parsed and checked it.
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

cmpd_result
cmpd_genm(
    cmpd_client *client, const char *profile, const char *type, cmpd_job **out)
{
	Cmpd__GenmReq g = CMPD__GENM_REQ__INIT;
	cmpd_env req;

	if (client_check(client) != CMPD_RESULT_OK)
		return CMPD_RESULT_INVALID;
	if (out == NULL || !client_text_ok(profile, 256))
		return client_fail(client, CMPD_RESULT_INVALID,
		    "invalid profile name or output");
	g.type = names_genm_parse(type);
	if (g.type == CMPD__GENM_TYPE__GENM_TYPE_UNSPECIFIED)
		return client_fail(client, CMPD_RESULT_INVALID,
		    "unknown genm type %s (ca-certs, root-update, template)",
		    type != NULL ? type : "(null)");
	g.profile = (char *)profile;
	cmpd_env_init(&req, 0);
	req.body_case = CMPD__ENVELOPE__BODY_GENM_REQ;
	req.genm_req = &g;
	return client_job_call(client, &req, 0, out);
}

/* The CA certificates: one set of details each, and all as PEM. */
static int
genm_ca_init(struct genm_info *g, const Cmpd__GenmResult *pb)
{
	g->ca_certs_pem = pem_encode_all(pb->ca_certs, pb->n_ca_certs);
	g->ca = calloc(pb->n_ca_certs + 1, sizeof(*g->ca));
	if (g->ca_certs_pem == NULL || g->ca == NULL)
		return -1;
	for (; g->n_ca < pb->n_ca_certs; g->n_ca++) {
		const ProtobufCBinaryData *d = &pb->ca_certs[g->n_ca];

		if (cert_details_read(&g->ca[g->n_ca], d->data, d->len) != 0) {
			/* Not counted yet: free what it did allocate. */
			cert_details_fini(&g->ca[g->n_ca]);
			return -1;
		}
	}
	return 0;
}

int
genm_info_init(struct genm_info *g, const Cmpd__GenmResult *pb)
{
	static const Cmpd__GenmResult none = CMPD__GENM_RESULT__INIT;

	memset(g, 0, sizeof(*g));
	if (pb == NULL)
		pb = &none;
	if (genm_ca_init(g, pb) != 0)
		return -1;
	g->new_root_pem =
	    pem_encode("CERTIFICATE", pb->new_root.data, pb->new_root.len);
	g->new_with_old_pem = pem_encode(
	    "CERTIFICATE", pb->new_with_old.data, pb->new_with_old.len);
	g->old_with_new_pem = pem_encode(
	    "CERTIFICATE", pb->old_with_new.data, pb->old_with_new.len);
	g->template_text = template_text(&pb->cert_template, &pb->key_spec);
	if (g->new_root_pem == NULL || g->new_with_old_pem == NULL ||
	    g->old_with_new_pem == NULL || g->template_text == NULL)
		return -1;
	return cert_details_read(
	    &g->new_root, pb->new_root.data, pb->new_root.len);
}

void
genm_info_fini(struct genm_info *g)
{
	for (size_t i = 0; i < g->n_ca; i++)
		cert_details_fini(&g->ca[i]);
	free(g->ca);
	free(g->ca_certs_pem);
	free(g->new_root_pem);
	free(g->new_with_old_pem);
	free(g->old_with_new_pem);
	free(g->template_text);
	cert_details_fini(&g->new_root);
	memset(g, 0, sizeof(*g));
}

const char *
cmpd_job_genm_type(const cmpd_job *job)
{
	return job->pb->genm != NULL ? names_genm_type(job->pb->genm->type)
	                             : "";
}

int
cmpd_job_genm_empty(const cmpd_job *job)
{
	return job->pb->genm != NULL && job->pb->genm->empty;
}

size_t
cmpd_job_genm_ca_cert_count(const cmpd_job *job)
{
	return job->genm.n_ca;
}

const char *
cmpd_job_genm_ca_certs_pem(const cmpd_job *job)
{
	return job->genm.ca_certs_pem;
}

const uint8_t *
cmpd_job_genm_ca_cert_der(const cmpd_job *job, size_t i, size_t *len)
{
	if (i >= job->genm.n_ca) {
		*len = 0;
		return NULL;
	}
	*len = job->pb->genm->ca_certs[i].len;
	return job->pb->genm->ca_certs[i].data;
}

const char *
cmpd_job_genm_ca_cert_subject(const cmpd_job *job, size_t i)
{
	return i < job->genm.n_ca ? job->genm.ca[i].subject : NULL;
}

const char *
cmpd_job_genm_new_root_pem(const cmpd_job *job)
{
	return job->genm.new_root_pem;
}

const char *
cmpd_job_genm_new_with_old_pem(const cmpd_job *job)
{
	return job->genm.new_with_old_pem;
}

const char *
cmpd_job_genm_old_with_new_pem(const cmpd_job *job)
{
	return job->genm.old_with_new_pem;
}

const char *
cmpd_job_genm_new_root_subject(const cmpd_job *job)
{
	return job->genm.new_root.subject;
}

int64_t
cmpd_job_genm_new_root_not_before(const cmpd_job *job)
{
	return job->genm.new_root.not_before;
}

int64_t
cmpd_job_genm_new_root_not_after(const cmpd_job *job)
{
	return job->genm.new_root.not_after;
}

const char *
cmpd_job_genm_new_root_fingerprint(const cmpd_job *job)
{
	return job->genm.new_root.fingerprint;
}

/* DER bytes of the answer: NULL and 0 when absent. */
static const uint8_t *
genm_bytes(const ProtobufCBinaryData *b, size_t *len)
{
	*len = b != NULL ? b->len : 0;
	return *len > 0 ? b->data : NULL;
}

const uint8_t *
cmpd_job_genm_template_der(const cmpd_job *job, size_t *len)
{
	const Cmpd__GenmResult *g = job->pb->genm;

	return genm_bytes(g != NULL ? &g->cert_template : NULL, len);
}

const uint8_t *
cmpd_job_genm_key_spec_der(const cmpd_job *job, size_t *len)
{
	const Cmpd__GenmResult *g = job->pb->genm;

	return genm_bytes(g != NULL ? &g->key_spec : NULL, len);
}

const char *
cmpd_job_genm_template_text(const cmpd_job *job)
{
	return job->genm.template_text;
}
