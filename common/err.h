/*
 * cmpd's one result type. Functions that can fail return a cmpd_err, 0 for
 * success. The numbering is the wire's ErrorCode (proto/cmpd.proto); ipc.c
 * checks that at compile time.
 */
#pragma once

typedef enum cmpd_err {
	CMPD_OK = 0,
	CMPD_ENOMEM = 1,
	CMPD_EINVAL = 2,
	CMPD_EIO = 3,
	CMPD_ECRYPTO = 4,
	CMPD_EPROTO = 5,
	CMPD_ENOENT = 6,
	CMPD_EPERM = 7,
	CMPD_ETIMEDOUT = 8,
	CMPD_EEXIST = 9,
	CMPD_EUNAVAIL = 10,
	CMPD_EREFUSED = 11,
	CMPD_ETRANSPORT = 12,
	CMPD_EINTERNAL = 13,
	CMPD_EBADCERT = 14,
	CMPD_ECANCELED = 15,
	CMPD_E_MAX
} cmpd_err;

/* A short, static, English description of err. */
const char *cmpd_strerror(cmpd_err err);
