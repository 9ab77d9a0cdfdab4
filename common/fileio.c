#include "fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static cmpd_err
write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return CMPD_EIO;
		p += n;
		len -= (size_t)n;
	}
	return CMPD_OK;
}

static cmpd_err
fsync_dir_of(const char *path)
{
	char *copy = strdup(path);
	int fd;
	cmpd_err rv = CMPD_OK;

	if (copy == NULL)
		return CMPD_ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0)
		rv = CMPD_EIO;
	if (fd >= 0)
		close(fd);
	free(copy);
	return rv;
}

cmpd_err
cmpd_file_write_atomic(const char *path, const void *buf, size_t len,
    mode_t mode, uid_t uid, gid_t gid)
{
	char tmp[4096];
	int fd = -1;
	cmpd_err rv = CMPD_EIO;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >=
	    (int)sizeof(tmp))
		return CMPD_EINVAL;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		log_err("cannot create a file beside %s: %s", path,
		    strerror(errno));
		return CMPD_EIO;
	}
	if (fchmod(fd, mode) != 0 ||
	    ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
	        fchown(fd, uid, gid) != 0)) {
		log_err(
		    "cannot set mode or owner of %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (write_all(fd, buf, len) != CMPD_OK || fsync(fd) != 0) {
		log_err("cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		log_err("cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		log_err(
		    "cannot rename %s to %s: %s", tmp, path, strerror(errno));
		goto out;
	}
	tmp[0] = '\0';
	rv = fsync_dir_of(path);
	if (rv != CMPD_OK)
		log_err("cannot flush the directory of %s: %s", path,
		    strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	if (tmp[0] != '\0')
		unlink(tmp);
	return rv;
}

cmpd_err
cmpd_file_read(
    const char *path, size_t max, int nofollow, uint8_t **out, size_t *len)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;
	int fd;
	cmpd_err rv = CMPD_EIO;

	fd = open(path, O_RDONLY | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
	if (fd < 0)
		return errno == ENOENT ? CMPD_ENOENT : CMPD_EIO;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		goto out;
	if ((uint64_t)st.st_size > max) {
		rv = CMPD_EINVAL;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		rv = CMPD_ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL;
	rv = CMPD_OK;
out:
	if (buf != NULL)
		cmpd_file_free(buf, (size_t)st.st_size);
	close(fd);
	return rv;
}

void
cmpd_file_free(uint8_t *buf, size_t len)
{
	if (buf == NULL)
		return;
	OPENSSL_cleanse(buf, len + 1);
	free(buf);
}

cmpd_err
cmpd_dir_ensure(const char *path, mode_t mode)
{
	char buf[4096];
	struct stat st;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return CMPD_EINVAL;
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			goto fail;
		*p = '/';
	}
	if (mkdir(buf, mode) != 0 && errno != EEXIST)
		goto fail;
	if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
		goto fail;
	if ((st.st_mode & 07777 & ~mode) != 0) {
		log_err("directory %s has mode %04o, wider than %04o", path,
		    (unsigned)(st.st_mode & 07777), (unsigned)mode);
		return CMPD_EPERM;
	}
	return CMPD_OK;
fail:
	log_err("cannot create directory %s: %s", path, strerror(errno));
	return CMPD_EIO;
}

void
cmpd_dir_clean_tmp(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strstr(de->d_name, ".tmp.") == NULL)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			log_notice("removed %s/%s left by an interrupted write",
			    dir, de->d_name);
	}
	closedir(d);
}
