/* The stand-in keyworker and DER readers of the rkprov tests. */
#include "test_rkprov_kw.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <string.h>

cmpd_err
kw_init(struct kw *kw)
{
	memset(kw, 0, sizeof(*kw));
	if (pthread_mutex_init(&kw->lock, NULL) != 0)
		return CMPD_EINTERNAL;
	if ((kw->libctx = OSSL_LIB_CTX_new()) == NULL)
		return CMPD_ECRYPTO;
	return CMPD_OK;
}

void
kw_reset(struct kw *kw)
{
	size_t i;

	pthread_mutex_lock(&kw->lock);
	for (i = 0; i < kw->ncalls && i < KW_MAX_CALLS; i++)
		OPENSSL_free(kw->calls[i].tbs);
	memset(kw->calls, 0, sizeof(kw->calls));
	kw->ncalls = 0;
	kw->fail = CMPD_OK;
	kw->fail_at = 0;
	kw->extra_sig = 0;
	kw->corrupt = 0;
	pthread_mutex_unlock(&kw->lock);
}

void
kw_fini(struct kw *kw)
{
	size_t i;

	kw_reset(kw);
	for (i = 0; i < kw->nkeys; i++) {
		EVP_PKEY_free(kw->keys[i].priv);
		OPENSSL_free(kw->keys[i].spki);
	}
	OSSL_LIB_CTX_free(kw->libctx);
	pthread_mutex_destroy(&kw->lock);
}

static EVP_PKEY *
kw_keygen(OSSL_LIB_CTX *libctx, Cmpd__KeyType type)
{
	switch (type) {
	case CMPD__KEY_TYPE__KEY_EC_P256:
		return EVP_PKEY_Q_keygen(libctx, NULL, "EC", "P-256");
	case CMPD__KEY_TYPE__KEY_EC_P384:
		return EVP_PKEY_Q_keygen(libctx, NULL, "EC", "P-384");
	case CMPD__KEY_TYPE__KEY_RSA_2048:
		return EVP_PKEY_Q_keygen(libctx, NULL, "RSA", (size_t)2048);
	case CMPD__KEY_TYPE__KEY_RSA_3072:
		return EVP_PKEY_Q_keygen(libctx, NULL, "RSA", (size_t)3072);
	case CMPD__KEY_TYPE__KEY_RSA_4096:
		return EVP_PKEY_Q_keygen(libctx, NULL, "RSA", (size_t)4096);
	case CMPD__KEY_TYPE__KEY_ED25519:
		return EVP_PKEY_Q_keygen(libctx, NULL, "ED25519");
	default:
		return NULL;
	}
}

cmpd_err
kw_key_add(struct kw *kw, Cmpd__KeyType type, struct kw_key **out)
{
	struct kw_key *k;
	unsigned char *der = NULL;
	int len;

	if (kw->nkeys == KW_MAX_KEYS)
		return CMPD_ENOMEM;
	k = &kw->keys[kw->nkeys];
	memset(k, 0, sizeof(*k));
	k->type = type;
	if ((k->priv = kw_keygen(kw->libctx, type)) == NULL)
		return CMPD_ECRYPTO;
	if ((len = i2d_PUBKEY(k->priv, &der)) <= 0) {
		EVP_PKEY_free(k->priv);
		return CMPD_ECRYPTO;
	}
	k->spki = der;
	k->spki_len = (size_t)len;
	if (cmpd_key_id_from_spki(k->spki, k->spki_len, k->id) != CMPD_OK) {
		EVP_PKEY_free(k->priv);
		OPENSSL_free(der);
		return CMPD_ECRYPTO;
	}
	kw->nkeys++;
	*out = k;
	return CMPD_OK;
}

static struct kw_key *
kw_key_find(struct kw *kw, const char *id)
{
	size_t i;

	for (i = 0; i < kw->nkeys; i++) {
		if (strcmp(kw->keys[i].id, id) == 0)
			return &kw->keys[i];
	}
	return NULL;
}

/* Records the call; returns the planned failure for its number, if any. */
static cmpd_err
kw_record(struct kw *kw, const char *job_id, const char *key_id,
    const char *digest, const uint8_t *tbs, size_t tbslen)
{
	struct kw_call *c;
	cmpd_err err = CMPD_OK;

	pthread_mutex_lock(&kw->lock);
	if (kw->fail != CMPD_OK && kw->ncalls >= kw->fail_at)
		err = kw->fail;
	if (kw->ncalls < KW_MAX_CALLS) {
		c = &kw->calls[kw->ncalls];
		cmpd_strlcpy(c->job_id, job_id, sizeof(c->job_id));
		cmpd_strlcpy(c->key_id, key_id, sizeof(c->key_id));
		cmpd_strlcpy(c->digest, digest, sizeof(c->digest));
		c->tbs = OPENSSL_memdup(tbs, tbslen);
		c->tbs_len = tbslen;
	}
	kw->ncalls++;
	pthread_mutex_unlock(&kw->lock);
	return err;
}

/* The keyworker's rule: RSA and ECDSA with a SHA-2 digest, Ed25519 none. */
static int
kw_digest_ok(const struct kw_key *k, const char *digest)
{
	if (k->type == CMPD__KEY_TYPE__KEY_ED25519)
		return digest[0] == '\0';
	return strcmp(digest, "SHA256") == 0 || strcmp(digest, "SHA384") == 0 ||
	    strcmp(digest, "SHA512") == 0;
}

cmpd_err
kw_sign_cb(void *arg, const char *job_id, const char *key_id,
    const char *digest, const uint8_t *tbs, size_t tbslen, uint8_t **sig,
    size_t *siglen)
{
	struct kw *kw = arg;
	struct kw_key *k;
	EVP_MD_CTX *mctx = NULL;
	uint8_t *out = NULL;
	size_t len = 0;
	cmpd_err err;

	if ((err = kw_record(kw, job_id, key_id, digest, tbs, tbslen)))
		return err;
	if ((k = kw_key_find(kw, key_id)) == NULL)
		return CMPD_ENOENT;
	if (!kw_digest_ok(k, digest))
		return CMPD_EPERM;
	err = CMPD_ECRYPTO;
	if ((mctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit_ex(mctx, NULL, digest[0] ? digest : NULL,
	        kw->libctx, NULL, k->priv, NULL) != 1 ||
	    EVP_DigestSign(mctx, NULL, &len, tbs, tbslen) != 1 ||
	    (out = OPENSSL_malloc(len + kw->extra_sig)) == NULL ||
	    EVP_DigestSign(mctx, out, &len, tbs, tbslen) != 1)
		goto out;
	memset(out + len, 0, kw->extra_sig);
	if (kw->corrupt)
		out[len - 1] ^= 0x01;
	*sig = out;
	*siglen = len + kw->extra_sig;
	out = NULL;
	err = CMPD_OK;
out:
	EVP_MD_CTX_free(mctx);
	OPENSSL_free(out);
	return err;
}

EVP_PKEY *
kw_handle(OSSL_LIB_CTX *libctx, const struct kw_key *k)
{
	EVP_PKEY *pkey = NULL;

	if (cmpd_rkprov_key_new(libctx, KW_JOB_ID, k->id, k->type, k->spki,
	        k->spki_len, &pkey) != CMPD_OK)
		return NULL;
	return pkey;
}

EVP_PKEY *
kw_pub(OSSL_LIB_CTX *libctx, const struct kw_key *k)
{
	const unsigned char *p = k->spki;

	return d2i_PUBKEY_ex(
	    NULL, &p, (long)k->spki_len, libctx, "provider=default");
}

int
kw_verify(const struct kw *kw, const struct kw_key *k, const char *digest,
    const uint8_t *tbs, size_t tbslen, const uint8_t *sig, size_t siglen)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	int rv = 0;

	if (mctx != NULL &&
	    EVP_DigestVerifyInit_ex(mctx, NULL, digest[0] ? digest : NULL,
	        kw->libctx, NULL, k->priv, NULL) == 1)
		rv = EVP_DigestVerify(mctx, sig, siglen, tbs, tbslen);
	EVP_MD_CTX_free(mctx);
	return rv == 1;
}

int
der_child(const uint8_t **p, long *left, struct der_elem *e)
{
	const unsigned char *q = *p;
	int rv;

	if (*left <= 0)
		return 0;
	e->start = q;
	rv = ASN1_get_object(&q, &e->body_len, &e->tag, &e->cls, *left);
	if ((rv & 0x80) != 0 || rv == 0x21) /* error; indefinite length */
		return 0;
	e->body = q;
	*left -= (long)(q - *p) + e->body_len;
	*p = q + e->body_len;
	return *left >= 0;
}

int
der_protected_part_body(const uint8_t *tbs, size_t len)
{
	const uint8_t *p = tbs;
	long left = (long)len;
	struct der_elem seq, hdr, body;

	if (!der_child(&p, &left, &seq) || seq.tag != V_ASN1_SEQUENCE ||
	    left != 0)
		return -1;
	p = seq.body;
	left = seq.body_len;
	if (!der_child(&p, &left, &hdr) || hdr.tag != V_ASN1_SEQUENCE ||
	    !der_child(&p, &left, &body) || left != 0 ||
	    body.cls != V_ASN1_CONTEXT_SPECIFIC)
		return -1;
	return body.tag;
}

uint8_t *
der_template_spki(const uint8_t *tmpl, size_t len, size_t *spki_len)
{
	const uint8_t *p = tmpl;
	long left = (long)len;
	struct der_elem seq, e;
	uint8_t *spki;

	if (!der_child(&p, &left, &seq) || seq.tag != V_ASN1_SEQUENCE)
		return NULL;
	p = seq.body;
	left = seq.body_len;
	while (der_child(&p, &left, &e)) {
		if (e.cls != V_ASN1_CONTEXT_SPECIFIC || e.tag != 6)
			continue;
		*spki_len = (size_t)(e.body + e.body_len - e.start);
		if ((spki = OPENSSL_memdup(e.start, *spki_len)) != NULL)
			spki[0] = 0x30; /* [6] IMPLICIT SEQUENCE -> SEQUENCE */
		return spki;
	}
	return NULL;
}

uint8_t *
der_certreq_spki(const uint8_t *tbs, size_t len, size_t *spki_len)
{
	const uint8_t *p = tbs;
	long left = (long)len;
	struct der_elem seq, id, tmpl;

	if (!der_child(&p, &left, &seq) || seq.tag != V_ASN1_SEQUENCE ||
	    left != 0)
		return NULL;
	p = seq.body;
	left = seq.body_len;
	if (!der_child(&p, &left, &id) || id.tag != V_ASN1_INTEGER ||
	    !der_child(&p, &left, &tmpl) || tmpl.tag != V_ASN1_SEQUENCE)
		return NULL;
	return der_template_spki(tmpl.start,
	    (size_t)(tmpl.body + tmpl.body_len - tmpl.start), spki_len);
}
