#!/bin/sh
# The demo: installs the dependencies, builds cmpd, starts the bundled test
# CA and cmpd on 127.0.0.1 in a private state directory, enrolls a
# certificate with cmpctl and shows it. Everything it starts is stopped at
# the end; the directory is kept for a look (its path is printed).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/packaging/deps.sh"
cmake -S "$top" -B "$top/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$top/build" -j "$(nproc)" >/dev/null
bin="$top/build/bin"

demo=$(mktemp -d "${TMPDIR:-/tmp}/cmpd-demo.XXXXXX")
ca_pid=""
cmpd_pid=""
cleanup() {
	[ -n "$cmpd_pid" ] && kill "$cmpd_pid" 2>/dev/null && wait "$cmpd_pid"
	[ -n "$ca_pid" ] && kill "$ca_pid" 2>/dev/null && wait "$ca_pid"
	echo "demo directory (logs, state, certificate): $demo"
}
trap cleanup EXIT INT TERM

echo "== a test PKI and the test CA on 127.0.0.1"
"$bin/cmpd-testca" init "$demo/pki" >/dev/null
"$bin/cmpd-testca" serve "$demo/pki" --port 0 --port-file "$demo/ca.port" >/dev/null \
	2>"$demo/ca.log" &
ca_pid=$!
i=0
while [ ! -s "$demo/ca.port" ]; do
	i=$((i + 1)); [ $i -lt 200 ] || { echo "the test CA did not start" >&2; exit 1; }
	sleep 0.05
done
port=$(cat "$demo/ca.port")
echo "test CA listening on 127.0.0.1:$port"

cat >"$demo/cmpd.conf" <<CONF
[cmpd]
state_dir = $demo/state
run_dir = $demo/run
socket = $demo/run/cmpd.sock

; IR protected by the supplier-provided device certificate.
[profile demo]
server = http://127.0.0.1:$port/.well-known/cmp
protection = signature
cert = $demo/pki/supplier.pem
trusted = $demo/pki/root.pem
key_type = ec-p256
subject = /CN=demo.example/O=cmpd demo
san = DNS:demo.example
CONF

echo "== cmpd (broker, keyworker, networker)"
"$bin/cmpd" --foreground --config "$demo/cmpd.conf" 2>"$demo/cmpd.log" &
cmpd_pid=$!
export CMPD_SOCKET="$demo/run/cmpd.sock"
i=0
until "$bin/cmpctl" jobs >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 200 ] || { echo "cmpd did not start" >&2; cat "$demo/cmpd.log" >&2; exit 1; }
	sleep 0.05
done

echo "== import the supplier certificate's key into the keyworker"
"$bin/cmpctl" key import "$demo/pki/supplier.key"

echo "== enroll"
"$bin/cmpctl" enroll --profile demo --wait

echo "== the certificate cmpd wrote"
openssl x509 -in "$demo/state/certs/demo/cert.pem" -noout -subject -issuer \
	-dates -ext subjectAltName
openssl verify -CAfile "$demo/pki/root.pem" \
	-untrusted "$demo/state/certs/demo/chain.pem" \
	"$demo/state/certs/demo/cert.pem"
