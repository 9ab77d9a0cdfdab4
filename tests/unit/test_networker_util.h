/*
 * Helpers of the networker tests: a private network namespace, a PKI made
 * with the openssl command, the `openssl cmp -port` mock server, and
 * TxnStartReq fixtures.
 */
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <sys/types.h>

#include "cmpd.pb-c.h"

/*
 * Moves the test into a network namespace of its own with only "lo" up,
 * because the mock server binds all interfaces. Returns 1 if that worked
 * (root), 0 if the test runs in the host's namespace.
 */
int nwt_netns_enter(void);

/*
 * Makes a temporary directory with root.crt/key (a CA), srv (the mock's
 * CMP signer, keyUsage digitalSignature), sup (the supplier certificate
 * that protects requests), rsp (the certificate the mock returns), fresh
 * (a key of no certificate), other.crt (an unrelated CA) and sup_ed (an
 * Ed25519 supplier). Returns the directory (static storage).
 */
const char *nwt_pki_make(void);
void nwt_pki_remove(void);

/* Path of name in the PKI directory (static buffer, one at a time). */
const char *nwt_path(const char *name);

EVP_PKEY *nwt_key_load(const char *name);
X509 *nwt_cert_load(const char *name);

/* DER of a PEM certificate, in a buffer the caller frees with free(). */
ProtobufCBinaryData nwt_der_load(const char *name);

/* Whether cert has the same DER as the PEM file name. */
int nwt_cert_is(X509 *cert, const char *name);

/*
 * Starts `openssl cmp -port 0 ARGS` in the PKI directory and returns its
 * port; the mock's output goes to mock.log there.
 */
int nwt_mock_start(const char *args, pid_t *pid);
void nwt_mock_stop(pid_t pid);

/* Whether the file name of the PKI directory contains s. */
int nwt_file_has(const char *name, const char *s);

/* Whether the mock's log contains s. */
int nwt_mock_log_has(const char *s);

/* A TCP port on 127.0.0.1 that was free a moment ago. */
int nwt_free_port(void);

/*
 * Runs the shell command cmd in the PKI directory (its output to
 * shell.log there) and waits until something accepts connections on
 * 127.0.0.1:port; 0 then, -1 after 5 s. Stop it with nwt_mock_stop.
 */
int nwt_shell_start(const char *cmd, int port, pid_t *pid);

/*
 * Starts Debian's tinyproxy (an HTTP proxy with CONNECT) on 127.0.0.1 in
 * the foreground, from a configuration file written in the PKI directory
 * with the lines of extra appended (NULL: none), logging to proxy.log.
 * Returns its port, or -1 if it does not listen within 5 s.
 */
int nwt_proxy_start(const char *extra, pid_t *pid);
void nwt_proxy_stop(pid_t pid);

/* Whether the proxy's log contains s. */
int nwt_proxy_log_has(const char *s);

/*
 * A TxnStartReq for an IR to the mock at port: signature protection with
 * sup, trusted and enroll_trusted root, recipient "/CN=srv", subject
 * "/CN=device-0001", a fixed transaction id. Free with nwt_req_free.
 */
Cmpd__TxnStartReq *nwt_req_new(int port);
void nwt_req_free(Cmpd__TxnStartReq *r);

/* Replaces the list field (trusted, enroll_trusted, ...) with certs. */
void nwt_req_certs_set(ProtobufCBinaryData **field, size_t *n,
    const char *const *names, size_t count);

/* Sets MAC protection (secret, reference) instead of the signature. */
void nwt_req_mac_set(Cmpd__TxnStartReq *r, const char *secret, const char *ref);
