#!/usr/bin/env bash
# A private PostgreSQL 15 for the Prefect server, in a folder of its own (Debian's postgresql-15 binaries).
#
#   scripts/prefect_postgres.sh start [DIR] [PORT]   create (first time) and start it; prints the
#                                                    PREFECT_API_DATABASE_CONNECTION_URL on standard output
#   scripts/prefect_postgres.sh status [DIR]         exit 0 and print the URL if running, exit 3 if not
#   scripts/prefect_postgres.sh stop [DIR]           stop it (the data stays in DIR)
#
# DIR defaults to $CONFCAST_POSTGRES_DIR, else /var/lib/confcast/postgres as root, ~/.cache/confcast/postgres
# otherwise; PORT to $CONFCAST_POSTGRES_PORT, else the previous start's, else 5433 (5432 stays for a system PostgreSQL).
# It listens on 127.0.0.1 only; database `prefect`, user `prefect`, a random password kept in DIR/password.
# PostgreSQL refuses to run as root: as root the server runs as the `postgres` system user, which owns DIR/data.
# Starting a running server only prints its URL. PG_BIN overrides /usr/lib/postgresql/15/bin.
set -euo pipefail

usage() { echo "usage: $0 start [DIR] [PORT] | status [DIR] | stop [DIR]" >&2; exit 2; }
die() { echo "prefect_postgres: error: $*" >&2; exit 1; }
say() { echo "prefect_postgres: $*" >&2; }

command=${1:-}
[ -n "$command" ] || usage
default_dir=${XDG_CACHE_HOME:-$HOME/.cache}/confcast/postgres
[ "$(id -u)" -eq 0 ] && default_dir=/var/lib/confcast/postgres # /root is private: the postgres user cannot enter it
dir=${2:-${CONFCAST_POSTGRES_DIR:-$default_dir}}
requested_port=${3:-${CONFCAST_POSTGRES_PORT:-}}
port=${requested_port:-5433}
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}

for program in initdb pg_ctl postgres psql; do
  [ -x "$bin/$program" ] ||
    die "$bin/$program not found: install Debian's PostgreSQL 15 (apt-get install postgresql-15) or set PG_BIN"
done
case "$port" in ''|*[!0-9]*) die "port must be a number, not '$port'" ;; esac
if [ "$command" = start ]; then
  mkdir -p "$dir"
elif [ ! -d "$dir" ]; then
  say "not running in $dir (no such folder)"
  if [ "$command" = stop ]; then exit 0; else exit 3; fi
fi
dir=$(cd "$dir" && pwd)
data=$dir/data
run=$dir/run # the Unix socket and the server log; private to the server's user

if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || die "running as root needs the 'postgres' system user (from the postgresql-15 package)"
  as_server() { runuser -u postgres -- "$@"; }
  owner=postgres
else
  as_server() { "$@"; }
  owner=$(id -un)
fi

url() { echo "postgresql+asyncpg://prefect:$(cat "$dir/password")@127.0.0.1:$1/prefect"; }
running() { [ -f "$data/PG_VERSION" ] && as_server "$bin/pg_ctl" status -D "$data" >/dev/null 2>&1; }
running_port() { sed -n 4p "$data/postmaster.pid"; }

case "$command" in
  start)
    if running; then
      current=$(running_port)
      if [ -n "$requested_port" ] && [ "$requested_port" != "$current" ]; then
        die "already running in $dir on port $current; stop it first to use port $requested_port"
      fi
      say "already running in $dir on 127.0.0.1:$current"
      url "$current"
      exit 0
    fi
    as_server test -x "$dir" || chmod go+x "$dir" # the server's user must reach data/ and run/ inside it
    as_server test -x "$dir" ||
      die "user '$owner' cannot reach $dir (a parent folder is private, e.g. /root); choose another DIR"
    mkdir -p "$run"
    chown "$owner" "$run"
    chmod 700 "$run"
    fresh=0
    if [ ! -f "$data/PG_VERSION" ]; then
      fresh=1
      (umask 077 && od -An -tx1 -N18 /dev/urandom | tr -d ' \n' >"$dir/password")
      mkdir -p "$data"
      chown "$owner" "$data"
      chmod 700 "$data"
      say "initialising $data"
      as_server "$bin/initdb" -D "$data" -U postgres -E UTF8 --locale=C.UTF-8 --auth=trust >"$run/initdb.log" 2>&1 \
        || die "initdb failed: $(tail -n 5 "$run/initdb.log")"
      # Superuser only through the socket in the private run/ folder; the Prefect user by password over TCP.
      cat >"$data/pg_hba.conf" <<'EOF'
local all       all                  trust
host  prefect   prefect 127.0.0.1/32 scram-sha-256
EOF
      echo "include_if_exists = 'confcast.conf'" >>"$data/postgresql.conf"
    fi
    [ -f "$dir/password" ] || die "$dir/password is missing: remove $dir to start afresh"
    if [ -z "$requested_port" ] && [ -f "$data/confcast.conf" ]; then # the port of the previous start
      saved=$(sed -n 's/^port = \([0-9]*\)$/\1/p' "$data/confcast.conf")
      port=${saved:-$port}
    fi
    cat >"$data/confcast.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$run'
EOF
    chown "$owner" "$data/confcast.conf"
    as_server "$bin/pg_ctl" start -D "$data" -l "$run/postgres.log" -w -t 60 >/dev/null \
      || die "PostgreSQL did not start (is port $port taken?): $(tail -n 5 "$run/postgres.log" 2>/dev/null)"
    if [ "$fresh" -eq 1 ]; then
      password=$(cat "$dir/password")
      if ! as_server "$bin/psql" -h "$run" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
          -c "CREATE ROLE prefect LOGIN PASSWORD '$password'" -c "CREATE DATABASE prefect OWNER prefect" \
        || ! as_server "$bin/psql" -h "$run" -p "$port" -U postgres -d prefect -q -c "CREATE EXTENSION pg_trgm;"; then
        as_server "$bin/pg_ctl" stop -D "$data" -m fast >/dev/null 2>&1 || true
        die "creating the prefect database failed: remove $dir and start again"
      fi
    fi
    say "running in $dir on 127.0.0.1:$port (stop: $0 stop $dir)"
    url "$port"
    ;;
  status)
    if running; then url "$(running_port)"; else say "not running in $dir"; exit 3; fi
    ;;
  stop)
    if running; then
      as_server "$bin/pg_ctl" stop -D "$data" -m fast -w -t 60 >/dev/null
      say "stopped (data kept in $dir)"
    else
      say "not running in $dir"
    fi
    ;;
  *) usage ;;
esac
