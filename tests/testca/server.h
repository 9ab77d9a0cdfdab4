/*
 * The test CA's CMP service, independent of the transport: one DER
 * PKIMessage in, one DER PKIMessage out. Built on OpenSSL 3.0's
 * OSSL_CMP_SRV_CTX with one context per transactionID, so transactions of
 * many clients run at once.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct tca_server;

/* What genm rootCaCert is answered with. */
enum tca_root_update {
	TCA_ROOT_UPDATE_GOOD, /* newroot, newwithold, oldwithnew */
	TCA_ROOT_UPDATE_NONE, /* no value: no update known */
	TCA_ROOT_UPDATE_BAD,  /* newWithOld not signed by the current root */
	TCA_ROOT_UPDATE_MAX
};

struct tca_serve_opts {
	int poll;                   /* 'waiting' answers before issuing */
	int check_after;            /* seconds, in each pollRep */
	int validity_days;          /* of issued certificates... */
	long validity_seconds;      /* ...unless this is > 0 */
	int grant_implicit_confirm; /* when a request asks for it */
	int idle_seconds;           /* a transaction without requests ends */
	enum tca_root_update root_update;
	int no_template; /* genm certReqTemplate gets no value */
	uint32_t refuse; /* bit 1 << body type: requests rejected */
};

/* "ir", "certConf", ... for a PKIBody type; "body?" for others. */
const char *tca_body_name(int type);

/*
 * Adds the request type op ("ir", "cr", "kur", "p10cr", "rr" or "genm") to
 * opts->refuse; CMPD_EINVAL for any other name.
 */
cmpd_err tca_serve_opts_refuse(struct tca_serve_opts *opts, const char *op);

/* The default of tca_serve_opts.idle_seconds. */
#define TCA_TXN_IDLE_SECONDS 300

/* Loads the PKI written by `init` from dir and opens its record files. */
cmpd_err tca_server_new(const char *dir, const struct tca_serve_opts *opts,
    struct tca_server **out);
void tca_server_free(struct tca_server *srv);

/*
 * Answers the DER PKIMessage req. On success *out is a DER PKIMessage to
 * send (free it with OPENSSL_free) - also when the answer is a CMP error or
 * rejection. CMPD_EPROTO: req is not a PKIMessage with a transactionID
 * (answer at the HTTP level); CMPD_EINTERNAL: no answer could be made.
 * Safe to call from any thread.
 */
cmpd_err tca_server_handle(struct tca_server *srv, const uint8_t *req,
    size_t len, uint8_t **out, size_t *out_len);

/* Frees transactions idle for longer than opts.idle_seconds. */
void tca_server_sweep(struct tca_server *srv);
