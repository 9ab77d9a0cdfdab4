/*
 * What the cmpctl tests share: a runner for the built cmpctl (stdout and
 * stderr apart, stderr on a terminal if asked) and a responder that plays
 * the broker with one job template and a script of states.
 */
#pragma once

#include <jansson.h>

#include "test_client_resp.h"

/* What the responder plays. */
struct fake {
	Cmpd__ErrorCode error;    /* non-zero: answer everything so */
	Cmpd__JobState states[8]; /* the states JobGetReq walks through */
	int n, next;
	unsigned hold_ms; /* hold an unchanged long poll */
	struct tjob tmpl; /* every job sent is this one */
	X509 *cert, *ca;
	EVP_PKEY *key, *ca_key;
	Cmpd__CertRecord rec; /* the one record CertListReq answers */
	ProtobufCBinaryData rec_chain[1];
	Cmpd__GenmResult genm; /* see fake_genm */
	ProtobufCBinaryData genm_certs[2];
	ProtobufCBinaryData tmpl_der, spec_der;
};

struct run {
	int rc;
	char out[65536];
	char err[16384];
};

extern struct resp resp;
extern struct fake fake;
extern char dir[64]; /* a temporary directory for the test's files */

/* Runs cmpctl with args (NULL-terminated), stderr on a terminal if tty. */
void run_as(struct run *r, int tty, const char *const *args);
#define RUN(r, ...)                                             \
	do {                                                    \
		const char *const a_[] = { __VA_ARGS__, NULL }; \
		run_as(r, 0, a_);                               \
	} while (0)

#define RUN_TTY(r, ...)                                         \
	do {                                                    \
		const char *const a_[] = { __VA_ARGS__, NULL }; \
		run_as(r, 1, a_);                               \
	} while (0)

/* Whether this system has pseudo-terminals (for RUN_TTY). */
int cli_have_pty(void);

/* Fixtures: the responder, the job template, the directory. */
int cli_setup(void **state);
int cli_teardown(void **state);

/*
 * Makes the job template a genm job whose done state carries an answer of
 * type: the CA certificates (fake.cert, then fake.ca), a root CA update
 * (newWithNew fake.ca, newWithOld fake.cert, no oldWithNew) or a
 * template ("O=cmpd test", an EC P-256 public key algorithm, a SAN; key
 * spec: algId P-256). With empty, the answer has no value.
 */
void fake_genm(Cmpd__GenmType type, int empty);

/* The states the next JobGetReqs answer with (the last one repeats). */
void script(int n, ...);

void slurp(const char *path, char *buf, size_t len);

/* JSON checks: text must parse; the error object's code; one member. */
json_t *parse(const char *text);
void expect_json_error(const char *text, const char *code);
void jexpect_str(json_t *o, const char *key, const char *want);
void jexpect_null(json_t *o, const char *key);
