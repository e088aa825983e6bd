#!/usr/bin/env bash
# A soak test on loopback (not in CI: it takes half an hour by default). funnel in message mode
# in front of funnel-sink, for --minutes:
#   - a steady load: --steady connections sending lines at --rate messages/s for the whole run,
#   - churn: rounds of --churn short-lived connections (each connects, sends 20 lines, closes),
#     one round after the other, each round new client ids,
#   - the target restarts every --restart-every seconds (funnel-sink --restart-every: it stops
#     listening, closes every connection gracefully, stays down --down-for seconds),
# then reports integrity (every message sent arrived: lost, duplicated beyond what funnel counts
# as resent, reordered, corrupted) and funnel's RSS over time, which must stay flat: the mean of
# the last fifth of the samples at most --rss-growth % above the mean of the second fifth (the
# first is warm-up), plus --buffer-limit. The buffer pool's blocks are allocated untouched, and
# their pages become resident only as reads first fill them, so RSS may creep up by as much as
# the budget before it is flat; a small budget (the default here) keeps that allowance small,
# so that a leak shows. Exit 0 when both hold, 1 when not, 2 for a bad option.
#
#   scripts/soak.sh [--minutes 30] [--steady 200] [--rate 20000] [--churn 500]
#                   [--restart-every 60] [--down-for 2] [--buffer-limit-mib 8]
#                   [--rss-growth 10] [--spool overflow|always] [--bin-dir DIR] [--out DIR]
#
#   --spool MODE    give funnel a disk spool in the work dir (--spool-mode MODE): with a small
#                   --buffer-limit and the target's restarts, it spills and reads back all along
#   --bin-dir DIR   funnel, funnel-load and funnel-sink (default: build/release/app, built here)
#   --out DIR       keep the logs, the JSON results and rss.csv (seconds, KiB) there
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
root=$PWD

minutes=30 steady=200 rate=20000 churn=500 restart_every=60 down_for=2 rss_growth=10 budget_mib=8
spool_mode=
bin_dir="" out=""
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case $1 in
        --minutes) minutes=$2; shift 2 ;;
        --steady) steady=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --churn) churn=$2; shift 2 ;;
        --restart-every) restart_every=$2; shift 2 ;;
        --down-for) down_for=$2; shift 2 ;;
        --rss-growth) rss_growth=$2; shift 2 ;;
        --buffer-limit-mib) budget_mib=$2; shift 2 ;;
        --spool) spool_mode=$2; shift 2 ;;
        --bin-dir) bin_dir=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "soak: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done

if [ -z "$bin_dir" ]; then
    scripts/install-deps.sh >&2
    cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DFUNNEL_BUILD_TESTS=OFF >/dev/null
    cmake --build build/release -j "$(nproc)" --target funnel funnel-load funnel-sink >&2
    bin_dir=build/release/app
fi
case $bin_dir in /*) bin=$bin_dir ;; *) bin=$root/$bin_dir ;; esac
work=${out:-$(mktemp -d /tmp/funnel-soak.XXXXXX)}
mkdir -p "$work"
pids=()
cleanup() { local p; for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
seconds=$((minutes * 60))
echo "soak: $minutes min, $steady steady connections at $rate msg/s, churn rounds of $churn" \
     "connections, target restarts every ${restart_every}s (down ${down_for}s); work dir $work"

# The sink runs until told to stop; it reads until each sender closes.
"$bin/funnel-sink" --listen 127.0.0.1:0 --port-file "$work/sink.port" --mode line \
    --restart-every "$restart_every" --down-for "$down_for" --timeout $((seconds + 600)) \
    --result-file "$work/sink.json" >/dev/null 2>"$work/sink.err" &
sink_pid=$!
pids+=("$sink_pid")
for _ in $(seq 100); do [ -s "$work/sink.port" ] && break; sleep 0.1; done
sink_port=$(tr -d '\n' <"$work/sink.port")

spool_args=()
[ -z "$spool_mode" ] || spool_args=(--spool-dir "$work/spool" --spool-mode "$spool_mode")
"$bin/funnel" --listen 127.0.0.1:0 --target "127.0.0.1:$sink_port" --mode message \
    "${spool_args[@]}" \
    --buffer-limit "${budget_mib}MiB" --idle-timeout 30 --reconnect-backoff 50:1000 \
    --drain-timeout $((down_for + 30)) --stats-interval 60 >"$work/funnel.log" 2>&1 &
funnel_pid=$!
pids+=("$funnel_pid")
for _ in $(seq 100); do grep -qs "listening on" "$work/funnel.log" && break; sleep 0.1; done
listen=$(grep -os 'listening on [^, ]*' "$work/funnel.log" | head -1 | cut -d' ' -f3)
[ -n "$listen" ] || { cat "$work/funnel.log" >&2; exit 2; }

# The steady load (client ids 0 .. steady-1), for the whole run.
"$bin/funnel-load" --target "$listen" --connections "$steady" --rate "$rate" \
    --duration "$seconds" --result-file "$work/steady.json" >/dev/null 2>"$work/steady.err" &
steady_pid=$!
pids+=("$steady_pid")

# Churn rounds (client ids from 1000000 on, new ones each round), and RSS every 10 s.
echo "seconds,rss_kib" >"$work/rss.csv"
start=$SECONDS next_sample=0 round=0
while [ $((SECONDS - start)) -lt "$seconds" ]; do
    "$bin/funnel-load" --target "$listen" --connections "$churn" --messages 20 \
        --client-id-base $((1000000 + round * churn)) --result-file "$work/churn-$round.json" \
        >/dev/null 2>>"$work/churn.err" || true
    round=$((round + 1))
    if [ $((SECONDS - start)) -ge "$next_sample" ]; then
        rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$funnel_pid/status")
        echo "$((SECONDS - start)),$rss" >>"$work/rss.csv"
        printf '\rsoak: %4ds  rss %6d KiB  churn rounds %d ' "$((SECONDS - start))" "$rss" "$round" >&2
        next_sample=$((next_sample + 10))
    fi
done
echo >&2
wait "$steady_pid" || true

# Everything sent must arrive. funnel's drain (SIGTERM) delivers what it holds, waiting out a
# target restart; the sink has read everything once it has closed every connection (it reads
# each to its EOF), then it is stopped.
sent=$(cat "$work/steady.json" "$work"/churn-*.json | grep -o '"messages":[0-9]*' |
    awk -F: '{ n += $2 } END { print n + 0 }')
kill -TERM "$funnel_pid"
wait "$funnel_pid" || echo "soak: funnel exited with status $?"
for _ in $(seq 300); do
    [ "$(ss -Htn state established "( sport = :$sink_port )" | wc -l)" = 0 ] && break
    sleep 0.1
done
kill -TERM "$sink_pid"
wait "$sink_pid" || true
sink=$(cat "$work/sink.json")
get() { grep -o "\"$1\":[0-9]*" <<<"$sink" | head -1 | cut -d: -f2; }
unique=$(get unique) duplicated=$(get duplicated) reordered=$(get reordered) corrupted=$(get corrupted)
resent=$(grep -o ' resent=[0-9]*' "$work/funnel.log" | tail -1 | cut -d= -f2)
lost=$((sent - unique))

# RSS: the second fifth of the samples against the last fifth.
read -r early late <<<"$(awk -F, 'NR > 1 { v[++n] = $2 } END {
    a = int(n / 5); for (i = a + 1; i <= 2 * a; i++) e += v[i]; for (i = n - a + 1; i <= n; i++) l += v[i]
    if (a > 0) printf "%d %d\n", e / a, l / a; else print "0 0" }' "$work/rss.csv")"
allowed=$(awk -v e="$early" -v g="$rss_growth" -v b="$budget_mib" 'BEGIN { printf "%d", e * g / 100 + b * 1024 }')

echo "soak: sent $sent messages ($round churn rounds of $churn connections + $steady steady)"
echo "soak: target restarts $(get restarts); funnel resent $resent"
echo "soak: arrived $unique unique: lost $lost, duplicated $duplicated, reordered $reordered, corrupted $corrupted"
echo "soak: funnel RSS $early KiB early, $late KiB late: +$((late - early)) KiB (allowed: ${rss_growth}% + the ${budget_mib} MiB budget = $allowed KiB); samples in $work/rss.csv"
ok=1
[ "$lost" -eq 0 ] || { echo "soak: FAIL: $lost messages lost"; ok=0; }
[ "$duplicated" -le "${resent:-0}" ] || { echo "soak: FAIL: more duplicates than funnel resent"; ok=0; }
[ "$reordered" -eq 0 ] && [ "$corrupted" -eq 0 ] || { echo "soak: FAIL: reordered or corrupted"; ok=0; }
[ $((late - early)) -le "$allowed" ] || { echo "soak: FAIL: RSS grew"; ok=0; }
[ $ok = 1 ] && echo "soak: ok"
[ $ok = 1 ]
