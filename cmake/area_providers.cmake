# Area "providers": the tests of the adapter interface helpers and native adapters
# (Anthropic, Gemini, Bedrock, Vertex), inbound Anthropic Messages translation (src/provider/) and the mock's native formats (src/mock/).

gr_add_unit_test(NAME test_provider_fixtures SOURCES tests/unit/test_provider_fixtures.c LIBS gr_providers)
gr_add_unit_test(NAME test_provider_mock_native SOURCES tests/unit/test_mock_native.c LIBS gr_providers)
# AWS SigV4 (src/base/aws_sigv4.c) against AWS's published test vectors; the
# AWS event-stream decoder (src/base/aws_eventstream.c); Google service-account
# keys and their RS256 JWT (src/base/gcp_service_account.c).
gr_add_unit_test(NAME test_aws_sigv4 SOURCES tests/unit/test_aws_sigv4.c LIBS gr_providers)
gr_add_unit_test(NAME test_aws_eventstream SOURCES tests/unit/test_aws_eventstream.c LIBS gr_providers)
gr_add_unit_test(NAME test_gcp_service_account SOURCES tests/unit/test_gcp_service_account.c LIBS gr_providers)
gr_add_unit_test(NAME test_preset_fixtures SOURCES tests/unit/test_preset_fixtures.c LIBS gr_providers)
