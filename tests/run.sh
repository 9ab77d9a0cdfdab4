#!/bin/sh
# Installs the dependencies, builds cmpd twice - as shipped, and with
# AddressSanitizer and UndefinedBehaviorSanitizer - and runs every test
# (unit and integration) against both builds; then builds the libFuzzer
# targets with clang and runs each for a bounded time.
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
# Third stage: the libFuzzer targets (tests/fuzz), built with clang and
# run from their seed corpus for a bounded time each.
echo "== fuzz build"
CC=clang cmake -S "$top" -B "$top/build-fuzz" -DCMPD_FUZZ=ON \
	-DCMPD_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$top/build-fuzz" -j "$jobs" --target fuzz_ipc \
	fuzz_ca_response fuzz_config
echo "== fuzz runs"
"$top/tests/fuzz/run-fuzz.sh" "$top/build-fuzz" 20
echo "all tests passed (release, asan and fuzz builds)"
