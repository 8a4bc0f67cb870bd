# Area "providers": adapter interface helpers and native adapters
# (Anthropic, Gemini, Bedrock with SigV4 and the AWS event stream), inbound Anthropic Messages translation.
add_library(gr_providers OBJECT
  src/provider.c
  src/provider_anthropic.c
  src/provider_gemini.c
  src/api_messages.c
  src/mock_native.c
  src/aws_sigv4.c
  src/aws_eventstream.c
  src/stream_frames.c
  src/provider_bedrock.c
  src/provider_bedrock_embed.c
  src/provider_vertex.c
  src/gcp_service_account.c
)
target_include_directories(gr_providers PUBLIC ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(gr_providers PUBLIC ${GR_EXTERNAL_LIBS})
list(APPEND GR_AREA_LIBS gr_providers)

gr_add_unit_test(NAME test_provider_fixtures SOURCES tests/unit/test_provider_fixtures.c LIBS gr_providers)
gr_add_unit_test(NAME test_provider_mock_native SOURCES tests/unit/test_mock_native.c LIBS gr_providers)
gr_add_unit_test(NAME test_aws_sigv4 SOURCES tests/unit/test_aws_sigv4.c LIBS gr_providers)
gr_add_unit_test(NAME test_aws_eventstream SOURCES tests/unit/test_aws_eventstream.c LIBS gr_providers)
gr_add_unit_test(NAME test_gcp_service_account SOURCES tests/unit/test_gcp_service_account.c LIBS gr_providers)
