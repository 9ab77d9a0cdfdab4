/*
 * The broker's configuration: one INI file (inih) with a [cmpd] section and
 * a [profile NAME] section per CA profile. See cmpd.conf(5)
 * (packaging/man/cmpd.conf.5.scd) for every option and its default.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cmpd.pb-c.h"
#include "err.h"

/* A list of DER certificates read from a PEM file. */
struct cert_list {
	ProtobufCBinaryData *der;
	size_t n;
};

enum protection {
	PROTECTION_SIGNATURE,   /* the supplier (manufacturer) certificate */
	PROTECTION_MAC,         /* PBM with a shared secret */
	PROTECTION_CERTIFICATE, /* the current certificate of another profile */
	PROTECTION_MAX
};

struct id_list {
	uint32_t *ids;
	size_t n;
};

struct str_list {
	char **v;
	size_t n;
};

struct secret {
	uint8_t *data;
	size_t len;
};

/*
 * A certificate from a file whose private key is in the keyworker's store:
 * cmpd finds the key by the certificate's public key.
 */
struct keyed_cert {
	struct cert_list certs; /* the certificate, then its chain */
	char key_id[33];
	Cmpd__KeyType key_type;
	ProtobufCBinaryData spki;
};

/* A daily time window, in minutes after midnight; NO_WINDOW if none. */
struct window {
	int start;
	int end;
};

#define NO_WINDOW (-1)

struct profile {
	char *name;
	int line; /* of its [profile NAME] header, for errors */
	char *server;
	char *proxy;
	char *no_proxy;
	char *recipient;
	char *expected_sender;
	struct cert_list trusted;
	struct cert_list untrusted;
	struct cert_list enroll_trusted;
	struct cert_list srv_cert;
	int trust_capubs;
	enum protection protection;
	struct keyed_cert cert; /* the supplier certificate */
	char *protect_with;     /* PROTECTION_CERTIFICATE: that profile's */
	char *mac_reference;
	struct secret mac_secret;
	Cmpd__KeyType key_type;
	char *subject;
	struct str_list sans;
	int implicit_confirm;
	uint32_t validity_days;
	uint32_t msg_timeout;
	int keep_alive; /* one HTTP connection for the transaction's messages */
	uint32_t total_timeout; /* seconds a job may take; 0: no limit */
	Cmpd__CmpOp op;         /* how to enroll: IR, CR or P10CR */
	int keep_key;           /* renewals certify the same key again */
	struct cert_list tls_trusted;
	struct keyed_cert tls_client;
	/* Renewal: when, and how to retry. */
	int auto_renew;
	uint32_t renew_at;     /* percent of the lifetime */
	uint32_t renew_before; /* seconds before expiry; 0: use renew_at */
	int64_t renew_jitter;  /* seconds, or -1 for 2% of the lifetime */
	struct window window;  /* daily, local time */
	uint32_t retry_min, retry_max; /* seconds */
	int reenroll_after_expiry;
	char *reload_command;
	uint32_t reload_timeout;
	char *cert_file;
	char *chain_file;
	mode_t file_mode;
	uid_t file_uid; /* (uid_t)-1: cmpd's */
	gid_t file_gid;
	struct id_list allowed_users;
	struct id_list allowed_groups;
};

struct config {
	char *path;
	char *state_dir;
	char *run_dir;
	char *socket;
	char *socket_url; /* ipc://socket */
	char *libexec_dir;
	char *key_pool;     /* the keyworker's pre-generated keys; NULL: none */
	char *metrics_file; /* Prometheus text file; NULL: none */
	char *keyworker_user; /* when root: the workers' users; NULL: root */
	char *networker_user;
	int log_level;
	uint32_t job_retention; /* seconds finished jobs are kept; 0: ever */
	mode_t socket_mode;
	struct id_list admin_users;
	struct profile *profiles;
	size_t n_profiles;
};

/*
 * Reads and checks the configuration at path. On failure *err names the
 * file and line ("cmpd.conf:12: unknown option 'x' in [profile a]"); the
 * caller frees it with free().
 */
cmpd_err config_load(const char *path, struct config **out, char **err);
void config_free(struct config *cfg);

const struct profile *config_profile(
    const struct config *cfg, const char *name);

/* Whether uid is in list (or, for a group list, gid or uid's groups are). */
int config_ids_has_user(const struct id_list *l, uint32_t uid);
int config_ids_has_group(const struct id_list *l, uint32_t uid, uint32_t gid);
