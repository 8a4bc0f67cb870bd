# Area "ui" (named to sort after core and meter, whose libraries it adds
# to): the web console at /ui (src/features/console*.c) and the report
# endpoints its pages read (src/meter/admin_report.c, src/base/csv.c). The console's
# files (console/) and the pinned charting library (node_modules/uplot,
# package-lock.json) are compiled into the binary by tools/embed: no Node
# and no file access at run time. Owner: console.
set(GR_CONSOLE_FILES
  /ui/index.html=${CMAKE_SOURCE_DIR}/console/index.html
  /ui/app.js=${CMAKE_SOURCE_DIR}/console/app.js
  /ui/app.css=${CMAKE_SOURCE_DIR}/console/app.css
  /ui/favicon.svg=${CMAKE_SOURCE_DIR}/console/favicon.svg
  # the auto router's quality/cost curve from the last evaluation (tools/route/eval.mjs)
  /ui/route_eval.svg=${CMAKE_SOURCE_DIR}/docs/route_eval.svg
  /ui/uplot.js=${CMAKE_SOURCE_DIR}/node_modules/uplot/dist/uPlot.iife.min.js
  /ui/uplot.css=${CMAKE_SOURCE_DIR}/node_modules/uplot/dist/uPlot.min.css
)
set(GR_CONSOLE_DEPS "")
foreach(pair ${GR_CONSOLE_FILES})
  string(REGEX REPLACE "^[^=]*=" "" file "${pair}")
  if(NOT EXISTS "${file}")
    message(FATAL_ERROR "console: ${file} is missing (run `npm ci` for node_modules/uplot)")
  endif()
  list(APPEND GR_CONSOLE_DEPS "${file}")
endforeach()

add_executable(embed_assets tools/embed/embed_assets.c)
target_link_libraries(embed_assets PRIVATE ${GR_EXTERNAL_LIBS})
add_custom_command(
  OUTPUT ${CMAKE_BINARY_DIR}/console_assets.c
  COMMAND embed_assets ${CMAKE_BINARY_DIR}/console_assets.c ${GR_CONSOLE_FILES}
  DEPENDS embed_assets ${GR_CONSOLE_DEPS}
  COMMENT "Embedding the web console's files"
  VERBATIM)

# The generated files are part of the features library, beside src/features/console.c
# (the console's C files are in the layer folders: cmake/layers.cmake).
target_sources(gr_features PRIVATE ${CMAKE_BINARY_DIR}/console_assets.c)

# The console's server side (tests/console/api.test.mjs) and its pages in a
# headless Chromium (tests/console/browser.test.mjs: playwright-core driving
# Debian's `chromium`, with x402 payments on a local anvil chain).
find_program(GR_UI_NODE node)
if(GR_UI_NODE)
  add_test(NAME console_api
    COMMAND ${GR_UI_NODE} --test --test-concurrency=1 ${CMAKE_SOURCE_DIR}/tests/console/api.test.mjs
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(console_api PROPERTIES LABELS "console" TIMEOUT 300
    ENVIRONMENT "GR_BIN=$<TARGET_FILE:gaterouter>;GR_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endif()
if(GR_UI_NODE AND EXISTS ${CMAKE_SOURCE_DIR}/node_modules/playwright-core AND EXISTS ${CMAKE_SOURCE_DIR}/node_modules/viem)
  add_test(NAME console_browser
    COMMAND ${GR_UI_NODE} --test --test-concurrency=1 ${CMAKE_SOURCE_DIR}/tests/console/browser.test.mjs
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(console_browser PROPERTIES LABELS "console;browser;e2e" TIMEOUT 600
    ENVIRONMENT "GR_BIN=$<TARGET_FILE:gaterouter>;GR_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
else()
  message(WARNING "node or node_modules missing: run `npm ci` to enable the console's browser suite")
endif()
# The same API suite on PostgreSQL (the pg_server fixture of area_pg.cmake).
if(GR_UI_NODE AND TEST pg_server_start)
  add_test(NAME console_api_pg
    COMMAND ${CMAKE_SOURCE_DIR}/tests/pg/with_pg.sh ${GR_PG_STATE_DIR}
            ${GR_UI_NODE} --test --test-concurrency=1 ${CMAKE_SOURCE_DIR}/tests/console/api.test.mjs
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(console_api_pg PROPERTIES
    FIXTURES_REQUIRED pg_server RESOURCE_LOCK gr_pg_server LABELS "console;pg" TIMEOUT 300
    ENVIRONMENT "GR_BIN=$<TARGET_FILE:gaterouter>;GR_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endif()
# CSV cells (src/csv.c): quoting and the formula guard.
gr_add_unit_test(NAME test_csv SOURCES tests/unit/test_csv.c LIBS gr_core gr_providers gr_meter gr_route gr_x402)
# The reports (src/admin_report.c) on a real store: sums, percentiles, the row cap, who reads what.
gr_add_unit_test(NAME test_admin_report SOURCES tests/unit/test_admin_report.c LIBS gr_core gr_providers gr_meter gr_route gr_x402)
if(COMMAND gr_add_pg_variant)
  gr_add_pg_variant(test_admin_report)
endif()
