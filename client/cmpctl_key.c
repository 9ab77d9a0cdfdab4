/*
 * cmpctl key import | list: the keys in cmpd's key store.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "cmpctl.h"

#define PASS_MAX 1024

/*
 * The first line of file (without its line end), into pass. The caller
 * wipes pass. Returns 0 or an exit code.
 */
static int
pass_read(struct cmpctl *ctl, const char *file, char pass[PASS_MAX + 2])
{
	char msg[1024];
	size_t got = 0;
	ssize_t n = 0;
	int fd;

	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0)
		goto fail;
	while (got < PASS_MAX + 1 &&
	    ((n = read(fd, pass + got, PASS_MAX + 1 - got)) > 0 ||
	        (n < 0 && errno == EINTR)))
		if (n > 0)
			got += (size_t)n;
	if (n < 0) {
		close(fd);
		goto fail;
	}
	close(fd);
	pass[got] = '\0';
	pass[strcspn(pass, "\r\n")] = '\0';
	if (strlen(pass) >= PASS_MAX)
		return cmpctl_usage(ctl, "key",
		    "the passphrase in %s is over "
		    "%d bytes",
		    file, PASS_MAX - 1);
	return 0;
fail:
	snprintf(msg, sizeof(msg), "cannot read %s: %s", file, strerror(errno));
	return cmpctl_fail(ctl,
	    errno == ENOENT       ? CMPD_RESULT_NOT_FOUND
	        : errno == EACCES ? CMPD_RESULT_DENIED
	                          : CMPD_RESULT_IO,
	    msg);
}

static const struct option import_longopts[] = {
	{ "passphrase-file", required_argument, NULL, 'P' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int
key_import_parse(
    struct cmpctl *ctl, int argc, char **argv, const char **pass_file)
{
	int c;

	while (
	    (c = getopt_long(argc, argv, "P:h", import_longopts, NULL)) != -1) {
		if (c == 'P') {
			*pass_file = optarg;
		} else if (c == 'h') {
			cmpctl_help_cmd(stdout, cmpctl_cmd_find("key"));
			return -1;
		} else {
			return cmpctl_usage(ctl, "key",
			    "unknown option or missing argument: %s",
			    argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return cmpctl_usage(ctl, "key", "give one key file");
	return 0;
}

static int
key_import(struct cmpctl *ctl, int argc, char **argv)
{
	char pass[PASS_MAX + 2];
	const char *pass_file = NULL;
	cmpd_key_info *key = NULL;
	cmpd_result r;
	int rv;

	if ((rv = key_import_parse(ctl, argc, argv, &pass_file)) != 0)
		return rv < 0 ? CMPCTL_EXIT_OK : rv;
	if (pass_file != NULL && (rv = pass_read(ctl, pass_file, pass)) != 0)
		goto out;
	if ((rv = cmpctl_connect(ctl)) != 0)
		goto out;
	r = cmpd_key_import_file(
	    ctl->client, argv[optind], pass_file != NULL ? pass : NULL, &key);
	if (r != CMPD_RESULT_OK) {
		rv = cmpctl_fail(ctl, r, cmpd_client_last_error(ctl->client));
		goto out;
	}
	if (ctl->json)
		jsonout_print(jsonout_key(key));
	else
		show_key(stdout, key);
	cmpd_key_info_free(key);
out:
	explicit_bzero(pass, sizeof(pass));
	return rv;
}

static int
key_list(struct cmpctl *ctl, int argc, char **argv)
{
	cmpd_key_array *keys = NULL;
	cmpd_result r;
	int rv;

	if (argc == 2 &&
	    (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		cmpctl_help_cmd(stdout, cmpctl_cmd_find("key"));
		return CMPCTL_EXIT_OK;
	}
	if (argc > 1)
		return cmpctl_usage(
		    ctl, "key", "unexpected argument '%s'", argv[1]);
	if ((rv = cmpctl_connect(ctl)) != 0)
		return rv;
	r = cmpd_key_list(ctl->client, &keys);
	if (r != CMPD_RESULT_OK)
		return cmpctl_fail(ctl, r, cmpd_client_last_error(ctl->client));
	if (ctl->json)
		jsonout_print(jsonout_keys(keys));
	else
		show_keys(stdout, keys);
	cmpd_key_array_free(keys);
	return CMPCTL_EXIT_OK;
}

int
cmpctl_key(struct cmpctl *ctl, int argc, char **argv)
{
	if (argc >= 2 &&
	    (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		cmpctl_help_cmd(stdout, cmpctl_cmd_find("key"));
		return CMPCTL_EXIT_OK;
	}
	if (argc < 2)
		return cmpctl_usage(ctl, "key", "key needs import or list");
	/* The subcommand parses from its own name on, like a command. */
	if (strcmp(argv[1], "import") == 0)
		return key_import(ctl, argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return key_list(ctl, argc - 1, argv + 1);
	return cmpctl_usage(ctl, "key", "unknown key command '%s'", argv[1]);
}
