/*
 * The real cmpd-keyworker process under a burst of broker requests that
 * its broker link cannot carry at once: the fake broker sends thousands
 * of requests and reads nothing for a while, so the link fills up. Every
 * request must still be answered exactly once, the synchronous replies in
 * the order asked; a keyworker stopped (SIGTERM) or left by its broker
 * with replies still waiting exits cleanly and frees them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <fcntl.h>
#include <nng/nng.h>
#include <nng/protocol/pair0/pair.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc.h"
#include "test_keyworker_util.h"

extern char **environ;

#define JOB        "0123456789abcdef"
#define TIMEOUT_MS 20000
#define BURST      3000
#define FIRST_ID   100
/* Every GEN_EVERY-th request of the burst generates a key. */
#define GEN_EVERY 100

/* What the keyworker logs when its broker link is full, and when the
 * replies that waited have all gone out. */
#define LOG_FULL    "the broker link is full"
#define LOG_DRAINED "the broker link took every waiting reply"

struct proc {
	char *tmp;
	char keys[256];
	char log[256];
	char broker_url[300];
	char signer_url[300];
	nng_socket broker;
	pid_t pid;
};

static int
setup(void **state)
{
	struct proc *p = calloc(1, sizeof(*p));

	p->tmp = kwt_tmpdir();
	assert_non_null(p->tmp);
	snprintf(p->keys, sizeof(p->keys), "%s/keys", p->tmp);
	snprintf(p->log, sizeof(p->log), "%s/keyworker.log", p->tmp);
	snprintf(
	    p->broker_url, sizeof(p->broker_url), "ipc://%s/kw.ipc", p->tmp);
	snprintf(p->signer_url, sizeof(p->signer_url), "ipc://%s/signer.ipc",
	    p->tmp);
	assert_int_equal(nng_pair0_open(&p->broker), 0);
	assert_int_equal(
	    nng_socket_set_ms(p->broker, NNG_OPT_RECVTIMEO, TIMEOUT_MS), 0);
	assert_int_equal(
	    nng_socket_set_ms(p->broker, NNG_OPT_SENDTIMEO, TIMEOUT_MS), 0);
	assert_int_equal(cmpd_ipc_listen(p->broker, p->broker_url,
	                     CMPD_IPC_MAX_WORKER, 0600),
	    CMPD_OK);
	*state = p;
	return 0;
}

static int
teardown(void **state)
{
	struct proc *p = *state;

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

/* Starts the keyworker with its stderr in p->log. */
static void
start(struct proc *p)
{
	const char *bin = getenv("CMPD_BIN_DIR");
	char path[4096];
	char *argv[] = { path, "--keystore", p->keys, "--broker", p->broker_url,
		"--signer", p->signer_url, "--log-level", "debug", NULL };
	posix_spawn_file_actions_t fa;

	assert_non_null(bin);
	snprintf(path, sizeof(path), "%s/cmpd-keyworker", bin);
	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	assert_int_equal(posix_spawn_file_actions_addopen(&fa, STDERR_FILENO,
	                     p->log, O_WRONLY | O_CREAT | O_TRUNC, 0600),
	    0);
	assert_int_equal(
	    posix_spawn(&p->pid, path, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
}

/* The end of the keyworker's log, to show why a test failed. */
static void
log_show(struct proc *p)
{
	size_t len = 0;
	char *log = kwt_read_file(p->log, &len);

	if (log != NULL)
		fprintf(stderr, "--- the keyworker's log ends:\n%s\n---\n",
		    len > 4000 ? log + len - 4000 : log);
	free(log);
}

/* The keyworker's exit status, waiting at most secs seconds. */
static int
wait_exit(struct proc *p, int secs)
{
	int status = 0;

	for (int i = 0; i < secs * 100; i++) {
		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			p->pid = 0;
			if (!WIFEXITED(status))
				fail_msg("keyworker died of signal %d",
				    WTERMSIG(status));
			return WEXITSTATUS(status);
		}
		usleep(10000);
	}
	log_show(p);
	fail_msg("keyworker did not exit within %d s", secs);
	return -1;
}

/* Whether the keyworker's log has text. */
static int
log_has(struct proc *p, const char *text)
{
	size_t len = 0;
	char *log = kwt_read_file(p->log, &len);
	int found = log != NULL && strstr(log, text) != NULL;

	free(log);
	return found;
}

/* Waits up to secs seconds for text in the keyworker's log. */
static void
log_wait(struct proc *p, const char *text, int secs)
{
	for (int i = 0; i < secs * 20; i++) {
		if (log_has(p, text))
			return;
		usleep(50000);
	}
	log_show(p);
	fail_msg("the keyworker did not log \"%s\" within %d s", text, secs);
}

static void
send_env(struct proc *p, cmpd_env *env)
{
	nng_msg *msg = NULL;
	int rv;

	assert_int_equal(cmpd_ipc_pack(env, &msg), CMPD_OK);
	if ((rv = nng_sendmsg(p->broker, msg, 0)) != 0)
		fail_msg("cannot send request %llu: %s",
		    (unsigned long long)env->id, nng_strerror(rv));
}

static cmpd_env *
recv_env(struct proc *p)
{
	nng_msg *msg = NULL;
	cmpd_env *rep = NULL;
	int rv;

	if ((rv = nng_recvmsg(p->broker, &msg, 0)) != 0)
		fail_msg("no reply: %s", nng_strerror(rv));
	assert_int_equal(
	    cmpd_ipc_unpack(msg, CMPD_IPC_MAX_WORKER, &rep), CMPD_OK);
	nng_msg_free(msg);
	return rep;
}

/* The reply a request of the burst gets, by its index; without keygen
 * no key is generated, so no reply comes late. */
static Cmpd__Envelope__BodyCase
burst_rep_body(uint64_t i, int keygen)
{
	if (keygen && i % GEN_EVERY == GEN_EVERY / 2)
		return CMPD__ENVELOPE__BODY_KEY_GENERATE_REP;
	return i % 2 ? CMPD__ENVELOPE__BODY_OK
	             : CMPD__ENVELOPE__BODY_KEY_LIST_REP;
}

/*
 * BURST requests, sent without reading a reply: key generations (on the
 * keyworker's thread pool), grant ends (Ok) and lists of every key (which
 * grow as keys are made).
 */
static void
burst_send(struct proc *p, int keygen)
{
	Cmpd__KeyGenerateReq gen = CMPD__KEY_GENERATE_REQ__INIT;
	Cmpd__GrantEndReq end = CMPD__GRANT_END_REQ__INIT;
	Cmpd__KeyListReq list = CMPD__KEY_LIST_REQ__INIT;
	cmpd_env env;

	gen.type = CMPD__KEY_TYPE__KEY_EC_P256;
	gen.job_id = JOB;
	end.job_id = JOB;
	for (uint64_t i = 0; i < BURST; i++) {
		cmpd_env_init(&env, FIRST_ID + i);
		switch (burst_rep_body(i, keygen)) {
		case CMPD__ENVELOPE__BODY_KEY_GENERATE_REP:
			env.body_case = CMPD__ENVELOPE__BODY_KEY_GENERATE_REQ;
			env.key_generate_req = &gen;
			break;
		case CMPD__ENVELOPE__BODY_OK:
			env.body_case = CMPD__ENVELOPE__BODY_GRANT_END_REQ;
			env.grant_end_req = &end;
			break;
		default:
			env.body_case = CMPD__ENVELOPE__BODY_KEY_LIST_REQ;
			env.key_list_req = &list;
			break;
		}
		send_env(p, &env);
	}
}

/*
 * Reads the burst's replies: each request answered once, with the reply
 * its kind asks for; the synchronous replies in the order asked (key
 * generation ends when it ends).
 */
static void
burst_recv(struct proc *p)
{
	char *seen = calloc(BURST, 1);
	uint64_t last_sync = 0, i;
	cmpd_env *rep;

	for (int n = 0; n < BURST; n++) {
		rep = recv_env(p);
		if (rep->id < FIRST_ID || rep->id >= FIRST_ID + BURST)
			fail_msg("reply to an unknown request %llu",
			    (unsigned long long)rep->id);
		i = rep->id - FIRST_ID;
		if (seen[i]++)
			fail_msg("request %llu answered twice",
			    (unsigned long long)rep->id);
		if (rep->body_case == CMPD__ENVELOPE__BODY_ERROR)
			fail_msg("request %llu failed: %s",
			    (unsigned long long)rep->id, rep->error->message);
		assert_int_equal(rep->body_case, burst_rep_body(i, 1));
		if (rep->body_case != CMPD__ENVELOPE__BODY_KEY_GENERATE_REP) {
			if (rep->id <= last_sync)
				fail_msg("reply %llu came after %llu",
				    (unsigned long long)rep->id,
				    (unsigned long long)last_sync);
			last_sync = rep->id;
		}
		cmpd_ipc_free(rep);
	}
	free(seen);
}

/* The keyworker answers a list request: it is up and connected. */
static void
ping(struct proc *p)
{
	Cmpd__KeyListReq list = CMPD__KEY_LIST_REQ__INIT;
	cmpd_env env, *rep;

	cmpd_env_init(&env, 1);
	env.body_case = CMPD__ENVELOPE__BODY_KEY_LIST_REQ;
	env.key_list_req = &list;
	send_env(p, &env);
	rep = recv_env(p);
	assert_int_equal(rep->id, 1);
	assert_int_equal(rep->body_case, CMPD__ENVELOPE__BODY_KEY_LIST_REP);
	cmpd_ipc_free(rep);
}

/*
 * Waits until the keyworker has found its link full, and a second more,
 * so that the link is still: nng 1.5.2 never finishes closing a pipe
 * whose partial write completes just as it closes (ipc_pipe_send_cb
 * resubmits the stopped tx aio, whose callback then never runs), and
 * the keyworker would hang in nng_close.
 */
static void
link_still(struct proc *p)
{
	log_wait(p, LOG_FULL, 20);
	sleep(1);
}

/* A broker that reads late still gets every reply, in order. */
static void
test_burst_waits_for_the_link(void **state)
{
	struct proc *p = *state;

	start(p);
	ping(p);
	burst_send(p, 1);
	/* Not reading: the link fills and replies wait in the keyworker. */
	log_wait(p, LOG_FULL, 20);
	sleep(1);
	burst_recv(p);
	log_wait(p, LOG_DRAINED, 20);
	assert_false(log_has(p, "cannot send"));
	ping(p);
	kill(p->pid, SIGTERM);
	assert_int_equal(wait_exit(p, 20), 0);
}

/* SIGTERM with replies waiting: a clean exit that frees them. */
static void
test_sigterm_with_replies_waiting(void **state)
{
	struct proc *p = *state;

	start(p);
	ping(p);
	burst_send(p, 0);
	link_still(p);
	kill(p->pid, SIGTERM);
	assert_int_equal(wait_exit(p, 20), 0);
	assert_true(log_has(p, "the broker did not take"));
}

/* The broker goes with replies waiting: the keyworker exits cleanly. */
static void
test_broker_gone_with_replies_waiting(void **state)
{
	struct proc *p = *state;

	start(p);
	ping(p);
	burst_send(p, 0);
	link_still(p);
	nng_close(p->broker);
	assert_int_equal(wait_exit(p, 20), 0);
	assert_true(log_has(p, "the broker's link is gone"));
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_burst_waits_for_the_link),
		T(test_sigterm_with_replies_waiting),
		T(test_broker_gone_with_replies_waiting),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
