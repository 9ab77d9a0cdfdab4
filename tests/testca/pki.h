/*
 * `cmpd-testca init DIR`: a fresh test PKI in DIR (see README.md for the
 * files and their formats).
 */
#pragma once

#include "err.h"

/* The reference of the MAC (PBM) secret, as written to mac-ref.txt. */
#define TCA_MAC_REF "device-0001"

/*
 * Creates dir (mode 0700) and writes the test PKI into it. CMPD_EEXIST if
 * dir already holds one (root.pem exists): nothing is overwritten.
 */
cmpd_err tca_pki_init(const char *dir);
