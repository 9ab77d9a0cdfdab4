#include "reload.h"

#include <stdlib.h>
#include <string.h>

#include "anchor.h"
#include "job.h"
#include "log.h"
#include "track.h"
#include "util.h"

/* A setting that only a restart applies: the new file keeps the old one. */
struct fixed {
	const char *name;
	size_t offset;
};

#define FIXED(f)                               \
	{                                      \
#f, offsetof(struct config, f) \
	}
static const struct fixed fixed_strings[] = {
	FIXED(state_dir),
	FIXED(run_dir),
	FIXED(socket),
	FIXED(socket_url),
	FIXED(libexec_dir),
	FIXED(keyworker_user),
	FIXED(networker_user),
	FIXED(key_pool),
};

static int
str_differ(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

/* Gives cfg the old values of what needs a restart, saying so. */
static void
reload_keep_fixed(struct config *cfg, struct config *old)
{
	for (size_t i = 0; i < CMPD_ARRAY_LEN(fixed_strings); i++) {
		char **n = (char **)((char *)cfg + fixed_strings[i].offset);
		char **o = (char **)((char *)old + fixed_strings[i].offset);
		char *tmp = *n;

		if (!str_differ(*n, *o))
			continue;
		if (strcmp(fixed_strings[i].name, "socket_url") != 0)
			log_warn("reload: %s changed; cmpd keeps %s until it "
			         "restarts",
			    fixed_strings[i].name, *o != NULL ? *o : "(unset)");
		*n = *o;
		*o = tmp;
	}
	if (cfg->socket_mode != old->socket_mode) {
		log_warn("reload: socket_mode changed; cmpd keeps %o until it "
		         "restarts",
		    (unsigned)old->socket_mode);
		cfg->socket_mode = old->socket_mode;
	}
}

/* Unfinished jobs need their profile: a file without it is refused. */
static const char *
reload_orphaned_profile(const struct broker *b, const struct config *cfg)
{
	for (const struct job *j = b->jobs; j != NULL; j = j->next)
		if (config_profile(cfg, j->rec->profile) == NULL)
			return j->rec->profile;
	return NULL;
}

static int
renewal_policy_differs(const struct profile *a, const struct profile *b)
{
	return a->auto_renew != b->auto_renew || a->renew_at != b->renew_at ||
	    a->renew_before != b->renew_before ||
	    a->renew_jitter != b->renew_jitter ||
	    a->window.start != b->window.start ||
	    a->window.end != b->window.end;
}

struct replan {
	struct broker *b;
	const struct config *old;
	size_t n;
};

/*
 * An active certificate waiting for its planned renewal gets a new plan
 * when its profile's renewal policy changed; one that is being renewed or
 * retried keeps its own schedule.
 */
static int
reload_replan_cb(void *arg, Cmpd__CertRecord *rec)
{
	struct replan *r = arg;
	const struct profile *pr = config_profile(r->b->cfg, rec->profile);
	const struct profile *was = config_profile(r->old, rec->profile);

	if (pr != NULL && was != NULL && renewal_policy_differs(pr, was) &&
	    rec->state == CMPD__CERT_STATE__CERT_ACTIVE && rec->failures == 0 &&
	    !cmpd_str_set(rec->renewing_job)) {
		rec->next_renewal = pr->auto_renew
		    ? track_renewal_time(pr, rec->not_before, rec->not_after,
		          cmpd_time_now(), track_random())
		    : 0;
		if (store_cert_put(r->b->store, rec) == CMPD_OK) {
			track_changed(r->b, rec);
			r->n++;
		} else {
			log_err("reload: certificate %s: cannot store its new "
			        "renewal time",
			    rec->id);
		}
	}
	cmpd__cert_record__free_unpacked(rec, NULL);
	return 0;
}

/* Logs what the new file changed, profile by profile. */
static void
reload_log_profiles(const struct config *cfg, const struct config *old)
{
	for (size_t i = 0; i < cfg->n_profiles; i++)
		if (config_profile(old, cfg->profiles[i].name) == NULL)
			log_notice(
			    "reload: new profile %s", cfg->profiles[i].name);
	for (size_t i = 0; i < old->n_profiles; i++)
		if (config_profile(cfg, old->profiles[i].name) == NULL)
			log_notice("reload: profile %s removed",
			    old->profiles[i].name);
}

/* Reads the file again; on failure the reason is logged. */
static cmpd_err
reload_read(const struct broker *b, struct config **out)
{
	char *err = NULL;
	const char *orphan;
	cmpd_err rv;

	if ((rv = config_load(b->cfg->path, out, &err)) != CMPD_OK) {
		log_err("reload: %s; keeping the configuration in use",
		    err != NULL ? err : "out of memory");
		free(err);
		return rv;
	}
	if ((orphan = reload_orphaned_profile(b, *out)) != NULL) {
		log_err(
		    "reload: %s: profile %s is gone but unfinished jobs use "
		    "it; keeping the configuration in use",
		    b->cfg->path, orphan);
		config_free(*out);
		*out = NULL;
		return CMPD_EINVAL;
	}
	return CMPD_OK;
}

cmpd_err
reload_config(struct broker *b, int log_level_fixed)
{
	struct config *cfg = NULL, *old = b->cfg;
	struct replan rp = { .b = b, .old = old };
	cmpd_err rv;

	CMPD_MAGIC_CHECK(b, BROKER_MAGIC);
	log_notice("reload: reading %s", old->path);
	if ((rv = reload_read(b, &cfg)) != CMPD_OK)
		return rv;
	reload_keep_fixed(cfg, old);
	/* The root CA updates cmpd kept belong to the new profiles too. */
	b->cfg = cfg;
	if ((rv = anchor_load(b)) != CMPD_OK) {
		log_err("reload: cannot load the kept trust anchors: %s; "
		        "keeping the configuration in use",
		    cmpd_strerror(rv));
		b->cfg = old;
		config_free(cfg);
		return rv;
	}
	cmpd_log_init(
	    "cmpd", log_level_fixed >= 0 ? log_level_fixed : cfg->log_level);
	reload_log_profiles(cfg, old);
	if ((rv = store_cert_each(b->store, reload_replan_cb, &rp)) != CMPD_OK)
		log_err("reload: cannot read the tracked certificates: %s",
		    cmpd_strerror(rv));
	config_free(old);
	log_notice("reload: done: %zu profile%s, %zu renewal%s planned again",
	    cfg->n_profiles, cfg->n_profiles == 1 ? "" : "s", rp.n,
	    rp.n == 1 ? "" : "s");
	return CMPD_OK;
}
