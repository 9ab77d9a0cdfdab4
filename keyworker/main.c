/*
 * cmpd-keyworker: holds every private key of cmpd. It generates, imports
 * and stores keys for the broker, and signs for the networker only what a
 * grant of the broker allows. No message ever returns a private key.
 *
 *   cmpd-keyworker --keystore DIR --broker URL --signer URL [--log-level L]
 *
 * Exit status: 0 after SIGTERM/SIGINT or when the broker's link goes; 1 if
 * it cannot start; 2 on a bad command line; 3 when the broker broke the
 * protocol (the broker restarts it).
 */
#include <getopt.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

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
	int log_level;
};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: cmpd-keyworker --keystore DIR --broker URL "
	    "--signer URL [--log-level err|warning|notice|info|"
	    "debug]\n");
}

static int
args_parse(int argc, char **argv, struct kw_args *a)
{
	static const struct option opts[] = {
		{ "keystore", required_argument, NULL, 'k' },
		{ "broker", required_argument, NULL, 'b' },
		{ "signer", required_argument, NULL, 's' },
		{ "log-level", required_argument, NULL, 'l' },
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
 * Before any key is read: die with the broker, never dump core, let no
 * same-user process attach, and put key material in the secure heap.
 */
static cmpd_err
harden(void)
{
	pid_t parent = getppid();
	struct rlimit none = { 0, 0 };
	int rv;

	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) {
		log_err("the broker is gone or cannot be followed: exiting");
		return CMPD_EUNAVAIL;
	}
	if (prctl(PR_SET_DUMPABLE, 0) != 0 ||
	    setrlimit(RLIMIT_CORE, &none) != 0) {
		log_err("cannot disable core dumps");
		return CMPD_EIO;
	}
	signal(SIGPIPE, SIG_IGN);
	rv = CRYPTO_secure_malloc_init(KW_SECURE_HEAP, KW_SECURE_HEAP_MIN);
	if (rv == 0) {
		log_err("cannot set up OpenSSL's secure heap");
		return CMPD_ENOMEM;
	}
	if (rv == 2)
		log_warn("the secure heap could not be locked in memory "
		         "(RLIMIT_MEMLOCK?); keys may reach swap");
	return CMPD_OK;
}

int
main(int argc, char **argv)
{
	struct kw_args args;
	struct kw kw;
	int status = KW_EXIT_FAIL;

	if (args_parse(argc, argv, &args) != 0)
		return KW_EXIT_USAGE;
	cmpd_log_init("cmpd-keyworker", args.log_level);
	if (harden() != CMPD_OK)
		return KW_EXIT_FAIL;
	if (kw_init(&kw) != CMPD_OK)
		goto out;

	/* The key store: the index of the keys and the import key. */
	if (kw_keystore_open(args.keystore, &kw.ks) != CMPD_OK ||
	    kw_importer_open(args.keystore, &kw.imp) != CMPD_OK)
		goto out;

	/* The broker link and the signer socket. */
	if (kw_sockets_open(&kw, args.broker, args.signer) != CMPD_OK)
		goto out;

	/*
	 * ---- Jail boundary ----
	 * Everything is acquired. From here the keyworker opens no socket and
	 * starts no process: it serves its two sockets, reads and writes files
	 * in the key store and generates keys on libuv's thread pool. The
	 * sandbox belongs here; nng's threads already run, so it must cover
	 * every thread of the process.
	 */

	log_info("serving keys in %s", args.keystore);
	status = kw_serve(&kw);
out:
	kw_fini(&kw);
	CRYPTO_secure_malloc_done();
	return status;
}
