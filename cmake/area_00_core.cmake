# Area "core": HTTP server, config, upstream client, fast path, mock upstream,
# metrics, logging. Owner: gateway core.
add_library(gr_core OBJECT
  src/config.c
  src/http_reply.c
  src/json_edit.c
  src/metrics.c
  src/log.c
  src/upstream.c
  src/mock_upstream.c
  src/request.c
  src/proxy.c
  src/api_models.c
  src/auth.c
  src/server.c
)
target_include_directories(gr_core PUBLIC ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(gr_core PUBLIC ${GR_EXTERNAL_LIBS})
list(APPEND GR_AREA_LIBS gr_core)
