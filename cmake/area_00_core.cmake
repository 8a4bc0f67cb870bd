# Area "core": the tests of the HTTP server, config, upstream client, fast
# path, mock upstream, metrics, logging and the request pipeline (the code is in
# the folders of src/, one library each: cmake/layers.cmake). gr_core links the
# whole gateway. Owner: gateway core.

# The provider-credential redactor (src/provider/redact.c): split points, truncated keys.
gr_add_unit_test(NAME test_redact SOURCES tests/unit/test_redact.c LIBS gr_core gr_providers gr_meter gr_route gr_x402)
# Metric labels (src/base/metrics.c): escaping and cutting per the exposition format.
gr_add_unit_test(NAME test_metrics SOURCES tests/unit/test_metrics.c LIBS gr_core gr_providers gr_meter gr_route gr_x402)
gr_add_unit_test(NAME test_sse SOURCES tests/unit/test_sse.c LIBS gr_core gr_providers gr_meter gr_route gr_x402)
gr_add_unit_test(NAME test_config SOURCES tests/unit/test_config.c LIBS gr_core gr_providers gr_meter gr_route gr_x402)
# UTF-8 repair for error bodies and logs (utf8.c), request-body Content-Encoding (body_decode.c).
gr_add_unit_test(NAME test_utf8 SOURCES tests/unit/test_utf8.c LIBS gr_core gr_providers gr_meter gr_route gr_x402)
gr_add_unit_test(NAME test_body_decode SOURCES tests/unit/test_body_decode.c LIBS gr_core gr_providers gr_meter gr_route gr_x402)
# The declared-key loader (config_schema.c) and docs/CONFIG.md's key reference.
gr_add_unit_test(NAME test_config_schema SOURCES tests/unit/test_config_schema.c LIBS gr_core gr_providers gr_meter gr_route gr_x402)
gr_add_unit_test(NAME test_json_edit SOURCES tests/unit/test_json_edit.c LIBS gr_core gr_providers gr_meter gr_route gr_x402)
gr_add_unit_test(NAME test_errors SOURCES tests/unit/test_errors.c LIBS gr_core gr_providers gr_meter gr_route gr_x402)
gr_add_unit_test(NAME test_pool SOURCES tests/unit/test_pool.c LIBS gr_core gr_providers gr_meter gr_route gr_x402)
gr_add_unit_test(NAME test_text_out SOURCES tests/unit/test_text_out.c LIBS gr_core gr_providers gr_meter gr_route gr_x402)
# The Protocol Buffers writer of the OTLP protobuf export (src/base/pb_out.h).
gr_add_unit_test(NAME test_pb_out SOURCES tests/unit/test_pb_out.c LIBS gr_core gr_providers gr_meter gr_route gr_x402)
gr_add_unit_test(NAME test_upstream SOURCES tests/unit/test_upstream.c LIBS gr_core gr_providers gr_meter gr_route gr_x402)
# The client-facing HTTP/1.1 server (src/net/http_server.c) against raw loopback
# clients; its timeouts are small (200 ms), the whole suite runs in seconds.
gr_add_unit_test(NAME test_http_server SOURCES tests/unit/test_http_server.c LIBS gr_core gr_providers gr_meter gr_route gr_x402)
set_tests_properties(test_http_server PROPERTIES TIMEOUT 120)
# The x402 payment store (src/x402/x402_store.c) on SQLite; its PostgreSQL variant
# test_x402_store_pg is registered in area_pg.cmake.
gr_add_unit_test(NAME test_x402_store SOURCES tests/unit/test_x402_store.c LIBS gr_core gr_providers gr_meter gr_route gr_x402)
set_tests_properties(test_x402_store PROPERTIES TIMEOUT 120)

# The store executor (src/store/store_exec.c): store calls off the worker loops.
gr_add_unit_test(NAME test_store_exec SOURCES tests/unit/test_store_exec.c LIBS gr_core gr_providers gr_meter gr_route gr_x402)
set_tests_properties(test_store_exec PROPERTIES TIMEOUT 60)
# The built-in mock upstream on its HTTP server: backpressure, cancel, stop.
gr_add_unit_test(NAME test_mock_upstream SOURCES tests/unit/test_mock_upstream.c LIBS gr_core gr_providers gr_meter gr_route gr_x402)
# The request pipeline with a fake worker, no sockets (src/request/pipeline.c, request.c,
# request_store_job.c, endpoints.c): phases, suspend/resume, finish and reply tables.
gr_add_unit_test(NAME test_pipeline SOURCES tests/unit/test_pipeline.c LIBS gr_core gr_providers gr_meter gr_route gr_x402)
set_tests_properties(test_pipeline PROPERTIES TIMEOUT 60)
