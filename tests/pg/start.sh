#!/bin/sh
# tests/pg/start.sh STATE_DIR — start a throwaway PostgreSQL cluster for the
# *_pg tests (CTest fixture pg_server, cmake/area_pg.cmake) and print its URL.
#
#  * installs the Debian package `postgresql` with apt-get when initdb is
#    missing (root only);
#  * initdb in a fresh temp dir (as the `postgres` user when run as root:
#    PostgreSQL refuses to run as root), UTF8, scram-sha-256 for TCP;
#  * starts it on a free 127.0.0.1 port, socket in the temp dir;
#  * creates the database gr_test and writes STATE_DIR/url
#    (postgres://gaterouter:PASSWORD@127.0.0.1:PORT/gr_test) and STATE_DIR/env
#    (for stop.sh).
# Exits non-zero when any step fails, so the tests that need it fail too.
set -eu

state=${1:?usage: start.sh STATE_DIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$state"
# a cluster left over by an interrupted run
"$here/stop.sh" "$state" >/dev/null 2>&1 || true
rm -f "$state/url" "$state/env"

find_bindir() {
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
    done
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        return 0
    fi
    return 1
}

bindir=$(find_bindir || true)
if [ -z "$bindir" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "start.sh: PostgreSQL server binaries not found and not root: apt-get install postgresql" >&2
        exit 1
    fi
    echo "start.sh: installing postgresql (apt-get)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y postgresql >&2 || { apt-get update >&2 && apt-get install -y postgresql >&2; }
    bindir=$(find_bindir) || { echo "start.sh: initdb still missing after install" >&2; exit 1; }
fi

tmp=$(mktemp -d /tmp/gr-pg.XXXXXX)
run_as=""
if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || { echo "start.sh: running as root but there is no 'postgres' user" >&2; exit 1; }
    chown postgres "$tmp"
    run_as="runuser -u postgres --"
fi
chmod 700 "$tmp"
password="gr-test-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$password" > "$tmp/pwfile"
[ -n "$run_as" ] && chown postgres "$tmp/pwfile"

# written before anything can fail past this point, so stop.sh can clean up
{
    echo "bindir='$bindir'"
    echo "tmp='$tmp'"
    echo "run_as='$run_as'"
} > "$state/env"

$run_as "$bindir/initdb" -D "$tmp/data" -U gaterouter -E UTF8 --locale=C \
    --auth-local=trust --auth-host=scram-sha-256 --pwfile="$tmp/pwfile" -N \
    > "$tmp/initdb.log" 2>&1 || { cat "$tmp/initdb.log" >&2; exit 1; }
rm -f "$tmp/pwfile"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
        || echo $((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000))
}

started=""
for attempt in 1 2 3 4 5; do
    port=$(free_port)
    if $run_as "$bindir/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w -t 60 \
        -o "-k $tmp -p $port -c listen_addresses=127.0.0.1 -c max_connections=300" start >&2; then
        started=1
        break
    fi
    echo "start.sh: start on port $port failed (attempt $attempt)" >&2
    tail -n 20 "$tmp/server.log" >&2 || true
done
[ -n "$started" ] || { echo "start.sh: PostgreSQL did not start" >&2; exit 1; }
echo "port='$port'" >> "$state/env"

# over TCP with the password, as the tests will connect
"$bindir/psql" -X -q "postgres://gaterouter:$password@127.0.0.1:$port/postgres" \
    -c "CREATE DATABASE gr_test" >&2 || { echo "start.sh: CREATE DATABASE failed" >&2; exit 1; }
url="postgres://gaterouter:$password@127.0.0.1:$port/gr_test"
"$bindir/psql" -X -q -At "$url" -c "SELECT 1" >/dev/null \
    || { echo "start.sh: cannot connect to $url" >&2; exit 1; }
printf '%s\n' "$url" > "$state/url"
echo "$url"
