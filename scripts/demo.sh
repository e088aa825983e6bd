#!/usr/bin/env bash
# The main job, end to end on loopback, in both modes: build funnel, start a target that stores
# every connection it receives in a file, put funnel in front of it, send a burst of clients
# through funnel, stop funnel with SIGTERM, and check what arrived.
#   stream mode:  every client connection arrives byte for byte, on a connection of its own.
#   message mode: every line of every client arrives exactly once, each client's lines in order,
#                 over at most --upstream-connections (4) target connections.
#   scripts/demo.sh [CLIENTS] [BYTES_PER_CLIENT] [MESSAGE_CLIENTS] [LINES_PER_CLIENT]
#   (defaults: 50 clients x 1 MiB in stream mode, 200 clients x 500 lines in message mode)
set -euo pipefail
export LC_ALL=C # one collation for sort and comm
cd "$(dirname "$0")/.."
clients=${1:-50}
bytes=${2:-1048576}
message_clients=${3:-200}
lines=${4:-500}
links=4

scripts/install-deps.sh socat
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DFUNNEL_BUILD_TESTS=OFF >/dev/null
cmake --build build/release -j "$(nproc)" --target funnel

work=$(mktemp -d /tmp/funnel-demo.XXXXXX)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; [ -n "${KEEP_DEMO_DIR:-}" ] || rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
              || echo $((20000 + RANDOM % 20000)); }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# A target on a free port: socat forks one shell per connection, which stores what the connection
# brings in DIR/conn.PID and then leaves DIR/done.PID, so that we know when the file is complete.
start_target() { # DIR -> sets target_port
    local dir=$1
    mkdir -p "$dir"
    target_port=$(free_port)
    socat -u "TCP-LISTEN:$target_port,bind=127.0.0.1,reuseaddr,fork,backlog=1024" \
        SYSTEM:"cat > $dir/conn.\$\$; touch $dir/done.\$\$" &
    pids+=($!)
    local listening
    listening=$(printf '0100007F:%04X 00000000:0000 0A' "$target_port")
    for _ in $(seq 50); do grep -q "$listening" /proc/net/tcp && break; sleep 0.1; done
    echo "target: socat on 127.0.0.1:$target_port, one file per connection it receives"
}

conn_files() { find "$1" -name 'conn.*' | sort; } # DIR: what the target received, one per connection

# Waits (up to 10 s) until the target has written out every connection it received, and at
# least MIN of them.
await_target_files() { # DIR MIN
    local dir=$1 min=$2 conns done_
    for _ in $(seq 100); do
        conns=$(find "$dir" -name 'conn.*' | wc -l)
        done_=$(find "$dir" -name 'done.*' | wc -l)
        [ "$conns" -ge "$min" ] && [ "$conns" -eq "$done_" ] && return 0
        sleep 0.1
    done
    echo "the target did not finish writing what it received" >&2
}

start_funnel() { # LOG ARGS... -> sets funnel_pid, listen
    local log=$1
    shift
    build/release/app/funnel --listen 127.0.0.1:0 --target "127.0.0.1:$target_port" \
        --stats-interval 0 "$@" 2>"$log" &
    funnel_pid=$!
    pids+=($funnel_pid)
    for _ in $(seq 100); do grep -qs "listening on" "$log" && break; sleep 0.1; done
    listen=$(grep -os 'listening on [^,]*' "$log" | head -1 | cut -d' ' -f3 || true)
    [ -n "$listen" ] || { cat "$log"; echo "funnel did not start" >&2; exit 1; }
    echo "funnel${*:+ $*}: listening on $listen"
}

# Sends every file in DIR (sorted by name) as one client connection, all at once; then SIGTERM.
send_and_stop() { # DIR LOG -> sets status
    local dir=$1 log=$2 client_pids=() f
    for f in "$dir"/*; do
        socat -u "FILE:$f" "TCP:$listen" &
        client_pids+=($!)
    done
    wait "${client_pids[@]}"
    kill -TERM "$funnel_pid"
    for _ in $(seq 300); do kill -0 "$funnel_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$funnel_pid" 2>/dev/null; then
        echo "funnel is still running 30 s after SIGTERM; killing it" >&2
        kill -KILL "$funnel_pid"
    fi
    wait "$funnel_pid" && status=0 || status=$?
    echo "funnel exited with status $status after SIGTERM; its last lines:"
    tail -n 3 "$log" | sed 's/^/  /'
}

# ---- stream mode: one target connection per client, bytes verbatim -------------------------
echo "== stream mode"
mkdir -p "$work/stream/sent"
start_target "$work/stream/received"
start_funnel "$work/stream/funnel.log"
echo "sending: $clients clients x $bytes bytes at once"
for i in $(seq "$clients"); do
    head -c "$bytes" /dev/urandom > "$work/stream/sent/client.$i"
done
start=$(now_ms)
send_and_stop "$work/stream/sent" "$work/stream/funnel.log"
elapsed_ms=$(( $(now_ms) - start ))
await_target_files "$work/stream/received" "$clients"
sent=$(cat "$work/stream/sent"/* | wc -c)
conn_files "$work/stream/received" > "$work/stream/received.list"
received=$(xargs -r cat < "$work/stream/received.list" | wc -c)
sha256sum "$work/stream/sent"/* | cut -d' ' -f1 | sort > "$work/stream/sent.sums"
xargs -r sha256sum < "$work/stream/received.list" | cut -d' ' -f1 | sort > "$work/stream/received.sums"
echo "sent:     $clients connections, $sent bytes"
echo "received: $(wc -l < "$work/stream/received.list") connections, $received bytes in ${elapsed_ms} ms"
if [ "$status" -eq 0 ] && cmp -s "$work/stream/sent.sums" "$work/stream/received.sums"; then
    echo "OK: every connection arrived byte for byte"
else
    echo "MISMATCH: see the lines above" >&2
    exit 1
fi
kill "${pids[0]}" 2>/dev/null || true # the stream target
echo

# ---- message mode: lines of many clients over a few shared target connections --------------
echo "== message mode"
m=$work/message
mkdir -p "$m/sent"
start_target "$m/received"
start_funnel "$m/funnel.log" --mode message --framing line --upstream-connections "$links"
echo "sending: $message_clients clients x $lines lines at once"
# Line j of client i: "client-<i> seq-<j> " and some filler, so that lines differ in length.
awk -v clients="$message_clients" -v lines="$lines" -v dir="$m/sent" 'BEGIN {
    filler = "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789"
    for (i = 1; i <= clients; i++) {
        f = sprintf("%s/client.%04d", dir, i)
        for (j = 1; j <= lines; j++)
            printf "client-%d seq-%d %s\n", i, j, substr(filler, 1, 1 + (i * 7 + j) % 72) > f
        close(f)
    }
}'
start=$(now_ms)
send_and_stop "$m/sent" "$m/funnel.log"
elapsed_ms=$(( $(now_ms) - start ))
await_target_files "$m/received" 1

cat "$m/sent"/* | sort > "$m/sent.sorted"
conn_files "$m/received" > "$m/received.list"
xargs -r cat < "$m/received.list" | sort > "$m/received.sorted"
expected=$((message_clients * lines))
got=$(wc -l < "$m/received.sorted")
missing=$(comm -23 "$m/sent.sorted" "$m/received.sorted" | wc -l)
extra=$(comm -13 "$m/sent.sorted" "$m/received.sorted" | wc -l) # duplicates and strangers
connections=$(wc -l < "$m/received.list")
# Per client: all its lines on one target connection, seq-1, seq-2, ... without a gap.
order_errors=$(awk '
    { split($1, c, "-"); split($2, s, "-"); id = c[2]; seq = s[2] + 0
      if (id in file && file[id] != FILENAME) { bad++; next }
      file[id] = FILENAME
      if (seq != last[id] + 1) bad++
      last[id] = seq }
    END { print bad + 0 }' $(cat "$m/received.list") /dev/null)
echo "sent:     $message_clients clients, $expected lines"
echo "received: $got lines on $connections target connections in ${elapsed_ms} ms;" \
     "missing $missing, duplicated or unknown $extra, out of order $order_errors"
if [ "$status" -eq 0 ] && [ "$got" -eq "$expected" ] && [ "$missing" -eq 0 ] && [ "$extra" -eq 0 ] \
   && [ "$order_errors" -eq 0 ] && [ "$connections" -ge 1 ] && [ "$connections" -le "$links" ]; then
    echo "OK: every line arrived exactly once, each client's lines in order," \
         "$message_clients clients over $connections target connections"
else
    echo "MISMATCH: see the lines above" >&2
    exit 1
fi
