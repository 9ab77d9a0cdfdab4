#include "sign.h"

#include <limits.h>
#include <openssl/asn1.h>
#include <openssl/cmp.h>
#include <openssl/crmf.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"
#include "log.h"

#define KW_DIGEST_NAME_MAX 16

static const char *const body_names[KW_BODY_MAX] = {
	"ir",
	"ip",
	"cr",
	"cp",
	"p10cr",
	"popdecc",
	"popdecr",
	"kur",
	"kup",
	"krr",
	"krp",
	"rr",
	"rp",
	"ccr",
	"ccp",
	"ckuann",
	"cann",
	"rann",
	"crlann",
	"pkiconf",
	"nested",
	"genm",
	"genp",
	"error",
	"certConf",
	"pollReq",
	"pollRep",
};

static const char *
body_name(int type)
{
	return type >= 0 && type < KW_BODY_MAX ? body_names[type] : "unknown";
}

/* What each operation may have signed with its protection key. */
static const struct op_policy {
	Cmpd__CmpOp op;
	int request; /* the body that starts the transaction */
	int enrolls; /* certConf and pollReq may follow */
} op_policies[] = {
	{ CMPD__CMP_OP__CMP_OP_IR, KW_BODY_IR, 1 },
	{ CMPD__CMP_OP__CMP_OP_CR, KW_BODY_CR, 1 },
	{ CMPD__CMP_OP__CMP_OP_KUR, KW_BODY_KUR, 1 },
	{ CMPD__CMP_OP__CMP_OP_P10CR, KW_BODY_P10CR, 1 },
	{ CMPD__CMP_OP__CMP_OP_RR, KW_BODY_RR, 0 },
	{ CMPD__CMP_OP__CMP_OP_GENM, KW_BODY_GENM, 0 },
};

static int
body_allowed(Cmpd__CmpOp op, int type)
{
	for (size_t i = 0; i < CMPD_ARRAY_LEN(op_policies); i++) {
		const struct op_policy *p = &op_policies[i];

		if (p->op != op)
			continue;
		return type == p->request || type == KW_BODY_ERROR ||
		    (p->enrolls &&
		        (type == KW_BODY_CERTCONF || type == KW_BODY_POLLREQ));
	}
	return 0;
}

/*
 * One DER element at *p within end: its tag and class, the whole element
 * (tlv, tlv_len) and its contents (body, body_len). Advances *p past it.
 * Only definite lengths: DER has no others.
 */
struct der_elem {
	int tag;
	int cls;
	int constructed;
	const uint8_t *tlv;
	size_t tlv_len;
	const uint8_t *body;
	size_t body_len;
};

static int
der_next(const uint8_t **p, const uint8_t *end, struct der_elem *e)
{
	const unsigned char *q = *p;
	long len = 0;
	int ret;

	if (*p >= end || end - *p > LONG_MAX)
		return 0;
	ret = ASN1_get_object(&q, &len, &e->tag, &e->cls, (long)(end - *p));
	if ((ret & 0x80) != 0 || (ret & 0x01) != 0) {
		ERR_clear_error();
		return 0;
	}
	e->constructed = (ret & V_ASN1_CONSTRUCTED) != 0;
	e->tlv = *p;
	e->body = q;
	e->body_len = (size_t)len;
	e->tlv_len = (size_t)(q - *p) + (size_t)len;
	*p = q + len;
	return 1;
}

/* buf is exactly one DER SEQUENCE; *seq describes it. */
static int
der_whole_seq(const uint8_t *buf, size_t len, struct der_elem *seq)
{
	const uint8_t *p = buf;

	return der_next(&p, buf + len, seq) && p == buf + len &&
	    seq->tag == V_ASN1_SEQUENCE && seq->cls == V_ASN1_UNIVERSAL &&
	    seq->constructed;
}

/* The n-th element (from 0) of a SEQUENCE's contents. */
static int
der_child(const struct der_elem *seq, int n, struct der_elem *out)
{
	const uint8_t *p = seq->body, *end = seq->body + seq->body_len;

	for (int i = 0; i <= n; i++)
		if (!der_next(&p, end, out))
			return 0;
	return 1;
}

static int
der_count(const struct der_elem *seq)
{
	const uint8_t *p = seq->body, *end = seq->body + seq->body_len;
	struct der_elem e;
	int n = 0;

	while (p < end) {
		if (!der_next(&p, end, &e))
			return -1;
		n++;
	}
	return n;
}

static cmpd_err
refuse(struct kw_why *why, const char *text)
{
	kw_why_set(why, "%s", text);
	return CMPD_EPERM;
}

/*
 * OpenSSL re-encodes what it parsed; equal bytes mean the input was DER,
 * so what was checked is exactly what gets signed.
 */
static int
same_encoding(const uint8_t *der, size_t len, unsigned char *enc, int enclen)
{
	int same =
	    enclen > 0 && (size_t)enclen == len && memcmp(enc, der, len) == 0;

	OPENSSL_free(enc);
	return same;
}

static cmpd_err
check_cmp_msg(const struct kw_grant *g, OSSL_CMP_MSG *msg, struct kw_why *why)
{
	const ASN1_OCTET_STRING *txid;
	int type;

	txid = OSSL_CMP_HDR_get0_transactionID(OSSL_CMP_MSG_get0_header(msg));
	if (txid == NULL || ASN1_STRING_length(txid) != KW_TXID_LEN ||
	    memcmp(ASN1_STRING_get0_data(txid), g->txid, KW_TXID_LEN) != 0)
		return refuse(why, "transactionID does not match the grant");
	type = OSSL_CMP_MSG_get_bodytype(msg);
	if (!body_allowed(g->op, type)) {
		kw_why_set(why, "body type %s not allowed for %s",
		    body_name(type), kw_cmp_op_name(g->op));
		return CMPD_EPERM;
	}
	return CMPD_OK;
}

/*
 * A ProtectedPart's DER is also a PKIMessage without protection and
 * extraCerts, so d2i_OSSL_CMP_MSG parses it once we know it has exactly
 * the two elements.
 */
static cmpd_err
check_protected_part(OSSL_LIB_CTX *pctx, const struct kw_grant *g,
    const uint8_t *tbs, size_t len, struct kw_why *why)
{
	const unsigned char *p = tbs;
	struct der_elem seq;
	OSSL_CMP_MSG *msg = NULL;
	unsigned char *enc = NULL;
	int enclen;
	cmpd_err rv;

	if (!der_whole_seq(tbs, len, &seq) || der_count(&seq) != 2)
		return refuse(why,
		    "not a ProtectedPart (one SEQUENCE of "
		    "header and body)");
	msg = (OSSL_CMP_MSG *)ASN1_item_d2i_ex(
	    NULL, &p, (long)len, ASN1_ITEM_rptr(OSSL_CMP_MSG), pctx, NULL);
	if (msg == NULL || p != tbs + len) {
		OSSL_CMP_MSG_free(msg);
		return refuse(why,
		    "not a ProtectedPart (no CMP header and "
		    "body)");
	}
	enclen = i2d_OSSL_CMP_MSG(msg, &enc);
	if (!same_encoding(tbs, len, enc, enclen))
		rv = refuse(why, "ProtectedPart is not in DER");
	else
		rv = check_cmp_msg(g, msg, why);
	OSSL_CMP_MSG_free(msg);
	return rv;
}

/* The template's publicKey [6] must be the key's own SPKI, byte for byte. */
static cmpd_err
check_template_key(const struct kw_grant_key *k, OSSL_CRMF_CERTTEMPLATE *tmpl,
    struct kw_why *why)
{
	unsigned char *der = NULL;
	int len;
	int same = 0;

#if OPENSSL_VERSION_NUMBER >= 0x30200000L
	const X509_PUBKEY *pub = OSSL_CRMF_CERTTEMPLATE_get0_publicKey(tmpl);

	if (pub == NULL)
		return refuse(why, "CertRequest carries no public key");
	len = i2d_X509_PUBKEY(pub, &der);
	same = len > 0 && (size_t)len == k->spki_len &&
	    memcmp(der, k->spki, k->spki_len) == 0;
#else
	/* 3.0 has no getter: find [6] in the template's encoding. Its
	 * IMPLICIT tag replaces the SPKI's SEQUENCE tag, so compare the
	 * contents. */
	struct der_elem t, e, spki;
	const uint8_t *p, *end;
	int found = 0;

	len = i2d_OSSL_CRMF_CERTTEMPLATE(tmpl, &der);
	if (len <= 0 || !der_whole_seq(der, (size_t)len, &t) ||
	    !der_whole_seq(k->spki, k->spki_len, &spki)) {
		OPENSSL_free(der);
		return refuse(why, "CertRequest template cannot be read");
	}
	p = t.body;
	end = t.body + t.body_len;
	while (!found && der_next(&p, end, &e))
		found = e.cls == V_ASN1_CONTEXT_SPECIFIC && e.tag == 6;
	if (!found) {
		OPENSSL_free(der);
		return refuse(why, "CertRequest carries no public key");
	}
	same = e.constructed && e.body_len == spki.body_len &&
	    memcmp(e.body, spki.body, spki.body_len) == 0;
#endif
	OPENSSL_free(der);
	if (!same)
		return refuse(
		    why, "CertRequest public key is not the key's own");
	return CMPD_OK;
}

/*
 * CertReqMsg ::= SEQUENCE { certReq CertRequest, popo, regInfo }: wrapping
 * the CertRequest in a SEQUENCE gives a CertReqMsg without the optional
 * parts, which OpenSSL's own decoder then parses.
 */
static cmpd_err
check_cert_request(OSSL_LIB_CTX *pctx, const struct kw_grant_key *k,
    const uint8_t *tbs, size_t len, struct kw_why *why)
{
	struct der_elem seq;
	int wlen = ASN1_object_size(1, (int)(len & INT_MAX), V_ASN1_SEQUENCE);
	unsigned char *wrap = NULL, *q, *enc = NULL;
	const unsigned char *p;
	OSSL_CRMF_MSG *crm = NULL;
	int enclen;
	cmpd_err rv;

	if (len > CMPD_IPC_MAX_SIGN || !der_whole_seq(tbs, len, &seq) ||
	    wlen <= 0 || (wrap = malloc((size_t)wlen)) == NULL)
		return refuse(why, "not a CertRequest (one SEQUENCE)");
	q = wrap;
	ASN1_put_object(&q, 1, (int)len, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
	memcpy(q, tbs, len);
	p = wrap;
	crm = (OSSL_CRMF_MSG *)ASN1_item_d2i_ex(
	    NULL, &p, wlen, ASN1_ITEM_rptr(OSSL_CRMF_MSG), pctx, NULL);
	if (crm == NULL || p != wrap + wlen) {
		rv = refuse(why, "not a CRMF CertRequest");
		goto out;
	}
	enclen = i2d_OSSL_CRMF_MSG(crm, &enc);
	if (!same_encoding(wrap, (size_t)wlen, enc, enclen))
		rv = refuse(why, "CertRequest is not in DER");
	else
		rv = check_template_key(k, OSSL_CRMF_MSG_get0_tmpl(crm), why);
out:
	OSSL_CRMF_MSG_free(crm);
	free(wrap);
	return rv;
}

/*
 * CertificationRequestInfo ::= SEQUENCE { version, subject,
 * subjectPKInfo, attributes [0] }: parsed by OpenSSL, then the third
 * element compared with the key's SPKI.
 */
static cmpd_err
check_p10_info(OSSL_LIB_CTX *pctx, const struct kw_grant_key *k,
    const uint8_t *tbs, size_t len, struct kw_why *why)
{
	const unsigned char *p = tbs;
	struct der_elem seq, spki;
	X509_REQ_INFO *ri = NULL;
	cmpd_err rv = CMPD_OK;

	if (!der_whole_seq(tbs, len, &seq))
		return refuse(why,
		    "not a CertificationRequestInfo (one "
		    "SEQUENCE)");
	ri = (X509_REQ_INFO *)ASN1_item_d2i_ex(
	    NULL, &p, (long)len, ASN1_ITEM_rptr(X509_REQ_INFO), pctx, NULL);
	if (ri == NULL || p != tbs + len)
		rv = refuse(why, "not a PKCS#10 CertificationRequestInfo");
	else if (!der_child(&seq, 2, &spki) || spki.tlv_len != k->spki_len ||
	    memcmp(spki.tlv, k->spki, k->spki_len) != 0)
		rv = refuse(why,
		    "CertificationRequestInfo public key is not "
		    "the key's own");
	X509_REQ_INFO_free(ri);
	return rv;
}

/* What a TLS 1.3 client signs (RFC 8446 4.4.3), before the hash. */
#define TLS13_PAD_LEN 64
static const char tls13_client_context[] = "TLS 1.3, client CertificateVerify";

/* The length of a digest the signer allows, by its name on the wire. */
static size_t
digest_len(const char *digest)
{
	static const struct {
		const char *name;
		size_t len;
	} lens[] = { { "SHA256", 32 }, { "SHA384", 48 }, { "SHA512", 64 } };

	for (size_t i = 0; i < CMPD_ARRAY_LEN(lens); i++)
		if (strcmp(digest, lens[i].name) == 0)
			return lens[i].len;
	return 0;
}

/*
 * The TLS client key signs only a TLS 1.3 client CertificateVerify
 * content, only as an EC key, and only over a transcript hash as long as
 * the digest it signs with: the networker restricts its TLS 1.3 cipher
 * suites to the hash of its key's signature algorithm, so that holds.
 */
static cmpd_err
check_tls13_verify(const struct kw_grant_key *k, const char *digest,
    const uint8_t *tbs, size_t len, struct kw_why *why)
{
	size_t ctx_len = sizeof(tls13_client_context) - 1;
	size_t head = TLS13_PAD_LEN + ctx_len + 1, hash_len;

	if (k->type != CMPD__KEY_TYPE__KEY_EC_P256 &&
	    k->type != CMPD__KEY_TYPE__KEY_EC_P384)
		return refuse(why, "only an EC key may sign for TLS");
	if (len < head)
		return refuse(
		    why, "not a TLS 1.3 CertificateVerify content (too short)");
	for (size_t i = 0; i < TLS13_PAD_LEN; i++)
		if (tbs[i] != 0x20)
			return refuse(why,
			    "not a TLS 1.3 CertificateVerify content (no "
			    "padding of 64 spaces)");
	if (memcmp(tbs + TLS13_PAD_LEN, tls13_client_context, ctx_len) != 0 ||
	    tbs[head - 1] != 0x00)
		return refuse(why,
		    "not a TLS 1.3 CertificateVerify content with the "
		    "context \"TLS 1.3, client CertificateVerify\"");
	hash_len = digest_len(digest);
	if (len - head != hash_len) {
		kw_why_set(why,
		    "TLS 1.3 CertificateVerify hash of %zu bytes; %s needs "
		    "%zu",
		    len - head, digest, hash_len);
		return CMPD_EPERM;
	}
	return CMPD_OK;
}

static cmpd_err
check_digest(Cmpd__KeyType type, const char *digest, struct kw_why *why)
{
	static const char *const allowed[] = { "SHA256", "SHA384", "SHA512" };

	if (type == CMPD__KEY_TYPE__KEY_ED25519) {
		if (digest[0] == '\0')
			return CMPD_OK;
		kw_why_set(why,
		    "digest \"%s\" not allowed: Ed25519 signs "
		    "with none (\"\")",
		    digest);
		return CMPD_EPERM;
	}
	for (size_t i = 0; i < CMPD_ARRAY_LEN(allowed); i++)
		if (strcmp(digest, allowed[i]) == 0)
			return CMPD_OK;
	kw_why_set(why,
	    "digest \"%s\" not allowed for %s (SHA256, SHA384 or "
	    "SHA512)",
	    digest, kw_key_type_name(type));
	return CMPD_EPERM;
}

/* The roles of one key in a grant. */
enum { ROLE_PROT = 1, ROLE_NEW = 2, ROLE_TLS = 4 };

/* Appends a role's refusal to the reasons gathered so far. */
static void
why_append(struct kw_why *why, const struct kw_why *role)
{
	struct kw_why before = *why;

	if (before.text[0] == '\0')
		kw_why_set(why, "%s", role->text);
	else
		kw_why_set(why, "%s; %s", before.text, role->text);
}

/* The new key's structure: PKCS#10 for P10CR, CRMF for the others. */
static cmpd_err
check_new_key_tbs(OSSL_LIB_CTX *pctx, const struct kw_grant *g,
    const struct kw_grant_key *k, const ProtobufCBinaryData *tbs,
    const char **what, struct kw_why *why)
{
	if (g->op == CMPD__CMP_OP__CMP_OP_P10CR) {
		*what = "CertificationRequestInfo";
		return check_p10_info(pctx, k, tbs->data, tbs->len, why);
	}
	*what = "CertRequest";
	return check_cert_request(pctx, k, tbs->data, tbs->len, why);
}

/*
 * Checks tbs against the key's roles in g; *what names the structure
 * accepted. With several roles, the refusal gives every role's reason.
 * Structures are parsed in pctx (kw_grants_parse_libctx).
 */
static cmpd_err
check_tbs(OSSL_LIB_CTX *pctx, const struct kw_grant *g,
    const struct kw_grant_key *k, unsigned roles, const Cmpd__SignReq *req,
    const char **what, struct kw_why *why)
{
	const ProtobufCBinaryData *tbs = &req->tbs;
	struct kw_why role;

	why->text[0] = '\0';
	if ((roles & ROLE_PROT) != 0) {
		*what = "ProtectedPart";
		if (check_protected_part(pctx, g, tbs->data, tbs->len, &role) ==
		    0)
			return CMPD_OK;
		why_append(why, &role);
	}
	if ((roles & ROLE_NEW) != 0) {
		if (check_new_key_tbs(pctx, g, k, tbs, what, &role) == CMPD_OK)
			return CMPD_OK;
		why_append(why, &role);
	}
	if ((roles & ROLE_TLS) != 0) {
		*what = "TLS 1.3 CertificateVerify";
		if (check_tls13_verify(
		        k, req->digest, tbs->data, tbs->len, &role) == CMPD_OK)
			return CMPD_OK;
		why_append(why, &role);
	}
	return CMPD_EPERM;
}

static cmpd_err
sign_tbs(EVP_PKEY *pkey, const char *digest, const ProtobufCBinaryData *tbs,
    uint8_t **sig, size_t *siglen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	uint8_t *buf = NULL;
	size_t len = (size_t)EVP_PKEY_get_size(pkey);
	cmpd_err rv = CMPD_ECRYPTO;

	if (md == NULL || len == 0 || (buf = malloc(len)) == NULL)
		goto out;
	if (EVP_DigestSignInit_ex(md, &pctx, digest[0] ? digest : NULL, NULL,
	        NULL, pkey, NULL) != 1)
		goto out;
	if (EVP_PKEY_is_a(pkey, "RSA") &&
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
		goto out;
	if (EVP_DigestSign(md, buf, &len, tbs->data, tbs->len) != 1)
		goto out;
	*sig = buf;
	*siglen = len;
	buf = NULL;
	rv = CMPD_OK;
out:
	free(buf);
	EVP_MD_CTX_free(md);
	return rv;
}

cmpd_err
kw_sign_req_check(const Cmpd__SignReq *req, struct kw_why *why)
{
	if (!kw_is_hex_len(req->job_id, CMPD_JOB_ID_LEN))
		kw_why_set(why, "job_id is not %d hex digits", CMPD_JOB_ID_LEN);
	else if (!kw_is_hex_len(req->key_id, CMPD_KEY_ID_LEN))
		kw_why_set(why, "key_id is not %d hex digits", CMPD_KEY_ID_LEN);
	else if (req->digest == NULL ||
	    strlen(req->digest) > KW_DIGEST_NAME_MAX)
		kw_why_set(why, "digest name longer than %d characters",
		    KW_DIGEST_NAME_MAX);
	else if (req->tbs.len == 0 || req->tbs.len > CMPD_IPC_MAX_SIGN)
		kw_why_set(why, "tbs is empty or too large");
	else
		return CMPD_OK;
	return CMPD_EINVAL;
}

static cmpd_err
sign_check(const struct kw_grants *gs, const Cmpd__SignReq *req,
    const struct kw_grant_key **key, const char **what, struct kw_why *why)
{
	const struct kw_grant *g = kw_grant_find(gs, req->job_id);
	const struct kw_grant_key *k = NULL;
	unsigned roles = 0;
	cmpd_err rv;

	if (g == NULL)
		return refuse(why, "no grant for this job");
	/* The last role found names the key; all of a key's roles share it. */
	if (strcmp(g->tls.id, req->key_id) == 0) {
		roles |= ROLE_TLS;
		k = &g->tls;
	}
	if (strcmp(g->newk.id, req->key_id) == 0) {
		roles |= ROLE_NEW;
		k = &g->newk;
	}
	if (strcmp(g->prot.id, req->key_id) == 0) {
		roles |= ROLE_PROT;
		k = &g->prot;
	}
	if (k == NULL)
		return refuse(why, "key not in the job's grant");
	if ((rv = check_digest(k->type, req->digest, why)) != CMPD_OK ||
	    (rv = check_tbs(kw_grants_parse_libctx(gs), g, k, roles, req, what,
	         why)) != CMPD_OK)
		return rv;
	*key = k;
	return CMPD_OK;
}

cmpd_err
kw_sign(const struct kw_grants *gs, const Cmpd__SignReq *req, uint8_t **sig,
    size_t *siglen, struct kw_why *why)
{
	const struct kw_grant_key *k = NULL;
	const char *what = NULL;
	cmpd_err rv;

	rv = sign_check(gs, req, &k, &what, why);
	/* Parsing refused input leaves OpenSSL errors; they explain
	 * nothing the reason does not. */
	cmpd_log_openssl(CMPD_LOG_DEBUG, req->job_id);
	if (rv != CMPD_OK) {
		log_warn("job %s: refused to sign with key %s: %s", req->job_id,
		    req->key_id, why->text);
		return rv;
	}
	rv = sign_tbs(k->pkey, req->digest, &req->tbs, sig, siglen);
	if (rv != CMPD_OK) {
		cmpd_log_openssl(CMPD_LOG_ERR, req->job_id);
		kw_why_set(why, "signing with key %s failed", k->id);
		return rv;
	}
	log_info("job %s: signed a %s with key %s", req->job_id, what, k->id);
	return CMPD_OK;
}
