/*
 * libcmpd-client: the public interface to cmpd, the CMP certificate
 * enrollment service.
 *
 * An application opens a client on cmpd's socket, asks for certificates
 * (enrollment jobs), renews or revokes them, asks the CA for its
 * certificates, root CA update or request template, follows the jobs
 * until they end, lists the certificates cmpd tracks and imports existing
 * private keys. Every call is synchronous:
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
 * client (cmpd_client_open, the cmpd_enroll_opts and cmpd_renew_opts
 * functions). The string
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

/*
 * How to ask the CA: "ir" (initialization request), "cr" (certification
 * request, protected by a certificate cmpd already has) or "p10cr" (a
 * PKCS#10 request); NULL for the profile's. Fails with
 * CMPD_RESULT_INVALID for another name.
 */
CMPD_API cmpd_result cmpd_enroll_opts_set_op(
    cmpd_enroll_opts *opts, const char *op);

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

/* ------------------------------------------------------------------ */
/* Renewal, revocation and questions to the CA                          */
/* ------------------------------------------------------------------ */

/*
 * cert_or_profile, below, names a tracked certificate: its id (as
 * cmpd_cert_id shows it) or a profile, for the profile's current
 * certificate. Either is 1 to 64 of [A-Za-z0-9._-], not starting with '.';
 * another string fails with CMPD_RESULT_INVALID before cmpd is asked.
 */

typedef struct cmpd_renew_opts cmpd_renew_opts;

/* New empty renewal options: a new key of the certificate's key type. */
CMPD_API cmpd_result cmpd_renew_opts_new(cmpd_renew_opts **out);
CMPD_API void cmpd_renew_opts_free(cmpd_renew_opts *opts);

/*
 * keep non-zero: certify the current key again instead of a new one.
 * Fails with CMPD_RESULT_INVALID when a key type is set (a kept key has
 * its own).
 */
CMPD_API cmpd_result cmpd_renew_opts_set_keep_key(
    cmpd_renew_opts *opts, int keep);

/*
 * The type of the new key (names as for cmpd_enroll_opts_set_key_type);
 * NULL for the certificate's current type. Fails with CMPD_RESULT_INVALID
 * for another name, and for a type when the key is to be kept.
 */
CMPD_API cmpd_result cmpd_renew_opts_set_key_type(
    cmpd_renew_opts *opts, const char *name);

/*
 * Renews a tracked certificate now, with a key update request (KUR)
 * protected by the certificate itself. opts may be NULL (a new key of the
 * same type) and stays the caller's. On success *out is the new job, the
 * caller's (cmpd_job_free); the old key is retired only once the new
 * certificate is confirmed.
 */
CMPD_API cmpd_result cmpd_renew(cmpd_client *client,
    const char *cert_or_profile, const cmpd_renew_opts *opts, cmpd_job **out);

/*
 * Revokes a tracked certificate (a revocation request, RR) with reason, a
 * CRLReason code of RFC 5280 (see cmpd_crl_reason_name), or -1 to give
 * none. Fails with CMPD_RESULT_INVALID for another value. Once the CA
 * confirms, cmpd marks the certificate revoked and no longer renews it.
 * On success *out is the new job, the caller's (cmpd_job_free).
 */
CMPD_API cmpd_result cmpd_revoke(cmpd_client *client,
    const char *cert_or_profile, int reason, cmpd_job **out);

/*
 * RFC 5280 CRLReason names: 0 "unspecified", 1 "keyCompromise", 2
 * "cACompromise", 3 "affiliationChanged", 4 "superseded", 5
 * "cessationOfOperation", 6 "certificateHold", 8 "removeFromCRL", 9
 * "privilegeWithdrawn", 10 "aACompromise" (7 is not a reason).
 * cmpd_crl_reason_name gives NULL for a value that is not a reason.
 * cmpd_crl_reason_parse takes a name (any case) or a decimal code and
 * returns the code, or -1 when s is NULL or no reason. Static strings,
 * any thread.
 */
CMPD_API const char *cmpd_crl_reason_name(int reason);
CMPD_API int cmpd_crl_reason_parse(const char *s);

/*
 * Asks profile's CA a general question (genm) and returns the job that
 * does it; the answer is in the finished job (cmpd_job_genm_*). type:
 * "ca-certs" (the CA certificates, id-it-caCerts), "root-update" (the
 * root CA key update for the profile's trust anchor, id-it-rootCaCert /
 * id-it-rootCaKeyUpdate; cmpd checks newWithOld against the current
 * anchor before the job is done) or "template" (the certificate request
 * template, id-it-certReqTemplate). Fails with CMPD_RESULT_INVALID for
 * another type. *out is the caller's (cmpd_job_free).
 */
CMPD_API cmpd_result cmpd_genm(
    cmpd_client *client, const char *profile, const char *type, cmpd_job **out);

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
/* The unix time at which cmpd fails the job if it has not ended; 0: none. */
CMPD_API int64_t cmpd_job_deadline(const cmpd_job *job);
/*
 * How many times a restart of cmpd or of a worker interrupted the job and
 * cmpd ran its step again (its transaction resumed, or a new one), and
 * why the last time ("" if never).
 */
CMPD_API uint32_t cmpd_job_restarts(const cmpd_job *job);
CMPD_API const char *cmpd_job_restart_reason(const cmpd_job *job);

/*
 * The tracked certificate the job made (enrollment, renewal) or acts on
 * (renewal, revocation), as cmpd_cert_id names it; "" if none yet.
 */
CMPD_API const char *cmpd_job_cert_id(const cmpd_job *job);
/* A renewal (kur): non-zero when it certifies the current key again. */
CMPD_API int cmpd_job_keep_key(const cmpd_job *job);
/* A renewal: the key retired once the new certificate is in; or "". */
CMPD_API const char *cmpd_job_old_key_id(const cmpd_job *job);
/* A revocation (rr): its CRLReason, -1 for none; -1 for other jobs. */
CMPD_API int cmpd_job_revocation_reason(const cmpd_job *job);
/* Non-zero when cmpd's renewal scheduler started the job, not a user. */
CMPD_API int cmpd_job_automatic(const cmpd_job *job);
/* The tracked certificate that protects the job's requests; or "". */
CMPD_API const char *cmpd_job_protection_cert_id(const cmpd_job *job);

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

/*
 * The answer of a genm job (cmpd_genm), once it is done. The type asked
 * for: "ca-certs", "root-update", "template", or "" for a job that is no
 * genm. cmpd_job_genm_empty is non-zero when the CA answered without a
 * value (it has no CA certificates, root CA update or template to give).
 */
CMPD_API const char *cmpd_job_genm_type(const cmpd_job *job);
CMPD_API int cmpd_job_genm_empty(const cmpd_job *job);

/*
 * caCerts: the number of certificates, all of them as concatenated PEM
 * ("" for none), and the i-th one's DER (*len set) and subject (as
 * cmpd_job_cert_subject writes names); NULL if i >= the count.
 */
CMPD_API size_t cmpd_job_genm_ca_cert_count(const cmpd_job *job);
CMPD_API const char *cmpd_job_genm_ca_certs_pem(const cmpd_job *job);
CMPD_API const uint8_t *cmpd_job_genm_ca_cert_der(
    const cmpd_job *job, size_t i, size_t *len);
CMPD_API const char *cmpd_job_genm_ca_cert_subject(
    const cmpd_job *job, size_t i);

/*
 * rootCaKeyUpdate: the new root CA certificate (newWithNew), the new
 * root's key certified by the current root (newWithOld; cmpd checked it
 * against the current trust anchor before the job was done) and the old
 * root's key certified by the new one (oldWithNew), each PEM or "" if the
 * CA sent none. What the new root says: subject, validity (unix times)
 * and SHA-256 fingerprint ("AB:CD:..", as openssl x509 -fingerprint
 * prints it); "" or 0 without a new root.
 */
CMPD_API const char *cmpd_job_genm_new_root_pem(const cmpd_job *job);
CMPD_API const char *cmpd_job_genm_new_with_old_pem(const cmpd_job *job);
CMPD_API const char *cmpd_job_genm_old_with_new_pem(const cmpd_job *job);
CMPD_API const char *cmpd_job_genm_new_root_subject(const cmpd_job *job);
CMPD_API int64_t cmpd_job_genm_new_root_not_before(const cmpd_job *job);
CMPD_API int64_t cmpd_job_genm_new_root_not_after(const cmpd_job *job);
CMPD_API const char *cmpd_job_genm_new_root_fingerprint(const cmpd_job *job);

/*
 * certReqTemplate: the CertTemplate (RFC 4211) and the keySpec controls
 * (SEQUENCE OF AttributeTypeAndValue) as DER, *len set; NULL and 0 if
 * absent. cmpd_job_genm_template_text is a summary for people: a line
 * for each field the template sets ("subject: ..", "issuer: ..", "not
 * before: ..", "not after: ..", "key algorithm: id-ecPublicKey
 * (prime256v1)"), its extensions as OpenSSL prints them after
 * "extensions:", and "key spec:" with one line per control ("algId: ..",
 * "rsaKeyLen: ..", or the OID of another); a line saying so for a
 * template that sets nothing; "" without a template, or for one the
 * library cannot read.
 */
CMPD_API const uint8_t *cmpd_job_genm_template_der(
    const cmpd_job *job, size_t *len);
CMPD_API const uint8_t *cmpd_job_genm_key_spec_der(
    const cmpd_job *job, size_t *len);
CMPD_API const char *cmpd_job_genm_template_text(const cmpd_job *job);

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

/* A tracked certificate's standing. Values are stable. */
typedef enum cmpd_cert_state {
	CMPD_CERT_STATE_UNKNOWN = 0,
	CMPD_CERT_STATE_ACTIVE = 1, /* current; cmpd renews it */
	CMPD_CERT_STATE_SUPERSEDED =
	    2, /* a newer one of its profile replaced it */
	CMPD_CERT_STATE_REVOKED = 3, /* revoked through cmpd; never renewed */
	CMPD_CERT_STATE_EXPIRED = 4, /* expired without a renewal */
	CMPD_CERT_STATE_MAX
} cmpd_cert_state;

/* "active", "superseded", "revoked", "expired", "unknown". */
CMPD_API const char *cmpd_cert_state_name(cmpd_cert_state state);
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

/*
 * What cmpd keeps of a tracked certificate: its stable id (for cmpd_renew
 * and cmpd_revoke), its state, the type name of its key ("ec-p256", ...),
 * when cmpd renews it next and when it last did (unix times; 0: not
 * scheduled, never), the failed renewals in a row and the last one's
 * error text ("" when the last renewal did not fail), the job renewing it
 * now (""), its chain (issuer first, concatenated PEM, "" for none) and
 * the chain file, and for a revoked certificate the CRLReason it was
 * revoked with (-1: none given, or not revoked).
 */
CMPD_API const char *cmpd_cert_id(const cmpd_cert *cert);
CMPD_API cmpd_cert_state cmpd_cert_state_get(const cmpd_cert *cert);
CMPD_API const char *cmpd_cert_key_type(const cmpd_cert *cert);
CMPD_API int64_t cmpd_cert_next_renewal(const cmpd_cert *cert);
CMPD_API int64_t cmpd_cert_renewed(const cmpd_cert *cert);
CMPD_API uint32_t cmpd_cert_failures(const cmpd_cert *cert);
CMPD_API const char *cmpd_cert_last_error(const cmpd_cert *cert);
CMPD_API const char *cmpd_cert_renewing_job(const cmpd_cert *cert);
CMPD_API const char *cmpd_cert_chain_pem(const cmpd_cert *cert);
CMPD_API const char *cmpd_cert_chain_path(const cmpd_cert *cert);
CMPD_API int cmpd_cert_revocation_reason(const cmpd_cert *cert);

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

/* ------------------------------------------------------------------ */
/* Events                                                               */
/* ------------------------------------------------------------------ */

/* What happened. Values are stable. */
typedef enum cmpd_event_type {
	CMPD_EVENT_UNKNOWN = 0,
	CMPD_EVENT_ENROLLED = 1,       /* a new certificate, files written */
	CMPD_EVENT_RENEWED = 2,        /* a tracked certificate was renewed */
	CMPD_EVENT_RENEWAL_FAILED = 3, /* a renewal failed; cmpd tries again */
	CMPD_EVENT_REVOKED = 4,        /* the CA confirmed a revocation */
	CMPD_EVENT_EXPIRING = 5,       /* near its end and nothing renews it */
	CMPD_EVENT_JOB_FAILED = 6,     /* a job failed */
	CMPD_EVENT_EXPIRED = 7,        /* expired without renewal */
	CMPD_EVENT_MAX
} cmpd_event_type;

/*
 * "enrolled", "renewed", "renewal_failed", "revoked", "expiring",
 * "job_failed", "expired", "unknown". Static strings, any thread.
 */
CMPD_API const char *cmpd_event_type_name(cmpd_event_type type);

typedef struct cmpd_event cmpd_event;

/*
 * Waits for the next event this user may see (the events of their own
 * jobs, and the certificate events of the profiles they may use; an
 * administrator sees all), of profile (NULL: all profiles), after
 * *cursor. Set *cursor to 0 the first time ("from now on") and pass it
 * back unchanged on each call: on success *out is the event (the
 * caller's, cmpd_event_free) and *cursor its sequence number; on
 * CMPD_RESULT_TIMEOUT (no event within timeout_ms; negative: without
 * limit, 0: only look) *cursor moves past what cmpd has seen so far, so
 * that no event falls between two calls. cmpd keeps the latest 1024
 * events in memory; see cmpd_event_missed. Fails with
 * CMPD_RESULT_NOT_FOUND or CMPD_RESULT_DENIED for a profile that does not
 * exist or is not this user's. It uses cmpd's long poll: no CPU while
 * waiting.
 */
CMPD_API cmpd_result cmpd_events_next(cmpd_client *client, const char *profile,
    uint64_t *cursor, int64_t timeout_ms, cmpd_event **out);
CMPD_API void cmpd_event_free(cmpd_event *event);

/*
 * Accessors. seq increases, also across restarts of cmpd. time is when
 * it happened (unix time). The job that made it ("" for expiring and
 * expired) and its operation ("ir", "kur", ..., or ""); automatic is
 * non-zero for a job of the renewal scheduler. The tracked certificate:
 * its id, serial (hex) and not after of the current certificate, and its
 * file. A failure's result code and text (CMPD_RESULT_OK, "" otherwise;
 * a renewal failed by the CA is CMPD_RESULT_REFUSED), the renewals failed
 * in a row and when cmpd tries again (0: not scheduled).
 * cmpd_event_missed is non-zero when events before this one were lost to
 * this client: it fell more than 1024 events behind, or cmpd restarted
 * since the cursor was taken.
 */
CMPD_API uint64_t cmpd_event_seq(const cmpd_event *event);
CMPD_API cmpd_event_type cmpd_event_type_get(const cmpd_event *event);
CMPD_API int64_t cmpd_event_time(const cmpd_event *event);
CMPD_API const char *cmpd_event_profile(const cmpd_event *event);
CMPD_API const char *cmpd_event_job_id(const cmpd_event *event);
CMPD_API const char *cmpd_event_op(const cmpd_event *event);
CMPD_API int cmpd_event_automatic(const cmpd_event *event);
CMPD_API const char *cmpd_event_cert_id(const cmpd_event *event);
CMPD_API const char *cmpd_event_serial(const cmpd_event *event);
CMPD_API int64_t cmpd_event_not_after(const cmpd_event *event);
CMPD_API const char *cmpd_event_cert_path(const cmpd_event *event);
CMPD_API cmpd_result cmpd_event_error(const cmpd_event *event);
CMPD_API const char *cmpd_event_error_text(const cmpd_event *event);
CMPD_API uint32_t cmpd_event_failures(const cmpd_event *event);
CMPD_API int64_t cmpd_event_next_attempt(const cmpd_event *event);
CMPD_API int cmpd_event_missed(const cmpd_event *event);

/* ------------------------------------------------------------------ */
/* Health and reload commands                                           */
/* ------------------------------------------------------------------ */

typedef struct cmpd_health cmpd_health;

/*
 * What needs attention among the jobs and certificates this user may see
 * (as for events), of profile (NULL: all): stuck jobs, certificates past
 * their renewal point without a successful renewal, certificates that
 * expire before the next attempt, and certificates near their end that
 * nothing renews. *out is the caller's (cmpd_health_free).
 */
CMPD_API cmpd_result cmpd_health_get(
    cmpd_client *client, const char *profile, cmpd_health **out);
CMPD_API void cmpd_health_free(cmpd_health *health);

/* When cmpd looked (unix time), and what it counted. */
CMPD_API int64_t cmpd_health_time(const cmpd_health *health);
CMPD_API uint32_t cmpd_health_jobs_unfinished(const cmpd_health *health);
CMPD_API uint32_t cmpd_health_certs_active(const cmpd_health *health);
CMPD_API uint32_t cmpd_health_certs_expired(const cmpd_health *health);
CMPD_API uint32_t cmpd_health_certs_revoked(const cmpd_health *health);

/* The number of problems; 0 means all is well. */
CMPD_API size_t cmpd_health_problem_count(const cmpd_health *health);

/*
 * The i-th problem (NULL, 0 or CMPD_JOB_STATE_UNKNOWN past the end): its
 * kind ("stuck_job", "renewal_overdue", "expires_before_retry",
 * "expiring"), profile, job id ("" if none), certificate id ("" if none),
 * the job's state (a stuck job), since when (unix time), the time it
 * concerns (the deadline, the poll, not after), a sentence (cmpd's or the
 * last renewal's error), the renewals failed in a row and the next
 * attempt (unix time, 0: none).
 */
CMPD_API const char *cmpd_health_problem_kind(
    const cmpd_health *health, size_t i);
CMPD_API const char *cmpd_health_problem_profile(
    const cmpd_health *health, size_t i);
CMPD_API const char *cmpd_health_problem_job_id(
    const cmpd_health *health, size_t i);
CMPD_API const char *cmpd_health_problem_cert_id(
    const cmpd_health *health, size_t i);
CMPD_API cmpd_job_state cmpd_health_problem_job_state(
    const cmpd_health *health, size_t i);
CMPD_API int64_t cmpd_health_problem_since(const cmpd_health *health, size_t i);
CMPD_API int64_t cmpd_health_problem_due(const cmpd_health *health, size_t i);
CMPD_API const char *cmpd_health_problem_detail(
    const cmpd_health *health, size_t i);
CMPD_API uint32_t cmpd_health_problem_failures(
    const cmpd_health *health, size_t i);
CMPD_API int64_t cmpd_health_problem_next_attempt(
    const cmpd_health *health, size_t i);

/*
 * Runs profile's reload command now, as cmpd runs it after a renewal
 * (CMPD_EVENT=test, CMPD_CERT_ID the profile's current certificate or
 * ""), without renewing anything, and waits for it to end (at most the
 * profile's reload_timeout, which this call waits out). Only for
 * administrators of cmpd. On success *status is the command's exit status
 * (0..255), 128 + N when signal N ended it, or -1 when cmpd killed it
 * after its timeout. Fails with CMPD_RESULT_NOT_FOUND for an unknown
 * profile or one without a reload command.
 */
CMPD_API cmpd_result cmpd_hook_test(
    cmpd_client *client, const char *profile, int *status);

#ifdef __cplusplus
}
#endif
