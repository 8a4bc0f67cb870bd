#!/usr/bin/env bash
# One command to try GateRouter: installs deps, builds, and runs the gateway on
# the default config (built-in mock provider, no API keys needed).
#   scripts/run.sh                 # config/gaterouter.yaml
#   scripts/run.sh --config FILE   # any other config
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target gaterouter
if [ $# -eq 0 ]; then set -- --config config/gaterouter.yaml; fi
exec ./build/gaterouter "$@"
