# Area "providers": adapter interface helpers and native adapters
# (Anthropic, Gemini), inbound Anthropic Messages translation.
add_library(gr_providers OBJECT
  src/provider.c
)
target_include_directories(gr_providers PUBLIC ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(gr_providers PUBLIC ${GR_EXTERNAL_LIBS})
list(APPEND GR_AREA_LIBS gr_providers)
