/* Small helpers every cmpd process uses. */
#pragma once

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/*
 * Long-lived structures that cross callbacks carry a magic number; entry
 * points check it.
 */
#define CMPD_MAGIC_CHECK(p, m) assert((p) != NULL && (p)->magic == (m))

#define CMPD_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Writes the 2*n hex digits of in and a NUL to out. */
void cmpd_hex(const uint8_t *in, size_t n, char *out);

/* Fills buf with n bytes from the system's CSPRNG. */
cmpd_err cmpd_random(uint8_t *buf, size_t n);

/* A new job id: 16 random hex digits and a NUL (17 bytes). */
#define CMPD_JOB_ID_LEN 16
cmpd_err cmpd_job_id_new(char out[CMPD_JOB_ID_LEN + 1]);

/* Checks that s is a non-empty string of at most max [0-9a-f] digits. */
int cmpd_is_hex_id(const char *s, size_t max);

/* Unix time in seconds, and a monotonic clock in milliseconds. */
int64_t cmpd_time_now(void);
uint64_t cmpd_clock_ms(void);

/* Copies src into dst of size n, always NUL-terminated; 0 if it fit. */
int cmpd_strlcpy(char *dst, const char *src, size_t n);

/* A name for a profile or file: 1-64 of [A-Za-z0-9._-], not starting '.'. */
int cmpd_str_ok_name(const char *s);

/* A string (or protobuf string field) is "set" when it is not empty. */
static inline int
cmpd_str_set(const char *s)
{
	return s != NULL && s[0] != '\0';
}
