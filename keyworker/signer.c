/*
 * The signer socket: what the networker may ask. The networker parses
 * bytes from the network, so it is treated as possibly hostile: a message
 * that is not in the table or is malformed costs it its connection
 * (nng_pipe_close); a request the grants do not allow gets an Error
 * (CMPD_EPERM) and a warning in the log.
 */
#include <nng/transport/ipc/ipc.h>
#include <stdlib.h>

#include "ipc.h"
#include "kw.h"
#include "log.h"
#include "sign.h"
#include "util.h"

static void
signer_drop(nng_msg *msg, const char *type, const char *why)
{
	nng_pipe p = nng_msg_get_pipe(msg);
	uint64_t pid = 0;

	nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_PID, &pid);
	log_warn("networker pipe %d (pid %llu): %s: %s; dropping the "
	         "connection",
	    nng_pipe_id(p), (unsigned long long)pid, type, why);
	nng_pipe_close(p);
}

static void
handle_sign(struct kw *kw, const cmpd_env *req, nng_msg *msg)
{
	Cmpd__SignRep rep = CMPD__SIGN_REP__INIT;
	uint8_t *sig = NULL;
	size_t siglen = 0;
	struct kw_why why;
	cmpd_env env;
	cmpd_err rv;

	if (kw_sign_req_check(req->sign_req, &why) != CMPD_OK) {
		signer_drop(msg, "sign_req", why.text);
		return;
	}
	rv = kw_sign(kw->grants, req->sign_req, &sig, &siglen, &why);
	if (rv != CMPD_OK) {
		cmpd_ipc_send_error(kw->signer, req->id, rv, why.text, msg);
		return;
	}
	rep.signature.data = sig;
	rep.signature.len = siglen;
	cmpd_env_init(&env, req->id);
	env.body_case = CMPD__ENVELOPE__BODY_SIGN_REP;
	env.sign_rep = &rep;
	cmpd_ipc_send(kw->signer, &env, msg);
	free(sig);
}

/* What the networker may ask. */
static const struct signer_op {
	Cmpd__Envelope__BodyCase body;
	void (*handle)(struct kw *kw, const cmpd_env *req, nng_msg *msg);
} signer_ops[] = {
	{ CMPD__ENVELOPE__BODY_SIGN_REQ, handle_sign },
};

void
kw_signer_recv_cb(void *arg, nng_msg *msg)
{
	struct kw *kw = arg;
	const struct signer_op *op = NULL;
	cmpd_env *req = NULL;

	CMPD_MAGIC_CHECK(kw, KW_MAGIC);
	if (kw->stopping)
		goto out;
	if (cmpd_ipc_unpack(msg, CMPD_IPC_MAX_SIGN, &req) != CMPD_OK) {
		signer_drop(msg, "message", "cannot be decoded");
		goto out;
	}
	for (size_t i = 0; i < CMPD_ARRAY_LEN(signer_ops); i++)
		if (signer_ops[i].body == req->body_case)
			op = &signer_ops[i];
	if (op == NULL)
		signer_drop(msg, cmpd_env_body_name(req),
		    "not a request the networker may send");
	else
		op->handle(kw, req, msg);
out:
	cmpd_ipc_free(req);
	nng_msg_free(msg);
}
