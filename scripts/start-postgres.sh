#!/usr/bin/env bash
# Start a throwaway PostgreSQL 15 cluster for the test suite.
#
# Prints exactly one line on stdout, the SQLAlchemy URL of an empty database
# `dialer_test` (postgresql+asyncpg://postgres@127.0.0.1:PORT/dialer_test);
# everything else goes to stderr so callers can write URL=$(start-postgres.sh).
# Where the cluster lives is recorded in .pg/state for stop-postgres.sh.
#
# The cluster is for tests only: trust authentication, loopback only, fsync off.
# Environment: PG_BIN overrides the server binary directory.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
state_dir="$repo/.pg"
state_file="$state_dir/state"
pg_version=15
pg_bin="${PG_BIN:-/usr/lib/postgresql/$pg_version/bin}"
db_name=dialer_test

log() { printf 'start-postgres: %s\n' "$*" >&2; }
die() {
    printf '\n!!! start-postgres: %s\n\n' "$*" >&2
    exit 1
}

# A cluster left behind by an earlier run (a killed `make test`) is stopped
# first, so ports and temp dirs do not pile up.
if [[ -f "$state_file" ]]; then
    log "stopping the cluster left by an earlier run"
    bash "$here/stop-postgres.sh" || log "could not stop the earlier cluster; going on"
fi

is_root=false
[[ "$(id -u)" -eq 0 ]] && is_root=true

if [[ ! -x "$pg_bin/initdb" || ! -x "$pg_bin/pg_ctl" ]]; then
    if ! $is_root; then
        die "PostgreSQL $pg_version server binaries not found in $pg_bin and this is not root.
    Install them with:  sudo apt-get install -y postgresql-$pg_version
    (or point PG_BIN at a directory holding initdb and pg_ctl)."
    fi
    log "PostgreSQL $pg_version not found in $pg_bin: installing postgresql-$pg_version"
    install_rc=0
    bash "$here/apt-install-quietly.sh" "postgresql-$pg_version" || install_rc=$?
    [[ $install_rc -eq 0 ]] || die "apt-get install postgresql-$pg_version failed (exit $install_rc)"
    [[ -x "$pg_bin/initdb" ]] || die "postgresql-$pg_version installed, but no initdb in $pg_bin"
fi

# The server refuses to run as root: as root, run it as `postgres`.
if $is_root; then
    if ! id -u postgres >/dev/null 2>&1; then
        log "creating the system user postgres"
        useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home \
            --shell /bin/bash postgres >&2
    fi
    as_pg() { runuser -u postgres -- "$@"; }
    pg_user=postgres
else
    as_pg() { "$@"; }
    pg_user="$(id -un)"
fi

free_port() {
    python3 - <<'PY'
import socket
while True:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    if port != 5432:
        print(port)
        break
PY
}

# As root the directory must be reachable by `postgres`, which a private
# $TMPDIR (say under /root) is not: use /tmp then.
tmp_base="${TMPDIR:-/tmp}"
$is_root && tmp_base=/tmp
tmp="$(mktemp -d "$tmp_base/dialer-pg.XXXXXX")"
data="$tmp/data"
sock="$tmp/sock"
logfile="$tmp/postgres.log"

write_state() {
    mkdir -p "$state_dir"
    {
        printf 'PG_TMP=%q\n' "$tmp"
        printf 'PG_DATA=%q\n' "$data"
        printf 'PG_BIN=%q\n' "$pg_bin"
        printf 'PG_USER=%q\n' "$pg_user"
        printf 'PG_PORT=%q\n' "${port:-}"
        printf 'PG_URL=%q\n' "${url:-}"
    } >"$state_file.new"
    mv "$state_file.new" "$state_file"
}

# Record the temp dir at once, so that stop-postgres.sh can clean up after a
# start that failed half way (the Makefile traps EXIT before starting us).
write_state
cleanup_on_error() {
    local rc=$?
    if [[ $rc -ne 0 ]]; then
        printf '\n!!! start-postgres: failed (exit %s); server log follows\n' "$rc" >&2
        [[ -f "$logfile" ]] && tail -n 40 "$logfile" >&2
        bash "$here/stop-postgres.sh" >&2 || true
    fi
}
trap cleanup_on_error EXIT

mkdir -p "$sock"
if $is_root; then
    chown -R postgres: "$tmp"
fi
chmod 700 "$tmp"

log "initdb in $data"
as_pg "$pg_bin/initdb" --pgdata="$data" --username=postgres --auth=trust \
    --encoding=UTF8 --locale=C.UTF-8 --no-sync --no-instructions >&2

# The suite's settings: speed over durability, loopback only.
cat >>"$data/postgresql.conf" <<CONF

# --- dialer test cluster (scripts/start-postgres.sh) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$sock'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
log_min_messages = warning
CONF

started=false
for attempt in 1 2 3 4 5; do
    port="$(free_port)"
    # Another process may grab the port between our probe and the server's
    # bind: retry with a new one.
    if as_pg "$pg_bin/pg_ctl" --pgdata="$data" --log="$logfile" --wait --timeout=60 \
        -o "-p $port" start >&2; then
        started=true
        break
    fi
    log "start on port $port failed (attempt $attempt); retrying"
done
$started || die "the PostgreSQL server would not start; see $logfile"

url="postgresql+asyncpg://postgres@127.0.0.1:$port/$db_name"
write_state

"$pg_bin/createdb" --host=127.0.0.1 --port="$port" --username=postgres "$db_name" >&2

log "PostgreSQL $pg_version ready on 127.0.0.1:$port (data $data)"
printf '%s\n' "$url"
