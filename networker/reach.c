#include "reach.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* One connect to one address; 0 or an errno value. */
static int
reach_try(const struct addrinfo *ai, int timeout_ms)
{
	struct pollfd p = { .events = POLLOUT };
	socklen_t len = sizeof(int);
	int err = 0;

	p.fd = socket(ai->ai_family,
	    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (p.fd < 0)
		return errno;
	if (connect(p.fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		err = errno;
		if (err == EINPROGRESS) {
			err = ETIMEDOUT;
			if (poll(&p, 1, timeout_ms) == 1 &&
			    getsockopt(
			        p.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
				err = errno;
		}
	}
	close(p.fd);
	return err;
}

int
nw_reach_why(
    const char *host, int port, int timeout_ms, char *why, size_t whylen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	char service[16], buf[128];
	int rv, err = 0;

	snprintf(service, sizeof(service), "%d", port);
	if ((rv = getaddrinfo(host, service, &hints, &res)) != 0) {
		snprintf(why, whylen, "cannot resolve %s: %s", host,
		    gai_strerror(rv));
		return 1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next)
		if ((err = reach_try(ai, timeout_ms)) == 0)
			break;
	freeaddrinfo(res);
	if (err == 0)
		return 0;
	/* GNU strerror_r: thread-safe, returns the text. */
	snprintf(why, whylen, "%s", strerror_r(err, buf, sizeof(buf)));
	return 1;
}
