#include "util.h"

#include <openssl/rand.h>
#include <string.h>
#include <time.h>

void
cmpd_hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}

cmpd_err
cmpd_random(uint8_t *buf, size_t n)
{
	return RAND_bytes(buf, (int)n) == 1 ? CMPD_OK : CMPD_ECRYPTO;
}

cmpd_err
cmpd_job_id_new(char out[CMPD_JOB_ID_LEN + 1])
{
	uint8_t raw[CMPD_JOB_ID_LEN / 2];
	cmpd_err rv = cmpd_random(raw, sizeof(raw));

	if (rv == CMPD_OK)
		cmpd_hex(raw, sizeof(raw), out);
	return rv;
}

int
cmpd_is_hex_id(const char *s, size_t max)
{
	size_t n = strspn(s, "0123456789abcdef");

	return n > 0 && n <= max && s[n] == '\0';
}

int64_t
cmpd_time_now(void)
{
	return (int64_t)time(NULL);
}

uint64_t
cmpd_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int
cmpd_strlcpy(char *dst, const char *src, size_t n)
{
	size_t len = strlen(src);

	if (n == 0)
		return -1;
	if (len >= n) {
		memcpy(dst, src, n - 1);
		dst[n - 1] = '\0';
		return -1;
	}
	memcpy(dst, src, len + 1);
	return 0;
}

int
cmpd_str_ok_name(const char *s)
{
	size_t n = strspn(s,
	    "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");

	return n > 0 && n <= 64 && s[n] == '\0' && s[0] != '.';
}
