/*
 * cmpd-testca: the project's issuing test CA.
 *
 *   cmpd-testca init DIR
 *   cmpd-testca serve DIR [--port N] [--port-file FILE] [--poll N]
 *       [--check-after SECONDS] [--validity-days N] [--validity-seconds N]
 *       [--grant-implicit-confirm] [--threads N] [--quiet]
 *       [--idle-timeout SECONDS] [--log-level LEVEL]
 *       [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]
 *       [--no-root-update | --bad-root-update] [--no-template]
 *       [--refuse OP]...
 *
 * `init` writes a fresh test PKI; `serve` answers CMP over HTTP or HTTPS
 * on 127.0.0.1 until SIGTERM or SIGINT. See README.md.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fileio.h"
#include "http.h"
#include "log.h"
#include "pki.h"
#include "server.h"

/* How often idle transactions are looked for, at most. */
#define TESTCA_SWEEP_SECS 30

struct serve_args {
	const char *dir;
	const char *port_file;
	int port;
	int threads;
	int log_level;
	struct tca_http_tls tls; /* HTTPS when tls.cert is set */
	struct tca_serve_opts opts;
};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: cmpd-testca init DIR\n"
	    "       cmpd-testca serve DIR [--port N] [--port-file FILE] "
	    "[--poll N]\n"
	    "           [--check-after SECONDS] [--validity-days N] "
	    "[--grant-implicit-confirm]\n"
	    "           [--validity-seconds N] [--threads N] [--quiet]\n"
	    "           [--idle-timeout SECONDS] [--log-level LEVEL]\n"
	    "           [--tls-cert FILE --tls-key FILE "
	    "[--tls-client-ca FILE]]\n"
	    "           [--no-root-update | --bad-root-update] "
	    "[--no-template]\n"
	    "           [--refuse ir|cr|kur|p10cr|rr|genm]...\n");
}

static int
parse_long(const char *s, long min, long max, long *out)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
parse_int(const char *s, int min, int max, int *out)
{
	long v;

	if (parse_long(s, min, max, &v) != 0)
		return -1;
	*out = (int)v;
	return 0;
}

/* The options of issue 3's tests: HTTPS and the CA's answers. */
static int
parse_option_more(struct serve_args *a, int opt, const char *arg)
{
	switch (opt) {
	case 'V': /* 100 years at most */
		return parse_long(
		    arg, 1, 3155760000L, &a->opts.validity_seconds);
	case 'T':
		a->tls.cert = arg;
		return 0;
	case 'K':
		a->tls.key = arg;
		return 0;
	case 'C':
		a->tls.client_ca = arg;
		return 0;
	case 'n':
	case 'b':
		if (a->opts.root_update != TCA_ROOT_UPDATE_GOOD)
			return -1; /* only one of them */
		a->opts.root_update =
		    opt == 'n' ? TCA_ROOT_UPDATE_NONE : TCA_ROOT_UPDATE_BAD;
		return 0;
	case 'x':
		a->opts.no_template = 1;
		return 0;
	case 'r':
		return tca_serve_opts_refuse(&a->opts, arg) == CMPD_OK ? 0 : -1;
	default:
		return -1;
	}
}

static int
parse_option(struct serve_args *a, int opt, const char *arg)
{
	switch (opt) {
	case 'p':
		return parse_int(arg, 0, 65535, &a->port);
	case 'f':
		a->port_file = arg;
		return 0;
	case 'P':
		return parse_int(arg, 0, 1000, &a->opts.poll);
	case 'c':
		return parse_int(arg, 0, 86400, &a->opts.check_after);
	case 'v':
		return parse_int(arg, 1, 36500, &a->opts.validity_days);
	case 'g':
		a->opts.grant_implicit_confirm = 1;
		return 0;
	case 't':
		return parse_int(arg, 1, 256, &a->threads);
	case 'q':
		a->log_level = CMPD_LOG_WARNING;
		return 0;
	case 'i':
		return parse_int(arg, 1, 86400, &a->opts.idle_seconds);
	case 'l':
		a->log_level = cmpd_log_level_parse(arg);
		return a->log_level < 0 ? -1 : 0;
	default:
		return parse_option_more(a, opt, arg);
	}
}

static int
parse_serve(int argc, char **argv, struct serve_args *a)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "port-file", required_argument, NULL, 'f' },
		{ "poll", required_argument, NULL, 'P' },
		{ "check-after", required_argument, NULL, 'c' },
		{ "validity-days", required_argument, NULL, 'v' },
		{ "grant-implicit-confirm", no_argument, NULL, 'g' },
		{ "threads", required_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "idle-timeout", required_argument, NULL, 'i' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "validity-seconds", required_argument, NULL, 'V' },
		{ "tls-cert", required_argument, NULL, 'T' },
		{ "tls-key", required_argument, NULL, 'K' },
		{ "tls-client-ca", required_argument, NULL, 'C' },
		{ "no-root-update", no_argument, NULL, 'n' },
		{ "bad-root-update", no_argument, NULL, 'b' },
		{ "no-template", no_argument, NULL, 'x' },
		{ "refuse", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, idx = 0;

	*a = (struct serve_args){ .threads = 4,
		.log_level = CMPD_LOG_INFO,
		.opts = { .check_after = 1,
		    .validity_days = 30,
		    .idle_seconds = TCA_TXN_IDLE_SECONDS } };
	while ((opt = getopt_long(argc, argv, "", longopts, &idx)) != -1)
		if (opt == '?' || parse_option(a, opt, optarg) != 0) {
			if (opt != '?')
				fprintf(stderr,
				    "cmpd-testca: bad option --%s%s%s\n",
				    longopts[idx].name, optarg ? " " : "",
				    optarg ? optarg : "");
			return -1;
		}
	if (optind != argc - 1)
		return -1;
	if ((a->tls.cert == NULL) != (a->tls.key == NULL) ||
	    (a->tls.client_ca != NULL && a->tls.cert == NULL)) {
		fprintf(stderr,
		    "cmpd-testca: --tls-cert and --tls-key go "
		    "together; --tls-client-ca needs them\n");
		return -1;
	}
	a->dir = argv[optind];
	return 0;
}

static cmpd_err
write_port_file(const char *path, uint16_t port)
{
	char line[16];
	int n = snprintf(line, sizeof(line), "%u\n", (unsigned)port);

	return cmpd_file_write_atomic(
	    path, line, (size_t)n, 0644, (uid_t)-1, (gid_t)-1);
}

/* Sleeps until SIGTERM or SIGINT, sweeping idle transactions. */
static void
wait_for_signal(struct tca_server *srv, const sigset_t *sigs, int idle)
{
	int period = idle / 2 < 1          ? 1
	    : idle / 2 > TESTCA_SWEEP_SECS ? TESTCA_SWEEP_SECS
	                                   : idle / 2;

	for (;;) {
		struct timespec ts = { period, 0 };
		int sig = sigtimedwait(sigs, NULL, &ts);

		if (sig == SIGTERM || sig == SIGINT) {
			log_info("signal %d: stopping", sig);
			return;
		}
		if (sig < 0 && errno != EAGAIN && errno != EINTR) {
			log_err("sigtimedwait: %s", strerror(errno));
			return;
		}
		tca_server_sweep(srv);
	}
}

static void
serve_log_start(const struct serve_args *a)
{
	static const char *const updates[TCA_ROOT_UPDATE_MAX] = { "newroot",
		"none", "forged newWithOld" };
	char validity[32], refused[64];
	size_t used = 0;

	if (a->opts.validity_seconds > 0)
		snprintf(validity, sizeof(validity), "%ld s",
		    a->opts.validity_seconds);
	else
		snprintf(validity, sizeof(validity), "%d days",
		    a->opts.validity_days);
	log_info("serving %s over %s with %d threads (poll %d, checkAfter "
	         "%d s, validity %s, implicit confirmation %s)",
	    a->dir,
	    a->tls.cert == NULL            ? "HTTP"
	        : a->tls.client_ca == NULL ? "HTTPS"
	                                   : "HTTPS with client certificates",
	    a->threads, a->opts.poll, a->opts.check_after, validity,
	    a->opts.grant_implicit_confirm ? "granted" : "refused");
	for (int t = 0; t < 32; t++)
		if ((a->opts.refuse & (1u << t)) != 0)
			used += snprintf(refused + used, sizeof(refused) - used,
			    " %s", tca_body_name(t));
	log_info("genm: root CA update %s, request template %s; refusing:%s",
	    updates[a->opts.root_update],
	    a->opts.no_template ? "none" : "O=cmpd test",
	    used > 0 ? refused : " nothing");
}

static int
testca_serve(const struct serve_args *a)
{
	struct tca_server *srv = NULL;
	struct tca_http *http = NULL;
	uint16_t port = 0;
	sigset_t sigs;
	int status = 1;

	cmpd_log_init("cmpd-testca", a->log_level);
	/* Blocked before any thread starts, so only sigtimedwait sees them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (tca_server_new(a->dir, &a->opts, &srv) != CMPD_OK ||
	    tca_http_start(srv, (uint16_t)a->port, (unsigned)a->threads,
	        a->tls.cert != NULL ? &a->tls : NULL, &http, &port) != CMPD_OK)
		goto out;
	if (a->port_file != NULL && write_port_file(a->port_file, port)) {
		log_err("cannot write the port file %s", a->port_file);
		goto out;
	}
	printf("listening on 127.0.0.1:%u\n", (unsigned)port);
	fflush(stdout);
	serve_log_start(a);
	wait_for_signal(srv, &sigs, a->opts.idle_seconds);
	status = 0;
out:
	tca_http_stop(http);
	tca_server_free(srv);
	return status;
}

static int
testca_init(const char *dir)
{
	cmpd_log_init("cmpd-testca", CMPD_LOG_INFO);
	if (tca_pki_init(dir) != CMPD_OK)
		return 1;
	printf("test PKI written to %s\n", dir);
	return 0;
}

int
main(int argc, char **argv)
{
	struct serve_args a;

	if (argc == 3 && strcmp(argv[1], "init") == 0)
		return testca_init(argv[2]);
	if (argc >= 3 && strcmp(argv[1], "serve") == 0) {
		if (parse_serve(argc - 1, argv + 1, &a) != 0) {
			usage();
			return 2;
		}
		return testca_serve(&a);
	}
	usage();
	return 2;
}
