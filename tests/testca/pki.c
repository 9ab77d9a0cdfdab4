#include "pki.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "issue.h"
#include "log.h"
#include "util.h"

struct pki_ext {
	int nid;
	const char *value;
};

/* Extension profiles, terminated by NID_undef. SKI before AKI, so that a
 * self-signed certificate's AKI can take its own key identifier. */
static const struct pki_ext pki_ext_root[] = {
	{ NID_basic_constraints, "critical,CA:TRUE" },
	{ NID_key_usage, "critical,keyCertSign,cRLSign" },
	{ NID_subject_key_identifier, "hash" },
	{ NID_authority_key_identifier, "keyid:always" },
	{ NID_undef, NULL },
};

static const struct pki_ext pki_ext_subca[] = {
	{ NID_basic_constraints, "critical,CA:TRUE,pathlen:0" },
	{ NID_key_usage, "critical,keyCertSign,cRLSign" },
	{ NID_subject_key_identifier, "hash" },
	{ NID_authority_key_identifier, "keyid:always" },
	{ NID_undef, NULL },
};

/* CMP signers (the server, the devices' IDevIDs) need digitalSignature. */
static const struct pki_ext pki_ext_signer[] = {
	{ NID_basic_constraints, "critical,CA:FALSE" },
	{ NID_key_usage, "critical,digitalSignature" },
	{ NID_subject_key_identifier, "hash" },
	{ NID_authority_key_identifier, "keyid:always" },
	{ NID_undef, NULL },
};

static const struct pki_ext pki_ext_ee[] = {
	{ NID_basic_constraints, "critical,CA:FALSE" },
	{ NID_key_usage, "critical,digitalSignature" },
	{ NID_ext_key_usage, "clientAuth,serverAuth" },
	{ NID_subject_key_identifier, "hash" },
	{ NID_authority_key_identifier, "keyid:always" },
	{ NID_undef, NULL },
};

/* The CA's HTTPS server: clients reach it as localhost or 127.0.0.1. */
static const struct pki_ext pki_ext_tls_server[] = {
	{ NID_basic_constraints, "critical,CA:FALSE" },
	{ NID_key_usage, "critical,digitalSignature" },
	{ NID_ext_key_usage, "serverAuth" },
	{ NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1" },
	{ NID_subject_key_identifier, "hash" },
	{ NID_authority_key_identifier, "keyid:always" },
	{ NID_undef, NULL },
};

static const struct pki_ext pki_ext_tls_client[] = {
	{ NID_basic_constraints, "critical,CA:FALSE" },
	{ NID_key_usage, "critical,digitalSignature" },
	{ NID_ext_key_usage, "clientAuth" },
	{ NID_subject_key_identifier, "hash" },
	{ NID_authority_key_identifier, "keyid:always" },
	{ NID_undef, NULL },
};

enum pki_id {
	PKI_ROOT,
	PKI_CA,
	PKI_SRV,
	PKI_SUPPLIER_ROOT,
	PKI_SUPPLIER,
	PKI_SUPPLIER_RSA,
	PKI_ROGUE_ROOT,
	PKI_ROGUE,
	PKI_FIXED,
	PKI_TLS_ROOT,
	PKI_TLS_SERVER,
	PKI_TLS_CLIENT,
	PKI_NEWROOT,
	PKI_NEWWITHOLD,
	PKI_OLDWITHNEW,
	PKI_ID_MAX
};

struct pki_entity {
	const char *file; /* FILE.pem and (unless key_of) FILE.key */
	const char *cn;
	const char *serial_number; /* subject serialNumber, or NULL */
	int rsa;                   /* RSA-2048 instead of EC P-256 */
	int issuer;                /* an enum pki_id, -1: self-signed */
	int key_of; /* certifies the key of this enum pki_id, -1: a new one */
	const struct pki_ext *exts;
	int days;
};

/*
 * In issuing order: every issuer precedes what it issues, every key owner
 * what certifies its key. The rogue device impersonates device 0001 under
 * an untrusted root. newroot is the root CA's successor; newwithold and
 * oldwithnew are the two links of RFC 9810's root CA key update (the new
 * root's name and key under the old root's signature, and the reverse).
 */
static const struct pki_entity pki_entities[PKI_ID_MAX] = {
	[PKI_ROOT] = { .file = "root",
	    .cn = "cmpd Test Root CA",
	    .issuer = -1,
	    .key_of = -1,
	    .exts = pki_ext_root,
	    .days = 7300 },
	[PKI_CA] = { .file = "ca",
	    .cn = "cmpd Test Issuing CA",
	    .issuer = PKI_ROOT,
	    .key_of = -1,
	    .exts = pki_ext_subca,
	    .days = 3650 },
	[PKI_SRV] = { .file = "srv",
	    .cn = "cmpd Test CMP Server",
	    .issuer = PKI_CA,
	    .key_of = -1,
	    .exts = pki_ext_signer,
	    .days = 3650 },
	[PKI_SUPPLIER_ROOT] = { .file = "supplier-root",
	    .cn = "cmpd Test Supplier CA",
	    .issuer = -1,
	    .key_of = -1,
	    .exts = pki_ext_root,
	    .days = 7300 },
	[PKI_SUPPLIER] = { .file = "supplier",
	    .cn = "cmpd Test Device 0001",
	    .serial_number = "0001",
	    .issuer = PKI_SUPPLIER_ROOT,
	    .key_of = -1,
	    .exts = pki_ext_signer,
	    .days = 3650 },
	[PKI_SUPPLIER_RSA] = { .file = "supplier-rsa",
	    .cn = "cmpd Test Device 0002",
	    .serial_number = "0002",
	    .rsa = 1,
	    .issuer = PKI_SUPPLIER_ROOT,
	    .key_of = -1,
	    .exts = pki_ext_signer,
	    .days = 3650 },
	[PKI_ROGUE_ROOT] = { .file = "rogue-root",
	    .cn = "cmpd Test Rogue Supplier CA",
	    .issuer = -1,
	    .key_of = -1,
	    .exts = pki_ext_root,
	    .days = 7300 },
	[PKI_ROGUE] = { .file = "rogue",
	    .cn = "cmpd Test Device 0001",
	    .serial_number = "0001",
	    .issuer = PKI_ROGUE_ROOT,
	    .key_of = -1,
	    .exts = pki_ext_signer,
	    .days = 3650 },
	[PKI_FIXED] = { .file = "fixed",
	    .cn = "cmpd Test Fixed Certificate",
	    .issuer = PKI_CA,
	    .key_of = -1,
	    .exts = pki_ext_ee,
	    .days = 3650 },
	[PKI_TLS_ROOT] = { .file = "tls-root",
	    .cn = "cmpd Test TLS Root",
	    .issuer = -1,
	    .key_of = -1,
	    .exts = pki_ext_root,
	    .days = 7300 },
	[PKI_TLS_SERVER] = { .file = "tls-server",
	    .cn = "cmpd Test TLS Server",
	    .issuer = PKI_TLS_ROOT,
	    .key_of = -1,
	    .exts = pki_ext_tls_server,
	    .days = 3650 },
	[PKI_TLS_CLIENT] = { .file = "tls-client",
	    .cn = "cmpd Test TLS Client",
	    .issuer = PKI_TLS_ROOT,
	    .key_of = -1,
	    .exts = pki_ext_tls_client,
	    .days = 3650 },
	[PKI_NEWROOT] = { .file = "newroot",
	    .cn = "cmpd Test Root CA 2",
	    .issuer = -1,
	    .key_of = -1,
	    .exts = pki_ext_root,
	    .days = 7300 },
	[PKI_NEWWITHOLD] = { .file = "newwithold",
	    .cn = "cmpd Test Root CA 2",
	    .issuer = PKI_ROOT,
	    .key_of = PKI_NEWROOT,
	    .exts = pki_ext_root,
	    .days = 7300 },
	[PKI_OLDWITHNEW] = { .file = "oldwithnew",
	    .cn = "cmpd Test Root CA",
	    .issuer = PKI_NEWROOT,
	    .key_of = PKI_ROOT,
	    .exts = pki_ext_root,
	    .days = 7300 },
};

struct pki_made {
	X509 *cert[PKI_ID_MAX];
	EVP_PKEY *key[PKI_ID_MAX];
};

static cmpd_err
pki_write(
    const char *dir, const char *file, const void *buf, size_t len, mode_t mode)
{
	char path[4096];

	if (snprintf(path, sizeof(path), "%s/%s", dir, file) >=
	    (int)sizeof(path))
		return CMPD_EINVAL;
	return cmpd_file_write_atomic(
	    path, buf, len, mode, (uid_t)-1, (gid_t)-1);
}

/* Writes DIR/FILE.EXT from the memory BIO bio. */
static cmpd_err
pki_write_bio(
    const char *dir, const char *file, const char *ext, BIO *bio, mode_t mode)
{
	char name[256];
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);

	if (len < 0 ||
	    snprintf(name, sizeof(name), "%s.%s", file, ext) >=
	        (int)sizeof(name))
		return CMPD_EINVAL;
	return pki_write(dir, name, data, (size_t)len, mode);
}

/* Writes FILE.pem and, when key is not NULL, FILE.key (mode 0600). */
static cmpd_err
pki_write_pair(const char *dir, const char *file, X509 *cert, EVP_PKEY *key)
{
	BIO *bc = BIO_new(BIO_s_mem()), *bk = BIO_new(BIO_s_mem());
	cmpd_err rv = CMPD_ECRYPTO;

	if (bc == NULL || bk == NULL || !PEM_write_bio_X509(bc, cert) ||
	    (key != NULL &&
	        !PEM_write_bio_PrivateKey(bk, key, NULL, NULL, 0, NULL, NULL)))
		goto out;
	rv = key != NULL ? pki_write_bio(dir, file, "key", bk, 0600) : CMPD_OK;
	if (rv == CMPD_OK)
		rv = pki_write_bio(dir, file, "pem", bc, 0644);
out:
	BIO_free(bc);
	BIO_free_all(bk);
	return rv;
}

static X509_NAME *
pki_name(const struct pki_entity *e)
{
	X509_NAME *name = X509_NAME_new();

	if (name == NULL ||
	    !X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
	        (const unsigned char *)e->cn, -1, -1, 0) ||
	    (e->serial_number != NULL &&
	        !X509_NAME_add_entry_by_NID(name, NID_serialNumber,
	            MBSTRING_ASC, (const unsigned char *)e->serial_number, -1,
	            -1, 0))) {
		X509_NAME_free(name);
		return NULL;
	}
	return name;
}

/* The entity's key: a new one, or another reference to key_of's. */
static EVP_PKEY *
pki_key(struct pki_made *m, const struct pki_entity *e)
{
	EVP_PKEY *shared = e->key_of < 0 ? NULL : m->key[e->key_of];

	if (shared != NULL)
		return EVP_PKEY_up_ref(shared) ? shared : NULL;
	return e->rsa ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
	              : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static cmpd_err
pki_make_one(struct pki_made *m, enum pki_id id)
{
	const struct pki_entity *e = &pki_entities[id];
	X509 *issuer = e->issuer < 0 ? NULL : m->cert[e->issuer];
	X509_NAME *name = NULL;
	EVP_PKEY *key;
	cmpd_err rv = CMPD_ECRYPTO;

	key = pki_key(m, e);
	m->key[id] = key;
	if (key == NULL || (name = pki_name(e)) == NULL)
		goto out;
	rv = tca_cert_new(name, key, issuer, e->days * 86400L, &m->cert[id]);
	for (const struct pki_ext *x = e->exts;
	     rv == CMPD_OK && x->nid != NID_undef; x++)
		rv = tca_cert_add_ext(m->cert[id], issuer, x->nid, x->value);
	if (rv == CMPD_OK)
		rv = tca_cert_sign(
		    m->cert[id], e->issuer < 0 ? key : m->key[e->issuer]);
out:
	if (rv != CMPD_OK)
		cmpd_log_openssl(CMPD_LOG_ERR, e->file);
	X509_NAME_free(name);
	return rv;
}

/* mac-ref.txt and mac-secret.txt: one line each, "\n"-terminated. */
static cmpd_err
pki_write_mac(const char *dir)
{
	uint8_t raw[16];
	char line[2 * sizeof(raw) + 2];
	cmpd_err rv;

	rv = pki_write(dir, "mac-ref.txt", TCA_MAC_REF "\n",
	    strlen(TCA_MAC_REF) + 1, 0644);
	if (rv != CMPD_OK)
		return rv;
	rv = cmpd_random(raw, sizeof(raw));
	if (rv != CMPD_OK)
		return rv;
	cmpd_hex(raw, sizeof(raw), line);
	strcat(line, "\n");
	rv = pki_write(dir, "mac-secret.txt", line, strlen(line), 0600);
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(line, sizeof(line));
	return rv;
}

cmpd_err
tca_pki_init(const char *dir)
{
	struct pki_made m = { 0 };
	char probe[4096];
	cmpd_err rv;

	rv = cmpd_dir_ensure(dir, 0700);
	if (rv != CMPD_OK)
		return rv;
	snprintf(probe, sizeof(probe), "%s/root.pem", dir);
	if (access(probe, F_OK) == 0) {
		log_err("%s already holds a test PKI; not overwriting it", dir);
		return CMPD_EEXIST;
	}
	for (int id = 0; id < PKI_ID_MAX && rv == CMPD_OK; id++)
		rv = pki_make_one(&m, (enum pki_id)id);
	for (int id = 0; id < PKI_ID_MAX && rv == CMPD_OK; id++)
		rv = pki_write_pair(dir, pki_entities[id].file, m.cert[id],
		    pki_entities[id].key_of < 0 ? m.key[id] : NULL);
	if (rv == CMPD_OK)
		rv = pki_write_mac(dir);
	for (int id = 0; id < PKI_ID_MAX; id++) {
		X509_free(m.cert[id]);
		EVP_PKEY_free(m.key[id]);
	}
	return rv;
}
