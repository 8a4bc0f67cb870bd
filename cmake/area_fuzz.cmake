# Area "fuzz": hardening suites (issue 11).
#
# Fuzz targets (tests/fuzz/fuzz_*.c, libFuzzer entry point LLVMFuzzerTestOneInput)
# are built two ways:
#   * default (gcc or clang): each target + tests/fuzz/driver.c, a main() that
#     replays the committed corpus tests/fuzz/corpus/<target>/. One CTest test per
#     target, label "fuzz". Configure with -DGR_SANITIZE=ON to replay under
#     ASan/UBSan (what CI does).
#   * -DGR_LIBFUZZER=ON with clang: real libFuzzer binaries (no CTest test). The
#     gateway's sources must be instrumented too, so also pass
#     -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link, e.g.
#       CC=clang cmake -S . -B build-fuzz -DGR_LIBFUZZER=ON -DGR_SANITIZE=ON \
#         -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link -DCMAKE_BUILD_TYPE=RelWithDebInfo
#       build-fuzz/fuzz_sse -max_total_time=600 corpus_dir/
#     (see docs/RELIABILITY.md for the full procedure).
# Node suites: fault injection (tests/fault, label "fault") and durability
# (tests/durability, label "durability") against the real binary.
option(GR_LIBFUZZER "Build the fuzz targets as libFuzzer binaries (clang only)" OFF)

set(GR_FUZZ_TARGETS sse config chat_request responses_request provider_anthropic provider_gemini x402 svm siwx admin json_edit http_server verify_agree aws_eventstream provider_bedrock)

function(gr_fuzz_define)
  # Deferred to the end of the top-level CMakeLists so every area library and
  # the gaterouter target exist (area files are included in name order).
  foreach(lib gr_core gr_meter gr_providers gr_x402 gr_route)
    if(NOT TARGET ${lib})
      message(STATUS "fuzz: ${lib} not in this build (GR_AREA_FILTER), fuzz targets skipped")
      return()
    endif()
  endforeach()
  # Unit tests pinning each fuzz finding's fix (run in every build).
  gr_add_unit_test(NAME test_fuzz_findings SOURCES tests/fuzz/test_fuzz_findings.c
    LIBS gr_core gr_meter gr_providers gr_x402 gr_route)
  foreach(t ${GR_FUZZ_TARGETS})
    set(src tests/fuzz/fuzz_${t}.c)
    set(defs "")
    if(t STREQUAL "provider_anthropic")
      set(src tests/fuzz/fuzz_provider.c)
      set(defs GR_FUZZ_KIND=GR_PROVIDER_ANTHROPIC)
    elseif(t STREQUAL "provider_gemini")
      set(src tests/fuzz/fuzz_provider.c)
      set(defs GR_FUZZ_KIND=GR_PROVIDER_GEMINI)
    elseif(t STREQUAL "provider_bedrock")
      set(src tests/fuzz/fuzz_provider.c)
      set(defs GR_FUZZ_KIND=GR_PROVIDER_BEDROCK)
    endif()
    if(GR_LIBFUZZER)
      add_executable(fuzz_${t} ${src})
      target_compile_options(fuzz_${t} PRIVATE -fsanitize=fuzzer)
      target_link_options(fuzz_${t} PRIVATE -fsanitize=fuzzer)
    else()
      add_executable(fuzz_${t} ${src} tests/fuzz/driver.c)
      # corpus/<t>: the minimised corpus (rewritten by -merge=1);
      # regress/<t>: reproducers of fixed findings, never merged away.
      set(inputs ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${t})
      if(EXISTS ${CMAKE_SOURCE_DIR}/tests/fuzz/regress/${t})
        list(APPEND inputs ${CMAKE_SOURCE_DIR}/tests/fuzz/regress/${t})
      endif()
      add_test(NAME fuzz_${t} COMMAND fuzz_${t} ${inputs})
      set_tests_properties(fuzz_${t} PROPERTIES LABELS fuzz TIMEOUT 300)
    endif()
    target_compile_definitions(fuzz_${t} PRIVATE ${defs})
    target_include_directories(fuzz_${t} PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests/fuzz)
    target_link_libraries(fuzz_${t} PRIVATE gr_core gr_meter gr_providers gr_x402 gr_route gr_base
      ${GR_EXTERNAL_LIBS})
  endforeach()
endfunction()
cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL gr_fuzz_define)

find_program(GR_FAULT_NODE node)
if(GR_FAULT_NODE)
  add_test(NAME fault_node
    COMMAND ${GR_FAULT_NODE} --test --test-concurrency=1 ${CMAKE_SOURCE_DIR}/tests/fault/
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(fault_node PROPERTIES LABELS fault TIMEOUT 240
    ENVIRONMENT "GR_BIN=$<TARGET_FILE:gaterouter>;GR_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
  # The same upstream faults through the libcurl engine (https:// upstreams
  # use it; here forced with server.upstream_client: curl).
  add_test(NAME fault_node_curl
    COMMAND ${GR_FAULT_NODE} --test --test-concurrency=1 ${CMAKE_SOURCE_DIR}/tests/fault/upstream_faults.test.mjs ${CMAKE_SOURCE_DIR}/tests/fault/slow_reader.test.mjs
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(fault_node_curl PROPERTIES LABELS fault TIMEOUT 240
    ENVIRONMENT "GR_BIN=$<TARGET_FILE:gaterouter>;GR_SOURCE_DIR=${CMAKE_SOURCE_DIR};GR_TEST_UPSTREAM_CLIENT=curl")
  add_test(NAME durability_node
    COMMAND ${GR_FAULT_NODE} --test --test-concurrency=1 ${CMAKE_SOURCE_DIR}/tests/durability/
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(durability_node PROPERTIES LABELS durability TIMEOUT 400
    ENVIRONMENT "GR_BIN=$<TARGET_FILE:gaterouter>;GR_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endif()
