#!/usr/bin/env bash
# funnel beside the relays a user would pick instead, on this machine, in one run: every scenario
# through every relay, several repetitions, interleaved, each one a scripts/loadtest.sh --json
# run; then medians, a Markdown table with the ratios funnel/peer and relay/direct, and plots.
#
#   scripts/compare.sh [--reps 3] [--scenarios "stream-1 stream-64 lines-16 lines-512 length-64 latency"]
#                      [--relays "direct funnel haproxy nginx socat carbon-c-relay rsyslog"]
#                      (funnel-wN: funnel --workers N, e.g. funnel-w0 beside funnel)
#                      [--out docs/bench] [--scale 1] [--peak R] [--workers N]
#                      [--max-minutes 90] [--no-install] [--no-build]
#
#   --reps N         repetitions of every (scenario, relay) pair (default 3); the order is
#                    repetition-major (all pairs once, then all again) and the relays' order turns
#                    by one each repetition, so that drift and noise spread over all of them
#   --scale F        passed to loadtest.sh: the scenarios' sizes times F (default 1)
#   --peak R         latency: the peak rate in messages/s; the runs use half of it. Default:
#                    measured once first (lines-16 through funnel), the same rate for every relay
#   --workers N      funnel --workers
#   --max-minutes M  start no run after M minutes (default 90); what was not run is reported so
#   --out DIR        where results.jsonl (every run's JSON line), results.md (the tables),
#                    throughput.dat, latency.dat and the PNG plots go (default docs/bench)
#
# Pairs that cannot be run are skipped: carbon-c-relay and rsyslog read lines only, so they take
# lines-16, lines-512 and latency. Installs what is missing (scripts/install-deps.sh bench, with
# apt-get), builds build/release once, then runs everything on loopback.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
source scripts/peers/peers.sh

reps=3
scenarios="stream-1 stream-64 lines-16 lines-512 length-64 latency"
relays="direct funnel haproxy nginx socat carbon-c-relay rsyslog"
out=docs/bench
scale=1
peak=""
workers=""
max_minutes=90
do_install=1
do_build=1
die() { echo "compare: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
    opt=$1
    case $opt in
        --no-install | --no-build | -h | --help) ;;
        *) [ $# -ge 2 ] || die "$opt needs a value"; val=$2; shift ;;
    esac
    shift
    case $opt in
        --reps) reps=$val ;;
        --scenarios) scenarios=$val ;;
        --relays) relays=$val ;;
        --out) out=$val ;;
        --scale) scale=$val ;;
        --peak) peak=$val ;;
        --workers) workers=$val ;;
        --max-minutes) max_minutes=$val ;;
        --no-install) do_install=0 ;;
        --no-build) do_build=0 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option '$opt' (see --help)" ;;
    esac
done
[ "$reps" -ge 1 ] 2>/dev/null || die "--reps must be a number, at least 1"
read -r -a scenario_list <<< "$scenarios"
read -r -a relay_list <<< "$relays"
for r in "${relay_list[@]}"; do
    case $r in funnel | funnel-w[0-9]* | direct) ;; *) [ -n "$(peer_packages "$r")" ] || die "unknown relay '$r'" ;; esac
done

kind_of() { # SCENARIO -> bulk, line or length
    case $1 in stream-*) echo bulk ;; length-*) echo length ;; *) echo line ;; esac
}
runs_pair() { # SCENARIO RELAY: whether the pair is run
    case $2 in funnel | funnel-w[0-9]* | direct) return 0 ;; esac
    peer_supports "$2" "$(kind_of "$1")"
}
# A rough guess of one run's seconds on 2 cores, start and stop included.
guess_seconds() { # SCENARIO RELAY
    local base slow=1 fixed=2
    case $1 in
        stream-1) base=2 ;; stream-64 | lines-16 | lines-512 | length-64) base=3 ;;
        latency) base=6 ;; *) base=3 ;;
    esac
    case $2 in
        rsyslog) slow=8; [ "$1" = latency ] && slow=4 ;;
        socat) slow=2 ;;
        carbon-c-relay) slow=8 ;; # about 0.35 M lines/s here, like rsyslog
    esac
    awk -v b="$base" -v s="$slow" -v f="$scale" -v x="$fixed" 'BEGIN { printf "%d", b * s * f + x }'
}

if [ "$do_install" = 1 ]; then
    peers_install bench
fi
if [ "$do_build" = 1 ]; then
    cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DFUNNEL_BUILD_TESTS=OFF >/dev/null
    cmake --build build/release -j "$(nproc)" --target funnel funnel-load funnel-sink
fi
mkdir -p "$out"
results=$out/results.jsonl
: > "$results"

pairs=0
estimate=0
for s in "${scenario_list[@]}"; do
    for r in "${relay_list[@]}"; do
        runs_pair "$s" "$r" || continue
        pairs=$((pairs + 1))
        estimate=$((estimate + $(guess_seconds "$s" "$r")))
    done
done
estimate=$((estimate * reps))
common=(--json --no-install --no-build --scale "$scale")
[ -n "$workers" ] && common+=(--workers "$workers")

start=$(date +%s)
if [[ " ${scenario_list[*]} " == *" latency "* ]] && [ -z "$peak" ]; then
    echo "measuring the peak for the latency scenario: lines-16 through funnel"
    line=$(scripts/loadtest.sh --relay funnel --scenario lines-16 "${common[@]}" || true)
    peak=$(python3 -c 'import json,sys; print(int(json.loads(sys.argv[1])["messages_per_second"]))' \
           "$line" 2>/dev/null) || die "could not measure the peak rate: $line"
fi
[ -n "$peak" ] && echo "latency scenario: $peak msgs/s peak, runs at half of it"
echo "$pairs pairs x $reps repetitions = $((pairs * reps)) runs; estimated $((estimate / 60)) min" \
     "$((estimate % 60)) s (at most $max_minutes min, then the rest is skipped)"

run=0
skipped=0
for rep in $(seq "$reps"); do
    # The relays' order turns by one each repetition.
    n=${#relay_list[@]}
    order=()
    for i in $(seq 0 $((n - 1))); do order+=("${relay_list[$(( (i + rep - 1) % n ))]}"); done
    for s in "${scenario_list[@]}"; do
        for r in "${order[@]}"; do
            runs_pair "$s" "$r" || continue
            if [ $(( $(date +%s) - start )) -ge $((max_minutes * 60)) ]; then
                skipped=$((skipped + 1))
                continue
            fi
            run=$((run + 1))
            args=(--relay "$r" --scenario "$s" "${common[@]}")
            [ "$s" = latency ] && args+=(--peak "$peak")
            t0=$(date +%s.%N)
            line=$(scripts/loadtest.sh "${args[@]}" 2> "$out/.last-stderr") && status=0 || status=$?
            t1=$(date +%s.%N)
            line=$(printf '%s\n' "$line" | tail -n 1)
            # Keep the line, with the repetition and the wall time added; a run that gave no JSON
            # is kept as an error line.
            line=$(python3 - "$line" "$rep" "$s" "$r" "$status" "$t0" "$t1" "$out/.last-stderr" <<'PY'
import json, sys
line, rep, scenario, relay, status, t0, t1, err = sys.argv[1:]
try:
    d = json.loads(line)
except ValueError:
    with open(err, errors="replace") as f:
        tail = f.read().strip().splitlines()[-3:]
    d = {"tool": "loadtest", "scenario": scenario, "relay": relay,
         "integrity": "error: " + " | ".join(tail) if tail else "error: no result"}
d["rep"] = int(rep)
d["exit_status"] = int(status)
d["wall_seconds"] = round(float(t1) - float(t0), 1)
print(json.dumps(d))
PY
)
            printf '%s\n' "$line" >> "$results"
            python3 -c '
import json, sys
d = json.loads(sys.argv[1])
l = d.get("latency_us") or {}
msgs = d.get("messages_per_second") or 0
print("[%3d] rep %d  %-10s %-15s %9.1f MB/s %8s  p99 %9s  %s  (%.0f s)" % (
    int(sys.argv[2]), d["rep"], d["scenario"], d["relay"], d.get("megabytes_per_second") or 0,
    ("%.3fM/s" % (msgs / 1e6)) if msgs else "", ("%.2f ms" % (l["p99"] / 1000)) if l.get("p99") else "-",
    d.get("integrity"), d.get("wall_seconds", 0)))' "$line" "$run"
        done
    done
done
rm -f "$out/.last-stderr"
elapsed=$(( $(date +%s) - start ))
echo "done: $run runs in $((elapsed / 60)) min $((elapsed % 60)) s; skipped for time: $skipped"

# ---- medians, the tables, the plot data -----------------------------------------------------
export CMP_OUT=$out CMP_SCENARIOS="${scenario_list[*]}" CMP_RELAYS="${relay_list[*]}" \
    CMP_REPS=$reps CMP_SCALE=$scale CMP_PEAK=$peak CMP_SKIPPED=$skipped CMP_ELAPSED=$elapsed \
    CMP_WORKERS=$workers
export CMP_COMMAND="scripts/compare.sh --reps $reps --scenarios \"${scenario_list[*]}\" --relays \"${relay_list[*]}\" --scale $scale${workers:+ --workers $workers}"
CMP_CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
CMP_CORES=$(nproc)
CMP_KERNEL=$(uname -r)
CMP_MEM=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
export CMP_CPU CMP_CORES CMP_KERNEL CMP_MEM
versions=""
for r in "${relay_list[@]}"; do
    case $r in
        direct) ;;
        funnel) versions+="$(build/release/app/funnel --version 2>/dev/null | head -1); " ;;
        funnel-w*) ;;
        *) versions+="$(peer_version "$r"); " ;;
    esac
done
export CMP_VERSIONS=${versions%; }
python3 - <<'PY'
import json, os, statistics
e = os.environ
out = e["CMP_OUT"]
scenarios, relays = e["CMP_SCENARIOS"].split(), e["CMP_RELAYS"].split()
runs = []
with open(f"{out}/results.jsonl") as f:
    for line in f:
        line = line.strip()
        if line:
            runs.append(json.loads(line))

def med(values):
    values = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(values) if values else None

agg = {}
for s in scenarios:
    for r in relays:
        rs = [x for x in runs if x.get("scenario") == s and x.get("relay") == r]
        if not rs:
            continue
        ok = [x for x in rs if x.get("integrity") == "ok"]
        lat = [x.get("latency_us") or {} for x in rs]
        a = {
            "runs": len(rs), "ok": len(ok),
            "mbps": med([x.get("megabytes_per_second") for x in rs]),
            "msgs": med([x.get("messages_per_second") for x in rs]) if rs[0].get("mode") != "bulk" else None,
            "p50": med([l.get("p50") for l in lat if l.get("p50")]),
            "p90": med([l.get("p90") for l in lat if l.get("p90")]),
            "p99": med([l.get("p99") for l in lat if l.get("p99")]),
            "p999": med([l.get("p999") for l in lat if l.get("p999")]),
            "max": med([l.get("max") for l in lat if l.get("max")]),
            "cpu_gb": med([x.get("cpu_seconds_per_gb") for x in rs]),
            "cpu_mmsg": med([x.get("cpu_seconds_per_million_messages") for x in rs]),
            "rss": med([x.get("peak_rss_mib") for x in rs]),
            "rate": med([x.get("rate") for x in rs]),
            "bulk": rs[0].get("mode") == "bulk",
            "fails": [x.get("integrity") for x in rs if x.get("integrity") != "ok"],
            "notes": [n for n in rs[0].get("notes", []) if not n.startswith("load side")],
            "stops": [x.get("relay_stop_seconds") for x in rs],
        }
        agg[(s, r)] = a

def f(v, fmt):
    return "–" if v is None else fmt.format(v)
def ms(v):
    return "–" if v is None else (f"{v / 1000:.2f} ms" if v < 100000 else f"{v / 1000:.0f} ms")
def ratio(a, b):
    return "–" if a in (None, 0) or b in (None, 0) else f"{a / b:.2f}"

lines = []
P = lines.append
P("# funnel and its peers: load-test comparison")
P("")
P(f"Machine: {e['CMP_CPU']}, {e['CMP_CORES']} cores, {e['CMP_MEM']}, Linux {e['CMP_KERNEL']}.  ")
P(f"Relays: {e['CMP_VERSIONS']}.  ")
P(f"Command: `{e['CMP_COMMAND']}` ({e['CMP_REPS']} repetition{'s' if e['CMP_REPS'] != '1' else ''}, interleaved; "
  f"{len(runs)} runs in {int(e['CMP_ELAPSED']) // 60} min"
  + (f"; {e['CMP_SKIPPED']} skipped for time" if e["CMP_SKIPPED"] != "0" else "") + ").  ")
P("Medians over the repetitions. Throughput is measured at the sink (what arrived, over its "
  "first-to-last-byte time; MB = 10^6 bytes); latency from the send time stamped in each message "
  "to its arrival; CPU is the relay's whole process tree (user + system) per GB and per million "
  "messages that arrived; peak RSS summed over its processes. Integrity: every message (bulk: "
  "byte) arrived once, in order and intact, in every repetition (funnel-sink's verdict).  ")
P("funnel/peer: funnel's throughput divided by this relay's in the same scenario (above 1: funnel "
  "is faster). relay/direct: this relay's throughput divided by the load going straight into the "
  "sink (this machine's limit).")
P("")
P("| scenario | relay | MB/s | M msgs/s | p99 | CPU s/GB | CPU s/M msgs | peak RSS MiB | integrity | funnel/peer | relay/direct |")
P("|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|")
for s in scenarios:
    fun = agg.get((s, "funnel"), {}).get("mbps")
    direct = agg.get((s, "direct"), {}).get("mbps")
    for r in relays:
        a = agg.get((s, r))
        if not a:
            continue
        integ = "ok" if not a["fails"] else f"**FAIL** {len(a['fails'])}/{a['runs']}: {a['fails'][0].removeprefix('fail: ')}"
        if s == "latency":
            fp, rd = "–", "–"
        else:
            fp = "–" if r == "funnel" else ratio(fun, a["mbps"])
            rd = "–" if r == "direct" else ratio(a["mbps"], direct)
        P(f"| {s} | {r} | {f(a['mbps'], '{:.1f}')} | "
          f"{f(a['msgs'] / 1e6 if a['msgs'] else None, '{:.3f}')} | {ms(a['p99'])} | "
          f"{f(a['cpu_gb'], '{:.2f}')} | {f(a['cpu_mmsg'], '{:.3f}')} | {f(a['rss'], '{:.1f}')} | "
          f"{integ} | {fp} | {rd} |")
if "latency" in scenarios:
    P("")
    peak = e.get("CMP_PEAK")
    P(f"Latency scenario: 16 connections of 100-byte lines at a fixed total rate"
      + (f" of {int(float(peak) / 2)} msgs/s (half of funnel's measured lines-16 peak, {peak} msgs/s)" if peak else "")
      + ". p99 ratio: this relay's p99 over funnel's (above 1: funnel's tail is shorter).")
    P("")
    P("| relay | rate msgs/s | p50 | p90 | p99 | p99.9 | max | p99 relay/funnel | integrity |")
    P("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    fp99 = agg.get(("latency", "funnel"), {}).get("p99")
    for r in relays:
        a = agg.get(("latency", r))
        if not a:
            continue
        integ = "ok" if not a["fails"] else f"**FAIL** {len(a['fails'])}/{a['runs']}"
        P(f"| {r} | {f(a['rate'], '{:.0f}')} | {ms(a['p50'])} | {ms(a['p90'])} | {ms(a['p99'])} | "
          f"{ms(a['p999'])} | {ms(a['max'])} | {'–' if r == 'funnel' else ratio(a['p99'], fp99)} | {integ} |")
notes = [(s, r, n) for (s, r), a in agg.items() for n in a["notes"]]
killed = [(s, r) for (s, r), a in agg.items() if "killed" in a["stops"]]
if notes or killed:
    P("")
    P("Notes (from the first repetition):")
    P("")
    for s, r, n in notes:
        P(f"- {s} / {r}: {n}")
    for s, r in killed:
        P(f"- {s} / {r}: the relay did not exit within 5 s of SIGTERM and was killed")
md = "\n".join(lines) + "\n"
with open(f"{out}/results.md", "w") as fh:
    fh.write(md)
print(md)

# Plot data: MB/s per scenario (rows) and relay (columns); latency percentiles in ms per relay.
with open(f"{out}/throughput.dat", "w") as fh:
    fh.write("scenario " + " ".join(relays) + "\n")
    for s in scenarios:
        if s == "latency":
            continue
        vals = [agg.get((s, r), {}).get("mbps") for r in relays]
        fh.write(s + " " + " ".join("NaN" if v is None else f"{v:.1f}" for v in vals) + "\n")
with open(f"{out}/latency.dat", "w") as fh:
    if "latency" in scenarios:
        fh.write("relay p50 p90 p99 p99.9\n")
        for r in relays:
            a = agg.get(("latency", r))
            if a and a["p99"]:
                fh.write(r + " " + " ".join(f"{a[k] / 1000:.3f}" for k in ("p50", "p90", "p99", "p999")) + "\n")
PY
if command -v gnuplot >/dev/null; then
    gnuplot -e "dir='$out'; subtitle='$(nproc) cores, scale $scale, medians of $reps'" scripts/plot.gnuplot &&
        echo "plots: $out/throughput.png$( [ -s "$out/latency.dat" ] && echo " $out/latency.png")"
else
    echo "gnuplot is missing: no plots (scripts/install-deps.sh bench installs it)" >&2
fi
echo "tables: $out/results.md; every run: $results"
