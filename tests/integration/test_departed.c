/*
 * Clients that leave early must not take cmpd's client API down, nor make
 * the broker spin.
 *
 * With nng 1.5.2 (Debian 12) serving the client socket, one client that
 * left before the broker had sent it the SP header stopped the listener
 * for good: the EPIPE of that send becomes NNG_ECLOSED, which the listener
 * takes for its own close (nng #1518, fixed in 1.6.0). Later clients still
 * connected and negotiated, but their requests were never read; once they
 * gave up, their connections hung up in nng's poller, which reports
 * EPOLLHUP for a descriptor it never armed and then ignores it: one thread
 * at 100% CPU, for good. These tests do what those clients did, at the byte
 * level, and check that cmpd still answers and stays idle.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmpd.pb-c.h"
#include "harness.h"

#define IO_MS 5000

/* The SP header of a req0 peer: what libcmpd-client sends first. */
static const uint8_t req0_head[8] = { 0, 'S', 'P', 0, 0x00, 0x30, 0, 0 };

static struct harness h;

static int
setup(void **state)
{
	(void)state;
	if (harness_init(&h, "departed") != 0 ||
	    harness_start_ca(&h, NULL) != 0 ||
	    harness_start_cmpd(&h, NULL) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	harness_fini(&h);
	return 0;
}

static int
raw_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_true(strlen(h.socket) < sizeof(sa.sun_path));
	strcpy(sa.sun_path, h.socket);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void
raw_send(int fd, const void *buf, size_t len)
{
	assert_int_equal(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Reads len bytes; returns how many came before EOF or IO_MS. */
static size_t
raw_read(int fd, void *buf, size_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t got = 0;

	while (got < len && poll(&p, 1, IO_MS) == 1) {
		ssize_t n = read(fd, (uint8_t *)buf + got, len - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

/* Whether the broker closed fd (EOF or reset) within IO_MS. */
static int
raw_closed_by_peer(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint8_t b[256];

	while (poll(&p, 1, IO_MS) == 1) {
		ssize_t n = read(fd, b, sizeof(b));

		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 1;
		if (n < 0)
			return 0;
	}
	return 0;
}

/* A JobListReq frame with request id id, as libcmpd-client builds it. */
static size_t
frame_job_list(uint8_t *out, uint32_t id, unsigned hops)
{
	Cmpd__JobListReq list = CMPD__JOB_LIST_REQ__INIT;
	Cmpd__Envelope env = CMPD__ENVELOPE__INIT;
	size_t body, len = 4 * hops;

	env.version = 1;
	env.id = id;
	list.profile = (char *)"";
	env.body_case = CMPD__ENVELOPE__BODY_JOB_LIST_REQ;
	env.job_list_req = &list;
	body = cmpd__envelope__pack(&env, out + 9 + len);
	/* The backtrace: hops 32-bit words, the last with the top bit. */
	for (unsigned i = 0; i < hops; i++) {
		uint32_t w = (i + 1 == hops) ? (0x80000000u | id) : 1000 + i;

		for (int k = 0; k < 4; k++)
			out[9 + 4 * i + k] = (uint8_t)(w >> (24 - 8 * k));
	}
	len += body;
	out[0] = 1;
	for (int k = 0; k < 8; k++)
		out[1 + k] = (uint8_t)((uint64_t)len >> (56 - 8 * k));
	return 9 + len;
}

/* Reads one reply frame and checks it answers request id over hops. */
static void
expect_job_list_rep(int fd, uint32_t id, unsigned hops)
{
	uint8_t head[9], *buf;
	Cmpd__Envelope *env;
	uint64_t len = 0;

	assert_int_equal(raw_read(fd, head, 9), 9);
	assert_int_equal(head[0], 1);
	for (int k = 0; k < 8; k++)
		len = (len << 8) | head[1 + k];
	assert_true(len > 4 * hops && len < (1u << 20));
	assert_non_null(buf = malloc(len));
	assert_int_equal(raw_read(fd, buf, len), len);
	/* The backtrace comes back as it went, the request id last. */
	for (unsigned i = 0; i < hops; i++) {
		uint32_t w = (i + 1 == hops) ? (0x80000000u | id) : 1000 + i;
		uint32_t got = (uint32_t)buf[4 * i] << 24 |
		    (uint32_t)buf[4 * i + 1] << 16 |
		    (uint32_t)buf[4 * i + 2] << 8 | buf[4 * i + 3];

		assert_int_equal(got, w);
	}
	env = cmpd__envelope__unpack(NULL, len - 4 * hops, buf + 4 * hops);
	assert_non_null(env);
	assert_int_equal(env->id, id);
	assert_int_equal(env->body_case, CMPD__ENVELOPE__BODY_JOB_LIST_REP);
	cmpd__envelope__free_unpacked(env, NULL);
	free(buf);
}

/* A real client's request, with a short timeout; NULL if answered. */
static char *
job_list_error(void)
{
	cmpd_client *c = NULL;
	cmpd_job_array *jobs = NULL;
	char *err = NULL;

	if (cmpd_client_open(h.socket, &c) != CMPD_RESULT_OK)
		return strdup(cmpd_client_last_error(NULL));
	if (cmpd_client_set_timeout(c, IO_MS) != CMPD_RESULT_OK ||
	    cmpd_job_list(c, NULL, &jobs) != CMPD_RESULT_OK)
		err = strdup(cmpd_client_last_error(c));
	cmpd_job_array_free(jobs);
	cmpd_client_close(c);
	return err;
}

static void
assert_answers(void)
{
	char *err = job_list_error();

	if (err != NULL)
		fail_msg("cmpd did not answer: %s", err);
}

static void *
job_list_thread(void *arg)
{
	(void)arg;
	return job_list_error();
}

/* The broker's CPU time (all its threads) in seconds. */
static double
broker_cpu(void)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)h.cmpd_pid);
	assert_non_null(f = fopen(path, "r"));
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	/* Fields 14 and 15 (utime, stime), counted after the command. */
	assert_non_null(p = strrchr(buf, ')'));
	assert_int_equal(sscanf(p + 2,
	                     "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu "
	                     "%lu",
	                     &ut, &st),
	    2);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* No broker thread spins: under 0.2 s of CPU over one idle second. */
static void
assert_idle(void)
{
	double t0 = broker_cpu(), used;

	sleep(1);
	used = broker_cpu() - t0;
	if (used >= 0.2)
		fail_msg("the broker used %.2f s of CPU in 1 s idle", used);
}

/*
 * A client connects and leaves before the broker could send it anything:
 * the broker is stopped meanwhile (as a slow start would keep it busy), and
 * then once more while it runs.
 */
static void
test_gone_before_header(void **state)
{
	(void)state;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(kill(h.cmpd_pid, SIGSTOP), 0);
		close(raw_connect());
		assert_int_equal(kill(h.cmpd_pid, SIGCONT), 0);
		close(raw_connect());
	}
	assert_answers();
	assert_idle();
}

/*
 * Clients that negotiated and sent a request, then left without reading
 * the answer: one while the broker was stopped, one while it ran. The
 * broker stays idle and answers the next client.
 */
static void
test_gone_after_request(void **state)
{
	uint8_t frame[64], head[8];
	size_t n = frame_job_list(frame, 7, 1);
	int fd;

	(void)state;
	assert_int_equal(kill(h.cmpd_pid, SIGSTOP), 0);
	fd = raw_connect();
	raw_send(fd, req0_head, 8);
	raw_send(fd, frame, n);
	assert_int_equal(kill(h.cmpd_pid, SIGCONT), 0);
	assert_int_equal(raw_read(fd, head, 8), 8);
	close(fd);

	fd = raw_connect();
	raw_send(fd, req0_head, 8);
	assert_int_equal(raw_read(fd, head, 8), 8);
	raw_send(fd, frame, n);
	close(fd);
	assert_idle();
	assert_answers();
}

/*
 * A client that comes while the broker is busy (stopped here, as during
 * a long start) waits and is answered once the broker runs again.
 */
static void
test_client_waits(void **state)
{
	pthread_t t;
	void *err = NULL;

	(void)state;
	assert_int_equal(kill(h.cmpd_pid, SIGSTOP), 0);
	assert_int_equal(pthread_create(&t, NULL, job_list_thread, NULL), 0);
	usleep(500 * 1000);
	assert_int_equal(kill(h.cmpd_pid, SIGCONT), 0);
	assert_int_equal(pthread_join(t, &err), 0);
	if (err != NULL)
		fail_msg("cmpd did not answer: %s", (char *)err);
	assert_idle();
}

/*
 * The broker speaks the SP wire protocol as nng's rep0 does: its header
 * names rep0, it answers pipelined requests in order and returns a
 * request's backtrace (a device between would add hops).
 */
static void
test_wire(void **state)
{
	uint8_t head[8], buf[256];
	size_t n;
	int fd;

	(void)state;
	fd = raw_connect();
	raw_send(fd, req0_head, 8);
	assert_int_equal(raw_read(fd, head, 8), 8);
	assert_memory_equal(head, "\0SP\0\x00\x31\0\0", 8);
	n = frame_job_list(buf, 11, 1);
	n += frame_job_list(buf + n, 12, 3);
	raw_send(fd, buf, n);
	expect_job_list_rep(fd, 11, 1);
	expect_job_list_rep(fd, 12, 3);
	close(fd);
	assert_answers();
}

/* What the broker does with peers that break the protocol: drop them. */
static void
test_wire_hostile(void **state)
{
	static const uint8_t pair0_head[8] = { 0, 'S', 'P', 0, 0, 0x10, 0, 0 };
	static const uint8_t bad_head[8] = { 0, 'S', 'Q', 0, 0, 0x30, 0, 0 };
	/* Announces 1 GiB, or a frame type nng does not know, or no id. */
	static const uint8_t huge[9] = { 1, 0, 0, 0, 0, 0x40, 0, 0, 0 };
	static const uint8_t type2[9] = { 2, 0, 0, 0, 0, 0, 0, 0, 4 };
	static const uint8_t empty[9] = { 1, 0, 0, 0, 0, 0, 0, 0, 0 };
	const uint8_t *heads[] = { pair0_head, bad_head };
	const uint8_t *frames[] = { huge, type2, empty };
	uint8_t head[8];
	int fd;

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		fd = raw_connect();
		raw_send(fd, heads[i], 8);
		assert_true(raw_closed_by_peer(fd));
		close(fd);
	}
	for (size_t i = 0; i < 3; i++) {
		fd = raw_connect();
		raw_send(fd, req0_head, 8);
		assert_int_equal(raw_read(fd, head, 8), 8);
		raw_send(fd, frames[i], 9);
		assert_true(raw_closed_by_peer(fd));
		close(fd);
	}
	assert_answers();
	assert_idle();
}

/*
 * One user holds at most 256 connections: the next is closed at once,
 * the ones held still work, and once some go, new ones are taken again.
 */
static void
test_connections_per_user(void **state)
{
	enum { HELD = 256 };
	static int fds[HELD];
	uint8_t head[8], frame[128];
	size_t len;
	int fd;

	(void)state;
	for (int i = 0; i < HELD; i++) {
		fds[i] = raw_connect();
		raw_send(fds[i], req0_head, 8);
		assert_int_equal(raw_read(fds[i], head, 8), 8);
	}
	fd = raw_connect();
	raw_send(fd, req0_head, 8);
	assert_true(raw_closed_by_peer(fd));
	close(fd);
	len = frame_job_list(frame, 7, 1);
	raw_send(fds[HELD - 1], frame, len);
	expect_job_list_rep(fds[HELD - 1], 7, 1);
	for (int i = 0; i < HELD; i++)
		close(fds[i]);
	/* The broker notices the closes on its next turns. */
	usleep(200 * 1000);
	assert_answers();
	assert_idle();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gone_before_header),
		cmocka_unit_test(test_gone_after_request),
		cmocka_unit_test(test_client_waits),
		cmocka_unit_test(test_wire),
		cmocka_unit_test(test_wire_hostile),
		cmocka_unit_test(test_connections_per_user),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
