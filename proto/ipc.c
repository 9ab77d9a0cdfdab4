#include "ipc.h"

#include <nng/transport/ipc/ipc.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define SAME_CODE(c, e) _Static_assert((int)(c) == (int)(e), #c)
SAME_CODE(CMPD__ERROR_CODE__ERR_OK, CMPD_OK);
SAME_CODE(CMPD__ERROR_CODE__ERR_NOMEM, CMPD_ENOMEM);
SAME_CODE(CMPD__ERROR_CODE__ERR_INVALID, CMPD_EINVAL);
SAME_CODE(CMPD__ERROR_CODE__ERR_IO, CMPD_EIO);
SAME_CODE(CMPD__ERROR_CODE__ERR_CRYPTO, CMPD_ECRYPTO);
SAME_CODE(CMPD__ERROR_CODE__ERR_PROTOCOL, CMPD_EPROTO);
SAME_CODE(CMPD__ERROR_CODE__ERR_NOT_FOUND, CMPD_ENOENT);
SAME_CODE(CMPD__ERROR_CODE__ERR_DENIED, CMPD_EPERM);
SAME_CODE(CMPD__ERROR_CODE__ERR_TIMEOUT, CMPD_ETIMEDOUT);
SAME_CODE(CMPD__ERROR_CODE__ERR_EXISTS, CMPD_EEXIST);
SAME_CODE(CMPD__ERROR_CODE__ERR_UNAVAILABLE, CMPD_EUNAVAIL);
SAME_CODE(CMPD__ERROR_CODE__ERR_REFUSED, CMPD_EREFUSED);
SAME_CODE(CMPD__ERROR_CODE__ERR_TRANSPORT, CMPD_ETRANSPORT);
SAME_CODE(CMPD__ERROR_CODE__ERR_INTERNAL, CMPD_EINTERNAL);
SAME_CODE(CMPD__ERROR_CODE__ERR_BAD_CERT, CMPD_EBADCERT);
SAME_CODE(CMPD__ERROR_CODE__ERR_CANCELLED, CMPD_ECANCELED);

void
cmpd_env_init(cmpd_env *env, uint64_t id)
{
	cmpd__envelope__init(env);
	env->version = CMPD_PROTO_VERSION;
	env->id = id;
}

cmpd_err
cmpd_ipc_pack(const cmpd_env *env, nng_msg **out)
{
	size_t len = cmpd__envelope__get_packed_size(env);
	nng_msg *msg = NULL;

	if (nng_msg_alloc(&msg, len) != 0)
		return CMPD_ENOMEM;
	cmpd__envelope__pack(env, nng_msg_body(msg));
	*out = msg;
	return CMPD_OK;
}

/*
 * protobuf-c allocates as it decodes; a small message can ask for much
 * memory (37 times its size, measured). The budget makes decoding fail
 * cleanly instead. Freeing needs no budget, so decoded messages are freed
 * with the system allocator.
 */
struct budget {
	size_t left;
};

static void *
budget_alloc(void *data, size_t size)
{
	struct budget *b = data;

	if (size > b->left)
		return NULL;
	b->left -= size;
	/* Zeroed: protobuf-c 1.4.1 may free a field it never set on an
	 * error path (protobuf-c#690, fixed only in 1.5.1). */
	return calloc(1, size);
}

static void
budget_free(void *data, void *ptr)
{
	(void)data;
	free(ptr);
}

static int check_message(const ProtobufCMessage *m);

static int
check_value(const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;

		return s == NULL || strlen(s) <= CMPD_IPC_MAX_STRING;
	}
	case PROTOBUF_C_TYPE_ENUM:
		return protobuf_c_enum_descriptor_get_value(
		           f->descriptor, *(const int *)p) != NULL;
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;

		return sub == NULL || check_message(sub);
	}
	default:
		return 1;
	}
}

static size_t
value_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	default:
		return 4;
	}
}

/*
 * Walks every field of m. The schema has no recursive types, so the depth
 * is bounded by the schema itself.
 */
static int
check_message(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *base = (const char *)m + f->offset;

		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)((const char *)m +
			    f->quantifier_offset);
			const char *arr = *(char *const *)base;

			if (n > CMPD_IPC_MAX_REPEATED)
				return 0;
			for (size_t k = 0; k < n; k++)
				if (!check_value(f, arr + k * value_size(f)))
					return 0;
			continue;
		}
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0 &&
		    *(const uint32_t *)((const char *)m +
		        f->quantifier_offset) != f->id)
			continue;
		if (!check_value(f, base))
			return 0;
	}
	return 1;
}

cmpd_err
cmpd_ipc_unpack(nng_msg *msg, size_t max, cmpd_env **out)
{
	size_t len = nng_msg_len(msg);
	struct budget b = { .left = len * CMPD_IPC_ALLOC_FACTOR +
		    CMPD_IPC_ALLOC_SLACK };
	ProtobufCAllocator a = { budget_alloc, budget_free, &b };
	cmpd_env *env;

	if (len > max)
		return CMPD_EPROTO;
	env = cmpd__envelope__unpack(&a, len, nng_msg_body(msg));
	if (env == NULL)
		return CMPD_EPROTO;
	if (env->version != CMPD_PROTO_VERSION ||
	    env->body_case == CMPD__ENVELOPE__BODY__NOT_SET ||
	    !check_message(&env->base)) {
		cmpd_ipc_free(env);
		return CMPD_EPROTO;
	}
	*out = env;
	return CMPD_OK;
}

void
cmpd_ipc_free(cmpd_env *env)
{
	if (env != NULL)
		cmpd__envelope__free_unpacked(env, NULL);
}

const char *
cmpd_env_body_name(const cmpd_env *env)
{
	const ProtobufCFieldDescriptor *f;

	f = protobuf_c_message_descriptor_get_field(
	    &cmpd__envelope__descriptor, (unsigned)env->body_case);
	return f != NULL ? f->name : "none";
}

cmpd_err
cmpd_err_from_nng(int nng_rv)
{
	switch (nng_rv) {
	case 0:
		return CMPD_OK;
	case NNG_ENOMEM:
		return CMPD_ENOMEM;
	case NNG_ETIMEDOUT:
		return CMPD_ETIMEDOUT;
	case NNG_EPERM:
		return CMPD_EPERM;
	case NNG_EINVAL:
		return CMPD_EINVAL;
	case NNG_ENOENT:
	case NNG_ECONNREFUSED:
	case NNG_ECLOSED:
	case NNG_EAGAIN:
	case NNG_ECONNSHUT:
	case NNG_ECONNRESET:
		return CMPD_EUNAVAIL;
	default:
		return CMPD_EIO;
	}
}

cmpd_err
cmpd_ipc_send(nng_socket s, const cmpd_env *env, nng_msg *reply_to)
{
	nng_msg *msg = NULL;
	cmpd_err rv;
	int nrv;

	rv = cmpd_ipc_pack(env, &msg);
	if (rv != CMPD_OK)
		return rv;
	if (reply_to != NULL &&
	    nng_msg_header_append(msg, nng_msg_header(reply_to),
	        nng_msg_header_len(reply_to)) != 0) {
		nng_msg_free(msg);
		return CMPD_ENOMEM;
	}
	nrv = nng_sendmsg(s, msg, NNG_FLAG_NONBLOCK);
	if (nrv != 0) {
		nng_msg_free(msg);
		log_warn("cannot send %s: %s", cmpd_env_body_name(env),
		    nng_strerror(nrv));
		return cmpd_err_from_nng(nrv);
	}
	return CMPD_OK;
}

cmpd_err
cmpd_ipc_send_error(nng_socket s, uint64_t id, cmpd_err code, const char *text,
    nng_msg *reply_to)
{
	Cmpd__Error e = CMPD__ERROR__INIT;
	cmpd_env env;

	cmpd_env_init(&env, id);
	e.code = (Cmpd__ErrorCode)code;
	e.message = (char *)(text != NULL ? text : cmpd_strerror(code));
	env.body_case = CMPD__ENVELOPE__BODY_ERROR;
	env.error = &e;
	return cmpd_ipc_send(s, &env, reply_to);
}

cmpd_err
cmpd_ipc_send_ok(nng_socket s, uint64_t id, nng_msg *reply_to)
{
	Cmpd__Ok ok = CMPD__OK__INIT;
	cmpd_env env;

	cmpd_env_init(&env, id);
	env.body_case = CMPD__ENVELOPE__BODY_OK;
	env.ok = &ok;
	return cmpd_ipc_send(s, &env, reply_to);
}

cmpd_err
cmpd_ipc_listen(nng_socket s, const char *url, size_t recvmax, int mode)
{
	nng_listener l;
	int rv;

	if ((rv = nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, recvmax)) != 0 ||
	    (rv = nng_listener_create(&l, s, url)) != 0)
		goto fail;
	/* The mode must be set before the listener starts (nng ipc). */
	if ((rv = nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, mode)) !=
	        0 ||
	    (rv = nng_listener_start(l, 0)) != 0) {
		nng_listener_close(l);
		goto fail;
	}
	return CMPD_OK;
fail:
	log_err("cannot listen on %s: %s", url, nng_strerror(rv));
	return cmpd_err_from_nng(rv);
}

/*
 * cmpd's processes start together, so a dialer often comes before its
 * listener; nng's default first retry after 100 ms, doubling, cost the
 * first signature of a fresh cmpd 0.4 s. Local peers are retried sooner.
 */
#define DIAL_RETRY_MIN_MS 10
#define DIAL_RETRY_MAX_MS 1000

cmpd_err
cmpd_ipc_dial(nng_socket s, const char *url, size_t recvmax)
{
	int rv;

	if ((rv = nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, recvmax)) != 0 ||
	    (rv = nng_socket_set_ms(
	         s, NNG_OPT_RECONNMINT, DIAL_RETRY_MIN_MS)) != 0 ||
	    (rv = nng_socket_set_ms(
	         s, NNG_OPT_RECONNMAXT, DIAL_RETRY_MAX_MS)) != 0 ||
	    (rv = nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
		log_err("cannot connect to %s: %s", url, nng_strerror(rv));
		return cmpd_err_from_nng(rv);
	}
	return CMPD_OK;
}
