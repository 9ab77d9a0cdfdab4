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
#include "confval.h"
#include "fileio.h"
#include "keyid.h"
#include "log.h"
#include "util.h"

struct option {
	const char *name;
	int (*set)(struct parse *p, void *field, const char *value);
	size_t offset;
};

/* The keyworker's key pool: checked here, so a typo stops cmpd at once
 * rather than the keyworker at every restart. */
static int
set_key_pool(struct parse *p, void *field, const char *value)
{
	unsigned counts[CMPD_KEY_TYPE_COUNT];
	char why[160];

	if (cmpd_key_pool_parse(value, counts, why, sizeof(why)) != CMPD_OK)
		return parse_fail(p, "key_pool: %s", why);
	return set_string(p, field, value);
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
	G("key_pool", set_key_pool, key_pool),
	G("metrics_file", set_string, metrics_file),
	G("keyworker_user", set_string, keyworker_user),
	G("networker_user", set_string, networker_user),
	G("log_level", set_log_level, log_level),
	G("job_retention", set_duration, job_retention),
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
	P("cert", set_certs, cert.certs),
	P("protect_with", set_string, protect_with),
	P("op", set_op, op),
	P("mac_reference", set_string, mac_reference),
	P("mac_secret", set_secret, mac_secret),
	P("key_type", set_key_type, key_type),
	P("subject", set_string, subject),
	P("san", add_san, sans),
	P("implicit_confirm", set_bool, implicit_confirm),
	P("validity_days", set_uint, validity_days),
	P("msg_timeout", set_duration, msg_timeout),
	P("keep_alive", set_bool, keep_alive),
	P("total_timeout", set_duration, total_timeout),
	P("tls_trusted", set_certs, tls_trusted),
	P("tls_cert", set_certs, tls_client.certs),
	P("keep_key", set_bool, keep_key),
	P("auto_renew", set_bool, auto_renew),
	P("renew_at", set_percent, renew_at),
	P("renew_before", set_duration, renew_before),
	P("renew_jitter", set_jitter, renew_jitter),
	P("renew_window", set_window, window),
	P("retry_min", set_duration, retry_min),
	P("retry_max", set_duration, retry_max),
	P("reenroll_after_expiry", set_bool, reenroll_after_expiry),
	P("reload_command", set_string, reload_command),
	P("reload_timeout", set_duration, reload_timeout),
	P("cert_file", set_string, cert_file),
	P("chain_file", set_string, chain_file),
	P("file_mode", set_mode, file_mode),
	P("file_owner", set_owner, file_uid),
	P("file_group", set_group, file_gid),
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
	pr->line = p->section_line;
	pr->key_type = CMPD__KEY_TYPE__KEY_EC_P256;
	pr->op = CMPD__CMP_OP__CMP_OP_IR;
	pr->msg_timeout = 30;
	pr->keep_alive = 1;
	pr->total_timeout = 3600;
	pr->auto_renew = 1;
	pr->renew_at = 66;
	pr->renew_jitter = -1;
	pr->window.start = pr->window.end = NO_WINDOW;
	pr->retry_min = 60;
	pr->retry_max = 6 * 3600;
	pr->reload_timeout = 30;
	pr->file_mode = 0644;
	pr->file_uid = (uid_t)-1;
	pr->file_gid = (gid_t)-1;
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
	char *s;

	p->line++;
	/* inih reads an indented line as the continuation of a value. */
	if ((s = fgets(str, num, p->file)) != NULL && str[0] == '[')
		p->section_line = p->line;
	return s;
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

/*
 * Derives the id, type and public key of a keyed certificate's key from its
 * first certificate. what names it in errors.
 */
static cmpd_err
keyed_cert_derive(const struct config *cfg, const struct profile *pr,
    struct keyed_cert *kc, const char *what, char **err)
{
	const unsigned char *d = kc->certs.der[0].data;
	X509 *x = d2i_X509(NULL, &d, (long)kc->certs.der[0].len);
	unsigned char *spki = NULL;
	int len =
	    x != NULL ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki) : -1;
	cmpd_err rv = CMPD_EINVAL;

	if (len <= 0 ||
	    cmpd_key_id_from_spki(spki, (size_t)len, kc->key_id) != CMPD_OK) {
		rv = check_fail(
		    cfg, err, "profile '%s': unreadable %s", pr->name, what);
		goto out;
	}
	kc->key_type = cmpd_key_type_of(X509_get0_pubkey(x));
	kc->spki.data = spki;
	kc->spki.len = (size_t)len;
	spki = NULL;
	rv = CMPD_OK;
out:
	OPENSSL_free(spki);
	X509_free(x);
	return rv;
}

/* The supplier certificate's key must be able to sign CMP messages. */
static cmpd_err
profile_cert_key(const struct config *cfg, struct profile *pr, char **err)
{
	if (keyed_cert_derive(cfg, pr, &pr->cert, "cert", err) != CMPD_OK)
		return CMPD_EINVAL;
	if (pr->cert.key_type == CMPD__KEY_TYPE__KEY_ED25519 ||
	    pr->cert.key_type == CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED)
		return check_fail(cfg, err,
		    "profile '%s': the key of cert cannot protect CMP messages "
		    "(OpenSSL 3.0 signs CMP messages with EC P-256/P-384 and "
		    "RSA 2048-4096 keys only)",
		    pr->name);
	return CMPD_OK;
}

/* A TLS client key signs TLS 1.3 CertificateVerify: EC keys only. */
static cmpd_err
profile_tls_key(const struct config *cfg, struct profile *pr, char **err)
{
	if (pr->tls_client.certs.n == 0)
		return CMPD_OK;
	if (keyed_cert_derive(cfg, pr, &pr->tls_client, "tls_cert", err) !=
	    CMPD_OK)
		return CMPD_EINVAL;
	if (pr->tls_client.key_type != CMPD__KEY_TYPE__KEY_EC_P256 &&
	    pr->tls_client.key_type != CMPD__KEY_TYPE__KEY_EC_P384)
		return check_fail(cfg, err,
		    "profile '%s': the key of tls_cert must be EC P-256 or "
		    "P-384 (TLS 1.3 client authentication with RSA needs "
		    "RSA-PSS, which the keyworker does not do)",
		    pr->name);
	if (strncmp(pr->server, "https://", 8) != 0)
		return check_fail(cfg, err,
		    "profile '%s': tls_cert needs an https:// server",
		    pr->name);
	return CMPD_OK;
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
profile_check_protection(
    const struct config *cfg, struct profile *pr, char **err)
{
	const char *n = pr->name;

	switch (pr->protection) {
	case PROTECTION_SIGNATURE:
		if (pr->cert.certs.n == 0)
			return check_fail(cfg, err,
			    "profile '%s': signature protection needs cert "
			    "(the supplier certificate and its chain)",
			    n);
		return profile_cert_key(cfg, pr, err);
	case PROTECTION_MAC:
		if (pr->mac_reference == NULL || pr->mac_secret.data == NULL)
			return check_fail(cfg, err,
			    "profile '%s': mac protection needs mac_reference "
			    "and mac_secret",
			    n);
		return CMPD_OK;
	case PROTECTION_CERTIFICATE:
		if (pr->protect_with == NULL ||
		    config_profile(cfg, pr->protect_with) == NULL ||
		    strcmp(pr->protect_with, n) == 0)
			return check_fail(cfg, err,
			    "profile '%s': certificate protection needs "
			    "protect_with naming another profile",
			    n);
		return CMPD_OK;
	default:
		return CMPD_EINVAL;
	}
}

static cmpd_err
profile_check(const struct config *cfg, struct profile *pr, char **err)
{
	const char *n = pr->name;
	cmpd_err rv;

	if (pr->server == NULL ||
	    (strncmp(pr->server, "http://", 7) != 0 &&
	        strncmp(pr->server, "https://", 8) != 0))
		return check_fail(cfg, err,
		    "profile '%s': server must be an http:// or https:// URL",
		    n);
	if (strncmp(pr->server, "https://", 8) == 0 && pr->tls_trusted.n == 0)
		return check_fail(cfg, err,
		    "profile '%s': an https:// server needs tls_trusted (the "
		    "anchors of the CA's TLS certificate)",
		    n);
	if ((rv = profile_check_protection(cfg, pr, err)) != CMPD_OK ||
	    (rv = profile_tls_key(cfg, pr, err)) != CMPD_OK)
		return rv;
	if (pr->protection != PROTECTION_MAC && pr->trusted.n == 0 &&
	    pr->srv_cert.n == 0)
		return check_fail(cfg, err,
		    "profile '%s': set trusted (the CA's trust anchors) or "
		    "srv_cert",
		    n);
	if (pr->op == CMPD__CMP_OP__CMP_OP_CR &&
	    pr->protection != PROTECTION_CERTIFICATE)
		return check_fail(cfg, err,
		    "profile '%s': op = cr needs protection = certificate", n);
	if (pr->renew_before == 0 && (pr->renew_at < 1 || pr->renew_at > 99))
		return check_fail(cfg, err,
		    "profile '%s': renew_at must be 1 to 99 (percent)", n);
	if (pr->retry_min == 0 || pr->retry_max < pr->retry_min)
		return check_fail(cfg, err,
		    "profile '%s': retry_min must be at least 1s and at most "
		    "retry_max",
		    n);
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

/*
 * A profile's check failed after the whole file was read: its error
 * ("FILE: profile 'x': ...") names the line of the profile's header.
 */
static void
profile_err_line(const struct config *cfg, const struct profile *pr, char **err)
{
	size_t n = strlen(cfg->path);
	char *lined = NULL;

	if (*err == NULL || pr->line <= 0 || strncmp(*err, cfg->path, n) != 0 ||
	    strncmp(*err + n, ": ", 2) != 0)
		return;
	if (asprintf(&lined, "%s:%d:%s", cfg->path, pr->line, *err + n + 1) < 0)
		return;
	free(*err);
	*err = lined;
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
	cfg->job_retention = 30 * 86400;
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
		    CMPD_OK) {
			profile_err_line(cfg, &cfg->profiles[i], err);
			goto out;
		}
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
keyed_cert_free(struct keyed_cert *kc)
{
	certs_free(&kc->certs);
	OPENSSL_free(kc->spki.data);
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
	keyed_cert_free(&pr->cert);
	keyed_cert_free(&pr->tls_client);
	certs_free(&pr->tls_trusted);
	free(pr->protect_with);
	free(pr->reload_command);
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
	free(cfg->key_pool);
	free(cfg->metrics_file);
	free(cfg->keyworker_user);
	free(cfg->networker_user);
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
