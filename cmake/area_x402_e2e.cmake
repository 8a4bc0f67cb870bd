# x402 end-to-end suite on a local chain: CTest `e2e_x402` runs
# `node --test tests/e2e/x402/` (anvil + solc + viem + the official x402
# clients, all from npm devDependencies).
find_program(GR_X402_NODE node)
if(GR_X402_NODE AND EXISTS ${CMAKE_SOURCE_DIR}/node_modules/viem AND EXISTS ${CMAKE_SOURCE_DIR}/node_modules/solc)
  add_test(NAME e2e_x402
    COMMAND ${GR_X402_NODE} --test --test-concurrency=1 ${CMAKE_SOURCE_DIR}/tests/e2e/x402/
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(e2e_x402 PROPERTIES LABELS "e2e;x402" TIMEOUT 900
    ENVIRONMENT "GR_BIN=$<TARGET_FILE:gaterouter>;GR_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
else()
  message(WARNING "node or node_modules missing: run `npm ci` to enable the x402 end-to-end suite")
endif()
