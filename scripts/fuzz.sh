#!/usr/bin/env bash
# Builds the libFuzzer targets of test/fuzz (clang-14 with -fsanitize=fuzzer,address,undefined,
# in build/ci-fuzz) and runs each for a while over a copy of its seed corpus plus its
# regressions, so the committed corpus never grows by itself. Prints each target's duration and
# result; exits 1 when a target found a crash, and says where the input is and how to keep it.
#   scripts/fuzz.sh [--seconds N] [--build-only | --run-only] [TARGET...]
#   N: seconds per target (default 30). TARGET: frame_decoder, ... (default: every target that
#   has a directory in test/fuzz/corpus/). docs/fuzzing.md says more.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=30
build=1
run=1
targets=()
while [ $# -gt 0 ]; do
    case $1 in
        --seconds) seconds=${2:?--seconds needs a value}; shift ;;
        --build-only) run=0 ;;
        --run-only) build=0 ;;
        -h|--help) sed -n '2,8s/^# \{0,1\}//p' "$0"; exit 0 ;;
        -*) echo "fuzz.sh: unknown option '$1'" >&2; exit 2 ;;
        *) targets+=("$1") ;;
    esac
    shift
done
# Whole seconds, at least 1: libFuzzer's -max_total_time=0 would mean no limit at all.
case $seconds in
    ''|*[!0-9]*) echo "fuzz.sh: --seconds takes a whole number, not '$seconds'" >&2; exit 2 ;;
esac
if [ "$seconds" -lt 1 ]; then echo "fuzz.sh: --seconds must be at least 1" >&2; exit 2; fi
if [ ${#targets[@]} -eq 0 ]; then
    for d in test/fuzz/corpus/*/; do targets+=("$(basename "$d")"); done
fi

dir=build/ci-fuzz
cxx=${FUNNEL_FUZZ_CXX:-clang++-14}
if [ $build -eq 1 ]; then
    scripts/install-deps.sh test
    cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" \
        -DFUNNEL_BUILD_FUZZERS=ON -DFUNNEL_WARNINGS_AS_ERRORS=ON -DFUNNEL_BUILD_BENCHMARKS=OFF >/dev/null
    cmake --build "$dir" -j "$(nproc)" --target funnel_fuzzers
fi
[ $run -eq 1 ] || exit 0

# UBSan reports are fatal already (-fno-sanitize-recover=all); these make the report useful.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
work=$dir/runs
failed=()
for t in "${targets[@]}"; do
    bin=$dir/test/fuzz/fuzz_$t
    if [ ! -x "$bin" ] || [ ! -d "test/fuzz/corpus/$t" ]; then
        echo "fuzz.sh: no target '$t' (no $bin or no test/fuzz/corpus/$t)" >&2
        exit 2
    fi
    rm -rf "${work:?}/$t"
    mkdir -p "$work/$t/corpus" "$work/$t/crashes"
    cp test/fuzz/corpus/"$t"/* "$work/$t/corpus/"
    start=$SECONDS
    # The first directory is where libFuzzer adds what it finds: the copy. Regressions are read.
    if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/$t/crashes/" "$work/$t/corpus" "test/fuzz/regressions/$t" \
        >"$work/$t/log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t/log")
        echo "fuzz $t: ok, $((SECONDS - start))s, ${runs:-?} runs"
    else
        echo "fuzz $t: FAILED after $((SECONDS - start))s; the end of $work/$t/log:"
        tail -n 40 "$work/$t/log" | sed 's/^/    /'
        for input in "$work/$t"/crashes/*; do
            [ -e "$input" ] || continue
            echo "  crash input: $input"
            echo "  reproduce:   $bin $input"
            echo "  keep it:     cp $input test/fuzz/regressions/$t/NAME-SAYING-WHAT-IT-IS"
            echo "               then fix the bug; the fuzz-replay test runs it in every build"
            echo "               from then on (docs/fuzzing.md: minimize it first)"
        done
        failed+=("$t")
    fi
done
if [ ${#failed[@]} -ne 0 ]; then
    echo "fuzz: crashes in: ${failed[*]}"
    exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no crash"
