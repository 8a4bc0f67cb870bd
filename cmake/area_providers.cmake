# Area "providers": adapter interface helpers and native adapters
# (Anthropic, Gemini), inbound Anthropic Messages translation.
add_library(gr_providers OBJECT
  src/provider.c
  src/provider_anthropic.c
  src/provider_gemini.c
  src/api_messages.c
  src/api_responses.c
  src/mock_native.c
)
target_include_directories(gr_providers PUBLIC ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(gr_providers PUBLIC ${GR_EXTERNAL_LIBS})
list(APPEND GR_AREA_LIBS gr_providers)

gr_add_unit_test(NAME test_provider_fixtures SOURCES tests/unit/test_provider_fixtures.c LIBS gr_providers)
gr_add_unit_test(NAME test_provider_mock_native SOURCES tests/unit/test_mock_native.c LIBS gr_providers)
