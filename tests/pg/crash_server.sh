#!/bin/sh
# tests/pg/crash_server.sh STATE_DIR [DOWN_MS] — crash the test cluster
# (pg_ctl stop -m immediate: every server process is killed without a
# checkpoint, as in a power cut of the processes) and start it again on the
# same port after DOWN_MS (default 300); the server runs WAL crash recovery.
# Used by test_store_sqlite_pg (server_crash) through GR_TEST_PG_RESTART.
set -eu
state=${1:?usage: crash_server.sh STATE_DIR [DOWN_MS]}
down_ms=${2:-300}
bindir="" tmp="" run_as="" port=""
. "$state/env"
# A checkpoint first keeps WAL replay short (the tests' CREATE DATABASEs
# write a lot of WAL); the rows the test inserts after it are still only in
# the WAL when the server dies, so recovery must replay them.
$run_as "$bindir/psql" -X -q -h "$tmp" -p "$port" -U gaterouter -d postgres -c CHECKPOINT
$run_as "$bindir/pg_ctl" -D "$tmp/data" -m immediate -w -t 30 stop >/dev/null
sleep "$(awk "BEGIN { print $down_ms / 1000 }")"
$run_as "$bindir/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w -t 60 \
    -o "-k $tmp -p $port -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
