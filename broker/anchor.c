#include "anchor.h"

#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "confval.h"
#include "fileio.h"
#include "log.h"

static struct profile *
profile_find(struct broker *b, const char *name)
{
	for (size_t i = 0; i < b->cfg->n_profiles; i++)
		if (strcmp(b->cfg->profiles[i].name, name) == 0)
			return &b->cfg->profiles[i];
	return NULL;
}

static int
certs_has(const struct cert_list *l, const ProtobufCBinaryData *der)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->der[i].len == der->len &&
		    memcmp(l->der[i].data, der->data, der->len) == 0)
			return 1;
	return 0;
}

/* Trusts x for profile pr: for its CA's messages and new certificates. */
static cmpd_err
profile_trust(struct profile *pr, X509 *x)
{
	if (!certs_add(&pr->trusted, x) || !certs_add(&pr->enroll_trusted, x))
		return CMPD_ENOMEM;
	return CMPD_OK;
}

static char *
anchor_path(const struct broker *b, const char *profile)
{
	char *path = NULL;

	if (asprintf(&path, "%s/anchors/%s.pem", b->cfg->state_dir, profile) <
	    0)
		return NULL;
	return path;
}

cmpd_err
anchor_load(struct broker *b)
{
	for (size_t i = 0; i < b->cfg->n_profiles; i++) {
		struct profile *pr = &b->cfg->profiles[i];
		char *path = anchor_path(b, pr->name);
		FILE *f = path != NULL ? fopen(path, "r") : NULL;
		X509 *x;

		while (f != NULL &&
		    (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
			cmpd_err rv = profile_trust(pr, x);

			X509_free(x);
			if (rv != CMPD_OK) {
				fclose(f);
				free(path);
				return rv;
			}
			log_info("profile %s: trusting the root CA kept in %s",
			    pr->name, path);
		}
		if (f != NULL)
			fclose(f);
		free(path);
	}
	return CMPD_OK;
}

/* Appends der as PEM to the profile's file of kept anchors. */
static cmpd_err
anchor_save(struct broker *b, const char *profile, X509 *x)
{
	char *path = anchor_path(b, profile), *dir = NULL, *data;
	uint8_t *old = NULL;
	size_t old_len = 0;
	BIO *bio = BIO_new(BIO_s_mem());
	long len;
	cmpd_err rv = CMPD_ENOMEM;

	if (path == NULL || bio == NULL ||
	    asprintf(&dir, "%s/anchors", b->cfg->state_dir) < 0)
		goto out;
	if (cmpd_file_read(path, 1u << 20, 1, &old, &old_len) == CMPD_OK)
		BIO_write(bio, old, (int)old_len);
	if (PEM_write_bio_X509(bio, x) != 1)
		goto out;
	len = BIO_get_mem_data(bio, &data);
	if ((rv = cmpd_dir_ensure(dir, 0755)) == CMPD_OK)
		rv = cmpd_file_write_atomic(
		    path, data, (size_t)len, 0644, (uid_t)-1, (gid_t)-1);
out:
	cmpd_file_free(old, old_len);
	BIO_free(bio);
	free(dir);
	free(path);
	return rv;
}

cmpd_err
anchor_add(
    struct broker *b, const char *profile, const ProtobufCBinaryData *der)
{
	struct profile *pr = profile_find(b, profile);
	const unsigned char *p = der->data;
	X509 *x;
	cmpd_err rv;

	if (pr == NULL)
		return CMPD_ENOENT;
	if (certs_has(&pr->trusted, der))
		return CMPD_OK;
	if ((x = d2i_X509(NULL, &p, (long)der->len)) == NULL)
		return CMPD_EBADCERT;
	if ((rv = anchor_save(b, profile, x)) == CMPD_OK &&
	    (rv = profile_trust(pr, x)) == CMPD_OK)
		log_notice(
		    "profile %s: trusting a new root CA from now on", profile);
	X509_free(x);
	return rv;
}
