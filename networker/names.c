#include "names.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util.h"

/* Longest attribute type or value the parser accepts. */
#define NAME_PART_MAX 1024

/*
 * Copies the next part of s into buf, stopping at an unescaped stop
 * character or the end, and undoing "\/" and "\\". Returns the number of
 * characters of s consumed, or -1 on a dangling or unknown escape or an
 * over-long part.
 */
static int
name_part_read(const char *s, char stop, char *buf, size_t len)
{
	size_t i = 0, o = 0;

	while (s[i] != '\0' && s[i] != '/' && s[i] != stop) {
		char c = s[i++];

		if (c == '\\') {
			if (s[i] != '/' && s[i] != '\\')
				return -1;
			c = s[i++];
		}
		if (o + 1 >= len)
			return -1;
		buf[o++] = c;
	}
	buf[o] = '\0';
	return (int)i;
}

/* Adds one "TYPE=value" at the start of s to name; returns chars used. */
static int
name_rdn_add(X509_NAME *name, const char *s, char *why, size_t whylen)
{
	char type[NAME_PART_MAX], value[NAME_PART_MAX];
	int n, m;

	n = name_part_read(s, '=', type, sizeof(type));
	if (n < 0 || s[n] != '=' || type[0] == '\0') {
		snprintf(why, whylen, "expected TYPE=value at \"%.40s\"", s);
		return -1;
	}
	m = name_part_read(s + n + 1, '\0', value, sizeof(value));
	if (m < 0 || value[0] == '\0') {
		snprintf(why, whylen, "bad or empty value for %s", type);
		return -1;
	}
	if (!X509_NAME_add_entry_by_txt(name, type, MBSTRING_UTF8,
	        (const unsigned char *)value, -1, -1, 0)) {
		snprintf(why, whylen, "unknown attribute type or bad value: %s",
		    type);
		return -1;
	}
	return n + 1 + m;
}

cmpd_err
nw_name_parse(const char *s, X509_NAME **out, char *why, size_t whylen)
{
	X509_NAME *name = NULL;
	cmpd_err rv = CMPD_EINVAL;
	int n;

	if (s == NULL || s[0] != '/' || s[1] == '\0') {
		snprintf(why, whylen, "a name starts with '/': \"%.40s\"",
		    s != NULL ? s : "");
		return CMPD_EINVAL;
	}
	if ((name = X509_NAME_new()) == NULL)
		return CMPD_ENOMEM;
	while (*s == '/') {
		if ((n = name_rdn_add(name, s + 1, why, whylen)) < 0)
			goto out;
		s += 1 + n;
	}
	if (*s != '\0') {
		snprintf(why, whylen, "unexpected text \"%.40s\"", s);
		goto out;
	}
	*out = name;
	name = NULL;
	rv = CMPD_OK;
out:
	X509_NAME_free(name);
	return rv;
}

/* IA5String text of a SAN: printable ASCII; no spaces where noted. */
static int
san_text_ok(const char *v, int allow_space)
{
	if (*v == '\0')
		return 0;
	for (; *v != '\0'; v++)
		if (*v < (allow_space ? ' ' : '!') || *v > '~')
			return 0;
	return 1;
}

static GENERAL_NAME *
san_ia5_new(int type, const char *v)
{
	ASN1_IA5STRING *str = ASN1_IA5STRING_new();
	GENERAL_NAME *gn = GENERAL_NAME_new();

	if (str == NULL || gn == NULL || !ASN1_STRING_set(str, v, -1)) {
		ASN1_IA5STRING_free(str);
		GENERAL_NAME_free(gn);
		return NULL;
	}
	GENERAL_NAME_set0_value(gn, type, str);
	return gn;
}

static GENERAL_NAME *
san_ip_new(const char *v)
{
	ASN1_OCTET_STRING *ip = a2i_IPADDRESS(v);
	GENERAL_NAME *gn;

	if (ip == NULL)
		return NULL;
	if ((gn = GENERAL_NAME_new()) == NULL) {
		ASN1_OCTET_STRING_free(ip);
		return NULL;
	}
	GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
	return gn;
}

/* Checks the value of a text SAN of the given kind; NULL if fine. */
static const char *
san_text_check(int type, const char *v)
{
	switch (type) {
	case GEN_DNS:
		return san_text_ok(v, 0) ? NULL : "bad DNS name";
	case GEN_URI:
		return san_text_ok(v, 0) && strchr(v, ':') != NULL
		    ? NULL
		    : "a URI needs a scheme and no spaces";
	case GEN_EMAIL:
		return san_text_ok(v, 0) && strchr(v, '@') != NULL
		    ? NULL
		    : "an email address needs an '@'";
	default:
		return "unknown kind";
	}
}

static const struct san_kind {
	const char *prefix;
	int type;
} san_kinds[] = {
	{ "DNS:", GEN_DNS },
	{ "IP:", GEN_IPADD },
	{ "URI:", GEN_URI },
	{ "email:", GEN_EMAIL },
};

cmpd_err
nw_san_parse(const char *s, GENERAL_NAME **out, char *why, size_t whylen)
{
	GENERAL_NAME *gn = NULL;
	const char *bad;

	for (size_t i = 0; i < CMPD_ARRAY_LEN(san_kinds); i++) {
		size_t n = strlen(san_kinds[i].prefix);
		int type = san_kinds[i].type;

		if (s == NULL || strncasecmp(s, san_kinds[i].prefix, n) != 0)
			continue;
		if (type == GEN_IPADD) {
			if ((gn = san_ip_new(s + n)) == NULL) {
				snprintf(why, whylen,
				    "bad IP address in "
				    "\"%.60s\"",
				    s);
				return CMPD_EINVAL;
			}
		} else if ((bad = san_text_check(type, s + n)) != NULL) {
			snprintf(why, whylen, "%s: \"%.60s\"", bad, s);
			return CMPD_EINVAL;
		} else if ((gn = san_ia5_new(type, s + n)) == NULL) {
			return CMPD_ENOMEM;
		}
		*out = gn;
		return CMPD_OK;
	}
	snprintf(why, whylen,
	    "a subjectAltName starts with DNS:, IP:, URI: "
	    "or email: (\"%.40s\")",
	    s != NULL ? s : "");
	return CMPD_EINVAL;
}
