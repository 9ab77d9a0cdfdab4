/*
 * What people read of a certificate: its names, serial number and times,
 * the same in the broker's records and in the client library.
 */
#pragma once

#include <openssl/x509.h>
#include <stdint.h>

/*
 * A name as RFC 2253 writes it, but in the certificate's order (the order
 * of "/CN=a/O=b" as it was asked for), UTF-8 kept as it is. A new string
 * for free(), or NULL.
 */
char *cmpd_x509_name_text(const X509_NAME *name);

/* The serial number in lowercase hex ("-" first if negative); free(). */
char *cmpd_x509_serial_text(const ASN1_INTEGER *serial);

/* t as unix time; 0 if it cannot be read. */
int64_t cmpd_asn1_time_unix(const ASN1_TIME *t);
