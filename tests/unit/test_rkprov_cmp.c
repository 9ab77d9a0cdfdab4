/*
 * Whole CMP enrollments in one process with keys of the remote-key
 * provider: OpenSSL's CMP client (ir -> ip -> certConf -> pkiConf) talks
 * to an OSSL_CMP_SRV_CTX through OSSL_CMP_CTX_server_perform, and the
 * server issues a certificate for the public key in the request. The
 * protection key (the supplier key) and the new key are handles whose
 * signatures come from the stand-in keyworker, which records what it
 * signed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <openssl/cmp.h>
#include <openssl/cmperr.h>
#include <openssl/crmf.h>
#include <openssl/err.h>
#include <openssl/proverr.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "test_rkprov_kw.h"

/* PKIBody CHOICE tags (RFC 9810): ir [0], certConf [24]. */
#define BODY_IR       0
#define BODY_CERTCONF 24

#define SECRET "1234-5678-abcd"
#define REF    "device-0001"

static const Cmpd__KeyType new_types[] = {
	CMPD__KEY_TYPE__KEY_EC_P256,
	CMPD__KEY_TYPE__KEY_EC_P384,
	CMPD__KEY_TYPE__KEY_RSA_2048,
	CMPD__KEY_TYPE__KEY_RSA_3072,
	CMPD__KEY_TYPE__KEY_RSA_4096,
	CMPD__KEY_TYPE__KEY_ED25519,
};

#define NNEW CMPD_ARRAY_LEN(new_types)

enum prot { PROT_EC, PROT_RSA, PROT_ED25519, PROT_PBM, PROT_MAX };

static struct {
	OSSL_LIB_CTX *libctx;
	struct kw kw;
	EVP_PKEY *ca_key; /* the CA and its CMP signer: software keys */
	X509 *ca_cert;
	EVP_PKEY *srv_key;
	X509 *srv_cert;
	struct kw_key *prot_keys[PROT_PBM]; /* supplier keys, keyworker's */
	X509 *prot_certs[PROT_PBM];
	struct kw_key *new_keys[NNEW];
	int issued;
} g;

struct ir_case {
	enum prot prot;
	size_t new_key; /* index into new_types */
};

static const struct ir_case cases[] = {
	{ PROT_EC, 0 },
	{ PROT_EC, 1 },
	{ PROT_EC, 2 },
	{ PROT_EC, 3 },
	{ PROT_EC, 4 },
	{ PROT_EC, 5 },
	{ PROT_RSA, 0 },
	{ PROT_RSA, 1 },
	{ PROT_RSA, 2 },
	{ PROT_RSA, 3 },
	{ PROT_RSA, 4 },
	{ PROT_RSA, 5 },
	{ PROT_PBM, 0 },
	{ PROT_PBM, 1 },
	{ PROT_PBM, 2 },
	{ PROT_PBM, 3 },
	{ PROT_PBM, 4 },
	{ PROT_PBM, 5 },
	/* For the tests after test_ir. */
	{ PROT_ED25519, 0 },
	{ PROT_EC, 0 },
	{ PROT_RSA, 5 },
};

static int
add_ext(X509 *crt, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&v3, issuer, crt, NULL, NULL, 0);
	if ((ext = X509V3_EXT_nconf_nid(NULL, &v3, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(crt, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/* A certificate for pub, signed by issuer (self-signed if NULL). */
static X509 *
cert_make(const X509_NAME *subject, EVP_PKEY *pub, X509 *issuer,
    EVP_PKEY *issuer_key, int ca)
{
	X509 *crt = X509_new_ex(g.libctx, NULL);

	if (crt == NULL || !X509_set_version(crt, X509_VERSION_3) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(crt), ++g.issued + 1000) ||
	    !X509_set_subject_name(crt, subject) ||
	    !X509_set_issuer_name(
	        crt, issuer ? X509_get_subject_name(issuer) : subject) ||
	    X509_gmtime_adj(X509_getm_notBefore(crt), -60) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(crt), 86400) == NULL ||
	    !X509_set_pubkey(crt, pub) ||
	    !add_ext(crt, issuer ? issuer : crt, NID_key_usage,
	        ca ? "critical,keyCertSign,cRLSign"
	           : "critical,digitalSignature") ||
	    (ca &&
	        !add_ext(
	            crt, crt, NID_basic_constraints, "critical,CA:TRUE")) ||
	    X509_sign(crt, issuer_key, EVP_sha256()) <= 0) {
		X509_free(crt);
		return NULL;
	}
	return crt;
}

static X509 *
cert_make_cn(
    const char *cn, EVP_PKEY *pub, X509 *issuer, EVP_PKEY *ikey, int ca)
{
	X509_NAME *name = X509_NAME_new();
	X509 *crt = NULL;

	if (name != NULL &&
	    X509_NAME_add_entry_by_txt(
	        name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0))
		crt = cert_make(name, pub, issuer, ikey, ca);
	X509_NAME_free(name);
	return crt;
}

static X509 *
supplier_cert(struct kw_key *k)
{
	EVP_PKEY *pub = kw_pub(g.libctx, k);
	X509 *crt = cert_make_cn("supplier", pub, g.ca_cert, g.ca_key, 0);

	EVP_PKEY_free(pub);
	return crt;
}

static int
group_setup(void **state)
{
	static const Cmpd__KeyType prot_types[PROT_PBM] = {
		CMPD__KEY_TYPE__KEY_EC_P256, CMPD__KEY_TYPE__KEY_RSA_2048,
		CMPD__KEY_TYPE__KEY_ED25519
	};
	size_t i;

	(void)state;
	if (kw_init(&g.kw) != CMPD_OK ||
	    (g.libctx = OSSL_LIB_CTX_new()) == NULL ||
	    cmpd_rkprov_load(g.libctx, kw_sign_cb, &g.kw) != CMPD_OK)
		return -1;
	g.ca_key = EVP_PKEY_Q_keygen(g.libctx, NULL, "EC", "P-256");
	g.srv_key = EVP_PKEY_Q_keygen(g.libctx, NULL, "EC", "P-256");
	if (g.ca_key == NULL || g.srv_key == NULL ||
	    (g.ca_cert = cert_make_cn(
	         "Test CA", g.ca_key, NULL, g.ca_key, 1)) == NULL ||
	    (g.srv_cert = cert_make_cn(
	         "Test CMP Server", g.srv_key, g.ca_cert, g.ca_key, 0)) == NULL)
		return -1;
	for (i = 0; i < PROT_PBM; i++) {
		if (kw_key_add(&g.kw, prot_types[i], &g.prot_keys[i]) !=
		        CMPD_OK ||
		    (g.prot_certs[i] = supplier_cert(g.prot_keys[i])) == NULL)
			return -1;
	}
	for (i = 0; i < NNEW; i++) {
		if (kw_key_add(&g.kw, new_types[i], &g.new_keys[i]) != CMPD_OK)
			return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < PROT_PBM; i++)
		X509_free(g.prot_certs[i]);
	X509_free(g.srv_cert);
	X509_free(g.ca_cert);
	EVP_PKEY_free(g.srv_key);
	EVP_PKEY_free(g.ca_key);
	cmpd_rkprov_unload(g.libctx);
	OSSL_LIB_CTX_free(g.libctx);
	kw_fini(&g.kw);
	return 0;
}

static int
test_setup(void **state)
{
	(void)state;
	kw_reset(&g.kw);
	ERR_clear_error();
	return 0;
}

/* The public key of the request's template, decoded as a real server. */
static EVP_PKEY *
template_pubkey(const OSSL_CRMF_MSG *crm)
{
	unsigned char *der = NULL;
	uint8_t *spki = NULL;
	const unsigned char *p;
	size_t spki_len = 0;
	EVP_PKEY *pub = NULL;
	int len;

	len = i2d_OSSL_CRMF_CERTTEMPLATE(OSSL_CRMF_MSG_get0_tmpl(crm), &der);
	if (len > 0 &&
	    (spki = der_template_spki(der, (size_t)len, &spki_len)) != NULL) {
		p = spki;
		pub = d2i_PUBKEY_ex(NULL, &p, (long)spki_len, g.libctx, NULL);
	}
	OPENSSL_free(spki);
	OPENSSL_free(der);
	return pub;
}

/* The test CA issues a certificate for the requested key and subject. */
static OSSL_CMP_PKISI *
srv_cert_request_cb(OSSL_CMP_SRV_CTX *srv, const OSSL_CMP_MSG *req, int rid,
    const OSSL_CRMF_MSG *crm, const X509_REQ *p10cr, X509 **cert_out,
    STACK_OF(X509) * *chain_out, STACK_OF(X509) * *ca_pubs)
{
	const X509_NAME *subject;
	EVP_PKEY *pub;

	(void)srv, (void)req, (void)rid, (void)p10cr, (void)chain_out;
	(void)ca_pubs;
	if (crm == NULL || (pub = template_pubkey(crm)) == NULL)
		return NULL;
	subject =
	    OSSL_CRMF_CERTTEMPLATE_get0_subject(OSSL_CRMF_MSG_get0_tmpl(crm));
	*cert_out = cert_make(subject, pub, g.ca_cert, g.ca_key, 0);
	EVP_PKEY_free(pub);
	if (*cert_out == NULL)
		return NULL;
	return OSSL_CMP_STATUSINFO_new(OSSL_CMP_PKISTATUS_accepted, 0, NULL);
}

static int
srv_cert_conf_cb(OSSL_CMP_SRV_CTX *srv, const OSSL_CMP_MSG *req, int rid,
    const ASN1_OCTET_STRING *hash, const OSSL_CMP_PKISI *si)
{
	(void)srv, (void)req, (void)rid, (void)si;
	return hash != NULL;
}

static int
srv_log_cb(const char *func, const char *file, int line,
    OSSL_CMP_severity level, const char *msg)
{
	(void)func, (void)file, (void)line, (void)level, (void)msg;
	return 1;
}

static OSSL_CMP_SRV_CTX *
srv_new(enum prot prot)
{
	OSSL_CMP_SRV_CTX *srv = OSSL_CMP_SRV_CTX_new(g.libctx, NULL);
	OSSL_CMP_CTX *ctx;
	int ok;

	assert_non_null(srv);
	assert_int_equal(OSSL_CMP_SRV_CTX_init(srv, NULL, srv_cert_request_cb,
	                     NULL, NULL, NULL, srv_cert_conf_cb, NULL),
	    1);
	ctx = OSSL_CMP_SRV_CTX_get0_cmp_ctx(srv);
	/* What the server refuses, the client reports. */
	OSSL_CMP_CTX_set_log_cb(ctx, srv_log_cb);
	if (prot == PROT_PBM) {
		ok = OSSL_CMP_CTX_set1_secretValue(
		         ctx, (const unsigned char *)SECRET, strlen(SECRET)) &&
		    OSSL_CMP_CTX_set1_referenceValue(
		        ctx, (const unsigned char *)REF, strlen(REF));
	} else {
		/* The server trusts the supplier's certificate, pinned. */
		ok = OSSL_CMP_CTX_set1_cert(ctx, g.srv_cert) &&
		    OSSL_CMP_CTX_set1_pkey(ctx, g.srv_key) &&
		    OSSL_CMP_CTX_set1_srvCert(ctx, g.prot_certs[prot]);
	}
	assert_true(ok);
	return srv;
}

/* The client as the networker runs it, its keys handles of the provider. */
static OSSL_CMP_CTX *
client_new(OSSL_CMP_SRV_CTX *srv, enum prot prot, struct kw_key *newk)
{
	OSSL_CMP_CTX *ctx = OSSL_CMP_CTX_new(g.libctx, NULL);
	EVP_PKEY *pkey = NULL, *nk = kw_handle(g.libctx, newk);
	X509_NAME *subject = X509_NAME_new();
	int ok;

	assert_non_null(ctx);
	assert_non_null(nk);
	OSSL_CMP_CTX_set_log_verbosity(ctx, OSSL_CMP_LOG_ERR);
	ok = OSSL_CMP_CTX_set_transfer_cb(ctx, OSSL_CMP_CTX_server_perform) &&
	    OSSL_CMP_CTX_set_transfer_cb_arg(ctx, srv) &&
	    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
	        (const unsigned char *)"device-0001", -1, -1, 0) &&
	    OSSL_CMP_CTX_set1_subjectName(ctx, subject) &&
	    OSSL_CMP_CTX_set0_newPkey(ctx, 1, nk);
	if (prot == PROT_PBM) {
		ok = ok &&
		    OSSL_CMP_CTX_set1_secretValue(
		        ctx, (const unsigned char *)SECRET, strlen(SECRET)) &&
		    OSSL_CMP_CTX_set1_referenceValue(
		        ctx, (const unsigned char *)REF, strlen(REF)) &&
		    OSSL_CMP_CTX_set1_recipient(
		        ctx, X509_get_subject_name(g.ca_cert));
	} else {
		pkey = kw_handle(g.libctx, g.prot_keys[prot]);
		ok = ok && pkey != NULL &&
		    OSSL_CMP_CTX_set1_cert(ctx, g.prot_certs[prot]) &&
		    OSSL_CMP_CTX_set1_pkey(ctx, pkey) &&
		    OSSL_CMP_CTX_set1_srvCert(ctx, g.srv_cert);
	}
	assert_true(ok);
	EVP_PKEY_free(pkey);
	X509_NAME_free(subject);
	return ctx;
}

/* Call i was the new key's POPO over a CertRequest for that very key. */
static void
check_popo_call(size_t i, const struct kw_key *newk)
{
	const struct kw_call *c = &g.kw.calls[i];
	uint8_t *spki;
	size_t len = 0;

	assert_string_equal(c->key_id, newk->id);
	assert_string_equal(c->job_id, KW_JOB_ID);
	assert_string_equal(c->digest,
	    newk->type == CMPD__KEY_TYPE__KEY_ED25519 ? "" : "SHA256");
	spki = der_certreq_spki(c->tbs, c->tbs_len, &len);
	assert_non_null(spki);
	assert_int_equal(len, newk->spki_len);
	assert_memory_equal(spki, newk->spki, len);
	OPENSSL_free(spki);
}

/* Call i was the supplier key's protection of a ProtectedPart. */
static void
check_prot_call(size_t i, const struct kw_key *k, int body)
{
	const struct kw_call *c = &g.kw.calls[i];

	assert_string_equal(c->key_id, k->id);
	assert_string_equal(c->digest, "SHA256");
	assert_int_equal(der_protected_part_body(c->tbs, c->tbs_len), body);
}

static void
test_ir(void **state)
{
	const struct ir_case *c = *state;
	struct kw_key *newk = g.new_keys[c->new_key];
	OSSL_CMP_SRV_CTX *srv = srv_new(c->prot);
	OSSL_CMP_CTX *ctx = client_new(srv, c->prot, newk);
	EVP_PKEY *real = kw_pub(g.libctx, newk);
	X509 *crt;

	crt = OSSL_CMP_exec_IR_ses(ctx);
	if (crt == NULL)
		OSSL_CMP_CTX_print_errors(ctx);
	assert_non_null(crt);
	assert_int_equal(
	    OSSL_CMP_CTX_get_status(ctx), OSSL_CMP_PKISTATUS_accepted);
	/* The certificate is for the keyworker's key, and only for it. */
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(crt), real), 1);
	assert_int_equal(
	    X509_check_private_key(crt, OSSL_CMP_CTX_get0_newPkey(ctx, 1)), 1);
	check_popo_call(0, newk);
	if (c->prot == PROT_PBM) {
		assert_int_equal(g.kw.ncalls, 1);
	} else {
		assert_int_equal(g.kw.ncalls, 3);
		check_prot_call(1, g.prot_keys[c->prot], BODY_IR);
		check_prot_call(2, g.prot_keys[c->prot], BODY_CERTCONF);
	}
	assert_int_equal(ERR_peek_error(), 0);
	EVP_PKEY_free(real);
	OSSL_CMP_CTX_free(ctx);
	OSSL_CMP_SRV_CTX_free(srv);
}

/* Whether the error queue holds lib/reason; empties the queue. */
static int
errors_have(int lib, int reason)
{
	unsigned long e;
	int found = 0;

	while ((e = ERR_get_error()) != 0) {
		if (ERR_GET_LIB(e) == lib && ERR_GET_REASON(e) == reason)
			found = 1;
	}
	return found;
}

/*
 * OpenSSL 3.0 cannot protect a CMP message with an Ed25519 key (it finds
 * no signature algorithm for it): a clean error, not a crash.
 */
static void
test_ir_ed25519_protection(void **state)
{
	const struct ir_case *c = *state;
	OSSL_CMP_SRV_CTX *srv = srv_new(c->prot);
	OSSL_CMP_CTX *ctx = client_new(srv, c->prot, g.new_keys[c->new_key]);

	assert_null(OSSL_CMP_exec_IR_ses(ctx));
	assert_true(errors_have(ERR_LIB_CMP, CMP_R_UNSUPPORTED_KEY_TYPE));
	/* Only the POPO was signed, nothing with the supplier key. */
	assert_int_equal(g.kw.ncalls, 1);
	check_popo_call(0, g.new_keys[c->new_key]);
	OSSL_CMP_CTX_free(ctx);
	OSSL_CMP_SRV_CTX_free(srv);
}

/*
 * The keyworker refusing any one of the three signatures (POPO, ir
 * protection, certConf protection) fails the exchange cleanly, with the
 * provider's error on the queue.
 */
static void
test_ir_sign_fails(void **state)
{
	const struct ir_case *c = *state;
	size_t at;

	for (at = 0; at < 3; at++) {
		OSSL_CMP_SRV_CTX *srv = srv_new(c->prot);
		OSSL_CMP_CTX *ctx =
		    client_new(srv, c->prot, g.new_keys[c->new_key]);

		kw_reset(&g.kw);
		g.kw.fail = CMPD_EPERM;
		g.kw.fail_at = at;
		assert_null(OSSL_CMP_exec_IR_ses(ctx));
		assert_int_equal(g.kw.ncalls, at + 1);
		assert_true(errors_have(ERR_LIB_PROV, PROV_R_FAILED_TO_SIGN));
		OSSL_CMP_CTX_free(ctx);
		OSSL_CMP_SRV_CTX_free(srv);
	}
}

/*
 * The server really checks what the keyworker signed: with every signature
 * damaged, the CA refuses the request (the POPO, and with signature
 * protection the protection too) and no certificate comes back.
 */
static void
test_ir_bad_signature(void **state)
{
	const struct ir_case *c = *state;
	OSSL_CMP_SRV_CTX *srv = srv_new(c->prot);
	OSSL_CMP_CTX *ctx = client_new(srv, c->prot, g.new_keys[c->new_key]);
	int issued_before = g.issued;

	g.kw.corrupt = 1;
	assert_null(OSSL_CMP_exec_IR_ses(ctx));
	assert_int_equal(g.issued, issued_before);
	ERR_clear_error();
	OSSL_CMP_CTX_free(ctx);
	OSSL_CMP_SRV_CTX_free(srv);
}

#define IR_TEST(fn, i)                            \
	cmocka_unit_test_prestate_setup_teardown( \
	    fn, test_setup, NULL, (void *)&cases[i])

int
main(void)
{
	const struct CMUnitTest tests[] = {
		IR_TEST(test_ir, 0),
		IR_TEST(test_ir, 1),
		IR_TEST(test_ir, 2),
		IR_TEST(test_ir, 3),
		IR_TEST(test_ir, 4),
		IR_TEST(test_ir, 5),
		IR_TEST(test_ir, 6),
		IR_TEST(test_ir, 7),
		IR_TEST(test_ir, 8),
		IR_TEST(test_ir, 9),
		IR_TEST(test_ir, 10),
		IR_TEST(test_ir, 11),
		IR_TEST(test_ir, 12),
		IR_TEST(test_ir, 13),
		IR_TEST(test_ir, 14),
		IR_TEST(test_ir, 15),
		IR_TEST(test_ir, 16),
		IR_TEST(test_ir, 17),
		IR_TEST(test_ir_ed25519_protection, 18),
		IR_TEST(test_ir_sign_fails, 19),
		IR_TEST(test_ir_sign_fails, 20),
		IR_TEST(test_ir_bad_signature, 12),
		IR_TEST(test_ir_bad_signature, 19),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
