/*
 * Names in the form the broker sends them: a subject "/CN=a/O=b" and
 * subjectAltNames "DNS:x", "IP:1.2.3.4" (or IPv6), "URI:u", "email:e".
 * libcrypto has no parser for the slash form (only the openssl app has
 * one), so this small one builds on X509_NAME_add_entry_by_txt.
 */
#pragma once

#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stddef.h>

#include "err.h"

/*
 * Parses "/TYPE=value/TYPE=value..." into a new X509_NAME, in order. A
 * '/' or '\' inside a value is written "\/" or "\\". Types are OpenSSL's
 * short or long names or dotted OIDs; values are UTF-8. On failure returns
 * CMPD_EINVAL and writes the reason to why. The caller owns *out.
 */
cmpd_err nw_name_parse(
    const char *s, X509_NAME **out, char *why, size_t whylen);

/*
 * Parses one subjectAltName "DNS:x", "IP:addr", "URI:u" or "email:e" into a
 * new GENERAL_NAME. On failure returns CMPD_EINVAL and writes the reason to
 * why. The caller owns *out.
 */
cmpd_err nw_san_parse(
    const char *s, GENERAL_NAME **out, char *why, size_t whylen);
