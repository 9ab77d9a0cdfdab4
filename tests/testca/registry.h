/*
 * What the test CA has issued, revoked and seen rejected: an in-memory
 * index by serial number, backed by three append-only text files in the CA
 * directory (formats in README.md):
 *   issued.txt    "serial-hex transactionID-hex subject spki-sha256-hex"
 *   revoked.txt   "serial-hex reason"
 *   rejected.txt  "serial-hex transactionID-hex"
 * The files are read back when the CA starts, so KUR and RR work across
 * restarts. All functions are safe to call from any thread; each line is
 * written with one write() under the registry's lock, so lines of
 * concurrent transactions never interleave.
 */
#pragma once

#include <stdint.h>

#include "err.h"

/* Serial numbers as lowercase hex of their big-endian magnitude. */
#define TCA_SERIAL_HEX_MAX 64
/* The SHA-256 of a DER SubjectPublicKeyInfo in hex. */
#define TCA_SPKI_HEX_LEN 64

struct tca_registry;

struct tca_cert_info {
	char spki[TCA_SPKI_HEX_LEN + 1];
	int revoked;
	int rejected;
};

/* Opens (creating if needed) the files in dir and loads them. */
cmpd_err tca_registry_open(const char *dir, struct tca_registry **out);
void tca_registry_free(struct tca_registry *reg);

/*
 * Records a newly issued certificate and appends its issued.txt line.
 * CMPD_EEXIST if the serial is already taken (nothing is written).
 */
cmpd_err tca_registry_add(struct tca_registry *reg, const char *serial,
    const char *tid, const char *subject, const char *spki);

/* Copies what is known about serial into *out; CMPD_ENOENT if unknown. */
cmpd_err tca_registry_find(
    struct tca_registry *reg, const char *serial, struct tca_cert_info *out);

/*
 * Marks serial revoked with a CRLReason code (-1: none given) and appends
 * the revoked.txt line. CMPD_ENOENT if unknown, CMPD_EEXIST if already
 * revoked.
 */
cmpd_err tca_registry_revoke(
    struct tca_registry *reg, const char *serial, int reason);

/*
 * Marks serial rejected by its requester (a rejecting certConf) and
 * appends the rejected.txt line. CMPD_ENOENT if unknown.
 */
cmpd_err tca_registry_reject(
    struct tca_registry *reg, const char *serial, const char *tid);
