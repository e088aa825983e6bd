#!/usr/bin/env bash
# Builds funnel and runs the whole suite three times: a warnings-as-errors release build, then
# under ThreadSanitizer (the io thread and the pool share data; only TSan sees their races),
# then under AddressSanitizer + UndefinedBehaviorSanitizer. Then builds the libFuzzer targets
# with clang and runs each for FUNNEL_FUZZ_SECONDS (default 30; scripts/fuzz.sh). Then builds the
# Docker image with podman and checks it carries data, answers its health check and counts in
# /metrics (scripts/docker-check.sh; as root only, which podman needs here). After the release
# build it also runs the load-test script and checks the deployment files against the binary
# (scripts/deploy-check.sh). Prints each stage's duration.
#   scripts/test.sh             release, tsan, asan, fuzz, docker
#   FUNNEL_TEST_BUILDS="release tsan" scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

builds=${FUNNEL_TEST_BUILDS:-"release tsan asan fuzz docker"}
jobs=$(nproc)

stage() { # stage NAME COMMAND...
    local name=$1 start=$SECONDS
    shift
    echo "==> $name"
    "$@"
    echo "==> $name: $((SECONDS - start))s"
}

configure_and_test() { # NAME SANITIZE
    local dir=build/ci-$1
    stage "$1: configure" cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DFUNNEL_WARNINGS_AS_ERRORS=ON -DFUNNEL_SANITIZE="$2"
    stage "$1: build" cmake --build "$dir" -j "$jobs"
    stage "$1: test" ctest --test-dir "$dir" --output-on-failure -j "$jobs" --timeout 120
}

# The load-test script end to end on the release build: funnel-load through funnel into
# funnel-sink, both modes, small and bounded; it fails when anything was lost, duplicated,
# reordered or corrupted.
load_test() {
    local s
    for s in lines-512 stream-64; do
        scripts/loadtest.sh --scenario "$s" --scale 0.01 --no-build --bin-dir build/ci-release/app
    done
}

stage "install dependencies" scripts/install-deps.sh test
for b in $builds; do
    case $b in
        release) configure_and_test release ""
                 stage "release: load test" load_test
                 stage "release: deployment files" scripts/deploy-check.sh --bin-dir build/ci-release/app ;;
        tsan) TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" configure_and_test tsan thread ;;
        asan) ASAN_OPTIONS="detect_leaks=1" UBSAN_OPTIONS="print_stacktrace=1" \
                  configure_and_test asan address,undefined ;;
        fuzz) stage "fuzz: build" scripts/fuzz.sh --build-only
              stage "fuzz: run" scripts/fuzz.sh --run-only --seconds "${FUNNEL_FUZZ_SECONDS:-30}" ;;
        docker) if [ "$(id -u)" -eq 0 ]; then
                    stage "docker: image build and check" scripts/docker-check.sh
                else
                    echo "==> docker: skipped (podman needs root here; run scripts/docker-check.sh as root)"
                fi ;;
        *) echo "unknown build '$b' (release, tsan, asan, fuzz, docker)" >&2; exit 2 ;;
    esac
done
echo "all test builds passed: $builds"
