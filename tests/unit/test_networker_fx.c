#include "test_networker_fx.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "test_networker_util.h"

struct fx *
fx_new(const char *mock_args)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->port = 1; /* nothing listens there */
	if (mock_args != NULL) {
		f->port = nwt_mock_start(mock_args, &f->mock);
		assert_true(f->port > 0);
	}
	f->req = nwt_req_new(f->port);
	f->prot = nwt_key_load("sup.key");
	f->new_key = nwt_key_load("rsp.key");
	assert_non_null(f->prot);
	assert_non_null(f->new_key);
	nw_txn_result_init(&f->res);
	return f;
}

void
fx_free(struct fx *f)
{
	nw_txn_result_fini(&f->res);
	nw_txn_free(f->txn);
	EVP_PKEY_free(f->prot);
	EVP_PKEY_free(f->new_key);
	nwt_req_free(f->req);
	if (f->mock > 0)
		nwt_mock_stop(f->mock);
	free(f);
}

cmpd_err
fx_prepare(struct fx *f)
{
	struct nw_txn_keys keys = { f->prot, f->new_key, NULL };

	return nw_txn_new(NULL, f->req, &keys, &f->txn, f->why, sizeof(f->why));
}

void
fx_run(struct fx *f)
{
	assert_int_equal(fx_prepare(f), CMPD_OK);
	nw_txn_result_fini(&f->res);
	nw_txn_step(f->txn, &f->res);
}

void
assert_failed(struct fx *f, cmpd_err code, const char *text)
{
	if (f->res.result != CMPD__TXN_RESULT__TXN_FAILED ||
	    f->res.error != code || strstr(f->res.error_text, text) == NULL)
		fail_msg("result %d error %d \"%s\"; wanted error %d with "
		         "\"%s\"",
		    f->res.result, f->res.error, f->res.error_text, code, text);
}

void
assert_done(struct fx *f)
{
	if (f->res.result != CMPD__TXN_RESULT__TXN_DONE)
		fail_msg("result %d error %d \"%s\"", f->res.result,
		    f->res.error, f->res.error_text);
	assert_true(nwt_cert_is(f->res.cert, "rsp.crt"));
}
