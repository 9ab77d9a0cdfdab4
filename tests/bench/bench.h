/*
 * cmpd-bench: enrollments through cmpd against OpenSSL's own CMP client
 * (in-process loop and `openssl cmp` processes), same CA, same run. See
 * tests/bench/README.md for what it measures and how to read it.
 */
#pragma once

#include <cmpd/client.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The processes whose CPU time and peak RSS a run reports. */
enum bench_proc {
	BENCH_BROKER,
	BENCH_KEYWORKER,
	BENCH_NETWORKER,
	BENCH_CA,
	BENCH_PROC_MAX
};

/* The private world of one run: test PKI, test CA and cmpd. */
struct bench_world {
	char dir[256];
	char pki[300];
	char socket[300];
	char url[128];
	const char *bin;
	const char *key_type; /* "ec-p256", "rsa2048", "ed25519" */
	const char *key_pool; /* cmpd's key_pool option, "" for none */
	pid_t pid[BENCH_PROC_MAX];
	pid_t poll_ca; /* the --scale mode's polling CA, 0 if none */
	int port;
	int poll_port;
	double startup_secs; /* the last start of cmpd, until it answered */
	unsigned ca_threads;
};

/* CPU ticks of each process at one moment, and the bench's own. */
struct bench_cpu {
	uint64_t ticks[BENCH_PROC_MAX];
	uint64_t self_us; /* this process and its waited-for children */
};

/* What one series of enrollments measured. */
struct bench_result {
	const char *name;
	unsigned conc;
	size_t n;
	size_t failed;
	double secs;
	double rate;                   /* enrollments per second */
	double p50, p90, p99;          /* ms */
	double cpu_ms[BENCH_PROC_MAX]; /* per enrollment */
	double client_cpu_ms;          /* per enrollment: the bench itself */
	long hwm_kib[BENCH_PROC_MAX];  /* VmHWM after the run */
};

/*
 * One enrollment of series kind; thread state st comes from the series'
 * thread_new. Returns 0 on success.
 */
typedef int (*bench_enroll_fn)(void *st, size_t i);

struct bench_series {
	const char *name;
	void *(*thread_new)(void *arg); /* NULL: the thread has no state */
	void (*thread_free)(void *st);
	bench_enroll_fn enroll;
	void *arg;
};

/* world.c */
int bench_world_init(struct bench_world *w, const char *bin);
int bench_world_start_ca(struct bench_world *w, int poll);
int bench_world_start_cmpd(struct bench_world *w);
int bench_world_stop_cmpd(struct bench_world *w);
int bench_world_fini(struct bench_world *w, int keep);
int bench_run_quiet(const char *const *argv);
double bench_now(void);

/* proc.c: /proc readings. Each returns -1 (or 0) for a gone process. */
void bench_cpu_read(const struct bench_world *w, struct bench_cpu *c);
long bench_proc_status(pid_t pid, const char *field);
uint64_t bench_proc_ticks(pid_t pid);
void bench_hwm_reset(const struct bench_world *w);

/* run.c: N enrollments at a concurrency, with the world's figures. */
int bench_run(const struct bench_world *w, const struct bench_series *s,
    size_t n, unsigned conc, struct bench_result *r);

/* cmpd.c, ossl.c, cli.c: the three kinds of enrollment. */
enum bench_wait {
	BENCH_WAIT_NONE,    /* return once cmpd has the job */
	BENCH_WAIT_DONE,    /* until it is done (or failed) */
	BENCH_WAIT_WAITING, /* until it waits for the CA */
};
int bench_cmpd_enroll_profile(
    cmpd_client *c, const char *profile, enum bench_wait wait);
void *bench_cmpd_client(const struct bench_world *w);
EVP_PKEY *bench_key_new(const char *type);
struct bench_ossl;
struct bench_cli;
void bench_cmpd_series(const struct bench_world *w, struct bench_series *s);
int bench_ossl_new(
    const struct bench_world *w, int pregen, size_t n, struct bench_ossl **out);
void bench_ossl_free(struct bench_ossl *o);
void bench_ossl_series(struct bench_ossl *o, struct bench_series *s);
int bench_cli_new(
    const struct bench_world *w, size_t n, struct bench_cli **out);
void bench_cli_free(struct bench_cli *c);
void bench_cli_series(struct bench_cli *c, struct bench_series *s);

/* scale.c: the --scale mode. */
int bench_scale(
    struct bench_world *w, size_t waiting, size_t tracked, unsigned conc);
