#!/bin/sh
# Runs the gateway under valgrind for the compat suites (CTest vg_compat_openai):
# any memory error, or a definite/indirect leak at exit, makes the process exit
# 97, which the suite's "drains and exits 0 on SIGTERM" assertion turns into a
# failure. GR_REAL_BIN is the binary to run.
exec valgrind --quiet --error-exitcode=97 --leak-check=full --errors-for-leak-kinds=definite,indirect \
  --show-leak-kinds=definite,indirect --trace-children=no "$GR_REAL_BIN" "$@"
