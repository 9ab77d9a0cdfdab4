/*
 * cmpctl watch | health | hook test: the events of jobs and certificates as
 * they happen, what needs attention, and a profile's reload command run
 * without a renewal.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmpctl.h"

struct watch_args {
	const char *profile;
	long count;         /* stop after this many events; 0: never */
	int64_t timeout_ms; /* stop after this long; -1: never */
	uint64_t cursor;    /* start after this event; 0: from now on */
};

static const struct option watch_longopts[] = {
	{ "profile", required_argument, NULL, 'p' },
	{ "count", required_argument, NULL, 'n' },
	{ "timeout", required_argument, NULL, 't' },
	{ "after", required_argument, NULL, 'a' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

#define WATCH_OPTS "p:n:t:a:h"

/* A decimal number in [min, max] from optarg; -1 if it is not one. */
static long
number_arg(long min, long max)
{
	char *end = NULL;
	long v = strtol(optarg, &end, 10);

	if (end == optarg || *end != '\0' || v < min || v > max)
		return -1;
	return v;
}

/* An event's seq from optarg into *out: 0, or -1 if it is not one. */
static int
cursor_arg(uint64_t *out)
{
	char *end = NULL;
	unsigned long long v = strtoull(optarg, &end, 10);

	if (end == optarg || *end != '\0' || optarg[0] == '-' || v == 0)
		return -1;
	*out = v;
	return 0;
}

/* watch's command line: 0 to go on, -1 after the help, or an exit code. */
static int
watch_parse(struct cmpctl *ctl, int argc, char **argv, struct watch_args *a)
{
	long v;
	int c;

	while ((c = getopt_long(
	            argc, argv, WATCH_OPTS, watch_longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			a->profile = optarg;
			break;
		case 'n':
			if ((a->count = number_arg(1, 1000000)) < 0)
				return cmpctl_usage(
				    ctl, "watch", "--count takes 1 to 1000000");
			break;
		case 't':
			if ((v = number_arg(0, 86400 * 365)) < 0)
				return cmpctl_usage(
				    ctl, "watch", "--timeout takes seconds");
			a->timeout_ms = v == 0 ? -1 : v * 1000;
			break;
		case 'a':
			if (cursor_arg(&a->cursor) != 0)
				return cmpctl_usage(ctl, "watch",
				    "--after takes an event's seq");
			break;
		case 'h':
			cmpctl_help_cmd(stdout, cmpctl_cmd_find("watch"));
			return -1;
		default:
			return cmpctl_bad_option(
			    ctl, "watch", WATCH_OPTS, argv);
		}
	}
	if (optind < argc)
		return cmpctl_usage(
		    ctl, "watch", "unexpected argument '%s'", argv[optind]);
	return 0;
}

static void
show_field(FILE *f, const char *name, const char *value)
{
	if (value[0] == '\0')
		return;
	fprintf(f, " %s=", name);
	show_safe(f, value);
}

/* One line: time, type, then name=value for what the event carries. */
static void
show_event(FILE *f, const cmpd_event *ev)
{
	char t[32], na[32], next[32];

	show_time(cmpd_event_time(ev), t);
	show_time(cmpd_event_not_after(ev), na);
	show_time(cmpd_event_next_attempt(ev), next);
	fprintf(f, "%s %s", t, cmpd_event_type_name(cmpd_event_type_get(ev)));
	show_field(f, "profile", cmpd_event_profile(ev));
	show_field(f, "cert", cmpd_event_cert_id(ev));
	show_field(f, "serial", cmpd_event_serial(ev));
	if (cmpd_event_not_after(ev) > 0)
		show_field(f, "not_after", na);
	show_field(f, "job", cmpd_event_job_id(ev));
	show_field(f, "op", cmpd_event_op(ev));
	if (cmpd_event_automatic(ev))
		fputs(" automatic", f);
	if (cmpd_event_failures(ev) > 0)
		fprintf(f, " failures=%u", cmpd_event_failures(ev));
	if (cmpd_event_next_attempt(ev) > 0 &&
	    cmpd_event_type_get(ev) == CMPD_EVENT_RENEWAL_FAILED)
		show_field(f, "next_attempt", next);
	if (cmpd_event_error_text(ev)[0] != '\0') {
		fputs(" error: ", f);
		show_safe(f, cmpd_event_error_text(ev));
	}
	fputc('\n', f);
	fflush(f);
}

static int
watch_print(struct cmpctl *ctl, const cmpd_event *ev)
{
	if (cmpd_event_missed(ev))
		fprintf(stderr,
		    "cmpctl: some events were missed (cmpd "
		    "restarted, or this watcher fell behind)\n");
	if (ctl->json)
		return jsonout_print_line(jsonout_event(ev)) == 0
		    ? CMPCTL_EXIT_OK
		    : CMPCTL_EXIT_UNAVAILABLE;
	show_event(stdout, ev);
	return ferror(stdout) ? CMPCTL_EXIT_UNAVAILABLE : CMPCTL_EXIT_OK;
}

/* The time left of timeout_ms since start (-1: without limit). */
static int64_t
watch_left(const struct watch_args *a, int64_t spent_ms)
{
	if (a->timeout_ms < 0)
		return -1;
	return a->timeout_ms > spent_ms ? a->timeout_ms - spent_ms : 0;
}

static int64_t
clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
watch_loop(struct cmpctl *ctl, const struct watch_args *a)
{
	int64_t start = clock_ms();
	uint64_t cursor = a->cursor;
	long seen = 0;
	int rv;

	for (;;) {
		cmpd_event *ev = NULL;
		cmpd_result r = cmpd_events_next(ctl->client, a->profile,
		    &cursor, watch_left(a, clock_ms() - start), &ev);

		if (r == CMPD_RESULT_TIMEOUT)
			return a->count > 0
			    ? cmpctl_fail(
			          ctl, r, "fewer events than --count came")
			    : CMPCTL_EXIT_OK;
		if (r != CMPD_RESULT_OK)
			return cmpctl_fail(
			    ctl, r, cmpd_client_last_error(ctl->client));
		rv = watch_print(ctl, ev);
		cmpd_event_free(ev);
		if (rv != CMPCTL_EXIT_OK ||
		    (a->count > 0 && ++seen >= a->count))
			return rv;
	}
}

int
cmpctl_watch(struct cmpctl *ctl, int argc, char **argv)
{
	struct watch_args a = { .timeout_ms = -1 };
	int rv = watch_parse(ctl, argc, argv, &a);

	if (rv != 0)
		return rv < 0 ? CMPCTL_EXIT_OK : rv;
	if ((rv = cmpctl_connect(ctl)) != 0)
		return rv;
	return watch_loop(ctl, &a);
}

static void
show_problem(FILE *f, const cmpd_health *h, size_t i)
{
	const char *job = cmpd_health_problem_job_id(h, i);
	const char *cert = cmpd_health_problem_cert_id(h, i);
	char due[32], next[32];

	show_time(cmpd_health_problem_due(h, i), due);
	show_time(cmpd_health_problem_next_attempt(h, i), next);
	fprintf(f, "%-21s profile=", cmpd_health_problem_kind(h, i));
	show_safe(f, cmpd_health_problem_profile(h, i));
	if (strcmp(cmpd_health_problem_kind(h, i), "stuck_job") == 0)
		fprintf(f, " job=%s state=%s due=%s", job,
		    cmpd_job_state_name(cmpd_health_problem_job_state(h, i)),
		    due);
	else
		fprintf(f, " cert=%s not_after=%s failures=%u next_attempt=%s",
		    cert, due, cmpd_health_problem_failures(h, i), next);
	fputs(": ", f);
	show_safe(f, cmpd_health_problem_detail(h, i));
	fputc('\n', f);
}

static void
show_health(FILE *f, const cmpd_health *h)
{
	size_t n = cmpd_health_problem_count(h);

	for (size_t i = 0; i < n; i++)
		show_problem(f, h, i);
	fprintf(f,
	    "%s: %zu problem%s; %u active, %u expired, %u revoked "
	    "certificate%s; %u unfinished job%s\n",
	    n == 0 ? "ok" : "attention", n, n == 1 ? "" : "s",
	    cmpd_health_certs_active(h), cmpd_health_certs_expired(h),
	    cmpd_health_certs_revoked(h),
	    cmpd_health_certs_revoked(h) == 1 ? "" : "s",
	    cmpd_health_jobs_unfinished(h),
	    cmpd_health_jobs_unfinished(h) == 1 ? "" : "s");
}

static const struct option profile_longopts[] = {
	{ "profile", required_argument, NULL, 'p' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int
cmpctl_health(struct cmpctl *ctl, int argc, char **argv)
{
	const char *profile = NULL;
	cmpd_health *h = NULL;
	cmpd_result r;
	int c, rv;

	while ((c = getopt_long(argc, argv, "p:h", profile_longopts, NULL)) !=
	    -1) {
		if (c == 'p') {
			profile = optarg;
			continue;
		}
		if (c == 'h') {
			cmpctl_help_cmd(stdout, cmpctl_cmd_find("health"));
			return CMPCTL_EXIT_OK;
		}
		return cmpctl_bad_option(ctl, "health", "p:h", argv);
	}
	if (optind < argc)
		return cmpctl_usage(
		    ctl, "health", "unexpected argument '%s'", argv[optind]);
	if ((rv = cmpctl_connect(ctl)) != 0)
		return rv;
	if ((r = cmpd_health_get(ctl->client, profile, &h)) != CMPD_RESULT_OK)
		return cmpctl_fail(ctl, r, cmpd_client_last_error(ctl->client));
	if (ctl->json)
		rv = jsonout_print(jsonout_health(h)) == 0
		    ? CMPCTL_EXIT_OK
		    : CMPCTL_EXIT_UNAVAILABLE;
	else
		show_health(stdout, h);
	if (rv == CMPCTL_EXIT_OK && cmpd_health_problem_count(h) > 0)
		rv = CMPCTL_EXIT_FAILED;
	cmpd_health_free(h);
	return rv;
}

static void
show_hook(FILE *f, const char *profile, int status)
{
	fputs("the reload command of profile ", f);
	show_safe(f, profile);
	if (status < 0)
		fputs(" was killed after its timeout\n", f);
	else if (status > 128)
		fprintf(f, " was ended by signal %d\n", status - 128);
	else
		fprintf(f, " exited with status %d\n", status);
}

static int
hook_test_run(struct cmpctl *ctl, int argc, char **argv)
{
	int status = 0, rv;
	cmpd_result r;

	if (argc != 2 || argv[1][0] == '-')
		return cmpctl_usage(ctl, "hook", "hook test takes one PROFILE");
	if ((rv = cmpctl_connect(ctl)) != 0)
		return rv;
	r = cmpd_hook_test(ctl->client, argv[1], &status);
	if (r != CMPD_RESULT_OK)
		return cmpctl_fail(ctl, r, cmpd_client_last_error(ctl->client));
	if (ctl->json)
		jsonout_print(json_pack("{s:s, s:b, s:o, s:o, s:b}", "profile",
		    argv[1], "ok", status == 0, "status",
		    status >= 0 && status <= 128 ? json_integer(status)
		                                 : json_null(),
		    "signal",
		    status > 128 ? json_integer(status - 128) : json_null(),
		    "timed_out", status < 0));
	else
		show_hook(stdout, argv[1], status);
	return status == 0 ? CMPCTL_EXIT_OK : CMPCTL_EXIT_FAILED;
}

int
cmpctl_hook(struct cmpctl *ctl, int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			cmpctl_help_cmd(stdout, cmpctl_cmd_find("hook"));
			return CMPCTL_EXIT_OK;
		}
	if (argc < 2 || strcmp(argv[1], "test") != 0)
		return cmpctl_usage(ctl, "hook", "hook needs test PROFILE");
	return hook_test_run(ctl, argc - 1, argv + 1);
}
