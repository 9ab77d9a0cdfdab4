#include "jail.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

#define JAIL_GROUPS_MAX 8

cmpd_err
cmpd_jail_user_find(const char *name, struct cmpd_jail_user *out)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int rv;

	rv = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
	if (res == NULL) {
		log_err("user %s does not exist%s%s (create it, or change "
		        "the configuration)",
		    name, rv != 0 ? ": " : "", rv != 0 ? strerror(rv) : "");
		return CMPD_ENOENT;
	}
	if (pw.pw_uid == 0) {
		log_err(
		    "user %s is root: a worker must run as its own user", name);
		return CMPD_EINVAL;
	}
	out->uid = pw.pw_uid;
	out->gid = pw.pw_gid;
	snprintf(out->name, sizeof(out->name), "%s", name);
	return CMPD_OK;
}

const char *
cmpd_jail_ipc_path(const char *url)
{
	if (url == NULL || strncmp(url, "ipc://", 6) != 0 || url[6] == '\0')
		return NULL;
	return url + 6;
}

/*
 * A namespace with no interface but a loopback that is down: no address
 * can be reached. Path sockets still connect across namespaces.
 */
static cmpd_err
jail_netns(const struct cmpd_jail *j, int *left)
{
	*left = 0;
	if (!j->new_netns)
		return CMPD_OK;
	if (geteuid() != 0) {
		log_info("not root: no network namespace; the filter refuses "
		         "every socket but AF_UNIX");
		return CMPD_OK;
	}
	if (unshare(CLONE_NEWNET) != 0) {
		log_err(
		    "cannot leave the network (unshare): %s", strerror(errno));
		return CMPD_EPERM;
	}
	*left = 1;
	return CMPD_OK;
}

/* After the switch, getting root back must fail; check as OpenSSH does. */
static cmpd_err
jail_user_check(const struct cmpd_jail_user *u)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;

	if (setuid(0) != -1 || seteuid(0) != -1 || setgid(0) != -1 ||
	    setegid(0) != -1) {
		log_err("regained root after switching to %s", u->name);
		return CMPD_EPERM;
	}
	if (getresuid(&r, &e, &s) != 0 || getresgid(&rg, &eg, &sg) != 0 ||
	    r != u->uid || e != u->uid || s != u->uid || rg != u->gid ||
	    eg != u->gid || sg != u->gid) {
		log_err("the switch to user %s did not take", u->name);
		return CMPD_EPERM;
	}
	return CMPD_OK;
}

static cmpd_err
jail_user(const struct cmpd_jail *j)
{
	const struct cmpd_jail_user *u = j->user;
	gid_t groups[JAIL_GROUPS_MAX];
	size_t n = 0;

	if (u == NULL && j->n_extra_gids > 0 && geteuid() == 0 &&
	    setgroups(j->n_extra_gids, j->extra_gids) != 0) {
		log_err("cannot join the extra groups: %s", strerror(errno));
		return CMPD_EPERM;
	}
	if (u == NULL)
		return CMPD_OK;
	if (geteuid() != 0) {
		if (getuid() == u->uid && geteuid() == u->uid)
			return CMPD_OK;
		log_err("cannot become user %s: not started as root", u->name);
		return CMPD_EPERM;
	}
	if (j->n_extra_gids + 1 > JAIL_GROUPS_MAX)
		return CMPD_EINVAL;
	groups[n++] = u->gid;
	for (size_t i = 0; i < j->n_extra_gids; i++)
		groups[n++] = j->extra_gids[i];
	if (setgroups(n, groups) != 0 ||
	    setresgid(u->gid, u->gid, u->gid) != 0 ||
	    setresuid(u->uid, u->uid, u->uid) != 0) {
		log_err(
		    "cannot switch to user %s: %s", u->name, strerror(errno));
		return CMPD_EPERM;
	}
	return jail_user_check(u);
}

/*
 * The bounding set first, while CAP_SETPCAP is still ours (before the
 * user switch), so that no capability can come back. Without CAP_SETPCAP
 * it cannot change, but then there was nothing to give up.
 */
static void
jail_bounding(void)
{
	for (int cap = 0; cap <= 63; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EPERM)
			break; /* EINVAL: past the kernel's last capability */
}

/* No capabilities, also for a worker that stays uid 0. */
static cmpd_err
jail_caps(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3,
		0 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) != 0) {
		log_err("cannot drop capabilities: %s", strerror(errno));
		return CMPD_EPERM;
	}
	return CMPD_OK;
}

/*
 * A process that is not dumpable cannot be read through /proc or ptrace
 * by its own user. LeakSanitizer's exit check must read the process's
 * own /proc/PID/task, which a worker without capabilities then cannot:
 * sanitizer builds (tests only) stay dumpable, with no core file still.
 */
static int
jail_undumpable(void)
{
#ifdef CMPD_SANITIZE
	return 0;
#else
	return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
}

cmpd_err
cmpd_parent_follow(pid_t parent, int sig)
{
	if (parent == 0)
		parent = getppid();
	if (prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0 || getppid() != parent) {
		log_err("the broker (pid %d) is gone or cannot be followed: "
		        "exiting",
		    (int)parent);
		return CMPD_EUNAVAIL;
	}
	return CMPD_OK;
}

int
cmpd_parent_parse(const char *text, pid_t *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || v <= 0 || v > INT_MAX)
		return -1;
	*out = (pid_t)v;
	return 0;
}

/* No core file and no ptrace by the same user: memory holds keys. */
static cmpd_err
jail_limits(const struct cmpd_jail *j, pid_t parent)
{
	struct rlimit none = { 0, 0 };

	if (j->parent_death_signal != 0 &&
	    cmpd_parent_follow(parent, j->parent_death_signal) != CMPD_OK)
		return CMPD_EUNAVAIL;

	if (setrlimit(RLIMIT_CORE, &none) != 0 || jail_undumpable() != 0) {
		log_err("cannot disable core dumps: %s", strerror(errno));
		return CMPD_EPERM;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
		log_err("cannot set no_new_privs: %s", strerror(errno));
		return CMPD_EPERM;
	}
	return CMPD_OK;
}

static uint32_t
jail_action(enum cmpd_jail_act act)
{
	switch (act) {
	case CMPD_JAIL_ALLOW:
		return SCMP_ACT_ALLOW;
	case CMPD_JAIL_EACCES:
		return SCMP_ACT_ERRNO(EACCES);
	case CMPD_JAIL_EPERM:
		return SCMP_ACT_ERRNO(EPERM);
	case CMPD_JAIL_ENOSYS:
		return SCMP_ACT_ERRNO(ENOSYS);
	default:
		abort();
	}
}

static cmpd_err
jail_rule_add(scmp_filter_ctx ctx, const struct cmpd_jail_group *g,
    const struct cmpd_jail_rule *r)
{
	struct scmp_arg_cmp args[3];
	unsigned n = r->n_args;
	char *name;
	int rv;

	memcpy(args, r->args, sizeof(r->args));
	if (r->self_a0)
		args[n++] = (struct scmp_arg_cmp)CMPD_JAIL_ARG(
		    0, SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0);
	rv = seccomp_rule_add_array(ctx, jail_action(r->act), r->nr, n, args);
	if (rv == 0)
		return CMPD_OK;
	name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, r->nr);
	log_err("seccomp: cannot add %s (%s): %s", name ? name : "?", g->why,
	    strerror(-rv));
	free(name);
	return CMPD_EINTERNAL;
}

static cmpd_err
jail_filter_build(scmp_filter_ctx ctx, const struct cmpd_jail_policy *p)
{
	for (const struct cmpd_jail_group *const *g = p->groups; *g != NULL;
	     g++)
		for (size_t i = 0; i < (*g)->n_rules; i++)
			if (jail_rule_add(ctx, *g, &(*g)->rules[i]) != CMPD_OK)
				return CMPD_EINTERNAL;
	return CMPD_OK;
}

cmpd_err
cmpd_jail_filter_load(const struct cmpd_jail_policy *policy)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	cmpd_err rv = CMPD_EINTERNAL;
	int srv;

	if (ctx == NULL) {
		log_err("seccomp: cannot start a filter");
		return CMPD_ENOMEM;
	}
	if (seccomp_attr_set(
	        ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) != 0 ||
	    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) != 0) {
		log_err("seccomp: cannot set the filter's attributes");
		goto out;
	}
	if (jail_filter_build(ctx, policy) != CMPD_OK)
		goto out;
	if ((srv = seccomp_load(ctx)) != 0) {
		log_err("seccomp: cannot load the %s filter: %s", policy->name,
		    strerror(-srv));
		goto out;
	}
	rv = CMPD_OK;
out:
	seccomp_release(ctx);
	return rv;
}

cmpd_err
cmpd_jail_enter(const struct cmpd_jail *j)
{
	pid_t parent = j->parent != 0 ? j->parent : getppid();
	cmpd_err rv;
	int netns;

	if ((rv = jail_netns(j, &netns)) == CMPD_OK)
		jail_bounding();
	if (rv != CMPD_OK || (rv = jail_user(j)) != CMPD_OK ||
	    (rv = jail_caps()) != CMPD_OK ||
	    (rv = jail_limits(j, parent)) != CMPD_OK ||
	    (rv = cmpd_jail_filter_load(j->policy)) != CMPD_OK) {
		log_err("cannot install the %s jail: refusing to run",
		    j->policy->name);
		return rv;
	}
	log_info("jailed: uid %u, gid %u, %s network, seccomp %s", getuid(),
	    getgid(), netns ? "no" : "the host's", j->policy->name);
	return CMPD_OK;
}
