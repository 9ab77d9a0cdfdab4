#include "keyid.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
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
