/*
 * The answers to general messages, from a CMP server of the test's own:
 * OpenSSL's OSSL_CMP_SRV_CTX behind libmicrohttpd on 127.0.0.1, whose genm
 * callback returns what each test builds. Every check of a root CA key
 * update (RFC 9810 5.3.19.15: newWithNew, newWithOld, oldWithNew) is
 * broken once and must be refused with its reason; a good update, an
 * absent value, malformed values, a certificate request template with
 * its key specification and CA certificates are read as sent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/cmp.h>
#include <openssl/crmf.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "test_networker_util.h"
#include "txn.h"

#define OID_ROOTCERT   "1.3.6.1.5.5.7.4.20"
#define OID_ROOTUPDATE "1.3.6.1.5.5.7.4.18"
#define OID_TEMPLATE   "1.3.6.1.5.5.7.4.19"
#define OID_CACERTS    "1.3.6.1.5.5.7.4.17"

/* The server and what its genp carries. */
struct gsrv {
	struct MHD_Daemon *d;
	int port;
	OSSL_CMP_SRV_CTX *srv;
	pthread_mutex_t mu;
	const char *answer_oid;
	unsigned char *answer; /* DER of the value; NULL: none */
	int answer_len;
	int asked_with_root; /* the genm carried rootCaCert = root.crt */
};

static struct gsrv g;

/* The request's ITAV must be rootCaCert with the current root, if any. */
static void
gsrv_note_question(const STACK_OF(OSSL_CMP_ITAV) * in)
{
	OSSL_CMP_ITAV *itav = sk_OSSL_CMP_ITAV_value(in, 0);
	ASN1_OBJECT *want = OBJ_txt2obj(OID_ROOTCERT, 1);
	ASN1_TYPE *v = itav != NULL ? OSSL_CMP_ITAV_get0_value(itav) : NULL;
	ProtobufCBinaryData root = nwt_der_load("root.crt");

	g.asked_with_root = v != NULL &&
	    OBJ_cmp(OSSL_CMP_ITAV_get0_type(itav), want) == 0 &&
	    v->type == V_ASN1_SEQUENCE &&
	    (size_t)ASN1_STRING_length(v->value.sequence) == root.len &&
	    memcmp(ASN1_STRING_get0_data(v->value.sequence), root.data,
	        root.len) == 0;
	ASN1_OBJECT_free(want);
	free(root.data);
}

static int
gsrv_genm_cb(OSSL_CMP_SRV_CTX *srv, const OSSL_CMP_MSG *genm,
    const STACK_OF(OSSL_CMP_ITAV) * in, STACK_OF(OSSL_CMP_ITAV) * *out)
{
	ASN1_TYPE *value = NULL;
	ASN1_STRING *seq;
	OSSL_CMP_ITAV *itav;

	(void)srv;
	(void)genm;
	gsrv_note_question(in);
	if (g.answer != NULL) {
		seq = ASN1_STRING_new();
		value = ASN1_TYPE_new();
		ASN1_STRING_set(seq, g.answer, g.answer_len);
		ASN1_TYPE_set(value, V_ASN1_SEQUENCE, seq);
	}
	itav = OSSL_CMP_ITAV_create(OBJ_txt2obj(g.answer_oid, 1), value);
	*out = sk_OSSL_CMP_ITAV_new_null();
	sk_OSSL_CMP_ITAV_push(*out, itav);
	return 1;
}

/* One POST body per connection, answered when it is complete. */
static enum MHD_Result
gsrv_http_cb(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *data, size_t *len,
    void **con_cls)
{
	BIO *body = *con_cls;
	OSSL_CMP_MSG *req, *rep = NULL;
	struct MHD_Response *r;
	unsigned char *der = NULL;
	const unsigned char *p;
	long n;
	int dlen = 0;
	enum MHD_Result ret;

	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	if (body == NULL) {
		*con_cls = BIO_new(BIO_s_mem());
		return *con_cls != NULL ? MHD_YES : MHD_NO;
	}
	if (*len > 0) {
		BIO_write(body, data, (int)*len);
		*len = 0;
		return MHD_YES;
	}
	n = BIO_get_mem_data(body, (char **)&p);
	if ((req = d2i_OSSL_CMP_MSG(NULL, &p, n)) != NULL) {
		pthread_mutex_lock(&g.mu);
		rep = OSSL_CMP_SRV_process_request(g.srv, req);
		pthread_mutex_unlock(&g.mu);
	}
	if (rep != NULL)
		dlen = i2d_OSSL_CMP_MSG(rep, &der);
	r = MHD_create_response_from_buffer(
	    dlen > 0 ? (size_t)dlen : 0, der, MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(r, "Content-Type", "application/pkixcmp");
	ret = MHD_queue_response(c, dlen > 0 ? 200 : 400, r);
	MHD_destroy_response(r);
	OPENSSL_free(der);
	OSSL_CMP_MSG_free(req);
	OSSL_CMP_MSG_free(rep);
	return ret;
}

static void
gsrv_done_cb(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode code)
{
	(void)cls;
	(void)c;
	(void)code;
	BIO_free(*con_cls);
	*con_cls = NULL;
}

/* The server signs with srv.crt and trusts requests signed under root. */
static void
gsrv_start(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	X509_STORE *ts = X509_STORE_new();
	X509 *cert = nwt_cert_load("srv.crt"),
	     *root = nwt_cert_load("root.crt");
	EVP_PKEY *key = nwt_key_load("srv.key");
	OSSL_CMP_CTX *ctx;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	pthread_mutex_init(&g.mu, NULL);
	g.srv = OSSL_CMP_SRV_CTX_new(NULL, NULL);
	assert_int_equal(OSSL_CMP_SRV_CTX_init(g.srv, &g, NULL, NULL,
	                     gsrv_genm_cb, NULL, NULL, NULL),
	    1);
	ctx = OSSL_CMP_SRV_CTX_get0_cmp_ctx(g.srv);
	X509_STORE_add_cert(ts, root);
	assert_true(OSSL_CMP_CTX_set1_cert(ctx, cert) &&
	    OSSL_CMP_CTX_set1_pkey(ctx, key) &&
	    OSSL_CMP_CTX_set0_trustedStore(ctx, ts));
	g.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
	    gsrv_http_cb, NULL, MHD_OPTION_SOCK_ADDR, &a,
	    MHD_OPTION_NOTIFY_COMPLETED, gsrv_done_cb, NULL, MHD_OPTION_END);
	assert_non_null(g.d);
	g.port = MHD_get_daemon_info(g.d, MHD_DAEMON_INFO_BIND_PORT)->port;
	X509_free(cert);
	X509_free(root);
	EVP_PKEY_free(key);
}

static void
gsrv_stop(void)
{
	MHD_stop_daemon(g.d);
	OSSL_CMP_SRV_CTX_free(g.srv);
	pthread_mutex_destroy(&g.mu);
	OPENSSL_free(g.answer);
}

/* The genp's value from now on: oid with DER der (taken; NULL: none). */
static void
answer_set(const char *oid, unsigned char *der, int len)
{
	OPENSSL_free(g.answer);
	g.answer_oid = oid;
	g.answer = der;
	g.answer_len = len;
}

/* Runs a genm of type against the server; res is the caller's. */
static void
genm_run(Cmpd__GenmType type, struct nw_txn_result *res)
{
	Cmpd__TxnStartReq *r = nwt_req_new(g.port);
	struct nw_txn_keys keys = { nwt_key_load("sup.key"), NULL, NULL };
	struct nw_txn *t = NULL;
	char why[512];

	r->op = CMPD__CMP_OP__CMP_OP_GENM;
	r->genm_type = type;
	if (nw_txn_new(NULL, r, &keys, &t, why, sizeof(why)) != CMPD_OK)
		fail_msg("%s", why);
	nw_txn_result_init(res);
	nw_txn_step(t, res);
	nw_txn_free(t);
	EVP_PKEY_free(keys.prot);
	nwt_req_free(r);
}

/* A certificate of subject for key, signed by signer as issuer. */
static X509 *
mkcert(const X509_NAME *subject, EVP_PKEY *key, const X509_NAME *issuer,
    EVP_PKEY *signer, int ca, long from, long to)
{
	static long serial = 100;
	X509 *x = X509_new();
	X509_EXTENSION *e;
	X509V3_CTX v3;

	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_set_subject_name(x, subject);
	X509_set_issuer_name(x, issuer);
	X509_gmtime_adj(X509_getm_notBefore(x), from);
	X509_gmtime_adj(X509_getm_notAfter(x), to);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&v3, NULL, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
	    ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	e = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage,
	    ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	assert_true(X509_sign(x, signer, EVP_sha256()) > 0);
	return x;
}

/* DER: tag (class cls) around the len bytes at in, appended at *p. */
static void
der_put(unsigned char **p, int tag, int cls, const unsigned char *in, int len)
{
	ASN1_put_object(p, 1, len, tag, cls);
	memcpy(*p, in, (size_t)len);
	*p += len;
}

/* SEQUENCE { nwn, [0] nwo, [1] own } as RFC 9810 defines it. */
static unsigned char *
update_der(X509 *nwn, X509 *nwo, X509 *own, int *len)
{
	unsigned char body[16384], *p = body, *der = NULL, *q;
	X509 *tagged[2] = { nwo, own };
	int n;

	i2d_X509(nwn, &p);
	for (int i = 0; i < 2; i++) {
		if (tagged[i] == NULL)
			continue;
		n = i2d_X509(tagged[i], &der);
		der_put(&p, i, V_ASN1_CONTEXT_SPECIFIC, der, n);
		OPENSSL_free(der);
		der = NULL;
	}
	n = (int)(p - body);
	*len = ASN1_object_size(1, n, V_ASN1_SEQUENCE);
	q = der = OPENSSL_malloc((size_t)*len);
	der_put(&q, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, body, n);
	return der;
}

/* The ways a root CA key update is broken, one at a time. */
enum upd_fault {
	UPD_GOOD,
	UPD_NWN_NOT_CA,
	UPD_NWN_NOT_SELF_SIGNED,
	UPD_NO_NWO,
	UPD_NWO_SUBJECT,
	UPD_NWO_KEY,
	UPD_NWO_ISSUER,
	UPD_NWO_FORGED,
	UPD_NWO_EXPIRED,
	UPD_OWN_KEY,
	UPD_OWN_FORGED,
	UPD_FAULT_MAX
};

static const char *const upd_texts[UPD_FAULT_MAX] = {
	[UPD_NWN_NOT_CA] = "newWithNew is not a CA certificate",
	[UPD_NWN_NOT_SELF_SIGNED] = "newWithNew is not self-signed",
	[UPD_NO_NWO] = "the CA sent no newWithOld",
	[UPD_NWO_SUBJECT] = "newWithOld's subject is not newWithNew's",
	[UPD_NWO_KEY] = "newWithOld does not carry newWithNew's public key",
	[UPD_NWO_ISSUER] = "newWithOld is not issued by the current root CA "
	                   "(trusted[0]): subject issuer mismatch",
	[UPD_NWO_FORGED] = "newWithOld's signature does not verify with the "
	                   "current root CA's key (trusted[0])",
	[UPD_NWO_EXPIRED] = "newWithOld has expired",
	[UPD_OWN_KEY] = "oldWithNew does not carry the current root CA's key",
	[UPD_OWN_FORGED] = "oldWithNew's signature does not verify with the "
	                   "new root CA's key",
};

struct upd_keys {
	EVP_PKEY *old, *neu, *other;
	X509 *root;
	X509_NAME *new_name, *other_name;
};

/* The update with fault f; answer_set gets its DER. */
static void
upd_make(const struct upd_keys *k, enum upd_fault f, X509 **nwn_out)
{
	const X509_NAME *old_name = X509_get_subject_name(k->root);
	X509 *nwn, *nwo = NULL, *own;
	unsigned char *der;
	int len;

	nwn = mkcert(k->new_name, k->neu,
	    f == UPD_NWN_NOT_SELF_SIGNED ? old_name : k->new_name,
	    f == UPD_NWN_NOT_SELF_SIGNED ? k->old : k->neu, f != UPD_NWN_NOT_CA,
	    -3600, 86400 * 365);
	if (f != UPD_NO_NWO)
		nwo = mkcert(f == UPD_NWO_SUBJECT ? k->other_name : k->new_name,
		    f == UPD_NWO_KEY ? k->other : k->neu,
		    f == UPD_NWO_ISSUER ? k->other_name : old_name,
		    f == UPD_NWO_FORGED ? k->other : k->old, 1,
		    f == UPD_NWO_EXPIRED ? -2 * 86400 : -3600,
		    f == UPD_NWO_EXPIRED ? -86400 : 86400 * 365);
	own =
	    mkcert(old_name, f == UPD_OWN_KEY ? k->other : k->old, k->new_name,
	        f == UPD_OWN_FORGED ? k->other : k->neu, 1, -3600, 86400 * 365);
	der = update_der(nwn, nwo, own, &len);
	answer_set(OID_ROOTUPDATE, der, len);
	*nwn_out = nwn;
	X509_free(nwo);
	X509_free(own);
}

static void
upd_keys_init(struct upd_keys *k)
{
	k->old = nwt_key_load("root.key");
	k->neu = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	k->other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	k->root = nwt_cert_load("root.crt");
	k->new_name = X509_NAME_new();
	k->other_name = X509_NAME_new();
	X509_NAME_add_entry_by_txt(k->new_name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"Test Root CA 2", -1, -1, 0);
	X509_NAME_add_entry_by_txt(k->other_name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"Somebody Else", -1, -1, 0);
}

static void
upd_keys_fini(struct upd_keys *k)
{
	EVP_PKEY_free(k->old);
	EVP_PKEY_free(k->neu);
	EVP_PKEY_free(k->other);
	X509_free(k->root);
	X509_NAME_free(k->new_name);
	X509_NAME_free(k->other_name);
}

/* The good update is reported; each fault is refused by its own reason. */
static void
test_root_update_checks(void **state)
{
	struct nw_txn_result res;
	struct upd_keys k;
	X509 *nwn;

	(void)state;
	upd_keys_init(&k);
	for (int f = 0; f < UPD_FAULT_MAX; f++) {
		upd_make(&k, (enum upd_fault)f, &nwn);
		g.asked_with_root = 0;
		genm_run(CMPD__GENM_TYPE__GENM_ROOT_CA_KEY_UPDATE, &res);
		assert_true(g.asked_with_root);
		if (f == UPD_GOOD) {
			if (res.result != CMPD__TXN_RESULT__TXN_DONE)
				fail_msg("%s", res.error_text);
			assert_int_equal(X509_cmp(res.genm.new_root, nwn), 0);
			assert_non_null(res.genm.new_with_old);
			assert_non_null(res.genm.old_with_new);
		} else if (res.result != CMPD__TXN_RESULT__TXN_FAILED ||
		    res.error != CMPD_EBADCERT ||
		    strstr(res.error_text, upd_texts[f]) == NULL) {
			fail_msg("fault %d: result %d error %d: %s", f,
			    res.result, res.error, res.error_text);
		} else {
			assert_false(res.has_genm);
			assert_null(res.genm.new_root);
		}
		X509_free(nwn);
		nw_txn_result_fini(&res);
	}
	upd_keys_fini(&k);
}

/* No value: no update; a value that is no RootCaKeyUpdateContent. */
static void
test_root_update_absent_and_malformed(void **state)
{
	static const unsigned char junk[] = { 0x30, 0x03, 0x02, 0x01, 0x05 };
	struct nw_txn_result res;

	(void)state;
	answer_set(OID_ROOTUPDATE, NULL, 0);
	genm_run(CMPD__GENM_TYPE__GENM_ROOT_CA_KEY_UPDATE, &res);
	assert_int_equal(res.result, CMPD__TXN_RESULT__TXN_DONE);
	assert_true(res.genm.empty);
	nw_txn_result_fini(&res);
	answer_set(
	    OID_ROOTUPDATE, OPENSSL_memdup(junk, sizeof(junk)), sizeof(junk));
	genm_run(CMPD__GENM_TYPE__GENM_ROOT_CA_KEY_UPDATE, &res);
	if (res.result != CMPD__TXN_RESULT__TXN_FAILED ||
	    res.error != CMPD_ETRANSPORT ||
	    strstr(res.error_text, "not a RootCaKeyUpdateContent") == NULL)
		fail_msg("%s", res.error_text);
	nw_txn_result_fini(&res);
}

/* DER of the SEQUENCE of the DER items given. */
static unsigned char *
seq_der(const unsigned char *const *items, const int *lens, int n, int *len)
{
	unsigned char body[8192], *p = body, *der, *q;
	int size;

	for (int i = 0; i < n; i++) {
		memcpy(p, items[i], (size_t)lens[i]);
		p += lens[i];
	}
	size = (int)(p - body);
	*len = ASN1_object_size(1, size, V_ASN1_SEQUENCE);
	q = der = OPENSSL_malloc((size_t)*len);
	der_put(&q, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, body, size);
	return der;
}

/*
 * A template and keySpec (id-regCtrl-rsaKeyLen 2048, RFC 9483 4.3.3) come
 * back as the DER that was sent.
 */
static void
test_template_and_key_spec(void **state)
{
	OSSL_CRMF_CERTTEMPLATE *tmpl = OSSL_CRMF_CERTTEMPLATE_new();
	ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.5.1.12", 1);
	ASN1_INTEGER *bits = ASN1_INTEGER_new();
	X509_NAME *name = X509_NAME_new();
	unsigned char *part[2] = { NULL, NULL }, *atav, *ctrl, *td = NULL;
	int plen[2], alen, clen, tlen;
	struct nw_txn_result res;

	(void)state;
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
	    (const unsigned char *)"genm test", -1, -1, 0);
	OSSL_CRMF_CERTTEMPLATE_fill(tmpl, NULL, name, NULL, NULL);
	ASN1_INTEGER_set(bits, 2048);
	plen[0] = i2d_ASN1_OBJECT(oid, &part[0]);
	plen[1] = i2d_ASN1_INTEGER(bits, &part[1]);
	atav = seq_der((const unsigned char *const *)part, plen, 2, &alen);
	ctrl = seq_der((const unsigned char *const *)&atav, &alen, 1, &clen);
	tlen = i2d_OSSL_CRMF_CERTTEMPLATE(tmpl, &td);
	{
		const unsigned char *const both[2] = { td, ctrl };
		const int lens[2] = { tlen, clen };
		unsigned char *der;
		int len;

		der = seq_der(both, lens, 2, &len);
		answer_set(OID_TEMPLATE, der, len);
	}
	genm_run(CMPD__GENM_TYPE__GENM_CERT_REQ_TEMPLATE, &res);
	if (res.result != CMPD__TXN_RESULT__TXN_DONE)
		fail_msg("%s", res.error_text);
	assert_int_equal(res.genm.cert_template_len, tlen);
	assert_memory_equal(res.genm.cert_template, td, (size_t)tlen);
	assert_int_equal(res.genm.key_spec_len, clen);
	assert_memory_equal(res.genm.key_spec, ctrl, (size_t)clen);
	nw_txn_result_fini(&res);
	OPENSSL_free(part[0]);
	OPENSSL_free(part[1]);
	OPENSSL_free(atav);
	OPENSSL_free(ctrl);
	OPENSSL_free(td);
	X509_NAME_free(name);
	ASN1_INTEGER_free(bits);
	ASN1_OBJECT_free(oid);
	OSSL_CRMF_CERTTEMPLATE_free(tmpl);
}

/* caCerts: the certificates as sent; an empty SEQUENCE is malformed. */
static void
test_ca_certs(void **state)
{
	ProtobufCBinaryData c[2] = { nwt_der_load("root.crt"),
		nwt_der_load("srv.crt") };
	const unsigned char *const items[2] = { c[0].data, c[1].data };
	const int lens[2] = { (int)c[0].len, (int)c[1].len };
	struct nw_txn_result res;
	unsigned char *der;
	int len;

	(void)state;
	der = seq_der(items, lens, 2, &len);
	answer_set(OID_CACERTS, der, len);
	genm_run(CMPD__GENM_TYPE__GENM_CA_CERTS, &res);
	if (res.result != CMPD__TXN_RESULT__TXN_DONE)
		fail_msg("%s", res.error_text);
	assert_int_equal(sk_X509_num(res.genm.ca_certs), 2);
	assert_true(
	    nwt_cert_is(sk_X509_value(res.genm.ca_certs, 1), "srv.crt"));
	nw_txn_result_fini(&res);
	der = seq_der(items, lens, 0, &len);
	answer_set(OID_CACERTS, der, len);
	genm_run(CMPD__GENM_TYPE__GENM_CA_CERTS, &res);
	if (res.result != CMPD__TXN_RESULT__TXN_FAILED ||
	    strstr(res.error_text, "not a SEQUENCE OF Certificate") == NULL)
		fail_msg("%s", res.error_text);
	nw_txn_result_fini(&res);
	free(c[0].data);
	free(c[1].data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_root_update_checks),
		cmocka_unit_test(test_root_update_absent_and_malformed),
		cmocka_unit_test(test_template_and_key_spec),
		cmocka_unit_test(test_ca_certs),
	};
	int rv;

	cmpd_log_init("test_networker_genm", CMPD_LOG_INFO);
	signal(SIGPIPE, SIG_IGN);
	if (nwt_pki_make() == NULL)
		return 1;
	gsrv_start();
	rv = cmocka_run_group_tests(tests, NULL, NULL);
	gsrv_stop();
	nwt_pki_remove();
	return rv;
}
