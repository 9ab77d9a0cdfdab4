/*
 * The networker's side of the broker link: what the broker may ask (one
 * table), the check of every request, and the transactions in progress,
 * each step of which runs on libuv's thread pool. Everything here runs on
 * the loop thread except the steps themselves.
 */
#pragma once

#include <nng/nng.h>
#include <openssl/evp.h>
#include <uv.h>

#include "cmpd.pb-c.h"
#include "err.h"

/*
 * Makes the EVP_PKEY for a key of the request (main.c: a handle of the
 * remote-key provider). The caller owns *out.
 */
typedef cmpd_err (*nw_key_new_fn)(void *arg, OSSL_LIB_CTX *libctx,
    const char *job_id, const Cmpd__KeyInfo *key, EVP_PKEY **out);

/* Called once when the broker broke the protocol; the process must end. */
typedef void (*nw_serve_fatal_fn)(void *arg);

struct nw_serve_cfg {
	uv_loop_t *loop;
	nng_socket broker; /* pair0 link to the broker */
	OSSL_LIB_CTX *libctx;
	nw_key_new_fn key_new;
	void *key_arg;
	nw_serve_fatal_fn fatal;
	void *fatal_arg;
};

struct nw_serve;

cmpd_err nw_serve_new(const struct nw_serve_cfg *cfg, struct nw_serve **out);

/* The cmpd_ipc_recv_cb for the broker link; arg is the nw_serve. */
void nw_serve_recv_cb(void *arg, nng_msg *msg);

/*
 * Stops serving: later messages are dropped, waiting transactions freed,
 * queued steps cancelled. Steps already running finish (their reply is
 * still sent) and free themselves; the loop ends when they have, unless a
 * reply waits for the link (the retry timer keeps the loop alive).
 */
void nw_serve_stop(struct nw_serve *s);

/* The number of transactions in the table. */
size_t nw_serve_jobs(const struct nw_serve *s);

/*
 * After the loop has run every step's completion: sends what it can of the
 * replies still queued and closes the retry timer; run the loop once more
 * for the close, then nw_serve_free.
 */
void nw_serve_close(struct nw_serve *s);

/* Frees s, dropping replies never sent. */
void nw_serve_free(struct nw_serve *s);
