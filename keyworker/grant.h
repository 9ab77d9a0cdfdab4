/*
 * Grants: the broker allows the networker to sign for one job, one CMP
 * transaction and at most three keys: the protection key, the new key and
 * the TLS client key of an https CA. A grant holds its private keys, loaded
 * from the store, until it ends. Used on the loop thread only.
 */
#pragma once

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "cmpd.pb-c.h"
#include "keyfile.h"
#include "keystore.h"
#include "util.h"

#define KW_TXID_LEN 16 /* transactionID: 128 bits (RFC 9483 3.1) */

/* One key of a grant; id[0] == '\0' when the grant has no such key. */
struct kw_grant_key {
	char id[CMPD_KEY_ID_LEN + 1];
	Cmpd__KeyType type;
	EVP_PKEY *pkey;
	uint8_t *spki;
	size_t spki_len;
};

struct kw_grant {
	char job_id[CMPD_JOB_ID_LEN + 1];
	Cmpd__CmpOp op;
	uint8_t txid[KW_TXID_LEN];
	struct kw_grant_key prot; /* none with MAC protection */
	struct kw_grant_key newk; /* none for RR and GENM */
	struct kw_grant_key tls;  /* the TLS client key, if any (EC only) */
};

struct kw_grants;

cmpd_err kw_grants_new(struct kw_grants **out);
void kw_grants_free(struct kw_grants *gs);

/* "IR", "CR", "KUR", "P10CR", "RR", "GENM"; "?" otherwise. */
const char *kw_cmp_op_name(Cmpd__CmpOp op);

/* Exactly n lowercase hex digits. */
int kw_is_hex_len(const char *s, size_t n);

/*
 * Checks the form of every field of req (ids, op, transactionID length,
 * which keys the op needs, the TLS key id). A failure is the broker's
 * protocol violation.
 */
cmpd_err kw_grant_req_check(const Cmpd__GrantReq *req, struct kw_why *why);

/*
 * Grants req (already checked), replacing an earlier grant of the same job.
 * Every named key must be in ks; their private keys are loaded now. A TLS
 * client key must be an EC key (P-256 or P-384): TLS 1.3 signs with RSA
 * only through RSA-PSS, which the signer does not do (CMPD_EINVAL).
 */
cmpd_err kw_grant_set(struct kw_grants *gs, struct kw_keystore *ks,
    const Cmpd__GrantReq *req, struct kw_why *why);

/* Ends job_id's grant and frees its keys; 0 if there was none. */
int kw_grant_end(struct kw_grants *gs, const char *job_id);

const struct kw_grant *kw_grant_find(
    const struct kw_grants *gs, const char *job_id);

/* The job id of a live grant that uses key_id, or NULL. */
const char *kw_grants_key_user(const struct kw_grants *gs, const char *key_id);

size_t kw_grants_count(const struct kw_grants *gs);

/*
 * A library context without keys (only OpenSSL's "null" provider), in
 * which the signer parses what it is asked to sign. The checks compare
 * public keys byte for byte and never use them, and OpenSSL 3.0 parses
 * the key of every SubjectPublicKeyInfo it meets with a decoder context
 * that costs some 70 us; without key management that costs nothing and
 * the structure is parsed, and re-encoded, all the same.
 */
OSSL_LIB_CTX *kw_grants_parse_libctx(const struct kw_grants *gs);
