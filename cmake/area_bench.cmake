# Area "bench": micro-benchmarks of the hot pieces (bench/micro/*.c, ns/op,
# printed, no timing assertions), the streaming load client used by bench/run
# (bench/tools/sse_load.c), and the CTest smoke `bench_quick` (bench/run
# --quick: every peer side by side, fails on errors or non-2xx, asserts no
# timing). The full benchmark is `bench/run`; see docs/BENCHMARKS.md.
#
# Area files are included in name order, so the benchmarks are declared at the
# end of the directory (DEFER), when every area library they need exists; a
# filtered build (GR_AREA_FILTER) simply gets the benchmarks its areas allow.

add_executable(bench_sse_load bench/tools/sse_load.c)

function(gr_bench_declare_all)
  # Each bench links the one library (layer) it measures; the layers below
  # come along (cmake/layers.cmake).
  set(_micro
    "bench_json_rewrite|gr_base"
    "bench_sse|gr_provider"
    "bench_redact|gr_provider"
    "bench_x402|gr_x402"
    "bench_route|gr_route"
    "bench_meter|gr_meter")
  set(GR_BENCH_MICRO_TARGETS "")
  foreach(entry ${_micro})
    string(REPLACE "|" ";" parts "${entry}")
    list(GET parts 0 name)
    list(GET parts 1 libs)
    separate_arguments(libs)
    set(ok TRUE)
    foreach(l ${libs})
      if(NOT TARGET ${l})
        set(ok FALSE)
      endif()
    endforeach()
    if(ok)
      add_executable(${name} ${CMAKE_SOURCE_DIR}/bench/micro/${name}.c)
      target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/bench/micro
                                 ${CMAKE_SOURCE_DIR}/tests/unit)
      target_link_libraries(${name} PRIVATE ${libs} gr_base ${GR_EXTERNAL_LIBS})
      list(APPEND GR_BENCH_MICRO_TARGETS ${name})
    endif()
  endforeach()
  if(TARGET gr_x402)
    add_executable(bench_x402_payments ${CMAKE_SOURCE_DIR}/bench/tools/x402_payments.c)
    target_include_directories(bench_x402_payments PRIVATE ${CMAKE_SOURCE_DIR}/src)
    target_link_libraries(bench_x402_payments PRIVATE gr_x402 gr_base ${GR_EXTERNAL_LIBS})
    list(APPEND GR_BENCH_MICRO_TARGETS bench_x402_payments)
  endif()
  if(GR_BENCH_MICRO_TARGETS)
    add_custom_target(bench_micro DEPENDS ${GR_BENCH_MICRO_TARGETS})
  endif()

  if(TARGET gaterouter)
    # Smoke run of the whole harness (needs root on a fresh machine: it apt-get
    # installs nginx + wrk and runs `npm ci` in bench/peers when missing).
    add_test(NAME bench_quick
      COMMAND ${CMAKE_SOURCE_DIR}/bench/run --quick
              --bin $<TARGET_FILE:gaterouter>
              --tools-dir $<TARGET_FILE_DIR:bench_sse_load>)
    set_tests_properties(bench_quick PROPERTIES LABELS bench TIMEOUT 900 RUN_SERIAL TRUE)
  endif()
endfunction()
cmake_language(DEFER CALL gr_bench_declare_all)
