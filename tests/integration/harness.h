/*
 * The integration tests' world: a private directory with a fresh test PKI,
 * the project's test CA (cmpd-testca) serving it on 127.0.0.1, and the real
 * cmpd (broker, keyworker, networker) with a configuration of standard
 * profiles. Tests talk to cmpd with libcmpd-client and cmpctl.
 */
#pragma once

#include <cmpd/client.h>
#include <stddef.h>
#include <sys/types.h>

struct harness {
	char dir[256];    /* private directory, removed at the end */
	char pki[300];    /* the test CA's PKI (cmpd-testca init) */
	char conf[300];   /* cmpd.conf */
	char socket[300]; /* cmpd's client socket */
	char keys[300];   /* the keyworker's key store */
	const char *bin;  /* directory of the project's executables */
	pid_t ca_pid;
	int ca_port;
	pid_t cmpd_pid;
	uid_t cmpd_uid; /* when not 0 (and we are root): run cmpd as this */
};

/*
 * Creates the directory and the PKI. extra_conf is appended to the
 * standard configuration (more profiles); it may use %1$s for the PKI
 * directory and %2$d for the CA's port.
 */
int harness_init(struct harness *h, const char *name);

/* Starts cmpd-testca serve with extra arguments (NULL-terminated). */
int harness_start_ca(struct harness *h, const char *const *args);

/* Stops the test CA, and starts it again on the same port and PKI. */
void harness_stop_ca(struct harness *h);
int harness_restart_ca(struct harness *h, const char *const *args);

/* Writes cmpd.conf for the CA's port plus extra (a printf format, see
 * above) and starts cmpd; returns when it answers on its socket. */
int harness_start_cmpd(struct harness *h, const char *extra);

/*
 * Kills cmpd's broker with SIGKILL, as a power cut or the OOM killer
 * would, and returns once its workers have exited too (0), or -1.
 */
int harness_kill_cmpd(struct harness *h);

/* Stops cmpd with SIGTERM; returns its exit status (0: a clean exit). */
int harness_stop_cmpd(struct harness *h);

/* Waits (at most secs) until job_id is in state (a cmpd_job_state). */
int harness_wait_state(
    const struct harness *h, const char *job_id, int state, int secs);

/* Stops cmpd (SIGTERM; asserts a clean exit), the CA, removes the dir. */
void harness_fini(struct harness *h);

/* An open client on the harness's cmpd. */
cmpd_client *harness_client(const struct harness *h);

/* Imports the PKI's private key file name ("supplier.key"); returns its
 * key id in id (33 bytes). */
int harness_import(const struct harness *h, const char *name, char *id);

/*
 * Runs the project's executable prog with args (NULL-terminated) and
 * CMPD_SOCKET set; its stdout and stderr go to out (NUL-terminated).
 * Returns its exit status, or -1 if it did not exit normally.
 */
int harness_run(const struct harness *h, char *out, size_t outlen,
    const char *prog, const char *const *args);

/* Runs a shell command line; returns its exit status. */
int harness_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Enrolls with profile and opts and waits (at most 60 s) for the end. */
cmpd_job *harness_enroll_wait(
    const struct harness *h, const char *profile, const cmpd_enroll_opts *opts);

/*
 * Moves this test process into a network namespace of its own with only
 * loopback up, so that servers that bind every address (the openssl cmp
 * mock server) are reachable from nowhere else. Returns 0, or -1 if the
 * system allows no new network namespace.
 */
int harness_private_network(void);
