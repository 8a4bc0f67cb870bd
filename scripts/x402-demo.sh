#!/bin/sh
# x402-demo.sh — one command: a local chain with a USDC-like token, GateRouter
# (config/examples/x402-base-sepolia.yaml, mock model) and the official x402
# client paying for a chat completion; prints the 402, the payment, the answer
# and the settlement transaction. `x402-demo.sh solana`: the same on a local
# Solana (LiteSVM) with config/examples/x402-solana-devnet.yaml and @x402/svm
# (scripts/x402-solana-demo.mjs). Needs node and `npm ci` (anvil, solc, viem
# and the x402 clients come from node_modules); builds build/gaterouter if it
# is missing.
set -eu
cd "$(dirname "$0")/.."
if [ ! -d node_modules/@foundry-rs ] || [ ! -d node_modules/@x402/fetch ]; then
    echo "x402-demo: run 'npm ci' first (anvil, solc, viem and the x402 clients are npm packages)" >&2
    exit 1
fi
if [ -z "${GR_BIN:-}" ] && [ ! -x build/gaterouter ]; then
    cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target gaterouter
fi
if [ "${1:-}" = solana ]; then exec node scripts/x402-solana-demo.mjs; fi
exec node scripts/x402-demo.mjs
