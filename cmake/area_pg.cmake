# Area "pg": the PostgreSQL variants of the store-dependent tests (the backend,
# src/store/store_pg.c and src/x402/x402_store_pg.c, is built in cmake/layers.cmake).
#
# Every store-dependent unit test runs twice: as declared in area_meter.cmake
# (SQLite in a temp dir) and here as <name>_pg (label `pg`) against a
# throwaway PostgreSQL cluster that the CTest fixture `pg_server` starts
# (tests/pg/start.sh: installs postgresql with apt-get when missing, initdb in
# a temp dir, starts it on a free loopback port) and stops afterwards
# (tests/pg/stop.sh). The tests reach it through tests/pg/with_pg.sh, which
# exports GR_TEST_STORE_URL; when the server could not be started the
# variants FAIL (the fixture's setup test fails, and with_pg.sh exits 1), they
# are never skipped. Owner: metering/keys (store).

set(GR_PG_STATE_DIR ${CMAKE_BINARY_DIR}/pg)

add_test(NAME pg_server_start
  COMMAND ${CMAKE_SOURCE_DIR}/tests/pg/start.sh ${GR_PG_STATE_DIR})
set_tests_properties(pg_server_start PROPERTIES
  FIXTURES_SETUP pg_server LABELS pg TIMEOUT 600)
add_test(NAME pg_server_stop
  COMMAND ${CMAKE_SOURCE_DIR}/tests/pg/stop.sh ${GR_PG_STATE_DIR})
set_tests_properties(pg_server_stop PROPERTIES
  FIXTURES_CLEANUP pg_server LABELS pg TIMEOUT 120)

# gr_add_pg_variant(test_x [TIMEOUT s]): test_x again, on PostgreSQL.
function(gr_add_pg_variant name)
  cmake_parse_arguments(V "" "TIMEOUT" "" ${ARGN})
  if(NOT TEST ${name})
    return()
  endif()
  add_test(NAME ${name}_pg
    COMMAND ${CMAKE_SOURCE_DIR}/tests/pg/with_pg.sh ${GR_PG_STATE_DIR} $<TARGET_FILE:${name}>)
  if(NOT V_TIMEOUT)
    set(V_TIMEOUT 300)
  endif()
  # RESOURCE_LOCK: test_store_sqlite_pg crashes and restarts the server.
  set_tests_properties(${name}_pg PROPERTIES
    FIXTURES_REQUIRED pg_server RESOURCE_LOCK gr_pg_server LABELS "unit;pg" TIMEOUT ${V_TIMEOUT}
    ENVIRONMENT "GR_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endfunction()

foreach(t test_store_sqlite test_ledger test_keys test_admin test_x402_store)
  gr_add_pg_variant(${t})
endforeach()

# The metering compat suite against a gateway on PostgreSQL.
find_program(GR_NODE_FOR_PG node)
if(GR_NODE_FOR_PG AND EXISTS ${CMAKE_SOURCE_DIR}/node_modules/openai)
  add_test(NAME compat_metering_pg
    COMMAND ${CMAKE_SOURCE_DIR}/tests/pg/with_pg.sh ${GR_PG_STATE_DIR}
            ${GR_NODE_FOR_PG} --test --test-concurrency=1
            ${CMAKE_SOURCE_DIR}/tests/compat/metering.test.mjs
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(compat_metering_pg PROPERTIES
    FIXTURES_REQUIRED pg_server RESOURCE_LOCK gr_pg_server LABELS "compat;pg" TIMEOUT 600
    ENVIRONMENT "GR_BIN=$<TARGET_FILE:gaterouter>;GR_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
  # the Responses API's state (store, previous_response_id, GET/DELETE) on PostgreSQL
  add_test(NAME compat_responses_pg
    COMMAND ${CMAKE_SOURCE_DIR}/tests/pg/with_pg.sh ${GR_PG_STATE_DIR}
            ${GR_NODE_FOR_PG} --test --test-concurrency=1
            ${CMAKE_SOURCE_DIR}/tests/compat/responses.test.mjs
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(compat_responses_pg PROPERTIES
    FIXTURES_REQUIRED pg_server RESOURCE_LOCK gr_pg_server LABELS "compat;pg" TIMEOUT 600
    ENVIRONMENT "GR_BIN=$<TARGET_FILE:gaterouter>;GR_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
else()
  message(WARNING "node or node_modules missing: compat_metering_pg not registered (npm ci)")
endif()

# Two instances on one PostgreSQL: keys created/revoked on one reach the other.
if(GR_NODE_FOR_PG AND EXISTS ${CMAKE_SOURCE_DIR}/node_modules/openai)
  add_test(NAME scale_pg_keys
    COMMAND ${CMAKE_SOURCE_DIR}/tests/pg/with_pg.sh ${GR_PG_STATE_DIR}
            ${GR_NODE_FOR_PG} --test --test-concurrency=1 ${CMAKE_SOURCE_DIR}/tests/scale/pg/
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(scale_pg_keys PROPERTIES
    FIXTURES_REQUIRED pg_server RESOURCE_LOCK gr_pg_server LABELS "scale;pg" TIMEOUT 300
    ENVIRONMENT "GR_BIN=$<TARGET_FILE:gaterouter>;GR_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endif()

# The cluster (issue #26): two gateways on the test PostgreSQL plus a Redis
# the suite starts on a free port (redis-server). Ids unique across
# instances, budgets exact through a Redis restart, cluster-wide spend views,
# a dead instance's reservations lapsing, PostgreSQL down -> 503.
if(GR_NODE_FOR_PG)
  add_test(NAME scale_cluster
    COMMAND ${CMAKE_SOURCE_DIR}/tests/pg/with_pg.sh ${GR_PG_STATE_DIR}
            ${GR_NODE_FOR_PG} --test --test-concurrency=1 ${CMAKE_SOURCE_DIR}/tests/scale/cluster/
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(scale_cluster PROPERTIES
    FIXTURES_REQUIRED pg_server RESOURCE_LOCK gr_pg_server LABELS "scale;pg" TIMEOUT 180
    ENVIRONMENT "GR_BIN=$<TARGET_FILE:gaterouter>;GR_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endif()

# The whole x402 end-to-end suite (tests/e2e/x402/) against gateways on
# PostgreSQL: gatewayConfig (lib.mjs) gives each gateway a fresh database.
if(GR_NODE_FOR_PG AND EXISTS ${CMAKE_SOURCE_DIR}/node_modules/viem AND EXISTS ${CMAKE_SOURCE_DIR}/node_modules/solc)
  add_test(NAME e2e_x402_pg
    COMMAND ${CMAKE_SOURCE_DIR}/tests/pg/with_pg.sh ${GR_PG_STATE_DIR}
            ${GR_NODE_FOR_PG} --test --test-concurrency=1 ${CMAKE_SOURCE_DIR}/tests/e2e/x402/
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(e2e_x402_pg PROPERTIES
    FIXTURES_REQUIRED pg_server RESOURCE_LOCK gr_pg_server LABELS "e2e;x402;pg" TIMEOUT 900
    ENVIRONMENT "GR_BIN=$<TARGET_FILE:gaterouter>;GR_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
else()
  message(WARNING "node or node_modules missing: e2e_x402_pg not registered (npm ci)")
endif()

# A stalled PostgreSQL store (tables locked by another session): paid and
# admin calls answer 503 within store.op_timeout_ms while chat on the same
# single worker keeps its latency (tests/pg/store_stall.test.mjs).
if(GR_NODE_FOR_PG AND EXISTS ${CMAKE_SOURCE_DIR}/node_modules/viem)
  add_test(NAME pg_store_stall
    COMMAND ${CMAKE_SOURCE_DIR}/tests/pg/with_pg.sh ${GR_PG_STATE_DIR}
            ${GR_NODE_FOR_PG} --test --test-concurrency=1 ${CMAKE_SOURCE_DIR}/tests/pg/store_stall.test.mjs
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(pg_store_stall PROPERTIES
    FIXTURES_REQUIRED pg_server RESOURCE_LOCK gr_pg_server LABELS "pg;x402" TIMEOUT 120
    ENVIRONMENT "GR_BIN=$<TARGET_FILE:gaterouter>;GR_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endif()

# Webhook alerts on PostgreSQL: the alert outbox (migration 6) keeps a pending
# alert across kill -9 and a delivered one from repeating after a restart
# (tests/observability/alerts.test.mjs; its ledger case locks a SQLite file of
# its own).
if(GR_NODE_FOR_PG)
  add_test(NAME observability_alerts_pg
    COMMAND ${CMAKE_SOURCE_DIR}/tests/pg/with_pg.sh ${GR_PG_STATE_DIR}
            ${GR_NODE_FOR_PG} --test --test-concurrency=1 ${CMAKE_SOURCE_DIR}/tests/observability/alerts.test.mjs
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(observability_alerts_pg PROPERTIES
    FIXTURES_REQUIRED pg_server RESOURCE_LOCK gr_pg_server LABELS "observability;pg" TIMEOUT 300
    ENVIRONMENT "GR_BIN=$<TARGET_FILE:gaterouter>;GR_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endif()
