/*
 * libFuzzer target: what the networker does with a CA's answers. A real
 * transaction of networker/txn*.c runs (OpenSSL's CMP client with the
 * networker's callbacks: the transactionID check, the certConf decision
 * of certcheck.c, the genm checks, the failure texts), with only its HTTP
 * exchange replaced: the link option -Wl,--wrap=OSSL_CMP_MSG_http_perform
 * sends the call in txnstep.c to __wrap_OSSL_CMP_MSG_http_perform below,
 * which answers with the next PKIMessage of the input.
 *
 * Input: byte 0 picks the operation (ops[]); bit 0 of byte 1 asks for
 * "fixed" answers; then at most FUZZ_ANSWERS answers, each a two-byte
 * big-endian length and that many bytes of DER. A fixed answer gets the
 * request's transactionID and senderNonce (as its recipNonce) and is
 * MAC-protected again with the shared secret, as the real CA would do, so
 * that mutations reach the handling of the body past OpenSSL's header
 * and protection checks. The seeds are real exchanges with cmpd-testca,
 * made for the fixed key and PKI in data/ (data/README.md).
 *
 * Recording seeds: with CMPD_FUZZ_RECORD naming a file, the exchange goes
 * to the real CA at CMPD_FUZZ_SERVER instead, and the file gets the input
 * that replays it (the operation of the given input, fixed answers).
 */
#include <openssl/cmp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "txn.h"

#define FUZZ_ANSWERS   4
#define FUZZ_STEPS     3 /* a waiting answer is polled at most twice more */
#define FUZZ_NONCE_MAX 64

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
OSSL_CMP_MSG *__wrap_OSSL_CMP_MSG_http_perform(
    OSSL_CMP_CTX *ctx, const OSSL_CMP_MSG *req);
OSSL_CMP_MSG *__real_OSSL_CMP_MSG_http_perform(
    OSSL_CMP_CTX *ctx, const OSSL_CMP_MSG *req);

static const struct {
	Cmpd__CmpOp op;
	Cmpd__GenmType genm;
} ops[] = {
	{ CMPD__CMP_OP__CMP_OP_IR, CMPD__GENM_TYPE__GENM_TYPE_UNSPECIFIED },
	{ CMPD__CMP_OP__CMP_OP_P10CR, CMPD__GENM_TYPE__GENM_TYPE_UNSPECIFIED },
	{ CMPD__CMP_OP__CMP_OP_RR, CMPD__GENM_TYPE__GENM_TYPE_UNSPECIFIED },
	{ CMPD__CMP_OP__CMP_OP_GENM, CMPD__GENM_TYPE__GENM_CA_CERTS },
	{ CMPD__CMP_OP__CMP_OP_GENM, CMPD__GENM_TYPE__GENM_ROOT_CA_KEY_UPDATE },
	{ CMPD__CMP_OP__CMP_OP_GENM, CMPD__GENM_TYPE__GENM_CERT_REQ_TEMPLATE },
};

/* The fixtures (data/): the PKI the seeds were made with. */
static struct {
	EVP_PKEY *new_key;
	ProtobufCBinaryData root;     /* DER: root.pem */
	ProtobufCBinaryData old_cert; /* DER: a certificate it issued */
	ProtobufCBinaryData secret;   /* the MAC secret */
} fx;

/* The answers still to give in this run. */
static struct {
	const uint8_t *p;
	size_t left;
	int fixed;
	int given;
	FILE *record; /* recording seeds instead */
} feed;

static void die(const char *what) __attribute__((noreturn));

static void
die(const char *what)
{
	fprintf(stderr, "fuzz_ca_response: %s\n", what);
	ERR_print_errors_fp(stderr);
	abort();
}

static FILE *
data_open(const char *name)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", CMPD_FUZZ_DATA, name);
	if ((f = fopen(path, "r")) == NULL)
		die(path);
	return f;
}

static void
cert_der_load(const char *name, ProtobufCBinaryData *out)
{
	FILE *f = data_open(name);
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	unsigned char *der = NULL;
	int len;

	fclose(f);
	if (x == NULL || (len = i2d_X509(x, &der)) <= 0)
		die(name);
	X509_free(x);
	out->data = der;
	out->len = (size_t)len;
}

static void
fixtures_load(void)
{
	FILE *f = data_open("newkey.pem");
	char line[256];

	fx.new_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (fx.new_key == NULL)
		die("newkey.pem");
	cert_der_load("root.pem", &fx.root);
	cert_der_load("oldcert.pem", &fx.old_cert);
	f = data_open("mac-secret.txt");
	if (fgets(line, sizeof(line), f) == NULL)
		die("mac-secret.txt");
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	fx.secret.len = strlen(line);
	if ((fx.secret.data = (uint8_t *)strdup(line)) == NULL)
		die("memory");
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* Silent, unless CMPD_FUZZ_LOG asks to see what a seed does. */
	cmpd_log_init("fuzz-ca-response",
	    getenv("CMPD_FUZZ_LOG") != NULL ? CMPD_LOG_INFO : CMPD_LOG_ERR - 1);
	fixtures_load();
	return 0;
}

/* Steps into the DER element at *p (of at most len bytes). */
static int
der_enter(const unsigned char **p, long len, long *inner, int *tag, int *cls)
{
	return (ASN1_get_object(p, inner, tag, cls, len) & 0x80) == 0;
}

/*
 * The request's senderNonce (OpenSSL 3.0 has no getter): PKIMessage ->
 * PKIHeader -> [5] EXPLICIT OCTET STRING.
 */
static size_t
sender_nonce(const OSSL_CMP_MSG *req, unsigned char *out)
{
	unsigned char *der = NULL;
	const unsigned char *p, *end;
	long len, l;
	int tag, cls, total = i2d_OSSL_CMP_MSG(req, &der);
	size_t n = 0;

	p = der;
	if (total <= 0 || !der_enter(&p, total, &len, &tag, &cls) ||
	    !der_enter(&p, len, &len, &tag, &cls))
		goto out;
	for (end = p + len; p < end; p += l) {
		if (!der_enter(&p, end - p, &l, &tag, &cls))
			goto out;
		if (cls != V_ASN1_CONTEXT_SPECIFIC || tag != 5)
			continue;
		if (der_enter(&p, l, &l, &tag, &cls) &&
		    tag == V_ASN1_OCTET_STRING && l > 0 &&
		    l <= FUZZ_NONCE_MAX) {
			memcpy(out, p, (size_t)l);
			n = (size_t)l;
		}
		break;
	}
out:
	OPENSSL_free(der);
	return n;
}

/* Puts nonce in place of the answer's recipNonce of the same length. */
static void
recip_nonce_set(OSSL_CMP_MSG **msg, const unsigned char *nonce, size_t n)
{
	const ASN1_OCTET_STRING *old =
	    OSSL_CMP_HDR_get0_recipNonce(OSSL_CMP_MSG_get0_header(*msg));
	unsigned char *der = NULL, *hit;
	const unsigned char *p;
	OSSL_CMP_MSG *m = NULL;
	int len;

	if (old == NULL || (size_t)ASN1_STRING_length(old) != n ||
	    (len = i2d_OSSL_CMP_MSG(*msg, &der)) <= 0)
		return;
	if ((hit = memmem(der, (size_t)len, ASN1_STRING_get0_data(old), n)) !=
	    NULL) {
		memcpy(hit, nonce, n);
		p = der;
		m = d2i_OSSL_CMP_MSG(NULL, &p, len);
	}
	OPENSSL_free(der);
	if (m != NULL) {
		OSSL_CMP_MSG_free(*msg);
		*msg = m;
	}
}

/* The request's transactionID, MAC-protected again (if it was). */
static void
reprotect(const OSSL_CMP_MSG *req, OSSL_CMP_MSG *msg)
{
	static const unsigned char ref[] = "device-0001";
	OSSL_CMP_CTX *srv = OSSL_CMP_CTX_new(NULL, NULL);

	if (srv == NULL ||
	    !OSSL_CMP_CTX_set1_secretValue(
	        srv, fx.secret.data, (int)fx.secret.len) ||
	    !OSSL_CMP_CTX_set1_referenceValue(srv, ref, sizeof(ref) - 1) ||
	    !OSSL_CMP_CTX_set1_transactionID(srv,
	        OSSL_CMP_HDR_get0_transactionID(OSSL_CMP_MSG_get0_header(req))))
		die("server context");
	(void)OSSL_CMP_MSG_update_transactionID(srv, msg);
	OSSL_CMP_CTX_free(srv);
}

/* The real CA's answer, appended to the recording. */
static OSSL_CMP_MSG *
record_answer(OSSL_CMP_CTX *ctx, const OSSL_CMP_MSG *req)
{
	OSSL_CMP_MSG *rep = __real_OSSL_CMP_MSG_http_perform(ctx, req);
	unsigned char *der = NULL;
	int len;

	if (rep == NULL || (len = i2d_OSSL_CMP_MSG(rep, &der)) <= 0 ||
	    len > 0xffff)
		die("no answer to record");
	fputc(len >> 8, feed.record);
	fputc(len & 0xff, feed.record);
	fwrite(der, 1, (size_t)len, feed.record);
	OPENSSL_free(der);
	return rep;
}

OSSL_CMP_MSG *
__wrap_OSSL_CMP_MSG_http_perform(OSSL_CMP_CTX *ctx, const OSSL_CMP_MSG *req)
{
	unsigned char nonce[FUZZ_NONCE_MAX];
	const unsigned char *p;
	OSSL_CMP_MSG *msg;
	size_t len, n;

	if (feed.record != NULL)
		return record_answer(ctx, req);
	if (feed.given >= FUZZ_ANSWERS || feed.left < 2)
		return NULL; /* as if the CA closed the connection */
	len = (size_t)feed.p[0] << 8 | feed.p[1];
	feed.p += 2;
	feed.left -= 2;
	if (len > feed.left)
		len = feed.left;
	p = feed.p;
	msg = d2i_OSSL_CMP_MSG(NULL, &p, (long)len);
	feed.p += len;
	feed.left -= len;
	feed.given++;
	if (msg != NULL && feed.fixed) {
		if ((n = sender_nonce(req, nonce)) > 0)
			recip_nonce_set(&msg, nonce, n);
		reprotect(req, msg);
	}
	return msg;
}

static void
req_fill(Cmpd__TxnStartReq *r, size_t op, uint8_t *tid)
{
	r->job_id = "0123456789abcdef";
	r->op = ops[op].op;
	r->genm_type = ops[op].genm;
	r->transaction_id.data = tid;
	r->transaction_id.len = 16;
	r->server_url = feed.record != NULL ? getenv("CMPD_FUZZ_SERVER")
	                                    : "http://127.0.0.1:9/pkix/";
	r->msg_timeout = 5;
	r->mac_secret = fx.secret;
	r->mac_reference = "device-0001";
	r->subject = "/CN=cmpd fuzz";
	r->enroll_trusted = &fx.root;
	r->n_enroll_trusted = 1;
	r->trusted = &fx.root;
	r->n_trusted = 1;
	r->revocation_reason = 4;
	if (r->op == CMPD__CMP_OP__CMP_OP_RR)
		r->old_cert = fx.old_cert;
}

/* What a step reports must be whole: a failure says why, a certificate
 * comes with its chain. */
static void
result_check(const struct nw_txn_result *res, int certreq)
{
	switch (res->result) {
	case CMPD__TXN_RESULT__TXN_FAILED:
		if (res->error_text[0] == '\0')
			die("a failure without a reason");
		break;
	case CMPD__TXN_RESULT__TXN_DONE:
		if (certreq && (res->cert == NULL || res->chain == NULL))
			die("done without the certificate and its chain");
		break;
	case CMPD__TXN_RESULT__TXN_WAITING:
		break;
	default:
		die("a step without a result");
	}
}

static void
txn_run(size_t op)
{
	Cmpd__TxnStartReq r = CMPD__TXN_START_REQ__INIT;
	uint8_t tid[16] = { 0x42 };
	int certreq = ops[op].op == CMPD__CMP_OP__CMP_OP_IR ||
	    ops[op].op == CMPD__CMP_OP__CMP_OP_P10CR;
	struct nw_txn_keys keys = { .new_key = certreq ? fx.new_key : NULL };
	struct nw_txn_result res;
	struct nw_txn *t = NULL;
	char why[512];
	int waiting = 1;

	req_fill(&r, op, tid);
	if (nw_txn_new(NULL, &r, &keys, &t, why, sizeof(why)) != CMPD_OK)
		die(why);
	for (int i = 0; i < FUZZ_STEPS && waiting; i++) {
		nw_txn_result_init(&res);
		nw_txn_step(t, &res);
		result_check(&res, certreq);
		waiting = res.result == CMPD__TXN_RESULT__TXN_WAITING;
		nw_txn_result_fini(&res);
	}
	nw_txn_abort(t);
	nw_txn_free(t);
}

/* Starts a recording of the exchange for op (CMPD_FUZZ_RECORD). */
static void
record_start(uint8_t op)
{
	static int done; /* libFuzzer may run an input more than once */
	const char *path = getenv("CMPD_FUZZ_RECORD");

	if (path == NULL || done++)
		return;
	if (getenv("CMPD_FUZZ_SERVER") == NULL ||
	    (feed.record = fopen(path, "w")) == NULL)
		die("CMPD_FUZZ_RECORD needs CMPD_FUZZ_SERVER and a file");
	fputc(op, feed.record);
	fputc(1, feed.record);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	record_start(data[0]);
	feed.p = data + 2;
	feed.left = size - 2;
	feed.fixed = data[1] & 1;
	feed.given = 0;
	txn_run(data[0] % (sizeof(ops) / sizeof(ops[0])));
	ERR_clear_error();
	if (feed.record != NULL && fclose(feed.record) != 0)
		die("cannot write the recording");
	feed.record = NULL;
	return 0;
}
