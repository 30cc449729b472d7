#!/usr/bin/env bash
# Stop the throwaway PostgreSQL cluster that start-postgres.sh recorded in
# .pg/state, and delete its files. Does nothing (successfully) if there is none.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
state_file="$repo/.pg/state"

log() { printf 'stop-postgres: %s\n' "$*" >&2; }

if [[ ! -f "$state_file" ]]; then
    log "no cluster recorded in $state_file; nothing to stop"
    exit 0
fi

PG_TMP="" PG_DATA="" PG_BIN="" PG_USER=""
# shellcheck disable=SC1090  # written by start-postgres.sh with printf %q
source "$state_file"

if [[ -n "$PG_DATA" && -f "$PG_DATA/postmaster.pid" ]]; then
    pid="$(head -n 1 "$PG_DATA/postmaster.pid")"
    stopped=false
    if [[ -x "$PG_BIN/pg_ctl" ]]; then
        # The data is thrown away next, so no shutdown checkpoint is needed.
        if [[ "$(id -u)" -eq 0 && "$PG_USER" != root ]]; then
            runuser -u "$PG_USER" -- "$PG_BIN/pg_ctl" --pgdata="$PG_DATA" --mode=immediate \
                --wait --timeout=30 stop >&2 && stopped=true
        else
            "$PG_BIN/pg_ctl" --pgdata="$PG_DATA" --mode=immediate --wait --timeout=30 stop >&2 \
                && stopped=true
        fi
    fi
    if ! $stopped && [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
        # Only the postmaster recorded by our own cluster is signalled.
        log "pg_ctl could not stop it; sending SIGQUIT to postmaster $pid"
        kill -QUIT "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    log "stopped the cluster in $PG_DATA"
fi

# Delete only a directory that start-postgres.sh made.
if [[ -n "$PG_TMP" && "$(basename "$PG_TMP")" == dialer-pg.* && -d "$PG_TMP" ]]; then
    rm -rf -- "$PG_TMP"
fi
rm -f -- "$state_file"
rmdir -- "$repo/.pg" 2>/dev/null || true
