#include "keystore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "util.h"

#define KW_KEY_SUFFIX ".key"

/*
 * Private keys kept in memory after use: a job's new key from its
 * generation to its last signature, the supplier's key across jobs. A
 * key read from its file costs a decoder run and an SPKI check each time
 * (a fifth of the keyworker's CPU per enrollment).
 */
#define KW_CACHE_MAX 64

struct kw_cached {
	char id[CMPD_KEY_ID_LEN + 1];
	EVP_PKEY *pkey; /* NULL: free slot */
	uint64_t used;  /* for evicting the least recently used */
};

struct kw_keystore {
	char *dir;
	char *name; /* dir as a person knows it, for messages */
	struct kw_keydec *dec;
	struct kw_key *keys; /* sorted by id; spki NULL: not read yet */
	size_t n;
	size_t cap;
	size_t checked; /* keys[0..checked) were read (kw_keystore_check) */
	struct kw_cached cache[KW_CACHE_MAX];
	uint64_t uses;
};

static struct kw_cached *
cache_find(struct kw_keystore *ks, const char *id)
{
	for (size_t i = 0; i < KW_CACHE_MAX; i++)
		if (ks->cache[i].pkey != NULL &&
		    strcmp(ks->cache[i].id, id) == 0)
			return &ks->cache[i];
	return NULL;
}

static void
cache_drop(struct kw_cached *c)
{
	EVP_PKEY_free(c->pkey);
	memset(c, 0, sizeof(*c));
}

void
kw_keystore_keep(struct kw_keystore *ks, const char *id, EVP_PKEY *pkey)
{
	struct kw_cached *c = cache_find(ks, id), *lru = &ks->cache[0];

	if (c == NULL) {
		for (size_t i = 0; i < KW_CACHE_MAX && lru->pkey != NULL; i++)
			if (ks->cache[i].pkey == NULL ||
			    ks->cache[i].used < lru->used)
				lru = &ks->cache[i];
		if (EVP_PKEY_up_ref(pkey) != 1)
			return;
		cache_drop(lru);
		c = lru;
		cmpd_strlcpy(c->id, id, sizeof(c->id));
		c->pkey = pkey;
	}
	c->used = ++ks->uses;
}

const char *
kw_keystore_dir(const struct kw_keystore *ks)
{
	return ks->dir;
}

size_t
kw_keystore_count(const struct kw_keystore *ks)
{
	return ks->n;
}

const struct kw_key *
kw_keystore_at(const struct kw_keystore *ks, size_t i)
{
	return i < ks->n ? &ks->keys[i] : NULL;
}

static int
key_cmp(const void *a, const void *b)
{
	return strcmp(
	    ((const struct kw_key *)a)->id, ((const struct kw_key *)b)->id);
}

/* The index of id, or of where it would go (*found 0). */
static size_t
keystore_pos(const struct kw_keystore *ks, const char *id, int *found)
{
	size_t lo = 0, hi = ks->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(ks->keys[mid].id, id);

		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = 0;
	return lo;
}

static int
key_read_yet(const struct kw_key *k)
{
	return k->spki != NULL;
}

static void keystore_remove(struct kw_keystore *ks, size_t i);
static cmpd_err key_read(struct kw_keystore *ks, struct kw_key *k,
    EVP_PKEY **out, struct kw_why *why);

/*
 * Reads entry i if it was not read yet. A file that turns out unusable
 * is logged and leaves the index, as it would have at startup.
 */
static int
keystore_ensure(struct kw_keystore *ks, size_t i)
{
	struct kw_why why;

	if (key_read_yet(&ks->keys[i]))
		return 1;
	if (key_read(ks, &ks->keys[i], NULL, &why) == CMPD_OK)
		return 1;
	log_err("key store: skipped %s", why.text);
	keystore_remove(ks, i);
	return 0;
}

const struct kw_key *
kw_keystore_find(struct kw_keystore *ks, const char *id)
{
	int found;
	size_t i = keystore_pos(ks, id, &found);

	return found && keystore_ensure(ks, i) ? &ks->keys[i] : NULL;
}

int
kw_keystore_has(const struct kw_keystore *ks, const char *id)
{
	int found;

	keystore_pos(ks, id, &found);
	return found;
}

int
kw_keystore_check(struct kw_keystore *ks, size_t max)
{
	while (max > 0 && ks->checked < ks->n) {
		/* A key added since sits anywhere; one read is enough. */
		if (keystore_ensure(ks, ks->checked))
			ks->checked++;
		max--;
	}
	return ks->checked < ks->n;
}

static cmpd_err
keystore_grow(struct kw_keystore *ks)
{
	size_t cap = ks->cap != 0 ? ks->cap * 2 : 64;
	struct kw_key *keys;

	if (ks->n < ks->cap)
		return CMPD_OK;
	keys = reallocarray(ks->keys, cap, sizeof(*keys));
	if (keys == NULL)
		return CMPD_ENOMEM;
	ks->keys = keys;
	ks->cap = cap;
	return CMPD_OK;
}

cmpd_err
kw_keystore_add(struct kw_keystore *ks, struct kw_key *key)
{
	int found;
	size_t i = keystore_pos(ks, key->id, &found);

	if (found)
		return CMPD_EEXIST;
	if (keystore_grow(ks) != CMPD_OK)
		return CMPD_ENOMEM;
	if (i < ks->n)
		memmove(&ks->keys[i + 1], &ks->keys[i],
		    (ks->n - i) * sizeof(ks->keys[0]));
	ks->keys[i] = *key;
	ks->n++;
	if (i < ks->checked)
		ks->checked++;
	memset(key, 0, sizeof(*key));
	return CMPD_OK;
}

static void
keystore_remove(struct kw_keystore *ks, size_t i)
{
	kw_key_fini(&ks->keys[i]);
	if (i + 1 < ks->n)
		memmove(&ks->keys[i], &ks->keys[i + 1],
		    (ks->n - i - 1) * sizeof(ks->keys[0]));
	ks->n--;
	if (i < ks->checked)
		ks->checked--;
}

/* "<32 hex digits>.key" */
/*
 * The keyworker may open its store as "." (it enters the directory before
 * it drops privileges): a reason that names a file says the store's name.
 */
static void
why_name(const struct kw_keystore *ks, struct kw_why *why)
{
	size_t n = strlen(ks->dir);
	char text[sizeof(why->text)];

	if (strcmp(ks->dir, ks->name) == 0 ||
	    strncmp(why->text, ks->dir, n) != 0 || why->text[n] != '/')
		return;
	snprintf(text, sizeof(text), "%s", why->text + n);
	kw_why_set(why, "%s%s", ks->name, text);
}

static int
name_is_key_file(const char *name)
{
	size_t n = strlen(name);

	return n == CMPD_KEY_ID_LEN + strlen(KW_KEY_SUFFIX) &&
	    strcmp(name + CMPD_KEY_ID_LEN, KW_KEY_SUFFIX) == 0 &&
	    strspn(name, "0123456789abcdef") == CMPD_KEY_ID_LEN;
}

/*
 * Reads key k's file: the file must hold the key its name says. The entry
 * gets the key's type, SPKI and the file's time; *out (if not NULL) the
 * private key.
 */
static cmpd_err
key_read(struct kw_keystore *ks, struct kw_key *k, EVP_PKEY **out,
    struct kw_why *why)
{
	char name[CMPD_KEY_ID_LEN + sizeof(KW_KEY_SUFFIX)];
	struct kw_key now = { .type = CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED };
	EVP_PKEY *pkey = NULL;
	struct kw_why reason;
	int64_t mtime = 0;
	cmpd_err rv;

	snprintf(name, sizeof(name), "%s" KW_KEY_SUFFIX, k->id);
	rv = kw_keyfile_read(ks->dec, ks->dir, name, &pkey, &mtime, why);
	if (rv != CMPD_OK) {
		why_name(ks, why);
		return rv;
	}
	if ((rv = kw_key_describe(pkey, &now, &reason)) != CMPD_OK)
		kw_why_set(why, "%s/%s: %s", ks->name, name, reason.text);
	else if (key_read_yet(k) &&
	    (now.spki_len != k->spki_len ||
	        memcmp(now.spki, k->spki, k->spki_len) != 0))
		/* The file was replaced behind our back: never sign with
		 * a key that is not the one the broker and the CA know. */
		rv = CMPD_EIO,
		kw_why_set(
		    why, "%s/%s no longer holds key %s", ks->name, name, k->id);
	else if (strcmp(now.id, k->id) != 0)
		rv = CMPD_EINVAL,
		kw_why_set(why,
		    "%s/%s: holds key %s, not the key its "
		    "name says",
		    ks->name, name, now.id);
	if (rv == CMPD_OK && !key_read_yet(k)) {
		k->type = now.type;
		k->spki = now.spki;
		k->spki_len = now.spki_len;
		k->created = mtime;
		now.spki = NULL;
	}
	kw_key_fini(&now);
	if (rv == CMPD_OK && out != NULL)
		*out = pkey;
	else
		EVP_PKEY_free(pkey);
	return rv;
}

static int
name_is_ignored(const char *name)
{
	return name[0] == '.' || strcmp(name, KW_IMPORT_KEY_NAME) == 0 ||
	    strcmp(name, KW_IMPORT_CERT_NAME) == 0;
}

/*
 * Indexes every key file by its name; the files themselves are read when
 * a key is first used or by kw_keystore_check, so a store of 10,000 keys
 * opens in milliseconds. Entries are appended and sorted once at the end:
 * inserting 10,000 keys one by one would move the array 10,000 times.
 */
static cmpd_err
keystore_scan(struct kw_keystore *ks)
{
	DIR *d = opendir(ks->dir);
	struct dirent *de;
	size_t skipped = 0;

	if (d == NULL) {
		log_err(
		    "cannot read key store %s: %s", ks->name, strerror(errno));
		return CMPD_EIO;
	}
	while ((de = readdir(d)) != NULL) {
		struct kw_key *k;
		struct stat st;

		if (name_is_ignored(de->d_name))
			continue;
		if (!name_is_key_file(de->d_name)) {
			log_err("key store: skipped %s/%s: not named <key "
			        "id>.key",
			    ks->name, de->d_name);
			skipped++;
			continue;
		}
		if (keystore_grow(ks) != CMPD_OK) {
			closedir(d);
			return CMPD_ENOMEM;
		}
		k = &ks->keys[ks->n++];
		*k =
		    (struct kw_key){ .type =
			                 CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED };
		memcpy(k->id, de->d_name, CMPD_KEY_ID_LEN);
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
		    0)
			k->created = st.st_mtim.tv_sec;
	}
	closedir(d);
	if (ks->n > 1)
		qsort(ks->keys, ks->n, sizeof(ks->keys[0]), key_cmp);
	log_info("key store %s: %zu keys, %zu files skipped", ks->name, ks->n,
	    skipped);
	return CMPD_OK;
}

cmpd_err
kw_keystore_open(const char *dir, struct kw_keystore **out)
{
	return kw_keystore_open_named(dir, dir, out);
}

cmpd_err
kw_keystore_open_named(
    const char *dir, const char *name, struct kw_keystore **out)
{
	struct kw_keystore *ks = NULL;
	cmpd_err rv;

	rv = cmpd_dir_ensure(dir, 0700);
	if (rv != CMPD_OK)
		return rv;
	cmpd_dir_clean_tmp(dir);
	ks = calloc(1, sizeof(*ks));
	if (ks == NULL || (ks->dir = strdup(dir)) == NULL ||
	    (ks->name = strdup(name)) == NULL) {
		rv = CMPD_ENOMEM;
		goto out;
	}
	if ((rv = kw_keydec_new(&ks->dec)) != CMPD_OK ||
	    (rv = keystore_scan(ks)) != CMPD_OK)
		goto out;
	*out = ks;
	ks = NULL;
out:
	kw_keystore_free(ks);
	return rv;
}

void
kw_keystore_free(struct kw_keystore *ks)
{
	if (ks == NULL)
		return;
	for (size_t i = 0; i < ks->n; i++)
		kw_key_fini(&ks->keys[i]);
	for (size_t i = 0; i < KW_CACHE_MAX; i++)
		cache_drop(&ks->cache[i]);
	free(ks->keys);
	kw_keydec_free(ks->dec);
	free(ks->dir);
	free(ks->name);
	free(ks);
}

static int
key_path(const char *dir, const char *id, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s" KW_KEY_SUFFIX, dir, id);

	return n > 0 && (size_t)n < len ? 0 : -1;
}

cmpd_err
kw_keystore_load(
    struct kw_keystore *ks, const char *id, EVP_PKEY **out, struct kw_why *why)
{
	int found;
	size_t i = keystore_pos(ks, id, &found);
	struct kw_cached *c;
	int first;
	cmpd_err rv;

	if (!found) {
		kw_why_set(why, "key %s is not in the key store", id);
		return CMPD_ENOENT;
	}
	if ((c = cache_find(ks, id)) != NULL && key_read_yet(&ks->keys[i]) &&
	    EVP_PKEY_up_ref(c->pkey) == 1) {
		c->used = ++ks->uses;
		*out = c->pkey;
		return CMPD_OK;
	}
	first = !key_read_yet(&ks->keys[i]);
	rv = key_read(ks, &ks->keys[i], out, why);
	if (rv != CMPD_OK && first) {
		log_err("key store: skipped %s", why->text);
		keystore_remove(ks, i);
	}
	if (rv == CMPD_OK)
		kw_keystore_keep(ks, id, *out);
	return rv;
}

cmpd_err
kw_keystore_store(struct kw_keystore *ks, EVP_PKEY *pkey,
    const struct kw_key **out, struct kw_why *why)
{
	struct kw_key k = { .type = CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED };
	const struct kw_key *have;
	char id[CMPD_KEY_ID_LEN + 1];
	char path[4096];
	cmpd_err rv;

	rv = kw_key_describe(pkey, &k, why);
	if (rv != CMPD_OK)
		return rv;
	memcpy(id, k.id, sizeof(id));
	if ((have = kw_keystore_find(ks, id)) != NULL) {
		log_info("key %s is already in the key store", k.id);
		kw_key_fini(&k);
		*out = have;
		return CMPD_OK;
	}
	if (key_path(ks->dir, k.id, path, sizeof(path)) != 0) {
		kw_why_set(why, "key store path too long");
		rv = CMPD_EINVAL;
		goto out;
	}
	if ((rv = kw_keyfile_write(path, pkey, why)) != CMPD_OK)
		goto out;
	k.created = cmpd_time_now();
	log_info("key %s (%s) stored", id, kw_key_type_name(k.type));
	if ((rv = kw_keystore_add(ks, &k)) != CMPD_OK) {
		kw_why_set(why, "out of memory");
		goto out;
	}
	*out = kw_keystore_find(ks, id);
out:
	kw_key_fini(&k);
	return rv;
}

/* A removal is durable once the directory itself is flushed. Returns 0
 * or the errno of the failure. */
static int
dir_sync(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int e = 0;

	if (fd < 0 || fsync(fd) != 0)
		e = errno;
	if (fd >= 0)
		close(fd);
	return e;
}

cmpd_err
kw_keystore_delete(struct kw_keystore *ks, const char *id, struct kw_why *why)
{
	char path[4096];
	int found, e;
	size_t i = keystore_pos(ks, id, &found);
	struct kw_cached *c;

	if (!found) {
		kw_why_set(why, "key %s is not in the key store", id);
		return CMPD_ENOENT;
	}
	if (key_path(ks->dir, id, path, sizeof(path)) != 0 ||
	    (unlink(path) != 0 && errno != ENOENT)) {
		kw_why_set(why, "cannot remove %s: %s", path, strerror(errno));
		return CMPD_EIO;
	}
	keystore_remove(ks, i);
	if ((c = cache_find(ks, id)) != NULL)
		cache_drop(c);
	if ((e = dir_sync(ks->dir)) != 0) {
		kw_why_set(why, "removed %s but cannot flush %s: %s", path,
		    ks->dir, strerror(e));
		return CMPD_EIO;
	}
	log_info("key %s deleted", id);
	return CMPD_OK;
}

cmpd_err
kw_keygen_run(const char *dir, Cmpd__KeyType type, const char *job,
    struct kw_key *out, struct kw_why *why)
{
	EVP_PKEY *pkey = NULL;
	cmpd_err rv;

	if ((rv = kw_key_generate(type, job, &pkey, why)) != CMPD_OK)
		return rv;
	rv = kw_keygen_store(dir, pkey, out, why);
	EVP_PKEY_free(pkey);
	return rv;
}

cmpd_err
kw_keygen_store(
    const char *dir, EVP_PKEY *pkey, struct kw_key *out, struct kw_why *why)
{
	struct kw_key k = { .type = CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED };
	char path[4096];
	cmpd_err rv;

	if ((rv = kw_key_describe(pkey, &k, why)) != CMPD_OK)
		goto out;
	if (key_path(dir, k.id, path, sizeof(path)) != 0) {
		kw_why_set(why, "key store path too long");
		rv = CMPD_EINVAL;
		goto out;
	}
	if ((rv = kw_keyfile_write(path, pkey, why)) != CMPD_OK)
		goto out;
	k.created = cmpd_time_now();
	*out = k;
	k.spki = NULL;
out:
	kw_key_fini(&k);
	return rv;
}

cmpd_err
kw_keystore_generate(struct kw_keystore *ks, Cmpd__KeyType type,
    const struct kw_key **out, struct kw_why *why)
{
	struct kw_key k = { .type = CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED };
	char id[CMPD_KEY_ID_LEN + 1];
	cmpd_err rv;

	rv = kw_keygen_run(ks->dir, type, "key generation", &k, why);
	if (rv != CMPD_OK)
		return rv;
	memcpy(id, k.id, sizeof(id));
	rv = kw_keystore_add(ks, &k);
	kw_key_fini(&k);
	if (rv != CMPD_OK) {
		kw_why_set(
		    why, "key %s cannot be indexed: %s", id, cmpd_strerror(rv));
		return rv;
	}
	*out = kw_keystore_find(ks, id);
	return CMPD_OK;
}
