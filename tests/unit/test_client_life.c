/*
 * libcmpd-client's certificate lifecycle against a canned responder: the
 * enrollment operation, renewal (RenewReq) and revocation (RevokeReq) with
 * their options and the CRLReason names, genm (GenmReq) and what a job
 * shows of its answer, and the tracked certificates' records.
 */
/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <cmpd/client.h>
#include <openssl/conf.h>
#include <openssl/crmf.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_client_resp.h"

static struct resp resp;
static cmpd_client *cl;
static struct tjob tj;

static int
setup(void **state)
{
	(void)state;
	tjob_init(&tj, "00000000000000b1", CMPD__JOB_STATE__JOB_QUEUED);
	assert_int_equal(resp_start(&resp, resp_job_cb, &tj.job), 0);
	assert_int_equal(cmpd_client_open(resp.path, &cl), CMPD_RESULT_OK);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	cmpd_client_close(cl);
	cl = NULL;
	resp_stop(&resp);
	return 0;
}

static char *
pem_of(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *s;
	long n;

	assert_int_equal(PEM_write_bio_X509(b, x), 1);
	n = BIO_get_mem_data(b, &data);
	s = strndup(data, (size_t)n);
	BIO_free(b);
	return s;
}

/* ------------------------------------------------------------------ */

/* The enrollment operation reaches cmpd as EnrollReq.op. */
static void
test_enroll_op(void **state)
{
	static const struct {
		const char *name;
		Cmpd__CmpOp op;
	} ops[] = { { "ir", CMPD__CMP_OP__CMP_OP_IR },
		{ "cr", CMPD__CMP_OP__CMP_OP_CR },
		{ "p10cr", CMPD__CMP_OP__CMP_OP_P10CR },
		{ NULL, CMPD__CMP_OP__CMP_OP_UNSPECIFIED } };
	static const char *const bad[] = { "kur", "rr", "genm", "IR", "" };
	cmpd_enroll_opts *o = NULL;
	cmpd_job *job = NULL;

	(void)state;
	assert_int_equal(cmpd_enroll_opts_new(&o), CMPD_RESULT_OK);
	for (size_t i = 0; i < sizeof(ops) / sizeof(*ops); i++) {
		assert_int_equal(
		    cmpd_enroll_opts_set_op(o, ops[i].name), CMPD_RESULT_OK);
		assert_int_equal(
		    cmpd_enroll(cl, "web", o, &job), CMPD_RESULT_OK);
		cmpd_job_free(job);
		assert_int_equal(
		    resp_req(&resp, (int)i)->enroll_req->op, ops[i].op);
	}
	assert_int_equal(cmpd_enroll_opts_set_op(o, "cr"), CMPD_RESULT_OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_int_equal(
		    cmpd_enroll_opts_set_op(o, bad[i]), CMPD_RESULT_INVALID);
	assert_non_null(strstr(cmpd_client_last_error(NULL), "ir, cr, p10cr"));
	/* A refused name leaves the option as it was. */
	assert_int_equal(cmpd_enroll(cl, "web", o, &job), CMPD_RESULT_OK);
	cmpd_job_free(job);
	assert_int_equal(
	    resp_req(&resp, 4)->enroll_req->op, CMPD__CMP_OP__CMP_OP_CR);
	assert_int_equal(
	    cmpd_enroll_opts_set_op(NULL, "ir"), CMPD_RESULT_INVALID);
	cmpd_enroll_opts_free(o);
}

/* RenewReq carries the target and the options; bad ones stay here. */
static void
test_renew(void **state)
{
	cmpd_renew_opts *o = NULL;
	cmpd_job *job = NULL;
	const Cmpd__RenewReq *r;

	(void)state;
	assert_int_equal(cmpd_renew(cl, "web", NULL, &job), CMPD_RESULT_OK);
	assert_string_equal(cmpd_job_id(job), "00000000000000b1");
	cmpd_job_free(job);
	r = resp_req(&resp, 0)->renew_req;
	assert_non_null(r);
	assert_string_equal(r->cert, "web");
	assert_false(r->keep_key);
	assert_int_equal(r->key_type, CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED);

	assert_int_equal(cmpd_renew_opts_new(&o), CMPD_RESULT_OK);
	assert_int_equal(
	    cmpd_renew_opts_set_key_type(o, "rsa3072"), CMPD_RESULT_OK);
	assert_int_equal(
	    cmpd_renew(cl, "c0ffee0123456789", o, &job), CMPD_RESULT_OK);
	cmpd_job_free(job);
	r = resp_req(&resp, 1)->renew_req;
	assert_string_equal(r->cert, "c0ffee0123456789");
	assert_int_equal(r->key_type, CMPD__KEY_TYPE__KEY_RSA_3072);
	assert_false(r->keep_key);

	/* A kept key has no new type, whichever is set first. */
	assert_int_equal(
	    cmpd_renew_opts_set_keep_key(o, 1), CMPD_RESULT_INVALID);
	assert_non_null(strstr(cmpd_client_last_error(NULL), "not both"));
	assert_int_equal(cmpd_renew_opts_set_key_type(o, NULL), CMPD_RESULT_OK);
	assert_int_equal(cmpd_renew_opts_set_keep_key(o, 1), CMPD_RESULT_OK);
	assert_int_equal(
	    cmpd_renew_opts_set_key_type(o, "ec-p256"), CMPD_RESULT_INVALID);
	assert_int_equal(
	    cmpd_renew_opts_set_key_type(o, "dsa"), CMPD_RESULT_INVALID);
	assert_non_null(strstr(cmpd_client_last_error(NULL), "dsa"));
	assert_int_equal(cmpd_renew(cl, "web", o, &job), CMPD_RESULT_OK);
	cmpd_job_free(job);
	r = resp_req(&resp, 2)->renew_req;
	assert_true(r->keep_key);
	assert_int_equal(r->key_type, CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED);

	/* Targets that are no id or profile name are never sent. */
	assert_int_equal(
	    cmpd_renew(cl, "../web", o, &job), CMPD_RESULT_INVALID);
	assert_non_null(strstr(cmpd_client_last_error(cl), "../web"));
	assert_int_equal(cmpd_renew(cl, "", o, &job), CMPD_RESULT_INVALID);
	assert_int_equal(cmpd_renew(cl, NULL, o, &job), CMPD_RESULT_INVALID);
	assert_int_equal(
	    cmpd_renew(cl, ".hidden", o, &job), CMPD_RESULT_INVALID);
	assert_int_equal(cmpd_renew(cl, "web", o, NULL), CMPD_RESULT_INVALID);
	assert_int_equal(resp_count(&resp), 3);
	cmpd_renew_opts_free(o);
	cmpd_renew_opts_free(NULL);
}

/* Every CRLReason and its name; 7 and the rest are none. */
static void
test_crl_reasons(void **state)
{
	static const char *const names[] = { "unspecified", "keyCompromise",
		"cACompromise", "affiliationChanged", "superseded",
		"cessationOfOperation", "certificateHold", NULL,
		"removeFromCRL", "privilegeWithdrawn", "aACompromise" };
	static const char *const bad[] = { "7", "11", "-1", "100", "007x", "",
		"none", "key compromise", "removeFromCRL " };
	char num[8];

	(void)state;
	for (int i = 0; i < 11; i++) {
		snprintf(num, sizeof(num), "%d", i);
		if (names[i] == NULL) {
			assert_null(cmpd_crl_reason_name(i));
			assert_int_equal(cmpd_crl_reason_parse(num), -1);
			continue;
		}
		assert_string_equal(cmpd_crl_reason_name(i), names[i]);
		assert_int_equal(cmpd_crl_reason_parse(names[i]), i);
		assert_int_equal(cmpd_crl_reason_parse(num), i);
	}
	assert_null(cmpd_crl_reason_name(-1));
	assert_null(cmpd_crl_reason_name(11));
	assert_int_equal(cmpd_crl_reason_parse("KEYCOMPROMISE"), 1);
	assert_int_equal(cmpd_crl_reason_parse("aacompromise"), 10);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_int_equal(cmpd_crl_reason_parse(bad[i]), -1);
	assert_int_equal(cmpd_crl_reason_parse(NULL), -1);
}

/* RevokeReq carries the target and the reason; bad reasons stay here. */
static void
test_revoke(void **state)
{
	static const int bad[] = { 7, 11, -2, 1000 };
	cmpd_job *job = NULL;

	(void)state;
	assert_int_equal(cmpd_revoke(cl, "web", -1, &job), CMPD_RESULT_OK);
	cmpd_job_free(job);
	assert_string_equal(resp_req(&resp, 0)->revoke_req->cert, "web");
	assert_int_equal(resp_req(&resp, 0)->revoke_req->reason, -1);
	assert_int_equal(
	    cmpd_revoke(cl, "c0ffee0123456789", 1, &job), CMPD_RESULT_OK);
	cmpd_job_free(job);
	assert_int_equal(resp_req(&resp, 1)->revoke_req->reason, 1);
	assert_int_equal(cmpd_revoke(cl, "web", 0, &job), CMPD_RESULT_OK);
	cmpd_job_free(job);
	assert_int_equal(resp_req(&resp, 2)->revoke_req->reason, 0);
	job = NULL;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_int_equal(
		    cmpd_revoke(cl, "web", bad[i], &job), CMPD_RESULT_INVALID);
	assert_int_equal(cmpd_revoke(cl, "a b", 1, &job), CMPD_RESULT_INVALID);
	assert_int_equal(
	    cmpd_revoke(NULL, "web", 1, &job), CMPD_RESULT_INVALID);
	assert_null(job);
	assert_int_equal(resp_count(&resp), 3);
}

/* A KUR and an RR job show what they act on. */
static void
test_lifecycle_job_accessors(void **state)
{
	cmpd_job *job = NULL;

	(void)state;
	tj.job.op = CMPD__CMP_OP__CMP_OP_KUR;
	tj.job.cert_id = "c0ffee0123456789";
	tj.job.keep_key = 1;
	tj.job.old_key_id = "fedcba9876543210fedcba9876543210";
	tj.job.automatic = 1;
	tj.job.deadline = 1700003600;
	tj.job.protection_cert_id = "c0ffee0123456789";
	tj.job.revocation_reason = 3;
	assert_int_equal(
	    cmpd_job_get(cl, "00000000000000b1", &job), CMPD_RESULT_OK);
	assert_string_equal(cmpd_job_op(job), "kur");
	assert_string_equal(cmpd_job_cert_id(job), "c0ffee0123456789");
	assert_true(cmpd_job_keep_key(job));
	assert_string_equal(
	    cmpd_job_old_key_id(job), "fedcba9876543210fedcba9876543210");
	assert_true(cmpd_job_automatic(job));
	assert_int_equal(cmpd_job_deadline(job), 1700003600);
	assert_string_equal(
	    cmpd_job_protection_cert_id(job), "c0ffee0123456789");
	/* Only an RR has a reason. */
	assert_int_equal(cmpd_job_revocation_reason(job), -1);
	assert_string_equal(cmpd_job_genm_type(job), "");
	cmpd_job_free(job);

	tj.job.op = CMPD__CMP_OP__CMP_OP_RR;
	assert_int_equal(
	    cmpd_job_get(cl, "00000000000000b1", &job), CMPD_RESULT_OK);
	assert_string_equal(cmpd_job_op(job), "rr");
	assert_int_equal(cmpd_job_revocation_reason(job), 3);
	cmpd_job_free(job);
	tj.job.revocation_reason = -1;
	assert_int_equal(
	    cmpd_job_get(cl, "00000000000000b1", &job), CMPD_RESULT_OK);
	assert_int_equal(cmpd_job_revocation_reason(job), -1);
	cmpd_job_free(job);
	tj.job.op = CMPD__CMP_OP__CMP_OP_GENM;
	assert_int_equal(
	    cmpd_job_get(cl, "00000000000000b1", &job), CMPD_RESULT_OK);
	assert_string_equal(cmpd_job_op(job), "genm");
	/* An older job: nothing set. */
	cmpd_job_free(job);
	tjob_init(&tj, "00000000000000b1", CMPD__JOB_STATE__JOB_DONE);
	assert_int_equal(
	    cmpd_job_get(cl, "00000000000000b1", &job), CMPD_RESULT_OK);
	assert_string_equal(cmpd_job_cert_id(job), "");
	assert_false(cmpd_job_keep_key(job));
	assert_false(cmpd_job_automatic(job));
	assert_int_equal(cmpd_job_deadline(job), 0);
	assert_int_equal(cmpd_job_revocation_reason(job), -1);
	cmpd_job_free(job);
}

/* GenmReq carries the profile and the type. */
static void
test_genm_request(void **state)
{
	static const struct {
		const char *name;
		Cmpd__GenmType type;
	} types[] = { { "ca-certs", CMPD__GENM_TYPE__GENM_CA_CERTS },
		{ "root-update", CMPD__GENM_TYPE__GENM_ROOT_CA_KEY_UPDATE },
		{ "template", CMPD__GENM_TYPE__GENM_CERT_REQ_TEMPLATE } };
	cmpd_job *job = NULL;

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(
		    cmpd_genm(cl, "web", types[i].name, &job), CMPD_RESULT_OK);
		cmpd_job_free(job);
		assert_string_equal(
		    resp_req(&resp, (int)i)->genm_req->profile, "web");
		assert_int_equal(
		    resp_req(&resp, (int)i)->genm_req->type, types[i].type);
	}
	assert_int_equal(
	    cmpd_genm(cl, "web", "caCerts", &job), CMPD_RESULT_INVALID);
	assert_non_null(strstr(cmpd_client_last_error(cl), "caCerts"));
	assert_int_equal(cmpd_genm(cl, "web", NULL, &job), CMPD_RESULT_INVALID);
	assert_int_equal(
	    cmpd_genm(cl, "", "template", &job), CMPD_RESULT_INVALID);
	assert_int_equal(
	    cmpd_genm(cl, "web", "template", NULL), CMPD_RESULT_INVALID);
	assert_int_equal(resp_count(&resp), 3);
}

/* caCerts: each certificate, its subject, and all of them as PEM. */
static void
test_genm_ca_certs(void **state)
{
	EVP_PKEY *k1 = tkey_new("EC"), *k2 = tkey_new("EC");
	X509 *root = tcert_new(k1, NULL, NULL, 1, "CN", "Root", NULL);
	X509 *sub =
	    tcert_new(k2, k1, "Root", 2, "CN", "Sub", "O", "Acme", NULL);
	Cmpd__GenmResult g = CMPD__GENM_RESULT__INIT;
	ProtobufCBinaryData ders[2];
	char *p1 = pem_of(sub), *p2 = pem_of(root), *both;
	cmpd_job *job = NULL;
	size_t len = 0;

	(void)state;
	ders[0].data = tcert_der(sub, &ders[0].len);
	ders[1].data = tcert_der(root, &ders[1].len);
	g.type = CMPD__GENM_TYPE__GENM_CA_CERTS;
	g.ca_certs = ders;
	g.n_ca_certs = 2;
	tj.job.op = CMPD__CMP_OP__CMP_OP_GENM;
	tj.job.state = CMPD__JOB_STATE__JOB_DONE;
	tj.job.genm = &g;
	assert_int_equal(
	    cmpd_job_get(cl, "00000000000000b1", &job), CMPD_RESULT_OK);
	assert_string_equal(cmpd_job_genm_type(job), "ca-certs");
	assert_false(cmpd_job_genm_empty(job));
	assert_int_equal(cmpd_job_genm_ca_cert_count(job), 2);
	assert_string_equal(
	    cmpd_job_genm_ca_cert_subject(job, 0), "CN=Sub,O=Acme");
	assert_string_equal(cmpd_job_genm_ca_cert_subject(job, 1), "CN=Root");
	assert_null(cmpd_job_genm_ca_cert_subject(job, 2));
	assert_memory_equal(
	    cmpd_job_genm_ca_cert_der(job, 1, &len), ders[1].data, ders[1].len);
	assert_int_equal(len, ders[1].len);
	assert_null(cmpd_job_genm_ca_cert_der(job, 2, &len));
	assert_int_equal(len, 0);
	both = malloc(strlen(p1) + strlen(p2) + 1);
	strcpy(both, p1);
	strcat(both, p2);
	assert_string_equal(cmpd_job_genm_ca_certs_pem(job), both);
	/* The other answers are empty. */
	assert_string_equal(cmpd_job_genm_new_root_pem(job), "");
	assert_string_equal(cmpd_job_genm_new_root_subject(job), "");
	assert_string_equal(cmpd_job_genm_template_text(job), "");
	assert_null(cmpd_job_genm_template_der(job, &len));
	cmpd_job_free(job);

	/* The CA has none: empty, and nothing to show. */
	g.n_ca_certs = 0;
	g.empty = 1;
	assert_int_equal(
	    cmpd_job_get(cl, "00000000000000b1", &job), CMPD_RESULT_OK);
	assert_true(cmpd_job_genm_empty(job));
	assert_int_equal(cmpd_job_genm_ca_cert_count(job), 0);
	assert_string_equal(cmpd_job_genm_ca_certs_pem(job), "");
	cmpd_job_free(job);
	free(both);
	free(p1);
	free(p2);
	free(ders[0].data);
	free(ders[1].data);
	X509_free(root);
	X509_free(sub);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
}

/* "AB:CD:..", computed here independently of the library. */
static void
fingerprint_of(X509 *x, char out[96])
{
	unsigned char md[32];
	unsigned int n = 0;

	assert_int_equal(X509_digest(x, EVP_sha256(), md, &n), 1);
	assert_int_equal(n, 32);
	for (unsigned int i = 0; i < n; i++)
		sprintf(out + 3 * i, "%02X%s", md[i], i + 1 < n ? ":" : "");
}

/* rootCaKeyUpdate: the three certificates and what the new root says. */
static void
test_genm_root_update(void **state)
{
	EVP_PKEY *old_key = tkey_new("EC"), *new_key = tkey_new("EC");
	X509 *nwn = tcert_new(new_key, NULL, NULL, 5, "CN", "Root 2", NULL);
	X509 *nwo =
	    tcert_new(new_key, old_key, "Root", 6, "CN", "Root 2", NULL);
	X509 *own =
	    tcert_new(old_key, new_key, "Root 2", 7, "CN", "Root", NULL);
	Cmpd__GenmResult g = CMPD__GENM_RESULT__INIT;
	char *p_nwn = pem_of(nwn), *p_nwo = pem_of(nwo), *p_own = pem_of(own);
	char fp[96];
	cmpd_job *job = NULL;

	(void)state;
	fingerprint_of(nwn, fp);
	g.type = CMPD__GENM_TYPE__GENM_ROOT_CA_KEY_UPDATE;
	g.new_root.data = tcert_der(nwn, &g.new_root.len);
	g.new_with_old.data = tcert_der(nwo, &g.new_with_old.len);
	g.old_with_new.data = tcert_der(own, &g.old_with_new.len);
	tj.job.op = CMPD__CMP_OP__CMP_OP_GENM;
	tj.job.genm = &g;
	assert_int_equal(
	    cmpd_job_get(cl, "00000000000000b1", &job), CMPD_RESULT_OK);
	assert_string_equal(cmpd_job_genm_type(job), "root-update");
	assert_string_equal(cmpd_job_genm_new_root_pem(job), p_nwn);
	assert_string_equal(cmpd_job_genm_new_with_old_pem(job), p_nwo);
	assert_string_equal(cmpd_job_genm_old_with_new_pem(job), p_own);
	assert_string_equal(cmpd_job_genm_new_root_subject(job), "CN=Root 2");
	assert_int_equal(cmpd_job_genm_new_root_not_before(job), 1700000000);
	assert_int_equal(cmpd_job_genm_new_root_not_after(job), 1800000000);
	assert_string_equal(cmpd_job_genm_new_root_fingerprint(job), fp);
	assert_int_equal(strlen(fp), 95);
	assert_int_equal(cmpd_job_genm_ca_cert_count(job), 0);
	cmpd_job_free(job);

	/* Without oldWithNew. */
	free(g.old_with_new.data);
	g.old_with_new.data = NULL;
	g.old_with_new.len = 0;
	assert_int_equal(
	    cmpd_job_get(cl, "00000000000000b1", &job), CMPD_RESULT_OK);
	assert_string_equal(cmpd_job_genm_old_with_new_pem(job), "");
	assert_string_equal(cmpd_job_genm_new_root_pem(job), p_nwn);
	cmpd_job_free(job);
	free(p_nwn);
	free(p_nwo);
	free(p_own);
	free(g.new_root.data);
	free(g.new_with_old.data);
	X509_free(nwn);
	X509_free(nwo);
	X509_free(own);
	EVP_PKEY_free(old_key);
	EVP_PKEY_free(new_key);
}

/*
 * DER from OpenSSL's ASN1_generate_nconf: an encoder that shares nothing
 * with the library's decoder.
 */
static uint8_t *
der_generate(const char *conf, size_t *len)
{
	BIO *b = BIO_new_mem_buf(conf, -1);
	CONF *cnf = NCONF_new(NULL);
	ASN1_TYPE *t = NULL;
	unsigned char *der = NULL;
	uint8_t *copy;
	int n;

	assert_int_equal(NCONF_load_bio(cnf, b, NULL), 1);
	t = ASN1_generate_nconf("SEQUENCE:top", cnf);
	assert_non_null(t);
	n = i2d_ASN1_TYPE(t, &der);
	assert_true(n > 0);
	copy = malloc((size_t)n);
	memcpy(copy, der, (size_t)n);
	*len = (size_t)n;
	OPENSSL_free(der);
	ASN1_TYPE_free(t);
	NCONF_free(cnf);
	BIO_free(b);
	return copy;
}

/*
 * RFC 9483 section 4.3.3's shape: a subject, a publicKey that names only
 * the algorithm (its key bits are empty) and a SAN; the keySpec asks for
 * a P-256 key, then an RSA key length.
 */
static const char tmpl_conf[] = "[top]\n"
                                "issuer = EXP:3,SEQUENCE:iname\n"
                                "validity = IMP:4,SEQUENCE:validity\n"
                                "subject = EXP:5,SEQUENCE:name\n"
                                "pk = IMP:6,SEQUENCE:spki\n"
                                "exts = IMP:9,SEQUENCE:exts\n"
                                "[iname]\n"
                                "rdn = SET:irdn\n"
                                "[irdn]\n"
                                "atv = SEQUENCE:cn\n"
                                "[cn]\n"
                                "type = OID:commonName\n"
                                "value = UTF8:Test CA\n"
                                "[validity]\n"
                                "na = EXP:1,GENTIME:20270115080000Z\n"
                                "[name]\n"
                                "rdn = SET:rdn\n"
                                "[rdn]\n"
                                "atv = SEQUENCE:o\n"
                                "[o]\n"
                                "type = OID:organizationName\n"
                                "value = UTF8:cmpd test\n"
                                "[spki]\n"
                                "alg = SEQUENCE:ec\n"
                                "key = BITSTRING:\n"
                                "[ec]\n"
                                "alg = OID:id-ecPublicKey\n"
                                "curve = OID:prime256v1\n"
                                "[exts]\n"
                                "san = SEQUENCE:san\n"
                                "[san]\n"
                                "id = OID:subjectAltName\n"
                                "value = OCTWRAP,SEQUENCE:names\n"
                                "[names]\n"
                                "dns = IMP:2,IA5STRING:device.example\n";

static const char spec_conf[] = "[top]\n"
                                "c1 = SEQUENCE:algid\n"
                                "c2 = SEQUENCE:rsalen\n"
                                "c3 = SEQUENCE:other\n"
                                "[algid]\n"
                                "type = OID:1.3.6.1.5.5.7.5.1.11\n"
                                "value = SEQUENCE:ec\n"
                                "[ec]\n"
                                "alg = OID:id-ecPublicKey\n"
                                "curve = OID:prime256v1\n"
                                "[rsalen]\n"
                                "type = OID:1.3.6.1.5.5.7.5.1.12\n"
                                "value = INTEGER:3072\n"
                                "[other]\n"
                                "type = OID:1.2.3.4\n"
                                "value = NULL\n";

static void
test_genm_template(void **state)
{
	Cmpd__GenmResult g = CMPD__GENM_RESULT__INIT;
	cmpd_job *job = NULL;
	const char *text;
	size_t len = 0;

	(void)state;
	g.type = CMPD__GENM_TYPE__GENM_CERT_REQ_TEMPLATE;
	g.cert_template.data = der_generate(tmpl_conf, &g.cert_template.len);
	g.key_spec.data = der_generate(spec_conf, &g.key_spec.len);
	tj.job.op = CMPD__CMP_OP__CMP_OP_GENM;
	tj.job.genm = &g;
	assert_int_equal(
	    cmpd_job_get(cl, "00000000000000b1", &job), CMPD_RESULT_OK);
	assert_string_equal(cmpd_job_genm_type(job), "template");
	assert_memory_equal(cmpd_job_genm_template_der(job, &len),
	    g.cert_template.data, g.cert_template.len);
	assert_int_equal(len, g.cert_template.len);
	assert_memory_equal(cmpd_job_genm_key_spec_der(job, &len),
	    g.key_spec.data, g.key_spec.len);
	text = cmpd_job_genm_template_text(job);
	assert_string_equal(text,
	    "subject: O=cmpd test\n"
	    "issuer: CN=Test CA\n"
	    "not after: Jan 15 08:00:00 2027 GMT\n"
	    "key algorithm: id-ecPublicKey (prime256v1)\n"
	    "extensions:\n"
	    "    X509v3 Subject Alternative Name: \n"
	    "        DNS:device.example\n"
	    "key spec:\n"
	    "    algId: id-ecPublicKey (prime256v1)\n"
	    "    rsaKeyLen: 3072\n"
	    "    1.2.3.4\n");
	cmpd_job_free(job);

	/* Without a keySpec; then a template that is no DER at all. */
	free(g.key_spec.data);
	g.key_spec.data = NULL;
	g.key_spec.len = 0;
	assert_int_equal(
	    cmpd_job_get(cl, "00000000000000b1", &job), CMPD_RESULT_OK);
	assert_null(strstr(cmpd_job_genm_template_text(job), "key spec"));
	assert_null(cmpd_job_genm_key_spec_der(job, &len));
	cmpd_job_free(job);
	g.cert_template.data[0] = 0x31;
	assert_int_equal(
	    cmpd_job_get(cl, "00000000000000b1", &job), CMPD_RESULT_OK);
	assert_string_equal(cmpd_job_genm_template_text(job), "");
	assert_non_null(cmpd_job_genm_template_der(job, &len));
	cmpd_job_free(job);
	free(g.cert_template.data);

	/* An empty template says so. */
	g.cert_template.data = (uint8_t *)"\x30\x00";
	g.cert_template.len = 2;
	assert_int_equal(
	    cmpd_job_get(cl, "00000000000000b1", &job), CMPD_RESULT_OK);
	assert_non_null(
	    strstr(cmpd_job_genm_template_text(job), "empty template"));
	cmpd_job_free(job);
}

/* A template OpenSSL's own CRMF encoder wrote, with a whole key. */
static void
test_genm_template_crmf(void **state)
{
	Cmpd__GenmResult g = CMPD__GENM_RESULT__INIT;
	OSSL_CRMF_MSG *msg = OSSL_CRMF_MSG_new();
	X509_EXTENSIONS *exts = sk_X509_EXTENSION_new_null();
	X509_NAME *name = X509_NAME_new();
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	X509_EXTENSION *ku =
	    X509V3_EXT_conf_nid(NULL, NULL, NID_key_usage, "digitalSignature");
	unsigned char *der = NULL;
	cmpd_job *job = NULL;
	const char *text;
	int n;

	(void)state;
	X509_NAME_add_entry_by_txt(
	    name, "CN", MBSTRING_UTF8, (const unsigned char *)"dev", -1, -1, 0);
	sk_X509_EXTENSION_push(exts, ku);
	assert_int_equal(OSSL_CRMF_MSG_set0_extensions(msg, exts), 1);
	assert_int_equal(
	    OSSL_CRMF_CERTTEMPLATE_fill(
	        OSSL_CRMF_MSG_get0_tmpl(msg), key, name, NULL, NULL),
	    1);
	n = i2d_OSSL_CRMF_CERTTEMPLATE(OSSL_CRMF_MSG_get0_tmpl(msg), &der);
	assert_true(n > 0);
	g.type = CMPD__GENM_TYPE__GENM_CERT_REQ_TEMPLATE;
	g.cert_template.data = der;
	g.cert_template.len = (size_t)n;
	tj.job.genm = &g;
	assert_int_equal(
	    cmpd_job_get(cl, "00000000000000b1", &job), CMPD_RESULT_OK);
	text = cmpd_job_genm_template_text(job);
	assert_non_null(strstr(text, "subject: CN=dev\n"));
	assert_non_null(
	    strstr(text, "key algorithm: id-ecPublicKey (secp384r1)\n"));
	assert_non_null(strstr(text, "X509v3 Key Usage: \n"));
	assert_non_null(strstr(text, "Digital Signature"));
	cmpd_job_free(job);
	OPENSSL_free(der);
	OSSL_CRMF_MSG_free(msg);
	X509_NAME_free(name);
	EVP_PKEY_free(key);
}

struct records {
	Cmpd__CertRecord rec[2];
	ProtobufCBinaryData chain[1];
};

static void
reply_certs_cb(struct resp *r, const cmpd_env *req, nng_msg *raw, void *arg)
{
	struct records *rs = arg;
	Cmpd__CertListRep rep = CMPD__CERT_LIST_REP__INIT;
	Cmpd__CertRecord *recs[2] = { &rs->rec[0], &rs->rec[1] };
	cmpd_env env;

	cmpd_env_init(&env, req->id);
	rep.certs = recs;
	rep.n_certs = 2;
	env.body_case = CMPD__ENVELOPE__BODY_CERT_LIST_REP;
	env.cert_list_rep = &rep;
	resp_reply(r, raw, req->id, &env);
}

/* A tracked certificate's record: every new field, and the defaults. */
static void
test_cert_records(void **state)
{
	EVP_PKEY *k = tkey_new("EC");
	X509 *ca = tcert_new(k, NULL, NULL, 1, "CN", "Test CA", NULL);
	char *ca_pem = pem_of(ca);
	struct records rs;
	cmpd_cert_array *certs = NULL;
	const cmpd_cert *c;

	(void)state;
	resp_stop(&resp);
	memset(&rs, 0, sizeof(rs));
	cmpd__cert_record__init(&rs.rec[0]);
	cmpd__cert_record__init(&rs.rec[1]);
	rs.rec[0].profile = "web";
	rs.rec[0].id = "c0ffee0123456789";
	rs.rec[0].state = CMPD__CERT_STATE__CERT_REVOKED;
	rs.rec[0].next_renewal = 1760000000;
	rs.rec[0].renewed = 1750000000;
	rs.rec[0].last_error = "refused by the CA";
	rs.rec[0].failures = 3;
	rs.rec[0].renewing_job = "00000000000000aa";
	rs.chain[0].data = tcert_der(ca, &rs.chain[0].len);
	rs.rec[0].chain = rs.chain;
	rs.rec[0].n_chain = 1;
	rs.rec[0].chain_path = "/var/lib/cmpd/web-chain.pem";
	rs.rec[0].key_type = CMPD__KEY_TYPE__KEY_RSA_4096;
	rs.rec[0].revocation_reason = 1;
	rs.rec[1].profile = "mail";
	rs.rec[1].state = CMPD__CERT_STATE__CERT_EXPIRED;
	rs.rec[1].revocation_reason = 1; /* not revoked: no reason */
	assert_int_equal(resp_start(&resp, reply_certs_cb, &rs), 0);
	cmpd_client_close(cl);
	assert_int_equal(cmpd_client_open(resp.path, &cl), CMPD_RESULT_OK);

	assert_int_equal(cmpd_cert_list(cl, NULL, &certs), CMPD_RESULT_OK);
	c = cmpd_cert_array_get(certs, 0);
	assert_string_equal(cmpd_cert_id(c), "c0ffee0123456789");
	assert_int_equal(cmpd_cert_state_get(c), CMPD_CERT_STATE_REVOKED);
	assert_string_equal(
	    cmpd_cert_state_name(cmpd_cert_state_get(c)), "revoked");
	assert_int_equal(cmpd_cert_next_renewal(c), 1760000000);
	assert_int_equal(cmpd_cert_renewed(c), 1750000000);
	assert_string_equal(cmpd_cert_last_error(c), "refused by the CA");
	assert_int_equal(cmpd_cert_failures(c), 3);
	assert_string_equal(cmpd_cert_renewing_job(c), "00000000000000aa");
	assert_string_equal(cmpd_cert_chain_pem(c), ca_pem);
	assert_string_equal(
	    cmpd_cert_chain_path(c), "/var/lib/cmpd/web-chain.pem");
	assert_string_equal(cmpd_cert_key_type(c), "rsa4096");
	assert_int_equal(cmpd_cert_revocation_reason(c), 1);

	c = cmpd_cert_array_get(certs, 1);
	assert_string_equal(cmpd_cert_id(c), "");
	assert_int_equal(cmpd_cert_state_get(c), CMPD_CERT_STATE_EXPIRED);
	assert_int_equal(cmpd_cert_revocation_reason(c), -1);
	assert_string_equal(cmpd_cert_chain_pem(c), "");
	assert_string_equal(cmpd_cert_last_error(c), "");
	assert_string_equal(cmpd_cert_key_type(c), "");
	assert_int_equal(cmpd_cert_next_renewal(c), 0);
	cmpd_cert_array_free(certs);

	assert_string_equal(
	    cmpd_cert_state_name(CMPD_CERT_STATE_ACTIVE), "active");
	assert_string_equal(
	    cmpd_cert_state_name(CMPD_CERT_STATE_SUPERSEDED), "superseded");
	assert_string_equal(
	    cmpd_cert_state_name(CMPD_CERT_STATE_UNKNOWN), "unknown");
	assert_string_equal(
	    cmpd_cert_state_name((cmpd_cert_state)99), "unknown");
	free(rs.chain[0].data);
	free(ca_pem);
	X509_free(ca);
	EVP_PKEY_free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_enroll_op, setup, teardown),
		cmocka_unit_test_setup_teardown(test_renew, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_crl_reasons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoke, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_lifecycle_job_accessors, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_genm_request, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_genm_ca_certs, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_genm_root_update, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_genm_template, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_genm_template_crmf, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_cert_records, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
