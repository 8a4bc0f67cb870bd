# Area "core": HTTP server, config, upstream client, fast path, mock upstream,
# metrics, logging. Owner: gateway core.
add_library(gr_core OBJECT
  src/config.c
)
target_include_directories(gr_core PUBLIC ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(gr_core PUBLIC ${GR_EXTERNAL_LIBS})
list(APPEND GR_AREA_LIBS gr_core)

