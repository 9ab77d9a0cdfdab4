# The keyworker (keyworker/): key store and import, grants and the signer's
# checks, and the real cmpd-keyworker process over its two sockets.
set(kwt_dir ${CMAKE_CURRENT_LIST_DIR})
cmpd_add_test(test_keyworker_store
	SOURCES ${kwt_dir}/test_keyworker_store.c
		${kwt_dir}/test_keyworker_util.c
	LIBS cmpd-keyworker-lib
	LABEL unit TIMEOUT 300)
cmpd_add_test(test_keyworker_sign
	SOURCES ${kwt_dir}/test_keyworker_sign.c
		${kwt_dir}/test_keyworker_util.c
	LIBS cmpd-keyworker-lib
	LABEL unit TIMEOUT 120)
cmpd_add_test(test_keyworker_proc
	SOURCES ${kwt_dir}/test_keyworker_proc.c
		${kwt_dir}/test_keyworker_util.c
	LIBS cmpd-keyworker-lib
	LABEL unit TIMEOUT 120)
add_dependencies(test_keyworker_proc cmpd-keyworker)
cmpd_add_test(test_keyworker_outbox
	SOURCES ${kwt_dir}/test_keyworker_outbox.c
		${kwt_dir}/test_keyworker_util.c
	LIBS cmpd-keyworker-lib
	LABEL unit TIMEOUT 120)
add_dependencies(test_keyworker_outbox cmpd-keyworker)
