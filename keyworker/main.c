/*
 * cmpd-keyworker: holds every private key of cmpd. It generates, imports
 * and stores keys for the broker, and signs for the networker only what a
 * grant of the broker allows. No message ever returns a private key.
 *
 *   cmpd-keyworker --keystore DIR --broker URL --signer URL [--log-level L]
 *                  [--pool "TYPE:COUNT ..."] [--user NAME]
 *                  [--signer-user NAME]
 *
 * Started as root with --user, it becomes that user; --signer-user names
 * the networker's user, whose group may then connect to the signer socket.
 * Either may be empty ("": stay as is).
 *
 * Exit status: 0 after SIGTERM/SIGINT or when the broker's link goes; 1 if
 * it cannot start; 2 on a bad command line; 3 when the broker broke the
 * protocol (the broker restarts it).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fileio.h"
#include "jail.h"
#include "kw.h"
#include "log.h"

/*
 * OpenSSL's secure heap: private key numbers live here, in pages that are
 * locked (MLOCK_ONFAULT), left out of core dumps and wiped on free. A grant
 * holds at most two keys; a loaded RSA-4096 key takes about 1.8 KiB of it
 * (measured), so 4 MiB holds some two thousand.
 */
#define KW_SECURE_HEAP     (4u << 20)
#define KW_SECURE_HEAP_MIN 16

struct kw_args {
	const char *keystore;
	const char *broker;
	const char *signer;
	const char *pool;        /* the key pool, e.g. "rsa2048:2 ec-p256:4" */
	const char *user;        /* NULL: stay as is */
	const char *signer_user; /* NULL: the signer socket stays 0600 */
	pid_t broker_pid;        /* 0: the parent at startup */
	int log_level;
};

/* Who the keyworker becomes and who may connect to its signer socket. */
struct kw_users {
	struct cmpd_jail_user self, peer;
	int has_self, has_peer;
};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: cmpd-keyworker --keystore DIR --broker URL "
	    "--signer URL [--log-level err|warning|notice|info|"
	    "debug] [--pool \"TYPE:COUNT ...\"] [--user NAME] "
	    "[--signer-user NAME] [--broker-pid PID]\n");
}

static int
args_parse(int argc, char **argv, struct kw_args *a)
{
	static const struct option opts[] = {
		{ "keystore", required_argument, NULL, 'k' },
		{ "broker", required_argument, NULL, 'b' },
		{ "signer", required_argument, NULL, 's' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "pool", required_argument, NULL, 'p' },
		{ "user", required_argument, NULL, 'u' },
		{ "signer-user", required_argument, NULL, 'g' },
		{ "broker-pid", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*a = (struct kw_args){ .log_level = CMPD_LOG_INFO };
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'k')
			a->keystore = optarg;
		else if (c == 'b')
			a->broker = optarg;
		else if (c == 's')
			a->signer = optarg;
		else if (c == 'p')
			a->pool = optarg;
		else if (c == 'u')
			a->user = *optarg != '\0' ? optarg : NULL;
		else if (c == 'g')
			a->signer_user = *optarg != '\0' ? optarg : NULL;
		else if (c == 'P' &&
		    cmpd_parent_parse(optarg, &a->broker_pid) == 0)
			continue;
		else if (c == 'l' &&
		    (a->log_level = cmpd_log_level_parse(optarg)) >= 0)
			continue;
		else
			goto bad;
	}
	if (optind == argc && a->keystore != NULL && a->broker != NULL &&
	    a->signer != NULL)
		return 0;
bad:
	usage();
	return -1;
}

/*
 * Before any key is read: die with the broker and put key material in the
 * secure heap (the jail then turns core dumps and ptrace off).
 */
static cmpd_err
harden(pid_t broker)
{
	int rv;

	if (cmpd_parent_follow(broker, SIGTERM) != CMPD_OK)
		return CMPD_EUNAVAIL;
	signal(SIGPIPE, SIG_IGN);
	rv = CRYPTO_secure_malloc_init(KW_SECURE_HEAP, KW_SECURE_HEAP_MIN);
	if (rv == 0) {
		log_err("cannot set up OpenSSL's secure heap");
		return CMPD_ENOMEM;
	}
	if (rv == 2)
		log_warn("the secure heap could not be locked in memory "
		         "(RLIMIT_MEMLOCK?); keys may reach swap");
	/* Read openssl.cnf now, not from inside the jail. */
	if (OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1) {
		log_err("cannot initialise OpenSSL");
		return CMPD_ECRYPTO;
	}
	return CMPD_OK;
}

static cmpd_err
users_find(const struct kw_args *a, struct kw_users *u)
{
	*u = (struct kw_users){ 0 };
	if (a->user != NULL) {
		if (cmpd_jail_user_find(a->user, &u->self) != CMPD_OK)
			return CMPD_ENOENT;
		u->has_self = 1;
	}
	if (a->signer_user != NULL) {
		if (cmpd_jail_user_find(a->signer_user, &u->peer) != CMPD_OK)
			return CMPD_ENOENT;
		u->has_peer = 1;
	}
	if (u->has_self && u->has_peer && u->self.uid == u->peer.uid) {
		log_err("the networker must not run as the keyworker's user "
		        "%s",
		    u->self.name);
		return CMPD_EINVAL;
	}
	return CMPD_OK;
}

/*
 * The key store belongs to the user the keyworker becomes: the directory
 * and its regular files (a store kept by an earlier root keyworker too).
 * Links and anything else are left alone; the key store skips them.
 */
static cmpd_err
keystore_give(int dfd, const struct cmpd_jail_user *u)
{
	DIR *d = NULL;
	struct dirent *de;
	struct stat st;
	int fd = dup(dfd);

	if (fd < 0 || fchown(dfd, u->uid, u->gid) != 0 ||
	    (d = fdopendir(fd)) == NULL) {
		log_err("cannot give the key store to %s: %s", u->name,
		    strerror(errno));
		if (fd >= 0 && d == NULL)
			close(fd);
		return CMPD_EIO;
	}
	while ((de = readdir(d)) != NULL) {
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode) ||
		    (st.st_uid == u->uid && st.st_gid == u->gid))
			continue;
		if (fchownat(dfd, de->d_name, u->uid, u->gid,
		        AT_SYMLINK_NOFOLLOW) != 0)
			log_warn("key store: cannot give %s to %s: %s",
			    de->d_name, u->name, strerror(errno));
	}
	closedir(d);
	return CMPD_OK;
}

/*
 * Moves into the key store, so that it is reached as "." from the jail:
 * the keyworker's user need not pass the state directory above it (0700
 * root). When the user switches, the key store becomes the user's, and a
 * signer socket an earlier instance left is removed while we still can.
 */
static cmpd_err
keystore_enter(const struct kw_args *a, const struct kw_users *u)
{
	const char *sock = cmpd_jail_ipc_path(a->signer);
	struct stat st;
	cmpd_err rv;
	int dfd;

	if ((rv = cmpd_dir_ensure(a->keystore, 0700)) != CMPD_OK)
		return rv;
	dfd =
	    open(a->keystore, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 || fchdir(dfd) != 0) {
		log_err("cannot enter the key store %s: %s", a->keystore,
		    strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return CMPD_EIO;
	}
	rv = u->has_self && geteuid() == 0 ? keystore_give(dfd, &u->self)
	                                   : CMPD_OK;
	close(dfd);
	if (rv == CMPD_OK && u->has_self && geteuid() == 0 && sock != NULL &&
	    lstat(sock, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(sock);
	return rv;
}

/*
 * The networker's group may connect to the signer socket: nng made it
 * 0600 for us alone. The keyworker is a member of that group (the jail's
 * extra group), so it may hand the socket over without privilege.
 */
static cmpd_err
signer_share(const struct kw_args *a, const struct kw_users *u)
{
	const char *sock = cmpd_jail_ipc_path(a->signer);

	if (!u->has_peer || sock == NULL)
		return CMPD_OK;
	if (chown(sock, (uid_t)-1, u->peer.gid) != 0 ||
	    chmod(sock, 0660) != 0) {
		log_err("cannot let %s connect to %s: %s", u->peer.name, sock,
		    strerror(errno));
		return CMPD_EPERM;
	}
	return CMPD_OK;
}

static cmpd_err
jail_enter(const struct kw_users *u, pid_t broker)
{
	struct cmpd_jail j = {
		.policy = &cmpd_jail_keyworker,
		.user = u->has_self ? &u->self : NULL,
		.extra_gids = u->has_peer ? &u->peer.gid : NULL,
		.n_extra_gids = u->has_peer ? 1 : 0,
		.new_netns = 1,
		.parent_death_signal = SIGTERM,
		.parent = broker,
	};

	return cmpd_jail_enter(&j);
}

#ifdef CMPD_TEST_HOOKS
/*
 * Test builds only: SIGUSR2 makes the keyworker open an internet socket,
 * which its jail must answer by killing it.
 */
static void
test_violation_cb(int sig)
{
	(void)sig;
	syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
}

static void
test_hooks_install(void)
{
	signal(SIGUSR2, test_violation_cb);
}
#else
static void
test_hooks_install(void)
{
}
#endif

int
main(int argc, char **argv)
{
	struct kw_args args;
	struct kw_users users;
	struct kw kw;
	int status = KW_EXIT_FAIL;

	if (args_parse(argc, argv, &args) != 0)
		return KW_EXIT_USAGE;
	cmpd_log_init("cmpd-keyworker", args.log_level);
	memset(&kw, 0, sizeof(kw));
	if (harden(args.broker_pid) != CMPD_OK ||
	    users_find(&args, &users) != CMPD_OK ||
	    keystore_enter(&args, &users) != CMPD_OK)
		goto out;

	/*
	 * ---- Jail boundary ----
	 * Before any thread starts (nng's with the first socket): its own
	 * network namespace, its own user, no capabilities, no core dumps,
	 * and the allow-list. From here the keyworker serves its two sockets,
	 * reads and writes files in the key store (the working directory)
	 * and generates keys on libuv's thread pool.
	 */
	if (jail_enter(&users, args.broker_pid) != CMPD_OK)
		goto out;
	test_hooks_install();

	/* The key store: the index of the keys and the import key. */
	if (kw_init(&kw) != CMPD_OK ||
	    kw_keystore_open_named(".", args.keystore, &kw.ks) != CMPD_OK ||
	    kw_importer_open(".", &kw.imp) != CMPD_OK)
		goto out;

	/* The key pool starts filling on the thread pool at once. */
	if (args.pool != NULL &&
	    kw_pool_new(&kw.loop, args.pool, &kw.pool) != CMPD_OK)
		goto out;

	/* The broker link and the signer socket. */
	if (kw_sockets_open(&kw, args.broker, args.signer) != CMPD_OK ||
	    signer_share(&args, &users) != CMPD_OK)
		goto out;

	log_info("serving keys in %s", args.keystore);
	status = kw_serve(&kw);
out:
	kw_fini(&kw);
	CRYPTO_secure_malloc_done();
	return status;
}
