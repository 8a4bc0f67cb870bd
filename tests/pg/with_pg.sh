#!/bin/sh
# tests/pg/with_pg.sh STATE_DIR COMMAND... — run COMMAND with
# GR_TEST_STORE_URL set to the test cluster's URL (written by start.sh) and
# GR_TEST_PG_RESTART to the command that crashes and restarts it.
# Fails (exit 1) when the cluster is not running: the *_pg tests never skip.
state=${1:?usage: with_pg.sh STATE_DIR COMMAND...}
shift
if [ ! -s "$state/url" ]; then
    echo "with_pg.sh: no PostgreSQL test server ($state/url missing): the pg_server fixture (tests/pg/start.sh) failed or did not run" >&2
    exit 1
fi
GR_TEST_STORE_URL=$(cat "$state/url")
# how a test crashes and restarts the server (test_store_sqlite: server_crash)
GR_TEST_PG_RESTART="$(cd "$(dirname "$0")" && pwd)/crash_server.sh $state"
export GR_TEST_STORE_URL GR_TEST_PG_RESTART
exec "$@"
