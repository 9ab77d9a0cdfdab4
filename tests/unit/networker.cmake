# The networker's tests: names, transactions against the openssl mock
# server and the project's test CA, the signing client, the broker link and
# the cmpd-networker process.
add_library(cmpd-networker-testutil STATIC
	${CMAKE_CURRENT_LIST_DIR}/test_networker_util.c)
target_link_libraries(cmpd-networker-testutil PUBLIC cmpd-proto
	PkgConfig::OPENSSL)

cmpd_add_test(test_networker_txn SOURCES test_networker_txn.c
	LIBS cmpd-networker-lib cmpd-networker-testutil LABEL unit TIMEOUT 120)
cmpd_add_test(test_networker_names SOURCES test_networker_names.c
	LIBS cmpd-networker-lib LABEL unit TIMEOUT 30)
cmpd_add_test(test_networker_remote SOURCES test_networker_remote.c
	LIBS cmpd-networker-lib pthread LABEL unit TIMEOUT 60)
cmpd_add_test(test_networker_serve SOURCES test_networker_serve.c
	LIBS cmpd-networker-lib cmpd-networker-testutil LABEL unit TIMEOUT 120)
cmpd_add_test(test_networker_main SOURCES test_networker_main.c
	LIBS cmpd-networker-testutil cmpd-proto pthread LABEL unit TIMEOUT 120)
add_dependencies(test_networker_main cmpd-networker)
# The test CA is defined after the unit tests; its sources tell it exists.
if(EXISTS ${CMAKE_SOURCE_DIR}/tests/testca/main.c)
	cmpd_add_test(test_networker_testca SOURCES test_networker_testca.c
		LIBS cmpd-networker-lib cmpd-networker-testutil pthread
		LABEL unit TIMEOUT 120)
	add_dependencies(test_networker_testca cmpd-testca)
endif()
