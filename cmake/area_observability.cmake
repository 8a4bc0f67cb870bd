# Area "observability" (issue 23): what operators' tools receive from the
# gateway, checked against local stand-ins (tests/observability/, label
# "observability"), in the release and the ASan build.
#   observability_otel   OTLP/HTTP traces: span tree, GenAI attributes, W3C
#                        trace context client → gateway → upstream, sampling,
#                        OTEL_* environment, dead and hung collectors
#   observability_otel_proto the OTLP/HTTP protobuf export, decoded with protobufjs,
#                        carries the same spans as the JSON export
#   observability_metrics series bounded under junk, gateway-added latency,
#                        queue depths and latencies, breaker state
#   observability_ready  /ready follows Redis (and the store, the ledger writer)
#   observability_access_log the buffered access log: lines whole and in time,
#                        written at a drain, none written while buffered
#   observability_log_sink request records: generic and Langfuse shapes, content
#                        modes, a hung endpoint
#   observability_alerts webhook alerts: signature, budget thresholds, breaker,
#                        ledger behind, retries, kill -9 and restart (no loss, no repeat)
find_program(GR_OBS_NODE node)
if(GR_OBS_NODE)
  foreach(suite otel otel_proto metrics ready log_sink access_log alerts)
    add_test(NAME observability_${suite}
      COMMAND ${GR_OBS_NODE} --test --test-concurrency=1 ${CMAKE_SOURCE_DIR}/tests/observability/${suite}.test.mjs
      WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(observability_${suite} PROPERTIES LABELS observability TIMEOUT 300
      ENVIRONMENT "GR_BIN=$<TARGET_FILE:gaterouter>;GR_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
  endforeach()
endif()
