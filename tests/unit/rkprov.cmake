# The remote-key provider (networker/rkprov*.c) against a stand-in
# keyworker that signs with real software keys. Until the cmpd-rkprov
# target lists rkprov_keymgmt.c and rkprov_sig.c, the tests compile them.
find_package(Threads REQUIRED)
set(rkprov_dir ${CMAKE_CURRENT_LIST_DIR})
set(rkprov_src ${rkprov_dir}/test_rkprov_kw.c)
get_target_property(rkprov_lib_src cmpd-rkprov SOURCES)
foreach(f rkprov_keymgmt.c rkprov_sig.c)
	if(NOT f IN_LIST rkprov_lib_src)
		list(APPEND rkprov_src ${CMAKE_SOURCE_DIR}/networker/${f})
	endif()
endforeach()

foreach(t test_rkprov test_rkprov_cmp test_rkprov_load)
	cmpd_add_test(${t}
		SOURCES ${rkprov_dir}/${t}.c ${rkprov_src}
		LIBS cmpd-rkprov Threads::Threads
		LABEL unit TIMEOUT 300)
endforeach()
