/*
 * The names the API shows: job and certificate states, CMP operations,
 * genm types, CRLReason codes, and the CA's PKIStatus and PKIFailureInfo
 * values with their RFC 9810 names.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client_int.h"
#include "util.h"

static const char *const state_names[CMPD_JOB_STATE_MAX] = {
	[CMPD_JOB_STATE_UNKNOWN] = "unknown",
	[CMPD_JOB_STATE_QUEUED] = "queued",
	[CMPD_JOB_STATE_KEYGEN] = "keygen",
	[CMPD_JOB_STATE_RUNNING] = "running",
	[CMPD_JOB_STATE_WAITING] = "waiting",
	[CMPD_JOB_STATE_DONE] = "done",
	[CMPD_JOB_STATE_FAILED] = "failed",
};

/* The public states are the wire's JobState values. */
#define SAME_STATE(a, b) _Static_assert((int)(a) == (int)(b), #a)
SAME_STATE(CMPD_JOB_STATE_QUEUED, CMPD__JOB_STATE__JOB_QUEUED);
SAME_STATE(CMPD_JOB_STATE_KEYGEN, CMPD__JOB_STATE__JOB_KEYGEN);
SAME_STATE(CMPD_JOB_STATE_RUNNING, CMPD__JOB_STATE__JOB_RUNNING);
SAME_STATE(CMPD_JOB_STATE_WAITING, CMPD__JOB_STATE__JOB_WAITING);
SAME_STATE(CMPD_JOB_STATE_DONE, CMPD__JOB_STATE__JOB_DONE);
SAME_STATE(CMPD_JOB_STATE_FAILED, CMPD__JOB_STATE__JOB_FAILED);

const char *
cmpd_job_state_name(cmpd_job_state state)
{
	if ((unsigned)state >= CMPD_JOB_STATE_MAX)
		return "unknown";
	return state_names[state];
}

const char *
names_op(Cmpd__CmpOp op)
{
	switch (op) {
	case CMPD__CMP_OP__CMP_OP_IR:
		return "ir";
	case CMPD__CMP_OP__CMP_OP_CR:
		return "cr";
	case CMPD__CMP_OP__CMP_OP_KUR:
		return "kur";
	case CMPD__CMP_OP__CMP_OP_P10CR:
		return "p10cr";
	case CMPD__CMP_OP__CMP_OP_RR:
		return "rr";
	case CMPD__CMP_OP__CMP_OP_GENM:
		return "genm";
	default:
		return "";
	}
}

static const char *const genm_names[] = {
	[CMPD__GENM_TYPE__GENM_CA_CERTS] = "ca-certs",
	[CMPD__GENM_TYPE__GENM_ROOT_CA_KEY_UPDATE] = "root-update",
	[CMPD__GENM_TYPE__GENM_CERT_REQ_TEMPLATE] = "template",
};

const char *
names_genm_type(Cmpd__GenmType type)
{
	if ((unsigned)type >= CMPD_ARRAY_LEN(genm_names) ||
	    genm_names[type] == NULL)
		return "";
	return genm_names[type];
}

Cmpd__GenmType
names_genm_parse(const char *name)
{
	for (size_t i = 0; name != NULL && i < CMPD_ARRAY_LEN(genm_names); i++)
		if (genm_names[i] != NULL && strcmp(genm_names[i], name) == 0)
			return (Cmpd__GenmType)i;
	return CMPD__GENM_TYPE__GENM_TYPE_UNSPECIFIED;
}

static const char *const cert_state_names[CMPD_CERT_STATE_MAX] = {
	[CMPD_CERT_STATE_UNKNOWN] = "unknown",
	[CMPD_CERT_STATE_ACTIVE] = "active",
	[CMPD_CERT_STATE_SUPERSEDED] = "superseded",
	[CMPD_CERT_STATE_REVOKED] = "revoked",
	[CMPD_CERT_STATE_EXPIRED] = "expired",
};

/* The public certificate states are the wire's CertState values. */
SAME_STATE(CMPD_CERT_STATE_ACTIVE, CMPD__CERT_STATE__CERT_ACTIVE);
SAME_STATE(CMPD_CERT_STATE_SUPERSEDED, CMPD__CERT_STATE__CERT_SUPERSEDED);
SAME_STATE(CMPD_CERT_STATE_REVOKED, CMPD__CERT_STATE__CERT_REVOKED);
SAME_STATE(CMPD_CERT_STATE_EXPIRED, CMPD__CERT_STATE__CERT_EXPIRED);

const char *
cmpd_cert_state_name(cmpd_cert_state state)
{
	if ((unsigned)state >= CMPD_CERT_STATE_MAX)
		return "unknown";
	return cert_state_names[state];
}

/* CRLReason, RFC 5280 section 5.3.1; 7 is unused. */
static const char *const crl_reason_names[] = {
	[0] = "unspecified",
	[1] = "keyCompromise",
	[2] = "cACompromise",
	[3] = "affiliationChanged",
	[4] = "superseded",
	[5] = "cessationOfOperation",
	[6] = "certificateHold",
	[8] = "removeFromCRL",
	[9] = "privilegeWithdrawn",
	[10] = "aACompromise",
};

const char *
cmpd_crl_reason_name(int reason)
{
	if (reason < 0 || (size_t)reason >= CMPD_ARRAY_LEN(crl_reason_names))
		return NULL;
	return crl_reason_names[reason];
}

/* A decimal code (at most two digits), or a name in any case. */
int
cmpd_crl_reason_parse(const char *s)
{
	size_t digits;

	if (s == NULL || s[0] == '\0')
		return -1;
	digits = strspn(s, "0123456789");
	if (digits == strlen(s)) {
		int code = digits <= 2 ? atoi(s) : -1;

		return cmpd_crl_reason_name(code) != NULL ? code : -1;
	}
	for (size_t i = 0; i < CMPD_ARRAY_LEN(crl_reason_names); i++)
		if (crl_reason_names[i] != NULL &&
		    strcasecmp(crl_reason_names[i], s) == 0)
			return (int)i;
	return -1;
}

/* PKIStatus, RFC 9810 section 5.2.3. */
static const char *const pki_status_names[] = {
	"accepted",
	"grantedWithMods",
	"rejection",
	"waiting",
	"revocationWarning",
	"revocationNotification",
	"keyUpdateWarning",
};

const char *
cmpd_pki_status_name(int status)
{
	if (status < 0 ||
	    (size_t)status >=
	        sizeof(pki_status_names) / sizeof(pki_status_names[0]))
		return NULL;
	return pki_status_names[status];
}

/* PKIFailureInfo, RFC 9810 section 5.2.3: bit n has the n-th name. */
static const char *const pki_failure_names[CMPD_PKI_FAILURE_MAX] = {
	"badAlg",
	"badMessageCheck",
	"badRequest",
	"badTime",
	"badCertId",
	"badDataFormat",
	"wrongAuthority",
	"incorrectData",
	"missingTimeStamp",
	"badPOP",
	"certRevoked",
	"certConfirmed",
	"wrongIntegrity",
	"badRecipientNonce",
	"timeNotAvailable",
	"unacceptedPolicy",
	"unacceptedExtension",
	"addInfoNotAvailable",
	"badSenderNonce",
	"badCertTemplate",
	"signerNotTrusted",
	"transactionIdInUse",
	"unsupportedVersion",
	"notAuthorized",
	"systemUnavail",
	"systemFailure",
	"duplicateCertReq",
};

const char *
cmpd_pki_failure_name(unsigned bit)
{
	if (bit >= CMPD_PKI_FAILURE_MAX)
		return NULL;
	return pki_failure_names[bit];
}
