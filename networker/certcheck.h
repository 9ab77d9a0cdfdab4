/*
 * The check of a newly issued certificate before the networker confirms it
 * (the certConf decision). OpenSSL 3.0's default callback validates no
 * chain unless given a store, and never compares the key byte for byte;
 * this one does both:
 *  (a) the certificate's SubjectPublicKeyInfo equals the requested key's,
 *  (b) it chains to the configured anchors for new certificates, with the
 *      response's extraCerts and caPubs as intermediates; caPubs become
 *      anchors only when the profile says so (RFC 9810: caPubs of a
 *      MAC-protected response are not trust anchors by themselves).
 */
#pragma once

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

struct nw_certcheck {
	OSSL_LIB_CTX *libctx;
	const uint8_t *spki; /* DER SPKI of the requested key */
	size_t spki_len;
	STACK_OF(X509) * anchors; /* may be NULL or empty */
	int trust_capubs;
};

/*
 * Checks cert. Returns 0 when it is acceptable, with its chain (issuer
 * first, without cert, ending with the anchor) in *chain for the caller.
 * Otherwise returns the PKIFailureInfo bits to send in certConf and writes
 * a sentence for a person to text; *chain is untouched.
 */
int nw_certcheck_run(const struct nw_certcheck *c, X509 *cert,
    STACK_OF(X509) * extra, STACK_OF(X509) * capubs, STACK_OF(X509) * *chain,
    char *text, size_t textlen);
