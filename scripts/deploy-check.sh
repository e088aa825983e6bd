#!/usr/bin/env bash
# Checks the deployment files against the funnel binary they deploy:
#   - deploy/systemd/funnel.service passes `systemd-analyze verify` with no complaint at all,
#   - the YAML (deploy/kubernetes/, docker-compose.yml) passes yamllint,
#   - the Kubernetes ConfigMap's FUNNEL_* variables and the compose file's funnel environment are
#     accepted by `funnel --check-config` (exit 0), so a typo in them fails here, not in a pod,
#   - the probes of the StatefulSet ask for the paths funnel serves, on the port the ConfigMap
#     gives FUNNEL_METRICS_LISTEN, and its spool volume is mounted where FUNNEL_SPOOL_DIR points.
#   scripts/deploy-check.sh [--bin-dir DIR]      (DIR holds funnel; default build/app)
set -euo pipefail
cd "$(dirname "$0")/.."

bin_dir=build/app
while [ $# -gt 0 ]; do
    case $1 in
        --bin-dir) bin_dir=$2; shift 2 ;;
        *) echo "usage: $0 [--bin-dir DIR]" >&2; exit 2 ;;
    esac
done
funnel=$(realpath "$bin_dir/funnel")
work=$(mktemp -d /tmp/funnel-deploy-check.XXXXXX)
trap 'rm -rf "$work"' EXIT

passed=0 failed=0
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then echo "ok   $what"; passed=$((passed + 1)); else echo "FAIL $what"; failed=$((failed + 1)); fi
}

# verify checks that ExecStart's binary exists and is executable: point it at the one built.
sed "s#/usr/local/bin/funnel#$funnel#g" deploy/systemd/funnel.service >"$work/funnel.service"
systemd-analyze verify "$work/funnel.service" >"$work/verify.out" 2>&1 || true
check "systemd-analyze verify deploy/systemd/funnel.service" test ! -s "$work/verify.out"
cat "$work/verify.out"
exposure=$(systemd-analyze security --offline=yes "$work/funnel.service" 2>/dev/null |
    grep -o 'Overall exposure level for [^:]*: [0-9.]* [A-Z]*' | awk '{print $(NF-1), $NF}')
echo "     systemd-analyze security: exposure $exposure (0 = most locked down, 10 = least)"

check "yamllint" yamllint -s -d "{extends: default, rules: {line-length: {max: 100}, document-start: disable}}" \
    deploy/kubernetes docker-compose.yml

# The ConfigMap's data block: flat `KEY: "value"` lines under `data:`.
awk '/^data:/ {on=1; next} on && /^[^ #]/ {on=0} on && /^  [A-Z_]+:/ {
        key=$1; sub(":", "", key); $1=""; sub(/^ /, ""); gsub(/"/, ""); print key "=" $0 }' \
    deploy/kubernetes/configmap.yaml >"$work/configmap.env"
check "the ConfigMap sets FUNNEL_LISTEN and FUNNEL_TARGET" grep -q "^FUNNEL_TARGET=" "$work/configmap.env"
# Accepted: exit 0 and not a word on stderr (an unknown FUNNEL_* variable is only a warning).
check_config() { # check_config ENV_FILE
    local err
    err=$(env -i PATH="$PATH" $(cat "$1") "$funnel" --check-config 2>&1 >/dev/null) && [ -z "$err" ] ||
        { echo "$err"; return 1; }
}
check "funnel --check-config accepts the ConfigMap, without a warning" check_config "$work/configmap.env"
# The compose file's funnel service: `      FUNNEL_X: value` lines.
awk '/^  funnel:/ {on=1; next} on && /^  [a-z]/ {on=0} on && /^      FUNNEL_[A-Z_]+:/ {
        key=$1; sub(":", "", key); print key "=" $2 }' docker-compose.yml >"$work/compose.env"
check "funnel --check-config accepts docker-compose.yml's funnel environment" \
    check_config "$work/compose.env"

metrics_port=$(sed -n 's/^FUNNEL_METRICS_LISTEN=.*:\([0-9]*\)$/\1/p' "$work/configmap.env")
check "the Service and the StatefulSet use the metrics port $metrics_port" \
    bash -c "grep -q 'containerPort: $metrics_port' deploy/kubernetes/statefulset.yaml &&
             grep -q 'port: $metrics_port' deploy/kubernetes/service.yaml"
check "the liveness probe asks for /healthz and the readiness probe for /readyz" \
    bash -c "grep -A3 livenessProbe deploy/kubernetes/statefulset.yaml | grep -q 'path: /healthz' &&
             grep -A3 readinessProbe deploy/kubernetes/statefulset.yaml | grep -q 'path: /readyz'"

spool_dir=$(sed -n 's/^FUNNEL_SPOOL_DIR=//p' "$work/configmap.env")
check "the spool volume is mounted at FUNNEL_SPOOL_DIR ($spool_dir) and claimed per instance" \
    bash -c "grep -A2 'name: spool' deploy/kubernetes/statefulset.yaml | grep -q 'mountPath: $spool_dir\$' &&
             grep -q volumeClaimTemplates deploy/kubernetes/statefulset.yaml"

echo "deploy check: $passed passed, $failed failed"
[ $failed = 0 ]
