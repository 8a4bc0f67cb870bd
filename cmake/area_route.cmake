# Area "route": the tests of deployment selection strategies, health / circuit breaker,
# retry and fallback planning, OpenRouter routing parameters and the measured
# `model: "auto"` router (offline-trained weights in src/route/route_auto_weights.h).
# Owner: routing engine.

gr_add_unit_test(NAME test_route SOURCES tests/unit/test_route.c LIBS gr_route)
gr_add_unit_test(NAME test_health SOURCES tests/unit/test_health.c LIBS gr_route)
gr_add_unit_test(NAME test_retry SOURCES tests/unit/test_retry.c LIBS gr_route)
# The auto:verify accept rule (src/route/verify_agree.c): final answers and agreement.
gr_add_unit_test(NAME test_verify_agree SOURCES tests/unit/test_verify_agree.c LIBS gr_route)
# The auto:verify plan (src/route/route_verify.c): cheap models, checker, worst case, explanation, config.
gr_add_unit_test(NAME test_route_verify SOURCES tests/unit/test_route_verify.c LIBS gr_core gr_providers gr_meter gr_route gr_x402)
gr_add_unit_test(NAME test_route_auto SOURCES tests/unit/test_route_auto.c LIBS gr_core gr_providers gr_meter gr_route gr_x402)
# The cost-target mode (src/route/route_auto_budget.c): the controller converges, stays bounded, auto:$X, config.
gr_add_unit_test(NAME test_route_auto_budget SOURCES tests/unit/test_route_auto_budget.c LIBS gr_core gr_providers gr_meter gr_route gr_x402)

# The C feature extractor used by tools/route/train.mjs and eval.mjs (train/serve parity).
add_executable(route_features tools/route/route_features.c)
target_include_directories(route_features PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(route_features PRIVATE gr_route gr_base ${GR_EXTERNAL_LIBS})
# The C answer normaliser used by tools/route/verify_eval.mjs (the auto:verify measurement).
add_executable(verify_answers tools/route/verify_answers.c)
target_include_directories(verify_answers PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(verify_answers PRIVATE gr_route gr_base ${GR_EXTERNAL_LIBS})

# The eval tool: a small RouterBench slice with the compiled-in model (fails when the C and JS
# predictions disagree: train/serve parity), and two fixtures: one consistent with the ability
# table (its frontier assertion passes) and one contradicting it (the assertion must fail).
# Needs Node >= 20; the slice also needs ../shared/routing-data (or GR_ROUTING_DATA).
find_program(GR_NODE node)
if(GR_NODE)
  add_test(NAME route_eval_quick
    COMMAND ${GR_NODE} ${CMAKE_SOURCE_DIR}/tools/route/eval.mjs --quick
            --features $<TARGET_FILE:route_features> --no-write)
  set_tests_properties(route_eval_quick PROPERTIES LABELS "route;eval" TIMEOUT 120)
  add_test(NAME route_eval_fixture_pass
    COMMAND ${GR_NODE} ${CMAKE_SOURCE_DIR}/tools/route/eval.mjs --assert
            --fixture ${CMAKE_SOURCE_DIR}/tests/fixtures/route_eval/consistent.jsonl
            --features $<TARGET_FILE:route_features>)
  add_test(NAME route_eval_fixture_fail
    COMMAND ${GR_NODE} ${CMAKE_SOURCE_DIR}/tools/route/eval.mjs --assert
            --fixture ${CMAKE_SOURCE_DIR}/tests/fixtures/route_eval/contradicted.jsonl
            --features $<TARGET_FILE:route_features>)
  set_tests_properties(route_eval_fixture_pass route_eval_fixture_fail PROPERTIES LABELS "route;eval" TIMEOUT 60)
  set_tests_properties(route_eval_fixture_fail PROPERTIES WILL_FAIL TRUE)
  # The auto:verify measurement on RouterBench with the serving normaliser; fails when
  # the accept rule stops reading ARC answers as choice letters (needs ../shared/routing-data).
  add_test(NAME route_verify_eval
    COMMAND ${GR_NODE} ${CMAKE_SOURCE_DIR}/tools/route/verify_eval.mjs --answers $<TARGET_FILE:verify_answers>
            --min-choice-rate 0.96)
  set_tests_properties(route_verify_eval PROPERTIES LABELS "route;eval" TIMEOUT 120)
endif()

# What auto learns from ratings (src/route/route_learn.c; the store's feedback_put / learned_* on SQLite).
gr_add_unit_test(NAME test_route_learn SOURCES tests/unit/test_route_learn.c LIBS gr_core gr_providers gr_meter gr_route gr_x402)
# The embeddings signal's bank, nearest neighbours and blend (src/route/route_embed.c).
gr_add_unit_test(NAME test_route_embed SOURCES tests/unit/test_route_embed.c LIBS gr_route)
