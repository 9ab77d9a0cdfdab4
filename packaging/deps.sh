#!/bin/sh
# Installs what cmpd needs to build and test on Debian 12, with apt-get (as
# root, or through sudo). Packages already present are left alone, so a
# second run costs nothing.
set -eu

# libmicrohttpd-dev, libgnutls28-dev and tinyproxy serve the tests only: the
# test CA's HTTP(S) server and a real HTTP proxy that the networker's tests
# start on 127.0.0.1. libseccomp-dev builds the workers' seccomp filters and
# libsystemd-dev the readiness notification. scdoc builds the manual pages;
# debhelper, dpkg-dev and fakeroot the Debian packages, which the install
# test also checks with man-db and bash-completion. clang and its runtime
# build the libFuzzer targets.
packages="build-essential cmake pkg-config openssl libssl-dev libssl3
libuv1-dev libprotobuf-c-dev protobuf-c-compiler libnng-dev libcmocka-dev
libinih-dev libsqlite3-dev libjansson-dev libseccomp-dev
libmicrohttpd-dev libgnutls28-dev tinyproxy
libsystemd-dev scdoc debhelper dpkg-dev fakeroot man-db bash-completion
clang libclang-rt-14-dev"

# Earlier Debian 12 builds of OpenSSL carry client-side CMP CVEs.
min_ssl="3.0.22-1~deb12u2"

missing=""
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q "install ok installed" || missing="$missing $p"
done
have_ssl=$(dpkg-query -W -f='${Version}' libssl3 2>/dev/null || echo 0)
if ! dpkg --compare-versions "$have_ssl" ge "$min_ssl"; then
	missing="$missing libssl3 libssl-dev openssl"
fi
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
echo "installing:$missing"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
# Installing tinyproxy starts its system service, listening on every
# address; the tests run their own instance, so stop the one we caused.
case " $missing " in
*" tinyproxy "*)
	if command -v systemctl >/dev/null 2>&1 &&
		systemctl is-active --quiet tinyproxy 2>/dev/null; then
		$sudo systemctl disable --now tinyproxy || true
	fi ;;
esac
have_ssl=$(dpkg-query -W -f='${Version}' libssl3)
if ! dpkg --compare-versions "$have_ssl" ge "$min_ssl"; then
	echo "libssl3 $have_ssl is older than $min_ssl: enable bookworm-security" >&2
	exit 1
fi
