/*
 * The keyworker's key store and key import: generation of every type,
 * persistence and reload, damaged files reported and skipped, import
 * through CMS, deletion, and loading many keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "import.h"
#include "keyid.h"
#include "keystore.h"
#include "test_keyworker_util.h"
#include "util.h"

struct fixture {
	char *tmp;
	char keys[256];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->tmp = kwt_tmpdir();
	assert_non_null(f->tmp);
	snprintf(f->keys, sizeof(f->keys), "%s/keys", f->tmp);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	kwt_rmtree(f->tmp);
	free(f->tmp);
	free(f);
	return 0;
}

static void
key_file(const struct fixture *f, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", f->keys, name);
}

static mode_t
mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

static const Cmpd__KeyType all_types[] = {
	CMPD__KEY_TYPE__KEY_EC_P256,
	CMPD__KEY_TYPE__KEY_EC_P384,
	CMPD__KEY_TYPE__KEY_RSA_2048,
	CMPD__KEY_TYPE__KEY_RSA_3072,
	CMPD__KEY_TYPE__KEY_RSA_4096,
	CMPD__KEY_TYPE__KEY_ED25519,
};

static void
check_rsa_exponent(EVP_PKEY *pkey)
{
	BIGNUM *e = NULL;

	if (!EVP_PKEY_is_a(pkey, "RSA"))
		return;
	assert_int_equal(
	    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e), 1);
	assert_true(BN_is_word(e, 65537));
	BN_free(e);
}

/* A fresh store over the same directory: same ids, types and SPKIs, and
 * each private key loads and matches its public key. */
static void
check_reload(const struct fixture *f, struct kw_keystore *ks,
    char ids[6][CMPD_KEY_ID_LEN + 1])
{
	struct kw_keystore *again = NULL;
	struct kw_why why;

	assert_int_equal(kw_keystore_open(f->keys, &again), CMPD_OK);
	assert_int_equal(kw_keystore_count(again), 6);
	for (size_t i = 0; i < 6; i++) {
		const struct kw_key *a = kw_keystore_find(ks, ids[i]);
		const struct kw_key *b = kw_keystore_find(again, ids[i]);
		EVP_PKEY *priv = NULL, *pub;

		assert_non_null(b);
		assert_int_equal(b->type, all_types[i]);
		assert_int_equal(b->spki_len, a->spki_len);
		assert_memory_equal(b->spki, a->spki, a->spki_len);
		assert_true(b->created > 0);
		assert_int_equal(
		    kw_keystore_load(again, ids[i], &priv, &why), CMPD_OK);
		pub = kwt_pubkey(b->spki, b->spki_len);
		assert_int_equal(EVP_PKEY_eq(priv, pub), 1);
		check_rsa_exponent(priv);
		EVP_PKEY_free(pub);
		EVP_PKEY_free(priv);
	}
	kw_keystore_free(again);
}

/* A generated key of every type is persisted with the right modes and
 * comes back, same id and SPKI, in a fresh store. */
static void
test_generate_each_type_and_reload(void **state)
{
	struct fixture *f = *state;
	struct kw_keystore *ks = NULL;
	char ids[6][CMPD_KEY_ID_LEN + 1];
	struct kw_why why;

	assert_int_equal(kw_keystore_open(f->keys, &ks), CMPD_OK);
	assert_int_equal(mode_of(f->keys), 0700);
	for (size_t i = 0; i < 6; i++) {
		const struct kw_key *k = NULL;
		char path[4096], id[CMPD_KEY_ID_LEN + 1];
		char *pem;
		size_t len;

		assert_int_equal(
		    kw_keystore_generate(ks, all_types[i], &k, &why), CMPD_OK);
		assert_int_equal(k->type, all_types[i]);
		assert_int_equal(
		    cmpd_key_id_from_spki(k->spki, k->spki_len, id), CMPD_OK);
		assert_string_equal(k->id, id);
		memcpy(ids[i], k->id, sizeof(ids[i]));
		snprintf(path, sizeof(path), "%s/%s.key", f->keys, k->id);
		assert_int_equal(mode_of(path), 0600);
		pem = kwt_read_file(path, &len);
		assert_non_null(pem);
		assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----"));
		free(pem);
	}
	assert_int_equal(kw_keystore_count(ks), 6);
	check_reload(f, ks, ids);
	kw_keystore_free(ks);
}

static void
write_file(const char *path, const void *buf, size_t len, mode_t mode)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(buf, 1, len, fp), len);
	fclose(fp);
	assert_int_equal(chmod(path, mode), 0);
}

/* A PEM "PUBLIC KEY" (of key id) where a key file should be. */
static void
write_public_pem(const char *path, const char *id, const struct fixture *f)
{
	struct kw_keystore *ks = NULL;
	const struct kw_key *k;
	EVP_PKEY *pub;
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long len;

	assert_int_equal(kw_keystore_open(f->keys, &ks), CMPD_OK);
	k = kw_keystore_find(ks, id);
	pub = kwt_pubkey(k->spki, k->spki_len);
	assert_int_equal(PEM_write_bio_PUBKEY(bio, pub), 1);
	len = BIO_get_mem_data(bio, &data);
	write_file(path, data, (size_t)len, 0600);
	BIO_free(bio);
	EVP_PKEY_free(pub);
	kw_keystore_free(ks);
}

static char *
key_pem(const struct fixture *f, const char *id, size_t *len)
{
	char path[4096], name[64];

	snprintf(name, sizeof(name), "%s.key", id);
	key_file(f, name, path, sizeof(path));
	return kwt_read_file(path, len);
}

static void
assert_log_has(const char *log, const char *name, const char *reason)
{
	const char *line = strstr(log, name);

	if (line == NULL || strstr(line, reason) == NULL)
		fail_msg("log lacks \"%s ... %s\":\n%s", name, reason, log);
}

/* Three good keys, returned in a, b, c. */
static void
three_keys(const struct fixture *f, char a[CMPD_KEY_ID_LEN + 1],
    char b[CMPD_KEY_ID_LEN + 1], char c[CMPD_KEY_ID_LEN + 1])
{
	static const Cmpd__KeyType types[3] = { CMPD__KEY_TYPE__KEY_EC_P256,
		CMPD__KEY_TYPE__KEY_ED25519, CMPD__KEY_TYPE__KEY_EC_P384 };
	char *out[3] = { a, b, c };
	struct kw_keystore *ks = NULL;
	const struct kw_key *k;
	struct kw_why why;

	assert_int_equal(kw_keystore_open(f->keys, &ks), CMPD_OK);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(
		    kw_keystore_generate(ks, types[i], &k, &why), CMPD_OK);
		memcpy(out[i], k->id, CMPD_KEY_ID_LEN + 1);
	}
	kw_keystore_free(ks);
}

/*
 * Beside keys a and c: a truncated and a corrupt file, a's key under
 * another id and under no id, a link, a public key, c readable by all,
 * and a leftover of an interrupted write.
 */
static void
damage(const struct fixture *f, const char *a, const char *c)
{
	char path[4096], target[128];
	size_t len;
	char *pem;

	key_file(f, "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.key", path, sizeof(path));
	write_public_pem(path, a, f);
	pem = key_pem(f, a, &len);
	key_file(f, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.key", path, sizeof(path));
	write_file(path, pem, len / 2, 0600);
	key_file(f, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.key", path, sizeof(path));
	write_file(path, "\x30\x82\x01\x00garbage", 12, 0600);
	key_file(f, "cccccccccccccccccccccccccccccccc.key", path, sizeof(path));
	write_file(path, pem, len, 0600);
	key_file(f, "notakey.key", path, sizeof(path));
	write_file(path, pem, len, 0600);
	free(pem);
	snprintf(target, sizeof(target), "%s.key", a);
	key_file(f, "dddddddddddddddddddddddddddddddd.key", path, sizeof(path));
	assert_int_equal(symlink(target, path), 0);
	snprintf(target, sizeof(target), "%s.key", c);
	key_file(f, target, path, sizeof(path));
	assert_int_equal(chmod(path, 0644), 0);
	key_file(f, "0123.key.tmp.abcdef", path, sizeof(path));
	write_file(path, "half", 4, 0600);
}

/* Damaged, misnamed, linked and readable key files are reported with
 * their path and reason and skipped; the good keys stay usable. */
static void
test_bad_files_reported_and_skipped(void **state)
{
	struct fixture *f = *state;
	struct kw_keystore *ks = NULL;
	char a[CMPD_KEY_ID_LEN + 1], b[CMPD_KEY_ID_LEN + 1],
	    c[CMPD_KEY_ID_LEN + 1], c_name[64], path[4096];
	struct kw_why why;
	EVP_PKEY *pkey = NULL;
	char *log;
	int saved;

	three_keys(f, a, b, c);
	damage(f, a, c);
	snprintf(path, sizeof(path), "%s/log", f->tmp);
	saved = kwt_stderr_begin(path);
	assert_int_equal(kw_keystore_open(f->keys, &ks), CMPD_OK);
	/* Opening indexes names only; checking reads every file. */
	assert_int_equal(kw_keystore_count(ks), 8);
	assert_int_equal(kw_keystore_check(ks, 2), 1);
	assert_int_equal(kw_keystore_check(ks, SIZE_MAX), 0);
	log = kwt_stderr_end(saved, path);

	assert_int_equal(kw_keystore_count(ks), 2);
	assert_non_null(kw_keystore_find(ks, a));
	assert_non_null(kw_keystore_find(ks, b));
	assert_null(kw_keystore_find(ks, c));
	assert_int_equal(kw_keystore_load(ks, a, &pkey, &why), CMPD_OK);
	EVP_PKEY_free(pkey);
	assert_log_has(log, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.key",
	    "no complete PEM block");
	assert_log_has(log, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.key",
	    "no complete PEM block");
	assert_log_has(log, "cccccccccccccccccccccccccccccccc.key", a);
	assert_log_has(
	    log, "dddddddddddddddddddddddddddddddd.key", "symbolic link");
	assert_log_has(
	    log, "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.key", "\"PUBLIC KEY\"");
	assert_log_has(log, "notakey.key", "not named <key id>.key");
	snprintf(c_name, sizeof(c_name), "%s.key", c);
	assert_log_has(log, c_name, "has mode 0644");
	assert_log_has(log, "0123.key.tmp.abcdef", "interrupted write");
	key_file(f, "0123.key.tmp.abcdef", path, sizeof(path));
	assert_int_not_equal(access(path, F_OK), 0);
	free(log);
	kw_keystore_free(ks);
}

/* A key file replaced after startup is never used for signing. */
static void
test_load_refuses_swapped_file(void **state)
{
	struct fixture *f = *state;
	struct kw_keystore *ks = NULL;
	const struct kw_key *k;
	char a[CMPD_KEY_ID_LEN + 1], b[CMPD_KEY_ID_LEN + 1], pa[4096], pb[4096];
	struct kw_why why;
	EVP_PKEY *pkey = NULL;

	assert_int_equal(kw_keystore_open(f->keys, &ks), CMPD_OK);
	kw_keystore_generate(ks, CMPD__KEY_TYPE__KEY_EC_P256, &k, &why);
	memcpy(a, k->id, sizeof(a));
	kw_keystore_generate(ks, CMPD__KEY_TYPE__KEY_EC_P256, &k, &why);
	memcpy(b, k->id, sizeof(b));
	snprintf(pa, sizeof(pa), "%s/%s.key", f->keys, a);
	snprintf(pb, sizeof(pb), "%s/%s.key", f->keys, b);
	assert_int_equal(rename(pb, pa), 0);
	assert_int_not_equal(kw_keystore_load(ks, a, &pkey, &why), CMPD_OK);
	assert_non_null(strstr(why.text, "no longer holds key"));
	assert_null(pkey);
	assert_int_equal(kw_keystore_load(ks, b, &pkey, &why), CMPD_ENOENT);
	kw_keystore_free(ks);
}

static void
test_delete(void **state)
{
	struct fixture *f = *state;
	struct kw_keystore *ks = NULL;
	const struct kw_key *k;
	char id[CMPD_KEY_ID_LEN + 1], path[4096];
	struct kw_why why;

	assert_int_equal(kw_keystore_open(f->keys, &ks), CMPD_OK);
	kw_keystore_generate(ks, CMPD__KEY_TYPE__KEY_EC_P256, &k, &why);
	memcpy(id, k->id, sizeof(id));
	snprintf(path, sizeof(path), "%s/%s.key", f->keys, id);
	assert_int_equal(kw_keystore_delete(ks, id, &why), CMPD_OK);
	assert_int_not_equal(access(path, F_OK), 0);
	assert_null(kw_keystore_find(ks, id));
	assert_int_equal(kw_keystore_delete(ks, id, &why), CMPD_ENOENT);
	kw_keystore_free(ks);
	assert_int_equal(kw_keystore_open(f->keys, &ks), CMPD_OK);
	assert_int_equal(kw_keystore_count(ks), 0);
	kw_keystore_free(ks);
}

static X509 *
cert_of(const struct kw_importer *imp)
{
	size_t len;
	const uint8_t *der = kw_importer_cert(imp, &len);
	const unsigned char *p = der;

	return d2i_X509(NULL, &p, (long)len);
}

/* The import certificate: P-256, the agreed name, key agreement only,
 * and the same after a restart. */
static void
test_import_certificate(void **state)
{
	struct fixture *f = *state;
	struct kw_keystore *ks = NULL;
	struct kw_importer *imp = NULL, *again = NULL;
	X509 *x, *y;
	char cn[64];
	char path[4096];

	assert_int_equal(kw_keystore_open(f->keys, &ks), CMPD_OK);
	assert_int_equal(kw_importer_open(f->keys, &imp), CMPD_OK);
	x = cert_of(imp);
	assert_non_null(x);
	X509_NAME_get_text_by_NID(
	    X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
	assert_string_equal(cn, "cmpd keyworker import");
	assert_true(X509_get_key_usage(x) & KU_KEY_AGREEMENT);
	assert_true(EVP_PKEY_is_a(X509_get0_pubkey(x), "EC"));
	key_file(f, "import.key", path, sizeof(path));
	assert_int_equal(mode_of(path), 0600);
	/* The import key is not one of the store's keys. */
	kw_keystore_free(ks);
	assert_int_equal(kw_keystore_open(f->keys, &ks), CMPD_OK);
	assert_int_equal(kw_keystore_count(ks), 0);
	assert_int_equal(kw_importer_open(f->keys, &again), CMPD_OK);
	y = cert_of(again);
	assert_int_equal(X509_cmp(x, y), 0);
	X509_free(x);
	X509_free(y);
	kw_importer_free(again);
	kw_importer_free(imp);
	kw_keystore_free(ks);
}

static cmpd_err
import(struct kw_importer *imp, struct kw_keystore *ks, EVP_PKEY *key,
    const EVP_CIPHER *cipher, const struct kw_key **out, struct kw_why *why)
{
	size_t cert_len, env_len = 0;
	const uint8_t *cert = kw_importer_cert(imp, &cert_len);
	uint8_t *env = kwt_envelope(key, cert, cert_len, cipher, &env_len);
	EVP_PKEY *got = NULL;
	cmpd_err rv;

	assert_non_null(env);
	rv = kw_importer_unwrap(imp, env, env_len, &got, why);
	free(env);
	if (rv != CMPD_OK)
		return rv;
	assert_int_equal(EVP_PKEY_eq(got, key), 1);
	rv = kw_keystore_store(ks, got, out, why);
	EVP_PKEY_free(got);
	return rv;
}

/* The client side encrypts with CMS_encrypt; the imported key gets the
 * id of its public key, and a second import of it is no error. */
static void
test_import_round_trip(void **state)
{
	struct fixture *f = *state;
	struct kw_keystore *ks = NULL;
	struct kw_importer *imp = NULL;
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	const struct kw_key *k = NULL;
	char want[CMPD_KEY_ID_LEN + 1], path[4096];
	struct kw_why why;
	uint8_t *spki;
	size_t spki_len;

	assert_int_equal(kw_keystore_open(f->keys, &ks), CMPD_OK);
	assert_int_equal(kw_importer_open(f->keys, &imp), CMPD_OK);
	/* AES-256-GCM: AuthEnvelopedData. */
	assert_int_equal(
	    import(imp, ks, ec, EVP_aes_256_gcm(), &k, &why), CMPD_OK);
	spki = kwt_spki(ec, &spki_len);
	cmpd_key_id_from_spki(spki, spki_len, want);
	assert_string_equal(k->id, want);
	assert_int_equal(k->type, CMPD__KEY_TYPE__KEY_EC_P384);
	assert_memory_equal(k->spki, spki, spki_len);
	snprintf(path, sizeof(path), "%s/%s.key", f->keys, want);
	assert_int_equal(mode_of(path), 0600);
	free(spki);
	/* Again: the same key, no error, no second entry. */
	assert_int_equal(
	    import(imp, ks, ec, EVP_aes_256_gcm(), &k, &why), CMPD_OK);
	assert_string_equal(k->id, want);
	assert_int_equal(kw_keystore_count(ks), 1);
	/* AES-256-CBC: EnvelopedData. */
	assert_int_equal(
	    import(imp, ks, rsa, EVP_aes_256_cbc(), &k, &why), CMPD_OK);
	assert_int_equal(k->type, CMPD__KEY_TYPE__KEY_RSA_2048);
	assert_int_equal(kw_keystore_count(ks), 2);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
	kw_importer_free(imp);
	kw_keystore_free(ks);
}

static uint8_t *
envelope_of(const uint8_t *content, size_t content_len, X509 *to, size_t *len)
{
	STACK_OF(X509) *certs = sk_X509_new_null();
	BIO *in = BIO_new_mem_buf(content, (int)content_len);
	CMS_ContentInfo *cms;
	unsigned char *der = NULL;
	uint8_t *out;
	int n;

	X509_up_ref(to);
	sk_X509_push(certs, to);
	cms = CMS_encrypt(certs, in, EVP_aes_256_gcm(), CMS_BINARY);
	assert_non_null(cms);
	n = i2d_CMS_ContentInfo(cms, &der);
	out = malloc((size_t)n);
	memcpy(out, der, (size_t)n);
	*len = (size_t)n;
	OPENSSL_free(der);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	sk_X509_pop_free(certs, X509_free);
	return out;
}

static void
assert_import_refused(struct kw_importer *imp, struct kw_keystore *ks,
    EVP_PKEY *key, const char *reason)
{
	const struct kw_key *k = NULL;
	struct kw_why why;

	assert_int_not_equal(
	    import(imp, ks, key, EVP_aes_256_gcm(), &k, &why), CMPD_OK);
	if (strstr(why.text, reason) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", why.text, reason);
	EVP_PKEY_free(key);
}

/* A P-256 key whose encoding carries the curve's parameters. */
static EVP_PKEY *
ec_explicit_new(void)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	OSSL_PARAM params[] = { OSSL_PARAM_utf8_string(
		                    OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0),
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING,
		    OSSL_PKEY_EC_ENCODING_EXPLICIT, 0),
		OSSL_PARAM_END };
	EVP_PKEY *pkey = NULL;

	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_params(ctx, params), 1);
	assert_int_equal(EVP_PKEY_generate(ctx, &pkey), 1);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

/* Unsupported keys and unusable envelopes are refused with a reason. */
static void
test_import_refused(void **state)
{
	struct fixture *f = *state;
	struct kw_keystore *ks = NULL;
	struct kw_importer *imp = NULL;
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *own, *stranger = kwt_selfsigned(other, "someone else");
	EVP_PKEY *got = NULL;
	struct kw_why why;
	uint8_t *env, junk[64] = { 0x30, 0x3e };
	size_t len;

	assert_int_equal(kw_keystore_open(f->keys, &ks), CMPD_OK);
	assert_int_equal(kw_importer_open(f->keys, &imp), CMPD_OK);
	assert_import_refused(imp, ks,
	    EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024),
	    "RSA key of 1024 bits is not supported");
	assert_import_refused(imp, ks,
	    EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521"),
	    "curve secp521r1 is not supported");
	assert_import_refused(imp, ks, EVP_PKEY_Q_keygen(NULL, NULL, "X25519"),
	    "type X25519 is not supported");
	assert_import_refused(
	    imp, ks, ec_explicit_new(), "explicit curve parameters");

	assert_int_equal(
	    kw_importer_unwrap(imp, junk, sizeof(junk), &got, &why),
	    CMPD_EINVAL);
	assert_non_null(strstr(why.text, "not one DER CMS ContentInfo"));

	env = envelope_of((const uint8_t *)"hello", 5, stranger, &len);
	assert_int_equal(
	    kw_importer_unwrap(imp, env, len, &got, &why), CMPD_ECRYPTO);
	assert_non_null(strstr(why.text, "cannot be decrypted"));
	free(env);

	own = cert_of(imp);
	env = envelope_of((const uint8_t *)"hello", 5, own, &len);
	assert_int_equal(
	    kw_importer_unwrap(imp, env, len, &got, &why), CMPD_EINVAL);
	assert_non_null(strstr(why.text, "PKCS#8"));
	free(env);

	/* A PrivateKeyInfo with a byte after it. */
	{
		PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(other);
		unsigned char *der = NULL;
		int n = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
		uint8_t *more = malloc((size_t)n + 1);

		memcpy(more, der, (size_t)n);
		more[n] = 0;
		env = envelope_of(more, (size_t)n + 1, own, &len);
		assert_int_equal(
		    kw_importer_unwrap(imp, env, len, &got, &why), CMPD_EINVAL);
		if (strstr(why.text, "1 bytes follow the PrivateKeyInfo") ==
		    NULL)
			fail_msg("%s", why.text);
		free(env);
		OPENSSL_clear_free(more, (size_t)n + 1);
		OPENSSL_clear_free(der, (size_t)n);
		PKCS8_PRIV_KEY_INFO_free(p8);
	}
	assert_null(got);
	assert_int_equal(kw_keystore_count(ks), 0);
	X509_free(own);
	X509_free(stranger);
	EVP_PKEY_free(other);
	kw_importer_free(imp);
	kw_keystore_free(ks);
}

static double
seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 10,000 key files (written here without fsync, to keep the test short)
 * are indexed quickly. */
static void
test_many_keys_load_quickly(void **state)
{
	struct fixture *f = *state;
	struct kw_keystore *ks = NULL;
	const size_t n = 10000;
	double t0, took;

	assert_int_equal(kw_keystore_open(f->keys, &ks), CMPD_OK);
	kw_keystore_free(ks);
	for (size_t i = 0; i < n; i++) {
		EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		BIO *bio = BIO_new(BIO_s_mem());
		char id[CMPD_KEY_ID_LEN + 1], path[4096];
		size_t spki_len;
		uint8_t *spki = kwt_spki(k, &spki_len);
		char *data;
		long len;

		cmpd_key_id_from_spki(spki, spki_len, id);
		PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL);
		len = BIO_get_mem_data(bio, &data);
		snprintf(path, sizeof(path), "%s/%s.key", f->keys, id);
		write_file(path, data, (size_t)len, 0600);
		BIO_free(bio);
		free(spki);
		EVP_PKEY_free(k);
	}
	t0 = seconds();
	assert_int_equal(kw_keystore_open(f->keys, &ks), CMPD_OK);
	took = seconds() - t0;
	print_message("indexed %zu keys in %.2f s\n", n, took);
	assert_int_equal(kw_keystore_count(ks), n);
	assert_true(took < 10.0);
	kw_keystore_free(ks);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_generate_each_type_and_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_bad_files_reported_and_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_load_refuses_swapped_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_import_certificate, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_import_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_import_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_many_keys_load_quickly, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
