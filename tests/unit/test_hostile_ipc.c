/*
 * Hostile local peers on cmpd's IPC sockets, at the byte level: nng 1.5.2
 * allocates the length a peer announces before reading the body unless
 * NNG_OPT_RECVMAXSZ is set (its default is no limit). A socket set up with
 * cmpd_ipc_listen must drop a peer that announces more than the limit at
 * once, without allocating it, and keep serving well-behaved peers.
 */
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/pair0/pair.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "ipc.h"

#define LIMIT (64u << 10)

struct world {
	char dir[64];
	char path[96];
	char url[112];
	nng_socket srv;
};

static int
setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return -1;
	snprintf(w->dir, sizeof(w->dir), "/tmp/cmpd-hostile-ipc.XXXXXX");
	if (mkdtemp(w->dir) == NULL)
		return -1;
	snprintf(w->path, sizeof(w->path), "%s/s.ipc", w->dir);
	snprintf(w->url, sizeof(w->url), "ipc://%s", w->path);
	if (nng_pair0_open(&w->srv) != 0 ||
	    cmpd_ipc_listen(w->srv, w->url, LIMIT, 0600) != CMPD_OK)
		return -1;
	*state = w;
	return 0;
}

static int
teardown(void **state)
{
	struct world *w = *state;

	nng_close(w->srv);
	unlink(w->path);
	rmdir(w->dir);
	free(w);
	return 0;
}

/* A raw connection that has done the SP handshake as a pair0 peer. */
static int
raw_connect(const struct world *w)
{
	static const uint8_t hello[8] = { 0, 'S', 'P', 0, 0, 0x10, 0, 0 };
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	uint8_t theirs[8];
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", w->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(
	    send(fd, hello, sizeof(hello), MSG_NOSIGNAL), sizeof(hello));
	assert_int_equal(read(fd, theirs, sizeof(theirs)), sizeof(theirs));
	assert_memory_equal(theirs, "\0SP\0", 4);
	return fd;
}

/* Whether the peer closed fd within ms milliseconds. */
static int
closed_within(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&p, 1, ms) != 1)
		return 0;
	return read(fd, &c, 1) <= 0;
}

static long
vm_size_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmSize: %ld kB", &kb) == 1)
			break;
	if (f != NULL)
		fclose(f);
	return kb;
}

/*
 * Sends a frame header the server is to refuse. It may have dropped the
 * connection already while the bytes were on their way: that is a
 * refusal too (EPIPE, without the signal).
 */
static void
frame_send(int fd, const uint8_t *frame, size_t len)
{
	ssize_t n = send(fd, frame, len, MSG_NOSIGNAL);

	assert_true(n == (ssize_t)len ||
	    (n < 0 && (errno == EPIPE || errno == ECONNRESET)));
}

/* A frame announcing 16 GiB: dropped at once, nothing allocated. */
static void
test_announced_length_over_limit(void **state)
{
	struct world *w = *state;
	uint8_t frame[9] = { 1, 0, 0, 0, 4, 0, 0, 0, 0 }; /* 2^34 */
	long before = vm_size_kb();
	int fd = raw_connect(w);

	frame_send(fd, frame, sizeof(frame));
	assert_true(closed_within(fd, 2000));
	close(fd);
	/* Not even address space for it (nng 1.5.2 would reserve it). */
	assert_true(vm_size_kb() - before < (1L << 20));
}

/* Just over the limit is refused too; a peer within it is served. */
static void
test_limit_is_exact_and_others_served(void **state)
{
	struct world *w = *state;
	uint8_t frame[9] = { 1, 0, 0, 0, 0, 0, 0, 0, 0 };
	uint32_t over = LIMIT + 1;
	nng_socket cli;
	nng_msg *m = NULL;
	int fd = raw_connect(w);

	frame[5] = (uint8_t)(over >> 24);
	frame[6] = (uint8_t)(over >> 16);
	frame[7] = (uint8_t)(over >> 8);
	frame[8] = (uint8_t)over;
	frame_send(fd, frame, sizeof(frame));
	assert_true(closed_within(fd, 2000));
	close(fd);

	assert_int_equal(nng_pair0_open(&cli), 0);
	assert_int_equal(cmpd_ipc_dial(cli, w->url, LIMIT), CMPD_OK);
	assert_int_equal(nng_socket_set_ms(w->srv, NNG_OPT_RECVTIMEO, 5000), 0);
	assert_int_equal(nng_socket_set_ms(cli, NNG_OPT_SENDTIMEO, 5000), 0);
	/* The send does not block: retry until the dialer is connected. */
	for (int i = 0; i < 250 && cmpd_ipc_send_ok(cli, 7, NULL) != CMPD_OK;
	     i++)
		usleep(20000);
	assert_int_equal(nng_recvmsg(w->srv, &m, 0), 0);
	assert_true(nng_msg_len(m) > 0 && nng_msg_len(m) < LIMIT);
	nng_msg_free(m);
	nng_close(cli);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_announced_length_over_limit),
		cmocka_unit_test(test_limit_is_exact_and_others_served),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
