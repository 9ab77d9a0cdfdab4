# The keyworker's key pool (keyworker/pool.c) and the key pool option's
# parser (proto/keyid.c).
cmpd_add_test(test_keyworker_pool
	SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_keyworker_pool.c
		${CMAKE_CURRENT_LIST_DIR}/test_keyworker_util.c
	LIBS cmpd-keyworker-lib
	LABEL unit TIMEOUT 120)
