/*
 * The broker link: what the broker may ask the keyworker. Replies echo the
 * request's id; a request that cannot be done gets a cmpd.Error with a
 * reason a person can act on. A message not in the table, or one whose
 * fields are malformed, is a protocol violation: the keyworker logs it and
 * exits, and the broker restarts it.
 */
#include <nng/transport/ipc/ipc.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"
#include "kw.h"
#include "log.h"
#include "util.h"

typedef cmpd_err (*broker_check_fn)(const cmpd_env *req, struct kw_why *why);
typedef void (*broker_handle_fn)(struct kw *kw, const cmpd_env *req);

static void
reply_error(struct kw *kw, uint64_t id, cmpd_err code, const char *text)
{
	log_warn("request %llu failed: %s", (unsigned long long)id, text);
	kw_broker_send_error(kw, id, code, text);
}

static void
keyinfo_fill(Cmpd__KeyInfo *ki, const struct kw_key *k)
{
	cmpd__key_info__init(ki);
	ki->id = (char *)k->id;
	ki->type = k->type;
	ki->spki.data = k->spki;
	ki->spki.len = k->spki_len;
	ki->created = k->created;
}

/* --- KeyGenerateReq: on the thread pool, so signing goes on. --- */

struct keygen {
	uv_work_t work;
	struct kw *kw;
	const char *dir;
	uint64_t id;
	Cmpd__KeyType type;
	char job_id[CMPD_JOB_ID_LEN + 1];
	EVP_PKEY *pkey; /* from the pool, or NULL: generate one */
	int pooled;
	uint8_t *grant; /* the GrantReq to set with the key, packed; NULL */
	size_t grant_len;
	cmpd_err rv;
	struct kw_key key;
	struct kw_why why;
};

static void
keygen_work_cb(uv_work_t *w)
{
	struct keygen *g = w->data;

	/* A pooled key is stored only now that a job has it, durably
	 * before the broker hears of it, like a key generated here. */
	g->rv = g->pkey != NULL
	    ? CMPD_OK
	    : kw_key_generate(g->type, g->job_id, &g->pkey, &g->why);
	if (g->rv == CMPD_OK)
		g->rv = kw_keygen_store(g->dir, g->pkey, &g->key, &g->why);
	/* libuv's pool threads live as long as the process and never run
	 * OpenSSL's thread-exit cleanup: free this thread's OpenSSL state
	 * (its random generators) now. The next use makes it again. */
	OPENSSL_thread_stop();
}

/*
 * Grants g's job with the key id just made; NULL, or the refusal in
 * *err (its text in a static buffer, valid until the next call).
 */
static Cmpd__Error *
keygen_grant(
    struct kw *kw, const struct keygen *g, const char *id, Cmpd__Error *err)
{
	static struct kw_why why;
	Cmpd__GrantReq *req =
	    cmpd__grant_req__unpack(NULL, g->grant_len, g->grant);
	cmpd_err rv = CMPD_ENOMEM;

	kw_why_set(&why, "out of memory");
	if (req != NULL) {
		req->new_key_id = (char *)id; /* not freed: see below */
		rv = kw_grant_set(kw->grants, kw->ks, req, &why);
		req->new_key_id = NULL;
		cmpd__grant_req__free_unpacked(req, NULL);
	}
	if (rv == CMPD_OK)
		return NULL;
	cmpd__error__init(err);
	err->code = (Cmpd__ErrorCode)rv;
	err->message = why.text;
	return err;
}

static void
keygen_reply(struct kw *kw, struct keygen *g)
{
	Cmpd__KeyGenerateRep rep = CMPD__KEY_GENERATE_REP__INIT;
	Cmpd__Error grant_error;
	Cmpd__KeyInfo ki;
	const struct kw_key *k;
	char id[CMPD_KEY_ID_LEN + 1];
	cmpd_env env;
	cmpd_err rv;

	memcpy(id, g->key.id, sizeof(id));
	if ((rv = kw_keystore_add(kw->ks, &g->key)) != CMPD_OK) {
		reply_error(kw, g->id, rv, "the new key cannot be indexed");
		return;
	}
	/* The job's grant loads it in a moment. */
	kw_keystore_keep(kw->ks, id, g->pkey);
	k = kw_keystore_find(kw->ks, id);
	log_info("job %s: %s %s key %s", g->job_id,
	    g->pooled ? "took from the pool" : "generated",
	    kw_key_type_name(k->type), k->id);
	keyinfo_fill(&ki, k);
	rep.key = &ki;
	if (g->grant != NULL)
		rep.grant_error = keygen_grant(kw, g, id, &grant_error);
	cmpd_env_init(&env, g->id);
	env.body_case = CMPD__ENVELOPE__BODY_KEY_GENERATE_REP;
	env.key_generate_rep = &rep;
	kw_broker_send(kw, &env);
}

static void
keygen_after_cb(uv_work_t *w, int status)
{
	struct keygen *g = w->data;

	if (status != 0)
		reply_error(g->kw, g->id, CMPD_ECANCELED,
		    "key generation was cancelled");
	else if (g->rv != CMPD_OK)
		reply_error(g->kw, g->id, g->rv, g->why.text);
	else
		keygen_reply(g->kw, g);
	kw_key_fini(&g->key);
	EVP_PKEY_free(g->pkey);
	free(g->grant);
	free(g);
}

/* The grant to set with the key: as a GrantReq, with the key to come. */
static cmpd_err
check_generate_grant(const Cmpd__GrantReq *grant, struct kw_why *why)
{
	static char placeholder[] = "00000000000000000000000000000000";
	Cmpd__GrantReq g = *grant;

	g.new_key_id = placeholder;
	return kw_grant_req_check(&g, why);
}

static cmpd_err
check_generate(const cmpd_env *req, struct kw_why *why)
{
	const Cmpd__KeyGenerateReq *r = req->key_generate_req;

	if (!kw_key_type_valid(r->type))
		kw_why_set(
		    why, "key type %d cannot be generated", (int)r->type);
	else if (cmpd_str_set(r->job_id) &&
	    !kw_is_hex_len(r->job_id, CMPD_JOB_ID_LEN))
		kw_why_set(why, "job_id is not %d hex digits", CMPD_JOB_ID_LEN);
	else if (r->grant != NULL && cmpd_str_set(r->grant->new_key_id))
		kw_why_set(why, "the grant's new key is the one to generate");
	else if (r->grant != NULL)
		return check_generate_grant(r->grant, why);
	else
		return CMPD_OK;
	return CMPD_EINVAL;
}

static void
handle_generate(struct kw *kw, const cmpd_env *req)
{
	const Cmpd__KeyGenerateReq *r = req->key_generate_req;
	struct keygen *g = calloc(1, sizeof(*g));

	if (g == NULL) {
		reply_error(kw, req->id, CMPD_ENOMEM, "out of memory");
		return;
	}
	g->work.data = g;
	g->kw = kw;
	g->dir = kw_keystore_dir(kw->ks);
	g->id = req->id;
	g->type = r->type;
	cmpd_strlcpy(g->job_id, cmpd_str_set(r->job_id) ? r->job_id : "-",
	    sizeof(g->job_id));
	if (r->grant != NULL) {
		g->grant_len = cmpd__grant_req__get_packed_size(r->grant);
		if ((g->grant = malloc(g->grant_len + 1)) == NULL) {
			reply_error(kw, req->id, CMPD_ENOMEM, "out of memory");
			free(g);
			return;
		}
		cmpd__grant_req__pack(r->grant, g->grant);
	}
	g->pkey = kw_pool_take(kw->pool, r->type);
	g->pooled = g->pkey != NULL;
	if (uv_queue_work(
	        &kw->loop, &g->work, keygen_work_cb, keygen_after_cb) != 0) {
		reply_error(kw, req->id, CMPD_EINTERNAL,
		    "key generation cannot be queued");
		EVP_PKEY_free(g->pkey);
		free(g->grant);
		free(g);
	}
}

/* --- Import --- */

static void
handle_import_cert(struct kw *kw, const cmpd_env *req)
{
	Cmpd__KeyImportCertRep rep = CMPD__KEY_IMPORT_CERT_REP__INIT;
	cmpd_env env;

	rep.cert.data = (uint8_t *)kw_importer_cert(kw->imp, &rep.cert.len);
	cmpd_env_init(&env, req->id);
	env.body_case = CMPD__ENVELOPE__BODY_KEY_IMPORT_CERT_REP;
	env.key_import_cert_rep = &rep;
	kw_broker_send(kw, &env);
}

static void
handle_import(struct kw *kw, const cmpd_env *req)
{
	const ProtobufCBinaryData *e = &req->key_import_req->envelope;
	Cmpd__KeyImportRep rep = CMPD__KEY_IMPORT_REP__INIT;
	Cmpd__KeyInfo ki;
	const struct kw_key *k = NULL;
	EVP_PKEY *pkey = NULL;
	struct kw_why why;
	cmpd_env env;
	cmpd_err rv;

	rv = kw_importer_unwrap(kw->imp, e->data, e->len, &pkey, &why);
	if (rv == CMPD_OK)
		rv = kw_keystore_store(kw->ks, pkey, &k, &why);
	EVP_PKEY_free(pkey);
	if (rv != CMPD_OK) {
		reply_error(kw, req->id, rv, why.text);
		return;
	}
	keyinfo_fill(&ki, k);
	rep.key = &ki;
	cmpd_env_init(&env, req->id);
	env.body_case = CMPD__ENVELOPE__BODY_KEY_IMPORT_REP;
	env.key_import_rep = &rep;
	kw_broker_send(kw, &env);
}

/* --- List and delete --- */

static void
list_send(struct kw *kw, uint64_t id, Cmpd__KeyInfo **keys, size_t n)
{
	Cmpd__KeyListRep rep = CMPD__KEY_LIST_REP__INIT;
	cmpd_env env;

	rep.n_keys = n;
	rep.keys = keys;
	cmpd_env_init(&env, id);
	env.body_case = CMPD__ENVELOPE__BODY_KEY_LIST_REP;
	env.key_list_rep = &rep;
	if (cmpd__envelope__get_packed_size(&env) > CMPD_IPC_MAX_WORKER)
		reply_error(kw, id, CMPD_EINVAL,
		    "the key list exceeds the broker link's message limit");
	else
		kw_broker_send(kw, &env);
}

/* The broker may only ask whether a key id it was given is known. */
static cmpd_err
check_list(const cmpd_env *req, struct kw_why *why)
{
	const char *id = req->key_list_req->id;

	if (!cmpd_str_set(id) || cmpd_is_hex_id(id, CMPD_KEY_ID_LEN))
		return CMPD_OK;
	kw_why_set(why, "id is not hex digits of a key id");
	return CMPD_EINVAL;
}

/* Every key, or only the one named (none if it is not known). */
static void
handle_list(struct kw *kw, const cmpd_env *req)
{
	const char *only = req->key_list_req->id;
	size_t n;
	Cmpd__KeyInfo *infos = NULL, **ptrs = NULL;

	if (cmpd_str_set(only)) {
		const struct kw_key *k = kw_keystore_find(kw->ks, only);
		Cmpd__KeyInfo ki, *one = &ki;

		if (k != NULL)
			keyinfo_fill(&ki, k);
		list_send(kw, req->id, &one, k != NULL ? 1 : 0);
		return;
	}
	if (!req->key_list_req->index_only)
		kw_keystore_check(kw->ks, SIZE_MAX);
	n = kw_keystore_count(kw->ks);
	infos = calloc(n + 1, sizeof(*infos));
	ptrs = calloc(n + 1, sizeof(*ptrs));
	if (infos == NULL || ptrs == NULL) {
		reply_error(kw, req->id, CMPD_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		keyinfo_fill(&infos[i], kw_keystore_at(kw->ks, i));
		ptrs[i] = &infos[i];
	}
	list_send(kw, req->id, ptrs, n);
out:
	free(ptrs);
	free(infos);
}

static cmpd_err
check_delete(const cmpd_env *req, struct kw_why *why)
{
	if (kw_is_hex_len(req->key_delete_req->id, CMPD_KEY_ID_LEN))
		return CMPD_OK;
	kw_why_set(why, "id is not a key id");
	return CMPD_EINVAL;
}

static void
handle_delete(struct kw *kw, const cmpd_env *req)
{
	const char *id = req->key_delete_req->id;
	const char *job = kw_grants_key_user(kw->grants, id);
	struct kw_why why;
	cmpd_err rv;

	if (job != NULL) {
		kw_why_set(
		    &why, "key %s is in use by the grant of job %s", id, job);
		reply_error(kw, req->id, CMPD_EPERM, why.text);
		return;
	}
	rv = kw_keystore_delete(kw->ks, id, &why);
	if (rv != CMPD_OK)
		reply_error(kw, req->id, rv, why.text);
	else
		kw_broker_send_ok(kw, req->id);
}

/* --- Grants --- */

static cmpd_err
check_grant(const cmpd_env *req, struct kw_why *why)
{
	return kw_grant_req_check(req->grant_req, why);
}

static void
handle_grant(struct kw *kw, const cmpd_env *req)
{
	struct kw_why why;
	cmpd_err rv;

	rv = kw_grant_set(kw->grants, kw->ks, req->grant_req, &why);
	if (rv != CMPD_OK)
		reply_error(kw, req->id, rv, why.text);
	else
		kw_broker_send_ok(kw, req->id);
}

static cmpd_err
check_grant_end(const cmpd_env *req, struct kw_why *why)
{
	if (kw_is_hex_len(req->grant_end_req->job_id, CMPD_JOB_ID_LEN))
		return CMPD_OK;
	kw_why_set(why, "job_id is not %d hex digits", CMPD_JOB_ID_LEN);
	return CMPD_EINVAL;
}

/* Ending a grant that does not exist (after a restart) is not an error. */
static void
handle_grant_end(struct kw *kw, const cmpd_env *req)
{
	kw_grant_end(kw->grants, req->grant_end_req->job_id);
	kw_broker_send_ok(kw, req->id);
}

/* What the broker may ask. check (if any) validates the fields' form. */
static const struct broker_op {
	Cmpd__Envelope__BodyCase body;
	broker_check_fn check;
	broker_handle_fn handle;
} broker_ops[] = {
	{ CMPD__ENVELOPE__BODY_KEY_GENERATE_REQ, check_generate,
	    handle_generate },
	{ CMPD__ENVELOPE__BODY_KEY_IMPORT_CERT_REQ, NULL, handle_import_cert },
	{ CMPD__ENVELOPE__BODY_KEY_IMPORT_REQ, NULL, handle_import },
	{ CMPD__ENVELOPE__BODY_KEY_LIST_REQ, check_list, handle_list },
	{ CMPD__ENVELOPE__BODY_KEY_DELETE_REQ, check_delete, handle_delete },
	{ CMPD__ENVELOPE__BODY_GRANT_REQ, check_grant, handle_grant },
	{ CMPD__ENVELOPE__BODY_GRANT_END_REQ, check_grant_end,
	    handle_grant_end },
};

static void
broker_violation(struct kw *kw, nng_msg *msg, const char *type, const char *why)
{
	nng_pipe p = nng_msg_get_pipe(msg);
	uint64_t pid = 0;

	nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_PID, &pid);
	log_err("protocol violation by the broker (pipe %d, pid %llu): %s: "
	        "%s; exiting",
	    nng_pipe_id(p), (unsigned long long)pid, type, why);
	kw_stop(kw, KW_EXIT_PROTOCOL);
}

void
kw_broker_recv_cb(void *arg, nng_msg *msg)
{
	struct kw *kw = arg;
	const struct broker_op *op = NULL;
	cmpd_env *req = NULL;
	struct kw_why why;

	CMPD_MAGIC_CHECK(kw, KW_MAGIC);
	if (kw->stopping)
		goto out;
	if (cmpd_ipc_unpack(msg, CMPD_IPC_MAX_WORKER, &req) != CMPD_OK) {
		broker_violation(kw, msg, "message", "cannot be decoded");
		goto out;
	}
	for (size_t i = 0; i < CMPD_ARRAY_LEN(broker_ops); i++)
		if (broker_ops[i].body == req->body_case)
			op = &broker_ops[i];
	if (op == NULL)
		broker_violation(kw, msg, cmpd_env_body_name(req),
		    "not a request the broker may send");
	else if (op->check != NULL && op->check(req, &why) != CMPD_OK)
		broker_violation(kw, msg, cmpd_env_body_name(req), why.text);
	else
		op->handle(kw, req);
out:
	cmpd_ipc_free(req);
	nng_msg_free(msg);
}
