#include "config.h"

#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmpd_build.h"
#include "fileio.h"
#include "keyid.h"
#include "log.h"
#include "util.h"

/* Parsing state: inih calls our reader per line, so we know the line. */
struct parse {
	struct config *cfg;
	struct profile *cur;
	FILE *file;
	int line;
	char *err;
};

struct option {
	const char *name;
	int (*set)(struct parse *p, void *field, const char *value);
	size_t offset;
};

__attribute__((format(printf, 2, 3))) static int
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

static int
set_string(struct parse *p, void *field, const char *value)
{
	char **s = field;

	(void)p;
	free(*s);
	*s = strdup(value);
	return *s != NULL;
}

static int
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

static int
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

static int
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

static int
set_log_level(struct parse *p, void *field, const char *value)
{
	int *l = field;

	*l = cmpd_log_level_parse(value);
	if (*l < 0)
		return parse_fail(p, "unknown log level '%s'", value);
	return 1;
}

static int
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

static int
set_protection(struct parse *p, void *field, const char *value)
{
	enum protection *pr = field;

	if (strcmp(value, "signature") == 0)
		*pr = PROTECTION_SIGNATURE;
	else if (strcmp(value, "mac") == 0)
		*pr = PROTECTION_MAC;
	else
		return parse_fail(p, "protection must be signature or mac");
	return 1;
}

static int
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
static int
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
static int
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

static int
set_users(struct parse *p, void *field, const char *value)
{
	return set_ids(p, field, value, 0);
}

static int
set_groups(struct parse *p, void *field, const char *value)
{
	return set_ids(p, field, value, 1);
}

static int
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

#define G(name, fn, field)                               \
	{                                                \
		name, fn, offsetof(struct config, field) \
	}
static const struct option global_options[] = {
	G("state_dir", set_string, state_dir),
	G("run_dir", set_string, run_dir),
	G("socket", set_string, socket),
	G("socket_mode", set_mode, socket_mode),
	G("libexec_dir", set_string, libexec_dir),
	G("log_level", set_log_level, log_level),
	G("admin_users", set_users, admin_users),
};

#define P(name, fn, field)                                \
	{                                                 \
		name, fn, offsetof(struct profile, field) \
	}
static const struct option profile_options[] = {
	P("server", set_string, server),
	P("proxy", set_string, proxy),
	P("no_proxy", set_string, no_proxy),
	P("recipient", set_string, recipient),
	P("expected_sender", set_string, expected_sender),
	P("trusted", set_certs, trusted),
	P("untrusted", set_certs, untrusted),
	P("enroll_trusted", set_certs, enroll_trusted),
	P("srv_cert", set_certs, srv_cert),
	P("trust_capubs", set_bool, trust_capubs),
	P("protection", set_protection, protection),
	P("cert", set_certs, cert),
	P("mac_reference", set_string, mac_reference),
	P("mac_secret", set_secret, mac_secret),
	P("key_type", set_key_type, key_type),
	P("subject", set_string, subject),
	P("san", add_san, sans),
	P("implicit_confirm", set_bool, implicit_confirm),
	P("validity_days", set_uint, validity_days),
	P("msg_timeout", set_uint, msg_timeout),
	P("cert_file", set_string, cert_file),
	P("chain_file", set_string, chain_file),
	P("file_mode", set_mode, file_mode),
	P("allowed_users", set_users, allowed_users),
	P("allowed_groups", set_groups, allowed_groups),
};

static struct profile *
profile_add(struct parse *p, const char *name)
{
	struct config *cfg = p->cfg;
	struct profile *grown, *pr;

	if (config_profile(cfg, name) != NULL) {
		parse_fail(p, "profile '%s' defined twice", name);
		return NULL;
	}
	grown = realloc(cfg->profiles, (cfg->n_profiles + 1) * sizeof(*grown));
	if (grown == NULL)
		return NULL;
	cfg->profiles = grown;
	pr = &cfg->profiles[cfg->n_profiles++];
	memset(pr, 0, sizeof(*pr));
	pr->name = strdup(name);
	pr->key_type = CMPD__KEY_TYPE__KEY_EC_P256;
	pr->msg_timeout = 30;
	pr->file_mode = 0644;
	return pr->name != NULL ? pr : NULL;
}

/* Finds the profile a "[profile NAME]" section names, adding it once. */
static struct profile *
section_profile(struct parse *p, const char *section)
{
	const char *name;

	if (strncmp(section, "profile ", 8) != 0) {
		parse_fail(p, "unknown section [%s]", section);
		return NULL;
	}
	name = section + 8;
	if (!cmpd_str_ok_name(name)) {
		parse_fail(p,
		    "profile name '%s' must be letters, digits, "
		    "'-', '_' or '.'",
		    name);
		return NULL;
	}
	if (p->cur != NULL && strcmp(p->cur->name, name) == 0)
		return p->cur;
	p->cur = profile_add(p, name);
	return p->cur;
}

static int
ini_cb(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	const struct option *opts = global_options;
	size_t n = CMPD_ARRAY_LEN(global_options);
	char *base = (char *)p->cfg;

	if (strcmp(section, "cmpd") != 0) {
		struct profile *pr = section_profile(p, section);

		if (pr == NULL)
			return 0;
		opts = profile_options;
		n = CMPD_ARRAY_LEN(profile_options);
		base = (char *)pr;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(opts[i].name, name) == 0)
			return opts[i].set(p, base + opts[i].offset, value);
	return parse_fail(p, "unknown option '%s' in [%s]", name, section);
}

/* inih reads through this, so the handler knows the current line. */
static char *
ini_read_line(char *str, int num, void *stream)
{
	struct parse *p = stream;

	p->line++;
	return fgets(str, num, p->file);
}

__attribute__((format(printf, 3, 4))) static cmpd_err
check_fail(const struct config *cfg, char **err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (asprintf(err, "%s: %s", cfg->path, msg) < 0)
		*err = NULL;
	return CMPD_EINVAL;
}

static int
certs_copy(struct cert_list *dst, const struct cert_list *src)
{
	for (size_t i = 0; i < src->n; i++) {
		const unsigned char *d = src->der[i].data;
		X509 *x = d2i_X509(NULL, &d, (long)src->der[i].len);
		int ok = x != NULL && certs_add(dst, x);

		X509_free(x);
		if (!ok)
			return 0;
	}
	return 1;
}

/* Derives the id and type of the supplier certificate's key. */
static cmpd_err
profile_cert_key(const struct config *cfg, struct profile *pr, char **err)
{
	const unsigned char *d = pr->cert.der[0].data;
	X509 *x = d2i_X509(NULL, &d, (long)pr->cert.der[0].len);
	unsigned char *spki = NULL;
	int len =
	    x != NULL ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki) : -1;
	cmpd_err rv = CMPD_EINVAL;

	if (len <= 0 ||
	    cmpd_key_id_from_spki(spki, (size_t)len, pr->cert_key_id) !=
	        CMPD_OK) {
		rv = check_fail(
		    cfg, err, "profile '%s': unreadable cert", pr->name);
		goto out;
	}
	pr->cert_key_type = cmpd_key_type_of(X509_get0_pubkey(x));
	pr->cert_spki.data = spki;
	pr->cert_spki.len = (size_t)len;
	spki = NULL;
	if (pr->cert_key_type == CMPD__KEY_TYPE__KEY_ED25519 ||
	    pr->cert_key_type == CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED) {
		rv = check_fail(cfg, err,
		    "profile '%s': the key of cert cannot protect CMP messages "
		    "(OpenSSL 3.0 signs CMP messages with EC P-256/P-384 and "
		    "RSA 2048-4096 keys only)",
		    pr->name);
		goto out;
	}
	rv = CMPD_OK;
out:
	OPENSSL_free(spki);
	X509_free(x);
	return rv;
}

static cmpd_err
profile_default_paths(const struct config *cfg, struct profile *pr)
{
	if (pr->cert_file == NULL &&
	    asprintf(&pr->cert_file, "%s/certs/%s/cert.pem", cfg->state_dir,
	        pr->name) < 0)
		return CMPD_ENOMEM;
	if (pr->chain_file == NULL &&
	    asprintf(&pr->chain_file, "%s/certs/%s/chain.pem", cfg->state_dir,
	        pr->name) < 0)
		return CMPD_ENOMEM;
	return CMPD_OK;
}

static cmpd_err
profile_check(const struct config *cfg, struct profile *pr, char **err)
{
	const char *n = pr->name;

	if (pr->server == NULL ||
	    (strncmp(pr->server, "http://", 7) != 0 &&
	        strncmp(pr->server, "https://", 8) != 0))
		return check_fail(
		    cfg, err, "profile '%s': server must be an http:// URL", n);
	if (pr->protection == PROTECTION_SIGNATURE) {
		if (pr->cert.n == 0)
			return check_fail(cfg, err,
			    "profile '%s': signature protection needs cert "
			    "(the supplier certificate and its chain)",
			    n);
		if (pr->trusted.n == 0 && pr->srv_cert.n == 0)
			return check_fail(cfg, err,
			    "profile '%s': set trusted (the CA's trust "
			    "anchors) or srv_cert",
			    n);
		if (profile_cert_key(cfg, pr, err) != CMPD_OK)
			return CMPD_EINVAL;
	} else if (pr->mac_reference == NULL || pr->mac_secret.data == NULL) {
		return check_fail(cfg, err,
		    "profile '%s': mac protection needs mac_reference and "
		    "mac_secret",
		    n);
	}
	if (pr->enroll_trusted.n == 0 &&
	    !certs_copy(&pr->enroll_trusted, &pr->trusted))
		return CMPD_ENOMEM;
	if (pr->enroll_trusted.n == 0 && !pr->trust_capubs)
		return check_fail(cfg, err,
		    "profile '%s': no trust anchor for the new certificate: "
		    "set enroll_trusted or trusted, or trust_capubs = yes",
		    n);
	return profile_default_paths(cfg, pr);
}

static cmpd_err
config_defaults(struct config *cfg)
{
	if (cfg->state_dir == NULL &&
	    (cfg->state_dir = strdup(CMPD_LOCALSTATEDIR)) == NULL)
		return CMPD_ENOMEM;
	if (cfg->run_dir == NULL &&
	    (cfg->run_dir = strdup(CMPD_RUNSTATEDIR)) == NULL)
		return CMPD_ENOMEM;
	if (cfg->socket == NULL &&
	    asprintf(&cfg->socket, "%s/cmpd.sock", cfg->run_dir) < 0)
		return CMPD_ENOMEM;
	if (asprintf(&cfg->socket_url, "ipc://%s", cfg->socket) < 0)
		return CMPD_ENOMEM;
	return CMPD_OK;
}

cmpd_err
config_load(const char *path, struct config **out, char **err)
{
	struct parse p = { 0 };
	struct config *cfg = calloc(1, sizeof(*cfg));
	cmpd_err rv = CMPD_ENOMEM;
	int line;

	*err = NULL;
	if (cfg == NULL || (cfg->path = strdup(path)) == NULL)
		goto out;
	cfg->log_level = CMPD_LOG_INFO;
	cfg->socket_mode = 0666;
	p.cfg = cfg;
	if ((p.file = fopen(path, "r")) == NULL) {
		rv = check_fail(cfg, err, "cannot open: %s", strerror(errno));
		goto out;
	}
	line = ini_parse_stream(ini_read_line, &p, ini_cb, &p);
	fclose(p.file);
	if (line != 0 || p.err != NULL) {
		if (p.err == NULL) {
			p.line = line;
			parse_fail(&p, "syntax error");
		}
		*err = p.err;
		rv = CMPD_EINVAL;
		goto out;
	}
	if ((rv = config_defaults(cfg)) != CMPD_OK)
		goto out;
	for (size_t i = 0; i < cfg->n_profiles; i++)
		if ((rv = profile_check(cfg, &cfg->profiles[i], err)) !=
		    CMPD_OK)
			goto out;
	*out = cfg;
	cfg = NULL;
	rv = CMPD_OK;
out:
	config_free(cfg);
	return rv;
}

static void
certs_free(struct cert_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		OPENSSL_free(l->der[i].data);
	free(l->der);
}

static void
profile_free(struct profile *pr)
{
	free(pr->name);
	free(pr->server);
	free(pr->proxy);
	free(pr->no_proxy);
	free(pr->recipient);
	free(pr->expected_sender);
	certs_free(&pr->trusted);
	certs_free(&pr->untrusted);
	certs_free(&pr->enroll_trusted);
	certs_free(&pr->srv_cert);
	certs_free(&pr->cert);
	OPENSSL_free(pr->cert_spki.data);
	free(pr->mac_reference);
	if (pr->mac_secret.data != NULL)
		OPENSSL_clear_free(pr->mac_secret.data, pr->mac_secret.len);
	free(pr->subject);
	for (size_t i = 0; i < pr->sans.n; i++)
		free(pr->sans.v[i]);
	free(pr->sans.v);
	free(pr->cert_file);
	free(pr->chain_file);
	free(pr->allowed_users.ids);
	free(pr->allowed_groups.ids);
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->n_profiles; i++)
		profile_free(&cfg->profiles[i]);
	free(cfg->profiles);
	free(cfg->path);
	free(cfg->state_dir);
	free(cfg->run_dir);
	free(cfg->socket);
	free(cfg->socket_url);
	free(cfg->libexec_dir);
	free(cfg->admin_users.ids);
	free(cfg);
}

const struct profile *
config_profile(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_profiles; i++)
		if (strcmp(cfg->profiles[i].name, name) == 0)
			return &cfg->profiles[i];
	return NULL;
}

int
config_ids_has_user(const struct id_list *l, uint32_t uid)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->ids[i] == uid)
			return 1;
	return 0;
}

/* The peer's primary group, or any group the user is a member of. */
int
config_ids_has_group(const struct id_list *l, uint32_t uid, uint32_t gid)
{
	struct passwd *pw;
	gid_t groups[256];
	int n = CMPD_ARRAY_LEN(groups);

	if (l->n == 0)
		return 0;
	if (config_ids_has_user(l, gid))
		return 1;
	pw = getpwuid(uid);
	if (pw == NULL || getgrouplist(pw->pw_name, gid, groups, &n) < 0)
		return 0;
	for (int i = 0; i < n; i++)
		if (config_ids_has_user(l, groups[i]))
			return 1;
	return 0;
}
