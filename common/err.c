#include "err.h"

static const char *const err_names[CMPD_E_MAX] = {
	[CMPD_OK] = "success",
	[CMPD_ENOMEM] = "out of memory",
	[CMPD_EINVAL] = "invalid argument",
	[CMPD_EIO] = "input/output error",
	[CMPD_ECRYPTO] = "cryptographic operation failed",
	[CMPD_EPROTO] = "protocol error",
	[CMPD_ENOENT] = "not found",
	[CMPD_EPERM] = "permission denied",
	[CMPD_ETIMEDOUT] = "timed out",
	[CMPD_EEXIST] = "already exists",
	[CMPD_EUNAVAIL] = "service unavailable",
	[CMPD_EREFUSED] = "refused by the CA",
	[CMPD_ETRANSPORT] = "CA unreachable or transport error",
	[CMPD_EINTERNAL] = "internal error",
	[CMPD_EBADCERT] = "issued certificate rejected",
	[CMPD_ECANCELED] = "cancelled",
};

const char *
cmpd_strerror(cmpd_err err)
{
	if ((unsigned)err >= CMPD_E_MAX)
		return "unknown error";
	return err_names[err];
}
