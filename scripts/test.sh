#!/usr/bin/env bash
# The whole test suite: installs deps, builds twice (release, and ASan+UBSan),
# runs every unit test and the official-SDK compat suites on both builds.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
JOBS=$(nproc)
echo "== release build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS"
echo "== sanitizer build (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DGR_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$JOBS"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "== tests (release)"
ctest --test-dir build --output-on-failure -j"$JOBS"
echo "== tests (ASan + UBSan; the benchmark smoke runs on the release build only)"
ctest --test-dir build-asan --output-on-failure -j"$JOBS" -LE bench
