/*
 * Transactions through txn.c against the project's issuing test CA
 * (tests/testca, `cmpd-testca serve`), which certifies the requested key:
 * IR with a fresh key of each type, polling, MAC protection, CR, KUR and
 * RR with a certificate it issued, GENM caCerts, and the CA's refusal of a
 * rogue supplier.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <openssl/cmp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "test_networker_util.h"
#include "txn.h"

static char bin[512];

struct ca {
	pid_t pid;
	int port;
};

static void
ca_start(struct ca *ca, const char *opts)
{
	char cmd[1024];
	FILE *f;

	unlink(nwt_path("ca/port"));
	snprintf(cmd, sizeof(cmd),
	    "exec %s serve %s --port 0 --port-file "
	    "%s/port --quiet %s 2>>%s/ca.log",
	    bin, nwt_path("ca"), nwt_path("ca"), opts, nwt_path("ca"));
	ca->pid = fork();
	assert_true(ca->pid >= 0);
	if (ca->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	ca->port = -1;
	for (int i = 0; i < 500 && ca->port < 0; i++) {
		usleep(10000);
		if ((f = fopen(nwt_path("ca/port"), "r")) == NULL)
			continue;
		if (fscanf(f, "%d", &ca->port) != 1)
			ca->port = -1;
		fclose(f);
	}
	assert_true(ca->port > 0);
}

static void
ca_stop(struct ca *ca)
{
	int status;

	kill(ca->pid, SIGTERM);
	waitpid(ca->pid, &status, 0);
}

/* An IR request for the test CA, protected by the supplier certificate. */
static Cmpd__TxnStartReq *
ca_req_new(const struct ca *ca, const char *subject)
{
	static const char *const root[] = { "ca/root.pem" };
	static const char *const sup[] = { "ca/supplier.pem" };
	Cmpd__TxnStartReq *r = nwt_req_new(ca->port);

	nwt_req_certs_set(&r->trusted, &r->n_trusted, root, 1);
	nwt_req_certs_set(&r->enroll_trusted, &r->n_enroll_trusted, root, 1);
	nwt_req_certs_set(&r->protection_certs, &r->n_protection_certs, sup, 1);
	free(r->recipient);
	r->recipient = strdup("/CN=cmpd Test Issuing CA");
	free(r->subject);
	r->subject = strdup(subject);
	return r;
}

/* Runs the transaction to its end, polling as the CA says. */
static void
txn_run(Cmpd__TxnStartReq *r, EVP_PKEY *prot, EVP_PKEY *new_key,
    struct nw_txn_result *res, int *waits)
{
	struct nw_txn *t = NULL;
	char why[512];

	if (nw_txn_new(NULL, r, prot, new_key, &t, why, sizeof(why)) != 0)
		fail_msg("%s", why);
	nw_txn_result_init(res);
	*waits = 0;
	for (;;) {
		nw_txn_step(t, res);
		if (res->result != CMPD__TXN_RESULT__TXN_WAITING)
			break;
		(*waits)++;
		sleep(res->check_after);
		nw_txn_result_fini(res);
	}
	nw_txn_free(t);
}

/* The certificate carries the key, and chains ca -> root. */
static void
assert_issued(struct nw_txn_result *res, EVP_PKEY *key)
{
	if (res->result != CMPD__TXN_RESULT__TXN_DONE)
		fail_msg("error %d: %s", res->error, res->error_text);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(res->cert), key), 1);
	assert_int_equal(sk_X509_num(res->chain), 2);
	assert_true(nwt_cert_is(sk_X509_value(res->chain, 0), "ca/ca.pem"));
	assert_true(nwt_cert_is(sk_X509_value(res->chain, 1), "ca/root.pem"));
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
	struct ca ca;
	int waits;

	(void)state;
	ca_start(&ca, "");
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		Cmpd__TxnStartReq *r = ca_req_new(&ca, "/CN=device 1/O=cmpd");

		assert_non_null(keys[i]);
		r->sans = calloc(2, sizeof(char *));
		r->sans[r->n_sans++] = strdup("DNS:device-1.example");
		r->sans[r->n_sans++] = strdup("IP:192.0.2.1");
		txn_run(r, prot, keys[i], &res, &waits);
		assert_issued(&res, keys[i]);
		assert_int_equal(waits, 0);
		nw_txn_result_fini(&res);
		nwt_req_free(r);
		EVP_PKEY_free(keys[i]);
	}
	EVP_PKEY_free(prot);
	ca_stop(&ca);
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
	struct ca ca;
	int waits;

	(void)state;
	ca_start(&ca, "--poll 3 --check-after 1 --grant-implicit-confirm");
	r = ca_req_new(&ca, "/CN=device 2");
	nwt_req_certs_set(&r->protection_certs, &r->n_protection_certs, sup, 1);
	r->implicit_confirm = 1;
	r->validity_days = 7;
	txn_run(r, prot, key, &res, &waits);
	assert_issued(&res, key);
	assert_int_equal(waits, 2);
	nw_txn_result_fini(&res);
	nwt_req_free(r);
	EVP_PKEY_free(key);
	EVP_PKEY_free(prot);
	ca_stop(&ca);
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
test_ir_mac(void **state)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	struct nw_txn_result res;
	Cmpd__TxnStartReq *r;
	struct ca ca;
	char secret[256];
	int waits;

	(void)state;
	ca_start(&ca, "");
	r = ca_req_new(&ca, "/CN=device 3");
	snprintf(secret, sizeof(secret), "%s", file_line("ca/mac-secret.txt"));
	nwt_req_mac_set(r, secret, file_line("ca/mac-ref.txt"));
	txn_run(r, NULL, key, &res, &waits);
	assert_issued(&res, key);
	nw_txn_result_fini(&res);
	nwt_req_free(r);
	EVP_PKEY_free(key);
	ca_stop(&ca);
}

/* The issued certificate then protects a CR and a KUR of its own. */
static void
test_cr_and_kur(void **state)
{
	EVP_PKEY *first = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *second = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *third = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	EVP_PKEY *prot = nwt_key_load("ca/supplier.key");
	static const char *const own[] = { "ca/own.pem" };
	struct nw_txn_result res;
	Cmpd__TxnStartReq *r;
	struct ca ca;
	FILE *f;
	int waits;

	(void)state;
	ca_start(&ca, "");
	r = ca_req_new(&ca, "/CN=device 4");
	txn_run(r, prot, first, &res, &waits);
	assert_issued(&res, first);
	f = fopen(nwt_path("ca/own.pem"), "w");
	PEM_write_X509(f, res.cert);
	fclose(f);
	nw_txn_result_fini(&res);
	nwt_req_free(r);

	r = ca_req_new(&ca, "/CN=device 4");
	r->op = CMPD__CMP_OP__CMP_OP_CR;
	nwt_req_certs_set(&r->protection_certs, &r->n_protection_certs, own, 1);
	txn_run(r, first, second, &res, &waits);
	assert_issued(&res, second);
	nw_txn_result_fini(&res);

	/* KUR: the old certificate protects; subject and SANs carry over. */
	r->op = CMPD__CMP_OP__CMP_OP_KUR;
	free(r->subject);
	r->subject = strdup("");
	txn_run(r, first, third, &res, &waits);
	assert_issued(&res, third);
	nw_txn_result_fini(&res);

	/* RR of the first certificate, by itself; a second one is refused. */
	r->op = CMPD__CMP_OP__CMP_OP_RR;
	txn_run(r, first, NULL, &res, &waits);
	if (res.result != CMPD__TXN_RESULT__TXN_DONE)
		fail_msg("%s", res.error_text);
	assert_null(res.cert);
	nw_txn_result_fini(&res);
	txn_run(r, first, NULL, &res, &waits);
	assert_int_equal(res.result, CMPD__TXN_RESULT__TXN_FAILED);
	assert_int_equal(res.error, CMPD_EREFUSED);
	nw_txn_result_fini(&res);
	nwt_req_free(r);
	EVP_PKEY_free(first);
	EVP_PKEY_free(second);
	EVP_PKEY_free(third);
	EVP_PKEY_free(prot);
	ca_stop(&ca);
}

/* Many transactions at once, each on its own thread, as on the pool. */
#define N_PARALLEL 8

struct par {
	const struct ca *ca;
	EVP_PKEY *prot;
	int index;
	int ok;
	char serial[64];
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
	r = ca_req_new(p->ca, subject);
	r->transaction_id.data[0] = (uint8_t)p->index;
	txn_run(r, p->prot, key, &res, &waits);
	if (res.result == CMPD__TXN_RESULT__TXN_DONE &&
	    EVP_PKEY_eq(X509_get0_pubkey(res.cert), key) == 1) {
		BIGNUM *bn =
		    ASN1_INTEGER_to_BN(X509_get0_serialNumber(res.cert), NULL);
		char *hex = BN_bn2hex(bn);

		snprintf(p->serial, sizeof(p->serial), "%s", hex);
		OPENSSL_free(hex);
		BN_free(bn);
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
	struct ca ca;

	(void)state;
	ca_start(&ca, "--poll 1 --check-after 1");
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
	ca_stop(&ca);
}

/* GENM caCerts: the CA answers with its issuing CA and root. */
static void
test_genm_cacerts(void **state)
{
	EVP_PKEY *prot = nwt_key_load("ca/supplier.key");
	struct nw_txn_result res;
	Cmpd__TxnStartReq *r;
	struct ca ca;
	int waits;

	(void)state;
	ca_start(&ca, "");
	r = ca_req_new(&ca, "/CN=device 6");
	r->op = CMPD__CMP_OP__CMP_OP_GENM;
	txn_run(r, prot, NULL, &res, &waits);
	if (res.result != CMPD__TXN_RESULT__TXN_DONE)
		fail_msg("%s", res.error_text);
	assert_int_equal(sk_X509_num(res.ca_pubs), 2);
	assert_true(nwt_cert_is(sk_X509_value(res.ca_pubs, 0), "ca/ca.pem"));
	assert_true(nwt_cert_is(sk_X509_value(res.ca_pubs, 1), "ca/root.pem"));
	nw_txn_result_fini(&res);
	nwt_req_free(r);
	EVP_PKEY_free(prot);
	ca_stop(&ca);
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
	struct ca ca;
	int waits;

	(void)state;
	ca_start(&ca, "");
	r = ca_req_new(&ca, "/CN=device 5");
	nwt_req_certs_set(
	    &r->protection_certs, &r->n_protection_certs, rogue, 1);
	txn_run(r, prot, key, &res, &waits);
	if (res.result != CMPD__TXN_RESULT__TXN_FAILED ||
	    res.error != CMPD_EREFUSED)
		fail_msg("result %d error %d: %s", res.result, res.error,
		    res.error_text);
	assert_int_equal(res.pki_status, OSSL_CMP_PKISTATUS_rejection);
	assert_true(
	    res.fail_info & (1u << OSSL_CMP_PKIFAILUREINFO_signerNotTrusted));
	assert_non_null(strstr(res.error_text, "signerNotTrusted"));
	assert_true(res.n_texts >= 1);
	assert_non_null(strstr(res.texts[0], "not trusted"));
	nw_txn_result_fini(&res);
	nwt_req_free(r);
	EVP_PKEY_free(key);
	EVP_PKEY_free(prot);
	ca_stop(&ca);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ir_fresh_key_each_type),
		cmocka_unit_test(test_ir_polling_rsa_supplier),
		cmocka_unit_test(test_ir_mac),
		cmocka_unit_test(test_cr_and_kur),
		cmocka_unit_test(test_parallel),
		cmocka_unit_test(test_genm_cacerts),
		cmocka_unit_test(test_rogue_supplier_refused),
	};
	const char *bindir = getenv("CMPD_BIN_DIR");
	char cmd[1024];
	int rv;

	cmpd_log_init("test_networker_testca", CMPD_LOG_INFO);
	snprintf(bin, sizeof(bin), "%s/cmpd-testca",
	    bindir != NULL ? bindir : "bin");
	if (nwt_pki_make() == NULL)
		return 1;
	snprintf(
	    cmd, sizeof(cmd), "%s init %s >/dev/null", bin, nwt_path("ca"));
	if (system(cmd) != 0) {
		fprintf(stderr, "cannot run %s\n", cmd);
		nwt_pki_remove();
		return 1;
	}
	rv = cmocka_run_group_tests(tests, NULL, NULL);
	nwt_pki_remove();
	return rv;
}
