/*
 * The broker's configuration: one INI file (inih) with a [cmpd] section and
 * a [profile NAME] section per CA profile. See cmpd.conf(5) in
 * packaging/cmpd.conf.5.md for every option and its default.
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

enum protection { PROTECTION_SIGNATURE, PROTECTION_MAC, PROTECTION_MAX };

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

struct profile {
	char *name;
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
	struct cert_list cert; /* supplier certificate, then its chain */
	char cert_key_id[33];  /* the key id of cert's public key */
	Cmpd__KeyType cert_key_type;
	ProtobufCBinaryData cert_spki;
	char *mac_reference;
	struct secret mac_secret;
	Cmpd__KeyType key_type;
	char *subject;
	struct str_list sans;
	int implicit_confirm;
	uint32_t validity_days;
	uint32_t msg_timeout;
	char *cert_file;
	char *chain_file;
	mode_t file_mode;
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
	int log_level;
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
