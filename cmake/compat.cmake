# Client-compatibility suites: official SDKs (npm) against the real binary.
find_program(NODE_EXECUTABLE node)
if(NODE_EXECUTABLE AND EXISTS ${CMAKE_SOURCE_DIR}/node_modules/openai)
  add_test(NAME compat_node
    COMMAND ${NODE_EXECUTABLE} --test --test-concurrency=1 ${CMAKE_SOURCE_DIR}/tests/compat/
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(compat_node PROPERTIES LABELS compat TIMEOUT 600
    ENVIRONMENT "GR_BIN=$<TARGET_FILE:gaterouter>;GR_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
else()
  message(WARNING "node or node_modules missing: run `npm ci` to enable the compat suites")
endif()

# Multi-instance suites: two gateways sharing limits through a real Redis.
if(NODE_EXECUTABLE AND EXISTS ${CMAKE_SOURCE_DIR}/node_modules/openai)
  add_test(NAME scale_redis
    COMMAND ${NODE_EXECUTABLE} --test --test-concurrency=1 ${CMAKE_SOURCE_DIR}/tests/scale/redis.test.mjs ${CMAKE_SOURCE_DIR}/tests/scale/hints.test.mjs
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(scale_redis PROPERTIES LABELS scale TIMEOUT 300
    ENVIRONMENT "GR_BIN=$<TARGET_FILE:gaterouter>;GR_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endif()

# The auto:verify cascade under valgrind (release builds only): its side calls,
# timers and cancellations must leave no memory error or leak at exit.
if(NODE_EXECUTABLE AND EXISTS ${CMAKE_SOURCE_DIR}/node_modules/openai AND GR_VALGRIND AND NOT GR_SANITIZE)
  add_test(NAME vg_compat_verify
    COMMAND ${NODE_EXECUTABLE} --test --test-concurrency=1 ${CMAKE_SOURCE_DIR}/tests/compat/verify.test.mjs
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(vg_compat_verify PROPERTIES LABELS "valgrind;compat" TIMEOUT 900 RUN_SERIAL TRUE
    ENVIRONMENT "GR_BIN=${CMAKE_SOURCE_DIR}/tests/valgrind/gaterouter-vg.sh;GR_REAL_BIN=$<TARGET_FILE:gaterouter>;GR_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endif()

# The official-SDK suite against the gateway running under valgrind (release
# builds only): memory errors or leaks at exit fail the suite.
if(NODE_EXECUTABLE AND EXISTS ${CMAKE_SOURCE_DIR}/node_modules/openai AND GR_VALGRIND AND NOT GR_SANITIZE)
  add_test(NAME vg_compat_openai
    COMMAND ${NODE_EXECUTABLE} --test --test-concurrency=1 ${CMAKE_SOURCE_DIR}/tests/compat/openai_sdk.test.mjs
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(vg_compat_openai PROPERTIES LABELS "valgrind;compat" TIMEOUT 900 RUN_SERIAL TRUE
    ENVIRONMENT "GR_BIN=${CMAKE_SOURCE_DIR}/tests/valgrind/gaterouter-vg.sh;GR_REAL_BIN=$<TARGET_FILE:gaterouter>;GR_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
  # the Responses API suite likewise (its mock runs under valgrind too)
  add_test(NAME vg_compat_responses
    COMMAND ${NODE_EXECUTABLE} --test --test-concurrency=1 ${CMAKE_SOURCE_DIR}/tests/compat/responses.test.mjs
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(vg_compat_responses PROPERTIES LABELS "valgrind;compat" TIMEOUT 900 RUN_SERIAL TRUE
    ENVIRONMENT "GR_BIN=${CMAKE_SOURCE_DIR}/tests/valgrind/gaterouter-vg.sh;GR_REAL_BIN=$<TARGET_FILE:gaterouter>;GR_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endif()
