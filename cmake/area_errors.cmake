# Area "errors": no file of src/ spells a gateway error (status, type, code)
# outside the catalogue (src/base/error_catalogue.def), and the checker's own
# test (it must fail on each kind of literal and on a stale allowance). Node
# only. docs/ERRORS.md's table is checked by the unit test test_error_catalogue.
find_program(GR_NODE_FOR_ERRORS node)
if(GR_NODE_FOR_ERRORS)
  add_test(NAME errors_literals COMMAND ${GR_NODE_FOR_ERRORS} ${CMAKE_SOURCE_DIR}/tests/errors/check_error_literals.mjs
    ${CMAKE_SOURCE_DIR})
  add_test(NAME errors_literals_selftest COMMAND ${GR_NODE_FOR_ERRORS}
    ${CMAKE_SOURCE_DIR}/tests/errors/check_error_literals.mjs --self-test)
  set_tests_properties(errors_literals errors_literals_selftest PROPERTIES LABELS errors TIMEOUT 60)
else()
  message(WARNING "node missing: the error catalogue check (tests/errors) is not registered")
endif()
