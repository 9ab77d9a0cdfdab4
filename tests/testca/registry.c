#include "registry.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "util.h"

enum reg_file { REG_ISSUED, REG_REVOKED, REG_REJECTED, REG_FILE_MAX };

static const char *const reg_file_names[REG_FILE_MAX] = {
	[REG_ISSUED] = "issued.txt",
	[REG_REVOKED] = "revoked.txt",
	[REG_REJECTED] = "rejected.txt",
};

/* Files read back at start-up may be large after a benchmark. */
#define REG_FILE_MAX_BYTES (256u << 20)

struct reg_cert {
	char serial[TCA_SERIAL_HEX_MAX + 1];
	struct tca_cert_info info;
};

struct tca_registry {
	pthread_mutex_t mu;
	void *tree; /* tsearch() tree of struct reg_cert, by serial */
	int fd[REG_FILE_MAX];
};

static int
reg_cert_cmp(const void *a, const void *b)
{
	return strcmp(((const struct reg_cert *)a)->serial,
	    ((const struct reg_cert *)b)->serial);
}

static struct reg_cert *
reg_lookup(struct tca_registry *reg, const char *serial)
{
	struct reg_cert key;
	void *node;

	if (cmpd_strlcpy(key.serial, serial, sizeof(key.serial)) != 0)
		return NULL;
	node = tfind(&key, &reg->tree, reg_cert_cmp);
	return node == NULL ? NULL : *(struct reg_cert **)node;
}

/* Inserts a new record; CMPD_EEXIST if serial is known. */
static cmpd_err
reg_insert(struct tca_registry *reg, const char *serial, const char *spki)
{
	struct reg_cert *c;
	void *node;

	if (reg_lookup(reg, serial) != NULL)
		return CMPD_EEXIST;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return CMPD_ENOMEM;
	if (cmpd_strlcpy(c->serial, serial, sizeof(c->serial)) != 0 ||
	    cmpd_strlcpy(c->info.spki, spki, sizeof(c->info.spki)) != 0) {
		free(c);
		return CMPD_EINVAL;
	}
	node = tsearch(c, &reg->tree, reg_cert_cmp);
	if (node == NULL) {
		free(c);
		return CMPD_ENOMEM;
	}
	return CMPD_OK;
}

/* Appends one complete line with a single write(), under reg->mu. */
static cmpd_err
reg_append(struct tca_registry *reg, enum reg_file f, const char *line)
{
	size_t len = strlen(line);
	ssize_t n;

	do
		n = write(reg->fd[f], line, len);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)len) {
		log_err("cannot append to %s: %s", reg_file_names[f],
		    n < 0 ? strerror(errno) : "short write");
		return CMPD_EIO;
	}
	return CMPD_OK;
}

/* One line of a file read back: "serial ... last-field". */
static void
reg_load_line(struct tca_registry *reg, enum reg_file f, char *line)
{
	char *sp = strchr(line, ' ');
	char *last = strrchr(line, ' ');
	struct reg_cert *c;

	if (sp == NULL)
		return;
	*sp = '\0';
	if (f == REG_ISSUED) {
		if (reg_insert(reg, line, last + 1) != CMPD_OK)
			log_warn(
			    "issued.txt: ignoring line for serial %s", line);
		return;
	}
	c = reg_lookup(reg, line);
	if (c == NULL) {
		log_warn("%s: serial %s is not in issued.txt",
		    reg_file_names[f], line);
		return;
	}
	if (f == REG_REVOKED)
		c->info.revoked = 1;
	else
		c->info.rejected = 1;
}

static cmpd_err
reg_load(struct tca_registry *reg, const char *dir, enum reg_file f)
{
	char path[4096];
	uint8_t *buf = NULL;
	size_t len = 0;
	char *save = NULL;
	cmpd_err rv;

	snprintf(path, sizeof(path), "%s/%s", dir, reg_file_names[f]);
	rv = cmpd_file_read(path, REG_FILE_MAX_BYTES, 1, &buf, &len);
	if (rv == CMPD_ENOENT)
		return CMPD_OK;
	if (rv != CMPD_OK) {
		log_err("cannot read %s: %s", path, cmpd_strerror(rv));
		return rv;
	}
	for (char *line = strtok_r((char *)buf, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save))
		reg_load_line(reg, f, line);
	cmpd_file_free(buf, len);
	return CMPD_OK;
}

static cmpd_err
reg_open_file(struct tca_registry *reg, const char *dir, enum reg_file f)
{
	char path[4096];

	if (snprintf(path, sizeof(path), "%s/%s", dir, reg_file_names[f]) >=
	    (int)sizeof(path))
		return CMPD_EINVAL;
	reg->fd[f] =
	    open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (reg->fd[f] < 0) {
		log_err("cannot open %s: %s", path, strerror(errno));
		return CMPD_EIO;
	}
	return CMPD_OK;
}

cmpd_err
tca_registry_open(const char *dir, struct tca_registry **out)
{
	struct tca_registry *reg = calloc(1, sizeof(*reg));
	cmpd_err rv = CMPD_OK;

	if (reg == NULL)
		return CMPD_ENOMEM;
	pthread_mutex_init(&reg->mu, NULL);
	for (int f = 0; f < REG_FILE_MAX; f++)
		reg->fd[f] = -1;
	/* issued.txt first: the other two name its serials. */
	for (int f = 0; f < REG_FILE_MAX && rv == CMPD_OK; f++)
		rv = reg_load(reg, dir, (enum reg_file)f);
	for (int f = 0; f < REG_FILE_MAX && rv == CMPD_OK; f++)
		rv = reg_open_file(reg, dir, (enum reg_file)f);
	if (rv != CMPD_OK) {
		tca_registry_free(reg);
		return rv;
	}
	*out = reg;
	return CMPD_OK;
}

void
tca_registry_free(struct tca_registry *reg)
{
	if (reg == NULL)
		return;
	for (int f = 0; f < REG_FILE_MAX; f++)
		if (reg->fd[f] >= 0)
			close(reg->fd[f]);
	tdestroy(reg->tree, free);
	pthread_mutex_destroy(&reg->mu);
	free(reg);
}

cmpd_err
tca_registry_add(struct tca_registry *reg, const char *serial, const char *tid,
    const char *subject, const char *spki)
{
	char line[2048];
	cmpd_err rv;

	if (snprintf(line, sizeof(line), "%s %s %s %s\n", serial, tid, subject,
	        spki) >= (int)sizeof(line))
		return CMPD_EINVAL;
	pthread_mutex_lock(&reg->mu);
	rv = reg_insert(reg, serial, spki);
	if (rv == CMPD_OK)
		rv = reg_append(reg, REG_ISSUED, line);
	pthread_mutex_unlock(&reg->mu);
	return rv;
}

cmpd_err
tca_registry_find(
    struct tca_registry *reg, const char *serial, struct tca_cert_info *out)
{
	struct reg_cert *c;
	cmpd_err rv = CMPD_ENOENT;

	pthread_mutex_lock(&reg->mu);
	c = reg_lookup(reg, serial);
	if (c != NULL) {
		*out = c->info;
		rv = CMPD_OK;
	}
	pthread_mutex_unlock(&reg->mu);
	return rv;
}

cmpd_err
tca_registry_revoke(struct tca_registry *reg, const char *serial, int reason)
{
	char line[TCA_SERIAL_HEX_MAX + 32];
	struct reg_cert *c;
	cmpd_err rv = CMPD_ENOENT;

	snprintf(line, sizeof(line), "%s %d\n", serial, reason);
	pthread_mutex_lock(&reg->mu);
	c = reg_lookup(reg, serial);
	if (c != NULL && c->info.revoked)
		rv = CMPD_EEXIST;
	else if (c != NULL)
		rv = reg_append(reg, REG_REVOKED, line);
	if (rv == CMPD_OK)
		c->info.revoked = 1;
	pthread_mutex_unlock(&reg->mu);
	return rv;
}

cmpd_err
tca_registry_reject(
    struct tca_registry *reg, const char *serial, const char *tid)
{
	char line[TCA_SERIAL_HEX_MAX + 160];
	struct reg_cert *c;
	cmpd_err rv = CMPD_ENOENT;

	if (snprintf(line, sizeof(line), "%s %s\n", serial, tid) >=
	    (int)sizeof(line))
		return CMPD_EINVAL;
	pthread_mutex_lock(&reg->mu);
	c = reg_lookup(reg, serial);
	if (c != NULL)
		rv = reg_append(reg, REG_REJECTED, line);
	if (rv == CMPD_OK)
		c->info.rejected = 1;
	pthread_mutex_unlock(&reg->mu);
	return rv;
}
