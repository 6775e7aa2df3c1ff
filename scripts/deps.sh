#!/usr/bin/env bash
# Install the Debian packages nsfast needs to build, test, demo and benchmark.
# Idempotent: only missing packages are installed, and apt is not touched when
# nothing is missing. Everything comes from Debian bookworm.
set -euo pipefail

# Build: compiler for BPF and user space, libraries the loader links against.
build="clang llvm make pkg-config libbpf-dev libxdp-dev bpftool libmnl-dev
libcjson-dev libelf-dev zlib1g-dev libcmocka-dev"
# Tests, demo and benchmark: traffic tools, the netfilter baseline and scapy;
# the CNI reference plugins (tuning, host-local) that the CNI tests chain
# with nsfast and delegate IPAM to.
tools="iproute2 iputils-ping iptables nftables conntrack ethtool iperf3 sockperf netsniff-ng
tcpdump tshark python3 python3-scapy gnuplot-nox xdp-tools
containernetworking-plugins jq"
# Quality gates (docs/guarantees.md): libFuzzer for clang 14 (`make fuzz`;
# compiler-rt ships libclang_rt.fuzzer), valgrind (`make valgrind`), the
# linters and the formatter (`make lint`, `make check-format`).
gates="libclang-rt-14-dev valgrind cppcheck clang-tidy clang-format"

missing=()
for pkg in $build $tools $gates; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages (${missing[*]}); run as root to install them" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
