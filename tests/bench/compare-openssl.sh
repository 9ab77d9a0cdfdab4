#!/bin/sh
# One enrollment through cmpd (cmpctl enroll --wait: a new EC P-256 key in
# the keyworker, IR signed with the supplier key, certificate files
# written) against one `openssl cmp -cmd ir` run (and with
# `openssl genpkey` first) against the same test CA, N times each, one at a
# time. Prints the median and mean wall time of each.
#   tests/bench/compare-openssl.sh [BUILD_DIR] [N]
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
bin="${1:-$top/build}/bin"
n="${2:-30}"
dir=$(mktemp -d "${TMPDIR:-/tmp}/cmpd-bench.XXXXXX")
pids=""
trap 'kill $pids 2>/dev/null; wait 2>/dev/null; [ -n "${BENCH_KEEP:-}" ] || rm -rf "$dir"' EXIT

"$bin/cmpd-testca" init "$dir/pki" >/dev/null
"$bin/cmpd-testca" serve "$dir/pki" --port 0 --port-file "$dir/port" \
	--quiet >/dev/null 2>&1 &
pids="$pids $!"
while [ ! -s "$dir/port" ]; do sleep 0.05; done
url="http://127.0.0.1:$(cat "$dir/port")/pkix/"
cat >"$dir/cmpd.conf" <<CONF
[cmpd]
state_dir = $dir/state
run_dir = $dir/run
log_level = ${BENCH_LOG_LEVEL:-warning}
[profile bench]
server = $url
protection = signature
cert = $dir/pki/supplier.pem
trusted = $dir/pki/root.pem
subject = /CN=bench.example
CONF
"$bin/cmpd" --foreground --config "$dir/cmpd.conf" 2>"$dir/cmpd.log" &
pids="$pids $!"
export CMPD_SOCKET="$dir/run/cmpd.sock"
until "$bin/cmpctl" jobs >/dev/null 2>&1; do sleep 0.05; done
"$bin/cmpctl" key import "$dir/pki/supplier.key" >/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-out "$dir/new.key" 2>/dev/null

ossl_ir() {
	openssl cmp -server "$url" -cmd ir -cert "$dir/pki/supplier.pem" \
		-key "$dir/pki/supplier.key" -trusted "$dir/pki/root.pem" \
		-newkey "$dir/new.key" -subject /CN=bench.example \
		-certout "$dir/out.pem" >/dev/null 2>&1
}
ossl_genpkey_ir() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$dir/new.key" 2>/dev/null
	ossl_ir
}
cmpd_enroll() {
	"$bin/cmpctl" enroll --profile bench --wait >/dev/null 2>&1
}

# Runs $2 N times; prints its median and mean in milliseconds.
measure() {
	i=0
	: >"$dir/times"
	while [ $i -lt "$n" ]; do
		t0=$(date +%s%N)
		$2 || { echo "$1: a run failed" >&2; exit 1; }
		t1=$(date +%s%N)
		echo $(((t1 - t0) / 1000)) >>"$dir/times"
		i=$((i + 1))
	done
	[ -n "${BENCH_VERBOSE:-}" ] && tr "\n" " " <"$dir/times" >&2
	sort -n "$dir/times" | awk -v name="$1" '
		{ t[NR] = $1; s += $1 }
		END { printf "%-34s median %6.1f ms  mean %6.1f ms  (n=%d)\n",
			name, t[int((NR + 1) / 2)] / 1000, s / NR / 1000, NR }'
}

measure "cmpctl enroll --wait (cmpd)" cmpd_enroll
measure "openssl cmp -cmd ir" ossl_ir
measure "openssl genpkey + cmp -cmd ir" ossl_genpkey_ir
