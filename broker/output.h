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
