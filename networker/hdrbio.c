#include "hdrbio.h"

#include <pthread.h>
#include <string.h>

/* More than OpenSSL's HTTP client takes in one line, or in headers. */
#define HDRBIO_MAX (16 * 1024)

enum hdrbio_state {
	HDRBIO_HOLD,    /* gathering a response's headers */
	HDRBIO_DELIVER, /* handing out what was gathered */
	HDRBIO_PASS,    /* the body: read through */
};

struct hdrbio {
	enum hdrbio_state state;
	size_t len; /* gathered */
	size_t off; /* handed out */
	char buf[HDRBIO_MAX];
};

static BIO_METHOD *hdrbio_method;
static pthread_once_t hdrbio_once = PTHREAD_ONCE_INIT;

static int
hdrbio_create_cb(BIO *b)
{
	struct hdrbio *h = OPENSSL_zalloc(sizeof(*h));

	if (h == NULL)
		return 0;
	BIO_set_data(b, h);
	BIO_set_init(b, 1);
	return 1;
}

static int
hdrbio_destroy_cb(BIO *b)
{
	OPENSSL_free(BIO_get_data(b));
	BIO_set_data(b, NULL);
	return 1;
}

/* A new request: its response's headers are gathered again. */
static int
hdrbio_write_cb(BIO *b, const char *in, int inl)
{
	struct hdrbio *h = BIO_get_data(b);
	int n;

	h->state = HDRBIO_HOLD;
	h->len = h->off = 0;
	BIO_clear_retry_flags(b);
	n = BIO_write(BIO_next(b), in, inl);
	BIO_copy_next_retry(b);
	return n;
}

/* Whether buf holds the blank line that ends an HTTP header block. */
static int
hdrbio_headers_end(const char *buf, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n' ||
		    (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n'))
			return 1;
	}
	return 0;
}

static int
hdrbio_deliver(struct hdrbio *h, char *out, int outl)
{
	size_t n = h->len - h->off;

	if (n > (size_t)outl)
		n = (size_t)outl;
	memcpy(out, h->buf + h->off, n);
	h->off += n;
	if (h->off == h->len)
		h->state = HDRBIO_PASS;
	return (int)n;
}

/* Reads until the headers are complete, the buffer full, or no data. */
static int
hdrbio_gather(BIO *b, struct hdrbio *h)
{
	int n;

	while (h->len < sizeof(h->buf)) {
		n = BIO_read(BIO_next(b), h->buf + h->len,
		    (int)(sizeof(h->buf) - h->len));
		if (n <= 0) {
			BIO_copy_next_retry(b);
			/* At the end, what there is goes on as it is. */
			if (!BIO_should_retry(b) && h->len > 0)
				break;
			return n;
		}
		h->len += (size_t)n;
		if (hdrbio_headers_end(h->buf, h->len))
			break;
	}
	BIO_clear_retry_flags(b);
	h->state = HDRBIO_DELIVER;
	return 1;
}

static int
hdrbio_read_cb(BIO *b, char *out, int outl)
{
	struct hdrbio *h = BIO_get_data(b);
	int n;

	if (out == NULL || outl <= 0)
		return 0;
	BIO_clear_retry_flags(b);
	if (h->state == HDRBIO_HOLD && (n = hdrbio_gather(b, h)) <= 0)
		return n;
	if (h->state == HDRBIO_DELIVER)
		return hdrbio_deliver(h, out, outl);
	n = BIO_read(BIO_next(b), out, outl);
	BIO_copy_next_retry(b);
	return n;
}

static long
hdrbio_ctrl_cb(BIO *b, int cmd, long larg, void *parg)
{
	struct hdrbio *h = BIO_get_data(b);
	long ret;

	if (BIO_next(b) == NULL)
		return 0;
	BIO_clear_retry_flags(b);
	ret = BIO_ctrl(BIO_next(b), cmd, larg, parg);
	BIO_copy_next_retry(b);
	if (cmd == BIO_CTRL_PENDING && h->state == HDRBIO_DELIVER && ret >= 0)
		ret += (long)(h->len - h->off);
	return ret;
}

static long
hdrbio_callback_ctrl_cb(BIO *b, int cmd, BIO_info_cb *fp)
{
	return BIO_callback_ctrl(BIO_next(b), cmd, fp);
}

static void
hdrbio_method_make(void)
{
	BIO_METHOD *m = BIO_meth_new(
	    BIO_get_new_index() | BIO_TYPE_FILTER, "cmpd HTTP headers");

	if (m == NULL || !BIO_meth_set_create(m, hdrbio_create_cb) ||
	    !BIO_meth_set_destroy(m, hdrbio_destroy_cb) ||
	    !BIO_meth_set_write(m, hdrbio_write_cb) ||
	    !BIO_meth_set_read(m, hdrbio_read_cb) ||
	    !BIO_meth_set_ctrl(m, hdrbio_ctrl_cb) ||
	    !BIO_meth_set_callback_ctrl(m, hdrbio_callback_ctrl_cb)) {
		BIO_meth_free(m);
		return;
	}
	hdrbio_method = m;
}

BIO *
nw_hdrbio_push(BIO *next)
{
	BIO *b;

	if (pthread_once(&hdrbio_once, hdrbio_method_make) != 0 ||
	    hdrbio_method == NULL || (b = BIO_new(hdrbio_method)) == NULL)
		return NULL;
	return BIO_push(b, next);
}
