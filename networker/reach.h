/*
 * Why a CA could not be reached. OpenSSL 3.0's HTTP client retries a
 * failed connect until the message timeout and then reports only
 * "connect timeout", whatever happened; one direct attempt after the
 * failure names the cause ("connection refused", "no route to host", an
 * unknown name) for the error a person reads.
 */
#pragma once

#include <stddef.h>

/*
 * Tries one TCP connection to host:port, waiting at most timeout_ms.
 * Returns 1 with the reason in why if it fails, 0 if it succeeds now.
 */
int nw_reach_why(
    const char *host, int port, int timeout_ms, char *why, size_t whylen);
