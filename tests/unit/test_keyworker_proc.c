/*
 * The real cmpd-keyworker process (CMPD_BIN_DIR), driven over its two
 * sockets as the broker (pair0, listening) and the networker (req0,
 * dialling the signer socket) drive it: generate, import, grant, sign,
 * refuse, list, delete; a hostile networker loses its connection; a
 * protocol violation by the broker ends the process; so do SIGTERM and
 * the end of the broker link, cleanly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/pair0/pair.h>
#include <nng/protocol/reqrep0/req.h>
#include <openssl/rand.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc.h"
#include "keyid.h"
#include "test_keyworker_util.h"

extern char **environ;

#define JOB        "0123456789abcdef"
#define TIMEOUT_MS 20000

struct proc {
	char *tmp;
	char keys[256];
	char broker_url[300];
	char signer_url[300];
	nng_socket broker;
	nng_socket net;
	pid_t pid;
	uint64_t next_id;
};

static void
sock_timeouts(nng_socket s)
{
	assert_int_equal(
	    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, TIMEOUT_MS), 0);
	assert_int_equal(
	    nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, TIMEOUT_MS), 0);
}

/* The broker's and the networker's sockets; the keyworker not yet. */
static int
setup(void **state)
{
	struct proc *p = calloc(1, sizeof(*p));

	p->tmp = kwt_tmpdir();
	snprintf(p->keys, sizeof(p->keys), "%s/keys", p->tmp);
	snprintf(
	    p->broker_url, sizeof(p->broker_url), "ipc://%s/kw.ipc", p->tmp);
	snprintf(p->signer_url, sizeof(p->signer_url), "ipc://%s/signer.ipc",
	    p->tmp);
	/* The broker listens before it starts the keyworker. */
	assert_int_equal(nng_pair0_open(&p->broker), 0);
	sock_timeouts(p->broker);
	assert_int_equal(cmpd_ipc_listen(p->broker, p->broker_url,
	                     CMPD_IPC_MAX_WORKER, 0600),
	    CMPD_OK);
	assert_int_equal(nng_req0_open(&p->net), 0);
	sock_timeouts(p->net);
	assert_int_equal(
	    nng_dial(p->net, p->signer_url, NULL, NNG_FLAG_NONBLOCK), 0);
	*state = p;
	return 0;
}

/* Starts the keyworker; broker_pid (if not NULL) as its --broker-pid. */
static void
start_as_child_of(struct proc *p, char *broker_pid)
{
	const char *bin = getenv("CMPD_BIN_DIR");
	char path[4096];
	char *argv[] = { path, "--keystore", p->keys, "--broker", p->broker_url,
		"--signer", p->signer_url, "--log-level", "debug",
		broker_pid != NULL ? "--broker-pid" : NULL, broker_pid, NULL };

	assert_non_null(bin);
	snprintf(path, sizeof(path), "%s/cmpd-keyworker", bin);
	assert_int_equal(
	    posix_spawn(&p->pid, path, NULL, NULL, argv, environ), 0);
}

static void
start(struct proc *p)
{
	start_as_child_of(p, NULL);
}

/* The exit status of the keyworker, waiting at most secs seconds. */
static int
wait_exit(struct proc *p, int secs)
{
	int status = 0;

	for (int i = 0; i < secs * 100; i++) {
		pid_t r = waitpid(p->pid, &status, WNOHANG);

		if (r == p->pid) {
			p->pid = 0;
			if (!WIFEXITED(status))
				fail_msg("keyworker died of signal %d",
				    WTERMSIG(status));
			return WEXITSTATUS(status);
		}
		usleep(10000);
	}
	fail_msg("keyworker did not exit within %d s", secs);
	return -1;
}

static int
teardown(void **state)
{
	struct proc *p = *state;

	nng_close(p->net);
	nng_close(p->broker);
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
	}
	kwt_rmtree(p->tmp);
	free(p->tmp);
	free(p);
	return 0;
}

/* Sends env on s and returns the decoded reply, checking its id. */
static cmpd_env *
call(nng_socket s, cmpd_env *env)
{
	nng_msg *msg = NULL;
	cmpd_env *rep = NULL;
	int rv;

	assert_int_equal(cmpd_ipc_pack(env, &msg), CMPD_OK);
	assert_int_equal(nng_sendmsg(s, msg, 0), 0);
	rv = nng_recvmsg(s, &msg, 0);
	if (rv != 0)
		fail_msg("no reply: %s", nng_strerror(rv));
	assert_int_equal(
	    cmpd_ipc_unpack(msg, CMPD_IPC_MAX_WORKER, &rep), CMPD_OK);
	nng_msg_free(msg);
	assert_int_equal(rep->id, env->id);
	return rep;
}

static cmpd_env *
broker_call(struct proc *p, Cmpd__Envelope__BodyCase body, void *msg)
{
	cmpd_env env;

	cmpd_env_init(&env, ++p->next_id);
	env.body_case = body;
	/* Every body of the oneof sits at the same place. */
	env.error = msg;
	return call(p->broker, &env);
}

static void
assert_error(cmpd_env *rep, cmpd_err code, const char *text)
{
	assert_int_equal(rep->body_case, CMPD__ENVELOPE__BODY_ERROR);
	assert_int_equal(rep->error->code, code);
	if (strstr(rep->error->message, text) == NULL)
		fail_msg(
		    "error \"%s\" lacks \"%s\"", rep->error->message, text);
	cmpd_ipc_free(rep);
}

static void
assert_ok(cmpd_env *rep)
{
	if (rep->body_case == CMPD__ENVELOPE__BODY_ERROR)
		fail_msg("error: %s", rep->error->message);
	assert_int_equal(rep->body_case, CMPD__ENVELOPE__BODY_OK);
	cmpd_ipc_free(rep);
}

/* A generated P-256 key; *info gets a copy of its KeyInfo. */
static void
generate(struct proc *p, char *id, uint8_t **spki, size_t *spki_len)
{
	Cmpd__KeyGenerateReq req = CMPD__KEY_GENERATE_REQ__INIT;
	cmpd_env *rep;
	char want[CMPD_KEY_ID_LEN + 1], path[4096];
	struct stat st;

	req.type = CMPD__KEY_TYPE__KEY_EC_P256;
	req.job_id = JOB;
	rep = broker_call(p, CMPD__ENVELOPE__BODY_KEY_GENERATE_REQ, &req);
	assert_int_equal(rep->body_case, CMPD__ENVELOPE__BODY_KEY_GENERATE_REP);
	assert_int_equal(
	    rep->key_generate_rep->key->type, CMPD__KEY_TYPE__KEY_EC_P256);
	*spki_len = rep->key_generate_rep->key->spki.len;
	*spki = malloc(*spki_len);
	memcpy(*spki, rep->key_generate_rep->key->spki.data, *spki_len);
	cmpd_key_id_from_spki(*spki, *spki_len, want);
	assert_string_equal(rep->key_generate_rep->key->id, want);
	memcpy(id, want, sizeof(want));
	cmpd_ipc_free(rep);
	snprintf(path, sizeof(path), "%s/%s.key", p->keys, id);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

/* Imports key through CMS to the keyworker's import certificate. */
static cmpd_env *
import(struct proc *p, EVP_PKEY *key)
{
	Cmpd__KeyImportCertReq creq = CMPD__KEY_IMPORT_CERT_REQ__INIT;
	Cmpd__KeyImportReq ireq = CMPD__KEY_IMPORT_REQ__INIT;
	cmpd_env *rep;
	size_t len = 0;
	uint8_t *env;

	rep = broker_call(p, CMPD__ENVELOPE__BODY_KEY_IMPORT_CERT_REQ, &creq);
	assert_int_equal(
	    rep->body_case, CMPD__ENVELOPE__BODY_KEY_IMPORT_CERT_REP);
	env = kwt_envelope(key, rep->key_import_cert_rep->cert.data,
	    rep->key_import_cert_rep->cert.len, EVP_aes_256_gcm(), &len);
	assert_non_null(env);
	cmpd_ipc_free(rep);
	ireq.envelope.data = env;
	ireq.envelope.len = len;
	rep = broker_call(p, CMPD__ENVELOPE__BODY_KEY_IMPORT_REQ, &ireq);
	free(env);
	return rep;
}

static void
grant(struct proc *p, const uint8_t *txid, const char *prot, const char *newk)
{
	Cmpd__GrantReq req = CMPD__GRANT_REQ__INIT;

	req.job_id = JOB;
	req.op = CMPD__CMP_OP__CMP_OP_IR;
	req.transaction_id.data = (uint8_t *)txid;
	req.transaction_id.len = 16;
	req.protection_key_id = (char *)prot;
	req.new_key_id = (char *)newk;
	assert_ok(broker_call(p, CMPD__ENVELOPE__BODY_GRANT_REQ, &req));
}

static cmpd_env *
sign_call(struct proc *p, nng_socket s, const char *key_id, const uint8_t *tbs,
    size_t len)
{
	Cmpd__SignReq req = CMPD__SIGN_REQ__INIT;
	cmpd_env env;

	req.job_id = JOB;
	req.key_id = (char *)key_id;
	req.digest = "SHA256";
	req.tbs.data = (uint8_t *)tbs;
	req.tbs.len = len;
	cmpd_env_init(&env, ++p->next_id);
	env.body_case = CMPD__ENVELOPE__BODY_SIGN_REQ;
	env.sign_req = &req;
	return call(s, &env);
}

static void
assert_signs(struct proc *p, const char *key_id, const uint8_t *spki,
    size_t spki_len, const uint8_t *tbs, size_t len)
{
	cmpd_env *rep = sign_call(p, p->net, key_id, tbs, len);

	if (rep->body_case == CMPD__ENVELOPE__BODY_ERROR)
		fail_msg("sign refused: %s", rep->error->message);
	assert_int_equal(rep->body_case, CMPD__ENVELOPE__BODY_SIGN_REP);
	assert_true(kwt_verify(spki, spki_len, "SHA256", tbs, len,
	    rep->sign_rep->signature.data, rep->sign_rep->signature.len));
	cmpd_ipc_free(rep);
}

static void
list_has(struct proc *p, size_t n, const char *a, const char *b)
{
	Cmpd__KeyListReq req = CMPD__KEY_LIST_REQ__INIT;
	cmpd_env *rep = broker_call(p, CMPD__ENVELOPE__BODY_KEY_LIST_REQ, &req);
	int seen_a = 0, seen_b = 0;

	assert_int_equal(rep->body_case, CMPD__ENVELOPE__BODY_KEY_LIST_REP);
	assert_int_equal(rep->key_list_rep->n_keys, n);
	for (size_t i = 0; i < n; i++) {
		seen_a |= strcmp(rep->key_list_rep->keys[i]->id, a) == 0;
		seen_b |=
		    b != NULL && strcmp(rep->key_list_rep->keys[i]->id, b) == 0;
	}
	assert_true(seen_a && (b == NULL || seen_b));
	cmpd_ipc_free(rep);
}

/* The broker asks for one key: it gets that key, or none. */
static void
list_one(struct proc *p, const char *id, size_t want)
{
	Cmpd__KeyListReq req = CMPD__KEY_LIST_REQ__INIT;
	cmpd_env *rep;

	req.id = (char *)id;
	rep = broker_call(p, CMPD__ENVELOPE__BODY_KEY_LIST_REQ, &req);
	assert_int_equal(rep->body_case, CMPD__ENVELOPE__BODY_KEY_LIST_REP);
	assert_int_equal(rep->key_list_rep->n_keys, want);
	if (want == 1)
		assert_string_equal(rep->key_list_rep->keys[0]->id, id);
	cmpd_ipc_free(rep);
}

static cmpd_env *
delete_call(struct proc *p, const char *id)
{
	Cmpd__KeyDeleteReq req = CMPD__KEY_DELETE_REQ__INIT;

	req.id = (char *)id;
	return broker_call(p, CMPD__ENVELOPE__BODY_KEY_DELETE_REQ, &req);
}

static atomic_int dropped;

static void
dropped_cb(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	(void)pipe;
	(void)ev;
	(void)arg;
	atomic_fetch_add(&dropped, 1);
}

/* A networker that sends what it may not: its connection is closed and
 * the keyworker goes on serving the others. */
static void
hostile_networker(struct proc *p, const uint8_t *junk, size_t len)
{
	nng_socket s;
	nng_msg *msg = NULL;

	atomic_store(&dropped, 0);
	assert_int_equal(nng_req0_open(&s), 0);
	sock_timeouts(s);
	nng_pipe_notify(s, NNG_PIPE_EV_REM_POST, dropped_cb, NULL);
	assert_int_equal(nng_dial(s, p->signer_url, NULL, 0), 0);
	assert_int_equal(nng_msg_alloc(&msg, 0), 0);
	assert_int_equal(nng_msg_append(msg, junk, len), 0);
	assert_int_equal(nng_sendmsg(s, msg, 0), 0);
	for (int i = 0; i < 500 && atomic_load(&dropped) == 0; i++)
		usleep(10000);
	assert_true(atomic_load(&dropped) >= 1);
	nng_close(s);
	assert_int_equal(kill(p->pid, 0), 0);
}

/* What test_dispatch works with: A is imported, B generated. */
struct dispatch {
	EVP_PKEY *a;
	X509 *a_cert;
	char a_id[CMPD_KEY_ID_LEN + 1];
	char b_id[CMPD_KEY_ID_LEN + 1];
	uint8_t *a_spki, *b_spki;
	size_t a_len, b_len;
	uint8_t *pp; /* a ProtectedPart of the granted transaction */
	size_t pp_len;
};

/* Generate, import (twice), list. */
static void
dispatch_keys(struct proc *p, struct dispatch *d)
{
	char path[4096];
	struct stat st;
	cmpd_env *rep;

	generate(p, d->b_id, &d->b_spki, &d->b_len);
	d->a = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	d->a_cert = kwt_selfsigned(d->a, "kwtest device");
	d->a_spki = kwt_spki(d->a, &d->a_len);
	cmpd_key_id_from_spki(d->a_spki, d->a_len, d->a_id);
	for (int i = 0; i < 2; i++) { /* the second time is no error */
		rep = import(p, d->a);
		assert_int_equal(
		    rep->body_case, CMPD__ENVELOPE__BODY_KEY_IMPORT_REP);
		assert_string_equal(rep->key_import_rep->key->id, d->a_id);
		cmpd_ipc_free(rep);
	}
	list_has(p, 2, d->a_id, d->b_id);
	list_one(p, d->b_id, 1);
	list_one(p, "00000000000000000000000000000000", 0);
	snprintf(path, sizeof(path), "%s/signer.ipc", p->tmp);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

/* Grant, then the networker signs what the grant allows, only that. */
static void
dispatch_sign(struct proc *p, struct dispatch *d)
{
	uint8_t txid[16], junk[100];
	struct kwt_cmp c = { .op = CMPD__CMP_OP__CMP_OP_IR,
		.txid = txid,
		.prot_key = d->a,
		.prot_cert = d->a_cert };
	struct kwt_msgs m;
	const uint8_t *cr;
	size_t cr_len;

	RAND_bytes(txid, sizeof(txid));
	grant(p, txid, d->a_id, d->b_id);
	c.new_key = kwt_pubkey(d->b_spki, d->b_len);
	assert_int_equal(kwt_cmp_run(&c, &m), 0);
	d->pp = kwt_protected_part(m.der[0], m.len[0], &d->pp_len);
	assert_int_equal(kwt_cert_request(m.der[0], m.len[0], &cr, &cr_len), 0);
	assert_signs(p, d->a_id, d->a_spki, d->a_len, d->pp, d->pp_len);
	assert_signs(p, d->b_id, d->b_spki, d->b_len, cr, cr_len);
	RAND_bytes(junk, sizeof(junk));
	assert_error(sign_call(p, p->net, d->a_id, junk, sizeof(junk)),
	    CMPD_EPERM, "not a ProtectedPart");
	assert_error(sign_call(p, p->net, d->b_id, d->pp, d->pp_len),
	    CMPD_EPERM, "not a CRMF CertRequest");
	/* A key of a live grant cannot be deleted. */
	assert_error(
	    delete_call(p, d->b_id), CMPD_EPERM, "in use by the grant");
	kwt_msgs_free(&m);
	EVP_PKEY_free(c.new_key);
}

/* Hostile networkers: junk, and a request only the broker makes. */
static void
dispatch_hostile(struct proc *p)
{
	Cmpd__KeyListReq lreq = CMPD__KEY_LIST_REQ__INIT;
	uint8_t junk[100];
	nng_msg *raw = NULL;
	cmpd_env list;

	RAND_bytes(junk, sizeof(junk));
	hostile_networker(p, junk, sizeof(junk));
	cmpd_env_init(&list, 99);
	list.body_case = CMPD__ENVELOPE__BODY_KEY_LIST_REQ;
	list.key_list_req = &lreq;
	assert_int_equal(cmpd_ipc_pack(&list, &raw), CMPD_OK);
	hostile_networker(p, nng_msg_body(raw), nng_msg_len(raw));
	nng_msg_free(raw);
}

/* The grant ends: nothing more is signed; the key can go. */
static void
dispatch_end(struct proc *p, struct dispatch *d)
{
	Cmpd__GrantEndReq end = CMPD__GRANT_END_REQ__INIT;
	char path[4096];

	end.job_id = JOB;
	assert_ok(broker_call(p, CMPD__ENVELOPE__BODY_GRANT_END_REQ, &end));
	assert_error(sign_call(p, p->net, d->a_id, d->pp, d->pp_len),
	    CMPD_EPERM, "no grant");
	assert_ok(delete_call(p, d->b_id));
	snprintf(path, sizeof(path), "%s/%s.key", p->keys, d->b_id);
	assert_int_not_equal(access(path, F_OK), 0);
	assert_error(
	    delete_call(p, d->b_id), CMPD_ENOENT, "not in the key store");
	list_has(p, 1, d->a_id, NULL);
}

static void
test_dispatch(void **state)
{
	struct proc *p = *state;
	struct dispatch d = { .a = NULL };

	start(p);
	dispatch_keys(p, &d);
	dispatch_sign(p, &d);
	dispatch_hostile(p);
	dispatch_end(p, &d);
	/* The broker goes away: the keyworker exits, cleanly. */
	nng_close(p->broker);
	assert_int_equal(wait_exit(p, 20), 0);
	free(d.pp);
	free(d.a_spki);
	free(d.b_spki);
	X509_free(d.a_cert);
	EVP_PKEY_free(d.a);
}

/* Sends raw bytes on the broker link. */
static void
broker_send_raw(struct proc *p, const void *buf, size_t len)
{
	nng_msg *msg = NULL;

	assert_int_equal(nng_msg_alloc(&msg, 0), 0);
	assert_int_equal(nng_msg_append(msg, buf, len), 0);
	assert_int_equal(nng_sendmsg(p->broker, msg, 0), 0);
}

/* A KeyGenerateReq with the grant in it, and its reply. */
static cmpd_env *
generate_granted(struct proc *p, const uint8_t *txid, const char *prot)
{
	Cmpd__KeyGenerateReq req = CMPD__KEY_GENERATE_REQ__INIT;
	Cmpd__GrantReq g = CMPD__GRANT_REQ__INIT;
	cmpd_env *rep;

	g.job_id = JOB;
	g.op = CMPD__CMP_OP__CMP_OP_IR;
	g.transaction_id.data = (uint8_t *)txid;
	g.transaction_id.len = 16;
	g.protection_key_id = (char *)prot;
	g.new_key_id = "";
	req.type = CMPD__KEY_TYPE__KEY_EC_P256;
	req.job_id = JOB;
	req.grant = &g;
	rep = broker_call(p, CMPD__ENVELOPE__BODY_KEY_GENERATE_REQ, &req);
	assert_int_equal(rep->body_case, CMPD__ENVELOPE__BODY_KEY_GENERATE_REP);
	assert_non_null(rep->key_generate_rep->key);
	return rep;
}

/*
 * A new key and the grant with it in one request: the networker may then
 * sign with both keys; a grant that cannot be set still leaves the key
 * made, with the reason.
 */
static void
test_keygen_with_grant(void **state)
{
	struct proc *p = *state;
	struct dispatch d = { .a = NULL };
	uint8_t txid[16];
	struct kwt_cmp c = { .op = CMPD__CMP_OP__CMP_OP_IR, .txid = txid };
	const Cmpd__KeyInfo *k;
	struct kwt_msgs m;
	const uint8_t *cr;
	size_t cr_len;
	cmpd_env *rep;

	start(p);
	dispatch_keys(p, &d);
	RAND_bytes(txid, sizeof(txid));
	rep = generate_granted(p, txid, "0123456789abcdef0123456789abcdef");
	assert_non_null(rep->key_generate_rep->grant_error);
	assert_int_equal(rep->key_generate_rep->grant_error->code, CMPD_ENOENT);
	list_one(p, rep->key_generate_rep->key->id, 1);
	cmpd_ipc_free(rep);

	rep = generate_granted(p, txid, d.a_id);
	assert_null(rep->key_generate_rep->grant_error);
	k = rep->key_generate_rep->key;
	c.prot_key = d.a;
	c.prot_cert = d.a_cert;
	c.new_key = kwt_pubkey(k->spki.data, k->spki.len);
	assert_int_equal(kwt_cmp_run(&c, &m), 0);
	d.pp = kwt_protected_part(m.der[0], m.len[0], &d.pp_len);
	assert_int_equal(kwt_cert_request(m.der[0], m.len[0], &cr, &cr_len), 0);
	assert_signs(p, d.a_id, d.a_spki, d.a_len, d.pp, d.pp_len);
	assert_signs(p, k->id, k->spki.data, k->spki.len, cr, cr_len);
	kwt_msgs_free(&m);
	EVP_PKEY_free(c.new_key);
	cmpd_ipc_free(rep);
	free(d.pp);
	free(d.a_spki);
	free(d.b_spki);
	X509_free(d.a_cert);
	EVP_PKEY_free(d.a);
}

/*
 * A keyworker whose broker died before it could ask to die with it would
 * never learn of it: told a broker pid that is not its parent, it refuses
 * to run. With its real parent's pid it serves.
 */
static void
test_broker_gone_before_start(void **state)
{
	struct proc *p = *state;
	char pid[16];

	start_as_child_of(p, "1");
	assert_int_equal(wait_exit(p, 20), 1);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	start_as_child_of(p, pid);
	list_one(p, "00000000000000000000000000000000", 0);
}

static void
test_broker_sends_sign_req(void **state)
{
	struct proc *p = *state;
	Cmpd__SignReq req = CMPD__SIGN_REQ__INIT;
	uint8_t tbs[2] = { 0x30, 0x00 };
	cmpd_env env;
	nng_msg *msg = NULL;

	start(p);

	req.job_id = JOB;
	req.key_id = "00000000000000000000000000000000";
	req.digest = "SHA256";
	req.tbs.data = tbs;
	req.tbs.len = sizeof(tbs);
	cmpd_env_init(&env, 1);
	env.body_case = CMPD__ENVELOPE__BODY_SIGN_REQ;
	env.sign_req = &req;
	assert_int_equal(cmpd_ipc_pack(&env, &msg), CMPD_OK);
	assert_int_equal(nng_sendmsg(p->broker, msg, 0), 0);
	assert_int_equal(wait_exit(p, 20), 3);
}

static void
test_broker_sends_bad_grant(void **state)
{
	struct proc *p = *state;
	Cmpd__GrantReq req = CMPD__GRANT_REQ__INIT;
	uint8_t txid[16] = { 0 };
	cmpd_env env;
	nng_msg *msg = NULL;

	start(p);

	req.job_id = "not-a-job-id";
	req.op = CMPD__CMP_OP__CMP_OP_GENM;
	req.transaction_id.data = txid;
	req.transaction_id.len = sizeof(txid);
	cmpd_env_init(&env, 1);
	env.body_case = CMPD__ENVELOPE__BODY_GRANT_REQ;
	env.grant_req = &req;
	assert_int_equal(cmpd_ipc_pack(&env, &msg), CMPD_OK);
	assert_int_equal(nng_sendmsg(p->broker, msg, 0), 0);
	assert_int_equal(wait_exit(p, 20), 3);
}

static void
test_broker_sends_junk(void **state)
{
	struct proc *p = *state;

	start(p);

	broker_send_raw(p, "\xff\xff\xff\xff junk", 9);
	assert_int_equal(wait_exit(p, 20), 3);
}

static void
test_sigterm(void **state)
{
	struct proc *p = *state;
	Cmpd__KeyListReq req = CMPD__KEY_LIST_REQ__INIT;
	cmpd_env *rep;

	start(p);

	rep = broker_call(p, CMPD__ENVELOPE__BODY_KEY_LIST_REQ, &req);
	assert_int_equal(rep->body_case, CMPD__ENVELOPE__BODY_KEY_LIST_REP);
	assert_int_equal(rep->key_list_rep->n_keys, 0);
	cmpd_ipc_free(rep);
	assert_int_equal(kill(p->pid, SIGTERM), 0);
	assert_int_equal(wait_exit(p, 20), 0);
}

/* RSA-4096 generation runs on the thread pool: signing goes on. */
static void
test_keygen_does_not_block_signing(void **state)
{
	struct proc *p = *state;
	Cmpd__KeyGenerateReq req = CMPD__KEY_GENERATE_REQ__INIT;
	uint8_t tbs[2] = { 0x30, 0x00 };
	cmpd_env env, *rep = NULL;
	nng_msg *msg = NULL;

	start(p);
	/* Connected first, so the round trip below is only the loop's. */
	assert_error(sign_call(p, p->net, "00000000000000000000000000000000",
	                 tbs, sizeof(tbs)),
	    CMPD_EPERM, "no grant");
	req.type = CMPD__KEY_TYPE__KEY_RSA_4096;
	cmpd_env_init(&env, 500);
	env.body_case = CMPD__ENVELOPE__BODY_KEY_GENERATE_REQ;
	env.key_generate_req = &req;
	assert_int_equal(cmpd_ipc_pack(&env, &msg), CMPD_OK);
	assert_int_equal(nng_sendmsg(p->broker, msg, 0), 0);
	/* A signing round trip (refused: no grant) while it runs. */
	assert_error(sign_call(p, p->net, "00000000000000000000000000000000",
	                 tbs, sizeof(tbs)),
	    CMPD_EPERM, "no grant");
	assert_int_equal(
	    nng_recvmsg(p->broker, &msg, NNG_FLAG_NONBLOCK), NNG_EAGAIN);
	assert_int_equal(nng_recvmsg(p->broker, &msg, 0), 0);
	assert_int_equal(
	    cmpd_ipc_unpack(msg, CMPD_IPC_MAX_WORKER, &rep), CMPD_OK);
	nng_msg_free(msg);
	assert_int_equal(rep->id, 500);
	assert_int_equal(rep->body_case, CMPD__ENVELOPE__BODY_KEY_GENERATE_REP);
	assert_int_equal(
	    rep->key_generate_rep->key->type, CMPD__KEY_TYPE__KEY_RSA_4096);
	cmpd_ipc_free(rep);
	kill(p->pid, SIGTERM);
	assert_int_equal(wait_exit(p, 20), 0);
}

#define BURST 32

/* BURST list requests from the broker, sent before any reply is read. */
static void
burst_broker_send(struct proc *p)
{
	Cmpd__KeyListReq req = CMPD__KEY_LIST_REQ__INIT;
	nng_msg *msg = NULL;
	cmpd_env env;

	cmpd_env_init(&env, 0);
	env.body_case = CMPD__ENVELOPE__BODY_KEY_LIST_REQ;
	env.key_list_req = &req;
	for (int i = 0; i < BURST; i++) {
		env.id = 1000 + (uint64_t)i;
		assert_int_equal(cmpd_ipc_pack(&env, &msg), CMPD_OK);
		assert_int_equal(nng_sendmsg(p->broker, msg, 0), 0);
	}
}

static void
burst_broker_recv(struct proc *p)
{
	nng_msg *msg = NULL;
	cmpd_env *rep = NULL;

	for (int i = 0; i < BURST; i++) {
		assert_int_equal(nng_recvmsg(p->broker, &msg, 0), 0);
		assert_int_equal(
		    cmpd_ipc_unpack(msg, CMPD_IPC_MAX_WORKER, &rep), CMPD_OK);
		assert_int_equal(rep->id, 1000 + (uint64_t)i);
		cmpd_ipc_free(rep);
		nng_msg_free(msg);
	}
}

/* BURST concurrent sign calls, one nng context each, as the networker's
 * threads make them; each gets its own answer (a refusal: no grant). */
static void
burst_networker(struct proc *p)
{
	Cmpd__SignReq req = CMPD__SIGN_REQ__INIT;
	uint8_t tbs[2] = { 0x30, 0x00 };
	nng_ctx ctx[BURST];
	nng_aio *aio[BURST];
	nng_msg *msg = NULL;
	cmpd_env env, *rep = NULL;

	req.job_id = JOB;
	req.key_id = "00000000000000000000000000000000";
	req.digest = "SHA256";
	req.tbs.data = tbs;
	req.tbs.len = sizeof(tbs);
	cmpd_env_init(&env, 0);
	env.body_case = CMPD__ENVELOPE__BODY_SIGN_REQ;
	env.sign_req = &req;
	for (int i = 0; i < BURST; i++) {
		env.id = 2000 + (uint64_t)i;
		assert_int_equal(nng_ctx_open(&ctx[i], p->net), 0);
		assert_int_equal(nng_aio_alloc(&aio[i], NULL, NULL), 0);
		nng_aio_set_timeout(aio[i], TIMEOUT_MS);
		assert_int_equal(cmpd_ipc_pack(&env, &msg), CMPD_OK);
		nng_aio_set_msg(aio[i], msg);
		nng_ctx_send(ctx[i], aio[i]);
	}
	for (int i = 0; i < BURST; i++) {
		nng_aio_wait(aio[i]);
		assert_int_equal(nng_aio_result(aio[i]), 0);
		nng_ctx_recv(ctx[i], aio[i]);
	}
	for (int i = 0; i < BURST; i++) {
		nng_aio_wait(aio[i]);
		assert_int_equal(nng_aio_result(aio[i]), 0);
		msg = nng_aio_get_msg(aio[i]);
		assert_int_equal(
		    cmpd_ipc_unpack(msg, CMPD_IPC_MAX_SIGN, &rep), CMPD_OK);
		assert_int_equal(rep->id, 2000 + (uint64_t)i);
		assert_int_equal(rep->body_case, CMPD__ENVELOPE__BODY_ERROR);
		cmpd_ipc_free(rep);
		nng_msg_free(msg);
		nng_aio_free(aio[i]);
		nng_ctx_close(ctx[i]);
	}
}

/* Many requests at once from both peers: every one is answered. */
static void
test_burst_answered(void **state)
{
	struct proc *p = *state;

	start(p);
	burst_broker_send(p);
	burst_networker(p);
	burst_broker_recv(p);
}

/* A key store others can read is refused: the keyworker does not start. */
static void
test_open_keystore_refused(void **state)
{
	struct proc *p = *state;

	assert_int_equal(mkdir(p->keys, 0755), 0);
	assert_int_equal(chmod(p->keys, 0755), 0);
	start(p);
	assert_int_equal(wait_exit(p, 20), 1);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_dispatch),
		T(test_keygen_with_grant),
		T(test_broker_gone_before_start),
		T(test_broker_sends_sign_req),
		T(test_broker_sends_bad_grant),
		T(test_broker_sends_junk),
		T(test_sigterm),
		T(test_keygen_does_not_block_signing),
		T(test_burst_answered),
		T(test_open_keystore_refused),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
