/*
 * Keeping the CA's answers in the broker's store (txnresume.c says why):
 * a step's thread sends a TxnSaveReq on the broker link and waits until
 * the broker has committed it, or has said why it could not. The loop
 * thread hands the broker's replies to the waiting step.
 */
#pragma once

#include <nng/nng.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc.h"

/* Envelope ids of our own requests, apart from the broker's. */
#define NW_KEEP_ID_BIT (UINT64_C(1) << 63)

struct nw_keep;

cmpd_err nw_keep_new(nng_socket broker, struct nw_keep **out);
void nw_keep_free(struct nw_keep *k);

/* An nw_txn_save_fn (txn.h); arg is the nw_keep. Any thread. */
cmpd_err nw_keep_save(void *arg, const char *job, const uint8_t *der,
    size_t len, int replaces_last, char *why, size_t whylen);

/*
 * On the loop thread: whether env is the broker's reply to a save (then
 * it is consumed here). Other Ok and Error bodies are not ours.
 */
int nw_keep_reply(struct nw_keep *k, const cmpd_env *env);

/* Wakes every waiting step with a failure; later saves fail at once. */
void nw_keep_stop(struct nw_keep *k);
