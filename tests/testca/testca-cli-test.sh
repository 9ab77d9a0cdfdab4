#!/bin/bash
# Drives cmpd-testca with the independent `openssl cmp` client (OpenSSL
# 3.0) and checks every answer: exit status and, for each certificate
# issued, that it carries the client's key and verifies against root.pem +
# ca.pem.
#
#   testca-cli-test.sh PATH/TO/cmpd-testca
#
# Environment: OPENSSL (default: openssl), KEEP=1 keeps the work directory.
set -u

TESTCA=${1:?usage: $0 PATH/TO/cmpd-testca}
OPENSSL=${OPENSSL:-openssl}
W=$(mktemp -d "${TMPDIR:-/tmp}/testca-cli.XXXXXX")
PKI=$W/pki
FAILS=0
CHECKS=0
SERVERS=()

cleanup() {
	for pid in "${SERVERS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	if [ "${KEEP:-0}" = 1 ] || [ "$FAILS" -gt 0 ]; then
		echo "work directory kept: $W"
	else
		rm -rf "$W"
	fi
}
trap cleanup EXIT

ok() {
	CHECKS=$((CHECKS + 1))
	echo "ok   $*"
}

fail() {
	CHECKS=$((CHECKS + 1))
	FAILS=$((FAILS + 1))
	echo "FAIL $*"
}

# expect DESCRIPTION COMMAND...: the command must succeed.
expect() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}

newkey() { # FILE ALGORITHM [PKEYOPT]
	"$OPENSSL" genpkey -algorithm "$2" ${3:+-pkeyopt "$3"} -out "$1" \
	    2>/dev/null
}

# Starts `serve` with extra arguments; sets PORT and SERVER_PID.
start_server() { # NAME ARGS...
	local name=$1
	shift
	rm -f "$W/$name.port"
	"$TESTCA" serve "$PKI" --port 0 --port-file "$W/$name.port" "$@" \
	    >"$W/$name.out" 2>"$W/$name.log" &
	SERVER_PID=$!
	SERVERS+=("$SERVER_PID")
	for _ in $(seq 100); do
		[ -s "$W/$name.port" ] && break
		sleep 0.1
	done
	PORT=$(cat "$W/$name.port" 2>/dev/null)
	[ -n "$PORT" ] && grep -qx "listening on 127.0.0.1:$PORT" \
	    "$W/$name.out"
}

# SIGTERM must end the server with status 0 (under ASan: no leaks).
stop_server() { # PID
	kill -TERM "$1" && wait "$1"
}

# cmpreq LOG ARGS...: one `openssl cmp` run against the current server.
cmpreq() {
	local log=$1
	shift
	"$OPENSSL" cmp -server "127.0.0.1:$PORT/pkix/" -trusted "$PKI/root.pem" \
	    "$@" >"$W/$log" 2>&1
}

# The certificate carries exactly the public key of the client's key and
# verifies against root.pem with ca.pem as the intermediate.
cert_ok() { # CERT KEY
	[ -s "$1" ] &&
	    [ "$("$OPENSSL" x509 -in "$1" -noout -pubkey)" = \
		"$("$OPENSSL" pkey -in "$2" -pubout)" ] &&
	    "$OPENSSL" verify -CAfile "$PKI/root.pem" \
		-untrusted "$PKI/ca.pem" "$1" >/dev/null
}

serial_of() { # CERT -> lowercase hex as in issued.txt
	"$OPENSSL" x509 -in "$1" -noout -serial | sed 's/^serial=//' |
	    tr 'A-F' 'a-f' | sed 's/^\(00\)*//'
}

issued_once() { # CERT
	[ "$(grep -c "^$(serial_of "$1") " "$PKI/issued.txt")" = 1 ]
}

# A full enrollment: exit 0 and the four messages of RFC 9483's exchange.
enrolled() { # LOG REQ REP
	grep -q "sending $2" "$W/$1" && grep -q "received $3" "$W/$1" &&
	    grep -q "sending CERTCONF" "$W/$1" &&
	    grep -q "received PKICONF" "$W/$1"
}

echo "# work directory $W"
expect "init writes the test PKI" "$TESTCA" init "$PKI" >"$W/init.log" 2>&1
for f in root ca srv supplier-root supplier supplier-rsa rogue-root rogue \
    fixed; do
	[ -s "$PKI/$f.pem" ] && [ "$(stat -c %a "$PKI/$f.key")" = 600 ] ||
	    fail "init: $f.pem / $f.key (mode 0600)"
done
expect "init: directory mode 0700" [ "$(stat -c %a "$PKI")" = 700 ]
expect "init: a second init refuses to overwrite" \
    bash -c "! '$TESTCA' init '$PKI' 2>/dev/null"
expect "init: the chains verify" "$OPENSSL" verify -CAfile "$PKI/root.pem" \
    -untrusted "$PKI/ca.pem" "$PKI/srv.pem" "$PKI/fixed.pem" >/dev/null
expect "init: supplier certificates verify" "$OPENSSL" verify \
    -CAfile "$PKI/supplier-root.pem" "$PKI/supplier.pem" \
    "$PKI/supplier-rsa.pem" >/dev/null
SECRET=$(cat "$PKI/mac-secret.txt")
REF=$(cat "$PKI/mac-ref.txt")
expect "init: MAC reference and secret" \
    [ "$REF" = device-0001 -a ${#SECRET} -ge 16 ]

expect "serve --port 0 writes the port file" start_server main
MAIN_PID=$SERVER_PID

# 1. IR protected by the supplier certificates, each with a fresh key.
newkey "$W/ir1.key" EC ec_paramgen_curve:P-256
cmpreq ir1.log -cmd ir -cert "$PKI/supplier.pem" -key "$PKI/supplier.key" \
    -newkey "$W/ir1.key" -subject "/CN=device 0001" \
    -certout "$W/ir1.pem" -cacertsout "$W/ir1-capubs.pem" \
    -extracertsout "$W/ir1-extra.pem"
expect "1 IR (supplier, P-256): exit 0" [ $? = 0 ]
expect "1 IR: ir/ip/certConf/pkiConf" enrolled ir1.log IR IP
expect "1 IR: certificate has the new key and verifies" \
    cert_ok "$W/ir1.pem" "$W/ir1.key"
expect "1 IR: caPubs is root.pem" cmp -s "$W/ir1-capubs.pem" "$PKI/root.pem"
expect "1 IR: extraCerts hold srv, ca, root" \
    [ "$(grep -c BEGIN "$W/ir1-extra.pem")" = 3 ]
expect "1 IR: recorded once in issued.txt" issued_once "$W/ir1.pem"
cmpreq ic.log -cmd ir -cert "$PKI/supplier.pem" -key "$PKI/supplier.key" \
    -newkey "$W/ir1.key" -subject "/CN=device 0001" -implicit_confirm \
    -certout "$W/ic.pem"
expect "1 IR asking for implicit confirmation: not granted (certConf)" \
    bash -c "[ $? = 0 ] && grep -q 'sending CERTCONF' '$W/ic.log'"

newkey "$W/ir1r.key" EC ec_paramgen_curve:P-256
cmpreq ir1r.log -cmd ir -cert "$PKI/supplier-rsa.pem" \
    -key "$PKI/supplier-rsa.key" -newkey "$W/ir1r.key" \
    -subject "/CN=device 0002" -certout "$W/ir1r.pem"
expect "1 IR (RSA supplier): exit 0" [ $? = 0 ]
expect "1 IR (RSA supplier): ir/ip/certConf/pkiConf" enrolled ir1r.log IR IP
expect "1 IR (RSA supplier): certificate" cert_ok "$W/ir1r.pem" "$W/ir1r.key"

# 2. IR protected by the MAC.
newkey "$W/mac.key" EC ec_paramgen_curve:P-256
cmpreq mac.log -cmd ir -secret "pass:$SECRET" -ref "$REF" \
    -newkey "$W/mac.key" -subject "/CN=mac device" -certout "$W/mac.pem"
expect "2 IR (MAC): exit 0" [ $? = 0 ]
expect "2 IR (MAC): ir/ip/certConf/pkiConf" enrolled mac.log IR IP
expect "2 IR (MAC): certificate" cert_ok "$W/mac.pem" "$W/mac.key"
cmpreq macbad.log -cmd ir -secret pass:wrong-secret -ref "$REF" \
    -unprotected_errors -newkey "$W/mac.key" -subject "/CN=mac device" \
    -certout "$W/macbad.pem"
expect "2 IR (wrong MAC secret): refused" [ $? != 0 ]
expect "2 IR (wrong MAC secret): reason shown" \
    grep -q "request MAC invalid" "$W/macbad.log"

# 3. IR signed by an untrusted "supplier".
cmpreq rogue.log -cmd ir -cert "$PKI/rogue.pem" -key "$PKI/rogue.key" \
    -newkey "$W/mac.key" -subject "/CN=rogue" -certout "$W/rogue-new.pem"
expect "3 IR (rogue supplier): non-zero exit" [ $? != 0 ]
expect "3 IR (rogue supplier): no certificate" [ ! -e "$W/rogue-new.pem" ]
expect "3 IR (rogue supplier): refusal text reaches the client" \
    grep -q 'signerNotTrusted.*request signer not trusted: .*unable to get local issuer certificate' \
    "$W/rogue.log"

# 4. Polling: a second instance answers 'waiting' twice.
expect "4 serve --poll 2 starts" start_server poll --poll 2 --check-after 1 \
    --idle-timeout 2 --grant-implicit-confirm --threads 1
POLL_PID=$SERVER_PID
newkey "$W/poll.key" EC ec_paramgen_curve:P-256
cmpreq poll.log -cmd ir -cert "$PKI/supplier.pem" -key "$PKI/supplier.key" \
    -newkey "$W/poll.key" -subject "/CN=polled" -certout "$W/poll.pem"
expect "4 IR with polling: exit 0" [ $? = 0 ]
expect "4 IR with polling: waiting, pollRep with checkAfter 1" \
    grep -q "checkAfter = 1 seconds" "$W/poll.log"
expect "4 IR with polling: pollReq answered by ip" \
    grep -q "received ip/cp/kup after polling" "$W/poll.log"
expect "4 IR with polling: certificate" cert_ok "$W/poll.pem" "$W/poll.key"
newkey "$W/ic.key" EC ec_paramgen_curve:P-256
cmpreq ic.log -cmd ir -cert "$PKI/supplier.pem" -key "$PKI/supplier.key" \
    -newkey "$W/ic.key" -subject "/CN=implicit" -implicit_confirm \
    -certout "$W/ic.pem"
expect "4 implicit confirmation granted: exit 0, no certConf" \
    bash -c "[ $? = 0 ] && ! grep -q 'sending CERTCONF' '$W/ic.log'"
expect "4 implicit confirmation granted: certificate" \
    cert_ok "$W/ic.pem" "$W/ic.key"
# A client that never confirms leaves its transaction open: it is dropped
# after --idle-timeout.
cmpreq noconf.log -cmd ir -cert "$PKI/supplier.pem" \
    -key "$PKI/supplier.key" -newkey "$W/poll.key" -subject "/CN=no conf" \
    -disable_confirm -certout "$W/noconf.pem"
expect "4 IR without certConf: exit 0" [ $? = 0 ]
for _ in $(seq 50); do
	grep -q "dropped after 2 s without a request" "$W/poll.log" && break
	sleep 0.1
done
expect "4 an unconfirmed transaction is dropped after --idle-timeout" \
    grep -q "dropped after 2 s without a request" "$W/poll.log"
expect "4 --poll server stops cleanly on SIGTERM" stop_server "$POLL_PID"
PORT=$(cat "$W/main.port")

# 5. CR and KUR protected by the certificate from 1.
newkey "$W/cr.key" EC ec_paramgen_curve:P-256
cmpreq cr.log -cmd cr -cert "$W/ir1.pem" -key "$W/ir1.key" \
    -newkey "$W/cr.key" -subject "/CN=device 0001 second" \
    -sans "DNS:dev1.example" -certout "$W/cr.pem"
expect "5 CR: exit 0" [ $? = 0 ]
expect "5 CR: cr/cp/certConf/pkiConf" enrolled cr.log CR CP
expect "5 CR: certificate" cert_ok "$W/cr.pem" "$W/cr.key"
expect "5 CR: subjectAltName copied" grep -q "DNS:dev1.example" \
    <("$OPENSSL" x509 -in "$W/cr.pem" -noout -ext subjectAltName)
newkey "$W/kur.key" EC ec_paramgen_curve:P-256
cmpreq kur.log -cmd kur -cert "$W/ir1.pem" -key "$W/ir1.key" \
    -newkey "$W/kur.key" -certout "$W/kur.pem"
expect "5 KUR (fresh key): exit 0" [ $? = 0 ]
expect "5 KUR: kur/kup/certConf/pkiConf" enrolled kur.log KUR KUP
expect "5 KUR: certificate has the fresh key" cert_ok "$W/kur.pem" "$W/kur.key"
cmpreq kurbad.log -cmd kur -cert "$W/cr.pem" -key "$W/cr.key" \
    -oldcert "$W/ir1.pem" -newkey "$W/kur.key" -certout "$W/kurbad.pem"
expect "5 KUR signed by another certificate: refused" [ $? != 0 ]
expect "5 KUR signed by another certificate: reason shown" \
    grep -q "kur is not protected by certificate" "$W/kurbad.log"
cmpreq crsup.log -cmd cr -cert "$PKI/supplier.pem" -key "$PKI/supplier.key" \
    -newkey "$W/cr.key" -subject "/CN=x" -certout "$W/crsup.pem"
expect "5 CR signed by a supplier certificate: refused" [ $? != 0 ]
expect "5 CR signed by a supplier certificate: reason shown" \
    grep -q "may protect only ir and genm" "$W/crsup.log"

# 6. P10CR from a CSR made by `openssl req`.
newkey "$W/p10.key" RSA rsa_keygen_bits:2048
"$OPENSSL" req -new -key "$W/p10.key" -subj "/CN=p10 device" \
    -addext "subjectAltName=DNS:p10.example" -out "$W/p10.csr"
cmpreq p10.log -cmd p10cr -csr "$W/p10.csr" -cert "$W/ir1.pem" \
    -key "$W/ir1.key" -certout "$W/p10.pem"
expect "6 P10CR: exit 0" [ $? = 0 ]
expect "6 P10CR: p10cr/cp/certConf/pkiConf" enrolled p10.log P10CR CP
expect "6 P10CR: certificate has the CSR's key" \
    cert_ok "$W/p10.pem" "$W/p10.key"
expect "6 P10CR: RSA key gets keyEncipherment" grep -q "Key Encipherment" \
    <("$OPENSSL" x509 -in "$W/p10.pem" -noout -ext keyUsage)

# 7. RR of the certificate from 1, then again.
cmpreq rr.log -cmd rr -oldcert "$W/ir1.pem" -cert "$W/cr.pem" \
    -key "$W/cr.key" -revreason 1
expect "7 RR: exit 0" [ $? = 0 ]
expect "7 RR: accepted" grep -q "revocation accepted" "$W/rr.log"
expect "7 RR: revoked.txt records serial and reason" \
    grep -qx "$(serial_of "$W/ir1.pem") 1" "$PKI/revoked.txt"
cmpreq rr2.log -cmd rr -oldcert "$W/ir1.pem" -cert "$W/cr.pem" \
    -key "$W/cr.key" -revreason 1
expect "7 RR again: refused" [ $? != 0 ]
expect "7 RR again: reason shown" grep -q "certRevoked.*already revoked" \
    "$W/rr2.log"
cmpreq rrsigner.log -cmd genm -cert "$W/ir1.pem" -key "$W/ir1.key" \
    -infotype caCerts
expect "7 the revoked certificate no longer protects requests" [ $? != 0 ]

# 8. genm caCerts: the ITAV value is SEQUENCE OF Certificate [ca, root].
cmpreq genm.log -cmd genm -cert "$W/cr.pem" -key "$W/cr.key" \
    -infotype caCerts -rspout "$W/genp.der"
expect "8 genm caCerts: exit 0" [ $? = 0 ]
expect "8 genm caCerts: genp carries id-it-caCerts" \
    grep -q "genp contains ITAV of type: id-it-caCerts" "$W/genm.log"
genp_value() {
	local line off hl len
	line=$("$OPENSSL" asn1parse -inform DER -in "$W/genp.der" |
	    grep -A1 ':id-it-caCerts$' | tail -1)
	off=$(echo "$line" | sed -n 's/^ *\([0-9]*\):.*/\1/p')
	hl=$(echo "$line" | sed -n 's/.* hl=\([0-9]*\) .*/\1/p')
	len=$(echo "$line" | sed -n 's/.* l= *\([0-9]*\) cons: *SEQUENCE.*/\1/p')
	[ -n "$off" ] && [ -n "$hl" ] && [ -n "$len" ] &&
	    tail -c +$((off + hl + 1)) "$W/genp.der" | head -c "$len"
}
"$OPENSSL" x509 -in "$PKI/ca.pem" -outform DER >"$W/expect.der"
"$OPENSSL" x509 -in "$PKI/root.pem" -outform DER >>"$W/expect.der"
expect "8 genm caCerts: value is [ca.pem, root.pem]" \
    cmp -s <(genp_value) "$W/expect.der"

# 9. Eight IRs in parallel.
before=$(wc -l <"$PKI/issued.txt")
for i in 1 2 3 4 5 6 7 8; do
	newkey "$W/par$i.key" EC ec_paramgen_curve:P-256
done
pids=()
for i in 1 2 3 4 5 6 7 8; do
	cmpreq "par$i.log" -cmd ir -cert "$PKI/supplier.pem" \
	    -key "$PKI/supplier.key" -newkey "$W/par$i.key" \
	    -subject "/CN=parallel $i" -certout "$W/par$i.pem" &
	pids+=($!)
done
for i in 1 2 3 4 5 6 7 8; do
	expect "9 parallel IR $i: exit 0" wait "${pids[$((i - 1))]}"
	expect "9 parallel IR $i: certificate" \
	    cert_ok "$W/par$i.pem" "$W/par$i.key"
	expect "9 parallel IR $i: recorded once" issued_once "$W/par$i.pem"
done
expect "9 parallel: eight new lines in issued.txt" \
    [ $(($(wc -l <"$PKI/issued.txt") - before)) = 8 ]
expect "9 parallel: eight distinct serials" [ "$(for i in 1 2 3 4 5 6 7 8; do
	serial_of "$W/par$i.pem"
done | sort -u | wc -l)" = 8 ]
expect "no serial twice in issued.txt" \
    [ -z "$(cut -d' ' -f1 "$PKI/issued.txt" | sort | uniq -d)" ]

# 10. Other new key types.
for t in "ed25519 ED25519" "p384 EC ec_paramgen_curve:P-384" \
    "rsa3072 RSA rsa_keygen_bits:3072"; do
	set -- $t
	newkey "$W/$1.key" "$2" ${3:-}
	cmpreq "$1.log" -cmd ir -cert "$PKI/supplier.pem" \
	    -key "$PKI/supplier.key" -newkey "$W/$1.key" \
	    -subject "/CN=$1 device" -certout "$W/$1.pem"
	expect "10 IR with a new $1 key: exit 0" [ $? = 0 ]
	expect "10 IR with a new $1 key: certificate" \
	    cert_ok "$W/$1.pem" "$W/$1.key"
done

# A certificate the client rejects (it does not chain to -out_trusted)
# is recorded in rejected.txt and does not protect requests.
cmpreq rej.log -cmd ir -cert "$PKI/supplier.pem" -key "$PKI/supplier.key" \
    -newkey "$W/mac.key" -subject "/CN=rejected" \
    -out_trusted "$PKI/supplier-root.pem" -certout "$W/rej.pem"
expect "rejecting certConf: client fails" [ $? != 0 ]
expect "rejecting certConf: recorded in rejected.txt" \
    [ "$(wc -l <"$PKI/rejected.txt")" = 1 ]

# HTTP: only POST application/pkixcmp.
if command -v curl >/dev/null; then
	expect "HTTP GET: 405" [ "$(curl -s -o /dev/null -w '%{http_code}' \
	    "http://127.0.0.1:$PORT/pkix/")" = 405 ]
	expect "HTTP wrong Content-Type: 415" [ "$(curl -s -o /dev/null \
	    -w '%{http_code}' -H 'Content-Type: text/plain' --data x \
	    "http://127.0.0.1:$PORT/.well-known/cmp")" = 415 ]
	expect "HTTP body not a PKIMessage: 400" [ "$(curl -s -o /dev/null \
	    -w '%{http_code}' -H 'Content-Type: application/pkixcmp' \
	    --data x "http://127.0.0.1:$PORT/.well-known/cmp/p/x")" = 400 ]
fi
expect "server logs one line per message" \
    grep -q "certConf -> pkiconf: certificate .* confirmed" "$W/main.log"

# The time of one IR (ir, ip, certConf, pkiConf), over 20 runs.
start=$(date +%s%N)
for i in $(seq 20); do
	cmpreq time.log -cmd ir -cert "$PKI/supplier.pem" \
	    -key "$PKI/supplier.key" -newkey "$W/par1.key" \
	    -subject "/CN=timed" -certout "$W/time.pem" || fail "timed IR $i"
done
echo "# one IR with openssl cmp: $((($(date +%s%N) - start) / 20000000)) ms" \
    "(mean of 20, client start included)"

expect "server stops cleanly on SIGTERM (exit 0)" stop_server "$MAIN_PID"
SERVERS=()
echo "# $CHECKS checks, $FAILS failed"
[ "$FAILS" = 0 ]
