#include "test_networker_util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static char pki_dir[64];
static char path_buf[256];

int
nwt_netns_enter(void)
{
	struct ifreq ifr = { 0 };
	int fd, ok;

	if (unshare(CLONE_NEWNET) != 0)
		return 0;
	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) < 0)
		return 0;
	strcpy(ifr.ifr_name, "lo");
	ok = ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	ok = ok && ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
	close(fd);
	return ok;
}

/* The PKI, as the openssl command makes it; run with sh -e in the dir. */
static const char pki_script[] =
    "k() { openssl genpkey -algorithm EC -pkeyopt "
    "ec_paramgen_curve:P-256 -out $1.key 2>/dev/null; }\n"
    "printf '[ee]\\nbasicConstraints=CA:FALSE\\n"
    "keyUsage=critical,digitalSignature\\n' > ext.cnf\n"
    "ca() { k $1; openssl req -x509 -new -key $1.key -subj \"/CN=$2\" "
    "-days 3650 -addext basicConstraints=critical,CA:TRUE "
    "-addext keyUsage=critical,keyCertSign,cRLSign -out $1.crt; }\n"
    "ee() { openssl req -new -key $1.key -subj \"/CN=$1\" -out $1.csr; "
    "openssl x509 -req -in $1.csr -CA root.crt -CAkey root.key "
    "-CAcreateserial -days 365 -extfile ext.cnf -extensions ee "
    "-out $1.crt 2>/dev/null; }\n"
    "ca root 'Test Root CA'; ca other 'Other Root CA'\n"
    "for n in srv sup rsp fresh; do k $n; done\n"
    "for n in srv sup rsp; do ee $n; done\n"
    "openssl genpkey -algorithm ED25519 -out sup_ed.key\n"
    "ee sup_ed\n";

const char *
nwt_pki_make(void)
{
	char cmd[sizeof(pki_script) + 128];

	strcpy(pki_dir, "/tmp/cmpd-nwtest.XXXXXX");
	if (mkdtemp(pki_dir) == NULL)
		return NULL;
	snprintf(cmd, sizeof(cmd), "cd %s && sh -e <<'EOF'\n%sEOF\n", pki_dir,
	    pki_script);
	if (system(cmd) != 0)
		return NULL;
	return pki_dir;
}

void
nwt_pki_remove(void)
{
	char cmd[128];

	if (pki_dir[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", pki_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", pki_dir);
}

const char *
nwt_path(const char *name)
{
	snprintf(path_buf, sizeof(path_buf), "%s/%s", pki_dir, name);
	return path_buf;
}

EVP_PKEY *
nwt_key_load(const char *name)
{
	FILE *f = fopen(nwt_path(name), "r");
	EVP_PKEY *k;

	if (f == NULL)
		return NULL;
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return k;
}

X509 *
nwt_cert_load(const char *name)
{
	FILE *f = fopen(nwt_path(name), "r");
	X509 *x;

	if (f == NULL)
		return NULL;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

ProtobufCBinaryData
nwt_der_load(const char *name)
{
	ProtobufCBinaryData d = { 0, NULL };
	X509 *x = nwt_cert_load(name);
	unsigned char *p;
	int len;

	if (x == NULL || (len = i2d_X509(x, NULL)) <= 0)
		abort();
	d.data = malloc((size_t)len);
	p = d.data;
	d.len = (size_t)i2d_X509(x, &p);
	X509_free(x);
	return d;
}

int
nwt_cert_is(X509 *cert, const char *name)
{
	X509 *x = nwt_cert_load(name);
	int same = x != NULL && cert != NULL && X509_cmp(cert, x) == 0;

	X509_free(x);
	return same;
}

/* Waits until the mock prints "ACCEPT [::]:PORT" and returns PORT. */
static int
mock_port_wait(void)
{
	char buf[4096];
	char *p;
	FILE *f;
	size_t n;

	for (int i = 0; i < 500; i++) {
		usleep(10000);
		if ((f = fopen(nwt_path("mock.log"), "r")) == NULL)
			continue;
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		if ((p = strstr(buf, "ACCEPT [::]:")) != NULL)
			return atoi(p + strlen("ACCEPT [::]:"));
	}
	return -1;
}

int
nwt_mock_start(const char *args, pid_t *pid)
{
	char cmd[2048];
	pid_t p;

	unlink(nwt_path("mock.log"));
	snprintf(cmd, sizeof(cmd),
	    "cd %s && exec openssl cmp -port 0 %s "
	    ">mock.log 2>&1",
	    pki_dir, args);
	if ((p = fork()) < 0)
		return -1;
	if (p == 0) {
		/* A test that fails midway must not leave servers behind. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	*pid = p;
	return mock_port_wait();
}

void
nwt_mock_stop(pid_t pid)
{
	int status;

	kill(pid, SIGTERM);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

int
nwt_file_has(const char *name, const char *s)
{
	static char buf[1 << 20];
	FILE *f = fopen(nwt_path(name), "r");
	size_t n;

	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, s) != NULL;
}

int
nwt_mock_log_has(const char *s)
{
	return nwt_file_has("mock.log", s);
}

int
nwt_free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* Whether something accepts connections on 127.0.0.1:port. */
static int
port_open(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

int
nwt_shell_start(const char *cmd, int port, pid_t *pid)
{
	char full[2048];

	snprintf(
	    full, sizeof(full), "cd %s && %s >shell.log 2>&1", pki_dir, cmd);
	if ((*pid = fork()) < 0)
		return -1;
	if (*pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl("/bin/sh", "sh", "-c", full, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		if (port_open(port))
			return 0;
		usleep(10000);
	}
	nwt_mock_stop(*pid);
	return -1;
}

int
nwt_proxy_start(const char *extra, pid_t *pid)
{
	int port = nwt_free_port();
	char conf[256], log[256];
	FILE *f;

	snprintf(log, sizeof(log), "%s", nwt_path("proxy.log"));
	snprintf(conf, sizeof(conf), "%s", nwt_path("proxy.conf"));
	unlink(log);
	if (port < 0 || (f = fopen(conf, "w")) == NULL)
		return -1;
	fprintf(f,
	    "Port %d\nListen 127.0.0.1\nTimeout 10\nLogLevel Info\n"
	    "LogFile \"%s\"\nMaxClients 20\nAllow 127.0.0.1\n%s\n",
	    port, log, extra != NULL ? extra : "");
	fclose(f);
	if ((*pid = fork()) < 0)
		return -1;
	if (*pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execlp(
		    "tinyproxy", "tinyproxy", "-d", "-c", conf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		if (port_open(port))
			return port;
		usleep(10000);
	}
	nwt_proxy_stop(*pid);
	return -1;
}

void
nwt_proxy_stop(pid_t pid)
{
	nwt_mock_stop(pid);
}

int
nwt_proxy_log_has(const char *s)
{
	return nwt_file_has("proxy.log", s);
}

void
nwt_req_certs_set(ProtobufCBinaryData **field, size_t *n,
    const char *const *names, size_t count)
{
	for (size_t i = 0; i < *n; i++)
		free((*field)[i].data);
	free(*field);
	*field = count ? calloc(count, sizeof(**field)) : NULL;
	for (size_t i = 0; i < count; i++)
		(*field)[i] = nwt_der_load(names[i]);
	*n = count;
}

static char *
xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		abort();
	return d;
}

Cmpd__TxnStartReq *
nwt_req_new(int port)
{
	static const char *const root[] = { "root.crt" };
	static const char *const sup[] = { "sup.crt" };
	Cmpd__TxnStartReq *r = calloc(1, sizeof(*r));
	char url[64];

	cmpd__txn_start_req__init(r);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/pkix/", port);
	r->job_id = xstrdup("0123456789abcdef");
	r->op = CMPD__CMP_OP__CMP_OP_IR;
	r->transaction_id.len = 16;
	r->transaction_id.data = (uint8_t *)xstrdup("tid-0123456789ab");
	r->server_url = xstrdup(url);
	r->subject = xstrdup("/CN=device-0001");
	r->recipient = xstrdup("/CN=srv");
	r->msg_timeout = 3;
	nwt_req_certs_set(&r->trusted, &r->n_trusted, root, 1);
	nwt_req_certs_set(&r->enroll_trusted, &r->n_enroll_trusted, root, 1);
	nwt_req_certs_set(&r->protection_certs, &r->n_protection_certs, sup, 1);
	return r;
}

void
nwt_req_mac_set(Cmpd__TxnStartReq *r, const char *secret, const char *ref)
{
	nwt_req_certs_set(
	    &r->protection_certs, &r->n_protection_certs, NULL, 0);
	free(r->mac_secret.data);
	r->mac_secret.data = (uint8_t *)xstrdup(secret);
	r->mac_secret.len = strlen(secret);
	r->mac_reference = xstrdup(ref); /* was the empty default */
}

void
nwt_req_free(Cmpd__TxnStartReq *r)
{
	if (r == NULL)
		return;
	/* Everything here came from malloc, as protobuf-c's own free does. */
	cmpd__txn_start_req__free_unpacked(r, NULL);
}
