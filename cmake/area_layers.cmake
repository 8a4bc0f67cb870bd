# Area "layers": the include check of src/ against the layer map in
# docs/ARCHITECTURE.md (§10), and the checker's own test (it must fail on an
# upward or lateral include, an unplaced file, a stale exception). Node only.
find_program(GR_NODE_FOR_LAYERS node)
if(GR_NODE_FOR_LAYERS)
  add_test(NAME layers_includes COMMAND ${GR_NODE_FOR_LAYERS} ${CMAKE_SOURCE_DIR}/tests/layers/check_includes.mjs
    ${CMAKE_SOURCE_DIR})
  add_test(NAME layers_includes_selftest COMMAND ${GR_NODE_FOR_LAYERS}
    ${CMAKE_SOURCE_DIR}/tests/layers/check_includes.mjs --self-test)
  set_tests_properties(layers_includes layers_includes_selftest PROPERTIES LABELS layers TIMEOUT 60)
else()
  message(WARNING "node missing: the layer check (tests/layers) is not registered")
endif()
