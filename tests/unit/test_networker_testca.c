/*
 * Transactions through txn.c against the project's issuing test CA
 * (tests/testca, `cmpd-testca serve`), which certifies the requested key:
 * IR with a fresh key of each type, polling, MAC protection, the life of
 * a certificate (CR, KUR with a new and with the same key, RR with a
 * reason, then a KUR of the revoked certificate refused), P10CR, the
 * three general messages and the CA's refusal of a rogue supplier.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <ctype.h>
#include <openssl/cmp.h>
#include <openssl/crmf.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "test_networker_ca.h"
#include "test_networker_util.h"
#include "txn.h"

/* Runs r with software keys in the default library context. */
static void
txn_run(Cmpd__TxnStartReq *r, EVP_PKEY *prot, EVP_PKEY *new_key,
    struct nw_txn_result *res, int *waits)
{
	struct nw_txn_keys keys = { prot, new_key, NULL };

	nwt_txn_run(r, NULL, &keys, res, waits);
}

static void
test_ir_fresh_key_each_type(void **state)
{
	EVP_PKEY *keys[] = {
		EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"),
		EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"),
		EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048),
		EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"),
	};
	EVP_PKEY *prot = nwt_key_load("ca/supplier.key");
	struct nw_txn_result res;
	struct nwt_ca ca;
	int waits;

	(void)state;
	nwt_ca_start(&ca, "");
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		Cmpd__TxnStartReq *r =
		    nwt_ca_req_new(&ca, "/CN=device 1/O=cmpd");

		assert_non_null(keys[i]);
		r->sans = calloc(2, sizeof(char *));
		r->sans[r->n_sans++] = strdup("DNS:device-1.example");
		r->sans[r->n_sans++] = strdup("IP:192.0.2.1");
		/* RFC 9811 section 3.3: a well-known path with a label. */
		nwt_ca_url_set(r, &ca, "http", "/.well-known/cmp/p/devices");
		txn_run(r, prot, keys[i], &res, &waits);
		nwt_assert_issued(&res, keys[i]);
		assert_int_equal(waits, 0);
		nw_txn_result_fini(&res);
		nwt_req_free(r);
		EVP_PKEY_free(keys[i]);
	}
	EVP_PKEY_free(prot);
	nwt_ca_stop(&ca);
}

/*
 * RSA supplier, implicit confirmation, and polling: the waiting ip and
 * the first pollRep come in the first step, then one pollRep per step.
 */
static void
test_ir_polling_rsa_supplier(void **state)
{
	static const char *const sup[] = { "ca/supplier-rsa.pem" };
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *prot = nwt_key_load("ca/supplier-rsa.key");
	struct nw_txn_result res;
	Cmpd__TxnStartReq *r;
	struct nwt_ca ca;
	int waits;

	(void)state;
	nwt_ca_start(&ca, "--poll 3 --check-after 1 --grant-implicit-confirm");
	r = nwt_ca_req_new(&ca, "/CN=device 2");
	nwt_req_certs_set(&r->protection_certs, &r->n_protection_certs, sup, 1);
	r->implicit_confirm = 1;
	r->validity_days = 7;
	txn_run(r, prot, key, &res, &waits);
	nwt_assert_issued(&res, key);
	assert_int_equal(waits, 2);
	nw_txn_result_fini(&res);
	nwt_req_free(r);
	EVP_PKEY_free(key);
	EVP_PKEY_free(prot);
	nwt_ca_stop(&ca);
}

static char *
file_line(const char *name)
{
	static char buf[256];
	FILE *f = fopen(nwt_path(name), "r");

	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

static void
mac_set(Cmpd__TxnStartReq *r)
{
	char secret[256];

	snprintf(secret, sizeof(secret), "%s", file_line("ca/mac-secret.txt"));
	nwt_req_mac_set(r, secret, file_line("ca/mac-ref.txt"));
}

static void
test_ir_mac(void **state)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	struct nw_txn_result res;
	Cmpd__TxnStartReq *r;
	struct nwt_ca ca;
	int waits;

	(void)state;
	nwt_ca_start(&ca, "");
	r = nwt_ca_req_new(&ca, "/CN=device 3");
	mac_set(r);
	txn_run(r, NULL, key, &res, &waits);
	nwt_assert_issued(&res, key);
	nw_txn_result_fini(&res);
	nwt_req_free(r);
	EVP_PKEY_free(key);
	nwt_ca_stop(&ca);
}

/* The lower-case hex serial number, as the CA's files write it. */
static const char *
serial_hex(X509 *cert)
{
	static char buf[80];
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = BN_bn2hex(bn);

	snprintf(buf, sizeof(buf), "%s", hex);
	for (char *p = buf; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	OPENSSL_free(hex);
	BN_free(bn);
	return buf;
}

/* What a certificate of the life test is: its cert, its key. */
struct owned {
	X509 *cert;
	EVP_PKEY *key;
	ProtobufCBinaryData der;
};

static void
owned_take(struct owned *o, struct nw_txn_result *res, EVP_PKEY *key)
{
	unsigned char *p;

	nwt_assert_issued(res, key);
	o->cert = X509_dup(res->cert);
	o->key = key;
	o->der.len = (size_t)i2d_X509(o->cert, NULL);
	o->der.data = p = malloc(o->der.len);
	i2d_X509(o->cert, &p);
	nw_txn_result_fini(res);
}

static void
owned_free(struct owned *o)
{
	X509_free(o->cert);
	free(o->der.data);
}

/* r is protected by o and acts on o (KUR's and RR's old_cert). */
static void
req_own(Cmpd__TxnStartReq *r, const struct owned *o, Cmpd__CmpOp op)
{
	ProtobufCBinaryData *d = calloc(1, sizeof(*d));

	nwt_req_certs_set(
	    &r->protection_certs, &r->n_protection_certs, NULL, 0);
	d->len = o->der.len;
	d->data = malloc(d->len);
	memcpy(d->data, o->der.data, d->len);
	r->protection_certs = d;
	r->n_protection_certs = 1;
	free(r->old_cert.data);
	r->old_cert.data = malloc(d->len);
	memcpy(r->old_cert.data, d->data, d->len);
	r->old_cert.len = d->len;
	r->op = op;
}

/* The keys and certificates of the life test. */
struct life {
	EVP_PKEY *k[4];
	struct owned c[4];
	Cmpd__TxnStartReq *r;
};

/*
 * IR, then CR protected by the first certificate, KUR of the first to a
 * new key (its subject carries over) and KUR of the second keeping its key.
 */
static void
life_enroll(struct life *l)
{
	EVP_PKEY *sup = nwt_key_load("ca/supplier.key");
	struct nw_txn_result res;
	char serial[80];
	int waits;

	txn_run(l->r, sup, l->k[0], &res, &waits);
	owned_take(&l->c[0], &res, l->k[0]);
	req_own(l->r, &l->c[0], CMPD__CMP_OP__CMP_OP_CR);
	txn_run(l->r, l->k[0], l->k[1], &res, &waits);
	owned_take(&l->c[1], &res, l->k[1]);
	req_own(l->r, &l->c[0], CMPD__CMP_OP__CMP_OP_KUR);
	free(l->r->subject);
	l->r->subject = strdup("");
	txn_run(l->r, l->k[0], l->k[2], &res, &waits);
	owned_take(&l->c[2], &res, l->k[2]);
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(l->c[2].cert),
	                     X509_get_subject_name(l->c[0].cert)),
	    0);
	req_own(l->r, &l->c[1], CMPD__CMP_OP__CMP_OP_KUR);
	txn_run(l->r, l->k[1], l->k[1], &res, &waits);
	owned_take(&l->c[3], &res, l->k[1]);
	snprintf(serial, sizeof(serial), "%s", serial_hex(l->c[1].cert));
	assert_string_not_equal(serial_hex(l->c[3].cert), serial);
	EVP_PKEY_free(sup);
}

/*
 * RR of the kept-key certificate (keyCompromise) by its own key; a KUR of
 * it is then refused; an RR by MAC, without a reason code, revokes the
 * certificate of the first KUR.
 */
static void
life_revoke(struct life *l)
{
	struct nw_txn_result res;
	char line[128];
	int waits;

	req_own(l->r, &l->c[3], CMPD__CMP_OP__CMP_OP_RR);
	l->r->revocation_reason = 1;
	txn_run(l->r, l->k[1], NULL, &res, &waits);
	if (res.result != CMPD__TXN_RESULT__TXN_DONE)
		fail_msg("%s", res.error_text);
	assert_null(res.cert);
	nw_txn_result_fini(&res);
	snprintf(line, sizeof(line), "%s 1\n", serial_hex(l->c[3].cert));
	assert_true(nwt_file_has("ca/revoked.txt", line));
	req_own(l->r, &l->c[3], CMPD__CMP_OP__CMP_OP_KUR);
	txn_run(l->r, l->k[1], l->k[3], &res, &waits);
	nwt_assert_failed(&res, CMPD_EREFUSED,
	    "refused our kur: PKIStatus: rejection; PKIFailureInfo: ");
	assert_int_equal(res.pki_status, OSSL_CMP_PKISTATUS_rejection);
	nw_txn_result_fini(&res);
	req_own(l->r, &l->c[2], CMPD__CMP_OP__CMP_OP_RR);
	l->r->revocation_reason = -1;
	mac_set(l->r);
	txn_run(l->r, NULL, NULL, &res, &waits);
	if (res.result != CMPD__TXN_RESULT__TXN_DONE)
		fail_msg("%s", res.error_text);
	nw_txn_result_fini(&res);
	snprintf(line, sizeof(line), "%s -1\n", serial_hex(l->c[2].cert));
	assert_true(nwt_file_has("ca/revoked.txt", line));
}

static void
test_certificate_life(void **state)
{
	struct life l = { .k = { EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"),
		              EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"),
		              EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"),
		              EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384") } };
	struct nwt_ca ca;

	(void)state;
	nwt_ca_start(&ca, "");
	l.r = nwt_ca_req_new(&ca, "/CN=device 4");
	life_enroll(&l);
	life_revoke(&l);
	nwt_req_free(l.r);
	for (int i = 0; i < 4; i++) {
		owned_free(&l.c[i]);
		EVP_PKEY_free(l.k[i]);
	}
	nwt_ca_stop(&ca);
}

/*
 * P10CR: a PKCS#10 request signed with the new key, SANs included,
 * protected by MAC (the CA lets supplier certificates protect IR only).
 */
static void
test_p10cr(void **state)
{
	EVP_PKEY *keys[] = { EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"),
		EVP_PKEY_Q_keygen(NULL, NULL, "ED25519") };
	struct nw_txn_result res;
	GENERAL_NAMES *sans;
	Cmpd__TxnStartReq *r;
	struct nwt_ca ca;
	int waits;

	(void)state;
	nwt_ca_start(&ca, "");
	for (size_t i = 0; i < 2; i++) {
		r = nwt_ca_req_new(&ca, "/CN=device 7/O=cmpd");
		r->op = CMPD__CMP_OP__CMP_OP_P10CR;
		r->p10cr = 1;
		r->sans = calloc(1, sizeof(char *));
		r->sans[r->n_sans++] = strdup("DNS:p10.example");
		mac_set(r);
		txn_run(r, NULL, keys[i], &res, &waits);
		nwt_assert_issued(&res, keys[i]);
		sans = X509_get_ext_d2i(
		    res.cert, NID_subject_alt_name, NULL, NULL);
		assert_int_equal(sk_GENERAL_NAME_num(sans), 1);
		GENERAL_NAMES_free(sans);
		nw_txn_result_fini(&res);
		nwt_req_free(r);
		EVP_PKEY_free(keys[i]);
	}
	nwt_ca_stop(&ca);
}

/* Many transactions at once, each on its own thread, as on the pool. */
#define N_PARALLEL 8

struct par {
	const struct nwt_ca *ca;
	EVP_PKEY *prot;
	int index;
	int ok;
	char serial[80];
};

static void *
par_main(void *arg)
{
	struct par *p = arg;
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	struct nw_txn_result res;
	Cmpd__TxnStartReq *r;
	char subject[64];
	int waits;

	snprintf(subject, sizeof(subject), "/CN=parallel %d", p->index);
	r = nwt_ca_req_new(p->ca, subject);
	r->transaction_id.data[0] = (uint8_t)p->index;
	txn_run(r, p->prot, key, &res, &waits);
	if (res.result == CMPD__TXN_RESULT__TXN_DONE &&
	    EVP_PKEY_eq(X509_get0_pubkey(res.cert), key) == 1) {
		snprintf(
		    p->serial, sizeof(p->serial), "%s", serial_hex(res.cert));
		p->ok = 1;
	}
	nw_txn_result_fini(&res);
	nwt_req_free(r);
	EVP_PKEY_free(key);
	return NULL;
}

static void
test_parallel(void **state)
{
	EVP_PKEY *prot = nwt_key_load("ca/supplier.key");
	struct par p[N_PARALLEL];
	pthread_t t[N_PARALLEL];
	struct nwt_ca ca;

	(void)state;
	nwt_ca_start(&ca, "--poll 1 --check-after 1");
	for (int i = 0; i < N_PARALLEL; i++) {
		p[i] = (struct par){ .ca = &ca, .prot = prot, .index = i };
		assert_int_equal(
		    pthread_create(&t[i], NULL, par_main, &p[i]), 0);
	}
	for (int i = 0; i < N_PARALLEL; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < N_PARALLEL; i++) {
		assert_true(p[i].ok);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(p[i].serial, p[j].serial);
	}
	EVP_PKEY_free(prot);
	nwt_ca_stop(&ca);
}

/* A genm of type to a CA started with opts; res is the caller's. */
static void
genm_run(const char *opts, Cmpd__GenmType type, struct nw_txn_result *res)
{
	EVP_PKEY *prot = nwt_key_load("ca/supplier.key");
	Cmpd__TxnStartReq *r;
	struct nwt_ca ca;
	int waits;

	nwt_ca_start(&ca, opts);
	r = nwt_ca_req_new(&ca, "/CN=device 6");
	r->op = CMPD__CMP_OP__CMP_OP_GENM;
	r->genm_type = type;
	txn_run(r, prot, NULL, res, &waits);
	nwt_req_free(r);
	EVP_PKEY_free(prot);
	nwt_ca_stop(&ca);
}

static void
assert_genm_done(const struct nw_txn_result *res, Cmpd__GenmType type)
{
	if (res->result != CMPD__TXN_RESULT__TXN_DONE)
		fail_msg("%s", res->error_text);
	assert_true(res->has_genm);
	assert_int_equal(res->genm.type, type);
}

/* caCerts: the issuing CA and the root. */
static void
test_genm_cacerts(void **state)
{
	struct nw_txn_result res;

	(void)state;
	genm_run("", CMPD__GENM_TYPE__GENM_CA_CERTS, &res);
	assert_genm_done(&res, CMPD__GENM_TYPE__GENM_CA_CERTS);
	assert_false(res.genm.empty);
	assert_int_equal(sk_X509_num(res.genm.ca_certs), 2);
	assert_true(
	    nwt_cert_is(sk_X509_value(res.genm.ca_certs, 0), "ca/ca.pem"));
	assert_true(
	    nwt_cert_is(sk_X509_value(res.genm.ca_certs, 1), "ca/root.pem"));
	nw_txn_result_fini(&res);
}

/* rootCaKeyUpdate: checked against root.pem (trusted[0]) and kept. */
static void
test_genm_root_update(void **state)
{
	struct nw_txn_result res;

	(void)state;
	genm_run("", CMPD__GENM_TYPE__GENM_ROOT_CA_KEY_UPDATE, &res);
	assert_genm_done(&res, CMPD__GENM_TYPE__GENM_ROOT_CA_KEY_UPDATE);
	assert_false(res.genm.empty);
	assert_true(nwt_cert_is(res.genm.new_root, "ca/newroot.pem"));
	assert_true(nwt_cert_is(res.genm.new_with_old, "ca/newwithold.pem"));
	assert_true(nwt_cert_is(res.genm.old_with_new, "ca/oldwithnew.pem"));
	nw_txn_result_fini(&res);
	genm_run(
	    "--no-root-update", CMPD__GENM_TYPE__GENM_ROOT_CA_KEY_UPDATE, &res);
	assert_genm_done(&res, CMPD__GENM_TYPE__GENM_ROOT_CA_KEY_UPDATE);
	assert_true(res.genm.empty);
	assert_null(res.genm.new_root);
	nw_txn_result_fini(&res);
}

/* A newWithOld the current root did not sign: nothing is reported. */
static void
test_genm_root_update_forged(void **state)
{
	struct nw_txn_result res;

	(void)state;
	genm_run("--bad-root-update", CMPD__GENM_TYPE__GENM_ROOT_CA_KEY_UPDATE,
	    &res);
	nwt_assert_failed(
	    &res, CMPD_EBADCERT, "root CA key update from http://127.0.0.1:");
	assert_non_null(strstr(res.error_text, "is refused: newWithOld"));
	assert_false(res.has_genm);
	assert_null(res.genm.new_root);
	nw_txn_result_fini(&res);
}

/* certReqTemplate: a DER CertTemplate naming O=cmpd test, or none. */
static void
test_genm_template(void **state)
{
	struct nw_txn_result res;
	OSSL_CRMF_CERTTEMPLATE *tmpl;
	const unsigned char *p;
	char *subject;

	(void)state;
	genm_run("", CMPD__GENM_TYPE__GENM_CERT_REQ_TEMPLATE, &res);
	assert_genm_done(&res, CMPD__GENM_TYPE__GENM_CERT_REQ_TEMPLATE);
	assert_false(res.genm.empty);
	p = res.genm.cert_template;
	tmpl = d2i_OSSL_CRMF_CERTTEMPLATE(
	    NULL, &p, (long)res.genm.cert_template_len);
	assert_non_null(tmpl);
	assert_ptr_equal(
	    p, res.genm.cert_template + res.genm.cert_template_len);
	subject = X509_NAME_oneline(
	    OSSL_CRMF_CERTTEMPLATE_get0_subject(tmpl), NULL, 0);
	assert_non_null(strstr(subject, "O=cmpd test"));
	OPENSSL_free(subject);
	OSSL_CRMF_CERTTEMPLATE_free(tmpl);
	nw_txn_result_fini(&res);
	genm_run(
	    "--no-template", CMPD__GENM_TYPE__GENM_CERT_REQ_TEMPLATE, &res);
	assert_genm_done(&res, CMPD__GENM_TYPE__GENM_CERT_REQ_TEMPLATE);
	assert_true(res.genm.empty);
	assert_null(res.genm.cert_template);
	nw_txn_result_fini(&res);
}

/* A supplier certificate of a CA nobody trusts: the CA refuses. */
static void
test_rogue_supplier_refused(void **state)
{
	static const char *const rogue[] = { "ca/rogue.pem" };
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *prot = nwt_key_load("ca/rogue.key");
	struct nw_txn_result res;
	Cmpd__TxnStartReq *r;
	struct nwt_ca ca;
	int waits;

	(void)state;
	nwt_ca_start(&ca, "");
	r = nwt_ca_req_new(&ca, "/CN=device 5");
	nwt_req_certs_set(
	    &r->protection_certs, &r->n_protection_certs, rogue, 1);
	txn_run(r, prot, key, &res, &waits);
	nwt_assert_failed(&res, CMPD_EREFUSED,
	    "PKIFailureInfo: badMessageCheck, signerNotTrusted");
	assert_int_equal(res.pki_status, OSSL_CMP_PKISTATUS_rejection);
	assert_true(
	    res.fail_info & (1u << OSSL_CMP_PKIFAILUREINFO_signerNotTrusted));
	assert_true(res.n_texts >= 1);
	assert_non_null(strstr(res.texts[0], "not trusted"));
	assert_non_null(strstr(res.error_text, res.texts[0]));
	nw_txn_result_fini(&res);
	nwt_req_free(r);
	EVP_PKEY_free(key);
	EVP_PKEY_free(prot);
	nwt_ca_stop(&ca);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ir_fresh_key_each_type),
		cmocka_unit_test(test_ir_polling_rsa_supplier),
		cmocka_unit_test(test_ir_mac),
		cmocka_unit_test(test_certificate_life),
		cmocka_unit_test(test_p10cr),
		cmocka_unit_test(test_parallel),
		cmocka_unit_test(test_genm_cacerts),
		cmocka_unit_test(test_genm_root_update),
		cmocka_unit_test(test_genm_root_update_forged),
		cmocka_unit_test(test_genm_template),
		cmocka_unit_test(test_rogue_supplier_refused),
	};
	int rv;

	cmpd_log_init("test_networker_testca", CMPD_LOG_INFO);
	/* As cmpd-networker does: a peer's close fails a write (EPIPE). */
	signal(SIGPIPE, SIG_IGN);
	if (nwt_ca_init() != 0) {
		nwt_pki_remove();
		return 1;
	}
	rv = cmocka_run_group_tests(tests, NULL, NULL);
	nwt_pki_remove();
	return rv;
}
