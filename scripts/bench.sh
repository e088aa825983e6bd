#!/usr/bin/env bash
# Builds the hot-path micro-benchmarks (test/bench: framing, batching into gather writes, buffer
# pool, metrics) in the release tree that scripts/demo.sh uses (build/release, CMAKE_BUILD_TYPE=Release,
# so -O3), runs them all, keeps Google Benchmark's JSON and prints one short table. Every
# benchmark is shown beside its family's `..._baseline` from the same run, as a ratio of times
# (2.00x: it takes twice as long as the baseline for the same work).
#   scripts/bench.sh [FILTER]            FILTER: a --benchmark_filter regex (default: all)
#   BENCH_MIN_TIME=2 scripts/bench.sh    seconds per benchmark (default 0.5)
#   BENCH_REPETITIONS=5 scripts/bench.sh repeat each benchmark; the table shows medians
#   BENCH_OUT=DIR                        where the JSON goes (default build/release/bench)
# Debian's libbenchmark reports itself as a debug build; that concerns only its own timing loop,
# not the code measured, which is built here with -O3.
set -euo pipefail
export LC_ALL=C # '.' as the decimal point in awk's printf
cd "$(dirname "$0")/.."
filter=${1:-.}
min_time=${BENCH_MIN_TIME:-0.5}
repetitions=${BENCH_REPETITIONS:-1}
out=${BENCH_OUT:-build/release/bench}
benches=(framing message_batch buffer_pool metrics)

scripts/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DFUNNEL_BUILD_TESTS=ON \
    -DFUNNEL_BUILD_BENCHMARKS=ON -DFUNNEL_SANITIZE= >/dev/null
targets=()
for b in "${benches[@]}"; do targets+=("funnel_${b}_bench"); done
cmake --build build/release -j "$(nproc)" --target "${targets[@]}"

mkdir -p "$out"
jsons=()
for b in "${benches[@]}"; do
    echo "running funnel_${b}_bench (console output in $out/$b.txt)"
    args=(--benchmark_filter="$filter" --benchmark_min_time="$min_time"
          --benchmark_out="$out/$b.json" --benchmark_out_format=json)
    [ "$repetitions" -gt 1 ] &&
        args+=(--benchmark_repetitions="$repetitions" --benchmark_report_aggregates_only=true)
    "build/release/test/bench/funnel_${b}_bench" "${args[@]}" >"$out/$b.txt" 2>&1 ||
        { cat "$out/$b.txt"; exit 1; }
    if grep -q "ERROR OCCURRED" "$out/$b.txt"; then # a benchmark's own check failed
        grep "ERROR OCCURRED" "$out/$b.txt" >&2
        exit 1
    fi
    jsons+=("$out/$b.json")
done

# The table. A benchmark NAME/ARGS is compared with PREFIX_baseline/ARGS, PREFIX being NAME or
# NAME with trailing _words taken off (pool_cross_thread_queue_only -> pool_cross_thread).
awk '
function value(line) { sub(/^[^:]*: */, "", line); sub(/,$/, "", line); gsub(/"/, "", line); return line }
function fmt_ns(v) {
    return v >= 1e6 ? sprintf("%.2f ms", v / 1e6) : v >= 1e3 ? sprintf("%.2f us", v / 1e3) : sprintf("%.2f ns", v)
}
function flush() {
    if (name == "" || skip) { name = ""; return }
    if (unit == "us") t *= 1e3; else if (unit == "ms") t *= 1e6; else if (unit == "s") t *= 1e9
    n++; names[n] = name; ns[name] = t; bps[name] = bytes; ips[name] = items; pb[name] = batch; name = ""
}
/^ *"name": / { flush(); name = value($0); skip = 0; t = 0; unit = "ns"; bytes = ""; items = ""; batch = "" }
/^ *"run_type": "aggregate"/ { agg = 1 }
/^ *"aggregate_name": / { if (value($0) != "median") skip = 1; else sub(/_median$/, "", name) }
/^ *"real_time": / { t = value($0) + 0 }
/^ *"time_unit": / { unit = value($0) }
/^ *"bytes_per_second": / { bytes = value($0) + 0 }
/^ *"items_per_second": / { items = value($0) + 0 }
/^ *"per_batch": / { batch = value($0) * 1e9 }
/^ *"num_cpus": / && !cpus { cpus = value($0) }
/^ *"mhz_per_cpu": / && !mhz { mhz = value($0) }
END {
    flush()
    printf "%d CPUs at %s MHz; real time per iteration; per item = per message (framing, batch_build,\n", cpus, mhz
    printf "drop_acknowledged), per batch (gather), per block (pool); per batch = per 64 KiB read in\n"
    printf "batch_build (one batch per read); vs baseline = time / baseline time, same work\n\n"
    printf "%-48s %11s %10s %11s %9s %11s\n", "benchmark", "time", "per item", "per batch", "GiB/s", "vs baseline"
    for (i = 1; i <= n; i++) {
        nm = names[i]; slash = index(nm, "/")
        base = slash ? substr(nm, 1, slash - 1) : nm; args = slash ? substr(nm, slash) : ""
        ratio = "-"
        if (base !~ /_baseline$/) {
            prefix = base
            while (prefix != "") {
                if ((prefix "_baseline" args) in ns) {
                    r = ns[nm] / ns[prefix "_baseline" args]
                    ratio = sprintf(r >= 10 ? "%.1fx" : r >= 0.1 ? "%.2fx" : "%.3fx", r); break
                }
                if (!sub(/_[^_]*$/, "", prefix)) break
            }
        }
        per = ips[nm] != "" && ips[nm] > 0 ? fmt_ns(1e9 / ips[nm]) : "-"
        gib = bps[nm] != "" ? sprintf("%.2f", bps[nm] / 1073741824) : "-"
        tm = fmt_ns(ns[nm])
        batch = pb[nm] != "" ? fmt_ns(pb[nm]) : "-"
        printf "%-48s %11s %10s %11s %9s %11s\n", nm, tm, per, batch, gib, ratio
    }
}' "${jsons[@]}"
echo
echo "JSON: ${jsons[*]}"
