# The remote-key provider (networker/rkprov*.c) against a stand-in
# keyworker that signs with real software keys.
find_package(Threads REQUIRED)
foreach(t test_rkprov test_rkprov_cmp test_rkprov_load)
	cmpd_add_test(${t}
		SOURCES ${CMAKE_CURRENT_LIST_DIR}/${t}.c
			${CMAKE_CURRENT_LIST_DIR}/test_rkprov_kw.c
		LIBS cmpd-rkprov Threads::Threads
		LABEL unit TIMEOUT 300)
endforeach()
