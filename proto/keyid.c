#include "keyid.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

cmpd_err
cmpd_key_id_from_spki(
    const uint8_t *spki, size_t len, char out[CMPD_KEY_ID_LEN + 1])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (len == 0 ||
	    EVP_Digest(spki, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		return CMPD_ECRYPTO;
	cmpd_hex(md, CMPD_KEY_ID_LEN / 2, out);
	return CMPD_OK;
}

Cmpd__KeyType
cmpd_key_type_of(const EVP_PKEY *pkey)
{
	char group[32];
	int bits = EVP_PKEY_get_bits(pkey);

	if (EVP_PKEY_is_a(pkey, "ED25519"))
		return CMPD__KEY_TYPE__KEY_ED25519;
	if (EVP_PKEY_is_a(pkey, "RSA")) {
		switch (bits) {
		case 2048:
			return CMPD__KEY_TYPE__KEY_RSA_2048;
		case 3072:
			return CMPD__KEY_TYPE__KEY_RSA_3072;
		case 4096:
			return CMPD__KEY_TYPE__KEY_RSA_4096;
		default:
			return CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED;
		}
	}
	if (EVP_PKEY_is_a(pkey, "EC") &&
	    EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
	        group, sizeof(group), NULL) == 1) {
		if (strcmp(group, "prime256v1") == 0)
			return CMPD__KEY_TYPE__KEY_EC_P256;
		if (strcmp(group, "secp384r1") == 0)
			return CMPD__KEY_TYPE__KEY_EC_P384;
	}
	return CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED;
}

static const char *const key_type_names[] = {
	[CMPD__KEY_TYPE__KEY_EC_P256] = "ec-p256",
	[CMPD__KEY_TYPE__KEY_EC_P384] = "ec-p384",
	[CMPD__KEY_TYPE__KEY_RSA_2048] = "rsa2048",
	[CMPD__KEY_TYPE__KEY_RSA_3072] = "rsa3072",
	[CMPD__KEY_TYPE__KEY_RSA_4096] = "rsa4096",
	[CMPD__KEY_TYPE__KEY_ED25519] = "ed25519",
};

const char *
cmpd_key_type_name(Cmpd__KeyType type)
{
	if (type <= 0 || (size_t)type >= CMPD_ARRAY_LEN(key_type_names))
		return "";
	return key_type_names[type];
}

Cmpd__KeyType
cmpd_key_type_parse(const char *name)
{
	for (size_t i = 1; i < CMPD_ARRAY_LEN(key_type_names); i++)
		if (strcmp(name, key_type_names[i]) == 0)
			return (Cmpd__KeyType)i;
	return CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED;
}

/* One "TYPE:COUNT" entry of len bytes at e. */
static cmpd_err
pool_entry(
    const char *e, size_t len, unsigned *counts, char *err, size_t errlen)
{
	char name[16], *end;
	const char *colon = memchr(e, ':', len);
	unsigned long n;
	Cmpd__KeyType t;

	if (colon == NULL || (size_t)(colon - e) >= sizeof(name) ||
	    colon + 1 == e + len) {
		snprintf(err, errlen, "'%.*s' is not TYPE:COUNT", (int)len, e);
		return CMPD_EINVAL;
	}
	memcpy(name, e, (size_t)(colon - e));
	name[colon - e] = '\0';
	n = strtoul(colon + 1, &end, 10);
	t = cmpd_key_type_parse(name);
	if (t == CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED)
		snprintf(err, errlen, "unknown key type '%s'", name);
	else if (end != e + len || colon[1] < '0' || colon[1] > '9' ||
	    n > CMPD_KEY_POOL_MAX)
		snprintf(err, errlen, "'%.*s': COUNT is not 0 to %d", (int)len,
		    e, CMPD_KEY_POOL_MAX);
	else if (counts[t] != 0)
		snprintf(err, errlen, "key type '%s' named twice", name);
	else {
		counts[t] = n != 0 ? (unsigned)n : CMPD_KEY_POOL_MAX + 1;
		return CMPD_OK;
	}
	return CMPD_EINVAL;
}

cmpd_err
cmpd_key_pool_parse(const char *spec, unsigned counts[CMPD_KEY_TYPE_COUNT],
    char *err, size_t errlen)
{
	unsigned c[CMPD_KEY_TYPE_COUNT] = { 0 }, total = 0;
	const char *p = spec;

	while (*p != '\0') {
		size_t len = strcspn(p, " ,\t");

		if (len > 0 && pool_entry(p, len, c, err, errlen) != CMPD_OK)
			return CMPD_EINVAL;
		p += len + (p[len] != '\0');
	}
	/* A COUNT of 0 was kept as MAX + 1 to tell it from "not named". */
	for (size_t i = 0; i < CMPD_KEY_TYPE_COUNT; i++) {
		c[i] = c[i] > CMPD_KEY_POOL_MAX ? 0 : c[i];
		total += c[i];
	}
	if (total > CMPD_KEY_POOL_MAX) {
		snprintf(err, errlen, "%u keys in the pool; at most %d", total,
		    CMPD_KEY_POOL_MAX);
		return CMPD_EINVAL;
	}
	memcpy(counts, c, sizeof(c));
	return CMPD_OK;
}
