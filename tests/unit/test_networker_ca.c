#include "test_networker_ca.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_networker_util.h"

static char ca_bin[512];

int
nwt_ca_init(void)
{
	const char *bindir = getenv("CMPD_BIN_DIR");
	char cmd[1024];

	snprintf(ca_bin, sizeof(ca_bin), "%s/cmpd-testca",
	    bindir != NULL ? bindir : "bin");
	if (nwt_pki_make() == NULL)
		return -1;
	snprintf(
	    cmd, sizeof(cmd), "%s init %s >/dev/null", ca_bin, nwt_path("ca"));
	if (system(cmd) != 0) {
		fprintf(stderr, "cannot run %s\n", cmd);
		return -1;
	}
	return 0;
}

void
nwt_ca_start(struct nwt_ca *ca, const char *opts)
{
	char cmd[2048], dir[256];
	FILE *f;

	snprintf(dir, sizeof(dir), "%s", nwt_path("ca"));
	unlink(nwt_path("ca/port"));
	snprintf(cmd, sizeof(cmd),
	    "exec %s serve %s --port 0 --port-file %s/port --quiet %s "
	    "2>>%s/ca.log",
	    ca_bin, dir, dir, opts, dir);
	ca->pid = fork();
	assert_true(ca->pid >= 0);
	if (ca->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	ca->port = -1;
	for (int i = 0; i < 500 && ca->port < 0; i++) {
		usleep(10000);
		if ((f = fopen(nwt_path("ca/port"), "r")) == NULL)
			continue;
		if (fscanf(f, "%d", &ca->port) != 1)
			ca->port = -1;
		fclose(f);
	}
	assert_true(ca->port > 0);
}

void
nwt_ca_stop(struct nwt_ca *ca)
{
	int status;

	kill(ca->pid, SIGTERM);
	waitpid(ca->pid, &status, 0);
}

Cmpd__TxnStartReq *
nwt_ca_req_new(const struct nwt_ca *ca, const char *subject)
{
	static const char *const root[] = { "ca/root.pem" };
	static const char *const sup[] = { "ca/supplier.pem" };
	Cmpd__TxnStartReq *r = nwt_req_new(ca->port);

	nwt_req_certs_set(&r->trusted, &r->n_trusted, root, 1);
	nwt_req_certs_set(&r->enroll_trusted, &r->n_enroll_trusted, root, 1);
	nwt_req_certs_set(&r->protection_certs, &r->n_protection_certs, sup, 1);
	free(r->recipient);
	r->recipient = strdup("/CN=cmpd Test Issuing CA");
	free(r->subject);
	r->subject = strdup(subject);
	return r;
}

void
nwt_ca_url_set(Cmpd__TxnStartReq *r, const struct nwt_ca *ca,
    const char *scheme, const char *path)
{
	char url[256];

	snprintf(
	    url, sizeof(url), "%s://127.0.0.1:%d%s", scheme, ca->port, path);
	free(r->server_url);
	r->server_url = strdup(url);
}

void
nwt_txn_run(Cmpd__TxnStartReq *r, OSSL_LIB_CTX *libctx,
    const struct nw_txn_keys *keys, struct nw_txn_result *res, int *waits)
{
	struct nw_txn *t = NULL;
	char why[512];

	if (nw_txn_new(libctx, r, keys, &t, why, sizeof(why)) != 0)
		fail_msg("%s", why);
	nw_txn_result_init(res);
	*waits = 0;
	for (;;) {
		nw_txn_step(t, res);
		if (res->result != CMPD__TXN_RESULT__TXN_WAITING)
			break;
		(*waits)++;
		sleep(res->check_after);
		nw_txn_result_fini(res);
	}
	nw_txn_free(t);
}

void
nwt_assert_issued(struct nw_txn_result *res, EVP_PKEY *key)
{
	if (res->result != CMPD__TXN_RESULT__TXN_DONE)
		fail_msg("error %d: %s", res->error, res->error_text);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(res->cert), key), 1);
	assert_int_equal(sk_X509_num(res->chain), 2);
	assert_true(nwt_cert_is(sk_X509_value(res->chain, 0), "ca/ca.pem"));
	assert_true(nwt_cert_is(sk_X509_value(res->chain, 1), "ca/root.pem"));
}

void
nwt_assert_failed(
    const struct nw_txn_result *res, cmpd_err code, const char *text)
{
	if (res->result != CMPD__TXN_RESULT__TXN_FAILED || res->error != code ||
	    strstr(res->error_text, text) == NULL)
		fail_msg("result %d error %d \"%s\"; wanted error %d with "
		         "\"%s\"",
		    res->result, res->error, res->error_text, code, text);
}
