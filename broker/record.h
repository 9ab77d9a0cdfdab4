/*
 * Editing stored records in place. Records are protobuf-c messages that
 * protobuf-c frees field by field with free(); these helpers replace a
 * field's value with a malloc'd copy so that stays true.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "cmpd.pb-c.h"
#include "err.h"

cmpd_err rec_set_str(char **field, const char *value);
cmpd_err rec_set_bytes(
    ProtobufCBinaryData *field, const uint8_t *data, size_t len);
cmpd_err rec_set_str_list(
    char ***field, size_t *n, char *const *src, size_t n_src);
cmpd_err rec_set_bytes_list(ProtobufCBinaryData **field, size_t *n,
    const ProtobufCBinaryData *src, size_t n_src);
cmpd_err rec_set_pki(Cmpd__PkiStatus **field, const Cmpd__PkiStatus *src);

/* A new, empty job record; free with cmpd__job__free_unpacked(r, NULL). */
Cmpd__Job *rec_job_new(void);

/*
 * A new transaction for rec: a fresh random transactionID, and no kept
 * answers of an earlier one.
 */
cmpd_err rec_tid_new(Cmpd__Job *rec);

/* A deep copy of rec, or NULL when out of memory. */
Cmpd__Job *rec_job_dup(const Cmpd__Job *rec);

cmpd_err rec_set_genm(Cmpd__GenmResult **field, const Cmpd__GenmResult *src);

/* A new, empty certificate record; free with
 * cmpd__cert_record__free_unpacked(r, NULL). */
Cmpd__CertRecord *rec_cert_new(void);

/*
 * Fills c from the certificate of a finished job: subject, issuer, serial,
 * validity, profile, key, file and the certificate itself.
 */
cmpd_err rec_cert_fill(Cmpd__CertRecord *c, const Cmpd__Job *job);
