#!/usr/bin/env bash
# Stop the throwaway Prometheus that start-prometheus.sh recorded in
# .prom/state, and delete its files. Does nothing (successfully) if there is none.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
state_dir="$repo/.prom"
state_file="$state_dir/state"

log() { printf 'stop-prometheus: %s\n' "$*" >&2; }

if [[ ! -f "$state_file" ]]; then
    log "no server recorded in $state_file; nothing to stop"
    exit 0
fi

PROM_PID="" PROM_CONFIG=""
# shellcheck disable=SC1090  # written by start-prometheus.sh with printf %q
source "$state_file"

# Only the process recorded by our own start is signalled, and only while it
# is still a prometheus reading our config (the pid may have been reused).
ours() {
    [[ "$PROM_PID" =~ ^[0-9]+$ ]] && kill -0 "$PROM_PID" 2>/dev/null \
        && tr '\0' '\n' <"/proc/$PROM_PID/cmdline" 2>/dev/null \
            | grep -qxF -- "--config.file=$PROM_CONFIG"
}

if ours; then
    kill -TERM "$PROM_PID" 2>/dev/null || true
    for _ in $(seq 100); do ours || break; sleep 0.1; done
    if ours; then
        log "prometheus $PROM_PID did not stop within 10 s; sending SIGKILL"
        kill -KILL "$PROM_PID" 2>/dev/null || true
        for _ in $(seq 50); do ours || break; sleep 0.1; done
    fi
    log "stopped prometheus $PROM_PID"
fi

# Delete only the directory start-prometheus.sh made (config, data, log, targets).
rm -rf -- "$state_dir/data" "$state_dir/targets"
rm -f -- "$state_dir/prometheus.yml" "$state_dir/prometheus.log" "$state_file"
rmdir -- "$state_dir" 2>/dev/null || true
