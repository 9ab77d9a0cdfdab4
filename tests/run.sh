#!/bin/sh
# Installs the dependencies, builds cmpd twice - as shipped, and with
# AddressSanitizer and UndefinedBehaviorSanitizer - and runs every test
# (unit and integration) against both builds.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/packaging/deps.sh"

jobs=$(nproc)
for variant in release asan; do
	dir="$top/build-$variant"
	case $variant in
	asan) flags="-DCMPD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug" ;;
	*) flags="-DCMAKE_BUILD_TYPE=RelWithDebInfo" ;;
	esac
	echo "== $variant build"
	cmake -S "$top" -B "$dir" $flags >/dev/null
	cmake --build "$dir" -j "$jobs"
	echo "== $variant tests"
	ctest --test-dir "$dir" --output-on-failure -j "$jobs"
done
echo "all tests passed (release and asan builds)"
