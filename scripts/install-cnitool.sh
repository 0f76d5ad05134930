#!/usr/bin/env bash
# Builds cnitool (libcni's reference client) offline from Debian's golang-github-appc-cni
# source package, for the CNI tests: the -dev package excludes cnitool/, the orig tarball
# has it. Idempotent: does nothing when /usr/local/bin/cnitool exists. Needs golang-go and
# golang-github-appc-cni-dev (scripts/setup.sh installs them).
set -euo pipefail
OUT=${CNITOOL:-/usr/local/bin/cnitool}
[ -x "$OUT" ] && exit 0
if [ "$(id -u)" != 0 ]; then echo "install-cnitool: needs root (apt-get source, $OUT)" >&2; exit 1; fi

work=$(mktemp -d /tmp/cnisrc.XXXXXX)
src_list=/etc/apt/sources.list.d/zz-memswitch-debsrc.sources
cleanup() {
  rm -rf "$work"
  if [ -e "$src_list" ]; then rm -f "$src_list"; apt-get update -qq >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

# Only a deb-src entry for bookworm main, removed again afterwards.
cat > "$src_list" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
apt-get update -qq >/dev/null
(cd "$work" && apt-get source --download-only -qq golang-github-appc-cni >/dev/null)
tar -C "$work" -xf "$work"/golang-github-appc-cni_*.orig.tar.*
cd "$work"/golang-github-appc-cni-*/cnitool
GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$work/gocache" go build -o "$OUT" .
echo "install-cnitool: built $OUT" >&2
