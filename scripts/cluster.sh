#!/usr/bin/env bash
# A local GateRouter cluster on one machine, loopback only: PostgreSQL (shared
# keys and ledger), Redis (shared limits, budgets, x402 nonces), two gateways
# and nginx in front. See docs/SCALING.md "Try it".
#
#   scripts/cluster.sh up                  build, start everything, wait for /ready
#   scripts/cluster.sh status              what is running, the URL
#   scripts/cluster.sh create-key NAME [BUDGET_USD]
#                                          create a virtual key through the admin API
#   scripts/cluster.sh down                stop what `up` started; data is kept
#   scripts/cluster.sh down --purge        ... and delete the state directory
#
# Environment:
#   GR_CLUSTER_DIR   state directory: PostgreSQL data, configs, logs, pid files,
#                    the admin key (default ./data/cluster, kept across `down`/`up`)
#   GR_CLUSTER_PORT  nginx port, the cluster's URL (default 8090; 8080 is the
#                    single-instance default)
#   GR_CLUSTER_READY_S  how long `up` waits for /ready (default 60)
#   GR_CLUSTER_BUILD    0 = use ./build/gaterouter as it is (default: build it)
#
# Safe to run twice: `up` refuses while any piece it recorded is still
# running, reuses the existing data and ports otherwise, and never deletes
# anything; only `down --purge` does. Needs initdb/pg_ctl (postgresql),
# redis-server and nginx on the machine (scripts/deps.sh installs them); no
# npm.
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=${GR_CLUSTER_DIR:-$PWD/data/cluster}
PORT=${GR_CLUSTER_PORT:-8090}
READY_S=${GR_CLUSTER_READY_S:-60}
PIECES=(nginx gw1 gw2 redis)

die() { echo "cluster.sh: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
              node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
running() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }
pg_bindir() {
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
  done
  command -v pg_ctl >/dev/null && dirname "$(readlink -f "$(command -v pg_ctl)")"
}
run_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_running() { [ -d "$STATE/pg/data" ] && run_pg "$(pg_bindir)/pg_ctl" -D "$STATE/pg/data" status >/dev/null 2>&1; }
# Ports are chosen once and kept, so URLs stay the same across down/up.
port_of() {
  local f="$STATE/ports/$1"
  [ -s "$f" ] || free_port > "$f"
  cat "$f"
}

wait_ready() { # URL NAME LOG
  local deadline=$((SECONDS + READY_S))
  until curl -fs "$1/ready" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      echo "cluster.sh: $2 did not answer $1/ready within ${READY_S}s" >&2
      [ -n "${3:-}" ] && tail -n 20 "$3" >&2
      return 1
    fi
    sleep 0.2
  done
}

up() {
  for p in "${PIECES[@]}"; do
    running "$p" && die "$p is already running (pid $(cat "$STATE/$p.pid")): the cluster is up; see '$0 status', or '$0 down' first"
  done
  pg_running && die "PostgreSQL in $STATE/pg is already running: '$0 down' first"
  for c in redis-server nginx curl; do command -v "$c" >/dev/null || die "$c not found (scripts/deps.sh installs it)"; done
  local bindir; bindir=$(pg_bindir) || die "PostgreSQL server binaries (initdb, pg_ctl) not found (scripts/deps.sh installs them)"
  if [ "${GR_CLUSTER_BUILD:-1}" != 0 ]; then
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build -j"$(nproc)" --target gaterouter >/dev/null
  fi
  [ -x build/gaterouter ] || die "build/gaterouter missing"
  mkdir -p "$STATE/ports" "$STATE/pg"
  chmod 711 "$STATE" # others may only traverse (PostgreSQL runs as its own user); secrets are 600
  rm -f "$STATE"/*.pid

  # PostgreSQL: created on the first `up`, reused after.
  local pg_port; pg_port=$(port_of pg)
  if [ ! -s "$STATE/pg/password" ]; then
    od -An -N12 -tx1 /dev/urandom | tr -d ' \n' > "$STATE/pg/password"
    chmod 600 "$STATE/pg/password"
  fi
  if [ "$(id -u)" -eq 0 ]; then chown -R postgres "$STATE/pg"; fi
  if [ ! -d "$STATE/pg/data" ]; then
    run_pg "$bindir/initdb" -D "$STATE/pg/data" -U gaterouter -E UTF8 --locale=C --auth-local=trust \
      --auth-host=scram-sha-256 --pwfile="$STATE/pg/password" > "$STATE/pg/initdb.log" 2>&1 ||
      { cat "$STATE/pg/initdb.log" >&2; die "initdb failed"; }
  fi
  run_pg "$bindir/pg_ctl" -D "$STATE/pg/data" -l "$STATE/pg/server.log" -w -t 60 \
    -o "-k $STATE/pg -p $pg_port -c listen_addresses=127.0.0.1" start >/dev/null || { tail -n 20 "$STATE/pg/server.log" >&2; die "PostgreSQL did not start"; }
  local pw; pw=$(cat "$STATE/pg/password")
  local pg_url="postgres://gaterouter:$pw@127.0.0.1:$pg_port/gaterouter"
  if ! "$bindir/psql" -X -q -At "postgres://gaterouter:$pw@127.0.0.1:$pg_port/postgres" \
      -c "SELECT 1 FROM pg_database WHERE datname = 'gaterouter'" | grep -q 1; then
    "$bindir/psql" -X -q "postgres://gaterouter:$pw@127.0.0.1:$pg_port/postgres" -c "CREATE DATABASE gaterouter" >/dev/null
  fi

  # Redis holds only derived state (windows, reservations, spend counters
  # seeded from PostgreSQL), so it runs without persistence.
  local rport; rport=$(port_of redis)
  redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --pidfile "$STATE/redis.pid" --logfile "$STATE/redis.log"

  # The admin key: generated on the first `up`, kept in the state directory.
  if [ ! -s "$STATE/admin_key" ]; then
    (umask 077; printf 'gr-admin-%s\n' "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" > "$STATE/admin_key")
  fi
  local ports=()
  for i in 1 2; do
    local p; p=$(port_of "gw$i"); ports+=("$p")
    { sed '/^auth:/,/^  keys: \[\]/d' config/gaterouter.yaml
      cat <<YAML
auth: { admin_key: "\${GR_ADMIN_KEY}" }
store: "\${GR_STORE_URL}"
redis: { url: "redis://127.0.0.1:$rport/0" }
YAML
    } > "$STATE/gw$i.yaml"
    GR_LISTEN="127.0.0.1:$p" GR_ADMIN_KEY="$(cat "$STATE/admin_key")" GR_STORE_URL="$pg_url" \
      nohup ./build/gaterouter --config "$STATE/gw$i.yaml" > "$STATE/gw$i.log" 2>&1 &
    echo $! > "$STATE/gw$i.pid"
  done
  cat > "$STATE/nginx.conf" <<NGINX
worker_processes 1;
pid $STATE/nginx.pid;
error_log $STATE/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  upstream gaterouter { server 127.0.0.1:${ports[0]}; server 127.0.0.1:${ports[1]}; keepalive 64; }
  server {
    listen 127.0.0.1:$PORT;
    client_max_body_size 16m;
    location / {
      proxy_pass http://gaterouter;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;            # stream tokens as they arrive
      proxy_read_timeout 600s;
      proxy_next_upstream error timeout http_502;
    }
  }
}
NGINX
  nginx -c "$STATE/nginx.conf" -p "$STATE" || die "nginx did not start (port $PORT taken? set GR_CLUSTER_PORT)"
  wait_ready "http://127.0.0.1:${ports[0]}" gw1 "$STATE/gw1.log" &&
    wait_ready "http://127.0.0.1:${ports[1]}" gw2 "$STATE/gw2.log" &&
    wait_ready "http://127.0.0.1:$PORT" nginx "$STATE/nginx-error.log" ||
    die "the cluster is not ready (logs in $STATE); '$0 down' stops what was started"
  echo "GateRouter cluster up: http://127.0.0.1:$PORT (gateways on ${ports[*]}, PostgreSQL :$pg_port, Redis :$rport)"
  echo "state: $STATE; admin key in $STATE/admin_key; create a key: $0 create-key NAME [BUDGET_USD]"
}

create_key() {
  local name=${1:?usage: $0 create-key NAME [BUDGET_USD]} budget=${2:-}
  [ -s "$STATE/admin_key" ] || die "no admin key in $STATE: '$0 up' first"
  local body; body=$(printf '{"name":"%s"%s}' "$name" "${budget:+,\"budget_usd\":\"$budget\"}")
  curl -fsS -X POST "http://127.0.0.1:$PORT/admin/keys" -H "Authorization: Bearer $(cat "$STATE/admin_key")" \
    -H 'Content-Type: application/json' -d "$body" || die "POST /admin/keys failed (is the cluster up?)"
  echo
}

stop_pid() { # NAME: SIGTERM, then wait up to 30 s (gateways drain in-flight requests)
  local pid; pid=$(cat "$STATE/$1.pid" 2>/dev/null || true)
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then rm -f "$STATE/$1.pid"; return 0; fi
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && echo "cluster.sh: $1 (pid $pid) still running after 30 s" >&2
  rm -f "$STATE/$1.pid"
}

down() {
  [ -d "$STATE" ] || { echo "GateRouter cluster: nothing in $STATE"; return 0; }
  if running nginx; then nginx -c "$STATE/nginx.conf" -p "$STATE" -s quit 2>/dev/null || true; fi
  for p in "${PIECES[@]}"; do stop_pid "$p"; done
  if pg_running; then run_pg "$(pg_bindir)/pg_ctl" -D "$STATE/pg/data" -m fast -w -t 60 stop >/dev/null; fi
  if [ "${1:-}" = "--purge" ]; then
    rm -rf "$STATE"
    echo "GateRouter cluster down; $STATE deleted"
  else
    echo "GateRouter cluster down; data kept in $STATE ('$0 down --purge' deletes it)"
  fi
}

status() {
  for p in "${PIECES[@]}"; do
    if running "$p"; then echo "$p: running (pid $(cat "$STATE/$p.pid"))"; else echo "$p: stopped"; fi
  done
  if pg_running; then echo "postgresql: running"; else echo "postgresql: stopped"; fi
  if curl -fs "http://127.0.0.1:$PORT/ready" >/dev/null 2>&1; then echo "ready: http://127.0.0.1:$PORT"; else echo "ready: no"; fi
}

case "${1:-}" in
  up) up ;;
  down) down "${2:-}" ;;
  status) status ;;
  create-key) shift; create_key "$@" ;;
  *) echo "usage: $0 up | status | create-key NAME [BUDGET_USD] | down [--purge]" >&2; exit 2 ;;
esac
