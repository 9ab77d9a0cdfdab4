/*
 * cmpctl's job commands: enroll, status (both can wait for the job and
 * write its certificate), jobs and list, and what the other commands that
 * start a job share with them.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmpctl.h"

#define WAIT_MAX_SECONDS 315360000 /* ten years */

int
cmpctl_wait_opt(struct cmpctl *ctl, const char *cmd, int c, struct wait_opts *w)
{
	char *end;
	long long v;

	switch (c) {
	case 'w':
		w->wait = 1;
		return 0;
	case 'c':
	case 'C':
		*(c == 'c' ? &w->cert_out : &w->chain_out) = optarg;
		w->wait = 1;
		return 0;
	case 't':
		errno = 0;
		v = strtoll(optarg, &end, 10);
		if (errno != 0 || end == optarg || *end != '\0' || v < 0 ||
		    v > WAIT_MAX_SECONDS)
			return cmpctl_usage(
			    ctl, cmd, "not a number of seconds: %s", optarg);
		w->timeout_ms = v == 0 ? -1 : v * 1000;
		return 0;
	default:
		return 1;
	}
}

static void
progress_cb(const cmpd_job *job, void *arg)
{
	show_progress(stderr, job, *(const int *)arg);
}

/* The wait ran out: show where the job is, and say so. */
static int
wait_timeout(struct cmpctl *ctl, const char *id)
{
	char msg[1024];
	cmpd_job *job = NULL;

	snprintf(msg, sizeof(msg), "%s", cmpd_client_last_error(ctl->client));
	if (cmpd_job_get(ctl->client, id, &job) != CMPD_RESULT_OK)
		job = NULL;
	if (ctl->json) {
		jsonout_print(jsonout_error(
		    "timeout", msg, job != NULL ? jsonout_job(job) : NULL));
	} else {
		if (job != NULL)
			show_job(stdout, job);
		fprintf(stderr, "cmpctl: %s\n", msg);
	}
	cmpd_job_free(job);
	return CMPCTL_EXIT_TIMEOUT;
}

/*
 * Writes text to path as the caller asked: mode 0644 whatever the umask,
 * through a temporary file and a rename, so a reader of path never sees
 * half a certificate.
 */
static int
file_write(const char *path, const char *text)
{
	size_t len = strlen(text), off = 0, tmp_len = strlen(path) + 16;
	char *tmp = malloc(tmp_len);
	int fd = -1, err = 0;

	if (tmp == NULL)
		return ENOMEM;
	snprintf(tmp, tmp_len, "%s.tmp.XXXXXX", path);
	if ((fd = mkstemp(tmp)) < 0) {
		err = errno;
		free(tmp);
		return err;
	}
	while (err == 0 && off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno != EINTR)
			err = errno;
		else if (n > 0)
			off += (size_t)n;
	}
	if (err == 0 && (fchmod(fd, 0644) != 0 || fsync(fd) != 0))
		err = errno;
	if (close(fd) != 0 && err == 0)
		err = errno;
	if (err == 0 && rename(tmp, path) != 0)
		err = errno;
	if (err != 0)
		unlink(tmp);
	free(tmp);
	return err;
}

int
cmpctl_file_write(struct cmpctl *ctl, const char *path, const char *text)
{
	char msg[1024];
	int err = file_write(path, text);
	cmpd_result r = CMPD_RESULT_IO;

	if (err == 0)
		return CMPCTL_EXIT_OK;
	if (err == EACCES || err == EPERM || err == EROFS)
		r = CMPD_RESULT_DENIED;
	else if (err == ENOENT || err == ENOTDIR)
		r = CMPD_RESULT_NOT_FOUND;
	snprintf(msg, sizeof(msg), "cannot write %s: %s", path, strerror(err));
	return cmpctl_fail(ctl, r, msg);
}

/* Writes the files the caller named, prints the job, and picks the exit. */
static int
job_finish(struct cmpctl *ctl, const cmpd_job *job, const struct wait_opts *w)
{
	int done = cmpd_job_state_get(job) == CMPD_JOB_STATE_DONE;
	int rv = CMPCTL_EXIT_OK;

	if (done && w->cert_out != NULL)
		rv =
		    cmpctl_file_write(ctl, w->cert_out, cmpd_job_cert_pem(job));
	if (rv == CMPCTL_EXIT_OK && done && w->chain_out != NULL)
		rv = cmpctl_file_write(
		    ctl, w->chain_out, cmpd_job_chain_pem(job));
	if (rv != CMPCTL_EXIT_OK)
		return rv;
	if (ctl->json)
		jsonout_print(jsonout_job(job));
	else
		show_job(stdout, job);
	if (cmpd_job_state_get(job) == CMPD_JOB_STATE_FAILED)
		return CMPCTL_EXIT_FAILED;
	return CMPCTL_EXIT_OK;
}

int
cmpctl_job_wait(
    struct cmpctl *ctl, const char *id, int64_t timeout_ms, cmpd_job **out)
{
	int tty = isatty(STDERR_FILENO);
	cmpd_result r;

	r = cmpd_job_wait_progress(
	    ctl->client, id, timeout_ms, progress_cb, &tty, out);
	if (r == CMPD_RESULT_TIMEOUT)
		return wait_timeout(ctl, id);
	if (r != CMPD_RESULT_OK)
		return cmpctl_fail(ctl, r, cmpd_client_last_error(ctl->client));
	return CMPCTL_EXIT_OK;
}

/* Shows job id, after waiting for its end if the caller asked. */
static int
job_follow(struct cmpctl *ctl, const char *id, const struct wait_opts *w)
{
	cmpd_job *job = NULL;
	cmpd_result r;
	int rv;

	if (w->wait) {
		rv = cmpctl_job_wait(ctl, id, w->timeout_ms, &job);
	} else {
		r = cmpd_job_get(ctl->client, id, &job);
		rv = r == CMPD_RESULT_OK
		    ? CMPCTL_EXIT_OK
		    : cmpctl_fail(ctl, r, cmpd_client_last_error(ctl->client));
	}
	if (rv != CMPCTL_EXIT_OK)
		return rv;
	rv = job_finish(ctl, job, w);
	cmpd_job_free(job);
	return rv;
}

int
cmpctl_job_started(struct cmpctl *ctl, cmpd_result r, const cmpd_job *job,
    const struct wait_opts *w)
{
	if (r != CMPD_RESULT_OK)
		return cmpctl_fail(ctl, r, cmpd_client_last_error(ctl->client));
	if (w->wait)
		return job_follow(ctl, cmpd_job_id(job), w);
	return job_finish(ctl, job, w);
}

static const struct option enroll_longopts[] = {
	{ "profile", required_argument, NULL, 'p' },
	{ "subject", required_argument, NULL, 's' },
	{ "san", required_argument, NULL, 'a' },
	{ "key-type", required_argument, NULL, 'k' },
	{ "key-id", required_argument, NULL, 'K' },
	{ "op", required_argument, NULL, 'o' },
	{ "wait", no_argument, NULL, 'w' },
	{ "timeout", required_argument, NULL, 't' },
	{ "cert-out", required_argument, NULL, 'c' },
	{ "chain-out", required_argument, NULL, 'C' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/*
 * One enroll option into opts: 0, 1 if c is not one of them, or the exit
 * code of a bad value.
 */
static int
enroll_opt(struct cmpctl *ctl, int c, cmpd_enroll_opts *opts)
{
	cmpd_result r;

	switch (c) {
	case 's':
		r = cmpd_enroll_opts_set_subject(opts, optarg);
		break;
	case 'a':
		r = cmpd_enroll_opts_add_san(opts, optarg);
		break;
	case 'k':
		r = cmpd_enroll_opts_set_key_type(opts, optarg);
		break;
	case 'K':
		r = cmpd_enroll_opts_set_key_id(opts, optarg);
		break;
	case 'o':
		r = cmpd_enroll_opts_set_op(opts, optarg);
		break;
	default:
		return 1;
	}
	if (r == CMPD_RESULT_INVALID)
		return cmpctl_usage(
		    ctl, "enroll", "%s", cmpd_client_last_error(NULL));
	if (r != CMPD_RESULT_OK)
		return cmpctl_fail(ctl, r, cmpd_client_last_error(NULL));
	return 0;
}

int
cmpctl_bad_option(
    struct cmpctl *ctl, const char *cmd, const char *optstring, char **argv)
{
	const char *o =
	    optopt > 0 && optopt != ':' ? strchr(optstring, optopt) : NULL;

	if (o != NULL && o[1] == ':')
		return cmpctl_usage(
		    ctl, cmd, "option -%c needs an argument", optopt);
	return cmpctl_usage(ctl, cmd, "unknown option or missing argument: %s",
	    argv[optind - 1]);
}

struct enroll_args {
	const char *profile;
	cmpd_enroll_opts *opts;
	struct wait_opts w;
	int help;
};

#define ENROLL_OPTS "p:s:a:k:K:o:wt:c:C:h"

static int
enroll_parse(struct cmpctl *ctl, int argc, char **argv, struct enroll_args *a)
{
	int c, rv;

	while ((c = getopt_long(
	            argc, argv, ENROLL_OPTS, enroll_longopts, NULL)) != -1) {
		if (c == 'h') {
			a->help = 1;
			return 0;
		}
		if (c == 'p') {
			a->profile = optarg;
			continue;
		}
		if ((rv = cmpctl_wait_opt(ctl, "enroll", c, &a->w)) != 1 ||
		    (rv = enroll_opt(ctl, c, a->opts)) != 1) {
			if (rv != 0)
				return rv;
			continue;
		}
		return cmpctl_bad_option(ctl, "enroll", ENROLL_OPTS, argv);
	}
	if (optind < argc)
		return cmpctl_usage(
		    ctl, "enroll", "unexpected argument '%s'", argv[optind]);
	if (a->profile == NULL)
		return cmpctl_usage(ctl, "enroll", "--profile is required");
	return 0;
}

int
cmpctl_enroll(struct cmpctl *ctl, int argc, char **argv)
{
	struct enroll_args a = { .w = {
		                     .timeout_ms = CMPCTL_WAIT_DEFAULT_MS } };
	cmpd_job *job = NULL;
	cmpd_result r;
	int rv;

	if (cmpd_enroll_opts_new(&a.opts) != CMPD_RESULT_OK)
		return cmpctl_fail(ctl, CMPD_RESULT_NOMEM, NULL);
	rv = enroll_parse(ctl, argc, argv, &a);
	if (rv == 0 && a.help)
		cmpctl_help_cmd(stdout, cmpctl_cmd_find("enroll"));
	if (rv != 0 || a.help)
		goto out;
	if ((rv = cmpctl_connect(ctl)) != 0)
		goto out;
	r = cmpd_enroll(ctl->client, a.profile, a.opts, &job);
	rv = cmpctl_job_started(ctl, r, job, &a.w);
out:
	cmpd_job_free(job);
	cmpd_enroll_opts_free(a.opts);
	return rv;
}

static const struct option status_longopts[] = {
	{ "wait", no_argument, NULL, 'w' },
	{ "timeout", required_argument, NULL, 't' },
	{ "cert-out", required_argument, NULL, 'c' },
	{ "chain-out", required_argument, NULL, 'C' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int
cmpctl_status(struct cmpctl *ctl, int argc, char **argv)
{
	struct wait_opts w = { .timeout_ms = CMPCTL_WAIT_DEFAULT_MS };
	int c, rv;

	while ((c = getopt_long(
	            argc, argv, "wt:c:C:h", status_longopts, NULL)) != -1) {
		if (c == 'h') {
			cmpctl_help_cmd(stdout, cmpctl_cmd_find("status"));
			return CMPCTL_EXIT_OK;
		}
		if ((rv = cmpctl_wait_opt(ctl, "status", c, &w)) == 1)
			return cmpctl_bad_option(
			    ctl, "status", "wt:c:C:h", argv);
		if (rv != 0)
			return rv;
	}
	if (optind != argc - 1)
		return cmpctl_usage(ctl, "status", "give one job id");
	if ((rv = cmpctl_connect(ctl)) != 0)
		return rv;
	return job_follow(ctl, argv[optind], &w);
}

static const struct option list_longopts[] = {
	{ "profile", required_argument, NULL, 'p' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/*
 * The options of jobs and list. Returns 0 to go on, -1 after showing the
 * help, or an exit code.
 */
static int
list_parse(struct cmpctl *ctl, const char *cmd, int argc, char **argv,
    const char **profile)
{
	int c;

	while (
	    (c = getopt_long(argc, argv, "p:h", list_longopts, NULL)) != -1) {
		if (c == 'p') {
			*profile = optarg;
		} else if (c == 'h') {
			cmpctl_help_cmd(stdout, cmpctl_cmd_find(cmd));
			return -1;
		} else {
			return cmpctl_bad_option(ctl, cmd, "p:h", argv);
		}
	}
	if (optind < argc)
		return cmpctl_usage(
		    ctl, cmd, "unexpected argument '%s'", argv[optind]);
	return cmpctl_connect(ctl);
}

int
cmpctl_jobs(struct cmpctl *ctl, int argc, char **argv)
{
	const char *profile = NULL;
	cmpd_job_array *jobs = NULL;
	cmpd_result r;
	int rv;

	if ((rv = list_parse(ctl, "jobs", argc, argv, &profile)) != 0)
		return rv < 0 ? CMPCTL_EXIT_OK : rv;
	r = cmpd_job_list(ctl->client, profile, &jobs);
	if (r != CMPD_RESULT_OK)
		return cmpctl_fail(ctl, r, cmpd_client_last_error(ctl->client));
	if (ctl->json)
		jsonout_print(jsonout_jobs(jobs));
	else
		show_jobs(stdout, jobs);
	cmpd_job_array_free(jobs);
	return CMPCTL_EXIT_OK;
}

int
cmpctl_list(struct cmpctl *ctl, int argc, char **argv)
{
	const char *profile = NULL;
	cmpd_cert_array *certs = NULL;
	cmpd_result r;
	int rv;

	if ((rv = list_parse(ctl, "list", argc, argv, &profile)) != 0)
		return rv < 0 ? CMPCTL_EXIT_OK : rv;
	r = cmpd_cert_list(ctl->client, profile, &certs);
	if (r != CMPD_RESULT_OK)
		return cmpctl_fail(ctl, r, cmpd_client_last_error(ctl->client));
	if (ctl->json)
		jsonout_print(jsonout_certs(certs));
	else
		show_certs(stdout, certs);
	cmpd_cert_array_free(certs);
	return CMPCTL_EXIT_OK;
}
