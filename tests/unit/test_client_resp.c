#include "test_client_resp.h"

#include <nng/protocol/reqrep0/rep.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void
resp_handle(struct resp *r, nng_msg *msg)
{
	cmpd_env *env = NULL;

	if (cmpd_ipc_unpack(msg, CMPD_IPC_MAX_CLIENT_REQ, &env) != CMPD_OK) {
		pthread_mutex_lock(&r->mu);
		r->undecodable++;
		pthread_mutex_unlock(&r->mu);
		return;
	}
	pthread_mutex_lock(&r->mu);
	if (r->nreq == RESP_MAX_REQS) {
		pthread_mutex_unlock(&r->mu);
		cmpd_ipc_free(env);
		return;
	}
	r->reqs[r->nreq++] = env;
	pthread_mutex_unlock(&r->mu);
	if (r->fn != NULL)
		r->fn(r, env, msg, r->arg);
	else
		resp_reply_error(r, msg, env->id,
		    CMPD__ERROR_CODE__ERR_INTERNAL, "no handler");
}

static void *
resp_main(void *arg)
{
	struct resp *r = arg;

	while (!atomic_load(&r->stop)) {
		nng_msg *msg = NULL;
		int rv = nng_recvmsg(r->sock, &msg, 0);

		if (rv == NNG_ETIMEDOUT)
			continue;
		if (rv != 0)
			break;
		resp_handle(r, msg);
		nng_msg_free(msg);
	}
	return NULL;
}

int
resp_start(struct resp *r, resp_fn fn, void *arg)
{
	char url[160];

	memset(r, 0, sizeof(*r));
	r->fn = fn;
	r->arg = arg;
	snprintf(r->dir, sizeof(r->dir), "/tmp/cmpd-client-test-XXXXXX");
	if (mkdtemp(r->dir) == NULL)
		return -1;
	snprintf(r->path, sizeof(r->path), "%s/cmpd.sock", r->dir);
	snprintf(url, sizeof(url), "ipc://%s", r->path);
	pthread_mutex_init(&r->mu, NULL);
	if (nng_rep0_open_raw(&r->sock) != 0 ||
	    nng_socket_set_ms(r->sock, NNG_OPT_RECVTIMEO, 50) != 0 ||
	    cmpd_ipc_listen(r->sock, url, CMPD_IPC_MAX_CLIENT_REQ, 0600) !=
	        CMPD_OK)
		return -1;
	return pthread_create(&r->thread, NULL, resp_main, r) == 0 ? 0 : -1;
}

void
resp_stop(struct resp *r)
{
	atomic_store(&r->stop, 1);
	pthread_join(r->thread, NULL);
	nng_close(r->sock);
	for (int i = 0; i < r->nreq; i++)
		cmpd_ipc_free(r->reqs[i]);
	pthread_mutex_destroy(&r->mu);
	unlink(r->path);
	rmdir(r->dir);
}

int
resp_count(struct resp *r)
{
	int n;

	pthread_mutex_lock(&r->mu);
	n = r->nreq;
	pthread_mutex_unlock(&r->mu);
	return n;
}

const cmpd_env *
resp_req(struct resp *r, int i)
{
	const cmpd_env *env = NULL;

	pthread_mutex_lock(&r->mu);
	if (i >= 0 && i < r->nreq)
		env = r->reqs[i];
	pthread_mutex_unlock(&r->mu);
	return env;
}

/* Sends msg as the reply routed by raw, waiting for the pipe if busy. */
static void
resp_send(struct resp *r, nng_msg *msg, nng_msg *raw)
{
	if (nng_msg_header_append(
	        msg, nng_msg_header(raw), nng_msg_header_len(raw)) != 0 ||
	    nng_sendmsg(r->sock, msg, 0) != 0)
		nng_msg_free(msg);
}

void
resp_reply(struct resp *r, nng_msg *raw, uint64_t id, cmpd_env *env)
{
	nng_msg *msg = NULL;

	env->id = id;
	if (cmpd_ipc_pack(env, &msg) == CMPD_OK)
		resp_send(r, msg, raw);
}

void
resp_reply_error(struct resp *r, nng_msg *raw, uint64_t id,
    Cmpd__ErrorCode code, const char *text)
{
	Cmpd__Error e = CMPD__ERROR__INIT;
	cmpd_env env;

	cmpd_env_init(&env, id);
	e.code = code;
	e.message = (char *)text;
	env.body_case = CMPD__ENVELOPE__BODY_ERROR;
	env.error = &e;
	resp_reply(r, raw, id, &env);
}

void
resp_reply_job(struct resp *r, nng_msg *raw, uint64_t id, const Cmpd__Job *job)
{
	Cmpd__JobRep rep = CMPD__JOB_REP__INIT;
	cmpd_env env;

	cmpd_env_init(&env, id);
	rep.job = (Cmpd__Job *)job;
	env.body_case = CMPD__ENVELOPE__BODY_JOB_REP;
	env.job_rep = &rep;
	resp_reply(r, raw, id, &env);
}

void
resp_job_cb(struct resp *r, const cmpd_env *req, nng_msg *raw, void *job)
{
	resp_reply_job(r, raw, req->id, job);
}

void
resp_reply_junk(struct resp *r, nng_msg *raw, size_t len)
{
	nng_msg *msg = NULL;

	if (nng_msg_alloc(&msg, len) != 0)
		return;
	memset(nng_msg_body(msg), 0xff, len);
	resp_send(r, msg, raw);
}

void
resp_close_pipe(nng_msg *raw)
{
	nng_pipe_close(nng_msg_get_pipe(raw));
}

void
tjob_init(struct tjob *t, const char *id, Cmpd__JobState state)
{
	memset(t, 0, sizeof(*t));
	cmpd__job__init(&t->job);
	cmpd__pki_status__init(&t->pki);
	t->job.id = (char *)id;
	t->job.profile = "web";
	t->job.op = CMPD__CMP_OP__CMP_OP_IR;
	t->job.state = state;
	t->job.created = 1700000000;
	t->job.updated = 1700000100;
	t->job.subject = "/CN=web/O=Acme";
	t->sans[0] = "DNS:web.example";
	t->sans[1] = "IP:192.0.2.1";
	t->job.sans = t->sans;
	t->job.n_sans = 2;
	t->job.key_type = CMPD__KEY_TYPE__KEY_EC_P256;
	t->job.key_id = "0123456789abcdef0123456789abcdef";
}

uint64_t
test_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

EVP_PKEY *
tkey_new(const char *type)
{
	if (strcmp(type, "EC") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (strcmp(type, "RSA") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	return EVP_PKEY_Q_keygen(NULL, NULL, type);
}

static int
name_add_parts(X509_NAME *name, va_list ap)
{
	const char *type;

	while ((type = va_arg(ap, const char *)) != NULL) {
		const char *value = va_arg(ap, const char *);

		if (!X509_NAME_add_entry_by_txt(name, type, MBSTRING_UTF8,
		        (const unsigned char *)value, -1, -1, 0))
			return -1;
	}
	return 0;
}

X509 *
tcert_new(EVP_PKEY *key, EVP_PKEY *issuer_key, const char *issuer_cn,
    long serial, ...)
{
	X509 *x = X509_new();
	X509_NAME *subject = X509_NAME_new(), *issuer = X509_NAME_new();
	va_list ap;
	int ok;

	va_start(ap, serial);
	ok = x != NULL && subject != NULL && issuer != NULL &&
	    name_add_parts(subject, ap) == 0;
	va_end(ap);
	ok = ok && X509_set_version(x, X509_VERSION_3) &&
	    ASN1_INTEGER_set(X509_get_serialNumber(x), serial) &&
	    (issuer_key == NULL ||
	        X509_NAME_add_entry_by_txt(issuer, "CN", MBSTRING_UTF8,
	            (const unsigned char *)issuer_cn, -1, -1, 0)) &&
	    X509_set_subject_name(x, subject) &&
	    X509_set_issuer_name(x, issuer_key ? issuer : subject) &&
	    ASN1_TIME_set(X509_getm_notBefore(x), 1700000000) &&
	    ASN1_TIME_set(X509_getm_notAfter(x), 1800000000) &&
	    X509_set_pubkey(x, key) &&
	    X509_sign(x, issuer_key ? issuer_key : key,
	        EVP_PKEY_get_id(issuer_key ? issuer_key : key) ==
	                EVP_PKEY_ED25519
	            ? NULL
	            : EVP_sha256()) > 0;
	X509_NAME_free(subject);
	X509_NAME_free(issuer);
	if (!ok) {
		ERR_print_errors_fp(stderr);
		X509_free(x);
		return NULL;
	}
	return x;
}

uint8_t *
tcert_der(X509 *x, size_t *len)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	uint8_t *copy;

	if (n <= 0 || (copy = malloc((size_t)n)) == NULL) {
		OPENSSL_free(der);
		return NULL;
	}
	memcpy(copy, der, (size_t)n);
	OPENSSL_free(der);
	*len = (size_t)n;
	return copy;
}
