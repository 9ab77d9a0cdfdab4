/*
 * Keys in cmpd's key store: listing them, and importing a private key so
 * that only the keyworker can read it. The key leaves this process only
 * inside a CMS AuthEnvelopedData (AES-256-GCM) for the keyworker's import
 * certificate; the broker relays ciphertext.
 */
#include <errno.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "fileio.h"
#include "keyid.h"
#include "util.h"

#define KEY_FILE_MAX (1u << 20)

static void
key_info_fini(struct cmpd_key_info *k)
{
	free(k->spki);
	free(k->spki_pem);
	memset(k, 0, sizeof(*k));
}

static cmpd_result
key_info_init(cmpd_client *c, struct cmpd_key_info *k, const Cmpd__KeyInfo *pb)
{
	memset(k, 0, sizeof(*k));
	if (pb == NULL || !cmpd_is_hex_id(pb->id, CMPD_KEY_ID_LEN) ||
	    pb->spki.len == 0)
		return client_fail(c, CMPD_RESULT_PROTOCOL,
		    "cmpd sent a key without an id or public key");
	memcpy(k->id, pb->id, strlen(pb->id) + 1);
	k->type = pb->type;
	k->created = pb->created;
	k->spki_len = pb->spki.len;
	if ((k->spki = malloc(pb->spki.len)) == NULL ||
	    (k->spki_pem = pem_encode(
	         "PUBLIC KEY", pb->spki.data, pb->spki.len)) == NULL) {
		key_info_fini(k);
		return client_fail(c, CMPD_RESULT_NOMEM, "out of memory");
	}
	memcpy(k->spki, pb->spki.data, pb->spki.len);
	return CMPD_RESULT_OK;
}

void
cmpd_key_info_free(cmpd_key_info *key)
{
	if (key == NULL)
		return;
	key_info_fini(key);
	free(key);
}

const char *
cmpd_key_info_id(const cmpd_key_info *key)
{
	return key->id;
}

const char *
cmpd_key_info_type(const cmpd_key_info *key)
{
	return cmpd_key_type_name(key->type);
}

const uint8_t *
cmpd_key_info_spki(const cmpd_key_info *key, size_t *len)
{
	*len = key->spki_len;
	return key->spki;
}

const char *
cmpd_key_info_spki_pem(const cmpd_key_info *key)
{
	return key->spki_pem;
}

int64_t
cmpd_key_info_created(const cmpd_key_info *key)
{
	return key->created;
}

static cmpd_result
key_array_fill(cmpd_client *c, cmpd_key_array *arr, const Cmpd__KeyListRep *rep)
{
	arr->keys = calloc(rep->n_keys + 1, sizeof(*arr->keys));
	if (arr->keys == NULL)
		return client_fail(c, CMPD_RESULT_NOMEM, "out of memory");
	for (size_t i = 0; i < rep->n_keys; i++, arr->count++) {
		cmpd_result rv = key_info_init(c, &arr->keys[i], rep->keys[i]);

		if (rv != CMPD_RESULT_OK)
			return rv;
	}
	return CMPD_RESULT_OK;
}

cmpd_result
cmpd_key_list(cmpd_client *client, cmpd_key_array **out)
{
	Cmpd__KeyListReq list = CMPD__KEY_LIST_REQ__INIT;
	cmpd_key_array *arr = NULL;
	cmpd_env req, *rep = NULL;
	cmpd_result rv;

	if (client_check(client) != CMPD_RESULT_OK)
		return CMPD_RESULT_INVALID;
	if (out == NULL)
		return client_fail(client, CMPD_RESULT_INVALID, "out is NULL");
	cmpd_env_init(&req, 0);
	req.body_case = CMPD__ENVELOPE__BODY_KEY_LIST_REQ;
	req.key_list_req = &list;
	rv = client_call(
	    client, &req, CMPD__ENVELOPE__BODY_KEY_LIST_REP, 0, &rep);
	if (rv != CMPD_RESULT_OK)
		return rv;
	if ((arr = calloc(1, sizeof(*arr))) == NULL)
		rv = client_fail(client, CMPD_RESULT_NOMEM, "out of memory");
	else
		rv = key_array_fill(client, arr, rep->key_list_rep);
	cmpd_ipc_free(rep);
	if (rv != CMPD_RESULT_OK) {
		cmpd_key_array_free(arr);
		return rv;
	}
	*out = arr;
	return CMPD_RESULT_OK;
}

size_t
cmpd_key_array_count(const cmpd_key_array *keys)
{
	return keys->count;
}

const cmpd_key_info *
cmpd_key_array_get(const cmpd_key_array *keys, size_t i)
{
	return i < keys->count ? &keys->keys[i] : NULL;
}

void
cmpd_key_array_free(cmpd_key_array *keys)
{
	if (keys == NULL)
		return;
	for (size_t i = 0; i < keys->count; i++)
		key_info_fini(&keys->keys[i]);
	free(keys->keys);
	free(keys);
}

static cmpd_result
key_file_read(cmpd_client *c, const char *path, uint8_t **buf, size_t *len)
{
	cmpd_err e;

	/* cmpd_file_read leaves errno from open(2) when that fails. */
	errno = 0;
	e = cmpd_file_read(path, KEY_FILE_MAX, 0, buf, len);
	switch (e) {
	case CMPD_OK:
		return CMPD_RESULT_OK;
	case CMPD_ENOENT:
		return client_fail(
		    c, CMPD_RESULT_NOT_FOUND, "no such file: %s", path);
	case CMPD_EINVAL:
		return client_fail(c, CMPD_RESULT_INVALID,
		    "%s is too large for a key file", path);
	case CMPD_ENOMEM:
		return client_fail(c, CMPD_RESULT_NOMEM, "out of memory");
	default:
		if (errno == EACCES || errno == EPERM)
			return client_fail(c, CMPD_RESULT_DENIED,
			    "cannot read %s: permission denied", path);
		return client_fail(c, CMPD_RESULT_IO, "cannot read %s: %s",
		    path, errno != 0 ? strerror(errno) : "not a regular file");
	}
}

struct key_pass {
	const char *pass;
	int asked;
};

/* OpenSSL asks for the passphrase here; never on the terminal. */
static int
key_pass_cb(char *buf, int size, int rwflag, void *arg)
{
	struct key_pass *kp = arg;
	size_t n;

	(void)rwflag;
	kp->asked = 1;
	if (kp->pass == NULL || (n = strlen(kp->pass)) > (size_t)size)
		return -1;
	memcpy(buf, kp->pass, n);
	return (int)n;
}

static cmpd_result
key_decode(cmpd_client *c, const char *path, const uint8_t *pem, size_t len,
    const char *pass, EVP_PKEY **out)
{
	struct key_pass kp = { pass, 0 };
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *pkey = NULL;

	if (bio == NULL)
		return client_fail(c, CMPD_RESULT_NOMEM, "out of memory");
	pkey =
	    PEM_read_bio_PrivateKey_ex(bio, NULL, key_pass_cb, &kp, NULL, NULL);
	BIO_free(bio);
	if (pkey != NULL) {
		*out = pkey;
		return CMPD_RESULT_OK;
	}
	ERR_clear_error();
	if (kp.asked && pass == NULL)
		return client_fail(c, CMPD_RESULT_DENIED,
		    "%s is encrypted: a passphrase is needed", path);
	if (kp.asked)
		return client_fail(c, CMPD_RESULT_DENIED,
		    "cannot decrypt %s: wrong passphrase", path);
	return client_fail(
	    c, CMPD_RESULT_INVALID, "%s holds no PEM private key", path);
}

/* The key in path as DER PKCS#8; the caller wipes and frees *out. */
static cmpd_result
key_pkcs8_read(cmpd_client *c, const char *path, const char *pass,
    uint8_t **out, size_t *out_len)
{
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	uint8_t *pem = NULL, *der = NULL;
	size_t pem_len = 0;
	EVP_PKEY *pkey = NULL;
	cmpd_result rv;
	int n = -1;

	rv = key_file_read(c, path, &pem, &pem_len);
	if (rv == CMPD_RESULT_OK)
		rv = key_decode(c, path, pem, pem_len, pass, &pkey);
	cmpd_file_free(pem, pem_len);
	if (rv != CMPD_RESULT_OK)
		return rv;
	if ((p8 = EVP_PKEY2PKCS8(pkey)) != NULL)
		n = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
	/* Both free functions wipe the private key they hold. */
	PKCS8_PRIV_KEY_INFO_free(p8);
	EVP_PKEY_free(pkey);
	if (n <= 0)
		return client_fail_openssl(
		    c, CMPD_RESULT_CRYPTO, "cannot encode the key as PKCS#8");
	*out = der;
	*out_len = (size_t)n;
	return CMPD_RESULT_OK;
}

/* The keyworker's import certificate, relayed by the broker. */
static cmpd_result
key_import_cert_get(cmpd_client *c, X509 **out)
{
	Cmpd__KeyImportCertReq get = CMPD__KEY_IMPORT_CERT_REQ__INIT;
	cmpd_env req, *rep = NULL;
	const unsigned char *p;
	X509 *x = NULL;
	cmpd_result rv;

	cmpd_env_init(&req, 0);
	req.body_case = CMPD__ENVELOPE__BODY_KEY_IMPORT_CERT_REQ;
	req.key_import_cert_req = &get;
	rv = client_call(
	    c, &req, CMPD__ENVELOPE__BODY_KEY_IMPORT_CERT_REP, 0, &rep);
	if (rv != CMPD_RESULT_OK)
		return rv;
	p = rep->key_import_cert_rep->cert.data;
	if (rep->key_import_cert_rep->cert.len <= INT32_MAX)
		x = d2i_X509(
		    NULL, &p, (long)rep->key_import_cert_rep->cert.len);
	cmpd_ipc_free(rep);
	/* The envelope uses key agreement: the recipient's key must be EC. */
	if (x == NULL || X509_get0_pubkey(x) == NULL ||
	    EVP_PKEY_get_base_id(X509_get0_pubkey(x)) != EVP_PKEY_EC) {
		X509_free(x);
		ERR_clear_error();
		return client_fail(c, CMPD_RESULT_PROTOCOL,
		    "cmpd sent no usable import certificate (an EC key is "
		    "needed)");
	}
	*out = x;
	return CMPD_RESULT_OK;
}

/*
 * CMS_encrypt would copy the plaintext through a stack buffer it does not
 * wipe (SMIME_crlf_copy); writing it straight into the encrypting BIO
 * that CMS_dataInit returns leaves no copy but ours.
 */
static cmpd_result
key_envelope_seal(cmpd_client *c, X509 *rcpt, const uint8_t *p8, size_t len,
    uint8_t **out, size_t *out_len)
{
	STACK_OF(X509) *rcpts = sk_X509_new_null();
	EVP_CIPHER *aes = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	CMS_ContentInfo *cms = NULL;
	unsigned char *der = NULL;
	BIO *in = NULL;
	int n = -1;

	if (rcpts == NULL || aes == NULL || !sk_X509_push(rcpts, rcpt) ||
	    (cms = CMS_encrypt_ex(rcpts, NULL, aes, CMS_BINARY | CMS_PARTIAL,
	         NULL, NULL)) == NULL ||
	    (in = CMS_dataInit(cms, NULL)) == NULL)
		goto out;
	if (BIO_write(in, p8, (int)len) != (int)len)
		goto out;
	(void)BIO_flush(in);
	if (CMS_dataFinal(cms, in) == 1)
		n = i2d_CMS_ContentInfo(cms, &der);
out:
	BIO_free_all(in);
	CMS_ContentInfo_free(cms);
	EVP_CIPHER_free(aes);
	sk_X509_free(rcpts);
	if (n <= 0)
		return client_fail_openssl(c, CMPD_RESULT_CRYPTO,
		    "cannot encrypt the key for cmpd's key store");
	*out = der;
	*out_len = (size_t)n;
	return CMPD_RESULT_OK;
}

static cmpd_result
key_import_send(
    cmpd_client *c, uint8_t *envelope, size_t len, cmpd_key_info **out)
{
	Cmpd__KeyImportReq imp = CMPD__KEY_IMPORT_REQ__INIT;
	cmpd_key_info *key = NULL;
	cmpd_env req, *rep = NULL;
	cmpd_result rv;

	cmpd_env_init(&req, 0);
	imp.envelope.data = envelope;
	imp.envelope.len = len;
	req.body_case = CMPD__ENVELOPE__BODY_KEY_IMPORT_REQ;
	req.key_import_req = &imp;
	rv = client_call(c, &req, CMPD__ENVELOPE__BODY_KEY_IMPORT_REP, 0, &rep);
	if (rv != CMPD_RESULT_OK)
		return rv;
	if ((key = calloc(1, sizeof(*key))) == NULL)
		rv = client_fail(c, CMPD_RESULT_NOMEM, "out of memory");
	else
		rv = key_info_init(c, key, rep->key_import_rep->key);
	cmpd_ipc_free(rep);
	if (rv != CMPD_RESULT_OK) {
		free(key);
		return rv;
	}
	*out = key;
	return CMPD_RESULT_OK;
}

cmpd_result
cmpd_key_import_file(cmpd_client *client, const char *path,
    const char *passphrase, cmpd_key_info **out)
{
	uint8_t *p8 = NULL, *envelope = NULL;
	size_t p8_len = 0, env_len = 0;
	X509 *rcpt = NULL;
	cmpd_result rv;

	if (client_check(client) != CMPD_RESULT_OK)
		return CMPD_RESULT_INVALID;
	if (out == NULL || !client_text_ok(path, 4096))
		return client_fail(
		    client, CMPD_RESULT_INVALID, "invalid path or output");
	rv = key_pkcs8_read(client, path, passphrase, &p8, &p8_len);
	if (rv == CMPD_RESULT_OK)
		rv = key_import_cert_get(client, &rcpt);
	if (rv == CMPD_RESULT_OK)
		rv = key_envelope_seal(
		    client, rcpt, p8, p8_len, &envelope, &env_len);
	OPENSSL_clear_free(p8, p8_len);
	if (rv == CMPD_RESULT_OK)
		rv = key_import_send(client, envelope, env_len, out);
	OPENSSL_free(envelope);
	X509_free(rcpt);
	return rv;
}
