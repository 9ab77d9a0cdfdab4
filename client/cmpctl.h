/*
 * cmpctl, the command-line client of cmpd, built only on the public
 * libcmpd-client API. cmpctl.md documents its commands, output and exit
 * codes.
 */
#pragma once

#include <cmpd/client.h>
#include <jansson.h>
#include <stdio.h>

/* Exit codes (cmpctl.md lists them; scripts depend on them). */
enum cmpctl_exit {
	CMPCTL_EXIT_OK = 0,
	CMPCTL_EXIT_FAILED = 1,      /* the job failed or the CA refused */
	CMPCTL_EXIT_USAGE = 2,       /* bad command line or argument */
	CMPCTL_EXIT_UNAVAILABLE = 3, /* cmpd not reachable, internal error */
	CMPCTL_EXIT_DENIED = 4,      /* permission denied */
	CMPCTL_EXIT_NOT_FOUND = 5,   /* no such job, profile, key or file */
	CMPCTL_EXIT_TIMEOUT = 6,     /* --wait ran out of time */
};

/* health: 1 (CMPCTL_EXIT_FAILED) when something needs attention. */

/* The run of one command. */
struct cmpctl {
	const char *socket; /* --socket; NULL: the library's default */
	int json;           /* --json */
	cmpd_client *client;
};

/* A command: its name, its entry, and its help (cmpctl_help.c). */
struct cmpctl_cmd {
	const char *name;
	int (*run)(struct cmpctl *ctl, int argc, char **argv);
	const char *summary;
	const char *help;
};

/* The commands (cmpctl_cmd.c), and the table of them (cmpctl_help.c). */
int cmpctl_enroll(struct cmpctl *ctl, int argc, char **argv);
int cmpctl_status(struct cmpctl *ctl, int argc, char **argv);
int cmpctl_jobs(struct cmpctl *ctl, int argc, char **argv);
int cmpctl_list(struct cmpctl *ctl, int argc, char **argv);
int cmpctl_key(struct cmpctl *ctl, int argc, char **argv);
int cmpctl_help(struct cmpctl *ctl, int argc, char **argv);
/* cmpctl_life.c */
int cmpctl_renew(struct cmpctl *ctl, int argc, char **argv);
int cmpctl_revoke(struct cmpctl *ctl, int argc, char **argv);
/* cmpctl_watch.c: events, health, reload commands */
int cmpctl_watch(struct cmpctl *ctl, int argc, char **argv);
int cmpctl_health(struct cmpctl *ctl, int argc, char **argv);
int cmpctl_hook(struct cmpctl *ctl, int argc, char **argv);
/* cmpctl_genm.c */
int cmpctl_ca_certs(struct cmpctl *ctl, int argc, char **argv);
int cmpctl_root_update(struct cmpctl *ctl, int argc, char **argv);
int cmpctl_template(struct cmpctl *ctl, int argc, char **argv);
const struct cmpctl_cmd *cmpctl_cmd_find(const char *name);
void cmpctl_help_all(FILE *f);
/* Prints the help of cmd ("key import" and "key list" included). */
void cmpctl_help_cmd(FILE *f, const struct cmpctl_cmd *cmd);

/* cmpctl.c: connecting, and reporting failures as exit codes. */
int cmpctl_connect(struct cmpctl *ctl);
int cmpctl_exit_code(cmpd_result r);
/* Reports a failed call (text from the library) and returns its exit. */
int cmpctl_fail(struct cmpctl *ctl, cmpd_result r, const char *message);
/* Reports a usage error of cmd and returns CMPCTL_EXIT_USAGE. */
int cmpctl_usage(struct cmpctl *ctl, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* cmpctl_cmd.c: what the commands that start or follow a job share. */
#define CMPCTL_WAIT_DEFAULT_MS 300000

/* How a command follows its job. */
struct wait_opts {
	int wait;
	int64_t timeout_ms; /* -1: without limit */
	const char *cert_out;
	const char *chain_out;
};

/*
 * Options -w (--wait), -t S (--timeout), -c F (--cert-out), -C F
 * (--chain-out) into w. Returns 0 if c was one of them (and was valid),
 * 1 if it was not, or an exit code.
 */
int cmpctl_wait_opt(
    struct cmpctl *ctl, const char *cmd, int c, struct wait_opts *w);
/* getopt found an unknown option of cmd, or one without its argument. */
int cmpctl_bad_option(
    struct cmpctl *ctl, const char *cmd, const char *optstring, char **argv);
/*
 * After a call that started a job: reports its failure r, or shows the
 * job (following it first with w->wait). Returns the exit code.
 */
int cmpctl_job_started(struct cmpctl *ctl, cmpd_result r, const cmpd_job *job,
    const struct wait_opts *w);
/* Waits for job id (progress on stderr); 0 with *out, or an exit code. */
int cmpctl_job_wait(
    struct cmpctl *ctl, const char *id, int64_t timeout_ms, cmpd_job **out);
/* Writes text to path (mode 0644, atomically); 0 or an exit code. */
int cmpctl_file_write(struct cmpctl *ctl, const char *path, const char *text);

/* cmpctl_show.c: output for people. */
void show_job(FILE *f, const cmpd_job *job);
void show_jobs(FILE *f, const cmpd_job_array *jobs);
void show_certs(FILE *f, const cmpd_cert_array *certs);
/*
 * What a done genm job brought back, read as type ("ca-certs",
 * "root-update", "template": what was asked for).
 */
void show_genm(FILE *f, const cmpd_job *job, const char *type);
/* Text from cmpd or the CA, lines kept, control characters as '?'. */
void show_text(FILE *f, const char *text);
/* Text with control characters (line ends too) as '?'. */
void show_safe(FILE *f, const char *text);
void show_key(FILE *f, const cmpd_key_info *key);
void show_keys(FILE *f, const cmpd_key_array *keys);
/* One line of --wait progress; tty selects the form (cmpctl.md). */
void show_progress(FILE *f, const cmpd_job *job, int tty);
/* A unix time as RFC 3339 UTC ("2025-01-31T12:00:00Z"). */
void show_time(int64_t t, char buf[32]);

/* cmpctl_json.c: output for programs (shapes in cmpctl.md). */
json_t *jsonout_job(const cmpd_job *job);
json_t *jsonout_jobs(const cmpd_job_array *jobs);
json_t *jsonout_certs(const cmpd_cert_array *certs);
json_t *jsonout_key(const cmpd_key_info *key);
json_t *jsonout_keys(const cmpd_key_array *keys);
/* {"error": {"code", "message"[, "job"]}}; job may be NULL. */
json_t *jsonout_error(const char *code, const char *message, json_t *job);
/* Prints v (taking it) and a newline to stdout; 0 or -1. */
int jsonout_print(json_t *v);
/* Prints v (taking it) on one line and flushes stdout; 0 or -1. */
int jsonout_print_line(json_t *v);
json_t *jsonout_event(const cmpd_event *ev);
json_t *jsonout_health(const cmpd_health *h);
