/*
 * The typed layer over nng: every cmpd message travels as one packed
 * cmpd.Envelope (cmpd.proto) in one nng message. Receivers bound the size
 * before decoding (the socket's NNG_OPT_RECVMAXSZ and again here), decode
 * with a memory budget, and check every string, repeated field and enum
 * against the limits below before a handler sees the message.
 */
#pragma once

#include <nng/nng.h>
#include <stddef.h>
#include <stdint.h>

#include "cmpd.pb-c.h"
#include "err.h"
#include "util.h"

#define CMPD_PROTO_VERSION 1

/* Receive size limits, by link. */
#define CMPD_IPC_MAX_WORKER     (4u << 20)   /* broker <-> workers */
#define CMPD_IPC_MAX_SIGN       (64u << 10)  /* networker <-> keyworker */
#define CMPD_IPC_MAX_CLIENT_REQ (256u << 10) /* client -> broker */
#define CMPD_IPC_MAX_CLIENT_REP (32u << 20)  /* broker -> client */

/* Limits every decoded message must keep (cmpd_ipc_unpack checks them). */
#define CMPD_IPC_MAX_STRING   4096u   /* bytes in one string field */
#define CMPD_IPC_MAX_REPEATED 100000u /* elements in one repeated field */

/* Decoding may allocate at most this many times the message size, plus
 * the slack a small message needs for its structures. */
#define CMPD_IPC_ALLOC_FACTOR 32u
#define CMPD_IPC_ALLOC_SLACK  4096u

typedef Cmpd__Envelope cmpd_env;

/* Initialises env as an empty envelope of this protocol version. */
void cmpd_env_init(cmpd_env *env, uint64_t id);

/* Packs env into a new nng message; *out is the caller's. */
cmpd_err cmpd_ipc_pack(const cmpd_env *env, nng_msg **out);

/*
 * Decodes the body of msg, at most max bytes, into a new envelope that the
 * caller frees with cmpd_ipc_free. Fails with CMPD_EPROTO on a wrong
 * version, a missing body, an over-long string, an oversized repeated field,
 * an unknown enum value or a budget overrun. msg stays the caller's.
 */
cmpd_err cmpd_ipc_unpack(nng_msg *msg, size_t max, cmpd_env **out);
void cmpd_ipc_free(cmpd_env *env);

/* The name of the envelope's body type, for logs ("sign_req"). */
const char *cmpd_env_body_name(const cmpd_env *env);

/*
 * Sends env on s without blocking. With reply_to (a request received on a
 * raw rep0 socket), the reply carries its routing header.
 */
cmpd_err cmpd_ipc_send(nng_socket s, const cmpd_env *env, nng_msg *reply_to);

/* Sends an Error reply with code and text to the request id. */
cmpd_err cmpd_ipc_send_error(nng_socket s, uint64_t id, cmpd_err code,
    const char *text, nng_msg *reply_to);

/* Sends an Ok reply to the request id. */
cmpd_err cmpd_ipc_send_ok(nng_socket s, uint64_t id, nng_msg *reply_to);

/*
 * Sets the receive limit on s and listens on url (ipc://PATH); the socket
 * file gets mode (for example 0600).
 */
cmpd_err cmpd_ipc_listen(
    nng_socket s, const char *url, size_t recvmax, int mode);

/* Sets the receive limit on s and dials url, retrying in the background. */
cmpd_err cmpd_ipc_dial(nng_socket s, const char *url, size_t recvmax);

/* Maps nng's error numbers to cmpd_err. */
cmpd_err cmpd_err_from_nng(int nng_rv);
