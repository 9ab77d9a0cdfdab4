/*
 * The few fields of CMP and CRMF structures that OpenSSL 3.0 offers no
 * getter for, read from their DER encoding: the protection algorithm and
 * senderKID of a PKIHeader, the public key of a CertTemplate (the getter is
 * 3.2+) and the reasonCode of a revocation request.
 */
#pragma once

#include <openssl/cmp.h>
#include <openssl/crmf.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/*
 * Reads the header of the DER PKIMessage msg: *nid is the NID of its
 * protectionAlg (NID_undef when absent, -1 when unknown to OpenSSL), *kid a new
 * copy of its senderKID (NULL when absent). CMPD_EPROTO if msg is not a
 * PKIMessage.
 */
cmpd_err tca_der_header_prot(
    const uint8_t *msg, size_t len, int *nid, ASN1_OCTET_STRING **kid);

/*
 * The publicKey of tmpl as a new EVP_PKEY. CMPD_ENOENT if the template has
 * none, CMPD_EPROTO if it cannot be decoded.
 */
cmpd_err tca_der_template_pubkey(
    const OSSL_CRMF_CERTTEMPLATE *tmpl, EVP_PKEY **out);

/*
 * The CRLReason code in the crlEntryDetails of the first RevDetails of the
 * DER rr PKIMessage msg, or -1 when it carries none.
 */
int tca_der_rr_reason(const uint8_t *msg, size_t len);

/* The PKIStatus value of si (0 accepted ... 6 keyUpdateWarning), or -1. */
int tca_der_pkisi_status(const OSSL_CMP_PKISI *si);
