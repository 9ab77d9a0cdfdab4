/*
 * Reading the values of configuration options: each setter parses one
 * value into the field it is given, or reports the line's error.
 */
#pragma once

#include <openssl/x509.h>
#include <stdio.h>

#include "config.h"

/* Parsing state: inih calls our reader per line, so we know the line. */
struct parse {
	struct config *cfg;
	struct profile *cur;
	FILE *file;
	int line;
	int section_line; /* of the last [section] header read */
	char *err;
};

/* Records "FILE:LINE: message" as the error (the first one wins); 0. */
int parse_fail(struct parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends x's DER to l; 0 on failure. */
int certs_add(struct cert_list *l, X509 *x);

/* Setters: 1 when value was taken, 0 (with the error recorded) if not. */
int set_string(struct parse *p, void *field, const char *value);
int set_bool(struct parse *p, void *field, const char *value);
int set_uint(struct parse *p, void *field, const char *value);
int set_mode(struct parse *p, void *field, const char *value);
int set_log_level(struct parse *p, void *field, const char *value);
int set_key_type(struct parse *p, void *field, const char *value);
int set_protection(struct parse *p, void *field, const char *value);
int set_certs(struct parse *p, void *field, const char *value);
int set_secret(struct parse *p, void *field, const char *value);
int set_users(struct parse *p, void *field, const char *value);
int set_groups(struct parse *p, void *field, const char *value);
int add_san(struct parse *p, void *field, const char *value);
/* "90", "90s", "15m", "12h", "30d": seconds (uint32_t). */
int set_duration(struct parse *p, void *field, const char *value);
/* set_duration into an int64_t, or "auto" for -1. */
int set_jitter(struct parse *p, void *field, const char *value);
/* "66" or "66%" (uint32_t, 1..99). */
int set_percent(struct parse *p, void *field, const char *value);
/* "HH:MM-HH:MM", local time, into two ints (start, end). */
int set_window(struct parse *p, void *field, const char *value);
/* "ir", "cr" or "p10cr" (Cmpd__CmpOp). */
int set_op(struct parse *p, void *field, const char *value);
/* A user or group name or number (uid_t / gid_t). */
int set_owner(struct parse *p, void *field, const char *value);
int set_group(struct parse *p, void *field, const char *value);
