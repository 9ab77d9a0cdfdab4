/*
 * The signer's checks, with real CMP structures built by OpenSSL's CMP
 * client (and answered by an in-process OpenSSL CMP server where certConf
 * and pollReq are needed): what a grant allows is signed and verifies,
 * everything else is refused with a precise reason. The TLS client key
 * signs only the content of a TLS 1.3 client CertificateVerify.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <openssl/cmp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grant.h"
#include "keystore.h"
#include "sign.h"
#include "test_keyworker_util.h"

#define JOB   "0123456789abcdef"
#define OTHER "fedcba9876543210"

/* The keys of the tests: role names, not types. */
enum { K_PROT, K_NEW, K_OTHER, K_ED, K_RSA, K_P384, K_MAX };

struct fixture {
	char *tmp;
	struct kw_keystore *ks;
	struct kw_grants *gs;
	char id[K_MAX][CMPD_KEY_ID_LEN + 1];
	EVP_PKEY *priv[K_MAX];
	X509 *cert[K_MAX];
	uint8_t txid[KW_TXID_LEN];
	uint8_t txid2[KW_TXID_LEN];
};

static const Cmpd__KeyType fixture_types[K_MAX] = {
	CMPD__KEY_TYPE__KEY_EC_P256,
	CMPD__KEY_TYPE__KEY_EC_P256,
	CMPD__KEY_TYPE__KEY_EC_P256,
	CMPD__KEY_TYPE__KEY_ED25519,
	CMPD__KEY_TYPE__KEY_RSA_2048,
	CMPD__KEY_TYPE__KEY_EC_P384,
};

static int
group_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char dir[4096];
	struct kw_why why;

	f->tmp = kwt_tmpdir();
	snprintf(dir, sizeof(dir), "%s/keys", f->tmp);
	assert_int_equal(kw_keystore_open(dir, &f->ks), CMPD_OK);
	for (int i = 0; i < K_MAX; i++) {
		const struct kw_key *k;

		assert_int_equal(
		    kw_keystore_generate(f->ks, fixture_types[i], &k, &why),
		    CMPD_OK);
		memcpy(f->id[i], k->id, sizeof(f->id[i]));
		assert_int_equal(
		    kw_keystore_load(f->ks, f->id[i], &f->priv[i], &why),
		    CMPD_OK);
		f->cert[i] = kwt_selfsigned(f->priv[i], "kwtest device");
		assert_non_null(f->cert[i]);
	}
	RAND_bytes(f->txid, sizeof(f->txid));
	RAND_bytes(f->txid2, sizeof(f->txid2));
	*state = f;
	return 0;
}

static int
group_teardown(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < K_MAX; i++) {
		EVP_PKEY_free(f->priv[i]);
		X509_free(f->cert[i]);
	}
	kw_keystore_free(f->ks);
	kwt_rmtree(f->tmp);
	free(f->tmp);
	free(f);
	return 0;
}

static int
setup(void **state)
{
	struct fixture *f = *state;

	return kw_grants_new(&f->gs) == CMPD_OK ? 0 : -1;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	kw_grants_free(f->gs);
	f->gs = NULL;
	return 0;
}

/* Grants job op with keys (-1: none) and transaction id txid. */
static cmpd_err
grant_tls(struct fixture *f, const char *job, Cmpd__CmpOp op, int prot,
    int newk, int tls, struct kw_why *why)
{
	Cmpd__GrantReq req = CMPD__GRANT_REQ__INIT;

	req.job_id = (char *)job;
	req.op = op;
	req.transaction_id.data = f->txid;
	req.transaction_id.len = KW_TXID_LEN;
	req.protection_key_id = prot >= 0 ? f->id[prot] : "";
	req.new_key_id = newk >= 0 ? f->id[newk] : "";
	req.tls_key_id = tls >= 0 ? f->id[tls] : "";
	assert_int_equal(kw_grant_req_check(&req, why), CMPD_OK);
	return kw_grant_set(f->gs, f->ks, &req, why);
}

static void
grant(struct fixture *f, const char *job, Cmpd__CmpOp op, int prot, int newk,
    const uint8_t *txid)
{
	Cmpd__GrantReq req = CMPD__GRANT_REQ__INIT;
	struct kw_why why;

	req.job_id = (char *)job;
	req.op = op;
	req.transaction_id.data = (uint8_t *)txid;
	req.transaction_id.len = KW_TXID_LEN;
	req.protection_key_id = prot >= 0 ? f->id[prot] : "";
	req.new_key_id = newk >= 0 ? f->id[newk] : "";
	assert_int_equal(kw_grant_req_check(&req, &why), CMPD_OK);
	assert_int_equal(kw_grant_set(f->gs, f->ks, &req, &why), CMPD_OK);
}

/* Asks to sign; on success checks the signature with the key's SPKI. */
static cmpd_err
sign(struct fixture *f, const char *job, int key, const char *digest,
    const uint8_t *tbs, size_t len, struct kw_why *why)
{
	Cmpd__SignReq req = CMPD__SIGN_REQ__INIT;
	const struct kw_key *k = kw_keystore_find(f->ks, f->id[key]);
	uint8_t *sig = NULL;
	size_t siglen = 0;
	cmpd_err rv;

	req.job_id = (char *)job;
	req.key_id = f->id[key];
	req.digest = (char *)digest;
	req.tbs.data = (uint8_t *)tbs;
	req.tbs.len = len;
	assert_int_equal(kw_sign_req_check(&req, why), CMPD_OK);
	rv = kw_sign(f->gs, &req, &sig, &siglen, why);
	if (rv == CMPD_OK) {
		assert_true(kwt_verify(
		    k->spki, k->spki_len, digest, tbs, len, sig, siglen));
		free(sig);
	} else {
		assert_null(sig);
	}
	return rv;
}

static void
assert_refused(struct fixture *f, const char *job, int key, const char *digest,
    const uint8_t *tbs, size_t len, const char *reason)
{
	struct kw_why why;

	assert_int_equal(sign(f, job, key, digest, tbs, len, &why), CMPD_EPERM);
	if (strstr(why.text, reason) == NULL)
		fail_msg("refusal \"%s\" lacks \"%s\"", why.text, reason);
}

static void
assert_signed(struct fixture *f, const char *job, int key, const char *digest,
    const uint8_t *tbs, size_t len)
{
	struct kw_why why;
	cmpd_err rv = sign(f, job, key, digest, tbs, len, &why);

	if (rv != CMPD_OK)
		fail_msg("refused: %s", why.text);
}

/* A request message of OpenSSL's client, captured. */
static struct kwt_msgs
request(
    struct fixture *f, Cmpd__CmpOp op, int prot, int newk, const uint8_t *txid)
{
	struct kwt_cmp c = { .op = op, .txid = txid };
	struct kwt_msgs m;

	if (prot >= 0) {
		c.prot_key = f->priv[prot];
		c.prot_cert = f->cert[prot];
	}
	if (newk >= 0) {
		c.new_key = f->priv[newk];
		c.new_priv = 1;
	}
	assert_int_equal(kwt_cmp_run(&c, &m), 0);
	return m;
}

static void
test_protected_part_signed(void **state)
{
	struct fixture *f = *state;
	struct kwt_msgs m =
	    request(f, CMPD__CMP_OP__CMP_OP_IR, K_PROT, K_NEW, f->txid);
	size_t len;
	uint8_t *pp = kwt_protected_part(m.der[0], m.len[0], &len);

	assert_int_equal(m.type[0], KW_BODY_IR);
	grant(f, JOB, CMPD__CMP_OP__CMP_OP_IR, K_PROT, K_NEW, f->txid);
	assert_signed(f, JOB, K_PROT, "SHA256", pp, len);
	assert_signed(f, JOB, K_PROT, "SHA384", pp, len);
	assert_signed(f, JOB, K_PROT, "SHA512", pp, len);
	free(pp);
	kwt_msgs_free(&m);
}

static void
test_cert_request_signed(void **state)
{
	struct fixture *f = *state;
	struct kwt_msgs m =
	    request(f, CMPD__CMP_OP__CMP_OP_CR, K_PROT, K_NEW, f->txid);
	const uint8_t *cr;
	size_t len;

	assert_int_equal(kwt_cert_request(m.der[0], m.len[0], &cr, &len), 0);
	grant(f, JOB, CMPD__CMP_OP__CMP_OP_CR, K_PROT, K_NEW, f->txid);
	assert_signed(f, JOB, K_NEW, "SHA256", cr, len);
	/* The protection key has no CertRequest to sign. */
	assert_refused(
	    f, JOB, K_PROT, "SHA256", cr, len, "not a ProtectedPart");
	kwt_msgs_free(&m);
}

static void
test_wrong_transaction_id(void **state)
{
	struct fixture *f = *state;
	struct kwt_msgs m =
	    request(f, CMPD__CMP_OP__CMP_OP_IR, K_PROT, K_NEW, f->txid2);
	size_t len;
	uint8_t *pp = kwt_protected_part(m.der[0], m.len[0], &len);

	grant(f, JOB, CMPD__CMP_OP__CMP_OP_IR, K_PROT, K_NEW, f->txid);
	assert_refused(f, JOB, K_PROT, "SHA256", pp, len,
	    "transactionID does not match the grant");
	free(pp);
	kwt_msgs_free(&m);
}

static void
test_body_type_not_allowed(void **state)
{
	struct fixture *f = *state;
	struct kwt_msgs genm =
	    request(f, CMPD__CMP_OP__CMP_OP_GENM, K_PROT, -1, f->txid);
	struct kwt_msgs ir =
	    request(f, CMPD__CMP_OP__CMP_OP_IR, K_PROT, K_NEW, f->txid);
	size_t glen, ilen;
	uint8_t *gpp = kwt_protected_part(genm.der[0], genm.len[0], &glen);
	uint8_t *ipp = kwt_protected_part(ir.der[0], ir.len[0], &ilen);

	grant(f, JOB, CMPD__CMP_OP__CMP_OP_IR, K_PROT, K_NEW, f->txid);
	assert_refused(f, JOB, K_PROT, "SHA256", gpp, glen,
	    "body type genm not allowed for IR");
	grant(f, JOB, CMPD__CMP_OP__CMP_OP_CR, K_PROT, K_NEW, f->txid);
	assert_refused(f, JOB, K_PROT, "SHA256", ipp, ilen,
	    "body type ir not allowed for CR");
	grant(f, JOB, CMPD__CMP_OP__CMP_OP_RR, K_PROT, -1, f->txid);
	assert_refused(f, JOB, K_PROT, "SHA256", ipp, ilen,
	    "body type ir not allowed for RR");
	grant(f, JOB, CMPD__CMP_OP__CMP_OP_GENM, K_PROT, -1, f->txid);
	assert_signed(f, JOB, K_PROT, "SHA256", gpp, glen);
	free(gpp);
	free(ipp);
	kwt_msgs_free(&genm);
	kwt_msgs_free(&ir);
}

static void
test_rr_signed(void **state)
{
	struct fixture *f = *state;
	struct kwt_msgs m =
	    request(f, CMPD__CMP_OP__CMP_OP_RR, K_PROT, -1, f->txid);
	size_t len;
	uint8_t *pp = kwt_protected_part(m.der[0], m.len[0], &len);

	assert_int_equal(m.type[0], KW_BODY_RR);
	grant(f, JOB, CMPD__CMP_OP__CMP_OP_RR, K_PROT, -1, f->txid);
	assert_signed(f, JOB, K_PROT, "SHA256", pp, len);
	grant(f, JOB, CMPD__CMP_OP__CMP_OP_GENM, K_PROT, -1, f->txid);
	assert_refused(f, JOB, K_PROT, "SHA256", pp, len,
	    "body type rr not allowed for GENM");
	free(pp);
	kwt_msgs_free(&m);
}

static void
test_key_not_in_grant(void **state)
{
	struct fixture *f = *state;
	struct kwt_msgs m =
	    request(f, CMPD__CMP_OP__CMP_OP_IR, K_OTHER, K_NEW, f->txid);
	size_t len;
	uint8_t *pp = kwt_protected_part(m.der[0], m.len[0], &len);

	grant(f, JOB, CMPD__CMP_OP__CMP_OP_IR, K_PROT, K_NEW, f->txid);
	assert_refused(
	    f, JOB, K_OTHER, "SHA256", pp, len, "key not in the job's grant");
	free(pp);
	kwt_msgs_free(&m);
}

static void
test_no_grant_and_grant_ended(void **state)
{
	struct fixture *f = *state;
	struct kwt_msgs m =
	    request(f, CMPD__CMP_OP__CMP_OP_IR, K_PROT, K_NEW, f->txid);
	size_t len;
	uint8_t *pp = kwt_protected_part(m.der[0], m.len[0], &len);

	assert_refused(f, JOB, K_PROT, "SHA256", pp, len, "no grant");
	grant(f, JOB, CMPD__CMP_OP__CMP_OP_IR, K_PROT, K_NEW, f->txid);
	assert_refused(f, OTHER, K_PROT, "SHA256", pp, len, "no grant");
	assert_signed(f, JOB, K_PROT, "SHA256", pp, len);
	assert_int_equal(kw_grant_end(f->gs, JOB), 1);
	assert_int_equal(kw_grant_end(f->gs, JOB), 0);
	assert_refused(f, JOB, K_PROT, "SHA256", pp, len, "no grant");
	free(pp);
	kwt_msgs_free(&m);
}

static void
test_cert_request_of_another_key(void **state)
{
	struct fixture *f = *state;
	struct kwt_msgs m =
	    request(f, CMPD__CMP_OP__CMP_OP_IR, K_PROT, K_OTHER, f->txid);
	const uint8_t *cr;
	size_t len;

	assert_int_equal(kwt_cert_request(m.der[0], m.len[0], &cr, &len), 0);
	grant(f, JOB, CMPD__CMP_OP__CMP_OP_IR, K_PROT, K_NEW, f->txid);
	assert_refused(f, JOB, K_NEW, "SHA256", cr, len,
	    "CertRequest public key is not the key's own");
	kwt_msgs_free(&m);
}

static void
test_random_bytes_and_trailing_garbage(void **state)
{
	struct fixture *f = *state;
	struct kwt_msgs m =
	    request(f, CMPD__CMP_OP__CMP_OP_IR, K_PROT, K_NEW, f->txid);
	uint8_t junk[200], *pp, *more;
	const uint8_t *cr;
	size_t len, crlen;

	grant(f, JOB, CMPD__CMP_OP__CMP_OP_IR, K_PROT, K_NEW, f->txid);
	RAND_bytes(junk, sizeof(junk));
	assert_refused(f, JOB, K_PROT, "SHA256", junk, sizeof(junk),
	    "not a ProtectedPart");
	assert_refused(
	    f, JOB, K_NEW, "SHA256", junk, sizeof(junk), "not a CertRequest");
	/* A DER SEQUENCE of random contents. */
	junk[0] = 0x30;
	junk[1] = 0x81;
	junk[2] = sizeof(junk) - 3;
	assert_refused(f, JOB, K_PROT, "SHA256", junk, sizeof(junk),
	    "not a ProtectedPart");
	assert_refused(f, JOB, K_NEW, "SHA256", junk, sizeof(junk),
	    "not a CRMF CertRequest");

	pp = kwt_protected_part(m.der[0], m.len[0], &len);
	more = malloc(len + 1);
	memcpy(more, pp, len);
	more[len] = 0;
	assert_refused(
	    f, JOB, K_PROT, "SHA256", more, len + 1, "not a ProtectedPart");
	/* The whole PKIMessage, protection included, is no ProtectedPart. */
	assert_refused(f, JOB, K_PROT, "SHA256", m.der[0], m.len[0],
	    "not a ProtectedPart");
	free(more);
	assert_int_equal(kwt_cert_request(m.der[0], m.len[0], &cr, &crlen), 0);
	more = malloc(crlen + 2);
	memcpy(more, cr, crlen);
	more[crlen] = 0x05;
	more[crlen + 1] = 0x00;
	assert_refused(
	    f, JOB, K_NEW, "SHA256", more, crlen + 2, "not a CertRequest");
	free(more);
	free(pp);
	kwt_msgs_free(&m);
}

/* The same structure with a longer-than-needed length: BER, not DER. */
static void
test_not_der_refused(void **state)
{
	struct fixture *f = *state;
	struct kwt_msgs m =
	    request(f, CMPD__CMP_OP__CMP_OP_IR, K_PROT, K_NEW, f->txid);
	size_t len;
	uint8_t *pp = kwt_protected_part(m.der[0], m.len[0], &len);
	uint8_t *ber = malloc(len + 1);
	size_t hdr = pp[1] & 0x7f; /* length octets of the long form */

	assert_true((pp[1] & 0x80) != 0);
	ber[0] = 0x30;
	ber[1] = (uint8_t)(0x80 | (hdr + 1));
	ber[2] = 0;
	memcpy(ber + 3, pp + 2, len - 2);
	grant(f, JOB, CMPD__CMP_OP__CMP_OP_IR, K_PROT, K_NEW, f->txid);
	assert_refused(f, JOB, K_PROT, "SHA256", ber, len + 1, "not in DER");
	free(ber);
	free(pp);
	kwt_msgs_free(&m);
}

static void
test_digests(void **state)
{
	struct fixture *f = *state;
	struct kwt_msgs m =
	    request(f, CMPD__CMP_OP__CMP_OP_IR, K_RSA, K_ED, f->txid);
	size_t len, crlen;
	uint8_t *pp = kwt_protected_part(m.der[0], m.len[0], &len);
	const uint8_t *cr;

	assert_int_equal(kwt_cert_request(m.der[0], m.len[0], &cr, &crlen), 0);
	grant(f, JOB, CMPD__CMP_OP__CMP_OP_IR, K_RSA, K_ED, f->txid);
	/* RSA, PKCS#1 v1.5 (kwt_verify checks the padding). */
	assert_signed(f, JOB, K_RSA, "SHA256", pp, len);
	assert_refused(f, JOB, K_RSA, "MD5", pp, len, "digest \"MD5\"");
	assert_refused(f, JOB, K_RSA, "sha256", pp, len, "not allowed");
	assert_refused(f, JOB, K_RSA, "", pp, len, "not allowed for RSA");
	/* Ed25519 signs the message itself: no digest. */
	assert_signed(f, JOB, K_ED, "", cr, crlen);
	assert_refused(
	    f, JOB, K_ED, "SHA256", cr, crlen, "Ed25519 signs with none");
	free(pp);
	kwt_msgs_free(&m);
}

/* KUR to the same key: the key protects and is the new key. */
static void
test_both_roles(void **state)
{
	struct fixture *f = *state;
	struct kwt_msgs m =
	    request(f, CMPD__CMP_OP__CMP_OP_KUR, K_PROT, K_PROT, f->txid);
	size_t len, crlen;
	uint8_t *pp = kwt_protected_part(m.der[0], m.len[0], &len);
	const uint8_t *cr;

	assert_int_equal(m.type[0], KW_BODY_KUR);
	assert_int_equal(kwt_cert_request(m.der[0], m.len[0], &cr, &crlen), 0);
	grant(f, JOB, CMPD__CMP_OP__CMP_OP_KUR, K_PROT, K_PROT, f->txid);
	assert_signed(f, JOB, K_PROT, "SHA256", pp, len);
	assert_signed(f, JOB, K_PROT, "SHA256", cr, crlen);
	grant(f, JOB, CMPD__CMP_OP__CMP_OP_KUR, K_PROT, K_PROT, f->txid2);
	assert_refused(f, JOB, K_PROT, "SHA256", pp, len,
	    "transactionID does not match the grant; not a CRMF "
	    "CertRequest");
	free(pp);
	kwt_msgs_free(&m);
}

/* certConf and pollReq, from an exchange with OpenSSL's CMP server. */
static void
test_certconf_and_pollreq(void **state)
{
	struct fixture *f = *state;
	struct kwt_cmp c = { .op = CMPD__CMP_OP__CMP_OP_IR,
		.txid = f->txid,
		.prot_key = f->priv[K_PROT],
		.prot_cert = f->cert[K_PROT],
		.new_key = f->priv[K_NEW],
		.new_priv = 1,
		.server = 1 };
	struct kwt_msgs done, polled;
	const uint8_t *der;
	uint8_t *conf, *poll;
	size_t len, conf_len, poll_len;

	assert_int_equal(kwt_cmp_run(&c, &done), 0);
	c.poll = 1;
	assert_int_equal(kwt_cmp_run(&c, &polled), 0);
	der = kwt_msgs_find(&done, KW_BODY_CERTCONF, &len);
	assert_non_null(der);
	conf = kwt_protected_part(der, len, &conf_len);
	der = kwt_msgs_find(&polled, KW_BODY_POLLREQ, &len);
	assert_non_null(der);
	poll = kwt_protected_part(der, len, &poll_len);

	grant(f, JOB, CMPD__CMP_OP__CMP_OP_IR, K_PROT, K_NEW, f->txid);
	assert_signed(f, JOB, K_PROT, "SHA256", conf, conf_len);
	assert_signed(f, JOB, K_PROT, "SHA256", poll, poll_len);
	grant(f, JOB, CMPD__CMP_OP__CMP_OP_RR, K_PROT, -1, f->txid);
	assert_refused(f, JOB, K_PROT, "SHA256", conf, conf_len,
	    "body type certConf not allowed for RR");
	assert_refused(f, JOB, K_PROT, "SHA256", poll, poll_len,
	    "body type pollReq not allowed for RR");
	free(conf);
	free(poll);
	kwt_msgs_free(&done);
	kwt_msgs_free(&polled);
}

static void
test_p10cr(void **state)
{
	struct fixture *f = *state;
	struct kwt_msgs m =
	    request(f, CMPD__CMP_OP__CMP_OP_P10CR, K_PROT, K_NEW, f->txid);
	struct kwt_msgs ir =
	    request(f, CMPD__CMP_OP__CMP_OP_IR, K_PROT, K_NEW, f->txid);
	size_t len, mine_len, theirs_len, crlen;
	uint8_t *pp = kwt_protected_part(m.der[0], m.len[0], &len);
	uint8_t *mine = kwt_p10_info(f->priv[K_NEW], &mine_len);
	uint8_t *theirs = kwt_p10_info(f->priv[K_OTHER], &theirs_len);
	const uint8_t *cr;

	assert_int_equal(m.type[0], KW_BODY_P10CR);
	assert_int_equal(
	    kwt_cert_request(ir.der[0], ir.len[0], &cr, &crlen), 0);
	grant(f, JOB, CMPD__CMP_OP__CMP_OP_P10CR, K_PROT, K_NEW, f->txid);
	assert_signed(f, JOB, K_PROT, "SHA256", pp, len);
	assert_signed(f, JOB, K_NEW, "SHA256", mine, mine_len);
	assert_refused(f, JOB, K_NEW, "SHA256", theirs, theirs_len,
	    "CertificationRequestInfo public key is not the key's own");
	assert_refused(f, JOB, K_NEW, "SHA256", cr, crlen,
	    "not a PKCS#10 CertificationRequestInfo");
	/* ...and a CertificationRequestInfo is no CertRequest for IR. */
	grant(f, JOB, CMPD__CMP_OP__CMP_OP_IR, K_PROT, K_NEW, f->txid);
	assert_refused(
	    f, JOB, K_NEW, "SHA256", mine, mine_len, "not a CRMF CertRequest");
	free(pp);
	free(mine);
	free(theirs);
	kwt_msgs_free(&m);
	kwt_msgs_free(&ir);
}

/* With MAC protection the grant has only the new key. */
static void
test_mac_protected_ir(void **state)
{
	struct fixture *f = *state;
	struct kwt_msgs m =
	    request(f, CMPD__CMP_OP__CMP_OP_IR, -1, K_NEW, f->txid);
	size_t len, crlen;
	uint8_t *pp = kwt_protected_part(m.der[0], m.len[0], &len);
	const uint8_t *cr;

	assert_int_equal(kwt_cert_request(m.der[0], m.len[0], &cr, &crlen), 0);
	grant(f, JOB, CMPD__CMP_OP__CMP_OP_IR, -1, K_NEW, f->txid);
	assert_signed(f, JOB, K_NEW, "SHA256", cr, crlen);
	assert_refused(
	    f, JOB, K_NEW, "SHA256", pp, len, "not a CRMF CertRequest");
	free(pp);
	kwt_msgs_free(&m);
}

static void
grant_req_fill(struct fixture *f, Cmpd__GrantReq *req)
{
	cmpd__grant_req__init(req);
	req->job_id = JOB;
	req->op = CMPD__CMP_OP__CMP_OP_IR;
	req->transaction_id.data = f->txid;
	req->transaction_id.len = KW_TXID_LEN;
	req->protection_key_id = f->id[K_PROT];
	req->new_key_id = f->id[K_NEW];
}

static void
assert_grant_invalid(const Cmpd__GrantReq *req, const char *reason)
{
	struct kw_why why;

	assert_int_equal(kw_grant_req_check(req, &why), CMPD_EINVAL);
	if (strstr(why.text, reason) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", why.text, reason);
}

static void
test_grant_fields_checked(void **state)
{
	struct fixture *f = *state;
	Cmpd__GrantReq req;
	struct kw_why why;

	grant_req_fill(f, &req);
	assert_int_equal(kw_grant_req_check(&req, &why), CMPD_OK);
	req.job_id = "0123456789ABCDEF";
	assert_grant_invalid(&req, "job_id");
	grant_req_fill(f, &req);
	req.job_id = "0123456789abcde";
	assert_grant_invalid(&req, "job_id");
	grant_req_fill(f, &req);
	req.op = CMPD__CMP_OP__CMP_OP_UNSPECIFIED;
	assert_grant_invalid(&req, "op 0");
	req.op = (Cmpd__CmpOp)7;
	assert_grant_invalid(&req, "op 7");
	grant_req_fill(f, &req);
	req.transaction_id.len = 15;
	assert_grant_invalid(&req, "transaction_id has 15 bytes");
	grant_req_fill(f, &req);
	req.protection_key_id = "xyz";
	assert_grant_invalid(&req, "protection_key_id");
	grant_req_fill(f, &req);
	req.new_key_id = "";
	assert_grant_invalid(&req, "IR needs a new_key_id");
	grant_req_fill(f, &req);
	req.op = CMPD__CMP_OP__CMP_OP_RR;
	assert_grant_invalid(&req, "RR has no new key");
	req.new_key_id = "";
	assert_int_equal(kw_grant_req_check(&req, &why), CMPD_OK);
	/* Well formed, but the key does not exist. */
	grant_req_fill(f, &req);
	req.new_key_id = "00000000000000000000000000000000";
	assert_int_equal(kw_grant_set(f->gs, f->ks, &req, &why), CMPD_ENOENT);
	assert_non_null(strstr(why.text, "not in the key store"));
	assert_null(kw_grant_find(f->gs, JOB));
}

/* A second grant for a job replaces the first. */
static void
test_grant_replaced(void **state)
{
	struct fixture *f = *state;
	struct kwt_msgs m1 =
	    request(f, CMPD__CMP_OP__CMP_OP_IR, K_PROT, K_NEW, f->txid);
	struct kwt_msgs m2 =
	    request(f, CMPD__CMP_OP__CMP_OP_IR, K_OTHER, K_NEW, f->txid2);
	size_t len1, len2;
	uint8_t *pp1 = kwt_protected_part(m1.der[0], m1.len[0], &len1);
	uint8_t *pp2 = kwt_protected_part(m2.der[0], m2.len[0], &len2);

	grant(f, JOB, CMPD__CMP_OP__CMP_OP_IR, K_PROT, K_NEW, f->txid);
	assert_string_equal(kw_grants_key_user(f->gs, f->id[K_PROT]), JOB);
	grant(f, JOB, CMPD__CMP_OP__CMP_OP_IR, K_OTHER, K_NEW, f->txid2);
	assert_int_equal(kw_grants_count(f->gs), 1);
	assert_null(kw_grants_key_user(f->gs, f->id[K_PROT]));
	assert_refused(
	    f, JOB, K_PROT, "SHA256", pp1, len1, "key not in the job's grant");
	assert_signed(f, JOB, K_OTHER, "SHA256", pp2, len2);
	free(pp1);
	free(pp2);
	kwt_msgs_free(&m1);
	kwt_msgs_free(&m2);
}

static void
test_sign_req_fields_checked(void **state)
{
	struct fixture *f = *state;
	Cmpd__SignReq req = CMPD__SIGN_REQ__INIT;
	uint8_t tbs[4] = { 0x30, 0x02, 0x05, 0x00 };
	struct kw_why why;

	req.job_id = JOB;
	req.key_id = f->id[K_PROT];
	req.digest = "SHA256";
	req.tbs.data = tbs;
	req.tbs.len = sizeof(tbs);
	assert_int_equal(kw_sign_req_check(&req, &why), CMPD_OK);
	req.job_id = "../../etc";
	assert_int_equal(kw_sign_req_check(&req, &why), CMPD_EINVAL);
	req.job_id = JOB;
	req.key_id = "0123";
	assert_int_equal(kw_sign_req_check(&req, &why), CMPD_EINVAL);
	req.key_id = f->id[K_PROT];
	req.digest = "SHA256SHA256SHA256";
	assert_int_equal(kw_sign_req_check(&req, &why), CMPD_EINVAL);
	req.digest = "SHA256";
	req.tbs.len = 0;
	assert_int_equal(kw_sign_req_check(&req, &why), CMPD_EINVAL);
}

/*
 * What a TLS 1.3 client signs in its CertificateVerify (RFC 8446 4.4.3):
 * 64 spaces, the context string, a zero byte, then hash_len bytes of
 * transcript hash. Returns the length written to out.
 */
static size_t
tls13_content(uint8_t *out, const char *context, size_t hash_len)
{
	size_t n = 0;

	memset(out, 0x20, 64);
	n = 64;
	memcpy(out + n, context, strlen(context));
	n += strlen(context);
	out[n++] = 0x00;
	RAND_bytes(out + n, (int)hash_len);
	return n + hash_len;
}

#define TLS_CLIENT "TLS 1.3, client CertificateVerify"
#define TLS_SERVER "TLS 1.3, server CertificateVerify"

/* The TLS key signs a client CertificateVerify whose hash fits the digest. */
static void
test_tls_client_verify_signed(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[256];
	struct kw_why why;
	size_t len;

	assert_int_equal(grant_tls(f, JOB, CMPD__CMP_OP__CMP_OP_IR, K_PROT,
	                     K_NEW, K_OTHER, &why),
	    CMPD_OK);
	assert_string_equal(kw_grants_key_user(f->gs, f->id[K_OTHER]), JOB);
	len = tls13_content(buf, TLS_CLIENT, 32);
	assert_signed(f, JOB, K_OTHER, "SHA256", buf, len);
	len = tls13_content(buf, TLS_CLIENT, 48);
	assert_signed(f, JOB, K_OTHER, "SHA384", buf, len);
	len = tls13_content(buf, TLS_CLIENT, 64);
	assert_signed(f, JOB, K_OTHER, "SHA512", buf, len);
	/* A P-384 key as well. */
	assert_int_equal(grant_tls(f, JOB, CMPD__CMP_OP__CMP_OP_GENM, K_PROT,
	                     -1, K_P384, &why),
	    CMPD_OK);
	len = tls13_content(buf, TLS_CLIENT, 48);
	assert_signed(f, JOB, K_P384, "SHA384", buf, len);
}

/* A server's content, bad padding, no zero byte, hashes of wrong length. */
static void
test_tls_wrong_shapes_refused(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *digest;
		size_t hash_len;
	} wrong[] = { { "SHA256", 31 }, { "SHA256", 33 }, { "SHA256", 48 },
		{ "SHA256", 0 }, { "SHA384", 32 }, { "SHA512", 48 } };
	uint8_t buf[256];
	struct kw_why why;
	size_t len;

	assert_int_equal(grant_tls(f, JOB, CMPD__CMP_OP__CMP_OP_IR, K_PROT,
	                     K_NEW, K_OTHER, &why),
	    CMPD_OK);
	len = tls13_content(buf, TLS_SERVER, 32);
	assert_refused(f, JOB, K_OTHER, "SHA256", buf, len,
	    "context \"TLS 1.3, client CertificateVerify\"");
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		len = tls13_content(buf, TLS_CLIENT, wrong[i].hash_len);
		assert_refused(f, JOB, K_OTHER, wrong[i].digest, buf, len,
		    "TLS 1.3 CertificateVerify hash of");
	}
	len = tls13_content(buf, TLS_CLIENT, 32);
	buf[10] = 0x21;
	assert_refused(f, JOB, K_OTHER, "SHA256", buf, len, "64 spaces");
	len = tls13_content(buf, TLS_CLIENT, 32);
	buf[64 + strlen(TLS_CLIENT)] = 0x01;
	assert_refused(f, JOB, K_OTHER, "SHA256", buf, len, "context");
	assert_refused(f, JOB, K_OTHER, "SHA256", buf, 80, "too short");
	/* The 1.2-style hash alone, and MD5, are no content at all. */
	assert_refused(
	    f, JOB, K_OTHER, "SHA256", buf + 64 + 34, 32, "too short");
	assert_refused(f, JOB, K_OTHER, "MD5", buf, len, "not allowed");
}

/* Each role signs only its own structures. */
static void
test_tls_roles_apart(void **state)
{
	struct fixture *f = *state;
	struct kwt_msgs m =
	    request(f, CMPD__CMP_OP__CMP_OP_IR, K_OTHER, K_NEW, f->txid);
	size_t len, crlen, tlen;
	uint8_t *pp = kwt_protected_part(m.der[0], m.len[0], &len);
	uint8_t buf[256];
	const uint8_t *cr;
	struct kw_why why;

	assert_int_equal(kwt_cert_request(m.der[0], m.len[0], &cr, &crlen), 0);
	tlen = tls13_content(buf, TLS_CLIENT, 32);
	/* The TLS key is neither protection nor new key. */
	assert_int_equal(grant_tls(f, JOB, CMPD__CMP_OP__CMP_OP_IR, K_PROT,
	                     K_NEW, K_OTHER, &why),
	    CMPD_OK);
	assert_refused(f, JOB, K_OTHER, "SHA256", pp, len,
	    "not a TLS 1.3 CertificateVerify content");
	assert_refused(
	    f, JOB, K_PROT, "SHA256", buf, tlen, "not a ProtectedPart");
	assert_refused(f, JOB, K_NEW, "SHA256", buf, tlen, "not a CertRequest");
	/* Without a TLS role no key signs for TLS. */
	grant(f, JOB, CMPD__CMP_OP__CMP_OP_IR, K_OTHER, K_NEW, f->txid);
	assert_signed(f, JOB, K_OTHER, "SHA256", pp, len);
	assert_refused(
	    f, JOB, K_OTHER, "SHA256", buf, tlen, "not a ProtectedPart");
	assert_null(kw_grants_key_user(f->gs, f->id[K_P384]));
	/* One key in the protection and TLS roles signs both. */
	assert_int_equal(grant_tls(f, JOB, CMPD__CMP_OP__CMP_OP_IR, K_OTHER,
	                     K_NEW, K_OTHER, &why),
	    CMPD_OK);
	assert_signed(f, JOB, K_OTHER, "SHA256", pp, len);
	assert_signed(f, JOB, K_OTHER, "SHA256", buf, tlen);
	assert_signed(f, JOB, K_NEW, "SHA256", cr, crlen);
	assert_refused(f, JOB, K_OTHER, "SHA256", cr, crlen,
	    "not a ProtectedPart (no CMP header and body); not a TLS 1.3");
	free(pp);
	kwt_msgs_free(&m);
}

/* RSA and Ed25519 keys cannot be granted for TLS; ids are checked. */
static void
test_tls_key_types_refused(void **state)
{
	struct fixture *f = *state;
	Cmpd__GrantReq req;
	struct kw_why why;

	assert_int_equal(grant_tls(f, JOB, CMPD__CMP_OP__CMP_OP_IR, K_PROT,
	                     K_NEW, K_RSA, &why),
	    CMPD_EINVAL);
	assert_non_null(strstr(why.text, "only EC keys"));
	assert_null(kw_grant_find(f->gs, JOB));
	assert_int_equal(grant_tls(f, JOB, CMPD__CMP_OP__CMP_OP_IR, K_PROT,
	                     K_NEW, K_ED, &why),
	    CMPD_EINVAL);
	assert_non_null(strstr(why.text, "is Ed25519"));
	cmpd__grant_req__init(&req);
	req.job_id = JOB;
	req.op = CMPD__CMP_OP__CMP_OP_GENM;
	req.transaction_id.data = f->txid;
	req.transaction_id.len = KW_TXID_LEN;
	req.tls_key_id = "0123";
	assert_grant_invalid(&req, "tls_key_id is not a key id");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_protected_part_signed),
		T(test_cert_request_signed),
		T(test_wrong_transaction_id),
		T(test_body_type_not_allowed),
		T(test_rr_signed),
		T(test_key_not_in_grant),
		T(test_no_grant_and_grant_ended),
		T(test_cert_request_of_another_key),
		T(test_random_bytes_and_trailing_garbage),
		T(test_not_der_refused),
		T(test_digests),
		T(test_both_roles),
		T(test_certconf_and_pollreq),
		T(test_p10cr),
		T(test_mac_protected_ir),
		T(test_grant_fields_checked),
		T(test_grant_replaced),
		T(test_sign_req_fields_checked),
		T(test_tls_client_verify_signed),
		T(test_tls_wrong_shapes_refused),
		T(test_tls_roles_apart),
		T(test_tls_key_types_refused),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
