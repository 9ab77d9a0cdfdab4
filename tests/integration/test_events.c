/*
 * Events, health and metrics on the real stack: a watcher (the library and
 * `cmpctl --json watch`) sees enrolled, renewed, renewal failed and
 * revoked for real jobs; `cmpctl health` is quiet while all is well and
 * exits 1 for a certificate whose renewal failed and whose next attempt
 * comes after its expiry (which also makes an "expiring" event); the
 * metrics file is Prometheus text format; `cmpctl hook test` runs a
 * profile's reload command.
 */
#include <ctype.h>
#include <fcntl.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "checks.h"
#include "harness.h"

static const char events_conf[] = "[profile ev]\n"
                                  "server = http://127.0.0.1:%2$d/pkix/\n"
                                  "cert = %1$s/supplier.pem\n"
                                  "trusted = %1$s/root.pem\n"
                                  "subject = /CN=events.example\n"
                                  "msg_timeout = 1s\n"
                                  "retry_min = 1h\n"
                                  "retry_max = 1h\n"
                                  "reload_command = echo \"$CMPD_EVENT "
                                  "$CMPD_PROFILE\" >>%1$s/hook.log\n"
                                  "\n"
                                  "[profile short]\n"
                                  "server = http://127.0.0.1:%2$d/pkix/\n"
                                  "cert = %1$s/supplier.pem\n"
                                  "trusted = %1$s/root.pem\n"
                                  "subject = /CN=short.example\n"
                                  "renew_at = 50\n"
                                  "renew_jitter = 0\n"
                                  "retry_min = 1h\n"
                                  "retry_max = 1h\n"
                                  "msg_timeout = 1s\n"
                                  "reload_command = exit 3\n"
                                  "\n"
                                  "[cmpd]\n"
                                  "metrics_file = %1$s/metrics.prom\n";

static const char *const short_ca[] = { "--validity-seconds", "10", NULL };
static struct harness h;

static int
setup(void **state)
{
	char id[33];

	(void)state;
	if (harness_init(&h, "events") != 0 ||
	    harness_start_ca(&h, NULL) != 0 ||
	    harness_start_cmpd(&h, events_conf) != 0 ||
	    harness_import(&h, "supplier.key", id) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	harness_fini(&h);
	return 0;
}

/* Starts `cmpctl --json watch ARGS...` with stdout into path. */
static pid_t
watcher_start(const char *path, const char *const *args)
{
	char prog[512];
	const char *argv[16] = { "cmpctl", "--json", "watch" };
	size_t n = 3;
	pid_t pid;

	snprintf(prog, sizeof(prog), "%s/cmpctl", h.bin);
	for (size_t i = 0; args[i] != NULL && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if ((pid = fork()) == 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		setenv("CMPD_SOCKET", h.socket, 1);
		if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
			_exit(126);
		execv(prog, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static int
watcher_end(pid_t pid)
{
	int st = 0;

	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Waits for *job, which the call that returned r made, and frees it. */
static cmpd_job *
run_wait(cmpd_client *c, cmpd_result r, cmpd_job **jobp)
{
	cmpd_job *done = NULL, *job = *jobp;

	assert_int_equal(r, CMPD_RESULT_OK);
	assert_int_equal(
	    cmpd_job_wait(c, cmpd_job_id(job), 60000, &done), CMPD_RESULT_OK);
	cmpd_job_free(job);
	*jobp = NULL;
	return done;
}

/* The next event of profile, which must be of type. */
static cmpd_event *
next_event(
    cmpd_client *c, const char *profile, uint64_t *cursor, cmpd_event_type type)
{
	cmpd_event *ev = NULL;
	uint64_t before = *cursor;

	assert_int_equal(
	    cmpd_events_next(c, profile, cursor, 60000, &ev), CMPD_RESULT_OK);
	assert_true(cmpd_event_seq(ev) > before);
	assert_int_equal(*cursor, cmpd_event_seq(ev));
	assert_string_equal(cmpd_event_type_name(cmpd_event_type_get(ev)),
	    cmpd_event_type_name(type));
	assert_string_equal(cmpd_event_profile(ev), profile);
	assert_false(cmpd_event_missed(ev));
	return ev;
}

/* A JSON time: RFC 3339 UTC, as cmpctl writes it. */
static void
check_jtime(json_t *v)
{
	const char *s = json_string_value(v);

	assert_non_null(s);
	assert_int_equal(strlen(s), 20);
	assert_int_equal(s[4], '-');
	assert_int_equal(s[10], 'T');
	assert_int_equal(s[19], 'Z');
}

static json_t *
jget(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		fail_msg("JSON key '%s' is missing", key);
	return v;
}

/* want NULL: any string; "": null (the library's ""); else that string. */
static void
check_jstr(json_t *o, const char *key, const char *want)
{
	json_t *v = jget(o, key);

	if (want != NULL && want[0] == '\0') {
		assert_true(json_is_null(v));
		return;
	}
	assert_true(json_is_string(v));
	if (want != NULL)
		assert_string_equal(json_string_value(v), want);
}

/* Every key of an event line, field by field, against the library's. */
static void
check_event_json(json_t *o, const cmpd_event *ev)
{
	const char *type = cmpd_event_type_name(cmpd_event_type_get(ev));
	int failed = cmpd_event_type_get(ev) == CMPD_EVENT_RENEWAL_FAILED ||
	    cmpd_event_type_get(ev) == CMPD_EVENT_JOB_FAILED;

	assert_int_equal(json_object_size(o), 15);
	assert_true(json_is_integer(jget(o, "seq")));
	assert_int_equal(
	    json_integer_value(jget(o, "seq")), cmpd_event_seq(ev));
	check_jstr(o, "type", type);
	check_jtime(jget(o, "time"));
	check_jstr(o, "profile", "ev");
	check_jstr(o, "job_id", cmpd_event_job_id(ev));
	check_jstr(o, "op", cmpd_event_op(ev));
	assert_true(json_is_boolean(jget(o, "automatic")));
	check_jstr(o, "cert_id", cmpd_event_cert_id(ev));
	if (cmpd_event_type_get(ev) == CMPD_EVENT_JOB_FAILED) {
		assert_true(json_is_null(jget(o, "serial")));
		assert_true(json_is_null(jget(o, "not_after")));
		assert_true(json_is_null(jget(o, "cert_path")));
	} else {
		check_jstr(o, "serial", cmpd_event_serial(ev));
		check_jtime(jget(o, "not_after"));
		check_jstr(o, "cert_path", cmpd_event_cert_path(ev));
	}
	if (failed) {
		json_t *e = jget(o, "error");

		check_jstr(e, "code", NULL);
		check_jstr(e, "message", cmpd_event_error_text(ev));
	} else {
		assert_true(json_is_null(jget(o, "error")));
	}
	assert_int_equal(
	    json_integer_value(jget(o, "failures")), cmpd_event_failures(ev));
	assert_true(json_is_boolean(jget(o, "missed")));
	assert_false(json_boolean_value(jget(o, "missed")));
	if (cmpd_event_type_get(ev) == CMPD_EVENT_RENEWAL_FAILED)
		check_jtime(jget(o, "next_attempt"));
}

static void
check_watch_output(const char *path, cmpd_event **evs, size_t n)
{
	char *text = check_read_file(path), *line, *save = NULL;
	size_t i = 0;

	assert_non_null(text);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		json_error_t err;
		json_t *o = json_loads(line, 0, &err);

		if (o == NULL)
			fail_msg("not JSON: %s (%s)", line, err.text);
		assert_true(i < n);
		check_event_json(o, evs[i++]);
		json_decref(o);
	}
	assert_int_equal(i, n);
	free(text);
}

/*
 * enroll, renew, a renewal while the CA is away, revoke: the library and
 * cmpctl watch see the same five events, in order, with what the jobs
 * did.
 */
static void
test_watch_lifecycle(void **state)
{
	cmpd_client *c = harness_client(&h);
	cmpd_job *job = NULL, *enrolled, *renewed, *failed, *revoked;
	cmpd_event *evs[5], *none = NULL;
	uint64_t cursor = 0;
	char out[400], after[32];
	pid_t watcher;

	(void)state;
	/* From now on: nothing yet, and the cursor is where cmpd is. */
	assert_int_equal(
	    cmpd_events_next(c, "ev", &cursor, 0, &none), CMPD_RESULT_TIMEOUT);
	assert_true(cursor > 0);
	snprintf(out, sizeof(out), "%s/watch.json", h.dir);
	snprintf(after, sizeof(after), "%llu", (unsigned long long)cursor);
	watcher = watcher_start(out,
	    (const char *const[]){ "--profile", "ev", "--count", "5",
	        "--timeout", "240", "--after", after, NULL });

	enrolled = run_wait(c, cmpd_enroll(c, "ev", NULL, &job), &job);
	assert_int_equal(cmpd_job_state_get(enrolled), CMPD_JOB_STATE_DONE);
	renewed = run_wait(c, cmpd_renew(c, "ev", NULL, &job), &job);
	assert_int_equal(cmpd_job_state_get(renewed), CMPD_JOB_STATE_DONE);
	harness_stop_ca(&h);
	failed = run_wait(c, cmpd_renew(c, "ev", NULL, &job), &job);
	assert_int_equal(cmpd_job_state_get(failed), CMPD_JOB_STATE_FAILED);
	assert_int_equal(harness_restart_ca(&h, NULL), 0);
	revoked = run_wait(c, cmpd_revoke(c, "ev", 4, &job), &job);
	assert_int_equal(cmpd_job_state_get(revoked), CMPD_JOB_STATE_DONE);

	evs[0] = next_event(c, "ev", &cursor, CMPD_EVENT_ENROLLED);
	assert_string_equal(cmpd_event_job_id(evs[0]), cmpd_job_id(enrolled));
	assert_string_equal(
	    cmpd_event_cert_id(evs[0]), cmpd_job_cert_id(enrolled));
	assert_string_equal(
	    cmpd_event_serial(evs[0]), cmpd_job_cert_serial(enrolled));
	assert_int_equal(
	    cmpd_event_not_after(evs[0]), cmpd_job_cert_not_after(enrolled));
	assert_string_equal(
	    cmpd_event_cert_path(evs[0]), cmpd_job_cert_path(enrolled));
	assert_string_equal(cmpd_event_op(evs[0]), "ir");

	evs[1] = next_event(c, "ev", &cursor, CMPD_EVENT_RENEWED);
	assert_string_equal(cmpd_event_job_id(evs[1]), cmpd_job_id(renewed));
	assert_string_equal(cmpd_event_op(evs[1]), "kur");
	assert_string_equal(
	    cmpd_event_cert_id(evs[1]), cmpd_job_cert_id(enrolled));
	assert_string_equal(
	    cmpd_event_serial(evs[1]), cmpd_job_cert_serial(renewed));
	assert_string_not_equal(
	    cmpd_event_serial(evs[1]), cmpd_event_serial(evs[0]));

	evs[2] = next_event(c, "ev", &cursor, CMPD_EVENT_JOB_FAILED);
	assert_string_equal(cmpd_event_job_id(evs[2]), cmpd_job_id(failed));
	assert_int_equal(cmpd_event_error(evs[2]), cmpd_job_error(failed));
	evs[3] = next_event(c, "ev", &cursor, CMPD_EVENT_RENEWAL_FAILED);
	assert_string_equal(cmpd_event_job_id(evs[3]), cmpd_job_id(failed));
	assert_int_equal(cmpd_event_failures(evs[3]), 1);
	assert_true(cmpd_event_next_attempt(evs[3]) > time(NULL) + 1800);
	assert_int_not_equal(cmpd_event_error(evs[3]), CMPD_RESULT_OK);
	assert_string_not_equal(cmpd_event_error_text(evs[3]), "");

	evs[4] = next_event(c, "ev", &cursor, CMPD_EVENT_REVOKED);
	assert_string_equal(cmpd_event_job_id(evs[4]), cmpd_job_id(revoked));
	assert_string_equal(cmpd_event_op(evs[4]), "rr");

	assert_int_equal(watcher_end(watcher), 0);
	check_watch_output(out, evs, 5);
	for (size_t i = 0; i < 5; i++)
		cmpd_event_free(evs[i]);
	cmpd_job_free(enrolled);
	cmpd_job_free(renewed);
	cmpd_job_free(failed);
	cmpd_job_free(revoked);
	cmpd_client_close(c);
}

/* All is well (the failed renewal's certificate is revoked): exit 0. */
static void
test_health_ok_and_hooks(void **state)
{
	const char *const health[] = { "--json", "health", NULL };
	const char *const hook_ok[] = { "hook", "test", "ev", NULL };
	const char *const hook_bad[] = { "--json", "hook", "test", "short",
		NULL };
	char out[8192], path[400], *log;
	json_t *o, *certs;

	(void)state;
	assert_int_equal(
	    harness_run(&h, out, sizeof(out), "cmpctl", health), 0);
	assert_non_null(o = json_loads(out, 0, NULL));
	assert_true(json_is_true(jget(o, "ok")));
	check_jtime(jget(o, "time"));
	assert_int_equal(json_integer_value(jget(o, "jobs_unfinished")), 0);
	certs = jget(o, "certificates");
	assert_int_equal(json_integer_value(jget(certs, "revoked")), 1);
	assert_int_equal(json_integer_value(jget(certs, "active")), 0);
	assert_int_equal(json_integer_value(jget(certs, "expired")), 0);
	assert_int_equal(json_array_size(jget(o, "problems")), 0);
	json_decref(o);

	assert_int_equal(
	    harness_run(&h, out, sizeof(out), "cmpctl", hook_ok), 0);
	assert_non_null(strstr(out, "exited with status 0"));
	snprintf(path, sizeof(path), "%s/hook.log", h.pki);
	assert_non_null(log = check_read_file(path));
	assert_non_null(strstr(log, "enrolled ev\nrenewed ev\n"));
	assert_non_null(strstr(log, "test ev\n"));
	free(log);
	assert_int_equal(
	    harness_run(&h, out, sizeof(out), "cmpctl", hook_bad), 1);
	assert_non_null(o = json_loads(out, 0, NULL));
	assert_string_equal(json_string_value(jget(o, "profile")), "short");
	assert_true(json_is_false(jget(o, "ok")));
	assert_int_equal(json_integer_value(jget(o, "status")), 3);
	assert_true(json_is_null(jget(o, "signal")));
	assert_true(json_is_false(jget(o, "timed_out")));
	json_decref(o);
}

/* One sample line: name, optional labels, a value, optional time. */
static int
prom_sample_ok(const char *l, char *name, size_t namelen)
{
	size_t n = 0;
	char *end;

	if (!isalpha((unsigned char)*l) && *l != '_' && *l != ':')
		return 0;
	while (isalnum((unsigned char)l[n]) || l[n] == '_' || l[n] == ':')
		n++;
	snprintf(name, namelen, "%.*s", (int)n, l);
	l += n;
	if (*l == '{') {
		for (l++; *l != '}'; l++) {
			while (isalnum((unsigned char)*l) || *l == '_')
				l++;
			if (l[0] != '=' || l[1] != '"')
				return 0;
			for (l += 2; *l != '"'; l++)
				if (*l == '\0' || (*l == '\\' && *++l == '\0'))
					return 0;
			if (l[1] == ',')
				l++;
			else if (l[1] != '}')
				return 0;
		}
		l++;
	}
	if (*l++ != ' ')
		return 0;
	strtod(l, &end);
	if (end == l)
		return 0;
	return *end == '\0' ||
	    (*end == ' ' && strtoll(end, &end, 10) >= 0 && *end == '\0');
}

/* The Prometheus text format: HELP and TYPE before a metric's samples. */
static void
check_prometheus(char *text)
{
	char typed[64][96], name[96];
	size_t n_typed = 0;
	char *save = NULL;

	for (char *l = strtok_r(text, "\n", &save); l != NULL;
	     l = strtok_r(NULL, "\n", &save)) {
		int known = 0;

		if (strncmp(l, "# TYPE ", 7) == 0) {
			assert_true(n_typed < 64);
			assert_int_equal(
			    sscanf(l + 7, "%95s", typed[n_typed]), 1);
			assert_true(strstr(l, " gauge") != NULL ||
			    strstr(l, " counter") != NULL);
			n_typed++;
			continue;
		}
		if (l[0] == '#')
			continue;
		if (!prom_sample_ok(l, name, sizeof(name)))
			fail_msg("not a Prometheus sample: %s", l);
		for (size_t i = 0; i < n_typed; i++)
			known |= strcmp(typed[i], name) == 0;
		if (!known)
			fail_msg("sample before its TYPE: %s", l);
	}
	assert_true(n_typed >= 5);
}

/* The metrics file once it holds line; NULL if it never does. */
static char *
metrics_with(const char *line)
{
	char path[400], *text = NULL;

	snprintf(path, sizeof(path), "%s/metrics.prom", h.pki);
	for (int i = 0; i < 100; i++) {
		free(text);
		text = check_read_file(path);
		if (text != NULL && strstr(text, line) != NULL)
			return text;
		usleep(100000);
	}
	free(text);
	return NULL;
}

static void
check_health_problem(json_t *p, const char *cert_id)
{
	assert_string_equal(
	    json_string_value(jget(p, "kind")), "expires_before_retry");
	check_jstr(p, "profile", "short");
	check_jstr(p, "cert_id", cert_id);
	assert_true(json_is_null(jget(p, "job_state")));
	check_jtime(jget(p, "since"));
	check_jtime(jget(p, "due"));
	check_jstr(p, "detail", NULL);
	assert_int_equal(json_integer_value(jget(p, "failures")), 1);
	check_jtime(jget(p, "next_attempt"));
	assert_true(json_is_string(jget(p, "job_id")) ||
	    json_is_null(jget(p, "job_id")));
}

/*
 * A certificate of ten seconds whose renewal (at five) fails while the CA
 * is away, and whose next attempt is an hour later: health exits 1 and
 * says why, the metrics say so, and an "expiring" event comes.
 */
static void
test_health_overdue_and_metrics(void **state)
{
	const char *const health[] = { "--json", "health", NULL };
	const char *const text[] = { "health", "--profile", "short", NULL };
	cmpd_client *c = harness_client(&h);
	cmpd_job *job = NULL, *done;
	cmpd_event *ev;
	uint64_t cursor = 0;
	char out[8192], *metrics;
	json_t *o, *problems;

	(void)state;
	assert_int_equal(
	    cmpd_events_next(c, "short", &cursor, 0, &ev), CMPD_RESULT_TIMEOUT);
	harness_stop_ca(&h);
	assert_int_equal(harness_restart_ca(&h, short_ca), 0);
	done = run_wait(c, cmpd_enroll(c, "short", NULL, &job), &job);
	assert_int_equal(cmpd_job_state_get(done), CMPD_JOB_STATE_DONE);
	harness_stop_ca(&h);
	cmpd_event_free(next_event(c, "short", &cursor, CMPD_EVENT_ENROLLED));
	cmpd_event_free(next_event(c, "short", &cursor, CMPD_EVENT_JOB_FAILED));
	ev = next_event(c, "short", &cursor, CMPD_EVENT_RENEWAL_FAILED);
	assert_true(cmpd_event_automatic(ev));
	assert_true(cmpd_event_next_attempt(ev) > cmpd_event_not_after(ev));
	cmpd_event_free(ev);

	assert_int_equal(
	    harness_run(&h, out, sizeof(out), "cmpctl", health), 1);
	assert_non_null(o = json_loads(out, 0, NULL));
	assert_true(json_is_false(jget(o, "ok")));
	problems = jget(o, "problems");
	assert_int_equal(json_array_size(problems), 1);
	check_health_problem(
	    json_array_get(problems, 0), cmpd_job_cert_id(done));
	json_decref(o);
	assert_int_equal(harness_run(&h, out, sizeof(out), "cmpctl", text), 1);
	assert_non_null(strstr(out, "expires_before_retry"));
	assert_non_null(strstr(out, "attention: 1 problem"));

	metrics = metrics_with(
	    "cmpd_health_problems{kind=\"expires_before_retry\"} 1\n");
	assert_non_null(metrics);
	assert_non_null(
	    strstr(metrics, "cmpd_events_total{type=\"renewal_failed\"} 2\n"));
	check_prometheus(metrics);
	free(metrics);

	ev = next_event(c, "short", &cursor, CMPD_EVENT_EXPIRING);
	assert_string_equal(cmpd_event_cert_id(ev), cmpd_job_cert_id(done));
	assert_string_equal(cmpd_event_job_id(ev), "");
	cmpd_event_free(ev);
	cmpd_job_free(done);
	cmpd_client_close(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_watch_lifecycle),
		cmocka_unit_test(test_health_ok_and_hooks),
		cmocka_unit_test(test_health_overdue_and_metrics),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
