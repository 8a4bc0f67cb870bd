# Security regression suites (issue #16): each drives the real binary, in the
# release and the sanitizer build alike (GR_BIN is that build's gaterouter).
find_program(GR_SECURITY_NODE node)
if(GR_SECURITY_NODE)
  foreach(suite config edges)
    add_test(NAME security_${suite}
      COMMAND ${GR_SECURITY_NODE} --test --test-concurrency=1 ${CMAKE_SOURCE_DIR}/tests/security/${suite}.test.mjs
      WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(security_${suite} PROPERTIES LABELS security TIMEOUT 300
      ENVIRONMENT "GR_BIN=$<TARGET_FILE:gaterouter>;GR_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
  endforeach()
endif()
