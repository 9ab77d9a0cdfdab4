# The workers' jails (common/jail.c): each allow-list in a forked child.
cmpd_add_test(test_jail
	SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_jail.c
	LIBS cmpd-jail pthread
	LABEL unit TIMEOUT 60)

# Builds with tests give both workers the test-only sandbox trigger:
# SIGUSR2 makes them make a forbidden call (tests/integration/
# test_sandbox.c). Builds without tests (CMPD_BUILD_TESTS=OFF) lack it.
target_compile_definitions(cmpd-keyworker PRIVATE CMPD_TEST_HOOKS=1)
target_compile_definitions(cmpd-networker PRIVATE CMPD_TEST_HOOKS=1)
