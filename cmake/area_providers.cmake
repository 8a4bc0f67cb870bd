# Area "providers": the tests of the adapter interface helpers and native adapters
# (Anthropic, Gemini), inbound Anthropic Messages translation (src/provider/) and the mock's native formats (src/mock/).

gr_add_unit_test(NAME test_provider_fixtures SOURCES tests/unit/test_provider_fixtures.c LIBS gr_providers)
gr_add_unit_test(NAME test_provider_mock_native SOURCES tests/unit/test_mock_native.c LIBS gr_providers)
gr_add_unit_test(NAME test_preset_fixtures SOURCES tests/unit/test_preset_fixtures.c LIBS gr_providers)
