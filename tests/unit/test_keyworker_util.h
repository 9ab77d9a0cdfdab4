/*
 * Helpers for the keyworker tests: temporary directories, keys and
 * certificates, DER walking, real CMP messages built by OpenSSL's own
 * client (optionally answered by an in-process OpenSSL CMP server, so that
 * certConf and pollReq can be captured too), the client side of a key
 * import (CMS_encrypt to the import certificate), and stderr capture.
 */
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "cmpd.pb-c.h"

#define KWT_MAX_MSGS 8

/* A new directory under /tmp (malloc'd path); kwt_rmtree removes it. */
char *kwt_tmpdir(void);
void kwt_rmtree(const char *dir);

/* A self-signed certificate for key. */
X509 *kwt_selfsigned(EVP_PKEY *key, const char *cn);

/* The public key of a DER SPKI, and the key's own SPKI (malloc'd). */
EVP_PKEY *kwt_pubkey(const uint8_t *spki, size_t len);
uint8_t *kwt_spki(EVP_PKEY *key, size_t *len);

/* 1 if sig is key spki's signature of tbs (digest "" for Ed25519). */
int kwt_verify(const uint8_t *spki, size_t spki_len, const char *digest,
    const uint8_t *tbs, size_t tbs_len, const uint8_t *sig, size_t sig_len);

/* The idx-th element inside the constructed DER element tlv. */
int kwt_der_child(const uint8_t *tlv, size_t len, int idx, const uint8_t **out,
    size_t *out_len);

/* The ProtectedPart (SEQUENCE {header, body}) of a PKIMessage; malloc'd. */
uint8_t *kwt_protected_part(const uint8_t *msg, size_t len, size_t *pp_len);

/* The first CertRequest of an ir/cr/kur PKIMessage (points into msg). */
int kwt_cert_request(
    const uint8_t *msg, size_t len, const uint8_t **cr, size_t *cr_len);

/* A PKCS#10 CertificationRequestInfo for key (malloc'd). */
uint8_t *kwt_p10_info(EVP_PKEY *key, size_t *len);

/* One CMP exchange of OpenSSL's client. */
struct kwt_cmp {
	Cmpd__CmpOp op;
	const uint8_t *txid; /* 16 bytes */
	EVP_PKEY *prot_key;  /* private; NULL: MAC (PBM) protection */
	X509 *prot_cert;
	EVP_PKEY *new_key; /* private: POPO signature; public: RAVERIFIED */
	int new_priv;
	int digest_nid; /* protection digest; 0: OpenSSL's default */
	int server;     /* answer with an in-process server */
	int poll;       /* the server says 'waiting' first */
};

/* The requests the client sent, DER, with their PKIBody types. */
struct kwt_msgs {
	uint8_t *der[KWT_MAX_MSGS];
	size_t len[KWT_MAX_MSGS];
	int type[KWT_MAX_MSGS];
	size_t n;
};

/* Runs c; 0 if at least one request was captured. */
int kwt_cmp_run(const struct kwt_cmp *c, struct kwt_msgs *out);
const uint8_t *kwt_msgs_find(const struct kwt_msgs *m, int type, size_t *len);
void kwt_msgs_free(struct kwt_msgs *m);

/*
 * What a client does to import key: CMS_encrypt its DER PKCS#8 to the
 * import certificate with cipher (AES-256-GCM gives AuthEnvelopedData).
 */
uint8_t *kwt_envelope(EVP_PKEY *key, const uint8_t *cert_der, size_t cert_len,
    const EVP_CIPHER *cipher, size_t *len);

/* Sends fd 2 to path until kwt_stderr_end, which returns what was
 * written (malloc'd). */
int kwt_stderr_begin(const char *path);
char *kwt_stderr_end(int saved, const char *path);

/* Reads a whole file (malloc'd, NUL-terminated); NULL if it cannot. */
char *kwt_read_file(const char *path, size_t *len);
