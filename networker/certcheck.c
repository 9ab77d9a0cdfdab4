#include "certcheck.h"

#include <openssl/cmp.h>
#include <stdio.h>
#include <string.h>

#define FAIL_BIT(b) (1 << OSSL_CMP_PKIFAILUREINFO_##b)

/* Byte-for-byte: a re-encoding of the same key would hide nothing. */
static int
certcheck_key_matches(const struct nw_certcheck *c, X509 *cert)
{
	unsigned char *der = NULL;
	int len, same;

	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	if (len <= 0)
		return 0;
	same = (size_t)len == c->spki_len &&
	    memcmp(der, c->spki, c->spki_len) == 0;
	OPENSSL_free(der);
	return same;
}

static int
certcheck_add_all(X509_STORE *store, STACK_OF(X509) * certs)
{
	for (int i = 0; i < sk_X509_num(certs); i++)
		if (!X509_STORE_add_cert(store, sk_X509_value(certs, i)))
			return 0;
	return 1;
}

/*
 * The store of anchors: the configured ones, plus caPubs only when the
 * profile trusts them.
 */
static X509_STORE *
certcheck_store_new(const struct nw_certcheck *c, STACK_OF(X509) * capubs)
{
	X509_STORE *store = X509_STORE_new();

	if (store == NULL)
		return NULL;
	if (!certcheck_add_all(store, c->anchors) ||
	    (c->trust_capubs && !certcheck_add_all(store, capubs))) {
		X509_STORE_free(store);
		return NULL;
	}
	/* An anchor is what the administrator configured, root or not. */
	X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
	return store;
}

/* extraCerts, and caPubs when they are not anchors, as intermediates. */
static STACK_OF(X509) *
    certcheck_untrusted_new(const struct nw_certcheck *c,
        STACK_OF(X509) * extra, STACK_OF(X509) * capubs)
{
	STACK_OF(X509) *all = sk_X509_new_null();
	int flags = X509_ADD_FLAG_UP_REF | X509_ADD_FLAG_NO_DUP;

	if (all == NULL || !X509_add_certs(all, extra, flags) ||
	    (!c->trust_capubs && !X509_add_certs(all, capubs, flags))) {
		sk_X509_pop_free(all, X509_free);
		return NULL;
	}
	return all;
}

/*
 * Verifies cert against store; on success returns its chain without the
 * leaf, else NULL with the verifier's reason in text.
 */
static STACK_OF(X509) *
    certcheck_verify(const struct nw_certcheck *c, X509_STORE *store,
        X509 *cert, STACK_OF(X509) * untrusted, char *text, size_t textlen)
{
	X509_STORE_CTX *vc = X509_STORE_CTX_new_ex(c->libctx, NULL);
	STACK_OF(X509) *chain = NULL;

	if (vc == NULL || !X509_STORE_CTX_init(vc, store, cert, untrusted)) {
		snprintf(text, textlen,
		    "cannot verify the new certificate: "
		    "out of memory");
		goto out;
	}
	if (X509_verify_cert(vc) <= 0) {
		snprintf(text, textlen,
		    "new certificate does not chain to "
		    "the configured trust anchors: %s",
		    X509_verify_cert_error_string(
		        X509_STORE_CTX_get_error(vc)));
		goto out;
	}
	if ((chain = X509_STORE_CTX_get1_chain(vc)) != NULL)
		X509_free(sk_X509_shift(chain));
	else
		snprintf(text, textlen, "cannot copy the verified chain");
out:
	X509_STORE_CTX_free(vc);
	return chain;
}

int
nw_certcheck_run(const struct nw_certcheck *c, X509 *cert,
    STACK_OF(X509) * extra, STACK_OF(X509) * capubs, STACK_OF(X509) * *chain,
    char *text, size_t textlen)
{
	X509_STORE *store = NULL;
	STACK_OF(X509) *untrusted = NULL, *verified = NULL;
	int fail = FAIL_BIT(signerNotTrusted);

	if (!certcheck_key_matches(c, cert)) {
		snprintf(text, textlen,
		    "public key in new certificate does "
		    "not match our enrollment key");
		return FAIL_BIT(incorrectData);
	}
	if (sk_X509_num(c->anchors) <= 0 &&
	    !(c->trust_capubs && sk_X509_num(capubs) > 0)) {
		snprintf(text, textlen,
		    "no trust anchors configured for the "
		    "new certificate");
		return fail;
	}
	store = certcheck_store_new(c, capubs);
	untrusted = certcheck_untrusted_new(c, extra, capubs);
	if (store == NULL || untrusted == NULL) {
		snprintf(text, textlen,
		    "cannot verify the new certificate: "
		    "out of memory");
		fail = FAIL_BIT(systemFailure);
		goto out;
	}
	verified = certcheck_verify(c, store, cert, untrusted, text, textlen);
	if (verified == NULL)
		goto out;
	*chain = verified;
	fail = 0;
out:
	X509_STORE_free(store);
	sk_X509_pop_free(untrusted, X509_free);
	return fail;
}
