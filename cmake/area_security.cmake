# Area "security": issue-16 regression suites against the real binary
# (tests/security/, label "security"), each its own CTest test so CI reports
# them apart; both run in the release and the ASan build.
#   security_secrets       a provider key never reaches a client or a log
#                          (upstreams echoing it everywhere, every provider)
#   security_availability  fd exhaustion, connection cap, slow bodies, /metrics
find_program(GR_SECURITY_NODE node)
if(GR_SECURITY_NODE)
  foreach(suite secrets availability)
    add_test(NAME security_${suite}
      COMMAND ${GR_SECURITY_NODE} --test --test-concurrency=1 ${CMAKE_SOURCE_DIR}/tests/security/${suite}.test.mjs
      WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(security_${suite} PROPERTIES LABELS security TIMEOUT 300
      ENVIRONMENT "GR_BIN=$<TARGET_FILE:gaterouter>;GR_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
  endforeach()
endif()
