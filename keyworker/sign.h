/*
 * The signer checks what it signs. A SignReq is honoured only for a job
 * with a grant, with one of the grant's keys, with an allowed digest, and
 * only over a structure that key's role allows:
 *  - the protection key: a CMP ProtectedPart (SEQUENCE {PKIHeader,
 *    PKIBody}) of the grant's transaction whose body type the grant's
 *    operation may send;
 *  - the new key: a CRMF CertRequest (IR, CR, KUR) or a PKCS#10
 *    CertificationRequestInfo (P10CR) carrying that key's own public key;
 *  - the TLS client key (an EC key): the content a TLS 1.3 client signs in
 *    its CertificateVerify (RFC 8446 4.4.3): 64 bytes 0x20, the context
 *    string "TLS 1.3, client CertificateVerify", one 0x00, then a
 *    transcript hash as long as the request's digest (32, 48 or 64 bytes).
 * A key in several roles may sign what any of them allows. There is no
 * "sign these bytes".
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "cmpd.pb-c.h"
#include "grant.h"

/* PKIBody choice numbers (RFC 9810 5.1.2) the policy names. */
enum kw_pkibody {
	KW_BODY_IR = 0,
	KW_BODY_CR = 2,
	KW_BODY_P10CR = 4,
	KW_BODY_KUR = 7,
	KW_BODY_RR = 11,
	KW_BODY_GENM = 21,
	KW_BODY_ERROR = 23,
	KW_BODY_CERTCONF = 24,
	KW_BODY_POLLREQ = 25,
	KW_BODY_MAX = 27
};

/*
 * Checks the form of a SignReq (ids, digest name length, TBS present). A
 * failure means the networker is broken or hostile: its pipe is dropped.
 */
cmpd_err kw_sign_req_check(const Cmpd__SignReq *req, struct kw_why *why);

/*
 * Checks req against the grants and signs its TBS with EVP_DigestSign
 * (PKCS#1 v1.5 for RSA). A refusal returns CMPD_EPERM with the reason in
 * why and logs it at warning level with the job and key. On success *sig
 * is malloc'd and the caller's.
 */
cmpd_err kw_sign(const struct kw_grants *gs, const Cmpd__SignReq *req,
    uint8_t **sig, size_t *siglen, struct kw_why *why);
