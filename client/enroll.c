/*
 * Enrollment: the options a caller may set, checked here so that a typing
 * error is reported before cmpd is asked, and the EnrollReq built from them.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "keyid.h"
#include "util.h"

#define OPTS_MAX_SANS 64 /* as many as cmpd accepts */

struct cmpd_enroll_opts {
	char *subject;
	char *sans[OPTS_MAX_SANS];
	size_t n_sans;
	Cmpd__KeyType key_type;
	char key_id[CMPD_KEY_ID_LEN + 1];
	Cmpd__CmpOp op;
};

cmpd_result
cmpd_enroll_opts_new(cmpd_enroll_opts **out)
{
	cmpd_enroll_opts *o;

	if (out == NULL)
		return client_fail(NULL, CMPD_RESULT_INVALID, "out is NULL");
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return client_fail(NULL, CMPD_RESULT_NOMEM, "out of memory");
	*out = o;
	return CMPD_RESULT_OK;
}

void
cmpd_enroll_opts_free(cmpd_enroll_opts *opts)
{
	if (opts == NULL)
		return;
	free(opts->subject);
	for (size_t i = 0; i < opts->n_sans; i++)
		free(opts->sans[i]);
	free(opts);
}

/*
 * "/type=value/type=value": the form cmpd hands to OpenSSL. Each part
 * needs a type and an '='; a value may contain an escaped "\/".
 */
static int
subject_ok(const char *s)
{
	const char *p = s;

	if (!client_text_ok(s, CMPD_IPC_MAX_STRING) || *p != '/')
		return 0;
	while (*p == '/') {
		size_t type = strspn(p + 1,
		    "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789.-_");

		if (type == 0 || p[1 + type] != '=')
			return 0;
		for (p += 2 + type; *p != '\0' && *p != '/'; p++)
			if (p[0] == '\\' && p[1] != '\0')
				p++;
	}
	return *p == '\0';
}

cmpd_result
cmpd_enroll_opts_set_subject(cmpd_enroll_opts *opts, const char *subject)
{
	char *copy = NULL;

	if (opts == NULL)
		return client_fail(NULL, CMPD_RESULT_INVALID, "opts is NULL");
	if (subject != NULL && subject[0] != '\0') {
		if (!subject_ok(subject))
			return client_fail(NULL, CMPD_RESULT_INVALID,
			    "not a subject name of the form "
			    "\"/CN=name/O=org\": %s",
			    subject);
		if ((copy = strdup(subject)) == NULL)
			return client_fail(
			    NULL, CMPD_RESULT_NOMEM, "out of memory");
	}
	free(opts->subject);
	opts->subject = copy;
	return CMPD_RESULT_OK;
}

/* A SAN value after its "TYPE:" prefix. */
static int
san_value_ok(const char *type, const char *v)
{
	unsigned char addr[16];

	if (strcmp(type, "IP") == 0)
		return inet_pton(AF_INET, v, addr) == 1 ||
		    inet_pton(AF_INET6, v, addr) == 1;
	if (strcmp(type, "DNS") == 0)
		return strspn(v,
		           "abcdefghijklmnopqrstuvwxyz"
		           "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_*") ==
		    strlen(v);
	if (strcmp(type, "email") == 0)
		return strchr(v, '@') != NULL && strchr(v, ' ') == NULL;
	if (strcmp(type, "URI") == 0)
		return strchr(v, ':') != NULL && strchr(v, ' ') == NULL;
	return 0;
}

static int
san_ok(const char *san)
{
	const char *colon;
	char type[8];
	size_t n;

	if (!client_text_ok(san, CMPD_IPC_MAX_STRING) ||
	    (colon = strchr(san, ':')) == NULL)
		return 0;
	n = (size_t)(colon - san);
	if (n == 0 || n >= sizeof(type) || colon[1] == '\0')
		return 0;
	memcpy(type, san, n);
	type[n] = '\0';
	return san_value_ok(type, colon + 1);
}

cmpd_result
cmpd_enroll_opts_add_san(cmpd_enroll_opts *opts, const char *san)
{
	char *copy;

	if (opts == NULL)
		return client_fail(NULL, CMPD_RESULT_INVALID, "opts is NULL");
	if (!san_ok(san))
		return client_fail(NULL, CMPD_RESULT_INVALID,
		    "not a SAN (DNS:name, IP:address, URI:uri or "
		    "email:address): %s",
		    san != NULL ? san : "(null)");
	if (opts->n_sans == OPTS_MAX_SANS)
		return client_fail(NULL, CMPD_RESULT_INVALID,
		    "more than %d SANs", OPTS_MAX_SANS);
	if ((copy = strdup(san)) == NULL)
		return client_fail(NULL, CMPD_RESULT_NOMEM, "out of memory");
	opts->sans[opts->n_sans++] = copy;
	return CMPD_RESULT_OK;
}

cmpd_result
cmpd_enroll_opts_set_key_type(cmpd_enroll_opts *opts, const char *name)
{
	Cmpd__KeyType type = CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED;

	if (opts == NULL)
		return client_fail(NULL, CMPD_RESULT_INVALID, "opts is NULL");
	if (name != NULL &&
	    (type = cmpd_key_type_parse(name)) ==
	        CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED)
		return client_fail(NULL, CMPD_RESULT_INVALID,
		    "unknown key type %s (ec-p256, ec-p384, rsa2048, rsa3072, "
		    "rsa4096, ed25519)",
		    name);
	opts->key_type = type;
	return CMPD_RESULT_OK;
}

cmpd_result
cmpd_enroll_opts_set_key_id(cmpd_enroll_opts *opts, const char *key_id)
{
	char id[CMPD_KEY_ID_LEN + 1] = "";

	if (opts == NULL)
		return client_fail(NULL, CMPD_RESULT_INVALID, "opts is NULL");
	if (key_id != NULL) {
		/* Key ids are shown lowercase; accept a pasted uppercase. */
		for (size_t i = 0; i < CMPD_KEY_ID_LEN && key_id[i]; i++)
			id[i] = (char)tolower((unsigned char)key_id[i]);
		if (strlen(key_id) != CMPD_KEY_ID_LEN ||
		    !cmpd_is_hex_id(id, CMPD_KEY_ID_LEN))
			return client_fail(NULL, CMPD_RESULT_INVALID,
			    "not a key id (%d hex digits): %s", CMPD_KEY_ID_LEN,
			    key_id);
	}
	memcpy(opts->key_id, id, sizeof(id));
	return CMPD_RESULT_OK;
}

cmpd_result
cmpd_enroll_opts_set_op(cmpd_enroll_opts *opts, const char *op)
{
	/* An enrollment asks for a new certificate: not kur, rr or genm. */
	static const Cmpd__CmpOp ops[] = { CMPD__CMP_OP__CMP_OP_IR,
		CMPD__CMP_OP__CMP_OP_CR, CMPD__CMP_OP__CMP_OP_P10CR };

	if (opts == NULL)
		return client_fail(NULL, CMPD_RESULT_INVALID, "opts is NULL");
	if (op == NULL) {
		opts->op = CMPD__CMP_OP__CMP_OP_UNSPECIFIED;
		return CMPD_RESULT_OK;
	}
	for (size_t i = 0; i < CMPD_ARRAY_LEN(ops); i++) {
		if (strcmp(names_op(ops[i]), op) == 0) {
			opts->op = ops[i];
			return CMPD_RESULT_OK;
		}
	}
	return client_fail(NULL, CMPD_RESULT_INVALID,
	    "unknown enrollment operation %s (ir, cr, p10cr)", op);
}

static void
enroll_req_fill(
    Cmpd__EnrollReq *e, const char *profile, const cmpd_enroll_opts *opts)
{
	e->profile = (char *)profile;
	if (opts == NULL)
		return;
	if (opts->subject != NULL)
		e->subject = opts->subject;
	e->n_sans = opts->n_sans;
	e->sans = (char **)opts->sans;
	e->key_type = opts->key_type;
	e->key_id = (char *)opts->key_id;
	e->op = opts->op;
}

cmpd_result
cmpd_enroll(cmpd_client *client, const char *profile,
    const cmpd_enroll_opts *opts, cmpd_job **out)
{
	Cmpd__EnrollReq e = CMPD__ENROLL_REQ__INIT;
	cmpd_env req;

	if (client_check(client) != CMPD_RESULT_OK)
		return CMPD_RESULT_INVALID;
	if (out == NULL || !client_text_ok(profile, 256))
		return client_fail(client, CMPD_RESULT_INVALID,
		    "invalid profile name or output");
	if (opts != NULL && opts->key_id[0] != '\0' &&
	    opts->key_type != CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED)
		return client_fail(client, CMPD_RESULT_INVALID,
		    "an existing key (key id) has its own type: give a key "
		    "type or a key id, not both");
	cmpd_env_init(&req, 0);
	enroll_req_fill(&e, profile, opts);
	req.body_case = CMPD__ENVELOPE__BODY_ENROLL_REQ;
	req.enroll_req = &e;
	return client_job_call(client, &req, 0, out);
}
