/*
 * The workers' seccomp allow-lists, as data: groups of system calls, each
 * with the reason a worker needs it. A call no rule matches kills the
 * process (SIGSYS). The lists come from strace of both workers through the
 * integration tests (enroll, renew, revoke, genm, HTTP and HTTPS, DNS) and
 * from what glibc, nng 1.5, libuv 1.44 and OpenSSL 3.0 call on their own.
 */
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include "jail.h"
#include "util.h"

#define A(n, op, a)    CMPD_JAIL_ARG(n, op, a, 0)
#define AM(n, mask, v) CMPD_JAIL_ARG(n, SCMP_CMP_MASKED_EQ, mask, v)
#define ALLOW(name)                                              \
	{                                                        \
		SCMP_SYS(name), CMPD_JAIL_ALLOW, 0, { { 0 } }, 0 \
	}
#define DENY(name, act)                              \
	{                                            \
		SCMP_SYS(name), act, 0, { { 0 } }, 0 \
	}
#define ALLOW1(name, a0)                                      \
	{                                                     \
		SCMP_SYS(name), CMPD_JAIL_ALLOW, 1, { a0 }, 0 \
	}
#define RULE2(name, act, a0, a1)                      \
	{                                             \
		SCMP_SYS(name), act, 2, { a0, a1 }, 0 \
	}
#define DENY1(name, act, a0)                      \
	{                                         \
		SCMP_SYS(name), act, 1, { a0 }, 0 \
	}
#define SELF(name)                                               \
	{                                                        \
		SCMP_SYS(name), CMPD_JAIL_ALLOW, 0, { { 0 } }, 1 \
	}
#define GROUP(why, rules)                         \
	{                                         \
		why, rules, CMPD_ARRAY_LEN(rules) \
	}

/* Flags of an open that writes. */
#define OPEN_WRITES (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND)

static const struct cmpd_jail_rule memory_rules[] = {
	ALLOW(brk),
	ALLOW(munmap),
	ALLOW(mremap),
	ALLOW(madvise),
	/* The secure heap locks its pages; a grown arena may lock more. */
	ALLOW(mlock),
	ALLOW(mlock2),
	ALLOW(munlock),
	/* Never new executable memory; dlopen of an NSS module fails. */
	ALLOW1(mmap, AM(2, PROT_EXEC, 0)),
	DENY1(mmap, CMPD_JAIL_EPERM, AM(2, PROT_EXEC, PROT_EXEC)),
	ALLOW1(mprotect, AM(2, PROT_EXEC, 0)),
	DENY1(mprotect, CMPD_JAIL_EPERM, AM(2, PROT_EXEC, PROT_EXEC)),
};

#ifdef CMPD_SANITIZE
/*
 * AddressSanitizer's leak check stops the world at exit: a tracer task
 * (clone without CLONE_THREAD) attaches to every thread with ptrace after
 * making the process dumpable again. Test builds only.
 */
static const struct cmpd_jail_rule task_rules[] = {
	ALLOW(clone),
	ALLOW(ptrace),
	ALLOW(wait4),
	ALLOW(prctl),
	ALLOW(tgkill),
	ALLOW(kill),
	ALLOW(sigaltstack),
	ALLOW(sched_getaffinity),
	DENY(clone3, CMPD_JAIL_ENOSYS),
};
#else
static const struct cmpd_jail_rule task_rules[] = {
	/* Threads only: a clone that makes a process is a fork. */
	ALLOW1(clone, AM(0, CLONE_THREAD, CLONE_THREAD)),
	/* clone3's flags are out of the filter's reach; glibc falls back. */
	DENY(clone3, CMPD_JAIL_ENOSYS),
	/* nng names its threads. */
	ALLOW1(prctl, A(0, SCMP_CMP_EQ, PR_SET_NAME)),
	ALLOW1(prctl, A(0, SCMP_CMP_EQ, PR_GET_NAME)),
	/* abort() and raise() signal the process itself, nothing else. */
	SELF(tgkill),
	SELF(kill),
	ALLOW(sigaltstack),
	ALLOW(sched_getaffinity),
};
#endif

static const struct cmpd_jail_rule thread_rules[] = {
	ALLOW(futex),
	ALLOW(set_robust_list),
	ALLOW(rseq),
	ALLOW(set_tid_address),
	ALLOW(sched_yield),
	ALLOW(exit),
	ALLOW(exit_group),
	ALLOW(rt_sigaction),
	ALLOW(rt_sigprocmask),
	ALLOW(rt_sigreturn),
};

static const struct cmpd_jail_rule loop_rules[] = {
	ALLOW(epoll_create1),
	ALLOW(epoll_ctl),
	ALLOW(epoll_wait),
	ALLOW(epoll_pwait),
	ALLOW(eventfd2),
	ALLOW(pipe2),
	ALLOW(poll),
	ALLOW(ppoll),
	ALLOW(select),
	ALLOW(pselect6),
	ALLOW(read),
	ALLOW(readv),
	ALLOW(pread64),
	ALLOW(write),
	ALLOW(writev),
	ALLOW(close),
	ALLOW(lseek),
	ALLOW(fcntl),
	ALLOW1(ioctl, A(1, SCMP_CMP_EQ, FIONBIO)),
	ALLOW1(ioctl, A(1, SCMP_CMP_EQ, FIOCLEX)),
	ALLOW1(ioctl, A(1, SCMP_CMP_EQ, FIONCLEX)),
	/* isatty() on the log. */
	DENY1(ioctl, CMPD_JAIL_EPERM, A(1, SCMP_CMP_EQ, TCGETS)),
};

static const struct cmpd_jail_rule info_rules[] = {
	ALLOW(clock_gettime),
	ALLOW(clock_getres),
	ALLOW(clock_nanosleep),
	ALLOW(nanosleep),
	/* The kernel's own restart of a sleep a stop or a tracer broke. */
	ALLOW(restart_syscall),
	ALLOW(gettimeofday),
	ALLOW(getpid),
	ALLOW(gettid),
	ALLOW(getppid),
	ALLOW(getuid),
	ALLOW(geteuid),
	ALLOW(getgid),
	ALLOW(getegid),
	ALLOW(getresuid),
	ALLOW(getresgid),
	ALLOW(getrandom),
	ALLOW(uname),
	/* sysconf(_SC_PHYS_PAGES) in the TLS code. */
	ALLOW(sysinfo),
	ALLOW(getrlimit),
	/* Reading a limit (libuv's thread stacks), never setting one. */
	ALLOW1(prlimit64, A(2, SCMP_CMP_EQ, 0)),
	ALLOW(newfstatat),
	ALLOW(fstat),
	ALLOW(statx),
	ALLOW(getdents64),
	/* Probes that may fail cleanly. */
	DENY(access, CMPD_JAIL_EACCES),
	DENY(faccessat, CMPD_JAIL_EACCES),
	DENY(faccessat2, CMPD_JAIL_EACCES),
	DENY(readlink, CMPD_JAIL_EACCES),
#ifdef CMPD_SANITIZE
	/* LeakSanitizer lists /proc/PID/task with open(2) and getdents(2). */
	ALLOW(open),
	ALLOW(getdents),
#else
	DENY(open, CMPD_JAIL_EACCES),
#endif
	DENY(creat, CMPD_JAIL_EACCES),
	DENY(openat2, CMPD_JAIL_ENOSYS),
};

/* The IPC: nng's ipc transport on path sockets. */
static const struct cmpd_jail_rule ipc_rules[] = {
	ALLOW1(socket, A(0, SCMP_CMP_EQ, AF_UNIX)),
	ALLOW(connect),
	ALLOW(accept),
	ALLOW(accept4),
	ALLOW(bind),
	ALLOW(listen),
	ALLOW(getsockopt),
	ALLOW(setsockopt),
	ALLOW(getsockname),
	ALLOW(getpeername),
	ALLOW(sendmsg),
	ALLOW(recvmsg),
	ALLOW(sendto),
	ALLOW(recvfrom),
	ALLOW(shutdown),
};

/*
 * The key store: key files are written to a temporary name, synced and
 * renamed; nng makes the signer socket and sets its mode, and the
 * keyworker gives it to the networker's group.
 */
static const struct cmpd_jail_rule keystore_rules[] = {
	DENY1(openat, CMPD_JAIL_EACCES, AM(2, O_TRUNC, O_TRUNC)),
	DENY1(openat, CMPD_JAIL_EACCES, AM(2, O_APPEND, O_APPEND)),
	ALLOW1(openat, AM(2, O_TRUNC | O_APPEND, 0)),
	ALLOW(mkdir),
	ALLOW(mkdirat),
	ALLOW(rename),
	ALLOW(renameat),
	ALLOW(renameat2),
	ALLOW(unlink),
	ALLOW(unlinkat),
	ALLOW(fsync),
	ALLOW(fdatasync),
	ALLOW(fchmod),
	ALLOW(chmod),
	ALLOW(fchmodat),
	ALLOW(fchown),
	ALLOW(chown),
	ALLOW(fchownat),
};

/*
 * Reading only: /etc/resolv.conf, /etc/hosts and nsswitch for
 * getaddrinfo, OpenSSL's configuration. A write is refused (and nng's
 * thread naming through /proc/self/task/N/comm fails harmlessly).
 */
static const struct cmpd_jail_rule readonly_rules[] = {
	ALLOW1(openat, AM(2, OPEN_WRITES, 0)),
	DENY1(openat, CMPD_JAIL_EACCES, AM(2, O_WRONLY, O_WRONLY)),
	DENY1(openat, CMPD_JAIL_EACCES, AM(2, O_RDWR, O_RDWR)),
	DENY1(openat, CMPD_JAIL_EACCES, AM(2, O_CREAT, O_CREAT)),
	DENY1(openat, CMPD_JAIL_EACCES, AM(2, O_TRUNC, O_TRUNC)),
	DENY1(openat, CMPD_JAIL_EACCES, AM(2, O_APPEND, O_APPEND)),
};

/*
 * The CA over TCP (IPv4, IPv6), DNS over UDP (glibc sends the A and AAAA
 * queries with one sendmmsg), and the routing netlink getaddrinfo reads
 * for AI_ADDRCONFIG.
 */
static const struct cmpd_jail_rule net_rules[] = {
	ALLOW1(socket, A(0, SCMP_CMP_EQ, AF_INET)),
	ALLOW1(socket, A(0, SCMP_CMP_EQ, AF_INET6)),
	RULE2(socket, CMPD_JAIL_ALLOW, A(0, SCMP_CMP_EQ, AF_NETLINK),
	    A(2, SCMP_CMP_EQ, NETLINK_ROUTE)),
	ALLOW(sendmmsg),
	ALLOW(recvmmsg),
};

static const struct cmpd_jail_group memory =
    GROUP("memory: the allocators, the secure heap; no executable pages",
        memory_rules);
static const struct cmpd_jail_group tasks = GROUP(
    "tasks: threads but no processes, signals to ourselves only", task_rules);
static const struct cmpd_jail_group threads = GROUP(
    "threads: nng's and libuv's threads, locks, signal handlers", thread_rules);
static const struct cmpd_jail_group loop =
    GROUP("event loop: libuv's epoll, nng's pipes, the log", loop_rules);
static const struct cmpd_jail_group info =
    GROUP("clocks, ids, randomness, file status", info_rules);
static const struct cmpd_jail_group ipc =
    GROUP("ipc: path sockets to the broker and the signer", ipc_rules);
static const struct cmpd_jail_group keystore =
    GROUP("key store: atomic writes of key files", keystore_rules);
static const struct cmpd_jail_group readonly =
    GROUP("files: read only (DNS, OpenSSL configuration)", readonly_rules);
static const struct cmpd_jail_group net =
    GROUP("network: the CA over TCP, DNS over UDP", net_rules);

static const struct cmpd_jail_group *const keyworker_groups[] = { &memory,
	&tasks, &threads, &loop, &info, &ipc, &keystore, NULL };

static const struct cmpd_jail_group *const networker_groups[] = { &memory,
	&tasks, &threads, &loop, &info, &ipc, &readonly, &net, NULL };

const struct cmpd_jail_policy cmpd_jail_keyworker = { "keyworker",
	keyworker_groups };

const struct cmpd_jail_policy cmpd_jail_networker = { "networker",
	networker_groups };
