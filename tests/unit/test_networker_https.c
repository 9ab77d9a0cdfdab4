/*
 * CMP over HTTPS with the project's test CA (`cmpd-testca serve
 * --tls-cert`, whose TLS is GnuTLS's): the CA's TLS anchors, a wrong
 * anchor refused with the verification's reason, a client certificate
 * (software key; then a keyworker key through the remote-key provider,
 * which signs only the TLS 1.3 CertificateVerify), the way through an
 * HTTP proxy with CONNECT (Debian's tinyproxy), refused or not, and a
 * P10CR whose PKCS#10 request a keyworker key signs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grant.h"
#include "keystore.h"
#include "log.h"
#include "rkprov.h"
#include "sign.h"
#include "test_networker_ca.h"
#include "test_networker_util.h"
#include "txn.h"

#define JOB "0123456789abcdef"

#define TLS_SERVER                                   \
	"--tls-cert %s/ca/tls-server.pem --tls-key " \
	"%s/ca/tls-server.key"

/* Starts the CA over HTTPS; with client certificates if client is set. */
static void
https_start(struct nwt_ca *ca, int client)
{
	char opts[1024], dir[256];

	snprintf(dir, sizeof(dir), "%s", nwt_path(""));
	snprintf(opts, sizeof(opts), TLS_SERVER "%s%s%s", dir, dir,
	    client ? " --tls-client-ca " : "", client ? dir : "",
	    client ? "/ca/tls-root.pem" : "");
	nwt_ca_start(ca, opts);
}

/* An IR over https://127.0.0.1 with the TLS root as the TLS anchor. */
static Cmpd__TxnStartReq *
https_req_new(const struct nwt_ca *ca, const char *tls_anchor)
{
	const char *const anchors[] = { tls_anchor };
	Cmpd__TxnStartReq *r = nwt_ca_req_new(ca, "/CN=tls device");

	nwt_ca_url_set(r, ca, "https", "/pkix/");
	nwt_req_certs_set(&r->tls_trusted, &r->n_tls_trusted, anchors, 1);
	return r;
}

static void
ir_run(Cmpd__TxnStartReq *r, EVP_PKEY *tls_key, struct nw_txn_result *res,
    EVP_PKEY **new_key)
{
	EVP_PKEY *prot = nwt_key_load("ca/supplier.key");
	struct nw_txn_keys keys = { prot, NULL, tls_key };
	int waits;

	*new_key = keys.new_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	nwt_txn_run(r, NULL, &keys, res, &waits);
	EVP_PKEY_free(prot);
}

/* The CA's TLS server certificate chains to tls-root.pem, names 127.0.0.1. */
static void
test_https(void **state)
{
	struct nw_txn_result res;
	Cmpd__TxnStartReq *r;
	struct nwt_ca ca;
	EVP_PKEY *key;

	(void)state;
	https_start(&ca, 0);
	r = https_req_new(&ca, "ca/tls-root.pem");
	ir_run(r, NULL, &res, &key);
	nwt_assert_issued(&res, key);
	nw_txn_result_fini(&res);
	EVP_PKEY_free(key);
	nwt_req_free(r);
	nwt_ca_stop(&ca);
}

/* The CMP root is no anchor for the CA's TLS: the reason is named. */
static void
test_https_wrong_anchor(void **state)
{
	struct nw_txn_result res;
	Cmpd__TxnStartReq *r;
	struct nwt_ca ca;
	EVP_PKEY *key;
	char want[256];

	(void)state;
	https_start(&ca, 0);
	r = https_req_new(&ca, "ca/root.pem");
	ir_run(r, NULL, &res, &key);
	snprintf(want, sizeof(want),
	    "cannot reach %s: TLS handshake with 127.0.0.1:%d failed: "
	    "certificate verify failed: unable to get local issuer "
	    "certificate",
	    r->server_url, ca.port);
	nwt_assert_failed(&res, CMPD_ETRANSPORT, want);
	nw_txn_result_fini(&res);
	EVP_PKEY_free(key);
	nwt_req_free(r);
	nwt_ca_stop(&ca);
}

/* A CA that wants a client certificate: none fails, one works (TLS 1.3). */
static void
test_https_client_cert(void **state)
{
	static const char *const client[] = { "ca/tls-client.pem" };
	EVP_PKEY *tls_key = nwt_key_load("ca/tls-client.key");
	struct nw_txn_result res;
	Cmpd__TxnStartReq *r;
	struct nwt_ca ca;
	EVP_PKEY *key;

	(void)state;
	https_start(&ca, 1);
	r = https_req_new(&ca, "ca/tls-root.pem");
	ir_run(r, NULL, &res, &key);
	nwt_assert_failed(&res, CMPD_ETRANSPORT,
	    "failed: the CA asks for a TLS client certificate and none is "
	    "configured");
	nw_txn_result_fini(&res);
	EVP_PKEY_free(key);
	nwt_req_certs_set(&r->tls_certs, &r->n_tls_certs, client, 1);
	ir_run(r, tls_key, &res, &key);
	nwt_assert_issued(&res, key);
	nw_txn_result_fini(&res);
	EVP_PKEY_free(key);
	EVP_PKEY_free(tls_key);
	nwt_req_free(r);
	nwt_ca_stop(&ca);
}

/* Through an HTTP proxy: a CONNECT tunnel, then TLS with the CA. */
static void
test_https_through_proxy(void **state)
{
	struct nw_txn_result res;
	Cmpd__TxnStartReq *r;
	char proxy[64], line[128];
	struct nwt_ca ca;
	EVP_PKEY *key;
	pid_t pid;
	int port = nwt_proxy_start(NULL, &pid);

	(void)state;
	assert_true(port > 0);
	https_start(&ca, 0);
	r = https_req_new(&ca, "ca/tls-root.pem");
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", port);
	r->proxy = strdup(proxy);
	ir_run(r, NULL, &res, &key);
	nwt_assert_issued(&res, key);
	nw_txn_result_fini(&res);
	EVP_PKEY_free(key);
	snprintf(line, sizeof(line), "CONNECT 127.0.0.1:%d", ca.port);
	assert_true(nwt_proxy_log_has(line));
	nwt_req_free(r);
	nwt_ca_stop(&ca);
	nwt_proxy_stop(pid);
}

/* A proxy that opens tunnels to port 443 only: its answer is named. */
static void
test_https_proxy_refuses(void **state)
{
	struct nw_txn_result res;
	Cmpd__TxnStartReq *r;
	char proxy[64], want[256];
	struct nwt_ca ca;
	EVP_PKEY *key;
	pid_t pid;
	int port = nwt_proxy_start("ConnectPort 443", &pid);

	(void)state;
	assert_true(port > 0);
	https_start(&ca, 0);
	r = https_req_new(&ca, "ca/tls-root.pem");
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", port);
	r->proxy = strdup(proxy);
	ir_run(r, NULL, &res, &key);
	snprintf(want, sizeof(want),
	    "cannot reach %s: the proxy 127.0.0.1:%d refused the tunnel to "
	    "127.0.0.1:%d: 403",
	    r->server_url, port, ca.port);
	nwt_assert_failed(&res, CMPD_ETRANSPORT, want);
	nw_txn_result_fini(&res);
	EVP_PKEY_free(key);
	nwt_req_free(r);
	nwt_ca_stop(&ca);
	nwt_proxy_stop(pid);
}

/*
 * The keyworker's signer in-process (keystore, grants, kw_sign) behind the
 * remote-key provider, as cmpd-keyworker and remote.c put them together.
 */
struct kwfx {
	char dir[64];
	struct kw_keystore *ks;
	struct kw_grants *gs;
	OSSL_LIB_CTX *libctx;
	pthread_mutex_t mu;
	int signatures;
	int refusals;
	char refusal[256];
};

static cmpd_err
kwfx_sign_cb(void *arg, const char *job_id, const char *key_id,
    const char *digest, const uint8_t *tbs, size_t tbslen, uint8_t **sig,
    size_t *siglen)
{
	Cmpd__SignReq req = CMPD__SIGN_REQ__INIT;
	struct kwfx *k = arg;
	struct kw_why why;
	uint8_t *s = NULL;
	size_t n = 0;
	cmpd_err rv;

	req.job_id = (char *)job_id;
	req.key_id = (char *)key_id;
	req.digest = (char *)digest;
	req.tbs.data = (uint8_t *)tbs;
	req.tbs.len = tbslen;
	pthread_mutex_lock(&k->mu);
	if ((rv = kw_sign_req_check(&req, &why)) == CMPD_OK)
		rv = kw_sign(k->gs, &req, &s, &n, &why);
	if (rv == CMPD_OK) {
		k->signatures++;
		*sig = OPENSSL_memdup(s, n);
		*siglen = n;
	} else {
		k->refusals++;
		snprintf(k->refusal, sizeof(k->refusal), "%s", why.text);
	}
	pthread_mutex_unlock(&k->mu);
	free(s);
	return rv == CMPD_OK && *sig == NULL ? CMPD_ENOMEM : rv;
}

static void
kwfx_init(struct kwfx *k)
{
	char keys[128];

	memset(k, 0, sizeof(*k));
	snprintf(k->dir, sizeof(k->dir), "%s", "/tmp/cmpd-nwtls.XXXXXX");
	assert_non_null(mkdtemp(k->dir));
	snprintf(keys, sizeof(keys), "%s/keys", k->dir);
	assert_int_equal(kw_keystore_open(keys, &k->ks), CMPD_OK);
	assert_int_equal(kw_grants_new(&k->gs), CMPD_OK);
	pthread_mutex_init(&k->mu, NULL);
	assert_non_null(k->libctx = OSSL_LIB_CTX_new());
	assert_int_equal(cmpd_rkprov_load(k->libctx, kwfx_sign_cb, k), CMPD_OK);
}

static void
kwfx_fini(struct kwfx *k)
{
	char cmd[128];

	cmpd_rkprov_unload(k->libctx);
	OSSL_LIB_CTX_free(k->libctx);
	kw_grants_free(k->gs);
	kw_keystore_free(k->ks);
	pthread_mutex_destroy(&k->mu);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", k->dir);
	assert_int_equal(system(cmd), 0);
}

/*
 * A grant of op (MAC protection) for the transaction nwt_req_new names,
 * with the new key new_id and the TLS key tls_id, or none ("").
 */
static void
kwfx_grant(
    struct kwfx *k, Cmpd__CmpOp op, const char *new_id, const char *tls_id)
{
	Cmpd__GrantReq g = CMPD__GRANT_REQ__INIT;
	struct kw_why why;

	g.job_id = JOB;
	g.op = op;
	g.new_key_id = (char *)new_id;
	g.transaction_id.data = (uint8_t *)"tid-0123456789ab";
	g.transaction_id.len = 16;
	g.tls_key_id = (char *)tls_id;
	assert_int_equal(kw_grant_req_check(&g, &why), CMPD_OK);
	if (kw_grant_set(k->gs, k->ks, &g, &why) != CMPD_OK)
		fail_msg("grant: %s", why.text);
}

/* A TLS client certificate for the public key of key, from tls-root. */
static X509 *
client_cert_issue(const struct kw_key *key)
{
	const unsigned char *p = key->spki;
	EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, (long)key->spki_len);
	EVP_PKEY *ca_key = nwt_key_load("ca/tls-root.key");
	X509 *ca = nwt_cert_load("ca/tls-root.pem"), *x = X509_new();
	X509_EXTENSION *ext;
	X509V3_CTX v3;

	assert_non_null(pub);
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 4711);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)"keyworker tls", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(ca));
	X509_gmtime_adj(X509_getm_notBefore(x), -300);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, pub);
	X509V3_set_ctx(&v3, ca, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_ext_key_usage, "clientAuth");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, ca_key, EVP_sha256()) > 0);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(ca_key);
	X509_free(ca);
	return x;
}

static void
req_tls_cert_set(Cmpd__TxnStartReq *r, X509 *cert)
{
	ProtobufCBinaryData *d = calloc(1, sizeof(*d));
	unsigned char *p;

	nwt_req_certs_set(&r->tls_certs, &r->n_tls_certs, NULL, 0);
	d->len = (size_t)i2d_X509(cert, NULL);
	d->data = p = malloc(d->len);
	i2d_X509(cert, &p);
	r->tls_certs = d;
	r->n_tls_certs = 1;
}

/* MAC protection with the CA's secret and reference. */
static void
req_mac_set(Cmpd__TxnStartReq *r)
{
	char secret[128];
	FILE *f = fopen(nwt_path("ca/mac-secret.txt"), "r");

	assert_non_null(f);
	assert_non_null(fgets(secret, sizeof(secret), f));
	fclose(f);
	secret[strcspn(secret, "\n")] = '\0';
	nwt_req_mac_set(r, secret, "device-0001");
}

/* A caCerts genm over https with the keyworker's TLS key, MAC-protected. */
static void
kwfx_genm_run(struct kwfx *k, const struct nwt_ca *ca, const struct kw_key *key,
    X509 *cert, struct nw_txn_result *res)
{
	struct nw_txn_keys keys = { NULL, NULL, NULL };
	Cmpd__TxnStartReq *r = https_req_new(ca, "ca/tls-root.pem");
	int waits;

	req_mac_set(r);
	r->op = CMPD__CMP_OP__CMP_OP_GENM;
	r->genm_type = CMPD__GENM_TYPE__GENM_CA_CERTS;
	req_tls_cert_set(r, cert);
	assert_int_equal(cmpd_rkprov_key_new(k->libctx, JOB, key->id, key->type,
	                     key->spki, key->spki_len, &keys.tls),
	    CMPD_OK);
	nwt_txn_run(r, k->libctx, &keys, res, &waits);
	EVP_PKEY_free(keys.tls);
	nwt_req_free(r);
}

/*
 * The client key in the keyworker (P-256, then P-384): the handshake's
 * CertificateVerify is signed there, and only with the TLS grant.
 */
static void
test_https_keyworker_client_key(void **state)
{
	EVP_PKEY *pkey = nwt_key_load("ca/tls-client.key");
	X509 *cert = nwt_cert_load("ca/tls-client.pem"), *cert384;
	const struct kw_key *key, *key384;
	struct nw_txn_result res;
	struct kw_why why;
	struct nwt_ca ca;
	struct kwfx k;

	(void)state;
	kwfx_init(&k);
	assert_int_equal(kw_keystore_store(k.ks, pkey, &key, &why), CMPD_OK);
	https_start(&ca, 1);
	kwfx_grant(&k, CMPD__CMP_OP__CMP_OP_GENM, "", key->id);
	kwfx_genm_run(&k, &ca, key, cert, &res);
	if (res.result != CMPD__TXN_RESULT__TXN_DONE)
		fail_msg("%s (keyworker: %s)", res.error_text, k.refusal);
	assert_int_equal(sk_X509_num(res.genm.ca_certs), 2);
	assert_int_equal(k.signatures, 1);
	assert_int_equal(k.refusals, 0);
	nw_txn_result_fini(&res);
	/* Without the TLS key in the grant the keyworker refuses. */
	kwfx_grant(&k, CMPD__CMP_OP__CMP_OP_GENM, "", "");
	kwfx_genm_run(&k, &ca, key, cert, &res);
	nwt_assert_failed(&res, CMPD_ETRANSPORT,
	    "failed: the TLS client key did not sign: cmpd-remote: job "
	    "0123456789abcdef key ");
	assert_int_equal(k.refusals, 1);
	assert_string_equal(k.refusal, "key not in the job's grant");
	nw_txn_result_fini(&res);
	/* P-384: TLS_AES_256_GCM_SHA384, so a 48-byte transcript hash. */
	assert_int_equal(kw_keystore_generate(
	                     k.ks, CMPD__KEY_TYPE__KEY_EC_P384, &key384, &why),
	    CMPD_OK);
	cert384 = client_cert_issue(key384);
	kwfx_grant(&k, CMPD__CMP_OP__CMP_OP_GENM, "", key384->id);
	kwfx_genm_run(&k, &ca, key384, cert384, &res);
	if (res.result != CMPD__TXN_RESULT__TXN_DONE)
		fail_msg("%s (keyworker: %s)", res.error_text, k.refusal);
	assert_int_equal(k.signatures, 2);
	nw_txn_result_fini(&res);
	nwt_ca_stop(&ca);
	X509_free(cert384);
	X509_free(cert);
	EVP_PKEY_free(pkey);
	kwfx_fini(&k);
}

/*
 * P10CR with a keyworker key: the networker builds the PKCS#10 request and
 * the keyworker signs its CertificationRequestInfo, having checked that it
 * carries that key; the CA certifies the key.
 */
static void
test_p10cr_keyworker_key(void **state)
{
	struct nw_txn_keys keys = { NULL, NULL, NULL };
	struct nw_txn_result res;
	const struct kw_key *key;
	Cmpd__TxnStartReq *r;
	struct kw_why why;
	struct nwt_ca ca;
	struct kwfx k;
	int waits;

	(void)state;
	kwfx_init(&k);
	assert_int_equal(
	    kw_keystore_generate(k.ks, CMPD__KEY_TYPE__KEY_EC_P384, &key, &why),
	    CMPD_OK);
	https_start(&ca, 0);
	r = https_req_new(&ca, "ca/tls-root.pem");
	req_mac_set(r);
	r->op = CMPD__CMP_OP__CMP_OP_P10CR;
	r->p10cr = 1;
	kwfx_grant(&k, CMPD__CMP_OP__CMP_OP_P10CR, key->id, "");
	assert_int_equal(cmpd_rkprov_key_new(k.libctx, JOB, key->id, key->type,
	                     key->spki, key->spki_len, &keys.new_key),
	    CMPD_OK);
	nwt_txn_run(r, k.libctx, &keys, &res, &waits);
	nwt_assert_issued(&res, keys.new_key);
	assert_int_equal(k.signatures, 1);
	assert_int_equal(k.refusals, 0);
	nw_txn_result_fini(&res);
	EVP_PKEY_free(keys.new_key);
	nwt_req_free(r);
	nwt_ca_stop(&ca);
	kwfx_fini(&k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_https),
		cmocka_unit_test(test_https_wrong_anchor),
		cmocka_unit_test(test_https_client_cert),
		cmocka_unit_test(test_https_through_proxy),
		cmocka_unit_test(test_https_proxy_refuses),
		cmocka_unit_test(test_https_keyworker_client_key),
		cmocka_unit_test(test_p10cr_keyworker_key),
	};
	int rv;

	cmpd_log_init("test_networker_https", CMPD_LOG_INFO);
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
