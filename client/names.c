/*
 * The names the API shows: job states, CMP operations, key types, and the
 * CA's PKIStatus and PKIFailureInfo values with their RFC 9810 names.
 */
#include <string.h>

#include "client_int.h"

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
