/*
 * Transactions driven through txn.c with software keys against OpenSSL's
 * `openssl cmp -port` mock server on 127.0.0.1 (in a network namespace of
 * the test's own when it runs as root). The mock returns a fixed
 * certificate (rsp.crt), so a request succeeds only with that
 * certificate's key. Also: refusals whose text names the CA's failure
 * bits, the total timeout, and requests refused before anything is sent.
 */
#include <setjmp.h>
#include <signal.h>
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
#include "test_networker_fx.h"
#include "test_networker_util.h"
#include "txn.h"

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
	assert_failed(f, CMPD_ETRANSPORT, "unusable answer from http://");
	assert_non_null(strstr(f->res.error_text,
	    "to our ir: no suitable "
	    "sender cert"));
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
	assert_failed(f, CMPD_EREFUSED,
	    "refused our ir: PKIStatus: rejection; PKIFailureInfo: "
	    "badRequest, certRevoked");
	assert_int_equal(f->res.pki_status, OSSL_CMP_PKISTATUS_rejection);
	assert_int_equal(f->res.fail_info, 1028);
	assert_non_null(strstr(f->res.error_text, f->req->server_url));
	fx_free(f);
}

/* One bit by number, and the CA's statusString, reach the text. */
static void
test_ca_rejection_text(void **state)
{
	struct fx *f = fx_new(MOCK_FULL "-pkistatus 2 -failure 9 "
	                                "-statusstring 'ask the RA first' "
	                                "-max_msgs 1");

	(void)state;
	fx_run(f);
	assert_failed(f, CMPD_EREFUSED,
	    "PKIFailureInfo: badPOP; StatusString: \"ask the RA first\"");
	assert_int_equal(f->res.fail_info, 1u << 9);
	assert_int_equal(f->res.n_texts, 1);
	assert_string_equal(f->res.texts[0], "ask the RA first");
	fx_free(f);
}

/*
 * A CA that answers 'waiting' with a checkAfter beyond the total time
 * left: OpenSSL gives up (it keeps 5 s for the last round trip).
 */
static void
test_total_timeout(void **state)
{
	struct fx *f = fx_new(MOCK_FULL "-poll_count 5 -check_after 30");

	(void)state;
	f->req->total_timeout = 3;
	fx_run(f);
	assert_failed(f, CMPD_ETIMEDOUT,
	    "ran out of its total time (3 s) at our pollReq");
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
	f->req->old_cert = nwt_der_load("rsp.crt");
	EVP_PKEY_free(f->prot);
	f->prot = nwt_key_load("rsp.key");
	fx_run(f);
	assert_done(f);
	/* The mock checks oldCertID: it names rsp.crt. */
	fx_free(f);
}

/* P10CR: a PKCS#10 request for rsp's key, signed with it. */
static void
test_p10cr_ok(void **state)
{
	struct fx *f = fx_new(MOCK_FULL "-max_msgs 2");

	(void)state;
	f->req->op = CMPD__CMP_OP__CMP_OP_P10CR;
	f->req->p10cr = 1;
	f->req->sans = calloc(1, sizeof(char *));
	f->req->sans[f->req->n_sans++] = strdup("DNS:device.example");
	fx_run(f);
	assert_done(f);
	fx_free(f);
}

/* RR of old_cert with a reason: the mock revokes only rsp. */
static void
test_rr(void **state)
{
	static const char *const rsp[] = { "rsp.crt" };
	struct fx *f = fx_new(MOCK_SIG "-max_msgs 2");

	(void)state;
	f->req->op = CMPD__CMP_OP__CMP_OP_RR;
	f->req->old_cert = nwt_der_load("sup.crt");
	f->req->revocation_reason = 4; /* superseded */
	EVP_PKEY_free(f->new_key);
	f->new_key = NULL;
	fx_run(f);
	assert_failed(f, CMPD_EREFUSED, "refused our rr: PKIStatus: rejection");
	nw_txn_free(f->txn);
	f->txn = NULL;
	nwt_req_certs_set(
	    &f->req->protection_certs, &f->req->n_protection_certs, rsp, 1);
	free(f->req->old_cert.data);
	f->req->old_cert = nwt_der_load("rsp.crt");
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
	f->req->genm_type = CMPD__GENM_TYPE__GENM_CA_CERTS;
	EVP_PKEY_free(f->new_key);
	f->new_key = NULL;
	fx_run(f);
	if (f->res.result != CMPD__TXN_RESULT__TXN_DONE)
		fail_msg("%s", f->res.error_text);
	assert_true(f->res.has_genm);
	assert_true(f->res.genm.empty);
	assert_int_equal(f->res.genm.type, CMPD__GENM_TYPE__GENM_CA_CERTS);
	assert_null(f->res.genm.ca_certs);
	assert_true(nwt_mock_log_has("Received request"));
	fx_free(f);
}

/* The mock echoes rootCaCert: no rootCaKeyUpdate, an unusable answer. */
static void
test_genm_wrong_answer(void **state)
{
	struct fx *f = fx_new(MOCK_SIG "-max_msgs 1");

	(void)state;
	f->req->op = CMPD__CMP_OP__CMP_OP_GENM;
	f->req->genm_type = CMPD__GENM_TYPE__GENM_ROOT_CA_KEY_UPDATE;
	EVP_PKEY_free(f->new_key);
	f->new_key = NULL;
	fx_run(f);
	assert_failed(f, CMPD_ETRANSPORT, "no value of the type asked for");
	assert_false(f->res.has_genm);
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
		{ "http://h:1/p?q=1", NULL, NULL, "user, query or fragment",
		    CMPD__CMP_OP__CMP_OP_IR },
		{ NULL, "/CN=a/XX=b", NULL, "bad subject",
		    CMPD__CMP_OP__CMP_OP_P10CR },
		{ NULL, NULL, "IP:1.2.3", "bad subjectAltName",
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
		cmocka_unit_test(test_no_enroll_anchors),
		cmocka_unit_test(test_wrong_enroll_anchor),
		cmocka_unit_test(test_trust_capubs),
		cmocka_unit_test(test_kur_ok),
		cmocka_unit_test(test_p10cr_ok),
		cmocka_unit_test(test_rr),
		cmocka_unit_test(test_genm),
		cmocka_unit_test(test_genm_wrong_answer),
		cmocka_unit_test(test_ca_rejection_text),
		cmocka_unit_test(test_total_timeout),
		cmocka_unit_test(test_ed25519_protection_refused),
		cmocka_unit_test(test_key_not_of_cert),
		cmocka_unit_test(test_bad_der_refused),
		cmocka_unit_test(test_bad_inputs_refused),
	};
	int isolated, rv;

	cmpd_log_init("test_networker_txn", CMPD_LOG_DEBUG);
	/* As cmpd-networker does: a peer's close fails a write (EPIPE). */
	signal(SIGPIPE, SIG_IGN);
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
