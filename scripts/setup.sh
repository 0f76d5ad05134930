#!/usr/bin/env bash
# One idempotent set-up step for npm start, npm test, npm run bench, .ci/run and the
# Dockerfile: installs missing Debian packages and node modules, and rebuilds the
# addon and the TypeScript only when their sources changed. A no-op run takes < 1 s.
# `--runtime` (the Dockerfile) installs only what building and running memswitchd
# needs: no test peers (DPDK, podman, containerd, cnitool, iperf3), no C++ unit tests, no testing addon.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNTIME_ONLY=0
BENCH=0
[ "${1:-}" = --runtime ] && RUNTIME_ONLY=1
[ "${1:-}" = --bench ] && BENCH=1

# Building the addon (and better-sqlite3 from source when no prebuilt binary can be
# fetched: python3 for node-gyp), and what memswitchd runs: iproute2/ethtool (veth
# set-up), util-linux's nsenter, libxdp/libbpf (AF_XDP), libpcap (capture filters).
APT_PACKAGES=(cmake g++ make ninja-build pkg-config python3 libxdp-dev libbpf-dev libpcap-dev iproute2 ethtool util-linux)
# Tests and benchmarks: their peers and tools.
((RUNTIME_ONLY)) || APT_PACKAGES+=(libgtest-dev dpdk dpdk-dev iperf3 iputils-ping golang-go golang-github-appc-cni-dev containernetworking-plugins podman runc containerd docker.io busybox-static tshark tcpdump)
# `--bench` (npm run bench): OVS-DPDK, the vSwitch peer of the memif comparison (only
# then: it is large; the benchmark starts its own ovsdb-server and ovs-vswitchd), and
# nftables, the kernel's side of the ACL comparison.
((BENCH)) && APT_PACKAGES+=(openvswitch-switch-dpdk nftables)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  if [ "$(id -u)" != 0 ]; then
    echo "setup: these packages are missing and installing them needs root: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # No package starts its service here (docker.io's init script would run a dockerd that
  # sets up a bridge and iptables rules): tests start their own daemons.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# libxdp needs bpffs for its dispatcher, which lets our XDP program share a netdev with
# others; without it, it falls back to one program per netdev.
if [ "$(id -u)" = 0 ] && ! mountpoint -q /sys/fs/bpf; then
  mount -t bpf bpf /sys/fs/bpf 2>/dev/null || echo "setup: could not mount bpffs on /sys/fs/bpf" >&2
fi

mkdir -p .stamps build
# A step reruns when the hash of its inputs differs from the one its last success
# recorded, or when its output is missing.
hash_of() { find "$@" -type f -not -path '*/node_modules/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1; }
stale() { # name output inputs...
  local name=$1 output=$2; shift 2
  current_hash=$(hash_of "$@")
  [ ! -e "$output" ] || [ "$(cat ".stamps/$name" 2>/dev/null)" != "$current_hash" ]
}
record() { echo "$current_hash" > ".stamps/$1"; }

if stale npm node_modules/.package-lock.json package.json package-lock.json; then
  echo "setup: installing node modules" >&2
  # Exactly what the lock file says (npm ci), so the checkout stays as it was cloned.
  npm ci --no-audit --no-fund --loglevel=error
  record npm
fi

if stale addon build/addon/Release/memswitch.node native; then
  echo "setup: building the native addon" >&2
  tests=ON
  ((RUNTIME_ONLY)) && tests=OFF
  npx cmake-js compile --directory native --out build/addon --parallel "$(nproc)" --CDMEMSWITCH_TESTS=$tests >build/addon-build.log 2>&1 \
    || { tail -50 build/addon-build.log >&2; echo "setup: addon build failed (full log: build/addon-build.log)" >&2; exit 1; }
  record addon
fi

if stale ts dist/orchestrator/src/main.js orchestrator bench tsconfig.json; then
  echo "setup: compiling TypeScript" >&2
  rm -rf dist
  npx tsc -p tsconfig.json
  record ts
fi

# The CNI plugin: one bundled JS file (cheap start-up: no type checking, one read).
if stale cni dist/cni/memswitch-cni.cjs cni protos scripts/build-cni.mjs; then
  echo "setup: bundling the CNI plugin" >&2
  node scripts/build-cni.mjs
  record cni
fi

# cnitool (libcni's client) for the CNI tests, built offline from Debian's source package.
# Needs the network once (apt-get source); without it the cnitool test fails, saying so.
if ((!RUNTIME_ONLY)) && [ "$(id -u)" = 0 ]; then scripts/install-cnitool.sh || echo "setup: could not build cnitool; the cnitool test will fail" >&2; fi
