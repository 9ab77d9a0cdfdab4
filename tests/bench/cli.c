/*
 * What a script would run today: one `openssl cmp -cmd ir` process per
 * enrollment, same CA, same supplier certificate and key. The new keys
 * are written before the clock runs (one file each), so the series
 * measures `openssl cmp` alone and not `openssl genpkey` too.
 */
#include <fcntl.h>
#include <openssl/pem.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

extern char **environ;

struct bench_cli {
	const struct bench_world *w;
	char dir[400];
	char cert[400], key[400], root[400];
};

static int
key_file_write(const char *path, const char *type)
{
	EVP_PKEY *pkey = bench_key_new(type);
	FILE *f = fopen(path, "w");
	int ok = pkey != NULL && f != NULL &&
	    PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL);

	if (f != NULL && fclose(f) != 0)
		ok = 0;
	EVP_PKEY_free(pkey);
	return ok ? 0 : -1;
}

int
bench_cli_new(const struct bench_world *w, size_t n, struct bench_cli **out)
{
	static unsigned serial;
	struct bench_cli *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return -1;
	c->w = w;
	snprintf(c->dir, sizeof(c->dir), "%s/cli%u", w->dir, serial++);
	snprintf(c->cert, sizeof(c->cert), "%s/supplier.pem", w->pki);
	snprintf(c->key, sizeof(c->key), "%s/supplier.key", w->pki);
	snprintf(c->root, sizeof(c->root), "%s/root.pem", w->pki);
	if (mkdir(c->dir, 0700) != 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		char path[512];

		snprintf(path, sizeof(path), "%s/new%zu.key", c->dir, i);
		if (key_file_write(path, w->key_type) != 0)
			goto fail;
	}
	*out = c;
	return 0;
fail:
	fprintf(stderr, "cmpd-bench: cannot prepare the CLI's keys in %s\n",
	    c->dir);
	free(c);
	return -1;
}

void
bench_cli_free(struct bench_cli *c)
{
	free(c);
}

static int
cli_enroll(void *st, size_t i)
{
	struct bench_cli *c = st;
	char newkey[512], out[512];
	const char *argv[] = { "openssl", "cmp", "-server", c->w->url, "-cmd",
		"ir", "-cert", c->cert, "-key", c->key, "-trusted", c->root,
		"-out_trusted", c->root, "-newkey", newkey, "-subject",
		"/CN=bench.example", "-certout", out, NULL };
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st_, rv;

	snprintf(newkey, sizeof(newkey), "%s/new%zu.key", c->dir, i);
	snprintf(out, sizeof(out), "%s/new%zu.pem", c->dir, i);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(
	    &fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(
	    &fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
	rv = posix_spawnp(
	    &pid, "openssl", &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rv != 0 || waitpid(pid, &st_, 0) != pid || !WIFEXITED(st_) ||
	    WEXITSTATUS(st_) != 0) {
		fprintf(
		    stderr, "cmpd-bench: openssl cmp failed for %s\n", newkey);
		return -1;
	}
	return 0;
}

void
bench_cli_series(struct bench_cli *c, struct bench_series *s)
{
	*s = (struct bench_series){
		.name = "openssl-cli", .enroll = cli_enroll, .arg = c
	};
}
