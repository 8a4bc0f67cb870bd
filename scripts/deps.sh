#!/usr/bin/env bash
# Installs GateRouter's build and test dependencies on Debian 12 (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
PKGS=(build-essential cmake pkg-config git ca-certificates curl
      libevent-dev libcurl4-openssl-dev libcjson-dev libyaml-dev libsqlite3-dev
      libsecp256k1-dev libsodium-dev libssl-dev libcmocka-dev libhiredis-dev libhttp-parser-dev zlib1g-dev redis-server libpq-dev postgresql sqlite3 valgrind nodejs npm
      chromium)  # chromium: the console's browser suite (tests/console, playwright-core)
missing=()
for p in "${PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
# nodejs may come from elsewhere (e.g. nodesource); accept any node >= 20.
if command -v node >/dev/null && node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  echo ">> apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
if [ -f package-lock.json ] && { [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; }; then
  echo ">> npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
