/*
 * Tracked certificates: renewing one now (RenewReq, a KUR) with the
 * options a caller may set, and revoking one (RevokeReq, an RR). Both are
 * checked here so that a typing error is reported before cmpd is asked.
 */
#include <stdlib.h>

#include "client_int.h"
#include "keyid.h"

#define KEEP_AND_TYPE                                                    \
	"a kept key has its own type: keep the key or give a key type, " \
	"not both"

struct cmpd_renew_opts {
	int keep_key;
	Cmpd__KeyType key_type;
};

cmpd_result
cmpd_renew_opts_new(cmpd_renew_opts **out)
{
	cmpd_renew_opts *o;

	if (out == NULL)
		return client_fail(NULL, CMPD_RESULT_INVALID, "out is NULL");
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return client_fail(NULL, CMPD_RESULT_NOMEM, "out of memory");
	*out = o;
	return CMPD_RESULT_OK;
}

void
cmpd_renew_opts_free(cmpd_renew_opts *opts)
{
	free(opts);
}

cmpd_result
cmpd_renew_opts_set_keep_key(cmpd_renew_opts *opts, int keep)
{
	if (opts == NULL)
		return client_fail(NULL, CMPD_RESULT_INVALID, "opts is NULL");
	if (keep && opts->key_type != CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED)
		return client_fail(NULL, CMPD_RESULT_INVALID, KEEP_AND_TYPE);
	opts->keep_key = keep != 0;
	return CMPD_RESULT_OK;
}

cmpd_result
cmpd_renew_opts_set_key_type(cmpd_renew_opts *opts, const char *name)
{
	Cmpd__KeyType type = CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED;

	if (opts == NULL)
		return client_fail(NULL, CMPD_RESULT_INVALID, "opts is NULL");
	if (name != NULL &&
	    (type = cmpd_key_type_parse(name)) ==
	        CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED)
		return client_fail(NULL, CMPD_RESULT_INVALID,
		    "unknown key type %s (ec-p256, ec-p384, rsa2048, rsa3072, "
		    "rsa4096, ed25519)",
		    name);
	if (opts->keep_key && type != CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED)
		return client_fail(NULL, CMPD_RESULT_INVALID, KEEP_AND_TYPE);
	opts->key_type = type;
	return CMPD_RESULT_OK;
}

/* The checks every call on a tracked certificate starts with. */
static cmpd_result
target_check(cmpd_client *c, const char *cert_or_profile, cmpd_job **out)
{
	if (client_check(c) != CMPD_RESULT_OK)
		return CMPD_RESULT_INVALID;
	if (out == NULL)
		return client_fail(c, CMPD_RESULT_INVALID, "out is NULL");
	if (!client_target_ok(cert_or_profile))
		return client_fail(c, CMPD_RESULT_INVALID,
		    "not a certificate id or profile name (1 to 64 of "
		    "A-Z a-z 0-9 . _ -): %s",
		    cert_or_profile != NULL ? cert_or_profile : "(null)");
	return CMPD_RESULT_OK;
}

cmpd_result
cmpd_renew(cmpd_client *client, const char *cert_or_profile,
    const cmpd_renew_opts *opts, cmpd_job **out)
{
	Cmpd__RenewReq r = CMPD__RENEW_REQ__INIT;
	cmpd_result rv = target_check(client, cert_or_profile, out);
	cmpd_env req;

	if (rv != CMPD_RESULT_OK)
		return rv;
	r.cert = (char *)cert_or_profile;
	if (opts != NULL) {
		r.keep_key = opts->keep_key;
		r.key_type = opts->key_type;
	}
	cmpd_env_init(&req, 0);
	req.body_case = CMPD__ENVELOPE__BODY_RENEW_REQ;
	req.renew_req = &r;
	return client_job_call(client, &req, 0, out);
}

cmpd_result
cmpd_revoke(cmpd_client *client, const char *cert_or_profile, int reason,
    cmpd_job **out)
{
	Cmpd__RevokeReq r = CMPD__REVOKE_REQ__INIT;
	cmpd_result rv = target_check(client, cert_or_profile, out);
	cmpd_env req;

	if (rv != CMPD_RESULT_OK)
		return rv;
	if (reason != -1 && cmpd_crl_reason_name(reason) == NULL)
		return client_fail(client, CMPD_RESULT_INVALID,
		    "not a CRLReason code: %d (0-6, 8-10, or -1 for none)",
		    reason);
	r.cert = (char *)cert_or_profile;
	r.reason = reason;
	cmpd_env_init(&req, 0);
	req.body_case = CMPD__ENVELOPE__BODY_REVOKE_REQ;
	req.revoke_req = &r;
	return client_job_call(client, &req, 0, out);
}
