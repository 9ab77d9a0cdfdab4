/*
 * libcmpd-client: the public interface to cmpd, the CMP certificate
 * enrollment service.
 *
 * An application opens a client on cmpd's socket, asks for certificates
 * (enrollment jobs), follows the jobs until they end, lists what cmpd
 * enrolled and imports existing private keys. Every call is synchronous:
 * it sends one request to cmpd and returns with its answer.
 *
 * Conventions, for every function below:
 * - Functions that can fail return a cmpd_result, CMPD_RESULT_OK (0) on
 *   success. Output parameters are written only on success.
 * - Objects are opaque. An object returned through an output parameter
 *   belongs to the caller, who frees it with the matching _free function
 *   (each _free accepts NULL). A pointer returned by an accessor is
 *   borrowed: it stays valid until the object it came from is freed.
 * - Strings returned by accessors are never NULL; a field that is not set
 *   is the empty string, a time that is not set is 0.
 * - Threads: one cmpd_client is used by one thread at a time; several
 *   clients may be open and used in several threads at once. Objects that
 *   came from a client (jobs, lists, key infos) do not refer to it and may
 *   be read from any thread, one at a time. Option objects likewise.
 * - The library never exits, aborts, prompts on a terminal or writes to
 *   stdout or stderr.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CMPD_CLIENT_BUILD)
#define CMPD_API __attribute__((visibility("default")))
#else
#define CMPD_API
#endif

/*
 * Result codes. Values 1 to 15 are also the codes cmpd itself reports
 * (its Error replies, a failed job's error); they never change meaning.
 */
typedef enum cmpd_result {
	CMPD_RESULT_OK = 0,
	CMPD_RESULT_NOMEM = 1,        /* out of memory */
	CMPD_RESULT_INVALID = 2,      /* a malformed or out-of-range argument */
	CMPD_RESULT_IO = 3,           /* a file could not be read or written */
	CMPD_RESULT_CRYPTO = 4,       /* a cryptographic operation failed */
	CMPD_RESULT_PROTOCOL = 5,     /* cmpd sent something unexpected */
	CMPD_RESULT_NOT_FOUND = 6,    /* no such job, profile, key or file */
	CMPD_RESULT_DENIED = 7,       /* not permitted (or wrong passphrase) */
	CMPD_RESULT_TIMEOUT = 8,      /* cmpd_job_wait's time ran out */
	CMPD_RESULT_EXISTS = 9,       /* already exists */
	CMPD_RESULT_UNAVAILABLE = 10, /* cmpd not reachable or not answering */
	CMPD_RESULT_REFUSED = 11,     /* the CA refused the request */
	CMPD_RESULT_TRANSPORT = 12,   /* the CA was unreachable or broken */
	CMPD_RESULT_INTERNAL = 13,    /* cmpd failed internally */
	CMPD_RESULT_BAD_CERT = 14,    /* the issued certificate failed checks */
	CMPD_RESULT_CANCELLED = 15,   /* the job was cancelled */
	CMPD_RESULT_MAX
} cmpd_result;

/*
 * A short English sentence for r ("refused by the CA"), and a stable
 * snake_case identifier for r ("refused", "not_found") for programs and
 * JSON. Both are static strings; any thread may call them; unknown values
 * give "unknown error" and "unknown".
 */
CMPD_API const char *cmpd_result_str(cmpd_result r);
CMPD_API const char *cmpd_result_name(cmpd_result r);

/* ------------------------------------------------------------------ */
/* Connection                                                           */
/* ------------------------------------------------------------------ */

typedef struct cmpd_client cmpd_client;

/*
 * Connects to cmpd. socket_path NULL means $CMPD_SOCKET if set, else
 * /run/cmpd/cmpd.sock. Fails with CMPD_RESULT_UNAVAILABLE when cmpd does
 * not listen there and CMPD_RESULT_DENIED when the socket refuses this
 * user. On success *out is the caller's, to be closed with
 * cmpd_client_close. On failure, cmpd_client_last_error(NULL) describes
 * the reason. Any thread may call it.
 */
CMPD_API cmpd_result cmpd_client_open(
    const char *socket_path, cmpd_client **out);

/* Closes the connection and frees client (NULL is ignored). */
CMPD_API void cmpd_client_close(cmpd_client *client);

/*
 * The time cmpd may take to answer one request, in milliseconds (default
 * 30000; at least 1). A long poll (cmpd_job_wait) is given this much
 * longer than the wait it asks for. Fails with CMPD_RESULT_INVALID if
 * timeout_ms is not positive.
 */
CMPD_API cmpd_result cmpd_client_set_timeout(
    cmpd_client *client, int64_t timeout_ms);

/*
 * A message describing the last failed call on client: cmpd's own error
 * text when cmpd refused the request, or what went wrong locally. With
 * client NULL: the last failure on this thread of a call that takes no
 * client (cmpd_client_open, the cmpd_enroll_opts functions). The string
 * is valid until the next call on the same client (or thread). Never NULL;
 * empty if nothing failed yet.
 */
CMPD_API const char *cmpd_client_last_error(const cmpd_client *client);

/* ------------------------------------------------------------------ */
/* Enrollment options                                                   */
/* ------------------------------------------------------------------ */

typedef struct cmpd_enroll_opts cmpd_enroll_opts;

/* New empty options: every field is the profile's default. */
CMPD_API cmpd_result cmpd_enroll_opts_new(cmpd_enroll_opts **out);
CMPD_API void cmpd_enroll_opts_free(cmpd_enroll_opts *opts);

/*
 * The subject name, in OpenSSL's "/CN=name/O=org" form; NULL or "" for
 * the profile's. Fails with CMPD_RESULT_INVALID for a string with control
 * characters, over 4096 bytes, or not of the form "/type=value...". The
 * string is copied.
 */
CMPD_API cmpd_result cmpd_enroll_opts_set_subject(
    cmpd_enroll_opts *opts, const char *subject);

/*
 * Adds a subject alternative name: "DNS:host", "IP:192.0.2.1" (or an IPv6
 * address), "URI:uri" or "email:addr". Once any SAN is added, the
 * profile's SANs are replaced. Fails with CMPD_RESULT_INVALID for another
 * form. The string is copied.
 */
CMPD_API cmpd_result cmpd_enroll_opts_add_san(
    cmpd_enroll_opts *opts, const char *san);

/*
 * The type of the new key: "ec-p256", "ec-p384", "rsa2048", "rsa3072",
 * "rsa4096" or "ed25519"; NULL for the profile's. Fails with
 * CMPD_RESULT_INVALID for another name.
 */
CMPD_API cmpd_result cmpd_enroll_opts_set_key_type(
    cmpd_enroll_opts *opts, const char *name);

/*
 * Enrolls an existing key of cmpd's key store (see cmpd_key_list) instead
 * of generating one: its id, 32 hexadecimal digits; NULL to generate.
 * Cannot be combined with a key type. Fails with CMPD_RESULT_INVALID for
 * a malformed id.
 */
CMPD_API cmpd_result cmpd_enroll_opts_set_key_id(
    cmpd_enroll_opts *opts, const char *key_id);

/* ------------------------------------------------------------------ */
/* Jobs                                                                 */
/* ------------------------------------------------------------------ */

/* Where a job is. Values are stable. */
typedef enum cmpd_job_state {
	CMPD_JOB_STATE_UNKNOWN = 0,
	CMPD_JOB_STATE_QUEUED = 1,  /* accepted, nothing sent yet */
	CMPD_JOB_STATE_KEYGEN = 2,  /* the new key is being generated */
	CMPD_JOB_STATE_RUNNING = 3, /* talking to the CA */
	CMPD_JOB_STATE_WAITING = 4, /* the CA said "waiting"; cmpd will poll */
	CMPD_JOB_STATE_DONE = 5,    /* the certificate was issued */
	CMPD_JOB_STATE_FAILED = 6,  /* see cmpd_job_error and cmpd_job_pki_* */
	CMPD_JOB_STATE_MAX
} cmpd_job_state;

/* "queued", "keygen", "running", "waiting", "done", "failed", "unknown". */
CMPD_API const char *cmpd_job_state_name(cmpd_job_state state);

typedef struct cmpd_job cmpd_job;

/*
 * Asks cmpd to enroll a certificate with profile (a section of cmpd's
 * configuration). opts may be NULL for the profile's defaults and stays
 * the caller's. On success *out is the new job (usually queued), the
 * caller's to free with cmpd_job_free.
 */
CMPD_API cmpd_result cmpd_enroll(cmpd_client *client, const char *profile,
    const cmpd_enroll_opts *opts, cmpd_job **out);

/* The job job_id as it is now. *out is the caller's (cmpd_job_free). */
CMPD_API cmpd_result cmpd_job_get(
    cmpd_client *client, const char *job_id, cmpd_job **out);

/*
 * Called by cmpd_job_wait_progress on the calling thread each time the
 * job is seen in a new state, the first time included. job is valid only
 * during the call.
 */
typedef void (*cmpd_job_progress_cb)(const cmpd_job *job, void *arg);

/*
 * Waits until job_id is DONE or FAILED, at most timeout_ms milliseconds
 * (negative: without limit; 0: only look once). It uses cmpd's long poll,
 * so it costs no CPU while waiting. Returns CMPD_RESULT_OK with the
 * finished job in *out (the caller's), whether the job succeeded or not:
 * check cmpd_job_state. Returns CMPD_RESULT_TIMEOUT, without *out, when
 * the time ran out first.
 */
CMPD_API cmpd_result cmpd_job_wait(cmpd_client *client, const char *job_id,
    int64_t timeout_ms, cmpd_job **out);

/* cmpd_job_wait, calling progress (if not NULL) with arg on each change. */
CMPD_API cmpd_result cmpd_job_wait_progress(cmpd_client *client,
    const char *job_id, int64_t timeout_ms, cmpd_job_progress_cb progress,
    void *arg, cmpd_job **out);

CMPD_API void cmpd_job_free(cmpd_job *job);

/* Accessors. job must not be NULL. */
CMPD_API const char *cmpd_job_id(const cmpd_job *job);
CMPD_API const char *cmpd_job_profile(const cmpd_job *job);
/* The CMP operation: "ir", "cr", "kur", "p10cr", "rr", "genm" or "". */
CMPD_API const char *cmpd_job_op(const cmpd_job *job);
CMPD_API cmpd_job_state cmpd_job_state_get(const cmpd_job *job);
/* The key type name (as for cmpd_enroll_opts_set_key_type), or "". */
CMPD_API const char *cmpd_job_key_type(const cmpd_job *job);
CMPD_API const char *cmpd_job_key_id(const cmpd_job *job);
/* The subject and SANs that were requested ("/CN=..", "DNS:.."). */
CMPD_API const char *cmpd_job_subject(const cmpd_job *job);
CMPD_API size_t cmpd_job_san_count(const cmpd_job *job);
/* The i-th SAN, or NULL if i >= cmpd_job_san_count(job). */
CMPD_API const char *cmpd_job_san(const cmpd_job *job, size_t i);
/* Unix times; next_poll is when cmpd asks a "waiting" CA again. */
CMPD_API int64_t cmpd_job_created(const cmpd_job *job);
CMPD_API int64_t cmpd_job_updated(const cmpd_job *job);
CMPD_API int64_t cmpd_job_next_poll(const cmpd_job *job);

/*
 * The issued certificate of a DONE job: DER (*len set; NULL and 0 if
 * none), PEM, and the chain (issuer first) as concatenated PEM. The paths
 * are where cmpd wrote the certificate and chain files ("" if it wrote
 * none).
 */
CMPD_API const uint8_t *cmpd_job_cert_der(const cmpd_job *job, size_t *len);
CMPD_API const char *cmpd_job_cert_pem(const cmpd_job *job);
CMPD_API const char *cmpd_job_chain_pem(const cmpd_job *job);
CMPD_API const char *cmpd_job_cert_path(const cmpd_job *job);
CMPD_API const char *cmpd_job_chain_path(const cmpd_job *job);

/*
 * What the issued certificate says, read from it by the library: subject
 * and issuer (RFC 2253 escaping and separators, in the certificate's
 * order: "/CN=name/O=org" shows as "CN=name,O=org"), serial number
 * (lowercase hex),
 * key type ("ec-p256", "rsa2048", "ed25519", ...), validity (unix
 * times). Empty or 0 when the job has no certificate, or when cmpd sent
 * one the library cannot parse.
 */
CMPD_API const char *cmpd_job_cert_subject(const cmpd_job *job);
CMPD_API const char *cmpd_job_cert_issuer(const cmpd_job *job);
CMPD_API const char *cmpd_job_cert_serial(const cmpd_job *job);
CMPD_API const char *cmpd_job_cert_key_type(const cmpd_job *job);
CMPD_API int64_t cmpd_job_cert_not_before(const cmpd_job *job);
CMPD_API int64_t cmpd_job_cert_not_after(const cmpd_job *job);

/*
 * Why a FAILED job failed: a result code (CMPD_RESULT_REFUSED when the CA
 * refused, CMPD_RESULT_OK for a job that did not fail) and cmpd's text.
 */
CMPD_API cmpd_result cmpd_job_error(const cmpd_job *job);
CMPD_API const char *cmpd_job_error_text(const cmpd_job *job);

/*
 * The CA's PKIStatusInfo, as the last CA message carried it: the status
 * (0..6, see cmpd_pki_status_name; -1 when the CA sent none), the
 * PKIFailureInfo bits (bit n set = failure n, see cmpd_pki_failure_name)
 * and the statusString texts.
 */
CMPD_API int cmpd_job_pki_status(const cmpd_job *job);
CMPD_API uint32_t cmpd_job_pki_fail_info(const cmpd_job *job);
CMPD_API size_t cmpd_job_pki_text_count(const cmpd_job *job);
/* The i-th text, or NULL if i >= cmpd_job_pki_text_count(job). */
CMPD_API const char *cmpd_job_pki_text(const cmpd_job *job, size_t i);

/*
 * RFC 9810 names. cmpd_pki_status_name: "accepted", "grantedWithMods",
 * "rejection", "waiting", "revocationWarning", "revocationNotification",
 * "keyUpdateWarning"; NULL for other values. cmpd_pki_failure_name: the
 * name of PKIFailureInfo bit 0 ("badAlg") to CMPD_PKI_FAILURE_MAX - 1
 * ("duplicateCertReq"); NULL for other bits. Static strings, any thread.
 */
#define CMPD_PKI_FAILURE_MAX 27
CMPD_API const char *cmpd_pki_status_name(int status);
CMPD_API const char *cmpd_pki_failure_name(unsigned bit);

/* ------------------------------------------------------------------ */
/* Lists of jobs and certificates                                       */
/* ------------------------------------------------------------------ */

/*
 * The list types are named *_array because cmpd_job_list and
 * cmpd_cert_list name the calls that return them.
 */
typedef struct cmpd_job_array cmpd_job_array;

/*
 * The jobs this user may see, of profile (NULL: all profiles), oldest
 * first as cmpd sends them. *out is the caller's (cmpd_job_array_free).
 */
CMPD_API cmpd_result cmpd_job_list(
    cmpd_client *client, const char *profile, cmpd_job_array **out);
CMPD_API size_t cmpd_job_array_count(const cmpd_job_array *jobs);
/* The i-th job, borrowed from jobs (never freed alone); NULL past the end. */
CMPD_API const cmpd_job *cmpd_job_array_get(
    const cmpd_job_array *jobs, size_t i);
CMPD_API void cmpd_job_array_free(cmpd_job_array *jobs);

/* A certificate cmpd enrolled (and tracks). */
typedef struct cmpd_cert cmpd_cert;
typedef struct cmpd_cert_array cmpd_cert_array;

/*
 * The certificates cmpd enrolled, of profile (NULL: all). *out is the
 * caller's (cmpd_cert_array_free).
 */
CMPD_API cmpd_result cmpd_cert_list(
    cmpd_client *client, const char *profile, cmpd_cert_array **out);
CMPD_API size_t cmpd_cert_array_count(const cmpd_cert_array *certs);
/* The i-th certificate, borrowed from certs; NULL past the end. */
CMPD_API const cmpd_cert *cmpd_cert_array_get(
    const cmpd_cert_array *certs, size_t i);
CMPD_API void cmpd_cert_array_free(cmpd_cert_array *certs);

/*
 * Accessors of a certificate record, as cmpd stored it: its profile, the
 * job that enrolled it, subject, issuer, serial (hex), validity (unix
 * times), the key's id, the file cmpd keeps it in, and the certificate
 * itself (DER with *len, and PEM).
 */
CMPD_API const char *cmpd_cert_profile(const cmpd_cert *cert);
CMPD_API const char *cmpd_cert_job_id(const cmpd_cert *cert);
CMPD_API const char *cmpd_cert_subject(const cmpd_cert *cert);
CMPD_API const char *cmpd_cert_issuer(const cmpd_cert *cert);
CMPD_API const char *cmpd_cert_serial(const cmpd_cert *cert);
CMPD_API int64_t cmpd_cert_not_before(const cmpd_cert *cert);
CMPD_API int64_t cmpd_cert_not_after(const cmpd_cert *cert);
CMPD_API const char *cmpd_cert_key_id(const cmpd_cert *cert);
CMPD_API const char *cmpd_cert_path(const cmpd_cert *cert);
CMPD_API const uint8_t *cmpd_cert_der(const cmpd_cert *cert, size_t *len);
CMPD_API const char *cmpd_cert_pem(const cmpd_cert *cert);

/* ------------------------------------------------------------------ */
/* Keys                                                                 */
/* ------------------------------------------------------------------ */

/* The public description of a key in cmpd's key store. */
typedef struct cmpd_key_info cmpd_key_info;
typedef struct cmpd_key_array cmpd_key_array;

/*
 * Imports the private key in the PEM file path (any PEM private key
 * format OpenSSL reads; passphrase NULL for an unencrypted file) into
 * cmpd's key store. The key is re-encoded as PKCS#8 and encrypted in this
 * process to the key store's import certificate (CMS AuthEnvelopedData,
 * AES-256-GCM), so that no other part of cmpd ever sees it in clear; the
 * library wipes every buffer that held it. Fails with
 * CMPD_RESULT_NOT_FOUND or CMPD_RESULT_DENIED when the file cannot be
 * opened, CMPD_RESULT_DENIED when the passphrase is wrong or missing,
 * CMPD_RESULT_INVALID when the file holds no private key. On success *out
 * is the key's description, the caller's (cmpd_key_info_free).
 */
CMPD_API cmpd_result cmpd_key_import_file(cmpd_client *client, const char *path,
    const char *passphrase, cmpd_key_info **out);

/* The keys in cmpd's key store. *out is the caller's. */
CMPD_API cmpd_result cmpd_key_list(cmpd_client *client, cmpd_key_array **out);
CMPD_API size_t cmpd_key_array_count(const cmpd_key_array *keys);
/* The i-th key, borrowed from keys; NULL past the end. */
CMPD_API const cmpd_key_info *cmpd_key_array_get(
    const cmpd_key_array *keys, size_t i);
CMPD_API void cmpd_key_array_free(cmpd_key_array *keys);

/*
 * Accessors: the key id (32 hex digits), its type name ("ec-p256", ...,
 * "" if unknown), its SubjectPublicKeyInfo (DER with *len, and PEM
 * "PUBLIC KEY") and when it was created (unix time).
 */
CMPD_API const char *cmpd_key_info_id(const cmpd_key_info *key);
CMPD_API const char *cmpd_key_info_type(const cmpd_key_info *key);
CMPD_API const uint8_t *cmpd_key_info_spki(
    const cmpd_key_info *key, size_t *len);
CMPD_API const char *cmpd_key_info_spki_pem(const cmpd_key_info *key);
CMPD_API int64_t cmpd_key_info_created(const cmpd_key_info *key);
CMPD_API void cmpd_key_info_free(cmpd_key_info *key);

#ifdef __cplusplus
}
#endif
