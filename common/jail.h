/*
 * The workers' jails, which each worker applies to itself (OpenSSH's
 * model): a network namespace of its own (keyworker), its own user, no
 * capabilities, no core dumps, no new privileges, and a seccomp allow-list
 * whose default action kills the process.
 *
 * Order matters and is fixed by cmpd_jail_enter: namespaces (need root),
 * then the user, then capabilities and rlimits, then no_new_privs, then the
 * filter. It must run in the main thread before anything starts a thread
 * (nng opens threads with its first socket, libuv with its first pool
 * job): unshare() and the uid switch act on the calling thread only. The
 * filter is loaded with TSYNC anyway, so a thread started too early is
 * filtered too.
 */
#pragma once

#include <seccomp.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"

/* What the filter does with a call one of its rules matches. */
enum cmpd_jail_act {
	CMPD_JAIL_ALLOW,
	CMPD_JAIL_EACCES, /* a probe libc or a library copes with */
	CMPD_JAIL_EPERM,
	CMPD_JAIL_ENOSYS, /* clone3: glibc falls back to clone */
	CMPD_JAIL_ACT_MAX
};

/* A comparison of one argument, as an initializer (not a compound). */
#define CMPD_JAIL_ARG(n, op, a, b)  \
	{                           \
		(n), (op), (a), (b) \
	}

/*
 * One rule: a system call, with up to two argument comparisons that must
 * all hold. self_a0 adds "argument 0 is our own pid" (tgkill, kill), a
 * value known only when the filter is loaded.
 */
struct cmpd_jail_rule {
	int nr; /* SCMP_SYS(name) */
	enum cmpd_jail_act act;
	unsigned n_args;
	struct scmp_arg_cmp args[2];
	int self_a0;
};

/* A group of rules and why the worker needs them. */
struct cmpd_jail_group {
	const char *why;
	const struct cmpd_jail_rule *rules;
	size_t n_rules;
};

/* A worker's allow-list: NULL-terminated groups. Anything else kills. */
struct cmpd_jail_policy {
	const char *name;
	const struct cmpd_jail_group *const *groups;
};

/* The two workers' allow-lists (jailtab.c). */
extern const struct cmpd_jail_policy cmpd_jail_keyworker;
extern const struct cmpd_jail_policy cmpd_jail_networker;

/* A user a worker becomes. */
struct cmpd_jail_user {
	uid_t uid;
	gid_t gid;
	char name[64];
};

/*
 * Looks a user up (before the jail: it reads /etc/passwd and NSS).
 * CMPD_ENOENT, logged with the name, if there is no such user.
 */
cmpd_err cmpd_jail_user_find(const char *name, struct cmpd_jail_user *out);

/* What cmpd_jail_enter sets up. */
struct cmpd_jail {
	const struct cmpd_jail_policy *policy;
	const struct cmpd_jail_user *user; /* NULL: keep the current uid */
	const gid_t *extra_gids; /* supplementary groups besides user's */
	size_t n_extra_gids;
	int new_netns; /* leave the network: a namespace with no interfaces */
	/*
	 * The signal to get when the parent dies (PR_SET_PDEATHSIG), 0: none.
	 * Changing credentials clears it, so the jail sets it again after.
	 */
	int parent_death_signal;
	pid_t parent; /* the parent to follow (cmpd_parent_follow) */
};

/*
 * Asks for sig when the parent process dies (PR_SET_PDEATHSIG) and checks
 * that the parent is still parent: the broker's pid as the broker passed
 * it (--broker-pid), or with 0 whatever process is the parent now. A
 * broker that died before this call leaves the worker a child of another
 * process, and no signal would ever come: CMPD_EUNAVAIL, logged.
 */
cmpd_err cmpd_parent_follow(pid_t parent, int sig);

/* The --broker-pid argument: a pid, or 0 (none given) for text NULL. */
int cmpd_parent_parse(const char *text, pid_t *out);

/*
 * Enters the jail: network namespace (when asked and root; otherwise the
 * filter alone keeps the worker off the network), user, no capabilities,
 * RLIMIT_CORE 0, not dumpable, no_new_privs, the filter. Every failure is
 * logged and returned; the worker must then refuse to run.
 */
cmpd_err cmpd_jail_enter(const struct cmpd_jail *j);

/*
 * Loads policy alone as a seccomp filter over every thread (TSYNC). Needs
 * no_new_privs or CAP_SYS_ADMIN. Exposed for the tests.
 */
cmpd_err cmpd_jail_filter_load(const struct cmpd_jail_policy *policy);

/* Extracts the socket path of an "ipc://PATH" URL; NULL if not one. */
const char *cmpd_jail_ipc_path(const char *url);
