# cmpd_add_test(NAME SOURCES ... [LIBS ...] [LABEL unit|integration]
#               [TIMEOUT seconds])
# Builds one cmocka executable and registers it with ctest. Tests find the
# project's binaries through CMPD_BIN_DIR and their data through
# CMPD_TEST_DATA.
function(cmpd_add_test name)
	cmake_parse_arguments(T "" "LABEL;TIMEOUT" "SOURCES;LIBS" ${ARGN})
	if(NOT T_LABEL)
		set(T_LABEL unit)
	endif()
	if(NOT T_TIMEOUT)
		set(T_TIMEOUT 60)
	endif()
	add_executable(${name} ${T_SOURCES})
	target_link_libraries(${name} PRIVATE PkgConfig::CMOCKA ${T_LIBS})
	add_test(NAME ${name} COMMAND ${name})
	set_tests_properties(${name} PROPERTIES LABELS ${T_LABEL}
		TIMEOUT ${T_TIMEOUT}
		ENVIRONMENT "CMPD_BIN_DIR=${CMAKE_BINARY_DIR}/bin;CMPD_TEST_DATA=${CMAKE_SOURCE_DIR}/tests/data;ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
endfunction()
