/*
 * What a failed step tells a person: the CA's refusal with its PKIStatus,
 * failure bits by name and status text; our own rejection of the new
 * certificate; a message we could not build or sign; the total timeout;
 * or, for the transport, the URL and the step that failed (connecting,
 * the proxy's tunnel, the TLS handshake with the verification's reason,
 * the HTTP exchange).
 */
#include <openssl/bioerr.h>
#include <openssl/cmperr.h>
#include <openssl/err.h>
#include <openssl/httperr.h>
#include <openssl/proverr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "reach.h"
#include "txn_int.h"

/* Limits on what the CA's statusString may put into a TxnRep. */
#define FAIL_MAX_TEXTS    16
#define FAIL_MAX_TEXT_LEN 1024

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t
fail_utf8_len(const unsigned char *s, size_t n)
{
	size_t len = s[0] < 0x80          ? 1
	    : s[0] >= 0xf0 && s[0] < 0xf5 ? 4
	    : s[0] >= 0xe0                ? 3
	    : s[0] >= 0xc2                ? 2
	                                  : 0;

	if (len == 0 || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/*
 * A copy of the CA's text safe for the IPC schema and for logs: valid
 * UTF-8 without control characters ('?' replaces anything else).
 */
static char *
fail_text_dup(const ASN1_UTF8STRING *str)
{
	const unsigned char *s = ASN1_STRING_get0_data(str);
	size_t n = (size_t)ASN1_STRING_length(str), o = 0, k;
	char *out;

	if (n > FAIL_MAX_TEXT_LEN)
		n = FAIL_MAX_TEXT_LEN;
	if ((out = malloc(n + 1)) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i += k) {
		k = fail_utf8_len(s + i, n - i);
		if (k == 0 || (k == 1 && (s[i] < 0x20 || s[i] == 0x7f))) {
			out[o++] = '?';
			k = 1;
			continue;
		}
		memcpy(out + o, s + i, k);
		o += k;
	}
	out[o] = '\0';
	return out;
}

void
nw_txn_status_copy(const struct nw_txn *t, struct nw_txn_result *res)
{
	OSSL_CMP_PKIFREETEXT *ss = OSSL_CMP_CTX_get0_statusString(t->ctx);
	int st = OSSL_CMP_CTX_get_status(t->ctx);
	int fi = OSSL_CMP_CTX_get_failInfoCode(t->ctx);
	int n = sk_ASN1_UTF8STRING_num(ss);

	res->pki_status = st < 0 ? -1 : st;
	res->fail_info = fi < 0 || res->pki_status < 0 ? 0 : (uint32_t)fi;
	if (n <= 0 || res->pki_status < 0 || res->texts != NULL)
		return;
	if (n > FAIL_MAX_TEXTS)
		n = FAIL_MAX_TEXTS;
	if ((res->texts = calloc((size_t)n, sizeof(char *))) == NULL)
		return;
	for (int i = 0; i < n; i++) {
		char *s = fail_text_dup(sk_ASN1_UTF8STRING_value(ss, i));

		if (s != NULL)
			res->texts[res->n_texts++] = s;
	}
}

/* What the OpenSSL errors of a failed step say, sorted. */
struct fail_errs {
	char all[400];  /* every reason, oldest first */
	int build;      /* our own message could not be built or signed */
	int total;      /* the transaction's total timeout ran out */
	int connect;    /* no TCP connection */
	int timeout;    /* no answer in time */
	int asn1;       /* the answer was no DER PKIMessage */
	char http[200]; /* the first HTTP error, with its data */
	char ssl[160];  /* the first TLS error */
	char sign[200]; /* why a keyworker key did not sign */
};

/* Reasons that say our own message could not be built or signed. */
static int
fail_reason_is_build(unsigned long e)
{
	static const int reasons[] = { CMP_R_ERROR_PROTECTING_MESSAGE,
		CMP_R_ERROR_CREATING_CERTREQ, CMP_R_ERROR_CREATING_CERTCONF,
		CMP_R_ERROR_CREATING_POLLREQ, CMP_R_ERROR_CREATING_ERROR,
		CMP_R_ERROR_CREATING_RR, CMP_R_ERROR_CREATING_GENM,
		CMP_R_MISSING_KEY_INPUT_FOR_CREATING_PROTECTION };

	if (ERR_GET_LIB(e) != ERR_LIB_CMP)
		return 0;
	for (size_t i = 0; i < CMPD_ARRAY_LEN(reasons); i++)
		if (ERR_GET_REASON(e) == reasons[i])
			return 1;
	return 0;
}

/* Notes what kind of failure one error is. */
static void
fail_errs_sort(
    struct fail_errs *f, unsigned long e, const char *reason, const char *data)
{
	int lib = ERR_GET_LIB(e), r = ERR_GET_REASON(e);

	f->build |= fail_reason_is_build(e);
	f->total |= lib == ERR_LIB_CMP && r == CMP_R_TOTAL_TIMEOUT;
	f->connect |= lib == ERR_LIB_BIO &&
	    (r == BIO_R_CONNECT_ERROR || r == BIO_R_CONNECT_TIMEOUT ||
	        r == BIO_R_NBIO_CONNECT_ERROR);
	f->timeout |= (lib == ERR_LIB_HTTP && r == HTTP_R_RETRY_TIMEOUT) ||
	    (lib == ERR_LIB_BIO && r == BIO_R_TRANSFER_TIMEOUT);
	f->asn1 |= lib == ERR_LIB_ASN1;
	if (lib == ERR_LIB_HTTP && f->http[0] == '\0' &&
	    r != HTTP_R_ERROR_RECEIVING && r != HTTP_R_ERROR_SENDING)
		snprintf(f->http, sizeof(f->http), "%s%s%.150s", reason,
		    *data ? ": " : "", data);
	if (lib == ERR_LIB_SSL && f->ssl[0] == '\0')
		snprintf(f->ssl, sizeof(f->ssl), "%s", reason);
	if (lib == ERR_LIB_PROV && r == PROV_R_FAILED_TO_SIGN &&
	    f->sign[0] == '\0')
		snprintf(f->sign, sizeof(f->sign), "%.190s", data);
}

/* Drains the thread's OpenSSL errors into f and the log. */
static void
fail_errs_take(const struct nw_txn *t, struct fail_errs *f)
{
	const char *data, *reason;
	size_t used = 0;
	unsigned long e;
	int flags, n;

	memset(f, 0, sizeof(*f));
	while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
		if ((reason = ERR_reason_error_string(e)) == NULL)
			reason = "unknown OpenSSL error";
		if ((flags & ERR_TXT_STRING) == 0)
			data = "";
		log_debug("job %s: openssl: %s%s%s", t->job, reason,
		    *data ? ": " : "", data);
		fail_errs_sort(f, e, reason, data);
		if (used >= sizeof(f->all))
			continue;
		n = snprintf(f->all + used, sizeof(f->all) - used, "%s%s%s%s",
		    used ? "; " : "", reason, *data ? ": " : "", data);
		if (n > 0)
			used += (size_t)n;
		/* OpenSSL's data may be a certificate dump: one line. */
		for (char *p = f->all; (p = strpbrk(p, "\r\n")) != NULL;)
			*p = ' ';
	}
	if (f->all[0] == '\0')
		snprintf(f->all, sizeof(f->all), "no detail from OpenSSL");
}

void
nw_txn_errors_drain(const struct nw_txn *t, char *buf, size_t len)
{
	struct fail_errs f;

	fail_errs_take(t, &f);
	snprintf(buf, len, "%s", f.all);
}

#define FAIL(code, ...)                                                     \
	do {                                                                \
		res->error = (code);                                        \
		snprintf(                                                   \
		    res->error_text, sizeof(res->error_text), __VA_ARGS__); \
	} while (0)

/* The names of PKIFailureInfo bits, as OpenSSL prints them. */
static const char *
fail_bits_name(int bits, char *buf, size_t len)
{
	OSSL_CMP_PKISI *si;
	const char *p;

	si = OSSL_CMP_STATUSINFO_new(OSSL_CMP_PKISTATUS_rejection, bits, NULL);
	if (si == NULL ||
	    OSSL_CMP_snprint_PKIStatusInfo(si, buf, len) == NULL ||
	    (p = strstr(buf, "PKIFailureInfo: ")) == NULL)
		snprintf(buf, len, "failInfo %#x", (unsigned)bits);
	else
		memmove(buf, p + 16, strlen(p + 16) + 1);
	OSSL_CMP_PKISI_free(si);
	return buf;
}

static const char *
fail_sending(const struct nw_txn *t)
{
	return t->sending != NULL ? t->sending : "request";
}

/* " through the proxy P" when one is in use. */
static void
fail_via(const struct nw_txn *t, char *buf, size_t len)
{
	const char *proxy = nw_transport_proxy(t->transport);

	snprintf(
	    buf, len, "%s%s", proxy[0] ? " through the proxy " : "", proxy);
}

/*
 * No TCP connection. OpenSSL retries a failed connect until the message
 * timeout and reports only "connect error" or "connect timeout"; one
 * direct attempt names the cause (reach.h) for the CA or the proxy.
 */
static void
fail_connect(const struct nw_txn *t, struct nw_txn_result *res,
    const struct fail_errs *f)
{
	const struct nw_transport *tr = t->transport;
	int proxied = nw_transport_proxy(tr)[0] != '\0';
	char why[128], via[320];

	fail_via(t, via, sizeof(via));
	if (!nw_reach_why(
	        proxied ? nw_transport_proxy_host(tr) : nw_transport_host(tr),
	        proxied ? nw_transport_proxy_port(tr) : nw_transport_port(tr),
	        2000, why, sizeof(why)))
		snprintf(why, sizeof(why), "%.100s", f->all);
	FAIL(CMPD_ETRANSPORT, "cannot reach %.300s%.150s: %s%.120s", t->url,
	    via, proxied ? "cannot connect to the proxy: " : "", why);
}

/* What TLS itself says after the transport's own finding. */
static void
fail_tls_detail(const struct fail_errs *f, char *buf, size_t len)
{
	if (f->sign[0] != '\0')
		snprintf(
		    buf, len, ": the TLS client key did not sign: %s", f->sign);
	else if (f->ssl[0] != '\0')
		snprintf(buf, len, ": %s", f->ssl);
	else
		buf[0] = '\0';
}

/* The CA was not reached, or the HTTP exchange failed: which step. */
static void
fail_transport(const struct nw_txn *t, struct nw_txn_result *res,
    const struct fail_errs *f)
{
	int secs = OSSL_CMP_CTX_get_option(t->ctx, OSSL_CMP_OPT_MSG_TIMEOUT);
	int open = 0;
	const char *tr = nw_transport_failure(t->transport, &open);
	char via[320], detail[256] = "";

	fail_via(t, via, sizeof(via));
	if (open)
		fail_tls_detail(f, detail, sizeof(detail));
	if (tr[0] != '\0')
		FAIL(CMPD_ETRANSPORT, "cannot reach %.250s: %.300s%.200s",
		    t->url, tr, detail);
	else if (f->connect)
		fail_connect(t, res, f);
	else if (f->timeout)
		FAIL(CMPD_ETRANSPORT,
		    "no answer from %.300s%.150s to our %s within %d s", t->url,
		    via, fail_sending(t), secs);
	else if (f->http[0] != '\0')
		FAIL(CMPD_ETRANSPORT,
		    "HTTP exchange of our %s with %.300s%.150s failed: %.200s",
		    fail_sending(t), t->url, via, f->http);
	else if (f->ssl[0] != '\0')
		FAIL(CMPD_ETRANSPORT, "TLS with %.300s%.150s failed: %.150s",
		    t->url, via, f->ssl);
	else if (f->asn1)
		FAIL(CMPD_ETRANSPORT,
		    "the answer of %.300s%.150s to our %s is not a CMP "
		    "message: %.250s",
		    t->url, via, fail_sending(t), f->all);
	else
		FAIL(CMPD_ETRANSPORT,
		    "cannot exchange our %s with %.300s%.150s: %.250s",
		    fail_sending(t), t->url, via, f->all);
}

/* The CA refused: its PKIStatusInfo, which OpenSSL prints in full. */
static void
fail_refused(const struct nw_txn *t, struct nw_txn_result *res)
{
	char st[OSSL_CMP_PKISI_BUFLEN];

	if (OSSL_CMP_CTX_snprint_PKIStatus(t->ctx, st, sizeof(st)) == NULL)
		snprintf(st, sizeof(st), "PKIStatus: rejection");
	FAIL(CMPD_EREFUSED, "the CA at %.200s refused our %s: %.500s", t->url,
	    fail_sending(t), st);
}

void
nw_txn_fail(struct nw_txn *t, struct nw_txn_result *res)
{
	char st[OSSL_CMP_PKISI_BUFLEN];
	struct fail_errs f;

	fail_errs_take(t, &f);
	res->result = CMPD__TXN_RESULT__TXN_FAILED;
	nw_txn_status_copy(t, res);
	if (t->rejected) {
		res->pki_status = t->ca_status < 0 ? -1 : t->ca_status;
		FAIL(CMPD_EBADCERT, "issued certificate rejected (%.100s): %s",
		    fail_bits_name(t->reject_bits, st, sizeof(st)),
		    t->reject_text);
	} else if (t->replay_broken || t->save_failed) {
		res->restart = t->replay_broken;
		FAIL(t->save_failed ? CMPD_EIO : CMPD_EINTERNAL, "%s",
		    t->resume_text);
	} else if (t->tid_mismatch) {
		FAIL(CMPD_EINTERNAL,
		    "OpenSSL built a message with another "
		    "transactionID; nothing was sent");
	} else if (res->pki_status == OSSL_CMP_PKISTATUS_rejection) {
		fail_refused(t, res);
	} else if (f.build) {
		FAIL(CMPD_ECRYPTO, "cannot build or sign our %s: %.400s",
		    fail_sending(t), f.all);
	} else if (f.total) {
		FAIL(CMPD_ETIMEDOUT,
		    "the transaction with %.300s ran out of its total time "
		    "(%u s) at our %s",
		    t->url, t->total_timeout, fail_sending(t));
	} else if (t->transfer_failed) {
		fail_transport(t, res, &f);
	} else {
		FAIL(CMPD_ETRANSPORT,
		    "unusable answer from %.300s to our %s: %.400s", t->url,
		    fail_sending(t), f.all);
	}
	res->restart |= t->restart_hint;
	log_err("job %s: %s", t->job, res->error_text);
}
