/*
 * A stand-in for the broker's client socket in the client tests: a raw
 * rep0 socket on an ipc path in a temporary directory, served by a thread
 * that decodes each request, records it and lets the test's handler
 * answer (or not answer, or misbehave).
 */
#pragma once

#include <nng/nng.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "ipc.h"

#define RESP_MAX_REQS 256

struct resp;

/*
 * Answers req (decoded; raw is the message as received, whose header
 * routes the reply). Runs on the responder's thread; raw stays the
 * responder's unless the handler takes a copy.
 */
typedef void (*resp_fn)(
    struct resp *r, const cmpd_env *req, nng_msg *raw, void *arg);

struct resp {
	nng_socket sock;
	pthread_t thread;
	pthread_mutex_t mu;
	atomic_int stop;
	char dir[64];
	char path[128];
	resp_fn fn;
	void *arg;
	cmpd_env *reqs[RESP_MAX_REQS]; /* every request seen, decoded */
	int nreq;
	int undecodable;
};

/* Starts a responder with handler fn; 0 or -1. */
int resp_start(struct resp *r, resp_fn fn, void *arg);
void resp_stop(struct resp *r);

/* The number of requests seen so far, and the i-th one (or NULL). */
int resp_count(struct resp *r);
const cmpd_env *resp_req(struct resp *r, int i);

/* Replies to the request with id on raw's route. */
void resp_reply(struct resp *r, nng_msg *raw, uint64_t id, cmpd_env *env);
void resp_reply_error(struct resp *r, nng_msg *raw, uint64_t id,
    Cmpd__ErrorCode code, const char *text);
void resp_reply_job(
    struct resp *r, nng_msg *raw, uint64_t id, const Cmpd__Job *job);
/* Replies with len bytes of body that are no envelope at all. */
void resp_reply_junk(struct resp *r, nng_msg *raw, size_t len);
/* A handler that replies to every request with the Cmpd__Job in job. */
void resp_job_cb(struct resp *r, const cmpd_env *req, nng_msg *raw, void *job);
/* Drops the connection the request came on. */
void resp_close_pipe(nng_msg *raw);

/* A monotonic clock in milliseconds. */
uint64_t test_now_ms(void);

/* A job message with every field a test may look at. */
struct tjob {
	Cmpd__Job job;
	Cmpd__PkiStatus pki;
	char *sans[2];
	char *texts[3];
	ProtobufCBinaryData chain[1];
};

/* A job of profile "web" with subject, SANs, key and times set. */
void tjob_init(struct tjob *t, const char *id, Cmpd__JobState state);

/* Test keys and certificates. */
EVP_PKEY *tkey_new(const char *type); /* "EC" (P-256), "RSA", "ED25519" */
/*
 * A certificate for key with subject_text ("/CN=a/O=b" parts are given as
 * "CN", "a", "O", "b", NULL), issued by issuer_key under issuer_cn (self-
 * signed when issuer_key is NULL).
 */
X509 *tcert_new(EVP_PKEY *key, EVP_PKEY *issuer_key, const char *issuer_cn,
    long serial, ...);
/* DER of x into a new buffer (*len set); the caller frees with free. */
uint8_t *tcert_der(X509 *x, size_t *len);
