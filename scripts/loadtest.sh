#!/usr/bin/env bash
# One load test on loopback: funnel-sink, a relay in front of it (funnel or a peer), funnel-load
# through the relay; then one summary of throughput, latency, the relay's CPU time and peak RSS,
# and the sink's integrity verdict. Exit status 0 when every message (or byte) arrived exactly
# once, in order and intact; 1 when not; 2 for a bad option or when the run could not be made.
#
#   scripts/loadtest.sh [--relay R] [--scenario S] [options]
#
#   --relay R         funnel (default), funnel-wN (funnel --workers N: funnel-w0 does everything on
#                     its io thread), direct (the load straight into the sink: this machine's
#                     limit), haproxy, nginx, socat, carbon-c-relay, rsyslog (scripts/peers/).
#                     carbon-c-relay gets graphite-shaped lines (funnel-load --graphite:
#                     `METRIC 1 1700000000`, the probe in the metric name): it discards others
#   --scenario S      stream-1    1 connection, 2 GiB bulk              (funnel --mode stream)
#                     stream-64   64 connections x 64 MiB bulk (4 GiB)  (funnel --mode stream)
#                     lines-16    16 connections x 1.5M lines of 100 B  (funnel --mode message)
#                     lines-512   512 connections x 40000 lines of 100 B (funnel --mode message)
#                     length-64   64 connections x 49152 length-framed messages of 1 KiB
#                                 (funnel --mode message --framing length; not carbon/rsyslog)
#                     latency     16 connections of lines at a fixed rate for 5 s: half the peak
#                                 given by --peak, else half of funnel's lines-16 rate, measured
#                                 first
#                     custom      16 connections x 100000 lines of 100 B, to be overridden
#                     (default: lines-16)
#   --scale F         multiplies the scenario's per-connection counts and durations (default 1:
#                     2-4 s of load through the 1:1 proxies and funnel on 2 cores, 20-30 s
#                     through rsyslog; 0.1 for a quick look)
#   --mode bulk|line|length, --connections N, --bytes SIZE (per connection, bulk),
#   --messages M (per connection), --message-size S (framing included), --rate R (total msgs/s,
#   bytes/s in bulk; 0 = as fast as possible), --duration SECONDS
#                     override the scenario's values
#   --peak R          latency: the peak rate in messages/s; the run uses half of it
#   --workers N       funnel --workers (default: funnel's own, the number of cores)
#   --upstream-connections K   funnel message mode (default: funnel's own, 4)
#   --funnel-arg ARG  one more argument for funnel (repeatable)
#   --cores N         threads/workers/processes for the peers (default: nproc)
#   --load-threads N, --sink-threads N   (default: half the cores each, at least 1)
#   --max-seconds S   stop the load after S seconds whatever the counts (default 60 x scale,
#                     at least 20): slow relays end bounded, the rest is reported as lost
#   --json            print one JSON line instead of the summary
#   --no-install, --no-build   skip scripts/install-deps.sh / the build (compare.sh does both once)
#   --bin-dir DIR     where funnel, funnel-load and funnel-sink are, relative to the repository
#                     root or absolute (default build/release/app, built unless --no-build; a
#                     given directory is used as it is: CI points it at its own build)
#   --keep            keep the work directory (/tmp/funnel-loadtest.*: configs, logs, results)
#
# Builds build/release (funnel, funnel-load, funnel-sink) the way scripts/demo.sh does, and
# installs what is missing with scripts/install-deps.sh (apt-get). Loopback only, no fixed ports.
# Throughput comes from the sink: what arrived over the sink's first-to-last-byte time. The
# relay's CPU time is utime+stime (+ reaped children) of its whole process tree from before the
# load starts to after the sink has stopped; peak RSS is the sum of VmHWM over the tree at the
# end (for socat, whose children come and go, the largest sum of VmRSS sampled every 0.25 s if
# that is more). MB = 10^6 bytes.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
root=$PWD
source scripts/peers/peers.sh

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "loadtest: $*" >&2; exit 2; }

relay=funnel
scenario=lines-16
scale=1
json=0
do_install=1
do_build=1
keep=0
o_mode="" o_connections="" o_bytes="" o_messages="" o_size="" o_rate="" o_duration=""
peak=""
workers=""
upstream=""
funnel_args=()
cores=$(nproc)
load_threads=""
sink_threads=""
max_seconds=""
bin_dir=""
while [ $# -gt 0 ]; do
    opt=$1
    case $opt in
        --json | --no-install | --no-build | --keep | -h | --help) ;;
        *) [ $# -ge 2 ] || die "$opt needs a value (see --help)"; val=$2; shift ;;
    esac
    shift
    case $opt in
        --relay) relay=$val ;;
        --scenario) scenario=$val ;;
        --scale) scale=$val ;;
        --mode) o_mode=$val ;;
        --connections) o_connections=$val ;;
        --bytes) o_bytes=$val ;;
        --messages) o_messages=$val ;;
        --message-size) o_size=$val ;;
        --rate) o_rate=$val ;;
        --duration) o_duration=$val ;;
        --peak) peak=$val ;;
        --workers) workers=$val ;;
        --upstream-connections) upstream=$val ;;
        --funnel-arg) funnel_args+=("$val") ;;
        --cores) cores=$val ;;
        --load-threads) load_threads=$val ;;
        --sink-threads) sink_threads=$val ;;
        --max-seconds) max_seconds=$val ;;
        --bin-dir) bin_dir=$val ;;
        --json) json=1 ;;
        --no-install) do_install=0 ;;
        --no-build) do_build=0 ;;
        --keep) keep=1 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown option '$opt' (see --help)" ;;
    esac
done

relay_name=$relay # as given, for the results
case $relay in
    funnel | direct) ;;
    funnel-w[0-9]*) # funnel with --workers N, e.g. funnel-w0 (everything on the io thread)
        workers=${relay#funnel-w}
        [[ $workers =~ ^[0-9]+$ ]] || die "unknown relay '$relay'"
        relay=funnel ;;
    *) [ -n "$(peer_packages "$relay")" ] || die "unknown relay '$relay'" ;;
esac
awk -v s="$scale" 'BEGIN { exit !(s + 0 > 0) }' || die "--scale must be more than 0"
scaled() { # N -> N x scale, at least MIN (default 1), an integer
    awk -v n="$1" -v s="$scale" -v m="${2:-1}" 'BEGIN { v = int(n * s + 0.5); print (v < m ? m : v) }'
}

# ---- the scenario ---------------------------------------------------------------------------
rate=0
duration=""
messages=""
bytes=""
size=""
case $scenario in
    stream-1) mode=bulk connections=1 bytes=$(scaled 2147483648 4096) ;;
    stream-64) mode=bulk connections=64 bytes=$(scaled 67108864 4096) ;;
    lines-16) mode=line connections=16 messages=$(scaled 1500000) size=100 ;;
    lines-512) mode=line connections=512 messages=$(scaled 40000) size=100 ;;
    length-64) mode=length connections=64 messages=$(scaled 49152) size=1024 ;;
    latency) mode=line connections=16 size=100 duration=$(awk -v s="$scale" 'BEGIN { d = 5 * s; print (d < 1 ? 1 : d) }') ;;
    custom) mode=line connections=16 messages=100000 size=100 ;;
    *) die "unknown scenario '$scenario'" ;;
esac
[ -n "$o_mode" ] && mode=$o_mode
[ -n "$o_connections" ] && connections=$o_connections
[ -n "$o_bytes" ] && bytes=$o_bytes
[ -n "$o_messages" ] && messages=$o_messages
[ -n "$o_size" ] && size=$o_size
[ -n "$o_duration" ] && duration=$o_duration
case $mode in
    bulk) kind=bulk; messages=0; size=0; : "${bytes:=67108864}" ;;
    line | length) kind=$mode; bytes=0; : "${size:=100}" "${messages:=100000}" ;;
    *) die "--mode is bulk, line or length" ;;
esac
: "${max_seconds:=$(awk -v s="$scale" 'BEGIN { d = int(60 * s); print (d < 20 ? 20 : d) }')}"
half=$(( cores / 2 > 0 ? cores / 2 : 1 ))
: "${load_threads:=$half}"
: "${sink_threads:=$half}"
[ "$load_threads" -gt "$connections" ] && load_threads=$connections

if [ "$relay" != funnel ] && [ "$relay" != direct ] && ! peer_supports "$relay" "$kind"; then
    die "$relay does not take $kind traffic (only newline-terminated lines); skip it"
fi

# ---- what it needs --------------------------------------------------------------------------
if [ "$do_install" = 1 ]; then
    pkgs=(python3 procps)
    case $relay in funnel | direct) ;; *) read -r -a more <<< "$(peer_packages "$relay")"; pkgs+=("${more[@]}") ;; esac
    peers_install "${pkgs[@]}" >&2
fi
bin=${bin_dir:-build/release/app}
if [ "$do_build" = 1 ] && [ -z "$bin_dir" ]; then
    cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DFUNNEL_BUILD_TESTS=OFF >/dev/null
    cmake --build build/release -j "$(nproc)" --target funnel funnel-load funnel-sink >&2
fi
case $bin in /*) ;; *) bin=$root/$bin ;; esac
for b in "$bin/funnel" "$bin/funnel-load" "$bin/funnel-sink"; do
    [ -x "$b" ] || die "$b is missing (build it, or drop --no-build)"
done

# ---- latency: the rate ----------------------------------------------------------------------
if [ "$scenario" = latency ] && [ -z "$o_rate" ]; then
    if [ -z "$peak" ]; then
        [ "$json" = 1 ] || echo "latency: measuring the peak first (lines-16 through funnel)" >&2
        peak_json=$("$root/scripts/loadtest.sh" --relay funnel --scenario lines-16 --scale "$scale" --json --no-install \
                    --no-build --cores "$cores" ${workers:+--workers "$workers"} \
                    ${bin_dir:+--bin-dir "$bin_dir"} \
                    ${upstream:+--upstream-connections "$upstream"}) || true
        peak=$(python3 -c 'import json,sys; print(int(json.loads(sys.argv[1])["messages_per_second"]))' \
               "$peak_json" 2>/dev/null) || die "could not measure the peak rate"
    fi
    o_rate=$(awk -v p="$peak" 'BEGIN { printf "%d", p / 2 }')
fi
[ -n "$o_rate" ] && rate=$o_rate
if [ "$scenario" = latency ] && [ -z "$o_messages" ]; then
    # A fixed count at the rate, so that the sink knows when everything has arrived.
    messages=$(awk -v r="$rate" -v d="$duration" -v n="$connections" \
               'BEGIN { m = int(r * d / n); print (m < 1 ? 1 : m) }')
    duration=""
fi

# ---- the run --------------------------------------------------------------------------------
# 512 clients take more descriptors than a default soft limit of 1024 leaves to the tools and
# relays: raise it to the hard limit (at most 65536) for everything started below.
hard_nofile=$(ulimit -Hn)
[ "$hard_nofile" = unlimited ] && hard_nofile=65536
[ "$hard_nofile" -gt 65536 ] && hard_nofile=65536
[ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt "$hard_nofile" ] && ulimit -Sn "$hard_nofile"
work=$(mktemp -d /tmp/funnel-loadtest.XXXXXX)
group_pids=() # process groups we started (setsid), ended with TERM, then KILL
sampler_pid=""
load_pid=""
stop_group() { # PGID: TERM, up to 5 s, then KILL; sets stop_seconds
    local g=$1 i
    stop_seconds=0
    kill -TERM -- "-$g" 2>/dev/null || return 0
    for i in $(seq 50); do
        kill -0 -- "-$g" 2>/dev/null || { stop_seconds=$(awk -v i="$i" 'BEGIN { print i / 10 }'); break; }
        sleep 0.1
    done
    if kill -0 -- "-$g" 2>/dev/null; then
        stop_seconds=killed
        kill -KILL -- "-$g" 2>/dev/null || true
    fi
    { wait "$g"; } 2>/dev/null || true # reap quietly (no "Killed" notice)
}
cleanup() {
    local g
    set +e # every step, whatever failed before
    [ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null
    [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null # timeout passes it on to funnel-load
    for g in "${group_pids[@]}"; do stop_group "$g"; done
    wait 2>/dev/null || true
    if [ "$keep" = 1 ]; then echo "loadtest: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
listening() { # PORT: something listens on 127.0.0.1:PORT or 0.0.0.0:PORT
    local hex
    hex=$(printf '%04X' "$1")
    awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }' /proc/net/tcp
}

# The relay's process tree (the root and all its descendants), sampled in one go:
# "TICKS HWM_KIB" where TICKS is utime + stime + cutime + cstime in clock ticks (reaped children
# are in their parent's cutime/cstime, live ones count themselves) and HWM_KIB the sum of VmHWM.
tree_sample() { # ROOT
    python3 - "$1" <<'PY'
import os, sys
root = int(sys.argv[1])
parent = {}
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            with open(f"/proc/{d}/stat") as f:
                parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            pass
tree, changed = {root}, True
while changed:
    changed = False
    for p, pp in parent.items():
        if p not in tree and pp in tree:
            tree.add(p)
            changed = True
ticks = hwm = 0
for p in tree:
    try:
        with open(f"/proc/{p}/stat") as f:
            v = f.read().rsplit(")", 1)[1].split()
        ticks += sum(int(x) for x in v[11:15])
        with open(f"/proc/{p}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm += int(line.split()[1])
    except (OSError, IndexError, ValueError):
        pass
print(ticks, hwm)
PY
}

# The sink.
case $kind in
    # A bulk stream is complete at its EOF: wait for every connection to end, not for the bytes.
    bulk) sink_mode=bulk expect=(--expect-connections "$connections") ;;
    *) sink_mode=$kind expect=(--expect-messages $((connections * messages))) ;;
esac
[ -n "$duration" ] && expect=() # the count is not known in advance
sink_timeout=$(awk -v m="$max_seconds" 'BEGIN { print int(m + 60) }')
setsid "$bin/funnel-sink" --listen 127.0.0.1:0 --port-file "$work/sink.port" --mode "$sink_mode" \
    --threads "$sink_threads" "${expect[@]}" --idle-exit 3 --timeout "$sink_timeout" \
    --max-message-size 16MiB --result-file "$work/sink.json" > "$work/sink.out" 2> "$work/sink.err" &
sink_pid=$!
group_pids+=("$sink_pid")
for _ in $(seq 100); do [ -s "$work/sink.port" ] && break; sleep 0.1; done
[ -s "$work/sink.port" ] || { cat "$work/sink.err" >&2; die "the sink did not start"; }
sink_port=$(tr -d '\n' < "$work/sink.port")

# The relay.
relay_pid=""
relay_desc=$relay
relay_version=""
case $relay in
    direct)
        target_port=$sink_port
        relay_desc="direct (no relay)"
        ;;
    funnel)
        fargs=(--listen 127.0.0.1:0 --target "127.0.0.1:$sink_port" --stats-interval 0)
        case $kind in
            bulk) fargs+=(--mode stream) ;;
            *) fargs+=(--mode message --framing "$kind")
               [ "$size" -gt 1048576 ] && fargs+=(--max-message-size "$size")
               [ -n "$upstream" ] && fargs+=(--upstream-connections "$upstream") ;;
        esac
        [ -n "$workers" ] && fargs+=(--workers "$workers")
        fargs+=("${funnel_args[@]}")
        setsid "$bin/funnel" "${fargs[@]}" > "$work/funnel.log" 2>&1 &
        relay_pid=$!
        group_pids+=("$relay_pid")
        for _ in $(seq 100); do grep -qs "listening on" "$work/funnel.log" && break; sleep 0.1; done
        listen=$(grep -os 'listening on [^, ]*' "$work/funnel.log" | head -1 | cut -d' ' -f3 || true)
        [ -n "$listen" ] || { cat "$work/funnel.log" >&2; die "funnel did not start"; }
        target_port=${listen##*:}
        relay_desc="funnel ${fargs[*]:4}"
        relay_version=$("$bin/funnel" --version 2>/dev/null | head -1 || true)
        ;;
    *)
        target_port=$(free_port)
        peer_start "$relay" "$work" "$target_port" "$sink_port" "$cores"
        relay_pid=$peer_pid
        group_pids+=("$relay_pid")
        for _ in $(seq 100); do
            listening "$target_port" && break
            kill -0 "$relay_pid" 2>/dev/null || break
            sleep 0.1
        done
        listening "$target_port" || { cat "$peer_log" >&2; die "$relay did not start listening"; }
        relay_desc="$relay ($cores threads/workers, scripts/peers/)"
        relay_version=$(peer_version "$relay")
        ;;
esac

# CPU before. socat forks a process per connection, which is gone (with its VmHWM) when the run
# ends: for it, the tree's VmRSS is also summed every 0.25 s while the load runs (a sum of RSS
# counts the pages the processes share once per process: an upper bound).
ticks_before=0
if [ -n "$relay_pid" ]; then
    read -r ticks_before _ < <(tree_sample "$relay_pid")
    echo 0 > "$work/rss.max"
    if [ "$relay" = socat ]; then
        (
            max=0
            while kill -0 "$relay_pid" 2>/dev/null; do
                v=$(ps -e -o pid=,ppid=,rss= | awk -v root="$relay_pid" '
                    { parent[$1] = $2; rss[$1] = $3 }
                    END { keep[root] = 1; changed = 1
                          while (changed) { changed = 0
                              for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; changed = 1 } }
                          for (p in keep) s += rss[p]; print s + 0 }')
                [ "$v" -gt "$max" ] && { max=$v; echo "$max" > "$work/rss.max"; }
                sleep 0.25
            done
        ) &
        sampler_pid=$!
    fi
fi

# The load.
largs=(--target "127.0.0.1:$target_port" --mode "$mode" --connections "$connections"
       --threads "$load_threads" --rate "$rate" --result-file "$work/load.json")
case $kind in
    bulk) largs+=(--bytes "$bytes") ;;
    *) largs+=(--message-size "$size")
       [ "$messages" -gt 0 ] 2>/dev/null && largs+=(--messages "$messages") ;;
esac
# carbon-c-relay discards lines that are not graphite `metric value [timestamp]`: give it
# graphite-shaped probe lines (the sink tells the shapes apart by itself).
graphite=0
[ "$relay" = carbon-c-relay ] && [ "$kind" = line ] && { graphite=1; largs+=(--graphite); }
load_duration=${duration:-$max_seconds}
largs+=(--duration "$(awk -v a="$load_duration" -v b="$max_seconds" 'BEGIN { print (a < b ? a : b) }')")
progress=off
[ "$json" = 0 ] && [ -t 2 ] && progress=on
[ "$progress" = on ] && echo "loadtest: $scenario through $relay_desc" >&2
load_status=0
load_err=$work/load.err
[ "$progress" = on ] && load_err=/dev/stderr # the live line, on the terminal
# In the background and waited for, so that a signal to this script is handled at once.
timeout -k 5 "$(awk -v m="$max_seconds" 'BEGIN { print m + 30 }')" \
    "$bin/funnel-load" "${largs[@]}" --progress "$progress" > "$work/load.out" 2> "$load_err" &
load_pid=$!
wait "$load_pid" || load_status=$?
load_pid=""

# The sink: it stops by itself on the expected count, or 3 s after the last byte. A relay that
# forwarded nothing at all (carbon-c-relay discards lines that are not graphite, and drops what
# its queue cannot hold) would keep it waiting for its timeout: once the load is over, and 3 s
# later nothing is connected to the sink, stop it.
sink_connected() { # whether any connection to the sink is established
    awk -v p=":$(printf '%04X' "$sink_port")" '$4 == "01" && substr($2, length($2) - 4) == p { f = 1 }
        END { exit !f }' /proc/net/tcp
}
waited=0 # tenths of a second since the load ended
while kill -0 "$sink_pid" 2>/dev/null; do
    if { [ "$waited" -ge 30 ] && ! sink_connected; } || [ "$waited" -ge $(( (sink_timeout + 10) * 10 )) ]; then
        kill -TERM "$sink_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$sink_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$sink_pid" 2>/dev/null || true
        break
    fi
    sleep 0.2
    waited=$((waited + 2))
done
{ wait "$sink_pid"; } 2>/dev/null || true

# CPU after, RSS, then stop the relay.
cpu_seconds=""
peak_rss_kib=""
relay_stats="{}"
relay_stop=""
if [ -n "$relay_pid" ]; then
    if kill -0 "$relay_pid" 2>/dev/null; then
        read -r ticks_after hwm < <(tree_sample "$relay_pid")
        cpu_seconds=$(awk -v a="$ticks_before" -v b="$ticks_after" -v hz="$(getconf CLK_TCK)" \
                      'BEGIN { printf "%.3f", (b - a) / hz }')
        sampled=$(cat "$work/rss.max" 2>/dev/null || echo 0)
        peak_rss_kib=$(( hwm > sampled ? hwm : sampled ))
    fi
    [ -n "$sampler_pid" ] && { kill "$sampler_pid"; wait "$sampler_pid"; } 2>/dev/null || true
    sampler_pid=""
    if [ "$relay" = carbon-c-relay ] && [ -s "$work/carbon-c-relay.stats" ]; then
        # Its own counters, from the last statistics it wrote (every second).
        relay_stats=$(awk '$1 ~ /^relay\.metrics[A-Z]/ { v[substr($1, 14)] = $2 }
            END { printf "{"; n = 0; for (k in v) { printf "%s\"%s\":%s", (n++ ? "," : ""), k, v[k] }; printf "}" }' \
            "$work/carbon-c-relay.stats")
    fi
    stop_group "$relay_pid"
    relay_stop=$stop_seconds
fi

# ---- the summary ----------------------------------------------------------------------------
[ -s "$work/load.json" ] || { cat "$work/load.err" >&2; echo "loadtest: funnel-load gave no result (status $load_status)" >&2; }
[ -s "$work/sink.json" ] || { cat "$work/sink.err" >&2; echo "loadtest: funnel-sink gave no result" >&2; }
export LT_WORK=$work LT_JSON=$json LT_KIND=$kind LT_SCENARIO=$scenario LT_RELAY=$relay_name \
    LT_RELAY_DESC=$relay_desc LT_RELAY_VERSION=$relay_version LT_MODE=$mode \
    LT_CONNECTIONS=$connections LT_SIZE=$size LT_BYTES=$bytes LT_RATE=$rate LT_SCALE=$scale \
    LT_CORES=$cores LT_WORKERS=$workers LT_UPSTREAM=$upstream LT_LOAD_THREADS=$load_threads \
    LT_SINK_THREADS=$sink_threads LT_LOAD_STATUS=$load_status LT_CPU=$cpu_seconds \
    LT_RSS_KIB=$peak_rss_kib LT_RELAY_STATS=$relay_stats LT_RELAY_STOP=$relay_stop \
    LT_GRAPHITE=$graphite
python3 - <<'PYEOF'
import json, os, sys
e = os.environ
work, as_json, kind, relay = e["LT_WORK"], e["LT_JSON"] == "1", e["LT_KIND"], e["LT_RELAY"]
def load(name):
    try:
        with open(f"{work}/{name}") as f:
            return json.loads(f.readline())
    except (OSError, ValueError):
        return {}
def num(name, conv=float):
    v = e.get(name, "")
    return None if v == "" else conv(v)
ld, sk = load("load.json"), load("sink.json")
cpu, rss_kib = num("LT_CPU"), num("LT_RSS_KIB")
seconds = sk.get("seconds", 0) or 0
sink_bytes, unique = sk.get("bytes", 0), sk.get("unique", 0)
load_msgs, load_bytes = ld.get("messages", 0), ld.get("bytes", 0)
bulk = kind == "bulk"
r = {
    "tool": "loadtest", "scenario": e["LT_SCENARIO"], "relay": relay,
    "relay_version": e["LT_RELAY_VERSION"], "mode": e["LT_MODE"],
    "connections": num("LT_CONNECTIONS", int), "message_size": num("LT_SIZE", int),
    "graphite": e.get("LT_GRAPHITE") == "1",
    "bytes_per_connection": num("LT_BYTES", int), "rate": num("LT_RATE"),
    "scale": num("LT_SCALE"), "cores": num("LT_CORES", int), "workers": num("LT_WORKERS", int),
    "upstream_connections": num("LT_UPSTREAM", int),
    "load_threads": num("LT_LOAD_THREADS", int), "sink_threads": num("LT_SINK_THREADS", int),
    "load_messages": load_msgs, "load_bytes": load_bytes, "load_seconds": ld.get("seconds"),
    "load_errors": ld.get("errors"), "load_status": num("LT_LOAD_STATUS", int),
    "sink_messages": sk.get("messages", 0), "sink_unique": unique, "sink_bytes": sink_bytes,
    "sink_connections": sk.get("connections", 0), "sink_stop": sk.get("stop"),
    "sink_verdict": sk.get("verdict", "no result"),
    "seconds": seconds,
    "megabytes_per_second": round(sink_bytes / 1e6 / seconds, 3) if seconds > 0 else 0,
    "messages_per_second": round(unique / seconds) if seconds > 0 and not bulk else 0,
    "latency_us": sk.get("latency_us") if not bulk else None,
    "relay_cpu_seconds": cpu,
    "cpu_seconds_per_gb": round(cpu / (sink_bytes / 1e9), 3)
        if cpu is not None and sink_bytes > 0 else None,
    "cpu_seconds_per_million_messages": round(cpu / (unique / 1e6), 3)
        if cpu is not None and not bulk and unique > 0 else None,
    "peak_rss_mib": round(rss_kib / 1024, 1) if rss_kib is not None else None,
    "relay_stats": json.loads(e.get("LT_RELAY_STATS") or "{}"),
    # Seconds from SIGTERM to exit, or "killed" (after 5 s).
    "relay_stop_seconds": e.get("LT_RELAY_STOP") or None,
}
if bulk:
    r["lost"] = r["lost_bytes"] = max(load_bytes - sink_bytes, 0)
    r["streams_complete"] = sk.get("streams_complete", 0)
    r["streams_short"] = sk.get("streams_short", 0)
else:
    r["lost"] = max(load_msgs - unique, 0)
for k in ("duplicated", "reordered", "corrupted", "holes"):
    r[k] = sk.get(k, 0)
problems = []
if not ld: problems.append("no load result")
if not sk: problems.append("no sink result")
if r["lost"]: problems.append(f"lost {r['lost']}" + (" bytes" if bulk else ""))
for k in ("duplicated", "reordered", "corrupted"):
    if r[k]: problems.append(f"{k} {r[k]}")
if bulk and r["streams_short"]: problems.append(f"short streams {r['streams_short']}")
if bulk and sink_bytes > load_bytes: problems.append(f"{sink_bytes - load_bytes} bytes more than sent")
if not bulk and unique > load_msgs: problems.append(f"{unique - load_msgs} messages more than sent")
if ld.get("errors"): problems.append(f"load errors {ld['errors']}")
r["integrity"] = "ok" if not problems else "fail: " + ", ".join(problems)
notes = []
cs = r["relay_stats"]
if relay == "carbon-c-relay" and cs:
    notes.append("carbon-c-relay's own counters: received %s, discarded %s (lines that are not "
                 "graphite 'metric value [timestamp]'), dropped %s (its queue full), sent %s "
                 "(its statistics included)" % (cs.get("Received", "?"), cs.get("Discarded", "?"),
                                                cs.get("Dropped", "?"), cs.get("Sent", "?")))
if ld.get("seconds") and bulk:
    notes.append("load side: %d bytes sent in %.3f s (%.1f MB/s)"
                 % (load_bytes, ld["seconds"], ld.get("megabytes_per_second", 0)))
elif ld.get("seconds"):
    notes.append("load side: %d messages, %d bytes sent in %.3f s (%.3f M msgs/s, %.1f MB/s)"
                 % (load_msgs, load_bytes, ld["seconds"], ld.get("messages_per_second", 0) / 1e6,
                    ld.get("megabytes_per_second", 0)))
r["notes"] = notes
line = json.dumps(r)
with open(f"{work}/result.json", "w") as f:
    f.write(line + "\n")
if as_json:
    print(line)
else:
    def us(v):
        return "-" if v is None else (f"{v / 1000:.2f} ms" if v >= 1000 else f"{v:.0f} us")
    rate = "as fast as possible" if not r["rate"] else \
        (f"{r['rate']:.0f} B/s" if bulk else f"{r['rate']:.0f} msgs/s")
    print(f"scenario:   {r['scenario']}: {r['connections']} connections, " +
          (f"{r['bytes_per_connection']} bytes each" if bulk else
           f"{kind} messages{' (graphite-shaped)' if r['graphite'] else ''} of "
           f"{r['message_size']} B") + f", {rate}")
    print(f"relay:      {e['LT_RELAY_DESC']}" +
          (f"  [{r['relay_version']}]" if r["relay_version"] else ""))
    tput = f"{r['megabytes_per_second']:.1f} MB/s"
    if not bulk:
        tput += f", {r['messages_per_second'] / 1e6:.3f} M msgs/s"
    print(f"throughput: {tput}  (at the sink: {sink_bytes} bytes" +
          ("" if bulk else f", {unique} messages") + f" in {seconds:.3f} s)")
    if not bulk and r["latency_us"] and unique > 0:
        l = r["latency_us"]
        print(f"latency:    p50 {us(l['p50'])}  p99 {us(l['p99'])}  p99.9 {us(l['p999'])}  "
              f"max {us(l['max'])}")
    if cpu is not None:
        per = []
        if r["cpu_seconds_per_gb"] is not None:
            per.append(f"{r['cpu_seconds_per_gb']:.2f} s/GB")
        if r["cpu_seconds_per_million_messages"] is not None:
            per.append(f"{r['cpu_seconds_per_million_messages']:.3f} s per million messages")
        print(f"relay:      CPU {cpu:.2f} s" + (" = " + ", ".join(per) if per else "") +
              (f"; peak RSS {r['peak_rss_mib']:.1f} MiB" if r["peak_rss_mib"] is not None else ""))
    for n in notes:
        print(f"note:       {n}")
    print(f"integrity:  {r['integrity']}  (lost {r['lost']}{' bytes' if bulk else ''}, "
          f"duplicated {r['duplicated']}, reordered {r['reordered']}, "
          f"corrupted {r['corrupted']}; sink verdict: {r['sink_verdict']})")
sys.exit(0 if r["integrity"] == "ok" else 1)
PYEOF
