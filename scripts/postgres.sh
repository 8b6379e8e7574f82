#!/usr/bin/env bash
# A throwaway PostgreSQL server on 127.0.0.1 for tests and benchmarks.
#
#   scripts/postgres.sh start [DIR]   install PostgreSQL if missing (Debian package), create a
#                                     cluster in DIR (default: a new temp dir) on a random free
#                                     port; prints `URL DIR` as its last line of stdout
#   scripts/postgres.sh stop DIR      stop that cluster and delete DIR
#
# Exits non-zero with the reason on stderr when PostgreSQL cannot be installed or started.
set -euo pipefail

die() { echo "postgres.sh: $*" >&2; exit 1; }

find_bin() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
    done
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"; return 0
    fi
    return 1
}

install_postgres() {
    command -v apt-get >/dev/null 2>&1 || die "PostgreSQL is not installed and apt-get is not available"
    [ "$(id -u)" = 0 ] || die "PostgreSQL is not installed and installing it needs root (apt-get install postgresql)"
    echo "postgres.sh: installing PostgreSQL (apt-get update && apt-get install postgresql)" >&2
    apt-get update -qq >&2 || die "apt-get update failed (no network or no package mirror?)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2 \
        || die "apt-get install postgresql failed"
}

# run a command as the cluster's owner: `postgres` when we are root (initdb refuses root)
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || die "running as root but there is no postgres user"
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    local bin dir port
    bin=$(find_bin) || { install_postgres; bin=$(find_bin) || die "installed, but initdb is still not found"; }
    dir=${1:-$(mktemp -d /tmp/flowdesk-pg.XXXXXX)}
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    port=$(free_port)
    as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
        || die "initdb failed: $(tail -3 "$dir/initdb.log")"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=100" start >/dev/null \
        || die "the server did not start: $(tail -3 "$dir/server.log" 2>/dev/null)"
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres flowdesk \
        || die "createdb failed"
    echo "$port" >"$dir/port"
    echo "postgresql+psycopg://postgres@127.0.0.1:$port/flowdesk $dir"
}

stop() {
    local dir=${1:?usage: postgres.sh stop DIR} bin
    bin=$(find_bin) || die "PostgreSQL is not installed"
    if [ -d "$dir/data" ]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}

case "${1:-}" in
    start) shift; start "$@" ;;
    stop) shift; stop "$@" ;;
    *) die "usage: scripts/postgres.sh start [DIR] | stop DIR" ;;
esac
