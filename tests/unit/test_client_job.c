/*
 * libcmpd-client's jobs against a canned responder: the EnrollReq built
 * from the options, a job's accessors and what the library reads from its
 * certificate, following a job through cmpd's long poll, and the lists.
 */
/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <cmpd/client.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test_client_resp.h"

static struct resp resp;
static cmpd_client *cl;

static int
setup(void **state)
{
	(void)state;
	cl = NULL;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	cmpd_client_close(cl);
	cl = NULL;
	resp_stop(&resp);
	return 0;
}

static void
start(resp_fn fn, void *arg)
{
	assert_int_equal(resp_start(&resp, fn, arg), 0);
	assert_int_equal(cmpd_client_open(resp.path, &cl), CMPD_RESULT_OK);
}

/* ------------------------------------------------------------------ */
/* The EnrollReq carries exactly what the options said. */
static void
test_enroll_fields(void **state)
{
	struct tjob t;
	cmpd_enroll_opts *o = NULL;
	cmpd_job *job = NULL;
	const Cmpd__EnrollReq *e;

	(void)state;
	tjob_init(&t, "00000000000000a1", CMPD__JOB_STATE__JOB_QUEUED);
	start(resp_job_cb, &t.job);
	assert_int_equal(cmpd_enroll_opts_new(&o), CMPD_RESULT_OK);
	assert_int_equal(
	    cmpd_enroll_opts_set_subject(o, "/CN=web/O=Acme"), CMPD_RESULT_OK);
	assert_int_equal(
	    cmpd_enroll_opts_add_san(o, "DNS:web.example"), CMPD_RESULT_OK);
	assert_int_equal(
	    cmpd_enroll_opts_add_san(o, "IP:2001:db8::1"), CMPD_RESULT_OK);
	assert_int_equal(
	    cmpd_enroll_opts_add_san(o, "email:a@example.org"), CMPD_RESULT_OK);
	assert_int_equal(
	    cmpd_enroll_opts_set_key_type(o, "ec-p384"), CMPD_RESULT_OK);
	assert_int_equal(cmpd_enroll(cl, "web", o, &job), CMPD_RESULT_OK);
	assert_string_equal(cmpd_job_id(job), "00000000000000a1");
	assert_int_equal(cmpd_job_state_get(job), CMPD_JOB_STATE_QUEUED);
	cmpd_job_free(job);

	e = resp_req(&resp, 0)->enroll_req;
	assert_non_null(e);
	assert_string_equal(e->profile, "web");
	assert_string_equal(e->subject, "/CN=web/O=Acme");
	assert_int_equal(e->n_sans, 3);
	assert_string_equal(e->sans[0], "DNS:web.example");
	assert_string_equal(e->sans[1], "IP:2001:db8::1");
	assert_string_equal(e->sans[2], "email:a@example.org");
	assert_int_equal(e->key_type, CMPD__KEY_TYPE__KEY_EC_P384);
	assert_string_equal(e->key_id, "");

	/* An existing key instead of a type; a pasted uppercase id. */
	assert_int_equal(
	    cmpd_enroll_opts_set_key_type(o, NULL), CMPD_RESULT_OK);
	assert_int_equal(
	    cmpd_enroll_opts_set_key_id(o, "0123456789ABCDEF0123456789abcdef"),
	    CMPD_RESULT_OK);
	assert_int_equal(cmpd_enroll_opts_set_subject(o, NULL), CMPD_RESULT_OK);
	assert_int_equal(cmpd_enroll(cl, "web", o, &job), CMPD_RESULT_OK);
	cmpd_job_free(job);
	e = resp_req(&resp, 1)->enroll_req;
	assert_int_equal(e->key_type, CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED);
	assert_string_equal(e->key_id, "0123456789abcdef0123456789abcdef");
	assert_string_equal(e->subject, "");

	/* No options: the profile's defaults. */
	assert_int_equal(cmpd_enroll(cl, "other", NULL, &job), CMPD_RESULT_OK);
	cmpd_job_free(job);
	e = resp_req(&resp, 2)->enroll_req;
	assert_string_equal(e->profile, "other");
	assert_int_equal(e->n_sans, 0);
	assert_int_equal(e->key_type, CMPD__KEY_TYPE__KEY_TYPE_UNSPECIFIED);
	cmpd_enroll_opts_free(o);
}

/* Bad options are refused before anything is sent. */
static void
test_enroll_opts_invalid(void **state)
{
	static const char *const subjects[] = { "CN=x", "/CN", "/=x",
		"/CN=a\nb", "/CN=x/" };
	static const char *const sans[] = { "dns:x", "DNS:", "IP:999.1.1.1",
		"FOO:bar", "DNS:a b", "email:nobody", "nocolon" };
	static const char *const ids[] = { "xyz",
		"0123456789abcdef0123456789abcde",
		"0123456789abcdef0123456789abcdef0",
		"0123456789abcdeg0123456789abcdef" };
	cmpd_enroll_opts *o = NULL;
	cmpd_job *job = NULL;

	(void)state;
	start(NULL, NULL);
	assert_int_equal(cmpd_enroll_opts_new(&o), CMPD_RESULT_OK);
	for (size_t i = 0; i < sizeof(subjects) / sizeof(*subjects); i++)
		assert_int_equal(cmpd_enroll_opts_set_subject(o, subjects[i]),
		    CMPD_RESULT_INVALID);
	assert_non_null(strstr(cmpd_client_last_error(NULL), "/CN=x/"));
	for (size_t i = 0; i < sizeof(sans) / sizeof(*sans); i++)
		assert_int_equal(
		    cmpd_enroll_opts_add_san(o, sans[i]), CMPD_RESULT_INVALID);
	for (size_t i = 0; i < sizeof(ids) / sizeof(*ids); i++)
		assert_int_equal(cmpd_enroll_opts_set_key_id(o, ids[i]),
		    CMPD_RESULT_INVALID);
	assert_int_equal(
	    cmpd_enroll_opts_set_key_type(o, "ec-p521"), CMPD_RESULT_INVALID);
	assert_non_null(strstr(cmpd_client_last_error(NULL), "ec-p521"));

	/* A key id and a key type contradict each other. */
	assert_int_equal(
	    cmpd_enroll_opts_set_key_type(o, "rsa3072"), CMPD_RESULT_OK);
	assert_int_equal(
	    cmpd_enroll_opts_set_key_id(o, "0123456789abcdef0123456789abcdef"),
	    CMPD_RESULT_OK);
	assert_int_equal(cmpd_enroll(cl, "web", o, &job), CMPD_RESULT_INVALID);
	assert_null(job);
	assert_int_equal(cmpd_enroll(cl, "", NULL, &job), CMPD_RESULT_INVALID);
	assert_int_equal(
	    cmpd_job_get(cl, "not-hex", &job), CMPD_RESULT_INVALID);
	assert_int_equal(resp_count(&resp), 0);
	cmpd_enroll_opts_free(o);
}

static char *
pem_of(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *s;
	long n;

	assert_int_equal(PEM_write_bio_X509(b, x), 1);
	n = BIO_get_mem_data(b, &data);
	s = strndup(data, (size_t)n);
	BIO_free(b);
	return s;
}

/* A done job: every accessor, and what the library reads of the cert. */
static void
test_job_done_accessors(void **state)
{
	EVP_PKEY *ca_key = tkey_new("EC"), *key = tkey_new("EC");
	X509 *ca = tcert_new(ca_key, NULL, NULL, 1, "CN", "Test CA", NULL);
	X509 *x = tcert_new(
	    key, ca_key, "Test CA", 0x0a1b, "CN", "web", "O", "Acme", NULL);
	char *pem = pem_of(x), *ca_pem = pem_of(ca);
	struct tjob t;
	cmpd_job *job = NULL;
	size_t len = 0;

	(void)state;
	tjob_init(&t, "0123456789abcdef", CMPD__JOB_STATE__JOB_DONE);
	t.job.cert.data = tcert_der(x, &t.job.cert.len);
	t.chain[0].data = tcert_der(ca, &t.chain[0].len);
	t.job.chain = t.chain;
	t.job.n_chain = 1;
	t.job.cert_path = "/var/lib/cmpd/web.pem";
	t.job.chain_path = "/var/lib/cmpd/web-chain.pem";
	start(resp_job_cb, &t.job);

	assert_int_equal(
	    cmpd_job_get(cl, "0123456789abcdef", &job), CMPD_RESULT_OK);
	assert_string_equal(cmpd_job_id(job), "0123456789abcdef");
	assert_string_equal(cmpd_job_profile(job), "web");
	assert_string_equal(cmpd_job_op(job), "ir");
	assert_int_equal(cmpd_job_state_get(job), CMPD_JOB_STATE_DONE);
	assert_string_equal(cmpd_job_key_type(job), "ec-p256");
	assert_string_equal(
	    cmpd_job_key_id(job), "0123456789abcdef0123456789abcdef");
	assert_string_equal(cmpd_job_subject(job), "/CN=web/O=Acme");
	assert_int_equal(cmpd_job_san_count(job), 2);
	assert_string_equal(cmpd_job_san(job, 1), "IP:192.0.2.1");
	assert_null(cmpd_job_san(job, 2));
	assert_int_equal(cmpd_job_created(job), 1700000000);
	assert_int_equal(cmpd_job_updated(job), 1700000100);
	assert_int_equal(cmpd_job_next_poll(job), 0);
	assert_non_null(cmpd_job_cert_der(job, &len));
	assert_int_equal(len, t.job.cert.len);
	assert_memory_equal(cmpd_job_cert_der(job, &len), t.job.cert.data, len);
	assert_string_equal(cmpd_job_cert_pem(job), pem);
	assert_string_equal(cmpd_job_chain_pem(job), ca_pem);
	assert_string_equal(cmpd_job_cert_path(job), "/var/lib/cmpd/web.pem");
	assert_string_equal(
	    cmpd_job_chain_path(job), "/var/lib/cmpd/web-chain.pem");
	assert_string_equal(cmpd_job_cert_subject(job), "CN=web,O=Acme");
	assert_string_equal(cmpd_job_cert_issuer(job), "CN=Test CA");
	assert_string_equal(cmpd_job_cert_serial(job), "0a1b");
	assert_string_equal(cmpd_job_cert_key_type(job), "ec-p256");
	assert_int_equal(cmpd_job_cert_not_before(job), 1700000000);
	assert_int_equal(cmpd_job_cert_not_after(job), 1800000000);
	assert_int_equal(cmpd_job_error(job), CMPD_RESULT_OK);
	assert_int_equal(cmpd_job_pki_status(job), -1);
	assert_int_equal(cmpd_job_pki_text_count(job), 0);
	cmpd_job_free(job);
	free(pem);
	free(ca_pem);
	free(t.job.cert.data);
	free(t.chain[0].data);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
}

/* The key type is read from the certificate, for every kind of key. */
static void
test_job_cert_key_types(void **state)
{
	static const char *const types[][2] = { { "RSA", "rsa2048" },
		{ "ED25519", "ed25519" }, { "EC", "ec-p256" } };
	struct tjob t;

	(void)state;
	tjob_init(&t, "0123456789abcdef", CMPD__JOB_STATE__JOB_DONE);
	start(resp_job_cb, &t.job);
	for (size_t i = 0; i < 3; i++) {
		EVP_PKEY *k = tkey_new(types[i][0]);
		X509 *x = tcert_new(k, NULL, NULL, 7, "CN", "k", NULL);
		cmpd_job *job = NULL;

		t.job.cert.data = tcert_der(x, &t.job.cert.len);
		assert_int_equal(
		    cmpd_job_get(cl, "0123456789abcdef", &job), CMPD_RESULT_OK);
		assert_string_equal(cmpd_job_cert_key_type(job), types[i][1]);
		assert_string_equal(cmpd_job_cert_serial(job), "07");
		cmpd_job_free(job);
		free(t.job.cert.data);
		X509_free(x);
		EVP_PKEY_free(k);
	}
	/* Bytes that are no certificate: empty fields, not a failure. */
	t.job.cert.data = (uint8_t *)"not a certificate";
	t.job.cert.len = 17;
	{
		cmpd_job *job = NULL;

		assert_int_equal(
		    cmpd_job_get(cl, "0123456789abcdef", &job), CMPD_RESULT_OK);
		assert_string_equal(cmpd_job_cert_subject(job), "");
		assert_string_equal(cmpd_job_cert_key_type(job), "");
		cmpd_job_free(job);
	}
}

/* A job the CA refused: the error, the PKIStatusInfo and their names. */
static void
test_job_refused(void **state)
{
	struct tjob t;
	cmpd_job *job = NULL;

	(void)state;
	tjob_init(&t, "00000000000000ff", CMPD__JOB_STATE__JOB_FAILED);
	t.job.error = CMPD__ERROR_CODE__ERR_REFUSED;
	t.job.error_text = "the CA does not trust the signer";
	t.pki.status = 2;
	t.pki.fail_info = (1u << 1) | (1u << 20);
	t.texts[0] = "signer not trusted";
	t.texts[1] = "see the CA's log";
	t.pki.text = t.texts;
	t.pki.n_text = 2;
	t.job.pki = &t.pki;
	start(resp_job_cb, &t.job);

	assert_int_equal(
	    cmpd_job_get(cl, "00000000000000ff", &job), CMPD_RESULT_OK);
	assert_int_equal(cmpd_job_state_get(job), CMPD_JOB_STATE_FAILED);
	assert_string_equal(
	    cmpd_job_state_name(cmpd_job_state_get(job)), "failed");
	assert_int_equal(cmpd_job_error(job), CMPD_RESULT_REFUSED);
	assert_string_equal(
	    cmpd_job_error_text(job), "the CA does not trust the signer");
	assert_int_equal(cmpd_job_pki_status(job), 2);
	assert_string_equal(
	    cmpd_pki_status_name(cmpd_job_pki_status(job)), "rejection");
	assert_int_equal(cmpd_job_pki_fail_info(job), (1u << 1) | (1u << 20));
	assert_int_equal(cmpd_job_pki_text_count(job), 2);
	assert_string_equal(cmpd_job_pki_text(job, 1), "see the CA's log");
	assert_null(cmpd_job_pki_text(job, 2));
	assert_string_equal(cmpd_job_cert_pem(job), "");
	assert_string_equal(cmpd_job_chain_pem(job), "");
	cmpd_job_free(job);

	assert_string_equal(cmpd_pki_failure_name(0), "badAlg");
	assert_string_equal(cmpd_pki_failure_name(1), "badMessageCheck");
	assert_string_equal(cmpd_pki_failure_name(9), "badPOP");
	assert_string_equal(cmpd_pki_failure_name(20), "signerNotTrusted");
	assert_string_equal(cmpd_pki_failure_name(26), "duplicateCertReq");
	assert_null(cmpd_pki_failure_name(27));
	assert_string_equal(cmpd_pki_status_name(0), "accepted");
	assert_string_equal(cmpd_pki_status_name(3), "waiting");
	assert_string_equal(cmpd_pki_status_name(6), "keyUpdateWarning");
	assert_null(cmpd_pki_status_name(7));
	assert_null(cmpd_pki_status_name(-1));
}

/* A job that moves through a scripted list of states. */
struct script {
	Cmpd__JobState states[8];
	int n, next;
	unsigned hold_ms; /* hold a long poll (at most this) if nothing moves */
	int progress;
	cmpd_job_state seen[8];
};

static void
reply_script_cb(struct resp *r, const cmpd_env *req, nng_msg *raw, void *arg)
{
	struct script *s = arg;
	const Cmpd__JobGetReq *g = req->job_get_req;
	struct tjob t;
	int i = s->next < s->n ? s->next++ : s->n - 1;

	if (s->hold_ms > 0 && g->wait_ms > 0 && s->states[i] == g->seen_state)
		usleep((g->wait_ms < s->hold_ms ? g->wait_ms : s->hold_ms) *
		    1000u);
	tjob_init(&t, g->job_id, s->states[i]);
	t.job.next_poll = s->states[i] == CMPD__JOB_STATE__JOB_WAITING
	    ? (int64_t)time(NULL) + 2
	    : 0;
	resp_reply_job(r, raw, req->id, &t.job);
}

static void
progress_cb(const cmpd_job *job, void *arg)
{
	struct script *s = arg;

	if (s->progress < 8)
		s->seen[s->progress] = cmpd_job_state_get(job);
	s->progress++;
}

/* Each request names the state seen, so cmpd can hold it until a change. */
static void
test_wait_follows_states(void **state)
{
	struct script s = {
		.states = { CMPD__JOB_STATE__JOB_QUEUED,
		    CMPD__JOB_STATE__JOB_KEYGEN, CMPD__JOB_STATE__JOB_RUNNING,
		    CMPD__JOB_STATE__JOB_WAITING, CMPD__JOB_STATE__JOB_WAITING,
		    CMPD__JOB_STATE__JOB_DONE },
		.n = 6
	};
	cmpd_job *job = NULL;

	(void)state;
	start(reply_script_cb, &s);
	assert_int_equal(cmpd_job_wait_progress(cl, "0123456789abcdef", 20000,
	                     progress_cb, &s, &job),
	    CMPD_RESULT_OK);
	assert_int_equal(cmpd_job_state_get(job), CMPD_JOB_STATE_DONE);
	cmpd_job_free(job);
	/* One call per change: the repeated "waiting" is not one. */
	assert_int_equal(s.progress, 5);
	assert_int_equal(s.seen[0], CMPD_JOB_STATE_QUEUED);
	assert_int_equal(s.seen[3], CMPD_JOB_STATE_WAITING);
	assert_int_equal(s.seen[4], CMPD_JOB_STATE_DONE);
	assert_int_equal(resp_count(&resp), 6);
	/* The first look does not wait; each later one waits on a state. */
	assert_int_equal(resp_req(&resp, 0)->job_get_req->wait_ms, 0);
	assert_int_equal(resp_req(&resp, 0)->job_get_req->seen_state,
	    CMPD__JOB_STATE__JOB_STATE_UNSPECIFIED);
	for (int i = 1; i < 6; i++) {
		const Cmpd__JobGetReq *g = resp_req(&resp, i)->job_get_req;

		assert_true(g->wait_ms > 0 && g->wait_ms <= 20000);
		assert_int_equal(g->seen_state, s.states[i - 1]);
	}
}

/* The wait ends at its deadline, with no job and TIMEOUT. */
static void
test_wait_timeout(void **state)
{
	struct script s = { .states = { CMPD__JOB_STATE__JOB_RUNNING },
		.n = 1,
		.hold_ms = 60000 };
	cmpd_job *job = NULL;
	uint64_t t0 = test_now_ms(), took;

	(void)state;
	start(reply_script_cb, &s);
	assert_int_equal(cmpd_job_wait(cl, "0123456789abcdef", 700, &job),
	    CMPD_RESULT_TIMEOUT);
	took = test_now_ms() - t0;
	assert_null(job);
	assert_true(took >= 650 && took < 10000);
	assert_non_null(strstr(cmpd_client_last_error(cl), "running"));
	/* cmpd held the polls, so the client did not spin. */
	assert_true(resp_count(&resp) <= 4);
	/* 0: look once. */
	assert_int_equal(cmpd_job_wait(cl, "0123456789abcdef", 0, &job),
	    CMPD_RESULT_TIMEOUT);
}

/*
 * A long poll may take longer than the client's request timeout: the
 * receive timeout is extended by the wait asked for.
 */
static void
test_long_poll_outlasts_timeout(void **state)
{
	struct script s = { .states = { CMPD__JOB_STATE__JOB_WAITING,
		                CMPD__JOB_STATE__JOB_WAITING,
		                CMPD__JOB_STATE__JOB_DONE },
		.n = 3,
		.hold_ms = 1000 };
	cmpd_job *job = NULL;

	(void)state;
	start(reply_script_cb, &s);
	assert_int_equal(cmpd_client_set_timeout(cl, 200), CMPD_RESULT_OK);
	assert_int_equal(cmpd_client_set_timeout(cl, 0), CMPD_RESULT_INVALID);
	/* The second poll is held for a second, five times 200 ms. */
	assert_int_equal(
	    cmpd_job_wait(cl, "0123456789abcdef", 5000, &job), CMPD_RESULT_OK);
	assert_int_equal(cmpd_job_state_get(job), CMPD_JOB_STATE_DONE);
	cmpd_job_free(job);
}

struct lists {
	X509 *x;
	EVP_PKEY *key;
};

static void
reply_lists_cb(struct resp *r, const cmpd_env *req, nng_msg *raw, void *arg)
{
	struct lists *l = arg;
	Cmpd__JobListRep jl = CMPD__JOB_LIST_REP__INIT;
	Cmpd__CertListRep cl_ = CMPD__CERT_LIST_REP__INIT;
	Cmpd__CertRecord rec = CMPD__CERT_RECORD__INIT, *recs[1] = { &rec };
	Cmpd__KeyListRep kl = CMPD__KEY_LIST_REP__INIT;
	Cmpd__KeyInfo ki = CMPD__KEY_INFO__INIT, *kis[1] = { &ki };
	struct tjob a, b;
	Cmpd__Job *jobs[2] = { &a.job, &b.job };
	unsigned char *spki = NULL;
	cmpd_env env;

	cmpd_env_init(&env, req->id);
	tjob_init(&a, "000000000000000a", CMPD__JOB_STATE__JOB_DONE);
	tjob_init(&b, "000000000000000b", CMPD__JOB_STATE__JOB_RUNNING);
	b.job.profile = "mail";
	jl.jobs = jobs;
	jl.n_jobs = 2;
	rec.profile = "web";
	rec.job_id = "000000000000000a";
	rec.cert.data = tcert_der(l->x, &rec.cert.len);
	rec.subject = "CN=web";
	rec.issuer = "CN=Test CA";
	rec.serial = "0a1b";
	rec.not_before = 1700000000;
	rec.not_after = 1800000000;
	rec.key_id = "0123456789abcdef0123456789abcdef";
	rec.cert_path = "/var/lib/cmpd/web.pem";
	cl_.certs = recs;
	cl_.n_certs = 1;
	ki.id = "0123456789abcdef0123456789abcdef";
	ki.type = CMPD__KEY_TYPE__KEY_ED25519;
	ki.spki.len = (size_t)i2d_PUBKEY(l->key, &spki);
	ki.spki.data = spki;
	ki.created = 1700000200;
	kl.keys = kis;
	kl.n_keys = 1;
	if (req->body_case == CMPD__ENVELOPE__BODY_JOB_LIST_REQ) {
		env.body_case = CMPD__ENVELOPE__BODY_JOB_LIST_REP;
		env.job_list_rep = &jl;
	} else if (req->body_case == CMPD__ENVELOPE__BODY_CERT_LIST_REQ) {
		env.body_case = CMPD__ENVELOPE__BODY_CERT_LIST_REP;
		env.cert_list_rep = &cl_;
	} else {
		env.body_case = CMPD__ENVELOPE__BODY_KEY_LIST_REP;
		env.key_list_rep = &kl;
	}
	resp_reply(r, raw, req->id, &env);
	free(rec.cert.data);
	OPENSSL_free(spki);
}

static void
test_lists(void **state)
{
	struct lists l = { .key = tkey_new("ED25519") };
	cmpd_job_array *jobs = NULL;
	cmpd_cert_array *certs = NULL;
	cmpd_key_array *keys = NULL;
	const cmpd_cert *c;
	const cmpd_key_info *k;
	size_t len = 0;

	(void)state;
	l.x = tcert_new(l.key, NULL, NULL, 3, "CN", "web", NULL);
	start(reply_lists_cb, &l);

	assert_int_equal(cmpd_job_list(cl, "web", &jobs), CMPD_RESULT_OK);
	assert_string_equal(resp_req(&resp, 0)->job_list_req->profile, "web");
	assert_int_equal(cmpd_job_array_count(jobs), 2);
	assert_string_equal(
	    cmpd_job_id(cmpd_job_array_get(jobs, 1)), "000000000000000b");
	assert_string_equal(
	    cmpd_job_profile(cmpd_job_array_get(jobs, 1)), "mail");
	assert_null(cmpd_job_array_get(jobs, 2));
	cmpd_job_array_free(jobs);

	assert_int_equal(cmpd_cert_list(cl, NULL, &certs), CMPD_RESULT_OK);
	assert_string_equal(resp_req(&resp, 1)->cert_list_req->profile, "");
	assert_int_equal(cmpd_cert_array_count(certs), 1);
	c = cmpd_cert_array_get(certs, 0);
	assert_string_equal(cmpd_cert_profile(c), "web");
	assert_string_equal(cmpd_cert_job_id(c), "000000000000000a");
	assert_string_equal(cmpd_cert_subject(c), "CN=web");
	assert_string_equal(cmpd_cert_issuer(c), "CN=Test CA");
	assert_string_equal(cmpd_cert_serial(c), "0a1b");
	assert_int_equal(cmpd_cert_not_before(c), 1700000000);
	assert_int_equal(cmpd_cert_not_after(c), 1800000000);
	assert_string_equal(
	    cmpd_cert_key_id(c), "0123456789abcdef0123456789abcdef");
	assert_string_equal(cmpd_cert_path(c), "/var/lib/cmpd/web.pem");
	assert_non_null(cmpd_cert_der(c, &len));
	assert_true(len > 100);
	assert_non_null(
	    strstr(cmpd_cert_pem(c), "-----BEGIN CERTIFICATE-----"));
	cmpd_cert_array_free(certs);

	assert_int_equal(cmpd_key_list(cl, &keys), CMPD_RESULT_OK);
	assert_int_equal(cmpd_key_array_count(keys), 1);
	k = cmpd_key_array_get(keys, 0);
	assert_string_equal(
	    cmpd_key_info_id(k), "0123456789abcdef0123456789abcdef");
	assert_string_equal(cmpd_key_info_type(k), "ed25519");
	assert_int_equal(cmpd_key_info_created(k), 1700000200);
	assert_non_null(cmpd_key_info_spki(k, &len));
	assert_int_equal(len, 44);
	assert_non_null(
	    strstr(cmpd_key_info_spki_pem(k), "-----BEGIN PUBLIC KEY-----"));
	assert_null(cmpd_key_array_get(keys, 1));
	cmpd_key_array_free(keys);
	X509_free(l.x);
	EVP_PKEY_free(l.key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_enroll_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_enroll_opts_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_job_done_accessors, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_job_cert_key_types, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_job_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_wait_follows_states, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_wait_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_long_poll_outlasts_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lists, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
