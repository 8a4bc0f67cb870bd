# Area "security_access": who may spend, see and reach what (issue #16 items 1,
# 2, 4, 5, 9; #19 item 5). One node suite, tests/security/access.test.mjs,
# against the real binary and a recording fake upstream: allow-lists on every
# candidate, worst-case budget reservations, gateway-only fields stripped,
# fail-closed auth modes, request-caused errors kept out of the breaker.
# Runs in both builds (release and ASan) like every other node suite.
find_program(GR_SECURITY_NODE node)
if(GR_SECURITY_NODE)
  add_test(NAME security_access
    COMMAND ${GR_SECURITY_NODE} --test --test-concurrency=1 ${CMAKE_SOURCE_DIR}/tests/security/access.test.mjs
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(security_access PROPERTIES LABELS security TIMEOUT 300
    ENVIRONMENT "GR_BIN=$<TARGET_FILE:gaterouter>;GR_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endif()
