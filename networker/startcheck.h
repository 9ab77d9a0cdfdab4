/*
 * The form of a TxnStartReq (startcheck.c). Each check returns 0, or -1
 * with the reason in why: the broker broke the protocol.
 */
#pragma once

#include <stddef.h>

#include "cmpd.pb-c.h"

/* A job id: CMPD_JOB_ID_LEN lower-case hex digits. */
int nw_check_job_id(const char *id);

/* Every field the operation uses, before any is used. */
int nw_check_start(const Cmpd__TxnStartReq *r, char *why, size_t whylen);

/* Whether the operation certifies a new key (IR, CR, KUR, P10CR). */
int nw_op_has_new_key(Cmpd__CmpOp op);

/* Whether the CA's URL is https. */
int nw_url_is_https(const char *url);
