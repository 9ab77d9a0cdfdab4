/*
 * Transactions driven through txn.c with software keys against OpenSSL's
 * `openssl cmp -port` mock server on 127.0.0.1 (in a network namespace of
 * the test's own when it runs as root). The mock returns a fixed
 * certificate (rsp.crt), so a request succeeds only with that
 * certificate's key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/cmp.h>

#include "log.h"
#include "test_networker_util.h"
#include "txn.h"

/* The mock's common arguments: signer, trust, fixed answer. */
#define MOCK_SIG                                                    \
	"-srv_cert srv.crt -srv_key srv.key -srv_trusted root.crt " \
	"-rsp_cert rsp.crt "
#define MOCK_FULL MOCK_SIG "-rsp_extracerts root.crt -rsp_capubs root.crt "

struct fx {
	pid_t mock;
	int port;
	Cmpd__TxnStartReq *req;
	EVP_PKEY *prot, *new_key;
	struct nw_txn *txn;
	struct nw_txn_result res;
	char why[512];
};

static struct fx *
fx_new(const char *mock_args)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->port = 1; /* nothing listens there */
	if (mock_args != NULL) {
		f->port = nwt_mock_start(mock_args, &f->mock);
		assert_true(f->port > 0);
	}
	f->req = nwt_req_new(f->port);
	f->prot = nwt_key_load("sup.key");
	f->new_key = nwt_key_load("rsp.key");
	assert_non_null(f->prot);
	assert_non_null(f->new_key);
	nw_txn_result_init(&f->res);
	return f;
}

static void
fx_free(struct fx *f)
{
	nw_txn_result_fini(&f->res);
	nw_txn_free(f->txn);
	EVP_PKEY_free(f->prot);
	EVP_PKEY_free(f->new_key);
	nwt_req_free(f->req);
	if (f->mock > 0)
		nwt_mock_stop(f->mock);
	free(f);
}

static cmpd_err
fx_prepare(struct fx *f)
{
	return nw_txn_new(
	    NULL, f->req, f->prot, f->new_key, &f->txn, f->why, sizeof(f->why));
}

/* Prepares and runs one step. */
static void
fx_run(struct fx *f)
{
	assert_int_equal(fx_prepare(f), CMPD_OK);
	nw_txn_result_fini(&f->res);
	nw_txn_step(f->txn, &f->res);
}

static void
assert_failed(struct fx *f, cmpd_err code, const char *text)
{
	if (f->res.result != CMPD__TXN_RESULT__TXN_FAILED ||
	    f->res.error != code || strstr(f->res.error_text, text) == NULL)
		fail_msg("result %d error %d \"%s\"; wanted error %d with "
		         "\"%s\"",
		    f->res.result, f->res.error, f->res.error_text, code, text);
}

static void
assert_done(struct fx *f)
{
	if (f->res.result != CMPD__TXN_RESULT__TXN_DONE)
		fail_msg("result %d error %d \"%s\"", f->res.result,
		    f->res.error, f->res.error_text);
	assert_true(nwt_cert_is(f->res.cert, "rsp.crt"));
}

/* IR protected by the supplier certificate, new key = rsp's key. */
static void
test_ir_signature_ok(void **state)
{
	struct fx *f = fx_new(MOCK_FULL "-max_msgs 2");

	(void)state;
	/* Proxies come from the request only, never the environment. */
	setenv("http_proxy", "http://127.0.0.1:9/", 1);
	fx_run(f);
	unsetenv("http_proxy");
	assert_done(f);
	assert_int_equal(f->res.pki_status, OSSL_CMP_PKISTATUS_accepted);
	/* The chain ends with the configured anchor; caPubs as sent. */
	assert_int_equal(sk_X509_num(f->res.chain), 1);
	assert_true(nwt_cert_is(sk_X509_value(f->res.chain, 0), "root.crt"));
	assert_int_equal(sk_X509_num(f->res.ca_pubs), 1);
	assert_true(nwt_cert_is(sk_X509_value(f->res.ca_pubs, 0), "root.crt"));
	assert_false(nw_txn_waiting(f->txn));
	fx_free(f);
}

/* A fresh key: the mock's fixed certificate does not carry it. */
static void
test_ir_fresh_key_rejected(void **state)
{
	struct fx *f = fx_new(MOCK_FULL "-max_msgs 2");

	(void)state;
	EVP_PKEY_free(f->new_key);
	f->new_key = nwt_key_load("fresh.key");
	fx_run(f);
	assert_failed(f, CMPD_EBADCERT,
	    "rejected (incorrectData): public key in new certificate does not "
	    "match our enrollment key");
	/* The CA had accepted; it is we who refuse. */
	assert_int_equal(f->res.pki_status, OSSL_CMP_PKISTATUS_accepted);
	/* The rejecting certConf reached the mock (its second message). */
	assert_true(nwt_mock_log_has("certificate rejected by client"));
	fx_free(f);
}

static void
test_ir_pbm_ok(void **state)
{
	struct fx *f = fx_new("-srv_secret pass:1234-5678 -srv_ref server-ref "
	                      "-rsp_cert rsp.crt -max_msgs 2");

	(void)state;
	nwt_req_mac_set(f->req, "1234-5678", "device-0001");
	EVP_PKEY_free(f->prot);
	f->prot = NULL;
	fx_run(f);
	assert_done(f);
	fx_free(f);
}

static void
test_ir_pbm_wrong_secret(void **state)
{
	struct fx *f = fx_new("-srv_secret pass:1234-5678 -srv_ref server-ref "
	                      "-rsp_cert rsp.crt -max_msgs 2");

	(void)state;
	nwt_req_mac_set(f->req, "wrong-secret", "device-0001");
	EVP_PKEY_free(f->prot);
	f->prot = NULL;
	fx_run(f);
	assert_int_equal(f->res.result, CMPD__TXN_RESULT__TXN_FAILED);
	assert_int_equal(f->res.error, CMPD_ETRANSPORT);
	assert_non_null(strstr(f->res.error_text, "pbm"));
	fx_free(f);
}

/* -poll_count 2: waiting after the first step, done after the second. */
static void
test_ir_polling(void **state)
{
	struct fx *f = fx_new(MOCK_FULL "-poll_count 2 -check_after 1 "
	                                "-max_msgs 4");

	(void)state;
	fx_run(f);
	if (f->res.result != CMPD__TXN_RESULT__TXN_WAITING)
		fail_msg("result %d: %s", f->res.result, f->res.error_text);
	assert_int_equal(f->res.check_after, 1);
	assert_true(nw_txn_waiting(f->txn));
	sleep(1);
	nw_txn_result_fini(&f->res);
	nw_txn_step(f->txn, &f->res);
	assert_done(f);
	fx_free(f);
}

/* Giving up a waiting transaction sends the CA an error message. */
static void
test_ir_polling_abort(void **state)
{
	struct fx *f = fx_new(MOCK_FULL "-poll_count 5 -check_after 1");

	(void)state;
	fx_run(f);
	assert_int_equal(f->res.result, CMPD__TXN_RESULT__TXN_WAITING);
	nw_txn_abort(f->txn);
	assert_false(nw_txn_waiting(f->txn));
	usleep(200000);
	assert_true(nwt_mock_log_has("received error"));
	fx_free(f);
}

static void
test_unprotected_response(void **state)
{
	struct fx *f = fx_new(MOCK_FULL "-send_unprotected -max_msgs 1");

	(void)state;
	fx_run(f);
	assert_failed(f, CMPD_ETRANSPORT, "missing protection");
	fx_free(f);
}

/* The mock's signer chains to root; we trust only another CA. */
static void
test_untrusted_signer(void **state)
{
	static const char *const other[] = { "other.crt" };
	struct fx *f = fx_new(MOCK_FULL "-max_msgs 1");

	(void)state;
	nwt_req_certs_set(&f->req->trusted, &f->req->n_trusted, other, 1);
	fx_run(f);
	assert_failed(f, CMPD_ETRANSPORT, "unusable response from http://");
	fx_free(f);
}

/* The CA refuses: its status, bits and text reach the result. */
static void
test_ca_rejection(void **state)
{
	struct fx *f = fx_new(MOCK_FULL "-pkistatus 2 -failurebits 1028 "
	                                "-max_msgs 1");

	(void)state;
	fx_run(f);
	assert_failed(f, CMPD_EREFUSED, "CA refused the request: ");
	assert_int_equal(f->res.pki_status, OSSL_CMP_PKISTATUS_rejection);
	assert_int_equal(f->res.fail_info, 1028);
	assert_non_null(strstr(f->res.error_text, "rejection"));
	fx_free(f);
}

static void
test_unreachable(void **state)
{
	struct fx *f = fx_new(NULL);

	(void)state;
	fx_run(f);
	assert_failed(f, CMPD_ETRANSPORT,
	    "cannot reach http://127.0.0.1:1/pkix/: Connection refused");
	assert_int_equal(f->res.pki_status, -1);
	fx_free(f);
}

/* Without anchors for the new certificate nothing is confirmed. */
static void
test_no_enroll_anchors(void **state)
{
	struct fx *f = fx_new(MOCK_FULL "-max_msgs 2");

	(void)state;
	nwt_req_certs_set(
	    &f->req->enroll_trusted, &f->req->n_enroll_trusted, NULL, 0);
	fx_run(f);
	assert_failed(f, CMPD_EBADCERT,
	    "rejected (signerNotTrusted): no trust anchors configured");
	fx_free(f);
}

/* The new certificate must chain to the configured anchor. */
static void
test_wrong_enroll_anchor(void **state)
{
	static const char *const other[] = { "other.crt" };
	struct fx *f = fx_new(MOCK_FULL "-max_msgs 2");

	(void)state;
	nwt_req_certs_set(
	    &f->req->enroll_trusted, &f->req->n_enroll_trusted, other, 1);
	fx_run(f);
	assert_failed(f, CMPD_EBADCERT, "does not chain");
	fx_free(f);
}

/* caPubs complete the chain only when the profile trusts them. */
static void
test_trust_capubs(void **state)
{
	struct fx *f = fx_new(MOCK_FULL "-max_msgs 2");

	(void)state;
	nwt_req_certs_set(
	    &f->req->enroll_trusted, &f->req->n_enroll_trusted, NULL, 0);
	f->req->trust_capubs = 1;
	fx_run(f);
	assert_done(f);
	assert_true(nwt_cert_is(sk_X509_value(f->res.chain, 0), "root.crt"));
	fx_free(f);
}

/* KUR protected by the current certificate, which the mock re-issues. */
static void
test_kur_ok(void **state)
{
	static const char *const rsp[] = { "rsp.crt" };
	struct fx *f = fx_new(MOCK_SIG "-max_msgs 2");

	(void)state;
	f->req->op = CMPD__CMP_OP__CMP_OP_KUR;
	nwt_req_certs_set(
	    &f->req->protection_certs, &f->req->n_protection_certs, rsp, 1);
	EVP_PKEY_free(f->prot);
	f->prot = nwt_key_load("rsp.key");
	fx_run(f);
	assert_done(f);
	fx_free(f);
}

/* RR of the certificate that protects it: the mock revokes only rsp. */
static void
test_rr(void **state)
{
	static const char *const rsp[] = { "rsp.crt" };
	struct fx *f = fx_new(MOCK_SIG "-max_msgs 2");

	(void)state;
	f->req->op = CMPD__CMP_OP__CMP_OP_RR;
	EVP_PKEY_free(f->new_key);
	f->new_key = NULL;
	fx_run(f);
	assert_failed(f, CMPD_EREFUSED, "CA refused the request: ");
	nw_txn_free(f->txn);
	f->txn = NULL;
	nwt_req_certs_set(
	    &f->req->protection_certs, &f->req->n_protection_certs, rsp, 1);
	EVP_PKEY_free(f->prot);
	f->prot = nwt_key_load("rsp.key");
	fx_run(f);
	if (f->res.result != CMPD__TXN_RESULT__TXN_DONE)
		fail_msg("%s", f->res.error_text);
	assert_null(f->res.cert);
	assert_int_equal(f->res.pki_status, OSSL_CMP_PKISTATUS_accepted);
	fx_free(f);
}

/* GENM caCerts: the mock echoes the request's ITAV, which has no value. */
static void
test_genm(void **state)
{
	struct fx *f = fx_new(MOCK_SIG "-max_msgs 1");

	(void)state;
	f->req->op = CMPD__CMP_OP__CMP_OP_GENM;
	EVP_PKEY_free(f->new_key);
	f->new_key = NULL;
	fx_run(f);
	if (f->res.result != CMPD__TXN_RESULT__TXN_DONE)
		fail_msg("%s", f->res.error_text);
	assert_int_equal(sk_X509_num(f->res.ca_pubs), 0);
	assert_true(nwt_mock_log_has("Received request"));
	fx_free(f);
}

static void
test_https_refused(void **state)
{
	struct fx *f = fx_new(NULL);

	(void)state;
	free(f->req->server_url);
	f->req->server_url = strdup("https://127.0.0.1:1/pkix/");
	assert_int_equal(fx_prepare(f), CMPD_EINVAL);
	assert_non_null(strstr(f->why, "https is not supported yet"));
	assert_null(f->txn);
	fx_free(f);
}

static void
test_ed25519_protection_refused(void **state)
{
	static const char *const ed[] = { "sup_ed.crt" };
	struct fx *f = fx_new(NULL);

	(void)state;
	nwt_req_certs_set(
	    &f->req->protection_certs, &f->req->n_protection_certs, ed, 1);
	EVP_PKEY_free(f->prot);
	f->prot = nwt_key_load("sup_ed.key");
	assert_int_equal(fx_prepare(f), CMPD_EINVAL);
	assert_non_null(strstr(f->why, "ED25519 keys cannot protect"));
	fx_free(f);
}

static void
test_key_not_of_cert(void **state)
{
	struct fx *f = fx_new(NULL);

	(void)state;
	EVP_PKEY_free(f->prot);
	f->prot = nwt_key_load("fresh.key");
	assert_int_equal(fx_prepare(f), CMPD_EINVAL);
	assert_non_null(strstr(f->why, "not the key of its certificate"));
	fx_free(f);
}

/* Certificates that do not decode, or carry trailing bytes. */
static void
test_bad_der_refused(void **state)
{
	struct fx *f = fx_new(NULL);
	ProtobufCBinaryData *d = &f->req->trusted[0];

	(void)state;
	d->data[4] ^= 0xff;
	assert_int_equal(fx_prepare(f), CMPD_EINVAL);
	assert_non_null(strstr(f->why, "trusted[0] is not a DER certificate"));
	d->data[4] ^= 0xff;
	d->data = realloc(d->data, d->len + 1);
	d->data[d->len++] = 0;
	assert_int_equal(fx_prepare(f), CMPD_EINVAL);
	assert_non_null(strstr(f->why, "trusted[0] is not a DER certificate"));
	d->len--;
	assert_int_equal(fx_prepare(f), CMPD_OK);
	fx_free(f);
}

static void
test_bad_inputs_refused(void **state)
{
	static const struct {
		const char *url, *subject, *san, *want;
		Cmpd__CmpOp op;
	} cases[] = {
		{ "ftp://x/", NULL, NULL, "must start with http://",
		    CMPD__CMP_OP__CMP_OP_IR },
		{ "http://u@h:1/p", NULL, NULL, "user, query or fragment",
		    CMPD__CMP_OP__CMP_OP_IR },
		{ NULL, "CN=x", NULL, "bad subject", CMPD__CMP_OP__CMP_OP_IR },
		{ NULL, NULL, "DNS:", "bad subjectAltName",
		    CMPD__CMP_OP__CMP_OP_IR },
		{ NULL, NULL, NULL, "not supported yet",
		    CMPD__CMP_OP__CMP_OP_P10CR },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fx *f = fx_new(NULL);

		if (cases[i].url != NULL) {
			free(f->req->server_url);
			f->req->server_url = strdup(cases[i].url);
		}
		if (cases[i].subject != NULL) {
			free(f->req->subject);
			f->req->subject = strdup(cases[i].subject);
		}
		if (cases[i].san != NULL) {
			f->req->sans = calloc(1, sizeof(char *));
			f->req->sans[0] = strdup(cases[i].san);
			f->req->n_sans = 1;
		}
		f->req->op = cases[i].op;
		assert_int_equal(fx_prepare(f), CMPD_EINVAL);
		if (strstr(f->why, cases[i].want) == NULL)
			fail_msg("case %zu: \"%s\"", i, f->why);
		fx_free(f);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ir_signature_ok),
		cmocka_unit_test(test_ir_fresh_key_rejected),
		cmocka_unit_test(test_ir_pbm_ok),
		cmocka_unit_test(test_ir_pbm_wrong_secret),
		cmocka_unit_test(test_ir_polling),
		cmocka_unit_test(test_ir_polling_abort),
		cmocka_unit_test(test_unprotected_response),
		cmocka_unit_test(test_untrusted_signer),
		cmocka_unit_test(test_ca_rejection),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_no_enroll_anchors),
		cmocka_unit_test(test_wrong_enroll_anchor),
		cmocka_unit_test(test_trust_capubs),
		cmocka_unit_test(test_kur_ok),
		cmocka_unit_test(test_rr),
		cmocka_unit_test(test_genm),
		cmocka_unit_test(test_https_refused),
		cmocka_unit_test(test_ed25519_protection_refused),
		cmocka_unit_test(test_key_not_of_cert),
		cmocka_unit_test(test_bad_der_refused),
		cmocka_unit_test(test_bad_inputs_refused),
	};
	int isolated, rv;

	cmpd_log_init("test_networker_txn", CMPD_LOG_DEBUG);
	isolated = nwt_netns_enter();
	fprintf(stderr, "network namespace of its own: %s\n",
	    isolated ? "yes" : "no (the mock binds all interfaces)");
	if (nwt_pki_make() == NULL) {
		fprintf(stderr, "cannot make the test PKI\n");
		return 1;
	}
	rv = cmocka_run_group_tests(tests, NULL, NULL);
	nwt_pki_remove();
	return rv;
}
