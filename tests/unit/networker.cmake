# The networker's tests: names, transactions against the openssl mock
# server, the project's test CA (also over HTTPS) and a genm server of the
# test's own, the transport (timeouts, TLS names, proxies), the signing
# client, the broker link and the cmpd-networker process.
add_library(cmpd-networker-testutil STATIC
	${CMAKE_CURRENT_LIST_DIR}/test_networker_util.c)
target_link_libraries(cmpd-networker-testutil PUBLIC cmpd-proto
	PkgConfig::OPENSSL)

cmpd_add_test(test_networker_txn SOURCES test_networker_txn.c
	test_networker_fx.c
	LIBS cmpd-networker-lib cmpd-networker-testutil LABEL unit TIMEOUT 120)
# Timeouts, header segments, TLS names and a proxy (Debian's tinyproxy).
cmpd_add_test(test_networker_transport SOURCES test_networker_transport.c
	test_networker_fx.c
	LIBS cmpd-networker-lib cmpd-networker-testutil pthread
	LABEL unit TIMEOUT 120)
# General messages answered by an OSSL_CMP_SRV_CTX of the test's own
# behind libmicrohttpd (the test CA's HTTP library).
pkg_check_modules(NWT_MHD REQUIRED IMPORTED_TARGET libmicrohttpd>=0.9.71)
cmpd_add_test(test_networker_genm SOURCES test_networker_genm.c
	LIBS cmpd-networker-lib cmpd-networker-testutil PkgConfig::NWT_MHD
	pthread LABEL unit TIMEOUT 60)
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
		test_networker_ca.c
		LIBS cmpd-networker-lib cmpd-networker-testutil pthread
		LABEL unit TIMEOUT 180)
	add_dependencies(test_networker_testca cmpd-testca)
	# HTTPS, also with a keyworker's TLS key through the remote-key
	# provider; tinyproxy (Debian package) stands for an HTTP proxy.
	cmpd_add_test(test_networker_https SOURCES test_networker_https.c
		test_networker_ca.c
		LIBS cmpd-networker-lib cmpd-networker-testutil cmpd-rkprov
		cmpd-keyworker-lib pthread LABEL unit TIMEOUT 180)
	add_dependencies(test_networker_https cmpd-testca)
endif()
