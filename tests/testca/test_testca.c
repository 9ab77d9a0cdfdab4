/*
 * The test CA driven in-process by OpenSSL's CMP client: a transfer
 * callback hands each request to tca_server_handle(). Covers what the
 * openssl CLI cannot easily provoke: unsupported keys, missing subjects,
 * unprotected requests, unknown references and serials, a restart between
 * enrollment and KUR, revoked signers, the polling count, lifetimes in
 * seconds, --refuse, and the HTTP server taking its port again at once.
 * The genm answers are in test_testca_genm.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <openssl/cmp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "issue.h"
#include "server.h"
#include "tca_test.h"

static void
test_ir_unsupported_curve(void **state)
{
	struct tca_fixture *f = *state;
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	OSSL_CMP_CTX *ctx =
	    tca_test_client_new(f, f->supplier, f->supplier_key);

	tca_test_client_new_key(ctx, key, "p521");
	assert_null(OSSL_CMP_exec_IR_ses(ctx));
	tca_test_assert_rejected(ctx, OSSL_CMP_PKIFAILUREINFO_badAlg,
	    "unsupported EC curve secp521r1");
	OSSL_CMP_CTX_free(ctx);
	EVP_PKEY_free(key);
}

/* A CSR whose signature is fine (POPO) but whose subject is empty. */
static void
test_p10cr_without_subject(void **state)
{
	struct tca_fixture *f = *state;
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	OSSL_CMP_CTX *ctx = tca_test_client_new(f, NULL, NULL);
	X509_REQ *csr = X509_REQ_new();

	assert_true(X509_REQ_set_version(csr, X509_REQ_VERSION_1));
	assert_true(X509_REQ_set_pubkey(csr, key));
	assert_true(X509_REQ_sign(csr, key, EVP_sha256()) > 0);
	/* p10cr is not for supplier certificates: the MAC protects it. */
	assert_true(OSSL_CMP_CTX_set1_p10CSR(ctx, csr));
	tca_test_mac_credentials(f, ctx);
	assert_null(OSSL_CMP_exec_P10CR_ses(ctx));
	tca_test_assert_rejected(
	    ctx, OSSL_CMP_PKIFAILUREINFO_badCertTemplate, "without a subject");
	OSSL_CMP_CTX_free(ctx);
	X509_REQ_free(csr);
	EVP_PKEY_free(key);
}

static void
test_ir_unprotected(void **state)
{
	struct tca_fixture *f = *state;
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	OSSL_CMP_CTX *ctx = tca_test_client_new(f, NULL, NULL);

	tca_test_client_new_key(ctx, key, "unprotected");
	assert_true(
	    OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_UNPROTECTED_SEND, 1));
	assert_null(OSSL_CMP_exec_IR_ses(ctx));
	tca_test_assert_rejected(ctx, OSSL_CMP_PKIFAILUREINFO_badMessageCheck,
	    "request is not protected");
	OSSL_CMP_CTX_free(ctx);
	EVP_PKEY_free(key);
}

static void
test_ir_unknown_mac_reference(void **state)
{
	struct tca_fixture *f = *state;
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	OSSL_CMP_CTX *ctx = tca_test_client_new(f, NULL, NULL);

	tca_test_client_new_key(ctx, key, "mac");
	assert_true(OSSL_CMP_CTX_set1_referenceValue(
	    ctx, (const unsigned char *)"device-9999", 11));
	assert_true(OSSL_CMP_CTX_set1_secretValue(
	    ctx, (const unsigned char *)"guess", 5));
	/* The refusal is unprotected: our MAC would not verify for it. */
	assert_true(
	    OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_UNPROTECTED_ERRORS, 1));
	assert_null(OSSL_CMP_exec_IR_ses(ctx));
	tca_test_assert_rejected(ctx, OSSL_CMP_PKIFAILUREINFO_badMessageCheck,
	    "MAC reference \"device-9999\" not known");
	OSSL_CMP_CTX_free(ctx);
	EVP_PKEY_free(key);
}

/* A certificate with this CA's name and key that the CA never issued. */
static X509 *
forge_unknown(struct tca_fixture *f, EVP_PKEY *pub)
{
	X509 *ca = tca_test_load_cert(f, "ca.pem");
	EVP_PKEY *ca_key = tca_test_load_key(f, "ca.key");
	X509_NAME *name = X509_NAME_new();
	X509 *cert = NULL;

	assert_true(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"never issued", -1, -1, 0));
	assert_int_equal(
	    tca_cert_new(name, pub, ca, 30 * 86400L, &cert), CMPD_OK);
	assert_int_equal(tca_cert_sign(cert, ca_key), CMPD_OK);
	X509_NAME_free(name);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	return cert;
}

static void
test_rr_refusals(void **state)
{
	struct tca_fixture *f = *state;
	EVP_PKEY *key = NULL;
	X509 *cert = tca_test_enroll(f, &key);
	X509 *unknown = forge_unknown(f, key);
	OSSL_CMP_CTX *ctx = tca_test_client_new(f, cert, key);

	assert_true(OSSL_CMP_CTX_set1_oldCert(ctx, unknown));
	assert_int_equal(OSSL_CMP_exec_RR_ses(ctx), 0);
	tca_test_assert_rejected(ctx, OSSL_CMP_PKIFAILUREINFO_badCertId,
	    "unknown certificate serial");
	OSSL_CMP_CTX_free(ctx);
	ctx = tca_test_client_new(f, cert, key);
	assert_true(OSSL_CMP_CTX_set1_oldCert(ctx, f->supplier));
	assert_int_equal(OSSL_CMP_exec_RR_ses(ctx), 0);
	tca_test_assert_rejected(ctx, OSSL_CMP_PKIFAILUREINFO_badCertId,
	    "was not issued by this CA");
	OSSL_CMP_CTX_free(ctx);
	X509_free(unknown);
	X509_free(cert);
	EVP_PKEY_free(key);
}

/* issued.txt is read back: KUR works after a restart; after RR the
 * certificate no longer protects requests. */
static void
test_restart_kur_then_revoked(void **state)
{
	struct tca_fixture *f = *state;
	EVP_PKEY *key = NULL;
	EVP_PKEY *next = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	X509 *cert = tca_test_enroll(f, &key);
	OSSL_CMP_CTX *ctx;

	tca_test_server_start(f, &tca_test_default_opts);
	ctx = tca_test_client_new(f, cert, key);
	tca_test_client_new_key(ctx, next, NULL);
	assert_non_null(OSSL_CMP_exec_KUR_ses(ctx));
	OSSL_CMP_CTX_free(ctx);

	ctx = tca_test_client_new(f, cert, key);
	assert_true(OSSL_CMP_CTX_set1_oldCert(ctx, cert));
	assert_int_equal(OSSL_CMP_exec_RR_ses(ctx), 1);
	OSSL_CMP_CTX_free(ctx);
	tca_test_server_start(f, &tca_test_default_opts);
	ctx = tca_test_client_new(f, cert, key);
	tca_test_client_new_key(ctx, next, NULL);
	assert_null(OSSL_CMP_exec_KUR_ses(ctx));
	tca_test_assert_rejected(ctx, OSSL_CMP_PKIFAILUREINFO_signerNotTrusted,
	    "certificate revoked");
	/* The failInfo names the reason too: the signer is revoked. */
	assert_true((OSSL_CMP_CTX_get_failInfoCode(ctx) &
	                (1 << OSSL_CMP_PKIFAILUREINFO_certRevoked)) != 0);
	OSSL_CMP_CTX_free(ctx);
	X509_free(cert);
	EVP_PKEY_free(key);
	EVP_PKEY_free(next);
}

/* --poll 2: ip 'waiting', an immediate pollReq answered by a pollRep
 * (try_certreq returns -1 once), then the certificate. */
static void
test_polling_count(void **state)
{
	struct tca_fixture *f = *state;
	struct tca_serve_opts opts = tca_test_default_opts;
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	OSSL_CMP_CTX *ctx;
	int check_after = -1, rv, waits = 0;

	opts.poll = 2;
	opts.check_after = 7;
	tca_test_server_start(f, &opts);
	ctx = tca_test_client_new(f, f->supplier, f->supplier_key);
	tca_test_client_new_key(ctx, key, "polled");
	while ((rv = OSSL_CMP_try_certreq(
	            ctx, OSSL_CMP_IR, NULL, &check_after)) == -1) {
		assert_int_equal(check_after, 7);
		waits++;
	}
	assert_int_equal(rv, 1);
	assert_int_equal(waits, 1);
	assert_non_null(OSSL_CMP_CTX_get0_newCert(ctx));
	OSSL_CMP_CTX_free(ctx);
	EVP_PKEY_free(key);
	tca_test_server_start(f, &tca_test_default_opts);
}

/* A kur signed by a valid certificate whose oldCertID names a revoked
 * one is refused with certRevoked too. */
static void
test_kur_old_cert_revoked(void **state)
{
	struct tca_fixture *f = *state;
	EVP_PKEY *key_a = NULL, *key_b = NULL;
	EVP_PKEY *next = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *a = tca_test_enroll(f, &key_a), *b = tca_test_enroll(f, &key_b);
	OSSL_CMP_CTX *ctx = tca_test_client_new(f, a, key_a);

	assert_true(OSSL_CMP_CTX_set1_oldCert(ctx, a));
	assert_int_equal(OSSL_CMP_exec_RR_ses(ctx), 1);
	OSSL_CMP_CTX_free(ctx);
	ctx = tca_test_client_new(f, b, key_b);
	assert_true(OSSL_CMP_CTX_set1_oldCert(ctx, a));
	tca_test_client_new_key(ctx, next, NULL);
	assert_null(OSSL_CMP_exec_KUR_ses(ctx));
	tca_test_assert_rejected(
	    ctx, OSSL_CMP_PKIFAILUREINFO_certRevoked, "is revoked");
	OSSL_CMP_CTX_free(ctx);
	X509_free(a);
	X509_free(b);
	EVP_PKEY_free(key_a);
	EVP_PKEY_free(key_b);
	EVP_PKEY_free(next);
}

/*
 * A certificate issued with --validity-seconds seconds: its lifetime
 * (notAfter - notBefore), and how far notBefore lies before the moment of
 * issue, which is somewhere between *t0 and *t1.
 */
static void
issued_lifetime(struct tca_fixture *f, long seconds, int *life,
    time_t *not_before, time_t *t0, time_t *t1)
{
	struct tca_serve_opts opts = tca_test_default_opts;
	EVP_PKEY *key = NULL;
	X509 *cert;
	struct tm tm;
	int days = 0, secs = 0;

	opts.validity_seconds = seconds;
	tca_test_server_start(f, &opts);
	*t0 = time(NULL);
	cert = tca_test_enroll(f, &key);
	*t1 = time(NULL);
	assert_true(ASN1_TIME_diff(
	    &days, &secs, X509_get0_notBefore(cert), X509_get0_notAfter(cert)));
	*life = days * 86400 + secs;
	assert_int_equal(ASN1_TIME_to_tm(X509_get0_notBefore(cert), &tm), 1);
	*not_before = timegm(&tm);
	X509_free(cert);
	EVP_PKEY_free(key);
	tca_test_server_start(f, &tca_test_default_opts);
}

/* A 10 s certificate starts 1 s in the past; a day-long one 5 minutes. */
static void
test_validity_seconds(void **state)
{
	int life = 0;
	time_t nb, t0, t1;

	issued_lifetime(*state, 10, &life, &nb, &t0, &t1);
	assert_int_equal(life, 11);
	assert_true(nb + 1 >= t0 && nb + 1 <= t1);
	issued_lifetime(*state, 86400, &life, &nb, &t0, &t1);
	assert_int_equal(life, 86400 + 300);
	assert_true(nb + 300 >= t0 && nb + 300 <= t1);
}

/* A PKCS#10 request for key with subject CN=p10. */
static X509_REQ *
csr_new(EVP_PKEY *key)
{
	X509_REQ *csr = X509_REQ_new();
	X509_NAME *name = X509_REQ_get_subject_name(csr);

	assert_true(X509_NAME_add_entry_by_txt(
	    name, "CN", MBSTRING_ASC, (const unsigned char *)"p10", -1, -1, 0));
	assert_true(X509_REQ_set_pubkey(csr, key));
	assert_true(X509_REQ_sign(csr, key, EVP_sha256()) > 0);
	return csr;
}

/* Runs one request of type op ("ir", "cr", ...) with a valid protection;
 * returns the client context for checks. */
static OSSL_CMP_CTX *
request_one(
    struct tca_fixture *f, const char *op, X509 *cert, EVP_PKEY *key, int *ok)
{
	EVP_PKEY *next = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	int ir = strcmp(op, "ir") == 0, genm = strcmp(op, "genm") == 0;
	OSSL_CMP_CTX *ctx = ir || genm
	    ? tca_test_client_new(f, f->supplier, f->supplier_key)
	    : tca_test_client_new(f, cert, key);
	X509_REQ *csr = NULL;
	STACK_OF(OSSL_CMP_ITAV) *itavs = NULL;

	tca_test_client_new_key(ctx, next, "refusal test");
	if (ir)
		*ok = OSSL_CMP_exec_IR_ses(ctx) != NULL;
	else if (strcmp(op, "cr") == 0)
		*ok = OSSL_CMP_exec_CR_ses(ctx) != NULL;
	else if (strcmp(op, "kur") == 0)
		*ok = OSSL_CMP_exec_KUR_ses(ctx) != NULL;
	else if (strcmp(op, "p10cr") == 0) {
		csr = csr_new(next);
		assert_true(OSSL_CMP_CTX_set1_p10CSR(ctx, csr));
		*ok = OSSL_CMP_exec_P10CR_ses(ctx) != NULL;
	} else if (strcmp(op, "rr") == 0) {
		assert_true(OSSL_CMP_CTX_set1_oldCert(ctx, cert));
		*ok = OSSL_CMP_exec_RR_ses(ctx) == 1;
	} else {
		assert_true(OSSL_CMP_CTX_push0_genm_ITAV(ctx,
		    OSSL_CMP_ITAV_create(
		        OBJ_nid2obj(NID_id_it_caCerts), NULL)));
		itavs = OSSL_CMP_exec_GENM_ses(ctx);
		*ok = itavs != NULL;
	}
	sk_OSSL_CMP_ITAV_pop_free(itavs, OSSL_CMP_ITAV_free);
	X509_REQ_free(csr);
	EVP_PKEY_free(next);
	return ctx;
}

static const char *const all_ops[] = { "ir", "cr", "kur", "p10cr", "rr",
	"genm" };

/* --refuse OP rejects exactly that request type: badRequest, "refused by
 * --refuse" (a genm gets an error message with that status). */
static void
test_refuse_each_type(void **state)
{
	struct tca_fixture *f = *state;
	EVP_PKEY *key = NULL;
	X509 *cert = tca_test_enroll(f, &key);
	OSSL_CMP_CTX *ctx;
	int ok = 0;

	size_t n = sizeof(all_ops) / sizeof(all_ops[0]);

	for (size_t i = 0; i < n; i++) {
		struct tca_serve_opts opts = tca_test_default_opts;

		assert_int_equal(
		    tca_serve_opts_refuse(&opts, all_ops[i]), CMPD_OK);
		tca_test_server_start(f, &opts);
		ctx = request_one(f, all_ops[i], cert, key, &ok);
		assert_false(ok);
		tca_test_assert_rejected(ctx,
		    OSSL_CMP_PKIFAILUREINFO_badRequest, "refused by --refuse");
		OSSL_CMP_CTX_free(ctx);
		/* The other types still work; rr only in the last round,
		 * as it revokes cert. */
		for (size_t j = 0; j < n; j++) {
			if (j == i ||
			    (strcmp(all_ops[j], "rr") == 0 && i != n - 1))
				continue;
			OSSL_CMP_CTX_free(
			    request_one(f, all_ops[j], cert, key, &ok));
			assert_true(ok);
		}
	}
	assert_int_not_equal(
	    tca_serve_opts_refuse(&(struct tca_serve_opts){ 0 }, "certConf"),
	    CMPD_OK);
	tca_test_server_start(f, &tca_test_default_opts);
	X509_free(cert);
	EVP_PKEY_free(key);
}

/* Whether /proc/net/tcp has a socket on 127.0.0.1:port that is not
 * listening: a connection the server closed, lingering. */
static int
port_lingers(uint16_t port)
{
	FILE *fp = fopen("/proc/net/tcp", "r");
	char line[256], want[32];
	int found = 0;

	assert_non_null(fp);
	snprintf(want, sizeof(want), "0100007F:%04X", (unsigned)port);
	while (fgets(line, sizeof(line), fp) != NULL) {
		unsigned st = 0;
		char local[32];

		if (sscanf(line, "%*s %31s %*s %x", local, &st) == 2 &&
		    strcmp(local, want) == 0 && st != 0x0a)
			found = 1;
	}
	fclose(fp);
	return found;
}

/* An HTTP exchange on a connection the client keeps open. */
static int
connect_and_ask(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	const char req[] = "GET /pkix/ HTTP/1.1\r\nHost: x\r\n\r\n";
	char buf[512];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ssize_t n;

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(write(fd, req, sizeof(req) - 1), sizeof(req) - 1);
	n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n > 12);
	buf[n] = '\0';
	assert_non_null(strstr(buf, " 405 "));
	return fd;
}

/* A stopped server's fixed port can be taken again at once, although the
 * server closed a connection that still lingers (SO_REUSEADDR). */
static void
test_http_port_taken_again(void **state)
{
	struct tca_fixture *f = *state;
	struct tca_http *http = NULL;
	uint16_t port = 0, again = 0;
	int fd;

	assert_int_equal(
	    tca_http_start(f->srv, 0, 1, NULL, &http, &port), CMPD_OK);
	fd = connect_and_ask(port);
	tca_http_stop(http);
	assert_true(port_lingers(port));
	http = NULL;
	assert_int_equal(
	    tca_http_start(f->srv, port, 2, NULL, &http, &again), CMPD_OK);
	assert_int_equal(again, port);
	close(connect_and_ask(port));
	tca_http_stop(http);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ir_unsupported_curve),
		cmocka_unit_test(test_p10cr_without_subject),
		cmocka_unit_test(test_ir_unprotected),
		cmocka_unit_test(test_ir_unknown_mac_reference),
		cmocka_unit_test(test_rr_refusals),
		cmocka_unit_test(test_restart_kur_then_revoked),
		cmocka_unit_test(test_kur_old_cert_revoked),
		cmocka_unit_test(test_polling_count),
		cmocka_unit_test(test_validity_seconds),
		cmocka_unit_test(test_refuse_each_type),
		cmocka_unit_test(test_http_port_taken_again),
	};

	return cmocka_run_group_tests(tests, tca_test_setup, tca_test_teardown);
}
