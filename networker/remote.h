/*
 * The signing client: the function the remote-key provider calls for
 * every signature. It sends one SignReq to the keyworker over the req0
 * socket to signer.ipc and waits for the SignRep, on the calling thread.
 * Calls come from many threads at once; each uses its own nng context, so
 * replies cannot cross. Key bytes never pass here, only key ids.
 */
#pragma once

#include <nng/nng.h>

#include "rkprov.h"

#define NW_REMOTE_TIMEOUT_MS 10000

struct nw_remote;

/*
 * A client on the req0 socket sock (dialed by the caller), giving up on a
 * call after timeout_ms. The caller keeps sock open until nw_remote_free.
 */
cmpd_err nw_remote_new(
    nng_socket sock, nng_duration timeout_ms, struct nw_remote **out);
void nw_remote_free(struct nw_remote *r);

/*
 * A cmpd_rk_sign_fn (rkprov.h); arg is the struct nw_remote. Returns the
 * keyworker's Error code when it refuses, CMPD_ETIMEDOUT when it does not
 * answer in time, CMPD_EPROTO on a malformed answer.
 */
cmpd_err nw_remote_sign(void *arg, const char *job_id, const char *key_id,
    const char *digest, const uint8_t *tbs, size_t tbslen, uint8_t **sig,
    size_t *siglen);
