/*
 * Internals of the CMP service shared by server.c (loading, the request
 * pipeline), txn.c (the transaction table), auth.c (request protection)
 * and reqs.c (the OSSL_CMP_SRV_CTX callbacks that answer each body type).
 */
#pragma once

#include <openssl/cmp.h>
#include <pthread.h>
#include <stdint.h>

#include "issue.h"
#include "registry.h"
#include "server.h"
#include "util.h"

#define TCA_SERVER_MAGIC 0x54434153u /* "TCAS" */
#define TCA_TXN_MAGIC    0x5443414eu /* "TCAN" */

/* Longest transactionID accepted, in bytes (RFC 9810 asks for 128 bits). */
#define TCA_TID_MAX 64
#define TCA_WHY_MAX 512

/* failInfo bit masks for OSSL_CMP_STATUSINFO_new(). */
#define TCA_FAIL(bit) (1 << OSSL_CMP_PKIFAILUREINFO_##bit)

/* PKIBody choices (RFC 9810 5.1.2); OpenSSL 3.0 keeps its names private. */
enum tca_body {
	TCA_BODY_IR = 0,
	TCA_BODY_IP = 1,
	TCA_BODY_CR = 2,
	TCA_BODY_CP = 3,
	TCA_BODY_P10CR = 4,
	TCA_BODY_KUR = 7,
	TCA_BODY_KUP = 8,
	TCA_BODY_RR = 11,
	TCA_BODY_RP = 12,
	TCA_BODY_PKICONF = 19,
	TCA_BODY_GENM = 21,
	TCA_BODY_GENP = 22,
	TCA_BODY_ERROR = 23,
	TCA_BODY_CERTCONF = 24,
	TCA_BODY_POLLREQ = 25,
	TCA_BODY_POLLREP = 26,
	TCA_BODY_MAX = 27
};

/* Everything the service loaded; read-only once made, shared by threads. */
struct tca_server {
	uint32_t magic;
	struct tca_serve_opts opts;
	struct tca_issuer issuer; /* ca.pem, ca.key */
	X509 *root;
	X509 *supplier_root;
	X509 *srv_cert;
	EVP_PKEY *srv_key;
	STACK_OF(X509) * untrusted;    /* ca.pem: intermediate of clients */
	STACK_OF(X509) * extra;        /* ca.pem, root.pem: in every response */
	X509_STORE *store_supplier;    /* root.pem + supplier-root.pem */
	X509_STORE *store_own;         /* root.pem */
	ASN1_OCTET_STRING *mac_ref;    /* mac-ref.txt */
	ASN1_OCTET_STRING *mac_secret; /* mac-secret.txt */
	/* genm answers (genm.c): DER SEQUENCEs, NULL when answered empty. */
	ASN1_STRING *ca_certs;         /* SEQUENCE OF Certificate [ca, root] */
	ASN1_STRING *root_update;      /* RootCaKeyUpdateContent */
	ASN1_STRING *req_template;     /* CertReqTemplateContent */
	ASN1_OBJECT *oid_root_ca_cert; /* id-it-rootCaCert, unknown to 3.0 */
	struct tca_registry *reg;
	struct tca_txn_table *txns;
};

/* How the first request of a transaction was protected. */
enum tca_prot {
	TCA_PROT_UNSET,
	TCA_PROT_NONE,
	TCA_PROT_MAC,
	TCA_PROT_SIG,
	TCA_PROT_OTHER,
	TCA_PROT_MAX
};

enum tca_poll {
	TCA_POLL_NONE,     /* not delayed (yet) */
	TCA_POLL_WAITING,  /* answered 'waiting', the request is kept */
	TCA_POLL_RELEASED, /* handed back to OpenSSL for issuing */
	TCA_POLL_MAX
};

/*
 * One CMP transaction: its own OSSL_CMP_SRV_CTX (3.0 serves one
 * transaction per context), used by one request at a time under mu.
 */
struct tca_txn {
	uint32_t magic;
	char tid[2 * TCA_TID_MAX + 1]; /* transactionID in hex */
	struct tca_server *srv;
	pthread_mutex_t mu;
	OSSL_CMP_SRV_CTX *ctx; /* made for the first request */
	enum tca_prot prot;
	int first_type;
	/* The request being answered. */
	const uint8_t *der;
	size_t der_len;
	int refused;               /* its protection is not acceptable */
	int fail_info;             /* failInfo bits of a refusal or denial */
	char why[TCA_WHY_MAX];     /* its statusString */
	char outcome[TCA_WHY_MAX]; /* for the log line */
	int cert_refused;          /* a certificate request was rejected */
	/* Polling. */
	enum tca_poll poll;
	int polls;
	OSSL_CMP_MSG *poll_req;
	/* The certificate issued in this transaction, for certConf. */
	X509 *cert;
	/* Table bookkeeping, under the table's lock. */
	int refs;
	int linked;
	uint64_t last_ms;
	struct tca_txn *prev, *next;
};

#define TCA_TXN_CHECK(t) CMPD_MAGIC_CHECK(t, TCA_TXN_MAGIC)

/* txn.c: the table of open transactions, by transactionID. */
struct tca_txn_table;
cmpd_err tca_txn_table_new(struct tca_txn_table **out);
void tca_txn_table_free(struct tca_txn_table *t);
/* Finds or creates transaction tid and returns it locked. */
cmpd_err tca_txn_acquire(struct tca_txn_table *t, struct tca_server *srv,
    const char *tid, struct tca_txn **out);
/* Unlocks txn; finished removes it from the table (freed when unused). */
void tca_txn_release(
    struct tca_txn_table *t, struct tca_txn *txn, int finished);
/* Frees the transactions unused for idle_ms; returns how many. */
size_t tca_txn_sweep(struct tca_txn_table *t, uint64_t idle_ms);

/* auth.c: which requests the CA accepts. */
/* A trust store of anchors[0..n) that refuses certificates we revoked. */
cmpd_err tca_auth_store_new(
    struct tca_server *srv, X509 *const *anchors, int n, X509_STORE **out);
/*
 * Checks the protection of the request in txn->der; on the transaction's
 * first request it also sets the context's trust or MAC secret. A refusal
 * sets txn->refused, txn->fail_info and txn->why.
 */
void tca_auth_check(struct tca_txn *txn, const OSSL_CMP_MSG *req);
/* Whether req's protection is a valid signature by cert's key. */
int tca_auth_signed_by(const OSSL_CMP_MSG *req, X509 *cert);

/* reqs.c: installs the callbacks answering each body type. */
int tca_reqs_init(OSSL_CMP_SRV_CTX *ctx, struct tca_txn *txn);

/* genm.c: the answers to genm. */
/* Makes srv's genm answers from the PKI in dir, as srv->opts asks. */
cmpd_err tca_genm_init(struct tca_server *srv, const char *dir);
void tca_genm_fini(struct tca_server *srv);
/* The answer to the genm ITAV in; note names what was asked, for the log
 * line. NULL when out of memory. */
OSSL_CMP_ITAV *tca_genm_answer(
    struct tca_server *srv, const OSSL_CMP_ITAV *in, char *note, size_t len);

/* server.c: OpenSSL CMP log lines (there is no user argument). */
int tca_cmp_log_cb(const char *func, const char *file, int line,
    OSSL_CMP_severity level, const char *msg);
/* DIR/FILE as a certificate; as the private key of cert. */
cmpd_err tca_load_cert(const char *dir, const char *file, X509 **out);
cmpd_err tca_load_key(
    const char *dir, const char *file, X509 *cert, EVP_PKEY **out);
