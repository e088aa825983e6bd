#!/usr/bin/env bash
# The main job, end to end on loopback: build funnel, start a target that stores every
# connection it receives in a file, put funnel in front of it, send a burst of clients through
# funnel, stop funnel with SIGTERM, and check that every byte arrived.
#   scripts/demo.sh [CLIENTS] [BYTES_PER_CLIENT]      (defaults: 50 clients, 1 MiB each)
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-50}
bytes=${2:-1048576}

scripts/install-deps.sh socat
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DFUNNEL_BUILD_TESTS=OFF >/dev/null
cmake --build build/release -j "$(nproc)" --target funnel

work=$(mktemp -d /tmp/funnel-demo.XXXXXX)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; [ -n "${KEEP_DEMO_DIR:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/sent" "$work/received"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
              || echo $((20000 + RANDOM % 20000)); }
target_port=$(free_port)
echo "target: socat on 127.0.0.1:$target_port, one file per connection"
socat -u "TCP-LISTEN:$target_port,bind=127.0.0.1,reuseaddr,fork,backlog=1024" \
    SYSTEM:"cat > $work/received/conn.\$\$" &
pids+=($!)

build/release/app/funnel --listen 127.0.0.1:0 --target "127.0.0.1:$target_port" \
    --stats-interval 0 2>"$work/funnel.log" &
funnel_pid=$!
pids+=($funnel_pid)
for _ in $(seq 100); do grep -q "listening on" "$work/funnel.log" && break; sleep 0.1; done
listen=$(grep -o 'listening on [^,]*' "$work/funnel.log" | head -1 | cut -d' ' -f3)
[ -n "$listen" ] || { cat "$work/funnel.log"; echo "funnel did not start" >&2; exit 1; }
echo "funnel: listening on $listen"

echo "sending: $clients clients x $bytes bytes at once"
start=$(date +%s%N)
for i in $(seq "$clients"); do
    head -c "$bytes" /dev/urandom > "$work/sent/client.$i"
done
client_pids=()
for i in $(seq "$clients"); do
    socat -u "FILE:$work/sent/client.$i" "TCP:$listen" &
    client_pids+=($!)
done
wait "${client_pids[@]}"
kill -TERM "$funnel_pid"
wait "$funnel_pid" && status=0 || status=$?
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))

echo "funnel exited with status $status after SIGTERM; its last lines:"
tail -n 3 "$work/funnel.log" | sed 's/^/  /'
sent=$(cd "$work/sent" && cat * | wc -c)
received=$(cd "$work/received" && cat * 2>/dev/null | wc -c)
(cd "$work/sent" && sha256sum * | cut -d' ' -f1 | sort) > "$work/sent.sums"
(cd "$work/received" && sha256sum * | cut -d' ' -f1 | sort) > "$work/received.sums"
echo "sent:     $clients connections, $sent bytes"
echo "received: $(ls "$work/received" | wc -l) connections, $received bytes in ${elapsed_ms} ms"
if [ "$status" -eq 0 ] && cmp -s "$work/sent.sums" "$work/received.sums"; then
    echo "OK: every connection arrived byte for byte"
else
    echo "MISMATCH: see the lines above" >&2
    exit 1
fi
