/*
 * Certificates and keys as text: PEM encodings of the DER cmpd sends, and
 * what the API shows of an issued certificate, read with OpenSSL.
 */
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "x509text.h"

/* The contents of a memory BIO as a new NUL-terminated string. */
static char *
bio_strdup(BIO *bio)
{
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);
	char *s;

	if (len < 0 || (s = malloc((size_t)len + 1)) == NULL)
		return NULL;
	if (len > 0)
		memcpy(s, data, (size_t)len);
	s[len] = '\0';
	return s;
}

char *
pem_encode(const char *label, const uint8_t *der, size_t len)
{
	BIO *bio;
	char *s = NULL;

	if (len == 0)
		return strdup("");
	bio = BIO_new(BIO_s_mem());
	if (bio != NULL && len <= INT32_MAX &&
	    PEM_write_bio(bio, label, "", der, (long)len) > 0)
		s = bio_strdup(bio);
	BIO_free(bio);
	ERR_clear_error();
	return s;
}

char *
pem_encode_all(ProtobufCBinaryData *ders, size_t n)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *s = NULL;
	size_t i;

	if (bio == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if (ders[i].len > INT32_MAX ||
		    PEM_write_bio(bio, "CERTIFICATE", "", ders[i].data,
		        (long)ders[i].len) <= 0)
			break;
	if (i == n)
		s = bio_strdup(bio);
	BIO_free(bio);
	ERR_clear_error();
	return s;
}

/* The key type in the names of cmpd_enroll_opts_set_key_type. */
static void
key_type_name(EVP_PKEY *pkey, char *buf, size_t len)
{
	char group[64];

	switch (EVP_PKEY_get_base_id(pkey)) {
	case EVP_PKEY_RSA:
		snprintf(buf, len, "rsa%d", EVP_PKEY_get_bits(pkey));
		return;
	case EVP_PKEY_ED25519:
		snprintf(buf, len, "ed25519");
		return;
	case EVP_PKEY_ED448:
		snprintf(buf, len, "ed448");
		return;
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL) !=
		    1)
			snprintf(buf, len, "ec");
		else if (strcmp(group, "prime256v1") == 0)
			snprintf(buf, len, "ec-p256");
		else if (strcmp(group, "secp384r1") == 0)
			snprintf(buf, len, "ec-p384");
		else if (strcmp(group, "secp521r1") == 0)
			snprintf(buf, len, "ec-p521");
		else
			snprintf(buf, len, "ec-%s", group);
		return;
	default:
		snprintf(
		    buf, len, "%s", OBJ_nid2sn(EVP_PKEY_get_base_id(pkey)));
	}
}

/* The SHA-256 of the certificate as openssl x509 -fingerprint shows it. */
static void
fingerprint_text(X509 *x, char *buf, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	size_t off = 0;

	buf[0] = '\0';
	if (!X509_digest(x, EVP_sha256(), md, &n))
		return;
	for (unsigned int i = 0; i < n && off + 4 <= len; i++)
		off += (size_t)snprintf(
		    buf + off, len - off, "%s%02X", i ? ":" : "", md[i]);
}

int
cert_details_read(struct cert_details *d, const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = NULL;
	EVP_PKEY *pkey;
	int rv = -1;

	memset(d, 0, sizeof(*d));
	if (len > 0 && len <= INT32_MAX)
		x = d2i_X509(NULL, &p, (long)len);
	if (x == NULL || p != der + len) {
		/* Not a certificate: show empty fields, not a failure. */
		X509_free(x);
		ERR_clear_error();
		d->subject = strdup("");
		d->issuer = strdup("");
		d->serial = strdup("");
		return d->subject && d->issuer && d->serial ? 0 : -1;
	}
	d->subject = cmpd_x509_name_text(X509_get_subject_name(x));
	d->issuer = cmpd_x509_name_text(X509_get_issuer_name(x));
	d->serial = cmpd_x509_serial_text(X509_get0_serialNumber(x));
	d->not_before = cmpd_asn1_time_unix(X509_get0_notBefore(x));
	d->not_after = cmpd_asn1_time_unix(X509_get0_notAfter(x));
	if ((pkey = X509_get0_pubkey(x)) != NULL)
		key_type_name(pkey, d->key_type, sizeof(d->key_type));
	fingerprint_text(x, d->fingerprint, sizeof(d->fingerprint));
	if (d->subject != NULL && d->issuer != NULL && d->serial != NULL)
		rv = 0;
	X509_free(x);
	ERR_clear_error();
	return rv;
}

void
cert_details_fini(struct cert_details *d)
{
	free(d->subject);
	free(d->issuer);
	free(d->serial);
	memset(d, 0, sizeof(*d));
}
