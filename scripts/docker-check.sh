#!/usr/bin/env bash
# Builds funnel's image from the Dockerfile and checks it for real: it runs as a non-root user,
# exposes its ports, answers its HEALTHCHECK, and carries data from funnel-load through funnel to
# funnel-sink (all three from the image, on 127.0.0.1) while /metrics counts what the sink got.
#
# No Docker engine runs on these machines: rootful podman with runc builds and runs the image,
# from debian:bookworm(-slim) base images made locally with debootstrap from the apt mirror
# (../shared/docker.md). Needs root; installs podman, runc and debootstrap when missing.
#   scripts/docker-check.sh [--image NAME] [--messages N]
# Prints "docker check: N passed, M failed" and exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

image=funnel:check
messages_per_client=5000
clients=16
while [ $# -gt 0 ]; do
    case $1 in
        --image) image=$2; shift 2 ;;
        --messages) messages_per_client=$2; shift 2 ;;
        *) echo "usage: $0 [--image NAME] [--messages N]" >&2; exit 2 ;;
    esac
done
total=$((messages_per_client * clients))

work=$(mktemp -d /tmp/funnel-docker-check.XXXXXX)
containers=()
cleanup() {
    local c
    for c in "${containers[@]}"; do podman rm -f -t 2 "$c" >/dev/null 2>&1 || true; done
    rm -rf "$work"
}
trap cleanup EXIT
export DEBIAN_FRONTEND=noninteractive

passed=0 failed=0
pass() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}
step() { echo "--> $1 ($((SECONDS - started))s)"; }
started=$SECONDS

step "tools"
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq podman runc debootstrap >/dev/null
fi
# runc: crun refuses this kernel's hybrid cgroup layout. ulimits under the machine's hard limits.
cat >"$work/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
export CONTAINERS_CONF="$work/containers.conf"

if ! podman image exists docker.io/library/debian:bookworm-slim; then
    step "base images debian:bookworm and debian:bookworm-slim (debootstrap)"
    mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [ -n "$mirror" ] || mirror=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list)
    debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >/dev/null
    rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/*
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then # the host's apt sources
        rm -f "$work/rootfs/etc/apt/sources.list"
        cp /etc/apt/sources.list.d/debian.sources "$work/rootfs/etc/apt/sources.list.d/"
    fi
    tar -C "$work/rootfs" -c . | podman import --change 'CMD ["bash"]' - docker.io/library/debian:bookworm >/dev/null
    podman tag docker.io/library/debian:bookworm docker.io/library/debian:bookworm-slim
    rm -rf "$work/rootfs"
fi

step "build $image"
# docker format keeps the HEALTHCHECK; --pull=never: there is no registry to pull from.
podman build --pull=never --format docker --network host -t "$image" . >"$work/build.log" 2>&1 ||
    { tail -40 "$work/build.log"; echo "docker check: image build failed"; exit 1; }
size=$(podman image inspect -f '{{.Size}}' "$image")
echo "image $image: $((size / 1000000)) MB"

step "image metadata"
user=$(podman image inspect -f '{{.Config.User}}' "$image")
check "runs as a non-root numeric user ($user)" test -n "$user" -a "$user" != 0 -a "$user" != root
ports=$(podman image inspect -f '{{range $p, $_ := .Config.ExposedPorts}}{{$p}} {{end}}' "$image")
check "exposes 9000/tcp and 9180/tcp ($ports)" grep -q "9000/tcp.*9180/tcp" <<<"$ports"
health=$(podman image inspect -f '{{.Config.Healthcheck.Test}}' "$image")
check "has a HEALTHCHECK ($health)" grep -q "health-check" <<<"$health"
version=$(podman run --rm "$image" --version 2>/dev/null || true)
check "funnel --version ($version)" grep -q "^funnel " <<<"$version"
check "a bad FUNNEL_* value exits 2" bash -c \
    "podman run --rm -e FUNNEL_LISTEN=127.0.0.1:9000 -e FUNNEL_TARGET=x:1 -e FUNNEL_WORKERS=-1 '$image' >/dev/null 2>&1; [ \$? = 2 ]"

# Three free ports on 127.0.0.1: the sink, funnel's data port, funnel's metrics port.
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 40000))
        ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
    done
}
sink_port=$(free_port) data_port=$(free_port) metrics_port=$(free_port)

# GET PATH from funnel's metrics port; prints the whole response (status line, headers, body).
http_get() {
    timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$metrics_port && \
        printf 'GET %s HTTP/1.1\r\nHost: funnel\r\nConnection: close\r\n\r\n' '$1' >&3 && cat <&3"
}
# A counter's value in the /metrics text, or nothing.
metric() { http_get /metrics | awk -v n="$1" '$1 == n {print $2}' | tr -d '\r'; }

step "run funnel-sink, funnel and funnel-load from the image (host network, 127.0.0.1)"
sink=$(podman run -d --network host --entrypoint funnel-sink "$image" \
    --listen "127.0.0.1:$sink_port" --mode line --expect-messages "$total" --timeout 120 2>"$work/run.err") ||
    { cat "$work/run.err"; exit 1; }
containers+=("$sink")
relay=$(podman run -d --network host \
    -e FUNNEL_LISTEN="127.0.0.1:$data_port" -e FUNNEL_TARGET="127.0.0.1:$sink_port" \
    -e FUNNEL_MODE=message -e FUNNEL_METRICS_LISTEN="127.0.0.1:$metrics_port" \
    "$image" 2>"$work/run.err") || { cat "$work/run.err"; exit 1; }
containers+=("$relay")

# No systemd here, so podman does not run the HEALTHCHECK on its timer: run it by hand until it
# passes (funnel needs a moment to start).
healthy=0
for _ in $(seq 100); do
    if podman healthcheck run "$relay" >/dev/null 2>&1; then healthy=1; break; fi
    sleep 0.1
done
if [ $healthy = 1 ]; then pass "HEALTHCHECK passes"; else fail "HEALTHCHECK passes"; podman logs "$relay" | tail -20; fi
check "/readyz answers 200" bash -c "$(declare -f http_get); metrics_port=$metrics_port; http_get /readyz | head -1 | grep -q ' 200 '"

before=$(metric funnel_messages_received_total)
check "/metrics before the load: funnel_messages_received_total = 0 ($before)" test "$before" = 0
podman run --rm --network host --entrypoint funnel-load "$image" --target "127.0.0.1:$data_port" \
    --mode line --connections "$clients" --messages "$messages_per_client" >"$work/load.json" 2>&1 || true
check "funnel-load sent $total messages without errors" grep -q "\"messages\":$total,.*\"errors\":0" "$work/load.json"

sink_status=$(podman wait "$sink")
podman logs "$sink" >"$work/sink.json" 2>/dev/null
check "funnel-sink got every message once, in order, uncorrupted (exit $sink_status)" \
    bash -c "[ '$sink_status' = 0 ] && grep -q '\"unique\":$total,' '$work/sink.json' && grep -q '\"verdict\":\"ok\"' '$work/sink.json'"

# Sent counts what the sink's kernel acknowledged, which can trail the sink's count by an
# acknowledgement poll: wait for it rather than read it once.
received=$(metric funnel_messages_received_total)
check "/metrics: funnel_messages_received_total = $total ($received)" test "$received" = "$total"
sent=""
for _ in $(seq 50); do
    sent=$(metric funnel_messages_sent_total)
    [ "$sent" = "$total" ] && break
    sleep 0.1
done
check "/metrics: funnel_messages_sent_total = $total ($sent)" test "$sent" = "$total"
sink_bytes=$(grep -o '"bytes":[0-9]*' "$work/sink.json" | head -1 | cut -d: -f2)
bytes_sent=$(metric funnel_bytes_sent_total)
check "/metrics: funnel_bytes_sent_total = the sink's bytes ($bytes_sent, $sink_bytes)" test "$bytes_sent" = "$sink_bytes"

podman stop -t 20 "$relay" >/dev/null
relay_status=$(podman wait "$relay")
check "SIGTERM (podman stop) drains and exits 0 ($relay_status)" test "$relay_status" = 0
if [ $failed -gt 0 ]; then
    echo "--- funnel's log"; podman logs "$relay" 2>&1 | tail -30
    echo "--- sink"; cat "$work/sink.json"; echo "--- load"; cat "$work/load.json"
fi

echo "docker check: $passed passed, $failed failed ($((SECONDS - started))s)"
[ $failed = 0 ]
