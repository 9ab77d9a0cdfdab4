#!/bin/sh
# cmpd --check-config names the line of an error: of the option for an
# error in a value or a line, and of the profile's header for what is
# found wrong once the whole file is read.
#   check-config-test.sh BIN_DIR
set -u
cmpd=$1/cmpd
dir=$(mktemp -d /tmp/cmpd-check-config.XXXXXX)
trap 'rm -rf "$dir"' EXIT
failures=0

# expect NAME WANT: the file $dir/NAME.conf fails with WANT (a grep -E).
expect() {
	out=$("$cmpd" --check-config --config "$dir/$1.conf" 2>&1)
	rc=$?
	if [ $rc -eq 1 ] && printf '%s\n' "$out" | grep -Eq -- "$2"; then
		echo "ok: $1: $out"
	else
		echo "FAILED: $1: exit $rc, '$out', wanted '$2'"
		failures=$((failures + 1))
	fi
}

printf '[cmpd]\nstate_dir = %s\n\n[profile a]\nserver = ftp://x/\n' \
	"$dir" >"$dir/scheme.conf"
expect scheme "^cmpd: $dir/scheme.conf:4: profile 'a': server must be"

printf '[cmpd]\nbogus = 1\n' >"$dir/option.conf"
expect option "^cmpd: $dir/option.conf:2: unknown option 'bogus' in \[cmpd\]"

# The first profile is valid; the second lacks its secret (line 9).
cat >"$dir/mac.conf" <<CONF
[cmpd]

[profile m]
server = http://x/
protection = mac
mac_reference = r
mac_secret = pass:s
trust_capubs = yes
[profile n]
server = http://x/
protection = mac
CONF
expect mac "^cmpd: $dir/mac.conf:9: profile 'n': mac protection needs"

printf '[profile k]\nserver = http://x/\nkey_type = dsa\n' >"$dir/value.conf"
expect value "^cmpd: $dir/value.conf:3: unknown key type 'dsa'"

printf '[cmpd]\nlog_level = info\n' >"$dir/good.conf"
out=$("$cmpd" --check-config --config "$dir/good.conf" 2>&1)
if [ $? -eq 0 ] && [ "$out" = "$dir/good.conf: OK (0 profiles)" ]; then
	echo "ok: good: $out"
else
	echo "FAILED: good: '$out'"
	failures=$((failures + 1))
fi
[ "$failures" -eq 0 ]
