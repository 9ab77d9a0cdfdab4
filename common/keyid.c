#include "keyid.h"

#include <openssl/evp.h>

#include "util.h"

cmpd_err
cmpd_key_id_from_spki(const uint8_t *spki, size_t len,
    char out[CMPD_KEY_ID_LEN + 1])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (len == 0 ||
	    EVP_Digest(spki, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		return CMPD_ECRYPTO;
	cmpd_hex(md, CMPD_KEY_ID_LEN / 2, out);
	return CMPD_OK;
}
