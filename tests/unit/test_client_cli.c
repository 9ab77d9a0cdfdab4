#include "test_client_cli.h"

/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <fcntl.h>
#include <openssl/conf.h>
#include <openssl/pem.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct resp resp;
struct fake fake;
char dir[64];

void
slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, len - 1, f) : 0;

	buf[n] = '\0';
	if (f != NULL)
		fclose(f);
}

/* A terminal for cmpctl's stderr: the master side, and the slave's name. */
static int
pty_open(char *name, size_t len)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY);

	if (m < 0 || grantpt(m) != 0 || unlockpt(m) != 0 ||
	    ptsname_r(m, name, len) != 0)
		fail_msg("no pseudo-terminal");
	return m;
}

int
cli_have_pty(void)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY);

	if (m < 0)
		return 0;
	close(m);
	return 1;
}

/* What cmpctl wrote to the terminal (it has exited; the data stays). */
static void
pty_drain(int m, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	fcntl(m, F_SETFL, O_NONBLOCK);
	while (got + 1 < len && (n = read(m, buf + got, len - got - 1)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(m);
}

/*
 * Runs cmpctl with args (NULL-terminated); stdout and stderr apart, and
 * stderr on a terminal if tty.
 */
void
run_as(struct run *r, int tty, const char *const *args)
{
	char pty[64];
	int m = tty ? pty_open(pty, sizeof(pty)) : -1;
	const char *bin = getenv("CMPD_BIN_DIR");
	char path[512], out[128], err[128];
	const char *argv[40] = { "cmpctl" };
	posix_spawn_file_actions_t fa;
	size_t n = 1;
	pid_t pid;
	int st;

	snprintf(path, sizeof(path), "%s/cmpctl", bin ? bin : "bin");
	snprintf(out, sizeof(out), "%s/stdout", dir);
	snprintf(err, sizeof(err), "%s/stderr", dir);
	for (; *args != NULL && n < 38; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(
	    &fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, 2, tty ? pty : err,
	    tty ? O_RDWR | O_NOCTTY : O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(
	    posix_spawn(&pid, path, &fa, NULL, (char *const *)argv, environ),
	    0);
	posix_spawn_file_actions_destroy(&fa);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	r->rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	slurp(out, r->out, sizeof(r->out));
	if (tty)
		pty_drain(m, r->err, sizeof(r->err));
	else
		slurp(err, r->err, sizeof(r->err));
}

static void
fake_reply_job(
    struct resp *r, const cmpd_env *req, nng_msg *raw, Cmpd__JobState state)
{
	Cmpd__Job job = fake.tmpl.job;

	job.state = state;
	job.next_poll =
	    state == CMPD__JOB_STATE__JOB_WAITING ? (int64_t)time(NULL) + 2 : 0;
	if (state != CMPD__JOB_STATE__JOB_DONE) {
		job.cert.len = 0;
		job.n_chain = 0;
		job.cert_path = job.chain_path = "";
	}
	if (state != CMPD__JOB_STATE__JOB_FAILED)
		job.pki = NULL;
	if (state != CMPD__JOB_STATE__JOB_DONE)
		job.genm = NULL;
	resp_reply_job(r, raw, req->id, &job);
}

static void
fake_job_get(struct resp *r, const cmpd_env *req, nng_msg *raw)
{
	const Cmpd__JobGetReq *g = req->job_get_req;
	int i = fake.next < fake.n ? fake.next++ : fake.n - 1;

	if (fake.hold_ms > 0 && g->wait_ms > 0 &&
	    fake.states[i] == g->seen_state)
		usleep((g->wait_ms < fake.hold_ms ? g->wait_ms : fake.hold_ms) *
		    1000u);
	fake_reply_job(r, req, raw, fake.states[i]);
}

static void
fake_lists(struct resp *r, const cmpd_env *req, nng_msg *raw)
{
	Cmpd__JobListRep jl = CMPD__JOB_LIST_REP__INIT;
	Cmpd__CertListRep cl = CMPD__CERT_LIST_REP__INIT;
	Cmpd__CertRecord *recs[1] = { &fake.rec };
	Cmpd__KeyListRep kl = CMPD__KEY_LIST_REP__INIT;
	Cmpd__KeyInfo ki = CMPD__KEY_INFO__INIT, *kis[1] = { &ki };
	Cmpd__Job *jobs[2] = { &fake.tmpl.job, &fake.tmpl.job };
	unsigned char *spki = NULL;
	cmpd_env env;

	cmpd_env_init(&env, req->id);
	jl.jobs = jobs;
	jl.n_jobs = 2;
	cl.certs = recs;
	cl.n_certs = 1;
	ki.id = "0123456789abcdef0123456789abcdef";
	ki.type = CMPD__KEY_TYPE__KEY_EC_P256;
	ki.spki.len = (size_t)i2d_PUBKEY(fake.key, &spki);
	ki.spki.data = spki;
	ki.created = 1700000200;
	kl.keys = kis;
	kl.n_keys = 1;
	if (req->body_case == CMPD__ENVELOPE__BODY_JOB_LIST_REQ) {
		env.body_case = CMPD__ENVELOPE__BODY_JOB_LIST_REP;
		env.job_list_rep = &jl;
	} else if (req->body_case == CMPD__ENVELOPE__BODY_CERT_LIST_REQ) {
		env.body_case = CMPD__ENVELOPE__BODY_CERT_LIST_REP;
		env.cert_list_rep = &cl;
	} else {
		env.body_case = CMPD__ENVELOPE__BODY_KEY_LIST_REP;
		env.key_list_rep = &kl;
	}
	resp_reply(r, raw, req->id, &env);
	OPENSSL_free(spki);
}

/* Key import: the CA key's certificate serves as the import one. */
static void
fake_import(struct resp *r, const cmpd_env *req, nng_msg *raw)
{
	Cmpd__KeyImportCertRep crep = CMPD__KEY_IMPORT_CERT_REP__INIT;
	Cmpd__KeyImportRep krep = CMPD__KEY_IMPORT_REP__INIT;
	Cmpd__KeyInfo ki = CMPD__KEY_INFO__INIT;
	unsigned char *spki = NULL;
	cmpd_env env;

	cmpd_env_init(&env, req->id);
	if (req->body_case == CMPD__ENVELOPE__BODY_KEY_IMPORT_CERT_REQ) {
		crep.cert.data = tcert_der(fake.ca, &crep.cert.len);
		env.body_case = CMPD__ENVELOPE__BODY_KEY_IMPORT_CERT_REP;
		env.key_import_cert_rep = &crep;
		resp_reply(r, raw, req->id, &env);
		free(crep.cert.data);
		return;
	}
	ki.id = "fedcba9876543210fedcba9876543210";
	ki.type = CMPD__KEY_TYPE__KEY_EC_P256;
	ki.spki.len = (size_t)i2d_PUBKEY(fake.key, &spki);
	ki.spki.data = spki;
	ki.created = 1700000400;
	krep.key = &ki;
	env.body_case = CMPD__ENVELOPE__BODY_KEY_IMPORT_REP;
	env.key_import_rep = &krep;
	resp_reply(r, raw, req->id, &env);
	OPENSSL_free(spki);
}

static void
fake_cb(struct resp *r, const cmpd_env *req, nng_msg *raw, void *arg)
{
	(void)arg;
	if (fake.error != 0) {
		resp_reply_error(r, raw, req->id, fake.error, "broker says no");
		return;
	}
	switch (req->body_case) {
	case CMPD__ENVELOPE__BODY_ENROLL_REQ:
	case CMPD__ENVELOPE__BODY_RENEW_REQ:
	case CMPD__ENVELOPE__BODY_REVOKE_REQ:
	case CMPD__ENVELOPE__BODY_GENM_REQ:
		fake_reply_job(r, req, raw, CMPD__JOB_STATE__JOB_QUEUED);
		break;
	case CMPD__ENVELOPE__BODY_JOB_GET_REQ:
		fake_job_get(r, req, raw);
		break;
	case CMPD__ENVELOPE__BODY_KEY_IMPORT_CERT_REQ:
	case CMPD__ENVELOPE__BODY_KEY_IMPORT_REQ:
		fake_import(r, req, raw);
		break;
	default:
		fake_lists(r, req, raw);
	}
}

/* A tracked certificate with every field set. */
static void
fake_rec_init(void)
{
	Cmpd__CertRecord *rec = &fake.rec;

	cmpd__cert_record__init(rec);
	rec->profile = "web";
	rec->job_id = "0123456789abcdef";
	rec->cert = fake.tmpl.job.cert;
	rec->subject = "CN=web,O=Acme";
	rec->issuer = "CN=Test CA";
	rec->serial = "0a1b";
	rec->not_before = 1700000000;
	rec->not_after = 1800000000;
	rec->key_id = "0123456789abcdef0123456789abcdef";
	rec->cert_path = "/var/lib/cmpd/web.pem";
	rec->id = "c0ffee0123456789";
	rec->state = CMPD__CERT_STATE__CERT_ACTIVE;
	rec->next_renewal = 1760000000;
	rec->last_error = "the CA could not be reached";
	rec->failures = 2;
	rec->renewing_job = "00000000000000aa";
	fake.rec_chain[0] = fake.tmpl.chain[0];
	rec->chain = fake.rec_chain;
	rec->n_chain = 1;
	rec->revocation_reason = -1;
	rec->chain_path = "/var/lib/cmpd/web-chain.pem";
	rec->key_type = CMPD__KEY_TYPE__KEY_EC_P256;
	rec->renewed = 1750000000;
}

/* DER that ASN1_generate_nconf builds from conf's section "top". */
static void
der_generate(const char *conf, ProtobufCBinaryData *out)
{
	BIO *b = BIO_new_mem_buf(conf, -1);
	CONF *cnf = NCONF_new(NULL);
	ASN1_TYPE *t = NULL;
	unsigned char *der = NULL;
	int n = -1;

	if (NCONF_load_bio(cnf, b, NULL) == 1 &&
	    (t = ASN1_generate_nconf("SEQUENCE:top", cnf)) != NULL)
		n = i2d_ASN1_TYPE(t, &der);
	if (n <= 0)
		fail_msg("cannot generate test DER");
	out->data = malloc((size_t)n);
	memcpy(out->data, der, (size_t)n);
	out->len = (size_t)n;
	OPENSSL_free(der);
	ASN1_TYPE_free(t);
	NCONF_free(cnf);
	BIO_free(b);
}

static const char tmpl_conf[] = "[top]\n"
                                "subject = EXP:5,SEQUENCE:name\n"
                                "pk = IMP:6,SEQUENCE:spki\n"
                                "exts = IMP:9,SEQUENCE:exts\n"
                                "[name]\n"
                                "rdn = SET:rdn\n"
                                "[rdn]\n"
                                "atv = SEQUENCE:o\n"
                                "[o]\n"
                                "type = OID:organizationName\n"
                                "value = UTF8:cmpd test\n"
                                "[spki]\n"
                                "alg = SEQUENCE:ec\n"
                                "key = BITSTRING:\n"
                                "[ec]\n"
                                "alg = OID:id-ecPublicKey\n"
                                "curve = OID:prime256v1\n"
                                "[exts]\n"
                                "san = SEQUENCE:san\n"
                                "[san]\n"
                                "id = OID:subjectAltName\n"
                                "value = OCTWRAP,SEQUENCE:names\n"
                                "[names]\n"
                                "dns = IMP:2,IA5STRING:device.example\n";

static const char spec_conf[] = "[top]\n"
                                "c1 = SEQUENCE:algid\n"
                                "[algid]\n"
                                "type = OID:1.3.6.1.5.5.7.5.1.11\n"
                                "value = SEQUENCE:ec\n"
                                "[ec]\n"
                                "alg = OID:id-ecPublicKey\n"
                                "curve = OID:prime256v1\n";

void
fake_genm(Cmpd__GenmType type, int empty)
{
	Cmpd__GenmResult *g = &fake.genm;

	cmpd__genm_result__init(g);
	g->type = type;
	g->empty = empty;
	fake.tmpl.job.op = CMPD__CMP_OP__CMP_OP_GENM;
	fake.tmpl.job.genm = g;
	if (empty)
		return;
	fake.genm_certs[0] = fake.tmpl.job.cert;
	fake.genm_certs[1] = fake.tmpl.chain[0];
	if (type == CMPD__GENM_TYPE__GENM_CA_CERTS) {
		g->ca_certs = fake.genm_certs;
		g->n_ca_certs = 2;
	} else if (type == CMPD__GENM_TYPE__GENM_ROOT_CA_KEY_UPDATE) {
		g->new_root = fake.tmpl.chain[0];
		g->new_with_old = fake.tmpl.job.cert;
	} else {
		if (fake.tmpl_der.len == 0) {
			der_generate(tmpl_conf, &fake.tmpl_der);
			der_generate(spec_conf, &fake.spec_der);
		}
		g->cert_template = fake.tmpl_der;
		g->key_spec = fake.spec_der;
	}
}

int
cli_setup(void **state)
{
	struct tjob *t = &fake.tmpl;

	(void)state;
	memset(&fake, 0, sizeof(fake));
	fake.ca_key = tkey_new("EC");
	fake.key = tkey_new("EC");
	fake.ca = tcert_new(fake.ca_key, NULL, NULL, 1, "CN", "Test CA", NULL);
	fake.cert = tcert_new(fake.key, fake.ca_key, "Test CA", 0x0a1b, "CN",
	    "web", "O", "Acme", NULL);
	tjob_init(t, "0123456789abcdef", CMPD__JOB_STATE__JOB_DONE);
	t->job.cert.data = tcert_der(fake.cert, &t->job.cert.len);
	t->chain[0].data = tcert_der(fake.ca, &t->chain[0].len);
	t->job.chain = t->chain;
	t->job.n_chain = 1;
	t->job.cert_path = "/var/lib/cmpd/web.pem";
	t->job.chain_path = "/var/lib/cmpd/web-chain.pem";
	t->job.error = CMPD__ERROR_CODE__ERR_REFUSED;
	t->job.error_text = "the CA refused";
	t->pki.status = 2;
	t->pki.fail_info = (1u << 1) | (1u << 20);
	t->texts[0] = "signer not trusted";
	t->texts[1] = "\x1b[31mred";
	t->pki.text = t->texts;
	t->pki.n_text = 2;
	t->job.pki = &t->pki;
	fake_rec_init();
	snprintf(dir, sizeof(dir), "/tmp/cmpctl-test-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	return resp_start(&resp, fake_cb, NULL);
}

int
cli_teardown(void **state)
{
	char cmd[128];

	(void)state;
	resp_stop(&resp);
	free(fake.tmpl.job.cert.data);
	free(fake.tmpl.chain[0].data);
	free(fake.tmpl_der.data);
	free(fake.spec_der.data);
	X509_free(fake.cert);
	X509_free(fake.ca);
	EVP_PKEY_free(fake.key);
	EVP_PKEY_free(fake.ca_key);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

void
script(int n, ...)
{
	va_list ap;

	va_start(ap, n);
	for (int i = 0; i < n; i++)
		fake.states[i] = (Cmpd__JobState)va_arg(ap, int);
	va_end(ap);
	fake.n = n;
	fake.next = 0;
}

json_t *
parse(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, 0, &e);

	if (v == NULL)
		fail_msg("not JSON (%s): %s", e.text, text);
	return v;
}

/* The {"error": {...}} object, with its code checked. */
void
expect_json_error(const char *text, const char *code)
{
	json_t *v = parse(text);
	json_t *e = json_object_get(v, "error");

	assert_true(json_is_object(e));
	assert_string_equal(
	    json_string_value(json_object_get(e, "code")), code);
	assert_true(json_is_string(json_object_get(e, "message")));
	json_decref(v);
}

void
jexpect_str(json_t *o, const char *key, const char *want)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		fail_msg("%s is not a string", key);
	if (want != NULL)
		assert_string_equal(json_string_value(v), want);
}

void
jexpect_null(json_t *o, const char *key)
{
	if (!json_is_null(json_object_get(o, key)))
		fail_msg("%s is not null", key);
}
