# libcmpd-client and cmpctl against a canned responder (test_client_resp.c)
# standing in for the broker's client socket. The cmpctl tests run the
# built cmpctl (test_client_cli.c).
set(client_test_libs cmpd-client cmpd-proto cmpd-common PkgConfig::OPENSSL
	PkgConfig::JANSSON pthread)
foreach(t lib job key life events)
	cmpd_add_test(test_client_${t}
		SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_client_${t}.c
			${CMAKE_CURRENT_LIST_DIR}/test_client_resp.c
		LIBS ${client_test_libs} LABEL unit TIMEOUT 120)
endforeach()
foreach(t cmpctl cmds json)
	cmpd_add_test(test_client_${t}
		SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_client_${t}.c
			${CMAKE_CURRENT_LIST_DIR}/test_client_cli.c
			${CMAKE_CURRENT_LIST_DIR}/test_client_resp.c
		LIBS ${client_test_libs} LABEL unit TIMEOUT 120)
	add_dependencies(test_client_${t} cmpctl)
endforeach()
