/*
 * cmpctl ca-certs | root-update | template: a general message (genm) to a
 * profile's CA. Each starts the genm job, waits for it (progress on
 * stderr, as enroll --wait) and shows what the CA answered.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmpctl.h"

struct genm_args {
	const char *cmd; /* the command's name, and its genm type */
	const char *type;
	int with_out; /* the command takes --out */
	const char *profile;
	const char *out;
	struct wait_opts w; /* only its timeout */
};

static const struct option genm_longopts[] = {
	{ "profile", required_argument, NULL, 'p' },
	{ "out", required_argument, NULL, 'o' },
	{ "timeout", required_argument, NULL, 't' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/*
 * The command line into a. Returns 0 to go on, -1 after showing the help,
 * or an exit code.
 */
static int
genm_parse(struct cmpctl *ctl, int argc, char **argv, struct genm_args *a)
{
	const char *optstring = a->with_out ? "p:o:t:h" : "p:t:h";
	int c, rv;

	while ((c = getopt_long(argc, argv, optstring, genm_longopts, NULL)) !=
	    -1) {
		if (c == 'h') {
			cmpctl_help_cmd(stdout, cmpctl_cmd_find(a->cmd));
			return -1;
		} else if (c == 'p') {
			a->profile = optarg;
		} else if (c == 'o' && a->with_out) {
			a->out = optarg;
		} else if (c == 't') {
			if ((rv = cmpctl_wait_opt(ctl, a->cmd, c, &a->w)) != 0)
				return rv;
		} else {
			return cmpctl_bad_option(ctl, a->cmd, optstring, argv);
		}
	}
	if (optind < argc)
		return cmpctl_usage(
		    ctl, a->cmd, "unexpected argument '%s'", argv[optind]);
	if (a->profile == NULL)
		return cmpctl_usage(ctl, a->cmd, "--profile is required");
	return 0;
}

/* Starts the genm job and waits for its end: 0 with *out, or an exit. */
static int
genm_run(struct cmpctl *ctl, const struct genm_args *a, cmpd_job **out)
{
	cmpd_job *job = NULL;
	cmpd_result r;
	int rv;

	if ((rv = cmpctl_connect(ctl)) != 0)
		return rv;
	r = cmpd_genm(ctl->client, a->profile, a->type, &job);
	if (r != CMPD_RESULT_OK)
		return cmpctl_fail(ctl, r, cmpd_client_last_error(ctl->client));
	rv = cmpctl_job_wait(ctl, cmpd_job_id(job), a->w.timeout_ms, out);
	cmpd_job_free(job);
	return rv;
}

/*
 * The file --out asked for: what the CA sent, if it sent something.
 * Returns 0 or an exit code; *wrote says whether a file was written.
 */
static int
genm_write(struct cmpctl *ctl, const struct genm_args *a, const cmpd_job *job,
    int *wrote)
{
	const char *pem = strcmp(a->type, "ca-certs") == 0
	    ? cmpd_job_genm_ca_certs_pem(job)
	    : cmpd_job_genm_new_root_pem(job);

	*wrote = 0;
	if (a->out == NULL || pem[0] == '\0')
		return CMPCTL_EXIT_OK;
	*wrote = 1;
	return cmpctl_file_write(ctl, a->out, pem);
}

/* A done job: the file --out asked for, and the answer. */
static int
genm_show(struct cmpctl *ctl, const struct genm_args *a, const cmpd_job *job)
{
	int wrote = 0, rv = genm_write(ctl, a, job, &wrote);
	size_t n = cmpd_job_genm_ca_cert_count(job);

	if (rv != CMPCTL_EXIT_OK)
		return rv;
	if (ctl->json) {
		jsonout_print(jsonout_job(job));
		return CMPCTL_EXIT_OK;
	}
	/* ca-certs --out: the file instead of the subjects. */
	if (wrote && strcmp(a->type, "ca-certs") == 0) {
		printf("wrote %zu CA certificate%s to %s\n", n,
		    n == 1 ? "" : "s", a->out);
		return CMPCTL_EXIT_OK;
	}
	show_genm(stdout, job, a->type);
	if (wrote)
		printf("wrote the new root CA certificate to %s\n", a->out);
	return CMPCTL_EXIT_OK;
}

static int
genm_cmd(struct cmpctl *ctl, int argc, char **argv, struct genm_args *a)
{
	cmpd_job *job = NULL;
	int rv;

	a->w.timeout_ms = CMPCTL_WAIT_DEFAULT_MS;
	if ((rv = genm_parse(ctl, argc, argv, a)) != 0)
		return rv < 0 ? CMPCTL_EXIT_OK : rv;
	if ((rv = genm_run(ctl, a, &job)) != 0)
		return rv;
	if (cmpd_job_state_get(job) == CMPD_JOB_STATE_DONE) {
		rv = genm_show(ctl, a, job);
	} else {
		/* Failed: the job says why, with the CA's status. */
		if (ctl->json)
			jsonout_print(jsonout_job(job));
		else
			show_job(stdout, job);
		rv = CMPCTL_EXIT_FAILED;
	}
	cmpd_job_free(job);
	return rv;
}

int
cmpctl_ca_certs(struct cmpctl *ctl, int argc, char **argv)
{
	struct genm_args a = {
		.cmd = "ca-certs", .type = "ca-certs", .with_out = 1
	};

	return genm_cmd(ctl, argc, argv, &a);
}

int
cmpctl_root_update(struct cmpctl *ctl, int argc, char **argv)
{
	struct genm_args a = {
		.cmd = "root-update", .type = "root-update", .with_out = 1
	};

	return genm_cmd(ctl, argc, argv, &a);
}

int
cmpctl_template(struct cmpctl *ctl, int argc, char **argv)
{
	struct genm_args a = { .cmd = "template", .type = "template" };

	return genm_cmd(ctl, argc, argv, &a);
}
