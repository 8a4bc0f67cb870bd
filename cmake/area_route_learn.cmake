# Area "route_learn": what `model: "auto"` learns from its users (issue 18):
# POST /v1/feedback, per (model, skill) estimates in the store shared across
# instances, `gaterouter route calibrate` (src/route/route_learn*.c, src/cli/route_*_cli.c,
# src/features/api_feedback.c; the code is in the layer libraries).
# The C unit test is test_route_learn (area_route.cmake).
find_program(GR_NODE_FOR_LEARN node)
if(GR_NODE_FOR_LEARN)
  # One gateway (SQLite): ratings change the decision, key isolation,
  # idempotence, validation, restart, --check-config refusals; route calibrate;
  # the embeddings signal (route train, neighbours, cache, timeout, errors).
  add_test(NAME route_learn_feedback
    COMMAND ${GR_NODE_FOR_LEARN} --test --test-concurrency=1 ${CMAKE_SOURCE_DIR}/tests/route_learn/feedback.test.mjs
            ${CMAKE_SOURCE_DIR}/tests/route_learn/calibrate.test.mjs ${CMAKE_SOURCE_DIR}/tests/route_learn/embeddings.test.mjs
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(route_learn_feedback PROPERTIES LABELS "route;e2e" TIMEOUT 180
    ENVIRONMENT "GR_BIN=$<TARGET_FILE:gaterouter>;GR_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
  if(TEST pg_server_start)
    # The same suite on PostgreSQL, and two instances sharing one PostgreSQL.
    add_test(NAME route_learn_feedback_pg
      COMMAND ${CMAKE_SOURCE_DIR}/tests/pg/with_pg.sh ${GR_PG_STATE_DIR}
              ${GR_NODE_FOR_LEARN} --test --test-concurrency=1 ${CMAKE_SOURCE_DIR}/tests/route_learn/feedback.test.mjs
              ${CMAKE_SOURCE_DIR}/tests/route_learn/calibrate.test.mjs ${CMAKE_SOURCE_DIR}/tests/route_learn/cluster_pg.test.mjs
      WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(route_learn_feedback_pg PROPERTIES
      FIXTURES_REQUIRED pg_server RESOURCE_LOCK gr_pg_server LABELS "route;e2e;pg" TIMEOUT 300
      ENVIRONMENT "GR_BIN=$<TARGET_FILE:gaterouter>;GR_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
  endif()
endif()

# test_route_learn's store cases (feedback_put, learned_*) on PostgreSQL too.
if(COMMAND gr_add_pg_variant)
  gr_add_pg_variant(test_route_learn)
endif()
