#!/usr/bin/env bash
# A local GateRouter cluster on one machine, loopback only: a throwaway
# PostgreSQL (shared keys/ledger), Redis (shared limits, x402 nonces), two
# gateways and nginx in front on :8080.
#   scripts/cluster.sh up      # build, start everything, print the URL
#   scripts/cluster.sh status  # which pieces are running
#   scripts/cluster.sh down    # stop everything and delete the state
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=${GR_CLUSTER_DIR:-/tmp/gaterouter-cluster}
PORT=${GR_CLUSTER_PORT:-8080}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
              node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

up() {
  scripts/deps.sh
  command -v nginx >/dev/null || { ${SUDO:-} apt-get install -y -qq nginx >/dev/null; }
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j"$(nproc)" --target gaterouter >/dev/null
  mkdir -p "$STATE"
  tests/pg/start.sh "$STATE/pg" >/dev/null
  local pg_url; pg_url=$(cat "$STATE/pg/url")
  local rport; rport=$(free_port)
  redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --pidfile "$STATE/redis.pid" --logfile "$STATE/redis.log"
  local ports=()
  for i in 1 2; do
    local p; p=$(free_port); ports+=("$p")
    sed -e "s#^server:#server:#" config/gaterouter.yaml > "$STATE/gw$i.yaml"
    cat >> "$STATE/gw$i.yaml" <<YAML
store: "$pg_url"
redis: { url: "redis://127.0.0.1:$rport/0" }
YAML
    GR_LISTEN="127.0.0.1:$p" nohup ./build/gaterouter --config "$STATE/gw$i.yaml" > "$STATE/gw$i.log" 2>&1 &
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
  nginx -c "$STATE/nginx.conf" -p "$STATE"
  for i in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/ready" >/dev/null && break; sleep 0.1; done
  echo "GateRouter cluster up: http://127.0.0.1:$PORT (gateways on ${ports[*]}, PostgreSQL $(sed 's#//[^@]*@#//***@#' "$STATE/pg/url"), Redis :$rport)"
}

down() {
  [ -f "$STATE/nginx.pid" ] && nginx -c "$STATE/nginx.conf" -p "$STATE" -s stop 2>/dev/null || true
  for i in 1 2; do [ -f "$STATE/gw$i.pid" ] && kill "$(cat "$STATE/gw$i.pid")" 2>/dev/null || true; done
  [ -f "$STATE/redis.pid" ] && kill "$(cat "$STATE/redis.pid")" 2>/dev/null || true
  [ -d "$STATE/pg" ] && tests/pg/stop.sh "$STATE/pg" >/dev/null 2>&1 || true
  sleep 0.5
  rm -rf "$STATE"
  echo "GateRouter cluster down"
}

status() {
  for f in nginx redis gw1 gw2; do
    if [ -f "$STATE/$f.pid" ] && kill -0 "$(cat "$STATE/$f.pid")" 2>/dev/null; then echo "$f: running"; else echo "$f: stopped"; fi
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|status|down" >&2; exit 2 ;;
esac
