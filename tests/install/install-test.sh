#!/bin/bash
# The install test: builds cmpd's Debian packages, installs them on this
# machine, runs the INSTALLED cmpd with its installed default paths against
# the build tree's test CA (127.0.0.1), enrolls with the installed cmpctl,
# builds the C example against the installed -dev package, reloads a bad
# and a good configuration, then removes and purges the packages and
# checks what stays and what goes. Whatever happens, it leaves the machine
# as it found it: packages, users, directories.
#
#   install-test.sh SOURCE_DIR BUILD_DIR
# Exit status: 0 passed, 1 failed, 77 skipped (the reason is printed).
set -u
src=$1
bin=$2/bin
pkgs="cmpd libcmpd-client0 libcmpd-client-dev"
users="_cmpd-key _cmpd-net"

skip() {
	echo "SKIPPED: $*"
	exit 77
}
[ "$(id -u)" -eq 0 ] || skip "the install test installs packages: run it as root"
command -v dpkg-buildpackage >/dev/null ||
	skip "dpkg-buildpackage is missing (packaging/deps.sh installs it)"
[ -x "$bin/cmpd-testca" ] || skip "no test CA in $bin"
for p in $pkgs; do
	if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q installed; then
		skip "package $p is already installed; the test would replace it"
	fi
done
for d in /etc/cmpd /var/lib/cmpd /run/cmpd; do
	[ -e "$d" ] && skip "$d exists; the test would change what is there"
done

work=$(mktemp -d /tmp/cmpd-install-test.XXXXXX)
chmod 0755 "$work"
log=$work/cmpd.log
failures=0
cmpd_pid=""
ca_pid=""
new_users=""
for u in $users; do
	getent passwd "$u" >/dev/null || new_users="$new_users $u"
done
wants=/etc/systemd/system/multi-user.target.wants/cmpd.service

pass() { echo "ok: $*"; }
fail() {
	echo "FAILED: $*"
	failures=$((failures + 1))
}
check() {
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}

stop_pid() {
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null || return 0
	for _ in $(seq 100); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null
}

# Runs on every exit: the machine as it was before.
cleanup() {
	stop_pid "$cmpd_pid"
	stop_pid "$ca_pid"
	for p in $pkgs; do
		if dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q -v not-installed; then
			dpkg --purge "$p" >/dev/null 2>&1
		fi
	done
	for u in $new_users; do
		userdel "$u" 2>/dev/null
		getent group "$u" >/dev/null && groupdel "$u" 2>/dev/null
	done
	rm -rf /etc/cmpd /var/lib/cmpd /run/cmpd "$wants"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

echo "== building the packages"
if ! "$src/packaging/build-deb.sh" "$work/debs" >"$work/build.log" 2>&1; then
	tail -n 40 "$work/build.log"
	echo "FAILED: the packages did not build"
	exit 1
fi
ls "$work/debs"

echo "== installing"
debs=$(for p in $pkgs; do echo "$work/debs/${p}_"*.deb; done)
if ! dpkg -i $debs >"$work/dpkg.log" 2>&1; then
	cat "$work/dpkg.log"
	echo "FAILED: dpkg -i"
	exit 1
fi

mode_owner() { stat -c '%a %U' "$1" 2>/dev/null; }
for u in $users; do
	check "user $u exists, without a shell" \
		test "$(getent passwd "$u" | cut -d: -f7)" = /usr/sbin/nologin
done
check "/var/lib/cmpd is 0700 root" test "$(mode_owner /var/lib/cmpd)" = "700 root"
check "/var/lib/cmpd/keys is 0700 _cmpd-key" \
	test "$(mode_owner /var/lib/cmpd/keys)" = "700 _cmpd-key"
check "/run/cmpd exists" test -d /run/cmpd
check "/etc/cmpd/cmpd.conf is a conffile" \
	grep -q '^ /etc/cmpd/cmpd.conf ' <(dpkg-query -W -f='${Conffiles}\n' cmpd)
check "cmpd depends on libssl3 >= 3.0.22-1~deb12u2" \
	grep -q 'libssl3 (>= 3.0.22-1~deb12u2)' \
	<(dpkg-query -W -f='${Depends}\n' cmpd)
check "the default configuration checks out" /usr/sbin/cmpd --check-config
check "the workers are installed" \
	test -x /usr/libexec/cmpd/cmpd-keyworker -a -x /usr/libexec/cmpd/cmpd-networker

lib=$(dpkg -L libcmpd-client0 | grep '/libcmpd-client\.so\.0$')
check "libcmpd-client.so.0 has SONAME libcmpd-client.so.0" \
	grep -q 'SONAME *libcmpd-client\.so\.0$' <(objdump -p "$lib")
others=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^cmpd_')
check "the library exports only cmpd_* symbols" test -z "$others"
check "pkg-config knows cmpd-client" pkg-config --exists cmpd-client

for page in cmpd.8 cmpctl.1 cmpd.conf.5 libcmpd-client.3; do
	f=$(man -w "${page%.*}" 2>/dev/null | head -n 1)
	check "man page $page is installed" test -n "$f"
	[ -n "$f" ] && check "man page $page renders without warnings" \
		test -z "$(MANWIDTH=80 man -l "$f" 2>&1 >/dev/null)"
done

unit=/lib/systemd/system/cmpd.service
check "systemd-analyze verify cmpd.service" \
	systemd-analyze verify "$unit"
systemd-analyze security --offline=true "$unit" 2>/dev/null | tail -n 1

echo "== the test CA and a configuration for it"
"$bin/cmpd-testca" init "$work/pki" >/dev/null || exit 1
chmod -R a+rX "$work/pki"
"$bin/cmpd-testca" serve "$work/pki" --port 0 --port-file "$work/ca.port" \
	--quiet >"$work/ca.log" 2>&1 &
ca_pid=$!
for _ in $(seq 100); do
	[ -s "$work/ca.port" ] && break
	sleep 0.1
done
port=$(cat "$work/ca.port" 2>/dev/null)
[ -n "$port" ] || { echo "FAILED: the test CA did not start"; exit 1; }

profile() {
	cat <<-CONF

		[profile $1]
		server = http://127.0.0.1:$port/pkix/
		protection = mac
		mac_reference = device-0001
		mac_secret = file:$work/pki/mac-secret.txt
		enroll_trusted = $work/pki/root.pem
		subject = /CN=$1.install-test.example
	CONF
}
conf=/etc/cmpd/cmpd.conf
cp "$conf" "$work/cmpd.conf.orig"
{ cat "$work/cmpd.conf.orig"; profile mac; } >"$conf"

echo "== the installed cmpd"
/usr/sbin/cmpd --foreground >"$log" 2>&1 &
cmpd_pid=$!
for _ in $(seq 100); do
	[ -S /run/cmpd/cmpd.sock ] && break
	sleep 0.1
done
check "cmpd serves on /run/cmpd/cmpd.sock" test -S /run/cmpd/cmpd.sock

enroll() {
	/usr/bin/cmpctl enroll --profile "$1" --wait --timeout 60 \
		>"$work/enroll-$1.out" 2>&1
}
check "cmpctl enrolls with the installed cmpd" enroll mac
worker_user() {
	ps -o user:32= -o args= --ppid "$cmpd_pid" | awk -v w="$1" '$2 ~ w {print $1}'
}
check "the keyworker runs as _cmpd-key" \
	test "$(worker_user cmpd-keyworker)" = _cmpd-key
check "the networker runs as _cmpd-net" \
	test "$(worker_user cmpd-networker)" = _cmpd-net
check "the certificate is in /var/lib/cmpd/certs/mac/cert.pem" \
	openssl verify -CAfile "$work/pki/root.pem" \
	-untrusted /var/lib/cmpd/certs/mac/chain.pem \
	/var/lib/cmpd/certs/mac/cert.pem

echo "== the C example against the installed -dev package"
example=/usr/share/doc/libcmpd-client-dev/examples/client-example.c
check "the example builds with pkg-config" \
	cc -Wall -Werror -o "$work/client-example" "$example" \
	$(pkg-config --cflags --libs cmpd-client)
check "the example enrolls" "$work/client-example" mac /CN=example.install-test
mkdir -p "$work/cmake-example"
cat >"$work/cmake-example/CMakeLists.txt" <<-CMAKE
	cmake_minimum_required(VERSION 3.25)
	project(example C)
	find_package(cmpd-client 0.1 REQUIRED)
	add_executable(client-example $example)
	target_link_libraries(client-example PRIVATE cmpd::client)
CMAKE
check "the example builds with find_package(cmpd-client)" \
	sh -c "cmake -S '$work/cmake-example' -B '$work/cmake-example/b' \
		>/dev/null && make -C '$work/cmake-example/b' >/dev/null"

echo "== reloading"
lines=$(wc -l <"$conf")
printf '[profile broken]\nserver http://127.0.0.1/\n' >>"$conf"
kill -HUP "$cmpd_pid"
sleep 1
check "a bad configuration is refused, naming its line" \
	grep -q "reload: $conf:$((lines + 2)): .*keeping the configuration in use" "$log"
check "cmpd still enrolls after the refused reload" enroll mac
{ cat "$work/cmpd.conf.orig"; profile mac; profile added; } >"$conf"
kill -HUP "$cmpd_pid"
sleep 1
check "a good configuration is taken" grep -q "reload: new profile added" "$log"
check "the new profile enrolls" enroll added
check "cmpd is still the same process" kill -0 "$cmpd_pid"

echo "== bash completion"
complete_words() {
	bash -c 'source /usr/share/bash-completion/bash_completion
		source /usr/share/bash-completion/completions/cmpctl
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		_cmpctl; echo "${COMPREPLY[*]}"' complete "$@"
}
check "cmpctl <TAB> offers enroll" grep -qw enroll <(complete_words cmpctl "")
check "cmpctl enroll --pro<TAB> offers --profile" \
	grep -q -- --profile <(complete_words cmpctl enroll --pro)
check "cmpctl enroll --profile <TAB> offers the profiles" \
	grep -qw added <(complete_words cmpctl enroll --profile "")

echo "== stopping"
kill -TERM "$cmpd_pid"
wait "$cmpd_pid"
check "cmpd stopped cleanly" test $? -eq 0
cmpd_pid=""

echo "== removing"
dpkg --remove $pkgs >"$work/dpkg.log" 2>&1 || cat "$work/dpkg.log"
check "the programs are gone" test ! -e /usr/sbin/cmpd -a ! -e /usr/bin/cmpctl
check "the library is gone" test ! -e "$lib"
check "the store stays" test -s /var/lib/cmpd/cmpd.db
check "the key store stays" test -d /var/lib/cmpd/keys
check "the configuration stays" test -e /etc/cmpd/cmpd.conf

echo "== purging"
dpkg --purge $pkgs >"$work/dpkg.log" 2>&1 || cat "$work/dpkg.log"
check "the state is gone" test ! -e /var/lib/cmpd
check "the configuration is gone" test ! -e /etc/cmpd
check "the unit is no longer enabled" test ! -e "$wants"
for u in $users; do
	check "user $u stays (Debian keeps system users)" \
		sh -c "getent passwd $u >/dev/null"
done
check "no package is left" \
	test -z "$(dpkg-query -W -f='${Status}\n' $pkgs 2>/dev/null | grep -v not-installed)"

if [ "$failures" -ne 0 ]; then
	echo "cmpd's log:"
	tail -n 60 "$log"
	echo "$failures check(s) failed"
	exit 1
fi
echo "install test passed"
