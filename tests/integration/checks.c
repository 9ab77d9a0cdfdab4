#include "checks.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

char *
check_read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	long len;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = calloc(1, len + 1)) != NULL &&
	    fread(buf, 1, (size_t)len, f) != (size_t)len) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static X509 *
job_cert(const cmpd_job *job)
{
	size_t len = 0;
	const unsigned char *der = cmpd_job_cert_der(job, &len);

	return der != NULL ? d2i_X509(NULL, &der, (long)len) : NULL;
}

/* The keyworker's public key for the job's key, from cmpd_key_list. */
static void
check_key_matches(const struct harness *h, const cmpd_job *job, X509 *cert)
{
	cmpd_client *c = harness_client(h);
	cmpd_key_array *keys = NULL;
	unsigned char *spki = NULL;
	int spki_len, found = 0;

	assert_non_null(c);
	assert_int_equal(cmpd_key_list(c, &keys), CMPD_RESULT_OK);
	spki_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &spki);
	assert_true(spki_len > 0);
	for (size_t i = 0; i < cmpd_key_array_count(keys); i++) {
		const cmpd_key_info *k = cmpd_key_array_get(keys, i);
		size_t len = 0;
		const uint8_t *der = cmpd_key_info_spki(k, &len);

		if (strcmp(cmpd_key_info_id(k), cmpd_job_key_id(job)) != 0)
			continue;
		found = 1;
		assert_int_equal(len, (size_t)spki_len);
		assert_memory_equal(der, spki, len);
		assert_string_equal(
		    cmpd_key_info_type(k), cmpd_job_key_type(job));
	}
	assert_true(found);
	OPENSSL_free(spki);
	cmpd_key_array_free(keys);
	cmpd_client_close(c);
}

static void
check_chain(const struct harness *h, const cmpd_job *job, X509 *cert)
{
	char path[512];
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *chain = sk_X509_new_null();
	const char *pem = cmpd_job_chain_pem(job);
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x;

	snprintf(path, sizeof(path), "%s/root.pem", h->pki);
	assert_int_equal(X509_STORE_load_file(store, path), 1);
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		sk_X509_push(chain, x);
	assert_true(sk_X509_num(chain) >= 1);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, cert, chain), 1);
	if (X509_verify_cert(ctx) != 1)
		fail_msg("certificate does not verify: %s",
		    X509_verify_cert_error_string(
		        X509_STORE_CTX_get_error(ctx)));
	BIO_free(b);
	sk_X509_pop_free(chain, X509_free);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
}

void
check_issued(const struct harness *h, const cmpd_job *job)
{
	X509 *cert;

	if (cmpd_job_state_get(job) != CMPD_JOB_STATE_DONE)
		fail_msg("job %s is %s: %s", cmpd_job_id(job),
		    cmpd_job_state_name(cmpd_job_state_get(job)),
		    cmpd_job_error_text(job));
	cert = job_cert(job);
	assert_non_null(cert);
	assert_string_equal(
	    cmpd_job_cert_issuer(job), "CN=cmpd Test Issuing CA");
	assert_string_equal(
	    cmpd_job_cert_key_type(job), cmpd_job_key_type(job));
	check_key_matches(h, job, cert);
	check_chain(h, job, cert);
	X509_free(cert);
}

void
check_file(const cmpd_job *job)
{
	char *file = check_read_file(cmpd_job_cert_path(job));

	assert_non_null(file);
	assert_string_equal(file, cmpd_job_cert_pem(job));
	free(file);
}

void
check_names(const cmpd_job *job, const char *subject, const char *dns)
{
	X509 *cert = job_cert(job);
	GENERAL_NAMES *sans;
	int found = 0;

	assert_non_null(cert);
	assert_string_equal(cmpd_job_cert_subject(job), subject);
	sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; dns != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);

		if (g->type == GEN_DNS &&
		    strcmp((const char *)ASN1_STRING_get0_data(g->d.dNSName),
		        dns) == 0)
			found = 1;
	}
	assert_true(dns == NULL || found);
	GENERAL_NAMES_free(sans);
	X509_free(cert);
}

size_t
check_count(const char *text, const char *needle)
{
	size_t n = 0;

	for (const char *p = text; (p = strstr(p, needle)) != NULL;
	     p += strlen(needle))
		n++;
	return n;
}
