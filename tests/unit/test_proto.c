/*
 * The IPC envelope: every body type survives a pack/unpack round trip, and
 * the receive checks refuse what they must (size, version, missing body,
 * over-long strings, unknown enum values, too many elements, allocation
 * amplification, garbage).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ipc.h"

static nng_msg *
msg_of(const void *data, size_t len)
{
	nng_msg *m = NULL;

	assert_int_equal(nng_msg_alloc(&m, 0), 0);
	assert_int_equal(nng_msg_append(m, data, len), 0);
	return m;
}

static cmpd_err
roundtrip(const cmpd_env *in, cmpd_env **out)
{
	nng_msg *m = NULL;
	cmpd_err rv;

	assert_int_equal(cmpd_ipc_pack(in, &m), CMPD_OK);
	rv = cmpd_ipc_unpack(m, CMPD_IPC_MAX_WORKER, out);
	nng_msg_free(m);
	return rv;
}

/* Every body of the oneof, empty, comes back as itself. */
static void
test_every_body_roundtrips(void **state)
{
	const ProtobufCMessageDescriptor *d = &cmpd__envelope__descriptor;
	size_t bodies = 0;

	(void)state;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		ProtobufCMessage *sub;
		cmpd_env env, *out = NULL;

		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0)
			continue;
		sub = calloc(1,
		    ((const ProtobufCMessageDescriptor *)f->descriptor)
		        ->sizeof_message);
		protobuf_c_message_init(f->descriptor, sub);
		cmpd_env_init(&env, 1000 + i);
		env.body_case = (Cmpd__Envelope__BodyCase)f->id;
		*(ProtobufCMessage **)((char *)&env + f->offset) = sub;
		assert_int_equal(roundtrip(&env, &out), CMPD_OK);
		assert_int_equal(out->body_case, f->id);
		assert_int_equal(out->id, 1000 + i);
		assert_string_equal(cmpd_env_body_name(out), f->name);
		cmpd_ipc_free(out);
		free(sub);
		bodies++;
	}
	assert_true(bodies >= 25);
}

static void
test_fields_survive(void **state)
{
	Cmpd__SignReq s = CMPD__SIGN_REQ__INIT;
	uint8_t tbs[300];
	cmpd_env env, *out = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(tbs); i++)
		tbs[i] = (uint8_t)i;
	s.job_id = "0123456789abcdef";
	s.key_id = "00112233445566778899aabbccddeeff";
	s.digest = "SHA256";
	s.tbs.data = tbs;
	s.tbs.len = sizeof(tbs);
	cmpd_env_init(&env, 7);
	env.body_case = CMPD__ENVELOPE__BODY_SIGN_REQ;
	env.sign_req = &s;
	assert_int_equal(roundtrip(&env, &out), CMPD_OK);
	assert_string_equal(out->sign_req->job_id, s.job_id);
	assert_string_equal(out->sign_req->digest, "SHA256");
	assert_int_equal(out->sign_req->tbs.len, sizeof(tbs));
	assert_memory_equal(out->sign_req->tbs.data, tbs, sizeof(tbs));
	cmpd_ipc_free(out);
}

static void
test_refuses_missing_body_and_version(void **state)
{
	cmpd_env env, *out = NULL;
	Cmpd__Ok ok = CMPD__OK__INIT;

	(void)state;
	cmpd_env_init(&env, 1);
	assert_int_equal(roundtrip(&env, &out), CMPD_EPROTO);
	env.body_case = CMPD__ENVELOPE__BODY_OK;
	env.ok = &ok;
	env.version = CMPD_PROTO_VERSION + 1;
	assert_int_equal(roundtrip(&env, &out), CMPD_EPROTO);
	assert_null(out);
}

static void
test_refuses_long_string(void **state)
{
	Cmpd__Error e = CMPD__ERROR__INIT;
	char *text = malloc(CMPD_IPC_MAX_STRING + 2);
	cmpd_env env, *out = NULL;

	(void)state;
	memset(text, 'a', CMPD_IPC_MAX_STRING + 1);
	text[CMPD_IPC_MAX_STRING + 1] = '\0';
	e.message = text;
	cmpd_env_init(&env, 1);
	env.body_case = CMPD__ENVELOPE__BODY_ERROR;
	env.error = &e;
	assert_int_equal(roundtrip(&env, &out), CMPD_EPROTO);
	text[CMPD_IPC_MAX_STRING] = '\0';
	assert_int_equal(roundtrip(&env, &out), CMPD_OK);
	cmpd_ipc_free(out);
	free(text);
}

static void
test_refuses_unknown_enum(void **state)
{
	Cmpd__KeyGenerateReq g = CMPD__KEY_GENERATE_REQ__INIT;
	cmpd_env env, *out = NULL;

	(void)state;
	g.type = (Cmpd__KeyType)99;
	g.job_id = "0123456789abcdef";
	cmpd_env_init(&env, 1);
	env.body_case = CMPD__ENVELOPE__BODY_KEY_GENERATE_REQ;
	env.key_generate_req = &g;
	assert_int_equal(roundtrip(&env, &out), CMPD_EPROTO);
	g.type = CMPD__KEY_TYPE__KEY_ED25519;
	assert_int_equal(roundtrip(&env, &out), CMPD_OK);
	cmpd_ipc_free(out);
}

/*
 * 100,001 empty KeyInfo elements: over the element limit. 60,000 are under
 * it, but decoding them costs far more than 32 times the message size, so
 * the budget refuses them.
 */
static void
test_refuses_amplification(void **state)
{
	size_t n = CMPD_IPC_MAX_REPEATED + 1;
	Cmpd__KeyInfo empty = CMPD__KEY_INFO__INIT;
	Cmpd__KeyInfo **keys = calloc(n, sizeof(*keys));
	Cmpd__KeyListRep l = CMPD__KEY_LIST_REP__INIT;
	cmpd_env env, *out = NULL;

	(void)state;
	for (size_t i = 0; i < n; i++)
		keys[i] = &empty;
	l.keys = keys;
	l.n_keys = n;
	cmpd_env_init(&env, 1);
	env.body_case = CMPD__ENVELOPE__BODY_KEY_LIST_REP;
	env.key_list_rep = &l;
	assert_int_equal(roundtrip(&env, &out), CMPD_EPROTO);
	l.n_keys = 60000;
	assert_int_equal(roundtrip(&env, &out), CMPD_EPROTO);
	l.n_keys = 100;
	assert_int_equal(roundtrip(&env, &out), CMPD_OK);
	cmpd_ipc_free(out);
	free(keys);
}

static void
test_refuses_size_and_garbage(void **state)
{
	uint8_t junk[64];
	cmpd_env *out = NULL;
	nng_msg *m;

	(void)state;
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(0xff - i);
	m = msg_of(junk, sizeof(junk));
	assert_int_equal(
	    cmpd_ipc_unpack(m, sizeof(junk) - 1, &out), CMPD_EPROTO);
	assert_int_equal(cmpd_ipc_unpack(m, sizeof(junk), &out), CMPD_EPROTO);
	assert_null(out);
	nng_msg_free(m);
	m = msg_of("", 0);
	assert_int_equal(cmpd_ipc_unpack(m, 100, &out), CMPD_EPROTO);
	nng_msg_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_body_roundtrips),
		cmocka_unit_test(test_fields_survive),
		cmocka_unit_test(test_refuses_missing_body_and_version),
		cmocka_unit_test(test_refuses_long_string),
		cmocka_unit_test(test_refuses_unknown_enum),
		cmocka_unit_test(test_refuses_amplification),
		cmocka_unit_test(test_refuses_size_and_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
