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

# Starts `serve` on a fixed port with extra arguments; sets PORT and
# SERVER_PID. The log is appended to, across restarts.
start_server_on() { # PORT NAME ARGS...
	local port=$1 name=$2
	shift 2
	rm -f "$W/$name.port"
	"$TESTCA" serve "$PKI" --port "$port" --port-file "$W/$name.port" "$@" \
	    >"$W/$name.out" 2>>"$W/$name.log" &
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

# Starts `serve` on a free port (see start_server_on).
start_server() { # NAME ARGS...
	start_server_on 0 "$@"
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

# cmpreq over HTTPS, trusting tls-root.pem for the server's certificate.
cmpreq_tls() { # LOG HOST ARGS...
	local log=$1 host=$2
	shift 2
	"$OPENSSL" cmp -server "https://$host:$PORT/pkix/" -tls_used \
	    -tls_trusted "$PKI/tls-root.pem" -trusted "$PKI/root.pem" \
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

# CERT verifies under ANCHOR, has the public key of KEYCERT and SUBJECT.
cert_is() { # CERT ANCHOR KEYCERT SUBJECT
	"$OPENSSL" verify -CAfile "$2" "$1" >/dev/null &&
	    same_pubkey "$1" "$3" && subject_is "$1" "$4"
}

same_pubkey() { # CERT CERT
	[ "$("$OPENSSL" x509 -in "$1" -noout -pubkey)" = \
	    "$("$OPENSSL" x509 -in "$2" -noout -pubkey)" ]
}

subject_is() { # CERT SUBJECT
	[ "$("$OPENSSL" x509 -in "$1" -noout -subject -nameopt compat)" = \
	    "subject=$2" ]
}

# The lowercase hex of a PEM certificate's DER.
der_hex() { # CERT
	"$OPENSSL" x509 -in "$1" -outform DER | od -An -v -tx1 | tr -d ' \n'
}

# The hex of a TLV header: TAG (hex) with a 2-byte length, for DER of
# 256 to 65535 bytes (our certificates).
tlv_head() { # TAG CERT
	printf '%s82%04x' "$1" $(("$("$OPENSSL" x509 -in "$2" -outform DER |
	    wc -c)"))
}

echo "# work directory $W"
expect "init writes the test PKI" "$TESTCA" init "$PKI" >"$W/init.log" 2>&1
for f in root ca srv supplier-root supplier supplier-rsa rogue-root rogue \
    fixed tls-root tls-server tls-client newroot; do
	[ -s "$PKI/$f.pem" ] && [ "$(stat -c %a "$PKI/$f.key")" = 600 ] ||
	    fail "init: $f.pem / $f.key (mode 0600)"
done
for f in newwithold oldwithnew; do
	[ -s "$PKI/$f.pem" ] && [ ! -e "$PKI/$f.key" ] ||
	    fail "init: $f.pem (and no key: it certifies another's)"
done
expect "init: TLS root, server and client subjects" \
    subject_is "$PKI/tls-root.pem" "/CN=cmpd Test TLS Root"
expect "init: tls-server.pem verifies for TLS servers" "$OPENSSL" verify \
    -CAfile "$PKI/tls-root.pem" -purpose sslserver "$PKI/tls-server.pem" \
    >/dev/null
expect "init: tls-server.pem names localhost and 127.0.0.1" bash -c \
    "'$OPENSSL' x509 -in '$PKI/tls-server.pem' -noout -ext subjectAltName |
    grep -q 'DNS:localhost, IP Address:127.0.0.1'"
expect "init: tls-server.pem is for servers only" bash -c \
    "'$OPENSSL' x509 -in '$PKI/tls-server.pem' -noout -ext extendedKeyUsage |
    grep -qx ' *TLS Web Server Authentication'"
expect "init: tls-client.pem verifies for TLS clients" "$OPENSSL" verify \
    -CAfile "$PKI/tls-root.pem" -purpose sslclient "$PKI/tls-client.pem" \
    >/dev/null
expect "init: tls-client.pem is for clients only, with a P-256 key" \
    bash -c "'$OPENSSL' x509 -in '$PKI/tls-client.pem' -noout \
    -ext extendedKeyUsage | grep -qx ' *TLS Web Client Authentication' &&
    '$OPENSSL' pkey -in '$PKI/tls-client.key' -noout -text |
    grep -q 'NIST CURVE: P-256'"
expect "init: newroot.pem is self-signed CN=cmpd Test Root CA 2" \
    cert_is "$PKI/newroot.pem" "$PKI/newroot.pem" "$PKI/newroot.pem" \
    "/CN=cmpd Test Root CA 2"
expect "init: newwithold.pem: the new root's name and key under root.pem" \
    cert_is "$PKI/newwithold.pem" "$PKI/root.pem" "$PKI/newroot.pem" \
    "/CN=cmpd Test Root CA 2"
expect "init: oldwithnew.pem: the old root's name and key under newroot" \
    cert_is "$PKI/oldwithnew.pem" "$PKI/newroot.pem" "$PKI/root.pem" \
    "/CN=cmpd Test Root CA"
expect "init: newwithold.pem does not verify under newroot alone" \
    bash -c "! '$OPENSSL' verify -CAfile '$PKI/newroot.pem' \
    '$PKI/newwithold.pem' >/dev/null 2>&1"
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

# 11. Short-lived certificates: with --validity-seconds N under a day,
# notBefore is 1 s before issuing and notAfter N s after it; from a day on,
# notBefore is 5 minutes before.
epoch_of() { # CERT startdate|enddate
	date -d "$("$OPENSSL" x509 -in "$1" -noout -"$2" | cut -d= -f2)" +%s
}
lifetime_test() { # N EXPECTED-LIFETIME EXPECTED-BACKDATE
	local rc t0 t1 nb na
	start_server "valid$1" --validity-seconds "$1" || return 1
	t0=$(date +%s)
	cmpreq "valid$1.log" -cmd ir -cert "$PKI/supplier.pem" \
	    -key "$PKI/supplier.key" -newkey "$W/ir1.key" \
	    -subject "/CN=short $1" -certout "$W/valid$1.pem"
	rc=$?
	t1=$(date +%s)
	stop_server "$SERVER_PID" || return 1
	nb=$(epoch_of "$W/valid$1.pem" startdate)
	na=$(epoch_of "$W/valid$1.pem" enddate)
	[ "$rc" = 0 ] && [ $((na - nb)) = "$2" ] &&
	    [ "$nb" -ge $((t0 - $3)) ] && [ "$nb" -le $((t1 - $3)) ]
}
expect "11 --validity-seconds 10: lifetime 11 s from 1 s before issuing" \
    lifetime_test 10 11 1
expect "11 --validity-seconds 86400: lifetime a day and 5 minutes" \
    lifetime_test 86400 86700 300

# 12. HTTPS with tls-server.pem; clients trust tls-root.pem.
expect "12 serve over HTTPS starts" start_server tls \
    --tls-cert "$PKI/tls-server.pem" --tls-key "$PKI/tls-server.key"
TLS_PID=$SERVER_PID
newkey "$W/tls.key" EC ec_paramgen_curve:P-256
cmpreq_tls tls.log 127.0.0.1 -cmd ir -cert "$PKI/supplier.pem" \
    -key "$PKI/supplier.key" -newkey "$W/tls.key" -subject "/CN=tls" \
    -certout "$W/tls.pem"
expect "12 IR over https://127.0.0.1: exit 0" [ $? = 0 ]
expect "12 IR over https://127.0.0.1: ir/ip/certConf/pkiConf" \
    enrolled tls.log IR IP
expect "12 IR over https://127.0.0.1: certificate" \
    cert_ok "$W/tls.pem" "$W/tls.key"
cmpreq_tls tlsname.log localhost -cmd genm -cert "$PKI/supplier.pem" \
    -key "$PKI/supplier.key" -infotype caCerts
expect "12 genm over https://localhost: exit 0" [ $? = 0 ]
"$OPENSSL" cmp -server "https://127.0.0.1:$PORT/pkix/" -tls_used \
    -tls_trusted "$PKI/root.pem" -trusted "$PKI/root.pem" -cmd genm \
    -cert "$PKI/supplier.pem" -key "$PKI/supplier.key" -infotype caCerts \
    >"$W/tlsbad.log" 2>&1
expect "12 a wrong TLS anchor: refused" [ $? != 0 ]
expect "12 a wrong TLS anchor: certificate verify failed" \
    grep -q "certificate verify failed" "$W/tlsbad.log"
cmpreq tlsplain.log -cmd genm -cert "$PKI/supplier.pem" \
    -key "$PKI/supplier.key" -infotype caCerts
expect "12 plain HTTP to the HTTPS port: refused" [ $? != 0 ]
expect "12 HTTPS server stops cleanly" stop_server "$TLS_PID"

# 13. HTTPS requiring a client certificate chained to tls-root.pem.
expect "13 serve with --tls-client-ca starts" start_server mtls \
    --tls-cert "$PKI/tls-server.pem" --tls-key "$PKI/tls-server.key" \
    --tls-client-ca "$PKI/tls-root.pem"
MTLS_PID=$SERVER_PID
mtls_genm() { # LOG [TLS CLIENT OPTIONS]
	local log=$1
	shift
	cmpreq_tls "$log" 127.0.0.1 "$@" -cmd genm \
	    -cert "$PKI/supplier.pem" -key "$PKI/supplier.key" \
	    -infotype caCerts
}
mtls_genm mtls0.log
expect "13 no client certificate: refused" [ $? != 0 ]
expect "13 no client certificate: the CA logs why" grep -q \
    "TLS: handshake refused: client certificate: No certificate was found" \
    "$W/mtls.log"
cmpreq_tls mtls1.log 127.0.0.1 -tls_cert "$PKI/tls-client.pem" \
    -tls_key "$PKI/tls-client.key" -cmd ir -cert "$PKI/supplier.pem" \
    -key "$PKI/supplier.key" -newkey "$W/tls.key" -subject "/CN=mtls" \
    -certout "$W/mtls.pem"
expect "13 tls-client.pem: IR exit 0" [ $? = 0 ]
expect "13 tls-client.pem: certificate" cert_ok "$W/mtls.pem" "$W/tls.key"
mtls_genm mtls2.log -tls_cert "$PKI/supplier.pem" \
    -tls_key "$PKI/supplier.key"
expect "13 a client certificate of another CA: refused" [ $? != 0 ]
expect "13 a client certificate of another CA: the CA logs why" \
    grep -q "client certificate: .*issuer is unknown" "$W/mtls.log"
mtls_genm mtls3.log -tls_cert "$PKI/tls-server.pem" \
    -tls_key "$PKI/tls-server.key"
expect "13 a certificate without clientAuth: refused" [ $? != 0 ]
expect "13 a certificate without clientAuth: the CA logs why" grep -q \
    "client certificate: .*does not match the intended purpose" \
    "$W/mtls.log"
sclient() { # ARGS...: GET / over TLS; prints what the server answers
	printf 'GET /pkix/ HTTP/1.1\r\nHost: x\r\n\r\n' |
	    timeout 10 "$OPENSSL" s_client -quiet -connect "127.0.0.1:$PORT" \
		-CAfile "$PKI/tls-root.pem" -verify_return_error "$@" 2>/dev/null
}
sclient -tls1_2 >/dev/null
expect "13 s_client TLS 1.2 without a certificate: handshake fails" [ $? != 0 ]
expect "13 s_client TLS 1.3 without a certificate: no answer" \
    [ -z "$(sclient -tls1_3)" ]
expect "13 s_client TLS 1.3 with tls-client.pem: answered" bash -c \
    "[ \"\$(printf 'GET /pkix/ HTTP/1.1\r\nHost: x\r\n\r\n' |
    timeout 10 '$OPENSSL' s_client -quiet -connect 127.0.0.1:$PORT \
    -CAfile '$PKI/tls-root.pem' -tls1_3 -cert '$PKI/tls-client.pem' \
    -key '$PKI/tls-client.key' 2>/dev/null | head -1 | tr -d '\r')\" = \
    'HTTP/1.1 405 Method Not Allowed' ]"
expect "13 client-certificate server stops cleanly" stop_server "$MTLS_PID"
PORT=$(cat "$W/main.port")

# 14. genm rootCaKeyUpdate and certReqTemplate. OpenSSL 3.0's CLI cannot
# send id-it-rootCaCert; it asks with id-it-rootCaKeyUpdate, answered alike.
genm_value_hex() { # LOG INFOTYPE: runs the genm; prints the genp in hex
	cmpreq "$1" -cmd genm -cert "$W/cr.pem" -key "$W/cr.key" \
	    -infotype "$2" -rspout "$W/$1.der" &&
	    od -An -v -tx1 "$W/$1.der" | tr -d ' \n'
}
contains() { # HAYSTACK NEEDLE
	[[ "$1" == *"$2"* ]]
}
GENP=$(genm_value_hex rootupd.log rootCaKeyUpdate)
expect "14 genm rootCaKeyUpdate: exit 0, id-it-rootCaKeyUpdate" grep -q \
    "genp contains ITAV of type: id-it-rootCaKeyUpdate" "$W/rootupd.log"
UPD="$(der_hex "$PKI/newroot.pem")$(tlv_head a0 "$PKI/newwithold.pem")"
UPD="$UPD$(der_hex "$PKI/newwithold.pem")"
UPD="$UPD$(tlv_head a1 "$PKI/oldwithnew.pem")$(der_hex "$PKI/oldwithnew.pem")"
UPD="$(printf '3082%04x' $((${#UPD} / 2)))$UPD"
expect "14 value: SEQUENCE { newroot, [0] newwithold, [1] oldwithnew }" \
    contains "$GENP" "$UPD"
GENP=$(genm_value_hex tmpl.log certReqTemplate)
expect "14 genm certReqTemplate: exit 0, id-it-certReqTemplate" grep -q \
    "genp contains ITAV of type: id-it-certReqTemplate" "$W/tmpl.log"
# The ITAV's lines, up to the PKIMessage's protection (depth 1).
"$OPENSSL" asn1parse -inform DER -in "$W/tmpl.log.der" |
    sed -n '/:id-it-certReqTemplate$/,/:d=1 /p' >"$W/tmpl.asn1"
in_order() { # FILE PATTERN...: lines match the patterns in this order
	local rest
	rest=$(cat "$1")
	shift
	for pat in "$@"; do
		printf '%s\n' "$rest" | grep -q -- "$pat" || return 1
		rest=$(printf '%s\n' "$rest" | sed -n "/$pat/,\$p" | tail -n +2)
	done
}
expect "14 template: subject O=cmpd test, empty subjectAltName, keySpec" \
    in_order "$W/tmpl.asn1" "cont \[ 5 \]" ":organizationName" \
    ":cmpd test" "cont \[ 9 \]" ":X509v3 Subject Alternative Name" \
    "l= *0 prim: OCTET STRING" ":1.3.6.1.5.5.7.5.1.11" ":id-ecPublicKey" \
    ":prime256v1"

expect "14 serve --bad-root-update --no-template starts" start_server bad \
    --bad-root-update --no-template
BAD_PID=$SERVER_PID
GENP=$(genm_value_hex badupd.log rootCaKeyUpdate)
expect "14 --bad-root-update: newroot and oldwithnew as they are" bash -c \
    "[[ '$GENP' == *'$(der_hex "$PKI/newroot.pem")'* &&
    '$GENP' == *'$(der_hex "$PKI/oldwithnew.pem")'* ]]"
expect "14 --bad-root-update: newWithOld is not newwithold.pem" \
    bash -c "[[ '$GENP' != *'$(der_hex "$PKI/newwithold.pem")'* ]]"
# The forged newWithOld: after newroot, a0 82 LL LL, then the certificate.
rest=${GENP#*"$(der_hex "$PKI/newroot.pem")a082"}
"$OPENSSL" asn1parse -inform DER -in "$W/badupd.log.der" -noout \
    -offset $(((${#GENP} - ${#rest}) / 2 + 2)) -out "$W/forged.der"
"$OPENSSL" x509 -inform DER -in "$W/forged.der" -out "$W/forged.pem"
expect "14 --bad-root-update: newWithOld names the root as its issuer" \
    bash -c "[ \"\$('$OPENSSL' x509 -in '$W/forged.pem' -noout -issuer)\" = \
    \"\$('$OPENSSL' x509 -in '$PKI/root.pem' -noout -subject |
    sed s/^subject/issuer/)\" ]"
expect "14 --bad-root-update: newWithOld does not verify under root.pem" \
    bash -c "! '$OPENSSL' verify -CAfile '$PKI/root.pem' '$W/forged.pem' \
    >'$W/forged.verify' 2>&1 && grep -q 'signature failure' \
    '$W/forged.verify'"
genm_value_hex notmpl.log certReqTemplate >/dev/null
expect "14 --no-template: id-it-certReqTemplate without a value" bash -c \
    "grep -q 'genp contains ITAV of type: id-it-certReqTemplate' \
    '$W/notmpl.log' && ! '$OPENSSL' asn1parse -inform DER \
    -in '$W/notmpl.log.der' | grep -q 1.3.6.1.5.5.7.5.1.11"
expect "14 --bad-root-update server stops cleanly" stop_server "$BAD_PID"
expect "14 serve --no-root-update starts" start_server noupd --no-root-update
NOUPD_PID=$SERVER_PID
GENP=$(genm_value_hex noupd.log rootCaKeyUpdate)
expect "14 --no-root-update: id-it-rootCaKeyUpdate without a value" \
    bash -c "grep -q 'genp contains ITAV of type: id-it-rootCaKeyUpdate' \
    '$W/noupd.log' && [[ '$GENP' != *'$(der_hex "$PKI/newroot.pem")'* ]]"
expect "14 --no-root-update server stops cleanly" stop_server "$NOUPD_PID"

# 15. --refuse: each request type gets badRequest "refused by --refuse".
expect "15 serve --refuse (all six) starts" start_server refuse \
    --refuse ir --refuse cr --refuse kur --refuse p10cr --refuse rr \
    --refuse genm
REFUSE_PID=$SERVER_PID
refused() { # LOG ARGS...: the request fails with the CA's refusal
	cmpreq "$@" && return 1
	grep -q 'badRequest; StatusString: "refused by --refuse"' "$W/$1"
}
expect "15 ir refused" refused refir.log -cmd ir -cert "$PKI/supplier.pem" \
    -key "$PKI/supplier.key" -newkey "$W/cr.key" -subject "/CN=x" \
    -certout "$W/refir.pem"
expect "15 cr refused" refused refcr.log -cmd cr -cert "$W/cr.pem" \
    -key "$W/cr.key" -newkey "$W/cr.key" -subject "/CN=x" \
    -certout "$W/refcr.pem"
expect "15 kur refused" refused refkur.log -cmd kur -cert "$W/cr.pem" \
    -key "$W/cr.key" -newkey "$W/kur.key" -certout "$W/refkur.pem"
expect "15 p10cr refused" refused refp10.log -cmd p10cr -csr "$W/p10.csr" \
    -cert "$W/cr.pem" -key "$W/cr.key" -certout "$W/refp10.pem"
expect "15 rr refused" refused refrr.log -cmd rr -oldcert "$W/kur.pem" \
    -cert "$W/cr.pem" -key "$W/cr.key" -revreason 1
expect "15 genm refused (an error message)" refused refgenm.log -cmd genm \
    -cert "$W/cr.pem" -key "$W/cr.key" -infotype caCerts
expect "15 nothing was issued or revoked" bash -c "[ ! -e '$W/refir.pem' ] &&
    ! grep -q '^$(serial_of "$W/kur.pem") ' '$PKI/revoked.txt'"
expect "15 the CA logs the refusals" \
    grep -q "rr -> rp: rejected: refused by --refuse" "$W/refuse.log"
expect "15 --refuse server stops cleanly" stop_server "$REFUSE_PID"
expect "15 --refuse with an unknown type: usage error (2)" bash -c \
    "'$TESTCA' serve '$PKI' --refuse certConf 2>/dev/null; [ \$? = 2 ]"
PORT=$(cat "$W/main.port")

# 16. A restart on the same port, at once, keeps what was issued and
# revoked. The server closes a connection the client keeps open when it
# stops, which leaves that connection on the port (FIN_WAIT2): binding
# again needs SO_REUSEADDR.
lingers() { # PORT: a socket on 127.0.0.1:PORT that does not listen
	local hex
	hex=$(printf '0100007F:%04X' "$1")
	awk -v p="$hex" '$2 == p && $4 != "0A" { f = 1 } END { exit !f }' \
	    /proc/net/tcp
}
expect "16 serve starts" start_server same
SAME_PID=$SERVER_PID
SAME_PORT=$PORT
newkey "$W/same.key" EC ec_paramgen_curve:P-256
cmpreq same.log -cmd ir -cert "$PKI/supplier.pem" -key "$PKI/supplier.key" \
    -newkey "$W/same.key" -subject "/CN=same" -certout "$W/same.pem"
expect "16 IR before the restart: exit 0" [ $? = 0 ]
exec 3<>"/dev/tcp/127.0.0.1/$SAME_PORT"
printf 'GET /pkix/ HTTP/1.1\r\nHost: x\r\n\r\n' >&3
read -r -t 5 line <&3
expect "16 a kept-alive connection is open" [ "${line%$'\r'}" = \
    "HTTP/1.1 405 Method Not Allowed" ]
expect "16 SIGTERM stops it" stop_server "$SAME_PID"
expect "16 the connection it closed lingers on the port" lingers "$SAME_PORT"
expect "16 serve --port $SAME_PORT again at once" \
    start_server_on "$SAME_PORT" same
SAME_PID=$SERVER_PID
cmpreq samerr.log -cmd rr -oldcert "$W/same.pem" -cert "$W/same.pem" \
    -key "$W/same.key" -revreason 4
expect "16 RR (superseded) of a certificate from before: exit 0" [ $? = 0 ]
expect "16 revoked.txt records serial and reason 4" \
    grep -qx "$(serial_of "$W/same.pem") 4" "$PKI/revoked.txt"
expect "16 the CA logs the reason by name" grep -q \
    "revoked $(serial_of "$W/same.pem") (reason 4 superseded)" \
    "$W/same.log"
newkey "$W/same2.key" EC ec_paramgen_curve:P-256
kur_revoked() { # LOG
	cmpreq "$1" -cmd kur -cert "$W/same.pem" -key "$W/same.key" \
	    -newkey "$W/same2.key" -certout "$W/$1.pem" && return 1
	grep -q "certRevoked.*certificate revoked" "$W/$1"
}
expect "16 KUR of the revoked certificate: certRevoked" kur_revoked samekur.log
expect "16 SIGTERM stops it again" stop_server "$SAME_PID"
expect "16 serve --port $SAME_PORT a third time" \
    start_server_on "$SAME_PORT" same
SAME_PID=$SERVER_PID
cmpreq samerr2.log -cmd rr -oldcert "$W/same.pem" -cert "$W/cr.pem" \
    -key "$W/cr.key" -revreason 1
expect "16 after another restart, RR again: already revoked" bash -c \
    "[ $? != 0 ] && grep -q 'certRevoked.*already revoked' '$W/samerr2.log'"
expect "16 after another restart, KUR: certRevoked" kur_revoked samekur2.log
expect "16 the restarted server stops cleanly" stop_server "$SAME_PID"
exec 3>&-
PORT=$(cat "$W/main.port")

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
