#include "x509text.h"

#include <ctype.h>
#include <openssl/bn.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

char *
cmpd_x509_name_text(const X509_NAME *name)
{
	unsigned long flags =
	    XN_FLAG_RFC2253 & ~XN_FLAG_DN_REV & ~ASN1_STRFLGS_ESC_MSB;
	BIO *bio = BIO_new(BIO_s_mem());
	char *s = NULL, *data = NULL;
	long len;

	if (bio != NULL && X509_NAME_print_ex(bio, name, 0, flags) >= 0 &&
	    (len = BIO_get_mem_data(bio, &data)) >= 0 &&
	    (s = malloc((size_t)len + 1)) != NULL) {
		memcpy(s, data, (size_t)len);
		s[len] = '\0';
	}
	BIO_free(bio);
	return s;
}

char *
cmpd_x509_serial_text(const ASN1_INTEGER *serial)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
	char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
	char *s = hex != NULL ? strdup(hex) : NULL;

	for (char *p = s; p != NULL && *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	OPENSSL_free(hex);
	BN_free(bn);
	return s;
}

int64_t
cmpd_asn1_time_unix(const ASN1_TIME *t)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}
