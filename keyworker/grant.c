#include "grant.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "ipc.h"
#include "log.h"
#include "x509fast.h"

struct kw_grants {
	struct kw_grant **g;
	size_t n;
	size_t cap;
	OSSL_LIB_CTX *parse_ctx; /* see kw_grants_parse_libctx; not ours */
};

static const char *const op_names[] = {
	[CMPD__CMP_OP__CMP_OP_IR] = "IR",
	[CMPD__CMP_OP__CMP_OP_CR] = "CR",
	[CMPD__CMP_OP__CMP_OP_KUR] = "KUR",
	[CMPD__CMP_OP__CMP_OP_P10CR] = "P10CR",
	[CMPD__CMP_OP__CMP_OP_RR] = "RR",
	[CMPD__CMP_OP__CMP_OP_GENM] = "GENM",
};

const char *
kw_cmp_op_name(Cmpd__CmpOp op)
{
	if ((unsigned)op >= CMPD_ARRAY_LEN(op_names) || op_names[op] == NULL)
		return "?";
	return op_names[op];
}

int
kw_is_hex_len(const char *s, size_t n)
{
	return s != NULL && strlen(s) == n && cmpd_is_hex_id(s, n);
}

cmpd_err
kw_grants_new(struct kw_grants **out)
{
	struct kw_grants *gs = calloc(1, sizeof(*gs));

	if (gs == NULL)
		return CMPD_ENOMEM;
	/* The process's null-provider context (x509fast.h). */
	if ((gs->parse_ctx = cmpd_null_libctx()) == NULL) {
		cmpd_log_openssl(CMPD_LOG_ERR, "the signer's parsing context");
		kw_grants_free(gs);
		return CMPD_ECRYPTO;
	}
	*out = gs;
	return CMPD_OK;
}

OSSL_LIB_CTX *
kw_grants_parse_libctx(const struct kw_grants *gs)
{
	return gs->parse_ctx;
}

static void
grant_key_fini(struct kw_grant_key *k)
{
	EVP_PKEY_free(k->pkey);
	free(k->spki);
	memset(k, 0, sizeof(*k));
}

static void
grant_free(struct kw_grant *g)
{
	if (g == NULL)
		return;
	grant_key_fini(&g->prot);
	grant_key_fini(&g->newk);
	grant_key_fini(&g->tls);
	free(g);
}

void
kw_grants_free(struct kw_grants *gs)
{
	if (gs == NULL)
		return;
	for (size_t i = 0; i < gs->n; i++)
		grant_free(gs->g[i]);
	free(gs->g);
	free(gs);
}

static int
op_needs_new_key(Cmpd__CmpOp op)
{
	return op != CMPD__CMP_OP__CMP_OP_RR && op != CMPD__CMP_OP__CMP_OP_GENM;
}

cmpd_err
kw_grant_req_check(const Cmpd__GrantReq *req, struct kw_why *why)
{
	const char *prot = req->protection_key_id;
	const char *newk = req->new_key_id;

	if (!kw_is_hex_len(req->job_id, CMPD_JOB_ID_LEN))
		kw_why_set(why, "job_id is not %d hex digits", CMPD_JOB_ID_LEN);
	else if (req->op < CMPD__CMP_OP__CMP_OP_IR ||
	    req->op > CMPD__CMP_OP__CMP_OP_GENM)
		kw_why_set(why, "op %d is not a CMP operation", (int)req->op);
	else if (req->transaction_id.len != KW_TXID_LEN)
		kw_why_set(why, "transaction_id has %zu bytes, not %d",
		    req->transaction_id.len, KW_TXID_LEN);
	else if (cmpd_str_set(prot) && !kw_is_hex_len(prot, CMPD_KEY_ID_LEN))
		kw_why_set(why, "protection_key_id is not a key id");
	else if (op_needs_new_key(req->op) &&
	    !kw_is_hex_len(newk, CMPD_KEY_ID_LEN))
		kw_why_set(
		    why, "%s needs a new_key_id", kw_cmp_op_name(req->op));
	else if (!op_needs_new_key(req->op) && cmpd_str_set(newk))
		kw_why_set(why, "%s has no new key", kw_cmp_op_name(req->op));
	else if (cmpd_str_set(req->tls_key_id) &&
	    !kw_is_hex_len(req->tls_key_id, CMPD_KEY_ID_LEN))
		kw_why_set(why, "tls_key_id is not a key id");
	else
		return CMPD_OK;
	return CMPD_EINVAL;
}

static cmpd_err
grant_key_load(struct kw_grant_key *k, struct kw_keystore *ks, const char *id,
    struct kw_why *why)
{
	const struct kw_key *info;
	cmpd_err rv;

	/* Loading reads the file, and with it the index entry. */
	if ((rv = kw_keystore_load(ks, id, &k->pkey, why)) != CMPD_OK)
		return rv;
	info = kw_keystore_find(ks, id);
	k->spki = malloc(info->spki_len);
	if (k->spki == NULL) {
		kw_why_set(why, "out of memory");
		grant_key_fini(k);
		return CMPD_ENOMEM;
	}
	memcpy(k->spki, info->spki, info->spki_len);
	k->spki_len = info->spki_len;
	k->type = info->type;
	memcpy(k->id, info->id, sizeof(k->id));
	return CMPD_OK;
}

/* The same key in several roles is loaded once and shared. */
static cmpd_err
grant_key_copy(struct kw_grant_key *dst, const struct kw_grant_key *src)
{
	dst->spki = malloc(src->spki_len);
	if (dst->spki == NULL || EVP_PKEY_up_ref(src->pkey) != 1) {
		free(dst->spki);
		dst->spki = NULL;
		return CMPD_ENOMEM;
	}
	memcpy(dst->spki, src->spki, src->spki_len);
	dst->spki_len = src->spki_len;
	dst->type = src->type;
	dst->pkey = src->pkey;
	memcpy(dst->id, src->id, sizeof(dst->id));
	return CMPD_OK;
}

/* Loads key id into k, or shares it with another role of g that has it. */
static cmpd_err
grant_key_get(struct kw_grant *g, struct kw_grant_key *k,
    struct kw_keystore *ks, const char *id, struct kw_why *why)
{
	const struct kw_grant_key *have[] = { &g->prot, &g->newk, &g->tls };
	cmpd_err rv;

	for (size_t i = 0; i < CMPD_ARRAY_LEN(have); i++) {
		if (have[i] == k || strcmp(have[i]->id, id) != 0)
			continue;
		if ((rv = grant_key_copy(k, have[i])) != CMPD_OK)
			kw_why_set(why, "out of memory");
		return rv;
	}
	return grant_key_load(k, ks, id, why);
}

/*
 * The TLS client key signs a TLS 1.3 CertificateVerify, where an RSA key
 * would need RSA-PSS (the signer makes PKCS#1 v1.5 only): EC keys only.
 */
static cmpd_err
grant_tls_key_load(struct kw_grant *g, struct kw_keystore *ks, const char *id,
    struct kw_why *why)
{
	cmpd_err rv;

	if ((rv = grant_key_get(g, &g->tls, ks, id, why)) != CMPD_OK)
		return rv;
	if (g->tls.type == CMPD__KEY_TYPE__KEY_EC_P256 ||
	    g->tls.type == CMPD__KEY_TYPE__KEY_EC_P384)
		return CMPD_OK;
	kw_why_set(why,
	    "TLS client key %s is %s; only EC keys (P-256, P-384) sign for "
	    "TLS 1.3",
	    g->tls.id, kw_key_type_name(g->tls.type));
	return CMPD_EINVAL;
}

static cmpd_err
grant_load_keys(struct kw_grant *g, struct kw_keystore *ks,
    const Cmpd__GrantReq *req, struct kw_why *why)
{
	cmpd_err rv = CMPD_OK;

	if (cmpd_str_set(req->protection_key_id))
		rv =
		    grant_key_get(g, &g->prot, ks, req->protection_key_id, why);
	if (rv == CMPD_OK && cmpd_str_set(req->new_key_id))
		rv = grant_key_get(g, &g->newk, ks, req->new_key_id, why);
	if (rv == CMPD_OK && cmpd_str_set(req->tls_key_id))
		rv = grant_tls_key_load(g, ks, req->tls_key_id, why);
	return rv;
}

static ssize_t
grant_index(const struct kw_grants *gs, const char *job_id)
{
	for (size_t i = 0; i < gs->n; i++)
		if (strcmp(gs->g[i]->job_id, job_id) == 0)
			return (ssize_t)i;
	return -1;
}

/* Puts g in place of the job's old grant, or appends it. */
static cmpd_err
grants_put(struct kw_grants *gs, struct kw_grant *g)
{
	ssize_t i = grant_index(gs, g->job_id);
	struct kw_grant **arr;

	if (i >= 0) {
		grant_free(gs->g[i]);
		gs->g[i] = g;
		return CMPD_OK;
	}
	if (gs->n == gs->cap) {
		size_t cap = gs->cap != 0 ? gs->cap * 2 : 16;

		arr = reallocarray(gs->g, cap, sizeof(*arr));
		if (arr == NULL)
			return CMPD_ENOMEM;
		gs->g = arr;
		gs->cap = cap;
	}
	gs->g[gs->n++] = g;
	return CMPD_OK;
}

cmpd_err
kw_grant_set(struct kw_grants *gs, struct kw_keystore *ks,
    const Cmpd__GrantReq *req, struct kw_why *why)
{
	struct kw_grant *g = calloc(1, sizeof(*g));
	cmpd_err rv;

	if (g == NULL) {
		kw_why_set(why, "out of memory");
		return CMPD_ENOMEM;
	}
	memcpy(g->job_id, req->job_id, CMPD_JOB_ID_LEN);
	g->op = req->op;
	memcpy(g->txid, req->transaction_id.data, KW_TXID_LEN);
	if ((rv = grant_load_keys(g, ks, req, why)) != CMPD_OK)
		goto out;
	if ((rv = grants_put(gs, g)) != CMPD_OK) {
		kw_why_set(why, "out of memory");
		goto out;
	}
	log_info("job %s: granted %s, protection key %s, new key %s, TLS key "
	         "%s",
	    g->job_id, kw_cmp_op_name(g->op),
	    g->prot.id[0] != '\0' ? g->prot.id : "none (MAC)",
	    g->newk.id[0] != '\0' ? g->newk.id : "none",
	    g->tls.id[0] != '\0' ? g->tls.id : "none");
	g = NULL;
out:
	grant_free(g);
	return rv;
}

int
kw_grant_end(struct kw_grants *gs, const char *job_id)
{
	ssize_t i = grant_index(gs, job_id);

	if (i < 0)
		return 0;
	grant_free(gs->g[i]);
	gs->g[i] = gs->g[--gs->n];
	log_info("job %s: grant ended", job_id);
	return 1;
}

const struct kw_grant *
kw_grant_find(const struct kw_grants *gs, const char *job_id)
{
	ssize_t i = grant_index(gs, job_id);

	return i >= 0 ? gs->g[i] : NULL;
}

const char *
kw_grants_key_user(const struct kw_grants *gs, const char *key_id)
{
	for (size_t i = 0; i < gs->n; i++)
		if (strcmp(gs->g[i]->prot.id, key_id) == 0 ||
		    strcmp(gs->g[i]->newk.id, key_id) == 0 ||
		    strcmp(gs->g[i]->tls.id, key_id) == 0)
			return gs->g[i]->job_id;
	return NULL;
}

size_t
kw_grants_count(const struct kw_grants *gs)
{
	return gs->n;
}
