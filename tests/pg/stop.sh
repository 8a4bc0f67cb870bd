#!/bin/sh
# tests/pg/stop.sh STATE_DIR — stop and delete the cluster started by
# start.sh (CTest fixture cleanup). Safe to run when nothing is running.
set -u
state=${1:?usage: stop.sh STATE_DIR}
[ -f "$state/env" ] || exit 0
bindir="" tmp="" run_as="" port=""
. "$state/env"
if [ -n "$tmp" ] && [ -d "$tmp/data" ]; then
    $run_as "$bindir/pg_ctl" -D "$tmp/data" -m fast -w -t 60 stop >/dev/null 2>&1 \
        || $run_as "$bindir/pg_ctl" -D "$tmp/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
fi
case "$tmp" in
    /tmp/gr-pg.*) rm -rf "$tmp" ;;
esac
rm -f "$state/url" "$state/env"
exit 0
