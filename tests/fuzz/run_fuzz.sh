#!/bin/sh
# run_fuzz.sh TARGET [SECONDS] — fuzz one target with libFuzzer (ASan+UBSan)
# from the committed corpus plus fresh fixture seeds, then minimise the
# result back into tests/fuzz/corpus/TARGET (-merge=1). Needs the clang build:
#   CC=clang cmake -S . -B build-fuzz -DGR_LIBFUZZER=ON -DGR_SANITIZE=ON \
#     -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link && cmake --build build-fuzz -j
# Findings land in build-fuzz/artifacts/TARGET/ (crash-*, leak-*, timeout-*);
# once fixed, copy the reproducer to tests/fuzz/regress/TARGET/<name> (kept
# verbatim: -merge=1 may drop an input that adds no coverage).
set -eu
t=$1
secs=${2:-600}
root=$(cd "$(dirname "$0")/../.." && pwd)
b=${GR_FUZZ_BUILD:-$root/build-fuzz}
work=$b/work/$t
mkdir -p "$work" "$b/artifacts/$t" "$root/tests/fuzz/corpus/$t"
[ -d "$b/seeds/$t" ] || python3 "$root/tests/fuzz/make_seeds.py" "$b/seeds" >/dev/null
dict=""; [ -f "$root/tests/fuzz/$t.dict" ] && dict="-dict=$root/tests/fuzz/$t.dict"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
"$b/fuzz_$t" $dict -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
  -print_final_stats=1 -artifact_prefix="$b/artifacts/$t/" \
  "$work" "$root/tests/fuzz/corpus/$t" "$b/seeds/$t" $( [ -d "$root/tests/fuzz/regress/$t" ] && echo "$root/tests/fuzz/regress/$t" ) > "$b/artifacts/$t.log" 2>&1 || true
tail -n 20 "$b/artifacts/$t.log" | grep -E 'stat::|ERROR|SUMMARY|invariant' || true
# minimise into the committed corpus
tmp=$b/work/$t.min
rm -rf "$tmp" && mkdir -p "$tmp"
"$b/fuzz_$t" -merge=1 -max_len=4096 "$tmp" "$root/tests/fuzz/corpus/$t" "$work" "$b/seeds/$t" >/dev/null 2>&1
rm -rf "$root/tests/fuzz/corpus/$t" && mv "$tmp" "$root/tests/fuzz/corpus/$t"
echo "$t: corpus $(ls "$root/tests/fuzz/corpus/$t" | wc -l) files, $(du -sk "$root/tests/fuzz/corpus/$t" | cut -f1) KiB"
