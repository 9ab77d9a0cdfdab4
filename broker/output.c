#include "output.h"

#include <fcntl.h>
#include <libgen.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "x509fast.h"

/* Appends the PEM form of each DER certificate to b: the DER as it came,
 * once it reads as a certificate. */
static int
pem_append(BIO *b, const ProtobufCBinaryData *der, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		X509 *x = cmpd_x509_fields(der[i].data, der[i].len);
		int ok = x != NULL &&
		    PEM_write_bio(b, PEM_STRING_X509, "", der[i].data,
		        (long)der[i].len) > 0;

		X509_free(x);
		if (!ok)
			return 0;
	}
	return 1;
}

/*
 * Whether path already holds data with pr's mode and owner. A chain file
 * mostly does: the CA's chain changes seldom, and not rewriting it saves
 * a file, two flushes and a rename per enrollment.
 */
static int
file_holds(
    const struct profile *pr, const char *path, const char *data, size_t len)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	char *have = NULL;
	struct stat st;
	int same = 0;

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (size_t)st.st_size == len &&
	    (st.st_mode & 07777) == (mode_t)pr->file_mode &&
	    st.st_uid ==
	        (pr->file_uid == (uid_t)-1 ? geteuid() : pr->file_uid) &&
	    (pr->file_gid == (gid_t)-1 || st.st_gid == pr->file_gid) &&
	    (have = malloc(len + 1)) != NULL)
		same = read(fd, have, len + 1) == (ssize_t)len &&
		    memcmp(have, data, len) == 0;
	free(have);
	close(fd);
	return same;
}

/* Writes the PEM of n certificates to path with pr's mode and owner. */
static cmpd_err
write_pem(const struct profile *pr, const char *path,
    const ProtobufCBinaryData *der, size_t n)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *dir = strdup(path), *data;
	long len;
	cmpd_err rv = CMPD_ENOMEM;

	if (b == NULL || dir == NULL)
		goto out;
	if (!pem_append(b, der, n)) {
		rv = CMPD_EBADCERT;
		goto out;
	}
	len = BIO_get_mem_data(b, &data);
	if (file_holds(pr, path, data, (size_t)len)) {
		rv = CMPD_OK;
		goto out;
	}
	if ((rv = cmpd_dir_ensure(dirname(dir), 0755)) == CMPD_OK)
		rv = cmpd_file_write_atomic(path, data, (size_t)len,
		    pr->file_mode, pr->file_uid, pr->file_gid);
out:
	free(dir);
	BIO_free(b);
	return rv;
}

cmpd_err
output_write(const struct profile *pr, const Cmpd__Job *job)
{
	cmpd_err rv;

	rv = write_pem(pr, pr->cert_file, &job->cert, 1);
	if (rv == CMPD_OK && job->n_chain > 0)
		rv = write_pem(pr, pr->chain_file, job->chain, job->n_chain);
	if (rv != CMPD_OK)
		log_err("job %s: cannot write the certificate files of "
		        "profile %s",
		    job->id, pr->name);
	return rv;
}

/* A certificate file holds one certificate: a few kilobytes. */
#define OUTPUT_FILE_MAX (1u << 20)

enum output_state
output_state(const struct profile *pr, const ProtobufCBinaryData *cert)
{
	enum output_state st = OUTPUT_UNKNOWN;
	BIO *b = BIO_new(BIO_s_mem());
	uint8_t *have = NULL;
	size_t have_len = 0;
	char *want;
	long len;
	cmpd_err rv;

	if (b == NULL || !pem_append(b, cert, 1))
		goto out;
	len = BIO_get_mem_data(b, &want);
	rv =
	    cmpd_file_read(pr->cert_file, OUTPUT_FILE_MAX, 0, &have, &have_len);
	if (rv == CMPD_ENOENT)
		st = OUTPUT_MISSING;
	else if (rv == CMPD_OK)
		st =
		    have_len == (size_t)len && memcmp(have, want, have_len) == 0
		    ? OUTPUT_OURS
		    : OUTPUT_FOREIGN;
	cmpd_file_free(have, have_len);
out:
	BIO_free(b);
	return st;
}

cmpd_err
output_restore(const struct profile *pr, const Cmpd__CertRecord *c)
{
	cmpd_err rv = write_pem(pr, pr->cert_file, &c->cert, 1);

	if (rv == CMPD_OK && c->n_chain > 0)
		rv = write_pem(pr, pr->chain_file, c->chain, c->n_chain);
	return rv;
}
