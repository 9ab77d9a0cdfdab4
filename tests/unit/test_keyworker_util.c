#include "test_keyworker_util.h"

#include <fcntl.h>
#include <ftw.h>
#include <openssl/asn1.h>
#include <openssl/cmp.h>
#include <openssl/cms.h>
#include <openssl/crmf.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *
kwt_tmpdir(void)
{
	char tmpl[] = "/tmp/kwtest.XXXXXX";

	if (mkdtemp(tmpl) == NULL)
		return NULL;
	return strdup(tmpl);
}

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void
kwt_rmtree(const char *dir)
{
	if (dir != NULL)
		nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

X509 *
kwt_selfsigned(EVP_PKEY *key, const char *cn)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	int ok;

	ok = x != NULL && name != NULL && X509_set_version(x, X509_VERSION_3) &&
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 42) &&
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	        (const unsigned char *)cn, -1, -1, 0) &&
	    X509_set_subject_name(x, name) && X509_set_issuer_name(x, name) &&
	    X509_gmtime_adj(X509_getm_notBefore(x), -60) &&
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400) &&
	    X509_set_pubkey(x, key) &&
	    X509_sign(x, key,
	        EVP_PKEY_is_a(key, "ED25519") ? NULL : EVP_sha256()) > 0;
	X509_NAME_free(name);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

EVP_PKEY *
kwt_pubkey(const uint8_t *spki, size_t len)
{
	const unsigned char *p = spki;

	return d2i_PUBKEY(NULL, &p, (long)len);
}

uint8_t *
kwt_spki(EVP_PKEY *key, size_t *len)
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(key, &der);
	uint8_t *out;

	if (n <= 0)
		return NULL;
	out = malloc((size_t)n);
	memcpy(out, der, (size_t)n);
	OPENSSL_free(der);
	*len = (size_t)n;
	return out;
}

int
kwt_verify(const uint8_t *spki, size_t spki_len, const char *digest,
    const uint8_t *tbs, size_t tbs_len, const uint8_t *sig, size_t sig_len)
{
	EVP_PKEY *pub = kwt_pubkey(spki, spki_len);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	int ok;

	ok = pub != NULL && md != NULL &&
	    EVP_DigestVerifyInit_ex(md, &pctx, digest[0] ? digest : NULL, NULL,
	        NULL, pub, NULL) == 1 &&
	    (!EVP_PKEY_is_a(pub, "RSA") ||
	        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1) &&
	    EVP_DigestVerify(md, sig, sig_len, tbs, tbs_len) == 1;
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pub);
	ERR_clear_error();
	return ok;
}

int
kwt_der_child(const uint8_t *tlv, size_t len, int idx, const uint8_t **out,
    size_t *out_len)
{
	const unsigned char *p = tlv, *end;
	long l;
	int tag, cls, ret;

	ret = ASN1_get_object(&p, &l, &tag, &cls, (long)len);
	if ((ret & 0x80) || !(ret & V_ASN1_CONSTRUCTED))
		return -1;
	end = p + l;
	for (int i = 0; p < end; i++) {
		const unsigned char *start = p;

		ret = ASN1_get_object(&p, &l, &tag, &cls, end - p);
		if (ret & 0x80)
			return -1;
		p += l;
		if (i == idx) {
			*out = start;
			*out_len = (size_t)(p - start);
			return 0;
		}
	}
	return -1;
}

uint8_t *
kwt_protected_part(const uint8_t *msg, size_t len, size_t *pp_len)
{
	const uint8_t *hdr, *body;
	size_t hdr_len, body_len;
	int n;
	uint8_t *out, *q;

	if (kwt_der_child(msg, len, 0, &hdr, &hdr_len) != 0 ||
	    kwt_der_child(msg, len, 1, &body, &body_len) != 0)
		return NULL;
	n = ASN1_object_size(1, (int)(hdr_len + body_len), V_ASN1_SEQUENCE);
	out = malloc((size_t)n);
	q = out;
	ASN1_put_object(&q, 1, (int)(hdr_len + body_len), V_ASN1_SEQUENCE,
	    V_ASN1_UNIVERSAL);
	memcpy(q, hdr, hdr_len);
	memcpy(q + hdr_len, body, body_len);
	*pp_len = (size_t)n;
	return out;
}

int
kwt_cert_request(
    const uint8_t *msg, size_t len, const uint8_t **cr, size_t *cr_len)
{
	const uint8_t *body, *reqs, *crm;
	size_t body_len, reqs_len, crm_len;

	/* PKIBody [n] EXPLICIT CertReqMessages: SEQUENCE OF CertReqMsg. */
	if (kwt_der_child(msg, len, 1, &body, &body_len) != 0 ||
	    kwt_der_child(body, body_len, 0, &reqs, &reqs_len) != 0 ||
	    kwt_der_child(reqs, reqs_len, 0, &crm, &crm_len) != 0)
		return -1;
	return kwt_der_child(crm, crm_len, 0, cr, cr_len);
}

static X509_REQ *
p10_new(EVP_PKEY *key)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	int ok;

	ok = req != NULL && name != NULL &&
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	        (const unsigned char *)"kwtest p10", -1, -1, 0) &&
	    X509_REQ_set_subject_name(req, name) &&
	    X509_REQ_set_pubkey(req, key);
	X509_NAME_free(name);
	if (!ok) {
		X509_REQ_free(req);
		return NULL;
	}
	return req;
}

uint8_t *
kwt_p10_info(EVP_PKEY *key, size_t *len)
{
	X509_REQ *req = p10_new(key);
	unsigned char *der = NULL;
	uint8_t *out = NULL;
	int n;

	if (req == NULL)
		return NULL;
	n = i2d_re_X509_REQ_tbs(req, &der);
	if (n > 0) {
		out = malloc((size_t)n);
		memcpy(out, der, (size_t)n);
		*len = (size_t)n;
	}
	OPENSSL_free(der);
	X509_REQ_free(req);
	return out;
}

/* --- an in-process CMP server --- */

struct kwt_srv {
	OSSL_CMP_SRV_CTX *srv;
	EVP_PKEY *key;
	X509 *cert;
	EVP_PKEY *issue_key;
	int wait_first;
};

static X509 *
srv_issue(struct kwt_srv *s)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	int ok;

	ok = x != NULL && name != NULL && X509_set_version(x, X509_VERSION_3) &&
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 7) &&
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	        (const unsigned char *)"kwtest device", -1, -1, 0) &&
	    X509_set_subject_name(x, name) &&
	    X509_set_issuer_name(x, X509_get_subject_name(s->cert)) &&
	    X509_gmtime_adj(X509_getm_notBefore(x), -60) &&
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400) &&
	    X509_set_pubkey(x, s->issue_key) &&
	    X509_sign(x, s->key, EVP_sha256()) > 0;
	X509_NAME_free(name);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static OSSL_CMP_PKISI *
srv_cert_request_cb(OSSL_CMP_SRV_CTX *srv, const OSSL_CMP_MSG *req,
    int certReqId, const OSSL_CRMF_MSG *crm, const X509_REQ *p10cr,
    X509 **certOut, STACK_OF(X509) * *chainOut, STACK_OF(X509) * *caPubs)
{
	struct kwt_srv *s = OSSL_CMP_SRV_CTX_get0_custom_ctx(srv);

	(void)req;
	(void)certReqId;
	(void)crm;
	(void)p10cr;
	(void)chainOut;
	(void)caPubs;
	if (s->wait_first) {
		s->wait_first = 0;
		return OSSL_CMP_STATUSINFO_new(
		    OSSL_CMP_PKISTATUS_waiting, 0, NULL);
	}
	*certOut = srv_issue(s);
	return OSSL_CMP_STATUSINFO_new(OSSL_CMP_PKISTATUS_accepted, 0, NULL);
}

static OSSL_CMP_PKISI *
srv_rr_cb(OSSL_CMP_SRV_CTX *srv, const OSSL_CMP_MSG *req,
    const X509_NAME *issuer, const ASN1_INTEGER *serial)
{
	(void)srv;
	(void)req;
	(void)issuer;
	(void)serial;
	return OSSL_CMP_STATUSINFO_new(OSSL_CMP_PKISTATUS_accepted, 0, NULL);
}

static int
srv_genm_cb(OSSL_CMP_SRV_CTX *srv, const OSSL_CMP_MSG *req,
    const STACK_OF(OSSL_CMP_ITAV) * in, STACK_OF(OSSL_CMP_ITAV) * *out)
{
	(void)srv;
	(void)req;
	(void)in;
	*out = sk_OSSL_CMP_ITAV_new_null();
	return *out != NULL;
}

static void
srv_error_cb(OSSL_CMP_SRV_CTX *srv, const OSSL_CMP_MSG *req,
    const OSSL_CMP_PKISI *si, const ASN1_INTEGER *code,
    const OSSL_CMP_PKIFREETEXT *details)
{
	(void)srv;
	(void)req;
	(void)si;
	(void)code;
	(void)details;
}

static int
srv_certconf_cb(OSSL_CMP_SRV_CTX *srv, const OSSL_CMP_MSG *req, int certReqId,
    const ASN1_OCTET_STRING *hash, const OSSL_CMP_PKISI *si)
{
	(void)srv;
	(void)req;
	(void)certReqId;
	(void)hash;
	(void)si;
	return 1;
}

static int
srv_pollreq_cb(OSSL_CMP_SRV_CTX *srv, const OSSL_CMP_MSG *req, int certReqId,
    OSSL_CMP_MSG **certReq, int64_t *check_after)
{
	(void)srv;
	(void)req;
	(void)certReqId;
	*certReq = NULL;
	*check_after = 1;
	return 1;
}

static int
quiet_log_cb(const char *func, const char *file, int line,
    OSSL_CMP_severity level, const char *msg)
{
	(void)func;
	(void)file;
	(void)line;
	(void)level;
	(void)msg;
	return 1;
}

static void
srv_free(struct kwt_srv *s)
{
	OSSL_CMP_SRV_CTX_free(s->srv);
	EVP_PKEY_free(s->key);
	X509_free(s->cert);
}

static int
srv_init(struct kwt_srv *s, const struct kwt_cmp *c)
{
	OSSL_CMP_CTX *ctx;

	memset(s, 0, sizeof(*s));
	s->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	s->cert = s->key != NULL ? kwt_selfsigned(s->key, "kwtest CA") : NULL;
	s->srv = OSSL_CMP_SRV_CTX_new(NULL, NULL);
	s->issue_key = c->new_key != NULL ? c->new_key : c->prot_key;
	s->wait_first = c->poll;
	if (s->cert == NULL || s->srv == NULL ||
	    !OSSL_CMP_SRV_CTX_init(s->srv, s, srv_cert_request_cb, srv_rr_cb,
	        srv_genm_cb, srv_error_cb, srv_certconf_cb, srv_pollreq_cb))
		return -1;
	/* The server trusts any client protection: it is not under test. */
	OSSL_CMP_SRV_CTX_set_accept_unprotected(s->srv, 1);
	OSSL_CMP_SRV_CTX_set_accept_raverified(s->srv, 1);
	ctx = OSSL_CMP_SRV_CTX_get0_cmp_ctx(s->srv);
	OSSL_CMP_CTX_set_log_cb(ctx, quiet_log_cb);
	if (c->prot_key == NULL)
		return OSSL_CMP_CTX_set1_secretValue(ctx,
		           (const unsigned char *)"kwtest secret", 13) == 1 &&
		        OSSL_CMP_CTX_set1_referenceValue(ctx,
		            (const unsigned char *)"kwtest server", 13) == 1
		    ? 0
		    : -1;
	return OSSL_CMP_CTX_set1_cert(ctx, s->cert) == 1 &&
	        OSSL_CMP_CTX_set1_pkey(ctx, s->key) == 1
	    ? 0
	    : -1;
}

/* --- the client --- */

struct capture {
	struct kwt_msgs *msgs;
	struct kwt_srv *srv;
};

static OSSL_CMP_MSG *
capture_cb(OSSL_CMP_CTX *ctx, const OSSL_CMP_MSG *req)
{
	struct capture *cap = OSSL_CMP_CTX_get_transfer_cb_arg(ctx);
	struct kwt_msgs *m = cap->msgs;
	unsigned char *der = NULL;
	int len = i2d_OSSL_CMP_MSG(req, &der);

	if (len > 0 && m->n < KWT_MAX_MSGS) {
		m->der[m->n] = malloc((size_t)len);
		memcpy(m->der[m->n], der, (size_t)len);
		m->len[m->n] = (size_t)len;
		m->type[m->n] = OSSL_CMP_MSG_get_bodytype(req);
		m->n++;
	}
	OPENSSL_free(der);
	if (cap->srv == NULL)
		return NULL;
	return OSSL_CMP_SRV_process_request(cap->srv->srv, req);
}

static int
client_credentials(
    OSSL_CMP_CTX *ctx, const struct kwt_cmp *c, const struct kwt_srv *srv)
{
	if (c->prot_key == NULL)
		return OSSL_CMP_CTX_set1_secretValue(
		           ctx, (const unsigned char *)"kwtest secret", 13) &&
		    OSSL_CMP_CTX_set1_referenceValue(
		        ctx, (const unsigned char *)"kwtest client", 13);
	return OSSL_CMP_CTX_set1_cert(ctx, c->prot_cert) &&
	    OSSL_CMP_CTX_set1_pkey(ctx, c->prot_key) &&
	    (!c->server || OSSL_CMP_CTX_set1_srvCert(ctx, srv->cert));
}

static int
client_setup(
    OSSL_CMP_CTX *ctx, const struct kwt_cmp *c, const struct kwt_srv *srv)
{
	ASN1_OCTET_STRING *tid = ASN1_OCTET_STRING_new();
	X509_NAME *subject = X509_NAME_new();
	int ok;

	ok = tid != NULL && subject != NULL &&
	    ASN1_OCTET_STRING_set(tid, c->txid, 16) &&
	    OSSL_CMP_CTX_set1_transactionID(ctx, tid) &&
	    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
	        (const unsigned char *)"kwtest device", -1, -1, 0) &&
	    OSSL_CMP_CTX_set1_subjectName(ctx, subject) &&
	    OSSL_CMP_CTX_set_log_cb(ctx, quiet_log_cb) &&
	    client_credentials(ctx, c, srv) &&
	    (c->digest_nid == 0 ||
	        OSSL_CMP_CTX_set_option(
	            ctx, OSSL_CMP_OPT_DIGEST_ALGNID, c->digest_nid));
	ASN1_OCTET_STRING_free(tid);
	X509_NAME_free(subject);
	if (!ok || c->new_key == NULL)
		return ok;
	if (!c->new_priv &&
	    !OSSL_CMP_CTX_set_option(
	        ctx, OSSL_CMP_OPT_POPO_METHOD, OSSL_CRMF_POPO_RAVERIFIED))
		return 0;
	return EVP_PKEY_up_ref(c->new_key) &&
	    OSSL_CMP_CTX_set0_newPkey(ctx, c->new_priv, c->new_key);
}

static void
client_exec(OSSL_CMP_CTX *ctx, const struct kwt_cmp *c)
{
	static const int types[] = { [CMPD__CMP_OP__CMP_OP_IR] = OSSL_CMP_IR,
		[CMPD__CMP_OP__CMP_OP_CR] = OSSL_CMP_CR,
		[CMPD__CMP_OP__CMP_OP_KUR] = OSSL_CMP_KUR,
		[CMPD__CMP_OP__CMP_OP_P10CR] = OSSL_CMP_P10CR };
	X509_REQ *csr = NULL;
	int check_after = 0;

	switch (c->op) {
	case CMPD__CMP_OP__CMP_OP_RR:
		OSSL_CMP_CTX_set1_oldCert(ctx, c->prot_cert);
		OSSL_CMP_exec_RR_ses(ctx);
		return;
	case CMPD__CMP_OP__CMP_OP_GENM:
		sk_OSSL_CMP_ITAV_pop_free(
		    OSSL_CMP_exec_GENM_ses(ctx), OSSL_CMP_ITAV_free);
		return;
	case CMPD__CMP_OP__CMP_OP_P10CR:
		csr = p10_new(c->new_key);
		X509_REQ_sign(csr, c->new_key, EVP_sha256());
		OSSL_CMP_CTX_set1_p10CSR(ctx, csr);
		X509_REQ_free(csr);
		break;
	case CMPD__CMP_OP__CMP_OP_KUR:
		OSSL_CMP_CTX_set1_oldCert(ctx, c->prot_cert);
		break;
	default:
		break;
	}
	if (c->poll)
		OSSL_CMP_try_certreq(ctx, types[c->op], NULL, &check_after);
	else
		OSSL_CMP_exec_certreq(ctx, types[c->op], NULL);
}

int
kwt_cmp_run(const struct kwt_cmp *c, struct kwt_msgs *out)
{
	OSSL_CMP_CTX *ctx = OSSL_CMP_CTX_new(NULL, NULL);
	struct kwt_srv srv;
	struct capture cap = { out, NULL };
	int rv = -1;

	memset(out, 0, sizeof(*out));
	memset(&srv, 0, sizeof(srv));
	if (ctx == NULL || (c->server && srv_init(&srv, c) != 0))
		goto out;
	if (c->server)
		cap.srv = &srv;
	if (!client_setup(ctx, c, &srv) ||
	    !OSSL_CMP_CTX_set_transfer_cb(ctx, capture_cb) ||
	    !OSSL_CMP_CTX_set_transfer_cb_arg(ctx, &cap))
		goto out;
	client_exec(ctx, c);
	rv = out->n > 0 ? 0 : -1;
out:
	ERR_clear_error();
	srv_free(&srv);
	OSSL_CMP_CTX_free(ctx);
	return rv;
}

const uint8_t *
kwt_msgs_find(const struct kwt_msgs *m, int type, size_t *len)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->type[i] == type) {
			*len = m->len[i];
			return m->der[i];
		}
	return NULL;
}

void
kwt_msgs_free(struct kwt_msgs *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->der[i]);
	memset(m, 0, sizeof(*m));
}

uint8_t *
kwt_envelope(EVP_PKEY *key, const uint8_t *cert_der, size_t cert_len,
    const EVP_CIPHER *cipher, size_t *len)
{
	const unsigned char *p = cert_der;
	X509 *cert = d2i_X509(NULL, &p, (long)cert_len);
	STACK_OF(X509) *certs = sk_X509_new_null();
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(key);
	unsigned char *plain = NULL, *der = NULL;
	int plain_len = p8 != NULL ? i2d_PKCS8_PRIV_KEY_INFO(p8, &plain) : 0;
	BIO *in = plain_len > 0 ? BIO_new_mem_buf(plain, plain_len) : NULL;
	CMS_ContentInfo *cms = NULL;
	uint8_t *out = NULL;
	int n;

	if (cert != NULL && certs != NULL && sk_X509_push(certs, cert))
		cert = NULL; /* certs owns it */
	if (cert == NULL && in != NULL)
		cms = CMS_encrypt(certs, in, cipher, CMS_BINARY);
	if (cms != NULL && (n = i2d_CMS_ContentInfo(cms, &der)) > 0) {
		out = malloc((size_t)n);
		memcpy(out, der, (size_t)n);
		*len = (size_t)n;
	}
	OPENSSL_free(der);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	OPENSSL_clear_free(plain, plain_len > 0 ? (size_t)plain_len : 0);
	PKCS8_PRIV_KEY_INFO_free(p8);
	sk_X509_pop_free(certs, X509_free);
	X509_free(cert);
	ERR_clear_error();
	return out;
}

int
kwt_stderr_begin(const char *path)
{
	int saved = dup(STDERR_FILENO);
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);

	dup2(fd, STDERR_FILENO);
	close(fd);
	return saved;
}

char *
kwt_stderr_end(int saved, const char *path)
{
	size_t len;

	dup2(saved, STDERR_FILENO);
	close(saved);
	return kwt_read_file(path, &len);
}

char *
kwt_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	*len = fread(buf, 1, (size_t)n, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}
