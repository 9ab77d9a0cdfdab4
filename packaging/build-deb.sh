#!/bin/sh
# Builds cmpd's Debian packages (cmpd, libcmpd-client0, libcmpd-client-dev)
# from this source tree with debhelper, and puts the .deb files in OUTDIR
# (default: ./debs). The tree is copied first (the files git knows or would
# add, so build directories stay out), with packaging/debian as debian/.
#   packaging/build-deb.sh [OUTDIR]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-debs}" && cd "${1:-debs}" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/cmpd-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

version=$(sed -n 's/^project(cmpd VERSION \([0-9.]*\).*/\1/p' \
	"$top/CMakeLists.txt")
src="$work/cmpd-$version"
mkdir "$src"
cd "$top"
if git ls-files --error-unmatch CMakeLists.txt >/dev/null 2>&1; then
	# A file deleted from the work tree but still in the index is skipped.
	git ls-files -z --cached --others --exclude-standard |
		tar --null -T - --ignore-failed-read -cf - 2>/dev/null |
		tar -xf - -C "$src"
else
	tar --exclude='./build*' --exclude=./.git -cf - . | tar -xf - -C "$src"
fi
cp -r packaging/debian "$src/debian"

# The packaged version is the project's (a native package).
changelog_version=$(sed -n '1s/^cmpd (\([^)]*\)).*/\1/p' "$src/debian/changelog")
if [ "$changelog_version" != "$version" ]; then
	echo "build-deb: debian/changelog says $changelog_version," \
		"CMakeLists.txt $version" >&2
	exit 1
fi

cd "$src"
dpkg-buildpackage -b -us -uc -j"$(nproc)"
cp "$work"/*.deb "$out"/
ls "$out"/*.deb
