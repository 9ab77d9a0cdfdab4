#!/bin/sh
# Runs cmpd-bench with a tiny N and checks that every series completed and
# its figures parse: six RESULT lines with failed=0 and positive numbers,
# and the three targets of the EC mode each judged MET or MISSED. Timing
# is never asserted.
#   tests/bench/smoke.sh PATH/TO/cmpd-bench
set -eu
bench="$1"
out=$(mktemp "${TMPDIR:-/tmp}/cmpd-bench-smoke.XXXXXX")
trap 'rm -f "$out"' EXIT

"$bench" --n 4 --ca-threads 2 >"$out"
cat "$out"
awk '
/^RESULT / {
	n++
	for (i = 2; i <= NF; i++) {
		split($i, kv, "=")
		v[kv[1]] = kv[2]
	}
	if (v["failed"] != "0" || v["n"] != "4") bad = bad " failed/n:" $0
	if (!(v["rate"] + 0 > 0) || !(v["p50"] + 0 > 0) ||
	    !(v["p99"] + 0 >= v["p50"] + 0)) bad = bad " numbers:" $0
	if (v["series"] == "cmpd" && !(v["hwm_broker"] + 0 > 0 &&
	    v["hwm_keyworker"] + 0 > 0 && v["hwm_networker"] + 0 > 0))
		bad = bad " rss:" $0
	series[v["series"] v["conc"]] = 1
}
/^TARGET .*: (MET|MISSED)$/ { t++ }
END {
	for (s in series) k++
	if (n != 6 || k != 6 || t != 3 || bad != "") {
		print "smoke: RESULT lines " n ", series " k ", targets " t \
		    bad > "/dev/stderr"
		exit 1
	}
}' "$out"
echo "smoke: ok"
