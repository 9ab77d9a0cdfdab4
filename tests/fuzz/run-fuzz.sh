#!/bin/sh
# Runs each libFuzzer target of a CMPD_FUZZ build for a bounded time,
# starting from the checked-in seed corpus (copied: the corpus in the
# tree is not changed), and fails on the first crash, leak or timeout.
#
#   tests/fuzz/run-fuzz.sh BUILD_DIR [SECONDS_PER_TARGET]
set -eu
build=$1
secs=${2:-20}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/cmpd-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

# target:max_len (bytes). IPC messages are bounded by the links' limits;
# a CA answer is at most 100 KiB in OpenSSL's HTTP client, but the seeds
# (a whole exchange) are a few KiB and mutations need not be much larger.
for t in fuzz_ipc:65536 fuzz_ca_response:16384 fuzz_config:8192; do
	name=${t%%:*}
	maxlen=${t#*:}
	seeds=$here/corpus/${name#fuzz_}
	mkdir -p "$work/$name"
	cp "$seeds"/* "$work/$name/"
	echo "== $name: $secs s from $(ls "$seeds" | wc -l) seeds"
	if ! "$build/bin/$name" -max_total_time="$secs" -max_len="$maxlen" \
		-timeout=25 -rss_limit_mb=2560 -print_final_stats=1 \
		-artifact_prefix="$work/" "$work/$name" \
		>"$work/$name.log" 2>&1; then
		tail -n 60 "$work/$name.log" >&2
		for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-* \
			"$work"/oom-*; do
			[ -e "$a" ] || continue
			mkdir -p "$build/fuzz-artifacts"
			cp "$a" "$build/fuzz-artifacts/"
			echo "$name: input kept in $build/fuzz-artifacts/$(basename "$a")" >&2
		done
		echo "$name failed" >&2
		exit 1
	fi
	grep -E "^stat::number_of_executed_units|^Done" "$work/$name.log" || true
done
echo "fuzzing: no crash in any target"
