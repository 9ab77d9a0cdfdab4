/*
 * libFuzzer target: the broker's configuration parser (broker/config.c),
 * as cmpd reads it: from a file, with config_load. The input is the file.
 * Options that name other files (cert = PATH, mac_secret = file:PATH) read
 * them; the seed corpus points them at nothing, and a fuzzed path only
 * reads.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char conf_path[] = "/tmp/cmpd-fuzz-config.XXXXXX";
static int conf_fd = -1;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* The parser's complaints are expected: keep them out. */
	cmpd_log_init("fuzz-config", CMPD_LOG_ERR - 1);
	if ((conf_fd = mkstemp(conf_path)) < 0) {
		perror("mkstemp");
		abort();
	}
	/* Removed at once: the descriptor's /proc path stays usable. */
	unlink(conf_path);
	snprintf(conf_path, sizeof(conf_path), "/dev/fd/%d", conf_fd);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = NULL;
	char *err = NULL;
	cmpd_err rv;

	if (ftruncate(conf_fd, 0) != 0 ||
	    pwrite(conf_fd, data, size, 0) != (ssize_t)size)
		abort();
	rv = config_load(conf_path, &cfg, &err);
	/* Exactly one of a configuration and an error text. */
	if ((rv == CMPD_OK) != (cfg != NULL) || (rv != CMPD_OK && err == NULL))
		abort();
	if (cfg != NULL && cfg->socket_url == NULL)
		abort();
	config_free(cfg);
	free(err);
	return 0;
}
