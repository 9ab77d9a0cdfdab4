/*
 * libcmpd-client internals, shared by the library's files and by nothing
 * else. Objects of the public API are defined here.
 */
#pragma once

#include <nng/nng.h>
#include <stddef.h>
#include <stdint.h>

#include "cmpd/client.h"
#include "ipc.h"

#define CLIENT_MAGIC 0x636d6364u /* "cmcd" */

/* Library defaults, in milliseconds. */
#define CLIENT_TIMEOUT_MS       30000 /* one request and its answer */
#define CLIENT_SEND_TIMEOUT_MS  10000 /* handing a request to the socket */
#define CLIENT_LONG_POLL_MAX_MS 60000 /* the longest wait asked of cmpd */
#define CLIENT_POLL_PACE_MS     250   /* the shortest pause between polls */

struct cmpd_client {
	uint32_t magic;
	nng_socket sock;
	uint64_t next_id;   /* envelope id of the next request */
	int64_t timeout_ms; /* see cmpd_client_set_timeout */
	int events_missed;  /* to tell with the next event (events.c) */
	char err[1024];     /* cmpd_client_last_error */
};

/* An issued certificate as the library read it (cmpd_job_cert_*). */
struct cert_details {
	char *subject;
	char *issuer;
	char *serial;
	char key_type[80];
	int64_t not_before;
	int64_t not_after;
	char fingerprint[96]; /* SHA-256, "AB:CD:..", as openssl x509 shows */
};

/* What a genm job brought back, as the API shows it (genm.c). */
struct genm_info {
	char *ca_certs_pem;      /* "" for none */
	struct cert_details *ca; /* one per GenmResult.ca_certs */
	size_t n_ca;
	char *new_root_pem;
	char *new_with_old_pem;
	char *old_with_new_pem;
	struct cert_details new_root;
	char *template_text;
};

struct cmpd_job {
	cmpd_env *env;       /* the decoded reply, if this job owns it */
	const Cmpd__Job *pb; /* the job inside env */
	char *cert_pem;      /* "" when there is no certificate */
	char *chain_pem;
	struct cert_details cert;
	struct genm_info genm; /* all empty unless pb->genm is set */
};

struct cmpd_job_array {
	cmpd_env *env;
	size_t count;
	struct cmpd_job *jobs;
};

struct cmpd_cert {
	const Cmpd__CertRecord *pb;
	char *pem;
	char *chain_pem;
};

struct cmpd_cert_array {
	cmpd_env **pages; /* the CertListReps the records point into */
	size_t n_pages;
	size_t count;
	struct cmpd_cert *certs;
};

struct cmpd_key_info {
	char id[33];
	Cmpd__KeyType type;
	uint8_t *spki;
	size_t spki_len;
	char *spki_pem;
	int64_t created;
};

struct cmpd_key_array {
	size_t count;
	struct cmpd_key_info *keys;
};

/*
 * Errors. Each failing public call records a message and returns its
 * code through client_fail; with c NULL the message goes to the calling
 * thread's record (cmpd_client_last_error(NULL)).
 */
cmpd_result client_fail(cmpd_client *c, cmpd_result r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Like client_fail, adding the reasons in this thread's OpenSSL errors. */
cmpd_result client_fail_openssl(
    cmpd_client *c, cmpd_result r, const char *what);
/* Returns CMPD_RESULT_INVALID unless c is an open client. */
cmpd_result client_check(const cmpd_client *c);

/*
 * Sends req (its id is set here) and waits for the reply, at most the
 * client's timeout plus extra_ms. On success *rep is the decoded reply,
 * whose body is of type want; the caller frees it with cmpd_ipc_free. An
 * Error reply becomes its code and text.
 */
cmpd_result client_call(cmpd_client *c, cmpd_env *req,
    Cmpd__Envelope__BodyCase want, uint32_t extra_ms, cmpd_env **rep);

/* Checks a caller's string: not NULL, 1..max bytes, no control bytes. */
int client_text_ok(const char *s, size_t max);

/*
 * A tracked certificate's id or a profile name (cmpd_renew, cmpd_revoke):
 * 1 to 64 of [A-Za-z0-9._-], not starting with '.'.
 */
int client_target_ok(const char *s);

/* names.c: the tables of names the API shows. */
const char *names_op(Cmpd__CmpOp op);
/* "ca-certs", "root-update", "template"; "" for another value. */
const char *names_genm_type(Cmpd__GenmType type);
/* The type of one of those names; UNSPECIFIED for another string. */
Cmpd__GenmType names_genm_parse(const char *name);

/* pem.c: certificates and keys as text. */
/* PEM of DER data under label ("CERTIFICATE"), "" for no data; NULL if
 * out of memory. */
char *pem_encode(const char *label, const uint8_t *der, size_t len);
/* The PEM of every DER certificate, concatenated ("" for none). */
char *pem_encode_all(ProtobufCBinaryData *ders, size_t n);
/* Reads what the API shows of a DER certificate; fields stay empty if
 * it does not parse. Returns 0, or -1 when out of memory. */
int cert_details_read(struct cert_details *d, const uint8_t *der, size_t len);
void cert_details_fini(struct cert_details *d);

/*
 * genm.c: what the API shows of a GenmResult (pb may be NULL: all empty).
 * Returns 0, or -1 when out of memory; genm_info_fini frees it either way.
 */
int genm_info_init(struct genm_info *g, const Cmpd__GenmResult *pb);
void genm_info_fini(struct genm_info *g);

/*
 * template.c: the summary of a CertReqTemplateContent for people (see
 * cmpd_job_genm_template_text): a new string, "" if the template does not
 * parse, or NULL when out of memory.
 */
char *template_text(
    const ProtobufCBinaryData *tmpl, const ProtobufCBinaryData *key_spec);

/* job.c: how long the next long poll may wait (what is left of
 * timeout_ms until deadline, a cmpd_clock_ms time; at most a cap). */
uint32_t client_wait_slice(int64_t timeout_ms, uint64_t deadline);
/*
 * cmpd may answer a long poll early without a change (it was restarted,
 * or it caps the wait); a minimum pause after a request sent at asked
 * keeps such answers from turning a wait into a busy loop.
 */
void client_wait_pace(uint64_t asked, uint32_t slice);

/* job.c: a job decoded from its message (job_fini frees what it holds). */
cmpd_result job_init(cmpd_client *c, struct cmpd_job *job, const Cmpd__Job *pb);
void job_fini(struct cmpd_job *job);
/* Sends req, which cmpd answers with a JobRep, and returns that job. */
cmpd_result client_job_call(
    cmpd_client *c, cmpd_env *req, uint32_t extra_ms, cmpd_job **out);
