#!/usr/bin/env bash
# Installs, with apt-get, what building and testing funnel needs on Debian 12 and is missing.
# Extra package names given as arguments are installed too (the demo adds socat). The argument
# "bench" stands for what scripts/loadtest.sh and scripts/compare.sh run beside funnel: the
# peers (HAProxy, nginx and its stream module, socat, carbon-c-relay, rsyslog), gnuplot, procps.
# The argument "test" stands for what scripts/test.sh needs beyond the build: clang-14 and
# libclang-rt-14-dev (libFuzzer and clang's sanitizer runtimes: scripts/fuzz.sh), yamllint and
# systemd's systemd-analyze (scripts/deploy-check.sh). The Dockerfile's build needs none of them.
set -euo pipefail

extra=()
for a in "$@"; do
    case $a in
        bench) extra+=(haproxy nginx libnginx-mod-stream socat carbon-c-relay rsyslog gnuplot-nox
                       procps python3) ;;
        test) extra+=(clang-14 libclang-rt-14-dev yamllint systemd) ;;
        *) extra+=("$a") ;;
    esac
done
packages=(g++ cmake ninja-build pkg-config libboost1.81-dev libboost-program-options1.81-dev
          libspdlog-dev libgtest-dev libgmock-dev libbenchmark-dev "${extra[@]}")
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
