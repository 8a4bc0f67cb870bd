# The layers of src/ as libraries (issue 17). Each folder of src/ is one static
# library, gr_<folder>, built from every .c in the folder. Its PUBLIC include
# directory is only its own folder, and it links (PUBLIC) only the libraries of
# the layers below, so an upward #include does not compile. The order and the
# reasons are in docs/ARCHITECTURE.md §10 (the layer map, which
# tests/layers/check_includes.mjs also checks, with the lateral includes inside
# features/ the build cannot see). src/main.c is the gaterouter binary.
#
# gr_layer(<folder> [DEPS gr_x ...])
function(gr_layer folder)
  cmake_parse_arguments(L "" "" "DEPS" ${ARGN})
  file(GLOB _sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/${folder}/*.c)
  add_library(gr_${folder} STATIC ${_sources})
  target_include_directories(gr_${folder} PUBLIC ${CMAKE_SOURCE_DIR}/src/${folder})
  target_link_libraries(gr_${folder} PUBLIC ${L_DEPS} ${GR_EXTERNAL_LIBS})
endfunction()

# libpq is not linked: src/store/pq_dl.c dlopen()s it when a postgres:// store
# is opened, so a gateway on SQLite does not map it and its dependencies
# (libssl, krb5, LDAP, ...) at exec. Headers only (gr_pq_headers).
pkg_check_modules(PQ REQUIRED libpq)
add_library(gr_pq_headers INTERFACE)
target_include_directories(gr_pq_headers INTERFACE ${PQ_INCLUDE_DIRS})
target_compile_options(gr_pq_headers INTERFACE ${PQ_CFLAGS_OTHER})

gr_layer(base)                                  # vocabulary: strings, pools, SSE framer, logs, metrics
gr_layer(config DEPS gr_base)                   # the config snapshot and its typed key schema
gr_layer(net DEPS gr_config)                    # client-facing HTTP server, upstream client, dlopen'd libcurl
gr_layer(store DEPS gr_config)                  # SQLite/PostgreSQL store, the store executor
gr_layer(provider DEPS gr_net)                  # adapters: OpenAI-native, Anthropic, Gemini; redactor
gr_layer(route DEPS gr_config)                  # router, auto-router, health
gr_layer(meter DEPS gr_provider gr_store)       # cost, virtual keys, usage ledger, admin API
gr_layer(x402 DEPS gr_net gr_store)             # x402 payments: EVM crypto, payment store, settlement
gr_layer(cluster DEPS gr_meter gr_route)        # the Redis cluster state
gr_layer(mock DEPS gr_provider)                 # the built-in mock upstream
gr_layer(request DEPS gr_cluster gr_x402)       # one request: pipeline, phases, worker
gr_layer(features DEPS gr_request gr_mock)      # the isolated features that register handlers
gr_layer(gateway DEPS gr_features)              # endpoint table, feature list, services, server
gr_layer(cli DEPS gr_meter)                     # the command line beside the server

target_link_libraries(gr_store PUBLIC gr_pq_headers)
target_compile_definitions(gr_store PUBLIC GR_HAVE_PG=1)

# The whole gateway (every layer), for the binary, tests, fuzzers and benches.
# One link group: config.c still reads two tables defined above it (the section
# table of gateway/config_sections.c, route.c's strategy names).
add_library(gr_core INTERFACE)
target_link_libraries(gr_core INTERFACE "$<LINK_GROUP:RESCAN,gr_cli,gr_gateway,gr_features,gr_request,gr_mock,gr_cluster,gr_x402,gr_meter,gr_route,gr_provider,gr_store,gr_net,gr_config,gr_base>")
# The adapters with the mock that speaks their wire formats (tests).
add_library(gr_providers INTERFACE)
target_link_libraries(gr_providers INTERFACE gr_provider gr_mock)
