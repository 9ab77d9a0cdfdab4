/*
 * The table of open transactions: a tsearch() tree by transactionID for
 * lookups and a list for the idle sweep, under one lock. A transaction is
 * reference-counted so the sweep never frees one a request is using.
 */
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "srvint.h"
#include "util.h"

struct tca_txn_table {
	pthread_mutex_t mu;
	void *tree;
	struct tca_txn *head;
	size_t count;
};

static int
txn_cmp(const void *a, const void *b)
{
	return strcmp(
	    ((const struct tca_txn *)a)->tid, ((const struct tca_txn *)b)->tid);
}

static void
txn_free(struct tca_txn *txn)
{
	OSSL_CMP_SRV_CTX_free(txn->ctx);
	OSSL_CMP_MSG_free(txn->poll_req);
	X509_free(txn->cert);
	pthread_mutex_destroy(&txn->mu);
	txn->magic = 0;
	free(txn);
}

static struct tca_txn *
txn_new(struct tca_server *srv, const char *tid)
{
	struct tca_txn *txn = calloc(1, sizeof(*txn));

	if (txn == NULL)
		return NULL;
	if (cmpd_strlcpy(txn->tid, tid, sizeof(txn->tid)) != 0) {
		free(txn);
		return NULL;
	}
	txn->magic = TCA_TXN_MAGIC;
	txn->srv = srv;
	pthread_mutex_init(&txn->mu, NULL);
	return txn;
}

/* Under t->mu. */
static void
txn_unlink(struct tca_txn_table *t, struct tca_txn *txn)
{
	if (!txn->linked)
		return;
	tdelete(txn, &t->tree, txn_cmp);
	if (txn->prev != NULL)
		txn->prev->next = txn->next;
	else
		t->head = txn->next;
	if (txn->next != NULL)
		txn->next->prev = txn->prev;
	txn->prev = txn->next = NULL;
	txn->linked = 0;
	t->count--;
}

/* Under t->mu. */
static cmpd_err
txn_link(struct tca_txn_table *t, struct tca_txn *txn)
{
	if (tsearch(txn, &t->tree, txn_cmp) == NULL)
		return CMPD_ENOMEM;
	txn->next = t->head;
	if (t->head != NULL)
		t->head->prev = txn;
	t->head = txn;
	txn->linked = 1;
	t->count++;
	return CMPD_OK;
}

cmpd_err
tca_txn_table_new(struct tca_txn_table **out)
{
	struct tca_txn_table *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return CMPD_ENOMEM;
	pthread_mutex_init(&t->mu, NULL);
	*out = t;
	return CMPD_OK;
}

void
tca_txn_table_free(struct tca_txn_table *t)
{
	if (t == NULL)
		return;
	while (t->head != NULL) {
		struct tca_txn *txn = t->head;

		txn_unlink(t, txn);
		txn_free(txn);
	}
	pthread_mutex_destroy(&t->mu);
	free(t);
}

/* Under t->mu: the linked transaction tid, or a new linked one. */
static cmpd_err
txn_find_or_add(struct tca_txn_table *t, struct tca_server *srv,
    const char *tid, struct tca_txn **out)
{
	struct tca_txn key, *txn;
	void *node;

	if (cmpd_strlcpy(key.tid, tid, sizeof(key.tid)) != 0)
		return CMPD_EINVAL;
	node = tfind(&key, &t->tree, txn_cmp);
	if (node != NULL) {
		*out = *(struct tca_txn **)node;
		return CMPD_OK;
	}
	txn = txn_new(srv, tid);
	if (txn == NULL)
		return CMPD_ENOMEM;
	if (txn_link(t, txn) != CMPD_OK) {
		txn_free(txn);
		return CMPD_ENOMEM;
	}
	*out = txn;
	return CMPD_OK;
}

cmpd_err
tca_txn_acquire(struct tca_txn_table *t, struct tca_server *srv,
    const char *tid, struct tca_txn **out)
{
	struct tca_txn *txn = NULL;
	cmpd_err rv;

	pthread_mutex_lock(&t->mu);
	rv = txn_find_or_add(t, srv, tid, &txn);
	if (rv == CMPD_OK) {
		txn->refs++;
		txn->last_ms = cmpd_clock_ms();
	}
	pthread_mutex_unlock(&t->mu);
	if (rv != CMPD_OK)
		return rv;
	/* Requests of one transaction are answered one after the other. */
	pthread_mutex_lock(&txn->mu);
	TCA_TXN_CHECK(txn);
	*out = txn;
	return CMPD_OK;
}

void
tca_txn_release(struct tca_txn_table *t, struct tca_txn *txn, int finished)
{
	int gone;

	TCA_TXN_CHECK(txn);
	pthread_mutex_unlock(&txn->mu);
	pthread_mutex_lock(&t->mu);
	if (finished)
		txn_unlink(t, txn);
	txn->refs--;
	txn->last_ms = cmpd_clock_ms();
	gone = !txn->linked && txn->refs == 0;
	pthread_mutex_unlock(&t->mu);
	if (gone)
		txn_free(txn);
}

size_t
tca_txn_sweep(struct tca_txn_table *t, uint64_t idle_ms)
{
	uint64_t now = cmpd_clock_ms();
	struct tca_txn *txn, *next, *dead = NULL;
	size_t n = 0, left;

	pthread_mutex_lock(&t->mu);
	for (txn = t->head; txn != NULL; txn = next) {
		next = txn->next;
		if (txn->refs > 0 || now - txn->last_ms < idle_ms)
			continue;
		txn_unlink(t, txn);
		txn->next = dead;
		dead = txn;
	}
	left = t->count;
	pthread_mutex_unlock(&t->mu);
	for (txn = dead; txn != NULL; txn = next, n++) {
		next = txn->next;
		log_info("%s: dropped after %u s without a request", txn->tid,
		    (unsigned)(idle_ms / 1000u));
		txn_free(txn);
	}
	if (n > 0)
		log_debug("%zu transactions open", left);
	return n;
}
