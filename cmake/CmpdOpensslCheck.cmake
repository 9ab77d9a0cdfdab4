# cmpd_check_openssl(): fails unless the OpenSSL in use is free of the CMP
# client CVEs fixed in Debian's 3.0.22-1~deb12u2 (upstream 3.0.23). Used at
# configure time and again at install time.
function(cmpd_check_openssl)
	set(min_deb "3.0.22-1~deb12u2")
	find_program(DPKG_QUERY dpkg-query)
	if(DPKG_QUERY)
		execute_process(COMMAND ${DPKG_QUERY} -W -f=\${Version} libssl3
			OUTPUT_VARIABLE have RESULT_VARIABLE rv ERROR_QUIET)
	endif()
	if(DPKG_QUERY AND rv EQUAL 0 AND NOT have STREQUAL "")
		execute_process(COMMAND dpkg --compare-versions "${have}" ge
			"${min_deb}" RESULT_VARIABLE older)
		if(NOT older EQUAL 0)
			message(FATAL_ERROR "libssl3 ${have} carries CMP client "
				"CVEs; cmpd needs libssl3 >= ${min_deb} "
				"(apt-get install libssl3 libssl-dev)")
		endif()
		message(STATUS "libssl3 ${have} (>= ${min_deb})")
	else()
		find_package(PkgConfig QUIET)
		pkg_check_modules(CMPD_SSL_NEW QUIET libcrypto>=3.0.23)
		if(NOT CMPD_SSL_NEW_FOUND)
			message(FATAL_ERROR "cmpd needs OpenSSL >= 3.0.23, or "
				"Debian's libssl3 >= ${min_deb}")
		endif()
	endif()
endfunction()
