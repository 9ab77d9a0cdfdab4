/*
 * Checks the integration tests make of what cmpd produced, with OpenSSL as
 * the independent judge.
 */
#pragma once

#include <cmpd/client.h>
#include <stddef.h>

#include "harness.h"

/*
 * Asserts that job is DONE and that its certificate carries the public key
 * the keyworker holds for the job's key, was issued by the test CA and
 * chains to the PKI's root through the job's chain.
 */
void check_issued(const struct harness *h, const cmpd_job *job);

/*
 * Asserts that the profile's certificate file is the job's certificate
 * (true for the last job of a profile that finished).
 */
void check_file(const cmpd_job *job);

/* Asserts that the job's certificate has subject (RFC 2253) and the SAN. */
void check_names(const cmpd_job *job, const char *subject, const char *dns);

/* Reads a whole file into a new NUL-terminated buffer (free()). */
char *check_read_file(const char *path);

/* How many times needle occurs in text. */
size_t check_count(const char *text, const char *needle);
