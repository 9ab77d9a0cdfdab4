/*
 * The files applications read: a profile's certificate and chain as PEM,
 * written atomically (temporary file, fsync, rename, fsync of the
 * directory) so a reader never sees half a certificate.
 */
#pragma once

#include "cmpd.pb-c.h"
#include "config.h"
#include "err.h"

/* Writes job's certificate and chain to the profile's files, with its
 * file_mode, file_owner and file_group. */
cmpd_err output_write(const struct profile *pr, const Cmpd__Job *job);

/*
 * What the profile's certificate file holds compared with cert, the
 * certificate cmpd last wrote there: that one (OURS), nothing (MISSING),
 * something someone else put there (FOREIGN), or it cannot be read.
 */
enum output_state {
	OUTPUT_OURS,
	OUTPUT_MISSING,
	OUTPUT_FOREIGN,
	OUTPUT_UNKNOWN,
};
enum output_state output_state(
    const struct profile *pr, const ProtobufCBinaryData *cert);

/* Checks every active certificate's file at startup (outcheck.c). */
struct broker;
void output_check_all(struct broker *b);

/* Writes the files of the tracked certificate c again. */
cmpd_err output_restore(const struct profile *pr, const Cmpd__CertRecord *c);
