/*
 * cmpctl renew | revoke: a tracked certificate's key update (KUR) now,
 * and its revocation (RR). Both start a job and show it, or follow it to
 * its end with --wait, as enroll does.
 */
#include <getopt.h>
#include <string.h>

#include "cmpctl.h"

enum { OPT_KEEP_KEY = 256 };

static const struct option renew_longopts[] = {
	{ "keep-key", no_argument, NULL, OPT_KEEP_KEY },
	{ "key-type", required_argument, NULL, 'k' },
	{ "wait", no_argument, NULL, 'w' },
	{ "timeout", required_argument, NULL, 't' },
	{ "cert-out", required_argument, NULL, 'c' },
	{ "chain-out", required_argument, NULL, 'C' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

#define RENEW_OPTS "k:wt:c:C:h"

/* One renew option into opts: 0, 1 if c is not one, or an exit code. */
static int
renew_opt(struct cmpctl *ctl, int c, cmpd_renew_opts *opts)
{
	cmpd_result r;

	if (c == OPT_KEEP_KEY)
		r = cmpd_renew_opts_set_keep_key(opts, 1);
	else if (c == 'k')
		r = cmpd_renew_opts_set_key_type(opts, optarg);
	else
		return 1;
	if (r == CMPD_RESULT_INVALID)
		return cmpctl_usage(
		    ctl, "renew", "%s", cmpd_client_last_error(NULL));
	if (r != CMPD_RESULT_OK)
		return cmpctl_fail(ctl, r, cmpd_client_last_error(NULL));
	return 0;
}

/*
 * renew's command line into opts and w. Returns 0 to go on, -1 after
 * showing the help, or an exit code.
 */
static int
renew_parse(struct cmpctl *ctl, int argc, char **argv, cmpd_renew_opts *opts,
    struct wait_opts *w)
{
	int c, rv;

	while ((c = getopt_long(
	            argc, argv, RENEW_OPTS, renew_longopts, NULL)) != -1) {
		if (c == 'h') {
			cmpctl_help_cmd(stdout, cmpctl_cmd_find("renew"));
			return -1;
		}
		if ((rv = cmpctl_wait_opt(ctl, "renew", c, w)) != 1 ||
		    (rv = renew_opt(ctl, c, opts)) != 1) {
			if (rv != 0)
				return rv;
			continue;
		}
		return cmpctl_bad_option(ctl, "renew", RENEW_OPTS, argv);
	}
	if (optind != argc - 1)
		return cmpctl_usage(
		    ctl, "renew", "give one certificate id or profile");
	return 0;
}

int
cmpctl_renew(struct cmpctl *ctl, int argc, char **argv)
{
	struct wait_opts w = { .timeout_ms = CMPCTL_WAIT_DEFAULT_MS };
	cmpd_renew_opts *opts = NULL;
	cmpd_job *job = NULL;
	cmpd_result r;
	int rv;

	if (cmpd_renew_opts_new(&opts) != CMPD_RESULT_OK)
		return cmpctl_fail(ctl, CMPD_RESULT_NOMEM, NULL);
	rv = renew_parse(ctl, argc, argv, opts, &w);
	if (rv != 0) {
		rv = rv < 0 ? CMPCTL_EXIT_OK : rv;
		goto out;
	}
	if ((rv = cmpctl_connect(ctl)) != 0)
		goto out;
	r = cmpd_renew(ctl->client, argv[optind], opts, &job);
	rv = cmpctl_job_started(ctl, r, job, &w);
out:
	cmpd_job_free(job);
	cmpd_renew_opts_free(opts);
	return rv;
}

static const struct option revoke_longopts[] = {
	{ "reason", required_argument, NULL, 'r' },
	{ "wait", no_argument, NULL, 'w' },
	{ "timeout", required_argument, NULL, 't' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

#define REVOKE_OPTS "r:wt:h"

/*
 * revoke's command line into reason and w. Returns 0 to go on, -1 after
 * showing the help, or an exit code.
 */
static int
revoke_parse(
    struct cmpctl *ctl, int argc, char **argv, int *reason, struct wait_opts *w)
{
	int c, rv;

	while ((c = getopt_long(
	            argc, argv, REVOKE_OPTS, revoke_longopts, NULL)) != -1) {
		if (c == 'h') {
			cmpctl_help_cmd(stdout, cmpctl_cmd_find("revoke"));
			return -1;
		}
		if (c == 'r') {
			if ((*reason = cmpd_crl_reason_parse(optarg)) < 0)
				return cmpctl_usage(ctl, "revoke",
				    "not a revocation reason: %s", optarg);
			continue;
		}
		if ((rv = cmpctl_wait_opt(ctl, "revoke", c, w)) == 1)
			return cmpctl_bad_option(
			    ctl, "revoke", REVOKE_OPTS, argv);
		if (rv != 0)
			return rv;
	}
	if (optind != argc - 1)
		return cmpctl_usage(
		    ctl, "revoke", "give one certificate id or profile");
	return 0;
}

int
cmpctl_revoke(struct cmpctl *ctl, int argc, char **argv)
{
	struct wait_opts w = { .timeout_ms = CMPCTL_WAIT_DEFAULT_MS };
	cmpd_job *job = NULL;
	int reason = -1, rv;
	cmpd_result r;

	rv = revoke_parse(ctl, argc, argv, &reason, &w);
	if (rv != 0)
		return rv < 0 ? CMPCTL_EXIT_OK : rv;
	if ((rv = cmpctl_connect(ctl)) != 0)
		return rv;
	r = cmpd_revoke(ctl->client, argv[optind], reason, &job);
	rv = cmpctl_job_started(ctl, r, job, &w);
	cmpd_job_free(job);
	return rv;
}
