# Dependencies: Debian 12 packages only (see README.md).
find_package(PkgConfig REQUIRED)
pkg_check_modules(OPENSSL REQUIRED IMPORTED_TARGET libcrypto>=3.0 libssl>=3.0)
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv>=1.44)
pkg_check_modules(PROTOBUFC REQUIRED IMPORTED_TARGET libprotobuf-c>=1.4)
pkg_check_modules(INIH REQUIRED IMPORTED_TARGET inih)
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3>=3.40)
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson>=2.13)
find_package(nng 1.5 REQUIRED)
find_program(PROTOC_C protoc-c REQUIRED)

# Earlier Debian 12 builds of OpenSSL carry client-side CMP CVEs
# (CVE-2026-42767, -63074, -75805): refuse to build against them.
include(${CMAKE_CURRENT_LIST_DIR}/CmpdOpensslCheck.cmake)
cmpd_check_openssl()
pkg_check_modules(CMOCKA IMPORTED_TARGET cmocka>=1.1)
