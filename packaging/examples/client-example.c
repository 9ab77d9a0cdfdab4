/*
 * client-example: asks cmpd for a certificate with libcmpd-client, waits
 * for the job to end and prints where cmpd wrote the certificate.
 *
 * Build it against the installed libcmpd-client-dev package:
 *   cc -o client-example client-example.c \
 *       $(pkg-config --cflags --libs cmpd-client)
 * Run it as a user the profile allows (allowed_users, allowed_groups):
 *   ./client-example PROFILE [SUBJECT]
 * It exits 0 when the certificate was issued, 1 otherwise.
 */
#include <cmpd/client.h>
#include <stdio.h>

static void
show_progress(const cmpd_job *job, void *arg)
{
	(void)arg;
	printf("job %s: %s\n", cmpd_job_id(job),
	    cmpd_job_state_name(cmpd_job_state_get(job)));
}

/* Enrolls with profile and waits up to ten minutes for the result. */
static cmpd_result
enroll(cmpd_client *client, const char *profile, const char *subject,
    cmpd_job **out)
{
	cmpd_enroll_opts *opts = NULL;
	cmpd_job *job = NULL;
	cmpd_result r;

	if ((r = cmpd_enroll_opts_new(&opts)) != CMPD_RESULT_OK)
		return r;
	if (subject != NULL &&
	    (r = cmpd_enroll_opts_set_subject(opts, subject)) != CMPD_RESULT_OK)
		goto out;
	if ((r = cmpd_enroll(client, profile, opts, &job)) != CMPD_RESULT_OK)
		goto out;
	r = cmpd_job_wait_progress(
	    client, cmpd_job_id(job), 600 * 1000, show_progress, NULL, out);
out:
	cmpd_job_free(job);
	cmpd_enroll_opts_free(opts);
	return r;
}

int
main(int argc, char **argv)
{
	cmpd_client *client = NULL;
	cmpd_job *job = NULL;
	cmpd_result r;
	int status = 1;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: client-example PROFILE [SUBJECT]\n");
		return 2;
	}
	/* NULL: $CMPD_SOCKET, else cmpd's default socket. */
	if ((r = cmpd_client_open(NULL, &client)) != CMPD_RESULT_OK) {
		fprintf(stderr, "cannot reach cmpd: %s\n",
		    cmpd_client_last_error(NULL));
		return 1;
	}
	r = enroll(client, argv[1], argc == 3 ? argv[2] : NULL, &job);
	if (r != CMPD_RESULT_OK) {
		fprintf(stderr, "enrollment: %s: %s\n", cmpd_result_str(r),
		    cmpd_client_last_error(client));
	} else if (cmpd_job_state_get(job) != CMPD_JOB_STATE_DONE) {
		fprintf(stderr, "job %s failed: %s\n", cmpd_job_id(job),
		    cmpd_job_error_text(job));
	} else {
		printf("certificate %s (serial %s, subject %s) in %s\n",
		    cmpd_job_cert_id(job), cmpd_job_cert_serial(job),
		    cmpd_job_cert_subject(job), cmpd_job_cert_path(job));
		status = 0;
	}
	cmpd_job_free(job);
	cmpd_client_close(client);
	return status;
}
