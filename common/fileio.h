/*
 * Files that must survive a crash: written to a temporary file beside the
 * target, flushed, renamed over it and the directory flushed, so a reader
 * sees the old or the new content and never a mix.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

/*
 * Replaces path with len bytes of buf, atomically and durably, with the
 * given mode. uid and gid set the owner unless (uid_t)-1 / (gid_t)-1.
 */
cmpd_err cmpd_file_write_atomic(const char *path, const void *buf, size_t len,
    mode_t mode, uid_t uid, gid_t gid);

/*
 * Reads the whole regular file at path, at most max bytes, into a new
 * buffer with a terminating NUL (not counted in *len). With nofollow, a
 * symbolic link is refused. The caller frees *out with cmpd_file_free,
 * which wipes it first.
 */
cmpd_err cmpd_file_read(
    const char *path, size_t max, int nofollow, uint8_t **out, size_t *len);
void cmpd_file_free(uint8_t *buf, size_t len);

/*
 * Creates directory path (and missing parents) with mode; an existing
 * directory is accepted if its permissions are no wider than mode.
 */
cmpd_err cmpd_dir_ensure(const char *path, mode_t mode);

/* Removes leftovers "*.tmp.*" of interrupted atomic writes in dir. */
void cmpd_dir_clean_tmp(const char *dir);
