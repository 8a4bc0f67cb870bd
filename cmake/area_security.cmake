# Area "security": issue-16 regression suites against the real binary
# (tests/security/, label "security"), each its own CTest test so CI reports
# them apart; all run in the release and the ASan build (GR_BIN is that
# build's gaterouter), against recording / echoing fake upstreams.
#   security_access        who may spend, see and reach what: allow-lists on every
#                          candidate, worst-case budgets, gateway-only fields
#                          stripped, fail-closed auth, breaker vs request faults
#   security_secrets       a provider key never reaches a client or a log
#                          (upstreams echoing it everywhere, every provider)
#   security_availability  fd exhaustion, connection cap, slow bodies, /metrics
#   security_config        --check-config = start-up = SIGHUP, unknown keys, ports
#   security_edges         usage.cost on native streams, HTTP and body edges, CORS
find_program(GR_SECURITY_NODE node)
if(GR_SECURITY_NODE)
  foreach(suite access secrets availability config edges)
    add_test(NAME security_${suite}
      COMMAND ${GR_SECURITY_NODE} --test --test-concurrency=1 ${CMAKE_SOURCE_DIR}/tests/security/${suite}.test.mjs
      WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(security_${suite} PROPERTIES LABELS security TIMEOUT 300
      ENVIRONMENT "GR_BIN=$<TARGET_FILE:gaterouter>;GR_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
  endforeach()
endif()
