/* Subject and subjectAltName parsing (networker/names.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/x509v3.h>

#include "names.h"

/* The name as OpenSSL prints it in RFC 2253 order-preserving form. */
static void
assert_name(const char *in, const char *want_oneline)
{
	X509_NAME *name = NULL;
	char why[256], *got;

	if (nw_name_parse(in, &name, why, sizeof(why)) != CMPD_OK)
		fail_msg("\"%s\" refused: %s", in, why);
	got = X509_NAME_oneline(name, NULL, 0);
	if (strcmp(got, want_oneline) != 0)
		fail_msg(
		    "\"%s\" gave \"%s\", not \"%s\"", in, got, want_oneline);
	OPENSSL_free(got);
	X509_NAME_free(name);
}

static void
test_name_good(void **state)
{
	X509_NAME *name = NULL;
	char why[256];
	const X509_NAME_ENTRY *e;
	const ASN1_STRING *v;

	(void)state;
	assert_name("/CN=a", "/CN=a");
	assert_name("/CN=device-0001/O=Example Org/C=DE",
	    "/CN=device-0001/O=Example Org/C=DE");
	assert_name("/commonName=x/2.5.4.10=y", "/CN=x/O=y");
	/* An escaped slash and backslash are part of the value. */
	assert_int_equal(
	    nw_name_parse("/CN=a\\/b\\\\c/OU=d", &name, why, sizeof(why)),
	    CMPD_OK);
	assert_int_equal(X509_NAME_entry_count(name), 2);
	e = X509_NAME_get_entry(name, 0);
	v = X509_NAME_ENTRY_get_data(e);
	assert_int_equal(ASN1_STRING_length(v), 5);
	assert_memory_equal(ASN1_STRING_get0_data(v), "a/b\\c", 5);
	X509_NAME_free(name);
	/* UTF-8 values are kept as UTF-8. */
	assert_name("/CN=Gr\xc3\xbc\xc3\x9f"
	            "e",
	    "/CN=Gr\\xC3\\xBC\\xC3\\x9Fe");
}

static void
test_name_bad(void **state)
{
	static const char *const bad[] = {
		"",           /* empty */
		"CN=a",       /* no leading slash */
		"/",          /* nothing after it */
		"/CN",        /* no '=' */
		"/=a",        /* no type */
		"/CN=",       /* empty value */
		"/CN=a/",     /* empty trailing part */
		"/CN=a//O=b", /* empty part in the middle */
		"/XX=a",      /* unknown type */
		"/CN=a\\",    /* dangling escape */
		"/CN=a\\n",   /* unknown escape */
		"/C=DEU",     /* countryName is two letters */
	};
	X509_NAME *name = NULL;
	char why[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		if (nw_name_parse(bad[i], &name, why, sizeof(why)) !=
		    CMPD_EINVAL)
			fail_msg("\"%s\" was accepted", bad[i]);
		assert_null(name);
		assert_true(why[0] != '\0');
	}
	assert_int_equal(
	    nw_name_parse(NULL, &name, why, sizeof(why)), CMPD_EINVAL);
}

static GENERAL_NAME *
san_ok(const char *s, int type)
{
	GENERAL_NAME *gn = NULL;
	char why[256];

	if (nw_san_parse(s, &gn, why, sizeof(why)) != CMPD_OK)
		fail_msg("\"%s\" refused: %s", s, why);
	assert_int_equal(gn->type, type);
	return gn;
}

static void
assert_ia5(const char *s, int type, const char *want)
{
	GENERAL_NAME *gn = san_ok(s, type);
	int t;
	const ASN1_STRING *v = GENERAL_NAME_get0_value(gn, &t);

	assert_int_equal(ASN1_STRING_length(v), (int)strlen(want));
	assert_memory_equal(ASN1_STRING_get0_data(v), want, strlen(want));
	GENERAL_NAME_free(gn);
}

static void
assert_ip(const char *s, const unsigned char *want, int len)
{
	GENERAL_NAME *gn = san_ok(s, GEN_IPADD);
	int t;
	const ASN1_OCTET_STRING *v = GENERAL_NAME_get0_value(gn, &t);

	assert_int_equal(ASN1_STRING_length(v), len);
	assert_memory_equal(ASN1_STRING_get0_data(v), want, (size_t)len);
	GENERAL_NAME_free(gn);
}

static void
test_san_good(void **state)
{
	static const unsigned char v4[] = { 192, 0, 2, 7 };
	static const unsigned char v6[] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 1 };

	(void)state;
	assert_ia5("DNS:device.example", GEN_DNS, "device.example");
	assert_ia5("URI:urn:dev:1", GEN_URI, "urn:dev:1");
	assert_ia5("email:ops@example.org", GEN_EMAIL, "ops@example.org");
	assert_ia5("dns:x", GEN_DNS, "x");
	assert_ip("IP:192.0.2.7", v4, 4);
	assert_ip("IP:2001:db8::1", v6, 16);
}

static void
test_san_bad(void **state)
{
	static const char *const bad[] = {
		"", "device.example", /* no kind */
		"DNS:",               /* empty */
		"DNS:a b",            /* space */
		"DNS:\xc3\xa4",       /* not IA5 */
		"IP:", "IP:300.1.1.1", "IP:1.2.3", "IP:2001:db8::g",
		"URI:nocolon", "email:nobody",
		"otherName:1.2.3;UTF8:x", /* not supported */
	};
	GENERAL_NAME *gn = NULL;
	char why[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		if (nw_san_parse(bad[i], &gn, why, sizeof(why)) != CMPD_EINVAL)
			fail_msg("\"%s\" was accepted", bad[i]);
		assert_null(gn);
		assert_true(why[0] != '\0');
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_good),
		cmocka_unit_test(test_name_bad),
		cmocka_unit_test(test_san_good),
		cmocka_unit_test(test_san_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
