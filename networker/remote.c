#include "remote.h"

#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"
#include "log.h"
#include "util.h"

#define NW_REMOTE_MAGIC 0x6e77726du /* "nwrm" */

/* Longest signature of the keys the keyworker holds (RSA 4096: 512). */
#define REMOTE_MAX_SIG 1024

struct nw_remote {
	uint32_t magic;
	nng_socket sock;
	nng_duration timeout;
	atomic_uint_fast64_t next_id;
};

cmpd_err
nw_remote_new(nng_socket sock, nng_duration timeout_ms, struct nw_remote **out)
{
	struct nw_remote *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return CMPD_ENOMEM;
	r->magic = NW_REMOTE_MAGIC;
	r->sock = sock;
	r->timeout = timeout_ms;
	atomic_init(&r->next_id, 1);
	*out = r;
	return CMPD_OK;
}

void
nw_remote_free(struct nw_remote *r)
{
	if (r == NULL)
		return;
	CMPD_MAGIC_CHECK(r, NW_REMOTE_MAGIC);
	r->magic = 0;
	free(r);
}

/* One operation of a context: send or receive, bounded by the aio. */
static int
remote_aio_run(nng_ctx ctx, nng_aio *aio, int send)
{
	if (send)
		nng_ctx_send(ctx, aio);
	else
		nng_ctx_recv(ctx, aio);
	nng_aio_wait(aio);
	return nng_aio_result(aio);
}

/*
 * Sends the SignReq on a fresh context and waits for its answer. nng 1.5
 * has no blocking send on a context, so an aio carries both halves.
 */
static cmpd_err
remote_call(struct nw_remote *r, const cmpd_env *req, nng_msg **rep)
{
	nng_msg *msg = NULL;
	nng_aio *aio = NULL;
	nng_ctx ctx;
	cmpd_err rv;
	int nrv;

	if ((rv = cmpd_ipc_pack(req, &msg)) != CMPD_OK)
		return rv;
	if ((nrv = nng_aio_alloc(&aio, NULL, NULL)) != 0) {
		nng_msg_free(msg);
		return cmpd_err_from_nng(nrv);
	}
	if ((nrv = nng_ctx_open(&ctx, r->sock)) != 0) {
		nng_msg_free(msg);
		nng_aio_free(aio);
		return cmpd_err_from_nng(nrv);
	}
	nng_aio_set_timeout(aio, r->timeout);
	nng_aio_set_msg(aio, msg);
	if ((nrv = remote_aio_run(ctx, aio, 1)) != 0)
		nng_msg_free(nng_aio_get_msg(aio));
	else if ((nrv = remote_aio_run(ctx, aio, 0)) == 0)
		*rep = nng_aio_get_msg(aio);
	nng_ctx_close(ctx);
	nng_aio_free(aio);
	return nrv == 0 ? CMPD_OK : cmpd_err_from_nng(nrv);
}

/* Takes the signature out of the keyworker's answer to request id. */
static cmpd_err
remote_reply_read(const cmpd_env *env, uint64_t id, const char *job,
    uint8_t **sig, size_t *siglen)
{
	const ProtobufCBinaryData *s;

	if (env->id != id)
		return CMPD_EPROTO;
	if (env->body_case == CMPD__ENVELOPE__BODY_ERROR) {
		cmpd_err code = (cmpd_err)env->error->code;

		log_err("job %s: keyworker refused to sign: %s (%s)", job,
		    cmpd_strerror(code),
		    env->error->message ? env->error->message : "");
		return code == CMPD_OK || code >= CMPD_E_MAX ? CMPD_EPROTO
		                                             : code;
	}
	if (env->body_case != CMPD__ENVELOPE__BODY_SIGN_REP)
		return CMPD_EPROTO;
	s = &env->sign_rep->signature;
	if (s->len == 0 || s->len > REMOTE_MAX_SIG)
		return CMPD_EPROTO;
	if ((*sig = OPENSSL_malloc(s->len)) == NULL)
		return CMPD_ENOMEM;
	memcpy(*sig, s->data, s->len);
	*siglen = s->len;
	return CMPD_OK;
}

cmpd_err
nw_remote_sign(void *arg, const char *job_id, const char *key_id,
    const char *digest, const uint8_t *tbs, size_t tbslen, uint8_t **sig,
    size_t *siglen)
{
	struct nw_remote *r = arg;
	Cmpd__SignReq sr = CMPD__SIGN_REQ__INIT;
	cmpd_env env, *rep_env = NULL;
	nng_msg *rep = NULL;
	cmpd_err rv;

	CMPD_MAGIC_CHECK(r, NW_REMOTE_MAGIC);
	cmpd_env_init(&env, atomic_fetch_add(&r->next_id, 1));
	sr.job_id = (char *)job_id;
	sr.key_id = (char *)key_id;
	sr.digest = (char *)(digest != NULL ? digest : "");
	sr.tbs.data = (uint8_t *)tbs;
	sr.tbs.len = tbslen;
	env.body_case = CMPD__ENVELOPE__BODY_SIGN_REQ;
	env.sign_req = &sr;
	log_debug("job %s: asking the keyworker to sign %zu bytes with key %s",
	    job_id, tbslen, key_id);
	if ((rv = remote_call(r, &env, &rep)) != CMPD_OK) {
		log_err("job %s: no signature from the keyworker: %s", job_id,
		    cmpd_strerror(rv));
		return rv;
	}
	rv = cmpd_ipc_unpack(rep, CMPD_IPC_MAX_SIGN, &rep_env);
	if (rv == CMPD_OK)
		rv = remote_reply_read(rep_env, env.id, job_id, sig, siglen);
	if (rv == CMPD_EPROTO)
		log_err("job %s: malformed answer from the keyworker", job_id);
	cmpd_ipc_free(rep_env);
	nng_msg_free(rep);
	return rv;
}
