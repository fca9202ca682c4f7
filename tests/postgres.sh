#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the store tests and export its URL.
#
#   source tests/postgres.sh     # exports ACTSEARCH_TEST_PG_URL in this shell
#   bash tests/postgres.sh       # prints ACTSEARCH_TEST_PG_URL=... (also in tests/pg_url)
#
# Debian 12, as root (or as a user who can run initdb/pg_ctl). Installs the
# Debian `postgresql` package if no server binaries are found, initialises a
# data directory (default /tmp/actsearch-pg, owned by `postgres`), starts the
# server on 127.0.0.1 only (first free port from 55432) and creates a user and
# a database. Idempotent: a second call reuses the running server.
#
# Settings (environment): ACTSEARCH_PG_DIR, ACTSEARCH_PG_PORT, ACTSEARCH_PG_USER,
# ACTSEARCH_PG_PASSWORD, ACTSEARCH_PG_DB, ACTSEARCH_PG_URL_FILE (where the URL is written,
# default tests/pg_url; empty: nowhere, for a private server). Stop it with:
#   runuser -u postgres -- pg_ctl -D /tmp/actsearch-pg stop

_actsearch_pg_main() {
    set -euo pipefail
    local here datadir port user password db bindir sockdir url
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    datadir="${ACTSEARCH_PG_DIR:-/tmp/actsearch-pg}"
    port="${ACTSEARCH_PG_PORT:-}"
    user="${ACTSEARCH_PG_USER:-actsearch}"
    password="${ACTSEARCH_PG_PASSWORD:-actsearch}"
    db="${ACTSEARCH_PG_DB:-actsearch_test}"
    sockdir="$datadir"

    log() { echo "postgres.sh: $*" >&2; }

    find_bindir() {
        local d
        if command -v pg_config >/dev/null 2>&1; then
            d="$(pg_config --bindir 2>/dev/null || true)"
            if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then
                echo "$d"; return 0
            fi
        fi
        for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
            if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then
                echo "$d"; return 0
            fi
        done
        return 1
    }

    if ! bindir="$(find_bindir)"; then
        if [ "$(id -u)" != 0 ]; then
            log "PostgreSQL server binaries not found and not root: install the 'postgresql' package"
            return 1
        fi
        log "installing PostgreSQL from Debian packages"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-cache policy postgresql >&2 || true
        apt-get install -y -qq postgresql >&2
        bindir="$(find_bindir)" || { log "PostgreSQL installed but initdb/pg_ctl not found"; return 1; }
    fi

    # Run server commands as the owner of the data directory.
    local owner=""
    if [ "$(id -u)" = 0 ]; then
        owner=postgres
        if ! id postgres >/dev/null 2>&1; then
            useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
        fi
    fi
    as_owner() {
        if [ -n "$owner" ]; then
            (cd / && runuser -u "$owner" -- "$@")
        else
            (cd / && "$@")
        fi
    }

    port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

    if [ ! -s "$datadir/PG_VERSION" ]; then
        log "initialising $datadir"
        mkdir -p "$datadir"
        [ -n "$owner" ] && chown "$owner:" "$datadir"
        chmod 700 "$datadir"
        # Local (socket) connections are trusted: the socket lives in the data
        # directory (mode 700), so only its owner and root can reach it.
        as_owner "$bindir/initdb" -D "$datadir" -U postgres -E UTF8 --locale=C.UTF-8 \
            --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    fi

    if as_owner "$bindir/pg_ctl" -D "$datadir" status >/dev/null 2>&1; then
        port="$(cat "$datadir/actsearch_port")"
        log "server already running on 127.0.0.1:$port"
    else
        if [ -z "$port" ]; then
            port=55432
            while port_busy "$port"; do port=$((port + 1)); done
        elif port_busy "$port"; then
            log "port $port is taken by another program; unset ACTSEARCH_PG_PORT to pick a free one"
            return 1
        fi
        echo "$port" > "$datadir/actsearch_port"
        log "starting server on 127.0.0.1:$port"
        # A test server: durability is traded for speed.
        as_owner "$bindir/pg_ctl" -D "$datadir" -l "$datadir/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$sockdir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
            start >/dev/null || { tail -n 20 "$datadir/server.log" >&2; return 1; }
    fi

    psql_admin() {
        as_owner "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$sockdir" -p "$port" -U postgres -d postgres "$@"
    }
    psql_admin -c "DO \$\$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$user') THEN
            CREATE ROLE \"$user\" LOGIN PASSWORD '$password';
        ELSE
            ALTER ROLE \"$user\" LOGIN PASSWORD '$password';
        END IF; END \$\$;"
    if [ "$(psql_admin -tA -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
        psql_admin -c "CREATE DATABASE \"$db\" OWNER \"$user\""
    fi
    psql_admin -d "$db" -c "GRANT ALL ON SCHEMA public TO \"$user\""

    url="postgresql://$user:$password@127.0.0.1:$port/$db"
    # Check the URL works over TCP with the password.
    PGPASSWORD="$password" "$bindir/psql" -X -q -tA "$url" -c "SELECT 1" >/dev/null \
        || { log "cannot connect with $url"; return 1; }
    local urlfile="${ACTSEARCH_PG_URL_FILE-$here/pg_url}"
    if [ -n "$urlfile" ]; then echo "$url" > "$urlfile"; fi
    echo "ACTSEARCH_TEST_PG_URL=$url"
}

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    # Sourced: run in a subshell (keep the caller's shell options), then export.
    if _actsearch_pg_line="$( _actsearch_pg_main )"; then
        export ACTSEARCH_TEST_PG_URL="${_actsearch_pg_line#ACTSEARCH_TEST_PG_URL=}"
        echo "$_actsearch_pg_line"
        unset _actsearch_pg_line
    else
        unset _actsearch_pg_line
        return 1
    fi
else
    _actsearch_pg_main
fi
