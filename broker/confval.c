#include "confval.h"

#include <errno.h>
#include <grp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "keyid.h"
#include "log.h"

int
parse_fail(struct parse *p, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (p->err != NULL)
		return 0;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (asprintf(&p->err, "%s:%d: %s", p->cfg->path, p->line, msg) < 0)
		p->err = NULL;
	return 0;
}

int
set_string(struct parse *p, void *field, const char *value)
{
	char **s = field;

	(void)p;
	free(*s);
	*s = strdup(value);
	return *s != NULL;
}

int
set_bool(struct parse *p, void *field, const char *value)
{
	int *b = field;

	if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0)
		*b = 1;
	else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0)
		*b = 0;
	else
		return parse_fail(p, "'%s' is not yes or no", value);
	return 1;
}

int
set_uint(struct parse *p, void *field, const char *value)
{
	uint32_t *u = field;
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(value, &end, 10);
	if (errno != 0 || *end != '\0' || end == value || v > 3650000)
		return parse_fail(p, "'%s' is not a number", value);
	*u = (uint32_t)v;
	return 1;
}

int
set_mode(struct parse *p, void *field, const char *value)
{
	mode_t *m = field;
	char *end;
	unsigned long v = strtoul(value, &end, 8);

	if (*end != '\0' || end == value || v > 0777)
		return parse_fail(p, "'%s' is not an octal file mode", value);
	*m = (mode_t)v;
	return 1;
}

int
set_log_level(struct parse *p, void *field, const char *value)
{
	int *l = field;

	*l = cmpd_log_level_parse(value);
	if (*l < 0)
		return parse_fail(p, "unknown log level '%s'", value);
	return 1;
}

int
set_key_type(struct parse *p, void *field, const char *value)
{
	Cmpd__KeyType *t = field;

	*t = cmpd_key_type_parse(value);
	if (*t == CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED)
		return parse_fail(p,
		    "unknown key type '%s' (ec-p256, ec-p384, "
		    "rsa2048, rsa3072, rsa4096, ed25519)",
		    value);
	return 1;
}

int
set_protection(struct parse *p, void *field, const char *value)
{
	enum protection *pr = field;

	if (strcmp(value, "signature") == 0)
		*pr = PROTECTION_SIGNATURE;
	else if (strcmp(value, "mac") == 0)
		*pr = PROTECTION_MAC;
	else if (strcmp(value, "certificate") == 0)
		*pr = PROTECTION_CERTIFICATE;
	else
		return parse_fail(p,
		    "protection must be signature, mac or "
		    "certificate");
	return 1;
}

int
certs_add(struct cert_list *l, X509 *x)
{
	ProtobufCBinaryData *grown;
	unsigned char *der = NULL;
	int len = i2d_X509(x, &der);

	if (len <= 0)
		return 0;
	grown = realloc(l->der, (l->n + 1) * sizeof(*grown));
	if (grown == NULL) {
		OPENSSL_free(der);
		return 0;
	}
	l->der = grown;
	l->der[l->n].data = der;
	l->der[l->n].len = (size_t)len;
	l->n++;
	return 1;
}

/* Reads every certificate of a PEM file; a file without one is an error. */
int
set_certs(struct parse *p, void *field, const char *value)
{
	struct cert_list *l = field;
	FILE *f = fopen(value, "r");
	X509 *x;
	size_t before = l->n;

	if (f == NULL)
		return parse_fail(
		    p, "cannot open %s: %s", value, strerror(errno));
	while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
		int ok = certs_add(l, x);

		X509_free(x);
		if (!ok)
			break;
	}
	fclose(f);
	ERR_clear_error();
	if (l->n == before)
		return parse_fail(p, "no certificate in %s", value);
	return 1;
}

/* "pass:TEXT", "file:PATH" (first line) or "env:NAME". */
int
set_secret(struct parse *p, void *field, const char *value)
{
	struct secret *s = field;
	uint8_t *buf = NULL;
	size_t len = 0;

	if (strncmp(value, "pass:", 5) == 0) {
		buf = (uint8_t *)strdup(value + 5);
	} else if (strncmp(value, "env:", 4) == 0) {
		const char *v = getenv(value + 4);

		if (v == NULL)
			return parse_fail(p,
			    "environment variable %s is not "
			    "set",
			    value + 4);
		buf = (uint8_t *)strdup(v);
	} else if (strncmp(value, "file:", 5) == 0) {
		if (cmpd_file_read(value + 5, 4096, 0, &buf, &len) != CMPD_OK)
			return parse_fail(p, "cannot read %s", value + 5);
		buf[strcspn((char *)buf, "\r\n")] = '\0';
	} else {
		return parse_fail(p,
		    "mac_secret must start with pass:, file: "
		    "or env:");
	}
	if (buf == NULL)
		return 0;
	if (s->data != NULL)
		OPENSSL_clear_free(s->data, s->len);
	s->data = buf;
	s->len = strlen((char *)buf);
	if (s->len == 0)
		return parse_fail(p, "mac_secret is empty");
	return 1;
}

static int
ids_add(struct id_list *l, uint32_t id)
{
	uint32_t *grown = realloc(l->ids, (l->n + 1) * sizeof(*grown));

	if (grown == NULL)
		return 0;
	l->ids = grown;
	l->ids[l->n++] = id;
	return 1;
}

/* A list of names or numbers separated by spaces or commas. */
static int
set_ids(struct parse *p, struct id_list *l, const char *value, int groups)
{
	char *copy = strdup(value), *save = NULL;
	int ok = copy != NULL;

	for (char *t = strtok_r(copy, " ,", &save); ok && t != NULL;
	     t = strtok_r(NULL, " ,", &save)) {
		char *end;
		unsigned long n = strtoul(t, &end, 10);

		if (*end != '\0' || end == t) {
			struct passwd *pw = groups ? NULL : getpwnam(t);
			struct group *gr = groups ? getgrnam(t) : NULL;

			if (pw == NULL && gr == NULL) {
				ok = parse_fail(p, "unknown %s '%s'",
				    groups ? "group" : "user", t);
				break;
			}
			n = groups ? gr->gr_gid : pw->pw_uid;
		}
		ok = ids_add(l, (uint32_t)n);
	}
	free(copy);
	return ok;
}

int
set_users(struct parse *p, void *field, const char *value)
{
	return set_ids(p, field, value, 0);
}

int
set_groups(struct parse *p, void *field, const char *value)
{
	return set_ids(p, field, value, 1);
}

int
add_san(struct parse *p, void *field, const char *value)
{
	struct str_list *l = field;
	char **grown = realloc(l->v, (l->n + 1) * sizeof(*grown));

	(void)p;
	if (grown == NULL)
		return 0;
	l->v = grown;
	l->v[l->n] = strdup(value);
	return l->v[l->n++] != NULL;
}

/* Parses a number with an optional unit s, m, h or d into seconds. */
static int
duration_parse(const char *value, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t unit = 1;

	errno = 0;
	v = strtoull(value, &end, 10);
	if (errno != 0 || end == value)
		return 0;
	switch (*end) {
	case '\0':
	case 's':
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	default:
		return 0;
	}
	if (*end != '\0' && end[1] != '\0')
		return 0;
	if (v > UINT32_MAX / unit)
		return 0;
	*out = v * unit;
	return 1;
}

int
set_duration(struct parse *p, void *field, const char *value)
{
	uint64_t secs;

	if (!duration_parse(value, &secs))
		return parse_fail(p,
		    "'%s' is not a duration (like 90s, 15m, "
		    "12h, 30d)",
		    value);
	*(uint32_t *)field = (uint32_t)secs;
	return 1;
}

int
set_jitter(struct parse *p, void *field, const char *value)
{
	uint64_t secs;

	if (strcmp(value, "auto") == 0) {
		*(int64_t *)field = -1;
		return 1;
	}
	if (!duration_parse(value, &secs))
		return parse_fail(p, "'%s' is not a duration or auto", value);
	*(int64_t *)field = (int64_t)secs;
	return 1;
}

int
set_percent(struct parse *p, void *field, const char *value)
{
	char *end;
	unsigned long v = strtoul(value, &end, 10);

	if (end == value || (*end != '\0' && strcmp(end, "%") != 0) || v < 1 ||
	    v > 99)
		return parse_fail(
		    p, "'%s' is not a percentage from 1 to 99", value);
	*(uint32_t *)field = (uint32_t)v;
	return 1;
}

int
set_window(struct parse *p, void *field, const char *value)
{
	struct window *w = field;
	unsigned h1, m1, h2, m2;
	char tail;

	if (sscanf(value, "%2u:%2u-%2u:%2u%c", &h1, &m1, &h2, &m2, &tail) !=
	        4 ||
	    h1 > 23 || h2 > 23 || m1 > 59 || m2 > 59 ||
	    h1 * 60 + m1 == h2 * 60 + m2)
		return parse_fail(p,
		    "'%s' is not a daily window like "
		    "02:00-05:30",
		    value);
	w->start = (int)(h1 * 60 + m1);
	w->end = (int)(h2 * 60 + m2);
	return 1;
}

int
set_op(struct parse *p, void *field, const char *value)
{
	Cmpd__CmpOp *op = field;

	if (strcmp(value, "ir") == 0)
		*op = CMPD__CMP_OP__CMP_OP_IR;
	else if (strcmp(value, "cr") == 0)
		*op = CMPD__CMP_OP__CMP_OP_CR;
	else if (strcmp(value, "p10cr") == 0)
		*op = CMPD__CMP_OP__CMP_OP_P10CR;
	else
		return parse_fail(p, "op must be ir, cr or p10cr");
	return 1;
}

int
set_owner(struct parse *p, void *field, const char *value)
{
	struct id_list l = { 0 };
	int ok = set_users(p, &l, value) && l.n == 1;

	if (ok)
		*(uid_t *)field = (uid_t)l.ids[0];
	else if (l.n > 1)
		parse_fail(p, "one owner only");
	free(l.ids);
	return ok;
}

int
set_group(struct parse *p, void *field, const char *value)
{
	struct id_list l = { 0 };
	int ok = set_groups(p, &l, value) && l.n == 1;

	if (ok)
		*(gid_t *)field = (gid_t)l.ids[0];
	else if (l.n > 1)
		parse_fail(p, "one group only");
	free(l.ids);
	return ok;
}
