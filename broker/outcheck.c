/*
 * The certificate files are the applications', so someone else may have
 * deleted or replaced one. At startup each active certificate's file is
 * compared with what cmpd last wrote: a missing file is written again; a
 * file someone replaced is left alone, and the certificate's last error
 * says so (cmpctl list, health) until the file is cmpd's again. At a
 * renewal jobend.c makes the same check before it writes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "config.h"
#include "log.h"
#include "output.h"
#include "record.h"
#include "track.h"
#include "util.h"

#define FOREIGN_TEXT "its certificate file was replaced by someone else"

/* The certificates whose file someone replaced, noted after the walk. */
struct foreign {
	struct broker *b;
	char **ids;
	size_t n;
};

/*
 * Notes the finding on each certificate. Not during the walk: a record
 * replaced while the store walks its table comes round again, and again.
 */
static void
foreign_note(struct foreign *f)
{
	for (size_t i = 0; i < f->n; i++) {
		Cmpd__CertRecord *c = NULL;

		if (store_cert_get(f->b->store, f->ids[i], &c) == CMPD_OK &&
		    (rec_set_str(&c->last_error, FOREIGN_TEXT) != CMPD_OK ||
		        store_cert_put(f->b->store, c) != CMPD_OK))
			log_err("certificate %s: cannot store the finding",
			    f->ids[i]);
		if (c != NULL)
			cmpd__cert_record__free_unpacked(c, NULL);
		free(f->ids[i]);
	}
	free(f->ids);
}

static void
check_one(struct foreign *f, const struct profile *pr, Cmpd__CertRecord *c)
{
	char **grown;

	switch (output_state(pr, &c->cert)) {
	case OUTPUT_MISSING:
		if (output_restore(pr, c) == CMPD_OK)
			log_notice("certificate %s: %s was missing; written "
			           "again",
			    c->id, pr->cert_file);
		else
			log_err("certificate %s: %s is missing and cannot be "
			        "written",
			    c->id, pr->cert_file);
		break;
	case OUTPUT_FOREIGN:
		log_warn("certificate %s: %s was replaced by someone else; "
		         "cmpd leaves it alone and will not overwrite it: "
		         "remove it to have cmpd's certificate written again",
		    c->id, pr->cert_file);
		grown = reallocarray(f->ids, f->n + 1, sizeof(*grown));
		if (grown != NULL && (grown[f->n] = strdup(c->id)) != NULL)
			f->n++;
		if (grown != NULL)
			f->ids = grown;
		break;
	default:
		break;
	}
}

static int
check_cb(void *arg, Cmpd__CertRecord *c)
{
	struct foreign *f = arg;
	const struct profile *pr = config_profile(f->b->cfg, c->profile);

	if (pr != NULL && c->state == CMPD__CERT_STATE__CERT_ACTIVE &&
	    cmpd_str_set(pr->cert_file))
		check_one(f, pr, c);
	cmpd__cert_record__free_unpacked(c, NULL);
	return 0;
}

void
output_check_all(struct broker *b)
{
	struct foreign f = { .b = b };

	if (store_cert_each(b->store, check_cb, &f) != CMPD_OK)
		log_err("cannot check the certificate files");
	foreign_note(&f);
}
