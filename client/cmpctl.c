/*
 * cmpctl: the command line of cmpd. main reads the global options, finds
 * the command in the table (cmpctl_help.c) and runs it; every command
 * returns its exit code. Nothing here talks to cmpd but through
 * libcmpd-client.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmpctl.h"

int
cmpctl_exit_code(cmpd_result r)
{
	switch (r) {
	case CMPD_RESULT_OK:
		return CMPCTL_EXIT_OK;
	case CMPD_RESULT_REFUSED:
	case CMPD_RESULT_EXISTS:
	case CMPD_RESULT_BAD_CERT:
	case CMPD_RESULT_CANCELLED:
		return CMPCTL_EXIT_FAILED;
	case CMPD_RESULT_INVALID:
		return CMPCTL_EXIT_USAGE;
	case CMPD_RESULT_DENIED:
		return CMPCTL_EXIT_DENIED;
	case CMPD_RESULT_NOT_FOUND:
		return CMPCTL_EXIT_NOT_FOUND;
	case CMPD_RESULT_TIMEOUT:
		return CMPCTL_EXIT_TIMEOUT;
	default:
		return CMPCTL_EXIT_UNAVAILABLE;
	}
}

static int
report(struct cmpctl *ctl, const char *code, const char *message, int exit)
{
	if (ctl->json) {
		if (jsonout_print(jsonout_error(code, message, NULL)) != 0)
			fprintf(stderr, "cmpctl: %s\n", message);
	} else {
		fprintf(stderr, "cmpctl: %s\n", message);
	}
	return exit;
}

int
cmpctl_fail(struct cmpctl *ctl, cmpd_result r, const char *message)
{
	if (message == NULL || message[0] == '\0')
		message = cmpd_result_str(r);
	return report(ctl, cmpd_result_name(r), message, cmpctl_exit_code(r));
}

int
cmpctl_usage(struct cmpctl *ctl, const char *cmd, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	report(ctl, "usage", msg, CMPCTL_EXIT_USAGE);
	if (!ctl->json)
		fprintf(stderr, "Try 'cmpctl help%s%s'.\n", cmd ? " " : "",
		    cmd ? cmd : "");
	return CMPCTL_EXIT_USAGE;
}

int
cmpctl_connect(struct cmpctl *ctl)
{
	cmpd_result r;

	if (ctl->client != NULL)
		return CMPCTL_EXIT_OK;
	r = cmpd_client_open(ctl->socket, &ctl->client);
	if (r != CMPD_RESULT_OK)
		return cmpctl_fail(ctl, r, cmpd_client_last_error(NULL));
	return CMPCTL_EXIT_OK;
}

static const struct option global_opts[] = {
	{ "socket", required_argument, NULL, 's' },
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/*
 * Global options come before the command ('+': stop at the first
 * non-option); the command parses the rest. Returns -1 to go on, or the
 * exit code.
 */
static int
global_parse(struct cmpctl *ctl, int argc, char **argv)
{
	int c;

	opterr = 0;
	while (
	    (c = getopt_long(argc, argv, "+s:jhV", global_opts, NULL)) != -1) {
		switch (c) {
		case 's':
			ctl->socket = optarg;
			break;
		case 'j':
			ctl->json = 1;
			break;
		case 'h':
			cmpctl_help_all(stdout);
			return CMPCTL_EXIT_OK;
		case 'V':
			printf("cmpctl %s\n", CMPCTL_VERSION);
			return CMPCTL_EXIT_OK;
		default:
			return cmpctl_usage(
			    ctl, NULL, "unknown option %s", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cmpctl_usage(ctl, NULL, "no command given");
	return -1;
}

int
main(int argc, char **argv)
{
	struct cmpctl ctl = { 0 };
	const struct cmpctl_cmd *cmd;
	int rv;

	if ((rv = global_parse(&ctl, argc, argv)) >= 0)
		return rv;
	cmd = cmpctl_cmd_find(argv[optind]);
	if (cmd == NULL)
		return cmpctl_usage(
		    &ctl, NULL, "unknown command '%s'", argv[optind]);
	/* The command sees its own name as argv[0]; getopt starts over. */
	argc -= optind;
	argv += optind;
	optind = 0;
	rv = cmd->run(&ctl, argc, argv);
	cmpd_client_close(ctl.client);
	if (fflush(stdout) != 0 && rv == CMPCTL_EXIT_OK)
		rv = CMPCTL_EXIT_UNAVAILABLE;
	return rv;
}
