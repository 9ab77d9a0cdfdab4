#include "hook.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "record.h"
#include "track.h"
#include "util.h"

extern char **environ;

#define HOOK_MAGIC 0x686f6b31u /* "hok1" */
#define HOOK_VARS  5

struct hook {
	uint32_t magic;
	struct broker *b;
	uv_process_t proc;
	uv_timer_t timer;
	int open_handles;
	int timed_out;
	char profile[65];
	char cert_id[CMPD_JOB_ID_LEN + 1];
	hook_done_cb done; /* hook_test: told the end instead of the record */
	void *done_arg;
};

static void
hook_close_cb(uv_handle_t *h)
{
	struct hook *hk = h->data;

	if (--hk->open_handles == 0)
		free(hk);
}

/* The failure becomes the certificate's last error. */
static void
hook_record(struct hook *hk, const char *text)
{
	Cmpd__CertRecord *cert = NULL;

	log_warn("profile %s: %s", hk->profile, text);
	if (store_cert_get(hk->b->store, hk->cert_id, &cert) != CMPD_OK)
		return;
	if (rec_set_str(&cert->last_error, text) == CMPD_OK &&
	    store_cert_put(hk->b->store, cert) != CMPD_OK)
		log_err(
		    "certificate %s: cannot store its last error", hk->cert_id);
	cmpd__cert_record__free_unpacked(cert, NULL);
}

static void
hook_report(struct hook *hk, int64_t status, int sig)
{
	char text[160];

	if (hk->timed_out)
		snprintf(text, sizeof(text),
		    "the reload command was killed "
		    "after its timeout");
	else if (sig != 0)
		snprintf(text, sizeof(text),
		    "the reload command was killed "
		    "by signal %d",
		    sig);
	else if (status != 0)
		snprintf(text, sizeof(text),
		    "the reload command exited with "
		    "status %lld",
		    (long long)status);
	else
		log_info("profile %s: reload command done", hk->profile);
	if (hk->timed_out || sig != 0 || status != 0)
		hook_record(hk, text);
}

static void
hook_exit_cb(uv_process_t *proc, int64_t status, int sig)
{
	struct hook *hk = proc->data;

	CMPD_MAGIC_CHECK(hk, HOOK_MAGIC);
	uv_timer_stop(&hk->timer);
	if (hk->done != NULL)
		hk->done(hk->done_arg, status, sig, hk->timed_out);
	else
		hook_report(hk, status, sig);
	uv_close((uv_handle_t *)&hk->proc, hook_close_cb);
	uv_close((uv_handle_t *)&hk->timer, hook_close_cb);
}

static void
hook_timeout_cb(uv_timer_t *t)
{
	struct hook *hk = t->data;

	hk->timed_out = 1;
	uv_process_kill(&hk->proc, SIGKILL);
}

/* environ plus the variables that tell the command what happened. */
static char **
hook_env(const struct profile *pr, const char *event, const char *cert_id)
{
	size_t n = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	if ((env = calloc(n + HOOK_VARS + 1, sizeof(*env))) == NULL)
		return NULL;
	memcpy(env, environ, n * sizeof(*env));
	if (asprintf(&env[n], "CMPD_EVENT=%s", event) < 0 ||
	    asprintf(&env[n + 1], "CMPD_PROFILE=%s", pr->name) < 0 ||
	    asprintf(&env[n + 2], "CMPD_CERT_ID=%s", cert_id) < 0 ||
	    asprintf(&env[n + 3], "CMPD_CERT_FILE=%s", pr->cert_file) < 0 ||
	    asprintf(&env[n + 4], "CMPD_CHAIN_FILE=%s", pr->chain_file) < 0)
		env[n + 4] = NULL;
	return env;
}

static void
hook_env_free(char **env)
{
	size_t n = 0;

	if (env == NULL)
		return;
	while (environ[n] != NULL)
		n++;
	for (size_t i = n; i < n + HOOK_VARS; i++)
		free(env[i]);
	free(env);
}

static int
hook_spawn(struct hook *hk, const struct profile *pr, char **env)
{
	char *args[] = { "/bin/sh", "-c", pr->reload_command, NULL };
	uv_stdio_container_t stdio[3] = {
		{ .flags = UV_IGNORE },
		{ .flags = UV_INHERIT_FD, .data.fd = STDERR_FILENO },
		{ .flags = UV_INHERIT_FD, .data.fd = STDERR_FILENO },
	};
	uv_process_options_t o = {
		.exit_cb = hook_exit_cb,
		.file = args[0],
		.args = args,
		.env = env,
		.stdio_count = 3,
		.stdio = stdio,
	};

	hk->proc.data = hk;
	return uv_spawn(hk->b->loop, &hk->proc, &o);
}

static cmpd_err
hook_start(struct broker *b, const struct profile *pr, const char *event,
    const char *cert_id, hook_done_cb done, void *done_arg)
{
	struct hook *hk;
	char **env;
	int rv;

	if (pr == NULL || pr->reload_command == NULL)
		return CMPD_ENOENT;
	if ((hk = calloc(1, sizeof(*hk))) == NULL ||
	    (env = hook_env(pr, event, cert_id)) == NULL) {
		free(hk);
		log_err("profile %s: out of memory for the reload command",
		    pr->name);
		return CMPD_ENOMEM;
	}
	hk->magic = HOOK_MAGIC;
	hk->b = b;
	hk->done = done;
	hk->done_arg = done_arg;
	cmpd_strlcpy(hk->profile, pr->name, sizeof(hk->profile));
	cmpd_strlcpy(hk->cert_id, cert_id, sizeof(hk->cert_id));
	hk->timer.data = hk;
	uv_timer_init(b->loop, &hk->timer);
	hk->open_handles = 2;
	rv = hook_spawn(hk, pr, env);
	hook_env_free(env);
	if (rv != 0) {
		if (done == NULL)
			hook_record(
			    hk, "the reload command could not be started");
		uv_close((uv_handle_t *)&hk->proc, hook_close_cb);
		uv_close((uv_handle_t *)&hk->timer, hook_close_cb);
		return CMPD_EIO;
	}
	log_info(
	    "profile %s: running the reload command (%s)", pr->name, event);
	uv_timer_start(&hk->timer, hook_timeout_cb,
	    (uint64_t)pr->reload_timeout * 1000, 0);
	return CMPD_OK;
}

void
hook_run(struct broker *b, const struct profile *pr, const char *event,
    const char *cert_id)
{
	hook_start(b, pr, event, cert_id, NULL, NULL);
}

cmpd_err
hook_test(struct broker *b, const struct profile *pr, const char *cert_id,
    hook_done_cb done, void *arg)
{
	return hook_start(b, pr, "test", cert_id, done, arg);
}
